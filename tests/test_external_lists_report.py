"""External name lists in a dealer's report (issue 17 item 3): the params key, the sample's
list files, the screening computed once in the analysis, the report's lists section in zh and
en, the call-list workbook's sheet, and a list file that is missing.

A one-dealer simulated store with its lists written as the sample's generator writes them
(``write_external_lists``: GB18030 and UTF-8 files with Chinese headers) is reported in zh and
in en with the real ``dealer_report`` notebook (the shared ``lists_runs`` of tests/shared_runs.py,
which also renders the secondary pages tests/test_language.py checks); the numbers in the
report must equal a screening of the same files done here, and the new names the simulator's
truth.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from shared_runs import MISSING_LIST

from crm_analytics.batch.params import load_run_params
from crm_analytics.core.config import resolve_settings
from crm_analytics.core.errors import ParameterError
from crm_analytics.data.dms import read_name_list
from crm_analytics.data.store import load_dealer
from crm_analytics.metrics.external_lists import screen_external_list
from crm_analytics.report.analysis import external_lists, load_analysis
from crm_analytics.report.text import label, t
from crm_analytics.sim.external_lists import LIST_FILES
from tests.test_language import _assert_one_language, _body, _section


@pytest.fixture(scope="module")
def store(lists_runs):
    """The one-dealer store of the shared ``lists_runs`` (tests/shared_runs.py) and its name lists
    as ``write_external_lists`` wrote them."""
    return lists_runs.store, lists_runs.files


@pytest.fixture(scope="module")
def runs(lists_runs):
    """language -> (run folder, parameters): the shared ``lists_runs``, D001 reported in zh and
    in en with the real ``dealer_report`` (and the secondary pages tests/test_language.py
    checks); D001's file names every list of ``store`` and ``MISSING_LIST``, and carries an action
    plan."""
    return lists_runs.runs


@pytest.fixture(scope="module")
def reference(store):
    """The lists screened here, file by file, and their truth: what the report must show."""
    root, files = store
    dealer = load_dealer(root, "D001", truth=False)
    rows = []
    for r in files.itertuples():
        names = read_name_list(root / r.file)
        s = screen_external_list(dealer, names, source=r.source, as_of=r.received)
        truth = pd.read_csv(root / r.file.replace(".csv", ".truth.csv"))
        rows.append(
            {
                "source": r.source,
                **s.attrs["counts"],
                "true_new": int((truth["true_class"] == "new").sum()),
            }
        )
    return pd.DataFrame(rows).set_index("source")


def test_generated_files_exercise_the_reader(store):
    root, files = store
    assert sorted(files["source"]) == sorted(LIST_FILES)
    for r in files.itertuples():
        encoding, name_col, phone_col = LIST_FILES[r.source]
        raw = (root / r.file).read_bytes()
        assert raw.decode(encoding).splitlines()[0] == f"{name_col},{phone_col}"
        assert len(read_name_list(root / r.file)) == r.rows
    gb = (root / files.loc[files["source"] == "auto_show", "file"].iloc[0]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        gb.decode("utf-8")  # the GB18030 list is not UTF-8: the reader's encoding detection is used


def test_screening_is_computed_once_and_matches(runs, reference):
    a = load_analysis(runs["zh"][0] / "D001" / "analysis.pkl")
    ext = a.sections["external_lists"]
    summary = ext["summary"].set_index("source")
    for col in ("rows", "invalid", "duplicate", "open_lead", "existing_customer", "new"):
        assert summary[col].to_dict() == reference[col].to_dict(), col
    # the simulator's truth: the new names found are the new names drawn (within 5%)
    assert abs(summary["new"] - reference["true_new"]).max() <= 0.05 * reference["true_new"].max()
    assert len(ext["calls"]) == int(reference["new"].sum())
    assert set(ext["calls"]["reason"]) == {"external_list"}
    assert [m["file"] for m in ext["missing"]] == [str(a.settings.source) + "/" + MISSING_LIST]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_shows_the_lists_in_one_language(runs, reference, lang):
    body = _body(runs[lang][0] / "D001" / "report.html")
    _assert_one_language(body, lang, "D001 with external lists")
    text = _section(body, "lists")
    assert t("external_lists", lang) in text
    for source, r in reference.iterrows():
        row = re.search(
            re.escape(label(f"list.{source}", lang)) + r"((?: [\d,.%–¥￥万元-]+)+)", text
        )
        assert row, f"{lang}: no row for {source} in: {text[:800]}"
        cells = row.group(1).split()
        assert cells[:6] == [
            f"{int(r[c]):,}"
            for c in ("rows", "invalid", "duplicate", "open_lead", "existing_customer", "new")
        ]
    n_new = f"{int(reference['new'].sum()):,}"
    handover = t("external_lists_handover", lang, n=n_new, sheet=t("wb_external_lists", lang))
    assert re.sub(r"\s+", " ", handover) in text
    assert t("external_lists_missing", lang, n=1, sources=label("list.partner", lang)) in text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_new_names_are_a_sheet_of_the_call_list_workbook(runs, reference, lang):
    sheets = pd.read_excel(runs[lang][0] / "D001" / "call_lists.xlsx", sheet_name=None)
    sheet = sheets[t("wb_external_lists", lang)]
    assert len(sheet) == int(reference["new"].sum())
    phones = sheet[t("wb_phone", lang)].astype(str)
    assert phones.str.contains(r"\*").all()  # masked by default


def test_missing_list_file_is_a_run_note(runs):
    _, params = runs["en"]
    notes = load_run_params(params, all_dealers=True).notes
    hit = [n for n in notes if "gone.csv" in n]
    assert len(hit) == 1 and "D001.yaml" in hit[0] and "item 4" in hit[0]
    assert "correct 'file'" in hit[0]


def test_no_readable_list_gives_the_note_not_an_error(store, tmp_path):
    root, files = store
    (tmp_path / "dealers").mkdir()
    (tmp_path / "dealers" / "D001.yaml").write_text(
        f"dealer_id: D001\nexternal_lists:\n  - {{file: {MISSING_LIST}, source: partner, received: 2026-01-05}}\n"
    )
    s = resolve_settings("D001", params_dir=tmp_path, source=str(root))
    ext = external_lists(load_dealer(root, "D001", truth=False), s)
    assert ext["summary"].empty and ext["calls"].empty
    assert len(ext["missing"]) == 1 and "gone.csv" in ext["missing"][0]["message"]


def test_params_items_are_checked_with_the_file_item_field_and_fix(tmp_path):
    (tmp_path / "dealers").mkdir()
    bad = (
        "dealer_id: D001\nexternal_lists:\n"
        "  - {file: a.csv, source: auto_shw, received: last spring, cost: -5, note: x}\n"
        "  - {source: partner, received: 2026-01-05}\n"
        "  - just a file\n"
    )
    (tmp_path / "dealers" / "D001.yaml").write_text(bad)
    with pytest.raises(ParameterError) as err:
        resolve_settings("D001", params_dir=tmp_path)
    msg = str(err.value)
    f = str(tmp_path / "dealers" / "D001.yaml")
    assert (
        f"{f}: external_lists: item 1: field 'source': unknown source 'auto_shw' (did you mean 'auto_show'?)"
        in msg
    )
    assert "item 1: field 'received' must be a date YYYY-MM-DD" in msg
    assert "item 1: field 'cost' must be a number of yuan" in msg
    assert "item 1: unknown field 'note'" in msg
    assert "item 2: field 'file' is missing" in msg
    assert "item 3: must be a mapping" in msg
    (tmp_path / "dealers" / "D001.yaml").write_text("dealer_id: D001\nexternal_lists: a.csv\n")
    with pytest.raises(ParameterError, match="must be a list of name lists"):
        resolve_settings("D001", params_dir=tmp_path)


def test_params_items_resolve_to_their_normal_form(tmp_path):
    (tmp_path / "dealers").mkdir()
    (tmp_path / "dealers" / "D001.yaml").write_text(
        "dealer_id: D001\nexternal_lists:\n  - {file: l/a.csv, source: partner, received: 2026-01-05, cost: 5000}\n"
        "  - {file: /abs/b.csv, source: list_exchange, received: 2026-02-01}\n"
    )
    s = resolve_settings("D001", params_dir=tmp_path, source=str(tmp_path / "store"))
    assert [dict(x) for x in s.external_lists] == [
        {"file": "l/a.csv", "source": "partner", "received": "2026-01-05", "cost": 5000.0},
        {"file": "/abs/b.csv", "source": "list_exchange", "received": "2026-02-01", "cost": None},
    ]
    assert s.as_dict()["external_lists"][1]["cost"] is None


def test_sample_params_name_the_generated_lists():
    """params/dealers/D001 (zh) and D002 (en) name the files `crm-analytics generate` writes
    (relative to the store folder, so a fresh clone works after `make report`)."""
    for did, lang in (("D001", "zh"), ("D002", "en")):
        s = resolve_settings(did)
        assert s.language == lang
        assert {x["source"] for x in s.external_lists} == set(LIST_FILES)
        assert all(x["file"] == f"external_lists/{did}/{x['source']}.csv" for x in s.external_lists)
