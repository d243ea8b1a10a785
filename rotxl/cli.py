"""The ``rotxl`` command: a thin layer over rotxl.data.io and the engine.

Exit codes: 0 when the file was processed (rows with issues included); 2 when nothing was
written because the input cannot be read, lacks required columns, the settings contradict
or the output is not .csv/.xlsx; 1 when the result could not be saved (disk, permissions).
"""

from __future__ import annotations

import datetime as dt
import math
import re
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
    read_accounts,
    read_pipeline,
    typed_values,
    write_table,
)
from .rules.schema import MissingColumnsError
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
    click.echo(f"rotxl: {message}", err=True)
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
) -> None:
    try:
        if output is not None:
            check_output(output)  # before any work, so a typo in -o costs nothing
            if not output.parent.is_dir():
                raise Stop(f"{output}: the folder {output.parent} does not exist")
        s = settings()
        df = read(file)
        result = process(df, s)
    except (ReadError, MissingColumnsError, SettingsError, OutputError, Stop) as e:
        _fail(str(e), 2)
    lines = [f"Read {len(df)} rows from {file.name}.", *_issue_lines(result), *summary(result)]
    if output is None:
        _print_table(result, view)
    else:
        try:
            write_table(result, output, sheet=sheet)
        except OSError as e:
            _fail(f"cannot write {output}: {e.strerror or e}; nothing was written", 1)
        lines.append(f"Wrote {len(result)} rows to {output}.")
    click.echo("\n".join(lines), err=True)


def _issue_lines(result: pd.DataFrame) -> list[str]:
    issues = result["Issues"].fillna("").astype(str)
    flagged = issues[issues != ""]
    lines = [f"Rows with issues: {len(flagged)} (their derived values are left blank)."]
    # "Duplicate Account ID ACC-7" and "... ACC-9" are one kind of issue.
    kinds = Counter(
        re.sub(r"^(Duplicate .+ ID) .*$", r"\1", part) for text in flagged for part in text.split("; ")
    )
    lines += [f"  {n} × {text}" for text, n in kinds.most_common(5)]
    if len(kinds) > 5:
        lines.append(f"  ... and {len(kinds) - 5} other kinds of issue")
    return lines


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


@main.command()
@_file
@_output
@click.option("--revenue-high", type=float, help="Revenue at or above this is high (default: 70th percentile).")
@click.option("--revenue-floor", type=float, help="Revenue below this is a low producer (default: 20th percentile).")
@click.option("--hours-high", type=float, help="Effective hours above this is high maintenance (default: median).")
@click.option("--aggravation-weight", type=float, help="How much one step of aggravation inflates hours (default 0.25).")
def classify(
    file: Path,
    output: Path | None,
    revenue_high: float | None,
    revenue_floor: float | None,
    hours_high: float | None,
    aggravation_weight: float | None,
) -> None:
    """Segment the accounts in FILE (CSV or XLSX) A–E by revenue and effective hours."""
    given = {"RevenueHigh": revenue_high, "RevenueFloor": revenue_floor, "HoursHigh": hours_high}
    _run(
        file, output, read_accounts, classify_accounts, _account_summary(given), ACCOUNT_VIEW, "Accounts",
        lambda: Settings().with_(
            revenue_high=revenue_high, revenue_floor=revenue_floor, hours_high=hours_high,
            aggravation_weight=aggravation_weight,
        ),
    )


@main.command()
@_file
@_output
@click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), help="Judge overdue follow-ups on this date (default: today).")
@click.option("--p-min", type=click.FloatRange(0, 1), help="Engagement below this is too low (default 0.20).")
@click.option("--amount-min", type=float, help="Amount below this is too low (default: 25th percentile of open deals).")
@click.option("--big-deal-amount", type=float, help="Amount worth nurturing at low engagement (default: 90th percentile).")
@click.option("--default-deal-hours", type=float, help="Selling hours of a deal with no Est. Hours (default 10).")
@click.option("--cadence-days", type=int, help="Days between follow-ups (default 10).")
def score(
    file: Path,
    output: Path | None,
    as_of: dt.datetime | None,
    p_min: float | None,
    amount_min: float | None,
    big_deal_amount: float | None,
    default_deal_hours: float | None,
    cadence_days: int | None,
) -> None:
    """Score the opportunities in FILE (CSV or XLSX): engagement, expected value, priority, follow-up."""
    given = {"PMin": p_min, "AmountMin": amount_min, "BigDealAmount": big_deal_amount}
    _run(
        file, output, read_pipeline, score_pipeline, _pipeline_summary(given), PIPELINE_VIEW, "Pipeline",
        lambda: Settings().with_(
            p_min=p_min, amount_min=amount_min, big_deal_amount=big_deal_amount,
            default_deal_hours=default_deal_hours, cadence_days=cadence_days,
            as_of=as_of.date() if as_of else None,
        ),
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
def workbook(accounts: Path, pipeline: Path | None, as_of: dt.datetime | None, output: Path, force: bool, currency: str) -> None:
    """Build one workbook filled from CRM exports, with live formulas and thresholds."""
    from .excel.workbook import build_workbook

    def build():
        acc = read_accounts(accounts)
        pipe = read_pipeline(pipeline) if pipeline else None
        return build_workbook(acc, pipe, Settings(as_of=as_of.date() if as_of else None), currency=currency)

    _save_workbook(build, output, force)


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
              out: Path, as_of: dt.date | None, jobs: int | None, currency: str, force: bool = False) -> None:
    """``accounts`` may be a function reading both exports, so the progress shows while they are read."""
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
                              force=force)
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
@click.option("--force", is_flag=True, help="Build even when most IDs of the previous export are missing from this one.")
def build(accounts: Path, pipeline: Path, out: Path, as_of: dt.datetime | None, jobs: int | None, currency: str,
          force: bool) -> None:
    """One workbook per owner plus a Team Rollup; a rebuild keeps what everyone did (see the rebuild report)."""
    _run_team(lambda: (read_accounts(accounts), read_pipeline(pipeline)), None, out, as_of.date() if as_of else None, jobs,
              currency, force)


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("rotxl-demo"), show_default=True,
              help="Folder for the sample exports and the team's workbooks.")
@_jobs
def demo(out: Path, jobs: int | None) -> None:
    """Build a realistic sample team (8 owners, 1,200 accounts, 2,000 opportunities)."""
    from .data.io import write_table
    from .data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline

    exports = out / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    acc = sample_accounts()
    write_table(acc, exports / "accounts.csv")
    write_table(sample_pipeline(acc), exports / "pipeline.csv")
    click.echo(f"Sample CRM exports: {exports / 'accounts.csv'}, {exports / 'pipeline.csv'}", err=True)
    _run_team(read_accounts(exports / "accounts.csv"), read_pipeline(exports / "pipeline.csv"), out, SAMPLE_AS_OF, jobs, "$")
    click.echo(f"Open {out / 'Team Rollup.xlsx'} for the manager's view, or any owner's workbook.", err=True)


@main.command()
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("lite"), show_default=True,
              help="Folder for main.py and requirements.txt.")
def lite(output: Path) -> None:
    """Write main.py and requirements.txt for xlwings Lite, with rotxl embedded in main.py."""
    from .excel.lite import write_lite

    for path in write_lite(output):
        click.echo(f"Wrote {path}", err=True)
    click.echo("Paste them into the main.py and requirements.txt tabs of the xlwings Lite editor.", err=True)


def _register_addin() -> None:
    from .excel.addin import addin_command

    main.add_command(addin_command)


_register_addin()


if __name__ == "__main__":
    main()
