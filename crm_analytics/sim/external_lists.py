"""External name lists of a simulated dealer, with the truth of every row (DIGEST section 3:
exhibition, cross-industry partner and exchanged lists screened by the CRM department).

Drawn from a built dealer (:class:`~crm_analytics.core.dealer.DealerData`) on the dealer's
side stream 5, ``SeedSequence([seed, index, 5])``, after and apart from every other stage:
the dealer's tables and truth do not change.

Each list was received on a day ``received_at`` between 60 and 270 days before the dealer's
``as_of``; its rows are, by truth class:

``existing_customer``
    a DMS customer created by ``received_at`` without a lead open on that day;
``open_lead``
    a DMS customer with a lead open on ``received_at``;
``new``
    a person unknown to the DMS on ``received_at``: most never appear in it, some (the
    list's yield) become customers later, with their own leads, visits and orders;
``duplicate``
    a second row of a person already on the list;
``invalid``
    a row whose phone cannot be called (too short or long, letters, placeholder, missing).

Known people come with the noise of a list typed by someone else: phones written
``+86 138 1234 5678``, ``0086-138...``, ``138-1234-5678``, a share one digit off; names in
characters, in pinyin (``Wang Weiming``), as surname and title (``王先生``) or with one
character of the given name wrong. Only customers whose DMS phone is a usable mobile number
are drawn as known people (a list row cannot be traced to a customer without one).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from crm_analytics.core.dealer import DealerData
from crm_analytics.data.linkage import name_keys, normalize_phones, phone_kind
from crm_analytics.data.store import list_dealers, load_dealer
from crm_analytics.sim.draws import draw_names, draw_phones

__all__ = [
    "LIST_FILES",
    "LIST_SOURCES",
    "TRUTH_CLASSES",
    "simulate_external_lists",
    "write_external_lists",
]

#: List sources: auto show 车展, cross-industry partner 异业合作, list exchange 名单交换.
LIST_SOURCES: tuple[str, ...] = ("auto_show", "partner", "list_exchange")
#: The truth class of a list row.
TRUTH_CLASSES: tuple[str, ...] = ("new", "existing_customer", "open_lead", "duplicate", "invalid")
_STREAM = 5
#: Share of a list's first rows per class (duplicates are added on top).
_SHARES = {"existing_customer": 0.15, "open_lead": 0.08, "invalid": 0.08}
_DUPLICATE_SHARE = 0.08
#: Share of the new people who become DMS customers after the list arrived (its yield).
_FUTURE_SHARE = 0.12
#: List cost per source, yuan (uniform range); an exchanged list costs nothing.
_COST = {"auto_show": (20_000.0, 60_000.0), "partner": (5_000.0, 15_000.0), "list_exchange": (0, 0)}
#: How each source's list is written as a file (encoding, name header, phone header): one in
#: GB18030 as a Chinese spreadsheet saves it, one UTF-8, one UTF-8 with a BOM.
LIST_FILES: dict[str, tuple[str, str, str]] = {
    "auto_show": ("gb18030", "姓名", "电话"),
    "partner": ("utf-8", "客户姓名", "手机"),
    "list_exchange": ("utf-8-sig", "姓名", "联系电话"),
}
#: Folder of the lists in a store: ``<store>/external_lists/<dealer>/<source>.csv``.
LISTS_FOLDER = "external_lists"
_TITLES = ("先生", "女士")
_SPARE_CHARS = "伟明华强丽军杰敏静磊洋艳勇涛超霞平刚桂英"


def _write_phone(rng: np.random.Generator, phone: str) -> str:
    """A mobile number as a list typist writes it."""
    k = int(rng.integers(0, 7))
    a, b, c = phone[:3], phone[3:7], phone[7:]
    return [
        phone,
        f"{a} {b} {c}",
        f"{a}-{b}-{c}",
        f"+86 {phone}",
        f"+86-{a}-{b}-{c}",
        f"0086{phone}",
        f"86 {a}{b}{c}",
    ][k]


def _one_digit_off(rng: np.random.Generator, phone: str) -> str:
    """``phone`` with one of its last eight digits replaced by another digit."""
    pos = int(rng.integers(3, 11))
    new = str((int(phone[pos]) + int(rng.integers(1, 10))) % 10)
    return phone[:pos] + new + phone[pos + 1 :]


def _vary_name(rng: np.random.Generator, name: str | None, pinyin: str | None) -> str:
    """A known person's name as written on a list (characters, pinyin, title, typo)."""
    if name is None or not isinstance(name, str) or name_keys(name)[2] != "hanzi":
        return name if isinstance(name, str) else ""
    u = rng.random()
    if u < 0.5:
        return name
    if u < 0.7 and pinyin:
        return pinyin
    if u < 0.85:
        return name[0] + _TITLES[int(rng.integers(0, 2))]
    pos = int(rng.integers(1, len(name)))
    spare = [c for c in _SPARE_CHARS if c != name[pos]]
    return name[:pos] + spare[int(rng.integers(0, len(spare)))] + name[pos + 1 :]


def _invalid_phone(rng: np.random.Generator, phone: str) -> str | None:
    """A phone nobody can call: cut short, too long, with letters, a placeholder or empty."""
    k = int(rng.integers(0, 6))
    return [
        phone[:-1],
        phone + str(int(rng.integers(0, 10))),
        phone[:5] + "abc" + phone[8:],
        "13800000000",
        None,
        "12" + phone[2:],
    ][k]


def _pinyin(name: str) -> str | None:
    """``王伟明`` -> ``Wang Weiming`` (from the package's name keys)."""
    sur, full, form = name_keys(name)
    if form != "hanzi" or not sur or not full:
        return None
    return f"{sur.capitalize()} {full[len(sur) :].capitalize()}"


def _people_at(dealer: DealerData, at: pd.Timestamp) -> pd.DataFrame:
    """DMS customers with a usable mobile phone and their state on ``at``: ``known`` (created
    by then), ``open_lead`` (a lead open then, of any customer with that phone) and ``future``
    (created later, with a lead created later, the phone unknown on ``at``)."""
    c = dealer.customers[["customer_id", "name", "phone", "created_at"]].copy()
    c["phone_norm"] = normalize_phones(c["phone"])
    c = c[phone_kind(c["phone_norm"]) == "mobile"]
    staff = set(normalize_phones(dealer.staff["phone"]).dropna()) if len(dealer.staff) else set()
    c = c[~c["phone_norm"].isin(staff)]
    ld = dealer.leads
    open_ids = set(
        ld.loc[
            (ld["created_at"] <= at) & (ld["closed_at"].isna() | (ld["closed_at"] > at)),
            "customer_id",
        ]
    )
    c["known"] = c["created_at"] <= at
    known_phones = set(c.loc[c["known"], "phone_norm"])
    open_phones = set(c.loc[c["known"] & c["customer_id"].isin(open_ids), "phone_norm"])
    c["open_lead"] = c["phone_norm"].isin(open_phones) & c["known"]
    late_leads = set(ld.loc[ld["created_at"] > at, "customer_id"])
    c["future"] = (
        ~c["known"] & ~c["phone_norm"].isin(known_phones) & c["customer_id"].isin(late_leads)
    )
    # a person's own number: the DMS may hold it with a wrong digit (the typo_phone defect)
    d = dealer.truth.get("defects") if dealer.truth else None
    if d is not None and len(d):
        typo = d[d["defect"] == "typo_phone"].drop_duplicates("row_id").set_index("row_id")
        c["true_phone"] = c["customer_id"].map(typo["detail"]).fillna(c["phone_norm"])
    else:
        c["true_phone"] = c["phone_norm"]
    # one row per phone (a customer recorded twice is one person)
    return c.drop_duplicates("phone_norm").reset_index(drop=True)


def _yield(dealer: DealerData, ids: pd.Series, at: pd.Timestamp) -> pd.DataFrame:
    """Leads, visits and orders after ``at`` of the customers ``ids`` (the list's yield)."""
    ld = dealer.leads[dealer.leads["created_at"] > at]
    tp = dealer.touchpoints
    visits = tp[(tp["kind"] == "visit") & (tp["at"] > at)]["customer_id"]
    od = dealer.orders[dealer.orders["ordered_at"] > at]["customer_id"]
    return pd.DataFrame(
        {
            "true_leads": ids.map(ld["customer_id"].value_counts()).fillna(0).astype(int),
            "true_visits": ids.map(visits.value_counts()).fillna(0).astype(int),
            "true_orders": ids.map(od.value_counts()).fillna(0).astype(int),
        }
    )


def _one_list(
    rng: np.random.Generator,
    dealer: DealerData,
    list_id: str,
    source: str,
    rows: int,
) -> pd.DataFrame:
    """The rows of one list with their truth (see the module docstring)."""
    at = (dealer.as_of - pd.Timedelta(days=float(rng.uniform(60, 270)))).normalize()
    # the DMS as the CRM desk sees it at the end of that day
    people = _people_at(dealer, at + pd.Timedelta(days=1) - pd.Timedelta(seconds=1))
    n_cust = round(rows * _SHARES["existing_customer"])
    n_lead = round(rows * _SHARES["open_lead"])
    n_bad = round(rows * _SHARES["invalid"])
    pools = {
        "existing_customer": people[people["known"] & ~people["open_lead"]],
        "open_lead": people[people["open_lead"]],
    }
    parts = []
    for cls, n in (("existing_customer", n_cust), ("open_lead", n_lead)):
        pool = pools[cls]
        pick = pool.iloc[rng.choice(len(pool), size=min(n, len(pool)), replace=False)]
        parts.append(
            pd.DataFrame(
                {
                    "true_class": cls,
                    "true_name": pick["name"].to_numpy(object),
                    "true_phone": pick["true_phone"].to_numpy(object),
                    "true_customer_id": pick["customer_id"].to_numpy(object),
                }
            )
        )
    n_new = rows - sum(len(p) for p in parts) - n_bad
    future = people[people["future"]]
    n_future = min(int(rng.binomial(n_new, _FUTURE_SHARE)), len(future))
    fpick = future.iloc[rng.choice(len(future), size=n_future, replace=False)]
    names, _, _ = draw_names(rng, n_new - n_future + n_bad)
    phones = draw_phones(rng, n_new - n_future + n_bad)
    taken = set(people["phone_norm"]) | set(people["true_phone"])
    fresh = np.array([p not in taken for p in phones])
    names, phones = names[fresh], phones[fresh]  # a drawn number that is a customer's: redrawn away
    n_bad = min(n_bad, len(phones))
    parts.append(
        pd.DataFrame(
            {
                "true_class": "new",
                "true_name": np.concatenate([fpick["name"].to_numpy(object), names[n_bad:]]),
                "true_phone": np.concatenate(
                    [fpick["phone_norm"].to_numpy(object), phones[n_bad:]]
                ),
                "true_customer_id": np.concatenate(
                    [fpick["customer_id"].to_numpy(object), np.full(len(names) - n_bad, None)]
                ),
            }
        )
    )
    bad = [_invalid_phone(rng, p) for p in phones[:n_bad]]
    parts.append(
        pd.DataFrame(
            {
                "true_class": "invalid",
                "true_name": names[:n_bad],
                "true_phone": np.array(bad, dtype=object),
                "true_customer_id": None,
            }
        )
    )
    base = pd.concat(parts, ignore_index=True)
    base = base.iloc[rng.permutation(len(base))].reset_index(drop=True)
    base["person"] = np.arange(len(base))
    valid = base.index[base["true_class"] != "invalid"].to_numpy()
    dups = base.loc[rng.choice(valid, size=round(rows * _DUPLICATE_SHARE), replace=True)].copy()
    dups["true_class"] = "duplicate"
    # a duplicate comes later on the list than the row it repeats
    order = np.concatenate([rng.permutation(len(base)), np.full(len(dups), -1)])
    out = pd.concat([base, dups], ignore_index=True)
    pos = np.where(order >= 0, order.astype(float), np.nan)
    first = pd.Series(pos[: len(base)], index=base["person"])
    pos[len(base) :] = first.reindex(dups["person"]).to_numpy() + rng.uniform(
        0.5, len(base), len(dups)
    )
    out = out.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True)
    return _write_rows(rng, out, list_id, source, at)


def _write_rows(
    rng: np.random.Generator, out: pd.DataFrame, list_id: str, source: str, at: pd.Timestamp
) -> pd.DataFrame:
    """The list as written: names and phones with a typist's noise, and its truth columns."""
    known = out["true_class"] != "new"
    known &= out["true_customer_id"].notna() | (out["true_class"] == "duplicate")
    names, phones, how = [], [], []
    for cls, nm, ph, kn in zip(
        out["true_class"], out["true_name"], out["true_phone"], known, strict=True
    ):
        if cls == "invalid" or ph is None:
            names.append(nm)
            phones.append(ph)
            how.append("invalid")
            continue
        py = _pinyin(nm) if isinstance(nm, str) else None
        written = _vary_name(rng, nm, py) if kn else nm
        # a known person's number, or a repeated row's, typed with one digit wrong
        off = (kn or cls == "duplicate") and rng.random() < 0.05
        names.append(written)
        phones.append(_write_phone(rng, _one_digit_off(rng, ph) if off else ph))
        how.append("one_digit_off" if off else "formatted")
    lo, hi = _COST[source]
    return pd.DataFrame(
        {
            "list_id": list_id,
            "source": source,
            "received_at": at,
            "cost": round(float(rng.uniform(lo, hi)), -2),
            "row": np.arange(1, len(out) + 1),
            "name": pd.Series(names, dtype="object"),
            "phone": pd.Series(phones, dtype="object"),
            "true_class": out["true_class"].to_numpy(object),
            "true_customer_id": out["true_customer_id"].to_numpy(object),
            "true_phone": out["true_phone"].to_numpy(object),
            "true_person": out["person"].to_numpy(int),
            "noise": how,
        }
    )


def simulate_external_lists(
    dealer: DealerData,
    *,
    seed: int = 2016,
    lists_per_source: int = 1,
    rows_per_list: int = 200,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw a dealer's external name lists: ``(lists, truth)``.

    Parameters
    ----------
    dealer
        A built dealer (for example :func:`crm_analytics.sim.simulate_dealer`), whose
        customers, leads, touchpoints and orders the lists overlap and yield.
    seed
        The network's seed: the lists are drawn on ``SeedSequence([seed, index, 5])`` of the
        dealer's index, apart from the dealer's own stream.
    lists_per_source, rows_per_list
        Lists of each source in :data:`LIST_SOURCES`, and first rows of each (duplicates
        are added on top).

    Returns
    -------
    lists
        ``list_id``, ``source``, ``received_at``, ``cost`` (yuan), ``row`` (1-based), ``name``,
        ``phone``: what the CRM desk receives.
    truth
        ``list_id``, ``row``, ``true_class`` (:data:`TRUTH_CLASSES`), ``true_customer_id``
        (the DMS customer behind an existing customer, open lead or later customer),
        ``true_phone``, ``true_person`` (the same number for a row and its duplicates),
        ``noise``, and the yield ``true_leads``, ``true_visits``, ``true_orders`` after
        ``received_at`` of the new people who became customers.
    """
    index = int(str(dealer.dealer_id).lstrip("D")) - 1
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, _STREAM]))
    frames = []
    for k, source in enumerate(LIST_SOURCES):
        for j in range(lists_per_source):
            list_id = f"{dealer.dealer_id}-X{k * lists_per_source + j + 1:02d}"
            frames.append(_one_list(rng, dealer, list_id, source, rows_per_list))
    both = pd.concat(frames, ignore_index=True)
    new = both["true_class"] == "new"
    ys = []
    for at, grp in both[new].groupby("received_at"):
        end = at + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        ys.append(_yield(dealer, grp["true_customer_id"], end).set_axis(grp.index))
    y = pd.concat(ys) if ys else pd.DataFrame(columns=["true_leads", "true_visits", "true_orders"])
    both = both.join(y)
    for col in ("true_leads", "true_visits", "true_orders"):
        both[col] = both[col].fillna(0).astype(int)
    cols = ["list_id", "source", "received_at", "cost", "row", "name", "phone"]
    truth = both.drop(columns=["source", "received_at", "cost", "name", "phone"])
    return both[cols].copy(), truth.reset_index(drop=True)


def write_external_lists(
    store: str | os.PathLike[str],
    *,
    seed: int = 2016,
    dealers: list[str] | None = None,
    rows_per_list: int = 200,
) -> pd.DataFrame:
    """Simulate each dealer's external lists (one per source, :func:`simulate_external_lists`)
    and write them as the CSV files a CRM desk receives, under
    ``<store>/external_lists/<dealer>/<source>.csv`` (encodings and headers of
    :data:`LIST_FILES`), with the truth next to them in ``<source>.truth.csv`` (UTF-8).

    Returns
    -------
    pandas.DataFrame
        One row per file: ``dealer_id``, ``file`` (relative to the store), ``source``,
        ``received`` (date), ``cost`` (yuan), ``rows``: what a dealer's params file names.
    """
    root = Path(store)
    ids = dealers if dealers is not None else list(list_dealers(root)["dealer_id"].astype(str))
    out = []
    for did in ids:
        dealer = load_dealer(root, did, truth=False)
        lists, truth = simulate_external_lists(dealer, seed=seed, rows_per_list=rows_per_list)
        folder = root / LISTS_FOLDER / did
        folder.mkdir(parents=True, exist_ok=True)
        for (list_id, source), grp in lists.groupby(["list_id", "source"], sort=True):
            encoding, name_col, phone_col = LIST_FILES[str(source)]
            path = folder / f"{source}.csv"
            grp[["name", "phone"]].rename(columns={"name": name_col, "phone": phone_col}).to_csv(
                path, index=False, encoding=encoding
            )
            truth[truth["list_id"] == list_id].to_csv(
                folder / f"{source}.truth.csv", index=False, encoding="utf-8"
            )
            out.append(
                {
                    "dealer_id": did,
                    "file": path.relative_to(root).as_posix(),
                    "source": str(source),
                    "received": pd.Timestamp(grp["received_at"].iloc[0]).date().isoformat(),
                    "cost": round(float(grp["cost"].iloc[0]), 0),
                    "rows": len(grp),
                }
            )
    return pd.DataFrame(out)
