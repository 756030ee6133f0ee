"""Masking of personal data (phones, names) in outputs not meant for staff contact lists.

Every report, chart table and exported file masks personal data by default (DESIGN.md,
"Reports mask personal data unless a run explicitly asks for contact lists"). Only lists handed
to the staff who make the calls carry full contact details, and only when asked for
(``contact=True`` in :func:`crm_analytics.actions.call_lists.call_lists`).

Rules
-----
* Phone: the digits are kept in their order, everything else (``+``, spaces, dashes, stray
  markup) is dropped. With 11 or more digits the first three and the last four stay and the
  middle becomes ``****`` (``13812345678`` -> ``138****5678``; a ``+86``/``0086`` prefix is
  dropped first). With 7 to 10 digits (landlines without area code, truncated numbers) only the
  last four stay (``****5678``). With fewer than 7 digits nothing is shown (``****``): a short
  value is more likely a typo or a name typed into the phone field than a number, and showing
  part of it could reveal it.
* Already masked: a phone masked upstream (by this module or by a DMS that masks phones
  itself), i.e. at most three digits, one or more ``*`` and at most four digits
  (``138****5678``, ``****5678``, ``***``), is written in this module's form with the same
  visible digits, so masking twice changes nothing. Any other value containing ``*`` is
  masked by its digits like any phone.
* Name: the first character stays and the rest becomes a single ``*`` (``张三丰`` -> ``张*``,
  ``David Wang`` -> ``D*``), so the masked form does not even reveal the name's length. A
  one-character name becomes ``*``.
* Missing values stay missing; empty strings stay empty. Nothing is ever interpreted: values
  such as ``<script>`` are treated as plain text (escaping is the HTML renderer's job).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from crm_analytics.core.errors import InputError

__all__ = ["mask_phone", "mask_name", "mask_series", "mask_frame", "PHONE_MASK", "NAME_MASK"]

#: What a phone with too few digits to show anything becomes.
PHONE_MASK = "****"
#: The character that replaces the hidden part of a name.
NAME_MASK = "*"

_NON_DIGIT = re.compile(r"\D+")
_MASKED_PHONE = re.compile(r"^\s*(\d{0,3})\s*\*+\s*(\d{0,4})\s*$")


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values
        return False


def mask_phone(phone: object) -> object:
    """Mask one phone number.

    Parameters
    ----------
    phone
        A phone number as text (any punctuation) or number; missing values pass through.

    Returns
    -------
    str or missing
        ``138****5678`` for an 11-digit mobile, ``****5678`` for 7-10 digits, ``****`` for
        fewer digits, the input itself when missing (``None``/``NaN``/``pd.NA``).

    Examples
    --------
    >>> mask_phone("13812345678")
    '138****5678'
    >>> mask_phone("+86 138-1234-5678")
    '138****5678'
    >>> mask_phone("021-6234567")
    '****4567'
    >>> mask_phone("138****5678")  # already masked: unchanged
    '138****5678'
    """
    if _is_missing(phone):
        return phone
    text = str(phone)
    if isinstance(phone, float) and phone.is_integer():
        text = str(int(phone))
    if text == "":
        return ""
    masked = _MASKED_PHONE.match(text)
    if masked:
        head, tail = masked.groups()
        return f"{head}****{tail}" if head and len(tail) == 4 else f"****{tail}"
    digits = _NON_DIGIT.sub("", text)
    if len(digits) >= 13 and digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) >= 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 7:
        return f"****{digits[-4:]}"
    return PHONE_MASK


def mask_name(name: object) -> object:
    """Mask one personal name: first character, then a single ``*``.

    Parameters
    ----------
    name
        A name; missing values and empty strings pass through.

    Returns
    -------
    str or missing

    Examples
    --------
    >>> mask_name("张三丰")
    '张*'
    >>> mask_name("David Wang")
    'D*'
    """
    if _is_missing(name):
        return name
    text = str(name).strip()
    if text == "":
        return ""
    if len(text) == 1:
        return NAME_MASK
    return text[0] + NAME_MASK


def mask_series(values: pd.Series, *, kind: str) -> pd.Series:
    """Mask a whole column of phones or names (each distinct value is masked once).

    Parameters
    ----------
    values
        The column.
    kind
        ``"phone"`` or ``"name"``.

    Returns
    -------
    pandas.Series
        A new series with the same index and name, dtype ``object`` (missing values kept).
    """
    if kind == "phone":
        fn = mask_phone
    elif kind == "name":
        fn = mask_name
    else:
        raise InputError(f"mask_series: kind must be 'phone' or 'name', got {kind!r}")
    s = pd.Series(values, copy=False)
    if s.empty:
        return s.astype(object).copy()
    present = s[s.notna()]
    uniques = pd.unique(present.to_numpy(dtype=object))
    mapping = {u: fn(u) for u in uniques}
    out = s.astype(object).copy()
    out[present.index] = present.map(mapping).to_numpy(dtype=object)
    return out


def _default_columns(columns: Iterable[str], suffix: str) -> list[str]:
    return [c for c in columns if isinstance(c, str) and (c == suffix or c.endswith("_" + suffix))]


def mask_frame(
    df: pd.DataFrame,
    *,
    phone_columns: Iterable[str] | None = None,
    name_columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Return a copy of ``df`` with its phone and name columns masked.

    Parameters
    ----------
    df
        Any frame (a canonical table, a call list, a report table).
    phone_columns
        Columns holding phones. Default: every column named ``phone`` or ending in ``_phone``
        (``customer_phone``, ``owner_phone``...).
    name_columns
        Columns holding personal names. Default: every column named ``name`` or ending in
        ``_name`` (``customer_name``, ``owner_name``...), plus ``pinyin``. Pass an explicit list
        when a ``*_name`` column is not a person's name (``model_name``).

    Returns
    -------
    pandas.DataFrame
        A new frame; ``df`` is not modified. Columns that are not present are ignored when they
        come from the defaults and raise :class:`~crm_analytics.core.errors.InputError` when asked
        for explicitly.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"mask_frame expects a pandas DataFrame, got {type(df).__name__}")
    cols = list(df.columns)
    if phone_columns is None:
        phones = _default_columns(cols, "phone")
    else:
        phones = list(phone_columns)
    if name_columns is None:
        names = _default_columns(cols, "name") + [c for c in cols if c == "pinyin"]
    else:
        names = list(name_columns)
    missing = [c for c in phones + names if c not in df.columns]
    if missing:
        raise InputError(
            f"mask_frame: columns {missing} not in the frame (columns: {cols}); "
            "pass only existing phone/name columns"
        )
    out = df.copy()
    for c in phones:
        out[c] = mask_series(out[c], kind="phone")
    for c in names:
        out[c] = mask_series(out[c], kind="name")
    return out
