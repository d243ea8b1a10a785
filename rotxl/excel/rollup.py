"""The manager's Team Rollup: SPEC §3 per owner and for the team, with charts comparing owners."""

from __future__ import annotations

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.table import Table, TableStyleInfo

from ..rules.metrics import account_table, pipeline_table
from ..rules.settings import Settings
from .cells import clean_name, put_row
from .workbook import money_format

COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (header, metric key, number format; "money" = the currency format)
    ("Accounts", "Accounts", "0"),
    ("Revenue", "Revenue", "money"),
    ("Effective Hours", "Effective Hours", "#,##0.0"),
    ("ROT", "ROT", "money"),
    ("Time on Dump Segments", "Time on Dump Segments", "0%"),
    ("Revenue Share of A", "Revenue Share of A", "0%"),
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


def team_table(accounts: pd.DataFrame, pipeline: pd.DataFrame, acc_owner: pd.Series, pipe_owner: pd.Series,
               settings: Settings) -> pd.DataFrame:
    """One row per owner and a last row "Team", the §3 figures as numbers."""
    owners = sorted(set(acc_owner) | set(pipe_owner), key=str.casefold)
    per_owner = _join(account_table(accounts, acc_owner), pipeline_table(pipeline, settings, pipe_owner)).reindex(owners)
    team = _join(account_table(accounts), pipeline_table(pipeline, settings))
    table = pd.concat([per_owner, team])
    return table[[key for _, key, _ in COLUMNS]].set_axis([h for h, _, _ in COLUMNS], axis=1)


def _join(accounts: pd.DataFrame, pipeline: pd.DataFrame) -> pd.DataFrame:
    accounts = accounts.rename(columns={"Rows with Issues": "Account Rows with Issues"})
    pipeline = pipeline.rename(columns={"Rows with Issues": "Pipeline Rows with Issues"})
    return accounts.join(pipeline, how="outer")


def build_rollup(table: pd.DataFrame, settings: Settings, thresholds: dict[str, float], currency: str = "$") -> Workbook:
    """The rollup workbook from team_table(): a Team sheet with charts, and the team thresholds."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Team"
    put_row(ws, 1, ["Owner", *table.columns])
    money = money_format(currency)
    for i, (owner, row) in enumerate(table.iterrows(), start=2):  # owner names are data: never formulas
        put_row(ws, i, [clean_name(owner), *[None if pd.isna(v) else float(v) for v in row]])
    n = len(table)
    for j, (_, _, fmt) in enumerate(COLUMNS, start=2):
        for i in range(2, n + 2):
            ws.cell(i, j).number_format = money if fmt == "money" else fmt
    for cell in ws[n + 1]:
        cell.font = Font(bold=True)
    # The owners (not the Team row) form the Excel table, so sorting and filtering stay per owner.
    t = Table(displayName="Team", ref=f"A1:{get_column_letter(len(COLUMNS) + 1)}{max(n, 2)}")
    t.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    ws.add_table(t)
    ws.freeze_panes = "B2"
    ws.column_dimensions["A"].width = 24
    for j in range(2, len(COLUMNS) + 2):
        ws.column_dimensions[get_column_letter(j)].width = 14
    ws.row_dimensions[1].height = 32
    owners_rows = max(n - 1, 1)
    for k, (header, anchor) in enumerate((("ROT", "B"), ("Time on Dump Segments", "K"), ("Open EV", "T"))):
        col = [h for h, _, _ in COLUMNS].index(header) + 2
        chart = BarChart()
        chart.type = "bar"
        chart.title = f"{header} by owner"
        chart.legend = None
        chart.height, chart.width = max(6, 0.5 * owners_rows + 3), 15
        chart.add_data(Reference(ws, min_col=col, min_row=1, max_row=owners_rows + 1), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=owners_rows + 1))
        chart.x_axis.delete = chart.y_axis.delete = False
        ws.add_chart(chart, f"{anchor}{n + 4}")
    th = wb.create_sheet("Thresholds")
    th.append(["Threshold", "Team value", "Used by every owner's workbook as a number"])
    th.append(["As of", settings.as_of_date()])
    th["B2"].number_format = "yyyy-mm-dd"
    for i, (name, value) in enumerate(thresholds.items(), start=3):
        put_row(th, i, [name, None if value != value else value])
    th.column_dimensions["A"].width = 20
    th.column_dimensions["B"].width = 16
    return wb
