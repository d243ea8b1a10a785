"""The rotxl workbook of SPEC §5: Start, Accounts, Pipeline, Dashboard, Settings.

Inputs are written as values (numbers as numbers, dates as dates, text always as text, never
as a formula); every derived column is a native formula over the named Settings cells, taken
from rotxl.rules.engine where it sits beside the rule it mirrors. Nothing in the file needs Python.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.formatting.rule import CellIsRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.styles.fonts import Font as _Font
from openpyxl.worksheet.table import Table, TableColumn, TableFormula, TableStyleInfo

from . import dashboard, model_sheet, table_body, this_week
from .cells import put, put_formula, put_row
from .printing import print_setup

from ..rules import engine, plan
from ..rules.learn import WHY, Model
from ..data.files import atomic_write
from ..data.io import typed_values
from ..rules.schema import (
    ACCOUNT_COLUMNS,
    ACCOUNT_DERIVED,
    LEARNED_PROBABILITY,
    NOT_IN_EXPORT,
    PIPELINE_COLUMNS,
    PIPELINE_DERIVED,
    SYNC_COLUMN,
    Column,
)
from ..rules.settings import FACTORS, Settings

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
    "Hours": "Selling and service hours spent on the account over the same period, as you state them. Blank = Logged Hours.",
    "Logged Hours": "Hours logged in the CRM's activities over the period; refreshed by every build. Used when Hours is blank.",
    "Aggravation": "1 (none) to 5 (drains energy far beyond its hours); blank = 1.",
    "Effective Hours": "Hours (else Logged Hours) inflated by aggravation: × (1 + AggravationWeight × (Aggravation − 1)).",
    "ROT": "Return on time: Revenue × Margin ÷ Effective Hours.",
    "Segment": "P prospect (no revenue yet); A–E: A high revenue/low time, B low revenue/low time, C low producer, D high revenue/high time, E low revenue/high time.",
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
    SYNC_COLUMN: f"Written by a rebuild: \"{NOT_IN_EXPORT}\" on rows that left the CRM export (kept, but out of thresholds and figures).",
}

NUMBER_FORMATS: dict[str, str] = {
    "Margin": "0%", "Hours": "#,##0.0", "Logged Hours": "#,##0.0", "Aggravation": "0", "Effective Hours": "#,##0.0",
    "Probability": "0%", "Engagement": "0%", "Learned Probability": "0%", "Est. Hours": "#,##0.0", "Follow-ups": "0",
    "Close Date": "yyyy-mm-dd", "Last Contact": "yyyy-mm-dd", "Next Follow-up": "yyyy-mm-dd",
    **{f: "0" for f in FACTORS},
}
PLAN_HOURS_FORMAT = '#,##0.00;-#,##0.00;""'  # zero hours show blank: the plan puts none there
MONEY_COLUMNS = ("Revenue", "ROT", "Amount", "Expected Value", "Opportunity ROT")
# Widths (in characters) of columns whose content the writer cannot measure (formulas) or
# should not follow (long free text wraps instead of widening the sheet).
WIDTHS = {"Action": 40, "Issues": 40, "Why": 44, "Segment": 9, "Priority": 12, "Overdue": 9,
          "Next Follow-up": 12, "Expected Value": 13, "ROT": 12, "Opportunity ROT": 12, "Engagement": 11,
          "Effective Hours": 10, "Plan Hours": 8, "Learned Probability": 11, "ICP Fit": 7, "CRM Sync": 12}
MIN_WIDTH, MAX_WIDTH = 6, 40

# SPEC §5: the order the workbook's tables are read in, one tuple per group, left to right:
# the answer, then the inputs, then the workings. A header a frame does not (yet) have is
# skipped, so a column another part of rotxl adds takes its place here when it appears.
# After these come the columns the salesperson added, the export's extra CRM columns, and
# helper columns (formula columns not listed here), in that order.
READING_ORDER: dict[str, tuple[tuple[str, ...], ...]] = {
    "Accounts": (
        ("Account ID", "Account", "Segment", "Action", "ROT", "Plan Hours"),
        ("Owner", "Revenue", "Margin", "Hours", "Logged Hours", "Aggravation"),
        ("Effective Hours", "ICP Fit", "Issues", "CRM Sync"),
    ),
    "Pipeline": (
        ("Opportunity ID", "Opportunity", "Account", "Priority", "Next Follow-up", "Overdue", "Expected Value",
         "Plan Hours"),
        ("Owner", "Stage", "Amount", "Probability", *FACTORS, "Est. Hours", "Close Date", "Last Contact",
         "Follow-ups", "Status", "Lost Reason"),
        ("Engagement", "Learned Probability", "Why", "Opportunity ROT", "Issues", "CRM Sync"),
    ),
}
FROZEN_COLUMNS = 2  # the ID and name columns stay in view while scrolling right
# Helper columns by name (e.g. the plan's), besides any formula column READING_ORDER does not list.
HELPER_COLUMNS: dict[str, tuple[str, ...]] = {"Accounts": (), "Pipeline": ()}
CLOSED_ORDER = {"won": 1, "lost": 2}  # Open (and anything else) first, then Won, then Lost


def column_order(table: str, headers: list[str], added: tuple[str, ...] = (), helpers: tuple[str, ...] = ()) -> list[str]:
    """``headers`` in the reading order of SPEC §5: the spec's groups, then the columns the
    salesperson ``added``, then the other (extra CRM) columns, then the ``helpers``, each
    group in the order given."""
    spec = [h for group in READING_ORDER[table] for h in group]
    present = set(headers)
    helper = set(helpers) | set(HELPER_COLUMNS[table])
    rest = [h for h in headers if h not in spec]
    return ([h for h in spec if h in present]
            + [h for h in rest if h in added and h not in helper]
            + [h for h in rest if h not in added and h not in helper]
            + [h for h in rest if h in helper])


def reading_rows(df: pd.DataFrame | None) -> np.ndarray:
    """Row positions with Won and then Lost rows after the Open ones, table order kept otherwise."""
    if df is None or "Status" not in df:
        return np.arange(0 if df is None else len(df))
    status = df["Status"].astype("string").str.strip().str.casefold()
    rank = status.map(CLOSED_ORDER).fillna(0).to_numpy(dtype=float)
    return np.argsort(rank, kind="stable")


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
         "The date follow-ups and the week's plan are judged on. =TODAY() (live) unless the build was given a date "
         "(--as-of); type a date to fix it, or =TODAY() to make it live again."),
    ]
    for name, factor, weight in zip(engine.WEIGHT_NAMES, FACTORS, s.weights):
        rows.append((name, f"Weight: {factor}", weight, "0.0", f"Relative importance of {factor} in the engagement score."))
    rows += _plan_settings_rows(s, {r[0] for r in rows})
    rows += _build_settings_rows(s, {r[0] for r in rows})
    return rows


def _build_settings_rows(s: Settings, present: set[str]) -> list[tuple[str, str, object, str, str]]:
    """The rest of SPEC §5's named cells: time and revenue windows, activity minutes, learning, cost."""
    rows = [
        ("RevenueMonths", "Months of revenue", s.revenue_months, "0",
         "Months of Won deals that make an account's Revenue when the export has no revenue column."),
        ("MinutesCall", "Minutes per call", s.minutes_call, "0", "Minutes a logged call counts when it has no duration."),
        ("MinutesEmail", "Minutes per email", s.minutes_email, "0", "Minutes a logged email counts."),
        ("MinutesMeeting", "Minutes per meeting", s.minutes_meeting, "0", "Minutes a logged meeting counts when it has no duration."),
        ("MinutesOther", "Minutes per other activity", s.minutes_other, "0", "Minutes any other logged activity counts."),
        ("LearnMonths", "Months learned from", s.learn_months, "0", "Closed deals of these last months teach the learned win probability."),
        ("UseLearned", "Use learned engagement", bool(s.use_learned), "General",
         "TRUE: Engagement is the Learned Probability where the Model sheet gives one; FALSE: the CRM's Probability or the factor scores."),
        ("HourlyCost", "Hourly cost of selling", s.hourly_cost, "money",
         "What an hour of selling time costs; with it the Dashboard shows cost of sales ÷ revenue. Blank: not shown."),
    ]
    return [r for r in rows if r[0] not in present]


SETTINGS_WIDTHS = (28, 14, 22, 80)  # Setting, Value, Name, What it means


def _plan_settings_rows(s: Settings, present: set[str]) -> list[tuple[str, str, object, str, str]]:
    """The weekly plan's settings (SPEC §8), those not already written."""
    rows = [
        ("WeeklyHours", "Weekly selling hours", s.weekly_hours, "0.0", "Selling hours you have in a week; the This Week plan shares them out."),
        ("FollowUpMinutes", "Minutes per follow-up", s.follow_up_minutes, "0", "Minutes one follow-up touch takes; follow-ups due this week come first in the plan."),
        ("HoursMonths", "Months of hours", s.hours_months, "0", "Months the Hours (and Logged Hours) cover; an account's weekly time is Hours ÷ (months × 52 ÷ 12)."),
    ]
    return [r for r in rows if r[0] not in present]


def _write_settings(ws, s: Settings, currency: str) -> dict[str, str]:
    put_row(ws, 1, ["Setting", "Value", "Name", "What it means"])
    cells: dict[str, str] = {}
    for r, (name, label, value, fmt, meaning) in enumerate(_settings_rows(s), start=2):
        fmt = money_format(currency) if fmt == "money" else fmt
        put_row(ws, r, [label, None, name, meaning])
        if isinstance(value, ArrayFormula):
            cell = ws.cell(r, 2)
            cell.value = ArrayFormula(f"B{r}", value.text)
            cell.font = Font(name="Calibri", italic=True, color="595959")  # a live formula, until someone types a number
        elif isinstance(value, str):
            cell = put_formula(ws, r, 2, value)
        else:
            cell = put(ws, r, 2, value)
        cell.number_format = fmt
        ws.cell(r, 4).alignment = Alignment(wrap_text=True, vertical="top")
        for j in (1, 2):
            ws.cell(r, j).alignment = Alignment(vertical="top")
        ws.cell(r, 3).alignment = Alignment(indent=1, vertical="top")
        # LibreOffice does not grow a row for wrapped text; a width unit holds about 1.2 characters of text.
        ws.row_dimensions[r].height = 15 * _lines(meaning, SETTINGS_WIDTHS[3] * 1.2) + 2
        cells[name] = f"{quote_sheetname(ws.title)}!$B${r}"
    check_row = ws.max_row + 2
    put(ws, check_row, 1, "Check").font = Font(name="Calibri", bold=True)
    put_formula(ws, check_row, 2, '=IF(AND(ISNUMBER(RevenueFloor),ISNUMBER(RevenueHigh)),IF(RevenueFloor>RevenueHigh,'
                          '"Settings error: Revenue floor is above Revenue high; segments stay blank until it is fixed","OK"),"OK")')
    ws.conditional_formatting.add(f"B{check_row}", CellIsRule(operator="notEqual", formula=['"OK"'], fill=ISSUE_FILL, font=ISSUE_FONT))
    note = put(ws, check_row + 1, 1, "Thresholds in grey italics are live formulas; type a number over one to fix it.")
    note.font = Font(name="Calibri", italic=True, color="808080")
    _style_header(ws, 4)
    for col, width in zip("ABCD", SETTINGS_WIDTHS):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    print_setup(ws, title_rows="1:1")
    _settings_validation(ws)
    return cells


def _plan_settings_validation(rows: dict[str, int]) -> list[tuple[tuple[str, ...], DataValidation]]:
    checks = [
        (("WeeklyHours",), DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")),
        (("FollowUpMinutes",), DataValidation(type="decimal", operator="greaterThan", formula1="0")),
    ]
    return [(names, dv) for names, dv in checks if all(n in rows for n in names)]


def _settings_validation(ws) -> None:
    rows = {ws.cell(r, 3).value: r for r in range(2, ws.max_row + 1)}
    checks = [
        (("AggravationWeight", "DefaultDealHours", *engine.WEIGHT_NAMES), DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0")),
        (("PMin",), DataValidation(type="decimal", operator="between", formula1="0", formula2="1")),
        (("CadenceDays",), DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")),
        (("AsOf",), DataValidation(type="date", operator="greaterThan", formula1="1")),
        *_plan_settings_validation(rows),
    ]
    for names, dv in checks:
        dv.errorStyle = "warning"
        dv.error = "This setting expects a different kind of value; see 'What it means'."
        ws.add_data_validation(dv)
        for name in names:
            dv.add(f"B{rows[name]}")


# ---------------------------------------------------------------- the tables


def _style_header(ws, ncols: int, derived: set[int] | None = None) -> None:
    """White on dark blue for inputs, on dark grey for derived columns (``derived``: their
    column numbers). The fill is written out, not left to the table style, which LibreOffice
    does not draw (white text would vanish)."""
    for j in range(1, ncols + 1):
        cell = ws.cell(1, j)
        is_derived = derived is not None and j in derived
        cell.font = Font(name="Calibri", bold=True, color="FFFFFF", italic=is_derived)
        cell.fill = DERIVED_HEADER_FILL if is_derived else HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.row_dimensions[1].height = 30


def _input_frame(df: pd.DataFrame | None, columns: tuple[Column, ...], derived: tuple[str, ...]) -> pd.DataFrame:
    """Spec input columns first (blank where the export has none), then the export's own extra
    columns, rows in reading order (Open, then Won, then Lost)."""
    df = pd.DataFrame() if df is None else df
    spec = [c.header for c in columns]
    out = pd.DataFrame(index=range(len(df)))
    for h in spec:
        out[h] = df[h].to_numpy(dtype=object) if h in df.columns else None
    for h in df.columns:
        if h not in spec and h not in derived and h != SYNC_COLUMN:
            out[str(h)] = df[h].to_numpy(dtype=object)
    # Always there: the threshold formulas leave out the rows it marks.
    out[SYNC_COLUMN] = df[SYNC_COLUMN].to_numpy(dtype=object) if SYNC_COLUMN in df.columns else None
    return out.iloc[reading_rows(out)].reset_index(drop=True)


def header_width(header: str) -> int:
    """Wide enough that the header wraps between words, in at most three lines."""
    return max(max(len(w) for w in header.split() or [""]) + 2, -(-len(header) // 3) + 2)


def _content_width(header: str, values: list[object] | None, fmt: str | None) -> int:
    """The width the column's content needs, judged on its first 2,000 cells."""
    if header in WIDTHS or values is None:
        return WIDTHS.get(header, 10)
    if fmt and "yy" in fmt:
        return 11
    sample = [v for v in values[:2000] if v is not None]
    numbers = [abs(v) for v in sample if isinstance(v, (int, float)) and not isinstance(v, bool)]
    longest = max((len(str(v)) for v in sample if not isinstance(v, (int, float))), default=0)
    if numbers:
        longest = max(longest, len(f"{max(numbers):,.0f}") + 3)
    return longest + 2


def _spread_row_ranges(formulas: dict[str, str], table: str, inputs: list[str]) -> dict[str, str]:
    """The engine counts a row's inputs as one range, first input column to last
    (``COUNTA(T[[#This Row],[Account ID]:[Aggravation]])``), which holds only inputs when they are
    contiguous. In the reading order they are not, so each such range becomes the list of the
    input columns it meant: ``COUNTA(T[[#This Row],[Account ID]],T[[#This Row],[Account]],…)``."""
    span = re.compile(rf"COUNTA\({re.escape(table)}\[\[#This Row\],\[([^\]]+)\]:\[([^\]]+)\]\]\)")
    ref = engine.this_row(table)

    def spread(m: re.Match) -> str:
        if m[1] not in inputs or m[2] not in inputs:
            return m[0]
        first, last = inputs.index(m[1]), inputs.index(m[2])
        return f"COUNTA({','.join(ref(h) for h in inputs[first:last + 1])})"

    return {h: span.sub(spread, f) for h, f in formulas.items()}


def _write_table(ws, name: str, inputs: pd.DataFrame, formulas: dict[str, str], currency: str,
                 added: tuple[str, ...] = (), stream: bool = False) -> Table:
    formulas = _spread_row_ranges(formulas, name, list(inputs.columns))
    spec = {h for group in READING_ORDER[name] for h in group}
    helpers = tuple(h for h in formulas if h not in spec) + HELPER_COLUMNS[name]
    headers = column_order(name, list(inputs.columns) + list(formulas), added, helpers=helpers)
    n = max(len(inputs), 1)  # an Excel table needs at least one data row
    put_row(ws, 1, headers)
    money = money_format(currency)
    body = table_body.columns(ws, 2, n, stream)
    widths = []
    for j, h in enumerate(headers, start=1):
        fmt = money if h in MONEY_COLUMNS else PLAN_HOURS_FORMAT if h == "Plan Hours" else NUMBER_FORMATS.get(h)
        values = None
        if h in formulas:
            body.put_formula_column(j, formulas[h], fmt, DERIVED_FILL)
        else:
            values = typed_values(inputs[h])
            body.put_column(j, values, fmt)
        widths.append(max(MIN_WIDTH, min(max(_content_width(h, values, fmt), header_width(h)), MAX_WIDTH)))
    ref = f"A1:{get_column_letter(len(headers))}{n + 1}"
    table = Table(displayName=name, ref=ref)
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    table.tableColumns = [
        TableColumn(id=j, name=h, calculatedColumnFormula=TableFormula(attr_text=formulas[h][1:]) if h in formulas else None)
        for j, h in enumerate(headers, start=1)
    ]
    table.autoFilter = None
    ws.add_table(table)
    _style_header(ws, len(headers), {j for j, h in enumerate(headers, start=1) if h in formulas})
    lines = 1
    for j, (h, width) in enumerate(zip(headers, widths), start=1):
        ws.column_dimensions[get_column_letter(j)].width = width
        ws.column_dimensions[get_column_letter(j)].hidden = h in helpers  # workings of other formulas, at the right end
        lines = max(lines, _lines(h, width))
    ws.row_dimensions[1].height = 15 * lines + 4
    ws.freeze_panes = f"{get_column_letter(FROZEN_COLUMNS + 1)}2"  # not ws.cell(): that makes a cell
    _group_closed(ws, inputs)
    print_setup(ws, title_rows="1:1")
    return table


def _lines(text: str, width: float) -> int:
    """How many lines ``text`` wraps to in a column ``width`` characters wide (word wrap)."""
    lines, used = 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > width - 1:
            lines, used = lines + 1, len(word)
        else:
            used += len(word) + (1 if used else 0)
    return lines


def _group_closed(ws, inputs: pd.DataFrame) -> None:
    """Won and Lost rows (already last) form an outline group: one click on [-] folds them away."""
    if "Status" not in inputs or inputs.empty:
        return
    closed = int(inputs["Status"].astype("string").str.strip().str.casefold().isin(CLOSED_ORDER).sum())
    if closed:
        ws.row_dimensions.group(len(inputs) + 2 - closed, len(inputs) + 1, outline_level=1, hidden=False)
        ws.sheet_properties.outlinePr.summaryBelow = False


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
        (("Logged Hours",), {"type": "decimal", "operator": "greaterThanOrEqual", "formula1": "0"}, HELP["Logged Hours"]),
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


# What each sheet is for, in a line; the Start sheet links each name to its sheet when present.
SHEET_GUIDE: tuple[tuple[str, str], ...] = (
    ("This Week", "Your plan for the week: the follow-ups due, then the deals and accounts that pay most per hour."),
    ("Accounts", "One row per account. Segment and Action say where to spend time: work A, B and D, dump C and E."),
    ("Pipeline", "One row per opportunity. Priority says Pursue, Nurture or Deprioritize; Next Follow-up keeps you "
                 "following up until a definitive no. Won and Lost rows sit at the bottom, grouped."),
    ("Dashboard", "Where your time goes by segment, the pipeline by priority, and the top deals and accounts by name."),
    ("Settings", "The thresholds and weights every formula uses; type a number to fix one."),
)
STEPS: tuple[str, ...] = (
    "Open This Week and work the list from the top: follow-ups first, then the deals and accounts that pay "
    "most for an hour of your time.",
    "Keep Accounts and Pipeline current: hours spent, last contact dates, Status (Won, or Lost with its reason). "
    "Type in the columns with blue headers; the grey ones calculate.",
    "Ask your manager to rebuild with the new CRM export (what you typed is kept), or press Prioritise on the "
    "rotxl ribbon.",
)


def _write_start(ws) -> None:
    """A short guide for the week, then a line per sheet, then every column for reference."""
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 100
    lines: list[tuple[str, str, str]] = [
        ("title", "rotxl: where your selling time pays", ""),
        ("text", "This workbook ranks every account and opportunity by the return it gives on an hour of your "
                 "selling time (ROT). Plain Excel formulas: no add-in or Python needed.", ""),
        ("head", "This week, in three steps", ""),
        *[("step", f"Step {i}", text) for i, text in enumerate(STEPS, start=1)],
        ("head", "Sheets", ""),
        *[("sheet", name, text) for name, text in SHEET_GUIDE],
        ("head", "Colour cues", ""),
        ("row", "Segments", "A green, B light green, C orange, D yellow, E red."),
        ("row", "Red cells", "An Issues text (the row's inputs need fixing) or an overdue follow-up."),
        ("head", "Accounts columns", ""),
        *[("row", c.header, HELP[c.header]) for c in ACCOUNT_COLUMNS],
        *[("row", h, HELP[h]) for h in ACCOUNT_DERIVED],
        ("head", "Pipeline columns", ""),
        *[("row", c.header, HELP[c.header]) for c in PIPELINE_COLUMNS],
        *[("row", h, HELP[h]) for h in PIPELINE_DERIVED],
    ]
    for r, (kind, a, b) in enumerate(lines, start=1):
        ca, cb = put(ws, r, 1, a), put(ws, r, 2, b) if b else ws.cell(r, 2)
        cb.alignment = Alignment(wrap_text=True, vertical="top")
        ca.alignment = Alignment(vertical="top")
        if kind == "title":
            ca.font = Font(name="Calibri", bold=True, size=16)
            ws.row_dimensions[r].height = 24
        elif kind == "head":
            ca.font = Font(name="Calibri", bold=True, size=12)
            ws.row_dimensions[r].height = 22
        elif kind in ("row", "sheet", "step"):
            ca.font = Font(name="Calibri", bold=True, size=12 if kind == "step" else 11)
        if kind == "step":
            cb.font = Font(name="Calibri", size=12)
        if b:  # LibreOffice does not grow a row for wrapped text on opening: give each its lines
            size = 16 if kind == "step" else 15
            ws.row_dimensions[r].height = size * _lines(b, ws.column_dimensions["B"].width * (0.9 if kind == "step" else 1)) + 3
        if kind == "text":
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
            ca.alignment = Alignment(wrap_text=True, vertical="top")
            ws.row_dimensions[r].height = 32
    print_setup(ws)


def _link_sheets(wb: Workbook) -> None:
    """Each sheet named on Start (in a step or in the list of sheets) links to it, when the workbook has it."""
    ws = wb["Start"]
    for row in ws.iter_rows(min_col=1, max_col=2):
        for cell in row:
            target = next((name for name, _ in SHEET_GUIDE if name in wb.sheetnames and isinstance(cell.value, str)
                           and (cell.value == name or cell.column == 2 and cell.value.startswith(f"Open {name} "))), None)
            if target:
                cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"{quote_sheetname(target)}!A1", display=target)
                cell.font = Font(name="Calibri", bold=cell.font.b, size=cell.font.sz, color="0563C1", underline="single")


# ---------------------------------------------------------------- the whole workbook


def build_workbook(
    accounts: pd.DataFrame | None = None,
    pipeline: pd.DataFrame | None = None,
    settings: Settings | None = None,
    currency: str = "$",
    added_columns: dict[str, tuple[str, ...]] | None = None,
    model: Model | None = None,
    checklist: dict[str, object] | None = None,
    stream: bool = False,
) -> Workbook:
    """The workbook, in memory. Thresholds given in ``settings`` are written as numbers,
    the others as live PERCENTILE.INC formulas; ``settings.as_of`` fixes AsOf, and None (not
    given) writes a live =TODAY(). ``added_columns`` names, per table ("Accounts", "Pipeline"),
    the columns the salesperson added: they come before the export's extra CRM columns.
    ``model`` (a rotxl.rules.learn.Model) adds Learned Probability, Why and the Model sheet (§9).
    ``checklist``: the §10 figures of this workbook's owner from the team build (else computed
    from these rows). ``stream``: the tables' rows are not held as cells but written straight
    into the file by ``wb.save`` (rotxl.excel.table_body; the same file, several times faster
    for big tables); leave it off to read or change their cells in memory."""
    s = settings or Settings()
    added = added_columns or {}
    wb = Workbook()
    start = wb.active
    start.title = "Start"
    _write_start(start)
    acc_in = _input_frame(accounts, ACCOUNT_COLUMNS, ACCOUNT_DERIVED)
    pipe_in = _input_frame(pipeline, PIPELINE_COLUMNS, PIPELINE_DERIVED)
    acc_ws, pipe_ws = wb.create_sheet("Accounts"), wb.create_sheet("Pipeline")
    learned = model is not None or LEARNED_PROBABILITY in pipe_in.columns
    acc_formulas = _with_plan(engine.account_formulas(), acc_in, plan.account_formulas)
    pipe_formulas = engine.pipeline_formulas(learned)
    if model is not None:  # §9: a frame scored before (learn.add_learned) gets these two columns afresh
        pipe_in = pipe_in.drop(columns=list(model_sheet.LEARNED_COLUMNS), errors="ignore")
        headers = [*pipe_in.columns, *pipe_formulas, LEARNED_PROBABILITY, WHY]
        pipe_formulas[LEARNED_PROBABILITY], why = model_sheet.pipeline_columns(model, pipe_in, headers)
        pipe_in[WHY] = why
    pipe_formulas = _with_plan(pipe_formulas, pipe_in, plan.pipeline_formulas)
    _write_table(acc_ws, "Accounts", acc_in, acc_formulas, currency, tuple(added.get("Accounts", ())), stream)
    _write_table(pipe_ws, "Pipeline", pipe_in, pipe_formulas, currency, tuple(added.get("Pipeline", ())), stream)
    if model is not None:  # their header notes describe the model's formula and the build's Why
        model_sheet.note_pipeline_columns(pipe_ws)
    _plan_columns(acc_ws, plan.ACCOUNT_HELPERS)
    _plan_columns(pipe_ws, plan.PIPELINE_HELPERS)
    _icp_fit_note(acc_ws)
    _account_cues(acc_ws, max(len(acc_in), 1) + 1 + SPARE_ROWS)
    _pipeline_cues(pipe_ws, max(len(pipe_in), 1) + 1 + SPARE_ROWS)
    dash = wb.create_sheet("Dashboard")
    settings_ws = wb.create_sheet("Settings")
    for name, ref in _write_settings(settings_ws, s, currency).items():
        wb.defined_names[name] = DefinedName(name, attr_text=ref)
    dashboard.write(dash, wb, max(len(acc_in), 1) + CHART_SPARE_ROWS, money_format(currency), stream)
    dashboard.write_checklist(dash, wb, checklist or dashboard.checklist_figures(accounts, pipeline, s), money_format(currency))
    _write_this_week(wb, acc_in, pipe_in, currency)
    _link_sheets(wb)
    if model is not None:  # §9 hook: the Model sheet, after Settings
        model_sheet.write(wb.create_sheet("Model"), wb, model, money_format(currency))
    return wb


# ---------------------------------------------------------------- the weekly plan (SPEC §8)


def _with_plan(formulas: dict[str, str], inputs: pd.DataFrame, plan_formulas) -> dict[str, str]:
    """The table's derived formulas, then Plan Hours and the plan's helper columns."""
    headers = set(inputs.columns) | set(formulas)
    return {**formulas, **plan_formulas(headers)}


def _plan_columns(ws, helpers: tuple[str, ...]) -> None:
    """The plan's helper columns are hidden."""
    for cell in ws[1]:
        if cell.value in helpers:
            ws.column_dimensions[cell.column_letter].hidden = True


def _plan_owners(*frames: pd.DataFrame) -> list[str]:
    """The owners of the workbook, most rows first (the one This Week shows first)."""
    shown = [plan.owner_keys(f["Owner"])[1] for f in frames if len(f) and "Owner" in f.columns]
    if not shown:
        return []
    counts = pd.Series(np.concatenate(shown)).value_counts(sort=False)
    by_key: dict[str, tuple[str, int]] = {}
    for name, n in counts.items():
        k = name.lower()
        first, total = by_key.get(k, (name, 0))
        by_key[k] = (first, total + int(n))
    return [name for name, _ in sorted(by_key.values(), key=lambda t: (-t[1], t[0].lower()))]


def _write_this_week(wb: Workbook, acc_in: pd.DataFrame, pipe_in: pd.DataFrame, currency: str) -> None:
    ws = wb.create_sheet(this_week.SHEET, 1)  # right after Start
    this_week.write(ws, _plan_owners(acc_in, pipe_in), money_format(currency), currency)


def _icp_fit_note(ws) -> None:
    """ICP Fit is written as a value by the build (§10): the header's comment says so."""
    from openpyxl.comments import Comment

    for cell in ws[1]:
        if cell.value == "ICP Fit":
            cell.comment = Comment("Written by the team build as a value, not a formula: how closely this account "
                                   "resembles the team's A accounts on Industry, Company Revenue, Employees, Country "
                                   "and State (0–1; blank under 5 A accounts). Rebuild to refresh.", "rotxl")


def save_workbook(wb: Workbook, path: str | os.PathLike[str], force: bool = False) -> Path:
    """Save atomically; an existing file is replaced only with ``force``."""
    return atomic_write(path, wb.save, overwrite=force)  # a streamed workbook's save writes its tables


def write_template(path: str | os.PathLike[str], force: bool = True) -> Path:
    """The empty workbook (workbook_template.xlsx)."""
    return save_workbook(build_workbook(), path, force=force)
