"""New names from external lists handed to the call lists (DIGEST section 4: lists are
screened, the intent confirmed by phone, then submitted and assigned).

The rows that :func:`crm_analytics.metrics.external_lists.screen_external_list` classified
``new`` become call-list rows of reason :data:`EXTERNAL_LIST_REASON`, in the columns of
:func:`crm_analytics.actions.call_lists.call_lists`, owned by the DCC (the CRM desk when the
dealer has no DCC staff on the day), balanced over the staff employed then, masked unless
``contact=True``. A new name has no history to score: the rows keep the list's order and carry
no value or likelihood; ``list_rank`` is the order within each list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.actions.call_lists import _OUT_COLUMNS, _active_staff, _assign
from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.data.privacy import mask_frame

__all__ = ["EXTERNAL_LIST_REASON", "EXTERNAL_LIST_ROLES", "external_list_calls"]

#: The call-list reason of a new name from an external list.
EXTERNAL_LIST_REASON = "external_list"
#: Roles that call the new names, in order of preference (DCC, then the CRM desk).
EXTERNAL_LIST_ROLES: tuple[str, ...] = ("dcc", "crm")
_RULE = "list order: a new name has no history to score (value and likelihood unknown)"


def external_list_calls(
    dealer: DealerData,
    screened: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str | None = None,
    window_days: int = 3,
    max_over_mean: float = 0.2,
    contact: bool = False,
) -> pd.DataFrame:
    """Call-list rows for the new names of screened external lists.

    Parameters
    ----------
    dealer
        The dealer (its staff roster gives the owners).
    screened
        Output of :func:`~crm_analytics.metrics.external_lists.screen_external_list` (or
        ``screen_external_lists``); only rows of class ``new`` are taken.
    as_of
        The day the rows are issued (default: the screening day in ``screened.attrs['as_of']``,
        else the dealer's ``as_of``); owners are staff employed that day.
    window_days
        Days to call them in (``due_date`` is ``as_of`` plus this).
    max_over_mean
        How far above the mean load one owner may go (as in ``params/actions.yaml``).
    contact
        Keep full names and phones (a contact list for staff); default masked.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`~crm_analytics.actions.call_lists.call_lists`: ``reason`` is
        ``external_list``, ``detail`` the list's source, ``refs`` ``<list_id>:<row>``,
        ``customer_id`` empty (the person is not in the DMS yet), ``script_key``
        ``external_list_<source>``.
    """
    missing = [
        c
        for c in ("screen_class", "list_id", "source", "row", "name", "phone")
        if c not in screened
    ]
    if missing:
        raise InputError(
            f"external_list_calls needs screened rows (screen_external_list output); missing {missing}"
        )
    day = pd.Timestamp(
        as_of if as_of is not None else screened.attrs.get("as_of") or dealer.as_of
    ).normalize()
    new = screened[screened["screen_class"] == "new"].reset_index(drop=True)
    owners, role = [], EXTERNAL_LIST_ROLES[0]
    for role in EXTERNAL_LIST_ROLES:
        owners = _active_staff(dealer.staff, role, day + pd.Timedelta(days=1))
        if owners:
            break
    rows = pd.DataFrame(
        {
            "customer_id": pd.Series([None] * len(new), dtype=object),
            "customer_name": new["name"].astype(object).to_numpy(),
            "customer_phone": new["phone"].astype(object).to_numpy(),
            "reason": EXTERNAL_LIST_REASON,
            "detail": new["source"].astype(str).to_numpy(),
            "refs": (new["list_id"].astype(str) + ":" + new["row"].astype(str)).to_numpy(),
            "n_items": 1,
            "due_date": day + pd.Timedelta(days=window_days),
            "window_days": window_days,
            "value": np.nan,
            "base_rate": np.nan,
            "activity": np.nan,
            "likelihood": np.nan,
            "expected_margin": np.nan,
            "priority": np.nan,
            "list_rank": new.groupby("list_id").cumcount().to_numpy() + 1,
            "priority_rule": _RULE,
            "owner_role": role,
            "script_key": ("external_list_" + new["source"].astype(str)).to_numpy(),
            "preferred_owner": None,
        }
    )
    # each row is its own person: keyed by its list row, not the (empty) customer id
    rows["owner_id"] = _assign(rows.assign(customer_id=rows["refs"]), owners, max_over_mean)
    rows["rank"] = np.arange(1, len(rows) + 1)
    out = rows[_OUT_COLUMNS].copy()
    if not contact:
        out = mask_frame(out, phone_columns=["customer_phone"], name_columns=["customer_name"])
    out.attrs.update(as_of=day, contact=bool(contact))
    return out
