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
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
from crm_analytics.report import views_quality as vq
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
nb.show_header(dealer, t("title_data_quality", L), L, (start, end), (cstart, cend))
if mask_personal_data:
    out.show_text(t("masked", L), muted=True)

# %%
# Scores 0-100 on the deck's three dimensions (authenticity, continuity, validity): the mean of
# the dimension's rule scores, red / amber / green, and the weakest rules; then per table.
view = vq.quality_view(analysis, L)
out.show_heading(t("dq_dimensions", L), 2)
out.show_text(view["note"], muted=True)
out.show_table(view["dimensions"])
plots.plot_bars(
    analysis.scorecard.dimensions.set_index("dimension")["score"],
    title="quality_scores",
    kind="score",
    lang=lang,
)
plt.show()
out.show_text(t("dq_by_table", L), muted=True)
out.show_table(view["by_table"])

# %%
# Every rule that failed at least one record, weakest first, with what it checks.
out.show_heading(t("dq_rules", L), 3)
if view["rules"] is None:
    out.show_text(t("dq_rules_none", L))
else:
    out.show_table(view["rules"], index=False)

# %%
# Front-desk visitor log against the DMS's recorded visits: unregistered walk-ins, phantom visits.
recon = vq.reconciliation_view(analysis, L)
out.show_heading(recon["heading"], 2)
out.show_text(recon["note"], muted=True)
out.show_table(recon["summary"], index=False)
out.show_heading(t("dq_recon_consultants", L), 3)
out.show_table(recon["consultants"], index=False)

# %%
# Rows read, kept and rejected per table at the load boundary.
load = vq.load_view(analysis, L)
out.show_heading(t("dq_load", L), 2)
out.show_table(load["tables"])
if not load["rejected"]:
    out.show_text(t("quality_ok", L))
else:
    plots.plot_quality(
        dealer.summary().assign(table=lambda s: [label("table." + x, lang) for x in s["table"]]),
        lang=lang,
    )
    plt.show()
    out.show_text(t("dq_load_note", L), muted=True)
    out.show_table(load["by_rule"], index=False)

# %%
# The fix list: records to send back to their owner (no names or phones here; the run's
# workbook has them, masked unless the run made contact lists).
fx = vq.fix_list_view(analysis, L)
out.show_heading(t("dq_fixes", L), 2)
out.show_text(fx["note"], muted=True)
if fx["by_owner"] is not None:
    out.show(fx["link"])
    out.show_table(fx["by_owner"], index=False)
    out.show_table(fx["recent"], index=False)
