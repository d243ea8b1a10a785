"""rotxl.data.io: reading CSV/XLSX exports exactly as typed, and writing CSV/XLSX safely."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import rotxl
from rotxl.data import io as rio
from rotxl.data.io import OutputError, ReadError, read_accounts, read_pipeline, read_table, write_table
from rotxl.rules.schema import MissingColumnsError

FORMULAS = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3"]


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A workbook made with openpyxl directly, so reading is tested independently of writing."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


# ---------------------------------------------------------------- read_table: CSV


def test_csv_values_stay_exactly_as_typed(tmp_path):
    f = write_text(tmp_path / "a.csv", "Account ID,Revenue,Note\n007,12k,\n010, 5 ,NA\n")
    df = read_table(f)
    assert list(df.columns) == ["Account ID", "Revenue", "Note"]
    assert df.to_dict("list") == {"Account ID": ["007", "010"], "Revenue": ["12k", " 5 "], "Note": ["", "NA"]}
    assert all(pd.api.types.is_string_dtype(df[c]) for c in df.columns)
    assert df.attrs["source"] == "a.csv"


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_csv_delimiter_is_sniffed(tmp_path, sep):
    f = write_text(tmp_path / "a.csv", sep.join(["Account ID", "Account", "Revenue"]) + "\n" + sep.join(["A1", '"Smith, Jones; Co"', "5"]) + "\n")
    df = read_table(f)
    assert list(df.columns) == ["Account ID", "Account", "Revenue"]
    assert df.iloc[0].tolist() == ["A1", "Smith, Jones; Co", "5"]
    assert df.attrs["delimiter"] == sep


def test_csv_encodings_bom_cp1252_and_utf16(tmp_path):
    text = "Account ID;Account\nA1;Zoë Café\n"
    for name, data in {
        "bom.csv": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "ansi.csv": text.encode("cp1252"),
        "unicode.txt": text.encode("utf-16"),
    }.items():
        (tmp_path / name).write_bytes(data)
        df = read_table(tmp_path / name)
        assert list(df.columns) == ["Account ID", "Account"], name
        assert df["Account"].tolist() == ["Zoë Café"], name


def test_blank_lines_and_empty_rows_are_not_records(tmp_path):
    f = write_text(tmp_path / "a.csv", "\n,,\nAccount ID,Revenue\nA1,5\n,\n\nA2,6\n")
    df = read_table(f)
    assert df["Account ID"].tolist() == ["A1", "A2"]


def test_ragged_rows_and_duplicate_headers(tmp_path):
    f = write_text(tmp_path / "a.csv", "Amount,Amount,\n1,2\n3,4,5\n")
    df = read_table(f)
    assert list(df.columns) == ["Amount", "Amount.1", "Column 3"]
    assert df.iloc[0].tolist() == ["1", "2", ""]


# ---------------------------------------------------------------- read_table: XLSX


def test_xlsx_header_is_first_non_empty_row_and_values_keep_their_types(tmp_path):
    f = write_xlsx(tmp_path / "a.xlsx", {"Export": [
        [None, None], [None, "Account ID", "Revenue", "Close", "Flag"],
        [None, "007", 1200, dt.date(2026, 1, 2), True],
        [None, 1001, 12.5, None, False],
    ]})
    df = read_table(f)
    assert list(df.columns) == ["Account ID", "Revenue", "Close", "Flag"]
    assert df["Account ID"].tolist() == ["007", 1001]  # text stays text; 1001 is not "1001.0"
    assert df["Revenue"].tolist() == [1200, 12.5]
    assert df["Close"].iloc[0] in (dt.date(2026, 1, 2), dt.datetime(2026, 1, 2))
    assert df["Close"].iloc[1] is None
    assert df["Flag"].tolist() == [True, False]


def test_xlsx_reads_the_sheet_asked_for_else_the_first(tmp_path):
    f = write_xlsx(tmp_path / "book.xlsx", {
        "Start": [["Read me"]],
        "accounts": [["Account ID", "Account", "Revenue"], ["A1", "Acme", 5]],
        "Pipeline": [["Opportunity ID", "Amount"], ["O1", 7]],
    })
    assert read_table(f, "Accounts")["Account"].tolist() == ["Acme"]  # sheet names match case-insensitively
    assert read_table(f, "Pipeline")["Amount"].tolist() == [7]
    assert list(read_table(f)) == ["Read me"]
    assert read_accounts(f)["Revenue"].tolist() == [5]


def test_xlsx_without_calamine_falls_back_to_openpyxl(tmp_path, monkeypatch):
    f = write_xlsx(tmp_path / "a.xlsx", {"Accounts": [
        ["Title of the report"], [], ["Account ID", "Revenue", "When"],
        ["007", 1200, dt.date(2026, 1, 2)], ["A2", "12k", None],
    ]})
    with_calamine = read_table(f)
    monkeypatch.setitem(sys.modules, "python_calamine", None)  # makes the import fail
    without = read_table(f)
    # The title row is the header (first non-empty row); both readers agree on every value.
    assert list(without.columns) == ["Title of the report", "Column 2", "Column 3"]
    assert without.iloc[:, 0].tolist() == ["Account ID", "007", "A2"]
    assert without.iloc[1, 1] == 1200 and without.iloc[2, 1] == "12k"
    pd.testing.assert_frame_equal(with_calamine.iloc[:, :2], without.iloc[:, :2])
    assert pd.Timestamp(with_calamine.iloc[1, 2]) == pd.Timestamp(without.iloc[1, 2]) == pd.Timestamp("2026-01-02")


# ---------------------------------------------------------------- read_table: errors


def test_unreadable_files_raise_read_error_naming_the_file(tmp_path, monkeypatch):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "blank.csv").write_text("\n , \n")
    (tmp_path / "broken.xlsx").write_bytes(b"this is not a zip file")
    (tmp_path / "binary.csv").write_bytes(b"PK\x03\x04\x00\x00garbage")
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4")
    write_xlsx(tmp_path / "nothing.xlsx", {"Sheet": []})
    cases = {
        "missing.csv": "no such file",
        "empty.csv": "empty",
        "blank.csv": "empty",
        "broken.xlsx": "not a readable Excel workbook",
        "binary.csv": "binary",
        "report.pdf": "cannot read '.pdf'",
        "nothing.xlsx": "empty",
    }
    for name, what in cases.items():
        with pytest.raises(ReadError) as info:
            read_table(tmp_path / name)
        assert name in str(info.value) and what in str(info.value), str(info.value)
        assert isinstance(info.value, ValueError)
    monkeypatch.setitem(sys.modules, "python_calamine", None)
    with pytest.raises(ReadError, match="broken.xlsx: not a readable Excel workbook"):
        read_table(tmp_path / "broken.xlsx")


# ---------------------------------------------------------------- read_accounts / read_pipeline


def test_read_accounts_renames_matched_columns_and_keeps_the_others(tmp_path):
    f = write_text(tmp_path / "sf.csv", "Account ID,Account Name,Industry,Annual Revenue,Revenue (TTM),Account Owner,Margin %\n"
                                        "A1,Acme,Retail,5000,\"1,200\",Ana,40\n")
    df = read_accounts(f)
    # Annual Revenue is the customer's size (Company Revenue), never Revenue (SPEC §7.2).
    assert list(df.columns) == ["Account ID", "Account", "Industry", "Company Revenue", "Revenue", "Owner", "Margin"]
    assert df["Revenue"].tolist() == [1200.0]
    assert df["Company Revenue"].tolist() == [5000.0]
    assert df["Margin"].tolist() == [0.4]


def test_missing_columns_name_file_missing_found_and_closest(tmp_path):
    f = write_text(tmp_path / "export.csv", "Acount ID,Account,Revnue\nA1,Acme,5\n")
    with pytest.raises(MissingColumnsError) as info:
        read_accounts(f)
    message = str(info.value)
    assert message.startswith("export.csv:")
    for text in ("'Account ID'", "'Revenue'", '"Acount ID"', '"Revnue"', 'did you mean "Revnue" for "Revenue"'):
        assert text in message, message


def test_percent_header_divides_numbers_by_100_and_leaves_the_rest(tmp_path):
    f = write_text(tmp_path / "sf.csv", "Opportunity ID,Amount,Probability (%)\nO1,10,60\nO2,10,33.3\nO3,10,60%\nO4,10,high\nO5,10,\nO6,10,0\n")
    p = read_pipeline(f)["Probability"].tolist()
    assert p[:2] == [0.6, 0.333]  # exact decimals, not 0.33299999999999996
    assert p[2:] == [0.6, "high", "", 0.0]  # ÷ 100 once: "60%" in a "(%)" column is 0.6
    x = write_xlsx(tmp_path / "sf.xlsx", {"Sheet1": [["Opportunity ID", "Amount", "Probability (%)"], ["O1", 10, 60], ["O2", 10, 33.3]]})
    assert read_pipeline(x)["Probability"].tolist() == [0.6, 0.333]


def test_status_is_derived_from_crm_stage_only_when_there_is_no_status(tmp_path):
    f = write_text(tmp_path / "deals.csv", "Opportunity ID,Amount,Stage\nO1,1,Closed Won\nO2,1,closed lost\nO3,1,closedwon\nO4,1,CLOSEDLOST\nO5,1,Proposal\nO6,1,\n")
    df = read_pipeline(f)
    assert df["Status"].tolist() == ["Won", "Lost", "Won", "Lost", "", ""]
    g = write_text(tmp_path / "own.csv", "Opportunity ID,Amount,Stage,Status\nO1,1,Closed Won,Open\nO2,1,Closed Lost,\n")
    assert read_pipeline(g)["Status"].tolist() == ["Open", ""]


def test_semicolon_files_read_decimal_commas_in_number_columns(tmp_path):
    f = write_text(tmp_path / "eu.csv", "Account ID;Account;Revenue;Hours;Margin %\nA1;Acme;1.234,56;12,5;40,5\nA2;Beta;12k;7;\n", "cp1252")
    df = read_accounts(f)
    assert df["Revenue"].tolist() == [1234.56, "12k"]
    assert df["Hours"].tolist() == [12.5, 7.0]
    assert df["Margin"].tolist()[0] == 0.405 and np.isnan(df["Margin"].tolist()[1])
    assert df["Account"].tolist() == ["Acme", "Beta"]


# ---------------------------------------------------------------- writing


def test_guard_round_trips_any_text():
    tricky = [*FORMULAS, "'=already", "''+x", "'plain", "-5", "+5", "-1.5e3", "-12%", "\tx", "\rx", "=", "'", "", "abc"]
    for text in tricky:
        assert rio.unguard_csv_text(rio.guard_csv_text(text)) == text
    assert [rio.guard_csv_text(t) for t in FORMULAS] == ["'" + t for t in FORMULAS]
    assert rio.guard_csv_text("-5") == "-5" and rio.guard_csv_text("-12%") == "-12%"


def test_formula_like_text_is_literal_text_in_xlsx_and_round_trips_through_csv(tmp_path):
    df = pd.DataFrame({"Account ID": ["A1", "A2", "A3", "A4"], "Account": FORMULAS, FORMULAS[1]: ["x", "y", "z", "w"]})
    write_table(df, tmp_path / "out.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    cells = [ws.cell(row=r, column=2) for r in range(2, 6)]
    assert [c.value for c in cells] == FORMULAS
    assert [c.data_type for c in cells] == ["s"] * 4
    assert ws.cell(row=1, column=3).value == FORMULAS[1] and ws.cell(row=1, column=3).data_type == "s"

    write_table(df, tmp_path / "out.csv")
    raw = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw and "'@SUM(A1)" in raw and "'+cmd" in raw and "'-2+3" in raw
    back = read_table(tmp_path / "out.csv")
    assert back["Account"].tolist() == FORMULAS
    assert list(back.columns) == list(df.columns)


def test_xlsx_numbers_dates_booleans_formats_and_layout(tmp_path):
    df = pd.DataFrame({
        "Account ID": ["007", "A2", "A3"],
        "Revenue": ["1200.5", "12k", ""],
        "Margin": ["40%", "0.25", ""],
        "Employees": ["250", "x", ""],
        "Close Date": ["2026-12-01", "soon", ""],
        "ROT": [1.5, float("nan"), None],
        "Overdue": pd.array([True, False, pd.NA], dtype="boolean"),
    })
    write_table(df, tmp_path / "out.xlsx", sheet="Accounts")
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx")
    ws = wb["Accounts"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2, max_row=4)]
    assert rows[0] == ["007", 1200.5, 0.4, "250", dt.datetime(2026, 12, 1), 1.5, True]
    assert rows[1] == ["A2", "12k", 0.25, "x", "soon", None, False]
    assert rows[2] == ["A3", None, None, None, None, None, None]
    assert [ws.cell(row=2, column=c).number_format for c in (2, 3, 5, 6)] == ["#,##0.00", "0.0%", "yyyy-mm-dd", "#,##0.00"]
    assert ws.cell(row=2, column=7).data_type == "b"
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:G4"
    assert ws.cell(row=1, column=1).font.bold
    assert all(ws.column_dimensions[col].width >= 8 for col in "ABCDEFG")


def test_csv_output_reads_back_value_for_value(tmp_path):
    df = pd.DataFrame({"Account ID": ["007", "A2"], "Revenue": [1200.5, float("nan")], "Flag": [True, False],
                       "When": [dt.date(2026, 1, 2), None], "Name": ["Zoë, \"quoted\"\nline", "+"]})
    write_table(df, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    back = read_table(tmp_path / "out.csv")
    assert back.to_dict("list") == {"Account ID": ["007", "A2"], "Revenue": ["1200.5", ""], "Flag": ["True", "False"],
                                    "When": ["2026-01-02", ""], "Name": ["Zoë, \"quoted\"\nline", "+"]}


def test_write_is_atomic_and_leaves_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.xlsx"
    target.write_bytes(b"the old report")

    def broken(df, path, sheet):
        Path(path).write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(rio, "_write_xlsx", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_table(pd.DataFrame({"a": [1]}), target)
    assert target.read_bytes() == b"the old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx"]


def test_write_refuses_other_extensions_before_writing_anything(tmp_path):
    for name in ("out.txt", "out.xls", "out"):
        with pytest.raises(OutputError, match="cannot write"):
            write_table(pd.DataFrame({"a": [1]}), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_classified_xlsx_output_reads_back_to_the_same_result(tmp_path):
    from rotxl.data.sample import sample_accounts

    src = sample_accounts(120)
    first = rotxl.classify_accounts(src)
    write_table(first, tmp_path / "accounts.xlsx", sheet="Accounts")
    again = rotxl.classify_accounts(read_accounts(tmp_path / "accounts.xlsx"))
    assert again["Segment"].fillna("").tolist() == first["Segment"].fillna("").tolist()
    assert again["Issues"].tolist() == first["Issues"].tolist()
    pd.testing.assert_series_equal(again["ROT"].astype(float), first["ROT"].astype(float), check_names=False)


def test_written_files_get_a_normal_files_permissions(tmp_path):
    reference = tmp_path / "reference.txt"
    reference.write_text("x")
    for name in ("out.csv", "out.xlsx"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / name)
        assert (tmp_path / name).stat().st_mode == reference.stat().st_mode  # not mkstemp's private 0600
