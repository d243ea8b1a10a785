"""The This Week sheet (SPEC §8): the plan of one owner, in plan order, as live formulas.

Every figure follows the tables: each line finds its item by MATCH over the tables' Plan Line
helper column (owner key & "#" & rank) and reads it with INDEX, so the sheet follows every edit
with no Python. The owner is picked in one cell (a list of the workbook's owners; any name may
be typed), so the sheet prints on one landscape page whatever the number of owners.
"""

from __future__ import annotations

from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.worksheet.datavalidation import DataValidation

from ..rules.engine import xl_text
from ..rules.plan import SEGMENT_WHY, UNASSIGNED, escape_criteria, follow_up_why_formula
from .cells import put
from .printing import print_setup

SHEET = "This Week"
LINES = 30  # planned items shown; more are counted on the line below them
STOP_LINES = 8
FIRST_LINE = 10
HEADERS = ("Rank", "Kind", "Name", "Account", "Why", "Plan Hours", "Planned Return")
WIDTHS = (6, 11, 30, 24, 60, 11, 15)
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
HEAD_FILL = PatternFill("solid", fgColor="305496")
OVERDUE_FONT = Font(color="9C0006", bold=True)
KEY, CRITERIA, LOOKUP = "$K$2", "$K$3", "$K$4"  # hidden: the owner's key, as criteria, as a MATCH value
OWNER_LIST_ROW = 10


def _sum(column: str) -> str:
    return (f"SUMIFS(Pipeline[{column}],Pipeline[Plan Owner],{CRITERIA})"
            f"+SUMIFS(Accounts[{column}],Accounts[Plan Owner],{CRITERIA})")


def _deal_why(h: str, currency: str) -> str:
    return (f'INDEX(Pipeline[Priority],{h})&": "&{xl_text(currency)}&TEXT(INDEX(Pipeline[Opportunity ROT],{h}),"#,##0")'
            f'&" per hour"')


def _account_why(i: str, currency: str) -> str:
    seg = f"INDEX(Accounts[Segment],{i})"
    phrase = f'IF({seg}="A",{xl_text(SEGMENT_WHY["A"])},IF({seg}="B",{xl_text(SEGMENT_WHY["B"])},{xl_text(SEGMENT_WHY["D"])}))'
    return (f'{seg}&" account: "&{phrase}&", "&{xl_text(currency)}&TEXT(INDEX(Accounts[ROT],{i}),"#,##0")&" per hour"')


def _line(ws, r: int, n: int, currency: str) -> None:
    h, i = f"$H{r}", f"$I{r}"
    ws[f"H{r}"] = f'=IFERROR(MATCH({LOOKUP}&"#{n}",Pipeline[Plan Line],0),0)'
    ws[f"I{r}"] = f'=IFERROR(MATCH({LOOKUP}&"#{n}",Accounts[Plan Line],0),0)'
    follow = f"INDEX(Pipeline[Plan Follow-up Hours],{h})>0"
    ws[f"A{r}"] = f'=IF({h}+{i}=0,"",{n})'
    ws[f"B{r}"] = f'=IF({h}>0,IF({follow},"Follow-up","Deal"),IF({i}>0,"Account",""))'
    name = f"INDEX(Pipeline[Opportunity],{h})&\"\""
    ws[f"C{r}"] = (f'=IF({h}>0,IF(TRIM({name})="",INDEX(Pipeline[Opportunity ID],{h})&"",{name}),'
                   f'IF({i}>0,INDEX(Accounts[Account],{i})&"",""))')
    ws[f"D{r}"] = f'=IF({h}>0,INDEX(Pipeline[Account],{h})&"","")'
    fu_why = follow_up_why_formula(f"INDEX(Pipeline[Next Follow-up],{h})")
    sells = f"INDEX(Pipeline[Plan Sells],{h})=1"
    ws[f"E{r}"] = (f'=IF({h}>0,IF({follow},{fu_why}&IF({sells},"; "&{_deal_why(h, currency)},""),{_deal_why(h, currency)}),'
                   f'IF({i}>0,{_account_why(i, currency)},""))')
    for col, column in (("F", "Plan Hours"), ("G", "Planned Return")):
        ws[f"{col}{r}"] = f'=IF({h}>0,INDEX(Pipeline[{column}],{h}),IF({i}>0,INDEX(Accounts[{column}],{i}),""))'


def _stop_line(ws, r: int, n: int) -> None:
    i = f"$I{r}"
    ws[f"I{r}"] = f'=IFERROR(MATCH({LOOKUP}&"#{n}",Accounts[Plan Stop Line],0),0)'
    ws[f"A{r}"] = f'=IF({i}=0,"",{n})'
    ws[f"B{r}"] = f'=IF({i}=0,"",INDEX(Accounts[Segment],{i})&" account")'
    ws[f"C{r}"] = f'=IF({i}=0,"",INDEX(Accounts[Account],{i})&"")'
    ws[f"E{r}"] = f'=IF({i}=0,"","stop: "&TEXT(INDEX(Accounts[Plan Weekly Hours],{i}),"#,##0.0")&" h a week")'
    ws[f"F{r}"] = f'=IF({i}=0,"",INDEX(Accounts[Plan Weekly Hours],{i}))'
    # Not empty: LibreOffice draws the hidden helper's number as ### across an empty cell beside it.
    ws[f"G{r}"] = '=""'


def write(ws, owners: list[str], money: str, currency: str = "$") -> None:
    """Fill the This Week sheet. ``owners``: the workbook's owners, the first one shown."""
    bold = Font(bold=True)
    ws["A1"] = "This week's plan"
    ws["A1"].font = Font(bold=True, size=16)
    ws["E1"] = '="Week of "&TEXT(AsOf,"ddd d mmm yyyy")&" to "&TEXT(AsOf+6,"ddd d mmm")'
    ws["E1"].font = Font(italic=True, color="595959")
    ws["A2"] = "Owner"
    ws["A2"].font = bold
    ws.merge_cells("B2:C2")
    owner = put(ws, 2, 2, owners[0] if owners else UNASSIGNED)  # an owner's name is data, never a formula
    owner.fill = INPUT_FILL
    owner.font = Font(bold=True, size=12)
    ws["D2"] = "pick from the list, or type a name"
    ws["D2"].font = Font(italic=True, color="808080")
    ws["K1"] = "helper: owner key, criteria, lookup; owners"
    ws[KEY.replace("$", "")] = f'="owner:"&LOWER(IF(TRIM($B$2)="",{xl_text(UNASSIGNED)},TRIM($B$2)))'
    ws[CRITERIA.replace("$", "")] = f'="="&{escape_criteria(KEY)}'
    ws[LOOKUP.replace("$", "")] = f"={escape_criteria(KEY)}"
    for j, name in enumerate(owners or [UNASSIGNED], start=OWNER_LIST_ROW):
        put(ws, j, 11, name)
    dv = DataValidation(type="list", formula1=f"$K${OWNER_LIST_ROW}:$K${OWNER_LIST_ROW + max(len(owners), 1) - 1}",
                        allow_blank=True, showErrorMessage=False)
    ws.add_data_validation(dv)
    dv.add("B2")

    summary = [
        ("Selling hours this week", "=WeeklyHours", "#,##0.0"),
        ("Hours planned", f"={_sum('Plan Hours')}", "#,##0.0"),
        ("Planned return", f"={_sum('Planned Return')}", money),
        ("Return per planned hour", '=IF(D5>0,D6/D5,"")', money),
    ]
    for r, (label, formula, fmt) in enumerate(summary, start=4):
        ws[f"C{r}"] = label
        ws[f"C{r}"].font = bold
        ws[f"D{r}"] = formula
        ws[f"D{r}"].number_format = fmt
        ws[f"D{r}"].alignment = Alignment(horizontal="left")
    ws["E4"] = "Follow-ups come first (FollowUpMinutes each), then the hours that pay most, each up to what it can absorb this week."
    ws["E5"] = (f'=IF(COUNTIFS(Pipeline[Plan Owner],{CRITERIA},Pipeline[Plan Due],1)'
                f'-COUNTIFS(Pipeline[Plan Owner],{CRITERIA},Pipeline[Plan Follow-up Hours],">0")>0,'
                f'"Follow-ups due but not planned (no hours left): "&(COUNTIFS(Pipeline[Plan Owner],{CRITERIA},Pipeline[Plan Due],1)'
                f'-COUNTIFS(Pipeline[Plan Owner],{CRITERIA},Pipeline[Plan Follow-up Hours],">0")),"")')
    ws["E5"].font = OVERDUE_FONT
    for c in ("E4",):
        ws[c].font = Font(italic=True, color="595959")
        ws[c].alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells("E4:G4")
    ws.row_dimensions[4].height = 30

    head = FIRST_LINE - 1
    for j, h in enumerate(HEADERS, start=1):
        cell = ws.cell(head, j, h)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = HEAD_FILL
    thin = Border(bottom=Side(style="hair", color="BFBFBF"))
    for n in range(1, LINES + 1):
        r = head + n
        _line(ws, r, n, currency)
        ws[f"F{r}"].number_format = "#,##0.00"
        ws[f"G{r}"].number_format = money
        for j in range(1, 8):
            ws.cell(r, j).border = thin
    last = head + LINES
    count = (f"COUNTIFS(Pipeline[Plan Owner],{CRITERIA},Pipeline[Plan Rank],\">0\")"
             f"+COUNTIFS(Accounts[Plan Owner],{CRITERIA},Accounts[Plan Rank],\">0\")")
    ws[f"C{last + 1}"] = f'=IF({count}>{LINES},"… and "&({count}-{LINES})&" more planned items: see Plan Hours in Pipeline and Accounts","")'
    ws[f"C{last + 1}"].font = Font(italic=True)
    ws.conditional_formatting.add(f"E{FIRST_LINE}:E{last}", FormulaRule(formula=[f'LEFT($E{FIRST_LINE},7)="Overdue"'], font=OVERDUE_FONT))

    stop_head = last + 3
    ws.cell(stop_head, 1, "Stop: C and E accounts and the hours they take now").font = Font(bold=True, size=12)
    for n in range(1, STOP_LINES + 1):
        r = stop_head + n
        _stop_line(ws, r, n)
        ws[f"F{r}"].number_format = "#,##0.0"
    end = stop_head + STOP_LINES
    for j, w in enumerate(WIDTHS, start=1):
        ws.column_dimensions[chr(64 + j)].width = w
    for col in "HIJK":
        ws.column_dimensions[col].hidden = True
    for r in range(FIRST_LINE, end + 1):
        ws[f"E{r}"].alignment = Alignment(shrink_to_fit=True)
    ws.print_area = f"A1:G{end}"
    print_setup(ws, fit_height=1)  # one landscape page
    ws.print_options.gridLines = False
    ws.sheet_view.showGridLines = False
