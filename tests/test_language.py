"""The consultant's report in one language: rendered by the batch runner in zh and in en.

Each dealer of a 3-dealer simulated store is reported in ``zh`` and in ``en`` with the real
``dealer_report`` notebook (two shared runs of tests/shared_runs.py, ``report_run`` and
``killed_run``, which report each dealer in one language each); each report's HTML body must carry no snake_case token, no untranslated
table header (zh), no raw repr (timestamps with a time of day, long floats), every section of
the deck with its anchor, and a diagnosis that names every stage the dealer's analysis flags.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from shared_runs import COACHING_PLAN, ONE_DEALER_NOTEBOOKS

from crm_analytics.models.leads import GRADE_WINDOWS
from crm_analytics.report.analysis import load_analysis
from crm_analytics.report.sections import SECTIONS
from crm_analytics.report.text import GLOSSARY, TEXT, label, missing_labels, t, why

DEALERS = ("D001", "D002", "D003")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
CJK = re.compile(r"[\u4e00-\u9fff]")
#: header texts that are the same in both languages: ids, grades, car models, acronyms
SHARED_HEADERS = re.compile(r"^(|[A-Z]{1,3}\d*|[A-Z]{1,3}[0-9A-Z]*L?|\d[\d\-– ]*|CSI|DMS|CRM)$")
RAW_REPR = (
    re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"),  # a timestamp with a time of day
    re.compile(r"(?<![\d.])\d+\.\d{4,}(?!\d)"),  # an unrounded float
    re.compile(r"\b(?:NaN|NaT|None|nan)\b"),
)


@pytest.fixture(scope="module")
def runs(report_run, killed_run) -> dict[tuple[str, str], Path]:
    """``(language, dealer) -> run folder`` holding that dealer's report in that language: the
    two shared runs (conftest) together report each dealer in zh and in en."""
    found: dict[tuple[str, str], Path] = {}
    assert killed_run.rerun_summary.exit_code == 0, killed_run.rerun_summary.results
    for run in (report_run.out, killed_run.out):
        for did in DEALERS:
            lang = load_analysis(run / did / "analysis.pkl").settings.language
            assert (lang, did) not in found, (lang, did)
            found[(lang, did)] = run
    assert sorted(found) == sorted((lang, d) for lang in ("en", "zh") for d in DEALERS)
    return found


def _body(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    body = text[text.find("<body") :]
    return re.sub(r"<(style|script)\b.*?</\1>", "", body, flags=re.S)


def _visible(body: str) -> str:
    no_img = re.sub(r"<img\b[^>]*>", "", body)
    return html.unescape(re.sub(r"<[^>]+>", " ", no_img))


def _headers(body: str, *, columns_only: bool = False) -> list[str]:
    """Header cells of every table (``columns_only``: the column headers, not the row names,
    which may be proper names such as a consultant's)."""
    if columns_only:
        body = "".join(re.findall(r"<thead\b.*?</thead>", body, flags=re.S))
    cells = re.findall(r"<th\b[^>]*>(.*?)</th>", body, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]


def test_glossary_is_complete_in_both_languages():
    for key, (en, zh) in GLOSSARY.items():
        assert en and zh, key
        assert not SNAKE.search(en), (key, en)
    assert set(TEXT["en"]) == set(TEXT["zh"])
    assert label("delivery_rate", "zh") == "订单交车率" and label("walk_in", "zh") == "展厅自然进店"
    assert missing_labels(["visit_rate", "no_such_kpi"]) == ["no_such_kpi"]


def test_a_missing_number_is_explained_in_the_readers_words():
    lead = (
        "dealer(s) D001: only 454 open-lead snapshots (7 ordered within 7 days); a dealer's own "
        "lead model needs at least 300 snapshots. Pass it as fit(..., fallback=network_model)."
    )
    cut = "backtest: no training cutoff for evaluation cutoff 2025-06-30: it needs 12 months"
    for lang in ("en", "zh"):
        assert why(lead, lang) == t("insufficient", lang)
        assert why(cut, lang) == t("short_history", lang)
        assert why("ValueError: x", lang) == t("not_computable", lang)
        for note in (lead, cut):
            assert not SNAKE.search(why(note, lang)) and "fit(" not in why(note, lang)


def test_grade_windows_in_the_text_are_the_models():
    """The report explains H/A/B with the purchase windows the lead model grades on."""
    days = [str(d) for d in GRADE_WINDOWS.values()]
    assert re.findall(r"\d+", t("leads_note", "en", as_of="x")) == days
    assert re.findall(r"\d+", t("leads_note", "zh", as_of="x")) == days


def _assert_one_language(body: str, lang: str, where: str) -> None:
    """A page in ``lang`` only: no warning, internal name, raw value, untranslated header."""
    text = _visible(body)
    # a warning printed into the report (a chart label without a glyph, a library notice)
    assert "Warning" not in text, f"{where} {lang}: a warning in the report"
    snake = sorted(set(SNAKE.findall(text)))
    assert not snake, f"{where} {lang}: internal names in the report: {snake[:20]}"
    for pattern in RAW_REPR:
        found = pattern.findall(text)
        assert not found, f"{where} {lang}: raw values {found[:5]}"
    if lang == "zh":
        untranslated = [
            h for h in _headers(body) if not CJK.search(h) and not SHARED_HEADERS.match(h)
        ]
        assert not untranslated, f"{where}: untranslated headers {untranslated[:20]}"
        english = re.findall(r"\b(?:the|and|of|with|against|period)\b", text)
        assert len(english) <= 3, f"{where}: English prose in the zh report: {english[:10]}"
    else:
        heads = _headers(body, columns_only=True)
        assert not CJK.search(" ".join(heads)), f"{where}: Chinese headers in en: {heads}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_speaks_one_language(runs, lang):
    for did in DEALERS:
        _assert_one_language(_body(runs[lang, did] / did / "report.html"), lang, did)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_section_present_and_linked(runs, lang):
    for did in DEALERS:
        body = _body(runs[lang, did] / did / "report.html")
        for anchor, key in SECTIONS:
            assert f'id="{anchor}"' in body, f"{did} {lang}: section {anchor} missing"
            assert f'href="#{anchor}"' in body, f"{did} {lang}: {anchor} not in the contents"
            assert html.escape(t(key, lang, as_of="x")).split("x")[0][:6] in body


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_diagnosis_names_every_flagged_stage(runs, lang):
    for did in DEALERS:
        a = load_analysis(runs[lang, did] / did / "analysis.pkl")
        body = _body(runs[lang, did] / did / "report.html")
        start = body.index('id="diagnosis"')
        section = _visible(body[start : body.index('id="profit"')])
        flagged = a.flagged_stages()
        for stage in flagged:
            assert label(stage, lang) in section, f"{did} {lang}: flagged {stage} not shown"
        d = a.diagnosis
        for stage in flagged:  # every cause of a flagged stage is listed with its verdict
            for verdict in d.loc[d["stage"] == stage, "verdict"]:
                assert label(verdict, lang) in section
        shown_none = t("no_diagnosis", lang) in section
        assert shown_none == (not flagged), f"{did} {lang}: diagnosis text contradicts flags"


def test_maturing_kpis_are_on_a_cohort_with_full_follow_up(runs):
    from crm_analytics.metrics.funnel import kpi_tree

    a = load_analysis(runs["en", "D001"] / "D001" / "analysis.pkl")
    m = a.maturity
    mstart, mend = m["window"]
    assert mend <= a.dealer.as_of - pd.Timedelta(days=m["days"])
    assert (
        0.0 <= m["immature_share"]["leads"] <= 1.0 and 0.0 <= m["immature_share"]["orders"] <= 1.0
    )
    ref = kpi_tree(a.dealer, period=(mstart, mend)).set_index("kpi")["value"]
    tree = a.tree.set_index("kpi")
    for k in m["kpis"]:
        assert tree.at[k, "window_end"] == mend
        assert tree.at[k, "value"] == pytest.approx(ref[k], nan_ok=True)
    assert (tree.loc["visit_rate", "window_end"]) == a.period[1]


def _section(body: str, anchor: str) -> str:
    """The visible text of one section (to the next section's anchor), whitespace collapsed."""
    anchors = [a for a, _ in SECTIONS]
    start = body.index(f'id="{anchor}"')
    i = anchors.index(anchor)
    end = body.index(f'id="{anchors[i + 1]}"') if i + 1 < len(anchors) else len(body)
    return re.sub(r"\s+", " ", _visible(body[start:end]))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_deck_capabilities_show_the_data_counts(runs, lang):
    """Speed to lead, complaints, after-sales by vehicle age and the month-to-date pacing are
    in each report, their totals equal to counts made here from the dealer's tables."""
    from crm_analytics.core.schema import INBOUND_CHANNELS

    for did in DEALERS:
        a = load_analysis(runs[lang, did] / did / "analysis.pkl")
        d, body = a.dealer, _body(runs[lang, did] / did / "report.html")
        # the leads met at the dealer's events wait for nothing: left out, and counted
        at_event = d.leads["channel"].isin(INBOUND_CHANNELS) & d.leads["event_id"].notna()
        inbound = int(d.leads["channel"].isin(INBOUND_CHANNELS).sum()) - int(at_event.sum())
        speed = _section(body, "speed")
        assert f"{label('all_inbound', lang)} {inbound:,} " in speed, (did, speed[:400])
        if at_event.any():
            assert t("speed_events", lang, n=f"{int(at_event.sum()):,}") in speed, did
        assert label("no_response", lang) in speed and label("rate_ratio", lang) in speed
        complaints = _section(body, "complaints")
        assert f"{label('total', lang)} {len(d.complaints):,} " in complaints
        assert label("complaint_stage.service", lang) in complaints
        start, end = a.period
        at = d.service_visits["at"]
        n_ro = int(((at >= start) & (at < end + pd.Timedelta(days=1))).sum())
        after = _section(body, "aftersales")
        assert f"{label('all_ages', lang)} {n_ro:,} " in after, (did, after[:400])
        assert label("vehicles_sold_here", lang) in after
        o = d.orders
        delivered = int(o["delivered_at"].between(start, end + pd.Timedelta(days=1)).sum())
        profit = _section(body, "profit")
        for by in ("consultant", "model"):  # penetration per group, the dealer's total last
            assert label("by_" + by, lang) in profit
        assert profit.count(f"{label('total', lang)} {delivered:,} ") == 2, (did, delivered)
        as_of = pd.Timestamp(d.as_of)
        month = as_of.to_period("M").start_time
        created = d.leads["created_at"]
        n_month = int(((created >= month) & (created < as_of + pd.Timedelta(days=1))).sum())
        summary = _section(body, "summary")
        assert t("pacing", lang, month=as_of.strftime("%Y-%m")) in summary
        assert f"{label('pace.leads', lang)} {n_month:,} " in summary, (did, summary[-600:])


def test_a_count_of_one_takes_the_singular_in_english():
    assert "1 lead," in t("h_a_action", "en", n=1, due="2026-07-01")
    assert "11 leads" in t("h_a_action", "en", n=11, due="2026-07-01")
    assert "1,001 leads" in t("h_a_action", "en", n="1,001", due="2026-07-01")
    assert "1 条" in t("h_a_action", "zh", n=1, due="2026-07-01")


def test_the_lead_action_falls_back_to_the_best_grade_present():
    """No open lead graded H or A (a small dealer, a quiet month) must not give "invite 0
    leads": the B leads are invited, else every open lead, each with its own sentence."""
    from types import SimpleNamespace

    from crm_analytics.report.sections import list_facts

    def facts(grades):
        a = SimpleNamespace(lead_scores=pd.DataFrame({"grade": grades}), tree=pd.DataFrame())
        f = list_facts(a, "open_h_a_leads")
        return f["n"], f["action"]

    assert facts(["H", "A", "B", "C", "A"]) == (3, "h_a_action")
    assert facts(["B", "C", "B"]) == (2, "b_leads_action")
    assert facts(["C", "C"]) == (2, "c_leads_action")
    # no open lead at all: nothing to invite, with or without a lead model (never "0 leads")
    assert facts([]) == (0, "no_open_leads_action")
    no_model = SimpleNamespace(
        lead_scores=pd.DataFrame(), tree=pd.DataFrame({"kpi": ["open_leads"], "value": [7.0]})
    )
    assert list_facts(no_model, "open_h_a_leads")["n"] == 7
    no_model.tree["value"] = 0.0
    assert list_facts(no_model, "open_h_a_leads")["action"] == "no_open_leads_action"
    assert "0 leads" not in t("no_open_leads_action", "en", n=0, due="2026-07-01")
    assert "0 条" not in t("no_open_leads_action", "zh", n=0, due="2026-07-01")
    for key in ("b_leads_action", "c_leads_action"):
        assert "2 leads" in t(key, "en", n=2, due="2026-07-01")
        assert "2 条" in t(key, "zh", n=2, due="2026-07-01")


#: the notebooks besides the report a consultant opens from the index (issue 15)
SECONDARY = tuple(nb for nb in ONE_DEALER_NOTEBOOKS if nb != "dealer_report")


@pytest.fixture(scope="module")
def secondary_runs(lists_runs) -> dict[str, Path]:
    """language -> run folder of D001 of a one-dealer store reported with the report and every
    secondary page (the shared ``lists_runs`` of tests/shared_runs.py; its dealer file also names
    external lists and carries an action plan)."""
    return {lang: folder for lang, (folder, _) in lists_runs.runs.items()}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_secondary_pages_speak_one_language(secondary_runs, lang):
    """Every page besides the report reads like the report: one language, glossary names,
    numbers in units; their counts equal counts made here from the dealer's own tables."""
    run = secondary_runs[lang]
    (ddir,) = [p for p in run.iterdir() if p.is_dir() and (p / "analysis.pkl").exists()]
    for name in SECONDARY:
        body = _body(ddir / f"{name}.html")
        _assert_one_language(body, lang, f"{ddir.name} {name}")
        title = t(f"title_{name}", lang) if f"title_{name}" in TEXT["en"] else None
        assert title is None or re.search(rf"<h1[^>]*>[^<]*– {re.escape(title)}", body), name
    a = load_analysis(ddir / "analysis.pkl")
    d = a.dealer
    log = d.tables["visitor_log"]
    quality = re.sub(r"\s+", " ", _visible(_body(ddir / "data_quality.html")))
    assert f"{label('sales_arrivals', lang)} {int((log['reason'] == 'sales').sum()):,} " in quality
    for dim in ("authenticity", "continuity", "validity"):
        assert label(dim, lang) in quality
    assert label("fix_action", lang) in quality
    funnel = re.sub(r"\s+", " ", _visible(_body(ddir / "funnel_diagnostics.html")))
    start, end = a.period
    leads = d.leads.loc[d.leads["created_at"].between(start, end + pd.Timedelta(days=1))]
    for channel, n in leads["channel"].value_counts().items():
        assert f"{label(channel, lang)} {n:,} " in funnel, (channel, n)
    assert f"{label('lead_count', lang)} – {len(leads):,} " in funnel  # the tree's root
    for section in ("kpi_tree", "diagnosis"):
        assert t(section, lang, as_of="x") in funnel
    # action lists: each list's size in the report's table is the dealer's calls of that list
    lists = re.sub(r"\s+", " ", _visible(_body(ddir / "action_lists.html")))
    for reason, n in a.calls["reason"].value_counts().items():
        assert f"{label(reason, lang)} {n:,} " in lists, (reason, n)
    assert t("departments", lang) in lists
    # media: leads per channel of the period, as in the funnel page
    media = re.sub(r"\s+", " ", _visible(_body(ddir / "attribution_media.html")))
    for channel, n in leads["channel"].value_counts().items():
        assert f"{label(channel, lang)} {n:,} " in media, (channel, n)
    # value-added: the period's deliveries are the contacts of every new-car line
    va = re.sub(r"\s+", " ", _visible(_body(ddir / "value_added_aftersales.html")))
    o = d.orders
    delivered = int(o["delivered_at"].between(start, end + pd.Timedelta(days=1)).sum())
    assert f"{label('new_car', lang)} {label('finance', lang)} {delivered:,} " in va


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_rows_rejected_on_import_are_named_in_the_readers_words(secondary_runs, lang):
    """Leads broken on purpose (two pointing to no customer, one with an unknown channel) are
    rejected on import: the data-quality views count them under the glossary's rule names and
    send them to the CRM desk, with no internal name on the page."""
    import dataclasses
    from types import SimpleNamespace

    from crm_analytics.data.validation import validate
    from crm_analytics.metrics.quality import fix_list
    from crm_analytics.report import display, views_quality

    run = secondary_runs[lang]
    (ddir,) = [p for p in run.iterdir() if p.is_dir() and (p / "analysis.pkl").exists()]
    a = load_analysis(ddir / "analysis.pkl")
    tables = {k: v.copy() for k, v in a.dealer.tables.items()}
    leads = tables["leads"]
    leads.loc[leads.index[:2], "customer_id"] = f"{a.dealer.dealer_id}-C999999"
    leads.loc[leads.index[2], "channel"] = "carrier_pigeon"
    dealer = validate(dataclasses.replace(a.dealer, tables=tables))
    view = views_quality.load_view(SimpleNamespace(dealer=dealer), lang)
    assert view["rejected"] == dealer.quarantine[["table", "row_id"]].drop_duplicates().shape[0]
    rows = view["by_rule"].set_index([label("table", lang), label("rule", lang)])
    col = label("quarantined", lang)
    assert rows.at[(label("table.leads", lang), label("rule.has_parent", lang)), col] == "2"
    assert rows.at[(label("table.leads", lang), label("rule.row_rules", lang)), col] == "1"
    assert view["tables"].at[label("table.leads", lang), col] == "3"
    fixes = fix_list(dealer, contacts=True)
    a = dataclasses.replace(a, dealer=dealer, sections={**a.sections, "fix_list": fixes})
    fx = views_quality.fix_list_view(a, lang, shown=len(fixes))
    assert label("issue.quarantined", lang) in set(fx["recent"][label("issue", lang)])
    body = "".join(
        display.html_table(x, index=i)
        for x, i in ((view["tables"], True), (view["by_rule"], False), (fx["recent"], False))
    )
    _assert_one_language(f"<body>{body}</body>", lang, "rejected rows")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_coaching_plan_is_reviewed_and_the_next_one_proposed(runs, lang):
    """D001's plan of the previous round is reviewed item by item (its verdicts those of the
    analysis's review); the other dealers say how to record one; every dealer's next-round
    plan is written beside the report, linked, and reads back as a dealer file's plan."""
    from crm_analytics.core.config import read_yaml, resolve_settings
    from crm_analytics.report.coaching import ACTION_PLAN_FILE, review_action_plan

    plan_items = COACHING_PLAN[lang]
    for did in DEALERS:
        a = load_analysis(runs[lang, did] / did / "analysis.pkl")
        body = _body(runs[lang, did] / did / "report.html")
        section = _section(body, "previous")
        assert t("plan_review", lang) in section and t("plan_next", lang) in section
        if did == "D001":
            review = review_action_plan(a)
            assert len(review) == len(plan_items)
            for (kpi, action, owner, status, _), r in zip(
                plan_items, review.itertuples(index=False), strict=True
            ):
                assert r.kpi == kpi and f"{label(kpi, lang)} {action} " in section
                row = section[section.index(action) :]
                assert row.startswith(f"{action} {label(owner, lang)} 2025-09-30 ")
                assert label("plan." + status, lang) in row[:200]
                assert label("plan." + r.verdict, lang) in row[:400]
            assert t("plan_none", lang, dealer=did) not in section
        else:
            assert t("plan_none", lang, dealer=did) in section
        assert f'href="{ACTION_PLAN_FILE}"' in body
        plan = read_yaml(runs[lang, did] / did / ACTION_PLAN_FILE)
        s = resolve_settings(
            did, params_dir=runs[lang, did], network={}, dealer={"dealer_id": did, **plan}
        )
        assert len(s.action_plan) == len(plan["coaching"]) > 0
        assert {x["round"] for x in s.action_plan} == {a.dealer.as_of.date().isoformat()}
        assert all(x["status"] == "open" and x["due"] > x["round"] for x in s.action_plan)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_key_accounts_and_events_are_shown(runs, report_store, lang):
    """The key accounts and events section (after media, in the contents) names every key
    account of the simulator's truth and states the number of events."""
    from crm_analytics.data.store import load_dealer
    from crm_analytics.report.text import fmt_date

    for did in DEALERS:
        a = load_analysis(runs[lang, did] / did / "analysis.pkl")
        body = _body(runs[lang, did] / did / "report.html")
        anchor = "accounts"
        assert f'id="{anchor}"' in body and f'href="#{anchor}"' in body
        start = body.index(f'id="{anchor}"')
        section = re.sub(r"\s+", " ", _visible(body[start : body.index('id="lists"')]))
        truth = load_dealer(report_store, did).truth  # the run's analysis keeps no truth
        for name in truth["key_accounts"]["name"]:
            assert name in section, (did, lang, name)
        ev = a.dealer.events
        note = t(
            "ev_note",
            lang,
            n=len(ev),
            start=fmt_date(ev["start"].min()),
            end=fmt_date(ev["end"].max()),
            days=90,
            as_of=fmt_date(a.dealer.as_of),
        )
        assert len(ev) > 0 and re.sub(r"\s+", " ", note) in section, (did, lang)
