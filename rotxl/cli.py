"""The ``rotxl`` command: a thin layer over rotxl.data.io and the engine.

Exit codes: 0 when the file was processed (rows with issues included); 2 when nothing was
written because the input cannot be read, lacks required columns, the settings contradict
or the output is not .csv/.xlsx; 1 when the result could not be saved (disk, permissions).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click
import pandas as pd

from . import __version__
from .rules.engine import CONTACT_NOW, PRIORITIES, classify_accounts, score_pipeline
from .data.io import (
    NUMBER_FORMATS,
    PERCENT_FORMAT,
    OutputError,
    ReadError,
    check_output,
    issue_counts,
    read_accounts,
    read_pipeline,
    render_summary,
    typed_values,
    write_table,
)
from .rules.schema import MissingColumnsError
from .rules.values import printable
from .rules.settings import Settings, SettingsError

SHOWN_ROWS = 50
ACCOUNT_VIEW = ("Account ID", "Account", "Owner", "Revenue", "Hours", "Effective Hours", "ROT", "Segment", "Action", "Issues")
PIPELINE_VIEW = (
    "Opportunity ID", "Opportunity", "Account", "Owner", "Amount", "Engagement", "Expected Value",
    "Opportunity ROT", "Priority", "Next Follow-up", "Overdue", "Issues",
)


class Stop(Exception):
    """A problem found before any work (e.g. no such output folder): exit 2, writing nothing."""


def _fail(message: str, code: int) -> NoReturn:
    # Messages quote the file's headers: a header holding an escape sequence must not reach the terminal.
    click.echo(f"rotxl: {printable(message)}", err=True)
    raise SystemExit(code)


def _run(
    file: Path,
    output: Path | None,
    read: Callable[[Path], pd.DataFrame],
    process: Callable[[pd.DataFrame, Settings], pd.DataFrame],
    summary: Callable[[pd.DataFrame], list[str]],
    view: tuple[str, ...],
    sheet: str,
    settings: Callable[[], Settings],
    notes: list[str] | None = None,
) -> None:
    try:
        if output is not None:
            check_output(output)  # before any work, so a typo in -o costs nothing
            if not output.parent.is_dir():
                raise Stop(f"{output}: the folder {output.parent} does not exist")
        s = settings()
        df = read(file)
        if output is not None:
            check_output(output, len(df), df.shape[1])  # more rows than Excel has: refused before any work
        result = process(df, s)
    except (ReadError, MissingColumnsError, SettingsError, OutputError, Stop) as e:
        _fail(str(e), 2)
    lines = [*_read_lines(df, result), *(notes or []), *_issue_lines(result), *summary(result)]
    if output is None:
        _print_table(result, view)
    else:
        try:
            write_table(result, output, sheet=sheet)
        except OSError as e:
            _fail(f"cannot write {output}: {e.strerror or e}; nothing was written", 1)
        lines.append(f"Wrote {len(result)} rows to {output}.")
    click.echo("\n".join(lines), err=True)


def _read_lines(df: pd.DataFrame, result: pd.DataFrame | None = None) -> list[str]:
    """The read summary of one export (SPEC §7.1), with its rows' issues by text when the engine ran."""
    summary = df.attrs.get("summary")
    if summary is None:
        return [f"Read {len(df)} rows from {df.attrs.get('source', 'the input')}."]
    if result is not None:
        summary.issues = issue_counts(result)
    return render_summary(summary).splitlines()


def _issue_lines(result: pd.DataFrame) -> list[str]:
    # The issues by text are in the read summary above this line.
    flagged = int((result["Issues"].fillna("").astype(str) != "").sum())
    return [f"Rows with issues: {flagged} (their derived values are left blank)."]


def _number(value: float, fmt: str | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a (no valid rows)"
    return f"{value:.1%}" if fmt == PERCENT_FORMAT else f"{value:,.2f}"


def _threshold_line(result: pd.DataFrame, given: dict[str, object]) -> str:
    parts = []
    for name, value in result.attrs.get("thresholds", {}).items():
        fmt = PERCENT_FORMAT if name == "PMin" else None
        how = "set" if given.get(name) is not None else ("default" if name == "PMin" else "computed")
        parts.append(f"{name} {_number(value, fmt)} ({how})")
    return "Thresholds: " + ", ".join(parts) + "."


def _account_summary(given: dict[str, object]) -> Callable[[pd.DataFrame], list[str]]:
    def summary(result: pd.DataFrame) -> list[str]:
        ok = result["Issues"].fillna("").astype(str) == ""
        seg = result["Segment"].where(result["Segment"].notna(), None)
        counts = Counter(seg[ok].dropna())
        parts = [f"{s} {counts.get(s, 0)}" for s in "ABCDE"]
        awaiting = int((ok & seg.isna()).sum())
        return [f"Segments: {', '.join(parts)}; awaiting hours {awaiting}.", _threshold_line(result, given)]

    return summary


def _pipeline_summary(given: dict[str, object]) -> Callable[[pd.DataFrame], list[str]]:
    def summary(result: pd.DataFrame) -> list[str]:
        counts = Counter(result["Priority"].dropna())
        parts = [f"{p} {counts.get(p, 0)}" for p in PRIORITIES]
        overdue = int(result["Overdue"].fillna(False).astype(bool).sum())
        contact_now = int((result["Next Follow-up"].astype(object) == CONTACT_NOW).sum())
        as_of = result.attrs.get("as_of")
        return [
            f"Priority (open rows): {', '.join(parts)}.",
            f"Follow-ups as of {as_of}: {overdue} overdue, {contact_now} to contact now (no last contact).",
            _threshold_line(result, given),
        ]

    return summary


# ---------------------------------------------------------------- revenue from won deals, activities (§7.2, §7.3)


def _read_accounts(path: Path, from_deals: bool, sheet: str | None = None) -> pd.DataFrame:
    """The accounts export; with an opportunities export given, Revenue may be missing (§7.2)."""
    return read_accounts(path, sheet, require_revenue=not from_deals)


def _minutes(value: str | None) -> dict[str, float]:
    if value is None:
        return {}
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or any(p < 0 for p in parts):
        raise SettingsError(f"--minutes needs four numbers ≥ 0 (call, email, meeting, other), e.g. 15,5,60,15; got {value!r}")
    return dict(zip(("minutes_call", "minutes_email", "minutes_meeting", "minutes_other"), parts))


def _crm_settings(base: Settings, revenue_months: int | None, hours_months: int | None, minutes: str | None) -> Settings:
    return base.with_(revenue_months=revenue_months, hours_months=hours_months, **_minutes(minutes))


def _prepare(accounts: pd.DataFrame | None, pipeline: pd.DataFrame | None, activities: Path | None,
             settings: Settings, notes: list[str]):
    """crm.prepare on the read exports; its summary lines go to ``notes``."""
    from .data.crm import prepare, read_activities

    acts = read_activities(activities) if activities else None
    acc, pipe, result = prepare(accounts, pipeline, acts, settings)
    if acts is not None:
        notes.insert(0, f"Read {len(acts)} activities from {activities.name}.")
    if accounts is not None or acts is not None:
        # Names in the summary come from the CRM: no control characters reach the terminal.
        notes.extend(printable(line) for line in result.lines()
                     if accounts is not None or not line.startswith("Revenue"))
    return acc, pipe, result


def _names(text: str | None) -> tuple[str, ...]:
    """ "Lead Source, Type" -> ("Lead Source", "Type")."""
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def _team_settings(base: Settings, revenue_months: int | None, hours_months: int | None, minutes: str | None,
                   learn_months: int | None, no_learned: bool, hourly_cost: float | None) -> Settings:
    s = _crm_settings(base, revenue_months, hours_months, minutes).with_(learn_months=learn_months, hourly_cost=hourly_cost)
    return s.with_(use_learned=False) if no_learned else s


def _team_options(f):
    """Options of the builds that learn (§9) and judge ICP fit and cost of sales (§10)."""
    f = click.option("--hourly-cost", type=click.FloatRange(0), help="What an hour of selling costs: cost of sales ÷ revenue.")(f)
    f = click.option("--icp-from", metavar="COLS", help="More firmographic columns ICP Fit compares (comma-separated).")(f)
    f = click.option("--no-learned", is_flag=True, help="Do not use the learned win probability as Engagement (UseLearned FALSE).")(f)
    f = click.option("--learn-months", type=click.IntRange(1, 240), help="Months of closed deals to learn from (default 24).")(f)
    f = click.option("--learn-from", metavar="COLS",
                     help='Categorical columns to learn from besides the factor scores and Amount, e.g. "Lead Source,Type".')(f)
    return f


def _crm_options(f):
    f = click.option("--minutes", metavar="C,E,M,O",
                     help="Minutes of a call, email, meeting and other activity with no duration (default 15,5,60,15).")(f)
    f = click.option("--hours-months", type=click.IntRange(1, 120), help="Months of activities Logged Hours counts (default 12).")(f)
    f = click.option("--revenue-months", type=click.IntRange(1, 120),
                     help="Months of Won deals Revenue counts when the accounts have no Revenue column (default 12).")(f)
    f = click.option("--activities", type=click.Path(path_type=Path),
                     help="Activities export (calls, emails, meetings): Logged Hours, Last Contact, Follow-ups.")(f)
    return f


def _cell(value: object, header: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    fmt = NUMBER_FORMATS.get(header)
    if isinstance(value, (int, float)) and fmt and fmt != "yyyy-mm-dd":
        return f"{value:.1%}" if fmt == PERCENT_FORMAT else f"{value:,.2f}"
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _print_table(result: pd.DataFrame, view: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    columns = [c for c in view if c in result.columns]
    table = Table(show_lines=False, header_style="bold")
    for c in columns:
        numeric = NUMBER_FORMATS.get(c) not in (None, "yyyy-mm-dd")
        table.add_column(c, justify="right" if numeric else "left", overflow="fold")
    shown = result.head(SHOWN_ROWS)
    # The values as the XLSX output holds them, so "120000" from a CSV shows as 120,000.00.
    cells = [[_cell(v, c) for v in typed_values(shown[c].rename(c))] for c in columns]
    for row in zip(*cells):
        # Text(), not markup: a CRM name like "[bold]x" must print as typed.
        table.add_row(*(Text(v) for v in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped to a file or pager: no need to squeeze into 80 columns
    console.print(table)
    more = len(result) - SHOWN_ROWS
    hidden = len(result.columns) - len(columns)
    notes = []
    if more > 0:
        notes.append(f"... and {more} more rows.")
    if hidden > 0:
        notes.append(f"{hidden} more columns not shown.")
    notes.append("Use -o FILE.xlsx or -o FILE.csv to save every row and column.")
    console.print(Text(" ".join(notes)))


# ---------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rotxl")
def main() -> None:
    """Return on selling time: rank accounts A–E and score the pipeline from a CRM export."""


_output = click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result to this .csv or .xlsx file (default: show a table).",
)
_file = click.argument("file", type=click.Path(path_type=Path))
_sheet = click.option("--sheet", help="The sheet of an XLSX export to read (default: the first whose header matches).")


@main.command()
@_file
@_output
@_sheet
@click.option("--revenue-high", type=float, help="Revenue at or above this is high (default: 70th percentile).")
@click.option("--revenue-floor", type=float, help="Revenue below this is a low producer (default: 20th percentile).")
@click.option("--hours-high", type=float, help="Effective hours above this is high maintenance (default: median).")
@click.option("--aggravation-weight", type=float, help="How much one step of aggravation inflates hours (default 0.25).")
@click.option("--pipeline", type=click.Path(path_type=Path),
              help="Opportunities export: Revenue from Won deals when FILE has no Revenue column.")
@_crm_options
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The date the Revenue and Logged Hours periods end on (default: today).")
def classify(
    file: Path,
    output: Path | None,
    sheet: str | None,
    revenue_high: float | None,
    revenue_floor: float | None,
    hours_high: float | None,
    aggravation_weight: float | None,
    pipeline: Path | None = None,
    activities: Path | None = None,
    revenue_months: int | None = None,
    hours_months: int | None = None,
    minutes: str | None = None,
    as_of: dt.datetime | None = None,
) -> None:
    """Segment the accounts in FILE (CSV or XLSX) A–E by revenue and effective hours."""
    given = {"RevenueHigh": revenue_high, "RevenueFloor": revenue_floor, "HoursHigh": hours_high}
    notes: list[str] = []

    def process(df: pd.DataFrame, s: Settings) -> pd.DataFrame:
        pipe = read_pipeline(pipeline) if pipeline else None
        df, _, _ = _prepare(df, pipe, activities, s, notes)
        return classify_accounts(df, s)

    _run(
        file, output, lambda f: _read_accounts(f, pipeline is not None, sheet), process, _account_summary(given),
        ACCOUNT_VIEW, "Accounts",
        lambda: _crm_settings(Settings(), revenue_months, hours_months, minutes).with_(
            revenue_high=revenue_high, revenue_floor=revenue_floor, hours_high=hours_high,
            aggravation_weight=aggravation_weight, as_of=as_of.date() if as_of else None,
        ),
        notes,
    )


@main.command()
@_file
@_output
@_sheet
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), help="Judge overdue follow-ups on this date (default: today).")
@click.option("--p-min", type=click.FloatRange(0, 1), help="Engagement below this is too low (default 0.20).")
@click.option("--amount-min", type=float, help="Amount below this is too low (default: 25th percentile of open deals).")
@click.option("--big-deal-amount", type=float, help="Amount worth nurturing at low engagement (default: 90th percentile).")
@click.option("--default-deal-hours", type=float, help="Selling hours of a deal with no Est. Hours (default 10).")
@click.option("--cadence-days", type=int, help="Days between follow-ups (default 10).")
@click.option("--activities", type=click.Path(path_type=Path),
              help="Activities export: Last Contact and Follow-ups of open deals from the logged calls, emails, meetings.")
def score(
    file: Path,
    output: Path | None,
    sheet: str | None,
    as_of: dt.datetime | None,
    p_min: float | None,
    amount_min: float | None,
    big_deal_amount: float | None,
    default_deal_hours: float | None,
    cadence_days: int | None,
    activities: Path | None = None,
) -> None:
    """Score the opportunities in FILE (CSV or XLSX): engagement, expected value, priority, follow-up."""
    given = {"PMin": p_min, "AmountMin": amount_min, "BigDealAmount": big_deal_amount}
    notes: list[str] = []

    def process(df: pd.DataFrame, s: Settings) -> pd.DataFrame:
        _, df, _ = _prepare(None, df, activities, s, notes)
        return score_pipeline(df, s)

    _run(
        file, output, lambda f: read_pipeline(f, sheet), process, _pipeline_summary(given), PIPELINE_VIEW, "Pipeline",
        lambda: Settings().with_(
            p_min=p_min, amount_min=amount_min, big_deal_amount=big_deal_amount,
            default_deal_hours=default_deal_hours, cadence_days=cadence_days,
            as_of=as_of.date() if as_of else None,
        ),
        notes,
    )


def _save_workbook(build: Callable[[], object], output: Path, force: bool) -> None:
    from .data.files import FileExistsNoForce
    from .excel.workbook import save_workbook

    if output.suffix.lower() not in (".xlsx", ".xlsm"):
        _fail(f"{output}: a workbook must be named .xlsx", 2)
    if not output.parent.is_dir():
        _fail(f"{output}: the folder {output.parent} does not exist", 2)
    if output.exists() and not force:
        _fail(f"{output} already exists; add --force to replace it", 2)
    try:
        wb = build()
    except (ReadError, MissingColumnsError, SettingsError) as e:
        _fail(str(e), 2)
    try:
        save_workbook(wb, output, force=force)
    except FileExistsNoForce as e:
        _fail(str(e), 2)
    except OSError as e:
        _fail(f"could not write {output}: {e.strerror or e}", 1)
    click.echo(f"Wrote {output}", err=True)


_force = click.option("--force", is_flag=True, help="Replace the output file if it exists.")
_currency = click.option("--currency", default="$", show_default=True, help='Currency symbol of money formats ("" for none).')


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("workbook_template.xlsx"),
              show_default=True, help="Where to write the empty workbook.")
@_force
@_currency
def template(output: Path, force: bool, currency: str) -> None:
    """Write the empty rotxl workbook: Start, Accounts, Pipeline, Dashboard, Settings."""
    from .excel.workbook import build_workbook

    _save_workbook(lambda: build_workbook(currency=currency), output, force)


@main.command()
@click.option("--accounts", type=click.Path(path_type=Path), required=True, help="Accounts export (CSV or XLSX).")
@click.option("--pipeline", type=click.Path(path_type=Path), help="Opportunities export (CSV or XLSX).")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), help="Fix the AsOf date (default: the workbook uses TODAY()).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .xlsx to write.")
@_force
@_currency
@_crm_options
@_sheet
@_team_options
def workbook(accounts: Path, pipeline: Path | None, as_of: dt.datetime | None, output: Path, force: bool, currency: str,
             activities: Path | None = None, revenue_months: int | None = None, hours_months: int | None = None,
             minutes: str | None = None, sheet: str | None = None, learn_from: str | None = None,
             learn_months: int | None = None, no_learned: bool = False, icp_from: str | None = None,
             hourly_cost: float | None = None) -> None:
    """Build one workbook filled from CRM exports, with live formulas and thresholds."""
    from .excel.workbook import build_workbook
    from .rules import learn

    notes: list[str] = []

    def build():
        settings = _team_settings(Settings(as_of=as_of.date() if as_of else None), revenue_months, hours_months, minutes,
                                  learn_months, no_learned, hourly_cost)
        acc = _read_accounts(accounts, pipeline is not None, sheet)
        pipe = read_pipeline(pipeline, sheet) if pipeline else None
        read_acc, read_pipe = acc, pipe
        acc, pipe, _ = _prepare(acc, pipe, activities, settings, notes)
        _echo_read(read_acc, lambda: classify_accounts(acc, settings))
        if pipe is not None:
            _echo_read(read_pipe, lambda: score_pipeline(pipe, settings))
        model = None
        if pipe is not None:  # §9: learned from the export's closed deals when there are enough
            try:
                found = learn.learn_from(pipe, settings, _names(learn_from))
            except learn.LearnError as e:
                _fail(str(e), 2)
            if isinstance(found, learn.Shortfall):
                notes.append(f"Learned engagement: {found.message}")
            else:
                model = found
                notes.append(f"Learned engagement from {model.won:,} won and {model.lost:,} lost deals (Model sheet).")
        if notes:
            click.echo("\n".join(notes), err=True)
        return build_workbook(acc, pipe, settings, currency=currency, model=model, stream=True)

    _save_workbook(build, output, force)


def _echo_read(df: pd.DataFrame, engine: Callable[[], pd.DataFrame] | None = None) -> None:
    """The read summary of an export on stderr; with its issue counts when the engine can judge it alone."""
    result = None
    if engine is not None:
        try:
            result = engine()
        except (MissingColumnsError, SettingsError, KeyError):
            result = None  # e.g. accounts whose Revenue comes from the deals: judged in the build
    click.echo("\n".join(_read_lines(df, result)), err=True)


def _team_summary(result) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .excel.cells import clean_name

    table = result.table
    view = Table(title="Team summary", title_justify="left")
    for h in ("Owner", "Accounts", "ROT", "Dump time", "Open EV", "Pursue", "Win rate", "Overdue"):
        view.add_column(h, justify="left" if h == "Owner" else "right")
    for owner, row in table.iterrows():
        owner = clean_name(owner)
        pct = lambda v: "" if pd.isna(v) else f"{v:.0%}"  # noqa: E731
        money = lambda v: "" if pd.isna(v) else f"{v:,.0f}"  # noqa: E731
        count = lambda v: "" if pd.isna(v) else f"{v:.0f}"  # noqa: E731
        view.add_row(escape(owner), count(row["Accounts"]), money(row["ROT"]), pct(row["Time on Dump Segments"]),
                     money(row["Open EV"]), count(row["Pursue"]), pct(row["Win Rate"]), count(row["Overdue Follow-ups"]),
                     style="bold" if owner == "Team" else None)
    console = Console(stderr=True)
    if not console.is_terminal:
        console.width = 120  # a log file has room; rich would wrap at 80
    console.print(view)


def _run_team(accounts: pd.DataFrame | Callable[[], tuple[pd.DataFrame, pd.DataFrame]], pipeline: pd.DataFrame | None,
              out: Path, as_of: dt.date | None, jobs: int | None, currency: str, force: bool = False,
              inputs=None) -> None:
    """``accounts`` may be a function reading both exports (and giving the build's inputs), so the
    progress shows while they are read."""
    import sys

    from .data.state import BuildLocked, StateError
    from .excel.cells import clean_name
    from .excel.report import summary
    from .excel.team import ChangedIDs, build_team

    def run(progress):
        acc, pipe = accounts, pipeline
        if callable(accounts):
            progress("Reading the exports")
            try:
                acc, pipe = accounts()
            except (ReadError, MissingColumnsError) as e:
                _fail(str(e), 2)
        try:
            return build_team(acc, pipe, out, as_of=as_of, jobs=jobs, currency=currency, progress=progress,
                              force=force, inputs=inputs)
        except (BuildLocked, ChangedIDs, StateError) as e:
            _fail(clean_name(e), 2)

    if sys.stderr.isatty():
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("Starting", total=None)  # shown from the first second
            result = run(lambda line: bar.update(task, description=clean_name(line)))
    else:
        result = run(lambda line: click.echo(clean_name(line), err=True))
    click.echo(f"Wrote {len(result.written)} owner workbook(s) and {result.rollup.name if result.rollup else 'no rollup'} "
               f"to {out}", err=True)
    click.echo("Team thresholds: " + ", ".join(f"{k} {_number(v)}" for k, v in result.thresholds.items()), err=True)
    _team_summary(result)
    for note in result.notes:
        click.echo(clean_name(note), err=True)
    lines = summary(result)
    if lines:
        click.echo("Rebuild report (all of it in the Rebuild Report sheet of the Team Rollup):", err=True)
        for line in lines:
            click.echo(f"  {line}", err=True)
    for owner, problem in result.failed.items():
        click.echo(f"rotxl: not written: {clean_name(owner)}: {clean_name(problem)}", err=True)
    if result.failed:
        raise SystemExit(1)


_jobs = click.option("--jobs", type=click.IntRange(1, 64), help="Owners built in parallel (default: one per core).")


@main.command()
@click.option("--accounts", type=click.Path(path_type=Path), required=True, help="Accounts export (CSV or XLSX).")
@click.option("--pipeline", type=click.Path(path_type=Path), required=True, help="Opportunities export (CSV or XLSX).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder of the team's workbooks.")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), help="Judge overdue follow-ups on this date (default: today).")
@_jobs
@_currency
@_crm_options
@_sheet
@_team_options
@click.option("--force", is_flag=True, help="Build even when most IDs of the previous export are missing from this one.")
def build(accounts: Path, pipeline: Path, out: Path, as_of: dt.datetime | None, jobs: int | None, currency: str,
          force: bool = False, activities: Path | None = None, revenue_months: int | None = None,
          hours_months: int | None = None, minutes: str | None = None, sheet: str | None = None,
          learn_from: str | None = None, learn_months: int | None = None, no_learned: bool = False,
          icp_from: str | None = None, hourly_cost: float | None = None) -> None:
    """One workbook per owner plus a Team Rollup; a rebuild keeps what everyone did (see the rebuild report)."""
    day = as_of.date() if as_of else None
    settings = _team_settings(Settings(as_of=day), revenue_months, hours_months, minutes, learn_months, no_learned,
                              hourly_cost)
    _build_from(accounts, pipeline, activities, out, day, jobs, currency, settings, sheet, _names(learn_from),
                _names(icp_from), force)


def _build_from(accounts: Path, pipeline: Path, activities: Path | None, out: Path, as_of: dt.date | None,
                jobs: int | None, currency: str, settings: Settings | None = None, sheet: str | None = None,
                learn_from: tuple[str, ...] = (), icp_from: tuple[str, ...] = (), force: bool = False) -> None:
    from .excel.team import BuildInputs

    settings = settings or Settings(as_of=as_of)
    inputs = BuildInputs(settings=settings, learn_from=learn_from, icp_from=icp_from)

    def read():
        notes: list[str] = []
        try:
            read_acc, read_pipe = _read_accounts(accounts, True, sheet), read_pipeline(pipeline, sheet)
            acc, pipe, inputs.crm = _prepare(read_acc, read_pipe, activities, settings, notes)
        except (ReadError, MissingColumnsError, SettingsError) as e:
            _fail(str(e), 2)
        _echo_read(read_acc, lambda: classify_accounts(acc, settings))
        _echo_read(read_pipe, lambda: score_pipeline(pipe, settings))
        if notes:
            click.echo("\n".join(notes), err=True)
        return acc, pipe

    _run_team(read, None, out, as_of, jobs, currency, force, inputs)


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("rotxl-demo"), show_default=True,
              help="Folder for the sample exports and the team's workbooks.")
@_jobs
def demo(out: Path, jobs: int | None) -> None:
    """Build a sample team from raw CRM reports (8 owners; accounts, opportunities, activities)."""
    from .data.sample import SAMPLE_AS_OF, write_crm_exports

    paths = write_crm_exports(out / "exports")
    click.echo("Sample CRM reports (as Salesforce exports them): " + ", ".join(str(p) for p in paths.values()), err=True)
    _build_from(paths["accounts"], paths["opportunities"], paths["activities"], out, SAMPLE_AS_OF, jobs, "$",
                learn_from=("Lead Source",))
    click.echo(f"Open {out / 'Team Rollup.xlsx'} for the manager's view, or any owner's workbook.", err=True)


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder of the team's workbooks (rotxl build --out).")
@click.option("--figure", "figures", multiple=True, help="A figure to print (repeatable; default: the Trend sheet's figures).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every figure of every week and owner to this .csv or .xlsx instead of printing.")
def history(out: Path, figures: tuple[str, ...], output: Path | None) -> None:
    """The team's weekly figures over time, as recorded by each team build."""
    from .data import history as hist
    from .excel.cells import clean_name
    from .excel.trend import CHARTS, FIGURES

    try:
        if output is not None:
            check_output(output)
        conn = hist.open_state(out)
        try:
            h = hist.load_history(conn)
        finally:
            conn.close()
    except (FileNotFoundError, OutputError) as e:
        _fail(str(e), 2)
    if h.empty:
        _fail(f"{out}: no week recorded yet; run rotxl build --out {out}", 2)
    if output is not None:
        try:
            write_table(hist.as_table(h), output, sheet="History")
        except OSError as e:
            _fail(f"could not write {output}: {e}", 1)
        click.echo(f"Wrote {output}: {len(hist.weeks(h))} weeks of figures", err=True)
        return
    known = list(dict.fromkeys(h["Figure"]))
    wanted = list(figures) or [f for _, fs in CHARTS for f in fs]
    unknown = [f for f in wanted if f not in known]
    if figures and unknown:
        _fail(f"no figure {', '.join(map(repr, unknown))}; recorded figures: {', '.join(known)}", 2)
    for figure in (f for f in wanted if f in known):
        click.echo(f"\n{figure}")
        kind = FIGURES[figure].kind if figure in FIGURES else "ratio"
        table = hist.series(h, figure).rename(columns=clean_name).rename_axis(index="As Of", columns=None)
        click.echo(table.to_string(float_format=SERIES_FORMATS[kind].format, na_rep=""))


SERIES_FORMATS = {"pct": "{:.1%}", "money": "{:,.2f}", "count": "{:,.0f}", "hours": "{:,.1f}", "ratio": "{:.2f}"}


@main.command()
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("lite"), show_default=True,
              help="Folder for main.py and requirements.txt.")
def lite(output: Path) -> None:
    """Write main.py and requirements.txt for xlwings Lite, with rotxl embedded in main.py."""
    from .excel.lite import write_lite

    for path in write_lite(output):
        click.echo(f"Wrote {path}", err=True)
    click.echo("Paste them into the main.py and requirements.txt tabs of the xlwings Lite editor.", err=True)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--weekly-hours", type=click.FloatRange(0), help="Selling hours in the week (default 20, or the workbook's).")
@click.option("--follow-up-minutes", type=click.FloatRange(0, min_open=True), help="Minutes one follow-up takes (default 15).")
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), help="First day of the week planned (default: today).")
@click.option("--owner", help="Show this owner only (trimmed, case ignored).")
@_currency
def plan(files: tuple[Path, ...], weekly_hours: float | None, follow_up_minutes: float | None, as_of: dt.datetime | None,
         owner: str | None, currency: str) -> None:
    """Plan the week per owner from FILES: accounts and/or opportunities exports, or a rotxl workbook.

    Follow-ups due this week come first; the hours left go to the deals and accounts that pay
    most per hour, each up to what it can absorb this week.
    """
    from .data.plan_files import plan_settings, read_plan_inputs
    from .rules.plan import make_plan, owner_keys

    try:
        acc, pipe, typed = read_plan_inputs(list(files))
        s = plan_settings(typed, weekly_hours=weekly_hours, follow_up_minutes=follow_up_minutes,
                          as_of=as_of.date() if as_of else None)
        result = make_plan(None if acc is None else classify_accounts(acc, s),
                           None if pipe is None else score_pipeline(pipe, s), s, currency=currency)
    except (ReadError, MissingColumnsError, SettingsError) as e:
        _fail(str(e), 2)
    day = s.as_of_date()
    click.echo(f"The week of {day:%a %d %b %Y} to {day + dt.timedelta(days=6):%a %d %b}")
    owners = result.owners
    if owner is not None:
        key = owner_keys(pd.Series([owner]))[0][0]
        owners = owners[owner_keys(owners["Owner"])[0] == key]
        if owners.empty:
            _fail(f"no owner {owner!r}; owners: {', '.join(result.owners['Owner'])}", 2)
    for _, o in owners.iterrows():
        _print_owner_plan(result, o, currency)


def _print_owner_plan(result, o: pd.Series, currency: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console() if Console().is_terminal else Console(width=200)
    name = o["Owner"]
    per_hour = "" if pd.isna(o["Return per Hour"]) else f" ({currency}{o['Return per Hour']:,.0f} per hour)"
    console.print()
    console.print(Text(f"{name}: {o['Weekly Hours']:g} h this week, {o['Hours Planned']:,.2f} h planned, "
                       f"planned return {currency}{o['Planned Return']:,.0f}{per_hour}", style="bold"))
    items = result.items[result.items["Owner"] == name]
    table = Table(header_style="bold")
    for c, justify in (("#", "right"), ("Kind", "left"), ("Name", "left"), ("Account", "left"), ("Why", "left"),
                       ("Hours", "right"), ("Return", "right")):
        table.add_column(c, justify=justify, overflow="fold")
    for _, r in items.iterrows():
        table.add_row(*(Text(v) for v in (str(r["Rank"]), r["Kind"], str(r["Name"]), str(r["Account"]), r["Why"],
                                           f"{r['Plan Hours']:,.2f}", f"{currency}{r['Planned Return']:,.0f}")))
    console.print(table)
    missed = result.not_planned[result.not_planned["Owner"] == name]
    if len(missed):
        console.print(Text(f"Follow-ups due but not planned (no hours left): {len(missed)}: "
                           + "; ".join(f"{n} ({w})" for n, w in zip(missed["Name"], missed["Why"]))))
    stop = result.stop[result.stop["Owner"] == name]
    if len(stop):
        console.print(Text("Stop (C and E accounts): " + "; ".join(
            f"{a} ({sg}): {w}" for a, sg, w in zip(stop["Account"], stop["Segment"], stop["Why"]))))


# ---------------------------------------------------------------- rotxl learn (§9)


def _evaluation_lines(model) -> list[str]:
    """The out-of-fold figures and the learned model's reliability table, as plain text."""
    ev = model.evaluation
    lines = [f"How good it is, judged on deals it did not learn from (5-fold, {ev.rows:,} closed deals; "
             "Brier and log loss: lower is better; AUC: higher is better, 0.5 is a coin toss):",
             f"  {'Method':<26}{'Brier':>8}{'Log loss':>10}{'AUC':>7}{'Reliability gap':>17}"]
    for r in ev.metrics.itertuples(index=False):
        lines.append(f"  {r.Method:<26}{r.Brier:>8.4f}{r._2:>10.4f}{r.AUC:>7.3f}{r._4:>16.1%}")
    lines.append("Reliability of the learned model (of the deals it gave 20–30%, about 20–30% should have been won):")
    lines.append(f"  {'Predicted':<10}{'Deals':>8}{'Avg predicted':>15}{'Share won':>11}")
    for r in ev.reliability["Learned model"].itertuples(index=False):
        pred = "" if r.Deals == 0 else f"{r._2:.1%}"
        won = "" if r.Deals == 0 else f"{r._3:.1%}"
        lines.append(f"  {r.Predicted:<10}{r.Deals:>8,}{pred:>15}{won:>11}")
    return lines


@main.command("learn")
@click.option("--history", type=click.Path(path_type=Path), required=True,
              help="Opportunities export with closed (Won/Lost) deals to learn from (CSV or XLSX).")
@click.option("--learn-from", default="", help='Extra columns to learn from, comma-separated, e.g. "Lead Source,Type,Industry".')
@click.option("--score", "score_file", type=click.Path(path_type=Path),
              help="Opportunities to score with the learned model (may be the history file itself).")
@_output
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), help="Learn from deals closed within LearnMonths of this date (default: today).")
@click.option("--learn-months", type=click.IntRange(min=1), help="How many months of closed deals to learn from (default 24).")
def learn_command(history: Path, learn_from: str, score_file: Path | None, output: Path | None,
                  as_of: dt.datetime | None, learn_months: int | None) -> None:
    """Learn how likely an open deal is to be won from the team's closed deals, and show how good that is."""
    from .rules import learn

    try:
        if output is not None:
            if score_file is None:
                raise Stop("-o needs --score FILE: the rows to score and write")
            check_output(output)
            if not output.parent.is_dir():
                raise Stop(f"{output}: the folder {output.parent} does not exist")
        s = Settings().with_(as_of=as_of.date() if as_of else None, learn_months=learn_months)
        df = read_pipeline(history)
        model = learn.learn_from(df, s, [c for c in learn_from.split(",") if c.strip()])
        target = None if score_file is None else (df if score_file == history else read_pipeline(score_file))
    except (ReadError, MissingColumnsError, SettingsError, OutputError, learn.LearnError, Stop) as e:
        _fail(str(e), 2)
    click.echo(f"Read {len(df)} rows from {history.name}.", err=True)
    if isinstance(model, learn.Shortfall):
        click.echo(model.message, err=True)
        if output is not None:
            _fail("nothing was written", 2)
        return
    click.echo("\n".join([*model.summary(), *_evaluation_lines(model)]), err=True)
    if target is None:
        return
    result = score_pipeline(learn.add_learned(target, model), s)
    if output is None:
        _print_table(result, ("Opportunity ID", "Opportunity", "Amount", learn.LEARNED, learn.WHY, "Engagement", "Priority"))
        return
    try:
        write_table(result, output, sheet="Pipeline")
    except OSError as e:
        _fail(f"cannot write {output}: {e.strerror or e}; nothing was written", 1)
    scored = int(pd.notna(result[learn.LEARNED]).sum())
    click.echo(f"Wrote {len(result)} rows to {output} ({scored} open deals with a Learned Probability).", err=True)


def _register_addin() -> None:
    from .excel.addin import addin_command

    main.add_command(addin_command)


_register_addin()


if __name__ == "__main__":
    main()
