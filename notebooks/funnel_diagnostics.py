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

from crm_analytics.metrics import forecast, funnel
from crm_analytics.report import display as out
from crm_analytics.report import headline as rm
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
from crm_analytics.report import sections as sec
from crm_analytics.report.text import t

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

tree = funnel.kpi_tree(dealer, period=(start, end))
funnel_targets = {k: v["target"] for k, v in funnel.load_targets(settings.funnel_targets()).items()}

# %%
nb.show_header(dealer, "funnel and diagnostics", language, (start, end), (cstart, cend))

# %%
# The deck's KPI tree (slides 39-41): every KPI with its parent, 95% interval and target.
out.show_table(
    out.fmt_by_unit(
        tree.assign(target=tree["kpi"].map(funnel_targets)),
        ["value", "ci_low", "ci_high", "target"],
    )[["kpi", "parent", "value", "ci_low", "ci_high", "target", "unit", "note"]],
    index=False,
)
volumes = tree.set_index("kpi")["value"]
plots.plot_funnel(
    {
        "leads": volumes["lead_count"],
        "visited": volumes["visit_count"],
        "test_drive": volumes["test_drive_count"],
        "ordered": volumes["order_count"],
    },
    lang=lang,
)
plt.show()

# %%
# Funnel rates per lead channel and per consultant.
rates = list(rm.FUNNEL_KPIS)
by_channel = funnel.kpi_tree(dealer, period=(start, end), by="channel")
out.show_table(
    by_channel.loc[by_channel["kpi"].isin(["lead_count", *rates])]
    .pivot_table(index="channel", columns="kpi", values="value")
    .reindex(columns=["lead_count", *rates])
    .rename(index=plots.label),
    formatters={"lead_count": out.fmt_count, **dict.fromkeys(rates, out.fmt_percent)},
)
out.show_table(
    rm.consultant_table(dealer, start, end),
    formatters={"visit_to_order_rate": out.fmt_percent},
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
# Diagnosis (slide 41): flagged stages, candidate causes and what the data says about each.
diag = funnel.diagnose(dealer, period=(start, end), targets=settings.funnel_targets())
out.show_table(
    diag.loc[
        diag["flagged"],
        ["stage", "stage_value", "stage_target", "orders_at_stake", "cause", "verdict", "evidence"],
    ],
    formatters={
        "stage_value": out.fmt_kpi,
        "stage_target": out.fmt_kpi,
        "orders_at_stake": "{:,.1f}".format,
    },
    index=False,
)

# %%
# Before / after the previous coaching round, with 95% intervals.
change = funnel.compare_periods(dealer, before=(cstart, cend), after=(start, end))
out.show_table(
    out.fmt_by_unit(
        change.assign(unit=change["unit"].where(change["unit"] == "share", "count")),
        ["value_before", "value_after", "change", "ci_low", "ci_high"],
    )[["kpi", "value_before", "value_after", "change", "ci_low", "ci_high", "significant"]],
    index=False,
)

# %%
# Next month's orders from the open pipeline, and how such forecasts did in the last 6 months.
out.show_table(forecast.forecast_orders(dealer, n_sims=1000), index=False)
backtest = forecast.backtest_forecast(dealer, months=6, n_sims=500)
out.show_table(forecast.backtest_summary(backtest), index=False)

# %%
# This month so far against the month's targets (pro-rated by open days), with alerts.
pace = sec.pacing_view(analysis, lang)
if pace:
    out.show_heading(pace["heading"], 3)
    out.show_text(pace["note"], muted=True)
    out.show_table(pace["table"])
    for alert in pace["alerts"]:
        out.show_text(alert)

# %%
# Speed to lead: first response to inbound leads and conversion by response time.
speed = sec.speed_to_lead_view(analysis, lang)
if speed:
    out.show_heading(t("speed_section", lang), 3)
    out.show_text(speed["note"], muted=True)
    out.show_table(speed["distribution"])
    out.show_text(speed["bands_note"], muted=True)
    out.show_table(speed["bands"])
    out.show_text(speed["effect"])
