"""The workbook actions (rotxl.excel.macros), run on xlwings' remote Book: the Book xlwings Lite and
xlwings Server build from the JSON their Excel client sends.

The payload is made the way the client makes it, from a real rotxl workbook: build_workbook on
the sample team, recalculated in LibreOffice so every formula cell carries the value Excel would
show; sheets, tables and named cells as Office.js reports them. The tests assert on the actions
xlwings would send back to Excel (book.json()): values, formats, formulas, sheets, messages.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest
import xlwings as xw
from openpyxl.utils import get_column_letter, range_boundaries
from python_calamine import CalamineWorkbook

from rotxl.rules import engine, plan

from rotxl.excel import macros

from rotxl.data import sample
from rotxl.rules.schema import ACCOUNT_DERIVED, PIPELINE_DERIVED
from rotxl.rules.settings import Settings
from rotxl.excel.workbook import build_workbook, reading_rows, save_workbook
from spreadsheet import recalculate

SHEETS = ["Start", "This Week", "Accounts", "Pipeline", "Dashboard", "Settings", "Chart Data"]
ACC, PIPE, SETTINGS = SHEETS.index("Accounts"), SHEETS.index("Pipeline"), SHEETS.index("Settings")


# ---------------------------------------------------------------- a payload as the Office.js client sends it


def _client_value(v: object) -> object:
    """A cell as Office.js reports it: blanks "", date cells as ISO timestamps."""
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(v, dt.date):
        return f"{v.isoformat()}T00:00:00.000Z"
    return v


def payload(wb, recalculated: Path, name: str = "team.xlsx") -> dict:
    """xlwings' remote-book JSON of workbook ``wb`` with the values of its recalculated copy."""
    values = CalamineWorkbook.from_path(str(recalculated))
    sheets = []
    for ws in wb.worksheets:
        rows = values.get_sheet_by_name(ws.title).to_python(skip_empty_area=False)
        width = max((len(r) for r in rows), default=0)
        tables = []
        for t in ws.tables.values():
            c1, r1, c2, r2 = range_boundaries(t.ref)
            left, right = get_column_letter(c1), get_column_letter(c2)
            tables.append({
                "name": t.displayName, "range_address": t.ref,
                "header_row_range_address": f"{left}{r1}:{right}{r1}",
                "data_body_range_address": f"{left}{r1 + 1}:{right}{r2}", "total_row_range_address": None,
                "show_headers": True, "show_totals": False, "table_style": "TableStyleMedium2", "show_autofilter": True,
                "columns": [c.name for c in t.tableColumns], "row_count": r2 - r1 + 1, "column_count": c2 - c1 + 1,
            })
        sheets.append({
            "name": ws.title, "visibility": "Visible" if ws.sheet_state == "visible" else "Hidden",
            "values": [[_client_value(v) for v in r] + [""] * (width - len(r)) for r in rows] or [[]],
            "pictures": [], "shapes": [], "charts": [], "notes": [], "tables": tables, "pivot_tables": [],
            "show_gridlines": True,
        })
    names = []
    for n, d in wb.defined_names.items():
        sheet, address = d.attr_text.split("!")
        names.append({"name": n, "sheet_index": wb.sheetnames.index(sheet.strip("'")), "address": address.replace("$", ""),
                      "book_scope": True, "scope_sheet_name": None, "scope_sheet_index": None, "refers_to": "=" + d.attr_text})
    return {"client": "Office.js", "version": xw.__version__, "names": names, "sheets": sheets,
            "book": {"name": name, "active_sheet_index": 0, "selection": "A1"}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Payloads of the sample team's workbook (messy, as exports are) and of a clean one."""
    tmp = tmp_path_factory.mktemp("macros")
    acc = sample.sample_accounts(150)
    pipe = sample.sample_pipeline(acc, 220)
    pipe = pipe.iloc[reading_rows(pipe)].reset_index(drop=True)  # the order the workbook holds them in (Won, Lost last)
    clean_acc = sample.sample_accounts(60, messy=False)
    clean_pipe = sample.sample_pipeline(clean_acc, 80, messy=False)
    # The clean team has no open deal without a contact, engagement or amount problem.
    clean_pipe["Last Contact"] = clean_pipe["Last Contact"].fillna(sample.SAMPLE_AS_OF)
    built = {}
    for name, (a, p) in {"team": (acc, pipe), "clean": (clean_acc, clean_pipe)}.items():
        wb = build_workbook(a, p, Settings(as_of=sample.SAMPLE_AS_OF))
        save_workbook(wb, tmp / f"{name}.xlsx")
        built[name] = wb
    out = recalculate([tmp / "team.xlsx", tmp / "clean.xlsx"], tmp / "recalculated")
    return {"acc": acc, "pipe": pipe, "tmp": tmp,
            "team": payload(built["team"], out[0]), "clean": payload(built["clean"], out[1], "clean.xlsx")}


def book_of(p: dict) -> xw.Book:
    return xw.Book(json=copy.deepcopy(p))


def actions(book: xw.Book, func: str | None = None, sheet: int | None = None) -> list[dict]:
    return [a for a in book.json()["actions"]
            if (func is None or a["func"] == func) and (sheet is None or a["sheet_position"] == sheet)]


def message(book: xw.Book) -> tuple[str, str]:
    """The one message shown, and its mode: info or critical."""
    alerts = actions(book, "alert")
    assert len(alerts) == 1, book.json()["actions"]
    assert book.json()["actions"][-1]["func"] == "alert"  # shown once everything else is done
    prompt, title, buttons, mode, _ = alerts[0]["args"]
    assert title == "rotxl" and buttons == "ok"
    return prompt, mode


def table(p: dict, sheet: int) -> pd.DataFrame:
    """A sheet's values as xlwings reads them: blanks None, ISO timestamps datetimes."""
    def read(v):
        if v == "":
            return None
        if isinstance(v, str) and v.endswith("T00:00:00.000Z"):
            return dt.datetime.fromisoformat(v[:-5])
        return v

    values = p["sheets"][sheet]["values"]
    return pd.DataFrame([[read(v) for v in r] for r in values[1:]], columns=values[0], dtype=object)


def written(book: xw.Book, sheet: int, row0: int = 1) -> dict[tuple[int, int], object]:
    """Every cell written with setValues on ``sheet`` (0-based row, column), last write wins."""
    cells: dict[tuple[int, int], object] = {}
    for a in actions(book, "setValues", sheet):
        for i, row in enumerate(a["values"]):
            for j, v in enumerate(row):
                cells[(a["start_row"] + i, a["start_column"] + j)] = v
    return cells


def column(cells: dict, col: int, rows: range) -> list[object]:
    return [cells.get((r, col)) for r in rows]


def formatted(book: xw.Book, sheet: int, fmt: str) -> set[tuple[int, int]]:
    """The cells given number format ``fmt``, each before any value was written to it."""
    out, seen_values = set(), set()
    for a in actions(book, sheet=sheet):
        cells = {(a["start_row"] + i, a["start_column"] + j)
                 for i in range(a["row_count"] or 0) for j in range(a["column_count"] or 0)}
        if a["func"] == "setValues":
            seen_values |= cells
        elif a["func"] == "setNumberFormat" and a["args"] == [fmt]:
            assert not cells & seen_values, "a format set after its value was written"
            out |= cells
    return out


# ---------------------------------------------------------------- Check


def test_check_lists_every_row_with_an_issue(data):
    book = book_of(data["team"])
    macros.check(book)
    add = actions(book, "addSheet")
    assert add and add[0]["args"] == [SETTINGS + 1, "Check"]  # a new sheet, right after Settings
    rows = actions(book, "setValues", SETTINGS + 1)[0]["values"]
    assert rows[0] == ["Sheet", "ID", "Issue"]
    # What the workbook's own Issues column says (recalculated by LibreOffice), row for row.
    want = []
    for sheet, idh in ((ACC, "Account ID"), (PIPE, "Opportunity ID")):
        df = table(data["team"], sheet)
        for rid, issue in zip(df[idh], df["Issues"]):
            if issue:
                want.append([SHEETS[sheet], str(rid), issue])
    assert rows[1:] == want
    assert len(want) >= 10
    assert any("Duplicate Account ID" in r[2] for r in want) and any("Revenue must be a number" in r[2] for r in want)
    assert formatted(book, SETTINGS + 1, "@") >= {(r, c) for r in range(1, len(rows)) for c in range(3)}
    prompt, mode = message(book)
    n_acc = sum(r[0] == "Accounts" for r in want)
    assert mode == "info"
    assert prompt == (f"Check: {len(want)} issues ({n_acc} on Accounts, {len(want) - n_acc} on Pipeline). "
                      "They are listed on the Check sheet.")


def test_check_clears_its_sheet_and_says_when_there_is_nothing(data):
    p = copy.deepcopy(data["clean"])
    p["sheets"].append({**copy.deepcopy(p["sheets"][0]), "name": "Check", "values": [["Sheet", "ID", "Issue"], ["Accounts", "X", "old"]]})
    book = book_of(p)
    macros.check(book)
    assert not actions(book, "addSheet")
    check = len(p["sheets"]) - 1
    assert [a["func"] for a in actions(book, sheet=check)][0] == "sheetClearContents"
    assert actions(book, "setValues", check)[0]["values"] == [["Sheet", "ID", "Issue"], ["", "", "No issues: every row is fine."]]
    assert message(book) == ("Check: no issues. Every account, opportunity and threshold is fine.", "info")


# ---------------------------------------------------------------- Prioritise


def _expected_order(df: pd.DataFrame, group: str, ranks: list[str], value: str) -> list[int]:
    def key(i):
        g, v = df[group][i], df[value][i]
        number = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return (ranks.index(g) if g in ranks else len(ranks), not number, -(v if number else 0))

    return sorted(range(len(df)), key=key)


def test_prioritise_sorts_the_inputs_and_leaves_the_formulas(data):
    book = book_of(data["team"])
    macros.prioritise(book)
    for sheet, derived, group, ranks, value, idh in (
        (ACC, ACCOUNT_DERIVED + plan.ACCOUNT_PLAN_COLUMNS, "Segment", list("ABCDE"), "ROT", "Account ID"),
        (PIPE, PIPELINE_DERIVED + plan.PIPELINE_PLAN_COLUMNS, "Priority", list(engine.PRIORITIES), "Expected Value", "Opportunity ID"),
    ):
        df = table(data["team"], sheet)
        order = _expected_order(df, group, ranks, value)
        inputs = [j for j, h in enumerate(df.columns) if h not in derived]  # wherever the reading order puts them
        cells = written(book, sheet)
        # Every input column rewritten in the new order, no derived column touched.
        assert {c for _, c in cells} == set(inputs)
        for j in inputs:
            want = [df.iloc[i, j] for i in order]
            got = column(cells, j, range(1, len(df) + 1))
            for g, w in zip(got, want):
                assert g == ("" if w is None else w.date().isoformat() if isinstance(w, dt.datetime) else w)
        assert column(cells, 0, range(1, 4)) == [df[idh][i] for i in order[:3]]
        sorted_groups = [df[group][i] for i in order]
        assert sorted_groups[0] == ranks[0] and sorted_groups[-1] is None
        assert not actions(book, "setFormula", sheet)
    # Text stays text wherever it lands; a cell that held text and now gets a number gets its format back.
    df = table(data["team"], ACC)
    order = _expected_order(df, "Segment", list("ABCDE"), "ROT")
    rev = list(df.columns).index("Revenue")
    old_text = [i for i in range(len(df)) if isinstance(df["Revenue"][i], str)]
    new_text = [order.index(i) for i in old_text]
    assert {(r + 1, rev) for r in new_text} <= formatted(book, ACC, "@")
    moved = [i for i in old_text if i not in new_text]
    assert {(r + 1, rev) for r in moved} <= formatted(book, ACC, "#,##0")
    names = [df["Account"][i] for i in order]
    hyperlink = names.index('=HYPERLINK("http://example.com","Click me")')
    assert (hyperlink + 1, 1) in formatted(book, ACC, "@")
    assert message(book) == ("Sorted 150 accounts by segment (A first) and ROT, and 220 opportunities by priority "
                             "(Pursue, Nurture, Deprioritize) and expected value.", "info")


def test_prioritise_on_a_sorted_workbook_writes_nothing(data):
    p = copy.deepcopy(data["team"])
    for sheet, group, ranks, value in ((ACC, "Segment", list("ABCDE"), "ROT"),
                                       (PIPE, "Priority", list(engine.PRIORITIES), "Expected Value")):
        order = _expected_order(table(p, sheet), group, ranks, value)
        values = p["sheets"][sheet]["values"]
        values[1:] = [values[1 + i] for i in order]
    book = book_of(p)
    macros.prioritise(book)
    assert [a["func"] for a in book.json()["actions"]] == ["alert"]
    assert message(book) == ("Accounts and Pipeline are already in priority order.", "info")


# ---------------------------------------------------------------- Import export


def test_import_a_file_merges_by_id_and_keeps_what_was_typed(data):
    acc = data["acc"]
    export = acc.drop(columns=["Hours", "Aggravation", "Margin"]).iloc[3:].copy()  # the CRM knows no hours
    export.loc[export.index[0], "Revenue"] = 99999.5  # a CRM update
    export = pd.concat([export, pd.DataFrame({
        "Account ID": ["007", "NEW-2"], "Account": ["=1+2", "@SUM(A1:A9)"], "Owner": ["Ana Souza", "Ben Carter"],
        "Revenue": ["1200", "12k"]})], ignore_index=True)
    export["Industry"] = "Retail"
    export = export.rename(columns={"Account ID": "Record ID", "Account": "Company name", "Revenue": "Revenue (TTM)"})
    path = data["tmp"] / "hubspot companies.csv"
    export.to_csv(path, index=False)

    book = book_of(data["team"])
    macros.import_export(book, path=path)
    before = table(data["team"], ACC)
    n, width = len(before), len(before.columns)

    # The sync marker is always there (the threshold formulas leave out the rows it marks); the
    # CRM's extra column goes at the end.
    # (before the plan's helper columns, which stay at the right end).
    adds = actions(book, "addTableColumn", ACC)
    end = next((i for i, h in enumerate(before.columns) if h in plan.ACCOUNT_HELPERS), width)
    assert [a["args"] for a in adds] == [[0, end, "Industry"]]
    after = [*before.columns[:end], "Industry", *before.columns[end:]]
    at = after.index
    # Two new rows: the table grows, they get the last row's formats and the row formulas.
    assert actions(book, "resizeTable", ACC)[0]["args"] == [0, f"$A$1:${get_column_letter(width + 1)}${n + 3}"]
    fill = actions(book, "rangeAutofill", ACC)[0]
    assert fill["args"] == [f"$A${n + 1}:${get_column_letter(width + 1)}${n + 3}", "FillFormats"]
    formulas = {a["start_column"]: a for a in actions(book, "setFormula", ACC)}
    for k, (header, formula) in enumerate(engine.account_formulas().items()):
        a = formulas[at(header)]
        assert (a["start_row"], a["row_count"]) == (n + 1, 2)
        assert a["values"] == formula.replace("_xlfn.", "")

    cells = written(book, ACC)
    # No derived column written; Logged Hours stays untouched (no activities, and the export has none).
    derived = {*ACCOUNT_DERIVED, *plan.ACCOUNT_PLAN_COLUMNS, "Logged Hours"}
    assert {c for _, c in cells} == {at(h) for h in after if h not in derived}
    ids = column(cells, 0, range(1, n + 3))
    assert ids[:n] == list(before["Account ID"])  # rows stay where they are
    assert ids[n:] == ["007", "NEW-2"]
    hours = column(cells, at("Hours"), range(1, n + 1))
    assert hours == ["" if h is None else h for h in before["Hours"]]  # typed hours kept
    assert cells[(4, at("Revenue"))] == 99999.5
    assert column(cells, 1, range(n + 1, n + 3)) == ["=1+2", "@SUM(A1:A9)"]
    assert column(cells, at("Revenue"), range(n + 1, n + 3)) == [1200.0, "12k"]  # numbers as numbers, text as text
    assert column(cells, at("CRM Sync"), range(1, 5)) == ["Not in latest export"] * 3 + [""]
    assert column(cells, at("Industry"), range(1, 5)) == ["", "", "", "Retail"]
    text = formatted(book, ACC, "@")
    assert {(r, 1) for r in range(1, n + 3)} <= text  # names: text, also "=1+2"
    assert (n + 1, 0) in text and (n + 2, at("Revenue")) in text and (n + 1, at("Revenue")) not in text
    assert message(book) == (f'Imported {n - 1} accounts from hubspot companies.csv into the Accounts table: '
                             f'{n - 3} updated, 2 new. 3 rows no longer in the export were kept, marked '
                             f'"Not in latest export" in CRM Sync.', "info")


def test_import_a_pasted_export_on_the_import_sheet(data):
    """The xlwings Lite and Server way: the export pasted into a sheet named Import."""
    pipe = data["pipe"].drop(columns=["Status", "Last Contact"]).iloc[:40].copy()
    pipe["Probability"] = pipe["Probability"] * 100
    pipe = pipe.rename(columns={"Opportunity ID": "Deal ID", "Amount": "Deal Amount", "Probability": "Probability (%)"})
    rows = [list(pipe.columns)] + [[_client_value(None if isinstance(v, float) and math.isnan(v) else v) for v in r]
                                   for r in pipe.astype(object).itertuples(index=False)]
    p = copy.deepcopy(data["team"])
    p["sheets"].append({**copy.deepcopy(p["sheets"][0]), "name": "Import", "values": rows})
    book = book_of(p)
    macros.import_export(book)
    before = table(data["team"], PIPE)
    cells = written(book, PIPE)
    headers = list(before.columns)
    ids = column(cells, 0, range(1, len(before) + 1))
    assert ids == list(before["Opportunity ID"])
    prob = column(cells, headers.index("Probability"), range(1, 41))
    want = [None if isinstance(v, float) and math.isnan(v) else round(v / 100, 10) for v in pipe["Probability (%)"]]
    assert [None if g == "" else round(g, 10) for g in prob] == want  # "%" header: 60 means 0.6
    status = column(cells, headers.index("Status"), range(1, 41))
    assert status == ["" if s is None else s for s in before["Status"][:40]]  # typed statuses kept
    sync = column(cells, headers.index("Issues") + 1, range(1, len(before) + 1))  # CRM Sync comes right after Issues
    assert sync == [""] * 40 + ["Not in latest export"] * (len(before) - 40)
    assert message(book)[0].startswith('Imported 40 opportunities from the "Import" sheet into the Pipeline table: 40 updated, 0 new.')


@pytest.mark.parametrize("sheet, want", [
    (None, 'Paste the CRM export into a sheet named "Import" (header row first), then run Import export again.'),
    ([["Name", "Size"], ["x", 1]], 'Cannot import the "Import" sheet: it is neither an accounts nor an opportunities '
                                   'export. Accounts need Account ID, Account, Revenue; opportunities need '
                                   'Opportunity ID, Amount. Found "Name", "Size".'),
    ([["Record ID", "Company", "Bookings", "Amount"], ["1", "x", 5, 6]],
     'Cannot import the "Import" sheet: it fits the Accounts and the Pipeline table equally well; rename its '
     "columns to rotxl's (e.g. Account ID or Opportunity ID) and import again."),
    ([["Account ID", "Account", "Revenue"]], 'Nothing to import: the "Import" sheet has a header row but no rows.'),
])
def test_import_problems_are_messages(data, sheet, want):
    p = copy.deepcopy(data["team"])
    if sheet is not None:
        p["sheets"].append({**copy.deepcopy(p["sheets"][0]), "name": "Import", "values": sheet})
    book = book_of(p)
    macros.import_export(book)
    assert [a["func"] for a in book.json()["actions"]] == ["alert"]
    assert message(book) == (want, "critical")


def test_a_failure_half_way_writes_nothing(data, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(macros, "_grow", boom)  # after the new columns were queued
    book = book_of(data["team"])
    path = data["tmp"] / "accounts.csv"
    data["acc"].assign(Industry="x").to_csv(path, index=False)
    macros.import_export(book, path=path)
    assert [a["func"] for a in book.json()["actions"]] == ["alert"]
    assert message(book) == ("Import export did not finish: RuntimeError: disk full", "critical")


def test_a_workbook_without_the_tables_gets_a_message(data):
    p = copy.deepcopy(data["team"])
    for s in p["sheets"]:
        s["tables"] = []
    for action in (macros.check, macros.prioritise):
        book = book_of(p)
        action(book)
        prompt, mode = message(book)
        assert mode == "critical" and prompt.startswith("This workbook has no Excel table named Accounts.")


# ---------------------------------------------------------------- thresholds


def test_freeze_thresholds_writes_todays_numbers(data):
    book = book_of(data["team"])
    macros.freeze_thresholds(book)
    settings = data["team"]["sheets"][SETTINGS]["values"]
    rows = {r[2]: i for i, r in enumerate(settings)}
    for name in macros.THRESHOLDS:
        (a,) = [a for a in actions(book, "setValues", SETTINGS) if a["start_row"] == rows[name]]
        assert a["start_column"] == 1 and a["values"] == [[settings[rows[name]][1]]]
        assert isinstance(a["values"][0][0], float)
    want = {**engine.account_thresholds(data["acc"]), **engine.pipeline_thresholds(data["pipe"])}
    got = {name: settings[rows[name]][1] for name in macros.THRESHOLDS}
    assert all(math.isclose(got[k], want[k], rel_tol=1e-9) for k in got)  # the workbook's numbers are the engine's
    fonts = [a["args"] for a in actions(book, "setFontProperty", SETTINGS)]
    assert fonts.count(["italic", False]) == 5
    prompt, mode = message(book)
    assert mode == "info" and prompt.startswith(f"Thresholds frozen as numbers: RevenueHigh {got['RevenueHigh']:,.2f}, ")


def test_freeze_needs_numbers(data):
    p = copy.deepcopy(data["team"])
    settings = p["sheets"][SETTINGS]["values"]
    row = next(r for r in settings if r[2] == "AmountMin")
    row[1] = ""  # no valid open opportunity
    book = book_of(p)
    macros.freeze_thresholds(book)
    assert [a["func"] for a in book.json()["actions"]] == ["alert"]
    assert message(book)[0].startswith("Cannot freeze AmountMin: no number to freeze")


def test_live_thresholds_restores_the_array_formulas(data):
    book = book_of(data["team"])
    macros.live_thresholds(book)
    settings = data["team"]["sheets"][SETTINGS]["values"]
    rows = {r[2]: i for i, r in enumerate(settings)}
    formulas = {**engine.account_threshold_formulas(), **engine.pipeline_threshold_formulas()}
    sent = {a["start_row"]: a for a in actions(book, "setFormulaArray", SETTINGS)}
    assert len(sent) == 5
    for name in macros.THRESHOLDS:
        a = sent[rows[name]]
        assert a["start_column"] == 1 and (a["row_count"], a["column_count"]) == (1, 1)
        # Excel's own spelling: PERCENTILE.INC, without the file format's _xlfn. prefix.
        assert a["args"] == [formulas[name].replace("_xlfn.", "")] and "_xlfn" not in a["args"][0]
    assert message(book) == ("Thresholds follow the data again: RevenueHigh, RevenueFloor, HoursHigh, AmountMin, "
                             "BigDealAmount are live formulas.", "info")


# ---------------------------------------------------------------- Build team workbooks


def test_build_team_needs_desktop_excel(data):
    book = book_of(data["team"])
    macros.build_team_workbooks(book)
    assert message(book) == ("Build team workbooks writes files, so it runs in desktop Excel with the rotxl add-in, "
                             "or from a terminal: rotxl build.", "critical")


def test_build_team_writes_a_folder_next_to_the_workbook(data, monkeypatch, tmp_path):
    """The classic path, with the remote Book standing in for Excel's: a saved workbook and a status bar."""
    from xlwings.pro import _xlremote

    shown = []
    monkeypatch.setattr(_xlremote.App, "status_bar", property(lambda self: None, lambda self, v: shown.append(v)), raising=False)
    monkeypatch.setattr(macros, "_remote", lambda book: False)
    p = copy.deepcopy(data["clean"])
    p["book"]["name"] = str(tmp_path / "Q3 team.xlsx")
    book = book_of(p)
    macros.build_team_workbooks(book)
    out = tmp_path / "Q3 team team"
    owners = sorted({o for o in table(p, ACC)["Owner"]} | {o for o in table(p, PIPE)["Owner"]})
    files = sorted(f.name for f in out.glob("*.xlsx"))
    assert len(files) == len(owners) + 1 and "Team Rollup.xlsx" in files
    assert shown[-1] is False and any("rotxl team build: [1/" in s for s in shown[:-1] if s)
    assert message(book) == (f"Wrote {len(owners)} workbooks and the Team Rollup to {out}.", "info")
