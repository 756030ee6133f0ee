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
from crm_analytics.report import sections as sec
from crm_analytics.report import views_lists as vl
from crm_analytics.report.text import fmt_date, t

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
as_of = fmt_date(dealer.as_of)

# contact details only when the run asks for contact lists (mask_personal_data false)
calls = analysis.call_lists(masked=mask_personal_data)

# %%
nb.show_header(dealer, t("title_action_lists", L), L, (start, end), (cstart, cend))
if mask_personal_data:
    out.show_text(t("masked", L), muted=True)

# %%
# The call lists at the data date (the report's table): customers, expected margin, owner,
# due date; how each list is ranked; the number of calls per list.
sec.show_section("lists", L, dealer.as_of)
out.show_table(vl.action_lists(analysis, L))
out.show_text(t("lists_rank_note", L), muted=True)
plots.plot_bars(calls["reason"].value_counts(), title="lists_title", lang=lang)
plt.show()

# %%
# Load per owner (calls against the mean of the owner's role) and the weekly touch calendar.
out.show_text(t("owner_load_note", L, as_of=as_of), muted=True)
out.show_table(vl.owner_load_view(calls, L, analysis.staff_names()))
out.show_text(t("calendar_note", L, as_of=as_of), muted=True)
out.show_table(vl.touch_calendar_view(calls, L))

# %%
# The top of the lists (names and phones masked unless contact lists were asked for).
out.show_text(t("top_calls_note", L, n=40, as_of=as_of), muted=True)
out.show_table(vl.top_of_lists(calls, L, n=40, names=analysis.staff_names()))

# %%
# Department efficiency over the last 12 months (customers, conversions, margin per staff).
out.show_heading(t("departments", L), 2)
out.show_text(t("departments_note", L, as_of=as_of), muted=True)
if not sec.show_missing(analysis, "departments", L):
    out.show_table(vl.department_view(analysis.sections["departments"], L))
