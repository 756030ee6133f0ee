"""Charts shared by the notebooks (seaborn / matplotlib).

Every function draws on a given ``ax`` (or a new figure) and returns the ``Axes``; nothing
here sets a global style at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from crm_analytics.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["plot_holdout"]

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
        Output of :func:`crm_analytics.rfm.holdout_table` (index ``frequency_cal``, columns
        ``actual`` and ``predicted``).
    ax
        Axes to draw on; a new figure is created when ``None``.
    lang
        Label language, ``"en"`` or ``"zh"``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

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
