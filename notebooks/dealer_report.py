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

from crm_analytics.metrics import attribution, funnel, lifecycle, penetration, quality
from crm_analytics.report import display as out
from crm_analytics.report import headline as rm
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
from crm_analytics.report.text import gap_lines, t

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
all_targets = settings.targets
m = analysis.metrics
benchmark = nb.peer_benchmark(analysis, benchmark_path)  # the run's (or the store's) peer medians
gaps = rm.gaps_in_yuan(m, targets=all_targets, benchmark=benchmark)
kpis = rm.kpi_table(m, targets=all_targets, benchmark=benchmark)

# %%
nb.show_header(
    dealer,
    t("report", language),
    language,
    (start, end),
    (cstart, cend),
    with_city=True,
    coverage_notes=True,
)
if notes:
    out.show_text(notes)
if mask_personal_data:
    out.show_text(t("masked", language), muted=True)

# %%
# Executive summary: the three biggest gaps in yuan (against targets and peer medians).
out.show_heading(t("summary", language))
if benchmark is None:
    out.show_text(t("no_peers", language), muted=True)
out.show(
    "<br>".join(out.paragraph(s) for s in gap_lines(gaps, language))
    or out.paragraph(t("no_gaps", language))
)
if len(gaps):
    plots.plot_gaps(gaps, lang=lang)
    plt.show()

# %%
# Headline KPIs: funnel rates from funnel.kpi_tree, penetrations from penetration, targets from
# params/targets.yaml (with this dealer's overrides), the previous coaching round and peers.
out.show_heading(t("kpis", language))
out.show_table(
    kpis.rename(index=lambda k: plots.label(k, language)),
    formatters=dict.fromkeys(kpis.columns, out.fmt_kpi),
)
plots.plot_kpi_comparison(kpis.drop(index=["accessories_per_car", "quarantine_share"]), lang=lang)
plt.show()

# %%
# The deck's showroom KPI tree (slides 39-41) with 95% intervals and the network targets.
out.show_heading(t("kpi_tree", language))
tree = funnel.kpi_tree(dealer, period=(start, end))
funnel_targets = {k: v["target"] for k, v in funnel.load_targets(settings.funnel_targets()).items()}
rates = tree.loc[tree["unit"] != "leads", ["kpi", "value", "ci_low", "ci_high", "unit"]]
rates = rates.assign(target=rates["kpi"].map(funnel_targets), kpi=rates["kpi"].map(plots.label))
out.show_table(
    out.fmt_by_unit(rates, ["value", "ci_low", "ci_high", "target"]).drop(columns="unit"),
    index=False,
)
plots.plot_funnel(
    {k: m["volumes"][k] for k in ("leads", "visited", "test_drive", "ordered")}, lang=lang
)
plt.show()

# %%
# Diagnosis (slide 41): the flagged stages and the candidate causes the data supports.
out.show_heading(t("diagnosis", language))
diag = funnel.diagnose(dealer, period=(start, end), targets=settings.funnel_targets())
flagged = diag.loc[diag["flagged"] & (diag["verdict"] == "supports")]
if len(flagged):
    out.show_table(
        flagged[
            ["stage", "stage_value", "stage_target", "orders_at_stake", "cause", "evidence"]
        ].assign(stage=flagged["stage"].map(plots.label)),
        formatters={
            "stage_value": out.fmt_kpi,
            "stage_target": out.fmt_kpi,
            "orders_at_stake": "{:,.1f}".format,
        },
        index=False,
    )
else:
    out.show_text(t("no_diagnosis", language))

# %%
# Comparison with the previous coaching round: change of each funnel KPI with 95% intervals.
out.show_heading(t("previous", language))
change = funnel.compare_periods(dealer, before=(cstart, cend), after=(start, end))
change = change.loc[change["kpi"].isin([*rm.FUNNEL_KPIS, "lead_count", "order_count"])]
out.show_table(
    out.fmt_by_unit(
        change.assign(
            kpi=change["kpi"].map(plots.label),
            unit=change["unit"].where(change["unit"] == "share", "count"),
        ),
        ["value_before", "value_after", "change", "ci_low", "ci_high"],
    )[["kpi", "value_before", "value_after", "change", "ci_low", "ci_high", "significant"]],
    index=False,
)

# %%
# Value-added and after-sales (slides 14-21): contacts x penetration x unit margin per line.
out.show_heading(t("profit", language))
profit = penetration.profit_decomposition(dealer, period=(start, end))
out.show_table(
    profit[["business", "line", "contacts", "penetration", "unit_margin", "gross_profit"]],
    formatters={
        "contacts": out.fmt_count,
        "penetration": out.fmt_percent,
        "unit_margin": out.fmt_count,
        "gross_profit": out.fmt_count,
    },
    index=False,
)
plots.plot_bars(
    profit.set_index("line")["gross_profit"], title="gross_profit", kind="yuan", lang=lang
)
plt.show()

# %%
# The customer base by lifecycle state and the churn risk of active service customers
# (the calibrated churn model of this run: the dealer's own, or the network's for a small dealer).
out.show_heading(t("base", language))
states = lifecycle.state_counts(lifecycle.lifecycle_states(dealer))
plots.plot_bars(states.set_index("state")["customers"], title="states_title", lang=lang)
plt.show()
out.show_heading(t("churn", language), 3)
if analysis.churn_model is None:
    out.show_text(analysis.churn_note, muted=True)
else:
    bands = analysis.band_counts()
    out.show_table(
        bands.rename(t("list_reason", language)).rename(index=plots.label).to_frame(),
        formatters={t("list_reason", language): out.fmt_count},
    )

# %%
out.show_heading(t("media", language))
media = attribution.media_efficiency(dealer, by=(), period=(start, end))  # leads of the period
out.show_table(
    media[["channel", "cost", "leads", "orders", "cost_per_lead", "cost_per_order", "roi"]].assign(
        channel=media["channel"].map(plots.label)
    ),
    formatters={
        "cost": out.fmt_count,
        "cost_per_lead": out.fmt_count,
        "cost_per_order": out.fmt_count,
        "roi": out.fmt_percent,
    },
    index=False,
)

# %%
out.show_heading(t("consultants", language))
out.show_table(
    rm.consultant_table(dealer, start, end),
    formatters={
        "visit_to_order_rate": out.fmt_percent,
        "leads": out.fmt_count,
        "visited": out.fmt_count,
        "ordered": out.fmt_count,
    },
    index=False,
)

# %%
# Action lists at the data date (actions.call_lists; the lists themselves: action_lists notebook).
out.show_heading(t("lists", language))
lists = pd.Series(m["list_sizes"], dtype=float)
plots.plot_bars(lists, title="lists_title", lang=lang)
plt.show()

# %%
out.show_heading(t("quality_cards", language))
reconciliation, card = analysis.reconciliation, analysis.scorecard
out.show_table(
    card.dimensions[["dimension", "score", "status", "worst_rules"]].assign(
        dimension=card.dimensions["dimension"].map(plots.label)
    ),
    index=False,
)
out.show_table(reconciliation.summary().to_frame(t("quality", language)))
summary = dealer.summary()
if summary["quarantined"].sum() == 0:
    out.show_text(t("quality_ok", language))
else:
    out.show_table(out.validation_table(dealer.report, mask=mask_personal_data), index=False)
