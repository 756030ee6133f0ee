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
out.show_heading(f"{dealer.name} ({dealer.dealer_id}) – value-added and after-sales", 1)
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
va = kpis.loc[
    [
        "finance_penetration",
        "insurance_penetration",
        "extended_warranty_penetration",
        "trade_in_penetration",
        "accessories_per_car",
        "service_retention",
        "insurance_renewal_rate",
    ]
]
out.show_table(va, formatters=dict.fromkeys(va.columns, out.fmt_kpi))
plots.plot_kpi_comparison(va.drop(index=["accessories_per_car"]), lang=lang)
plt.show()
gaps = rm.gaps_in_yuan(m, targets=targets, benchmark=benchmark)
if len(gaps):
    plots.plot_gaps(gaps, lang=lang)
    plt.show()

# %%
# INTEGRATION(penetration): penetration per item and its profit decomposition (slides 14-21),
#   pen = penetration.penetration_table(dealer, period=(start, end)); out.show_table(pen)
#   out.show_table(penetration.profit_decomposition(dealer, ...))
