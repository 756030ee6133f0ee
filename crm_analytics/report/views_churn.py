"""The churn page's tables: the highest-risk customers with their reasons, the backtest of
the risk ranking against the rules a service manager could use without a model, and the open
leads' grades.

Each view takes the run's analysis (numbers computed once) and a language and returns a table
in the reader's words, like :mod:`crm_analytics.report.views_lists`.
"""

from __future__ import annotations

import pandas as pd

from crm_analytics.models.scoring import auc_interval
from crm_analytics.report.analysis import DealerAnalysis
from crm_analytics.report.sections import translate
from crm_analytics.report.text import fmt_date, fmt_prob, is_missing, label, t

__all__ = [
    "churn_check_date",
    "churn_check_view",
    "churn_quality_text",
    "fmt_auc",
    "lead_grades_view",
    "top_risk_view",
]


def fmt_auc(auc: float, n: float, positive_rate: float) -> str:
    """A ranking accuracy with its 95% interval (:func:`crm_analytics.models.scoring.
    auc_interval`) over ``n`` customers of whom ``positive_rate`` are positive:
    ``82% (78–86%)``."""
    if is_missing(auc):
        return "–"
    n_pos = int(round(float(n) * float(positive_rate)))
    lo, hi = auc_interval(float(auc), n_pos, int(n) - n_pos)
    return f"{auc:.0%}" if is_missing(lo) else f"{auc:.0%} ({lo * 100:.0f}–{hi:.0%})"


def top_risk_view(a: DealerAnalysis, lang: str, *, n: int = 25) -> pd.DataFrame:
    """The ``n`` active customers most likely to churn, with their three main reasons (ids
    only: no personal data)."""
    top = a.churn_scores.sort_values("churn_probability", ascending=False).head(n)
    return translate(
        pd.DataFrame(
            {
                "customer_id": top["customer_id"].to_numpy(),
                "churn_probability": [fmt_prob(v) for v in top["churn_probability"]],
                "risk_band": [label(b, lang) for b in top["risk_band"]],
                **{
                    f"reason_{k}": [
                        label(f"churn.{c}", lang) if isinstance(c, str) else "–"
                        for c in top[f"reason_{k}"]
                    ]
                    for k in (1, 2, 3)
                },
            }
        ),
        lang,
    )


def churn_check_view(a: DealerAnalysis, lang: str) -> pd.DataFrame:
    """The backtest of the churn ranking (:attr:`DealerAnalysis.churn_backtest`): each method's
    ranking accuracy with its 95% interval, top-decile lift and the churn rate, without the
    simulator's oracle (not a method a dealer has)."""
    bt = a.churn_backtest.summary()
    bt = bt.loc[bt["method"] != "oracle"]
    return translate(
        pd.DataFrame(
            {
                "method": [label(f"method.{m}", lang) for m in bt["method"]],
                "roc_auc": [
                    fmt_auc(*row) for row in bt[["roc_auc", "n", "positive_rate"]].to_numpy()
                ],
                "lift_top_decile": [f"{v:.1f}" for v in bt["lift_top_decile"]],
                "positive_rate": [f"{v:.1%}" for v in bt["positive_rate"]],
            }
        ).set_index("method"),
        lang,
    )


def churn_check_date(a: DealerAnalysis) -> str:
    """The date the churn backtest evaluated the ranking at (the backtest's own cutoff, not
    recomputed from the data date)."""
    return fmt_date(max(a.churn_backtest.train_cutoffs))


def churn_quality_text(a: DealerAnalysis, lang: str) -> str | None:
    """The report's one sentence on the churn ranking's backtest: the evaluation date, the
    riskiest tenth's lift and the model's ranking accuracy with its 95% interval (None without
    a backtest)."""
    if a.churn_backtest is None:
        return None
    row = a.churn_backtest.summary().set_index("method").loc["model"]
    return t(
        "churn_quality",
        lang,
        cutoff=churn_check_date(a),
        lift=f"{row['lift_top_decile']:.1f}",
        auc=fmt_auc(row["roc_auc"], row["n"], row["positive_rate"]),
    )


def lead_grades_view(a: DealerAnalysis, lang: str, *, n: int = 25) -> pd.DataFrame:
    """The ``n`` open leads most likely to order within 30 days (:attr:`DealerAnalysis.
    lead_scores`): the grade the consultant recorded, the model's grade and P(order within 7,
    30 and 90 days)."""
    top = a.lead_scores.sort_values("p_30d", ascending=False).head(n)
    return translate(
        pd.DataFrame(
            {
                "lead_id": top["lead_id"].to_numpy(),
                "recorded_grade": top["recorded_grade"].fillna("–").to_numpy(),
                "grade": top["grade"].to_numpy(),
                **{f"p_{h}d": [fmt_prob(v) for v in top[f"p_{h}d"]] for h in (7, 30, 90)},
            }
        ),
        lang,
    )
