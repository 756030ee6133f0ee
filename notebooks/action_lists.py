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

from crm_analytics.actions import call_lists as actions
from crm_analytics.metrics import crm_department as crm_reports
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

# contact details only when the run asks for contact lists (mask_personal_data false)
calls = analysis.call_lists(masked=mask_personal_data)

# %%
nb.show_header(dealer, "action lists", language, (start, end), (cstart, cend))

if mask_personal_data:
    out.show_text(t("masked", language), muted=True)

# %%
# Call lists at the data date: rows, value at stake and expected margin per reason.
per_reason = calls.groupby("reason").agg(
    customers=("customer_id", "nunique"),
    rows=("rank", "size"),
    value=("value", "sum"),
    expected_margin=("expected_margin", "sum"),
)
out.show_table(
    per_reason.rename(index=plots.label),
    formatters={"value": out.fmt_count, "expected_margin": out.fmt_count},
)
plots.plot_bars(per_reason["rows"], title="lists_title", lang=lang)
plt.show()

# %%
# How each list is ranked: by the margin a call is expected to bring (the rule per list).
out.show_table(
    pd.DataFrame(
        {
            "list": list(calls.attrs["priority_rules"]),
            "rule": calls.attrs["priority_rules"].values(),
        }
    ).assign(list=lambda f: f["list"].map(plots.label)),
    index=False,
)

# %%
# Load per owner (rows against the mean of the owner's role) and the touch calendar.
out.show_table(
    actions.owner_load(calls),
    formatters={
        "value": out.fmt_count,
        "mean_role_load": "{:.1f}".format,
        "load_ratio": "{:.2f}".format,
    },
    index=False,
)
out.show_table(actions.touch_calendar(calls).head(12))

# %%
# The top of the list (names and phones masked unless contact lists were asked for).
out.show_table(
    calls[
        [
            "rank",
            "customer_id",
            "customer_name",
            "customer_phone",
            "reason",
            "detail",
            "due_date",
            "expected_margin",
            "priority",
            "list_rank",
            "owner_id",
        ]
    ].head(40),
    formatters={"expected_margin": out.fmt_count, "priority": out.fmt_count},
    index=False,
)

# %%
# Supporting CRM reports: defeat reasons (Pareto), CSI per stage, department efficiency.
out.show_table(
    crm_reports.defeat_pareto(dealer),
    formatters={"share": out.fmt_percent, "cum_share": out.fmt_percent},
    index=False,
)
out.show_table(crm_reports.csi_by_stage(dealer), index=False)
out.show_table(crm_reports.department_efficiency(dealer), index=False)
