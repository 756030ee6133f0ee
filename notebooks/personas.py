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

from crm_analytics.report import display as out
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
from crm_analytics.report import sections as sec
from crm_analytics.report.text import fmt_date, label, t, why

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
dealer = analysis.dealer
L = language
# the run's personas (fitted once in the dealer's analysis, the same as in the report)
personas = analysis.sections.get("personas")

# %%
out.show_heading(f"{dealer.name} ({dealer.dealer_id}) – {t('personas', L)}", 1)
if personas is None:
    out.show_text(t("not_available", L, why=why(analysis.notes.get("personas", ""), L)), muted=True)
else:
    profile = personas["profile"]
    out.show_text(
        t("personas_note", L, n=f"{len(personas['X']):,}", as_of=fmt_date(dealer.as_of))
    )

# %%
# Each persona with its size and distinctive answers.
if personas is not None:
    out.show_table(sec.persona_table(profile, L))
    names = [t("persona_name", L, i=int(p) + 1) for p in profile["persona"]]
    plots.plot_bars(
        pd.Series(profile["size"].to_numpy(), index=names), title="personas_title", lang=lang
    )
    plt.show()

# %%
# Persona x lead channel and persona x car model, over the customers who came through a lead
# (owners known only from service visits have no channel): share of each persona's customers.
if personas is not None:
    cross = personas["crosstab"]
    for by in ("channel", "model"):
        table = sec.persona_crosstab_view(cross, by, L)
        out.show_heading(label("by_" + by, L), 3)
        out.show_table(table, formatters=dict.fromkeys(table.columns, out.fmt_pct))
