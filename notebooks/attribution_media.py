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

from crm_analytics.metrics import attribution
from crm_analytics.metrics import crm_department as crm_reports
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

media = attribution.media_efficiency(dealer, by=(), period=(start, end))  # leads of the period
journeys = attribution.journeys(dealer)

# %%
nb.show_header(dealer, "attribution and media", language, (start, end), (cstart, cend))

# %%
# Cost per lead, visit, order and delivery and ROI per channel (slide: media efficiency).
money = [
    "cost",
    "gross_profit",
    "cost_per_lead",
    "cost_per_visit",
    "cost_per_order",
    "cost_per_delivery",
]
out.show_table(
    media.assign(channel=media["channel"].map(plots.label)),
    formatters={**dict.fromkeys(money, out.fmt_count), "roi": out.fmt_percent},
    index=False,
)
plots.plot_bars(
    media.set_index("channel")["cost_per_order"], title="media_title", kind="yuan", lang=lang
)
plt.show()

# %%
# Credit for orders and gross profit by attribution model (first/last touch, Markov, Shapley ...).
credit = attribution.attribute(journeys)
out.show_table(
    credit.pivot_table(index="channel", columns="model", values="conversions").rename(
        index=plots.label
    ),
    formatters=None,
)

# %%
# Channel effects within age bands of interviewed customers.
out.show_table(
    attribution.persona_channel_effects(dealer, by="age_band"),
    formatters={
        "conversion_rate_with": out.fmt_percent,
        "conversion_rate_without": out.fmt_percent,
        "lift": "{:.2f}".format,
        "share_markov_1": out.fmt_percent,
    },
    index=False,
)

# %%
# How often the DMS's recorded channel matches what the customer recalls in surveys.
out.show_table(
    crm_reports.channel_recall_accuracy(dealer),
    formatters={
        "accuracy": out.fmt_percent,
        "accuracy_low": out.fmt_percent,
        "accuracy_high": out.fmt_percent,
    },
    index=False,
)
