"""Front-desk visitor log vs DMS visits: :func:`reconcile_visits` and its :class:`Reconciliation`."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.data.linkage import assign_one_to_one, link_records, mask_name, mask_phone
from crm_analytics.metrics.quality.common import (
    _customer_features,
    _isin,
    _log_features,
    _mask_frame,
    _minutes,
    _phone_neighbours,
)
from crm_analytics.metrics.quality.params import QualityParams, resolve_params

_PAIR_COLUMNS = [
    "entry_id",
    "touch_id",
    "staff_id",
    "log_staff_id",
    "customer_id",
    "lead_id",
    "at_log",
    "at_dms",
    "minutes_apart",
    "match_weight",
    "match_probability",
    "log_name",
    "log_phone",
    "dms_name",
    "dms_phone",
]


@dataclass
class Reconciliation:
    """Front-desk visitor log vs DMS visits for one dealer (see :func:`reconcile_visits`).

    Attributes
    ----------
    pairs
        One row per matched (front-desk arrival, DMS visit): ``entry_id``, ``touch_id``,
        ``staff_id`` (DMS consultant), ``log_staff_id``, ``customer_id``, ``at_log``, ``at_dms``,
        ``minutes_apart``, ``match_weight`` (log2 Bayes factor), ``match_probability``,
        ``log_name``, ``log_phone``, ``dms_name``, ``dms_phone``.
    unregistered
        Sales arrivals of people the DMS does not know (walk-ins never registered [未留档]).
    not_recorded
        Sales arrivals of known prospects with no DMS visit (a missing stage record).
    phantom
        DMS visits with no front-desk arrival on a day the log covers (possible fabrication).
    unverifiable
        DMS visits on days whose visitor log is missing (cannot be checked either way).
    per_consultant
        Per consultant: arrivals, matched, unregistered, not recorded, the walk-in registration
        rate [散客留档率] ``= 1 - unregistered / arrivals``, DMS visits, phantom, phantom rate.
    entries
        Every kept visitor-log row with its ``status`` (matched, unregistered, not_recorded,
        duplicate, not_sales).
    anomalies
        One row per odd log row and issue (missing, invalid or pre-masked phone, missing or placeholder
        name, outside opening hours, duplicate row, sales arrival without consultant, unknown
        consultant, rows quarantined at load time).
    missing_days
        Days the showroom was open (the DMS expects arrivals) with no log entry.
    masked
        Whether names and phones are masked.
    typos
        Customers whose DMS phone is one digit away from a phone the same person (same
        surname) gave at the front desk: ``customer_id``, ``entry_id``, ``at``, ``name``,
        ``phone`` (DMS), ``log_phone`` (front desk).
    """

    dealer_id: str
    pairs: pd.DataFrame
    unregistered: pd.DataFrame
    not_recorded: pd.DataFrame
    phantom: pd.DataFrame
    unverifiable: pd.DataFrame
    per_consultant: pd.DataFrame
    entries: pd.DataFrame
    anomalies: pd.DataFrame
    missing_days: pd.DataFrame
    masked: bool = True
    typos: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def summary(self) -> pd.Series:
        """Headline counts and rates."""
        arrivals = int(
            (self.entries["status"].isin(["matched", "unregistered", "not_recorded"])).sum()
        )
        n_dms = len(self.pairs) + len(self.phantom) + len(self.unverifiable)
        return pd.Series(
            {
                "sales_arrivals": arrivals,
                "matched": len(self.pairs),
                "unregistered": len(self.unregistered),
                "not_recorded": len(self.not_recorded),
                "registration_rate": (arrivals - len(self.unregistered)) / arrivals
                if arrivals
                else np.nan,
                "dms_visits": n_dms,
                "phantom": len(self.phantom),
                "unverifiable": len(self.unverifiable),
                "missing_log_days": len(self.missing_days),
                "anomalous_rows": self.anomalies["entry_id"].nunique()
                if len(self.anomalies)
                else 0,
            },
            name=self.dealer_id,
            dtype=object,
        )

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Reconciliation({self.dealer_id!r}: {s['sales_arrivals']:,} sales arrivals, {s['matched']:,} matched, "
            f"{s['unregistered']:,} unregistered, {s['not_recorded']:,} not recorded; {s['dms_visits']:,} DMS visits, "
            f"{s['phantom']:,} phantom, {s['unverifiable']:,} unverifiable; masked={self.masked})"
        )

    def _repr_html_(self) -> str:
        return f"<p><code>{html.escape(repr(self))}</code></p>" + self.per_consultant.to_html(
            index=False, float_format="{:.3f}".format
        )


def _open_days(
    dealer: DealerData, log: pd.DataFrame, params: QualityParams, phantom_rate: float
) -> pd.DataFrame:
    """Per calendar day: DMS events that should pass the front desk, log entries, missing flag."""
    tp = dealer.touchpoints
    norm = dealer.as_of.normalize()
    vis = tp[tp["kind"] == "visit"]
    dl = tp[tp["kind"] == "delivery"]
    sv = dealer.service_visits
    n_vis = vis.groupby(vis["at"].dt.normalize())["customer_id"].nunique()
    n_dl = dl.groupby(dl["at"].dt.normalize())["customer_id"].nunique()
    n_sv = sv.groupby(sv["at"].dt.normalize())["customer_id"].nunique()
    n_log = log.groupby(log["at"].dt.normalize()).size()
    days = n_vis.index.union(n_dl.index).union(n_sv.index).union(n_log.index)
    out = pd.DataFrame(
        {
            "dms_visits": n_vis.reindex(days, fill_value=0).astype(int),
            "deliveries": n_dl.reindex(days, fill_value=0).astype(int),
            "service_visits": n_sv.reindex(days, fill_value=0).astype(int),
            "log_entries": n_log.reindex(days, fill_value=0).astype(int),
        }
    )
    if len(log):
        out = out[out.index >= log["at"].min().normalize()]
    out = out[out.index <= norm]
    p_vis = min(max(phantom_rate if np.isfinite(phantom_rate) else 0.0, 0.01), 1.0)
    chance = (
        (1.0 - params.service_desk_share) ** out["service_visits"]
        * p_vis ** out["dms_visits"]
        * np.where(out["deliveries"] > 0, 0.0, 1.0)
    )
    out["empty_chance"] = chance
    out["missing"] = (out["log_entries"] == 0) & (chance <= params.missing_day_max_chance)
    out.index.name = "day"
    return out


def _known_people(
    dealer: DealerData, arrivals: pd.DataFrame, cust: pd.DataFrame, params: QualityParams
) -> pd.DataFrame:
    """Which unmatched arrivals are known prospects: ``entry_id`` -> ``customer_id``, ``lead_id``, ``how``."""
    out_cols = ["entry_id", "customer_id", "lead_id", "how"]
    if not len(arrivals):
        return pd.DataFrame(columns=out_cols)
    leads = dealer.leads[["lead_id", "customer_id", "consultant_id", "created_at", "closed_at"]]
    usable = cust[cust["phone_kind"].isin(["mobile", "landline"]) & ~cust["staff_phone"]]
    found = []
    # 1) phone equal or one digit apart, surname compatible
    readable = arrivals[arrivals["phone_kind"] != "masked"]
    nb = _phone_neighbours(
        readable.set_index("entry_id")["phone_norm"], usable.set_index("customer_id")["phone_norm"]
    )
    if len(nb):
        nb = nb.rename(columns={"a": "entry_id", "b": "customer_id"})
        nb["s_log"] = nb["entry_id"].map(arrivals.set_index("entry_id")["surname_py"])
        nb["s_dms"] = nb["customer_id"].map(cust.set_index("customer_id")["surname_py"])
        ok = nb["s_log"].isna() | nb["s_dms"].isna() | (nb["s_log"] == nb["s_dms"])
        nb = nb[ok.fillna(False)].sort_values(["entry_id", "distance"]).drop_duplicates("entry_id")
        found.append(
            nb[["entry_id", "customer_id"]].assign(
                how=np.where(nb["distance"] == 0, "phone", "phone_one_digit")
            )
        )
    # 2) same full name (pinyin) or 3) same surname with a DMS touch that day, and a lead of the
    # receiving consultant open around the arrival
    rest = arrivals[~_isin(arrivals["entry_id"], pd.concat(found)["entry_id"] if found else [])]
    rest = rest[rest["surname_py"].notna()]
    if len(rest) and len(leads):
        lc = leads.merge(cust[["customer_id", "surname_py", "full_py"]], on="customer_id")
        m = rest[["entry_id", "at", "staff_id", "surname_py", "full_py"]].merge(
            lc,
            left_on=["staff_id", "surname_py"],
            right_on=["consultant_id", "surname_py"],
            suffixes=("", "_c"),
        )
        end = m["closed_at"].fillna(
            m["created_at"] + pd.Timedelta(days=params.known_lead_days)
        ) + pd.Timedelta(days=7)
        m = m[(m["at"] >= m["created_at"] - pd.Timedelta(days=1)) & (m["at"] <= end)]
        full = m[m["full_py"].notna() & (m["full_py"] == m["full_py_c"])]
        found.append(
            full.drop_duplicates("entry_id")[["entry_id", "customer_id"]].assign(
                how="full_name_and_lead"
            )
        )
        sur = m[m["full_py"].isna() & ~_isin(m["entry_id"], full["entry_id"])]
        if len(sur):
            tp = dealer.touchpoints
            days = (
                tp[["customer_id", "at"]]
                .assign(day=tp["at"].dt.normalize())[["customer_id", "day"]]
                .drop_duplicates()
            )
            sur = sur.assign(day=sur["at"].dt.normalize()).merge(days, on=["customer_id", "day"])
            # only when exactly one such customer fits
            one = sur.groupby("entry_id")["customer_id"].transform("nunique") == 1
            found.append(
                sur[one]
                .drop_duplicates("entry_id")[["entry_id", "customer_id"]]
                .assign(how="surname_lead_and_touch_that_day")
            )
    if not found:
        return pd.DataFrame(columns=out_cols)
    known = pd.concat(found, ignore_index=True).drop_duplicates("entry_id")
    # the lead the arrival belongs to: the customer's lead open at the arrival, this consultant's first
    at = known["entry_id"].map(arrivals.set_index("entry_id")["at"])
    staff = known["entry_id"].map(arrivals.set_index("entry_id")["staff_id"])
    cand = known.assign(at=at, staff=staff).merge(leads, on="customer_id", how="left")
    cand["fit"] = (
        (cand["at"] >= cand["created_at"] - pd.Timedelta(days=1)).astype(int) * 2
        + (cand["at"] <= cand["closed_at"].fillna(dealer.as_of) + pd.Timedelta(days=7)).astype(int)
        * 2
        + (cand["consultant_id"] == cand["staff"]).fillna(False).astype(int)
    )
    cand = cand.sort_values(
        ["entry_id", "fit", "created_at"], ascending=[True, False, False]
    ).drop_duplicates("entry_id")
    known = known.merge(cand[["entry_id", "lead_id"]], on="entry_id", how="left")
    return known[out_cols]


def _dms_visits(dealer: DealerData, cust: pd.DataFrame) -> pd.DataFrame:
    """The DMS's ``visit`` touches with the visiting customer's name and phone keys."""
    tp = dealer.touchpoints
    visits = tp[tp["kind"] == "visit"][["touch_id", "customer_id", "lead_id", "at", "staff_id"]]
    visits = visits.merge(
        cust[["customer_id", "name", "phone", "phone_norm", "surname_py", "full_py"]],
        on="customer_id",
        how="left",
    )
    visits["day"] = visits["at"].dt.strftime("%Y-%m-%d")
    return visits


def _link_frame(df: pd.DataFrame, uid: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": df[uid].to_numpy(),
            "day": df["day"].to_numpy(),
            "staff_id": df["staff_id"].to_numpy(),
            "phone": df["phone_norm"].to_numpy(),
            "surname_py": df["surname_py"].to_numpy(),
            "full_py": df["full_py"].to_numpy(),
            "minute": _minutes(df["at"]),
        }
    )


def _link_arrivals(
    sales: pd.DataFrame, visits: pd.DataFrame, params: QualityParams
) -> pd.DataFrame:
    """One-to-one arrival -> visit pairs at or above ``params.match_probability``."""
    cand = link_records(_link_frame(sales, "entry_id"), _link_frame(visits, "touch_id"))
    if not len(cand):
        return pd.DataFrame(
            columns=[
                "unique_id_l",
                "unique_id_r",
                "match_weight",
                "match_probability",
                "minutes_apart",
            ]
        )
    t_log = sales.set_index("entry_id")["at"]
    t_dms = visits.set_index("touch_id")["at"]
    cand["minutes_apart"] = (
        cand["unique_id_r"].map(t_dms) - cand["unique_id_l"].map(t_log)
    ).dt.total_seconds() / 60.0
    pmin = min(max(params.match_probability, 1e-9), 1 - 1e-9)
    cand = assign_one_to_one(
        cand, distance="minutes_apart", min_score=float(np.log2(pmin / (1 - pmin)))
    )
    return cand[cand["match_probability"] >= params.match_probability]


def _settle_duplicates(log: pd.DataFrame, matched_ids: pd.Series) -> None:
    """Settle duplicate candidates by the linkage (in place, on ``log['duplicate_of']``).

    A duplicate candidate that matched a DMS visit is a real second visit if its original
    matched too; otherwise it took the original's visit and the original is the duplicate row.
    """
    is_dup = log["duplicate_of"].notna()
    dup_matched = log[is_dup & _isin(log["entry_id"], matched_ids)]
    orphans = dup_matched[~_isin(dup_matched["duplicate_of"], matched_ids)]
    log.loc[dup_matched.index, "duplicate_of"] = pd.NA
    if len(orphans):
        swap = pd.Series(orphans["entry_id"].to_numpy(), index=orphans["duplicate_of"].to_numpy())
        swap = swap[~swap.index.duplicated()]
        pos = _isin(log["entry_id"], swap.index)
        log.loc[pos, "duplicate_of"] = log.loc[pos, "entry_id"].map(swap).to_numpy()


def _pairs_frame(cand: pd.DataFrame, sales: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Matched pairs with both sides' consultant, time, name and phone (:data:`_PAIR_COLUMNS`)."""
    lg = sales.set_index("entry_id")
    vi = visits.set_index("touch_id")
    pairs = pd.DataFrame(
        {
            "entry_id": cand["unique_id_l"].astype("str").to_numpy(),
            "touch_id": cand["unique_id_r"].astype("str").to_numpy(),
            "minutes_apart": cand["minutes_apart"].to_numpy(float).round(1),
            "match_weight": cand["match_weight"].to_numpy(float).round(3),
            "match_probability": cand["match_probability"].to_numpy(float),
        }
    )
    left = lg[["staff_id", "at", "name", "phone"]].rename(
        columns={
            "staff_id": "log_staff_id",
            "at": "at_log",
            "name": "log_name",
            "phone": "log_phone",
        }
    )
    right = vi[["staff_id", "customer_id", "lead_id", "at", "name", "phone"]].rename(
        columns={"at": "at_dms", "name": "dms_name", "phone": "dms_phone"}
    )
    pairs = pairs.merge(left, left_on="entry_id", right_index=True, how="left")
    pairs = pairs.merge(right, left_on="touch_id", right_index=True, how="left")
    return (
        pairs[_PAIR_COLUMNS]
        .sort_values(["at_log", "entry_id"], kind="stable")
        .reset_index(drop=True)
    )


def _unmatched_dms_visits(
    dealer: DealerData,
    log: pd.DataFrame,
    visits: pd.DataFrame,
    pairs: pd.DataFrame,
    params: QualityParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """DMS visits with no arrival: ``phantom``, ``unverifiable`` (missing log day), missing days."""
    lone = visits[~_isin(visits["touch_id"], pairs["touch_id"])]
    lone_day = lone["at"].dt.normalize()
    logged = visits["at"].dt.normalize().isin(log["at"].dt.normalize().unique())
    n_logged = int(logged.sum())
    phantom_rate = (
        float(lone_day.isin(log["at"].dt.normalize().unique()).sum() / n_logged)
        if n_logged
        else np.nan
    )
    days = _open_days(dealer, log, params, phantom_rate)
    missing_days = days[days["missing"]]
    unverifiable = lone[lone_day.isin(missing_days.index)]
    phantom = lone[~lone_day.isin(missing_days.index)]
    vcols = ["touch_id", "at", "staff_id", "customer_id", "lead_id", "name", "phone"]
    return (
        phantom[vcols].reset_index(drop=True),
        unverifiable[vcols].reset_index(drop=True),
        missing_days,
    )


def _entries(
    log: pd.DataFrame, pairs: pd.DataFrame, unregistered: pd.DataFrame, not_recorded: pd.DataFrame
) -> pd.DataFrame:
    """Every kept log row with its status and, when matched, its DMS visit."""
    status = pd.Series("not_sales", index=log.index, dtype="str")
    status[log["duplicate_of"].notna()] = "duplicate"
    status[_isin(log["entry_id"], pairs["entry_id"])] = "matched"
    status[_isin(log["entry_id"], unregistered["entry_id"])] = "unregistered"
    status[_isin(log["entry_id"], not_recorded["entry_id"])] = "not_recorded"
    entries = log[["entry_id", "at", "reason", "staff_id", "name", "phone", "party_size"]].assign(
        status=status
    )
    return entries.merge(pairs[["entry_id", "touch_id", "match_weight"]], on="entry_id", how="left")


def reconcile_visits(
    dealer: DealerData, *, params: QualityParams | None = None, mask: bool = True
) -> Reconciliation:
    """Link the front-desk visitor log to the DMS's recorded visits.

    A reconciliation unit is a front-desk arrival with reason ``sales`` against a DMS
    ``touchpoints`` row of kind ``visit`` (its ``staff_id`` is the consultant). Arrivals and
    visits are blocked on the same day and the same consultant, phone or surname, compared on
    normalised phone (equal / one digit apart), name (same pinyin full name / same surname with a
    surname-only or English entry / same surname / different), minutes apart and consultant, and
    scored by a Fellegi-Sunter model whose parameters splink estimates without labels
    (:func:`crm_analytics.data.linkage.link_records`). Each arrival and visit enters at most one pair
    (:func:`crm_analytics.data.linkage.assign_one_to_one`); pairs below ``params.match_probability``
    are dropped. Party size is not compared: the DMS does not record it.

    Unmatched arrivals are split into *unregistered* walk-ins (nobody in the DMS with that phone,
    nor a prospect of that consultant with that name) and *not recorded* visits of known
    prospects. Unmatched DMS visits are *phantom* on days the log covers and *unverifiable* on
    missing log days.

    Parameters
    ----------
    dealer
        A validated dealer.
    params
        Rule parameters (default :class:`QualityParams`).
    mask
        Mask names and phones in the output (``张*``, ``138****5678``).

    Returns
    -------
    Reconciliation
    """
    params = resolve_params(params)
    log = _log_features(dealer, params)
    cust = _customer_features(dealer)
    visits = _dms_visits(dealer, cust)
    # duplicate candidates take part in the linkage: a "duplicate" that matches a DMS visit of
    # its own is a second real visit minutes later, not a duplicate row
    sales = log[log["reason"] == "sales"]
    cand = _link_arrivals(sales, visits, params)
    _settle_duplicates(log, cand["unique_id_l"])
    sales = sales[~_isin(sales["entry_id"], log.loc[log["duplicate_of"].notna(), "entry_id"])]
    pairs = _pairs_frame(cand, sales, visits)

    unmatched = sales[~_isin(sales["entry_id"], pairs["entry_id"])]
    known = _known_people(dealer, unmatched, cust, params)
    base_cols = ["entry_id", "at", "staff_id", "name", "phone", "party_size"]
    not_recorded = unmatched[_isin(unmatched["entry_id"], known["entry_id"])][base_cols].merge(
        known, on="entry_id", how="left"
    )
    unregistered = unmatched[~_isin(unmatched["entry_id"], known["entry_id"])][
        base_cols
    ].reset_index(drop=True)
    phantom, unverifiable, missing_days = _unmatched_dms_visits(dealer, log, visits, pairs, params)
    rec = Reconciliation(
        dealer_id=dealer.dealer_id,
        pairs=pairs,
        unregistered=unregistered,
        not_recorded=not_recorded.reset_index(drop=True),
        phantom=phantom,
        unverifiable=unverifiable,
        per_consultant=_per_consultant(
            dealer, sales, pairs, unregistered, not_recorded, visits, phantom, unverifiable
        ),
        entries=_entries(log, pairs, unregistered, not_recorded),
        anomalies=_log_anomalies(dealer, log),
        missing_days=missing_days.reset_index(),
        masked=mask,
        typos=_typo_suspects(log, cust),
    )
    if mask:
        _mask_reconciliation(rec)
    return rec


def _mask_reconciliation(rec: Reconciliation) -> None:
    for name in (
        "pairs",
        "unregistered",
        "not_recorded",
        "phantom",
        "unverifiable",
        "entries",
        "typos",
    ):
        setattr(rec, name, _mask_frame(getattr(rec, name)))
    if len(rec.anomalies):
        a = rec.anomalies
        phone_rows = a["issue"].isin(["invalid_phone", "placeholder_phone"])
        name_rows = a["issue"].isin(["unreadable_name"])
        value = a["value"].astype("string")
        value = value.where(~phone_rows, mask_phone(value)).where(~name_rows, mask_name(value))
        rec.anomalies = a.assign(value=value)


def _log_anomalies(dealer: DealerData, log: pd.DataFrame) -> pd.DataFrame:
    staff_ids = set(dealer.staff["staff_id"])
    checks = {
        "missing_phone": (log["phone_kind"] == "missing", "phone"),
        "masked_phone": (log["phone_kind"] == "masked", "phone"),
        "invalid_phone": (log["phone_kind"] == "invalid", "phone"),
        "placeholder_phone": (log["phone_kind"] == "placeholder", "phone"),
        "missing_name": (log["name_form"] == "missing", "name"),
        "placeholder_name": (log["name_form"] == "placeholder", "name"),
        "unreadable_name": (log["name_form"] == "other", "name"),
        "outside_opening_hours": (log["outside_hours"], "at"),
        "duplicate_entry": (log["duplicate_of"].notna(), "duplicate_of"),
        "sales_without_consultant": (
            (log["reason"] == "sales") & log["staff_id"].isna(),
            "staff_id",
        ),
        "unknown_consultant": (
            log["staff_id"].notna() & ~log["staff_id"].isin(staff_ids),
            "staff_id",
        ),
    }
    parts = []
    for issue, (m, col) in checks.items():
        m = m.fillna(False).astype(bool)
        if m.any():
            parts.append(
                pd.DataFrame(
                    {
                        "entry_id": log.loc[m, "entry_id"],
                        "issue": issue,
                        "column": col,
                        "value": log.loc[m, col].astype("string"),
                    }
                )
            )
    q = dealer.quarantine
    if len(q):
        qv = q[q["table"] == "visitor_log"]
        if len(qv):
            parts.append(
                pd.DataFrame(
                    {
                        "entry_id": qv["row_id"],
                        "issue": "quarantined:" + qv["rule"].astype(str),
                        "column": qv["column"],
                        "value": qv["value"].astype("string"),
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["entry_id", "issue", "column", "value"])
    return (
        pd.concat(parts, ignore_index=True)
        .sort_values(["entry_id", "issue"], kind="stable")
        .reset_index(drop=True)
    )


def _per_consultant(
    dealer, sales, pairs, unregistered, not_recorded, visits, phantom, unverifiable
) -> pd.DataFrame:
    def count(df: pd.DataFrame, col: str = "staff_id") -> pd.Series:
        return df[col].fillna("(none)").value_counts()

    out = (
        pd.DataFrame(
            {
                "arrivals": count(sales),
                "matched": count(pairs, "log_staff_id"),
                "unregistered": count(unregistered),
                "not_recorded": count(not_recorded),
                "dms_visits": count(visits),
                "phantom": count(phantom),
                "unverifiable": count(unverifiable),
            }
        )
        .fillna(0)
        .astype(int)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["registration_rate"] = np.where(
            out["arrivals"] > 0,
            1 - out["unregistered"] / out["arrivals"].where(out["arrivals"] > 0),
            np.nan,
        )
        checked = out["dms_visits"] - out["unverifiable"]
        out["phantom_rate"] = np.where(
            checked > 0, out["phantom"] / checked.where(checked > 0), np.nan
        )
    out.index.name = "staff_id"
    names = (
        dealer.staff.set_index("staff_id")["name"] if len(dealer.staff) else pd.Series(dtype=str)
    )
    out = out.reset_index()
    out.insert(1, "consultant_name", out["staff_id"].map(names))
    return out.sort_values("staff_id").reset_index(drop=True)


def _typo_suspects(log: pd.DataFrame, cust: pd.DataFrame) -> pd.DataFrame:
    """Customers whose DMS phone is one digit away from a front-desk phone of the same surname."""
    cols = ["customer_id", "entry_id", "at", "name", "phone", "log_phone"]
    valid = cust[cust["phone_kind"].isin(["mobile", "landline"]) & ~cust["staff_phone"]]
    lp = log[log["phone_kind"].isin(["mobile", "landline"])]
    lp = lp[~_isin(lp["phone_norm"], cust["phone_norm"].dropna())]
    nb = _phone_neighbours(
        lp.set_index("entry_id")["phone_norm"], valid.set_index("customer_id")["phone_norm"]
    )
    nb = nb[nb["distance"] == 1] if len(nb) else nb
    if not len(nb):
        return pd.DataFrame(columns=cols)
    nb = nb.rename(columns={"a": "entry_id", "b": "customer_id"})
    li = lp.set_index("entry_id")
    ci = cust.set_index("customer_id")
    s_log = nb["entry_id"].map(li["surname_py"])
    s_dms = nb["customer_id"].map(ci["surname_py"])
    nb = nb[(s_log == s_dms).fillna(False).astype(bool)]
    out = pd.DataFrame(
        {
            "customer_id": nb["customer_id"].to_numpy(),
            "entry_id": nb["entry_id"].to_numpy(),
            "at": nb["entry_id"].map(li["at"]).to_numpy(),
            "name": nb["customer_id"].map(ci["name"]).to_numpy(),
            "phone": nb["customer_id"].map(ci["phone"]).to_numpy(),
            "log_phone": nb["entry_id"].map(li["phone"]).to_numpy(),
        }
    )
    return (
        out.sort_values(["customer_id", "at"])
        .drop_duplicates("customer_id", keep="last")
        .reset_index(drop=True)
    )
