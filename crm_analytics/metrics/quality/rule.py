"""What a data-quality rule is: :class:`Rule`, the :class:`Fix` it asks for, and how it runs.

A rule's check is a function ``check(ctx, rule) -> Outcome``: it reads the dealer (and the
shared, computed-once features in :class:`RuleContext`), counts the records it checked and the
records that failed per table, and lists the failing records (flags) under the fix-list issues
of the rule. The registry of rules is :data:`crm_analytics.metrics.quality.registry.REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.metrics.quality.common import _customer_features
from crm_analytics.metrics.quality.params import QualityParams
from crm_analytics.metrics.quality.reconcile import Reconciliation

_T = TypeVar("_T")

DIMENSIONS: tuple[str, ...] = ("authenticity", "continuity", "validity")

#: who can be asked to fix a record: the consultant holding it, the front desk, the sales
#: manager (assignments) or the CRM desk (records nobody holds, rows rejected at load time)
OWNER_ROLES: tuple[str, ...] = ("consultant", "reception", "sales_manager", "crm")

#: one row per failing record (``rule`` holds the fix-list issue)
FLAG_COLUMNS = [
    "table",
    "row_id",
    "rule",
    "dimension",
    "consultant_id",
    "customer_id",
    "lead_id",
    "at",
    "name",
    "phone",
    "other_phone",
    "detail",
]


@dataclass(frozen=True)
class Fix:
    """A fix-list issue: what a failing record is listed as, who fixes it and how.

    Attributes
    ----------
    issue
        Name of the issue in the flags (``rule`` column) and the fix list (``issue`` column).
    owner
        Role that fixes it (:data:`OWNER_ROLES`); ``consultant`` means the consultant who holds
        the record (the lead's consultant, the consultant of the customer's latest lead, or the
        one the front desk named).
    en, zh
        The action, in English and Chinese.
    """

    issue: str
    owner: str
    en: str
    zh: str


@dataclass(frozen=True)
class Rule:
    """One data-quality rule (a record of the registry).

    Attributes
    ----------
    id
        Rule name, unique within (dimension, table).
    dimension
        ``authenticity`` [真实性], ``continuity`` [连贯性] or ``validity`` [有效性].
    table
        Table checked, or ``*`` for a rule applied to several tables.
    en, zh
        What the rule checks, in English and Chinese; ``checked`` and ``failed`` count records.
    check
        ``check(ctx, rule) -> Outcome``: the records checked and the failing ones.
    fixes
        The fix-list issues failing records are listed under.
    """

    id: str
    dimension: str
    table: str
    en: str
    zh: str
    check: Callable[[RuleContext, Rule], Outcome]
    fixes: tuple[Fix, ...]

    def __post_init__(self) -> None:
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"rule {self.id}: unknown dimension {self.dimension!r}")
        for f in self.fixes:
            if f.owner not in OWNER_ROLES:
                raise ValueError(f"rule {self.id}: unknown owner role {f.owner!r}")

    @property
    def key(self) -> str:
        """``table.id`` (``id`` alone for a ``*`` rule): the rule's name in ``params/quality.yaml``."""
        return self.id if self.table == "*" else f"{self.table}.{self.id}"

    def run(self, ctx: RuleContext) -> Outcome:
        """Apply the rule to a dealer."""
        return self.check(ctx, self)

    def outcome(self) -> Outcome:
        """An empty outcome of this rule, for its check to fill."""
        return Outcome(self)


@dataclass
class Outcome:
    """What a rule found: ``(table, checked, failed)`` counts and the flags of failing records."""

    rule: Rule
    counts: list[tuple[str, int, int]] = field(default_factory=list)
    flags: list[pd.DataFrame] = field(default_factory=list)

    def count(
        self, checked: int, failed: pd.DataFrame | int, *, table: str | None = None
    ) -> Outcome:
        """Record ``checked`` records and ``failed`` (a count or the failing rows) for ``table``."""
        table = self._table(table)
        n_failed = failed if isinstance(failed, (int, float)) else len(failed)
        self.counts.append((table, int(checked), int(n_failed)))
        return self

    def flag(
        self, issue: str, df: pd.DataFrame, row_id: str, *, table: str | None = None, **cols
    ) -> Outcome:
        """List the rows of ``df`` as failing records under ``issue``.

        ``cols`` name, for a flag column (:data:`FLAG_COLUMNS`), the column of ``df`` to take
        or a Series of values; columns not given are taken from ``df`` when it has them.
        """
        if issue not in {f.issue for f in self.rule.fixes}:
            raise ValueError(f"rule {self.rule.id} lists no fix-list issue {issue!r}")
        table = self._table(table)
        out = pd.DataFrame(
            {
                "table": table,
                "row_id": df[row_id].astype(str).to_numpy(),
                "rule": issue,
                "dimension": self.rule.dimension,
            },
            index=range(len(df)),
        )
        for c in FLAG_COLUMNS[4:]:
            src = cols.get(c, c)
            out[c] = (
                df[src].to_numpy()
                if isinstance(src, str) and src in df.columns
                else (src.to_numpy() if isinstance(src, pd.Series) else pd.NA)
            )
        self.flags.append(out)
        return self

    def _table(self, table: str | None) -> str:
        if table is None:
            if self.rule.table == "*":
                raise ValueError(f"rule {self.rule.id} applies to several tables: name the table")
            return self.rule.table
        if self.rule.table not in ("*", table):
            raise ValueError(f"rule {self.rule.id} checks {self.rule.table}, not {table}")
        return table


@dataclass
class RuleContext:
    """A dealer, the rule parameters, the reconciliation, and features computed once for all rules.

    Parameters
    ----------
    dealer
        A validated dealer.
    params
        Rule parameters.
    rec
        The dealer's visitor-log reconciliation, unmasked.
    """

    dealer: DealerData
    params: QualityParams
    rec: Reconciliation
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rec.masked:
            raise InputError(
                "quality_scorecard needs an unmasked reconciliation: "
                "pass reconcile_visits(dealer, mask=False)"
            )

    @cached_property
    def customers(self) -> pd.DataFrame:
        """Customers with phone and name features and the consultant of their latest lead."""
        cust = _customer_features(self.dealer)
        last_consultant = (
            self.leads.sort_values("created_at")
            .drop_duplicates("customer_id", keep="last")
            .set_index("customer_id")["consultant_id"]
        )
        cust["consultant_id"] = cust["customer_id"].map(last_consultant)
        return cust

    @property
    def leads(self) -> pd.DataFrame:
        """The dealer's leads."""
        return self.dealer.leads

    @cached_property
    def lead_consultant(self) -> pd.Series:
        """``lead_id`` -> consultant."""
        return self.leads.set_index("lead_id")["consultant_id"]

    @cached_property
    def lead_customer(self) -> pd.Series:
        """``lead_id`` -> customer."""
        return self.leads.set_index("lead_id")["customer_id"]

    def shared(self, fn: Callable[[RuleContext], _T]) -> _T:
        """``fn(self)``, computed once for all the rules that need it."""
        if fn not in self._memo:
            self._memo[fn] = fn(self)
        return self._memo[fn]
