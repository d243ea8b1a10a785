"""The manager's view over time (SPEC §10) in the Team Rollup.

- **Since Last Build**: every figure of this week per owner and for the team, each with its
  change since the previous build beside it (an arrow and the amount, green when better, red
  when worse; per figure we know which way is better).
- **Trend**: a few lines in words on what changed most ("Ben's time on dump segments fell from
  41% to 28%"), line charts of the weekly series per owner and for the team, and the series
  themselves below the charts.

The team build calls :func:`week_table` for this week's figures, records them in the build state
(rotxl.data.history.record_week) and passes the history to :func:`add_trend`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ..data.history import TEAM, series, weeks, with_week
from ..rules.metrics import checklist_table, plan_table
from ..rules.settings import Settings
from .cells import clean_name, put, put_row
from .workbook import money_format

GREEN, RED, GREY = "2E7D32", "C00000", "7F7F7F"
HEAD = Font(bold=True, color="FFFFFF")
HEAD_FILL = PatternFill("solid", fgColor="305496")
CHANGES_SHEET = "Since Last Build"
TREND_SHEET = "Trend"


@dataclass(frozen=True)
class Figure:
    kind: str  # money, pct, count, hours, ratio
    better: int  # +1 higher is better, -1 lower is better, 0 neither
    words: str  # how a sentence names it


FIGURES: dict[str, Figure] = {
    "Accounts": Figure("count", 0, "accounts"),
    "Revenue": Figure("money", 1, "revenue"),
    "Effective Hours": Figure("hours", 0, "effective hours"),
    "ROT": Figure("money", 1, "ROT overall"),
    "Time on Dump Segments": Figure("pct", -1, "time on dump segments"),
    "Revenue Share of A": Figure("pct", 1, "revenue share of A accounts"),
    "Open EV": Figure("money", 1, "open expected value"),
    "EV per Remaining Hour": Figure("money", 1, "expected value per remaining hour"),
    "Pursue": Figure("count", 0, "deals to pursue"),
    "Nurture": Figure("count", 0, "deals to nurture"),
    "Deprioritize": Figure("count", 0, "deals to deprioritize"),
    "Win Rate": Figure("pct", 1, "win rate"),
    "Overdue Follow-ups": Figure("count", -1, "overdue follow-ups"),
    "Open with No Contact": Figure("count", -1, "open deals with no contact"),
    "Account Rows with Issues": Figure("count", -1, "account rows with issues"),
    "Pipeline Rows with Issues": Figure("count", -1, "pipeline rows with issues"),
    "Retention": Figure("pct", 1, "retention"),
    "New Accounts (12 months)": Figure("count", 1, "new accounts over 12 months"),
    # A lower coefficient of variation means new accounts come in steadily.
    "New Account Consistency": Figure("ratio", -1, "variation of new accounts per month"),
    "Cost of Sales ÷ Revenue": Figure("pct", -1, "cost of sales per revenue"),
    "Prospect Time on ICP Fit": Figure("pct", 1, "share of prospect time on good ICP fits"),
    "Plan Hours": Figure("hours", 0, "planned hours"),
    "Planned Return": Figure("money", 1, "planned return"),
    "Logged Hours This Week": Figure("hours", 0, "hours logged this week"),
}
# The charts of the Trend sheet: (title, figures drawn, one line per owner or the team's lines only).
CHARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ROT overall", ("ROT",)),
    ("Time on dump segments", ("Time on Dump Segments",)),
    ("Open expected value", ("Open EV",)),
    ("Win rate", ("Win Rate",)),
    ("Overdue follow-ups", ("Overdue Follow-ups",)),
    ("Plan Hours against Logged Hours", ("Plan Hours", "Logged Hours This Week")),
)
# What "changed" means in the list of words: at least 5 points for a share, 10% otherwise.
MOVE_POINTS, MOVE_SHARE = 0.05, 0.10
MAX_WORDS = 8
COUNT_BASE = 5
MAX_LINES = 12  # owners drawn one line each; more and the charts show the team's line
CHART_ROWS = 16


def week_table(accounts: pd.DataFrame, pipeline: pd.DataFrame, acc_owner: pd.Series, pipe_owner: pd.Series,
               settings: Settings, icp_from: tuple[str, ...] = (), logged_this_week: pd.Series | None = None) -> pd.DataFrame:
    """This build's figures, one row per owner then "Team": §3 (rotxl.excel.rollup.team_table), the §10
    checklist and the §8 plan figures. This is what the build state records each week."""
    from .rollup import team_table

    table = team_table(accounts, pipeline, acc_owner, pipe_owner, settings)
    per_owner = checklist_table(accounts, pipeline, settings, acc_owner, pipe_owner, icp_from).join(
        plan_table(accounts, pipeline, acc_owner, pipe_owner, logged_this_week), how="outer")
    team = checklist_table(accounts, pipeline, settings, icp_from=icp_from).join(
        plan_table(accounts, pipeline, logged_this_week=logged_this_week))
    extra = pd.concat([per_owner.reindex(table.index[:-1]), team])
    return pd.concat([table, extra.set_axis(table.index)], axis=1)


def _number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and v == v


def _format(kind: str, money: str) -> str:
    return {"money": money, "pct": "0%", "count": "#,##0", "hours": "#,##0.0", "ratio": "0.00"}[kind]


def _change_format(kind: str, money: str) -> str:
    # The arrow is in the number format, so the cell stays a number a manager can sort or chart.
    if kind == "pct":
        return '"▲ "0.0" pts";"▼ "0.0" pts";"="'
    body = {"money": money.split(";")[0], "count": "#,##0", "hours": "#,##0.0", "ratio": "0.00"}[kind]
    return f'"▲ "{body};"▼ "{body};"="'


def _words(kind: str, v: float, currency: str) -> str:
    if kind == "pct":
        return f"{v:.0%}"
    if kind == "money":
        return f"{currency}{v:,.2f}" if abs(v) < 100 else f"{currency}{v:,.0f}"
    if kind == "hours":
        return f"{v:,.1f} h"
    if kind == "ratio":
        return f"{v:.2f}"
    return f"{v:,.0f}"


def _previous(history: pd.DataFrame, as_of: dt.date) -> dt.date | None:
    earlier = [w for w in weeks(history) if w < as_of]
    return earlier[-1] if earlier else None


def _values(history: pd.DataFrame, week: dt.date | None) -> dict[tuple[bool, str, str], float]:
    if week is None:
        return {}
    h = history[(history["As Of"] == week) & history["Value"].notna()]
    return dict(zip(zip(h["Team"], h["Owner"], h["Figure"]), h["Value"]))


def changes(history: pd.DataFrame, as_of: dt.date, table: pd.DataFrame) -> pd.DataFrame:
    """Per owner (and the team) and figure: this week's value, the previous build's, the change, and
    whether it is better (+1), worse (-1) or neither (0). Only figures that are numbers both weeks."""
    h = with_week(history, as_of, table)
    before, now = _values(h, _previous(h, as_of)), _values(h, as_of)
    rows = []
    for (team, owner, figure), v in now.items():
        if (team, owner, figure) in before:
            old = before[(team, owner, figure)]
            better = FIGURES[figure].better if figure in FIGURES else 0
            rows.append((team, owner, figure, old, v, v - old, int(np.sign(v - old)) * better))
    return pd.DataFrame(rows, columns=["Team", "Owner", "Figure", "Before", "Now", "Change", "Better"])


def what_changed(history: pd.DataFrame, as_of: dt.date, table: pd.DataFrame, currency: str = "$",
                 limit: int = MAX_WORDS) -> list[str]:
    """The biggest moves since the previous build, in words, largest first."""
    c = changes(history, as_of, table)
    # Only figures with a better direction: "deals to pursue fell" says nothing good or bad by itself.
    c = c[c["Figure"].map(lambda f: f in FIGURES and FIGURES[f].better != 0) & (c["Change"] != 0)]
    if c.empty:
        return []
    kind = c["Figure"].map(lambda f: FIGURES[f].kind)
    # A count moving from 1 to 2 is not news: counts are measured against at least 5.
    base = np.maximum(c["Before"].abs(), np.where(kind == "count", COUNT_BASE, 1e-9))
    size = np.where(kind == "pct", c["Change"].abs(), c["Change"].abs() / base)
    moved = np.where(kind == "pct", size >= MOVE_POINTS, size >= MOVE_SHARE)
    c = c.assign(Size=np.where(kind == "pct", size / MOVE_POINTS, size / MOVE_SHARE), Kind=kind)[moved]
    lines = []
    for _, r in c.sort_values("Size", ascending=False, kind="stable").head(limit).iterrows():
        who = "The team's" if r["Team"] else f"{r['Owner']}'s"
        verb = "rose" if r["Change"] > 0 else "fell"
        lines.append(f"{who} {FIGURES[r['Figure']].words} {verb} from {_words(r['Kind'], r['Before'], currency)} "
                     f"to {_words(r['Kind'], r['Now'], currency)}")
    return lines


def _head(ws, row: int, labels: list[str], first_column: int = 1) -> None:
    put_row(ws, row, labels, first_column)
    for j in range(first_column, first_column + len(labels)):
        cell = ws.cell(row, j)
        cell.font, cell.fill = HEAD, HEAD_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _changes_sheet(wb, history: pd.DataFrame, as_of: dt.date, table: pd.DataFrame, currency: str) -> None:
    ws = wb.create_sheet(CHANGES_SHEET)
    money = money_format(currency)
    h = with_week(history, as_of, table)
    prev = _previous(h, as_of)
    put(ws, 1, 1, "This build against the previous one").font = Font(bold=True, size=14)
    put(ws, 2, 1, f"As of {as_of:%Y-%m-%d}; " + (f"changes since the build as of {prev:%Y-%m-%d}" if prev
                                                   else "the first build recorded: changes show from next week"))
    c = changes(history, as_of, table).set_index(["Team", "Owner", "Figure"])
    labels = ["Owner"]
    for figure in table.columns:
        labels += [figure, "Change"]
    _head(ws, 4, labels)
    ws.row_dimensions[4].height = 45
    last = len(table) - 1
    for i, (owner, row) in enumerate(table.iterrows()):
        r = 5 + i
        put(ws, r, 1, TEAM if i == last else str(owner)).font = Font(bold=i == last)
        for j, figure in enumerate(table.columns):
            col = 2 + 2 * j
            kind = FIGURES[figure].kind if figure in FIGURES else "ratio"
            v = row[figure]
            if _number(v):
                put(ws, r, col, float(v), _format(kind, money))
            elif isinstance(v, str):
                put(ws, r, col, v).font = Font(italic=True, color=GREY)
            key = (i == last, str(owner), figure)
            if key in c.index:
                delta, better = c.at[key, "Change"], c.at[key, "Better"]
                cell = put(ws, r, col + 1, float(delta * 100 if kind == "pct" else delta), _change_format(kind, money))
                cell.number_format = _change_format(kind, money)
                cell.font = Font(color=GREEN if better > 0 else RED if better < 0 else GREY)
    _fit_width(ws)
    # Every figure with its change is wide: about 16 columns a landscape page stays readable, with
    # the owners' column and the header row repeated on each page.
    ws.page_setup.fitToWidth = max(1, -(-len(labels) // 16))
    ws.print_title_cols, ws.print_title_rows = "A:A", "4:4"
    ws.freeze_panes = "B5"
    ws.column_dimensions["A"].width = 24
    for j in range(2, len(labels) + 1):
        ws.column_dimensions[get_column_letter(j)].width = 14 if j % 2 == 0 else 11


def _fit_width(ws) -> None:
    """Printed (or saved as PDF) one page wide, landscape: charts are not cut between pages."""
    ws.page_setup.orientation = "landscape"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0


def _line_chart(ws, title: str, header_row: int, first_col: int, n_series: int, n_weeks: int, fmt: str) -> LineChart:
    chart = LineChart()
    chart.title = title
    chart.height, chart.width = 7.5, 15
    chart.y_axis.number_format = fmt
    chart.x_axis.number_format = "yyyy-mm-dd"
    chart.add_data(Reference(ws, min_col=first_col, max_col=first_col + n_series - 1, min_row=header_row,
                             max_row=header_row + n_weeks), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=header_row + n_weeks))
    chart.x_axis.delete = chart.y_axis.delete = False  # openpyxl marks axes deleted unless told
    # The team's line is the last series: drawn thicker so it stands out among the owners'.
    for line in chart.series:
        line.smooth = False  # straight segments: a smoothed line invents values between the weeks
    chart.series[-1].graphicalProperties.line.width = 38100
    return chart


def _trend_sheet(wb, history: pd.DataFrame, as_of: dt.date, table: pd.DataFrame, currency: str) -> dict[str, int]:
    ws = wb.create_sheet(TREND_SHEET)
    money = money_format(currency)
    h = with_week(history, as_of, table)
    prev = _previous(h, as_of)
    put(ws, 1, 1, "The team over time: one line per owner, the team's line thicker").font = Font(bold=True, size=14)
    put(ws, 3, 1, f"What changed since {prev:%Y-%m-%d}" if prev else "What changed").font = Font(bold=True, size=12)
    lines = what_changed(history, as_of, table, currency) if prev else []
    if not lines:
        lines = [f"No figure moved by {MOVE_POINTS:.0%} points or {MOVE_SHARE:.0%} or more." if prev
                 else "This is the first build recorded: changes show from the next build."]
    for i, line in enumerate(lines):
        put(ws, 4 + i, 1, "• " + line)
    top = 4 + MAX_WORDS + 1
    n = len(weeks(h))
    owners = [o for o in series(h, "Plan Hours").columns if o != TEAM]
    # Each owner's own Plan-against-Logged chart, while there are few enough owners to read them.
    owner_charts = owners if len(owners) <= MAX_LINES else []
    anchors = [f"{'A' if k % 2 == 0 else 'J'}{top + CHART_ROWS * (k // 2)}" for k in range(len(CHARTS) + len(owner_charts))]
    # Series below the charts: each block is a title, a header (As Of, owners…, Team) and a row per week.
    row = top + CHART_ROWS * ((len(anchors) + 1) // 2) + 2
    put(ws, row - 1, 1, "Weekly series (the charts above draw these)").font = Font(bold=True, size=12)
    blocks: dict[str, int] = {}
    for k, (title, figures) in enumerate(CHARTS):
        kind = FIGURES[figures[0]].kind
        wide = pd.concat([series(h, f).add_suffix("" if len(figures) == 1 else f" {short}")
                          for f, short in zip(figures, ("Plan", "Logged"))], axis=1)
        if len(figures) > 1:  # owner by owner: plan beside logged
            wide = wide[[c for o in series(h, figures[0]).columns for c in (f"{o} Plan", f"{o} Logged")]]
        put(ws, row, 1, title).font = Font(bold=True)
        _head(ws, row + 1, ["As Of", *map(str, wide.columns)])
        ws.row_dimensions[row + 1].height = 30
        for i, (week, values) in enumerate(wide.iterrows()):
            ws.cell(row + 2 + i, 1, week).number_format = "yyyy-mm-dd"
            for j, v in enumerate(values, start=2):
                if _number(v):
                    put(ws, row + 2 + i, j, float(v), _format(kind, money))
        blocks[title] = row + 1
        fmt = _format(kind, money)
        if len(figures) == 1:
            # Beyond MAX_LINES owners a chart of every owner is a tangle: the team's line alone.
            first = 2 if len(owners) <= MAX_LINES else wide.shape[1] + 1
            chart = _line_chart(ws, title, row + 1, first, wide.shape[1] + 2 - first, n, fmt)
        else:  # the team's plan and logged hours, then each owner's
            chart = _line_chart(ws, f"{title} (team)", row + 1, wide.shape[1], 2, n, fmt)
            chart.series[0].graphicalProperties.line.width = 38100
            for i, owner in enumerate(owner_charts):
                small = _line_chart(ws, f"{clean_name(owner)}: {title}", row + 1, 2 + 2 * i, 2, n, fmt)
                small.series[0].graphicalProperties.line.width = 38100
                ws.add_chart(small, anchors[len(CHARTS) + i])
        ws.add_chart(chart, anchors[k])
        row += n + 4
    _fit_width(ws)
    ws.column_dimensions["A"].width = 14
    for j in range(2, 2 + 2 * (len(table) + 1)):
        ws.column_dimensions[get_column_letter(j)].width = 13
    return blocks


def add_trend(wb, history: pd.DataFrame, table: pd.DataFrame, as_of: dt.date, currency: str = "$") -> dict[str, int]:
    """Add the Since Last Build and Trend sheets to the Team Rollup workbook.

    ``history`` is rotxl.data.history.load_history() (this week's figures may or may not be in it
    yet: ``table`` replaces that week either way); ``table`` is this build's week_table().
    Returns where each chart's series starts on the Trend sheet (its header row).
    """
    _changes_sheet(wb, history, as_of, table, currency)
    return _trend_sheet(wb, history, as_of, table, currency)
