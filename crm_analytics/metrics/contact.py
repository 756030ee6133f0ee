"""Lost contacts and the CRM desk's own work (issue 17 items 4-5; DIGEST sections 3-4).

Lost-contact screening 失联筛选
    :func:`lost_contacts` flags the customers who cannot be reached: a DMS phone that is not a
    usable number (:func:`crm_analytics.data.linkage.phone_kind`), or call attempts that fail
    in a pattern since the customer was last reached or refused a call: a ``wrong_number``,
    or ``no_answer_streak`` unanswered attempts in a row spanning at least ``no_answer_days``
    days. :func:`unreachable_share` is the share of the base (customers, owners) so flagged.
    The flagged customers are the re-contact list (masked unless ``contact=True``).

The desk's own work
    :func:`call_attempts` tells each call attempt's list apart (the touchpoints table has no
    list column): a call on a lead is a ``lead_follow_up``; a call within ``callback_window_days``
    after one of the customer's deliveries a ``delivery_callback``; a call to a customer with a
    service visit or delivery in the ``dormant_days`` before a ``service_reminder``; any other
    a ``dormant_activation``. :func:`desk_work` counts per list and owner: attempts, customers
    called, customers reached, reach rate, reached calls and those converted (a visit of the
    lead, or a service visit, within ``convert_days`` after a reached follow-up, reminder or
    activation call). :func:`delivery_coverage` is the share of deliveries with a callback
    attempt and a reached callback within ``callback_days``, and with a delivery interview
    (survey) within ``interview_days``. The deck sets the cadence of these lists (daily, per
    delivery batch) but no day limits: the limits are the ``contact`` block of
    ``params/lifecycle.yaml``.

Survey response
    The surveys table holds answered surveys only, so a survey's response rate is read from
    the events it follows (:data:`SURVEY_FOLLOWS`): :func:`survey_response` is, per kind, the
    share of the events whose limit has run out (deliveries, service visits, first showroom
    visits of a lead, those of leads without an order) answered by a survey of that kind
    within ``survey_days`` of the event.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.data.linkage import normalize_phones, phone_kind
from crm_analytics.data.privacy import mask_frame

__all__ = [
    "CALL_LISTS",
    "LOST_REASONS",
    "SURVEY_FOLLOWS",
    "call_attempts",
    "delivery_coverage",
    "desk_work",
    "lost_contacts",
    "survey_response",
    "unreachable_share",
]

#: The desk's call lists, in the order the report shows them.
CALL_LISTS: tuple[str, ...] = (
    "delivery_callback",
    "service_reminder",
    "dormant_activation",
    "lead_follow_up",
)
#: Why a customer is flagged as a lost contact, strongest first.
LOST_REASONS: tuple[str, ...] = ("invalid_phone", "wrong_number", "no_answer")
#: survey kind -> the event it follows up and the column a survey names that event by: a
#: delivery, a service visit, a lead's first showroom visit, or that of a lead with no order
SURVEY_FOLLOWS: dict[str, tuple[str, str]] = {
    "delivery_interview": ("delivery", "customer_id"),
    "sales_satisfaction": ("delivery", "customer_id"),
    "service_satisfaction": ("service_visit", "customer_id"),
    "intent_survey": ("first_visit", "lead_id"),
    "defeated_survey": ("visit_without_order", "lead_id"),
}
_DAY = pd.Timedelta(days=1)
_USABLE = ("mobile", "landline", "masked")


def _cut(dealer: DealerData, as_of: object) -> pd.Timestamp:
    return pd.Timestamp(dealer.as_of if as_of is None else as_of).normalize() + _DAY


def _calls(dealer: DealerData, as_of: object) -> pd.DataFrame:
    tp = dealer.touchpoints
    calls = tp[(tp["kind"] == "call") & (tp["at"] < _cut(dealer, as_of))]
    return calls.sort_values(["customer_id", "at", "touch_id"], kind="stable").reset_index(
        drop=True
    )


def _last_before(
    left: pd.DataFrame, events: pd.DataFrame, name: str, *, inclusive: bool = True
) -> pd.Series:
    """For each row of ``left`` (customer_id, at), the time of the customer's last event at or
    before ``at`` (``events``: customer_id, at), aligned with ``left``."""
    if not len(left):
        return pd.Series([], dtype="datetime64[ns]", name=name)
    a = left[["customer_id", "at"]].assign(_row=np.arange(len(left)))
    a["at"] = a["at"].astype("datetime64[ns]")
    e = events[["customer_id", "at"]].dropna().rename(columns={"at": "t"})
    e = e.assign(t=e["t"].astype("datetime64[ns]"), at=e["t"].astype("datetime64[ns]"))
    m = pd.merge_asof(
        a.sort_values("at"),
        e.sort_values("at"),
        on="at",
        by="customer_id",
        direction="backward",
        allow_exact_matches=inclusive,
    )
    return m.set_index("_row")["t"].sort_index().rename(name).reset_index(drop=True)


def call_attempts(
    dealer: DealerData,
    *,
    callback_window_days: float = 30,
    dormant_days: float = 365,
    as_of: object = None,
) -> pd.DataFrame:
    """The desk's call attempts (touchpoints of kind ``call``) with the list each belongs to.

    Parameters
    ----------
    dealer
        The dealer.
    callback_window_days
        A call without a lead this many days or fewer after one of the customer's deliveries
        is that delivery's callback.
    dormant_days
        A call to a customer without a service visit or delivery in this many days before it
        is a dormant activation; with one, a service reminder.
    as_of
        Attempts up to this date (default ``dealer.as_of``).

    Returns
    -------
    pandas.DataFrame
        The call touchpoints (``touch_id, customer_id, lead_id, at, outcome, staff_id``) with
        ``list_type`` (one of :data:`CALL_LISTS`) and ``delivered_at`` (the delivery a
        callback follows).
    """
    calls = _calls(dealer, as_of)[
        ["touch_id", "customer_id", "lead_id", "at", "outcome", "staff_id"]
    ]
    o = dealer.orders.dropna(subset=["delivered_at"])
    deliveries = o[["customer_id", "delivered_at"]].rename(columns={"delivered_at": "at"})
    service = dealer.service_visits[["customer_id", "at"]]
    last_delivery = _last_before(calls, deliveries, "delivered_at")
    last_active = _last_before(calls, pd.concat([deliveries, service]), "active_at")
    at = calls["at"].astype("datetime64[ns]").reset_index(drop=True)
    since_delivery = (at - last_delivery) / _DAY
    since_active = (at - last_active) / _DAY
    lt = np.select(
        [
            calls["lead_id"].notna().to_numpy(),
            (since_delivery <= callback_window_days).to_numpy(),
            (since_active <= dormant_days).to_numpy(),
        ],
        ["lead_follow_up", "delivery_callback", "service_reminder"],
        default="dormant_activation",
    )
    out = calls.reset_index(drop=True).assign(list_type=lt)
    out["delivered_at"] = last_delivery.where(out["list_type"] == "delivery_callback")
    return out


def lost_contacts(
    dealer: DealerData,
    *,
    no_answer_streak: int = 3,
    no_answer_days: float = 14,
    contact: bool = False,
    as_of: object = None,
) -> pd.DataFrame:
    """The lost-contact screening: customers who cannot be reached, as a re-contact list.

    Only the attempts since the customer was last reached (or refused a call, which reaches
    the customer too) count. A customer is flagged for ``invalid_phone`` (the DMS phone is
    missing, a placeholder or not a number: :func:`~crm_analytics.data.linkage.phone_kind`),
    else ``wrong_number`` (an attempt since ended so), else ``no_answer`` (at least
    ``no_answer_streak`` attempts since, all unanswered, the first and the last at least
    ``no_answer_days`` days apart).

    Parameters
    ----------
    dealer
        The dealer.
    no_answer_streak, no_answer_days
        The no-answer pattern (``params/lifecycle.yaml``, ``contact``).
    contact
        Keep names and phones (default: masked, like the other lists).
    as_of
        Attempts up to this date (default ``dealer.as_of``).

    Returns
    -------
    pandas.DataFrame
        One row per flagged customer: ``customer_id, name, phone, reason`` (one of
        :data:`LOST_REASONS`), ``failed_attempts`` (since last reached), ``first_failed_at``,
        ``last_attempt_at``, ``last_reached_at``, ``staff_id`` (who made the last attempt),
        ``owner`` (has a vehicle); sorted by reason, then the last attempt, newest first.
    """
    if no_answer_streak < 1 or no_answer_days < 0:
        raise InputError("lost_contacts needs no_answer_streak >= 1 and no_answer_days >= 0")
    calls = _calls(dealer, as_of)
    ok = calls["outcome"].isin(["reached", "refused"])
    last_ok = calls["at"].where(ok).groupby(calls["customer_id"]).transform("max")
    fail = calls[~ok & (last_ok.isna() | (calls["at"] > last_ok))]
    g = fail.groupby("customer_id")
    streak = pd.DataFrame(
        {
            "failed_attempts": g.size(),
            "wrong": fail["outcome"].eq("wrong_number").groupby(fail["customer_id"]).any(),
            "first_failed_at": g["at"].min(),
            "last_attempt_at": g["at"].max(),
            "staff_id": g["staff_id"].last(),
        }
    )
    span = (streak["last_attempt_at"] - streak["first_failed_at"]) / _DAY
    by_calls = np.where(
        streak["wrong"],
        "wrong_number",
        np.where(
            (streak["failed_attempts"] >= no_answer_streak) & (span >= no_answer_days),
            "no_answer",
            "",
        ),
    )
    streak["reason"] = by_calls
    C = dealer.customers[["customer_id", "name", "phone"]]
    kind = phone_kind(normalize_phones(C["phone"])).to_numpy()
    out = C.merge(streak, left_on="customer_id", right_index=True, how="left")
    out["reason"] = np.where(~np.isin(kind, _USABLE), "invalid_phone", out["reason"].fillna(""))
    out = out[out["reason"] != ""].drop(columns="wrong")
    out["failed_attempts"] = out["failed_attempts"].fillna(0).astype(int)
    reached = calls.loc[ok].groupby("customer_id")["at"].max()
    out["last_reached_at"] = pd.to_datetime(reached.reindex(out["customer_id"]).to_numpy())
    out["owner"] = out["customer_id"].isin(dealer.vehicles["customer_id"])
    out["reason"] = pd.Categorical(out["reason"], categories=list(LOST_REASONS), ordered=True)
    out = out.sort_values(["reason", "last_attempt_at"], ascending=[True, False])
    out["reason"] = out["reason"].astype(str)
    out = out[
        [
            "customer_id",
            "name",
            "phone",
            "reason",
            "failed_attempts",
            "first_failed_at",
            "last_attempt_at",
            "last_reached_at",
            "staff_id",
            "owner",
        ]
    ].reset_index(drop=True)
    return out if contact else mask_frame(out)


def unreachable_share(dealer: DealerData, lost: pd.DataFrame) -> pd.DataFrame:
    """The share of the base flagged by :func:`lost_contacts`, per reason and in total.

    Returns
    -------
    pandas.DataFrame
        Index: :data:`LOST_REASONS` and ``total``; columns ``customers`` (flagged),
        ``customer_share`` (of all customers), ``owners`` (flagged owners), ``owner_share``
        (of the owners: the base 基盘).
    """
    n_cust = dealer.customers["customer_id"].nunique()
    n_own = dealer.vehicles["customer_id"].nunique()
    g = lost.groupby("reason")
    out = pd.DataFrame(
        {"customers": g.size(), "owners": g["owner"].sum()}, index=list(LOST_REASONS)
    ).fillna(0)
    out.loc["total"] = out.sum()
    out = out.astype(int)
    out["customer_share"] = out["customers"] / n_cust if n_cust else np.nan
    out["owner_share"] = out["owners"] / n_own if n_own else np.nan
    out.index.name = "reason"
    return out[["customers", "customer_share", "owners", "owner_share"]]


def _converted(dealer: DealerData, att: pd.DataFrame, convert_days: float) -> pd.Series:
    """Whether each reached follow-up, reminder or activation was followed by its visit."""
    out = pd.Series(False, index=att.index)
    tp = dealer.touchpoints
    visits = tp.loc[tp["kind"] == "visit", ["lead_id", "at"]]
    sv = dealer.service_visits[["customer_id", "at"]]
    reached = att["outcome"] == "reached"
    for lists, events, key in (
        (["lead_follow_up"], visits, "lead_id"),
        (["service_reminder", "dormant_activation"], sv, "customer_id"),
    ):
        sel = att[reached & att["list_type"].isin(lists)]
        m = sel[[key, "at"]].reset_index().merge(events.rename(columns={"at": "v_at"}), on=key)
        d = (m["v_at"] - m["at"]) / _DAY
        out[m.loc[(d > 0) & (d <= convert_days), "index"].unique()] = True
    return out


def desk_work(
    dealer: DealerData,
    attempts: pd.DataFrame,
    *,
    convert_days: float = 30,
    period: tuple[object, object] | None = None,
) -> pd.DataFrame:
    """The desk's own work per list and owner: called, reached and converted.

    Parameters
    ----------
    dealer
        The dealer.
    attempts
        :func:`call_attempts`.
    convert_days
        A reached lead follow-up converts when the lead visits within this many days; a
        reached service reminder or dormant activation when the customer comes for service.
        Delivery callbacks convert nothing (NaN).
    period
        ``(start, end)`` of the attempts counted (default all).

    Returns
    -------
    pandas.DataFrame
        One row per ``list_type`` and ``staff_id``, then one per list (``staff_id`` ``all``)
        and a ``total`` row: ``attempts, customers, reached_customers, reach_rate,
        reached_calls, converted, conversion_rate``.
    """
    att = attempts.copy()
    if period is not None:
        lo, hi = pd.Timestamp(period[0]), pd.Timestamp(period[1]).normalize() + _DAY
        att = att[(att["at"] >= lo) & (att["at"] < hi)]
    att["converted"] = _converted(dealer, att, convert_days)
    att["reached"] = att["outcome"] == "reached"
    att["reached_customer"] = att["customer_id"].where(att["reached"])
    att["staff_id"] = att["staff_id"].fillna("unknown")

    def agg(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        g = frame.groupby(keys, observed=True)
        return pd.DataFrame(
            {
                "attempts": g.size(),
                "customers": g["customer_id"].nunique(),
                "reached_customers": g["reached_customer"].nunique(),
                "reached_calls": g["reached"].sum(),
                "converted": g["converted"].sum(),
            }
        ).reset_index()

    per = agg(att, ["list_type", "staff_id"])
    lists = agg(att, ["list_type"]).assign(staff_id="all")
    total = agg(att.assign(list_type="total"), ["list_type"]).assign(staff_id="all")
    out = pd.concat([per, lists, total], ignore_index=True)
    order = {k: i for i, k in enumerate([*CALL_LISTS, "total"])}
    out = out.sort_values(
        ["list_type", "staff_id"],
        key=lambda s: s.map(order) if s.name == "list_type" else s.eq("all").astype(int),
        kind="stable",
    ).reset_index(drop=True)
    out["reach_rate"] = out["reached_customers"] / out["customers"].where(out["customers"] > 0)
    out["conversion_rate"] = out["converted"] / out["reached_calls"].where(out["reached_calls"] > 0)
    callbacks = out["list_type"] == "delivery_callback"
    out.loc[callbacks, ["converted", "conversion_rate"]] = np.nan
    return out[
        [
            "list_type",
            "staff_id",
            "attempts",
            "customers",
            "reached_customers",
            "reach_rate",
            "reached_calls",
            "converted",
            "conversion_rate",
        ]
    ]


def delivery_coverage(
    dealer: DealerData,
    attempts: pd.DataFrame,
    *,
    callback_days: float = 3,
    interview_days: float = 7,
    period: tuple[object, object] | None = None,
) -> pd.DataFrame:
    """Callback and interview coverage of the deliveries within the time limits.

    Days are calendar days: a callback within 3 days of a delivery on the 1st is made by the
    end of the 4th. A delivery counts when its limit has run out by the data date (a delivery
    of the last days is not yet judged).

    Parameters
    ----------
    dealer
        The dealer.
    attempts
        :func:`call_attempts`.
    callback_days, interview_days
        The limits after the delivery (``params/lifecycle.yaml``, ``contact``).
    period
        ``(start, end)`` of the deliveries counted (default all).

    Returns
    -------
    pandas.DataFrame
        Index ``callback_attempted``, ``callback_reached``, ``interviewed``; columns
        ``deliveries`` (judged), ``covered``, ``coverage``, ``limit_days``.
    """
    cut = _cut(dealer, None)
    o = _in_period(_followed_events(dealer)["delivery"], period)
    cb = attempts.loc[attempts["list_type"] == "delivery_callback"]
    iv = dealer.surveys.loc[dealer.surveys["kind"] == "delivery_interview", ["customer_id", "at"]]
    rows = {}
    for name, events, limit in (
        ("callback_attempted", cb[["customer_id", "at"]], callback_days),
        (
            "callback_reached",
            cb.loc[cb["outcome"] == "reached", ["customer_id", "at"]],
            callback_days,
        ),
        ("interviewed", iv, interview_days),
    ):
        n, covered = _answered_within(o, events, "customer_id", limit, cut)
        rows[name] = {
            "deliveries": n,
            "covered": covered,
            "coverage": covered / n if n else np.nan,
            "limit_days": limit,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _in_period(events: pd.DataFrame, period: tuple[object, object] | None) -> pd.DataFrame:
    """The ``events`` (column ``at``) from the start to the end day of ``period``."""
    if period is None:
        return events
    lo, hi = pd.Timestamp(period[0]), pd.Timestamp(period[1]).normalize() + _DAY
    return events[(events["at"] >= lo) & (events["at"] < hi)]


def _answered_within(
    events: pd.DataFrame, answers: pd.DataFrame, key: str, limit: float, cut: pd.Timestamp
) -> tuple[int, int]:
    """``(judged, answered)``: of the ``events`` (``key``, ``at``; one a key and day), those
    whose ``limit`` days have run out by ``cut``, and how many of them are answered. An answer
    (``key``, ``at``) belongs to the key's latest event on or before its day, and answers it
    when made within ``limit`` calendar days of that event (so a customer's survey after two
    service visits a few days apart answers the later one, not both)."""
    ev = events[[key, "at"]].dropna()
    ev = ev.assign(day=ev["at"].dt.normalize()).drop_duplicates([key, "day"])
    ev = ev.sort_values("day", kind="stable").reset_index(drop=True)
    ev["event"] = np.arange(len(ev))
    judged = ev["day"] + (limit + 1) * _DAY <= cut
    ans = answers[[key, "at"]].dropna()
    ans = ans.assign(answer_day=ans["at"].dt.normalize())[[key, "answer_day"]]
    ans = ans.sort_values("answer_day", kind="stable")
    m = pd.merge_asof(
        ans,
        ev[[key, "day", "event"]],
        left_on="answer_day",
        right_on="day",
        by=key,
        direction="backward",
    ).dropna(subset=["event"])
    within = (m["answer_day"] - m["day"]) / _DAY <= limit
    answered = ev["event"].isin(m.loc[within, "event"])
    return int(judged.sum()), int((judged & answered).sum())


def _followed_events(dealer: DealerData) -> dict[str, pd.DataFrame]:
    """The events surveys follow (:data:`SURVEY_FOLLOWS`), each with its key and ``at``."""
    o = dealer.orders.dropna(subset=["delivered_at"])
    deliveries = o[["customer_id", "delivered_at"]].drop_duplicates()
    tp = dealer.touchpoints
    visits = tp.loc[(tp["kind"] == "visit") & tp["lead_id"].notna(), ["lead_id", "at"]]
    first = visits.groupby("lead_id", as_index=False)["at"].min()
    return {
        "delivery": deliveries.rename(columns={"delivered_at": "at"}),
        "service_visit": dealer.service_visits[["customer_id", "at"]],
        "first_visit": first,
        "visit_without_order": first[~first["lead_id"].isin(dealer.orders["lead_id"])],
    }


def survey_response(
    dealer: DealerData,
    *,
    survey_days: Mapping[str, float],
    period: tuple[object, object] | None = None,
) -> pd.DataFrame:
    """The response rate of each survey kind: the share of the events it follows
    (:data:`SURVEY_FOLLOWS`) answered by a survey of that kind within its limit.

    An event counts when its limit has run out by the data date (calendar days, as in
    :func:`delivery_coverage`); a lead without an order is judged on the orders known then.

    Parameters
    ----------
    dealer
        The dealer.
    survey_days
        Survey kind -> limit in days after the event (``params/lifecycle.yaml``, ``contact``);
        the kinds shown, in this order.
    period
        ``(start, end)`` of the events counted (default all).

    Returns
    -------
    pandas.DataFrame
        Index the survey kinds; columns ``event`` (what it follows), ``due`` (events judged),
        ``answered``, ``response_rate`` (NaN without an event due) and ``limit_days``.
    """
    unknown = sorted(set(survey_days) - set(SURVEY_FOLLOWS))
    if unknown:
        raise InputError(
            f"survey_days names unknown survey kinds {unknown}; the kinds are "
            f"{list(SURVEY_FOLLOWS)} (params/lifecycle.yaml, contact: survey_days)."
        )
    cut = _cut(dealer, None)
    events = _followed_events(dealer)
    surveys = dealer.surveys
    rows = {}
    for kind, limit in survey_days.items():
        event, key = SURVEY_FOLLOWS[kind]
        answers = surveys.loc[(surveys["kind"] == kind) & surveys[key].notna()]
        due, answered = _answered_within(
            _in_period(events[event], period), answers, key, float(limit), cut
        )
        rows[kind] = {
            "event": event,
            "due": due,
            "answered": answered,
            "response_rate": answered / due if due else np.nan,
            "limit_days": float(limit),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
