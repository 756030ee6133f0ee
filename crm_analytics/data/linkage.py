"""Phone and Chinese-name normalisation, masking, and probabilistic record linkage.

The front desk writes what it hears: ``王先生``, ``Wang Weiming``, ``David Wang``,
``+86 138 1234 5678``. The DMS holds ``王伟明`` and ``13812345678``. This module turns both into
comparable keys (digits-only phones, pinyin surname and full name) and links two record sets
with a Fellegi-Sunter model estimated by `splink <https://moj-analytical-services.github.io/splink/>`_
on DuckDB (:func:`link_records`).

Phone rules (mainland China)
----------------------------
* mobile: 11 digits ``1[3-9]xxxxxxxxx``, optionally written with ``+86`` / ``0086`` / ``86``,
  spaces or dashes;
* landline: ``0`` + area code (2 or 3 digits) + a 7 or 8 digit number (10 to 12 digits), for
  example ``021-12345678`` or ``0755 1234567``;
* placeholders: a fixed list (``13800000000``, ``123456`` ...), or a number whose last eight
  digits are all equal or that runs ``12345678``;
* masked: a phone the DMS masked itself before export (``138****5678``): it holds
  :data:`PHONE_MASK_CHAR`, keeps its digits and asterisks when normalised and is of kind
  ``masked``. It is never compared: two masked phones that look alike may belong to different
  people, so masked records are linked by name, time and consultant only.
"""

from __future__ import annotations

import functools
import logging
import re

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: Numbers that data-entry staff type when the customer gives none (test / placeholder).
PLACEHOLDER_PHONES: frozenset[str] = frozenset(
    {
        "13800000000",
        "13888888888",
        "13900000000",
        "12345678901",
        "123456",
        "1234567",
        "12345678",
        "00000000000",
        "11111111111",
    }
)
#: The character a DMS writes in place of the hidden digits of a phone it masked itself.
PHONE_MASK_CHAR = "*"
_MASKED_NON_KEY = re.compile(r"[^\d*]")

#: Names that stand for "no name" or a test record.
PLACEHOLDER_NAMES: frozenset[str] = frozenset(
    {
        "测试",
        "test",
        "tests",
        "客户",
        "无",
        "无名",
        "未知",
        "123456",
        "xxx",
        "aaa",
        "匿名",
        "test1",
        "na",
        "n/a",
    }
)
_TITLES_ZH = ("先生", "女士", "小姐", "太太", "老板", "总", "哥", "姐")
_TITLES_EN = {"mr", "mrs", "ms", "miss", "mr.", "mrs.", "ms.", "dr", "dr."}
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "东方",
    "慕容",
    "令狐",
    "皇甫",
    "尉迟",
    "公孙",
    "夏侯",
    "端木",
)
#: readings of surnames that differ from the character's common reading
_SURNAME_READINGS = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "区": "ou",
    "乐": "yue",
    "盖": "ge",
    "缪": "miao",
    "翟": "zhai",
    "覃": "qin",
    "柏": "bai",
    "祭": "zhai",
    "长": "chang",
    "重": "chong",
    "沈": "shen",
    "薄": "bo",
    "贾": "jia",
    "任": "ren",
    "华": "hua",
}
# The 100 most common surnames (百家姓 by frequency); their pinyin decides whether a Latin
# token is a surname.
_COMMON_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_NON_DIGIT = re.compile(r"\D")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")
_RUN = "012345678901"


# -- phones --------------------------------------------------------------------------------------
def normalize_phone(raw: object) -> str | None:
    """Digits-only phone with the country code removed, or ``None`` when nothing usable.

    ``+86 138-1234-5678`` -> ``13812345678``; ``021 1234 5678`` -> ``02112345678``; a phone the
    DMS masked keeps its asterisks: ``138-****-5678`` -> ``138****5678``.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw is pd.NA:
        return None
    s = str(raw).strip()
    if not s:
        return None
    digits = (_MASKED_NON_KEY if PHONE_MASK_CHAR in s else _NON_DIGIT).sub("", s)
    if not digits:
        return None
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def normalize_phones(values: pd.Series) -> pd.Series:
    """Vectorised :func:`normalize_phone` (``str`` dtype, missing as ``NA``)."""
    s = values.astype("string").str.strip()
    masked = s.str.contains(PHONE_MASK_CHAR, regex=False, na=False)
    d = s.str.replace(r"\D", "", regex=True).where(
        ~masked, s.str.replace(_MASKED_NON_KEY.pattern, "", regex=True)
    )
    d = d.where(~d.str.startswith("0086", na=False), d.str[4:])
    d = d.where(~(d.str.startswith("86", na=False) & (d.str.len() == 13)), d.str[2:])
    return d.where(d.str.len() > 0)


def phone_kind(normalized: pd.Series) -> pd.Series:
    """Classify normalised phones: ``mobile``, ``landline``, ``placeholder``, ``masked``,
    ``invalid``, ``missing``."""
    s = normalized.astype("string")
    masked = s.str.contains(PHONE_MASK_CHAR, regex=False, na=False)
    mobile = s.str.fullmatch(_MOBILE.pattern, na=False)
    landline = s.str.fullmatch(_LANDLINE.pattern, na=False)
    tail = s.str[-8:]
    same = tail.str.fullmatch(r"(\d)\1{7}", na=False)
    run = s.isin([_RUN[:k] for k in range(6, 12)] + [_RUN[1 : 1 + k] for k in range(6, 12)]).fillna(
        False
    )
    placeholder = s.isin(PLACEHOLDER_PHONES).fillna(False) | same | run
    out = np.select(
        [
            s.isna().to_numpy(),
            masked.to_numpy(),
            placeholder.to_numpy(),
            mobile.to_numpy(),
            landline.to_numpy(),
        ],
        ["missing", "masked", "placeholder", "mobile", "landline"],
        default="invalid",
    )
    return pd.Series(out, index=normalized.index, dtype="str")


def mask_phone(values: pd.Series) -> pd.Series:
    """``13812345678`` -> ``138****5678`` (shorter numbers keep only their last two digits)."""
    s = values.astype("string")
    long = s.str.len() >= 7
    masked = s.str[:3] + "****" + s.str[-4:]
    short = "*" * 4 + s.str[-2:]
    return masked.where(long, short).where(s.notna())


def mask_name(values: pd.Series) -> pd.Series:
    """``张伟`` -> ``张*``; ``Wang Wei`` -> ``W***``."""
    s = values.astype("string").str.strip()
    cjk = s.str.contains(_CJK.pattern, na=False)
    out = (s.str[:1] + "*").where(cjk, s.str[:1] + "***")
    return out.where(s.notna() & (s.str.len() > 0))


# -- names ---------------------------------------------------------------------------------------
@functools.cache
def _pinyin_char(ch: str) -> str:
    from pypinyin import Style, lazy_pinyin  # pypinyin: its dictionary loads on first use

    return (
        lazy_pinyin(ch, style=Style.NORMAL, errors="ignore", v_to_u=False)[0]
        if _CJK.match(ch)
        else ch.lower()
    )


@functools.cache
def _surname_pinyins() -> frozenset[str]:
    return frozenset(_SURNAME_READINGS.get(c, _pinyin_char(c)) for c in _COMMON_SURNAMES)


@functools.cache
def name_keys(raw: str | None) -> tuple[str | None, str | None, str]:
    """``(surname_pinyin, full_pinyin, form)`` of one written name.

    ``form`` is ``hanzi`` (a full Chinese name), ``surname`` (surname with a title, ``王先生``,
    ``Mr Wang``), ``pinyin`` (``Wang Weiming``), ``english`` (``David Wang``: the forename carries
    nothing comparable), ``placeholder``, ``other`` or ``missing``. ``full_pinyin`` is the
    lower-case pinyin without spaces (``wangweiming``), or ``None`` when only the surname is known.
    """
    if raw is None:
        return None, None, "missing"
    s = str(raw).strip()
    if not s or s.lower() in {"nan", "none", "<na>"}:
        return None, None, "missing"
    if s.lower() in PLACEHOLDER_NAMES:
        return None, None, "placeholder"
    if _CJK.search(s):
        han = "".join(_CJK.findall(s))
        for t in _TITLES_ZH:
            if han.endswith(t) and len(han) > len(t):
                han = han[: -len(t)]
                sur = next((c for c in _COMPOUND_SURNAMES if han.startswith(c)), han[:1])
                return (
                    "".join(_SURNAME_READINGS.get(c, _pinyin_char(c)) for c in sur),
                    None,
                    "surname",
                )
        if han in PLACEHOLDER_NAMES:
            return None, None, "placeholder"
        sur = next(
            (c for c in _COMPOUND_SURNAMES if han.startswith(c) and len(han) > len(c)), han[:1]
        )
        sur_py = "".join(_SURNAME_READINGS.get(c, _pinyin_char(c)) for c in sur)
        if len(han) == len(sur):
            return sur_py, None, "surname"
        given = "".join(_pinyin_char(c) for c in han[len(sur) :])
        return sur_py, sur_py + given, "hanzi"
    tokens = [t for t in re.split(r"[\s.,_\-·]+", s.lower()) if t]
    titled = bool(tokens) and tokens[0] in _TITLES_EN
    tokens = [t for t in tokens if t not in _TITLES_EN]
    tokens = [t.replace("ü", "v").replace("u:", "v") for t in tokens]
    if not tokens or not all(t.isalpha() for t in tokens):
        return None, None, "other"
    surnames = _surname_pinyins()
    if len(tokens) == 1:
        t = tokens[0]
        if titled and t in surnames:
            return t, None, "surname"
        # a run-together pinyin name: "wangweiming"
        for k in (5, 4, 3, 2):
            if len(t) > k and t[:k] in surnames:
                return t[:k], t, "pinyin"
        return (t, None, "surname") if t in surnames else (None, None, "other")
    if tokens[0] in surnames and not titled:
        return tokens[0], "".join(tokens), "pinyin"
    if tokens[-1] in surnames:
        return tokens[-1], None, "english"
    return None, None, "other"


def name_frame(names: pd.Series) -> pd.DataFrame:
    """:func:`name_keys` for a column: ``surname_py``, ``full_py``, ``name_form`` (same index)."""
    codes, uniq = pd.factorize(names.astype("string"), use_na_sentinel=True)
    keys = [name_keys(str(u)) for u in uniq] + [(None, None, "missing")]
    sur = np.array([k[0] for k in keys], dtype=object)[codes]
    full = np.array([k[1] for k in keys], dtype=object)[codes]
    form = np.array([k[2] for k in keys], dtype=object)[codes]
    out = pd.DataFrame({"surname_py": sur, "full_py": full, "name_form": form}, index=names.index)
    return out.astype({"surname_py": "string", "full_py": "string", "name_form": "str"})


# -- probabilistic linkage -------------------------------------------------------------------------
#: Columns both sides of :func:`link_records` must carry.
LINK_COLUMNS = ("unique_id", "day", "staff_id", "phone", "surname_py", "full_py", "minute")


def _settings(prior: float):
    import splink.comparison_level_library as cll  # splink: heavy, probabilistic linkage only
    import splink.comparison_library as cl  # splink: heavy, probabilistic linkage only
    from splink import SettingsCreator, block_on  # splink: heavy, probabilistic linkage only

    phone = cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone"),
            cll.ExactMatchLevel("phone"),
            cll.CustomLevel(
                "length(phone_l) = length(phone_r) AND hamming(phone_l, phone_r) = 1",
                "one digit apart",
            ),
            cll.ElseLevel(),
        ],
    )
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("surname_py"),
            cll.CustomLevel("full_py_l = full_py_r", "same full name (pinyin)"),
            cll.CustomLevel(
                "surname_py_l = surname_py_r AND (full_py_l IS NULL OR full_py_r IS NULL)",
                "same surname, one side surname-only",
            ),
            cll.CustomLevel("surname_py_l = surname_py_r", "same surname, different given name"),
            cll.ElseLevel(),
        ],
    )
    minutes = cl.CustomComparison(
        output_column_name="minute",
        comparison_levels=[
            cll.NullLevel("minute"),
            cll.CustomLevel("abs(minute_l - minute_r) <= 20", "within 20 minutes"),
            cll.CustomLevel("abs(minute_l - minute_r) <= 120", "within 2 hours"),
            cll.CustomLevel("abs(minute_l - minute_r) <= 1440", "within a day"),
            cll.ElseLevel(),
        ],
    )
    staff = cl.ExactMatch("staff_id")
    return SettingsCreator(
        link_type="link_only",
        comparisons=[phone, name, minutes, staff],
        blocking_rules_to_generate_predictions=[
            block_on("day", "staff_id"),
            block_on("day", "phone"),
            block_on("day", "surname_py"),
        ],
        probability_two_random_records_match=prior,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def link_records(
    left: pd.DataFrame, right: pd.DataFrame, *, min_probability: float = 0.01
) -> pd.DataFrame:
    """Score candidate pairs between two record sets with a Fellegi-Sunter model (splink/DuckDB).

    Both frames carry :data:`LINK_COLUMNS`: ``unique_id``, ``day`` (ISO date, the blocking key),
    ``staff_id``, ``phone`` (normalised; a masked phone counts as missing), ``surname_py`` and ``full_py`` (see :func:`name_keys`)
    and ``minute`` (minutes since the epoch). Pairs are blocked on the same day and the same
    consultant, phone or surname. The ``u`` probabilities are estimated from random pairs and the
    ``m`` probabilities by expectation maximisation on two blockings (same day and consultant;
    same phone), so no labelled data is needed.

    Parameters
    ----------
    left, right
        The two record sets (for example front-desk arrivals and DMS visits).
    min_probability
        Pairs below this match probability are not returned.

    Returns
    -------
    DataFrame
        ``unique_id_l``, ``unique_id_r``, ``match_weight`` (log2 Bayes factor incl. the prior),
        ``match_probability``, and the comparison levels ``gamma_phone``, ``gamma_name``,
        ``gamma_minute``, ``gamma_staff_id``.
    """

    from splink import DuckDBAPI, Linker, block_on  # splink: heavy, probabilistic linkage only

    cols = list(LINK_COLUMNS)
    out_cols = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
    if not len(left) or not len(right):
        return pd.DataFrame(columns=out_cols)
    left = left[cols].copy()
    right = right[cols].copy()
    for frame in (left, right):
        # a phone masked before export is not compared (look-alike masks of different people)
        phone = frame["phone"].astype("string")
        frame["phone"] = phone.where(~phone.str.contains(PHONE_MASK_CHAR, regex=False, na=False))
    # blocked pairs on the same day: the prior is roughly one true pair per left record among them
    days_l = left["day"].value_counts()
    days_r = right["day"].value_counts()
    same_day = float((days_l * days_r.reindex(days_l.index, fill_value=0)).sum())
    n_pairs = float(len(left)) * float(len(right))
    # EM on the phone blocking needs pairs with an equal phone: none when every phone is missing
    # or masked (splink raises on an empty training blocking); then the phone m values stay
    # at their defaults and phones never agree anyway
    shared_phones = bool(set(left["phone"].dropna()) & set(right["phone"].dropna()))
    prior = float(np.clip(min(len(left), len(right)) / max(n_pairs, 1.0), 1e-9, 0.5))
    db = DuckDBAPI()
    sdf_l = db.register(left, table_name="link_left")
    sdf_r = db.register(right, table_name="link_right")
    # quiet splink for the duration of the call only; log_level=None keeps splink from
    # configuring logging itself (no global state changes)
    splink_logger = logging.getLogger("splink")
    old_level = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    try:
        linker = Linker([sdf_l, sdf_r], _settings(prior), log_level=None)
        linker.training.estimate_u_using_random_sampling(
            max_pairs=min(2e6, max(1e5, n_pairs / 4)), seed=1
        )
        if same_day > 0:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("day", "staff_id"), estimate_without_term_frequencies=True
            )
            if shared_phones:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on("phone"), estimate_without_term_frequencies=True
                )
        pred = linker.inference.predict(threshold_match_probability=min_probability)
        out = pred.as_pandas_dataframe()
    finally:
        splink_logger.setLevel(old_level)
    keep = [c for c in out.columns if c in out_cols or c.startswith("gamma_")]
    return out[keep].reset_index(drop=True)


def assign_one_to_one(
    pairs: pd.DataFrame,
    *,
    left: str = "unique_id_l",
    right: str = "unique_id_r",
    score: str = "match_weight",
    distance: str | None = None,
    distance_penalty: float = 0.01,
    min_score: float | None = None,
) -> pd.DataFrame:
    """Keep each left and each right record in at most one pair, maximising the total score.

    Candidate pairs form a bipartite graph; each connected component is solved exactly
    (:func:`scipy.optimize.linear_sum_assignment`) on ``score - distance_penalty * distance``.
    The small distance term breaks ties between equally scored candidates, such as two visits
    of the same person minutes apart: the distance is made strictly convex (``|d| + 1e-4 d^2``),
    so the optimum pairs them in time order. The result does not depend on the order of
    ``pairs``.

    Parameters
    ----------
    pairs
        Candidate pairs with ids ``left`` / ``right`` and ``score`` (higher is better).
    distance
        Optional column (for example minutes apart) used only to break ties.
    distance_penalty
        Score units subtracted per unit of ``distance``.
    min_score
        Pairs scoring below this are dropped first. Among the rest, a record may stay unmatched:
        the assignment maximises the total of ``score - min_score`` (a maximum-weight
        matching, not a forced one), so a record never takes a weak partner just to make room.
        ``None`` uses the lowest score present.

    Returns
    -------
    DataFrame
        The subset of ``pairs`` kept, sorted by descending score.
    """

    if not len(pairs):
        return pairs.copy()
    if min_score is not None:
        pairs = pairs[pairs[score] >= min_score]
        if not len(pairs):
            return pairs.copy()
    # the same candidates in any order give the same pairs: the solver breaks exact ties by
    # row and column order, so the rows are put in id order, and scores that differ only by
    # floating-point noise (splink's parallel sums vary in the last digits) count as equal
    p = pairs.sort_values([left, right], kind="stable").reset_index(drop=True)
    li, lu = pd.factorize(p[left])
    ri, ru = pd.factorize(p[right])
    value = np.round(p[score].to_numpy(float), 9)
    floor = float(min_score) if min_score is not None else float(value.min()) - 1.0
    if distance is not None:
        # |d| alone ties two people's crossed pairs (a1-v2 + a2-v1 can add up to a1-v1 +
        # a2-v2); a small square term makes the distance strictly convex, so time order wins
        d = np.abs(p[distance].to_numpy(float))
        value = value - distance_penalty * (d + 1e-4 * d * d)
    n_l, n_r = len(lu), len(ru)
    graph = coo_matrix((np.ones(len(p)), (li, n_l + ri)), shape=(n_l + n_r, n_l + n_r))
    _, comp = connected_components(graph, directed=False)
    edge_comp = comp[li]
    sizes = np.bincount(edge_comp, minlength=comp.max() + 1)
    keep = np.zeros(len(p), dtype=bool)
    keep[sizes[edge_comp] == 1] = True  # a component with one candidate pair
    multi = np.flatnonzero(sizes[edge_comp] > 1)
    if len(multi):
        order = multi[np.argsort(edge_comp[multi], kind="stable")]
        bounds = np.flatnonzero(np.diff(edge_comp[order])) + 1
        for grp in np.split(order, bounds):
            a, ai = np.unique(li[grp], return_inverse=True)
            b, bi = np.unique(ri[grp], return_inverse=True)
            na, nb = len(a), len(b)
            # rows: left records then one dummy per right record; columns: right records then
            # one dummy per left record. A record matched to its dummy stays unmatched (gain 0).
            cost = np.full((na + nb, nb + na), 1e9)
            cost[na:, nb:] = 0.0
            cost[np.arange(na), nb + np.arange(na)] = 0.0
            cost[na + np.arange(nb), np.arange(nb)] = 0.0
            best = np.full((na, nb), -1)
            for e, x, y in zip(grp, ai, bi, strict=True):
                gain = max(value[e] - floor, 0.0)
                if -gain < cost[x, y]:
                    cost[x, y] = -gain
                    best[x, y] = e
            rows, cols = linear_sum_assignment(cost)
            real = (rows < na) & (cols < nb)
            chosen = best[rows[real], cols[real]]
            keep[chosen[chosen >= 0]] = True
    return p.loc[keep].sort_values(score, ascending=False, kind="stable").reset_index(drop=True)


__all__ = [
    "LINK_COLUMNS",
    "assign_one_to_one",
    "link_records",
    "PLACEHOLDER_NAMES",
    "PLACEHOLDER_PHONES",
    "PHONE_MASK_CHAR",
    "mask_name",
    "mask_phone",
    "name_frame",
    "name_keys",
    "normalize_phone",
    "normalize_phones",
    "phone_kind",
]
