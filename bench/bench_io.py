"""Benchmark: load one dealer from a network store of many dealers.

Builds (or reuses) a store of ``--dealers`` synthetic dealers of typical size (20,000 customers,
5 years of history by default) under ``bench/out/store``, then times

* reading one dealer's partitions: direct partition paths (what ``load_dealer`` does) against a
  hive glob with ``WHERE dealer_id = ?`` over the whole dataset, both via DuckDB;
* ``load_dealer`` end to end (read + validation).

Run on demand (not in the tests)::

    PYTHONPATH=. python bench/bench_io.py --dealers 100
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from crm_analytics.core.schema import (
    CHANNELS,
    DEFEAT_REASONS,
    INTENT_GRADES,
    MODELS,
    SERVICE_KINDS,
    STAFF_ROLES,
    SURVEY_KINDS,
    TABLE_NAMES,
    TOUCH_KINDS,
    VISIT_REASONS,
)
from crm_analytics.data import dms, store
from crm_analytics.sim.dms_export import to_dms_frame

AS_OF = pd.Timestamp("2021-12-31")
START = pd.Timestamp("2017-01-01")


def _times(
    rng: np.random.Generator, n: int, lo: pd.Timestamp = START, hi: pd.Timestamp = AS_OF
) -> np.ndarray:
    span = int((hi - lo) / pd.Timedelta(minutes=1))
    return (lo + pd.to_timedelta(rng.integers(0, span, n), unit="min")).to_numpy()


def synthetic_dealer(seed: int, customers: int = 20_000) -> dict[str, pd.DataFrame]:
    """A valid-looking dealer of typical size (not a simulator: only for I/O timing)."""
    rng = np.random.default_rng(seed)
    nc = customers
    cid = np.char.add("C", np.arange(nc).astype(str))
    created = _times(rng, nc, START, AS_OF - pd.Timedelta(days=200))
    cust = pd.DataFrame(
        {
            "customer_id": cid,
            "name": np.char.add("客户", np.arange(nc).astype(str)),
            "phone": np.char.add("138", rng.integers(10**7, 10**8, nc).astype(str)),
            "gender": rng.choice(["M", "F"], nc),
            "birth_year": pd.array(rng.integers(1950, 2000, nc), dtype="Int64"),
            "city": "成都",
            "industry": rng.choice(["finance", "it", "trade"], nc),
            "hobbies": rng.choice(["golf", "travel;fishing", None], nc),
            "distance_km": rng.gamma(2, 8, nc).round(1),
            "created_at": created,
        }
    )
    nv = int(nc * 0.6)
    owner = rng.choice(nc, nv, replace=False)
    purchase = created[owner] + pd.to_timedelta(rng.integers(1, 100, nv), unit="D").to_numpy()
    vins = np.char.add("LVSH", np.char.zfill(np.arange(nv).astype(str), 13))
    veh = pd.DataFrame(
        {
            "vin": vins,
            "customer_id": cid[owner],
            "model": rng.choice(MODELS, nv),
            "purchase_date": purchase,
            "sold_by_this_dealer": rng.random(nv) < 0.8,
            "warranty_end": purchase + np.timedelta64(3 * 365, "D"),
            "finance_end": pd.NaT,
            "recall_campaign": None,
        }
    )
    nl = int(nc * 1.5)
    lc = rng.integers(0, nc, nl)
    lcreated = created[lc] + pd.to_timedelta(rng.integers(0, 30, nl), unit="D").to_numpy()
    status = rng.choice(["open", "won", "defeated"], nl, p=[0.2, 0.2, 0.6])
    closed = np.where(status != "open", lcreated + np.timedelta64(20, "D"), np.datetime64("NaT"))
    lid = np.char.add("L", np.arange(nl).astype(str))
    leads = pd.DataFrame(
        {
            "lead_id": lid,
            "customer_id": cid[lc],
            "channel": rng.choice(CHANNELS, nl),
            "model_interest": rng.choice(MODELS, nl),
            "created_at": lcreated,
            "consultant_id": rng.choice(["S1", "S2", "S3"], nl),
            "intent_grade": rng.choice(INTENT_GRADES, nl),
            "status": status,
            "closed_at": closed,
            "defeat_reason": np.where(status == "defeated", rng.choice(DEFEAT_REASONS, nl), None),
        }
    )
    nt = nl * 5
    tl = rng.integers(0, nl, nt)
    tp = pd.DataFrame(
        {
            "touch_id": np.char.add("T", np.arange(nt).astype(str)),
            "customer_id": cid[lc[tl]],
            "lead_id": lid[tl],
            "kind": rng.choice(TOUCH_KINDS, nt),
            "channel": rng.choice(CHANNELS, nt),
            "at": lcreated[tl]
            + pd.to_timedelta(rng.integers(0, 20 * 24 * 60, nt), unit="min").to_numpy(),
            "outcome": None,
            "dwell_minutes": rng.gamma(2, 20, nt).round(),
            "staff_id": "S1",
        }
    )
    won = np.flatnonzero(status == "won")
    no = len(won)
    price = rng.normal(300_000, 50_000, no).clip(150_000)
    orders = pd.DataFrame(
        {
            "order_id": np.char.add("O", np.arange(no).astype(str)),
            "lead_id": lid[won],
            "customer_id": cid[lc[won]],
            "vin": None,
            "model": leads["model_interest"].to_numpy()[won],
            "ordered_at": closed[won],
            "delivered_at": closed[won] + np.timedelta64(7, "D"),
            "status": "delivered",
            "price": price.round(),
            "vehicle_margin": rng.normal(0, 3000, no).round(),
            "finance": rng.random(no) < 0.4,
            "finance_margin": 3000.0,
            "insurance": rng.random(no) < 0.8,
            "insurance_margin": 1500.0,
            "accessories_amount": 8000.0,
            "accessories_margin": 3000.0,
            "extended_warranty": rng.random(no) < 0.2,
            "extended_warranty_margin": 1000.0,
            "trade_in": rng.random(no) < 0.1,
            "trade_in_margin": 0.0,
        }
    )
    ns = nv * 5
    sv = rng.integers(0, nv, ns)
    at = purchase[sv] + pd.to_timedelta(rng.integers(30, 1200, ns), unit="D").to_numpy()
    at = np.minimum(at, AS_OF.to_datetime64())
    service = pd.DataFrame(
        {
            "ro_id": np.char.add("R", np.arange(ns).astype(str)),
            "vin": vins[sv],
            "customer_id": cid[owner[sv]],
            "at": at,
            "kind": rng.choice(SERVICE_KINDS, ns),
            "labor_amount": rng.gamma(2, 300, ns).round(2),
            "parts_amount": rng.gamma(2, 600, ns).round(2),
            "addon_amount": 0.0,
            "margin": rng.gamma(2, 300, ns).round(2),
            "mileage": rng.integers(1000, 100_000, ns).astype(float),
            "advisor_id": "A1",
        }
    )
    npol = nv
    start = purchase
    policies = pd.DataFrame(
        {
            "policy_id": np.char.add("P", np.arange(npol).astype(str)),
            "vin": vins,
            "customer_id": cid[owner],
            "start": start,
            "end": start + np.timedelta64(365, "D"),
            "premium": rng.gamma(5, 1000, npol).round(2) + 1,
            "margin": 500.0,
            "sold_by_this_dealer": rng.random(npol) < 0.7,
            "renewal": False,
        }
    )
    nsu = nc // 2
    su = rng.integers(0, nc, nsu)
    surveys = pd.DataFrame(
        {
            "survey_id": np.char.add("Q", np.arange(nsu).astype(str)),
            "customer_id": cid[su],
            "lead_id": None,
            "at": created[su] + np.timedelta64(10, "D"),
            "kind": rng.choice(SURVEY_KINDS, nsu),
            "score": rng.integers(0, 11, nsu).astype(float),
            "recalled_channel": rng.choice(CHANNELS, nsu),
            "use": None,
            "media_seen": None,
            "staff_id": None,
        }
    )
    nvl = nc * 2
    visitors = pd.DataFrame(
        {
            "entry_id": np.char.add("E", np.arange(nvl).astype(str)),
            "at": _times(rng, nvl),
            "name": None,
            "phone": None,
            "party_size": rng.integers(1, 5, nvl),
            "reason": rng.choice(VISIT_REASONS, nvl),
            "staff_id": None,
        }
    )
    months = pd.date_range(START, AS_OF, freq="MS")
    costs = pd.DataFrame(
        [(c, m, float(rng.integers(1000, 50_000))) for c in CHANNELS for m in months],
        columns=["channel", "month", "cost"],
    )
    staff = pd.DataFrame(
        {
            "staff_id": [f"S{i}" for i in range(40)],
            "name": [f"员工{i}" for i in range(40)],
            "role": rng.choice(STAFF_ROLES, 40),
            "phone": None,
            "hired_at": START,
            "left_at": pd.NaT,
            "skill": rng.normal(0, 1, 40).round(2),
        }
    )
    return {
        "staff": staff,
        "customers": cust,
        "vehicles": veh,
        "leads": leads,
        "touchpoints": tp,
        "orders": orders,
        "service_visits": service,
        "insurance_policies": policies,
        "surveys": surveys,
        "visitor_log": visitors,
        "channel_costs": costs,
    }


def write_chinese_export(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write a dealer as a Chinese GB18030 CSV export (headers, values, dates, amounts)."""
    mapping = dms.load_mapping()
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        name = (mapping["tables"][table].get("files") or [table])[0]
        to_dms_frame(table, frame, mapping).to_csv(
            folder / f"{name}.csv", index=False, encoding="gb18030"
        )


def build_store(root: Path, dealers: int, customers: int) -> float:
    t0 = time.perf_counter()
    metas = []
    for i in range(dealers):
        dealer_id = f"D{i:03d}"
        meta = {
            "dealer_id": dealer_id,
            "name": f"Dealer {i}",
            "city": "成都",
            "region": "West",
            "as_of": AS_OF,
        }
        store.write_dealer_tables(root, meta, synthetic_dealer(i, customers))
        metas.append(meta)
    store.write_dealers_index(root, pd.DataFrame(metas))
    return time.perf_counter() - t0


def _timeit(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dealers", type=int, default=100)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--root", type=Path, default=Path(__file__).with_name("out") / "store")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    root: Path = args.root
    have = 0
    if root.is_dir() and (root / store.DEALERS_FILE).is_file():
        have = len(store.list_dealers(root))
    if args.rebuild or have != args.dealers:
        if root.exists():
            shutil.rmtree(root)
        secs = build_store(root, args.dealers, args.customers)
        print(f"built store of {args.dealers} dealers in {secs:.1f} s")
    else:
        print(f"reusing store of {have} dealers at {root}")
    size = sum(p.stat().st_size for p in root.rglob("*.parquet"))
    dealer_id = f"D{args.dealers // 2:03d}"
    rows = {t: len(f) for t, f in synthetic_dealer(args.dealers // 2, args.customers).items()}
    print(
        f"store size {size / 2**20:.0f} MiB; dealer {dealer_id}: {sum(rows.values()):,} rows {rows}"
    )

    def direct() -> None:
        with duckdb.connect() as con:
            for t in TABLE_NAMES:
                path = root / t / f"dealer_id={dealer_id}" / store.PART_FILE
                con.read_parquet(str(path)).to_arrow_table().to_pandas()

    def hive_glob() -> None:
        with duckdb.connect() as con:
            for t in TABLE_NAMES:
                glob = str(root / t / "*" / "*.parquet")
                con.sql(
                    f"SELECT * FROM read_parquet('{glob}', hive_partitioning=true, "
                    f"hive_types={{'dealer_id': VARCHAR}}) WHERE dealer_id = '{dealer_id}'"
                ).to_arrow_table().to_pandas()

    for label, fn in [
        ("read, direct partition paths", direct),
        ("read, hive glob + WHERE", hive_glob),
    ]:
        med, best = _timeit(fn, args.repeat)
        print(f"{label:40s} median {med:.3f} s  best {best:.3f} s")
    med, best = _timeit(lambda: store.load_dealer(root, dealer_id), args.repeat)
    dealer = store.load_dealer(root, dealer_id)
    print(f"{'load_dealer (read + validation)':40s} median {med:.3f} s  best {best:.3f} s")
    print(f"quarantined rows: {len(dealer.quarantine):,}; kept {dealer.summary()['kept'].sum():,}")

    def pyarrow_direct() -> None:
        for t in TABLE_NAMES:
            pq.read_table(root / t / f"dealer_id={dealer_id}" / store.PART_FILE).to_pandas()

    med, best = _timeit(pyarrow_direct, args.repeat)
    print(f"{'read, pyarrow direct (reference)':40s} median {med:.3f} s  best {best:.3f} s")

    # a DMS export of the same dealer: GB18030 CSV, Chinese headers, 2016/03/05 14:30, 12,345.00元
    export = root.parent / "dms_export" / dealer_id
    if not export.is_dir():
        write_chinese_export(export, synthetic_dealer(args.dealers // 2, args.customers))
    med, best = _timeit(
        lambda: dms.read_dms_export(export, dealer_id=dealer_id, as_of=AS_OF),
        max(1, args.repeat // 2),
    )
    mib = sum(p.stat().st_size for p in export.iterdir()) / 2**20
    print(
        f"{'read_dms_export (GB18030 CSV, ' + f'{mib:.0f} MiB)':40s} median {med:.3f} s  best {best:.3f} s"
    )


if __name__ == "__main__":
    main()
