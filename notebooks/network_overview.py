# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Parameters: the run folder written by `crm-analytics report` (one metrics.json per dealer).
run_dir = "../reports/sample"
benchmark_path = None
language = "en"

# %% tags=["remove"]
import matplotlib.pyplot as plt
import pandas as pd

from crm_analytics.core.files import read_json
from crm_analytics.report import display as out
from crm_analytics.report import headline as rm
from crm_analytics.report import plots
from crm_analytics.report.text import network_column, t

lang = plots.apply_style(language)
network = rm.read_run_metrics(run_dir)
benchmark = read_json(benchmark_path) if benchmark_path else None

# %%
out.show_heading(t("network", language), 1)
if len(network):
    out.show_text(t("ov_dealers", language, n=len(network)))

# %%
# Ranking of all dealers: every headline KPI, best dealer first on the closing ratio
# (orders / visiting leads, funnel.kpi_tree's definition).
if len(network):
    cols = ["dealer_id", "name", "city", *[k for k in rm.KPI_KEYS if k in network.columns]]
    ranked = network[cols].sort_values("visit_to_order_rate", ascending=False)
    out.show_heading(t("ranking", language))
    out.show_table(
        ranked.rename(columns=lambda c: network_column(c, language)),
        formatters={plots.label(k, language): out.fmt_kpi for k in rm.KPI_KEYS},
        index=False,
    )

# %%
if len(network):
    for kpi in (
        "visit_to_order_rate",
        "finance_penetration",
        "service_retention",
        "insurance_renewal_rate",
    ):
        plots.plot_ranking(network, metric=kpi, lang=lang)
        plt.show()

# %%
# Network quartiles (the peer benchmark every dealer report compares against).
if benchmark:
    bench = pd.DataFrame(
        {
            t("ov_q1", language): benchmark["q1"],
            plots.label("median", language): benchmark["median"],
            t("ov_q3", language): benchmark["q3"],
        }
    )
    bench = bench.reindex([k for k in rm.KPI_KEYS if k in bench.index])  # the report's order
    bench.index = [plots.label(k, language) for k in bench.index]
    out.show_heading(t("ov_benchmark", language))
    out.show_table(bench, formatters=dict.fromkeys(bench.columns, out.fmt_kpi))

# %%
# Call lists per dealer (sizes at each dealer's data date).
lists = [c for c in network.columns if c.startswith("list.")]
if lists:
    sizes = network[["dealer_id", "name", *lists]].rename(
        columns=lambda c: network_column(c.removeprefix("list."), language)
    )
    out.show_heading(t("ov_lists", language))
    out.show_table(sizes, index=False)
