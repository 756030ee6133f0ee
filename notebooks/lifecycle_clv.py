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
import pandas as pd

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
out.show_heading(f"{dealer.name} ({dealer.dealer_id}) – lifecycle, dormancy and CLV", 1)
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
life = kpis.loc[["service_retention", "insurance_renewal_rate"]]
out.show_table(life, formatters=dict.fromkeys(life.columns, out.fmt_kpi))
sizes = pd.Series(m["list_sizes"], name="customers").to_frame()
out.show_table(sizes.loc[["dormant_owners_12m", "warranty_expiring_90d", "insurance_expiring_60d"]])

# %%
# INTEGRATION(lifecycle/rfm/btyd/clv):
#   states = lifecycle.lifecycle_states(dealer); out.show_table(states.value_counts().to_frame())
#   summ = rfm.summary(dealer.service_visits, as_of=dealer.as_of)
#   model = models.btyd.ParetoNBD().fit(summ); plots.plot_holdout(rfm.holdout_table(...), lang=lang)
#   out.show_table(clv.clv_summary(model, summ, ...))
