"""The Dashboard sheet: SPEC §3 per segment and for the pipeline, as live formulas, with charts.

Figures mirror rotxl.rules.metrics; their cells are listed in CELLS so tests can hold one to the other.
"""

from __future__ import annotations

import numbers

from openpyxl.chart import BarChart, Reference, ScatterChart, Series
from openpyxl.chart.marker import Marker
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.formula import ArrayFormula

from ..rules.engine import CONTACT_NOW, FOCUS, PRIORITIES
from ..rules.schema import NOT_IN_EXPORT, SYNC_COLUMN
from ..rules.metrics import SEGMENTS
from . import table_body
from .cells import put, put_formula, put_row
from .printing import print_setup

SEGMENT_ROW = {s: 10 + i for i, s in enumerate(SEGMENTS)}  # A..E in rows 10..14
SEGMENT_COLUMNS = ("Segment", "Focus", "Accounts", "Revenue", "Effective Hours", "ROT", "Share of Revenue", "Share of Time")
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
# The named lists beside the figures: (title, table, filter column, its value, ranked by, shown columns).
TOP_N = 5
TOP_LISTS: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("Top 5 Pursue deals by expected value", "Pipeline", "Priority", "Pursue", "Expected Value",
     ("Opportunity", "Account", "Next Follow-up")),
    ("Top 5 A accounts by return on time", "Accounts", "Segment", "A", "ROT", ("Account", "Revenue", "Effective Hours")),
)
TOP_ROW = {TOP_LISTS[0][0]: 18, TOP_LISTS[1][0]: 26}  # header rows; the items are the 5 rows below
TOP_COLUMN = 10  # J: rank, then the ranked value, then the shown columns
TOP_HELPER = 26  # Z: hidden, the table row of each item
SEGMENT_CHART_COLOURS = {"A": "2E7D32", "B": "8BC34A", "C": "FF9800", "D": "FBC02D", "E": "D32F2F"}
TITLE = Font(name="Calibri", bold=True, size=16)
HEAD = Font(name="Calibri", bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="305496")
SECTION = Font(name="Calibri", bold=True, size=12)
NOTE = Font(name="Calibri", italic=True, color="595959")
# Columns A..H hold the figures, I is a gutter, J.. the named lists and the charts.
WIDTHS = {"A": 28, "B": 9, "C": 11, "D": 12, "E": 11, "F": 11, "G": 10, "H": 10, "I": 2,
          "J": 4, "K": 12, "L": 22, "M": 18, "N": 13}
CHART_CM = 12.5  # chart width; the first chart sits over J..N, the second starts at O

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


def _array(ws, cell: str, formula: str, number_format: str | None = None) -> None:
    ws[cell] = ArrayFormula(cell, formula)
    if number_format:
        ws[cell].number_format = number_format


def _head(ws, row: int, labels: tuple[str, ...], first_column: int = 1) -> None:
    put_row(ws, row, list(labels), first_column)
    for j in range(first_column, first_column + len(labels)):
        c = ws.cell(row, j)
        c.font, c.fill = HEAD, HEAD_FILL
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[row].height = 30  # room for a two-line header


def _label(ws, cell: str, text: str, font: Font | None = None) -> None:
    c = ws[cell]
    put(ws, c.row, c.column, text)
    if font:
        c.font = font


def write(ws, wb, chart_rows: int, money: str, stream: bool = False) -> None:
    """The Dashboard; ``stream``: its chart's data rows are streamed (rotxl.excel.table_body)."""
    _label(ws, "A1", "Dashboard", TITLE)
    _label(ws, "A2", "As of")
    put_formula(ws, 2, 3, "=AsOf", "yyyy-mm-dd").alignment = Alignment(horizontal="left")

    _label(ws, "A4", "Time on dump segments (C + E)")
    put_formula(ws, 4, 3, f'=IFERROR((E{SEGMENT_ROW["C"]}+E{SEGMENT_ROW["E"]})/{_EH_TOTAL},"")', "0%")
    _label(ws, "A5", "ROT overall")
    # Comparisons, not ISNUMBER(range), which IronCalc does not take in an array formula; on a
    # valid row these cells hold a number or "".
    _array(ws, "C5", f'=IFERROR(SUM(IF((Accounts[Effective Hours]<>"")*{_synced("Accounts")},{_EARNED}))/{_EH_TOTAL},"")',
           money + ".00" if money.endswith("0") else money)
    _label(ws, "A6", "Revenue share of A accounts")
    _array(ws, "C6", f'=IFERROR(D{SEGMENT_ROW["A"]}/SUM(IF((Accounts[Issues]="")*(Accounts[Revenue]<>"")*{_synced("Accounts")},'
                     f'Accounts[Revenue])),"")', "0%")
    ws["C4"].font = Font(name="Calibri", bold=True, size=16, color="C00000")
    _label(ws, "D4", "of effective hours go to accounts to dump. Target: near zero.", NOTE)
    ws.conditional_formatting.add("C4", CellIsRule(operator="lessThanOrEqual", formula=["0.1"], font=Font(bold=True, size=16, color="2E7D32")))

    _label(ws, "A8", "Accounts by segment", SECTION)
    _head(ws, 9, SEGMENT_COLUMNS)
    for s, r in SEGMENT_ROW.items():
        put_row(ws, r, [s, FOCUS[s]])
        seg = f'(Accounts[Segment]="{s}")'
        put_formula(ws, r, 3, f'={_count("Accounts", seg)}', "0")
        put_formula(ws, r, 4, f'={_sum("Accounts", seg, "Revenue")}', money)
        put_formula(ws, r, 5, f'={_sum("Accounts", seg, "Effective Hours")}', "#,##0.0")
        _array(ws, f"F{r}", f'=IFERROR(SUM(IF((Accounts[Segment]="{s}")*{_synced("Accounts")},{_EARNED}))/E{r},"")', money)
        put_formula(ws, r, 7, f'=IFERROR(D{r}/SUM($D$10:$D$14),"")', "0%")
        put_formula(ws, r, 8, f'=IFERROR(E{r}/{_EH_TOTAL},"")', "0%")
        ws.cell(r, 1).fill = PatternFill("solid", fgColor=SEGMENT_CHART_COLOURS[s])
        ws.cell(r, 1).font = Font(name="Calibri", bold=True, color="FFFFFF")
        ws.cell(r, 1).alignment = Alignment(horizontal="center")
    total = SEGMENT_ROW["E"] + 1
    _label(ws, f"A{total}", "Total", Font(name="Calibri", bold=True))
    for j, fmt in ((3, "0"), (4, money), (5, "#,##0.0")):
        col = "ABCDE"[j - 1]
        put_formula(ws, total, j, f"=SUM({col}10:{col}14)", fmt).font = Font(name="Calibri", bold=True)

    _label(ws, "A17", "Pipeline (open opportunities)", SECTION)
    _head(ws, 18, ("Priority", "Deals", "Expected Value"))
    for p, r in PRIORITY_ROW.items():
        put(ws, r, 1, p).font = Font(name="Calibri", bold=True)
        prio = f'(Pipeline[Priority]="{p}")'
        put_formula(ws, r, 2, f'={_count("Pipeline", prio)}', "0")
        put_formula(ws, r, 3, f'={_sum("Pipeline", prio, "Expected Value")}', money)
    _label(ws, "A22", "Total open")
    put_formula(ws, 22, 2, "=SUM(B19:B21)", "0")
    put_formula(ws, 22, 3, "=SUM(C19:C21)", money)
    for c in ("A22", "B22", "C22"):
        ws[c].font = Font(name="Calibri", bold=True)
    won, lost = '(TRIM(Pipeline[Status])="Won")', '(TRIM(Pipeline[Status])="Lost")'
    # Every row whose Status reads Won or Lost counts, issues or not (a Lost row without a reason is a loss).
    valid = _synced("Pipeline")
    no_contact = f'(Pipeline[Next Follow-up]="{CONTACT_NOW}")'
    rows = [
        (24, "Win rate (won ÷ won and lost)",
         f'=IFERROR(SUMPRODUCT({won}*{valid})/SUMPRODUCT(({won}+{lost})*{valid}),"")', "0%"),
        (25, "Overdue follow-ups", f'={_count("Pipeline", "(Pipeline[Overdue]=TRUE)")}', "0"),
        (26, "Open with no contact yet", f'={_count("Pipeline", no_contact)}', "0"),
        (28, "Expected value per remaining hour", '=IFERROR(C22/C27,"")', money),
    ]
    for r, label, formula, fmt in rows:
        put(ws, r, 1, label)
        put_formula(ws, r, 3, formula, fmt)
    put(ws, 27, 1, "Selling hours still needed (open)")
    _array(ws, "C27", f'=SUM(IF((Pipeline[Priority]<>"")*{_synced("Pipeline")},'
                      'IF(TRIM(Pipeline[Est. Hours])="",DefaultDealHours,Pipeline[Est. Hours])))', "#,##0.0")
    ws.conditional_formatting.add("C25", CellIsRule(operator="greaterThan", formula=["0"], font=Font(bold=True, color="C00000")))
    _label(ws, "A30", "Rows with issues", Font(name="Calibri", bold=True))
    _label(ws, "A31", "Accounts")
    # A comparison, not LEN(range): IronCalc reads a function over a range in SUMPRODUCT as one cell.
    put_formula(ws, 31, 3, '=SUMPRODUCT(--(Accounts[Issues]<>""))', "0")
    _label(ws, "A32", "Pipeline")
    put_formula(ws, 32, 3, '=SUMPRODUCT(--(Pipeline[Issues]<>""))', "0")
    for title, *spec in TOP_LISTS:
        _top_list(ws, TOP_ROW[title], title, *spec, money)
    for col, width in WIDTHS.items():
        ws.column_dimensions[col].width = width
    ws.column_dimensions[get_column_letter(TOP_HELPER)].hidden = True
    _charts(ws, wb, chart_rows, stream)
    ws.print_area = "A1:V41"  # the figures, the charts and the §10 checklist under them
    print_setup(ws, fit_height=1)


def _top_list(ws, row: int, title: str, table: str, column: str, value: str, ranked: str, shown: tuple[str, ...],
              money: str) -> None:
    """The TOP_N rows of ``table`` whose ``column`` is ``value``, largest ``ranked`` first; equal
    values in table order (the n-th equal value takes the n-th such row: COUNTIF over the values above)."""
    c0 = TOP_COLUMN
    put(ws, row - 1, c0, title).font = SECTION
    _head(ws, row, ("#", ranked, *shown), c0)
    key, rank_col = f'({table}[{column}]="{value}")', get_column_letter(c0 + 1)
    pos = f"ROW({table}[{ranked}])-MIN(ROW({table}[{ranked}]))+1"
    formats = {"Expected Value": money, "ROT": money, "Revenue": money, "Effective Hours": "#,##0.0", "Next Follow-up": "yyyy-mm-dd"}
    helper = get_column_letter(TOP_HELPER)
    for k in range(1, TOP_N + 1):
        r = row + k
        put(ws, r, c0, k).alignment = Alignment(horizontal="center")
        v = f"{rank_col}{r}"
        # "" (text) where the row does not qualify: LARGE skips text in Excel and LibreOffice alike
        # (LibreOffice would count a FALSE as 0).
        _array(ws, v, f'=IFERROR(LARGE(IF({key},{table}[{ranked}],""),{k}),"")', formats[ranked])
        _array(ws, f"{helper}{r}", f'=IF({v}="","",SMALL(IF({key}*({table}[{ranked}]={v}),{pos},""),'
                                     f"COUNTIF({rank_col}${row + 1}:{v},{v})))")
        for j, h in enumerate(shown, start=c0 + 2):
            cell = put_formula(ws, r, j, f'=IF({helper}{r}="","",INDEX({table}[{h}],{helper}{r}))', formats.get(h))
            cell.alignment = Alignment(horizontal="left", indent=1) if h not in formats else Alignment()


def _chart_data(wb, rows: int, stream: bool = False):
    """One row per Accounts row: effective hours, and revenue in the column of its segment (else #N/A,
    which charts skip), so the scatter can colour points by segment."""
    data = wb.create_sheet("Chart Data")
    put_row(data, 1, ["Effective Hours", *[f"Revenue {s}" for s in SEGMENTS]])
    i = "ROW()-1"
    hours = f"=IFERROR(IF(ISNUMBER(INDEX(Accounts[Effective Hours],{i})),INDEX(Accounts[Effective Hours],{i}),NA()),NA())"
    revenue = {s: f'=IFERROR(IF(INDEX(Accounts[Segment],{i})="{s}",INDEX(Accounts[Revenue],{i}),NA()),NA())' for s in SEGMENTS}
    body = table_body.columns(data, 2, rows, stream)
    for j, formula in enumerate([hours, *(revenue[s] for s in SEGMENTS)], start=1):
        body.put_formula_column(j, formula)
    data.sheet_state = "hidden"
    return data


def _charts(ws, wb, rows: int, stream: bool = False) -> None:
    data = _chart_data(wb, rows, stream)
    scatter = ScatterChart()
    scatter.scatterStyle = "lineMarker"  # required by the schema; the lines themselves are switched off below
    scatter.title = "Revenue against effective hours, by segment"
    scatter.style = 13
    scatter.x_axis.title = "Effective hours"
    scatter.y_axis.title = "Revenue"
    scatter.height, scatter.width = 7.6, CHART_CM
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
    ws.add_chart(scatter, "O1")  # beside the segment table, right of the shares

    shares = BarChart()
    shares.type = "col"
    shares.title = "Share of revenue and of time, by segment"
    shares.y_axis.number_format = "0%"
    shares.height, shares.width = 7.6, CHART_CM
    shares.add_data(Reference(ws, min_col=7, max_col=8, min_row=9, max_row=14), titles_from_data=True)
    shares.set_categories(Reference(ws, min_col=1, min_row=10, max_row=14))
    ws.add_chart(shares, "J1")  # beside the segment table it charts

    ev = BarChart()
    ev.type = "bar"
    ev.title = "Open expected value by priority"
    ev.height, ev.width = 7.6, CHART_CM
    ev.legend = None
    ev.add_data(Reference(ws, min_col=3, min_row=18, max_row=21), titles_from_data=True)
    ev.set_categories(Reference(ws, min_col=1, min_row=19, max_row=21))
    for chart in (scatter, shares, ev):
        # openpyxl leaves axes marked deleted unless told otherwise, and Excel then hides them.
        chart.x_axis.delete = chart.y_axis.delete = False
    ws.add_chart(ev, "O17")  # beside the pipeline's named deals


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
# Figures in F: the labels are longer than A and B, and run on across the empty C:E.
CHECKLIST_COLUMN = 6
COST_OF_SALES_CELL = f"F{CHECKLIST_ROW + 1 + list(CHECKLIST_LABELS).index('Cost of Sales ÷ Revenue')}"


def cost_of_sales_formula(wb) -> str:
    """Σ h × HourlyCost ÷ Σ Revenue over the valid accounts (h: Hours, else Logged Hours), as metrics.cost_of_sales."""
    here = kept_factor(wb, "Accounts")
    logged = "Accounts[Logged Hours]" if "Logged Hours" in _headers(wb, "Accounts") else None
    h = f"IF(ISNUMBER(Accounts[Hours]),Accounts[Hours],{f'IF(ISNUMBER({logged}),{logged},0)' if logged else '0'})"
    valid = f'(Accounts[Issues]=""){here}'
    # N(HourlyCost)>0, not ISNUMBER: IronCalc reads the blank, formatted input cell as the number 0.
    return (f'=IF(N(HourlyCost)>0,IFERROR(SUM(IF({valid},{h}))*HourlyCost'
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
            _array(ws, f"F{r}", cost_of_sales_formula(wb))
            ws[f"F{r}"].number_format = fmt
            continue
        v = figures.get(figure, "needs a team build")
        cell = put(ws, r, CHECKLIST_COLUMN, float(v) if isinstance(v, numbers.Number) and not isinstance(v, bool) else str(v), fmt)
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
