"""Random-draw helpers shared by the simulator's stages: choices, persona-weighted draws,
names and phones, ids, and event times inside opening hours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crm_analytics.sim.config import PERSONA_PROFILE

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程苏魏吕丁任沈姚卢"
_SURNAME_PINYIN = (
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Gao Lin Luo Zheng Liang Xie Song Tang "
    "Xu Han Feng Deng Cao Peng Zeng Xiao Tian Dong Yuan Pan Cai Jiang Yu Yu Du Ye Cheng Su Wei Lv Ding Ren Shen Yao Lu"
).split()
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国志红飞宇浩然子涵欣怡梓轩雨婷晨阳思远"
_GIVEN_PINYIN = (
    "Wei Fang Na Min Jing Li Qiang Lei Jun Yang Yong Yan Jie Juan Tao Ming Chao Xiu Xia Ping Gang Gui Ying Hua Yu Lan "
    "Ping Peng Hui Jian Guo Zhi Hong Fei Yu Hao Ran Zi Han Xin Yi Zi Xuan Yu Ting Chen Yang Si Yuan"
).split()
ENGLISH_NAMES = (
    "David",
    "Michael",
    "Kevin",
    "Jason",
    "Tony",
    "Linda",
    "Grace",
    "Cindy",
    "Jack",
    "Vivian",
    "Eric",
    "Amy",
)
_MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        158,
        159,
        177,
        180,
        181,
        186,
        187,
        188,
        189,
        199,
    ]
)


def sigmoid(x):
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def choice(rng: np.random.Generator, options: Sequence, n: int, p=None) -> np.ndarray:
    """``n`` options drawn with replacement, with weights ``p`` (normalised) or uniformly."""
    p = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=p)]


def sample_sets(
    rng: np.random.Generator, options: Sequence[str], weights, sizes: np.ndarray
) -> np.ndarray:
    """Draw ``sizes[i]`` distinct options for each row, without replacement, as sorted
    ';'-joined strings (Gumbel top-k: the same law as sequential weighted draws)."""
    n, k = len(sizes), len(options)
    keys = np.log(np.asarray(weights, float))[None, :] + rng.gumbel(size=(n, k))
    rank = np.argsort(-keys, axis=1).argsort(axis=1)
    chosen = rank < np.asarray(sizes)[:, None]
    bits = chosen @ (1 << np.arange(k))
    names = sorted(range(k), key=lambda j: options[j])
    lookup = {b: ";".join(options[j] for j in names if b >> j & 1) for b in np.unique(bits)}
    return np.array([lookup[b] for b in bits], dtype=object)


def persona_draw(
    rng: np.random.Generator,
    personas: np.ndarray,
    options: Sequence[str],
    field: int,
    size: int = 0,
) -> np.ndarray:
    """One option per row (or ``size`` distinct ones, ';'-joined) from its persona's weights."""
    out = np.empty(len(personas), dtype=object)
    for k, prof in PERSONA_PROFILE.items():
        m = personas == k
        c = int(m.sum())
        if c:
            w = prof[field]
            out[m] = (
                choice(rng, options, c, w)
                if not size
                else sample_sets(rng, options, w, np.full(c, size))
            )
    return out


def make_ids(prefix: str, n: int, start: int = 0, width: int = 6) -> np.ndarray:
    """Ids ``prefix`` + zero-padded ``start .. start + n - 1``."""
    return np.array([f"{prefix}{i:0{width}d}" for i in range(start, start + n)], dtype=object)


def draw_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random 11-digit mainland mobile numbers."""
    pre = rng.choice(_MOBILE_PREFIXES, size=n)
    rest = rng.integers(0, 100_000_000, size=n)
    return np.array([f"{a}{b:08d}" for a, b in zip(pre, rest, strict=True)], dtype=object)


def draw_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chinese names, their pinyin, and the surname index (for surname-only entries)."""
    s = rng.integers(0, len(_SURNAMES), size=n)
    g1 = rng.integers(0, len(_GIVEN), size=n)
    g2 = rng.integers(0, len(_GIVEN), size=n)
    two = rng.random(n) < 0.6
    zh, py = [], []
    for i in range(n):
        if two[i]:
            zh.append(_SURNAMES[s[i]] + _GIVEN[g1[i]] + _GIVEN[g2[i]])
            py.append(
                f"{_SURNAME_PINYIN[s[i]]} {_GIVEN_PINYIN[g1[i]]}{_GIVEN_PINYIN[g2[i]].lower()}"
            )
        else:
            zh.append(_SURNAMES[s[i]] + _GIVEN[g1[i]])
            py.append(f"{_SURNAME_PINYIN[s[i]]} {_GIVEN_PINYIN[g1[i]]}")
    return np.array(zh, dtype=object), np.array(py, dtype=object), s


def days(values) -> np.ndarray:
    """Float days -> timedelta64[s] (second resolution keeps times realistic)."""
    return (np.asarray(values, dtype=float) * 86400.0).round().astype("timedelta64[s]")


def shop_hours(
    rng: np.random.Generator, dates: np.ndarray, open_h: int, close_h: int
) -> np.ndarray:
    """Place event times on their day, inside opening hours."""
    day = dates.astype("datetime64[D]")
    secs = rng.integers(open_h * 3600, close_h * 3600 - 1800, size=len(day))
    return day.astype("datetime64[s]") + secs.astype("timedelta64[s]")


def not_before(t: np.ndarray, floor: np.ndarray, gap_s: int = 900) -> np.ndarray:
    """``t`` moved to ``floor + gap`` where it fell before ``floor`` (same-day reshuffles)."""
    lo = np.asarray(floor, dtype="datetime64[s]") + np.timedelta64(gap_s, "s")
    return np.where(t < lo, lo, t)


def visit_near(
    who: np.ndarray,
    when: np.ndarray,
    v_who: np.ndarray,
    v_at: np.ndarray,
    before_days: float = 90,
    after_days: float = 30,
) -> np.ndarray:
    """Whether owner ``who[i]`` has a visit in ``[when[i] - before, when[i] + after]``."""
    base = np.datetime64("1970-01-01", "s")
    span = np.int64(10**10)  # seconds: wider than any time range here
    keys = np.sort(v_who.astype(np.int64) * span + (v_at - base).astype(np.int64))
    t = (np.asarray(when, dtype="datetime64[s]") - base).astype(np.int64)
    lo = who.astype(np.int64) * span + t - np.int64(before_days * 86400)
    hi = who.astype(np.int64) * span + t + np.int64(after_days * 86400)
    i = np.searchsorted(keys, lo, side="left")
    ok = i < len(keys)
    ok[ok] = keys[i[ok]] <= hi[ok]
    return ok
