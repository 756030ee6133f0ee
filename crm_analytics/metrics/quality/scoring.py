"""From rule counts to scores: pass rates, rule scores, weighted dimension scores, status.

A rule's **pass rate** is ``100 * (1 - failed / checked)`` over the records it checks (a ``*``
rule pools the tables it checks). Its **score** maps the failure rate onto 0-100 with the
rule's tolerance: ``100 * max(0, 1 - failure_rate / tolerance)`` (tolerance 1 gives the pass
rate itself). A table's and a dimension's score is the **weighted mean of its rules' scores**
(weights 1 unless ``params.rule_weights`` says otherwise; rules with nothing to check are left
out), so every rule counts the same however many records it checks: pooling the counts of all
rules instead let ~100,000 rows of boundary checks drown a 10% failure of an 800-arrival rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core.errors import ParameterError
from crm_analytics.metrics.quality.params import QualityParams
from crm_analytics.metrics.quality.registry import BY_KEY
from crm_analytics.metrics.quality.rule import DIMENSIONS

NO_RECORDS = "no records to check: score undefined"
STATUSES = ("green", "amber", "red")


def _check_keys(params: QualityParams) -> None:
    for name in ("rule_weights", "rule_tolerances"):
        unknown = sorted(set(getattr(params, name)) - set(BY_KEY))
        if unknown:
            raise ParameterError(
                f"quality parameter {name} names unknown rule key(s) {unknown}; rule keys are "
                f"{sorted(BY_KEY)} (docs/quality_rules.md)"
            )


def pass_rate(checked: pd.Series, failed: pd.Series) -> pd.Series:
    """``100 * (1 - failed / checked)``; NaN (not a warning) where nothing was checked."""
    c = checked.astype(float)
    return (100.0 * (1.0 - failed.astype(float) / c.where(c > 0))).round(2)


def rule_score(checked: pd.Series, failed: pd.Series, tolerance: pd.Series) -> pd.Series:
    """``100 * max(0, 1 - (failed / checked) / tolerance)``; NaN where nothing was checked."""
    c = checked.astype(float)
    rate = failed.astype(float) / c.where(c > 0)
    return (100.0 * (1.0 - rate / tolerance.astype(float)).clip(lower=0.0)).round(2)


def status(score: pd.Series, params: QualityParams) -> pd.Series:
    """``green`` / ``amber`` / ``red`` by ``params.green_at`` and ``amber_at``; NA for NaN."""
    s = score.to_numpy(float)
    out = np.select([s >= params.green_at, s >= params.amber_at, s < params.amber_at], STATUSES, "")
    return pd.Series(out, index=score.index, dtype="string").replace("", pd.NA)


def _note(checked: pd.Series) -> pd.Series:
    """The reason a score is NaN (nothing to check), else empty."""
    return pd.Series(np.where(checked.to_numpy() > 0, "", NO_RECORDS), index=checked.index)


def _weighted_mean(df: pd.DataFrame, by: list[str]) -> pd.Series:
    """Weighted mean of ``score`` per group, over rows with a score and a positive weight."""
    ok = df["score"].notna() & (df["weight"] > 0)
    w = df["weight"].where(ok, 0.0)
    num = (df["score"].fillna(0.0) * w).groupby([df[c] for c in by], sort=False).sum()
    den = w.groupby([df[c] for c in by], sort=False).sum()
    return (num / den.where(den > 0)).round(2)


def _scored(df: pd.DataFrame, params: QualityParams) -> pd.DataFrame:
    """Add ``pass_rate``, ``tolerance``, ``score``, ``weight``, ``status`` and ``note`` by ``key``."""
    tol = df["key"].map(lambda k: params.rule_tolerances.get(k, params.score_tolerance))
    df = df.assign(
        pass_rate=pass_rate(df["checked"], df["failed"]),
        tolerance=tol.astype(float),
        score=rule_score(df["checked"], df["failed"], tol),
        weight=df["key"].map(lambda k: float(params.rule_weights.get(k, 1.0))).astype(float),
    )
    return df.assign(status=status(df["score"], params), note=_note(df["checked"]))


def _pooled(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, sort=False)[["checked", "failed"]].sum()
    g["pass_rate"] = pass_rate(g["checked"], g["failed"])
    return g


def _worst(rule_scores: pd.DataFrame, n: int) -> pd.Series:
    """Per dimension, the ``n`` lowest-scoring rules that failed any record, as text."""
    bad = rule_scores[(rule_scores["failed"] > 0) & rule_scores["score"].notna()]
    bad = bad.sort_values(["score", "pass_rate", "key"], kind="stable")
    out: dict[str, list[str]] = {}
    for r in bad.itertuples():
        out.setdefault(r.dimension, []).append(f"{r.key} {r.score:.1f} (pass {r.pass_rate:.1f}%)")
    return pd.Series({dim: "; ".join(items[:n]) for dim, items in out.items()}, dtype=object)


def score_frames(
    rows: pd.DataFrame, params: QualityParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rules per table, rules, tables and dimensions with their scores.

    Parameters
    ----------
    rows
        One row per (dimension, table, rule) a rule checked: ``dealer_id``, ``dimension``,
        ``table``, ``rule``, ``key``, ``checked``, ``failed`` (and any descriptive columns).
    params
        Tolerances, weights, status thresholds and how many worst rules to name.
    """
    _check_keys(params)
    dealer_id = rows["dealer_id"].iloc[0] if len(rows) else ""
    rules = _scored(rows, params)
    per_rule = _pooled(rows, ["dimension", "key"]).reset_index()
    meta = rows.drop_duplicates("key").set_index("key")
    per_rule.insert(0, "dealer_id", dealer_id)
    per_rule.insert(3, "table", per_rule["key"].map(lambda k: BY_KEY[k].table))
    per_rule.insert(4, "rule", per_rule["key"].map(lambda k: BY_KEY[k].id))
    per_rule = _scored(per_rule.drop(columns="pass_rate"), params)
    for c in ("description", "description_zh"):
        if c in meta:
            per_rule[c] = per_rule["key"].map(meta[c])
    tables = _pooled(rows, ["dimension", "table"])
    tables["score"] = _weighted_mean(rules, ["dimension", "table"])
    tables = tables.reset_index()
    tables.insert(0, "dealer_id", dealer_id)
    tables = tables.assign(status=status(tables["score"], params), note=_note(tables["checked"]))
    dims = _pooled(rows, ["dimension"]).reindex(list(DIMENSIONS))
    dims[["checked", "failed"]] = dims[["checked", "failed"]].fillna(0).astype(int)
    dims["score"] = _weighted_mean(per_rule, ["dimension"]).reindex(dims.index)
    dims["rules"] = (
        per_rule[per_rule["score"].notna() & (per_rule["weight"] > 0)]
        .groupby("dimension")
        .size()
        .reindex(dims.index, fill_value=0)
    )
    dims["worst_rules"] = _worst(per_rule, params.worst_rules).reindex(dims.index).fillna("")
    dims = dims.reset_index()
    dims.insert(0, "dealer_id", dealer_id)
    dims = dims.assign(
        status=status(dims["score"], params),
        note=np.where(dims["score"].notna(), "", NO_RECORDS),
    )
    return rules, per_rule, tables, dims
