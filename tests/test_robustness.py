"""Robustness: the public API fed bad input, end to end.

The project's rule: bad input gets a clear error and loses nothing; every input row is used or
quarantined with a reason and counted; zero denominators give NaN with a stated reason, never a
RuntimeWarning; no crash on empty tables. Every analysis here runs with RuntimeWarning turned into
an error.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import (
    ConvergenceError,
    CRMAnalyticsError,
    InputError,
    InsufficientDataError,
)
from crm_analytics.core.schema import TABLE_NAMES
from crm_analytics.data import dms, validation
from crm_analytics.metrics import attribution, lifecycle, quality
from crm_analytics.models import clv
from crm_analytics.sim import simulate_dealer
from crm_analytics.sim.dms_export import to_dms_frame

EVIL = "<script>alert(1)</script>😀"


def _rebuild(d, **tables) -> DealerData:
    t = dict(d.tables)
    t.update(tables)
    return validation.build_dealer(
        t,
        dealer_id=d.dealer_id,
        as_of=d.as_of,
        opening_hour=d.opening_hour,
        closing_hour=d.closing_hour,
    )


def _assert_counted(d: DealerData) -> None:
    """rows_in = kept + quarantined rows, per table (nothing silently lost)."""
    s = d.summary().set_index("table")
    for table in TABLE_NAMES:
        row = s.loc[table]
        assert row["rows_in"] == row["kept"] + row["quarantined"], (table, row.to_dict())


@pytest.fixture(scope="module")
def base():
    return simulate_dealer(0, customers=250, seed=5)


@pytest.fixture(scope="module")
def scenarios(base) -> dict[str, DealerData]:
    out: dict[str, DealerData] = {}
    tp = base.touchpoints
    out["no_leads"] = _rebuild(
        base, leads=base.leads.iloc[:0], orders=base.orders.iloc[:0], touchpoints=tp
    )
    out["no_service"] = _rebuild(base, service_visits=base.service_visits.iloc[:0])
    cut = base.as_of - pd.DateOffset(years=1)
    stale = {}
    for name, df in base.tables.items():
        keep = pd.Series(True, index=df.index)
        for c in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                keep &= ~(df[c] > cut)
        stale[name] = df[keep]
    out["stale"] = validation.build_dealer(stale, dealer_id=base.dealer_id, as_of=base.as_of)
    out["tiny"] = simulate_dealer(0, customers=50)
    out["empty"] = validation.build_dealer({}, dealer_id="D9", as_of="2026-01-31")
    c = base.customers.copy()
    c["name"] = (EVIL + c["name"].astype(str)).where(c.index % 3 == 0, c["name"])
    staff = base.staff.copy()
    staff["name"] = EVIL
    t2 = tp.copy()
    t2["channel"] = t2["channel"].astype(object).where(t2.index % 5 != 0, EVIL)
    vl = base.visitor_log.copy()
    vl["name"] = EVIL
    out["html"] = _rebuild(base, customers=c, staff=staff, touchpoints=t2, visitor_log=vl)
    sv = base.service_visits
    again = sv.iloc[-30:].assign(ro_id=sv["ro_id"].iloc[-30:] + "-2")  # same visit, new RO id
    out["dups"] = _rebuild(
        base,
        customers=pd.concat([base.customers, base.customers.iloc[:20]]),
        service_visits=pd.concat([sv, again]),
        visitor_log=pd.concat([base.visitor_log, base.visitor_log.iloc[:10]]),
    )
    return out


def _strict_runtime(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return fn(*args, **kw)


def _analyses(d: DealerData) -> dict[str, object]:
    """Every public analysis on one dealer; a package error is a result, anything else fails."""
    start = d.as_of - pd.DateOffset(years=1)
    calls = {
        "scorecard": lambda: quality.quality_scorecard(d),
        "reconcile": lambda: quality.reconcile_visits(d),
        "journeys": lambda: attribution.journeys(d),
        "attribute": lambda: attribution.attribute(attribution.journeys(d)),
        "media": lambda: attribution.media_efficiency(d),
        "states": lambda: lifecycle.lifecycle_states(d),
        "transition": lambda: lifecycle.transition_matrix(d, start, d.as_of, normalize=True),
        "value_chain": lambda: clv.customer_value_chain(d),
        "value_chain_clv": lambda: clv.value_chain_clv(),
        "clv": lambda: clv.probabilistic_clv(clv.fit_base_models(d)),
    }
    out: dict[str, object] = {}
    for name, call in calls.items():
        try:
            out[name] = _strict_runtime(call)
        except CRMAnalyticsError as err:
            out[name] = err
    return out


@pytest.fixture(scope="module")
def results(scenarios) -> dict[str, dict[str, object]]:
    return {name: _analyses(d) for name, d in scenarios.items()}


SCENARIOS = ["no_leads", "no_service", "stale", "tiny", "empty", "html", "dups"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_rows_counted(scenarios, name) -> None:
    _assert_counted(scenarios[name])


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_crash_and_clear_errors(results, name) -> None:
    """No TypeError/KeyError/RuntimeWarning; package errors name the dealer or table and a fix."""
    for fn, res in results[name].items():
        if isinstance(res, CRMAnalyticsError):
            msg = str(res)
            assert isinstance(res, (InputError, InsufficientDataError)), (fn, repr(res))
            assert "dealer" in msg or "table" in msg, (fn, msg)


def test_empty_dealer_results(results, scenarios) -> None:
    r = results["empty"]
    assert len(r["states"]) == 0
    assert r["transition"].to_numpy().sum() == 0 or r["transition"].isna().all().all()
    assert len(r["journeys"]) == 0 and len(r["value_chain"]) == 0
    assert isinstance(r["clv"], (InputError, InsufficientDataError))
    assert "service visits" in str(r["clv"])
    sc = r["scorecard"]
    assert sc.rules["checked"].eq(0).all() and sc.rules["score"].isna().all()
    assert sc.rules["note"].str.len().gt(0).all()  # every NaN says why


def test_no_service_visits(results, scenarios) -> None:
    r, d = results["no_service"], scenarios["no_service"]
    states = r["states"]
    assert len(states) == len(d.customers)
    assert states["visits_24m"].eq(0).all() and states["last_visit"].isna().all()
    # owners known by purchase here, but never serviced: their recency runs from the purchase
    owners = states[states["origin"] == "own_store"]
    assert len(owners) and owners["months_since_visit"].notna().all()
    assert isinstance(r["clv"], InputError) and "service visits" in str(r["clv"])


def test_no_leads(results, scenarios) -> None:
    r = results["no_leads"]
    assert len(r["journeys"]) == 0
    assert (r["states"]["state"] == "defeated").sum() == 0


def test_html_and_emoji_are_data_not_markup(results, scenarios) -> None:
    r = results["html"]
    for fn in ("scorecard", "reconcile"):
        html = r[fn]._repr_html_()
        assert "<script>" not in html, fn
    # names are masked in outputs (first character kept), so the raw markup never reaches them
    rec = r["reconcile"]
    for frame in (rec.matched, rec.unregistered) if hasattr(rec, "matched") else ():
        if "name" in frame:
            assert not frame["name"].astype(str).str.contains("script>").any()


def test_duplicates_quarantined_once(scenarios, base) -> None:
    d = scenarios["dups"]
    q = d.quarantine
    dup = q[(q["table"] == "customers") & (q["rule"] == "duplicate_key")]
    assert len(dup) == 20  # the copies, not the originals
    assert len(d.customers) == len(base.customers)


@pytest.mark.parametrize("name", ["no_leads", "html", "dups"])
def test_bgnbd_converges_on_small_dealers(results, name) -> None:
    assert not isinstance(results[name]["clv"], CRMAnalyticsError), results[name]["clv"]


def test_small_dealer_bgnbd_falls_back_to_a_named_penalty(scenarios) -> None:
    """76 service customers: the unpenalised optimum is on the boundary (a, b -> inf)."""
    from crm_analytics.core.errors import SmallDealerWarning
    from crm_analytics.models.btyd import BGNBD

    d = scenarios["no_leads"]
    with pytest.raises(ConvergenceError):
        BGNBD().fit(clv.service_summary(d))
    with pytest.warns(SmallDealerWarning, match="l2_penalty="):
        models = clv.fit_base_models(d)
    assert models.count.l2_penalty in clv.FALLBACK_PENALTIES
    with warnings.catch_warnings():  # an explicit penalty is the caller's choice: no retry
        warnings.simplefilter("error", SmallDealerWarning)
        assert clv.fit_base_models(d, l2_penalty=1e-4).count.l2_penalty == 1e-4


# ---------------------------------------------------------------------------------------------
# A bad DMS export: GB18030, Chinese headers and values, mixed and broken dates, amounts with 元
# and thousands separators, duplicated rows, an empty table file, rows of another dealer
# ---------------------------------------------------------------------------------------------
MAPPING = dms.load_mapping()


@pytest.fixture(scope="module")
def bad_export(tmp_path_factory):
    d = simulate_dealer(0, customers=50)
    folder = tmp_path_factory.mktemp("dms") / "D001"
    folder.mkdir()
    files = {}
    for table in TABLE_NAMES:
        frame = d.tables[table].drop(columns="dealer_id")
        files[table] = (MAPPING["tables"][table].get("files") or [table])[0]
        if table == "surveys":  # an empty table: header only
            frame = frame.iloc[:0]
        zh = to_dms_frame(table, frame, MAPPING, mixed_formats=True)
        if table == "customers":
            # two rows of another dealer that reuses our ids come first, then ours, then a
            # duplicated row of ours
            zh = pd.concat([zh.iloc[:2], zh, zh.iloc[[5]]], ignore_index=True)
            zh.insert(0, "dealer_id", ["D002"] * 2 + ["D001"] * (len(zh) - 2))
        if table == "service_visits":
            zh.iloc[0, list(frame.columns).index("at")] = "2025-02-30"  # no such day
            zh.iloc[1, list(frame.columns).index("at")] = "上周二"
        zh.to_csv(folder / f"{files[table]}.csv", index=False, encoding="gb18030")
    (folder / "空表.csv").write_bytes(b"")  # a 0-byte file of no table: ignored with a warning
    return d, folder


def test_bad_dms_export_end_to_end(bad_export) -> None:
    d, folder = bad_export
    with pytest.warns(dms.DMSExportWarning, match="空表"):
        got = dms.read_dms_export(folder, as_of=d.as_of)
    assert got.dealer_id == "D001"
    _assert_counted(got)
    q = got.quarantine
    rules = q.groupby(["table", "rule"]).size()
    assert rules[("customers", "other_dealer")] == 2
    assert rules[("customers", "duplicate_key")] == 1
    dup = q[(q["table"] == "customers") & (q["rule"] == "duplicate_key")]
    assert dup["source_row"].tolist() == [len(d.customers) + 4]  # the last row of the file
    # the other dealer's rows do not push our customers with the same id out
    assert set(got.customers["customer_id"]) == set(d.customers["customer_id"])
    bad_dates = q[(q["table"] == "service_visits") & (q["rule"] == "unparseable_date")]
    assert sorted(bad_dates["source_row"]) == [2, 3]
    assert set(bad_dates["value"]) == {"2025-02-30", "上周二"}
    assert len(got.surveys) == 0
    kept_ro = set(got.service_visits["ro_id"])
    assert (
        len(kept_ro)
        == len(d.service_visits)
        - 2
        - ((q["table"] == "service_visits") & (q["rule"] != "unparseable_date")).sum()
    )
    # amounts with 元, ￥ and thousands separators parse to the simulator's numbers
    o = got.orders.set_index("order_id")["price"]
    pd.testing.assert_series_equal(
        o.sort_index(), d.orders.set_index("order_id")["price"].loc[o.index].sort_index()
    )
    for name, res in _analyses(got).items():
        if isinstance(res, CRMAnalyticsError):
            assert not isinstance(res, TypeError), name


def test_copies_that_both_fail_are_both_counted(base) -> None:
    c = base.customers.iloc[:5].astype({"created_at": object}).reset_index(drop=True)
    c = pd.concat([c, c.iloc[[0]]], ignore_index=True)  # a copy of row 0 ...
    c.loc[0, "created_at"] = "not a date"  # ... whose original is broken too
    d = validation.build_dealer(
        {"customers": c, "staff": base.staff}, dealer_id=base.dealer_id, as_of=base.as_of
    )
    s = d.summary().set_index("table").loc["customers"]
    assert (s["rows_in"], s["kept"], s["quarantined"]) == (6, 4, 2)


def test_same_day_visits_count_once(scenarios, base) -> None:
    """A repair order keyed in twice (new RO id, same vehicle, same day) is one visit."""
    a = lifecycle.lifecycle_states(base).set_index("customer_id")
    b = lifecycle.lifecycle_states(scenarios["dups"]).set_index("customer_id")
    pd.testing.assert_series_equal(a["visits_24m"], b["visits_24m"])
    pd.testing.assert_series_equal(a["state"], b["state"])
    # the simulator's own same-day visits: counted as days
    sv = base.service_visits
    recent = sv[sv["at"] >= base.as_of - pd.DateOffset(months=24)]
    days = recent.groupby("customer_id")["at"].agg(lambda s: s.dt.normalize().nunique())
    assert a["visits_24m"].reindex(days.index).tolist() == days.tolist()


def test_html_repr_escapes_dealer_id() -> None:
    d = validation.build_dealer({}, dealer_id="<b>D9</b>", as_of="2026-01-31")
    rec = quality.reconcile_visits(d, mask=False)
    for obj in (rec, quality.quality_scorecard(d, reconciliation=rec)):
        page = obj._repr_html_()
        assert "<b>D9" not in page and "&lt;b&gt;D9" in page


def test_stale_dealer_silent_months_flagged(results, scenarios, base) -> None:
    """Data that stops a year before as-of: the scorecard names the silent months, the fix list
    sends them to the CRM desk; the full dealer has none."""
    sc = results["stale"]["scorecard"]
    fl = sc.flags[sc.flags["rule"] == "silent_month"]
    cut = base.as_of - pd.DateOffset(years=1)
    sv = fl[fl["table"] == "service_visits"]
    assert len(sv) >= 6
    assert (pd.to_datetime(sv["at"]) >= cut.to_period("M").to_timestamp()).all()
    r = sc.rules.set_index(["table", "rule"])
    assert r.loc[("service_visits", "no_silent_month"), "failed"] == len(sv)
    fixes = quality.fix_list(scenarios["stale"])
    assert set(fixes.loc[fixes["issue"] == "silent_month", "owner"]) == {"crm"}
    full = results["html"]["scorecard"]  # same dealer, all months
    assert (full.rules.loc[full.rules["rule"] == "no_silent_month", "failed"] == 0).all()
    assert results["tiny"]["scorecard"].flags["rule"].ne("silent_month").all()


def test_amounts_never_misread() -> None:
    """A separator that is not a thousands separator fails the cell instead of moving the point."""
    cells = ["1.234,50", "1,5", "12 3", "1,234.5元", "-1,234", "1,234,567.89", "RMB 12345", "12 万"]
    got, failed = dms.parse_amounts(pd.Series(cells, dtype=object))
    assert failed.tolist() == [True, True, True, False, False, False, False, False]
    assert got[~failed].tolist() == [1234.5, -1234.0, 1234567.89, 12345.0, 120000.0]


def test_full_width_dates() -> None:
    got, failed = dms.parse_dates(
        pd.Series(["１９９８-０１-０２", "2016/3/5 14：30"], dtype=object)
    )
    assert not failed.any()
    assert got.tolist() == [pd.Timestamp("1998-01-02"), pd.Timestamp("2016-03-05 14:30")]


def test_repair_order_keyed_twice_is_flagged(results, base) -> None:
    sc = results["dups"]["scorecard"]
    fl = sc.flags[sc.flags["rule"] == "duplicate_repair_order"]
    copies = base.service_visits["ro_id"].iloc[-30:] + "-2"
    assert set(fl["row_id"]) == set(copies)
    assert (fl["detail"] == "copy of " + fl["row_id"].str[:-2]).all()
    r = sc.rules.set_index(["table", "rule"]).loc[("service_visits", "one_repair_order")]
    assert (r["checked"], r["failed"]) == (len(base.service_visits) + 30, 30)
    clean = results["html"]["scorecard"].rules.set_index(["table", "rule"])
    assert clean.loc[("service_visits", "one_repair_order"), "failed"] == 0


def test_big5_file_is_refused_naming_big5(tmp_path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    frame = pd.DataFrame({"客戶編號": ["C1"], "姓名": ["張偉"], "建檔日期": ["2016-01-01"]})
    frame.to_csv(folder / "客户.csv", index=False, encoding="big5")
    with pytest.raises(InputError, match=r"客户\.csv.*implausible.*most likely Big5.*encoding="):
        dms.read_dms_export(folder, as_of="2016-02-01")


# ---------------------------------------------------------------------------------------------
# The HTML safety net: escape what it must, keep tables readable
# ---------------------------------------------------------------------------------------------


def _nb(*fragments: str, mime: str = "text/html"):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={mime: f}) for f in fragments]
    nb.cells = [cell]
    return nb, cell


def test_javascript_in_a_data_string_keeps_the_table_readable() -> None:
    """A data string containing ``javascript:`` made the safety net show the whole table as
    escaped source."""
    from crm_analytics.report import display

    frame = pd.DataFrame(
        {"name": ["javascript:alert(1)", "<script>x</script>", "张伟"], "n": [1, 2, 3]}
    )
    table = display.html_table(frame)
    nb, cell = _nb(table)
    assert display.neutralize_active_html(nb) == 0
    assert cell.outputs[0]["data"]["text/html"] == table
    assert "<table" in table and "<pre>" not in table


@pytest.mark.parametrize(
    "fragment,gone,kept",
    [
        ('<a href="javascript:alert(1)">x</a>', "javascript", "<a>x</a>"),
        ('<a href=" java&#x09;script:alert(1)">x</a>', "script:", "<a>x</a>"),
        ('<a href="https://example.com/a?b=1">ok</a>', None, 'href="https://example.com/a?b=1"'),
        ('<img src=x onerror=alert("c")>', "onerror", '<img src="x">'),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "svg+xml", "<img>"),
        ("<td><script>alert(1)</script></td>", "<script", "<td>&lt;script&gt;"),
        ("<iframe src=https://x></iframe>", "<iframe", "&lt;iframe"),
        ("<style>td{background:url(javascript:x)}</style><b>b</b>", "<style>", "<b>b</b>"),
        ('<div style="width:expression(alert(1))">d</div>', "expression", "<div>d</div>"),
        ('<form action="https://x"><input name=a></form>', "<form", "&lt;form"),
        ("<svg><script>alert(1)</script></svg>", "<svg", "&lt;svg&gt;"),
    ],
)
def test_safety_net_makes_only_the_active_part_inert(fragment: str, gone, kept: str) -> None:
    from crm_analytics.report import display

    table = display.html_table(pd.DataFrame({"name": ["javascript:void(0)", "李娜"]}))
    nb, cell = _nb(table + fragment)
    changed = display.neutralize_active_html(nb)
    out = cell.outputs[0]["data"]["text/html"]
    assert changed == (gone is not None)
    assert out.startswith(table)  # the table before it is untouched
    tail = out[len(table) :]
    if gone is not None:
        assert gone not in tail.replace("&lt;" + gone.lstrip("<"), ""), tail
    assert kept in tail
    assert "<pre>" not in out


def test_safety_net_covers_markdown_and_svg_outputs() -> None:
    from crm_analytics.report import display

    nb, cell = _nb("**bold** <script>alert(1)</script>", mime="text/markdown")
    assert display.neutralize_active_html(nb) == 1
    assert "<script>" not in cell.outputs[0]["data"]["text/markdown"]
    assert "**bold**" in cell.outputs[0]["data"]["text/markdown"]
    nb, cell = _nb('<svg onload="alert(1)"><rect/></svg>', mime="image/svg+xml")
    assert display.neutralize_active_html(nb) == 1
    assert "image/svg+xml" not in cell.outputs[0]["data"]
    nb, cell = _nb("<svg><rect width='1'/></svg>", mime="image/svg+xml")
    assert display.neutralize_active_html(nb) == 0


# ---------------------------------------------------------------------------------------------
# One run per run folder: the lock
# ---------------------------------------------------------------------------------------------


def test_run_lock_refuses_a_second_run_and_survives_kill(tmp_path, lock_holder) -> None:
    import json
    import signal

    from crm_analytics.batch.lock import LOCK_FILE, RunLock, read_lock
    from crm_analytics.core.errors import RunLockedError

    proc = lock_holder(tmp_path)
    try:
        info = read_lock(tmp_path)
        assert info["pid"] == proc.pid
        with pytest.raises(RunLockedError, match=rf"pid {proc.pid} on host .*started"):
            RunLock(tmp_path).acquire()
        proc.send_signal(signal.SIGKILL)  # killed mid-run: the lock file stays behind ...
        proc.wait(timeout=30)
        assert (tmp_path / LOCK_FILE).exists()
        with RunLock(tmp_path) as lock:  # ... but does not block the next run
            assert lock.held
            assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] != proc.pid
            with pytest.raises(RunLockedError):  # nor a second lock in the same process
                RunLock(tmp_path).acquire()
        assert not (tmp_path / LOCK_FILE).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_lock_judges_unheld_lock_files(tmp_path) -> None:
    import json
    import socket

    from crm_analytics.batch.lock import LOCK_FILE, RunLock, _process_start
    from crm_analytics.core.errors import RunLockedError

    path = tmp_path / LOCK_FILE
    host = socket.gethostname()

    def write(**info):
        path.write_text(json.dumps({"started": "2026-01-01T00:00:00+00:00", **info}))

    write(pid=2**22 + 12345, host=host)  # a dead pid on this host: stale, taken over
    RunLock(tmp_path).acquire().release()
    write(pid=1, host=host, process_start=_process_start(1))  # alive: refused
    with pytest.raises(RunLockedError, match="pid 1 .*alive"):
        RunLock(tmp_path).acquire()
    write(pid=1, host=host, process_start="0")  # pid reused by another process: stale
    RunLock(tmp_path).acquire().release()
    write(pid=4242, host="elsewhere")  # another host: cannot be judged, never broken
    with pytest.raises(RunLockedError, match="host elsewhere.*another host.*remove"):
        RunLock(tmp_path).acquire()
    path.write_text("")  # an empty lock file (a run killed while creating it)
    RunLock(tmp_path).acquire().release()


def test_dates_in_tables_stay_on_one_line():
    """A narrow column wrapped 2025-07-08 as 2025-07- / 08 in the coaching table."""
    from crm_analytics.report import display

    frame = pd.DataFrame(
        {"due": ["2025-07-08", "soon"], "window": ["2025-07-01 至 2025-09-30", "–"]}
    )
    table = display.html_table(frame)
    assert table.count('<td style="white-space:nowrap">') == 2
    assert "<td>soon</td>" in table
