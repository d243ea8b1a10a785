"""Built workbooks, recalculated by LibreOffice, against the engine: every derived cell."""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import rotxl
from rotxl import Settings
from rotxl.excel import dashboard, workbook
from rotxl.rules import metrics, plan
from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline
from rotxl.rules.schema import ACCOUNT_COLUMNS, ACCOUNT_DERIVED, PIPELINE_COLUMNS, PIPELINE_DERIVED, SYNC_COLUMN
from rotxl.rules.settings import FACTORS
from spreadsheet import cells, mismatches, recalculate, same, sheet

AS_OF = dt.date(2026, 1, 20)
ROOT = Path(__file__).resolve().parents[1]


def edge_accounts() -> pd.DataFrame:
    rows = [
        ("ACC-1", "At revenue high, at hours high", 5000, None, 10, None),
        ("ACC-2", "At the floor exactly", 1000, None, 4, 1),
        ("ACC-3", "Just under the floor", 999.99, None, 4, None),
        ("ACC-4", "High revenue, one hour over", 5000, 0.5, 11, None),
        ("ACC-5", "Zero hours", 3000, None, 0, None),
        ("ACC-6", "Awaiting hours", 2500, None, None, None),
        ("ACC-7", "Duplicate one", 4000, None, 5, 2),
        ("ACC-7", "Duplicate two", 4100, None, 6, None),
        ("acc-7", "Same ID, other case", 4200, None, 6, None),
        ("ACC-10", "=HYPERLINK(\"http://evil.example\",\"Click\")", 1500, None, 3, None),
        ("ACC-11", "@SUM(A1:A9)", 1600, None, 3, None),
        ("ACC-12", "+cmd|' /C calc'!A0", 1700, None, 3, None),
        ("ACC-13", "Zoë Ünïcödé 株式会社 🚀", 1800, "40%", 3, "3"),
        ("ACC-14", "Revenue typed 12k", "12k", None, 3, None),
        ("ACC-15", "Negative hours", 2000, None, -5, None),
        ("ACC-16", "Aggravation seven", 2000, None, 5, 7),
        ("ACC-17", "Aggravation 2.5", 2000, None, 5, 2.5),
        ("ACC-18", "Margin above one", 2000, 1.5, 5, None),
        ("ACC-19", "Hours as text", 2000, None, "lots", None),
        ("", "No ID", 2000, None, 5, None),
        ("ACC-21", "", 2000, None, 5, None),
        ("ACC-22", "No revenue", None, None, 5, None),
        (None, None, None, None, None, None),
        (1001, "Numeric ID", 2600, 0.25, 7.5, 4),
        ("ACC-25", "Aggravated", 9000, None, 2, 5),
    ]
    return pd.DataFrame(rows, columns=["Account ID", "Account", "Revenue", "Margin", "Hours", "Aggravation"], dtype=object)


def edge_pipeline() -> pd.DataFrame:
    base = {"Opportunity ID": None, "Opportunity": "Deal", "Amount": 1000, "Probability": None, "Est. Hours": None,
            "Last Contact": None, "Status": None, "Lost Reason": None, "Close Date": None, "Follow-ups": None}
    rows = [
        {"Probability": 0.2, "Amount": 2000, "Last Contact": dt.date(2026, 1, 10)},  # PMin exactly, due = AsOf
        {"Probability": 0.19, "Amount": 90000, "Last Contact": dt.date(2026, 1, 9)},  # big deal, overdue
        {"Probability": 0.9, "Amount": 10},
        {"Decision-maker access": 5, "Budget": 3, "Amount": 5000, "Est. Hours": 0},
        {"ICP fit": 4, "Relationship": "", "Amount": 4000, "Est. Hours": 8, "Last Contact": "2026-01-03"},
        {"Amount": 3000},  # no probability, no scores
        {"Probability": 1, "Status": "won", "Amount": 7000},
        {"Probability": 0, "Status": "Lost", "Lost Reason": "Price", "Amount": 6000},
        {"Probability": 0, "Status": "LOST", "Amount": 6500},  # lost without a reason
        {"Probability": 0.5, "Status": "Maybe", "Amount": 1200},
        {"Probability": "60%", "Amount": "2500"},
        {"Probability": 1.2, "Amount": 2500},
        {"Probability": 0.5, "Amount": "TBD"},
        {"Probability": 0.5, "Amount": -5},
        {"Probability": 0.5, "Budget": 6, "Amount": 1000},
        {"Probability": 0.5, "Close Date": "someday", "Amount": 1000},
        {"Probability": 0.5, "Follow-ups": 2.5, "Amount": 1000},
        {"Probability": 0.5, "Opportunity": "=1+1", "Amount": 1500, "Close Date": dt.date(2026, 3, 1)},
        {"Probability": 0.5, "Opportunity": "-2+3", "Amount": 1600, "Follow-ups": 3},
        {"Probability": 0.4, "Opportunity": "Zoë 🚀", "Amount": 1700, "Last Contact": dt.date(2026, 1, 19)},
        {"Opportunity ID": "DUP", "Probability": 0.4, "Amount": 1800},
        {"Opportunity ID": "DUP", "Probability": 0.4, "Amount": 1900},
        {"Opportunity ID": "", "Probability": 0.4, "Amount": 1900},
    ]
    out = []
    for i, r in enumerate(rows, start=1):
        row = {**base, **{f: None for f in FACTORS}, "Opportunity ID": f"OPP-{i}", **r}
        out.append(row)
    return pd.DataFrame(out, dtype=object)


FIXED = Settings(revenue_high=5000, revenue_floor=1000, hours_high=10, amount_min=2000, big_deal_amount=90000, as_of=AS_OF)


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory):
    """Every workbook these tests check, built and then recalculated in one LibreOffice run."""
    src, out = tmp_path_factory.mktemp("built"), tmp_path_factory.mktemp("recalculated")
    sa = sample_accounts()
    cases = {
        "sample": (sa, sample_pipeline(sa), Settings(as_of=SAMPLE_AS_OF)),
        "edge_live": (edge_accounts(), edge_pipeline(), Settings(as_of=AS_OF)),
        "edge_fixed": (edge_accounts(), edge_pipeline(), FIXED),
    }
    paths = []
    for name, (acc, pipe, s) in cases.items():
        paths.append(workbook.save_workbook(workbook.build_workbook(acc, pipe, s), src / f"{name}.xlsx"))
    edited_inputs = _edit(src / "edge_live.xlsx", src / "edited.xlsx")
    paths.append(src / "edited.xlsx")
    done = dict(zip([p.stem for p in paths], recalculate(paths, out)))
    return cases, done, edited_inputs


def _check(path: Path, accounts: pd.DataFrame, pipeline: pd.DataFrame, s: Settings, written: pd.DataFrame | None = None) -> None:
    """``written``: the pipeline as the workbook was written (its row order: Open, then Won, then Lost)."""
    want_a = rotxl.classify_accounts(accounts, s)
    want_p = rotxl.score_pipeline(pipeline, s)
    order = workbook.reading_rows(pipeline if written is None else written)
    want_p = want_p.iloc[order].reset_index(drop=True)
    errors = mismatches(sheet(path, "Accounts"), want_a, ACCOUNT_DERIVED)
    errors += mismatches(sheet(path, "Pipeline"), want_p, PIPELINE_DERIVED)
    settings = {row[2]: row[1] for row in cells(path, "Settings")[1:] if len(row) > 2 and row[2]}
    for name, value in {**want_a.attrs["thresholds"], **want_p.attrs["thresholds"]}.items():
        if not same(settings[name], value):
            errors.append(f"Settings {name}: spreadsheet {settings[name]!r}, engine {value!r}")
    dash = cells(path, "Dashboard")
    at = lambda ref: dash[int(ref[1:]) - 1][ord(ref[0]) - 65]  # noqa: E731
    summary = metrics.segment_summary(want_a)
    for seg, r in dashboard.SEGMENT_ROW.items():
        for j, col in enumerate(dashboard.SEGMENT_COLUMNS[2:8], start=2):
            if not same(dash[r - 1][j], summary.loc[seg, col]):
                errors.append(f"Dashboard {col} {seg}: spreadsheet {dash[r - 1][j]!r}, engine {summary.loc[seg, col]!r}")
    figures = {**metrics.account_metrics(want_a), **metrics.pipeline_metrics(want_p, s)}
    for name, ref in dashboard.CELLS.items():
        if not same(at(ref), figures[name]):
            errors.append(f"Dashboard {name}: spreadsheet {at(ref)!r}, engine {figures[name]!r}")
    for p, r in dashboard.PRIORITY_ROW.items():
        if not same(dash[r - 1][1], figures[f"Count {p}"]) or not same(dash[r - 1][2], figures[f"EV {p}"]):
            errors.append(f"Dashboard priority {p}: {dash[r - 1][1:3]!r} vs {figures[f'Count {p}']}, {figures[f'EV {p}']}")
    errors += _top_list_errors(dash, want_a, want_p)
    assert not errors, "\n".join(errors[:40])


def _top_list_errors(dash: list[list[object]], accounts: pd.DataFrame, pipeline: pd.DataFrame) -> list[str]:
    """The Dashboard's named lists against pandas: the rows of the table in its written order whose
    filter column holds the value, largest first, equal values in table order."""
    errors = []
    frames = {"Accounts": accounts, "Pipeline": pipeline}
    for title, table, column, value, ranked, shown in dashboard.TOP_LISTS:
        df = frames[table]
        ok = df[df[column] == value]
        top = ok.assign(_v=pd.to_numeric(ok[ranked])).sort_values("_v", ascending=False, kind="stable").head(dashboard.TOP_N)
        row = dashboard.TOP_ROW[title]
        got = [dash[row + k - 1][dashboard.TOP_COLUMN] for k in range(1, dashboard.TOP_N + 1)]
        names = [dash[row + k - 1][dashboard.TOP_COLUMN + 1] for k in range(1, dashboard.TOP_N + 1)]
        want_names = top[shown[0]].tolist() + [""] * (dashboard.TOP_N - len(top))
        want_values = top["_v"].tolist() + [""] * (dashboard.TOP_N - len(top))
        for k in range(dashboard.TOP_N):
            if not same(got[k], want_values[k]) or not same(names[k], want_names[k]):
                errors.append(f"{title} #{k + 1}: spreadsheet {names[k]!r} {got[k]!r}, engine {want_names[k]!r} {want_values[k]!r}")
    return errors


@pytest.mark.parametrize("case", ["sample", "edge_live", "edge_fixed"])
def test_every_derived_cell_equals_the_engine(recalculated, case):
    cases, done, _ = recalculated
    accounts, pipeline, s = cases[case]
    _check(done[case], accounts, pipeline, s)


def test_edge_cases_cover_every_issue_and_boundary(recalculated):
    _, done, _ = recalculated
    acc = sheet(done["edge_fixed"], "Accounts")
    by_name = dict(zip(acc["Account"], zip(acc["Segment"], acc["Issues"])))
    assert by_name["At revenue high, at hours high"][0] == "A"
    assert by_name["At the floor exactly"][0] == "B"
    assert by_name["Just under the floor"][0] == "C"
    assert by_name["High revenue, one hour over"][0] == "D"
    assert by_name["Negative hours"] == ("", "Hours must be ≥ 0")
    assert by_name["Duplicate two"][1] == "Duplicate Account ID ACC-7"
    assert by_name["Same ID, other case"][1] == ""
    pipe = sheet(done["edge_fixed"], "Pipeline")
    assert pipe["Priority"].tolist()[:3] == ["Pursue", "Nurture", "Deprioritize"]
    assert "Lost needs a reason" in pipe["Issues"].tolist()


def _edit(src: Path, dst: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Edit inputs as a user would in Excel: new hours, an invalid aggravation, a lost deal with no reason."""
    wb = openpyxl.load_workbook(src)
    acc, pipe = wb["Accounts"], wb["Pipeline"]
    col = {c.value: c.column for c in acc[1]}
    acc.cell(2, col["Hours"]).value = 33  # ACC-1
    acc.cell(3, col["Aggravation"]).value = 9  # ACC-2
    acc.cell(7, col["Hours"]).value = 12.5  # ACC-6 was awaiting hours
    pcol = {c.value: c.column for c in pipe[1]}
    pipe.cell(2, pcol["Status"]).value = "Lost"  # OPP-1, no reason given
    pipe.cell(3, pcol["Last Contact"]).value = dt.date(2026, 1, 19)  # OPP-2 followed up
    wb.save(dst)
    accounts, pipeline = edge_accounts(), edge_pipeline()
    accounts.loc[0, "Hours"], accounts.loc[1, "Aggravation"], accounts.loc[5, "Hours"] = 33, 9, 12.5
    pipeline.loc[0, "Status"], pipeline.loc[1, "Last Contact"] = "Lost", dt.date(2026, 1, 19)
    return accounts, pipeline


def test_edits_recalculate_and_issues_follow(recalculated):
    _, done, (accounts, pipeline) = recalculated
    _check(done["edited"], accounts, pipeline, Settings(as_of=AS_OF), written=edge_pipeline())
    acc = sheet(done["edited"], "Accounts")
    assert acc["Issues"][1] == "Aggravation must be a whole number 1–5"
    assert acc["Effective Hours"][0] == 33 and acc["Effective Hours"][5] == 12.5
    pipe = sheet(done["edited"], "Pipeline")
    assert pipe["Issues"][0] == "Lost needs a reason" and pipe["Priority"][0] == ""
    assert pipe["Overdue"][1] is False


# ---------------------------------------------------------------- structure, without a spreadsheet engine

INPUTS = {"Accounts": [c.header for c in ACCOUNT_COLUMNS], "Pipeline": [c.header for c in PIPELINE_COLUMNS]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("structure") / "edge.xlsx"
    workbook.save_workbook(workbook.build_workbook(edge_accounts(), edge_pipeline(), Settings(as_of=AS_OF)), path)
    return path


def test_sheets_tables_and_names(built):
    wb = openpyxl.load_workbook(built)
    assert wb.sheetnames[:6] == ["Start", "This Week", "Accounts", "Pipeline", "Dashboard", "Settings"]
    assert list(wb["Accounts"].tables) == ["Accounts"] and list(wb["Pipeline"].tables) == ["Pipeline"]
    headers = [c.value for c in wb["Accounts"][1]]
    # SPEC §5: the answer first, then the inputs, then the workings; the plan's helpers at the right end.
    acc_helpers = tuple(h for h in plan.ACCOUNT_PLAN_COLUMNS if h != "Plan Hours")
    pipe_helpers = tuple(h for h in plan.PIPELINE_PLAN_COLUMNS if h != "Plan Hours")
    assert headers[:6] == ["Account ID", "Account", "Segment", "Action", "ROT", "Plan Hours"]
    assert headers == workbook.column_order(
        "Accounts", INPUTS["Accounts"] + [SYNC_COLUMN] + list(ACCOUNT_DERIVED) + list(plan.ACCOUNT_PLAN_COLUMNS), helpers=acc_helpers)
    assert headers.index("Owner") < headers.index("Aggravation") < headers.index("Effective Hours") < headers.index("Issues")
    pipe = [c.value for c in wb["Pipeline"][1]]
    assert pipe[:8] == ["Opportunity ID", "Opportunity", "Account", "Priority", "Next Follow-up", "Overdue", "Expected Value",
                        "Plan Hours"]
    assert pipe == workbook.column_order(
        "Pipeline", INPUTS["Pipeline"] + [SYNC_COLUMN] + list(PIPELINE_DERIVED) + list(plan.PIPELINE_PLAN_COLUMNS), helpers=pipe_helpers)
    n = len(pipe) - len(pipe_helpers)
    assert pipe[n - 5:n] == ["Lost Reason", "Engagement", "Opportunity ROT", "Issues", SYNC_COLUMN]
    names = set(wb.defined_names)
    assert {"AggravationWeight", "RevenueHigh", "RevenueFloor", "HoursHigh", "PMin", "AmountMin", "BigDealAmount",
            "DefaultDealHours", "CadenceDays", "AsOf"} <= names
    assert len(names & {"WeightAccess", "WeightEvent", "WeightBudget", "WeightFit", "WeightRelationship"}) == 5
    table = wb["Accounts"].tables["Accounts"]
    calc = {c.name: c.calculatedColumnFormula for c in table.tableColumns}
    assert all(calc[h] is not None for h in ACCOUNT_DERIVED) and all(calc[h] is None for h in INPUTS["Accounts"])


def test_no_formula_in_any_input_column_and_text_stays_text(built):
    wb = openpyxl.load_workbook(built)
    for name, inputs in INPUTS.items():
        ws = wb[name]
        cols = [c.column for c in ws[1] if c.value in inputs]
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if cell.column in cols:
                    assert cell.data_type != "f", f"{name}!{cell.coordinate} holds a formula: {cell.value!r}"
    names = [c.value for c in wb["Accounts"]["B"]]
    assert '=HYPERLINK("http://evil.example","Click")' in names and "@SUM(A1:A9)" in names
    assert "Zoë Ünïcödé 株式会社 🚀" in names
    revenue = next(c.column_letter for c in wb["Accounts"][1] if c.value == "Revenue")
    assert "12k" in [c.value for c in wb["Accounts"][revenue]]  # Revenue kept as typed, flagged by Issues


def test_formulas_are_classic_and_in_file_form(built):
    with zipfile.ZipFile(built) as z:
        xml = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))
    formulas = re.findall(r"<(?:f|calculatedColumnFormula)[^>]*>([^<]*)</", xml)
    assert formulas
    text = " ".join(formulas)
    for banned in ("LET", "LAMBDA", "FILTER", "XLOOKUP", "TEXTJOIN", "IFS"):  # as whole names: COUNTIFS and SUMIFS are classic
        assert not re.search(rf"(?<![A-Z.]){banned}\(", text), banned
    assert "[@" not in text
    assert "PERCENTILE.INC" in text and not re.search(r"(?<!_xlfn\.)PERCENTILE\.INC", text)
    assert "[#This Row]" in text


def test_validations_formats_cues_and_charts(built):
    wb = openpyxl.load_workbook(built)
    acc = wb["Accounts"]
    kinds = {(dv.type, dv.formula1, dv.formula2) for dv in acc.data_validations.dataValidation}
    assert ("whole", "1", "5") in kinds and ("decimal", "0", "1") in kinds
    pipe_kinds = {dv.type for dv in wb["Pipeline"].data_validations.dataValidation}
    assert {"list", "date", "whole", "decimal"} <= pipe_kinds
    assert all(dv.prompt for dv in acc.data_validations.dataValidation)
    assert acc.freeze_panes == "C2" and wb["Pipeline"].freeze_panes == "C2"
    col = {c.value: c.column_letter for c in acc[1]}
    assert acc[f"{col['ROT']}2"].number_format.startswith('"$"')
    pcol = {c.value: c.column_letter for c in wb["Pipeline"][1]}
    assert wb["Pipeline"][f"{pcol['Probability']}2"].number_format == "0%"
    assert len(acc.conditional_formatting) >= 2 and len(wb["Pipeline"].conditional_formatting) >= 3
    with zipfile.ZipFile(built) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 3


def test_column_order_places_every_kind_of_column():
    headers = ["Account ID", "Account", "Owner", "Revenue", "Margin", "Hours", "Aggravation", "Industry", "My Notes",
               "Effective Hours", "ROT", "Segment", "Action", "Issues", "Plan Due", "Plan Hours", "Logged Hours", "ICP Fit"]
    order = workbook.column_order("Accounts", headers, added=("My Notes",), helpers=("Plan Due",))
    assert order == ["Account ID", "Account", "Segment", "Action", "ROT", "Plan Hours", "Owner", "Revenue", "Margin",
                     "Hours", "Logged Hours", "Aggravation", "Effective Hours", "ICP Fit", "Issues",
                     "My Notes", "Industry", "Plan Due"]
    assert sorted(order) == sorted(headers)
    # A formula column the reading order does not list is a helper: at the right end, hidden.
    ws = openpyxl.Workbook().active
    inputs = workbook._input_frame(pd.DataFrame({"Account ID": ["A-1"], "Account": ["Acme"], "Industry": ["Retail"]}),
                                   ACCOUNT_COLUMNS, ACCOUNT_DERIVED)
    workbook._write_table(ws, "Accounts", inputs, {**rotxl.rules.engine.account_formulas(), "Plan Due": "=1"}, "$")
    row = [(c.value, ws.column_dimensions[c.column_letter].hidden) for c in ws[1]]
    assert row[-4:] == [("Issues", False), ("CRM Sync", False), ("Industry", False), ("Plan Due", True)]


def test_won_and_lost_rows_come_last_grouped(built):
    ws = openpyxl.load_workbook(built)["Pipeline"]
    col = {c.value: c.column for c in ws[1]}
    status = [ws.cell(r, col["Status"]).value for r in range(2, ws.max_row + 1)]
    ids = [ws.cell(r, 1).value for r in range(2, ws.max_row + 1)]
    assert status[-3:] == ["won", "Lost", "LOST"] and ids[-3:] == ["OPP-7", "OPP-8", "OPP-9"]
    open_ids = [i for i in ids if i not in ("OPP-7", "OPP-8", "OPP-9")]
    given = [i or None for i in edge_pipeline()["Opportunity ID"]]
    assert open_ids == [i for i in given if i not in ("OPP-7", "OPP-8", "OPP-9")]  # table order kept
    n = len(ids) + 1
    assert [ws.row_dimensions[r].outlineLevel for r in (n - 3, n - 2, n - 1, n)] == [0, 1, 1, 1]
    assert not any(ws.row_dimensions[r].hidden for r in range(2, n + 1))


def test_widths_fit_the_content_and_headers_wrap(built):
    wb = openpyxl.load_workbook(built)
    for name in ("Accounts", "Pipeline"):
        ws = wb[name]
        widths = {c.value: ws.column_dimensions[c.column_letter].width for c in ws[1]}
        assert all(c.alignment.wrap_text for c in ws[1])
        assert all(w >= len(max(h.split(), key=len)) + 2 for h, w in widths.items()), widths
    accounts = {c.value: wb["Accounts"].column_dimensions[c.column_letter].width for c in wb["Accounts"][1]}
    assert accounts["Account"] >= len("Zoë Ünïcödé 株式会社 🚀") and accounts["Account ID"] >= len("ACC-10") + 2
    pipe = wb["Pipeline"]
    assert pipe.row_dimensions[1].height >= 30  # "Decision-maker access" wraps to two lines


def test_every_sheet_prints_landscape_one_page_wide(built):
    wb = openpyxl.load_workbook(built)
    for ws in wb.worksheets:
        if ws.sheet_state != "visible":
            continue
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, ws.title
    assert wb["Accounts"].print_title_rows == "$1:$1" and wb["Pipeline"].print_title_rows == "$1:$1"
    assert wb["Accounts"].page_setup.fitToHeight == 0 and wb["Dashboard"].page_setup.fitToHeight == 1


def test_as_of_is_live_unless_given():
    def as_of_cell(settings):
        ws = workbook.build_workbook(edge_accounts(), edge_pipeline(), settings)["Settings"]
        return next(ws.cell(r, 2).value for r in range(2, ws.max_row + 1) if ws.cell(r, 3).value == "AsOf")

    assert as_of_cell(Settings()) == "=TODAY()"
    assert as_of_cell(Settings(as_of=AS_OF)) == AS_OF


def test_start_is_a_three_step_guide_with_links(built):
    ws = openpyxl.load_workbook(built)["Start"]
    rows = [(ws.cell(r, 1).value, ws.cell(r, 2).value) for r in range(1, 12)]
    steps = [b for a, b in rows if isinstance(a, str) and a.startswith("Step ")]
    assert len(steps) == 3 and "This Week" in steps[0] and "Status" in steps[1] and "rebuild" in steps[2]
    links = {c.value: c.hyperlink.location for row in ws.iter_rows(max_col=1) for c in row if c.hyperlink}
    assert links["Accounts"] == "'Accounts'!A1" and links["Dashboard"] == "'Dashboard'!A1"


def test_template_is_in_step_with_the_builder(tmp_path):
    fresh = workbook.write_template(tmp_path / "t.xlsx")
    committed = ROOT / "workbook_template.xlsx"
    assert committed.exists(), "run: rotxl template -o workbook_template.xlsx"
    with zipfile.ZipFile(fresh) as a, zipfile.ZipFile(committed) as b:
        parts = lambda z: {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}  # noqa: E731
        assert parts(a) == parts(b), "workbook_template.xlsx is out of step: run rotxl template -o workbook_template.xlsx --force"


def _schema_errors(path: Path) -> list[str]:
    """Findings of an independent OOXML validator (schemas plus Excel's documented deviations)."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "openxml_audit", "-m", "0", "-o", "json", "-f", "office2016", str(path)],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)[0]
    # Its only warnings are openpyxl's inline strings, which Excel converts to shared strings when it
    # next saves: a rewrite, not a repair prompt.
    return [f"{e['part_uri']} {e['path']}: {e['description']}" for e in report["errors"] if e["severity"] == "error"]


def test_files_pass_an_ooxml_validator(built, tmp_path):
    from rotxl.excel.team import build_team

    team = build_team(edge_accounts().assign(Owner="Ana"), edge_pipeline().assign(Owner="Ana"), tmp_path, as_of=AS_OF, jobs=1)
    for path in (built, ROOT / "workbook_template.xlsx", team.rollup):
        assert _schema_errors(path) == [], path.name
