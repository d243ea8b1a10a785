"""The Dashboard sheet: SPEC §3 per segment and for the pipeline, as live formulas, with charts.

Figures mirror rotxl.rules.metrics; their cells are listed in CELLS so tests can hold one to the other.
"""

from __future__ import annotations

from openpyxl.chart import BarChart, Reference, ScatterChart, Series
from openpyxl.chart.marker import Marker
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.formula import ArrayFormula

from ..rules.engine import ACTIONS, CONTACT_NOW, FOCUS, PRIORITIES
from ..rules.schema import NOT_IN_EXPORT, SYNC_COLUMN
from ..rules.metrics import SEGMENTS

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


def _synced(table: str) -> str:
    """1 on rows still in the CRM export: rows kept only because they left it are in no figure (§6.1)."""
    return f'({table}[{SYNC_COLUMN}]<>"{NOT_IN_EXPORT}")'


def _count(table: str, condition: str) -> str:
    return f"SUMPRODUCT({condition}*{_synced(table)})"


def _sum(table: str, condition: str, column: str) -> str:
    """Σ column where condition, as SUMPRODUCT's separate arrays read it (text and blanks count 0)."""
    return f"SUMPRODUCT({condition}*{_synced(table)},{table}[{column}])"


_EH_TOTAL = _sum("Accounts", "1", "Effective Hours")


def _array(ws, cell: str, formula: str) -> None:
    ws[cell] = ArrayFormula(cell, formula)


def _head(ws, row: int, labels: tuple[str, ...]) -> None:
    for j, label in enumerate(labels, start=1):
        c = ws.cell(row, j, label)
        c.font, c.fill = HEAD, HEAD_FILL
        c.alignment = Alignment(horizontal="center", wrap_text=True)


def write(ws, wb, chart_rows: int, money: str) -> None:
    ws["A1"] = "Dashboard"
    ws["A1"].font = TITLE
    ws["A2"], ws["C2"] = "As of", "=AsOf"
    ws["C2"].number_format = "yyyy-mm-dd"

    ws["A4"] = "Time on dump segments (C + E)"
    ws["C4"] = f'=IFERROR((E{SEGMENT_ROW["C"]}+E{SEGMENT_ROW["E"]})/{_EH_TOTAL},"")'
    ws["A5"] = "ROT overall"
    # Comparisons, not ISNUMBER(range), which IronCalc does not take in an array formula; on a
    # valid row these cells hold a number or "".
    _array(ws, "C5", f'=IFERROR(SUM(IF((Accounts[Effective Hours]<>"")*{_synced("Accounts")},{_EARNED}))/{_EH_TOTAL},"")')
    ws["A6"] = "Revenue share of A accounts"
    _array(ws, "C6", f'=IFERROR(D{SEGMENT_ROW["A"]}/SUM(IF((Accounts[Issues]="")*(Accounts[Revenue]<>"")*{_synced("Accounts")},'
                     f'Accounts[Revenue])),"")')
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
        seg = f'(Accounts[Segment]="{s}")'
        ws.cell(r, 3, f'={_count("Accounts", seg)}')
        ws.cell(r, 4, f'={_sum("Accounts", seg, "Revenue")}').number_format = money
        ws.cell(r, 5, f'={_sum("Accounts", seg, "Effective Hours")}').number_format = "#,##0.0"
        _array(ws, f"F{r}", f'=IFERROR(SUM(IF((Accounts[Segment]="{s}")*{_synced("Accounts")},{_EARNED}))/E{r},"")')
        ws.cell(r, 6).number_format = money
        ws.cell(r, 7, f'=IFERROR(D{r}/SUM($D$10:$D$14),"")').number_format = "0%"
        ws.cell(r, 8, f'=IFERROR(E{r}/{_EH_TOTAL},"")').number_format = "0%"
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
        prio = f'(Pipeline[Priority]="{p}")'
        ws.cell(r, 2, f'={_count("Pipeline", prio)}')
        ws.cell(r, 3, f'={_sum("Pipeline", prio, "Expected Value")}').number_format = money
    ws["A22"], ws["B22"], ws["C22"] = "Total open", "=SUM(B19:B21)", "=SUM(C19:C21)"
    ws["C22"].number_format = money
    for c in ("A22", "B22", "C22"):
        ws[c].font = Font(bold=True)
    won, lost = '(TRIM(Pipeline[Status])="Won")', '(TRIM(Pipeline[Status])="Lost")'
    valid = f'(Pipeline[Issues]="")*{_synced("Pipeline")}'
    no_contact = f'(Pipeline[Next Follow-up]="{CONTACT_NOW}")'
    rows = [
        ("A24", "Win rate (won ÷ won and lost)", "C24",
         f'=IFERROR(SUMPRODUCT({won}*{valid})/SUMPRODUCT(({won}+{lost})*{valid}),"")', "0%"),
        ("A25", "Overdue follow-ups", "C25", f'={_count("Pipeline", "(Pipeline[Overdue]=TRUE)")}', "0"),
        ("A26", "Open with no contact yet", "C26", f'={_count("Pipeline", no_contact)}', "0"),
        ("A28", "Expected value per remaining hour", "C28", '=IFERROR(C22/C27,"")', money),
    ]
    for label_cell, label, cell, formula, fmt in rows:
        ws[label_cell], ws[cell] = label, formula
        ws[cell].number_format = fmt
    ws["A27"] = "Selling hours still needed (open)"
    _array(ws, "C27", f'=SUM(IF((Pipeline[Priority]<>"")*{_synced("Pipeline")},'
                      'IF(TRIM(Pipeline[Est. Hours])="",DefaultDealHours,Pipeline[Est. Hours])))')
    ws["C27"].number_format = "#,##0.0"
    ws.conditional_formatting.add("C25", CellIsRule(operator="greaterThan", formula=["0"], font=Font(bold=True, color="C00000")))
    ws["A30"] = "Rows with issues"
    ws["A30"].font = Font(bold=True)
    # A comparison, not LEN(range): IronCalc reads a function over a range in SUMPRODUCT as one cell.
    ws["A31"], ws["C31"] = "Accounts", '=SUMPRODUCT(--(Accounts[Issues]<>""))'
    ws["A32"], ws["C32"] = "Pipeline", '=SUMPRODUCT(--(Pipeline[Issues]<>""))'

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
