"""The Dashboard sheet: SPEC §3 per segment and for the pipeline, as live formulas, with charts.

Figures mirror rotxl.rules.metrics; their cells are listed in CELLS so tests can hold one to the other.
"""

from __future__ import annotations

import numbers

from openpyxl.chart import BarChart, Reference, ScatterChart, Series
from openpyxl.chart.marker import Marker
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.formula import ArrayFormula

from ..rules.engine import ACTIONS, CONTACT_NOW, FOCUS, NOT_IN_EXPORT, PRIORITIES
from ..rules.metrics import SEGMENTS, SYNC_COLUMN

SEGMENT_ROW = {s: 10 + i for i, s in enumerate(SEGMENTS)}  # A..E in rows 10..14
SEGMENT_COLUMNS = ("Segment", "Focus", "Accounts", "Revenue", "Effective Hours", "ROT", "Share of Revenue", "Share of Time", "Action")
PRIORITY_ROW = {p: 19 + i for i, p in enumerate(PRIORITIES)}  # rows 19..21, total in 22
CELLS: dict[str, str] = {
    "Time on Dump Segments": "C4",
    "ROT": "C5",
    "Revenue Share of A": "C6",
    "Open EV": "C22",
    "Win Rate": "C24",
    "Overdue Follow-ups": "C25",
    "Open with No Contact": "C26",
    "Remaining Hours": "C27",
    "EV per Remaining Hour": "C28",
}
SEGMENT_CHART_COLOURS = {"A": "2E7D32", "B": "8BC34A", "C": "FF9800", "D": "FBC02D", "E": "D32F2F"}
TITLE = Font(bold=True, size=16)
HEAD = Font(bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="305496")

_EARNED = 'Accounts[Revenue]*IF(TRIM(Accounts[Margin])="",1,Accounts[Margin])'


def _headers(wb, table: str) -> list[str]:
    ws = wb[table] if table in wb.sheetnames else None
    t = ws.tables.get(table) if ws is not None else None
    return [c.name for c in t.tableColumns] if t is not None and t.tableColumns else []


def kept_factor(wb, table: str) -> str:
    """``*(…)`` leaving out rows kept only because they left the export, when the table has a CRM Sync column."""
    if SYNC_COLUMN in _headers(wb, table):
        return f'*(TRIM({table}[{SYNC_COLUMN}])<>"{NOT_IN_EXPORT}")'
    return ""


def _kept_criteria(wb, table: str) -> str:
    """The same, as a COUNTIFS/SUMIFS criteria pair (a blank CRM Sync passes "<>")."""
    if SYNC_COLUMN in _headers(wb, table):
        return f',{table}[{SYNC_COLUMN}],"<>{NOT_IN_EXPORT}"'
    return ""


def _array(ws, cell: str, formula: str) -> None:
    ws[cell] = ArrayFormula(cell, formula)


def _head(ws, row: int, labels: tuple[str, ...]) -> None:
    for j, label in enumerate(labels, start=1):
        c = ws.cell(row, j, label)
        c.font, c.fill = HEAD, HEAD_FILL
        c.alignment = Alignment(horizontal="center", wrap_text=True)


def write(ws, wb, chart_rows: int, money: str) -> None:
    # Rows kept only because they left the export count in no figure (metrics.kept).
    ka, ca = kept_factor(wb, "Accounts"), _kept_criteria(wb, "Accounts")
    kp, cp = kept_factor(wb, "Pipeline"), _kept_criteria(wb, "Pipeline")
    eh_total = f"SUMIFS(Accounts[Effective Hours]{ca})" if ca else "SUM(Accounts[Effective Hours])"
    ws["A1"] = "Dashboard"
    ws["A1"].font = TITLE
    ws["A2"], ws["C2"] = "As of", "=AsOf"
    ws["C2"].number_format = "yyyy-mm-dd"

    ws["A4"] = "Time on dump segments (C + E)"
    ws["C4"] = f'=IFERROR((E{SEGMENT_ROW["C"]}+E{SEGMENT_ROW["E"]})/{eh_total},"")'
    ws["A5"] = "ROT overall"
    _array(ws, "C5", f'=IFERROR(SUM(IF(ISNUMBER(Accounts[Effective Hours]){ka},{_EARNED}))/{eh_total},"")')
    ws["A6"] = "Revenue share of A accounts"
    _array(ws, "C6", f'=IFERROR(D{SEGMENT_ROW["A"]}/SUM(IF((Accounts[Issues]="")*ISNUMBER(Accounts[Revenue]){ka},Accounts[Revenue])),"")')
    ws["C4"].font = Font(bold=True, size=20, color="C00000")
    ws["C4"].number_format = ws["C6"].number_format = "0%"
    ws["C5"].number_format = money + ".00" if money.endswith("0") else money
    ws["D4"] = "of effective hours go to accounts to dump. Target: near zero."
    ws["D4"].font = Font(italic=True, color="595959")
    ws.conditional_formatting.add("C4", CellIsRule(operator="lessThanOrEqual", formula=["0.1"], font=Font(bold=True, size=20, color="2E7D32")))

    ws["A8"] = "Accounts by segment"
    ws["A8"].font = Font(bold=True, size=12)
    _head(ws, 9, SEGMENT_COLUMNS)
    ws.row_dimensions[9].height = 30
    for s, r in SEGMENT_ROW.items():
        ws.cell(r, 1, s).font = Font(bold=True)
        ws.cell(r, 2, FOCUS[s])
        ws.cell(r, 3, f'=COUNTIFS(Accounts[Segment],"{s}"{ca})')
        ws.cell(r, 4, f'=SUMIFS(Accounts[Revenue],Accounts[Segment],"{s}"{ca})').number_format = money
        ws.cell(r, 5, f'=SUMIFS(Accounts[Effective Hours],Accounts[Segment],"{s}"{ca})').number_format = "#,##0.0"
        _array(ws, f"F{r}", f'=IFERROR(SUM(IF((Accounts[Segment]="{s}"){ka},{_EARNED}))/E{r},"")')
        ws.cell(r, 6).number_format = money
        ws.cell(r, 7, f'=IFERROR(D{r}/SUM($D$10:$D$14),"")').number_format = "0%"
        ws.cell(r, 8, f'=IFERROR(E{r}/{eh_total},"")').number_format = "0%"
        ws.cell(r, 9, ACTIONS[s])
        ws.cell(r, 1).fill = PatternFill("solid", fgColor=SEGMENT_CHART_COLOURS[s])
        ws.cell(r, 1).font = Font(bold=True, color="FFFFFF")
    total = SEGMENT_ROW["E"] + 1
    ws.cell(total, 1, "Total").font = Font(bold=True)
    for col, fmt in (("C", "0"), ("D", money), ("E", "#,##0.0")):
        ws[f"{col}{total}"] = f"=SUM({col}10:{col}14)"
        ws[f"{col}{total}"].number_format = fmt
        ws[f"{col}{total}"].font = Font(bold=True)

    ws["A17"] = "Pipeline (open opportunities)"
    ws["A17"].font = Font(bold=True, size=12)
    _head(ws, 18, ("Priority", "Opportunities", "Expected Value"))
    for p, r in PRIORITY_ROW.items():
        ws.cell(r, 1, p).font = Font(bold=True)
        ws.cell(r, 2, f'=COUNTIFS(Pipeline[Priority],"{p}"{cp})')
        ws.cell(r, 3, f'=SUMIFS(Pipeline[Expected Value],Pipeline[Priority],"{p}"{cp})').number_format = money
    ws["A22"], ws["B22"], ws["C22"] = "Total open", "=SUM(B19:B21)", "=SUM(C19:C21)"
    ws["C22"].number_format = money
    for c in ("A22", "B22", "C22"):
        ws[c].font = Font(bold=True)
    # Every row whose Status reads Won or Lost counts, issues or not (a Lost row without a reason is a loss).
    won, lost = '(TRIM(Pipeline[Status])="Won")', '(TRIM(Pipeline[Status])="Lost")'
    here = kept_factor(wb, "Pipeline")
    rows = [
        ("A24", "Win rate (won ÷ won and lost)", "C24",
         f'=IFERROR(SUMPRODUCT({won}{here})/SUMPRODUCT(({won}+{lost}){here}),"")', "0%"),
        ("A25", "Overdue follow-ups", "C25", f"=COUNTIFS(Pipeline[Overdue],TRUE{cp})", "0"),
        ("A26", "Open with no contact yet", "C26", f'=COUNTIFS(Pipeline[Next Follow-up],"{CONTACT_NOW}"{cp})', "0"),
        ("A28", "Expected value per remaining hour", "C28", '=IFERROR(C22/C27,"")', money),
    ]
    for label_cell, label, cell, formula, fmt in rows:
        ws[label_cell], ws[cell] = label, formula
        ws[cell].number_format = fmt
    ws["A27"] = "Selling hours still needed (open)"
    _array(ws, "C27", f'=SUM(IF((Pipeline[Priority]<>""){kp},IF(TRIM(Pipeline[Est. Hours])="",DefaultDealHours,Pipeline[Est. Hours])))')
    ws["C27"].number_format = "#,##0.0"
    ws.conditional_formatting.add("C25", CellIsRule(operator="greaterThan", formula=["0"], font=Font(bold=True, color="C00000")))
    ws["A30"] = "Rows with issues"
    ws["A30"].font = Font(bold=True)
    ws["A31"], ws["C31"] = "Accounts", f"=SUMPRODUCT((LEN(Accounts[Issues])>0){ka or '*1'})"
    ws["A32"], ws["C32"] = "Pipeline", f"=SUMPRODUCT((LEN(Pipeline[Issues])>0){kp or '*1'})"
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 13
    for col in "CDEFGH":
        ws.column_dimensions[col].width = 15
    ws.column_dimensions["I"].width = 46
    _charts(ws, wb, chart_rows)


def _chart_data(wb, rows: int):
    """One row per Accounts row: effective hours, and revenue in the column of its segment (else #N/A,
    which charts skip), so the scatter can colour points by segment."""
    data = wb.create_sheet("Chart Data")
    data.append(["Effective Hours", *[f"Revenue {s}" for s in SEGMENTS]])
    for r in range(2, rows + 2):
        i = f"ROW()-1"
        data.cell(r, 1, f"=IFERROR(IF(ISNUMBER(INDEX(Accounts[Effective Hours],{i})),INDEX(Accounts[Effective Hours],{i}),NA()),NA())")
        for j, s in enumerate(SEGMENTS, start=2):
            data.cell(r, j, f'=IFERROR(IF(INDEX(Accounts[Segment],{i})="{s}",INDEX(Accounts[Revenue],{i}),NA()),NA())')
    data.sheet_state = "hidden"
    return data


def _charts(ws, wb, rows: int) -> None:
    data = _chart_data(wb, rows)
    scatter = ScatterChart()
    scatter.scatterStyle = "lineMarker"  # required by the schema; the lines themselves are switched off below
    scatter.title = "Revenue against effective hours, by segment"
    scatter.style = 13
    scatter.x_axis.title = "Effective hours"
    scatter.y_axis.title = "Revenue"
    scatter.height, scatter.width = 9, 16
    # Revenue is long-tailed: on a log axis the small accounts do not pile up on the floor.
    scatter.y_axis.scaling.logBase = 10
    scatter.y_axis.number_format = "#,##0"
    x = Reference(data, min_col=1, min_row=2, max_row=rows + 1)
    for j, s in enumerate(SEGMENTS, start=2):
        series = Series(Reference(data, min_col=j, min_row=1, max_row=rows + 1), x, title_from_data=True)
        series.marker = Marker(symbol="circle", size=5)
        series.marker.graphicalProperties.solidFill = SEGMENT_CHART_COLOURS[s]
        series.marker.graphicalProperties.line.solidFill = SEGMENT_CHART_COLOURS[s]
        series.graphicalProperties.line.noFill = True
        scatter.series.append(series)
    ws.add_chart(scatter, "K2")

    shares = BarChart()
    shares.type = "col"
    shares.title = "Share of revenue and of time, by segment"
    shares.y_axis.number_format = "0%"
    shares.height, shares.width = 8, 16
    shares.add_data(Reference(ws, min_col=7, max_col=8, min_row=9, max_row=14), titles_from_data=True)
    shares.set_categories(Reference(ws, min_col=1, min_row=10, max_row=14))
    ws.add_chart(shares, "K21")

    ev = BarChart()
    ev.type = "bar"
    ev.title = "Open expected value by priority"
    ev.height, ev.width = 6, 16
    ev.legend = None
    ev.add_data(Reference(ws, min_col=3, min_row=18, max_row=21), titles_from_data=True)
    ev.set_categories(Reference(ws, min_col=1, min_row=19, max_row=21))
    for chart in (scatter, shares, ev):
        # openpyxl leaves axes marked deleted unless told otherwise, and Excel then hides them.
        chart.x_axis.delete = chart.y_axis.delete = False
    ws.add_chart(ev, "K38")


# ---------------------------------------------------------------- §10 the checklist

CHECKLIST_ROW = 34  # heading; figures below it, one a row, in metrics.CHECKLIST order
CHECKLIST_LABELS: dict[str, tuple[str, str]] = {
    # figure: (label, number format)
    "Retention": ("Retention (accounts that bought again this period)", "0%"),
    "New Accounts (12 months)": ("New accounts, last 12 complete months", "0"),
    "New Account Consistency": ("Month-to-month variation of new accounts (lower is steadier)", "0.00"),
    "Cost of Sales ÷ Revenue": ("Cost of sales ÷ revenue", "0.0%"),
    "Prospect Time on ICP Fit": ("Prospect time on good ICP fits (ICP Fit ≥ 0.5)", "0%"),
}
COST_OF_SALES_CELL = f"C{CHECKLIST_ROW + 1 + list(CHECKLIST_LABELS).index('Cost of Sales ÷ Revenue')}"


def cost_of_sales_formula(wb) -> str:
    """Σ h × HourlyCost ÷ Σ Revenue over the valid accounts (h: Hours, else Logged Hours), as metrics.cost_of_sales."""
    here = kept_factor(wb, "Accounts")
    logged = "Accounts[Logged Hours]" if "Logged Hours" in _headers(wb, "Accounts") else None
    h = f"IF(ISNUMBER(Accounts[Hours]),Accounts[Hours],{f'IF(ISNUMBER({logged}),{logged},0)' if logged else '0'})"
    valid = f'(Accounts[Issues]=""){here}'
    return (f'=IF(ISNUMBER(HourlyCost),IFERROR(SUM(IF({valid},{h}))*HourlyCost'
            f'/SUM(IF({valid}*ISNUMBER(Accounts[Revenue]),Accounts[Revenue])),"needs revenue"),"needs HourlyCost")')


def write_checklist(ws, wb, figures: dict[str, object], money: str) -> None:
    """The §10 checklist under the Dashboard's figures. Cost of sales is a live formula once the
    workbook has the HourlyCost named cell; the others are the build's numbers (they need the Won
    deals' history or the team's A accounts), or a text saying what a figure needs."""
    from .cells import put

    put(ws, CHECKLIST_ROW, 1, "Checklist (figures of the build as of AsOf; rebuild to refresh)").font = Font(bold=True, size=12)
    for i, (figure, (label, fmt)) in enumerate(CHECKLIST_LABELS.items(), start=1):
        r = CHECKLIST_ROW + i
        put(ws, r, 1, label)
        if figure == "Cost of Sales ÷ Revenue" and "HourlyCost" in wb.defined_names:
            _array(ws, f"C{r}", cost_of_sales_formula(wb))
            ws[f"C{r}"].number_format = fmt
            continue
        v = figures.get(figure, "needs a team build")
        cell = put(ws, r, 3, float(v) if isinstance(v, numbers.Number) and not isinstance(v, bool) else str(v), fmt)
        if isinstance(v, str):
            cell.font = Font(italic=True, color="7F7F7F")


def checklist_figures(accounts, pipeline, settings) -> dict[str, object]:
    """The §10 checklist of one workbook's rows (a team build passes each owner's team-wide figures instead)."""
    import pandas as pd

    from ..rules import engine
    from ..rules.metrics import checklist_table

    if accounts is None or pipeline is None or accounts.empty:
        return {}
    try:
        table = checklist_table(engine.classify_accounts(accounts, settings), engine.score_pipeline(pipeline, settings), settings)
    except (KeyError, ValueError):  # a template or partial export: the checklist says what it needs
        return {}
    return {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in table.iloc[0].items()}


ICP_FIT_NOTE = ("Written by the build as a value: classic worksheet functions cannot express the comparison with "
                "the team's other A accounts (each account left out, numbers in quintile bands). How closely the "
                "account resembles the team's A accounts on its firmographic columns, 0-1; blank when the team has "
                "fewer than 5 A accounts. Rebuild to refresh.")


def write_icp_fit(ws, fit) -> bool:
    """Fill the Accounts sheet's ICP Fit column (header in row 1) with the build's values, one per table
    row in order, and say on the header why it is a value. False when the sheet has no such column."""
    from openpyxl.comments import Comment

    from .cells import put

    column = next((c.column for c in ws[1] if c.value == "ICP Fit"), None)
    if column is None:
        return False
    for r, v in enumerate(fit, start=2):
        if v == v and v is not None:  # NaN stays blank
            put(ws, r, column, float(v), "0%")
        else:
            ws.cell(r, column).value = None
    ws.cell(1, column).comment = Comment(ICP_FIT_NOTE, "rotxl", width=320, height=120)
    return True
