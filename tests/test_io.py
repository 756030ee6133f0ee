"""Tests of crm_analytics.data.store and crm_analytics.data.dms: the Parquet network store and DMS export reading."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from crm_analytics.core.dealer import DealerData
from crm_analytics.core.errors import InputError, UnknownDealerError
from crm_analytics.core.schema import CHANNEL_LABELS_ZH, TABLE_NAMES, columns
from crm_analytics.data import dms, validation
from crm_analytics.data import store as st

AS_OF = pd.Timestamp("2017-06-30")
META = {
    "dealer_id": "D001",
    "name": "Test Motors",
    "city": "Chengdu",
    "region": "West",
    "as_of": AS_OF,
}


def make_tables() -> dict[str, pd.DataFrame]:
    """A small, valid canonical dealer built by hand."""

    def ts(values):
        return pd.to_datetime(values, format="ISO8601")

    customers = pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C003", "C004"],
            "name": ["张伟", "李娜", "王强", None],
            "phone": ["13800000001", "13800000002", None, "13800000004"],
            "gender": ["M", "F", "M", None],
            "birth_year": pd.array([1980, 1975, pd.NA, 1990], dtype="Int64"),
            "city": ["成都", "成都", "绵阳", None],
            "industry": ["finance", "it", None, "trade"],
            "hobbies": ["golf;travel", None, "fishing", "reading"],
            "distance_km": [12.5, 3.0, np.nan, 40.0],
            "created_at": ts(["2016-03-05", "2016-04-01 14:30", "2016-05-10", "2016-07-01"]),
        }
    )
    vehicles = pd.DataFrame(
        {
            "vin": ["LVSHCAAE0GF000001", "LVSHCAAE0GF000002", "LVSHCAAE0GF000003"],
            "customer_id": ["C001", "C002", "C003"],
            "model": ["QX50", "Q50L", "QX60"],
            "purchase_date": ts(["2016-03-20", "2016-05-01", "2015-01-10"]),
            "sold_by_this_dealer": [True, True, False],
            "warranty_end": ts(["2019-03-20", "2019-05-01", "2018-01-10"]),
            "finance_end": ts(["2018-03-20", None, None]),
            "recall_campaign": [None, "RC2017-01", None],
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": ["L001", "L002", "L003", "L004"],
            "customer_id": ["C001", "C002", "C004", "C004"],
            "channel": ["online_inquiry", "walk_in", "referral", "auto_show"],
            "model_interest": ["QX50", "Q50L", "QX60", "QX80"],
            "created_at": ts(["2016-03-05", "2016-04-01", "2016-07-01", "2017-01-15"]),
            "consultant_id": ["S01", "S02", "S01", None],
            "intent_grade": ["H", "A", "B", None],
            "status": ["won", "won", "defeated", "open"],
            "closed_at": ts(["2016-03-18", "2016-04-28", "2016-08-01", None]),
            "defeat_reason": [None, None, "price", None],
            "first_response_at": ts(["2016-03-05 00:20", "2016-04-01", "2016-07-01 03:00", None]),
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["O001", "O002"],
            "lead_id": ["L001", "L002"],
            "customer_id": ["C001", "C002"],
            "vin": ["LVSHCAAE0GF000001", "LVSHCAAE0GF000002"],
            "model": ["QX50", "Q50L"],
            "ordered_at": ts(["2016-03-18", "2016-04-28"]),
            "delivered_at": ts(["2016-03-20", "2016-05-01"]),
            "status": ["delivered", "delivered"],
            "price": [345000.0, 289900.0],
            "vehicle_margin": [-3500.0, 2100.5],
            "finance": [True, False],
            "finance_margin": [4200.0, 0.0],
            "insurance": [True, True],
            "insurance_margin": [1800.0, 1500.0],
            "accessories_amount": [12345.0, 0.0],
            "accessories_margin": [5000.0, 0.0],
            "extended_warranty": [False, True],
            "extended_warranty_margin": [0.0, 2000.0],
            "trade_in": [False, False],
            "trade_in_margin": [0.0, 0.0],
        }
    )
    service_visits = pd.DataFrame(
        {
            "ro_id": ["R001", "R002", "R003"],
            "vin": ["LVSHCAAE0GF000001", "LVSHCAAE0GF000001", "LVSHCAAE0GF000003"],
            "customer_id": ["C001", "C001", "C003"],
            "at": ts(["2016-09-20 09:15", "2017-03-22", "2017-05-02 16:45"]),
            "kind": ["maintenance", "repair", "accident"],
            "labor_amount": [300.0, 1200.0, 4500.0],
            "parts_amount": [450.0, 3800.0, 12000.0],
            "addon_amount": [0.0, 199.0, 0.0],
            "margin": [400.0, 2100.0, 6000.0],
            "mileage": [5000.0, 12000.0, 45000.0],
            "advisor_id": ["A01", None, "A02"],
        }
    )
    return {
        "customers": customers,
        "vehicles": vehicles,
        "leads": leads,
        "orders": orders,
        "service_visits": service_visits,
    }


def assert_tables_equal(a: DealerData, b: DealerData) -> None:
    for table in TABLE_NAMES:
        x = a.tables[table].reset_index(drop=True)
        y = b.tables[table].reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, check_dtype=True, obj=table)


# ---------------------------------------------------------------------------------------------
# Network store
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    tables = make_tables()
    st.write_dealer_tables(
        root, META, tables, truth={"segments": pd.DataFrame({"customer_id": ["C001"], "seg": [1]})}
    )
    other = {t: f.iloc[:1] for t, f in tables.items() if t == "customers"}
    st.write_dealer_tables(root, {"dealer_id": "D002"}, other)
    st.write_dealers_index(
        root,
        pd.DataFrame(
            [META, {"dealer_id": "D002", "name": "Other", "city": "Xi'an", "as_of": AS_OF}]
        ),
    )
    return root


def test_store_round_trip(store: Path) -> None:
    dealer = st.load_dealer(store, "D001")
    expected = validation.build_dealer(make_tables(), dealer_id="D001", as_of=AS_OF)
    assert len(dealer.quarantine) == 0
    assert_tables_equal(dealer, expected)
    assert dealer.name == "Test Motors" and dealer.region == "West" and dealer.as_of == AS_OF
    assert dealer.customers["dealer_id"].eq("D001").all()
    assert list(dealer.truth) == ["segments"]
    assert dealer.truth["segments"]["seg"].tolist() == [1]
    assert st.load_dealer(store, "D001", truth=False).truth == {}


def test_a_store_read_by_url_reads_as_its_folder(store: Path, tmp_path: Path, monkeypatch) -> None:
    """A store copied to an fsspec filesystem (here fsspec's in-memory one, as s3:// or gs://
    would be) loads the same dealer, index and table as its folder; damage there is reported
    with the URL and the file, and the cache a URL read uses is never mistaken for the store."""
    fsspec = pytest.importorskip("fsspec")
    from crm_analytics.core.errors import StoreDamageError

    monkeypatch.setenv("CRM_ANALYTICS_CACHE", str(tmp_path / "cache"))
    mem = fsspec.filesystem("memory")
    url = f"memory://stores/{tmp_path.name}"
    mem.put(str(store), f"/stores/{tmp_path.name}", recursive=True)
    remote = st.load_dealer(url, "D001")
    assert_tables_equal(remote, st.load_dealer(store, "D001"))
    assert list(remote.truth) == ["segments"] and remote.as_of == AS_OF
    pd.testing.assert_frame_equal(st.list_dealers(url), st.list_dealers(store))
    visits, as_of = st.read_table(url, "D001", "service_visits")
    pd.testing.assert_frame_equal(visits, st.read_table(store, "D001", "service_visits")[0])
    assert st.verify_dealer(url, "D001")
    with pytest.raises(UnknownDealerError, match=rf"D999.*{url}"):
        st.load_dealer(url, "D999")
    # a file changed at the URL after a first read: the copy is fetched again and checked
    bad = f"/stores/{tmp_path.name}/leads/dealer_id=D001/part-0.parquet"
    mem.pipe(bad, mem.cat(bad)[:-40])
    with pytest.raises(StoreDamageError, match=rf"(?s){url}.*table 'leads'.*truncated") as err:
        st.load_dealer(url, "D001")
    assert str(tmp_path / "cache") not in str(err.value)
    with pytest.raises(InputError, match=r"memory://nowhere.*not a network store"):
        st.list_dealers("memory://nowhere")
    with pytest.raises(InputError, match=r"no filesystem.*fsspec"):
        st.list_dealers("nosuchprotocol://x/store")


def test_store_one_dealer_and_empty_partitions(store: Path) -> None:
    d2 = st.load_dealer(store, "D002")
    assert d2.customers["customer_id"].tolist() == ["C001"]
    for table in TABLE_NAMES:
        if table != "customers":
            assert len(d2.tables[table]) == 0
            assert list(d2.tables[table].columns) == columns(table)
    assert d2.truth == {}
    # an empty table partition still holds the canonical schema
    path = store / "orders" / "dealer_id=D002" / "part-0.parquet"
    assert path.is_file()
    # a missing partition file is damage when the manifest records it; in an older store
    # without a manifest it can only be read as an empty table (with a warning)
    path.unlink()
    with pytest.raises(InputError, match="missing"):
        st.load_dealer(store, "D002")
    (store / st.MANIFEST_FILE).unlink()
    with pytest.warns(st.StoreWarning):
        assert len(st.load_dealer(store, "D002").orders) == 0


def test_store_is_deterministic(tmp_path: Path) -> None:
    files = []
    for name in ("a", "b"):
        tables = make_tables()
        if name == "b":  # row order of the input does not matter either
            tables = {t: f.iloc[::-1] for t, f in tables.items()}
        written = st.write_dealer_tables(tmp_path / name, META, tables)
        st.write_dealers_index(tmp_path / name, pd.DataFrame([META]))
        files.append(
            sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob("*.parquet"))
        )
        assert len(written) == len(TABLE_NAMES)
    assert files[0] == files[1]
    for rel in files[0]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    # rewriting in place gives the same bytes
    before = (tmp_path / "a" / "customers" / "dealer_id=D001" / "part-0.parquet").read_bytes()
    st.write_dealer_tables(tmp_path / "a", META, make_tables())
    assert (
        tmp_path / "a" / "customers" / "dealer_id=D001" / "part-0.parquet"
    ).read_bytes() == before


def test_list_dealers(store: Path) -> None:
    index = st.list_dealers(store)
    assert index["dealer_id"].tolist() == ["D001", "D002"]
    assert index.loc[1, "region"] == "" and index.loc[1, "opening_hour"] == 9


def test_unknown_dealer(store: Path) -> None:
    with pytest.raises(UnknownDealerError, match=r"D999.*D001"):
        st.load_dealer(store, "D999")


def test_missing_store_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere.*crm-analytics generate"):
        st.load_dealer(tmp_path / "nowhere", "D001")
    with pytest.raises(InputError, match="dealers.parquet"):
        st.list_dealers(tmp_path)


def test_write_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="partition"):
        st.write_dealer_tables(tmp_path, {"dealer_id": "a/b"}, {})
    bad = make_tables()
    bad["customers"] = bad["customers"].assign(extra=1)
    with pytest.raises(InputError, match="extra"):
        st.write_dealer_tables(tmp_path, META, bad)


def test_store_quarantines_bad_rows(tmp_path: Path) -> None:
    tables = make_tables()
    tables["leads"].loc[3, "created_at"] = pd.Timestamp("2018-01-01")  # after as_of
    st.write_dealer_tables(tmp_path, META, tables)
    st.write_dealers_index(tmp_path, pd.DataFrame([META]))
    dealer = st.load_dealer(tmp_path, "D001")
    assert dealer.quarantine["rule"].tolist() == ["after_as_of"]
    assert "L004" not in dealer.leads["lead_id"].tolist()


def test_read_table_is_one_validated_table_cut_at_the_as_of_date(tmp_path: Path) -> None:
    """The network prior's read of one table: the table's own rules and the as-of cut apply,
    and the rows kept equal a full load's when no cross-table rule fires."""
    tables = make_tables()
    tables["service_visits"].loc[0, "at"] = AS_OF + pd.Timedelta(days=3)  # after as_of
    tables["service_visits"].loc[1, "labor_amount"] = -5.0  # a negative amount: invalid
    st.write_dealer_tables(tmp_path, META, tables)
    st.write_dealers_index(tmp_path, pd.DataFrame([META]))
    visits, as_of = st.read_table(tmp_path, "D001", "service_visits")
    full = st.load_dealer(tmp_path, "D001").service_visits
    assert as_of == AS_OF and len(visits) == len(tables["service_visits"]) - 2
    pd.testing.assert_frame_equal(
        visits.sort_values("ro_id").reset_index(drop=True),
        full.sort_values("ro_id").reset_index(drop=True),
        check_like=True,
    )
    with pytest.raises(InputError, match="unknown table"):
        st.read_table(tmp_path, "D001", "visits")
    with pytest.raises(UnknownDealerError):
        st.read_table(tmp_path, "D009", "service_visits")


# ---------------------------------------------------------------------------------------------
# DMS exports
# ---------------------------------------------------------------------------------------------

MAPPING = dms.load_mapping()
ZH_FILES = {t: (MAPPING["tables"][t].get("files") or [t])[0] for t in TABLE_NAMES}


def _zh_header(table: str, col: str) -> str:
    return (MAPPING["tables"][table].get("columns") or {}).get(col, [col])[0]


def _zh_value_maps(table: str) -> dict[str, dict[str, str]]:
    """canonical -> first Chinese value, per column."""
    out: dict[str, dict[str, str]] = {}
    for col, vmap in (MAPPING["tables"][table].get("values") or {}).items():
        rev: dict[str, str] = {}
        for zh, canon in vmap.items():
            rev.setdefault(canon, zh)
        out[col] = rev
    return out


def _fmt_date(value: pd.Timestamp, i: int) -> str:
    if pd.isna(value):
        return ""
    if value.hour or value.minute:
        return (
            value.strftime("%Y-%m-%d %H:%M")
            if i % 2
            else f"{value.year}/{value.month}/{value.day} {value:%H:%M}"
        )
    style = i % 4
    if style == 0:
        return value.strftime("%Y-%m-%d")
    if style == 1:
        return f"{value.year}/{value.month}/{value.day}"
    if style == 2:
        return f"{value.year}年{value.month}月{value.day}日"
    return str((value - pd.Timestamp("1899-12-30")).days)  # Excel serial


def _fmt_amount(value: float, i: int) -> str:
    if pd.isna(value):
        return ""
    return [f"{value:,.2f}", f"{value:g}元", f"￥{value:,.2f}", f"{value}"][i % 4]


def to_chinese(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A canonical frame as a Chinese DMS would export it: headers, values, dates, amounts."""
    kinds = st.column_kinds(table)
    vmaps = _zh_value_maps(table)
    lists = set(MAPPING["tables"][table].get("lists") or [])
    out = {}
    for col in frame.columns:
        s = frame[col]
        kind = kinds[col]
        if kind == "datetime":
            vals = [_fmt_date(v, i) for i, v in enumerate(s)]
        elif kind == "float":
            vals = [_fmt_amount(v, i) for i, v in enumerate(s)]
        elif kind == "bool":
            vals = ["是" if v else "否" for v in s]
        elif kind == "int":
            vals = ["" if pd.isna(v) else str(int(v)) for v in s]
        else:
            rev = vmaps.get(col, {})
            if col in lists:
                vals = [
                    "" if pd.isna(v) else "、".join(rev.get(x, x) for x in v.split(";")) for v in s
                ]
            else:
                vals = ["" if pd.isna(v) else rev.get(v, v) for v in s]
        out[_zh_header(table, col)] = vals
    return pd.DataFrame(out)


def write_csv(path: Path, frame: pd.DataFrame, encoding: str) -> None:
    frame.to_csv(path, index=False, encoding=encoding)


def write_xlsx(path: Path, frame: pd.DataFrame) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append(
            [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in row]
        )
    book.save(path)


def english_export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in make_tables().items():
        frame.to_csv(folder / f"{table}.csv", index=False, encoding="utf-8")
    return folder


def chinese_export(folder: Path, encoding: str = "gb18030") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in make_tables().items():
        write_csv(folder / f"{ZH_FILES[table]}.csv", to_chinese(table, frame), encoding)
    return folder


def xlsx_export(folder: Path) -> Path:
    """Excel export: real date cells, numbers as numbers, Chinese headers and values."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in make_tables().items():
        zh = to_chinese(table, frame)
        kinds = st.column_kinds(table)
        for col in frame.columns:  # native cells for dates and numbers
            if kinds[col] in ("datetime", "float"):
                zh[_zh_header(table, col)] = (
                    frame[col].astype(object).where(frame[col].notna(), None).tolist()
                )
        write_xlsx(folder / f"{ZH_FILES[table]}.xlsx", zh)
    return folder


def read(folder: Path, **kw) -> DealerData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dms.DMSExportWarning)
        return dms.read_dms_export(folder, dealer_id="D001", as_of=AS_OF, **kw)


@pytest.fixture(scope="module")
def expected() -> DealerData:
    return validation.build_dealer(make_tables(), dealer_id="D001", as_of=AS_OF)


@pytest.mark.parametrize("builder", [english_export, chinese_export, xlsx_export])
def test_dms_exports_load_equal(tmp_path: Path, expected: DealerData, builder) -> None:
    dealer = read(builder(tmp_path / "export"))
    assert len(dealer.quarantine) == 0, dealer.quarantine
    assert_tables_equal(dealer, expected)


def test_dms_utf8_bom_and_default_as_of(tmp_path: Path, expected: DealerData) -> None:
    folder = chinese_export(tmp_path / "D777", encoding="utf-8-sig")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dms.DMSExportWarning)
        dealer = dms.read_dms_export(folder, name="N", city="C")
    assert dealer.dealer_id == "D777"
    assert dealer.as_of == pd.Timestamp("2017-05-02")  # date of the latest event (16:45 that day)
    assert len(dealer.quarantine) == 0
    for table in TABLE_NAMES:
        pd.testing.assert_frame_equal(
            dealer.tables[table].drop(columns="dealer_id"),
            expected.tables[table].drop(columns="dealer_id"),
        )


def test_dms_broken_cells_are_quarantined(tmp_path: Path) -> None:
    folder = chinese_export(tmp_path / "export")
    path = folder / f"{ZH_FILES['leads']}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
    frame.loc[1, "创建时间"] = "2016-13-45"
    frame.loc[2, "创建时间"] = "last tuesday"
    write_csv(path, frame, "gb18030")
    path = folder / f"{ZH_FILES['orders']}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
    frame.loc[0, "成交价"] = "about 300k"
    write_csv(path, frame, "gb18030")
    dealer = read(folder)
    q = dealer.quarantine
    dates = q[q["rule"] == "unparseable_date"]
    assert sorted(dates["row_id"]) == ["L002", "L003"]
    assert sorted(dates["source_row"]) == [3, 4]  # file rows, header = 1
    assert set(dates["value"]) == {"2016-13-45", "last tuesday"}
    amounts = q[q["rule"] == "unparseable_amount"]
    assert amounts["row_id"].tolist() == ["O001"] and amounts["source_row"].tolist() == [2]
    assert "L002" not in dealer.leads["lead_id"].tolist()
    # an order of a quarantined lead is quarantined too (foreign key), nothing dangles
    assert dealer.orders["order_id"].tolist() == []
    summary = dealer.summary().set_index("table")
    assert summary.loc["leads", "rows_in"] == 4 and summary.loc["leads", "kept"] == 2
    report = dealer.report.set_index(["table", "rule"])
    assert report.loc[("leads", "unparseable_date"), "count"] == 2


def test_dms_zero_byte_file(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    (folder / "orders.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"orders\.csv.*0 bytes"):
        read(folder)


def test_dms_header_only_file_is_empty_table(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    pd.DataFrame(columns=columns("orders")[1:]).to_csv(folder / "orders.csv", index=False)
    dealer = read(folder)
    assert len(dealer.orders) == 0
    assert list(dealer.orders.columns) == columns("orders")


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "客户编号,姓名\nC001,张伟\n".encode("utf-16"),
        "客户编号,姓名\nC001,张伟\n".encode("utf-16-le"),
    ],
    ids=["random", "utf16", "utf16-no-bom"],
)
def test_dms_undecodable_file(tmp_path: Path, content: bytes) -> None:
    folder = english_export(tmp_path / "export")
    (folder / "vehicles.csv").write_bytes(content)
    with pytest.raises(InputError, match=r"vehicles\.csv.*(UTF-8|GB18030)"):
        read(folder)


def test_dms_ragged_rows_and_quoted_newlines(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    frame = make_tables()["customers"]
    frame.loc[0, "name"] = '张伟\n(董事长), "老客户"'
    frame.to_csv(folder / "customers.csv", index=False)
    assert read(folder).customers.loc[0, "name"] == frame.loc[0, "name"]
    with (folder / "customers.csv").open("a", encoding="utf-8") as fh:
        fh.write("C009,x,y\n")
    with pytest.raises(InputError, match=r"customers\.csv.*well-formed"):
        read(folder)


def test_store_path_with_glob_characters(tmp_path: Path) -> None:
    root = tmp_path / "net[2016]"
    st.write_dealer_tables(root, META, make_tables())
    st.write_dealers_index(root, pd.DataFrame([META]))
    assert len(st.load_dealer(root, "D001").customers) == 4


def test_dms_missing_column(tmp_path: Path) -> None:
    folder = chinese_export(tmp_path / "export")
    path = folder / f"{ZH_FILES['leads']}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030").drop(
        columns="渠道"
    )
    write_csv(path, frame, "gb18030")
    with pytest.raises(InputError, match=r"线索\.csv.*leads.*channel.*渠道"):
        read(folder)


def test_dms_missing_optional_column_warns(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    frame = make_tables()["customers"].drop(columns="hobbies").assign(note="x")
    frame.to_csv(folder / "customers.csv", index=False)
    with pytest.warns(dms.DMSExportWarning, match=r"customers\.csv.*note.*hobbies"):
        dealer = dms.read_dms_export(folder, dealer_id="D001", as_of=AS_OF)
    assert dealer.customers["hobbies"].isna().all()


def test_dms_duplicated_headers(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    path = folder / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["customer_id", "name", "name", "created_at"])
        writer.writerow(["C1", "a", "b", "2016-01-01"])
    with pytest.raises(InputError, match=r"customers\.csv.*duplicated.*name"):
        read(folder)
    # two headers that map to one column are a clash, too
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["客户编号", "手机", "电话", "建档日期"])
        writer.writerow(["C1", "1", "2", "2016-01-01"])
    with pytest.raises(InputError, match=r"customers\.csv.*phone"):
        read(folder)


def test_dms_missing_customers_and_folder(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    (folder / "customers.csv").unlink()
    with pytest.raises(InputError, match=r"export.*客户\.csv.*customers\.csv"):
        read(folder)
    with pytest.raises(InputError, match="does not exist"):
        read(tmp_path / "nowhere")


def test_shipped_mapping_covers_every_table_and_channel() -> None:
    root = Path(__file__).resolve().parents[1]
    params = root / "params" / "dms_mapping.yaml"
    data = yaml.safe_load(params.read_text(encoding="utf-8"))
    assert set(data["tables"]) == set(TABLE_NAMES)
    # every channel's Chinese label maps to it
    for table in ("leads", "touchpoints", "surveys", "channel_costs"):
        values = data["tables"][table]["values"]
        col = "recalled_channel" if table == "surveys" else "channel"
        for canon, zh in CHANNEL_LABELS_ZH.items():
            assert values[col][zh] == canon


def test_parsers() -> None:
    dates, bad = dms.parse_dates(
        pd.Series(
            [
                "2016-03-05",
                "2016/3/5",
                "2016年3月5日",
                "2016-03-05 14:30",
                "42434",
                "",
                None,
                "x",
                "2016-02-30",
            ]
        )
    )
    assert dates.iloc[:5].tolist() == [pd.Timestamp("2016-03-05")] * 3 + [
        pd.Timestamp("2016-03-05 14:30"),
        pd.Timestamp("2016-03-05"),
    ]
    assert bad.tolist() == [False] * 7 + [True, True]
    # impossible dates and times never roll over silently, whatever the layout
    wrong = [
        "2016-02-30",
        "2016/02/30 10:00",
        "2016-03-05 14:60",
        "2016-03-05 24:00",
        "2015年2月29日",
    ]
    dates, bad = dms.parse_dates(
        pd.Series(wrong + ["2016-02-29", "2016-03-05 14:30:59", "2016.3.5", "20160305"])
    )
    assert bad.tolist() == [True] * 5 + [False] * 4
    assert (
        dates.iloc[5:].tolist()
        == pd.to_datetime(
            ["2016-02-29", "2016-03-05 14:30:59", "2016-03-05", "2016-03-05"], format="ISO8601"
        ).tolist()
    )
    amounts, bad = dms.parse_amounts(
        pd.Series(["12,345.00", "12345元", "￥12,345", "1.2万", "", "12k"])
    )
    assert amounts.iloc[:4].tolist() == [12345.0, 12345.0, 12345.0, 12000.0]
    assert bad.tolist() == [False] * 5 + [True]
    flags, bad = dms.parse_booleans(
        pd.Series(["是", "否", "Y", "N", "1", "0", "true", "False", "", "maybe"])
    )
    assert flags.iloc[:8].tolist() == [True, False] * 4
    assert bad.tolist() == [False] * 9 + [True]


# ---------------------------------------------------------------------------------------------
# The simulator writes the store through write_dealer_tables / write_dealers_index
# ---------------------------------------------------------------------------------------------


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(a) or pd.api.types.is_datetime64_any_dtype(b):
        a, b = a.astype("datetime64[us]"), b.astype("datetime64[us]")
    na_a, na_b = pd.isna(a).to_numpy(), pd.isna(b).to_numpy()
    return bool((na_a == na_b).all() and (a.to_numpy()[~na_a] == b.to_numpy()[~na_b]).all())


def test_simulator_store_loads(tmp_path: Path) -> None:
    synth = pytest.importorskip("crm_analytics.sim")
    index = synth.simulate_network(n_dealers=2, customers_per_dealer=120, out=tmp_path, workers=1)
    assert st.list_dealers(tmp_path)["dealer_id"].tolist() == index["dealer_id"].tolist()
    dealer = st.load_dealer(tmp_path, "D002")
    direct = synth.simulate_dealer(1, customers=120)
    assert dealer.as_of == direct.as_of and dealer.name == direct.name
    assert dealer.summary().equals(direct.summary())
    for table in TABLE_NAMES:
        a, b = dealer.tables[table], direct.tables[table]
        keys = list(a.columns[1:3])
        a = a.sort_values(keys, kind="mergesort").reset_index(drop=True)
        b = b.sort_values(keys, kind="mergesort").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=table)
    assert sorted(dealer.truth) == sorted(direct.truth)
    for name, frame in direct.truth.items():
        if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0):
            frame = frame.reset_index()
        got = dealer.truth[name]
        assert list(got.columns) == [str(c) for c in frame.columns], name
        for col in frame.columns:
            assert _same_values(got[str(col)], frame[col]), (name, col)


# ---------------------------------------------------------------------------------------------
# Store manifest and damage
# ---------------------------------------------------------------------------------------------


def _part(root: Path, table: str, dealer: str) -> Path:
    return root / table / f"dealer_id={dealer}" / st.PART_FILE


def test_manifest_records_tables_rows_and_checksums(store: Path) -> None:
    import hashlib
    import json

    manifest = json.loads((store / st.MANIFEST_FILE).read_text(encoding="utf-8"))
    assert set(manifest["dealers"]) == {"D001", "D002"}
    entry = manifest["dealers"]["D001"]["tables"]
    assert set(entry) == set(TABLE_NAMES)
    assert entry["customers"]["rows"] == 4 and entry["surveys"]["rows"] == 0
    path = _part(store, "customers", "D001")
    assert entry["customers"]["bytes"] == path.stat().st_size
    assert entry["customers"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["dealers"]["D001"]["truth"]["segments"]["rows"] == 1
    assert manifest["index"]["rows"] == 2
    assert st.verify_dealer(store, "D001") is True


def _damage(path: Path, how: str) -> None:
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "altered":  # same size, one byte changed
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "garbage":  # the store's files as another tool might leave them
        path.write_bytes(b"not parquet at all")


@pytest.mark.parametrize(
    "how,match",
    [
        ("deleted", "missing"),
        ("truncated", "truncated or changed"),
        ("altered", "checksum mismatch"),
        ("garbage", "truncated or changed"),
    ],
)
def test_damaged_store_is_reported_per_dealer(store: Path, how: str, match: str) -> None:
    from crm_analytics.core.errors import CRMAnalyticsError, StoreDamageError

    path = _part(store, "orders", "D001")
    _damage(path, how)
    with pytest.raises(StoreDamageError) as info:
        st.load_dealer(store, "D001")
    msg = str(info.value)
    assert "'D001'" in msg and "'orders'" in msg and "orders/dealer_id=D001" in msg
    assert match in msg and "Regenerate" in msg
    assert isinstance(info.value, CRMAnalyticsError) and isinstance(info.value, InputError)
    # the other dealer is unaffected
    other = st.load_dealer(store, "D002")
    assert len(other.customers) == 1
    # a check loop over the store can catch the error per dealer and carry on
    outcome = {}
    for did in st.list_dealers(store)["dealer_id"]:
        try:
            st.load_dealer(store, did)
            outcome[did] = "ok"
        except CRMAnalyticsError as err:
            outcome[did] = type(err).__name__
    assert outcome == {"D001": "StoreDamageError", "D002": "ok"}


def test_deleted_table_file_was_silently_empty_before(store: Path) -> None:
    """The defect: a deleted table file loaded as an empty table; a truly empty table loads."""
    assert len(st.load_dealer(store, "D001").surveys) == 0  # written empty: fine
    _part(store, "leads", "D001").unlink()
    with pytest.raises(InputError, match=r"table 'leads'.*missing"):
        st.load_dealer(store, "D001")


def test_corrupt_parquet_without_manifest_names_the_file(store: Path) -> None:
    """A corrupt file surfaced as ``_duckdb.InvalidInputException: No magic bytes``."""
    from crm_analytics.core.errors import StoreDamageError

    (store / st.MANIFEST_FILE).unlink()
    _damage(_part(store, "vehicles", "D001"), "garbage")
    with pytest.warns(st.StoreWarning, match="no manifest.json"):
        with pytest.raises(StoreDamageError, match=r"dealer 'D001' table 'vehicles'.*Parquet"):
            st.load_dealer(store, "D001")


def test_store_without_manifest_loads_with_a_warning(store: Path) -> None:
    (store / st.MANIFEST_FILE).unlink()
    with pytest.warns(st.StoreWarning, match="older version"):
        dealer = st.load_dealer(store, "D001")
    assert len(dealer.customers) == 4


def test_unreadable_manifest_and_unlisted_dealer_are_damage(store: Path) -> None:
    from crm_analytics.core.errors import StoreDamageError

    (store / st.MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(StoreDamageError, match="manifest.json is unreadable"):
        st.load_dealer(store, "D001")
    # rewriting a dealer repairs the manifest; a dealer the index lists but the manifest does
    # not (its tables were never written) is damage, not an empty dealer
    st.write_dealer_tables(store, META, make_tables())
    assert len(st.load_dealer(store, "D001").customers) == 4
    with pytest.raises(StoreDamageError, match="'D002'.*never completely written"):
        st.load_dealer(store, "D002")


def test_corrupt_dealers_index_is_damage(store: Path) -> None:
    from crm_analytics.core.errors import StoreDamageError

    (store / st.DEALERS_FILE).write_bytes(b"PAR1garbage")
    with pytest.raises(StoreDamageError, match=r"dealers index.*dealers\.parquet"):
        st.list_dealers(store)


def test_manifest_survives_parallel_writers(tmp_path: Path) -> None:
    import json
    from concurrent.futures import ProcessPoolExecutor

    root = tmp_path / "store"
    ids = [f"D{i:03d}" for i in range(6)]
    with ProcessPoolExecutor(max_workers=3) as ex:
        list(ex.map(_write_customers_only, [(str(root), d) for d in ids]))
    manifest = json.loads((root / st.MANIFEST_FILE).read_text(encoding="utf-8"))
    assert sorted(manifest["dealers"]) == ids


def _write_customers_only(args: tuple[str, str]) -> None:
    root, dealer = args
    st.write_dealer_tables(root, {"dealer_id": dealer}, {"customers": make_tables()["customers"]})


# ---------------------------------------------------------------------------------------------
# Damaged and hostile DMS exports
# ---------------------------------------------------------------------------------------------


def _rezip(path: Path, edit) -> None:
    """Rewrite an .xlsx zip, passing each (name, bytes) member through ``edit`` (None drops)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            data = edit(name, data)
            if data is not None:
                z.writestr(name, data)


@pytest.mark.parametrize(
    "edit,match",
    [
        # the sheet XML cut short raised xml.etree.ElementTree.ParseError
        (
            lambda n, d: d[: len(d) // 2] if n.startswith("xl/worksheets/") else d,
            "not a readable .xlsx",
        ),
        # no worksheet part raised IndexError
        (
            lambda n, d: None if n.startswith("xl/worksheets/") else d,
            "not a readable .xlsx|no worksheet",
        ),
        # a workbook listing no sheet at all
        (
            lambda n, d: (
                d.replace(d[d.index(b"<sheets>") : d.index(b"</sheets>") + 9], b"<sheets/>")
                if n == "xl/workbook.xml"
                else d
            ),
            "not a readable .xlsx|no worksheet",
        ),
    ],
    ids=["sheet-cut-short", "no-worksheet-part", "no-sheet-listed"],
)
def test_dms_damaged_xlsx_is_an_input_error(tmp_path: Path, edit, match: str) -> None:
    folder = xlsx_export(tmp_path / "export")
    path = folder / f"{ZH_FILES['orders']}.xlsx"
    _rezip(path, edit)
    with pytest.raises(InputError, match=match) as info:
        read(folder)
    assert ZH_FILES["orders"] in str(info.value) and "re-export" in str(info.value).lower()


def test_dms_source_row_counts_blank_lines_csv(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    lines = (folder / "leads.csv").read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    bad = body[1].split(",")
    bad[4] = "last tuesday"  # created_at of L002
    # line 1 header, 2 blank, 3 L001, 4 blank, 5 only commas (blank), 6 L002 (bad), ...
    out = [header, "", body[0], "", ",,,,", ",".join(bad), "   ", *body[2:]]
    (folder / "leads.csv").write_text("\r\n".join(out) + "\r\n", encoding="utf-8")
    dealer = read(folder)
    q = dealer.quarantine[dealer.quarantine["rule"] == "unparseable_date"]
    assert q["row_id"].tolist() == ["L002"] and q["source_row"].tolist() == [6]
    assert dealer.rows_in["leads"] == 4  # blank lines are not rows
    assert sorted(dealer.leads["lead_id"]) == ["L001", "L003", "L004"]


def test_dms_source_row_counts_quoted_newlines_and_leading_blank_lines(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    frame = make_tables()["customers"].astype({"created_at": object})
    frame.loc[0, "name"] = '张伟\n(董事长)\n"老客户"'  # a cell over three lines
    frame.loc[2, "created_at"] = "not a date"
    text = "\n\n" + frame.to_csv(index=False, lineterminator="\n")
    (folder / "customers.csv").write_text(text, encoding="utf-8")
    dealer = read(folder)
    q = dealer.quarantine[dealer.quarantine["table"] == "customers"]
    # header on line 3; C001 on lines 4-6; C002 on 7; C003 on 8
    assert q.loc[q["rule"] == "unparseable_date", "source_row"].tolist() == [8]
    assert dealer.customers.set_index("customer_id").loc["C001", "name"] == frame.loc[0, "name"]


def test_dms_source_row_counts_blank_rows_xlsx(tmp_path: Path) -> None:
    folder = xlsx_export(tmp_path / "export")
    path = folder / f"{ZH_FILES['leads']}.xlsx"
    book = openpyxl.load_workbook(path)
    sheet = book.active
    sheet.insert_rows(2)  # a blank row 2: L001 on row 3, L002 on row 4, ...
    sheet.insert_rows(4, amount=2)  # L002 on row 6
    header = [c.value for c in sheet[1]]
    sheet.cell(row=6, column=header.index(_zh_header("leads", "created_at")) + 1).value = "上周二"
    book.save(path)
    dealer = read(folder)
    q = dealer.quarantine[dealer.quarantine["rule"] == "unparseable_date"]
    assert q["row_id"].tolist() == ["L002"] and q["source_row"].tolist() == [6]
    assert dealer.rows_in["leads"] == 4


CHINESE_ROWS = {
    "customer_id": ["C001", "C002", "C003"],
    "name": ["張三豐", "陳美玲", "李志明"],
    "city": ["臺北市中山區", "高雄市前鎮區", "新竹縣竹北市"],
    "created_at": ["2016-03-05", "2016-04-01", "2016-05-10"],
}
JAPANESE_ROWS = {
    "customer_id": ["C001", "C002", "C003"],
    "name": ["山田太郎", "佐藤花子", "鈴木一郎"],
    "city": ["東京都新宿区", "大阪府大阪市", "神奈川県横浜市"],
    "created_at": ["2016-03-05", "2016-04-01", "2016-05-10"],
}


@pytest.mark.parametrize(
    "rows,encoding,likely",
    [
        (CHINESE_ROWS, "big5", "Big5"),
        (JAPANESE_ROWS, "shift_jis", "Shift-JIS"),
        (CHINESE_ROWS, "cp950", "Big5"),
    ],
)
def test_dms_mojibake_encodings_are_refused(
    tmp_path: Path, rows: dict, encoding: str, likely: str
) -> None:
    """Big5 / Shift-JIS files with English headers loaded silently as mojibake."""
    folder = tmp_path / "export"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "customers.csv", index=False, encoding=encoding)
    with pytest.raises(InputError, match=rf"customers\.csv.*implausible.*most likely {likely}"):
        read(folder)
    # declaring the encoding reads it correctly
    dealer = read(folder, encoding=encoding)
    assert dealer.customers["name"].tolist() == rows["name"]
    assert dealer.customers["city"].tolist() == rows["city"]


def test_dms_private_use_text_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    rows = dict(CHINESE_ROWS, name=["\ue000\ue001", "\ue002\ue003", "张伟"])
    pd.DataFrame(rows).to_csv(folder / "customers.csv", index=False, encoding="utf-8")
    with pytest.raises(InputError, match=r"decodes as utf-8-sig.*implausible"):
        read(folder)


def test_dms_genuine_gb18030_with_a_rare_name_character_loads(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    rows = {
        "customer_id": [f"C{i:03d}" for i in range(20)],
        "name": ["王喆", "张伟", "李娜", "刘洋", "陈静"] * 4,  # 喆 is outside GB2312
        "city": ["成都市武侯区", "绵阳市涪城区", "北京市朝阳区", "上海市浦东新区"] * 5,
        "created_at": ["2016-03-05"] * 20,
    }
    pd.DataFrame(rows).to_csv(folder / "customers.csv", index=False, encoding="gb18030")
    assert read(folder).customers["name"].tolist() == rows["name"]


def test_dms_csv_cut_inside_a_quoted_cell_is_refused(tmp_path: Path) -> None:
    """Found by the fuzzer: a file ending inside a quoted cell loaded its partial last row."""
    folder = english_export(tmp_path / "export")
    text = (folder / "customers.csv").read_text(encoding="utf-8")
    (folder / "customers.csv").write_text(text + 'C009,"张', encoding="utf-8")
    with pytest.raises(InputError, match=r"customers\.csv.*line 6.*never closed.*cut short"):
        read(folder)


def test_dealers_index_without_its_columns_is_damage(store: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from crm_analytics.core.errors import StoreDamageError

    pq.write_table(pa.table({"dealer_id": ["D001"]}), store / st.DEALERS_FILE)
    with pytest.raises(StoreDamageError, match=r"dealers\.parquet lacks column\(s\).*as_of"):
        st.load_dealer(store, "D001")


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root reads files whatever their permissions",
)
def test_dms_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    (folder / "leads.csv").chmod(0)
    with pytest.raises(InputError, match=r"leads\.csv.*cannot be read"):
        read(folder)


def test_dms_declared_gb18030_reads_traditional_characters(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    pd.DataFrame(CHINESE_ROWS).to_csv(folder / "customers.csv", index=False, encoding="gb18030")
    with pytest.raises(InputError, match="pass encoding='gb18030'"):
        read(folder)  # guessed: mostly characters outside GB2312, so refused
    dealer = read(folder, encoding="gb18030")  # declared: read as written
    assert dealer.customers["name"].tolist() == CHINESE_ROWS["name"]


def test_dms_declared_utf8_with_bom_keeps_its_first_header(tmp_path: Path) -> None:
    folder = english_export(tmp_path / "export")
    text = (folder / "customers.csv").read_text(encoding="utf-8")
    (folder / "customers.csv").write_text(text, encoding="utf-8-sig")
    assert len(read(folder, encoding="utf-8").customers) == 4
