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
import pandas as pd

from crm_analytics import plots
from crm_analytics.io import load_dealer
from crm_analytics.report import display as out
from crm_analytics.report import metrics as rm
from crm_analytics.report.text import gap_lines, t

lang = plots.apply_style(language)  # chart language: English if no CJK font (with a warning)
dealer = load_dealer(source, dealer_id)
period = (period_start, period_end) if period_start and period_end else None
comparison = (comparison_start, comparison_end) if comparison_start and comparison_end else None
(start, end), (cstart, cend) = rm.resolve_periods(dealer.as_of, period, comparison)
m = rm.dealer_metrics(dealer, period=period, comparison_period=comparison)
benchmark = rm.read_json(benchmark_path) if benchmark_path else None
gaps = rm.gaps_in_yuan(m, targets=targets, benchmark=benchmark)
kpis = rm.kpi_table(m, targets=targets, benchmark=benchmark)

# %%
out.show_heading(f"{dealer.name} ({dealer.dealer_id}, {dealer.city}) – {t('report', language)}", 1)
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
if notes:
    out.show_text(notes)
if mask_personal_data:
    out.show_text(t("masked", language), muted=True)

# %%
# Executive summary: the three biggest gaps in yuan (against targets and peer medians).
out.show_heading(t("summary", language))
if benchmark is None:
    out.show_text(t("no_peers", language), muted=True)
out.show(
    "<br>".join(out.paragraph(s) for s in gap_lines(gaps, language))
    or out.paragraph(t("no_gaps", language))
)
if len(gaps):
    plots.plot_gaps(gaps, lang=lang)
    plt.show()

# %%
out.show_heading(t("kpis", language))
out.show_table(
    kpis.rename(index=lambda k: plots.label(k, language)),
    formatters=dict.fromkeys(kpis.columns, out.fmt_kpi),
)
plots.plot_kpi_comparison(kpis.drop(index=["accessories_per_car", "quarantine_share"]), lang=lang)
plt.show()

# %%
# INTEGRATION(funnel): replace/extend with funnel.kpi_tree(dealer, period=...) and
# funnel.diagnose(...) tables here (2-5 lines: call, out.show_table, plots.* chart).
out.show_heading(t("funnel", language))
plots.plot_funnel(
    {k: m["volumes"][k] for k in ("leads", "visited", "test_drive", "won")}, lang=lang
)
plt.show()
plots.plot_monthly(
    rm.monthly_leads(dealer, start, end),
    hue="channel",
    title=t("leads_month", language),
    lang=lang,
    stacked=True,
)
plt.show()

# %%
out.show_heading(t("previous", language))
vol = {k: v for k, v in m["volumes"].items() if not k.startswith("base.")}
prev = {k: m["comparison"]["volumes"].get(k) for k in vol}
out.show_table(
    pd.DataFrame({"now": vol, "previous round": prev}).rename(
        index=lambda k: plots.label(k, language)
    ),
    formatters={"now": out.fmt_count, "previous round": out.fmt_count},
)

# %%
# INTEGRATION(penetration): penetration.penetration_table(dealer, ...) and the profit
# decomposition go here. INTEGRATION(lifecycle/btyd/clv): lifecycle state counts, dormancy and
# CLV summary (rfm.summary + models.btyd fit) go here. INTEGRATION(churn): churn risk bands.
# INTEGRATION(attribution): attribution.media_efficiency(...) table + chart.

# %%
out.show_heading(t("consultants", language))
out.show_table(
    rm.consultant_table(dealer, start, end),
    formatters={"close_rate": out.fmt_percent},
    index=False,
)

# %%
# INTEGRATION(actions): replace with the sizes of actions.call_lists(dealer, ...) per list.
out.show_heading(t("lists", language))
out.show_table(pd.Series(m["list_sizes"], name="customers").to_frame())

# %%
# INTEGRATION(quality): quality.quality_scorecard(dealer) and reconcile_visits summary here.
out.show_heading(t("quality", language))
summary = dealer.summary()
if summary["quarantined"].sum() == 0:
    out.show_text(t("quality_ok", language))
else:
    out.show_table(out.validation_table(dealer.report, mask=mask_personal_data), index=False)
    plots.plot_quality(summary, lang=lang)
    plt.show()
out.show_table(summary, index=False)
