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
window = {"start": fmt_date(start), "end": fmt_date(end)}
m, S = analysis.metrics, analysis.sections
benchmark = nb.peer_benchmark(analysis, benchmark_path)  # the run's (or the store's) peer medians
kpis = rm.kpi_table(m, targets=settings.targets, benchmark=benchmark)

# %%
nb.show_header(dealer, t("title_value_added_aftersales", L), L, (start, end), (cstart, cend))

# %%
# Headline value-added and after-sales KPIs against target, peers and the previous round.
va = kpis.loc[[k for k in rm.KPI_KEYS if k not in rm.FUNNEL_KPIS and k != "quarantine_share"]]
out.show_heading(t("kpis", L), 2)
out.show_text(sec.kpis_note(L, window, benchmark), muted=True)
out.show_table(sec.kpi_table(va, L))
plots.plot_kpi_comparison(va.drop(index="accessories_per_car"), lang=lang)
plt.show()

# %%
# The deck's profit formula per line: contacts x penetration x unit margin (slides 14-21), with
# the gain if each line reached its target (the report's table, with the takers and intervals).
sec.show_section("profit", L, dealer.as_of)
out.show_text(t("profit_note", L, **window), muted=True)
if not sec.show_missing(analysis, "profit", L):
    out.show_table(sec.profit_table(S["profit"], L))
    plots.plot_bars(
        S["profit"].set_index("line")["gross_profit"], title="gross_profit", kind="yuan", lang=lang
    )
    plt.show()

# %%
# Gaps in yuan of these KPIs (against targets and peers).
gaps = rm.gaps_in_yuan(m, targets=settings.targets, benchmark=benchmark)
gaps = gaps.loc[~gaps["kpi"].isin(rm.FUNNEL_KPIS)]
out.show_text(t("gaps_note", L, **window), muted=True)
if len(gaps):
    out.show_table(sec.gaps_view(gaps, L))
else:
    out.show_text(t("no_gaps", L), muted=True)

# %%
# Value-added penetration per sales consultant and per car model, and whether they differ.
for by in ("consultant", "model"):
    view = sec.penetration_view(analysis, by, L)
    if view:
        out.show_heading(view["heading"], 3)
        out.show_text(view["note"], muted=True)
        out.show_table(view["table"])

# %%
# After-sales by vehicle age: retention of the vehicles sold here and the customer-pay mix.
sec.show_section("aftersales", L, dealer.as_of)
view = sec.aftersales_view(analysis, L)
if view:
    out.show_text(view["retention_note"], muted=True)
    out.show_table(view["retention"])
    out.show_text(view["pay_mix_note"], muted=True)
    out.show_table(view["pay_mix"])
else:
    out.show_text(t("not_available", L, why=why("", L)), muted=True)

# %%
# Complaint handling: counts, service levels, reopen rate, retention after a complaint.
sec.show_section("complaints", L, dealer.as_of)
view = sec.complaints_view(analysis, L)
if view:
    out.show_text(view["counts_note"], muted=True)
    out.show_table(view["counts"])
    out.show_text(view["handling_note"], muted=True)
    out.show_table(view["handling"])
    out.show_text(view["retention_note"], muted=True)
    if view["retention"] is not None:
        out.show_table(view["retention"])
else:
    out.show_text(t("not_available", L, why=why("", L)), muted=True)
