"""The data-quality scorecard: :func:`quality_scorecard` applies the registry's rules."""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.metrics.quality.common import _mask_frame
from crm_analytics.metrics.quality.params import QualityParams, resolve_params
from crm_analytics.metrics.quality.reconcile import Reconciliation, reconcile_visits
from crm_analytics.metrics.quality.registry import REGISTRY, describe
from crm_analytics.metrics.quality.rule import DIMENSIONS, FLAG_COLUMNS, RuleContext


@dataclass
class Scorecard:
    """Data-quality scorecard of one dealer (see :func:`quality_scorecard`).

    Attributes
    ----------
    rules
        One row per (dimension, table, rule): ``checked``, ``failed``, ``score`` (0-100, NaN
        when nothing was checked) and ``description``.
    tables
        One row per (dimension, table): pooled ``checked``, ``failed`` and ``score``.
    dimensions
        One row per dimension: pooled counts and ``score``.
    flags
        One row per failing record: ``table``, ``row_id``, ``rule``, ``dimension``,
        ``consultant_id`` (who fixes it), ``customer_id``, ``lead_id``, ``at``, ``name``,
        ``phone`` (masked unless asked otherwise) and ``detail``.
    reconciliation
        The visitor-log reconciliation the scorecard used.
    """

    dealer_id: str
    rules: pd.DataFrame
    tables: pd.DataFrame
    dimensions: pd.DataFrame
    flags: pd.DataFrame
    reconciliation: Reconciliation

    def score(self, dimension: str) -> float:
        """The dealer's score on one dimension (0-100)."""
        if dimension not in DIMENSIONS:
            raise InputError(f"unknown dimension {dimension!r}; dimensions are {list(DIMENSIONS)}")
        return float(self.dimensions.set_index("dimension").loc[dimension, "score"])

    def pivot(self) -> pd.DataFrame:
        """Table x dimension matrix of scores (for a heat map)."""
        return self.tables.pivot(index="table", columns="dimension", values="score").reindex(
            columns=list(DIMENSIONS)
        )

    def __repr__(self) -> str:
        dims = ", ".join(f"{r.dimension}={r.score:.1f}" for r in self.dimensions.itertuples())
        return f"Scorecard({self.dealer_id!r}: {dims}; {len(self.flags):,} flagged records)"

    def _repr_html_(self) -> str:
        return f"<p><code>{html.escape(repr(self))}</code></p>" + self.pivot().to_html(
            float_format="{:.1f}".format
        )


def _pool(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, sort=False)[["checked", "failed"]].sum().reset_index()
    g["score"] = _score(g["checked"], g["failed"])
    g["note"] = _note(g["checked"])
    return g


def _note(checked: pd.Series) -> pd.Series:
    """The reason a score is NaN (nothing to check), else empty."""
    return pd.Series(
        np.where(checked.to_numpy() > 0, "", "no records to check: score undefined"),
        index=checked.index,
    )


def _score(checked: pd.Series, failed: pd.Series) -> pd.Series:
    """``100 * (1 - failed / checked)``; NaN (not a warning) where nothing was checked."""
    c = checked.astype(float)
    return (100.0 * (1.0 - failed.astype(float) / c.where(c > 0))).round(2)


def _rule_table(dealer_id: str, rows: list[tuple[str, str, str, int, int]]) -> pd.DataFrame:
    """Scored rules as a frame: counts, score, note and description, sorted."""
    rules = pd.DataFrame(rows, columns=["dimension", "table", "rule", "checked", "failed"])
    rules.insert(0, "dealer_id", dealer_id)
    rules["score"] = _score(rules["checked"], rules["failed"])
    rules["note"] = _note(rules["checked"])
    rules["description"] = [describe(r.dimension, r.table, r.rule) for r in rules.itertuples()]
    return rules.sort_values(["dimension", "table", "rule"], kind="stable").reset_index(drop=True)


def _flag_table(flags: list[pd.DataFrame], cust: pd.DataFrame) -> pd.DataFrame:
    """All flags; customer-level flags fall to the consultant of the customer's latest lead."""
    flags = [f for f in flags if len(f)]
    fl = pd.concat(flags, ignore_index=True) if flags else pd.DataFrame(columns=FLAG_COLUMNS)
    fl["consultant_id"] = (
        fl["consultant_id"]
        .astype("string")
        .fillna(
            fl["customer_id"].map(cust.set_index("customer_id")["consultant_id"]).astype("string")
        )
    )
    fl["consultant_id"] = fl["consultant_id"].fillna("crm")
    return fl[FLAG_COLUMNS].reset_index(drop=True)


def quality_scorecard(
    dealer: DealerData,
    *,
    params: QualityParams | None = None,
    mask: bool = True,
    reconciliation: Reconciliation | None = None,
) -> Scorecard:
    """Score one dealer's data on authenticity, continuity and validity.

    Every rule of the registry (:data:`~crm_analytics.metrics.quality.registry.REGISTRY`) is
    applied and counted per table; see the package docstring for how rule scores pool into
    table and dimension scores. The visitor-log reconciliation (:func:`reconcile_visits`)
    supplies the rules that need the front desk (phantom visits, unregistered walk-ins,
    missing log days, phone typos).

    Parameters
    ----------
    dealer
        A validated dealer.
    params
        Rule parameters (default :class:`QualityParams`).
    mask
        Mask names and phones in ``flags``.
    reconciliation
        A reconciliation computed earlier with ``mask=False`` (computed here when omitted).

    Returns
    -------
    Scorecard
    """
    params = resolve_params(params)
    rec = (
        reconciliation
        if reconciliation is not None
        else reconcile_visits(dealer, params=params, mask=False)
    )
    ctx = RuleContext(dealer, params, rec)
    rows: list[tuple[str, str, str, int, int]] = []
    flags: list[pd.DataFrame] = []
    for rule in REGISTRY:
        outcome = rule.run(ctx)
        if rule.scored:
            rows += [(rule.dimension, t, rule.id, c, f) for t, c, f in outcome.counts]
        flags += outcome.flags
    rules = _rule_table(dealer.dealer_id, rows)
    tables = _pool(rules, ["dimension", "table"])
    tables.insert(0, "dealer_id", dealer.dealer_id)
    dims = (
        _pool(rules, ["dimension"]).set_index("dimension").reindex(list(DIMENSIONS)).reset_index()
    )
    dims.insert(0, "dealer_id", dealer.dealer_id)
    fl = _flag_table(flags, ctx.customers)
    if mask:
        fl = _mask_frame(fl)
    return Scorecard(dealer.dealer_id, rules, tables, dims, fl, rec)
