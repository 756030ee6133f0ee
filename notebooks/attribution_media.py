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
out.show_heading(f"{dealer.name} ({dealer.dealer_id}) – attribution and media", 1)
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
channels = rm.channel_summary(dealer, start, end)
out.show_table(
    channels.assign(channel=[plots.label(c, language) for c in channels["channel"]]),
    formatters={
        "cost": out.fmt_count,
        "cost_per_lead": out.fmt_count,
        "cost_per_win": out.fmt_count,
    },
    index=False,
)
plots.plot_monthly(
    rm.monthly_leads(dealer, start, end),
    hue="channel",
    title=t("leads_month", language),
    lang=lang,
    stacked=True,
)
plt.show()

# %%
# INTEGRATION(attribution): heuristic / Markov / Shapley attribution and media efficiency,
#   journeys = attribution.journeys(dealer); res = attribution.markov_attribution(journeys)
#   out.show_table(attribution.media_efficiency(res, dealer.channel_costs)); bar chart via plots
