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

from crm_analytics.report import display as out
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
from crm_analytics.report import views_churn as vc
from crm_analytics.report.text import fmt_date, t, why

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
L = language

# the run's churn model (trained once, at three dates 12-18 months before the data date; the
# network's model for a dealer too small for its own) and its scores: the same as in the report
model, scores = analysis.churn_model, analysis.churn_scores

# %%
nb.show_header(dealer, t("churn", L), L, (start, end), (cstart, cend))

# %%
# Active service customers per churn-risk band (calibrated probability of no visit in 12 months).
if model is None:
    out.show_text(t("not_available", L, why=why(analysis.churn_note, L)), muted=True)
else:
    plots.plot_bars(
        analysis.band_counts(),  # plot_bars labels in the chart language
        title="churn_bands_title",
        lang=lang,
    )
    plt.show()
    out.show_text(
        t(
            "churn_count",
            L,
            n=f"{len(scores):,}",
            expected=f"{scores['churn_probability'].sum():,.0f}",
            as_of=fmt_date(dealer.as_of),
        )
    )

# %%
# The highest-risk customers with their three main reasons (ids only: no personal data here).
if len(scores):
    out.show_heading(t("top_customers", L), 3)
    out.show_table(vc.top_risk_view(analysis, L, n=25), index=False)

# %%
# Honest backtest: trained before, evaluated 12 months before the data date, against simple
# rules a service manager could use without a model.
backtest = analysis.churn_backtest
if backtest is not None:
    out.show_heading(t("churn_check", L), 3)
    out.show_text(
        t("churn_check_note", L, cutoff=vc.churn_check_date(analysis)),
        muted=True,
    )
    out.show_table(vc.churn_check_view(analysis, L))

# %%
# Open leads scored by the run's network model: P(order within 7/15/30/90 days) and the grade.
lead_scores = analysis.lead_scores
out.show_heading(t("leads_section", L), 2)
if not len(lead_scores):
    out.show_text(
        t("no_lead_grades", L, why=why(analysis.lead_note, L))
        if analysis.lead_note
        else t("no_lead_model", L),
        muted=True,
    )
else:
    out.show_text(t("leads_note", L, as_of=fmt_date(dealer.as_of)), muted=True)
    out.show_table(vc.lead_grades_view(analysis, L, n=25), index=False)
