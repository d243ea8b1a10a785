"""The manager's Team Rollup: SPEC §3 per owner and for the team, with charts comparing owners."""

from __future__ import annotations

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.table import Table, TableStyleInfo

from ..rules.metrics import account_table, pipeline_table
from ..rules.settings import Settings
from . import trend
from .cells import clean_name, put, put_row
from .printing import print_setup
from .workbook import header_width, money_format

COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (header, metric key, number format; "money" = the currency format). A key the figures do
    # not have (yet) is left out, so columns other parts of rotxl compute slot in when present.
    ("Accounts", "Accounts", "0"),
    ("Revenue", "Revenue", "money"),
    ("Effective Hours", "Effective Hours", "#,##0.0"),
    ("ROT", "ROT", "money"),
    ("Time on Dump Segments", "Time on Dump Segments", "0%"),
    ("Revenue Share of A", "Revenue Share of A", "0%"),
    ("Planned Hours", "Plan Hours", "#,##0.0"),
    ("Planned Return", "Planned Return", "money"),
    ("Open EV", "Open EV", "money"),
    ("EV per Remaining Hour", "EV per Remaining Hour", "money"),
    ("Pursue", "Count Pursue", "0"),
    ("Nurture", "Count Nurture", "0"),
    ("Deprioritize", "Count Deprioritize", "0"),
    ("Win Rate", "Win Rate", "0%"),
    ("Overdue Follow-ups", "Overdue Follow-ups", "0"),
    ("Open with No Contact", "Open with No Contact", "0"),
    ("Account Rows with Issues", "Account Rows with Issues", "0"),
    ("Pipeline Rows with Issues", "Pipeline Rows with Issues", "0"),
)
FORMATS = {h: fmt for h, _, fmt in COLUMNS}
OTHER_FORMAT = "#,##0.##"  # a figure this module does not know yet still gets a number format
# The team thresholds under plain names: (named cell, label, number format).
THRESHOLDS: tuple[tuple[str, str, str], ...] = (
    ("RevenueHigh", "Revenue high (A/D cut-off)", "money"),
    ("RevenueFloor", "Revenue floor (C below it)", "money"),
    ("HoursHigh", "Hours high (D/E above it)", "#,##0.0"),
    ("AmountMin", "Minimum deal amount", "money"),
    ("BigDealAmount", "Big deal amount (Nurture above it)", "money"),
)
# Owners compared in charts, in a grid under the table: (header, chart title).
CHARTS: tuple[tuple[str, str], ...] = (
    ("ROT", "ROT by owner"),
    ("Time on Dump Segments", "Time on dump segments by owner"),
    ("Open EV", "Open expected value by owner"),
    ("Win Rate", "Win rate by owner"),
    ("Planned Return", "Planned return this week by owner"),
)
CHARTS_PER_ROW = 2
CHART_CM = 13
FONT = "Calibri"  # named: LibreOffice draws a font without a name in its own default face
HEADER_ROW = 4  # title and as-of date above
HEADER_FILL = PatternFill("solid", fgColor="305496")
UNASSIGNED = "Unassigned"  # the owner of rows with no owner: in the table, never charted


def team_table(accounts: pd.DataFrame, pipeline: pd.DataFrame, acc_owner: pd.Series, pipe_owner: pd.Series,
               settings: Settings) -> pd.DataFrame:
    """One row per owner (Unassigned, if any, after the others) and a last row "Team", the §3
    figures as numbers."""
    # Unassigned last, so the owners' charts take one block of rows without it.
    owners = sorted(set(acc_owner) | set(pipe_owner), key=lambda o: (o == UNASSIGNED, o.casefold()))
    per_owner = _join(account_table(accounts, acc_owner), pipeline_table(pipeline, settings, pipe_owner)).reindex(owners)
    team = _join(account_table(accounts), pipeline_table(pipeline, settings))
    table = pd.concat([per_owner, team])
    present = [(h, key) for h, key, _ in COLUMNS if key in table.columns]
    return table[[key for _, key in present]].set_axis([h for h, _ in present], axis=1)


def _join(accounts: pd.DataFrame, pipeline: pd.DataFrame) -> pd.DataFrame:
    accounts = accounts.rename(columns={"Rows with Issues": "Account Rows with Issues"})
    pipeline = pipeline.rename(columns={"Rows with Issues": "Pipeline Rows with Issues"})
    return accounts.join(pipeline, how="outer")


def build_rollup(table: pd.DataFrame, settings: Settings, thresholds: dict[str, float], currency: str = "$",
                 links: dict[str, str] | None = None, history: pd.DataFrame | None = None) -> Workbook:
    """The rollup workbook from team_table() (or trend.week_table(), whose extra §8 and §10 columns
    show on the Since Last Build sheet): one Team sheet a manager reads in a minute. A title and
    the as-of date, one row per owner (their name links to their workbook: ``links`` maps owner
    to file name, by default the team build's names), the team's row, the thresholds every
    workbook uses, and charts comparing the owners in a grid under the table. With ``history``
    (rotxl.data.history.load_history): the change since the previous build and the Trend."""
    full = table
    shown = [(h, h if h in full.columns else key) for h, key, _ in COLUMNS if h in full.columns or key in full.columns]
    table = full[[src for _, src in shown]].set_axis([h for h, _ in shown], axis=1)
    if links is None:
        from .team import safe_filenames  # the team build names the files; imported here, as team imports this module

        links = safe_filenames([o for o in table.index[:-1]])
    wb = Workbook()
    ws = wb.active
    ws.title = "Team"
    money = money_format(currency)
    fmt = lambda h: money if FORMATS.get(h, OTHER_FORMAT) == "money" else FORMATS.get(h, OTHER_FORMAT)  # noqa: E731
    headers = ["Owner", *map(str, table.columns)]
    last_col = get_column_letter(len(headers))
    put(ws, 1, 1, "Team Rollup").font = Font(name=FONT, bold=True, size=16)
    put(ws, 2, 1, f"Figures as of {settings.as_of_date():%d %b %Y}, when the team was built. "
                  "Click an owner to open their workbook.").font = Font(name=FONT, italic=True, color="595959")

    h = HEADER_ROW
    put_row(ws, h, headers)
    for j in range(1, len(headers) + 1):
        c = ws.cell(h, j)
        c.font, c.fill = Font(name=FONT, bold=True, color="FFFFFF"), HEADER_FILL  # written out: LibreOffice does not draw table styles
        c.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center" if j > 1 else "left")
    ws.row_dimensions[h].height = 45
    for i, (owner, row) in enumerate(table.iterrows(), start=h + 1):
        name = put(ws, i, 1, clean_name(owner))  # owner names are data: never formulas
        if str(owner) in links and i < h + len(table):
            name.hyperlink = links[str(owner)]
            name.font = Font(name=FONT, color="0563C1", underline="single")
        for j, (header, v) in enumerate(row.items(), start=2):
            if isinstance(v, str):  # a figure that says what it needs ("needs HourlyCost")
                put(ws, i, j, v).font = Font(name=FONT, italic=True, color="808080")
            elif not pd.isna(v):
                put(ws, i, j, float(v), fmt(header))
    team_row = h + len(table)
    for c in ws[team_row]:
        c.font = Font(name=FONT, bold=True)
        c.border = Border(top=Side(style="thin"), bottom=Side(style="double"))
    # The owners (not the Team row) form the Excel table, so sorting and filtering stay per owner.
    t = Table(displayName="Team", ref=f"A{h}:{last_col}{max(team_row - 1, h + 1)}")
    t.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(t)
    ws.freeze_panes = f"B{h + 1}"
    ws.column_dimensions["A"].width = max(16, min(40, max((len(str(o)) for o in table.index), default=10) + 3))
    for j, header in enumerate(table.columns, start=2):
        biggest = pd.to_numeric(table[header], errors="coerce").abs().max()
        digits = len(f"{biggest:,.0f}") + (len(currency) + 1 if FORMATS.get(header) == "money" else 1) if biggest == biggest else 4
        ws.column_dimensions[get_column_letter(j)].width = max(9, header_width(str(header)), digits + 3)

    below = _thresholds(ws, team_row + 2, thresholds, money)
    _charts(ws, table, below + 2)
    print_setup(ws, title_rows=f"{h}:{h}")
    if history is not None:
        trend.add_trend(wb, history, full, settings.as_of_date(), currency)
    return wb


def _thresholds(ws, row: int, thresholds: dict[str, float], money: str) -> int:
    """The team thresholds under their plain names; returns the last row written."""
    put(ws, row, 1, "Team thresholds, the same numbers in every owner's workbook").font = Font(name=FONT, bold=True, size=12)
    for r, (name, label, fmt) in enumerate(THRESHOLDS, start=row + 1):
        value = thresholds.get(name)
        put(ws, r, 1, label)
        if value is not None and value == value:
            put(ws, r, 4, float(value), money if fmt == "money" else fmt)
        else:
            put(ws, r, 4, "none: no valid rows").font = Font(name=FONT, italic=True, color="595959")
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=3)
    return row + len(THRESHOLDS)


def _charts(ws, table: pd.DataFrame, row: int) -> None:
    """Bar charts of owners (not "Unassigned", not the Team row), CHARTS_PER_ROW to a row."""
    h = HEADER_ROW
    owners = [o for o in table.index[:-1]]
    charted = [i for i, o in enumerate(owners) if str(o) != UNASSIGNED]
    if not charted:
        return
    # team_table sorts Unassigned after the others, so the charted owners are one block of rows.
    first, last = h + 1 + charted[0], h + 1 + charted[-1]
    height = max(6.0, 0.55 * len(charted) + 2.5)
    # Each chart of a row starts at the first column past the one before it (a column's width
    # unit is about 0.2 cm), with a little gap.
    starts, col, used = [1], 1, 0.0
    while len(starts) < CHARTS_PER_ROW:
        used += ws.column_dimensions[get_column_letter(col)].width or 9
        col += 1
        if used >= len(starts) * (CHART_CM / 0.19 + 2):
            starts.append(col)
    k = 0
    for header, title in CHARTS:
        if header not in table.columns or not pd.api.types.is_numeric_dtype(pd.to_numeric(table[header], errors="coerce")) \
                or pd.to_numeric(table[header], errors="coerce").isna().all():
            continue  # nothing to chart (a figure that says what it needs)
        col = list(table.columns).index(header) + 2
        chart = BarChart()
        chart.type = "bar"
        chart.title = title
        chart.legend = None
        chart.height, chart.width = height, CHART_CM
        chart.add_data(Reference(ws, min_col=col, min_row=first, max_row=last), titles_from_data=False)
        chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
        fmt = ws.cell(first, col).number_format
        big = pd.to_numeric(table[header], errors="coerce").iloc[charted].abs().max()
        # Thousands on a long money axis, so its labels stay level and every owner keeps a label.
        chart.y_axis.number_format = fmt.split(";")[0] + ',"k"' if "#,##0" in fmt and big >= 100_000 else fmt
        chart.x_axis.scaling.orientation = "maxMin"  # owners top to bottom, as in the table
        chart.x_axis.delete = chart.y_axis.delete = False
        anchor_col = starts[k % CHARTS_PER_ROW]
        anchor_row = row + (k // CHARTS_PER_ROW) * int(height / 0.5 + 2)
        ws.add_chart(chart, f"{get_column_letter(anchor_col)}{anchor_row}")
        k += 1
