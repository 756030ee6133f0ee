"""Lead features at many snapshot dates: ``lead_feature_snapshots`` (a dealer's leads and
touchpoints read once into arrays for every date) against the per-date pandas computation it
replaced (kept below as ``reference_lead_features``), side by side in one process on the same
dealers, with the frames compared for equality.

Dealers: the sample network's (``crm-analytics generate``: seed 2016, 2,500 customers each),
simulated in memory; dates every 7 days over the last 21 months. CPU time, best of ``--repeat``.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_lead_features.py [--dealers 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from crm_analytics.cli import SAMPLE
from crm_analytics.core import schema
from crm_analytics.core.frames import isin
from crm_analytics.models.features import LEAD_FEATURES, YEAR_DAYS, lead_feature_snapshots
from crm_analytics.models.leads import snapshot_cutoffs
from crm_analytics.sim import simulate_dealer

_GRADE_CODE = {"H": 4.0, "A": 3.0, "B": 2.0, "C": 1.0}


def _days(delta) -> np.ndarray:
    return np.asarray(pd.to_timedelta(delta) / pd.Timedelta(days=1), dtype=float)


def reference_lead_features(dealer, c, defeat_idle_days=45.0, channel_prior_years=2.0):
    """The former implementation: one pandas pass over the dealer's records per date."""
    c = pd.Timestamp(c)
    tp_all = dealer.touchpoints
    tp_all = tp_all.loc[
        tp_all["lead_id"].notna(), ["lead_id", "kind", "at", "outcome", "dwell_minutes", "channel"]
    ]
    tp_all = tp_all[tp_all["at"] < c]
    ld0 = dealer.leads[dealer.leads["created_at"] < c]
    ordered = set(dealer.orders.loc[dealer.orders["ordered_at"] < c, "lead_id"])
    ordered |= set(tp_all.loc[tp_all["kind"] == "order", "lead_id"])
    last0 = tp_all.groupby("lead_id")["at"].max().reindex(ld0["lead_id"])
    created0 = ld0["created_at"].to_numpy("datetime64[ns]")
    last0 = np.maximum(last0.to_numpy("datetime64[ns]"), created0)
    last0 = np.where(np.isnat(last0), created0, last0)
    idle = (np.datetime64(c, "ns") - last0) / np.timedelta64(1, "D")
    keep = (idle <= defeat_idle_days) & ~isin(ld0["lead_id"], ordered)
    ids = pd.Index(np.sort(ld0["lead_id"].to_numpy()[keep].astype(object)), name="lead_id")
    L = dealer.leads.set_index("lead_id").reindex(ids)
    X = pd.DataFrame(index=ids)
    X["dealer_id"] = dealer.dealer_id
    for col in ("channel", "model_interest", "consultant_id", "intent_grade"):
        X[col] = L[col].to_numpy()
    X["channel_code"] = pd.Categorical(L["channel"], categories=schema.CHANNELS).codes.astype(float)
    X["model_code"] = pd.Categorical(L["model_interest"], categories=schema.MODELS).codes
    X["model_code"] = X["model_code"].astype(float)
    X["grade_code"] = L["intent_grade"].map(_GRADE_CODE).to_numpy(float)
    X["days_since_created"] = _days(c - L["created_at"])
    tp = tp_all[isin(tp_all["lead_id"], ids)]
    kinds = tp.groupby(["lead_id", "kind"]).size().unstack(fill_value=0)

    def count(kind):
        if kind not in kinds:
            return np.zeros(len(ids))
        return kinds[kind].reindex(ids, fill_value=0).to_numpy(float)

    def per_lead(frame):
        return frame.groupby("lead_id").size().reindex(ids, fill_value=0).to_numpy(float)

    X["visits"] = count("visit")
    X["visited"] = (X["visits"] > 0).astype(float)
    X["test_drive"] = (count("test_drive") > 0).astype(float)
    X["quoted"] = (count("quote") > 0).astype(float)
    X["stage_reached"] = np.select(
        [X["quoted"] > 0, X["test_drive"] > 0, X["visited"] > 0], [3.0, 2.0, 1.0], 0.0
    )
    vg = tp[tp["kind"] == "visit"].sort_values("at").groupby("lead_id")
    X["first_visit_dwell"] = vg["dwell_minutes"].first().reindex(ids).to_numpy(float)
    X["max_dwell"] = vg["dwell_minutes"].max().reindex(ids).to_numpy(float)
    X["days_since_first_visit"] = _days(c - vg["at"].min().reindex(ids))
    last = tp.groupby("lead_id")["at"].max().reindex(ids)
    X["days_since_last_contact"] = _days(c - last.where(last.notna(), L["created_at"]))
    X["touches_14d"] = per_lead(tp[tp["at"] >= c - pd.Timedelta(days=14)])
    inv = tp[tp["kind"] == "invitation"]
    X["invitations"] = count("invitation")
    X["invitations_accepted"] = per_lead(inv[inv["outcome"] == "accepted"])
    X["invitations_declined"] = per_lead(inv[inv["outcome"] == "declined"])
    inq = tp[tp["kind"] == "inquiry"]
    X["journey_channels"] = (
        inq.groupby("lead_id")["channel"].nunique().reindex(ids, fill_value=0).to_numpy(float)
    )
    lo = c - pd.Timedelta(days=round(channel_prior_years * YEAR_DAYS))
    hist = dealer.leads[(dealer.leads["created_at"] < c) & (dealer.leads["created_at"] >= lo)]
    ord_before = dealer.orders.loc[dealer.orders["ordered_at"] < c, "lead_id"]
    won = pd.Series(isin(hist["lead_id"], ord_before), index=hist.index)
    open_now = pd.Series(isin(hist["lead_id"], ids), index=hist.index)
    decided = hist[won | ~open_now].assign(won=won[won | ~open_now].astype(float))
    base = float(decided["won"].mean()) if len(decided) else np.nan
    ch = decided.groupby("channel")["won"].agg(["sum", "size"])
    ch_rate = (ch["sum"] + 20.0 * base) / (ch["size"] + 20.0)
    jr = inq[["lead_id", "channel"]].drop_duplicates()
    jr = jr.assign(rate=jr["channel"].map(ch_rate).astype(float).fillna(base))
    X["journey_effect_prior"] = jr.groupby("lead_id")["rate"].mean().reindex(ids).to_numpy(float)
    X["journey_effect_prior"] = (
        X["journey_effect_prior"].fillna(X["channel"].map(ch_rate).astype(float)).fillna(base)
    )
    co = decided.groupby("consultant_id")["won"].agg(["sum", "size"])
    rate = (co["sum"] + 20.0 * base) / (co["size"] + 20.0)
    X["consultant_win_rate"] = X["consultant_id"].map(rate).astype(float).fillna(base).to_numpy()
    X["consultant_leads"] = X["consultant_id"].map(co["size"]).astype(float).fillna(0.0).to_numpy()
    earlier = dealer.leads[dealer.leads["created_at"] < c].groupby("customer_id").size()
    returning = L["customer_id"].map(earlier).fillna(0).to_numpy(float) > 1
    X["returning_customer"] = returning.astype(float)
    cols = ["dealer_id", "channel", "model_interest", "consultant_id", "intent_grade"]
    return X[[*cols, *LEAD_FEATURES]]


def _cpu(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dealers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    print("dealer  dates  rows  reference_s  snapshots_s  ratio  equal")
    for i in range(a.dealers):
        d = simulate_dealer(i, customers=SAMPLE["customers_per_dealer"], seed=SAMPLE["seed"])
        cuts = snapshot_cutoffs(d.as_of - pd.DateOffset(months=21), d.as_of, every_days=7)
        t_ref, ref = _cpu(
            lambda d=d, cuts=cuts: [reference_lead_features(d, c) for c in cuts], a.repeat
        )
        t_new, new = _cpu(lambda d=d, cuts=cuts: lead_feature_snapshots(d, cuts), a.repeat)
        equal = True
        for x, y in zip(ref, new, strict=True):
            try:
                pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-12)
            except AssertionError:
                equal = False
        rows = sum(len(x) for x in new)
        print(
            f"{d.dealer_id}  {len(cuts)}  {rows}  {t_ref:.2f}  {t_new:.2f}  "
            f"{t_ref / t_new:.1f}x  {equal}"
        )


if __name__ == "__main__":
    main()
