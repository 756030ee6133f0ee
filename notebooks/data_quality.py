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

from crm_analytics.metrics import quality
from crm_analytics.report import display as out
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
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

reconciliation, card = analysis.reconciliation, analysis.scorecard

# %%
nb.show_header(dealer, "data quality", language, (start, end), (cstart, cend))

# %%
# Scores 0-100 on the deck's three dimensions (authenticity, continuity, validity): the mean of
# the dimension's rule scores (a rule scores 0 once 10% of its records fail; params/quality.yaml),
# red / amber / green, and the worst rules. pass_rate pools every record checked, for reference.
out.show_table(
    card.dimensions[["dimension", "score", "status", "worst_rules", "rules", "pass_rate", "note"]],
    index=False,
)
plots.plot_bars(
    card.dimensions.set_index("dimension")["score"], title="quality_scores", kind="score", lang=lang
)
plt.show()
out.show_table(card.pivot())

# %%
# Every rule that failed at least one record, worst score first.
description = "description_zh" if lang == "zh" else "description"
out.show_table(
    card.worst()[
        ["dimension", "key", "checked", "failed", "pass_rate", "score", "status", description]
    ],
    formatters={"checked": out.fmt_count, "failed": out.fmt_count},
    index=False,
)

# %%
# Front-desk visitor log against the DMS's recorded visits: unregistered walk-ins, phantom visits.
out.show_table(reconciliation.summary().to_frame("value"))
out.show_table(
    reconciliation.per_consultant,
    formatters={"registration_rate": out.fmt_percent, "phantom_rate": out.fmt_percent},
    index=False,
)

# %%
# Rows read, kept and quarantined per table at the load boundary.
summary = dealer.summary()
out.show_table(summary, index=False)
plots.plot_quality(summary, lang=lang)
plt.show()
report = out.validation_table(dealer.report, mask=mask_personal_data)
if len(report):
    out.show_table(report, index=False)
else:
    out.show_text(t("quality_ok", language))

# %%
# The fix list: records to send back to their owner (phones and names masked unless contact lists).
fixes = quality.fix_list(dealer, scorecard=card, contacts=not mask_personal_data)
out.show_table(fixes.groupby(["owner", "issue"]).size().unstack(fill_value=0))
out.show_table(fixes.head(30), index=False)
