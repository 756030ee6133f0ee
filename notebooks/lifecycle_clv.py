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
from crm_analytics.report import sections as sec
from crm_analytics.report import views_report as vr
from crm_analytics.report.text import fmt_date, format_yuan, t

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
S = analysis.sections  # the dealer's analysis: states, BTYD models and CLV, computed once

# %%
nb.show_header(dealer, t("lifecycle", L), L, (start, end), (cstart, cend))

# %%
# Customers per lifecycle state at the data date, and the moves since the previous round.
if not sec.show_missing(analysis, "states", L):
    out.show_heading(t("states_as_of", L, as_of=fmt_date(dealer.as_of)), 3)
    sec.show_states(S["states"], L, lang)
    plt.show()
out.show_heading(t("transitions", L, start=fmt_date(start), end=fmt_date(end)), 3)
if not sec.show_missing(analysis, "transitions", L):
    out.show_table(vr.transitions_view(S["transitions"], L))

# %%
# The dormant customers of the state table, ranked by P(alive) x CLV (ids only), and how many
# of them the call lists hold.
activation = vr.activation_view(analysis, L)
if activation is not None:
    sentence, top = activation
    out.show_heading(sentence, 3)
    out.show_table(top, index=False)

# %%
# The deck's value-chain CLV of one loyal customer, and the owners' probabilistic CLV.
if "clv" in S:
    c = S["clv"]
    chain = c["value_chain"]
    out.show_heading(t("value_chain_heading", L), 3)
    out.show_table(vr.value_chain_view(chain, L))
    p = c["clv"]
    q = p["clv"].quantile([0.25, 0.5, 0.75, 0.9])
    out.show_text(
        t(
            "clv_spread",
            L,
            n=f"{len(p):,}",
            q1=format_yuan(q[0.25], L),
            q2=format_yuan(q[0.5], L),
            q3=format_yuan(q[0.75], L),
            q9=format_yuan(q[0.9], L),
            alive=f"{p['p_alive'].mean():.0%}",
        )
    )
