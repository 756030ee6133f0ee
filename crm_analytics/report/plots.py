"""Charts shared by the notebooks (seaborn / matplotlib), in one visual style, zh / en labels.

Nothing here changes global state at import. A notebook calls :func:`apply_style` once (it sets
seaborn's theme for that kernel and returns the language the labels will really use); library
code that must not touch global state draws inside ``with style_context(lang):``.

Chinese labels need a CJK font. :func:`cjk_font` finds one among the installed fonts (also
fonts installed after matplotlib built its font cache, e.g. Debian's ``fonts-wqy-microhei``).
Without one, ``zh`` falls back to English labels with a :class:`FontFallbackWarning`: a chart
with empty boxes instead of characters is never drawn.

Every chart function draws on a given ``ax`` (or a new figure) and returns the ``Axes``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm_analytics.core.errors import InputError
from crm_analytics.report.text import format_yuan, label

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "FontFallbackWarning",
    "plot_holdout",
    "LANGUAGES",
    "apply_style",
    "cjk_font",
    "format_yuan",
    "label",
    "plot_funnel",
    "plot_gaps",
    "plot_kpi_comparison",
    "plot_monthly",
    "plot_bars",
    "plot_quality",
    "plot_ranking",
    "resolve_language",
    "style_context",
    "style_rc",
]

# =============================================================================================
# Report style, fonts, labels (report branch). Other chart families live in their own sections
# below; keep each section self-contained so branches merge without touching each other.
# =============================================================================================

LANGUAGES: tuple[str, ...] = ("en", "zh")

#: CJK font families searched in order (file-name fragments in brackets are tried as well).
_CJK_FAMILIES: tuple[str, ...] = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)
_CJK_FILE_HINTS: tuple[str, ...] = ("wqy", "notosanscjk", "notosanssc", "sourcehansans", "simhei")


class FontFallbackWarning(UserWarning):
    """Chinese labels were asked for but no CJK font is installed: English labels are used."""


@cache
def cjk_font() -> str | None:
    """The family name of an installed font that renders Chinese, or ``None``.

    Looks in matplotlib's font list first, then in the system font folders for font files that
    matplotlib's cached list does not know yet (a font installed after the cache was built);
    such a file is registered with ``fontManager.addfont`` (this affects only matplotlib's font
    lookup, never the chart style). The result is cached per process.
    """
    # matplotlib: charts only (workers writing workbooks never load it)
    from matplotlib import font_manager as fm

    known = {f.name for f in fm.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in known:
            return family
    for path in fm.findSystemFonts():
        low = path.lower().replace("-", "").replace("_", "")
        if any(h in low for h in _CJK_FILE_HINTS):
            try:
                fm.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # unreadable font file: try the next
                continue
    known = {f.name for f in fm.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in known:
            return family
    return None


def resolve_language(lang: str) -> str:
    """The label language charts will really use for ``lang``.

    ``"zh"`` needs a CJK font (:func:`cjk_font`); without one this warns with
    :class:`FontFallbackWarning` and returns ``"en"``.

    Raises
    ------
    InputError
        When ``lang`` is not one of :data:`LANGUAGES`.
    """
    if lang not in LANGUAGES:
        raise InputError(f"language {lang!r} is not supported; use one of {list(LANGUAGES)}.")
    if lang == "zh" and cjk_font() is None:
        warnings.warn(
            "No CJK font is installed, so charts use English labels instead of Chinese. "
            "Install one (Debian/Ubuntu: apt-get install fonts-wqy-microhei) to get Chinese labels.",
            FontFallbackWarning,
            stacklevel=2,
        )
        return "en"
    return lang


def style_rc(lang: str = "en") -> dict[str, Any]:
    """The matplotlib rc settings of the report style (seaborn ``talk`` context, white grid).

    Large fonts and thick lines so a chart reads on a projector from the back of a room; the
    colour-blind-safe palette; a CJK font first in the sans-serif list when ``lang == "zh"``.
    """
    import seaborn as sns  # plotting stack: loaded by chart functions only
    from cycler import cycler  # plotting stack: loaded by chart functions only

    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("talk", font_scale=0.9))
    rc.update(
        {
            "figure.figsize": (11.0, 5.5),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
            "axes.titlesize": 18,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": cycler(color=sns.color_palette("colorblind")),
            "axes.unicode_minus": False,
            "legend.frameon": False,
        }
    )
    font = cjk_font() if lang == "zh" else None
    if font is not None:
        rc["axes.titleweight"] = "normal"  # CJK fonts ship one weight: no faux-bold fallback log
        rc["font.family"] = "sans-serif"
        rc["font.sans-serif"] = [font, "DejaVu Sans"]
    return rc


def apply_style(lang: str = "en") -> str:
    """Set the report style for this process (call once at the top of a notebook).

    Returns the language labels will use (``"en"`` when ``"zh"`` has no font, with a warning).
    """
    import matplotlib as mpl  # plotting stack: loaded by chart functions only

    eff = resolve_language(lang)
    mpl.rcParams.update(style_rc(eff))
    return eff


@contextlib.contextmanager
def style_context(lang: str = "en") -> Iterator[str]:
    """Draw in the report style without changing global settings; yields the label language."""
    import matplotlib.pyplot as plt  # plotting stack: loaded by chart functions only

    eff = resolve_language(lang)
    with plt.rc_context(style_rc(eff)):
        yield eff


# The labels and money format live in the report's one glossary (crm_analytics.report.text).


def _new_ax(ax: Axes | None, size: tuple[float, float] | None = None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # plotting stack: loaded by chart functions only

    _, ax = plt.subplots(figsize=size)
    return ax


def _need(frame: pd.DataFrame, cols: set[str], where: str) -> None:
    missing = cols - set(frame.columns)
    if missing:
        raise InputError(f"{where}: the table lacks column(s) {sorted(missing)}.")


def plot_funnel(counts: Mapping[str, float], *, lang: str = "en", ax: Axes | None = None) -> Axes:
    """Horizontal funnel bars (stage -> count) with the step conversion rate on each bar.

    Parameters
    ----------
    counts
        Ordered mapping stage key -> count, e.g. ``{"leads": 900, "visited": 410, ...}``.
    """
    import seaborn as sns  # plotting stack: loaded by chart functions only

    ax = _new_ax(ax)
    keys = list(counts)
    values = [float(counts[k]) for k in keys]
    names = [label(k, lang) for k in keys]
    sns.barplot(x=values, y=names, ax=ax, color=sns.color_palette("colorblind")[0], orient="h")
    top = max(values) if values and max(values) > 0 else 1.0
    for i, v in enumerate(values):
        text = f"{v:,.0f}"
        if i > 0 and values[i - 1] > 0:
            text += f"  ({v / values[i - 1]:.0%})"
        ax.text(v + top * 0.01, i, text, va="center")
    ax.set_xlim(0, top * 1.25)
    ax.set_title(label("funnel_title", lang))
    ax.set_xlabel(label("count", lang))
    ax.set_ylabel("")
    return ax


def plot_kpi_comparison(table: pd.DataFrame, *, lang: str = "en", ax: Axes | None = None) -> Axes:
    """Rates against target and peer median: one group of horizontal bars per KPI.

    Parameters
    ----------
    table
        Index = KPI key; columns ``actual`` and any of ``target``, ``peer``, ``previous``
        (rates in [0, 1]).
    """
    import matplotlib.ticker as mticker  # plotting stack: loaded by chart functions only
    import seaborn as sns  # plotting stack: loaded by chart functions only

    _need(table, {"actual"}, "plot_kpi_comparison")
    cols = [c for c in ("actual", "target", "peer", "previous") if c in table.columns]
    long = (
        table[cols]
        .rename_axis("kpi")
        .reset_index()
        .melt(id_vars="kpi", var_name="series", value_name="value")
        .dropna(subset=["value"])
    )
    long["kpi"] = [label(k, lang) for k in long["kpi"]]
    long["series"] = [label(s, lang) for s in long["series"]]
    ax = _new_ax(ax, (11.0, 0.9 + 0.75 * len(table)))
    pal = sns.color_palette("colorblind")
    colours = {"actual": pal[0], "target": pal[1], "peer": pal[2], "previous": (0.7, 0.7, 0.7)}
    sns.barplot(
        data=long,
        x="value",
        y="kpi",
        hue="series",
        orient="h",
        ax=ax,
        palette={label(k, lang): v for k, v in colours.items()},
    )
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.set_title(label("kpi_title", lang))
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.legend(title=None, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_gaps(
    gaps: pd.DataFrame, *, lang: str = "en", ax: Axes | None = None, top: int = 6
) -> Axes:
    """The biggest gaps in yuan (horizontal bars, largest first, value printed on each bar).

    Parameters
    ----------
    gaps
        Columns ``kpi``, ``against`` (``"target"`` or ``"peer"``) and ``gap_yuan``, as returned
        by :func:`crm_analytics.report.headline.gaps_in_yuan`.
    """
    import matplotlib.ticker as mticker  # plotting stack: loaded by chart functions only
    import seaborn as sns  # plotting stack: loaded by chart functions only

    _need(gaps, {"kpi", "against", "gap_yuan"}, "plot_gaps")
    g = gaps.sort_values("gap_yuan", ascending=False).head(top)
    names = [
        f"{label(k, lang)} ({label('gap_vs_' + a, lang)})"
        for k, a in zip(g["kpi"], g["against"], strict=True)
    ]
    ax = _new_ax(ax, (11.0, 1.0 + 0.8 * max(len(g), 1)))
    palette = sns.color_palette("colorblind")
    colors = [palette[3] if a == "target" else palette[0] for a in g["against"]]
    ax.barh(range(len(g)), g["gap_yuan"].to_numpy(), color=colors)
    ax.set_yticks(range(len(g)), names)
    ax.invert_yaxis()
    peak = float(g["gap_yuan"].max()) if len(g) else 1.0
    for i, v in enumerate(g["gap_yuan"]):
        ax.text(v + peak * 0.01, i, format_yuan(v, lang), va="center")
    ax.set_xlim(0, peak * 1.3 if peak > 0 else 1.0)
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: format_yuan(v, lang)))
    ax.set_title(label("gaps_title", lang))
    ax.set_xlabel("")
    return ax


def plot_monthly(
    frame: pd.DataFrame,
    *,
    x: str = "month",
    y: str = "count",
    hue: str | None = None,
    title: str = "",
    lang: str = "en",
    ax: Axes | None = None,
    stacked: bool = False,
) -> Axes:
    """A monthly trend: one line per ``hue`` value, or stacked bars (``stacked=True``, easier
    to read with many series). Channel keys get their display labels."""
    import seaborn as sns  # plotting stack: loaded by chart functions only

    _need(frame, {x, y} | ({hue} if hue else set()), "plot_monthly")
    data = frame
    if hue:
        data = frame.assign(**{hue: [label(str(v), lang) for v in frame[hue]]})
    ax = _new_ax(ax)
    if stacked and hue:
        wide = data.pivot_table(index=x, columns=hue, values=y, aggfunc="sum", fill_value=0)
        wide.index = [pd.Timestamp(i).strftime("%Y-%m") for i in wide.index]
        wide.plot.bar(
            stacked=True, ax=ax, width=0.85, color=sns.color_palette("colorblind", wide.shape[1])
        )
        # a series with no row in a month is a zero-height bar on top of that month's stack;
        # its edge is "sticky" in matplotlib, so the tallest bar would end on the frame
        top = float(wide.sum(axis=1).max())
        ax.set_ylim(0.0, top * 1.05 if top > 0 else 1.0)
        ax.tick_params(axis="x", labelrotation=45)
    else:
        sns.lineplot(data=data, x=x, y=y, hue=hue, marker="o", ax=ax)
    ax.set_title(title)
    ax.set_xlabel(label(x, lang))
    ax.set_ylabel(label(y, lang))
    if hue:
        ax.legend(title=None, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_bars(
    values: pd.Series,
    *,
    title: str = "",
    lang: str = "en",
    kind: str = "count",
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of one value per label (largest first), the value printed on each bar.

    Parameters
    ----------
    values
        Index: keys (shown through :func:`label`), values: numbers; NaN rows are dropped.
    title
        A label key or plain text.
    kind
        ``"count"``, ``"percent"`` (shares 0-1), ``"yuan"`` or ``"score"`` (0-100): how values
        are written.
    """
    import seaborn as sns  # plotting stack: loaded by chart functions only

    v = pd.to_numeric(values, errors="coerce").dropna().sort_values(ascending=False)
    fmt = {
        "percent": lambda x: f"{x:.1%}",
        "yuan": lambda x: format_yuan(x, lang),
        "score": lambda x: f"{x:.1f}",
    }.get(kind, lambda x: f"{x:,.0f}")
    ax = _new_ax(ax, (11.0, 1.2 + 0.6 * max(len(v), 1)))
    ax.barh(range(len(v)), v.to_numpy(), color=sns.color_palette("colorblind")[0])
    ax.set_yticks(range(len(v)), [label(str(k), lang) for k in v.index])
    ax.invert_yaxis()
    peak = float(v.abs().max()) if len(v) else 1.0
    for i, x in enumerate(v):
        ax.text(max(x, 0) + peak * 0.01, i, fmt(float(x)), va="center")
    lo = min(0.0, float(v.min())) if len(v) else 0.0
    ax.set_xlim(lo * 1.1, peak * 1.25 if peak > 0 else 1.0)
    ax.set_xticks([])
    ax.grid(False)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(label(title, lang) if title else "")
    ax.set_xlabel("")
    return ax


def plot_ranking(
    frame: pd.DataFrame,
    *,
    metric: str,
    name: str = "dealer_id",
    lang: str = "en",
    ax: Axes | None = None,
    percent: bool = True,
) -> Axes:
    """Dealers ranked on one metric (best at the top) with the network median as a line."""
    import matplotlib.ticker as mticker  # plotting stack: loaded by chart functions only
    import seaborn as sns  # plotting stack: loaded by chart functions only

    _need(frame, {metric, name}, "plot_ranking")
    data = frame[[name, metric]].dropna().sort_values(metric, ascending=False)
    ax = _new_ax(ax, (11.0, 1.0 + 0.5 * max(len(data), 1)))
    sns.barplot(
        data=data,
        x=metric,
        y=name,
        orient="h",
        ax=ax,
        color=sns.color_palette("colorblind")[0],
    )
    if len(data):
        med = float(data[metric].median())
        ax.axvline(med, color="0.3", linestyle="--", linewidth=2, label=label("median", lang))
        ax.legend(loc="lower right")
    if percent:
        ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.set_title(f"{label('ranking_title', lang)}: {label(metric, lang)}")
    ax.set_xlabel("")
    ax.set_ylabel("")
    return ax


def plot_quality(summary: pd.DataFrame, *, lang: str = "en", ax: Axes | None = None) -> Axes:
    """Share of rows quarantined per table (from :meth:`DealerData.summary`)."""
    import matplotlib.ticker as mticker  # plotting stack: loaded by chart functions only
    import seaborn as sns  # plotting stack: loaded by chart functions only

    _need(summary, {"table", "rows_in", "quarantined"}, "plot_quality")
    s = summary.copy()
    denom = s["rows_in"].where(s["rows_in"] > 0)
    s["share"] = (s["quarantined"] / denom).fillna(0.0)
    ax = _new_ax(ax, (11.0, 1.0 + 0.5 * len(s)))
    sns.barplot(data=s, x="share", y="table", orient="h", ax=ax, color=sns.color_palette()[3])
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlim(0, max(0.05, float(s["share"].max()) * 1.2))
    ax.set_title(label("quality_title", lang))
    ax.set_xlabel("")
    ax.set_ylabel("")
    return ax


# =============================================================================================
# Model diagnostics (btyd branch)
# =============================================================================================

_HOLDOUT_LABELS = {
    "en": {
        "title": "Holdout visits: predicted vs actual",
        "x": "Visits in calibration period",
        "y": "Mean visits in holdout period",
        "actual": "actual",
        "predicted": "predicted",
    },
    "zh": {
        "title": "验证期到店次数：预测 vs 实际",
        "x": "校准期到店次数",
        "y": "验证期平均到店次数",
        "actual": "实际",
        "predicted": "预测",
    },
}


def plot_holdout(table: pd.DataFrame, *, ax: Axes | None = None, lang: str = "en") -> Axes:
    """Predicted vs actual mean holdout visits by calibration frequency.

    Parameters
    ----------
    table
        Output of :func:`crm_analytics.metrics.rfm.holdout_table` (index ``frequency_cal``, columns
        ``actual`` and ``predicted``).
    ax
        Axes to draw on; a new figure is created when ``None``.
    lang
        Label language, ``"en"`` or ``"zh"``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt  # plotting stack: loaded by chart functions only
    import seaborn as sns  # plotting stack: loaded by chart functions only

    if lang not in _HOLDOUT_LABELS:
        raise InputError(f"plot_holdout: lang must be one of {sorted(_HOLDOUT_LABELS)}.")
    missing = {"actual", "predicted"} - set(table.columns)
    if missing:
        raise InputError(f"plot_holdout: table lacks column(s) {sorted(missing)}.")
    lab = _HOLDOUT_LABELS[lang]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ticks = [str(i) for i in table.index]
    pooled = table.attrs.get("pooled_from")
    if pooled is not None and len(ticks) and int(table.index[-1]) == int(pooled):
        ticks[-1] = f"{pooled}+"
    long = pd.DataFrame(
        {
            "frequency_cal": ticks * 2,
            "visits": list(table["actual"]) + list(table["predicted"]),
            "series": [lab["actual"]] * len(ticks) + [lab["predicted"]] * len(ticks),
        }
    )
    sns.lineplot(
        data=long, x="frequency_cal", y="visits", hue="series", style="series", markers=True, ax=ax
    )
    ax.set_title(lab["title"])
    ax.set_xlabel(lab["x"])
    ax.set_ylabel(lab["y"])
    ax.legend(title=None)
    return ax
