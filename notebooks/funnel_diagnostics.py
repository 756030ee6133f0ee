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
out.show_heading(f"{dealer.name} ({dealer.dealer_id}) – funnel and diagnostics", 1)
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
plots.plot_funnel(
    {k: m["volumes"][k] for k in ("leads", "visited", "test_drive", "won")}, lang=lang
)
plt.show()
funnel_kpis = kpis.loc[["visit_rate", "test_drive_rate", "close_rate"]]
out.show_table(funnel_kpis, formatters=dict.fromkeys(funnel_kpis.columns, out.fmt_kpi))
plots.plot_kpi_comparison(funnel_kpis, lang=lang)
plt.show()

# %%
plots.plot_monthly(
    rm.monthly_leads(dealer, start, end),
    hue="channel",
    title=t("leads_month", language),
    lang=lang,
    stacked=True,
)
plt.show()
out.show_heading(t("consultants", language))
out.show_table(
    rm.consultant_table(dealer, start, end), formatters={"close_rate": out.fmt_percent}, index=False
)

# %%
# INTEGRATION(funnel): the showroom KPI tree and its diagnosis (deck slides 39-41), e.g.
#   tree = funnel.kpi_tree(dealer, period=(start, end)); out.show_table(tree)
#   out.show_table(funnel.diagnose(tree, targets=targets))
#   fc = funnel.forecast(dealer); out.show_table(fc)   # pipeline forecast
#   out.show_table(funnel.compare_periods(dealer, (start, end), (cstart, cend)))
