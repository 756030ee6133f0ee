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
targets = {"close_rate": 0.30, "finance_penetration": 0.55, "service_retention": 0.45}
language = "en"
mask_personal_data = True
notes = ""
benchmark_path = None

# %% tags=["remove"]
import matplotlib.pyplot as plt

from crm_analytics import plots
from crm_analytics.io import load_dealer
from crm_analytics.report import display as out
from crm_analytics.report import metrics as rm
from crm_analytics.report.text import t

lang = plots.apply_style(language)
dealer = load_dealer(source, dealer_id)
period = (period_start, period_end) if period_start and period_end else None
comparison = (comparison_start, comparison_end) if comparison_start and comparison_end else None
(start, end), (cstart, cend) = rm.resolve_periods(dealer.as_of, period, comparison)
m = rm.dealer_metrics(dealer, period=period, comparison_period=comparison)
benchmark = rm.read_json(benchmark_path) if benchmark_path else None
kpis = rm.kpi_table(m, targets=targets, benchmark=benchmark)

# %%
out.show_heading(f"{dealer.name} ({dealer.dealer_id}) – data quality", 1)
out.show_text(
    t(
        "period",
        language,
        start=start.date(),
        end=end.date(),
        cstart=cstart.date(),
        cend=cend.date(),
        as_of=dealer.as_of.date(),
    )
)

# %%
# Rows read, kept and quarantined per table (every input row is used or quarantined).
summary = dealer.summary()
out.show_table(summary, index=False)
plots.plot_quality(summary, lang=lang)
plt.show()

# %%
# Every failed boundary rule with counts and examples (personal values hidden when masking).
report = out.validation_table(dealer.report, mask=mask_personal_data)
if len(report):
    out.show_table(report, index=False)
else:
    out.show_text(t("quality_ok", language))

# %%
# INTEGRATION(quality): authenticity / continuity / validity scorecard and the visitor-log vs
# DMS linkage, e.g.
#   card = quality.quality_scorecard(dealer); out.show_table(card)
#   visits = quality.reconcile_visits(dealer); out.show_table(visits.summary)
#   out.show_table(quality.fix_list(dealer).head(50))   # masked unless contact lists
