"""Benchmark: the churn model on data we did not generate (issue 16 item 8), the CDNOW
master file of ``lifetimes``' datasets (23,570 music buyers of Q1 1997, every purchase to June
1998; ``lifetimes`` is in the package's test extra).

A dealer's after-sales customers are replaced by CDNOW's: one customer and one "vehicle" per
buyer (bought at the first purchase, warranty beyond the data), one service visit per purchase
(amount as labour). Nothing else is known (no distance, satisfaction, complaints), so the
survival model runs without covariates. The data span 18 months, so the churn definition is
shortened: *active* = a purchase in the 6 months before the cutoff, *churned* = no purchase in
the 3 months after it. The backtest (:func:`crm_analytics.models.churn.backtest`) evaluates at
1998-03-31 after training at the three quarter ends whose 3-month label windows close before
it, as a report does for a dealer; it compares the default model, the gradient-boosted
classifier it replaced (isotonic calibration), the survival model alone, BG/NBD P(alive) and
recency. No oracle exists for real data.

Usage::

    PYTHONPATH=$PWD python bench/bench_churn_cdnow.py [--cdnow PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from crm_analytics.core.dealer import DealerData
from crm_analytics.data.validation import build_dealer
from crm_analytics.models.churn import ChurnModel, backtest

BOOSTER = HistGradientBoostingClassifier(
    learning_rate=0.05,
    max_iter=250,
    max_leaf_nodes=15,
    min_samples_leaf=50,
    l2_regularization=1.0,
    early_stopping=False,
    random_state=0,
)


def cdnow_path() -> Path:
    import lifetimes.datasets

    return Path(lifetimes.datasets.__file__).parent / "CDNOW_master.txt"


def cdnow_dealer(path: Path) -> DealerData:
    """CDNOW's buyers and purchases as a dealer's customers, vehicles and service visits."""
    raw = pd.read_csv(
        path, sep=r"\s+", header=0, names=["cid", "date", "n", "amount"], dtype={"cid": str}
    )
    raw["at"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d") + pd.Timedelta(hours=12)
    first = raw.groupby("cid")["at"].min()
    ids = first.index.to_numpy()
    vins = np.array([f"CDNOW{int(c):012d}" for c in ids])
    customers = pd.DataFrame({"customer_id": ids, "created_at": first.to_numpy()})
    for c in ("name", "phone", "gender", "city", "industry", "hobbies"):
        customers[c] = pd.Series(pd.NA, index=customers.index, dtype="string")
    customers["birth_year"] = pd.array([pd.NA] * len(ids), dtype="Int64")
    customers["distance_km"] = np.nan
    vehicles = pd.DataFrame(
        {
            "vin": vins,
            "customer_id": ids,
            "model": "QX50",
            "purchase_date": first.to_numpy(),
            "sold_by_this_dealer": True,
            "warranty_end": pd.Timestamp("2001-01-01"),
            "finance_end": pd.NaT,
            "recall_campaign": pd.Series(pd.NA, index=range(len(ids)), dtype="string"),
        }
    )
    vin_of = pd.Series(vins, index=ids)
    visits = pd.DataFrame(
        {
            "ro_id": [f"RO{i:07d}" for i in range(len(raw))],
            "vin": vin_of.reindex(raw["cid"]).to_numpy(),
            "customer_id": raw["cid"].to_numpy(),
            "at": raw["at"].to_numpy(),
            "kind": "maintenance",
            "labor_amount": raw["amount"].clip(lower=0).to_numpy(),
            "parts_amount": 0.0,
            "addon_amount": 0.0,
            "margin": 0.0,
            "mileage": 0.0,
            "advisor_id": pd.Series(pd.NA, index=range(len(raw)), dtype="string"),
        }
    )
    return build_dealer(
        {"customers": customers, "vehicles": vehicles, "service_visits": visits},
        dealer_id="CDNOW",
        as_of="1998-06-30 23:00",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cdnow",
        type=Path,
        default=None,
        help="CDNOW_master.txt or CDNOW_sample.txt (default: lifetimes' master file)",
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    dealer = cdnow_dealer(args.cdnow or cdnow_path())
    print(f"{dealer!r}\nloaded in {time.perf_counter() - t0:.1f} s")
    kw = {
        "cutoffs": ["1998-03-31"],
        "n_train_cutoffs": 3,
        "train_step_months": 3,
        "min_history_months": 3,
    }
    definition = {"active_months": 6, "horizon_months": 3}
    frames: dict = {}
    rows = []
    for name, model in (
        ("default (logistic)", ChurnModel(**definition)),
        ("booster (isotonic)", ChurnModel(estimator=BOOSTER, calibration="isotonic", **definition)),
    ):
        t0 = time.perf_counter()
        bt = backtest(dealer, model=model, frames=frames, **kw)
        s = bt.summary().set_index("method")
        print(f"{name}: {time.perf_counter() - t0:.1f} s, trained at {bt.train_cutoffs}")
        rows.append(s.loc["model"].rename(name))
    rows += [s.loc[m].rename(m) for m in s.index if m != "model"]
    table = pd.DataFrame(rows)[
        ["n", "positive_rate", "roc_auc", "pr_auc", "lift_top_decile", "ece"]
    ]
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
