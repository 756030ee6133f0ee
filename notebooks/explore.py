# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Exploring one dealer with the package: change these two and run all cells.
source = "../data/sample"
dealer_id = "D001"

# %% [markdown]
# # Exploring one dealer
#
# A walk through the package on one dealer: its data and their quality, the showroom funnel by
# channel and by consultant, the churn scores with their reasons, the call lists, and a cut of
# your own. Every number comes from the package's functions (`help(funnel.kpi_tree)` and
# friends tell more); the dealer's report shows the same ones.

# %%
import pandas as pd

from crm_analytics.metrics import funnel
from crm_analytics.report import notebook as nb

# The dealer's analysis: the latest matching run's (same numbers as its report), else made here.
analysis, lang = nb.open_analysis(source, dealer_id, language="en")
d = analysis.dealer
start, end = analysis.period
print(f"{d.name} ({d.dealer_id}): data as of {d.as_of.date()}; period {start.date()} to {end.date()}")

# %% [markdown]
# ## 1. Load and quality
# Every input row is kept or quarantined with a reason: rows read, kept and quarantined per
# table, then the data-quality scorecard by dimension (worst rules first).

# %%
d.summary()

# %%
analysis.scorecard.dimensions[["dimension", "score", "status", "worst_rules"]]

# %% [markdown]
# ## 2. The funnel by channel and by consultant
# `funnel.kpi_tree` without `period` covers all history up to the data date; the report's
# period (the 12 months to the data date) is passed here so the numbers match the report.
# The columns that are the same on every row (dealer, period, basis, unit of count) are dropped
# for reading and printed once.

# %%
by_channel = funnel.kpi_tree(d, period=(start, end), by="channel")
constant = ["dealer_id", "period_start", "period_end", "basis", "unit_of_count"]
print({c: str(by_channel[c].iloc[0])[:10] for c in constant})
rates = by_channel.loc[by_channel["kpi"].isin(["visit_rate", "visit_to_order_rate"])]
rates.pivot(index="channel", columns="kpi", values="value").round(3)

# %%
by_consultant = funnel.kpi_tree(d, period=(start, end), by="consultant")
(
    by_consultant.loc[by_consultant["kpi"] == "visit_to_order_rate"]
    .drop(columns=constant)
    .sort_values("value")
    .head(10)[["consultant", "value", "numerator", "denominator", "ci_low", "ci_high"]]
)

# %% [markdown]
# ## 3. Scores and reasons
# Active service customers by churn-risk band, and the highest risks with the reasons the model
# gives (its largest contributions).

# %%
print(analysis.churn_note or f"churn model: the {analysis.churn_source}'s")
analysis.band_counts()

# %%
# (empty when the dealer is too small for its own model and no run's network model is at hand)
scores = analysis.churn_scores
scores.sort_values("churn_probability", ascending=False).head(10) if len(scores) else scores

# %% [markdown]
# ## 4. Call lists
# The standing lists at the data date, phones and names masked.

# %%
calls = analysis.call_lists()
calls["reason"].value_counts()

# %%
calls.head(10)

# %% [markdown]
# ## 5. A cut of your own
# The tables are plain pandas frames: for example, leads of the period by channel and the car
# model asked for, and the share that ordered.

# %%
leads = d.leads.loc[d.leads["created_at"].between(start, end + pd.Timedelta(days=1))]
ordered = leads["lead_id"].isin(d.orders["lead_id"])
cut = leads.assign(ordered=ordered).groupby(["channel", "model_interest"])["ordered"]
cut = cut.agg(["size", "mean"])
cut.rename(columns={"size": "leads", "mean": "order_rate"}).sort_values("leads", ascending=False)
