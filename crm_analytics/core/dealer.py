"""``DealerData``: one dealer's validated tables and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from crm_analytics.core.schema import TABLE_NAMES, empty_frame


@dataclass(eq=False)
class DealerData:
    """One dealer's canonical tables, validated, with metadata.

    Build it with :func:`crm_analytics.data.store.load_dealer`, :func:`crm_analytics.data.dms.read_dms_export`
    or :func:`crm_analytics.data.validation.build_dealer`; everything downstream may trust its tables.

    Attributes
    ----------
    dealer_id, name, city, region
        Identity of the dealer.
    as_of
        The date the data was extracted; no record is dated after it.
    opening_hour, closing_hour
        Showroom opening hours (local time), used by visitor-log checks.
    tables
        Canonical table name -> validated DataFrame (every table of
        :data:`crm_analytics.core.schema.TABLE_NAMES` is present, possibly empty).
    quarantine
        Rows rejected at the boundary: ``table``, ``row_id``, ``column``, ``rule``, ``value``.
    report
        The validation report: one row per (table, column, rule) with counts and examples.
    rows_in
        Rows read per table before validation (``rows_in = kept + quarantined``).
    truth
        Ground truth written by the simulator (empty for real data): name -> DataFrame.
    """

    dealer_id: str
    name: str
    city: str
    as_of: pd.Timestamp
    tables: dict[str, pd.DataFrame]
    region: str = ""
    opening_hour: int = 9
    closing_hour: int = 18
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    report: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows_in: dict[str, int] = field(default_factory=dict)
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.as_of = pd.Timestamp(self.as_of)
        for name in TABLE_NAMES:
            if name not in self.tables:
                self.tables[name] = empty_frame(name)

    # attribute access: dealer.customers, dealer.leads, ...
    def __getattr__(self, item: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables")
        if tables is not None and item in tables:
            return tables[item]
        raise AttributeError(f"DealerData has no attribute or table {item!r}")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.tables.items())
        q = len(self.quarantine)
        return (
            f"DealerData({self.dealer_id!r}, name={self.name!r}, city={self.city!r}, "
            f"as_of={self.as_of.date()}, {sizes}, quarantined={q:,})"
        )

    @property
    def meta(self) -> dict[str, object]:
        """Identity and extraction date as a plain dict (for reports and metrics files)."""
        return {
            "dealer_id": self.dealer_id,
            "name": self.name,
            "city": self.city,
            "region": self.region,
            "as_of": self.as_of.date().isoformat(),
        }

    def summary(self) -> pd.DataFrame:
        """Rows read, kept and quarantined per table.

        A row that fails several rules counts once; rows are told apart by ``source_row`` (two
        copies of one row share their ``row_id``, not their place in the file).
        """
        q = (
            self.quarantine.drop_duplicates(["table", "source_row"]).groupby("table").size()
            if len(self.quarantine)
            else pd.Series(dtype=int)
        )
        rows = []
        for name, frame in self.tables.items():
            rows.append(
                {
                    "table": name,
                    "rows_in": self.rows_in.get(name, len(frame)),
                    "kept": len(frame),
                    "quarantined": int(q.get(name, 0)),
                }
            )
        return pd.DataFrame(rows)
