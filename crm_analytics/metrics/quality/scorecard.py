"""The data-quality scorecard: :func:`quality_scorecard` applies the registry's rules."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.metrics.quality.common import _mask_frame
from crm_analytics.metrics.quality.params import QualityParams, resolve_params
from crm_analytics.metrics.quality.reconcile import Reconciliation, reconcile_visits
from crm_analytics.metrics.quality.registry import REGISTRY
from crm_analytics.metrics.quality.rule import DIMENSIONS, FLAG_COLUMNS, Rule, RuleContext
from crm_analytics.metrics.quality.scoring import score_frames


@dataclass
class Scorecard:
    """Data-quality scorecard of one dealer (see :func:`quality_scorecard`).

    Scores are explained in :mod:`crm_analytics.metrics.quality.scoring`: a rule's
    ``pass_rate`` (0-100) becomes its ``score`` (0-100) through its ``tolerance``; tables and
    dimensions score the ``weight``-ed mean of their rules' scores; ``status`` is ``green``,
    ``amber`` or ``red`` (NA where nothing was checked, with the reason in ``note``).

    Attributes
    ----------
    rules
        One row per (dimension, table, rule) checked: ``key`` (the rule key of
        ``params/quality.yaml``), ``checked``, ``failed``, ``pass_rate``, ``tolerance``,
        ``score``, ``weight``, ``status``, ``note``, ``description`` and ``description_zh``.
    tables
        One row per (dimension, table): pooled ``checked``, ``failed`` and ``pass_rate``, the
        weighted mean ``score`` of the table's rules, ``status``.
    dimensions
        One row per dimension: pooled ``checked``, ``failed`` and ``pass_rate`` (for reference),
        ``score`` = weighted mean of the dimension's rule scores (:attr:`rule_scores`),
        ``status``, ``rules`` (how many were scored) and ``worst_rules`` (the lowest-scoring
        rules that failed a record: ``key score (pass rate)``).
    flags
        One row per failing record: ``table``, ``row_id``, ``rule``, ``dimension``,
        ``consultant_id`` (who fixes it), ``customer_id``, ``lead_id``, ``at``, ``name``,
        ``phone`` (masked unless asked otherwise) and ``detail``.
    reconciliation
        The visitor-log reconciliation the scorecard used.
    rule_scores
        One row per rule of the registry that checked something, its tables pooled (a ``*``
        rule): the columns of :attr:`rules`; the dimension scores average these.
    masked
        Whether names and phones in ``flags`` are masked (an asterisk in an unmasked
        scorecard's phone comes from a DMS that masked the phone before export).
    """

    dealer_id: str
    rules: pd.DataFrame
    tables: pd.DataFrame
    dimensions: pd.DataFrame
    flags: pd.DataFrame
    reconciliation: Reconciliation
    rule_scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    masked: bool = False

    def score(self, dimension: str) -> float:
        """The dealer's score on one dimension (0-100)."""
        if dimension not in DIMENSIONS:
            raise InputError(f"unknown dimension {dimension!r}; dimensions are {list(DIMENSIONS)}")
        return float(self.dimensions.set_index("dimension").loc[dimension, "score"])

    def worst(self, n: int | None = None, *, dimension: str | None = None) -> pd.DataFrame:
        """The lowest-scoring rules that failed at least one record, worst first.

        Parameters
        ----------
        n
            How many (all when omitted).
        dimension
            Only this dimension's rules.
        """
        r = self.rule_scores
        if dimension is not None:
            if dimension not in DIMENSIONS:
                raise InputError(
                    f"unknown dimension {dimension!r}; dimensions are {list(DIMENSIONS)}"
                )
            r = r[r["dimension"] == dimension]
        r = r[(r["failed"] > 0) & r["score"].notna()]
        r = r.sort_values(["score", "pass_rate", "key"], kind="stable").reset_index(drop=True)
        return r if n is None else r.head(n)

    def pivot(self) -> pd.DataFrame:
        """Table x dimension matrix of scores (for a heat map)."""
        return self.tables.pivot(index="table", columns="dimension", values="score").reindex(
            columns=list(DIMENSIONS)
        )

    def __repr__(self) -> str:
        dims = ", ".join(
            f"{r.dimension}={r.score:.1f} ({r.status if isinstance(r.status, str) else 'n/a'})"
            for r in self.dimensions.itertuples()
        )
        return f"Scorecard({self.dealer_id!r}: {dims}; {len(self.flags):,} flagged records)"

    def _repr_html_(self) -> str:
        cols = ["dimension", "score", "status", "worst_rules"]
        return (
            f"<p><code>{html.escape(repr(self))}</code></p>"
            + self.dimensions[cols].to_html(index=False, float_format="{:.1f}".format)
            + self.pivot().to_html(float_format="{:.1f}".format)
        )


def _rule_rows(dealer_id: str, rows: list[tuple[Rule, str, int, int]]) -> pd.DataFrame:
    """The counts of every rule and table it checked, with the rule's key and descriptions."""
    out = pd.DataFrame(
        {
            "dealer_id": dealer_id,
            "dimension": [r.dimension for r, *_ in rows],
            "table": [t for _, t, _, _ in rows],
            "rule": [r.id for r, *_ in rows],
            "key": [r.key for r, *_ in rows],
            "checked": np.array([c for *_, c, _ in rows], dtype=np.int64),
            "failed": np.array([f for *_, f in rows], dtype=np.int64),
            "description": [r.en for r, *_ in rows],
            "description_zh": [r.zh for r, *_ in rows],
        }
    )
    return out.sort_values(["dimension", "table", "rule"], kind="stable").reset_index(drop=True)


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
    rows: list[tuple[Rule, str, int, int]] = []
    flags: list[pd.DataFrame] = []
    for rule in REGISTRY:
        outcome = rule.run(ctx)
        rows += [(rule, t, c, f) for t, c, f in outcome.counts]
        flags += outcome.flags
    rules, rule_scores, tables, dims = score_frames(_rule_rows(dealer.dealer_id, rows), params)
    fl = _flag_table(flags, ctx.customers)
    if mask:
        fl = _mask_frame(fl)
    return Scorecard(dealer.dealer_id, rules, tables, dims, fl, rec, rule_scores, masked=mask)
