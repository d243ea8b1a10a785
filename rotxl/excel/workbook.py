"""The rotxl workbook of SPEC §5: Start, Accounts, Pipeline, Dashboard, Settings.

Inputs are written as values (numbers as numbers, dates as dates, text always as text, never
as a formula); every derived column is a native formula over the named Settings cells, taken
from rotxl.rules.engine where it sits beside the rule it mirrors. Nothing in the file needs Python.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.styles.fonts import Font as _Font
from openpyxl.worksheet.table import Table, TableColumn, TableFormula, TableStyleInfo

from . import dashboard

from ..rules import engine
from ..data.files import atomic_write
from ..data.io import typed_values
from ..rules.schema import ACCOUNT_COLUMNS, ACCOUNT_DERIVED, PIPELINE_COLUMNS, PIPELINE_DERIVED, Column
from ..rules.settings import DEFAULT_WEIGHTS, FACTORS, Settings

# The schema lets a font's children come in any order, but Excel expects its own order
# ([MS-OI29500] 2.1.706) and openpyxl writes color before sz. Write them the way Excel does.
_Font.__elements__ = ("b", "i", "strike", "condense", "extend", "outline", "shadow", "u", "vertAlign", "sz",
                      "color", "name", "family", "charset", "scheme")

SHEETS = ("Start", "Accounts", "Pipeline", "Dashboard", "Settings")
SPARE_ROWS = 500  # validation and colour cues reach this far below the data, for rows typed later
CHART_SPARE_ROWS = 100  # rows typed later still show in the scatter chart, up to this many

HEADER_FILL = PatternFill("solid", fgColor="305496")
DERIVED_HEADER_FILL = PatternFill("solid", fgColor="595959")
DERIVED_FILL = PatternFill("solid", fgColor="EDEDED")
SEGMENT_COLOURS = {"A": "C6EFCE", "B": "E2F0D9", "C": "FCE4D6", "D": "FFEB9C", "E": "FFC7CE"}
PRIORITY_COLOURS = {"Pursue": "C6EFCE", "Nurture": "FFEB9C", "Deprioritize": "EDEDED"}
ISSUE_FILL = PatternFill("solid", fgColor="FFC7CE")
ISSUE_FONT = Font(color="9C0006")

HELP: dict[str, str] = {
    "Account ID": "The CRM's ID of the account; unique.",
    "Account": "The account's name.",
    "Owner": "The salesperson who owns the account.",
    "Revenue": "Revenue from the account over the period (e.g. the last 12 months).",
    "Margin": "Gross margin 0–100%; blank = 100% (ROT on revenue).",
    "Hours": "Selling and service hours spent on the account over the same period. Blank = not logged yet.",
    "Aggravation": "1 (none) to 5 (drains energy far beyond its hours); blank = 1.",
    "Effective Hours": "Hours inflated by aggravation: Hours × (1 + AggravationWeight × (Aggravation − 1)).",
    "ROT": "Return on time: Revenue × Margin ÷ Effective Hours.",
    "Segment": "A–E: A high revenue/low time, B low revenue/low time, C low producer, D high revenue/high time, E low revenue/high time.",
    "Action": "What to do with accounts of this segment.",
    "Issues": "What is wrong with the row's inputs; derived columns stay blank until it is fixed.",
    "Opportunity ID": "The CRM's ID of the opportunity; unique.",
    "Opportunity": "The opportunity's name.",
    "Stage": "The CRM's sales stage (free text).",
    "Amount": "Total size of the opportunity.",
    "Probability": "Likelihood of engaging, 0–100%. Blank: computed from the five factor scores.",
    "Decision-maker access": "0–5: can you reach the person who signs?",
    "Compelling event": "0–5: is there a reason to buy now?",
    "Budget": "0–5: is money set aside?",
    "ICP fit": "0–5: how closely the account fits your ideal customer profile.",
    "Relationship": "0–5: how strong your relationship is.",
    "Est. Hours": "Selling hours still needed; blank = DefaultDealHours.",
    "Close Date": "Expected close date.",
    "Last Contact": "Date of the last contact.",
    "Follow-ups": "How many times you have followed up so far.",
    "Status": "Open, Won or Lost; blank = Open.",
    "Lost Reason": "Required when Lost: the definitive \"no, because X\".",
    "Engagement": "Probability, or the weighted factor scores ÷ 5.",
    "Expected Value": "Amount × Engagement.",
    "Opportunity ROT": "Expected Value ÷ hours still needed.",
    "Priority": "Pursue (likely and big enough), Nurture (big deal, unlikely), Deprioritize. Open rows only.",
    "Next Follow-up": "Last Contact + CadenceDays; \"Contact now\" when never contacted.",
    "Overdue": "TRUE when AsOf is past the next follow-up.",
}

NUMBER_FORMATS: dict[str, str] = {
    "Margin": "0%", "Hours": "#,##0.0", "Aggravation": "0", "Effective Hours": "#,##0.0",
    "Probability": "0%", "Engagement": "0%", "Est. Hours": "#,##0.0", "Follow-ups": "0",
    "Close Date": "yyyy-mm-dd", "Last Contact": "yyyy-mm-dd", "Next Follow-up": "yyyy-mm-dd",
    **{f: "0" for f in FACTORS},
}
MONEY_COLUMNS = ("Revenue", "ROT", "Amount", "Expected Value", "Opportunity ROT")
WIDTHS = {"Account": 28, "Opportunity": 26, "Action": 44, "Issues": 44, "Lost Reason": 22, "Owner": 16, "Stage": 14}


def money_format(currency: str) -> str:
    return f'"{currency}"#,##0;-"{currency}"#,##0' if currency else "#,##0"


# ---------------------------------------------------------------- Settings sheet


def _settings_rows(s: Settings) -> list[tuple[str, str, object, str, str]]:
    """(name, label, value or formula, number format, meaning) of every named cell."""
    acc, pipe = engine.account_threshold_formulas(), engine.pipeline_threshold_formulas()

    def live(value: float | None, formula: str) -> object:
        """A threshold the user (or a team build) fixed, else the live percentile formula."""
        return value if value is not None else ArrayFormula("", formula)

    rows = [
        ("AggravationWeight", "Aggravation weight", s.aggravation_weight, "0.00",
         "How much one step of aggravation inflates hours (0.25: aggravation 5 doubles them)."),
        ("RevenueHigh", "Revenue high", live(s.revenue_high, acc["RevenueHigh"]), "money",
         "Revenue at or above this is high revenue. Default: 70th percentile of valid revenues; type a number to fix it."),
        ("RevenueFloor", "Revenue floor", live(s.revenue_floor, acc["RevenueFloor"]), "money",
         "Revenue below this is a low producer (C). Default: 20th percentile; must not exceed Revenue high."),
        ("HoursHigh", "Hours high", live(s.hours_high, acc["HoursHigh"]), "#,##0.0",
         "Effective hours above this are high maintenance. Default: median effective hours."),
        ("PMin", "Minimum likelihood", s.p_min, "0%", "Below this engagement likelihood, an opportunity is too unlikely to pursue."),
        ("AmountMin", "Minimum amount", live(s.amount_min, pipe["AmountMin"]), "money",
         "Below this amount, revenue potential is too low. Default: 25th percentile of valid open amounts."),
        ("BigDealAmount", "Big deal amount", live(s.big_deal_amount, pipe["BigDealAmount"]), "money",
         "Big enough to nurture even at low likelihood. Default: 90th percentile of valid open amounts."),
        ("DefaultDealHours", "Default deal hours", s.default_deal_hours, "0.0", "Selling hours assumed when Est. Hours is blank."),
        ("CadenceDays", "Follow-up cadence (days)", s.cadence_days, "0", "Days between follow-ups (\"every week or two\")."),
        ("AsOf", "As of", s.as_of if s.as_of is not None else "=TODAY()", "yyyy-mm-dd",
         "The date overdue follow-ups are judged on. Default: today."),
    ]
    for name, factor, weight in zip(engine.WEIGHT_NAMES, FACTORS, s.weights):
        rows.append((name, f"Weight: {factor}", weight, "0.0", f"Relative importance of {factor} in the engagement score."))
    return rows


def _write_settings(ws, s: Settings, currency: str) -> dict[str, str]:
    ws.append(["Setting", "Value", "Name", "What it means"])
    cells: dict[str, str] = {}
    for r, (name, label, value, fmt, meaning) in enumerate(_settings_rows(s), start=2):
        ws.cell(r, 1, label)
        cell = ws.cell(r, 2)
        if isinstance(value, ArrayFormula):
            value = ArrayFormula(f"B{r}", value.text)
            cell.font = Font(italic=True, color="595959")  # a live formula, until someone types a number
        cell.value = value
        cell.number_format = money_format(currency) if fmt == "money" else fmt
        ws.cell(r, 3, name)
        ws.cell(r, 4, meaning)
        cells[name] = f"{quote_sheetname(ws.title)}!$B${r}"
    check_row = ws.max_row + 2
    ws.cell(check_row, 1, "Check").font = Font(bold=True)
    ws.cell(check_row, 2, '=IF(AND(ISNUMBER(RevenueFloor),ISNUMBER(RevenueHigh)),IF(RevenueFloor>RevenueHigh,'
                          '"Settings error: Revenue floor is above Revenue high; segments stay blank until it is fixed","OK"),"OK")')
    ws.conditional_formatting.add(f"B{check_row}", CellIsRule(operator="notEqual", formula=['"OK"'], fill=ISSUE_FILL, font=ISSUE_FONT))
    note = ws.cell(check_row + 1, 1, "Thresholds in grey italics are live formulas; type a number over one to fix it.")
    note.font = Font(italic=True, color="808080")
    _style_header(ws, 4)
    for col, width in zip("ABCD", (28, 16, 20, 90)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    _settings_validation(ws)
    return cells


def _settings_validation(ws) -> None:
    rows = {ws.cell(r, 3).value: r for r in range(2, ws.max_row + 1)}
    checks = [
        (("AggravationWeight", "DefaultDealHours", *engine.WEIGHT_NAMES), DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")),
        (("PMin",), DataValidation(type="decimal", operator="between", formula1="0", formula2="1")),
        (("CadenceDays",), DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")),
        (("AsOf",), DataValidation(type="date", operator="greaterThan", formula1="1")),
    ]
    for names, dv in checks:
        dv.errorStyle = "warning"
        dv.error = "This setting expects a different kind of value; see 'What it means'."
        ws.add_data_validation(dv)
        for name in names:
            dv.add(f"B{rows[name]}")


# ---------------------------------------------------------------- the tables


def _style_header(ws, ncols: int, derived_from: int | None = None) -> None:
    """White on dark blue for inputs, on dark grey for derived columns. The fill is written out,
    not left to the table style, which LibreOffice does not draw (white text would vanish)."""
    for j in range(1, ncols + 1):
        cell = ws.cell(1, j)
        derived = derived_from is not None and j >= derived_from
        cell.font = Font(bold=True, color="FFFFFF", italic=derived)
        cell.fill = DERIVED_HEADER_FILL if derived else HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.row_dimensions[1].height = 30


def _input_frame(df: pd.DataFrame | None, columns: tuple[Column, ...], derived: tuple[str, ...]) -> pd.DataFrame:
    """Spec input columns first (blank where the export has none), then the export's own extra columns."""
    df = pd.DataFrame() if df is None else df
    spec = [c.header for c in columns]
    out = pd.DataFrame(index=range(len(df)))
    for h in spec:
        out[h] = df[h].to_numpy(dtype=object) if h in df.columns else None
    for h in df.columns:
        if h not in spec and h not in derived:
            out[str(h)] = df[h].to_numpy(dtype=object)
    return out


def _write_table(ws, name: str, inputs: pd.DataFrame, formulas: dict[str, str], currency: str) -> Table:
    headers = list(inputs.columns) + list(formulas)
    ws.append(headers)
    n = max(len(inputs), 1)  # an Excel table needs at least one data row
    columns = [typed_values(inputs[h]) for h in inputs.columns]
    money = money_format(currency)
    for j, h in enumerate(headers, start=1):
        fmt = money if h in MONEY_COLUMNS else NUMBER_FORMATS.get(h)
        if j <= len(columns):
            for i, v in enumerate(columns[j - 1], start=2):
                if v is None:
                    continue
                if isinstance(v, str):
                    v = ILLEGAL_CHARACTERS_RE.sub("", v)
                cell = ws.cell(i, j, v)
                if isinstance(v, str):
                    cell.data_type = "s"  # text from an export is data, never a formula
                elif fmt and isinstance(v, (int, float, dt.date)):
                    cell.number_format = fmt
        else:
            formula = formulas[h]
            for i in range(2, n + 2):
                cell = ws.cell(i, j, formula)
                if fmt:
                    cell.number_format = fmt
                cell.fill = DERIVED_FILL
    ref = f"A1:{get_column_letter(len(headers))}{n + 1}"
    table = Table(displayName=name, ref=ref)
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    table.tableColumns = [
        TableColumn(id=j, name=h, calculatedColumnFormula=TableFormula(attr_text=formulas[h][1:]) if h in formulas else None)
        for j, h in enumerate(headers, start=1)
    ]
    table.autoFilter = None
    ws.add_table(table)
    _style_header(ws, len(headers), len(inputs.columns) + 1)
    for j, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(j)].width = WIDTHS.get(h, max(11, min(len(h) + 3, 18)))
    ws.freeze_panes = "C2"
    return table


def _letter(ws, header: str) -> str:
    for cell in ws[1]:
        if cell.value == header:
            return cell.column_letter
    raise KeyError(header)


def _validate(ws, last_row: int, rules: list[tuple[tuple[str, ...], dict, str]]) -> None:
    for headers, kwargs, prompt in rules:
        dv = DataValidation(allow_blank=True, errorStyle="warning", showInputMessage=True, showErrorMessage=True, **kwargs)
        dv.promptTitle = headers[0][:32] if len(headers) == 1 else "Score 0–5"
        dv.prompt = prompt[:255]
        dv.errorTitle = "Check this value"
        dv.error = (prompt + " The Issues column will flag it until it is fixed.")[:255]
        ws.add_data_validation(dv)
        for h in headers:
            col = _letter(ws, h)
            dv.add(f"{col}2:{col}{last_row}")


def _account_cues(ws, last_row: int) -> None:
    _validate(ws, last_row, [
        (("Revenue",), {"type": "decimal", "operator": "greaterThanOrEqual", "formula1": "0"}, HELP["Revenue"]),
        (("Margin",), {"type": "decimal", "operator": "between", "formula1": "0", "formula2": "1"}, HELP["Margin"]),
        (("Hours",), {"type": "decimal", "operator": "greaterThanOrEqual", "formula1": "0"}, HELP["Hours"]),
        (("Aggravation",), {"type": "whole", "operator": "between", "formula1": "1", "formula2": "5"}, HELP["Aggravation"]),
    ])
    seg = _letter(ws, "Segment")
    for s, colour in SEGMENT_COLOURS.items():
        ws.conditional_formatting.add(f"{seg}2:{seg}{last_row}", CellIsRule(operator="equal", formula=[f'"{s}"'], fill=PatternFill("solid", fgColor=colour), font=Font(bold=True)))
    _issue_cue(ws, last_row)


def _pipeline_cues(ws, last_row: int) -> None:
    _validate(ws, last_row, [
        (("Amount",), {"type": "decimal", "operator": "greaterThanOrEqual", "formula1": "0"}, HELP["Amount"]),
        (("Probability",), {"type": "decimal", "operator": "between", "formula1": "0", "formula2": "1"}, HELP["Probability"]),
        (FACTORS, {"type": "whole", "operator": "between", "formula1": "0", "formula2": "5"}, "A whole number from 0 (not at all) to 5 (fully)."),
        (("Est. Hours",), {"type": "decimal", "operator": "greaterThanOrEqual", "formula1": "0"}, HELP["Est. Hours"]),
        (("Close Date", "Last Contact"), {"type": "date", "operator": "greaterThan", "formula1": "1"}, "A date, e.g. 2026-11-20."),
        (("Follow-ups",), {"type": "whole", "operator": "greaterThanOrEqual", "formula1": "0"}, HELP["Follow-ups"]),
        (("Status",), {"type": "list", "formula1": '"Open,Won,Lost"'}, HELP["Status"]),
    ])
    pr = _letter(ws, "Priority")
    for p, colour in PRIORITY_COLOURS.items():
        ws.conditional_formatting.add(f"{pr}2:{pr}{last_row}", CellIsRule(operator="equal", formula=[f'"{p}"'], fill=PatternFill("solid", fgColor=colour)))
    od, nf = _letter(ws, "Overdue"), _letter(ws, "Next Follow-up")
    overdue = FormulaRule(formula=[f"${od}2=TRUE"], fill=ISSUE_FILL, font=ISSUE_FONT)
    ws.conditional_formatting.add(f"{nf}2:{od}{last_row}", overdue)
    ws.conditional_formatting.add(f"{nf}2:{nf}{last_row}", CellIsRule(operator="equal", formula=[f'"{engine.CONTACT_NOW}"'], font=Font(bold=True, color="C65911")))
    _issue_cue(ws, last_row)


def _issue_cue(ws, last_row: int) -> None:
    col = _letter(ws, "Issues")
    ws.conditional_formatting.add(f"{col}2:{col}{last_row}", FormulaRule(formula=[f'LEN(${col}2)>0'], fill=ISSUE_FILL, font=ISSUE_FONT))


# ---------------------------------------------------------------- Start sheet


def _write_start(ws) -> None:
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 110
    lines: list[tuple[str, str, str]] = [
        ("title", "rotxl: where your selling time pays", ""),
        ("text", "Your scarcest asset is selling time. This workbook ranks every account and every opportunity by the return it gives on the time you put in (ROT, return on time).", ""),
        ("text", "Everything is plain Excel formulas: no add-in or Python is needed. Type in the white columns; the grey columns calculate.", ""),
        ("head", "Sheets", ""),
        ("row", "Accounts", "One row per account. Fill in Hours (and Aggravation if the account drains you). Segment and Action tell you where to spend time: work your A, B and D accounts, dump C and E."),
        ("row", "Pipeline", "One row per opportunity. Give a Probability or score the five factors; Priority says Pursue, Nurture or Deprioritize, and Next Follow-up keeps you following up until a definitive no."),
        ("row", "Dashboard", "Per segment: accounts, revenue, effective hours, ROT and share of time; how much time goes to dump segments; the pipeline by priority."),
        ("row", "Settings", "The thresholds and weights every formula uses. Thresholds default to percentiles of your own data; type a number to fix one."),
        ("head", "Accounts columns", ""),
        *[("row", c.header, HELP[c.header]) for c in ACCOUNT_COLUMNS],
        *[("row", h, HELP[h]) for h in ACCOUNT_DERIVED],
        ("head", "Pipeline columns", ""),
        *[("row", c.header, HELP[c.header]) for c in PIPELINE_COLUMNS],
        *[("row", h, HELP[h]) for h in PIPELINE_DERIVED],
        ("head", "Colour cues", ""),
        ("row", "Segments", "A green, B light green, C orange, D yellow, E red."),
        ("row", "Red cells", "An Issues text (the row's inputs need fixing) or an overdue follow-up."),
    ]
    for r, (kind, a, b) in enumerate(lines, start=1):
        ca, cb = ws.cell(r, 1, a), ws.cell(r, 2, b or None)
        cb.alignment = Alignment(wrap_text=True, vertical="top")
        ca.alignment = Alignment(vertical="top")
        if kind == "title":
            ca.font = Font(bold=True, size=16)
        elif kind == "head":
            ca.font = Font(bold=True, size=12)
        elif kind == "row":
            ca.font = Font(bold=True)
        if kind == "text":
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
            ca.alignment = Alignment(wrap_text=True, vertical="top")
            ws.row_dimensions[r].height = 30


# ---------------------------------------------------------------- the whole workbook


def build_workbook(
    accounts: pd.DataFrame | None = None,
    pipeline: pd.DataFrame | None = None,
    settings: Settings | None = None,
    currency: str = "$",
    checklist: dict[str, object] | None = None,
) -> Workbook:
    """The workbook, in memory. ``checklist``: the §10 figures of this workbook's owner from the
    team build (else computed from these rows). Thresholds given in ``settings`` are written as numbers,
    the others as live PERCENTILE.INC formulas; ``settings.as_of`` fixes AsOf (else =TODAY())."""
    s = settings or Settings()
    wb = Workbook()
    start = wb.active
    start.title = "Start"
    _write_start(start)
    acc_in = _input_frame(accounts, ACCOUNT_COLUMNS, ACCOUNT_DERIVED)
    pipe_in = _input_frame(pipeline, PIPELINE_COLUMNS, PIPELINE_DERIVED)
    acc_ws, pipe_ws = wb.create_sheet("Accounts"), wb.create_sheet("Pipeline")
    _write_table(acc_ws, "Accounts", acc_in, engine.account_formulas(), currency)
    _write_table(pipe_ws, "Pipeline", pipe_in, engine.pipeline_formulas(), currency)
    _account_cues(acc_ws, max(len(acc_in), 1) + 1 + SPARE_ROWS)
    _pipeline_cues(pipe_ws, max(len(pipe_in), 1) + 1 + SPARE_ROWS)
    dash = wb.create_sheet("Dashboard")
    settings_ws = wb.create_sheet("Settings")
    for name, ref in _write_settings(settings_ws, s, currency).items():
        wb.defined_names[name] = DefinedName(name, attr_text=ref)
    dashboard.write(dash, wb, max(len(acc_in), 1) + CHART_SPARE_ROWS, money_format(currency))
    dashboard.write_checklist(dash, wb, checklist or dashboard.checklist_figures(accounts, pipeline, s), money_format(currency))
    return wb


def save_workbook(wb: Workbook, path: str | os.PathLike[str], force: bool = False) -> Path:
    """Save atomically; an existing file is replaced only with ``force``."""
    return atomic_write(path, wb.save, overwrite=force)


def write_template(path: str | os.PathLike[str], force: bool = True) -> Path:
    """The empty workbook (workbook_template.xlsx)."""
    return save_workbook(build_workbook(), path, force=force)
