"""Workbook actions: the buttons of the ROT ribbon tab (classic xlwings) and the scripts of
xlwings Lite / Server, one function each, working on the open workbook through xlwings' Book.

Every action takes the workbook as its only argument. Left out, it is the workbook Excel called
from (``xw.Book.caller()``), so the add-in's VBA can run ``RunPython "import rotxl.excel.macros;
rotxl.excel.macros.check()"``; xlwings Lite and Server hand their ``book`` in (see lite/main.py).

The tables are changed the way the workbook builder writes them: input columns get values, the
derived columns keep their row formulas (engine.account_formulas / pipeline_formulas, written
into rows the table grows by). Text is written into cells formatted as Text ("@"), so a name
such as ``=HYPERLINK(...)`` or ``@SUM(...)`` stays the literal text and "007" keeps its zeros.

Whatever goes wrong ends in an Excel message that names the problem, never a traceback; on
xlwings Lite and Server, nothing of a failed action is written (their writes are queued until the
action returns, and a failure drops the queue).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xlwings as xw

from ..rules import engine, plan, schema

from ..data import crm, io
from ..data.merge import SYNC_COLUMN, merge_table
from ..rules.schema import ACCOUNT_COLUMNS, ACCOUNT_DERIVED, PIPELINE_COLUMNS, PIPELINE_DERIVED, Column, MissingColumnsError
from ..rules.settings import NAMED_CELLS, Settings, SettingsError
from .workbook import MONEY_COLUMNS, NUMBER_FORMATS, READING_ORDER

__all__ = ["import_export", "prioritise", "check", "freeze_thresholds", "live_thresholds", "build_team_workbooks"]

logger = logging.getLogger(__name__)

TITLE = "rotxl"
IMPORT_SHEET = "Import"
CHECK_SHEET = "Check"
TEXT = "@"  # Excel's Text number format: what is typed or written into the cell stays text
# The number format a cell gets back when it held text (and may be formatted "@") and now gets a
# number or date. Money has no currency symbol here: the workbook's own symbol cannot be read
# through xlwings Server or Lite without an extra round trip.
STANDARD_FORMATS: dict[str, str] = {**NUMBER_FORMATS, **{c: "#,##0" for c in MONEY_COLUMNS}}
THRESHOLDS: tuple[str, ...] = ("RevenueHigh", "RevenueFloor", "HoursHigh", "AmountMin", "BigDealAmount")


class ActionError(Exception):
    """A problem the user can fix; its message is shown as it is."""


@dataclass(frozen=True)
class Kind:
    table: str
    columns: tuple[Column, ...]
    derived: tuple[str, ...]
    formulas: Callable[[], dict[str, str]]
    noun: str


ACCOUNTS = Kind("Accounts", ACCOUNT_COLUMNS, ACCOUNT_DERIVED + plan.ACCOUNT_PLAN_COLUMNS,
                lambda: {**engine.account_formulas(), **plan.account_formulas(plan.table_headers(ACCOUNT_COLUMNS, ACCOUNT_DERIVED))},
                "accounts")
PIPELINE = Kind("Pipeline", PIPELINE_COLUMNS, PIPELINE_DERIVED + plan.PIPELINE_PLAN_COLUMNS,
                lambda: {**engine.pipeline_formulas(), **plan.pipeline_formulas(plan.table_headers(PIPELINE_COLUMNS, PIPELINE_DERIVED))},
                "opportunities")


# ---------------------------------------------------------------- running an action


def _remote(book: xw.Book) -> bool:
    """xlwings Lite and Server: a Book built from the client's JSON, its writes queued."""
    return book.app.engine.name == "remote"


def _tell(book: xw.Book, message: str, critical: bool = False) -> None:
    print(message)  # xlwings Lite shows this in its output pane
    book.app.alert(message, title=TITLE, mode="critical" if critical else "info")


def _action(what: str) -> Callable[[Callable[..., str | None]], Callable[..., None]]:
    """Runs an action on ``book`` (default: the calling workbook) and shows its outcome as a message."""

    def decorate(f: Callable[..., str | None]) -> Callable[..., None]:
        @functools.wraps(f)
        def run(book: xw.Book | None = None, *args: Any, **kwargs: Any) -> None:
            book = book if book is not None else xw.Book.caller()
            try:
                message = f(book, *args, **kwargs)
            except Exception as e:  # noqa: BLE001 - every failure becomes a message, never a traceback
                if isinstance(e, (ActionError, io.ReadError, MissingColumnsError, SettingsError)):
                    text = str(e)
                else:
                    logger.info("%s failed", what, exc_info=True)  # for a developer; the user gets the message
                    text = f"{what} did not finish: {type(e).__name__}: {e}"
                if _remote(book):
                    book.json()["actions"].clear()  # nothing half-done reaches the workbook
                _tell(book, text, critical=True)
            else:
                if message:
                    _tell(book, message)

        return run

    return decorate


# ---------------------------------------------------------------- the tables


@dataclass
class _Table:
    """One Excel table as read from the workbook: headers, data rows and where it sits."""

    kind: Kind
    sheet: xw.Sheet
    table: Any  # xw.main.Table
    headers: list[str]
    rows: list[list[object]]
    top: int  # sheet row of the header row
    left: int  # sheet column of the first table column

    @property
    def first(self) -> int:
        return self.top + 1

    def col(self, header: str) -> int:
        return self.left + self.headers.index(header)

    def frame(self, inputs_only: bool = False) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=self.headers, dtype=object)
        return df[self.inputs()] if inputs_only else df

    def inputs(self) -> list[str]:
        return [h for h in self.headers if h not in self.kind.derived]


def _find_table(book: xw.Book, kind: Kind) -> _Table:
    for sheet in book.sheets:
        for table in sheet.tables:
            if table.name == kind.table:
                rng = table.range
                headers = ["" if h is None else str(h) for h in table.header_row_range.options(ndim=1).value]
                body = table.data_body_range
                rows = body.options(ndim=2, err_to_str=True).value if body is not None else []
                return _Table(kind, sheet, table, headers, [list(r) for r in rows], rng.row, rng.column)
    raise ActionError(
        f"This workbook has no Excel table named {kind.table}. The ROT actions work on a workbook made by "
        f"rotxl (rotxl template or rotxl workbook), whose {kind.table} sheet holds that table."
    )


def _require(t: _Table, headers: tuple[str, ...]) -> None:
    missing = [h for h in headers if h not in t.headers]
    if missing:
        raise ActionError(f"The {t.kind.table} table has no column {', '.join(repr(m) for m in missing)}: "
                          "was it renamed or deleted? Rebuild the workbook with rotxl, or restore the column.")


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``flags``."""
    out, start = [], None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i))
            start = None
    return out


def _holds_formulas(rng: xw.Range) -> bool:
    """Classic Excel only: whether cells of ``rng`` hold formulas (HasFormula is None when mixed).
    Xlwings Server and Lite send values only, so there a column counts as values."""
    if _remote(rng.sheet.book):
        return False
    return rng.api.HasFormula is not False


def _ui_formula(formula: str) -> str:
    """A formula as Excel takes it from COM and Office.js: without the file format's _xlfn. prefixes."""
    return formula.replace("_xlfn.", "")


def _write_inputs(t: _Table, rows: list[list[object]], columns: list[str]) -> None:
    """Write ``columns`` of ``rows`` (full table rows, in table order) from the first data row down.

    Text goes into cells formatted "@" first, so Excel keeps it as text. A cell that held text
    before (and so may be formatted "@") and now gets a number or date gets the column's standard
    number format back; new rows look at the last old row, whose formats they were filled with.
    """
    old = t.rows
    blank = [None] * len(t.headers)
    values: dict[int, list[object]] = {}
    for h in columns:
        j = t.headers.index(h)
        typed = io.typed_values(pd.Series([r[j] for r in rows], name=h, dtype=object))
        typed = [None if isinstance(v, str) and v == "" else v for v in typed]
        text = [isinstance(v, str) for v in typed]
        was_text = [isinstance((old[i] if i < len(old) else (old[-1] if old else blank))[j], str) for i in range(len(rows))]
        col = t.left + j
        for a, b in _runs(text):
            t.sheet.range((t.first + a, col), (t.first + b - 1, col)).number_format = TEXT
        for a, b in _runs([w and not x for w, x in zip(was_text, text)]):
            t.sheet.range((t.first + a, col), (t.first + b - 1, col)).number_format = STANDARD_FORMATS.get(h, "General")
        values[j] = typed
    for a, b in _runs([j in values for j in range(len(t.headers))]):
        block = [[values[j][i] for j in range(a, b)] for i in range(len(rows))]
        if block:
            t.sheet.range((t.first, t.left + a)).value = block


def _value_columns(t: _Table) -> list[str]:
    """Input columns whose cells hold values (a column the user filled with formulas stays put)."""
    out = []
    for h in t.inputs():
        rng = t.sheet.range((t.first, t.col(h)), (t.first + max(len(t.rows), 1) - 1, t.col(h)))
        if not _holds_formulas(rng):
            out.append(h)
    return out


# ---------------------------------------------------------------- Import export


def _pick_file(book: xw.Book) -> Path | None:
    """Excel's own Open dialog (classic xlwings on Windows); None when cancelled."""
    chosen = book.app.api.GetOpenFilename(
        "CRM export (*.csv;*.xlsx;*.xlsm;*.txt;*.tsv),*.csv;*.xlsx;*.xlsm;*.txt;*.tsv", 1, "Import a CRM export"
    )
    return Path(chosen) if isinstance(chosen, str) and chosen else None


def _sheet_to_xlsx(sheet: xw.Sheet, path: Path) -> None:
    """The Import sheet's cells as a workbook file, so it is read exactly like an exported file."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    rows = sheet.used_range.options(ndim=2, err_to_str=True).value or []
    wb = Workbook()
    ws = wb.active
    ws.title = IMPORT_SHEET
    for i, row in enumerate(rows, start=1):
        for j, v in enumerate(row, start=1):
            if v is None or (isinstance(v, str) and not v.strip()):
                continue
            cell = ws.cell(i, j, ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v)
            if isinstance(v, str):
                cell.data_type = "s"  # openpyxl would take "=..." for a formula
    wb.save(path)


def _which(headers: list[str], source: str) -> Kind:
    """Accounts or Pipeline, by which spec's required columns the headers have (the more matches wins)."""
    fits: dict[Kind, int] = {}
    for kind in (ACCOUNTS, PIPELINE):
        try:
            fits[kind] = len(schema.resolve(headers, kind.columns))
        except MissingColumnsError:
            pass
    if not fits:
        need = lambda cols: ", ".join(c.header for c in cols if c.required)  # noqa: E731
        found = ", ".join(f'"{h}"' for h in headers) or "no columns"
        raise ActionError(f"Cannot import {source}: it is neither an accounts nor an opportunities export. Accounts need "
                          f"{need(ACCOUNT_COLUMNS)}; opportunities need {need(PIPELINE_COLUMNS)}. Found {found}.")
    best = max(fits.values())
    if list(fits.values()).count(best) > 1:
        raise ActionError(f"Cannot import {source}: it fits the Accounts and the Pipeline table equally well; "
                          "rename its columns to rotxl's (e.g. Account ID or Opportunity ID) and import again.")
    return max(fits, key=lambda k: fits[k])


def _read_export(path: Path, source: str) -> tuple[Kind, pd.DataFrame]:
    try:
        kind = _which([str(c) for c in io.read_table(path).columns], source)
        df = io.read_accounts(path) if kind is ACCOUNTS else io.read_pipeline(path)
    except (io.ReadError, MissingColumnsError) as e:
        where = str(e).replace(f"{path.name}, sheet {IMPORT_SHEET!r}", source).replace(path.name, source)
        raise ActionError(f"Cannot import: {where}") from None
    derived = {h.casefold() for h in kind.derived}  # a rotxl output's derived columns are not data
    return kind, df.drop(columns=[c for c in df.columns if str(c).casefold() in derived])


def _keys(df: pd.DataFrame, id_header: str) -> list[str]:
    """ID plus occurrence number, as rotxl.data.merge pairs rows (duplicated IDs pair up in order)."""
    ids = engine.parse_text(df[id_header], id_like=True)[0].reset_index(drop=True)
    return list(ids + "\x00" + ids.groupby(ids).cumcount().astype(str))


def _insert_at(t: _Table, name: str) -> int:
    """Where SPEC §5's reading order puts a new column: a spec column (CRM Sync, say) right after
    the columns that come before it in that order; any other column at the end of the table,
    before the helper columns (derived columns outside the reading order)."""
    order = [h for group in READING_ORDER[t.kind.table] for h in group]
    if name in order:
        before = [h for h in order[: order.index(name)] if h in t.headers]
        if before:
            return t.headers.index(before[-1]) + 1
    at = len(t.headers)
    while at and t.headers[at - 1] in t.kind.derived and t.headers[at - 1] not in order:
        at -= 1
    return at


def _add_columns(t: _Table, names: list[str]) -> None:
    """New columns go where the reading order puts them (Excel shifts the cells to their right,
    formulas and references along); a client that sends no column list (Office Scripts) gets
    them after the last column."""
    for k, name in enumerate(names):
        at = _insert_at(t, name)
        try:
            t.table.columns.add(name, index=at + 1)
        except NotImplementedError:
            rest = names[k:]
            at = len(t.headers)
            t.sheet.range((t.top, t.left + at), (t.top, t.left + at + len(rest) - 1)).number_format = TEXT
            t.sheet.range((t.top, t.left + at)).value = [rest]
            t.table.resize(t.sheet.range((t.top, t.left), (t.top + len(t.rows), t.left + at + len(rest) - 1)))
            t.headers.extend(rest)
            for row in t.rows:
                row.extend([None] * len(rest))
            return
        t.headers.insert(at, name)
        for row in t.rows:
            row.insert(at, None)


def _grow(t: _Table, n: int) -> None:
    """Resize the table to ``n`` data rows: new rows get the last row's formats and the row formulas."""
    old = len(t.rows)
    if n <= old:
        return
    width = len(t.headers)
    t.table.resize(t.sheet.range((t.top, t.left), (t.top + n, t.left + width - 1)))
    if old:
        last = t.sheet.range((t.first + old - 1, t.left), (t.first + old - 1, t.left + width - 1))
        last.autofill(t.sheet.range((t.first + old - 1, t.left), (t.first + n - 1, t.left + width - 1)), "fill_formats")
    for header, formula in t.kind.formulas().items():
        if header in t.headers:
            t.sheet.range((t.first + old, t.col(header)), (t.first + n - 1, t.col(header))).formula = _ui_formula(formula)


def _settings_of(book: xw.Book) -> Settings:
    """AsOf, HoursMonths and the minutes per activity type from the workbook's named cells
    (the defaults where a named cell is missing or not a number)."""
    names = {n.name.casefold() for n in book.names}
    changes: dict[str, object] = {}
    for field, (name, _) in NAMED_CELLS.items():
        if field in ("hours_months", "minutes_call", "minutes_email", "minutes_meeting", "minutes_other", "as_of") \
                and name.casefold() in names:
            v = _setting(book, name).value
            if field == "as_of":
                changes[field] = v.date() if isinstance(v, dt.datetime) else v if isinstance(v, dt.date) else None
            elif _number(v) is not None:
                changes[field] = int(v) if field == "hours_months" else float(v)
    return Settings().with_(**changes)


def _import_activities(book: xw.Book, path: Path, source: str) -> str:
    """An activity export (SPEC §7.3): Logged Hours of the accounts, Last Contact and Follow-ups of
    the open opportunities, as a build computes them; nothing else in the tables changes."""
    try:
        acts = crm.read_activities(path)
    except (io.ReadError, MissingColumnsError) as e:
        where = str(e).replace(f"{path.name}, sheet {IMPORT_SHEET!r}", source).replace(path.name, source)
        raise ActionError(f"Cannot import: {where}") from None
    if acts.empty:
        raise ActionError(f"Nothing to import: {source} has a header row but no rows.")
    settings = _settings_of(book)
    t_acc, t_pipe = _find_table(book, ACCOUNTS), _find_table(book, PIPELINE)
    timed = crm.activity_minutes(acts, settings)
    acc, pipe, _, summary = crm.logged_hours(t_acc.frame(inputs_only=True), t_pipe.frame(inputs_only=True), timed, settings)

    if crm.LOGGED_HOURS not in t_acc.headers:
        _add_columns(t_acc, [crm.LOGGED_HOURS])
    hours = acc[crm.LOGGED_HOURS].tolist()
    rows = [list(r) for r in t_acc.rows]
    j = t_acc.headers.index(crm.LOGGED_HOURS)
    for row, h in zip(rows, hours):
        row[j] = h
    _write_inputs(t_acc, rows, [crm.LOGGED_HOURS])
    columns = [c for c in ("Last Contact", "Follow-ups") if c in t_pipe.headers and c in pipe.columns]
    if columns and (summary.contacts_updated or summary.follow_ups_updated):
        rows = [list(r) for r in t_pipe.rows]
        for c in columns:
            j = t_pipe.headers.index(c)
            for row, v in zip(rows, pipe[c].tolist()):
                row[j] = v
        _write_inputs(t_pipe, rows, columns)

    as_of = settings.as_of_date()
    message = (f"Imported {len(acts):,} activities from {source}: Logged Hours of {len(hours):,} accounts from the "
               f"{summary.counted:,} activities dated after {crm.edate(as_of, -settings.hours_months):%d %b %Y} and on or "
               f"before {as_of:%d %b %Y}; Last Contact of {summary.contacts_updated:,} and Follow-ups of "
               f"{summary.follow_ups_updated:,} open opportunities updated.")
    if summary.after_as_of:
        message += f" {summary.after_as_of:,} dated after AsOf (planned) were not counted."
    if summary.unmatched:
        message += f" {summary.unmatched:,} match no account and no opportunity."
    return message


@_action("Import export")
def import_export(book: xw.Book, path: str | Path | None = None) -> str | None:
    """Merge a CRM export into the Accounts or Pipeline table, keeping what was typed (SPEC §6).

    The export comes from ``path``, else from Excel's Open dialog (classic xlwings on Windows), else
    from a sheet named Import (header row first), which is how xlwings Lite and Server get one.
    Rows are matched by ID and updated in place; new rows are added at the bottom; rows no longer
    in the export stay, marked "Not in latest export" in the CRM Sync column.
    """
    if path is None and sys.platform == "win32" and book.app.engine.name == "excel":
        path = _pick_file(book)
        if path is None:
            return None  # cancelled
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            try:
                sheet = next(s for s in book.sheets if s.name.casefold() == IMPORT_SHEET.casefold())
            except StopIteration:
                raise ActionError(f'Paste the CRM export into a sheet named "{IMPORT_SHEET}" (header row first), '
                                  "then run Import export again.") from None
            source = f'the "{sheet.name}" sheet'
            path = Path(tmp) / "Import.xlsx"
            _sheet_to_xlsx(sheet, path)
        else:
            path = Path(path)
            source = path.name
        if crm.looks_like_activities([str(c) for c in io.read_table(path).columns]):
            return _import_activities(book, path, source)
        kind, export = _read_export(path, source)
    if export.empty:
        raise ActionError(f"Nothing to import: {source} has a header row but no rows.")

    t = _find_table(book, kind)
    id_header = kind.columns[0].header
    _require(t, (id_header,))
    previous = t.frame(inputs_only=True)
    # Excel's table headers are unique regardless of case: an export's "notes" is the table's "Notes".
    same = {h.casefold(): h for h in t.headers}
    export = export.rename(columns={c: same[str(c).casefold()] for c in export.columns if str(c).casefold() in same})
    merged = merge_table(previous, export, kind.columns)
    crm_missing = {c.header for c in kind.columns if c.crm_owned and c.header not in export.columns}
    columns = [c for c in merged.columns if c not in kind.derived and c not in crm_missing]

    # Each merged row goes where its ID already is; new rows fill blank rows, then go below.
    slot = {k: i for i, k in enumerate(_keys(previous, id_header))}
    empty = [i for i, r in enumerate(previous.itertuples(index=False)) if all(_blank(v) for v in r)]
    placed: dict[int, int] = {}  # table row -> merged row
    new: list[int] = []
    for j, key in enumerate(_keys(merged, id_header)):
        i = slot.get(key)
        if i is None or i in empty:
            new.append(j)
        else:
            placed[i] = j
    free = empty + list(range(len(t.rows), len(t.rows) + max(0, len(new) - len(empty))))
    placed.update(zip(free, new))

    _add_columns(t, [c for c in columns if c not in t.headers])
    n = max(len(t.rows), max(placed, default=-1) + 1)
    _grow(t, n)
    merged_rows = merged[columns].astype(object).to_numpy().tolist()
    rows = []
    for i in range(n):
        row = list(t.rows[i]) if i < len(t.rows) else [None] * len(t.headers)
        for c, v in zip(columns, merged_rows[placed[i]] if i in placed else ()):
            row[t.headers.index(c)] = v
        rows.append(row)
    writable = _value_columns(t)
    _write_inputs(t, rows, [c for c in columns if c in writable])

    gone = int((merged[SYNC_COLUMN] == engine.NOT_IN_EXPORT).sum())
    message = (f"Imported {len(export):,} {kind.noun} from {source} into the {kind.table} table: "
               f"{len(export) - len(new):,} updated, {len(new):,} new.")
    if gone:
        message += f' {gone:,} rows no longer in the export were kept, marked "{engine.NOT_IN_EXPORT}" in {SYNC_COLUMN}.'
    return message


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


# ---------------------------------------------------------------- Prioritise


def _number(v: object) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _order(t: _Table, group: str, ranks: dict[str, int], value: str) -> list[int]:
    """Row order: by ``group`` in ``ranks`` order (blank and unknown last), then ``value`` descending
    (blank last); ties keep their order."""
    g, v = t.headers.index(group), t.headers.index(value)

    def key(i: int) -> tuple[int, int, float]:
        row = t.rows[i]
        rank = ranks.get(str(row[g]).strip(), len(ranks)) if isinstance(row[g], str) else len(ranks)
        x = _number(row[v])
        return rank, x is None, -(x or 0.0)

    return sorted(range(len(t.rows)), key=key)


def _sort(t: _Table, order: list[int]) -> bool:
    if order == list(range(len(t.rows))):
        return False
    _write_inputs(t, [t.rows[i] for i in order], _value_columns(t))
    return True


@_action("Prioritise")
def prioritise(book: xw.Book) -> str:
    """Sort Accounts by segment (A to E, then rows with no segment) and ROT, highest first, and the
    Pipeline by priority (Pursue, Nurture, Deprioritize, then blank) and expected value, highest first.

    The input values are rewritten in the new order; the derived columns are row formulas, so they
    follow. Columns you added that hold formulas stay as they are (classic Excel).
    """
    acc, pipe = _find_table(book, ACCOUNTS), _find_table(book, PIPELINE)
    _require(acc, ("Segment", "ROT"))
    _require(pipe, ("Priority", "Expected Value"))
    moved_acc = _sort(acc, _order(acc, "Segment", {s: i for i, s in enumerate("ABCDE")}, "ROT"))
    moved_pipe = _sort(pipe, _order(pipe, "Priority", {p: i for i, p in enumerate(engine.PRIORITIES)}, "Expected Value"))
    if not (moved_acc or moved_pipe):
        return "Accounts and Pipeline are already in priority order."
    return (f"Sorted {len(acc.rows):,} accounts by segment (A first) and ROT, and {len(pipe.rows):,} opportunities "
            "by priority (Pursue, Nurture, Deprioritize) and expected value.")


# ---------------------------------------------------------------- Check


def _show_id(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return "" if _blank(v) else str(v).strip()


def _setting(book: xw.Book, name: str) -> xw.Range:
    try:
        return book.names[name].refers_to_range
    except Exception:  # noqa: BLE001 - KeyError, or a name that no longer points at a cell
        raise ActionError(f"This workbook has no named cell {name} (the Settings sheet of a rotxl workbook has it).") from None


def _issues(book: xw.Book) -> list[list[str]]:
    """(Sheet, ID, Issue) of every row with an issue, judged by the engine's rules (SPEC §4), and of
    settings that keep segments or priorities blank."""
    out: list[list[str]] = []
    for kind, judge in ((ACCOUNTS, engine.classify_accounts), (PIPELINE, engine.score_pipeline)):
        t = _find_table(book, kind)
        df = t.frame(inputs_only=True)
        id_header = kind.columns[0].header
        _require(t, (id_header,))
        issues = judge(df)["Issues"].tolist()
        for i, (rid, issue) in enumerate(zip(df[id_header], issues)):
            if issue:
                out.append([t.sheet.name, _show_id(rid) or f"(row {t.first + i}, no ID)", issue])
    values = {name: _setting(book, name).value for name in THRESHOLDS}
    for name, v in values.items():
        if _number(v) is None:
            out.append(["Settings", name, f"{name} has no number (no valid rows to compute it from, or not a number)"])
    floor, high = _number(values["RevenueFloor"]), _number(values["RevenueHigh"])
    if floor is not None and high is not None and floor > high:
        out.append(["Settings", "RevenueFloor", "Revenue floor is above Revenue high: segments stay blank until it is fixed"])
    return out


@_action("Check")
def check(book: xw.Book) -> str:
    """List every row with an issue on a Check sheet (Sheet, ID, Issue), made or cleared for it."""
    found = _issues(book)
    sheets = {s.name.casefold(): s for s in book.sheets}
    sheet = sheets.get(CHECK_SHEET.casefold())
    if sheet is None:
        sheet = book.sheets.add(CHECK_SHEET, after=sheets.get("settings") or book.sheets[len(book.sheets) - 1])
    else:
        sheet.clear_contents()
    rows = [["Sheet", "ID", "Issue"], *found] if found else [["Sheet", "ID", "Issue"], ["", "", "No issues: every row is fine."]]
    sheet.range((2, 1), (len(rows), 3)).number_format = TEXT  # IDs and issue texts are data
    sheet.range("A1").value = rows
    sheet.range("A1:C1").font.bold = True
    for col, width in (("A", 12), ("B", 18), ("C", 90)):
        sheet.range(f"{col}1").column_width = width
    sheet.activate()
    if not found:
        return "Check: no issues. Every account, opportunity and threshold is fine."
    by_sheet = pd.Series([r[0] for r in found]).value_counts()
    parts = ", ".join(f"{n:,} on {name}" for name, n in by_sheet.items())
    return f"Check: {len(found):,} issues ({parts}). They are listed on the {CHECK_SHEET} sheet."


# ---------------------------------------------------------------- Freeze / Live thresholds


@_action("Freeze thresholds")
def freeze_thresholds(book: xw.Book) -> str:
    """Write the thresholds as they are now into Settings as numbers: they stop following the data."""
    cells = {name: _setting(book, name) for name in THRESHOLDS}
    values = {name: _number(rng.value) for name, rng in cells.items()}
    missing = [name for name, v in values.items() if v is None]
    if missing:
        raise ActionError(f"Cannot freeze {', '.join(missing)}: no number to freeze (no valid rows yet, or an error). "
                          "Fill in the tables first, or type the numbers into Settings.")
    for name, rng in cells.items():
        rng.value = values[name]
        rng.font.italic = False  # live thresholds are grey italics
        rng.font.color = (0, 0, 0)
    shown = ", ".join(f"{name} {values[name]:,.2f}" for name in THRESHOLDS)
    return f"Thresholds frozen as numbers: {shown}. Live thresholds makes them follow the data again."


@_action("Live thresholds")
def live_thresholds(book: xw.Book) -> str:
    """Restore the live threshold formulas: percentiles of the valid rows (SPEC §1, §2)."""
    formulas = {**engine.account_threshold_formulas(), **engine.pipeline_threshold_formulas()}
    cells = {name: _setting(book, name) for name in THRESHOLDS}
    for name, rng in cells.items():
        # An array formula: PERCENTILE.INC over IF(...) needs array entry before dynamic arrays
        # (Excel 2016/2019); xlwings writes it as such, in classic Excel and through Server/Lite.
        rng.formula_array = _ui_formula(formulas[name])
        rng.font.italic = True
        rng.font.color = (89, 89, 89)
    return f"Thresholds follow the data again: {', '.join(THRESHOLDS)} are live formulas."


# ---------------------------------------------------------------- Build team workbooks


@_action("Build team workbooks")
def build_team_workbooks(book: xw.Book) -> str:
    """One workbook per owner and the Team Rollup, from this workbook's tables (rotxl.excel.team), into a
    folder next to this workbook; progress shows in Excel's status bar. Classic Excel only."""
    if _remote(book):
        raise ActionError("Build team workbooks writes files, so it runs in desktop Excel with the rotxl add-in, "
                          "or from a terminal: rotxl build.")
    try:
        from . import team
    except ImportError as e:
        raise ActionError(f"This version of rotxl cannot build team workbooks ({e}).") from None
    where = book.fullname
    if "://" in where or not Path(where).parent.is_dir() or not Path(where).suffix:
        raise ActionError("Save this workbook to a folder on this computer first: the team workbooks go into a "
                          "folder next to it.")
    out_dir = Path(where).parent / f"{Path(where).stem} team"
    accounts = _find_table(book, ACCOUNTS).frame(inputs_only=True)
    pipeline = _find_table(book, PIPELINE).frame(inputs_only=True)

    def progress(text: str) -> None:
        book.app.status_bar = f"rotxl team build: {text}"

    try:
        # One process: Excel waits for this one anyway, and worker processes started from
        # Excel's pythonw are a needless risk.
        result = team.build_team(accounts, pipeline, out_dir, jobs=1, progress=progress)
    except (team.state.BuildLocked, team.state.StateError, team.ChangedIDs) as e:
        raise ActionError(str(e)) from None
    finally:
        book.app.status_bar = False  # give the status bar back to Excel
    message = f"Wrote {len(result.written):,} workbooks"
    message += " and the Team Rollup" if result.rollup else ""
    message += f" to {out_dir}."
    if result.failed:
        message += " Not written: " + "; ".join(f"{who}: {why}" for who, why in result.failed.items())
    return message


# ---------------------------------------------------------------- Plan my week (SPEC §8)

PLAN_SHEET = "Plan"
# Settings the plan reads from the workbook's named cells (those that hold a number or a date).
PLAN_SETTINGS = {
    "weekly_hours": "WeeklyHours", "follow_up_minutes": "FollowUpMinutes", "default_deal_hours": "DefaultDealHours",
    "cadence_days": "CadenceDays", "hours_months": "HoursMonths", "aggravation_weight": "AggravationWeight",
    "p_min": "PMin", "revenue_high": "RevenueHigh", "revenue_floor": "RevenueFloor", "hours_high": "HoursHigh",
    "amount_min": "AmountMin", "big_deal_amount": "BigDealAmount", "as_of": "AsOf",
}


def _plan_settings(book: xw.Book) -> Settings:
    given: dict[str, object] = {}
    for field, name in PLAN_SETTINGS.items():
        try:
            value = book.names[name].refers_to_range.value
        except Exception:  # noqa: BLE001 - a workbook without this setting: the spec's default
            continue
        if field == "as_of":
            day = engine.parse_dates(pd.Series([value], dtype=object))
            if not day.blank[0] and not day.bad[0]:
                given[field] = day.values[0].item()
        elif _number(value) is not None:
            given[field] = int(_number(value)) if field == "cadence_days" else _number(value)
    return Settings().with_(**given)


@_action("Plan my week")
def plan_my_week(book: xw.Book) -> str:
    """The week's plan of every owner (SPEC §8) from this workbook's tables and Settings, written as values on
    a Plan sheet (made or cleared for it): follow-ups first, then the hours that pay most. The This Week
    sheet shows the same plan as live formulas, one owner at a time."""
    s = _plan_settings(book)
    accounts = _find_table(book, ACCOUNTS).frame(inputs_only=True)
    pipeline = _find_table(book, PIPELINE).frame(inputs_only=True)
    result = plan.make_plan(engine.classify_accounts(accounts, s), engine.score_pipeline(pipeline, s), s)
    items = result.items.drop(columns=["Table", "Row"])
    sheets = {sh.name.casefold(): sh for sh in book.sheets}
    sheet = sheets.get(PLAN_SHEET.casefold())
    if sheet is None:
        after = sheets.get(this_week_sheet().casefold()) or book.sheets[0]
        sheet = book.sheets.add(PLAN_SHEET, after=after)
    else:
        sheet.clear_contents()
    rows = [list(items.columns), *items.astype(object).values.tolist()] if len(items) else [
        list(items.columns), ["", "", "", "", "", "Nothing to plan: no follow-up due and no deal or account that pays.", 0, 0]]
    n = len(rows)
    sheet.range((2, 1), (n, 6)).number_format = TEXT  # names and why texts are data
    sheet.range("A1").value = rows
    sheet.range((2, 7), (n, 7)).number_format = "#,##0.00"
    sheet.range((2, 8), (n, 8)).number_format = "#,##0"
    sheet.range((1, 1), (1, 8)).font.bold = True
    for col, width in zip("ABCDEFGH", (16, 6, 10, 26, 22, 60, 11, 14)):
        sheet.range(f"{col}1").column_width = width
    sheet.activate()
    day = s.as_of_date()
    lines = [f"{o['Owner']}: {o['Hours Planned']:,.1f} of {o['Weekly Hours']:g} h planned, return {o['Planned Return']:,.0f}"
             for _, o in result.owners.iterrows()]
    shown = "; ".join(lines[:8]) + (f"; and {len(lines) - 8} more owners" if len(lines) > 8 else "")
    return (f"The week of {day:%d %b %Y}: {len(items):,} planned items on the {PLAN_SHEET} sheet. {shown}. "
            f"Follow-ups come first; the hours left go to what pays most per hour.")


def this_week_sheet() -> str:
    from .this_week import SHEET

    return SHEET


__all__.append("plan_my_week")


# ---------------------------------------------------------------- Learn from history (SPEC §9)

MODEL_SHEET = "Model"
__all__.append("learn_from_history")


def _model_rows(model) -> tuple[list[list[object]], list[tuple[int, int]]]:
    """The Model sheet as values (a snapshot; a build writes the live table and named cells), and
    the (row, column) blocks that hold text from the data (feature names and levels)."""

    width = 8
    pad = lambda row: list(row) + [""] * (width - len(row))  # noqa: E731
    rows = [pad(["Model: learned engagement (a snapshot by Learn from history)"])]
    rows += [pad([line]) for line in model.summary()]
    rows += [pad([]), pad([f"How good it is: out-of-fold (5-fold) on {model.evaluation.rows:,} closed deals"])]
    rows.append(pad(["Method", "Brier", "Log loss", "AUC", "Reliability gap"]))
    rows += [pad([r.Method, float(r.Brier), float(r._2), float(r.AUC), float(r._4)]) for r in model.evaluation.metrics.itertuples(index=False)]
    rows += [pad([]), pad(["Reliability of the learned model"])]
    rel = model.evaluation.reliability["Learned model"]
    rows.append(pad(list(rel.columns)))
    rows += [pad([r[0], int(r[1]), *("" if pd.isna(v) else float(v) for v in r[2:])]) for r in rel.itertuples(index=False)]
    rows += [pad([]), pad(["Intercept", model.intercept, "A", model.a, "B", model.b])]
    weights = model.weights_table()
    rows.append(pad(list(weights.columns)))
    first = len(rows)
    rows += [pad([v.item() if hasattr(v, "item") else v for v in r]) for r in weights.itertuples(index=False)]
    return rows, [(first, len(rows))]


@_action("Learn from history")
def learn_from_history(book: xw.Book) -> str:
    """Learn from the Pipeline table's won and lost deals (SPEC §9): Learned Probability and Why for every
    open deal, written as values, and the model and how good it is on the Model sheet."""
    from ..rules import learn
    from ..rules.settings import Settings

    t = _find_table(book, PIPELINE)
    _require(t, ("Opportunity ID", "Amount"))
    df = t.frame()
    as_of = None
    if "asof" in {n.name.casefold() for n in book.names}:
        day = engine.parse_dates(pd.Series([_setting(book, "AsOf").value], dtype=object))
        as_of = None if day.blank[0] or day.bad[0] else pd.Timestamp(day.values[0]).date()
    months = None
    if "learnmonths" in {n.name.casefold() for n in book.names}:
        months = _number(_setting(book, "LearnMonths").value)
    settings = Settings().with_(as_of=as_of, learn_months=int(months) if months else None)
    try:
        model = learn.learn_from(df, settings)
    except learn.LearnError as e:
        raise ActionError(str(e)) from None
    if isinstance(model, learn.Shortfall):
        return model.message
    prob, why = model.score(df)
    _add_columns(t, [h for h in (learn.LEARNED, learn.WHY) if h not in t.headers])
    rows = [list(r) for r in t.rows]
    jp, jw = t.headers.index(learn.LEARNED), t.headers.index(learn.WHY)
    for i, row in enumerate(rows):
        row[jp] = None if pd.isna(prob[i]) else float(prob[i])
        row[jw] = why[i]
    _write_inputs(t, rows, [learn.LEARNED, learn.WHY])
    if rows:
        t.sheet.range((t.first, t.col(learn.LEARNED)), (t.first + len(rows) - 1, t.col(learn.LEARNED))).number_format = "0%"
    sheets = {s.name.casefold(): s for s in book.sheets}
    sheet = sheets.get(MODEL_SHEET.casefold())
    if sheet is None:
        sheet = book.sheets.add(MODEL_SHEET, after=sheets.get("settings") or book.sheets[len(book.sheets) - 1])
    else:
        sheet.clear_contents()
    values, text_blocks = _model_rows(model)
    for a, b in text_blocks:
        sheet.range((a + 1, 2), (b, 4)).number_format = TEXT  # feature names and levels are data
    sheet.range("A1").value = values
    m = model.evaluation.metrics.set_index("Method")
    scored = int((~pd.isna(prob)).sum())
    return (f"Learned from {model.won + model.lost:,} closed deals ({model.won:,} won, {model.lost:,} lost). "
            f"Learned Probability and Why written for {scored:,} open deals. On deals it did not learn from, its Brier "
            f"score is {m.loc['Learned model', 'Brier']:.3f} (base rate {m.loc['Base rate', 'Brier']:.3f}, lower is better); "
            f"details on the {MODEL_SHEET} sheet.")
