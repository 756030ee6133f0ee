"""Data quality: authenticity, continuity, validity; front-desk visitor log vs DMS reconciliation.

The deck's CRM department keeps the data **authentic** [真实性], **continuous** [连贯性] and
**valid** [有效性], and cross-checks the front desk's hand cards and showroom traffic register
against the DMS (DIGEST sections 3-5). Three entry points:

* :func:`reconcile_visits` links every front-desk sales arrival to the DMS visit it should
  have produced (Fellegi-Sunter record linkage with splink on DuckDB, see
  :mod:`crm_analytics.data.linkage`) and returns the matched pairs with their match weight, the
  walk-ins never registered in the DMS, the arrivals of known prospects whose visit was not
  entered, the DMS visits with no front-desk arrival (possible fabrication), all per consultant,
  and every odd log row with the reason it is odd.
* :func:`quality_scorecard` scores each table on the three dimensions. Every rule is listed in
  :data:`RULES` with what it checks; its score is ``100 * (1 - failed / checked)`` and the
  counts are kept beside it. A table's score on a dimension, and the dealer's, pool the counts
  of the rules (``100 * (1 - sum failed / sum checked)``), so a rule weighs by the number of
  records it checks. Validity builds on the boundary validation
  (:mod:`crm_analytics.data.validation`): it counts the quarantined rows per table and rule instead
  of re-checking them.
* :func:`fix_list` lists the records to send back for correction, per consultant, and
  :func:`export_fix_list` writes one CSV per consultant or one Excel sheet per consultant.

Why splink: on the simulator's defect dealer (6,000 customers) a clerk's rule (same day, same
consultant, nearest time within 30 minutes, one-to-one) is as accurate as splink when the
front desk writes every consultant and time correctly (pairs precision and recall 0.993 vs
0.994), but when 10% of arrivals carry the wrong consultant and 10% a time off by 40-90
minutes, the rule's recall falls to 0.81 and its phantom precision to 0.10, while splink keeps
0.982 / 0.982 and 1.00, because it also weighs phone and name agreement
(``bench/bench_quality.py``). A 104,194-row visitor log reconciles in about 7 s on the 2-core
machine.

Personal data (names, phones) is masked in every output (``138****5678``, ``张*``) unless a
contact list for staff is asked for explicitly (``fix_list(dealer, contacts=True)``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError, ParameterError
from crm_analytics.data.export import write_table
from crm_analytics.data.linkage import (
    assign_one_to_one,
    link_records,
    mask_name,
    mask_phone,
    name_frame,
    normalize_phones,
    phone_kind,
)

DIMENSIONS: tuple[str, ...] = ("authenticity", "continuity", "validity")
_EPOCH = pd.Timestamp("2000-01-01")
_STAGE_NEEDS_VISIT = ("test_drive", "quote", "order")

#: (dimension, table, rule) -> what the rule checks. ``checked`` and ``failed`` count records.
RULES: dict[tuple[str, str, str], str] = {
    (
        "authenticity",
        "customers",
        "phone_format",
    ): "customer phones are valid mainland mobile (1[3-9] + 9 digits) or landline (0 + area code + 7-8 digits) numbers; checked = customers with a phone",
    (
        "authenticity",
        "customers",
        "placeholder_record",
    ): "no placeholder or test record (13800000000, 123456, 测试, test, 客户 ...)",
    (
        "authenticity",
        "customers",
        "duplicate_person",
    ): "one person, one customer id: customers sharing a normalised phone and a surname are the same person (the later ids fail)",
    (
        "authenticity",
        "customers",
        "staff_phone",
    ): "no staff member's phone entered as a customer's phone",
    (
        "authenticity",
        "customers",
        "phone_typo",
    ): "the DMS phone is not one digit away from the phone the same person gave at the front desk",
    (
        "authenticity",
        "service_visits",
        "one_repair_order",
    ): "one workshop visit, one repair order: repair orders of the same vehicle and customer at the same time, of the same kind and amounts, are one visit keyed in twice (the later ids fail)",
    (
        "authenticity",
        "visitor_log",
        "phone_format",
    ): "front-desk phones are valid, non-placeholder numbers; checked = log rows with a phone",
    (
        "authenticity",
        "touchpoints",
        "visit_has_arrival",
    ): "every DMS visit has a front-desk arrival (a visit without one is possibly fabricated); checked = DMS visits on days the log covers",
    (
        "continuity",
        "visitor_log",
        "arrival_in_dms",
    ): "every front-desk sales arrival is registered in the DMS as a visit (walk-in registration)",
    (
        "continuity",
        "visitor_log",
        "no_missing_day",
    ): "no day without log entries while the showroom was open (the DMS expects arrivals that day)",
    (
        "continuity",
        "*",
        "no_silent_month",
    ): "no calendar month without records in an event table (leads, touchpoints, orders, service visits, surveys, visitor log) between its first record and the as-of date, when the daily rate of the 12 months before the empty run made an empty month at most `missing_day_max_chance` likely (an export cut short or a DMS not in use); checked = months",
    (
        "continuity",
        "leads",
        "followup_within_days",
    ): "every open lead has a follow-up (any non-inquiry touch) within `followup_days` of the as-of date",
    (
        "continuity",
        "touchpoints",
        "visit_before_stage",
    ): "every test drive, quote and order has a DMS visit of its lead within `stage_visit_window_hours` before it",
    (
        "continuity",
        "touchpoints",
        "quote_before_order",
    ): "every order touch has a quote of its lead at or before it",
    ("continuity", "touchpoints", "delivery_has_order"): "every delivery has its order",
    (
        "continuity",
        "*",
        "has_parent",
    ): "every row points to an existing parent (order -> lead, lead -> customer, ...); counts rows quarantined at the boundary by a foreign_key rule",
    (
        "continuity",
        "*",
        "chronology",
    ): "stage timestamps in order (order after lead, delivery after order, stages after the lead); counts rows quarantined by a chronology rule",
    (
        "validity",
        "*",
        "row_rules",
    ): "types, allowed values, ranges, required fields and unique keys of the canonical model; counts rows quarantined by those rules",
    (
        "validity",
        "*",
        "not_after_as_of",
    ): "no event dated after the as-of date; counts rows quarantined by after_as_of",
    ("validity", "customers", "phone_required"): "every customer has a phone",
    ("validity", "leads", "consultant_required"): "every lead has a consultant",
    (
        "validity",
        "visitor_log",
        "consultant_required",
    ): "every sales arrival names the consultant who received it",
    (
        "validity",
        "visitor_log",
        "inside_opening_hours",
    ): "arrivals lie inside opening hours (with `opening_grace_minutes` of grace)",
}

#: flag rule -> (who fixes it, what to do)
ACTIONS: dict[str, tuple[str, str]] = {
    "unregistered_walk_in": (
        "consultant",
        "register the walk-in in the DMS (customer, lead and visit) or explain why not",
    ),
    "visit_not_recorded": ("consultant", "enter the visit of this known prospect in the DMS"),
    "phantom_visit": (
        "consultant",
        "no front-desk arrival for this DMS visit: confirm it with reception or delete it",
    ),
    "missing_stage": ("consultant", "enter the missing stage record of the lead"),
    "followup_overdue": (
        "consultant",
        "follow up the open lead (call or invitation) and record it",
    ),
    "delivery_without_order": ("consultant", "enter the order of this delivered lead"),
    "phone_typo": (
        "consultant",
        "the DMS phone differs by one digit from the front-desk phone: confirm with the customer and correct",
    ),
    "duplicate_person": (
        "consultant",
        "the same person has another customer id: merge the records",
    ),
    "staff_phone": (
        "consultant",
        "a staff phone was entered as the customer's phone: enter the customer's own number",
    ),
    "placeholder_record": (
        "consultant",
        "placeholder or test record: complete it with real data or delete it",
    ),
    "phone_format": (
        "consultant",
        "the phone is not a valid mainland mobile or landline number: correct it",
    ),
    "phone_required": ("consultant", "add the customer's phone"),
    "consultant_required": ("sales_manager", "assign a consultant"),
    "log_phone_format": (
        "reception",
        "front-desk phone invalid or placeholder: correct the hand card",
    ),
    "outside_opening_hours": (
        "reception",
        "arrival outside opening hours: check the time on the hand card",
    ),
    "duplicate_entry": ("reception", "the same visitor registered twice: delete the second row"),
    "missing_log_day": (
        "reception",
        "no visitor-log entry on a day the showroom was open: enter the day's hand cards",
    ),
    "duplicate_repair_order": (
        "crm",
        "the same repair order was keyed in twice under another id: delete the copy",
    ),
    "quarantined": ("crm", "row rejected at load time: correct it in the DMS and re-export"),
    "silent_month": (
        "crm",
        "no record in this table for a whole month: re-export the month, or find out why the "
        "DMS was not used",
    ),
}


# -- parameters ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QualityParams:
    """Rule parameters (defaults equal ``params/quality.yaml``).

    Parameters
    ----------
    followup_days
        An open lead needs a follow-up (any non-inquiry touch) within this many days of as-of.
    match_probability
        Arrival-visit pairs below this splink match probability are not matched.
    opening_grace_minutes
        Arrivals this close outside opening or closing time still count as inside hours.
    service_opens_earlier_hours
        The service reception opens this many hours before the showroom (``dealer.opening_hour``);
        service arrivals are judged against that earlier time.
    duplicate_entry_minutes
        The same visitor (phone or name), reason and consultant registered again within this
        many minutes is a duplicate row.
    stage_visit_window_hours
        A test drive, quote or order needs a DMS visit of its lead within this many hours before.
    known_lead_days
        An unmatched arrival belongs to a known prospect when the consultant holds a lead of a
        customer with that phone or name, open within this many days of the arrival.
    service_desk_share
        Share of service customers who pass the showroom desk (and so appear in the log).
    missing_day_max_chance
        A day without log entries is a missing log day when, had the log been kept, an empty
        day would have had at most this chance given the DMS's events that day: a delivery
        always passes the desk, a sales visit is missing only if it was fabricated (chance =
        the phantom rate measured on logged days, at least 1%), a service customer with chance
        ``1 - service_desk_share``. The same bound makes a calendar month without records in an
        event table a silent month (rule ``no_silent_month``): a Poisson month at the table's
        daily rate would have been empty with at most this chance.
    """

    followup_days: int = 30
    match_probability: float = 0.5
    opening_grace_minutes: int = 30
    service_opens_earlier_hours: float = 1.0
    duplicate_entry_minutes: float = 5
    stage_visit_window_hours: float = 3
    known_lead_days: int = 120
    service_desk_share: float = 0.5
    missing_day_max_chance: float = 0.01

    @classmethod
    def from_yaml(cls, path: str | Path) -> QualityParams:
        """Read parameters from a YAML mapping; unknown or mistyped keys raise ``ParameterError``."""
        import yaml

        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as err:
            raise ParameterError(f"quality parameters file {path} does not exist") from err
        if not isinstance(raw, dict):
            raise ParameterError(
                f"{path}: expected a mapping of parameter -> value, got {type(raw).__name__}"
            )
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ParameterError(
                f"{path}: unknown quality parameter(s) {unknown}; known: {sorted(known)}"
            )
        out = {}
        for k, v in raw.items():
            default = getattr(cls, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParameterError(f"{path}: parameter {k!r} must be a number, got {v!r}")
            out[k] = (
                type(default)(v) if isinstance(default, int) and float(v).is_integer() else float(v)
            )
        return cls(**out)


def _params(params: QualityParams | None) -> QualityParams:
    if params is None:
        return QualityParams()
    if not isinstance(params, QualityParams):
        raise InputError(
            f"params must be a QualityParams, got {type(params).__name__}; use QualityParams.from_yaml(path)"
        )
    return params


# -- helpers ---------------------------------------------------------------------------------------
def _isin(values: pd.Series, universe) -> pd.Series:
    """``values.isin(universe)`` through object hash tables (Arrow-string ``isin`` is slow)."""
    if isinstance(universe, (set, frozenset)):
        universe = list(universe)
    u = pd.Index(np.asarray(universe, dtype=object)).unique()
    return pd.Series(u.get_indexer(values.to_numpy(object)) >= 0, index=values.index)


def _minutes(at: pd.Series) -> np.ndarray:
    return ((at - _EPOCH).dt.total_seconds() / 60.0).to_numpy(float)


def _phone_neighbours(a: pd.Series, b: pd.Series) -> pd.DataFrame:
    """Pairs of ``a`` and ``b`` index labels whose phones are equal (distance 0) or one digit apart (1).

    Two equal-length strings one substitution apart agree exactly on their first half or on
    their second half, so candidates are joined on each half and the Hamming distance is then
    computed on the candidates only.
    """
    a = a.dropna()
    b = b.dropna()
    cols = ["a", "b", "distance"]
    if not len(a) or not len(b):
        return pd.DataFrame(columns=cols)
    fa = pd.DataFrame({"a": a.index.to_numpy(object), "phone": a.to_numpy(object)})
    fb = pd.DataFrame({"b": b.index.to_numpy(object), "phone": b.to_numpy(object)})
    fa["n"] = fa["phone"].str.len()
    fb["n"] = fb["phone"].str.len()
    parts = []
    for n in sorted(set(fa["n"]) & set(fb["n"])):
        xa = fa[fa["n"] == n]
        xb = fb[fb["n"] == n]
        h = n // 2
        cand = []
        for lo, hi in ((0, h), (h, n)):
            ka = xa.assign(key=xa["phone"].str[lo:hi])
            kb = xb.assign(key=xb["phone"].str[lo:hi])
            cand.append(
                ka.merge(kb, on="key", suffixes=("_a", "_b"))[["a", "b", "phone_a", "phone_b"]]
            )
        m = pd.concat(cand, ignore_index=True).drop_duplicates(["a", "b"])
        if not len(m):
            continue
        pa = np.frombuffer(
            m["phone_a"].to_numpy().astype(f"S{n}").tobytes(), dtype=np.uint8
        ).reshape(-1, n)
        pb = np.frombuffer(
            m["phone_b"].to_numpy().astype(f"S{n}").tobytes(), dtype=np.uint8
        ).reshape(-1, n)
        dist = (pa != pb).sum(axis=1)
        keep = dist <= 1
        parts.append(
            pd.DataFrame(
                {"a": m["a"].to_numpy()[keep], "b": m["b"].to_numpy()[keep], "distance": dist[keep]}
            )
        )
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def _customer_features(dealer: DealerData) -> pd.DataFrame:
    c = dealer.customers[["customer_id", "name", "phone", "created_at"]].copy()
    c["phone_norm"] = normalize_phones(c["phone"])
    c["phone_kind"] = phone_kind(c["phone_norm"])
    c = pd.concat([c, name_frame(c["name"])], axis=1)
    staff_phones = (
        set(normalize_phones(dealer.staff["phone"]).dropna()) if len(dealer.staff) else set()
    )
    c["staff_phone"] = c["phone_norm"].isin(staff_phones).fillna(False).astype(bool)
    return c


def _log_features(dealer: DealerData, params: QualityParams) -> pd.DataFrame:
    v = dealer.visitor_log.copy()
    v["phone_norm"] = normalize_phones(v["phone"])
    v["phone_kind"] = phone_kind(v["phone_norm"])
    v = pd.concat([v, name_frame(v["name"])], axis=1)
    # duplicate rows: same person key, reason and consultant within a few minutes of the previous one
    person = (
        v["phone_norm"]
        .fillna(v["full_py"])
        .fillna(v["surname_py"])
        .fillna(v["name"].astype("string").str.strip())
    )
    key = (
        person.fillna("")
        + "|"
        + v["reason"].astype(str)
        + "|"
        + v["staff_id"].astype("string").fillna("")
    )
    order = v.assign(_key=key, _has=person.notna()).sort_values(
        ["_key", "at", "entry_id"], kind="stable"
    )
    gap = order.groupby("_key", sort=False)["at"].diff().dt.total_seconds() / 60.0
    dup = (gap <= params.duplicate_entry_minutes).fillna(False) & order["_has"]
    # rows without any person key are duplicates only when every field repeats
    same = (
        order.duplicated(["at", "reason", "staff_id", "party_size"], keep="first") & ~order["_has"]
    )
    dup_of = order["entry_id"].where(~(dup | same)).ffill()
    v["duplicate_of"] = dup_of.where(dup | same).reindex(v.index)
    hour = v["at"].dt.hour + v["at"].dt.minute / 60.0 + v["at"].dt.second / 3600.0
    grace = params.opening_grace_minutes / 60.0
    opens = dealer.opening_hour - np.where(
        v["reason"].to_numpy() == "service", params.service_opens_earlier_hours, 0.0
    )
    v["outside_hours"] = ((hour < opens - grace) | (hour > dealer.closing_hour + grace)).fillna(
        False
    )
    v["day"] = v["at"].dt.strftime("%Y-%m-%d")
    return v


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


#: event tables and the time column whose monthly counts ``no_silent_month`` checks
#: and the unit counted (touches, visits and surveys cluster around one customer's lead or
#: vehicle, so distinct customers a month are counted, closer to a Poisson count than rows)
_EVENT_TIMES: dict[str, tuple[str, str | None]] = {
    "leads": ("created_at", None),
    "touchpoints": ("at", "customer_id"),
    "orders": ("ordered_at", None),
    "service_visits": ("at", "customer_id"),
    "surveys": ("at", "customer_id"),
    "visitor_log": ("at", None),
}


def _silent_months(
    dealer: DealerData, params: QualityParams
) -> tuple[dict[str, int], pd.DataFrame]:
    """Months checked per event table and the silent ones (``table``, ``month``, ``expected``).

    A table is checked from the 13th month after its first record to the month of the as-of
    date (that month pro rata of its days up to as-of); rows are counted, or distinct
    customers for tables whose rows cluster around a customer (see ``_EVENT_TIMES``). A month with no record is silent when a
    Poisson count at the daily rate of the 12 months before its run of empty months would have
    been zero with chance at most ``params.missing_day_max_chance``. Judging each run by the
    months before it keeps a sparse start of the history (before the DMS was fully in use)
    from flagging, and flags every month of an export cut short.
    """
    end = dealer.as_of.normalize() + pd.Timedelta(days=1)
    checked: dict[str, int] = {}
    silent: list[pd.DataFrame] = []
    for table, (col, unit) in _EVENT_TIMES.items():
        frame = dealer.tables[table]
        frame = frame[frame[col].notna() & (frame[col] < end)]
        at = frame[col]
        if at.empty:
            checked[table] = 0
            continue
        months = pd.period_range(at.min().to_period("M"), dealer.as_of.to_period("M"), freq="M")
        starts = months.to_timestamp()
        span_start = np.maximum(starts, at.min().normalize())
        span_end = np.minimum(starts + pd.offsets.MonthBegin(1), end)
        days = np.asarray((span_end - span_start) / pd.Timedelta(days=1), dtype=float)
        month = at.dt.to_period("M")
        per = (
            frame.assign(_m=month).drop_duplicates(["_m", unit])["_m"] if unit else month
        ).value_counts()
        n = per.reindex(months, fill_value=0).to_numpy()
        # a silent run of months is judged at the daily rate of the 12 months before it
        # (history can start sparse, before the DMS was fully in use; the first month has a record)
        last_busy = np.maximum.accumulate(np.where(n > 0, np.arange(len(n)), 0))
        run_start = last_busy + 1
        lo = np.maximum(run_start - 12, 0)
        cum_n = np.concatenate([[0.0], np.cumsum(n)])
        cum_d = np.concatenate([[0.0], np.cumsum(days)])
        rate = (cum_n[run_start] - cum_n[lo]) / (cum_d[run_start] - cum_d[lo])
        expected = rate * days
        # a run is judged only with 12 months of history before it
        judged = run_start >= 12
        empty = judged & (n == 0) & (np.exp(-expected) <= params.missing_day_max_chance)
        checked[table] = int(judged.sum())
        if empty.any():
            silent.append(
                pd.DataFrame(
                    {
                        "table": table,
                        "month": months[empty].astype(str),
                        "at": starts[empty],
                        "expected": expected[empty],
                    }
                )
            )
    out = (
        pd.concat(silent, ignore_index=True)
        if silent
        else pd.DataFrame(
            {
                "table": pd.Series(dtype=str),
                "month": pd.Series(dtype=str),
                "at": pd.Series(dtype="datetime64[ns]"),
                "expected": pd.Series(dtype=float),
            }
        )
    )
    return checked, out


# -- reconciliation ----------------------------------------------------------------------------------
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
        One row per odd log row and issue (missing or invalid phone, missing or placeholder
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
    nb = _phone_neighbours(
        arrivals.set_index("entry_id")["phone_norm"], usable.set_index("customer_id")["phone_norm"]
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
    params = _params(params)
    log = _log_features(dealer, params)
    cust = _customer_features(dealer)
    tp = dealer.touchpoints
    visits = tp[tp["kind"] == "visit"][["touch_id", "customer_id", "lead_id", "at", "staff_id"]]
    visits = visits.merge(
        cust[["customer_id", "name", "phone", "phone_norm", "surname_py", "full_py"]],
        on="customer_id",
        how="left",
    )
    visits["day"] = visits["at"].dt.strftime("%Y-%m-%d")
    # duplicate candidates take part in the linkage: a "duplicate" that matches a DMS visit of
    # its own is a second real visit minutes later, not a duplicate row
    sales = log[log["reason"] == "sales"]

    def link_frame(df: pd.DataFrame, uid: str) -> pd.DataFrame:
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

    cand = link_records(link_frame(sales, "entry_id"), link_frame(visits, "touch_id"))
    if len(cand):
        t_log = sales.set_index("entry_id")["at"]
        t_dms = visits.set_index("touch_id")["at"]
        cand["minutes_apart"] = (
            cand["unique_id_r"].map(t_dms) - cand["unique_id_l"].map(t_log)
        ).dt.total_seconds() / 60.0
        pmin = min(max(params.match_probability, 1e-9), 1 - 1e-9)
        cand = assign_one_to_one(
            cand, distance="minutes_apart", min_score=float(np.log2(pmin / (1 - pmin)))
        )
        cand = cand[cand["match_probability"] >= params.match_probability]
    else:
        cand = pd.DataFrame(
            columns=[
                "unique_id_l",
                "unique_id_r",
                "match_weight",
                "match_probability",
                "minutes_apart",
            ]
        )
    # a duplicate candidate that matched: a real second visit if its original matched too,
    # otherwise it took the original's visit and the original is the duplicate row
    matched_ids = cand["unique_id_l"]
    is_dup = log["duplicate_of"].notna()
    dup_matched = log[is_dup & _isin(log["entry_id"], matched_ids)]
    orphans = dup_matched[~_isin(dup_matched["duplicate_of"], matched_ids)]
    log.loc[dup_matched.index, "duplicate_of"] = pd.NA
    if len(orphans):
        swap = pd.Series(orphans["entry_id"].to_numpy(), index=orphans["duplicate_of"].to_numpy())
        swap = swap[~swap.index.duplicated()]
        pos = _isin(log["entry_id"], swap.index)
        log.loc[pos, "duplicate_of"] = log.loc[pos, "entry_id"].map(swap).to_numpy()
    sales = sales[~_isin(sales["entry_id"], log.loc[log["duplicate_of"].notna(), "entry_id"])]
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
    pairs = pairs[
        [
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
    ]
    pairs = pairs.sort_values(["at_log", "entry_id"], kind="stable").reset_index(drop=True)

    unmatched = sales[~_isin(sales["entry_id"], pairs["entry_id"])]
    known = _known_people(dealer, unmatched, cust, params)
    base_cols = ["entry_id", "at", "staff_id", "name", "phone", "party_size"]
    not_recorded = unmatched[_isin(unmatched["entry_id"], known["entry_id"])][base_cols].merge(
        known, on="entry_id", how="left"
    )
    unregistered = unmatched[~_isin(unmatched["entry_id"], known["entry_id"])][
        base_cols
    ].reset_index(drop=True)

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
    phantom = phantom[vcols].reset_index(drop=True)
    unverifiable = unverifiable[vcols].reset_index(drop=True)

    # every kept log row with its status
    status = pd.Series("not_sales", index=log.index, dtype="str")
    status[log["duplicate_of"].notna()] = "duplicate"
    status[_isin(log["entry_id"], pairs["entry_id"])] = "matched"
    status[_isin(log["entry_id"], unregistered["entry_id"])] = "unregistered"
    status[_isin(log["entry_id"], not_recorded["entry_id"])] = "not_recorded"
    entries = log[["entry_id", "at", "reason", "staff_id", "name", "phone", "party_size"]].assign(
        status=status
    )
    entries = entries.merge(
        pairs[["entry_id", "touch_id", "match_weight"]], on="entry_id", how="left"
    )

    anomalies = _log_anomalies(dealer, log)
    per_consultant = _per_consultant(
        dealer, sales, pairs, unregistered, not_recorded, visits, phantom, unverifiable
    )
    typos = _typo_suspects(log, cust)
    rec = Reconciliation(
        dealer_id=dealer.dealer_id,
        pairs=pairs,
        unregistered=unregistered,
        not_recorded=not_recorded.reset_index(drop=True),
        phantom=phantom,
        unverifiable=unverifiable,
        per_consultant=per_consultant,
        entries=entries,
        anomalies=anomalies,
        missing_days=missing_days.reset_index(),
        masked=mask,
        typos=typos,
    )
    if mask:
        _mask_reconciliation(rec)
    return rec


def _mask_frame(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in df.columns:
        if c == "name" or c.endswith("_name") and c not in ("consultant_name",):
            df[c] = mask_name(df[c])
        elif c == "phone" or c.endswith("_phone"):
            df[c] = mask_phone(df[c])
    return df


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


# -- scorecard ---------------------------------------------------------------------------------------
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


def _flags(
    table: str, rule: str, dimension: str, df: pd.DataFrame, row_id: str, **cols
) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "table": table,
            "row_id": df[row_id].astype(str).to_numpy(),
            "rule": rule,
            "dimension": dimension,
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
    return out


def _stage_gaps(
    dealer: DealerData, params: QualityParams
) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    """Missing lead stage records seen in the DMS itself: ``lead_id``, ``kind``, ``at``, ``detail``.

    Visits missing although the front desk saw the customer are found by the reconciliation
    (``visit_not_recorded``), not here.
    """
    tp = dealer.touchpoints
    st = tp[tp["lead_id"].notna()]
    visits = st[st["kind"] == "visit"][["lead_id", "at"]].sort_values("at")
    needs = st[st["kind"].isin(_STAGE_NEEDS_VISIT)][
        ["touch_id", "lead_id", "kind", "at"]
    ].sort_values("at")
    counts: dict[str, tuple[int, int]] = {}
    gaps = []
    if len(needs):
        m = pd.merge_asof(
            needs,
            visits.rename(columns={"at": "visit_at"}),
            left_on="at",
            right_on="visit_at",
            by="lead_id",
            direction="backward",
            tolerance=pd.Timedelta(hours=params.stage_visit_window_hours),
            allow_exact_matches=True,
        )
        bad = m[m["visit_at"].isna()]
        counts["visit_before_stage"] = (len(m), len(bad))
        gaps.append(
            pd.DataFrame(
                {
                    "lead_id": bad["lead_id"],
                    "kind": "visit",
                    "at": bad["at"],
                    "detail": "no visit before " + bad["kind"] + " " + bad["touch_id"],
                }
            )
        )
    else:
        counts["visit_before_stage"] = (0, 0)
    orders = st[st["kind"] == "order"][["touch_id", "lead_id", "at"]].sort_values("at")
    quotes = (
        st[st["kind"] == "quote"][["lead_id", "at"]]
        .sort_values("at")
        .rename(columns={"at": "quote_at"})
    )
    if len(orders):
        m = pd.merge_asof(
            orders, quotes, left_on="at", right_on="quote_at", by="lead_id", direction="backward"
        )
        bad = m[m["quote_at"].isna()]
        counts["quote_before_order"] = (len(m), len(bad))
        gaps.append(
            pd.DataFrame(
                {
                    "lead_id": bad["lead_id"],
                    "kind": "quote",
                    "at": bad["at"],
                    "detail": "no quote before order " + bad["touch_id"],
                }
            )
        )
    else:
        counts["quote_before_order"] = (0, 0)
    gaps = [g for g in gaps if len(g)]
    out = (
        pd.concat(gaps, ignore_index=True)
        if gaps
        else pd.DataFrame(columns=["lead_id", "kind", "at", "detail"])
    )
    # one flag per lead, stage and day
    out = (
        out.assign(_day=pd.to_datetime(out["at"]).dt.normalize())
        .drop_duplicates(["lead_id", "kind", "_day"])
        .drop(columns="_day")
    )
    return out.reset_index(drop=True), counts


def _quarantine_rules(dealer: DealerData) -> pd.DataFrame:
    """Rows quarantined at the boundary, per table and scorecard rule."""
    q = dealer.quarantine
    rows = []
    tables = sorted(set(dealer.rows_in) | set(dealer.tables))
    for table in tables:
        rows_in = int(dealer.rows_in.get(table, len(dealer.tables.get(table, []))))
        qt = (
            q[q["table"] == table]
            if len(q)
            else pd.DataFrame(columns=["row_id", "rule", "source_row"])
        )
        rule = qt["rule"].astype(str) if len(qt) else pd.Series(dtype=str)
        kinds = {
            ("continuity", "has_parent"): rule.str.startswith("foreign_key"),
            ("continuity", "chronology"): rule.str.startswith("chronology"),
            ("validity", "not_after_as_of"): rule == "after_as_of",
        }
        other = ~(
            kinds[("continuity", "has_parent")]
            | kinds[("continuity", "chronology")]
            | kinds[("validity", "not_after_as_of")]
        )
        kinds[("validity", "row_rules")] = other
        for (dim, name), m in kinds.items():
            if name == "has_parent" and table not in {
                "vehicles",
                "leads",
                "touchpoints",
                "orders",
                "service_visits",
                "insurance_policies",
                "surveys",
            }:
                continue
            if name == "chronology" and table not in {
                "leads",
                "orders",
                "touchpoints",
                "insurance_policies",
            }:
                continue
            failed = int(qt.loc[m.to_numpy(bool), "source_row"].nunique()) if len(qt) else 0
            rows.append(
                {
                    "dimension": dim,
                    "table": table,
                    "rule": name,
                    "checked": rows_in,
                    "failed": failed,
                }
            )
    return pd.DataFrame(rows)


def quality_scorecard(
    dealer: DealerData,
    *,
    params: QualityParams | None = None,
    mask: bool = True,
    reconciliation: Reconciliation | None = None,
) -> Scorecard:
    """Score one dealer's data on authenticity, continuity and validity.

    Every rule of :data:`RULES` is applied and counted per table; see the module docstring for
    how rule scores pool into table and dimension scores. The visitor-log reconciliation
    (:func:`reconcile_visits`) supplies the rules that need the front desk (phantom visits,
    unregistered walk-ins, missing log days, phone typos).

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
    params = _params(params)
    rec = (
        reconciliation
        if reconciliation is not None
        else reconcile_visits(dealer, params=params, mask=False)
    )
    if rec.masked:
        raise InputError(
            "quality_scorecard needs an unmasked reconciliation: pass reconcile_visits(dealer, mask=False)"
        )
    cust = _customer_features(dealer)
    leads = dealer.leads
    last_consultant = (
        leads.sort_values("created_at")
        .drop_duplicates("customer_id", keep="last")
        .set_index("customer_id")["consultant_id"]
    )
    cust["consultant_id"] = cust["customer_id"].map(last_consultant)
    lead_consultant = leads.set_index("lead_id")["consultant_id"]
    lead_customer = leads.set_index("lead_id")["customer_id"]
    rows: list[dict] = []
    flags: list[pd.DataFrame] = []

    def rule(
        dim: str,
        table: str,
        name: str,
        checked: int,
        failed_df: pd.DataFrame | None = None,
        failed: int | None = None,
    ) -> None:
        n_failed = int(
            failed if failed is not None else (0 if failed_df is None else len(failed_df))
        )
        rows.append(
            {
                "dimension": dim,
                "table": table,
                "rule": name,
                "checked": int(checked),
                "failed": n_failed,
            }
        )

    # authenticity -- customers
    n_c = len(cust)
    has_phone = cust["phone_kind"] != "missing"
    bad_fmt = cust[cust["phone_kind"] == "invalid"]
    rule("authenticity", "customers", "phone_format", int(has_phone.sum()), bad_fmt)
    flags.append(
        _flags(
            "customers", "phone_format", "authenticity", bad_fmt, "customer_id", detail="phone_kind"
        )
    )
    ph = cust[(cust["phone_kind"] == "placeholder") | (cust["name_form"] == "placeholder")]
    rule("authenticity", "customers", "placeholder_record", n_c, ph)
    flags.append(
        _flags(
            "customers",
            "placeholder_record",
            "authenticity",
            ph,
            "customer_id",
            detail=ph["phone_kind"].where(ph["phone_kind"] == "placeholder", "placeholder name"),
        )
    )
    usable = cust[
        cust["phone_kind"].isin(["mobile", "landline"]) & ~cust["staff_phone"]
    ].sort_values(["created_at", "customer_id"])
    first = usable.groupby("phone_norm")["customer_id"].transform("first")
    first_sur = usable["phone_norm"].map(
        usable.drop_duplicates("phone_norm").set_index("phone_norm")["surname_py"]
    )
    dup = usable[
        (usable["customer_id"] != first)
        & (
            (usable["surname_py"] == first_sur) | usable["surname_py"].isna() | first_sur.isna()
        ).fillna(True)
    ]
    dup = dup.assign(first=first[dup.index])
    rule("authenticity", "customers", "duplicate_person", n_c, dup)
    flags.append(
        _flags("customers", "duplicate_person", "authenticity", dup, "customer_id", detail="first")
    )
    sp = cust[cust["staff_phone"]]
    rule("authenticity", "customers", "staff_phone", n_c, sp)
    flags.append(
        _flags(
            "customers",
            "staff_phone",
            "authenticity",
            sp,
            "customer_id",
            detail=pd.Series("phone of a staff member", index=sp.index),
        )
    )
    ty = rec.typos.merge(cust[["customer_id", "consultant_id"]], on="customer_id", how="left")
    rule("authenticity", "customers", "phone_typo", n_c, ty)
    flags.append(
        _flags(
            "customers",
            "phone_typo",
            "authenticity",
            ty,
            "customer_id",
            other_phone="log_phone",
            detail=pd.Series(
                "front-desk phone (other_phone) of entry "
                + ty["entry_id"].astype(str)
                + " is one digit away",
                index=ty.index,
            ),
        )
    )
    # authenticity -- visitor log and DMS visits
    log = dealer.visitor_log
    lk = phone_kind(normalize_phones(log["phone"]))
    bad_log = log[lk.isin(["invalid", "placeholder"])]
    rule("authenticity", "visitor_log", "phone_format", int((lk != "missing").sum()), bad_log)
    flags.append(
        _flags(
            "visitor_log",
            "log_phone_format",
            "authenticity",
            bad_log,
            "entry_id",
            consultant_id="staff_id",
            detail=lk[bad_log.index],
        )
    )
    n_dms = len(rec.pairs) + len(rec.phantom)
    rule("authenticity", "touchpoints", "visit_has_arrival", n_dms, rec.phantom)
    flags.append(
        _flags(
            "touchpoints",
            "phantom_visit",
            "authenticity",
            rec.phantom,
            "touch_id",
            consultant_id="staff_id",
            detail=pd.Series("DMS visit with no front-desk arrival", index=rec.phantom.index),
        )
    )
    sv = dealer.service_visits
    same = ["vin", "customer_id", "at", "kind", "labor_amount", "parts_amount", "margin"]
    ro_dup = sv.sort_values("ro_id")
    ro_dup = ro_dup[ro_dup.duplicated(same, keep="first")]
    first_ro = (
        sv.sort_values("ro_id").drop_duplicates(same).set_index(same)["ro_id"].rename("first_ro")
    )
    ro_dup = ro_dup.join(first_ro, on=same)
    rule("authenticity", "service_visits", "one_repair_order", len(sv), ro_dup)
    flags.append(
        _flags(
            "service_visits",
            "duplicate_repair_order",
            "authenticity",
            ro_dup,
            "ro_id",
            consultant_id=pd.Series("crm", index=ro_dup.index),
            detail=pd.Series("copy of " + ro_dup["first_ro"].astype(str), index=ro_dup.index),
        )
    )

    # continuity
    n_arr = len(rec.pairs) + len(rec.unregistered) + len(rec.not_recorded)
    rule(
        "continuity",
        "visitor_log",
        "arrival_in_dms",
        n_arr,
        failed=len(rec.unregistered) + len(rec.not_recorded),
    )
    un = rec.unregistered
    flags.append(
        _flags(
            "visitor_log",
            "unregistered_walk_in",
            "continuity",
            un,
            "entry_id",
            consultant_id="staff_id",
            detail=pd.Series("party of " + un["party_size"].astype(str), index=un.index),
        )
    )
    nr = rec.not_recorded
    flags.append(
        _flags(
            "visitor_log",
            "visit_not_recorded",
            "continuity",
            nr,
            "entry_id",
            consultant_id="staff_id",
            detail=pd.Series("known customer, matched by " + nr["how"].astype(str), index=nr.index),
        )
    )
    days = rec.missing_days
    log_days = dealer.visitor_log["at"].dt.normalize().nunique()
    rule("continuity", "visitor_log", "no_missing_day", log_days + len(days), days)
    md = pd.DataFrame(
        {
            "day": days["day"].dt.strftime("%Y-%m-%d") if len(days) else pd.Series(dtype=str),
            "at": days["day"] if len(days) else pd.Series(dtype="datetime64[ns]"),
        }
    )
    md["detail"] = (
        (
            "DMS: "
            + days["dms_visits"].astype(str)
            + " visits, "
            + days["deliveries"].astype(str)
            + " deliveries, "
            + days["service_visits"].astype(str)
            + " service visits"
        ).to_numpy()
        if len(days)
        else []
    )
    flags.append(
        _flags(
            "visitor_log",
            "missing_log_day",
            "continuity",
            md,
            "day",
            consultant_id=pd.Series("reception", index=md.index),
        )
    )
    months_checked, silent = _silent_months(dealer, params)
    for table, n_months in months_checked.items():
        part = silent[silent["table"] == table]
        rule("continuity", table, "no_silent_month", n_months, part)
        flags.append(
            _flags(
                table,
                "silent_month",
                "continuity",
                part,
                "month",
                consultant_id=pd.Series("crm", index=part.index),
                detail=pd.Series(
                    "no record; about " + part["expected"].round(1).astype(str) + " expected",
                    index=part.index,
                ),
            )
        )
    tp = dealer.touchpoints
    op = leads[leads["status"] == "open"]
    follow = tp[(tp["kind"] != "inquiry") & tp["lead_id"].notna()].groupby("lead_id")["at"].max()
    last = (op["lead_id"].map(follow) if len(op) else op["created_at"]).fillna(op["created_at"])
    idle = (dealer.as_of - last).dt.total_seconds() / 86400.0
    overdue = op[idle > params.followup_days].assign(last=last[idle > params.followup_days])
    rule("continuity", "leads", "followup_within_days", len(op), overdue)
    flags.append(
        _flags(
            "leads",
            "followup_overdue",
            "continuity",
            overdue,
            "lead_id",
            consultant_id="consultant_id",
            at="last",
            detail=pd.Series(
                "last follow-up " + overdue["last"].dt.strftime("%Y-%m-%d"), index=overdue.index
            ),
        )
    )
    gaps, counts = _stage_gaps(dealer, params)
    for name in ("visit_before_stage", "quote_before_order"):
        rule("continuity", "touchpoints", name, counts[name][0], failed=counts[name][1])
    g = gaps.assign(
        customer_id=gaps["lead_id"].map(lead_customer).astype("string"),
        consultant_id=gaps["lead_id"].map(lead_consultant).astype("string"),
    )
    g = g.merge(
        cust[["customer_id", "name", "phone"]].astype({"customer_id": "string"}),
        on="customer_id",
        how="left",
    )
    flags.append(
        _flags(
            "touchpoints",
            "missing_stage",
            "continuity",
            g,
            "lead_id",
            detail=pd.Series(g["kind"].astype(str) + ": " + g["detail"].astype(str), index=g.index),
        )
    )
    dl = tp[tp["kind"] == "delivery"]
    no_order = dl[~_isin(dl["lead_id"], dealer.orders["lead_id"])]
    rule("continuity", "touchpoints", "delivery_has_order", len(dl), no_order)
    no_order = no_order.assign(consultant_id=no_order["lead_id"].map(lead_consultant))
    flags.append(
        _flags(
            "touchpoints",
            "delivery_without_order",
            "continuity",
            no_order,
            "touch_id",
            detail=pd.Series("lead " + no_order["lead_id"].astype(str), index=no_order.index),
        )
    )

    # validity (and the foreign-key / chronology part of continuity) from the boundary quarantine
    qrules = _quarantine_rules(dealer)
    rows.extend(qrules.to_dict("records"))
    if len(dealer.quarantine):
        q = dealer.quarantine.drop_duplicates(["table", "source_row", "rule"])
        qf = pd.DataFrame(
            {
                "row_id": q["row_id"].astype(str),
                "detail": (
                    q["rule"].astype(str)
                    + " on "
                    + q["column"].astype(str)
                    + " = "
                    + q["value"].astype(str)
                ).to_numpy(),
            }
        )
        qf = qf.assign(table=q["table"].to_numpy())
        for table, part in qf.groupby("table"):
            flags.append(
                _flags(
                    str(table),
                    "quarantined",
                    "validity",
                    part.reset_index(drop=True),
                    "row_id",
                    consultant_id=pd.Series("crm", index=range(len(part))),
                )
            )
    no_phone = cust[cust["phone_kind"] == "missing"]
    rule("validity", "customers", "phone_required", n_c, no_phone)
    flags.append(_flags("customers", "phone_required", "validity", no_phone, "customer_id"))
    no_cons = leads[leads["consultant_id"].isna()]
    rule("validity", "leads", "consultant_required", len(leads), no_cons)
    flags.append(
        _flags("leads", "consultant_required", "validity", no_cons, "lead_id", at="created_at")
    )
    sales = log[log["reason"] == "sales"]
    ns = sales[sales["staff_id"].isna()]
    rule("validity", "visitor_log", "consultant_required", len(sales), ns)
    flags.append(
        _flags(
            "visitor_log",
            "consultant_required",
            "validity",
            ns,
            "entry_id",
            consultant_id=pd.Series("reception", index=ns.index),
        )
    )
    ent = rec.entries
    oh = ent[
        ent["entry_id"].isin(
            rec.anomalies.loc[rec.anomalies["issue"] == "outside_opening_hours", "entry_id"]
        )
    ]
    rule("validity", "visitor_log", "inside_opening_hours", len(log), oh)
    flags.append(
        _flags(
            "visitor_log",
            "outside_opening_hours",
            "validity",
            oh,
            "entry_id",
            consultant_id=pd.Series("reception", index=oh.index),
            detail="at",
        )
    )
    dups = rec.anomalies[rec.anomalies["issue"] == "duplicate_entry"]
    de = ent[_isin(ent["entry_id"], dups["entry_id"])]
    flags.append(
        _flags(
            "visitor_log",
            "duplicate_entry",
            "validity",
            de,
            "entry_id",
            consultant_id=pd.Series("reception", index=de.index),
            detail=pd.Series(
                "duplicate of "
                + de["entry_id"].map(dups.set_index("entry_id")["value"]).astype(str),
                index=de.index,
            ),
        )
    )

    rules = pd.DataFrame(rows)
    rules.insert(0, "dealer_id", dealer.dealer_id)
    rules["score"] = _score(rules["checked"], rules["failed"])
    rules["note"] = _note(rules["checked"])
    rules["description"] = [
        RULES.get((r.dimension, r.table, r.rule), RULES.get((r.dimension, "*", r.rule), ""))
        for r in rules.itertuples()
    ]
    rules = rules.sort_values(["dimension", "table", "rule"], kind="stable").reset_index(drop=True)
    tables = _pool(rules, ["dimension", "table"])
    tables.insert(0, "dealer_id", dealer.dealer_id)
    dims = (
        _pool(rules, ["dimension"]).set_index("dimension").reindex(list(DIMENSIONS)).reset_index()
    )
    dims.insert(0, "dealer_id", dealer.dealer_id)
    flags = [f for f in flags if len(f)]
    fl = pd.concat(flags, ignore_index=True) if flags else pd.DataFrame(columns=FLAG_COLUMNS)
    # customer-level flags fall to the consultant of the customer's latest lead
    fl["consultant_id"] = (
        fl["consultant_id"]
        .astype("string")
        .fillna(
            fl["customer_id"].map(cust.set_index("customer_id")["consultant_id"]).astype("string")
        )
    )
    fl["consultant_id"] = fl["consultant_id"].fillna("crm")
    fl = fl[FLAG_COLUMNS].reset_index(drop=True)
    if mask:
        fl = _mask_frame(fl)
    return Scorecard(dealer.dealer_id, rules, tables, dims, fl, rec)


# -- fix lists -----------------------------------------------------------------------------------------
FIX_COLUMNS = [
    "owner",
    "consultant_name",
    "issue",
    "action",
    "table",
    "record_id",
    "customer_id",
    "lead_id",
    "at",
    "name",
    "phone",
    "other_phone",
    "detail",
]


def fix_list(
    dealer: DealerData,
    *,
    params: QualityParams | None = None,
    contacts: bool = False,
    scorecard: Scorecard | None = None,
) -> pd.DataFrame:
    """The records to send back for correction, one row per record and issue, per owner.

    ``owner`` is the consultant who holds the record (the lead's consultant, the consultant of
    the customer's latest lead, or the consultant named at the front desk), ``reception`` for
    front-desk rows, ``sales_manager`` for leads without a consultant, or ``crm`` for records
    nobody holds and rows rejected at load time. Each row says what to do (``action``).

    Parameters
    ----------
    dealer
        A validated dealer.
    params
        Rule parameters (default :class:`QualityParams`).
    contacts
        Show full names and phones: only for lists handed to staff who will call customers.
        By default they are masked.
    scorecard
        A scorecard computed earlier with ``mask=False`` (computed here when omitted).

    Returns
    -------
    DataFrame
        :data:`FIX_COLUMNS`, sorted by owner, issue and time. Write it with
        :func:`export_fix_list`.
    """
    sc = (
        scorecard if scorecard is not None else quality_scorecard(dealer, params=params, mask=False)
    )
    fl = sc.flags
    if len(fl) and fl["phone"].astype("string").str.contains("*", regex=False).any():
        raise InputError(
            "fix_list needs an unmasked scorecard: pass quality_scorecard(dealer, mask=False)"
        )
    owner_kind = fl["rule"].map({k: v[0] for k, v in ACTIONS.items()})
    owner = fl["consultant_id"].astype("string")
    owner = owner.where(
        owner_kind.isin(["consultant"]) | owner.isin(["reception", "crm"]),
        owner_kind.astype("string"),
    )
    owner = owner.where(
        ~owner_kind.isin(["reception", "sales_manager", "crm"])
        | (fl["rule"] == "unregistered_walk_in"),
        owner_kind.astype("string"),
    )
    names = (
        dealer.staff.set_index("staff_id")["name"] if len(dealer.staff) else pd.Series(dtype=str)
    )
    out = pd.DataFrame(
        {
            "owner": owner.fillna("crm").to_numpy(),
            "issue": fl["rule"].to_numpy(),
            "action": fl["rule"].map({k: v[1] for k, v in ACTIONS.items()}).to_numpy(),
            "table": fl["table"].to_numpy(),
            "record_id": fl["row_id"].to_numpy(),
            "customer_id": fl["customer_id"].to_numpy(),
            "lead_id": fl["lead_id"].to_numpy(),
            "at": pd.to_datetime(fl["at"], errors="coerce").to_numpy(),
            "name": fl["name"].to_numpy(),
            "phone": fl["phone"].to_numpy(),
            "other_phone": fl["other_phone"].to_numpy(),
            "detail": fl["detail"].astype("string").to_numpy(),
        }
    )
    out.insert(1, "consultant_name", out["owner"].map(names))
    out = (
        out[FIX_COLUMNS]
        .sort_values(["owner", "issue", "at", "record_id"], kind="stable", na_position="last")
        .reset_index(drop=True)
    )
    if not contacts:
        out = _mask_frame(out)
    return out


def export_fix_list(
    fixes: pd.DataFrame, path: str | Path, *, format: str | None = None
) -> list[Path]:
    """Write a fix list per owner: one Excel sheet per owner, or one CSV file per owner.

    Parameters
    ----------
    fixes
        The output of :func:`fix_list`.
    path
        ``.xlsx`` file (one sheet per owner, plus a ``summary`` sheet), or a folder for CSV
        files named ``fix_<owner>.csv`` (UTF-8 with BOM so that Excel shows Chinese correctly).
    format
        ``"xlsx"`` or ``"csv"``; inferred from ``path`` when omitted.

    Returns
    -------
    list of Path
        The files written, through :func:`crm_analytics.data.export.write_table`: formula-like
        text neutralised, names and phones masked unless ``fixes.attrs["contact"]`` is true.
    """
    path = Path(path)
    fmt = format or ("xlsx" if path.suffix.lower() in {".xlsx", ".xls"} else "csv")
    if fmt not in {"xlsx", "csv"}:
        raise InputError(f"export format must be 'xlsx' or 'csv', got {fmt!r}")
    missing = [c for c in ("owner", "issue") if c not in fixes.columns]
    if missing:
        raise InputError(f"fix list lacks column(s) {missing}; pass the output of fix_list(dealer)")
    summary = fixes.groupby(["owner", "issue"]).size().rename("records").reset_index()
    kw = {
        "contact": bool(fixes.attrs.get("contact", False)),
        "phone_columns": ["phone", "other_phone"],
        "name_columns": ["name"],  # consultant_name is the staff member the list goes to
    }
    parts = dict(iter(fixes.groupby("owner", sort=True)))
    if fmt == "xlsx":
        sheets = {"summary": summary, **{str(o): part for o, part in parts.items()}}
        return [write_table(sheets, path, format="xlsx", **kw)]
    written = []
    for owner, part in parts.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(owner))
        written.append(write_table(part, path / f"fix_{safe}.csv", format="csv", **kw))
    written.append(write_table(summary, path / "fix_summary.csv", format="csv", **kw))
    return written


__all__ = [
    "ACTIONS",
    "DIMENSIONS",
    "FIX_COLUMNS",
    "RULES",
    "QualityParams",
    "Reconciliation",
    "Scorecard",
    "export_fix_list",
    "fix_list",
    "quality_scorecard",
    "reconcile_visits",
]
