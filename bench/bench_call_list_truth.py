"""Call-list rankings against the simulator's truth: the recency rule against the models.

For each seed one simulated dealer (2,500 customers) is analysed as the report does; its call
lists (ranked by 1 - P(churn) from the dealer's churn model and by the CLV as a dormant owner's
value at risk) are compared with the same lists ranked the pre-model way (the recency rule and
the dealer's flat values). The truth is each customer's expected service visits in the 36
months after the data date (the simulator's visit rate x the years the customer stays in that
window). Reported: Spearman's rank correlation of each list's priority with it, per list.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_call_list_truth.py --seeds 101 102 103
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from crm_analytics.actions.call_lists import call_lists
from crm_analytics.core.config import resolve_settings
from crm_analytics.core.dealer import DealerData
from crm_analytics.report.analysis import analyse_dealer
from crm_analytics.sim.simulator import simulate_dealer

LISTS = ("dormant_activation", "maintenance_due", "insurance_renewal", "warranty_end")


def true_future_visits(dealer: DealerData, months: int = 36) -> pd.Series:
    """Each simulated customer's expected service visits in the ``months`` after the data
    date: visit rate x years alive in the window, summed over the customer's cars."""
    truth = dealer.truth["customers"].dropna(subset=["visit_rate"])
    t0 = dealer.as_of
    end = t0 + pd.DateOffset(months=months)
    drop = pd.to_datetime(truth["dropout_at"]).fillna(end)
    years = (np.minimum(drop, end) - t0).dt.days.clip(lower=0) / 365.25
    return (truth["visit_rate"] * years).groupby(truth["customer_id"]).sum()


def rank_agreement(dealer: DealerData) -> pd.DataFrame:
    """Per list: its size and Spearman's correlation of priority with the truth, for the
    recency ranking and the models' ranking (the report's)."""
    analysis = analyse_dealer(dealer, resolve_settings(dealer.dealer_id, language="en"))
    ranked = {
        "recency": call_lists(dealer, states=analysis.sections["lifecycle"]),
        "models": analysis.calls,
    }
    truth = true_future_visits(dealer)
    rows = []
    for reason in LISTS:
        row: dict[str, object] = {"list": reason}
        for name, calls in ranked.items():
            lst = calls[calls["reason"] == reason]
            row["n"] = len(lst)
            row[name] = (
                float(spearmanr(lst["priority"], truth.reindex(lst["customer_id"]).fillna(0.0))[0])
                if len(lst) > 5
                else float("nan")
            )
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    p.add_argument("--customers", type=int, default=2500)
    args = p.parse_args()
    frames = []
    for seed in args.seeds:
        d = simulate_dealer(0, customers=args.customers, seed=seed)
        frames.append(rank_agreement(d).assign(seed=seed))
    out = pd.concat(frames, ignore_index=True)[["seed", "list", "n", "recency", "models"]]
    print(out.round(3).to_string(index=False))
    print(
        f"models above recency on {int((out['models'] > out['recency']).sum())} of {len(out)} lists"
    )


if __name__ == "__main__":
    main()
