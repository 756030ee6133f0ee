# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
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

# %% tags=["remove"]
import matplotlib.pyplot as plt
import pandas as pd
from crm_analytics.data.store import list_dealers, load_dealer

from crm_analytics.models import churn, leads
from crm_analytics.report import display as out
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots

dealer, lang, (start, end), (cstart, cend) = nb.open_dealer(
    source, dealer_id, period_start, period_end, comparison_start, comparison_end, language
)

# one model per notebook: trained at three cutoffs 12-18 months before the data date
train_cutoffs = [dealer.as_of - pd.DateOffset(months=12 + 3 * k) for k in range(3)]
model = churn.ChurnModel().fit(dealer, cutoffs=train_cutoffs)
scores = model.score_dealer(dealer)

# %%
nb.show_header(dealer, "churn", language, (start, end), (cstart, cend))

# %%
# Active service customers per churn-risk band (calibrated probability of no visit in 12 months).
bands = scores["risk_band"].value_counts().reindex(["high", "medium", "low"], fill_value=0)
plots.plot_bars(bands, title="churn_bands_title", lang=lang)
plt.show()
out.show_text(
    f"{len(scores):,} active customers; expected churners {scores['churn_probability'].sum():,.0f}"
)

# %%
# The highest-risk customers with their three main reasons (ids only: no personal data here).
top = scores.sort_values("churn_probability", ascending=False).head(25)
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
# Honest backtest: trained before, evaluated 12 months before the data date, against baselines
# (no oracle row: the true churn probabilities of a real dealer are unknown).
backtest = churn.backtest(
    dealer, cutoffs=[dealer.as_of - pd.DateOffset(months=12)], n_train_cutoffs=3
)
out.show_table(
    backtest.summary(),
    formatters={
        c: "{:.3f}".format
        for c in ["positive_rate", "roc_auc", "pr_auc", "brier", "lift_top_decile", "ece"]
    },
    index=False,
)
out.show_text(model.model_card(backtest))

# %%
# Open leads scored: P(order within 7/15/30/90 days) and the H/A/B/C grade. One dealer has too
# few lead snapshots for its own model, so the model is pooled over the network's dealers.
lead_model = leads.LeadScoreModel().fit(
    (load_dealer(source, i) for i in list_dealers(source)["dealer_id"]),
    cutoffs=leads.snapshot_cutoffs(
        dealer.as_of - pd.DateOffset(months=15),
        dealer.as_of - pd.DateOffset(months=3),
        every_days=28,
    ),
)
lead_scores = lead_model.score_dealer(dealer)
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
