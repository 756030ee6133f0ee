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
from crm_analytics.report import headline as rm
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
from crm_analytics.report import sections as sec
from crm_analytics.report import views_funnel as vf
from crm_analytics.report.text import label, t

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

# %%
nb.show_header(dealer, t("title_funnel_diagnostics", L), L, (start, end), (cstart, cend))

# %%
# The deck's KPI tree (slides 39-41): every KPI with the KPI it feeds, 95% interval and target
# (the report's numbers: maturing KPIs on the cohort with a full follow-up).
sec.show_section("funnel", L, dealer.as_of)
out.show_text(sec.maturity_note(analysis, L), muted=True)
out.show_table(sec.tree_table(analysis, L, whole=True))
volumes = analysis.metrics["volumes"]
plots.plot_funnel(
    {k: volumes[k] for k in ("leads", "visited", "test_drive", "ordered")}, lang=lang
)
plt.show()

# %%
# Funnel rates per lead channel and per consultant; leads per month and channel.
out.show_heading(t("fn_channels", L), 3)
if not sec.show_missing(analysis, "funnel_by_channel", L):
    channels = vf.channel_rates_view(analysis, L)
    out.show_text(channels["note"], muted=True)
    out.show_table(channels["table"])
consultants = vf.consultant_funnel_view(analysis, L)
if consultants:
    out.show_heading(t("consultants", L), 3)
    out.show_text(consultants["note"], muted=True)
    out.show_table(consultants["table"], index=False)
plots.plot_monthly(
    rm.monthly_leads(dealer, start, end),
    hue="channel",
    title=t("leads_month", lang),  # the chart language (English without a CJK font)
    lang=lang,
    stacked=True,
)
plt.show()

# %%
# Diagnosis (slide 41): every stage against target and peers, then each flagged stage with
# the deck's candidate causes and what the data says about each.
sec.show_section("diagnosis", L, dealer.as_of)
out.show_heading(t("fn_stages", L), 3)
out.show_text(t("fn_stages_note", L), muted=True)
out.show_table(vf.stage_check_view(analysis, L))
blocks = sec.diagnosis_blocks(analysis, L)
for stage, sentence, causes in blocks:
    out.show_heading(label(stage, L), 3)
    out.show_text(sentence)
    out.show_table(causes, index=False)
if not blocks:
    out.show_text(t("no_diagnosis", L))

# %%
# Before / after the previous coaching round, every KPI with its 95% interval.
change = vf.change_view(analysis, L)
out.show_heading(t("fn_change", L), 2)
if change:
    out.show_text(change["note"], muted=True)
    if change["immature_note"]:
        out.show_text(change["immature_note"], muted=True)
    out.show_table(change["table"])
else:
    sec.show_missing(analysis, "change", L)

# %%
# Next month's orders and deliveries from the open pipeline, and how such forecasts did in
# the last 6 months.
fc = vf.forecast_view(analysis, L)
out.show_heading(t("fn_forecast", L), 2)
if fc:
    out.show_text(fc["note"], muted=True)
    out.show_table(fc["table"])
    if fc["backtest"] is not None:
        out.show_text(fc["backtest_note"], muted=True)
        out.show_table(fc["backtest"])
else:
    sec.show_missing(analysis, "forecast", L)

# %%
# This month so far against the month's targets (pro-rated by open days), with alerts.
pace = sec.pacing_view(analysis, L)
if pace:
    out.show_heading(pace["heading"], 2)
    out.show_text(pace["note"], muted=True)
    out.show_table(pace["table"])
    for alert in pace["alerts"]:
        out.show_text(alert)

# %%
# Speed to lead: first response to inbound leads and conversion by response time.
speed = sec.speed_to_lead_view(analysis, L)
if speed:
    out.show_heading(t("speed_section", L), 2)
    out.show_text(speed["note"], muted=True)
    out.show_table(speed["distribution"])
    out.show_text(speed["bands_note"], muted=True)
    out.show_table(speed["bands"])
    out.show_text(speed["effect"])
