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
from crm_analytics.report import headline as rm
from crm_analytics.report import notebook as nb
from crm_analytics.report import plots
from crm_analytics.report import sections as sec
from crm_analytics.report import views_accounts as va
from crm_analytics.report import views_churn as vch
from crm_analytics.report import views_contact as vc
from crm_analytics.report import views_lists as vl
from crm_analytics.report import views_quality as vq
from crm_analytics.report import views_report as vr
from crm_analytics.report.text import fmt_date, format_yuan, label, t, why

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
m, S = analysis.metrics, analysis.sections
benchmark = nb.peer_benchmark(analysis, benchmark_path)  # the run's (or the store's) peer medians
gaps = rm.gaps_in_yuan(m, targets=settings.targets, benchmark=benchmark)
kpis = rm.kpi_table(m, targets=settings.targets, benchmark=benchmark)
window = {"start": fmt_date(start), "end": fmt_date(end)}


# %%
nb.show_header(
    dealer, t("report", L), L, (start, end), (cstart, cend), with_city=True, coverage_notes=True
)
if notes:
    out.show_text(notes)
if mask_personal_data:
    out.show_text(t("masked", L), muted=True)
out.show(
    out.contents(
        [(a, t(k, L, as_of=fmt_date(dealer.as_of))) for a, k in sec.SECTIONS], t("contents", L)
    )
)

# %%
# Summary: the biggest gaps in yuan (against targets and peers), each with its evidence, the
# action (call list, customers, owner, due date) and the expected gain.
sec.show_section("summary", L, dealer.as_of)
if benchmark is None:
    out.show_text(t("no_peers", L), muted=True)
out.show_text(t("summary_note", L, **window), muted=True)
items = sec.summary_items(analysis, gaps, L)
for item in items:
    out.show(out.paragraph(item["line"]))
    if item["cause"]:
        out.show_text(t("gap_cause", L, cause=item["cause"]))
    out.show_text(t("gap_action", L, action=item["action"]))
if not items:
    out.show_text(t("no_gaps", L))
else:
    plots.plot_gaps(gaps, lang=lang)
    plt.show()
pace = sec.pacing_view(analysis, L)  # month-to-date pacing against the month's targets
if pace:
    out.show_heading(pace["heading"], 3)
    out.show_text(pace["note"], muted=True)
    out.show_table(pace["table"])
    for alert in pace["alerts"]:
        out.show_text(alert)

# %%
sec.show_section("kpis", L, dealer.as_of)
out.show_text(sec.kpis_note(L, window, benchmark), muted=True)
out.show_table(sec.kpi_table(kpis, L))

# %%
sec.show_section("quality", L, dealer.as_of)
out.show_text(t("quality_note", L), muted=True)
card = analysis.scorecard
dims = card.dimensions
out.show_table(
    sec.translate(
        pd.DataFrame(
            {
                "dimension": [label(d, L) for d in dims["dimension"]],
                "score": [f"{v:.0f}" for v in dims["score"]],
                "status": [out.status_text(s, label(s, L)) for s in dims["status"]],
                "pass_rate": [f"{v:.1f}%" for v in dims["pass_rate"]],
                "failed": [f"{v:,}" for v in dims["failed"]],
            }
        ).set_index("dimension"),
        L,
    )
)
rules = card.rules.sort_values("score").head(5)
desc = "description_zh" if L == "zh" else "description"
out.show_table(
    sec.translate(
        pd.DataFrame(
            {
                "rule": [sec.rule_text(x, settings.section("quality")) for x in rules[desc]],
                "dimension": [label(d, L) for d in rules["dimension"]],
                "score": [f"{v:.0f}" for v in rules["score"]],
                "status": [out.status_text(s, label(s, L)) for s in rules["status"]],
            }
        ),
        L,
    ),
    index=False,
)
if not sec.show_missing(analysis, "fix_list", L):
    out.show_table(vq.fix_owners_view(analysis, L), index=False)
rec = analysis.reconciliation.summary()
out.show_heading(t("recon", L, **window), 3)
out.show_table(
    sec.translate(
        pd.DataFrame(
            {
                "item": [label(k, L) for k in rec.index],
                "value": [
                    f"{float(v):.1%}" if k.endswith("_rate") else f"{float(v):,.0f}"
                    for k, v in rec.items()
                ],
            }
        ),
        L,
    ),
    index=False,
)
summary = dealer.summary()
if summary["quarantined"].sum() == 0:
    out.show_text(t("quality_ok", L))
else:
    out.show_heading(t("quarantine", L), 3)
    out.show_table(
        sec.translate(
            summary.assign(table=[label(x, L) for x in summary["table"]]).set_index("table"), L
        )
    )

# %%
sec.show_section("funnel", L, dealer.as_of)
out.show_text(sec.maturity_note(analysis, L), muted=True)
out.show_table(sec.tree_table(analysis, L))
plots.plot_funnel(
    {k: m["volumes"][k] for k in ("leads", "visited", "test_drive", "ordered")}, lang=lang
)
plt.show()

# %%
# Every flagged stage with the verdict on each of the deck's candidate causes (slide 41).
sec.show_section("diagnosis", L, dealer.as_of)
blocks = sec.diagnosis_blocks(analysis, L)
for stage, sentence, causes in blocks:
    out.show_heading(label(stage, L), 3)
    out.show_text(sentence)
    out.show_table(causes, index=False)
if not blocks:
    out.show_text(t("no_diagnosis", L))

# %%
sec.show_section("profit", L, dealer.as_of)
out.show_text(t("profit_note", L, **window), muted=True)
if not sec.show_missing(analysis, "profit", L):
    profit = S["profit"]
    out.show_table(sec.profit_table(profit, L))
    plots.plot_bars(
        profit.set_index("line")["gross_profit"],  # plot_bars labels in the chart language
        title="gross_profit",
        kind="yuan",
        lang=lang,
    )
    plt.show()

for by in ("consultant", "model"):  # value-added penetration per consultant and car model
    view = sec.penetration_view(analysis, by, L)
    if view:
        out.show_heading(view["heading"], 3)
        out.show_text(view["note"], muted=True)
        out.show_table(view["table"])

# %%
# After-sales by vehicle age: retention of the vehicles sold here and the customer-pay mix.
sec.show_section("aftersales", L, dealer.as_of)
view = sec.aftersales_view(analysis, L)
if view:
    out.show_text(view["retention_note"], muted=True)
    out.show_table(view["retention"])
    out.show_text(view["pay_mix_note"], muted=True)
    out.show_table(view["pay_mix"])
else:
    out.show_text(t("not_available", L, why=why("", L)), muted=True)

# %%
sec.show_section("predictability", L, dealer.as_of)
if not sec.show_missing(analysis, "forecast", L):
    f = S["forecast"].set_index("target").loc["orders"]
    out.show_text(
        t(
            "forecast_line",
            L,
            month=pd.Timestamp(f["window_end"]).strftime("%Y-%m"),
            mid=f"{f['forecast']:.0f}",
            lo=f"{f['lo80']:.0f}",
            hi=f"{f['hi80']:.0f}",
            as_of=fmt_date(dealer.as_of),
        )
    )
if not sec.show_missing(analysis, "clv", L):
    out.show_text(t("projection_note", L), muted=True)
    out.show_table(vr.projection_view(S["clv"]["projection"], L))

# %%
sec.show_section("lifecycle", L, dealer.as_of)
if not sec.show_missing(analysis, "states", L):
    out.show_text(t("states_as_of", L, as_of=fmt_date(dealer.as_of)), muted=True)
    states = S["states"]
    sec.show_states(states, L, lang)
    plt.show()

# %%
sec.show_section("clv", L, dealer.as_of)
if not sec.show_missing(analysis, "clv", L):
    c = S["clv"]
    chain = c["value_chain"]
    parts = [f"{label(x, L)} {format_yuan(v, L)}" for x, v in zip(chain["line"], chain["value"], strict=True)]
    out.show_text(
        t(
            "clv_line",
            L,
            chain=", ".join(parts),
            total=format_yuan(c["total"], L),
            mean=format_yuan(c["mean"], L),
            alive=f"{c['alive']:,.0f}",
        )
    )
if not sec.show_missing(analysis, "renewal", L):
    for line in vr.renewal_lines(S["renewal"], window, L):
        out.show_text(line)

# %%
sec.show_section("churn", L, dealer.as_of)
if analysis.churn_model is None:
    out.show_text(t("not_available", L, why=why(analysis.churn_note, L)), muted=True)
else:
    out.show_text(vr.churn_bands_note(analysis, L), muted=True)
    out.show_table(vr.churn_bands_view(analysis, L))
    reasons = vr.churn_reasons_view(analysis, L)
    if reasons is not None:
        out.show_heading(t("top_reasons", L), 3)
        out.show_table(reasons, index=False)
    quality = vch.churn_quality_text(analysis, L)
    if quality is not None:
        out.show_text(quality)

# %%
sec.show_section("leads", L, dealer.as_of)
out.show_text(t("leads_note", L, as_of=fmt_date(dealer.as_of)), muted=True)
grades = vr.lead_grades_view(analysis, L)
if grades is not None:
    out.show_table(grades)
else:
    out.show_text(
        t("no_lead_grades", L, why=why(analysis.lead_note, L))
        if analysis.lead_note
        else t("no_lead_model", L),
        muted=True,
    )

# %%
# Speed to lead: first response to inbound leads, conversion by response time, the effect.
sec.show_section("speed", L, dealer.as_of)
view = sec.speed_to_lead_view(analysis, L)
if view:
    out.show_text(view["note"], muted=True)
    out.show_table(view["distribution"])
    out.show_text(view["bands_note"], muted=True)
    out.show_table(view["bands"])
    out.show_text(view["effect"])
else:
    out.show_text(t("not_available", L, why=why("", L)), muted=True)

# %%
sec.show_section("media", L, dealer.as_of)
out.show_text(t("media_note", L, **window), muted=True)
for name, key in (("media_by_channel", "channel"), ("media_by_model", "model")):
    if sec.show_missing(analysis, name, L):
        continue
    out.show_heading(label("by_" + key, L), 3)
    out.show_table(vr.media_view(S[name], key, L))
if not sec.show_missing(analysis, "consultants", L):
    out.show_heading(t("consultants", L), 3)
    out.show_table(vr.consultants_view(S["consultants"], L))

# %%
# Key accounts (companies with fleets) and marketing events with their leads, visits and orders.
sec.show_section("accounts", L, dealer.as_of)
view = va.key_accounts_view(analysis, L)
out.show_heading(t("ka_accounts", L), 3)
out.show_text(view["note"], muted=True)
if "table" in view:
    out.show_table(view["table"])
    out.show_text(view["total"])
view = va.events_view(analysis, L)
out.show_heading(t("ev_heading", L), 3)
out.show_text(view["note"], muted=True)
if "table" in view:
    out.show_table(view["by_kind"])
    out.show_text(view["table_note"], muted=True)
    out.show_table(view["table"])

# %%
sec.show_section("lists", L, dealer.as_of)
out.show_table(vl.action_lists(analysis, L))
out.show_text(t("lists_rank_note", L), muted=True)
ext = analysis.sections.get("external_lists")
if ext is not None:  # the external name lists of the dealer's params file (issue 17 item 3)
    view = sec.external_lists_view(ext["summary"], L)
    out.show_heading(view.get("heading") or t("external_lists", L), 3)
    if view:
        out.show_text(view["note"], muted=True)
        out.show_table(view["table"])
    for line in sec.external_lists_lines(ext, L):
        out.show_text(line, muted=True)

# %%
sec.show_section("satisfaction", L, dealer.as_of)
if not sec.show_missing(analysis, "csi", L):
    out.show_text(t("csi_note", L, as_of=fmt_date(dealer.as_of)), muted=True)
    out.show_table(vr.csi_view(S["csi"], L))
if not sec.show_missing(analysis, "defeat", L):
    lost = {"start": window["start"], "end": fmt_date(dealer.as_of)}
    out.show_text(t("defeat_note", L, **lost), muted=True)
    out.show_table(vr.defeat_view(S["defeat"], L))

# %%
# Complaint handling: counts, service levels, reopen rate, retention after a complaint.
sec.show_section("complaints", L, dealer.as_of)
view = sec.complaints_view(analysis, L)
if view:
    out.show_text(view["counts_note"], muted=True)
    out.show_table(view["counts"])
    out.show_text(view["handling_note"], muted=True)
    out.show_table(view["handling"])
    out.show_text(view["retention_note"], muted=True)
    if view["retention"] is not None:
        out.show_table(view["retention"])
else:
    out.show_text(t("not_available", L, why=why("", L)), muted=True)

# %%
# The CRM desk's own work (called, reached, converted per list and owner; delivery callback
# coverage; survey response rates) and the lost-contact screening with its re-contact list.
sec.show_section("contact", L, dealer.as_of)
if not sec.show_missing(analysis, "contact", L):
    view = vc.contact_view(analysis, L, masked=mask_personal_data)
    for part in ("work", "owners", "coverage", "surveys", "lost", "recontact"):
        out.show_text(view[part + "_note"], muted=True)
        out.show_table(view[part])

# %%
sec.show_section("personas", L, dealer.as_of)
if not sec.show_missing(analysis, "personas", L):
    P = S["personas"]
    out.show_text(
        t("personas_note", L, n=f"{len(P['X']):,}", as_of=fmt_date(dealer.as_of)), muted=True
    )
    out.show_table(sec.persona_table(P["profile"], L))

# %%
# Comparison with the previous coaching round: each funnel KPI's change with its 95% interval.
sec.show_section("previous", L, dealer.as_of)
if not sec.show_missing(analysis, "change", L):
    ch = S["change"]
    ch = ch.loc[
        ch["kpi"].isin([*rm.FUNNEL_KPIS, "lead_to_order_rate", "lead_count", "order_count"])
    ]
    out.show_text(t("previous_note", L, cstart=fmt_date(cstart), cend=fmt_date(cend), **window))
    m_ = analysis.maturity
    maturing = set(m_.get("kpis", ())) if m_.get("shifted") else set()
    if maturing & set(ch["kpi"]):
        share = m_["immature_share"]
        out.show_text(
            t("immature_note", L, days=m_["days"], share=f"{share['leads']:.0%}"), muted=True
        )
    out.show_table(vr.change_table(ch, maturing, L))

# The action plans agreed at the earlier coaching rounds (params/dealers/<ID>.yaml, key
# `coaching`), each item's KPI then and now; then the next round's proposed plan (the summary's
# gaps), written by the run beside this report as a file to paste into the dealer's parameters.
plan = sec.action_plan_view(analysis, L)
out.show_heading(plan["heading"], 3)
if plan["table"] is not None:
    out.show_text(plan["note"], muted=True)
    out.show_table(plan["table"], index=False)
for line in (plan["empty"], plan["later"]):
    if line:
        out.show_text(line)
proposal = sec.next_plan_view(analysis, items, L)
out.show_heading(proposal["heading"], 3)
out.show_text(proposal["note"], muted=True)
if proposal["table"] is not None:
    out.show_table(proposal["table"], index=False)
else:
    out.show_text(t("no_gaps", L))
if proposal["file"]:
    out.show(out.link(t("plan_next_link", L), proposal["file"]))
