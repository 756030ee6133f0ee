"""CRM and DCC desk call attempts, with the truth of who cannot be reached (DIGEST section 4:
the desk's daily lists; section 3: screening of lost contacts 失联筛选).

Drawn from a dealer's assembled tables on the dealer's side stream 6,
``SeedSequence([seed, index, 6])``, after every other stage: the other tables and their rows
do not change; the attempts are touchpoints of kind ``call`` added to the touchpoints table
with ids of their own (``<dealer>-K0000001``).

Lists (one campaign = up to :data:`MAX_ATTEMPTS` attempts a few days apart, stopping at the
first attempt that reaches the customer, is refused or hits a wrong number):

``delivery_callback``
    a call after 90% of the deliveries, mostly 1-3 days after (some late), by the CRM desk;
``service_reminder``
    a reminder to 40% of the owners whose next service visit did not come within 170 days,
    150-170 days after the visit, by the DCC;
``dormant_activation``
    a call to 70% of the owners without a service visit or delivery for a year, 366-420 days
    after their last one, by the CRM desk;
``lead_follow_up``
    a follow-up of 25% of the leads 2-10 days after they were created (with the lead id), by
    the DCC.

No call falls on a customer's lead (lead follow-up aside) or within 30 days after one of the
customer's deliveries unless it is that delivery's callback, so a list's calls can be told
apart in the touchpoints table (the table has no list column).

Unreachable customers (the truth ``contact``): a DMS phone that is not a usable number
(``invalid_phone``), one digit off (``typo_phone``) or a staff member's (``staff_phone``), all
from the start; and :data:`CHANGED_SHARE` of the rest whose phone changed on a day between
their creation and ``as_of`` (``phone_changed``). An attempt to an unreachable customer ends
``wrong_number`` (75%: a cancelled number is announced as void 空号, a reassigned one is
answered by a stranger) or ``no_answer``; to a reachable one ``reached`` (70%), ``no_answer``
(22%), ``refused`` (7.9%) or, a misdial, ``wrong_number`` (0.1%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.data.linkage import normalize_phones, phone_kind
from crm_analytics.sim.context import DealerContext
from crm_analytics.sim.draws import days, make_ids

__all__ = ["CHANGED_SHARE", "LIST_TYPES", "MAX_ATTEMPTS", "crm_calls"]

_STREAM = 6
#: The desk's call lists, in the order the analysis shows them.
LIST_TYPES: tuple[str, ...] = (
    "delivery_callback",
    "service_reminder",
    "dormant_activation",
    "lead_follow_up",
)
#: Attempts per campaign at most.
MAX_ATTEMPTS = 3
#: Share of the customers with a usable phone whose phone changes inside the window.
CHANGED_SHARE = 0.06
_REACHABLE_P = {"reached": 0.70, "no_answer": 0.22, "refused": 0.079, "wrong_number": 0.001}
_UNREACHABLE_WRONG = 0.75
#: Days after a reached call in which a visit (lead) or a service visit counts as converted.
CONVERT_DAYS = 30
_DAY = np.timedelta64(1, "D")


def _unreachable(ctx: DealerContext, rng: np.random.Generator, C: pd.DataFrame) -> pd.DataFrame:
    """The unreachable customers: ``customer_id, reason, unreachable_from``."""
    kind = phone_kind(normalize_phones(C["phone"])).to_numpy()
    bad = ~np.isin(kind, ["mobile", "landline"])
    defects = pd.DataFrame(ctx.defects, columns=["defect", "table", "row_id", "detail"])
    typo = C["customer_id"].isin(defects.loc[defects["defect"] == "typo_phone", "row_id"])
    staff = C["customer_id"].isin(defects.loc[defects["defect"] == "staff_phone", "row_id"])
    reason = np.select(
        [bad, staff.to_numpy(), typo.to_numpy()],
        ["invalid_phone", "staff_phone", "typo_phone"],
        default="",
    ).astype(object)
    created = C["created_at"].to_numpy("datetime64[s]")
    created = np.where(np.isnat(created), ctx.start, np.maximum(created, ctx.start))
    changes = (reason == "") & (rng.random(len(C)) < CHANGED_SHARE)
    span = (ctx.as_of - created) / _DAY
    when = created + days(rng.uniform(0, 1, len(C)) * np.maximum(span, 0))
    reason[changes] = "phone_changed"
    start = np.where(changes, when, np.datetime64("1900-01-01", "s"))
    keep = reason != ""
    return pd.DataFrame(
        {
            "customer_id": C["customer_id"].to_numpy()[keep],
            "reason": reason[keep],
            "unreachable_from": start[keep],
        }
    )


def _campaigns(ctx: DealerContext, rng: np.random.Generator, tables: dict) -> pd.DataFrame:
    """Every campaign: ``customer_id, lead_id, list_type, start, staff_id``."""
    known = set(tables["customers"]["customer_id"])
    crm, dcc = ctx.staff_ids("crm"), ctx.staff_ids("dcc")
    o = tables["orders"].dropna(subset=["delivered_at"])
    o = o[o["customer_id"].isin(known)]
    late = rng.random(len(o)) < 0.15
    lag = np.where(late, rng.uniform(4, 10, len(o)), rng.uniform(1, 3, len(o)))
    callback = pd.DataFrame(
        {
            "customer_id": o["customer_id"].to_numpy(),
            "lead_id": None,
            "list_type": "delivery_callback",
            "start": o["delivered_at"].to_numpy("datetime64[s]") + days(lag),
            "keep": rng.random(len(o)) < 0.9,
        }
    )
    # owners' activity: service visits and deliveries, in time order per customer
    sv = tables["service_visits"]
    sv = sv[sv["customer_id"].isin(known)][["customer_id", "at"]]
    act = pd.concat(
        [
            sv.assign(src="service"),
            o[["customer_id", "delivered_at"]]
            .rename(columns={"delivered_at": "at"})
            .assign(src="delivery"),
        ],
        ignore_index=True,
    ).sort_values(["customer_id", "at"], kind="stable")
    nxt = act.groupby("customer_id")["at"].shift(-1)
    gap = ((nxt - act["at"]) / pd.Timedelta(days=1)).fillna(np.inf).to_numpy()
    at = act["at"].to_numpy("datetime64[s]")
    rem_at = at + days(rng.uniform(150, 170, len(act)))
    rem = (act["src"].to_numpy() == "service") & (gap > 170) & (rng.random(len(act)) < 0.4)
    dor_at = at + days(rng.uniform(366, 420, len(act)))
    dor = (gap > 420) & (rng.random(len(act)) < 0.7)
    owners = pd.DataFrame(
        {
            "customer_id": np.concatenate(
                [act["customer_id"].to_numpy()[rem], act["customer_id"].to_numpy()[dor]]
            ),
            "lead_id": None,
            "list_type": ["service_reminder"] * int(rem.sum())
            + ["dormant_activation"] * int(dor.sum()),
            "start": np.concatenate([rem_at[rem], dor_at[dor]]),
            "keep": True,
        }
    )
    L = tables["leads"]
    L = L[L["customer_id"].isin(known)]
    follow = pd.DataFrame(
        {
            "customer_id": L["customer_id"].to_numpy(),
            "lead_id": L["lead_id"].to_numpy(),
            "list_type": "lead_follow_up",
            "start": L["created_at"].to_numpy("datetime64[s]") + days(rng.uniform(2, 10, len(L))),
            "keep": rng.random(len(L)) < 0.25,
        }
    )
    camp = pd.concat([callback, owners, follow], ignore_index=True)
    camp = camp[camp["keep"].to_numpy()].drop(columns="keep")
    camp = camp[(camp["start"] >= ctx.start) & (camp["start"] <= ctx.as_of)]
    camp = _apart(camp, o, L).reset_index(drop=True)
    is_crm = camp["list_type"].isin(["delivery_callback", "dormant_activation"]).to_numpy()
    camp["staff_id"] = np.where(is_crm, rng.choice(crm, len(camp)), rng.choice(dcc, len(camp)))
    return camp


def _apart(camp: pd.DataFrame, o: pd.DataFrame, L: pd.DataFrame) -> pd.DataFrame:
    """Drop owner calls (reminders, activation) that fall within 30 days after a delivery of
    the customer or while one of the customer's leads is open: the desk does not remind a
    customer in the middle of a purchase, and the lists stay apart in the table."""
    own = camp["list_type"].isin(["service_reminder", "dormant_activation"]).to_numpy()
    t = camp["start"].to_numpy("datetime64[s]")
    busy = np.zeros(len(camp), bool)
    spans = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": o["customer_id"].to_numpy(),
                    "lo": o["delivered_at"].to_numpy("datetime64[s]"),
                    "hi": o["delivered_at"].to_numpy("datetime64[s]") + days(30),
                }
            ),
            pd.DataFrame(
                {
                    "customer_id": L["customer_id"].to_numpy(),
                    "lo": L["created_at"].to_numpy("datetime64[s]"),
                    "hi": L["closed_at"]
                    .fillna(pd.Timestamp("2100-01-01"))
                    .to_numpy("datetime64[s]")
                    + days(30),
                }
            ),
        ],
        ignore_index=True,
    )
    pos = pd.Series(np.arange(len(camp)))[own]
    m = pd.DataFrame({"i": pos.to_numpy(), "customer_id": camp["customer_id"].to_numpy()[own]})
    m = m.merge(spans, on="customer_id")
    ti = t[m["i"].to_numpy()]
    # a day's margin for the time of day, a week before for the later attempts
    lo = m["lo"].to_numpy("datetime64[s]") - days(7)
    hit = (ti >= lo) & (ti <= m["hi"].to_numpy("datetime64[s]") + days(1))
    busy[m["i"].to_numpy()[hit]] = True
    return camp[~busy]


def _attempts(
    ctx: DealerContext, rng: np.random.Generator, camp: pd.DataFrame, unreach: pd.DataFrame
) -> pd.DataFrame:
    """The attempts of every campaign, each with its outcome and the truth of the customer."""
    n = len(camp)
    gaps = np.cumsum(
        np.column_stack([np.zeros(n), rng.uniform(0.5, 3, (n, MAX_ATTEMPTS - 1))]), axis=1
    )
    t = camp["start"].to_numpy("datetime64[s]")[:, None] + days(gaps)
    t = ctx.in_hours(rng, t.ravel()).reshape(t.shape)
    since = (
        unreach.set_index("customer_id")["unreachable_from"]
        .reindex(camp["customer_id"])
        .to_numpy("datetime64[s]")
    )
    dead = ~np.isnat(since)[:, None] & (t >= np.where(np.isnat(since), t[:, 0], since)[:, None])
    u = rng.random((n, MAX_ATTEMPTS))
    p = _REACHABLE_P
    live_out = np.select(
        [u < p["reached"], u < p["reached"] + p["no_answer"], u < 1 - p["wrong_number"]],
        ["reached", "no_answer", "refused"],
        default="wrong_number",
    )
    dead_out = np.where(u < _UNREACHABLE_WRONG, "wrong_number", "no_answer")
    out = np.where(dead, dead_out, live_out)
    stop = out != "no_answer"
    # attempts up to and including the first that stops the campaign
    made = np.ones((n, MAX_ATTEMPTS), bool)
    made[:, 1:] = ~np.cumsum(stop, axis=1)[:, :-1].astype(bool)
    made &= t <= ctx.as_of
    ci, k = np.nonzero(made)
    return pd.DataFrame(
        {
            "campaign": ci,
            "attempt": k + 1,
            "customer_id": camp["customer_id"].to_numpy()[ci],
            "lead_id": camp["lead_id"].to_numpy()[ci],
            "list_type": camp["list_type"].to_numpy()[ci],
            "staff_id": camp["staff_id"].to_numpy()[ci],
            "at": t[ci, k],
            "outcome": out[ci, k],
            "unreachable": dead[ci, k],
        }
    )


def _converted(att: pd.DataFrame, tables: dict) -> np.ndarray:
    """Whether a reached lead follow-up was followed by a visit of that lead, or a reached
    reminder or activation by a service visit, within :data:`CONVERT_DAYS` (NaN-free bool;
    callbacks and unreached calls are False)."""
    out = np.zeros(len(att), bool)
    reached = att["outcome"].to_numpy() == "reached"
    tp = tables["touchpoints"]
    vis = tp[tp["kind"] == "visit"][["lead_id", "at"]].rename(columns={"at": "v_at"})
    sv = tables["service_visits"][["customer_id", "at"]].rename(columns={"at": "v_at"})
    for kinds, events, key in (
        (["lead_follow_up"], vis, "lead_id"),
        (["service_reminder", "dormant_activation"], sv, "customer_id"),
    ):
        sel = reached & att["list_type"].isin(kinds).to_numpy()
        a = pd.DataFrame(
            {
                "i": np.flatnonzero(sel),
                key: att[key].to_numpy()[sel],
                "at": att["at"].to_numpy()[sel],
            }
        )
        m = a.merge(events, on=key)
        d = (m["v_at"] - m["at"]) / pd.Timedelta(days=1)
        out[m.loc[(d > 0) & (d <= CONVERT_DAYS), "i"].to_numpy()] = True
    return out


def crm_calls(
    ctx: DealerContext, tables: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The desk's call attempts as touchpoint rows, and their truth.

    Parameters
    ----------
    ctx
        The dealer's context (its side stream 6 is used).
    tables
        The dealer's assembled canonical tables (customers, orders, service_visits, leads,
        touchpoints).

    Returns
    -------
    (pandas.DataFrame, dict)
        The touchpoint rows (canonical columns, ids ``<dealer>-K...``) and the truth frames
        ``contact`` (the unreachable customers: ``customer_id, reason, unreachable_from``; a
        from-date in 1900 means always) and ``calls`` (per attempt: ``touch_id, list_type,
        campaign, attempt, unreachable, converted``).
    """
    rng = ctx.stream(_STREAM)
    C = tables["customers"]
    unreach = _unreachable(ctx, rng, C)
    camp = _campaigns(ctx, rng, tables)
    att = _attempts(ctx, rng, camp, unreach)
    att = att.sort_values(["at", "customer_id"], kind="stable").reset_index(drop=True)
    att["converted"] = _converted(att, tables)
    d = ctx.did
    att.insert(0, "touch_id", make_ids(f"{d}-K", len(att), width=7))
    rows = pd.DataFrame(
        {
            "dealer_id": d,
            "touch_id": att["touch_id"],
            "customer_id": att["customer_id"],
            "lead_id": att["lead_id"],
            "kind": "call",
            "channel": None,
            "at": att["at"],
            "outcome": att["outcome"],
            "dwell_minutes": np.nan,
            "staff_id": att["staff_id"],
        }
    )
    calls = att[
        [
            "touch_id",
            "customer_id",
            "list_type",
            "campaign",
            "attempt",
            "staff_id",
            "at",
            "outcome",
            "unreachable",
            "converted",
        ]
    ]
    return rows, {"contact": unreach, "calls": calls}
