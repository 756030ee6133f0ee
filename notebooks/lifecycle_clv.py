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
import pandas as pd

from crm_analytics.metrics import crm_department as crm_reports
from crm_analytics.metrics import lifecycle, rfm
from crm_analytics.models import clv
from crm_analytics.models.btyd import BGNBD
from crm_analytics.report import display as out
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots

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

states = lifecycle.lifecycle_states(dealer)
base_models = clv.fit_base_models(dealer)  # BG/NBD + Gamma-Gamma, fitted once

# %%
nb.show_header(dealer, "lifecycle, dormancy and CLV", language, (start, end), (cstart, cend))

# %%
# Customers per lifecycle state at the data date, and the moves since the previous round.
counts = lifecycle.state_counts(states)
out.show_table(
    counts, formatters={"customers": out.fmt_count, "share": out.fmt_percent}, index=False
)
plots.plot_bars(counts.set_index("state")["customers"], title="states_title", lang=lang)
plt.show()
out.show_table(lifecycle.transition_matrix(dealer, start, end))

# %%
# Dormant customers (the deck's dormant-customer report) and the activation list.
out.show_table(
    crm_reports.dormant_customers(dealer),
    formatters={"service_margin_12m": out.fmt_count, "share": out.fmt_percent},
    index=False,
)
activation = clv.dormant_activation_list(
    dealer, models=base_models, states=states, horizon_months=24
)
out.show_text(f"{len(activation):,} dormant customers worth activating; the top 20:")
out.show_table(
    activation.head(20),
    formatters={"p_alive": out.fmt_percent, "clv": out.fmt_count, "priority": out.fmt_count},
    index=False,
)

# %%
# The deck's value-chain CLV of one customer, and the owners' own observed value chain.
out.show_table(clv.value_chain_clv(), formatters={"value": out.fmt_count}, index=False)
chain = clv.customer_value_chain(dealer)
out.show_table(
    chain["value"].describe().to_frame("yuan per owner"),
    formatters={"yuan per owner": out.fmt_count},
)

# %%
# Probabilistic after-sales CLV (BG/NBD visits x Gamma-Gamma margin, 3 years, discounted).
pclv = clv.probabilistic_clv(base_models, horizon_months=36)
out.show_table(
    pclv[["p_alive", "expected_visits", "clv"]].describe().T,
    formatters=dict.fromkeys(["mean", "std", "min", "25%", "50%", "75%", "max"], "{:,.2f}".format),
)
projection = clv.project_customer_base(base_models, months=12, n_sims=100)
out.show_table(
    projection.assign(month=projection["month"].dt.strftime("%Y-%m")),
    formatters={c: out.fmt_count for c in projection.columns if c != "month"},
    index=False,
)

# %%
# Model check: BG/NBD fitted before the last 12 months predicts their visits (holdout).
calibration = rfm.calibration_holdout_split(
    dealer.service_visits,
    calibration_end=dealer.as_of - pd.DateOffset(months=12),
    observation_end=dealer.as_of.normalize() + pd.Timedelta(days=1),  # the whole as-of day
    spend_cols=None,
)
holdout_model = BGNBD().fit(
    calibration.rename(
        columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"}
    )
)
holdout = rfm.holdout_table(holdout_model, calibration)
out.show_table(holdout, formatters={"actual": "{:.2f}".format, "predicted": "{:.2f}".format})
plots.plot_holdout(holdout, lang=lang)
plt.show()
