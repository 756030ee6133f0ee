# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Parameters (papermill injects a dealer's values after this cell; see params/*.yaml).
source = "../data/sample"
dealer_id = "D001"
period_start = None
period_end = None
comparison_start = None
comparison_end = None
targets = {}  # overrides of params/targets.yaml (the one home of KPI targets)
language = "en"
mask_personal_data = True
notes = ""
benchmark_path = None
analysis_path = None  # the batch run's analysis of this dealer (None: analyse it here)

# %% tags=["remove"]
import matplotlib.pyplot as plt
import pandas as pd

from crm_analytics.report import display as out
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots

analysis, lang = nb.open_analysis(
    source,
    dealer_id,
    period_start,
    period_end,
    comparison_start,
    comparison_end,
    language,
    targets=targets,
    analysis_path=analysis_path,
)
dealer, settings = analysis.dealer, analysis.settings
(start, end), (cstart, cend) = analysis.period, analysis.comparison

# the run's churn model (trained once, at three dates 12-18 months before the data date; the
# network's model for a dealer too small for its own) and its scores: the same as in the report
model, scores = analysis.churn_model, analysis.churn_scores

# %%
nb.show_header(dealer, "churn", language, (start, end), (cstart, cend))

# %%
# Active service customers per churn-risk band (calibrated probability of no visit in 12 months).
if model is None:
    out.show_text(analysis.churn_note, muted=True)
else:
    plots.plot_bars(analysis.band_counts(), title="churn_bands_title", lang=lang)
    plt.show()
    out.show_text(
        f"{len(scores):,} active customers; "
        f"expected churners {scores['churn_probability'].sum():,.0f}"
    )

# %%
# The highest-risk customers with their three main reasons (ids only: no personal data here).
top = scores.sort_values("churn_probability", ascending=False).head(25) if len(scores) else None
if top is not None:
    out.show_table(
        top[
            [
                "customer_id",
                "churn_probability",
                "risk_band",
                "reason_1_text",
                "reason_2_text",
                "reason_3_text",
            ]
        ],
        formatters={"churn_probability": out.fmt_percent},
        index=False,
    )

# %%
# Honest backtest: trained before, evaluated 12 months before the data date, against baselines.
backtest = analysis.churn_backtest
if backtest is not None:
    out.show_table(
        backtest.summary(),
        formatters={
            c: "{:.3f}".format
            for c in ["positive_rate", "roc_auc", "pr_auc", "brier", "lift_top_decile", "ece"]
        },
        index=False,
    )
if model is not None:
    out.show_text(model.model_card(backtest))

# %%
# Open leads scored: P(order within 7/15/30/90 days) and the H/A/B/C grade. One dealer has too
# few lead snapshots for its own model, so the run fits one model pooled over the network.
lead_scores = analysis.lead_scores
if not len(lead_scores):
    out.show_text(analysis.lead_note, muted=True)
else:
    out.show_table(lead_scores["grade"].value_counts().sort_index().to_frame("open leads"))
    out.show_table(
        lead_scores.sort_values("p_30d", ascending=False)[
            [
                "lead_id",
                "consultant_id",
                "recorded_grade",
                "grade",
                "p_7d",
                "p_30d",
                "p_90d",
                "reason_1_text",
            ]
        ].head(25),
        formatters=dict.fromkeys(["p_7d", "p_30d", "p_90d"], out.fmt_percent),
        index=False,
    )
