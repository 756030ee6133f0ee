"""Write a simulated dealer as a Chinese DMS would export it: one CSV per table, Chinese file
names, headers and category values (the reverse of ``params/dms_mapping.yaml``), dates like
``2026/03/05 14:30``, amounts like ``1,234.00元``, flags ``是`` / ``否``, lists joined by ``、``.

Used to ship the sample export (``crm-analytics generate --sample-export``), by the tests of the
DMS reader and by the benchmarks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.schema import TABLE_NAMES
from crm_analytics.data.dms import load_mapping
from crm_analytics.data.store import column_kinds
from crm_analytics.sim.network import simulate_dealer

__all__ = ["SAMPLE_EXPORT", "to_dms_frame", "write_dms_export", "write_sample_export"]

#: The shipped sample export: a small simulated dealer with a few bad rows (see
#: :func:`write_sample_export`).
SAMPLE_EXPORT = {"customers": 800, "years": 3.0, "seed": 42}


def _reverse_values(spec: dict[str, Any], col: str) -> dict[str, str]:
    rev: dict[str, str] = {}
    for zh, canon in ((spec.get("values") or {}).get(col) or {}).items():
        rev.setdefault(canon, zh)
    return rev


#: Date formats a DMS export mixes (``mixed_formats=True``), cycled row by row.
_MIXED_DATES = (
    lambda v: v.strftime("%Y-%m-%d %H:%M"),
    lambda v: f"{v.year}/{v.month}/{v.day}",
    lambda v: f"{v.year}年{v.month}月{v.day}日",
    lambda v: str((v.normalize() - pd.Timestamp("1899-12-30")).days),  # an Excel serial day
)
#: Amount formats a DMS export mixes, cycled row by row.
_MIXED_AMOUNTS = (
    lambda v: f"{v:,.2f}",
    lambda v: f"{v:g}元",
    lambda v: f"￥{v:,.2f}",
    str,
)


def _cycle(s: pd.Series, formats: tuple[Any, ...]) -> pd.Series:
    vals = [None if pd.isna(v) else formats[i % len(formats)](v) for i, v in enumerate(s)]
    return pd.Series(vals, index=s.index, dtype=object)


def to_dms_frame(
    table: str, frame: pd.DataFrame, mapping: dict[str, Any], *, mixed_formats: bool = False
) -> pd.DataFrame:
    """One canonical table as the DMS export's text columns (Chinese headers and values).

    With ``mixed_formats`` the rows cycle through the date and amount formats real exports
    mix (``2026-03-05 14:30``, ``2026/3/5``, ``2026年3月5日``, an Excel serial day;
    ``1,234.00``, ``1234元``, ``￥1,234.00``, ``1234.0``); only a visit's ``at`` keeps its
    time of day.
    """
    spec = mapping["tables"][table]
    kinds = column_kinds(table)
    lists = set(spec.get("lists") or [])
    out: dict[str, pd.Series] = {}
    for col in frame.columns:
        if col == "dealer_id":
            continue
        s, kind, rev = frame[col], kinds.get(col), _reverse_values(spec, col)
        if kind == "datetime" and mixed_formats:
            s = _cycle(pd.to_datetime(s), _MIXED_DATES)
            if col != "at":  # the first format loses its time of day
                s = s.where(np.arange(len(s)) % len(_MIXED_DATES) != 0, s.str[:10])
        elif kind == "datetime":
            s = pd.to_datetime(s).dt.strftime("%Y/%m/%d %H:%M")
        elif kind == "float" and mixed_formats:
            s = _cycle(s, _MIXED_AMOUNTS)
        elif kind == "float":
            s = s.map("{:,.2f}元".format, na_action="ignore")
        elif kind == "bool":
            s = s.map({True: "是", False: "否"})
        elif kind == "int":
            s = s.map(lambda v: str(int(v)), na_action="ignore")
        elif col in lists:
            s = s.map(
                lambda v, r=rev: "、".join(r.get(x, x) for x in str(v).split(";")),
                na_action="ignore",
            )
        elif rev:
            s = s.map(lambda v, r=rev: r.get(v, v), na_action="ignore")
        header = ((spec.get("columns") or {}).get(col) or [col])[0]
        out[header] = s.astype(object).where(s.notna(), "")
    return pd.DataFrame(out)


def write_dms_export(
    dealer: DealerData, folder: str | os.PathLike[str], *, encoding: str = "gb18030"
) -> Path:
    """Write every canonical table of ``dealer`` as a Chinese CSV export into ``folder``."""
    mapping = load_mapping()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for table in TABLE_NAMES:
        name = (mapping["tables"][table].get("files") or [table])[0]
        to_dms_frame(table, dealer.tables[table], mapping).to_csv(
            folder / f"{name}.csv", index=False, encoding=encoding
        )
    return folder


def write_sample_export(folder: str | os.PathLike[str]) -> Path:
    """The shipped sample export: :data:`SAMPLE_EXPORT` written as GB18030 CSVs, with the bad
    rows a real export has: a customer row exported twice, a repair order dated 2025-02-30, a
    visit whose time reads 上周二 ("last Tuesday"), and an order price of 待定 ("to be
    decided"). Importing it keeps every other row and quarantines these four with reasons."""
    cfg = SAMPLE_EXPORT
    d = simulate_dealer(41, customers=cfg["customers"], years=cfg["years"], seed=cfg["seed"])
    folder = write_dms_export(d, folder)
    mapping = load_mapping()

    def edit(table: str, fn: Any) -> None:
        name = (mapping["tables"][table].get("files") or [table])[0]
        path = folder / f"{name}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
        fn(frame, mapping["tables"][table]["columns"])
        frame.to_csv(path, index=False, encoding="gb18030")

    def header(cols: dict[str, list[str]], col: str) -> str:
        return (cols.get(col) or [col])[0]

    def duplicate_row(frame: pd.DataFrame, cols: dict[str, list[str]]) -> None:
        frame.loc[len(frame)] = frame.iloc[3]

    def bad_cell(col: str, row: int, value: str) -> Any:
        def fn(frame: pd.DataFrame, cols: dict[str, list[str]]) -> None:
            frame.iloc[row, frame.columns.get_loc(header(cols, col))] = value

        return fn

    edit("customers", duplicate_row)
    edit("service_visits", bad_cell("at", 0, "2025-02-30"))
    edit("visitor_log", bad_cell("at", 1, "上周二"))
    edit("orders", bad_cell("price", 2, "待定"))
    return folder
