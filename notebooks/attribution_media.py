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
from crm_analytics.report import views_media as vm
from crm_analytics.report.analysis import ATTRIBUTION_LOOKBACK_DAYS, PERSONA_MIN_JOURNEYS
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

# %%
nb.show_header(dealer, t("title_attribution_media", L), L, (start, end), (cstart, cend))

# %%
# Cost per lead, visit, order and delivery and the return per channel (the deck's media
# efficiency), for the leads of the period (the report's numbers).
sec.show_section("media", L, dealer.as_of)
out.show_text(t("media_period_note", L, start=fmt_date(start), end=fmt_date(end)), muted=True)
if not sec.show_missing(analysis, "media_by_channel", L):
    media = analysis.sections["media_by_channel"]
    out.show_table(vm.media_channel_view(media, L))
    plots.plot_bars(
        media.set_index("channel")["cost_per_order"], title="media_title", kind="yuan", lang=lang
    )
    plt.show()

# %%
# Orders credited to each channel by attribution model (first and last touch, linear,
# position-based, time decay, Markov chains, Shapley values).
out.show_heading(t("attribution_title", L), 2)
out.show_text(t("attribution_note", L, days=ATTRIBUTION_LOOKBACK_DAYS, as_of=as_of), muted=True)
sec.show_frame(analysis, "attribution", vm.attribution_view, L)

# %%
# Channel effects within age groups of interviewed customers.
out.show_heading(t("persona_channels_title", L), 2)
out.show_text(t("persona_channels_note", L, n=PERSONA_MIN_JOURNEYS), muted=True)
sec.show_frame(analysis, "persona_channels", vm.persona_channel_view, L)

# %%
# How often the DMS's recorded channel matches what the customer recalls in surveys.
out.show_heading(t("recall_title", L), 2)
out.show_text(t("recall_note", L, as_of=as_of), muted=True)
sec.show_frame(analysis, "channel_recall", vm.recall_view, L)
