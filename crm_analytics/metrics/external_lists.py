"""Screening of external name lists: auto shows 车展, cross-industry partners 异业合作 and list
exchanges 名单交换 (DIGEST section 4: "periodic: exhibition / partner lists").

A list (name and phone per row) is screened against the dealer's DMS as of the day it was
received, with the package's linkage keys (:mod:`crm_analytics.data.linkage`): phones
normalised (``+86 138-1234-5678`` -> ``13812345678``) and classified, names turned into pinyin
keys. Each row gets exactly one class, with the reason:

``invalid``
    the phone cannot be called: missing, malformed, a placeholder, masked, or a staff phone;
``duplicate``
    the same person as an earlier row of the list: the same phone, a phone one digit apart
    under the same surname, or the same DMS customer;
``open_lead``
    a DMS customer (created by the list's day) with a lead open on that day;
``existing_customer``
    a DMS customer without an open lead;
``new``
    nobody the DMS knows: the rows for the call lists.

A DMS customer is matched by an equal phone, or by a phone one digit apart with the same
surname (a typo on either side). Nothing is dropped: the class counts sum to the rows read
(``screened.attrs['counts']``). The yield of the new rows (leads, visits and orders after the
list's day of customers with the row's phone) is read from the same DMS tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError
from crm_analytics.data.linkage import name_frame, normalize_phones, phone_kind
from crm_analytics.metrics.quality.common import _phone_neighbours

__all__ = [
    "SCREEN_CLASSES",
    "screen_external_list",
    "screen_external_lists",
    "external_list_summary",
]

#: A screened row's class, in the order the rules apply (invalid first, new last).
SCREEN_CLASSES: tuple[str, ...] = (
    "invalid",
    "duplicate",
    "open_lead",
    "existing_customer",
    "new",
)
_USABLE = ("mobile", "landline")
_OUT = [
    "list_id",
    "source",
    "row",
    "name",
    "phone",
    "phone_norm",
    "phone_kind",
    "screen_class",
    "reason",
    "customer_id",
    "lead_id",
    "duplicate_of",
    "later_leads",
    "later_visits",
    "later_orders",
]


def _input_frame(names_frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """``row``, ``name``, ``phone`` of a list, or a clear error naming what is missing."""
    if not isinstance(names_frame, pd.DataFrame):
        raise InputError(
            f"{where}: a name list must be a DataFrame, got {type(names_frame).__name__}"
        )
    if "phone" not in names_frame.columns:
        raise InputError(
            f"{where} has no 'phone' column (columns: {list(names_frame.columns)[:20]}). Name "
            "the column of phone numbers 'phone' (or read the file with "
            "crm_analytics.data.dms.read_name_list, which maps 电话 / 手机 / 联系电话)."
        )
    df = pd.DataFrame(index=names_frame.index)
    df["row"] = (
        names_frame["row"].to_numpy()
        if "row" in names_frame.columns
        else np.arange(1, len(names_frame) + 1)
    )
    df["name"] = (
        names_frame["name"].astype("string").str.strip()
        if "name" in names_frame.columns
        else pd.Series(pd.NA, index=names_frame.index, dtype="string")
    )
    phone = names_frame["phone"]
    if pd.api.types.is_float_dtype(phone) or pd.api.types.is_integer_dtype(phone):
        # numbers read by a spreadsheet reader: 13812345678.0 is the phone 13812345678
        phone = phone.round().astype("Int64")
    df["phone"] = phone.astype("string").to_numpy()
    return df.reset_index(drop=True)


def _dms_people(dealer: DealerData, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    """Customers created by ``as_of`` with a usable phone (and their surname key), and each
    customer's lead open on ``as_of`` (the latest created)."""
    c = dealer.customers[["customer_id", "name", "phone", "created_at"]]
    c = c[c["created_at"] <= as_of].copy()
    c["phone_norm"] = normalize_phones(c["phone"])
    c = c[phone_kind(c["phone_norm"]).isin(_USABLE).to_numpy()]
    c["surname_py"] = name_frame(c["name"])["surname_py"]
    ld = dealer.leads
    open_ = ld[(ld["created_at"] <= as_of) & (ld["closed_at"].isna() | (ld["closed_at"] > as_of))]
    open_lead = open_.sort_values("created_at").groupby("customer_id")["lead_id"].last()
    return c.reset_index(drop=True), open_lead


def _match(rows: pd.DataFrame, people: pd.DataFrame, open_lead: pd.Series) -> pd.DataFrame:
    """Each valid row's DMS customer: ``customer_id``, ``lead_id``, ``how`` (index of ``rows``).

    Equal phones first, then one digit apart with the same surname; among a row's candidates
    a customer with an open lead, then the latest created.
    """
    cols = ["customer_id", "lead_id", "how"]
    if not len(rows) or not len(people):
        return pd.DataFrame(columns=cols)
    nb = _phone_neighbours(rows["phone_norm"], people["phone_norm"])
    if not len(nb):
        return pd.DataFrame(columns=cols)
    nb["surname_r"] = nb["a"].map(rows["surname_py"])
    nb["surname_c"] = nb["b"].map(people["surname_py"])
    near = (nb["distance"] == 1) & (nb["surname_r"] == nb["surname_c"]).fillna(False)
    nb = nb[(nb["distance"] == 0) | near].copy()
    nb["customer_id"] = people["customer_id"].to_numpy()[nb["b"].to_numpy(int)]
    nb["lead_id"] = nb["customer_id"].map(open_lead)
    nb["created_at"] = people["created_at"].to_numpy()[nb["b"].to_numpy(int)]
    nb["no_lead"] = nb["lead_id"].isna()
    nb = nb.sort_values(
        ["a", "distance", "no_lead", "created_at"], ascending=[True, True, True, False]
    )
    best = nb.drop_duplicates("a").set_index("a")
    best["how"] = np.where(best["distance"] == 0, "same_phone", "phone_one_digit_same_surname")
    best.index.name = None
    return best[cols]


def _near_duplicates(df: pd.DataFrame, person: pd.Series) -> pd.Series:
    """``person`` keys with a row whose phone is one digit from an earlier row's, under the
    same surname, given the earlier row's key: a typo of the same person, by the rule that
    matches a DMS customer (two relatives with consecutive numbers would be merged too)."""
    valid = person.notna()
    nb = _phone_neighbours(df.loc[valid, "phone_norm"], df.loc[valid, "phone_norm"])
    if not len(nb):
        return person
    nb = nb[(nb["distance"] == 1) & (nb["a"] < nb["b"])]
    fa = df["surname_py"].reindex(nb["a"]).reset_index(drop=True)
    fb = df["surname_py"].reindex(nb["b"]).reset_index(drop=True)
    same = (fa == fb).fillna(False).to_numpy(bool)
    person = person.copy()
    for a, b in sorted(zip(nb["a"][same], nb["b"][same], strict=True)):
        person[person == person[b]] = person[a]  # b and its own repeats join a
    return person


def _later(dealer: DealerData, phones: pd.Series, as_of: pd.Timestamp) -> pd.DataFrame:
    """Leads, visits and orders after ``as_of`` of customers created after it whose phone is
    one of ``phones`` (index of ``phones``): the yield of a list's new rows."""
    c = dealer.customers[dealer.customers["created_at"] > as_of][["customer_id", "phone"]]
    by_phone = (
        pd.DataFrame({"customer_id": c["customer_id"], "p": normalize_phones(c["phone"])})
        .dropna()
        .drop_duplicates("p")
        .set_index("p")["customer_id"]
    )
    who = phones.map(by_phone)
    ld = dealer.leads[dealer.leads["created_at"] > as_of]["customer_id"].value_counts()
    tp = dealer.touchpoints
    vi = tp[(tp["kind"] == "visit") & (tp["at"] > as_of)]["customer_id"].value_counts()
    od = dealer.orders[dealer.orders["ordered_at"] > as_of]["customer_id"].value_counts()
    return pd.DataFrame(
        {
            "later_leads": who.map(ld).fillna(0).astype(int),
            "later_visits": who.map(vi).fillna(0).astype(int),
            "later_orders": who.map(od).fillna(0).astype(int),
        },
        index=phones.index,
    )


def screen_external_list(
    dealer: DealerData,
    names_frame: pd.DataFrame,
    *,
    source: str,
    list_id: str | None = None,
    as_of: pd.Timestamp | str | None = None,
    cost: float | None = None,
) -> pd.DataFrame:
    """Classify every row of an external name list against the dealer's DMS.

    Parameters
    ----------
    dealer
        The dealer whose customers and leads the list is screened against.
    names_frame
        The list: a ``phone`` column, optionally ``name`` and ``row`` (the row's number in
        the file; default 1, 2, ...). :func:`crm_analytics.data.dms.read_name_list` reads
        one from CSV or Excel.
    source
        Where it came from: ``auto_show``, ``partner``, ``list_exchange`` or any label.
    list_id
        Its name in the summary (default: ``source``).
    as_of
        The day the list was received: customers created and leads open by the end of that
        day count (a time of day other than midnight is taken as given; default: the dealer's
        ``as_of``). Leads, visits and orders after it are the yield.
    cost
        What the list cost (yuan), for the cost per order of :func:`external_list_summary`.

    Returns
    -------
    pandas.DataFrame
        One row per list row: ``list_id``, ``source``, ``row``, ``name``, ``phone``,
        ``phone_norm``, ``phone_kind``, ``screen_class`` (:data:`SCREEN_CLASSES`),
        ``reason``, ``customer_id`` and ``lead_id`` (the DMS match), ``duplicate_of`` (the
        row repeated), and for new rows ``later_leads``, ``later_visits``,
        ``later_orders``. ``attrs``: ``counts`` (rows read and per class; they sum),
        ``as_of``, ``cost``.
    """
    where = f"name list {list_id or source!r}"
    df = _input_frame(names_frame, where)
    as_of = pd.Timestamp(as_of if as_of is not None else dealer.as_of)
    if as_of.normalize() == as_of:
        as_of = as_of + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)  # the whole day
    df["phone_norm"] = normalize_phones(df["phone"])
    df["phone_kind"] = phone_kind(df["phone_norm"])
    df["surname_py"] = name_frame(df["name"])["surname_py"]
    staff = normalize_phones(dealer.staff["phone"]) if len(dealer.staff) else pd.Series()
    is_staff = df["phone_norm"].isin(set(staff.dropna())).fillna(False).to_numpy(bool)
    usable = df["phone_kind"].isin(_USABLE).to_numpy() & ~is_staff
    cls = np.where(usable, "new", "invalid").astype(object)
    reason = np.where(is_staff, "staff_phone", df["phone_kind"].astype(str) + "_phone")
    reason = np.where(usable, "no_dms_match", reason).astype(object)
    people, open_lead = _dms_people(dealer, as_of)
    m = _match(df[usable], people, open_lead)
    df["customer_id"] = m["customer_id"].reindex(df.index)
    df["lead_id"] = m["lead_id"].reindex(df.index)
    hit = df["customer_id"].notna().to_numpy()
    has_lead = df["lead_id"].notna().to_numpy()
    cls[hit] = np.where(has_lead[hit], "open_lead", "existing_customer")
    reason[hit] = m["how"].reindex(df.index).to_numpy()[hit]
    # the same person again: the phone of an earlier valid row, or its DMS customer
    person = df["customer_id"].astype("string").fillna("p:" + df["phone_norm"].astype("string"))
    person = _near_duplicates(df, person.where(usable))
    first = df["row"].groupby(person).transform("first")
    dup = usable & person.duplicated().to_numpy()
    df["duplicate_of"] = first.where(dup)
    cls[dup] = "duplicate"
    first_phone = df["phone_norm"].groupby(person).transform("first")
    same_phone = (df["phone_norm"] == first_phone).fillna(False).to_numpy(bool)
    reason[dup] = np.where(
        hit[dup],
        "same_customer",
        np.where(same_phone[dup], "same_phone", "phone_one_digit_same_surname"),
    )
    df["screen_class"] = cls
    df["reason"] = reason
    later = _later(dealer, df.loc[cls == "new", "phone_norm"], as_of)
    for col in later.columns:
        df[col] = later[col].reindex(df.index).fillna(0).astype(int)
    df["list_id"] = list_id or source
    df["source"] = source
    out = df[_OUT].copy()
    counts = {"rows": len(out), **{c: int((cls == c).sum()) for c in SCREEN_CLASSES}}
    if sum(counts[c] for c in SCREEN_CLASSES) != counts["rows"]:  # pragma: no cover - a bug
        raise AssertionError(f"{where}: classes {counts} do not sum to the rows read")
    out.attrs.update(counts=counts, as_of=as_of, cost=cost)
    return out


def screen_external_lists(dealer: DealerData, lists: pd.DataFrame) -> pd.DataFrame:
    """Screen several lists at once: ``lists`` carries ``list_id``, ``source`` and optionally
    ``received_at`` (the screening day) and ``cost`` (one value per list) next to each row's
    ``name`` and ``phone``. Returns the screened rows of all lists, with ``attrs['costs']``
    (list id -> cost) and ``attrs['counts']`` (list id -> counts)."""
    for col in ("list_id", "source"):
        if col not in lists.columns:
            raise InputError(f"name lists need a {col!r} column (columns: {list(lists.columns)})")
    parts, costs, counts = [], {}, {}
    for list_id, grp in lists.groupby("list_id", sort=True):
        at = grp["received_at"].iloc[0] if "received_at" in grp.columns else None
        cost = float(grp["cost"].iloc[0]) if "cost" in grp.columns else None
        s = screen_external_list(
            dealer,
            grp,
            source=str(grp["source"].iloc[0]),
            list_id=str(list_id),
            as_of=at,
            cost=cost,
        )
        parts.append(s)
        costs[str(list_id)] = cost
        counts[str(list_id)] = s.attrs["counts"]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_OUT)
    out.attrs.update(costs=costs, counts=counts)
    return out


def external_list_summary(
    screened: pd.DataFrame, *, costs: dict[str, float | None] | None = None, by: str = "source"
) -> pd.DataFrame:
    """Per source (or ``by='list_id'``): rows, each class's count and share, and the yield.

    ``leads``, ``visits`` and ``orders`` count the new rows whose person later became a lead,
    visited and ordered; ``cost`` sums the lists' costs (``costs``: list id -> yuan, default
    ``screened.attrs['costs']`` or the single list's ``attrs['cost']``) and ``cost_per_order``
    divides it by ``orders`` (empty without a cost or an order).
    """
    if costs is None:
        costs = screened.attrs.get("costs")
        if costs is None and len(screened):
            costs = {str(screened["list_id"].iloc[0]): screened.attrs.get("cost")}
    costs = costs or {}
    g = screened.groupby(by, sort=True)
    out = pd.DataFrame({"rows": g.size()})
    for c in SCREEN_CLASSES:
        out[c] = g["screen_class"].apply(lambda s, c=c: int((s == c).sum()))
    for c in SCREEN_CLASSES:
        out[f"{c}_share"] = out[c] / out["rows"].where(out["rows"] > 0)
    new = screened["screen_class"] == "new"
    for col, name in (
        ("later_leads", "leads"),
        ("later_visits", "visits"),
        ("later_orders", "orders"),
    ):
        out[name] = (screened[col].gt(0) & new).groupby(screened[by]).sum().astype(int)
    lists = screened[["list_id", by]].drop_duplicates()
    lists["cost"] = lists["list_id"].astype(str).map(costs).astype(float)
    cost = lists.groupby(by)["cost"].sum(min_count=1)
    out["cost"] = cost.reindex(out.index)
    out["cost_per_order"] = out["cost"] / out["orders"].where(out["orders"] > 0)
    out.index.name = by
    out = out.reset_index()
    out.attrs["lists"] = int(screened["list_id"].nunique())
    return out
