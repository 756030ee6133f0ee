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

from crm_analytics.metrics import penetration
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

all_targets = settings.targets
m = analysis.metrics
benchmark = nb.peer_benchmark(analysis, benchmark_path)  # the run's (or the store's) peer medians
kpis = rm.kpi_table(m, targets=all_targets, benchmark=benchmark)
profit = penetration.profit_decomposition(dealer, period=(start, end))

# %%
nb.show_header(dealer, "value-added and after-sales", language, (start, end), (cstart, cend))

# %%
# Headline value-added and after-sales KPIs against target, peers and the previous round.
va = kpis.loc[[k for k in rm.KPI_KEYS if k not in rm.FUNNEL_KPIS and k != "quarantine_share"]]
out.show_table(va.rename(index=plots.label), formatters=dict.fromkeys(va.columns, out.fmt_kpi))
plots.plot_kpi_comparison(va.drop(index="accessories_per_car"), lang=lang)
plt.show()

# %%
# The deck's profit formula per line: contacts x penetration x unit margin (slides 14-21).
cols = [
    "business",
    "line",
    "contacts",
    "takers",
    "penetration",
    "ci_low",
    "ci_high",
    "unit_margin",
    "gross_profit",
    "share",
]
out.show_table(
    profit[cols],
    formatters={
        "contacts": out.fmt_count,
        "takers": out.fmt_count,
        "penetration": out.fmt_percent,
        "ci_low": out.fmt_percent,
        "ci_high": out.fmt_percent,
        "unit_margin": out.fmt_count,
        "gross_profit": out.fmt_count,
        "share": out.fmt_percent,
    },
    index=False,
)
plots.plot_bars(
    profit.set_index("line")["gross_profit"], title="gross_profit", kind="yuan", lang=lang
)
plt.show()

# %%
# What reaching the finance and extended-warranty targets would add per year.
out.show_table(
    penetration.what_if(profit, "finance", to=all_targets["finance_penetration"]), index=False
)
out.show_table(
    penetration.what_if(
        profit, "extended_warranty", to=all_targets["extended_warranty_penetration"]
    ),
    index=False,
)

# %%
# Gaps in yuan of these KPIs (against targets and peers).
gaps = rm.gaps_in_yuan(m, targets=all_targets, benchmark=benchmark)
gaps = gaps.loc[~gaps["kpi"].isin(rm.FUNNEL_KPIS)]
out.show_table(
    gaps, formatters={"gap_yuan": out.fmt_count, "unit_margin": out.fmt_count}, index=False
)

# %%
# After-sales items per repair order.
out.show_table(
    penetration.service_penetration(dealer, period=(start, end))[
        ["line", "contacts", "takers", "penetration", "unit_margin", "gross_profit"]
    ],
    formatters={
        "penetration": out.fmt_percent,
        "unit_margin": out.fmt_count,
        "gross_profit": out.fmt_count,
    },
    index=False,
)

# %%
# After-sales by vehicle age: retention of the vehicles sold here and the customer-pay mix.
view = sec.aftersales_view(analysis, lang)
if view:
    out.show_heading(t("aftersales_section", lang), 3)
    out.show_text(view["retention_note"], muted=True)
    out.show_table(view["retention"])
    out.show_text(view["pay_mix_note"], muted=True)
    out.show_table(view["pay_mix"])

# %%
# Complaint handling: counts, service levels, reopen rate, retention after a complaint.
view = sec.complaints_view(analysis, lang)
if view:
    out.show_heading(t("complaints_section", lang), 3)
    out.show_text(view["counts_note"], muted=True)
    out.show_table(view["counts"])
    out.show_text(view["handling_note"], muted=True)
    out.show_table(view["handling"])
    out.show_text(view["retention_note"], muted=True)
    if view["retention"] is not None:
        out.show_table(view["retention"])

# %%
# Value-added penetration per sales consultant and per car model, and whether they differ.
for by in ("consultant", "model"):
    view = sec.penetration_view(analysis, by, lang)
    if view:
        out.show_heading(view["heading"], 3)
        out.show_text(view["note"], muted=True)
        out.show_table(view["table"])
