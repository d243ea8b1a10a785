"""Reading CRM exports and writing results: CSV and XLSX files in, CSV and XLSX files out.

Every function works on its own from a notebook::

    from rotxl.data.io import read_accounts, write_table
    import rotxl
    write_table(rotxl.classify_accounts(read_accounts("accounts.csv")), "accounts.xlsx")

Values are read exactly as typed ("12k" and "007" stay text); judging them is the engine's job.
"""

from __future__ import annotations

import csv
import datetime as dt
import io as _io
import math
import os
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ..rules import schema
from ..rules.engine import parse_dates, parse_numbers, parse_text
from .files import atomic_write
from ..rules.schema import ACCOUNT_COLUMNS, PIPELINE_COLUMNS, Column

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
OUTPUT_SUFFIXES = (".csv", ".xlsx")


class ReadError(ValueError):
    """A file that cannot be read as a table; the message names the file and the problem."""


class OutputError(ValueError):
    """An output file rotxl cannot write (not .csv or .xlsx); raised before anything is written."""


# ---------------------------------------------------------------- formats of the spec columns

_SPEC_KINDS: dict[str, str] = {c.header: c.kind for c in (*ACCOUNT_COLUMNS, *PIPELINE_COLUMNS)}
MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.0%"
HOURS_FORMAT = "#,##0.0"
DATE_FORMAT = "yyyy-mm-dd"
NUMBER_FORMATS: dict[str, str] = {
    "Revenue": MONEY_FORMAT, "Amount": MONEY_FORMAT, "ROT": MONEY_FORMAT,
    "Expected Value": MONEY_FORMAT, "Opportunity ROT": MONEY_FORMAT,
    "Margin": PERCENT_FORMAT, "Probability": PERCENT_FORMAT, "Engagement": PERCENT_FORMAT,
    "Hours": HOURS_FORMAT, "Est. Hours": HOURS_FORMAT, "Effective Hours": HOURS_FORMAT,
    "Close Date": DATE_FORMAT, "Last Contact": DATE_FORMAT, "Next Follow-up": DATE_FORMAT,
}
# Columns whose numeric-looking values are written as numbers, and dates as dates, in XLSX.
NUMERIC_COLUMNS: frozenset[str] = frozenset(
    {h for h, k in _SPEC_KINDS.items() if k in ("number", "fraction", "whole")}
    | {"Effective Hours", "ROT", "Engagement", "Expected Value", "Opportunity ROT"}
)
DATE_COLUMNS: frozenset[str] = frozenset(
    {h for h, k in _SPEC_KINDS.items() if k == "date"} | {"Next Follow-up"}
)

# ---------------------------------------------------------------- the CSV formula guard

# A cell starting with one of these is a formula to Excel when the CSV is opened.
_FORMULA_START = "=+-@\t\r"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?%?")
# Apostrophes already in front of a formula start are escaped too, so that reading strips
# exactly the one apostrophe writing added and any text round-trips.
_GUARDED = re.compile(r"'*[" + re.escape(_FORMULA_START) + "]")


def guard_csv_text(value: str) -> str:
    """Text as written to CSV: a leading apostrophe where Excel would see a formula."""
    if _GUARDED.match(value) and not _NUMBER.fullmatch(value.strip()):
        return "'" + value
    return value


# The apostrophe guard_csv_text adds; read_table removes it column-wise with the same pattern.
_UNGUARD = re.compile(r"^'(?=" + _GUARDED.pattern + ")")


def unguard_csv_text(value: str) -> str:
    """Undo guard_csv_text: drop the one apostrophe in front of a formula start."""
    return _UNGUARD.sub("", value, count=1)


# ---------------------------------------------------------------- reading


def _sniff_delimiter(line: str) -> str:
    """',' ';' or tab, whichever the header line uses most (European Excel writes ';')."""
    unquoted = re.sub(r'"[^"]*"', "", line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _decode(data: bytes, name: str) -> str:
    # Excel's "Unicode Text" export is UTF-16 with a byte-order mark.
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise ReadError(f"{name}: this is a binary file, not CSV text or an Excel workbook")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")  # what Excel on Windows writes for "CSV (Comma delimited)"
    except UnicodeDecodeError as e:
        raise ReadError(f"{name}: the text is neither UTF-8 nor Windows-1252 ({e.reason})") from None


def _read_csv_cells(path: Path) -> tuple[pd.DataFrame, str]:
    """Every cell of a CSV file as text, header row included, rows as in the file."""
    text = _decode(path.read_bytes(), path.name)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = _sniff_delimiter(first)
    try:
        cells = pd.read_csv(_io.StringIO(text), sep=delimiter, header=None, dtype=str, keep_default_na=False,
                            skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        cells = pd.DataFrame(dtype=str)
    except pd.errors.ParserError:
        # Rows longer than the first one: the csv module takes them, pandas' fast reader does not.
        try:
            rows = list(csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as e:
            raise ReadError(f"{path.name}: not a readable CSV file ({e})") from None
        cells = _cells(rows).fillna("")
    # Undo the formula guard of rotxl's own CSV output (see guard_csv_text).
    guarded = [j for j in cells.columns if cells[j].str.startswith("'").any()]
    cells[guarded] = cells[guarded].apply(lambda col: col.str.replace(_UNGUARD, "", regex=True))
    return cells, delimiter


def _pick_sheet(names: list[str], sheet: str | None) -> str:
    if sheet:
        for name in names:
            if name.strip().casefold() == sheet.casefold():
                return name
    return names[0]


def _excel_value(v: object) -> object:
    """A workbook cell as typed: blanks are None, whole numbers are ints (XLSX stores doubles)."""
    if v is None or (isinstance(v, str) and v == ""):
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _read_workbook_rows(path: Path, sheet: str | None) -> tuple[list[list[object]], str]:
    try:
        # Optional: calamine is fast but has no wheel on some platforms (e.g. Pyodide).
        from python_calamine import CalamineWorkbook
    except ImportError:
        return _read_workbook_rows_openpyxl(path, sheet)
    try:
        wb = CalamineWorkbook.from_path(str(path))
        name = _pick_sheet(list(wb.sheet_names), sheet)
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as e:  # noqa: BLE001 - calamine raises its own error types for zip/XML/format problems
        raise ReadError(f"{path.name}: not a readable Excel workbook ({e})") from None
    return [[_excel_value(v) for v in row] for row in rows], name


def _read_workbook_rows_openpyxl(path: Path, sheet: str | None) -> tuple[list[list[object]], str]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            name = _pick_sheet(wb.sheetnames, sheet)
            ws = wb[name]
            ws.reset_dimensions()  # some writers store a wrong sheet size; read what is there
            rows = [[_excel_value(v) for v in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    except Exception as e:  # noqa: BLE001 - zipfile.BadZipFile, KeyError, InvalidFileException, XML errors, ...
        raise ReadError(f"{path.name}: not a readable Excel workbook ({e})") from None
    return rows, name


def _cells(rows: list[list[object]]) -> pd.DataFrame:
    """Rows of unequal length as a rectangle of cells (short rows padded with blanks)."""
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([list(r) + [None] * (width - len(r)) for r in rows], columns=range(width), dtype=object)


def _frame(cells: pd.DataFrame, where: str, dtype: object) -> pd.DataFrame:
    """The first non-empty row is the header; fully empty rows hold no record and are skipped."""
    cells = cells.set_axis(range(cells.shape[1]), axis=1)
    blank = np.column_stack([parse_text(cells[j])[1] for j in cells.columns]) if cells.shape[1] else np.ones((len(cells), 0), bool)
    filled = ~blank.all(axis=1)
    cells, blank = cells[filled].reset_index(drop=True), blank[filled]
    if cells.empty:
        raise ReadError(f"{where}: is empty (no header row)")
    header, data = cells.iloc[0], cells.iloc[1:].reset_index(drop=True)
    # A column with no header and no values is leftover formatting, not a column.
    keep = [j for j in cells.columns if not blank[0, j] or not blank[1:, j].all()]
    names: list[str] = []
    for j in keep:
        name = "" if blank[0, j] else str(header[j]).strip()
        name = name or f"Column {j + 1}"
        base, n = name, 1
        while name in names:  # duplicate headers: "Amount", "Amount.1" as pandas names them
            name, n = f"{base}.{n}", n + 1
        names.append(name)
    body = data[keep].set_axis(names, axis=1)
    if dtype is object:
        return body.astype(object).where(~blank[1:][:, keep], None)
    return body.fillna("").astype(str)


def read_table(path: str | os.PathLike[str], sheet: str | None = None) -> pd.DataFrame:
    """A CSV or XLSX/XLSM file as a DataFrame, every value as typed.

    CSV: all values are text (``dtype=str``), the delimiter (',' ';' or tab) is sniffed from the
    header line, UTF-8 with a Windows-1252 fallback. XLSX: the sheet named ``sheet`` when the
    workbook has one, else the first sheet. Raises ReadError when the file cannot be read.
    ``result.attrs`` holds ``source`` (the file name) and ``delimiter`` (CSV only).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES + WORKBOOK_SUFFIXES:
        raise ReadError(
            f"{path.name}: cannot read '{suffix or 'no extension'}' files; "
            f"use CSV ({', '.join(TEXT_SUFFIXES)}) or Excel ({', '.join(WORKBOOK_SUFFIXES)})"
        )
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    attrs: dict[str, object] = {"source": path.name}
    try:
        if suffix in TEXT_SUFFIXES:
            cells, delimiter = _read_csv_cells(path)
            df = _frame(cells, path.name, str)
            attrs["delimiter"] = delimiter
        else:
            rows, name = _read_workbook_rows(path, sheet)
            df = _frame(_cells(rows), f"{path.name}, sheet {name!r}", object)
            attrs["sheet"] = name
    except OSError as e:
        raise ReadError(f"{path.name}: cannot be opened ({e.strerror or e})") from None
    df.attrs.update(attrs)
    return df


# ---------------------------------------------------------------- reading exports


_EU_NUMBER = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+")


def _decimal(v: object, decimal_comma: bool) -> Decimal | None:
    """A number or numeric text as an exact Decimal; None for anything else."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        # repr gives the shortest text of the float, so 33.3 / 100 is 0.333, not 0.33299999...
        return Decimal(repr(float(v))) if math.isfinite(v) else None
    if isinstance(v, str):
        t = v.strip()
        if decimal_comma and _EU_NUMBER.fullmatch(t):
            t = t.replace(".", "").replace(",", ".")
        if _NUMBER.fullmatch(t) and not t.endswith("%"):
            return Decimal(t)
    return None


def _convert(s: pd.Series, convert: Callable[[Decimal], Decimal], decimal_comma: bool) -> pd.Series:
    def one(v: object) -> object:
        d = _decimal(v, decimal_comma)
        return v if d is None else float(convert(d))

    return pd.Series([one(v) for v in s], index=s.index, dtype=object, name=s.name)


def _read_export(path: str | os.PathLike[str], columns: tuple[Column, ...], sheet: str) -> pd.DataFrame:
    df = read_table(path, sheet)
    source = str(df.attrs["source"])
    mapping = schema.resolve(list(df.columns), columns, source=source)
    # European Excel writes ';' between fields and ',' as the decimal mark ("1.234,56").
    decimal_comma = df.attrs.get("delimiter") == ";"
    kinds = {c.header: c.kind for c in columns}
    for header, found in mapping.items():
        kind = kinds[header]
        if kind == "fraction" and schema.is_percent_header(found):
            df[found] = _convert(df[found], lambda d: d / 100, decimal_comma)
        elif kind in ("number", "fraction", "whole") and decimal_comma:
            df[found] = _convert(df[found], lambda d: d, True)
    attrs = dict(df.attrs)
    df = df.rename(columns={found: header for header, found in mapping.items()})
    df.attrs = attrs
    return df


def read_accounts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An accounts export (rotxl, Salesforce, HubSpot, ...) with its columns named as in SPEC §1.

    Matched columns are renamed to the spec's headers; other columns are kept in place. A
    fraction column whose header carries "%" ("Margin %") holds percentages: 40 becomes 0.4.
    Raises ReadError, or schema.MissingColumnsError naming the file, the missing and the found
    columns.
    """
    return _read_export(path, ACCOUNT_COLUMNS, "Accounts")


_CRM_STATUS = {"closedwon": "Won", "closedlost": "Lost"}


def read_pipeline(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An opportunities export with its columns named as in SPEC §2 (see read_accounts).

    "Probability (%)" from Salesforce reads 60 as 0.6. An export with no Status column gets
    one from its Stage: "Closed Won"/"closedwon" is Won, "Closed Lost"/"closedlost" is Lost,
    anything else blank (Open). An existing Status column is left as it is.
    """
    df = _read_export(path, PIPELINE_COLUMNS, "Pipeline")
    if "Status" not in df.columns and "Stage" in df.columns:
        keys = [schema.normalise(v) if isinstance(v, str) else "" for v in df["Stage"]]
        df["Status"] = pd.Series([_CRM_STATUS.get(k, "") for k in keys], index=df.index, dtype=object)
    return df


# ---------------------------------------------------------------- writing


def check_output(path: str | os.PathLike[str]) -> Path:
    """The output path, or OutputError when rotxl cannot write that kind of file."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(
            f"{path.name}: cannot write '{path.suffix or 'no extension'}' files; "
            f"name the output .csv or .xlsx"
        )
    return path


def _is_missing(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def _plain(v: object) -> object:
    """A cell value as openpyxl takes it: Python scalars, None for blanks."""
    if _is_missing(v):
        return None
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        v = v.replace(tzinfo=None)  # Excel has no time zones; keep the wall-clock time
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date()
    if isinstance(v, float) and math.isinf(v):
        return str(v)  # Excel has no infinity
    if not isinstance(v, (str, int, float, Decimal, dt.date, dt.time, dt.timedelta)):
        return str(v)
    return v


def typed_values(s: pd.Series) -> list[object]:
    """The column's cells: in numeric and date spec columns, what the engine reads as a number
    or date becomes one (so Excel can sum and sort it); anything else stays as typed."""
    # "" is how a CSV says blank; in a workbook that is an empty cell, not an empty text.
    values = [None if isinstance(v, str) and v == "" else _plain(v) for v in s]
    if s.name in NUMERIC_COLUMNS:
        p = parse_numbers(s)
        ok = ~p.blank & ~p.bad
        values = [float(p.values[i]) if ok[i] else v for i, v in enumerate(values)]
    elif s.name in DATE_COLUMNS:
        p = parse_dates(s)
        ok = ~p.blank & ~p.bad
        values = [p.values[i].item() if ok[i] else v for i, v in enumerate(values)]
    return values


def _write_xlsx(df: pd.DataFrame, path: Path, sheet: str) -> None:
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    headers = [str(c) for c in df.columns]
    columns = [typed_values(df.iloc[:, j].rename(headers[j])) for j in range(len(headers))]
    bold = Font(bold=True)
    for j, header in enumerate(headers, start=1):
        widest = len(header)
        fmt = NUMBER_FORMATS.get(header)
        for i, v in enumerate([header, *columns[j - 1]], start=1):
            if v is None:
                continue
            if isinstance(v, str):
                # XML cannot hold control characters other than tab, CR and LF.
                v = ILLEGAL_CHARACTERS_RE.sub("", v)
            cell = ws.cell(row=i, column=j, value=v)
            if isinstance(v, str):
                # openpyxl makes any text starting with "=" a formula; CRM text is data.
                cell.data_type = "s"
                widest = max(widest, min(len(v), 60))
            elif isinstance(v, (dt.date, dt.datetime)):
                cell.number_format = DATE_FORMAT if isinstance(v, dt.date) and not isinstance(v, dt.datetime) else "yyyy-mm-dd hh:mm"
                widest = max(widest, 10)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                if fmt and fmt != DATE_FORMAT:
                    cell.number_format = fmt
                widest = max(widest, 12)
            if i == 1:
                cell.font = bold
        ws.column_dimensions[get_column_letter(j)].width = min(widest, 60) + 2
    ws.freeze_panes = "A2"
    if headers:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(df) + 1}"
    wb.save(path)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    def guard(v: object) -> object:
        v = _plain(v)
        return guard_csv_text(v) if isinstance(v, str) else v

    out = pd.DataFrame(
        {j: [guard(v) for v in df.iloc[:, j]] for j in range(df.shape[1])}, index=df.index, dtype=object
    )
    out.columns = [guard_csv_text(str(c)) for c in df.columns]
    # utf-8-sig: the byte-order mark is how Excel knows the CSV is UTF-8 (names like "Zoë").
    out.to_csv(path, index=False, encoding="utf-8-sig")


def write_table(df: pd.DataFrame, path: str | os.PathLike[str], sheet: str = "Sheet1") -> Path:
    """Write ``df`` as CSV or XLSX (by the extension), atomically: the target is replaced only
    once the whole file is written, and left untouched when anything fails.

    Text is never written as a formula: XLSX text cells are string cells; CSV text that Excel
    would take for a formula gets a leading apostrophe, which read_table removes again.
    """
    path = check_output(path)
    if path.suffix.lower() == ".csv":
        return atomic_write(path, lambda tmp: _write_csv(df, tmp))
    return atomic_write(path, lambda tmp: _write_xlsx(df, tmp, sheet))


__all__ = [
    "OutputError",
    "ReadError",
    "check_output",
    "guard_csv_text",
    "read_accounts",
    "read_pipeline",
    "read_table",
    "typed_values",
    "unguard_csv_text",
    "write_table",
]
