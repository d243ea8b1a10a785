"""Reading CRM exports and writing results: CSV and XLSX files in, CSV and XLSX files out.

Every function works on its own from a notebook::

    from rotxl.data.io import read_accounts, write_table
    import rotxl
    write_table(rotxl.classify_accounts(read_accounts("accounts.csv")), "accounts.xlsx")

read_table gives every value as typed. read_accounts and read_pipeline read an export as the CRM
or Excel wrote it (SPEC §7.1): the header found below title lines, report lines skipped, numbers
and dates in the spec's number and date columns read as a spreadsheet reads them; what is not
a number or date ("12k") stays as typed, so the engine gives the row an issue. IDs and text are
never converted ("007" stays "007").
"""

from __future__ import annotations

import csv
import datetime as dt
import io as _io
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ..rules import schema, values
from ..rules.engine import parse_dates, parse_numbers
from ..rules.schema import ACCOUNT_COLUMNS, PIPELINE_COLUMNS, Column
from ..rules.values import printable
from .files import atomic_write

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

HEADER_ROWS = 30  # the header of an export is looked for among its first rows (SPEC §7.1)


def _sniff_delimiter(lines: list[str]) -> str:
    """',' ';' or tab, whichever the first lines use most (European Excel writes ';')."""
    unquoted = re.sub(r'"[^"]*"', "", "\n".join(lines))
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
    """Every cell of a CSV file as text (title lines, header and footers included), blank lines skipped."""
    text = _decode(path.read_bytes(), path.name)
    head = [line for line in text[:200_000].splitlines()[:HEADER_ROWS + 5] if line.strip()]
    delimiter = _sniff_delimiter(head)
    # Title lines above the header are shorter than the table: name every column up front so
    # pandas' C reader takes rows of any length up to the widest of the first rows.
    try:
        width = max((len(r) for r in csv.reader(head, delimiter=delimiter)), default=0)
    except csv.Error:
        width = 0
    try:
        cells = pd.read_csv(_io.StringIO(text), sep=delimiter, header=None, names=range(width) if width else None,
                            dtype=str, keep_default_na=False, skip_blank_lines=True, index_col=False)
    except pd.errors.EmptyDataError:
        cells = pd.DataFrame(dtype=str)
    except pd.errors.ParserError:
        # A row wider than the first ones: the csv module takes it, pandas' fast reader does not.
        try:
            rows = list(csv.reader(_io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as e:
            raise ReadError(f"{path.name}: not a readable CSV file ({e})") from None
        cells = _cells([r for r in rows if any(c.strip() for c in r)]).fillna("")
    # Undo the formula guard of rotxl's own CSV output (see guard_csv_text), only where the text
    # holds a guarded cell at all: one scan of the text instead of one per cell.
    # A pattern that starts with a literal apostrophe lets the regex engine skip ahead quickly.
    guarded = any(m.start() == 0 or text[m.start() - 1] in delimiter + '"\n\r'
                  for m in re.finditer("'" + _GUARDED.pattern, text))
    if guarded:
        for j in cells.columns:
            col = cells[j]
            if col.str.startswith("'").any():
                cells[j] = col.str.replace(_UNGUARD, "", regex=True)
    return cells, delimiter


# ---------------------------------------------------------------- workbooks: bounded before read

# An xlsx is checked before any reader opens it: a sheet that declares or uses a huge area, or a
# part that inflates far beyond its size, would make the reader allocate until the process dies.
XLSX_MAX_ROWS = 1_048_576  # Excel's grid
XLSX_MAX_COLUMNS = 16_384
XLSX_MAX_CELLS = 5_000_000  # rows × columns of the area a sheet declares or uses, counted from A1
# Uncompressed size of the whole workbook, and of one part (a sheet, the shared strings). rotxl's
# own Accounts sheet repeats each derived column's formula on every row, about 13 KB a row, so
# an owner of 16,000 accounts already has a 210 MB sheet; what a reader builds is bounded by
# XLSX_MAX_CELLS, and bombs by XLSX_MAX_RATIO.
XLSX_MAX_BYTES = 2048 * 2**20
XLSX_MAX_PART_BYTES = XLSX_MAX_BYTES
XLSX_MAX_RATIO = 500  # uncompressed ÷ compressed size of a part over 1 MB (real sheets: 5–50)
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([^"]*)"')


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _area(ref: str) -> tuple[int, int]:
    """Rows and columns of a reference's area counted from A1: "B2:D10" → (10, 4)."""
    last = ref.split(":")[-1].replace("$", "")
    m = re.fullmatch(r"([A-Za-z]{0,4})(\d{0,8})", last)
    if not m:
        return 0, 0
    return int(m[2] or 0), _column_number(m[1])


def check_xlsx(path: str | os.PathLike[str]) -> None:
    """Refuse (ReadError) a workbook that is not a readable zip or is not bounded: a part larger
    than XLSX_MAX_PART_BYTES uncompressed or compressed more than XLSX_MAX_RATIO times, or a sheet
    that declares or uses more than XLSX_MAX_CELLS cells or more rows or columns than Excel has.

    Reads only the zip directory and streams each sheet once (its <dimension> and the largest
    cell reference), so it is cheap next to reading the data.
    """
    import zipfile

    path = Path(path)
    name = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            if total > XLSX_MAX_BYTES:
                raise ReadError(f"{name}: refused: the workbook inflates to {total / 2**20:,.0f} MB "
                                f"(the limit is {XLSX_MAX_BYTES / 2**20:,.0f} MB)")
            for info in infos:
                if info.file_size > XLSX_MAX_PART_BYTES:
                    raise ReadError(f"{name}: refused: {info.filename} inflates to {info.file_size / 2**20:,.0f} MB "
                                    f"(the limit is {XLSX_MAX_PART_BYTES / 2**20:,.0f} MB per part)")
                if info.file_size > 2**20 and info.file_size > XLSX_MAX_RATIO * max(info.compress_size, 1):
                    raise ReadError(f"{name}: refused: {info.filename} is compressed "
                                    f"{info.file_size // max(info.compress_size, 1):,} times; this is not a spreadsheet")
            for info in infos:
                if re.fullmatch(r"xl/worksheets/[^/]+\.xml", info.filename):
                    _check_sheet(zf, info, name)
    except zipfile.BadZipFile as e:
        raise ReadError(f"{name}: not a readable Excel workbook ({e})") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as e:
        if isinstance(e, ReadError):
            raise
        raise ReadError(f"{name}: not a readable Excel workbook ({e})") from None
    except Exception as e:  # noqa: BLE001 - zlib.error and the like on a damaged stream
        raise ReadError(f"{name}: not a readable Excel workbook ({e})") from None


def _refs_area(data: bytes) -> tuple[int, int]:
    """The largest row and column of the cell references (r="XFD1048576") in a piece of sheet XML.

    Vectorised over the bytes: a regex over hundreds of thousands of cells makes an object per
    cell; this reads the letters and digits after each ' r="' in place.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    if a.size < 24:
        return 0, 0
    r = np.flatnonzero(a[1:-20] == 114) + 1  # each "r", then the few that read ' r="'
    start = r[(a[r - 1] == 32) & (a[r + 1] == 61) & (a[r + 2] == 34)] + 3
    if not start.size:
        return 0, 0
    # References closer than 20 bytes to the end are read with the next chunk (see _check_sheet).
    at = lambda k: a[start + k]  # noqa: E731
    n_letters = np.zeros(start.size, np.int64)
    cols = np.zeros(start.size, np.int64)
    going = np.ones(start.size, bool)
    for k in range(5):
        up = at(k) & 0xDF
        going &= (up >= 65) & (up <= 90)
        if not going.any():
            break
        cols = np.where(going, cols * 26 + (up.astype(np.int64) - 64), cols)
        n_letters += going
    if (n_letters > 3).any():
        return 0, XLSX_MAX_COLUMNS + 1
    rows = np.zeros(start.size, np.int64)
    going = np.ones(start.size, bool)
    for k in range(9):
        d = a[start + n_letters + k].astype(np.int64) - 48
        going &= (d >= 0) & (d <= 9)
        if not going.any():
            break
        rows = np.where(going, rows * 10 + d, rows)
    if (going & (a[start + n_letters + 9] >= 48) & (a[start + n_letters + 9] <= 57)).any():
        return XLSX_MAX_ROWS + 1, int(cols.max())
    return int(rows.max()), int(cols.max())


def _check_sheet(zf: object, info: object, name: str) -> None:
    where = f"{name}: refused: {info.filename}"  # type: ignore[attr-defined]
    rows = cols = size = 0
    tail = b""
    declared = None
    with zf.open(info) as f:  # type: ignore[attr-defined]
        while chunk := f.read(8 * 2**20):
            size += len(chunk)
            if size > XLSX_MAX_PART_BYTES:
                raise ReadError(f"{where} inflates beyond {XLSX_MAX_PART_BYTES / 2**20:,.0f} MB")
            data = tail + chunk
            if declared is None and (m := _DIMENSION.search(data)):
                declared = m[1].decode("ascii", "replace")
                r, c = _area(declared)
                if r > XLSX_MAX_ROWS or c > XLSX_MAX_COLUMNS or r * c > XLSX_MAX_CELLS:
                    raise ReadError(f"{where} declares the area {declared} ({r:,} rows × {c:,} columns); "
                                    f"rotxl reads sheets of up to {XLSX_MAX_CELLS:,} cells")
            r, c = _refs_area(data)
            rows, cols = max(rows, r), max(cols, c)
            tail = data[-32:]  # a reference cut in two by the chunk is read whole in the next one
    r, c = _refs_area(tail + bytes(32))  # and the last few bytes
    rows, cols = max(rows, r), max(cols, c)
    if rows > XLSX_MAX_ROWS or cols > XLSX_MAX_COLUMNS or rows * max(cols, 1) > XLSX_MAX_CELLS:
        raise ReadError(f"{where} uses cells up to row {rows:,}, column {cols:,}; "
                        f"rotxl reads sheets of up to {XLSX_MAX_CELLS:,} cells")


def _excel_value(v: object) -> object:
    """A workbook cell as typed: blanks are None, whole numbers are ints (XLSX stores doubles)."""
    if v is None or (isinstance(v, str) and v == ""):
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _pick_sheet(names: list[str], sheet: str | None, source: str) -> str:
    if not names:
        raise ReadError(f"{source}: the workbook has no sheets")
    if not sheet:
        return names[0]
    for name in names:
        if name.strip().casefold() == sheet.strip().casefold():
            return name
    raise ReadError(f"{source}: no sheet named {sheet!r}; its sheets are " + ", ".join(repr(n) for n in names))


class _Workbook:
    """A workbook opened once (call check_xlsx first): its sheet names, and one sheet's cells."""

    def __init__(self, path: Path):
        self.path = path
        try:
            # Optional: calamine is fast but has no wheel on some platforms (e.g. Pyodide).
            from python_calamine import CalamineWorkbook
        except ImportError:
            self.calamine = None
            self.names = self._openpyxl_names()
            return
        try:
            self.calamine = CalamineWorkbook.from_path(str(path))
            self.names = list(self.calamine.sheet_names)
        except Exception as e:  # noqa: BLE001 - calamine raises its own error types for zip/XML/format problems
            raise ReadError(f"{path.name}: not a readable Excel workbook ({e})") from None

    def _openpyxl_names(self) -> list[str]:
        import openpyxl

        try:
            wb = openpyxl.load_workbook(self.path, read_only=True)
            try:
                return list(wb.sheetnames)
            finally:
                wb.close()
        except Exception as e:  # noqa: BLE001 - zip, XML and format errors of a damaged file
            raise ReadError(f"{self.path.name}: not a readable Excel workbook ({e})") from None

    def read(self, name: str) -> pd.DataFrame:
        """One sheet's cells, header row included, as a frame of objects."""
        if self.calamine is None:
            return _read_sheet_openpyxl(self.path, name)
        try:
            rows = self.calamine.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as e:  # noqa: BLE001 - calamine raises its own error types for zip/XML/format problems
            raise ReadError(f"{self.path.name}: not a readable Excel workbook ({e})") from None
        return _workbook_cells(rows)


def _read_sheet_openpyxl(path: Path, name: str) -> pd.DataFrame:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb[name]
            ws.reset_dimensions()  # some writers store a wrong sheet size; read what is there
            rows = [list(row) for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    except Exception as e:  # noqa: BLE001 - zipfile.BadZipFile, KeyError, InvalidFileException, XML errors, ...
        raise ReadError(f"{path.name}: not a readable Excel workbook ({e})") from None
    return _workbook_cells(rows)


def _workbook_cells(rows: list[list[object]]) -> pd.DataFrame:
    """A sheet's cells as calamine gives them, empty cells None."""
    cells = _cells(rows)
    for j in cells.columns:
        col = cells[j].to_numpy(dtype=object)
        empty = col == ""
        if np.any(empty):
            col = col.copy()
            col[empty] = None
            cells[j] = pd.Series(col, dtype=object)
    return cells


def _whole_to_int(col: pd.Series) -> pd.Series:
    """In a column holding text and numbers (IDs), whole numbers as ints: XLSX stores doubles, and
    ID 1001 is "1001", not "1001.0"."""
    arr = col.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty", "boolean", "integer"):
        return col
    is_float = np.fromiter((type(v) is float for v in arr), bool, len(arr))
    if not is_float.any():
        return col
    idx = np.flatnonzero(is_float)
    f = arr[idx].astype("float64")
    whole = (f == np.floor(f)) & (np.abs(f) < 2**53)
    arr = arr.copy()
    arr[idx[whole]] = f[whole].astype(np.int64).tolist()
    return pd.Series(arr, index=col.index, name=col.name, dtype=object)


def _cells(rows: list[list[object]]) -> pd.DataFrame:
    """Rows of unequal length as a rectangle of cells (short rows padded with blanks)."""
    width = max(map(len, rows), default=0)
    if min(map(len, rows), default=0) == width:
        return pd.DataFrame(rows, columns=range(width), dtype=object)
    return pd.DataFrame([list(r) + [None] * (width - len(r)) for r in rows], columns=range(width), dtype=object)


def _blank(col: pd.Series) -> np.ndarray:
    """Blank cells of one column: None, NaN, "" or only spaces."""
    arr = col.to_numpy(dtype=object)
    if isinstance(col.dtype, pd.StringDtype):
        try:  # text read from a CSV has no missing cells: skip looking for them
            low = np.flatnonzero(arr < "!")
            blank = np.zeros(len(arr), dtype=bool)
            if low.size:
                blank[low] = pd.Series(arr[low], dtype=object).str.strip().to_numpy(dtype=object) == ""
            return blank
        except TypeError:
            pass
    blank = pd.isna(arr)
    idx = np.flatnonzero(~blank)
    sub = arr[idx]
    if isinstance(col.dtype, pd.StringDtype) or pd.api.types.infer_dtype(sub, skipna=False) == "string":
        # Text only: a blank or all-space text sorts before "!"; strip just those.
        low = idx[sub < "!"]
    else:
        low = idx[np.fromiter((type(v) is str for v in sub), bool, len(sub))]
    if low.size:
        blank[low] = pd.Series(arr[low], dtype=object).str.strip().to_numpy(dtype=object) == ""
    return blank


def _row_blank(cells: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Blank mask (rows × columns) of the given rows (all when None)."""
    sub = cells if rows is None else cells.iloc[rows]
    if not sub.shape[1]:
        return np.ones((len(sub), 0), dtype=bool)
    return np.column_stack([_blank(sub[j]) for j in sub.columns])


def _frame(cells: pd.DataFrame, where: str, dtype: object) -> pd.DataFrame:
    """The first non-empty row is the header; fully empty rows hold no record and are skipped."""
    cells = cells.set_axis(range(cells.shape[1]), axis=1)
    blank = _row_blank(cells)
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
        body = body.astype(object).where(~blank[1:][:, keep], None)
        for name in body.columns:
            body[name] = _whole_to_int(body[name])
        return body
    return body.fillna("").astype(str)


def _check_path(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES + WORKBOOK_SUFFIXES:
        raise ReadError(
            f"{path.name}: cannot read '{suffix or 'no extension'}' files; "
            f"use CSV ({', '.join(TEXT_SUFFIXES)}) or Excel ({', '.join(WORKBOOK_SUFFIXES)})"
        )
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    return suffix


def read_table(path: str | os.PathLike[str], sheet: str | None = None) -> pd.DataFrame:
    """A CSV or XLSX/XLSM file as a DataFrame, every value as typed; the first non-empty row is
    the header (read_accounts and read_pipeline look for the header of an export instead).

    CSV: all values are text (``dtype=str``), the delimiter (',' ';' or tab) is sniffed from the
    first lines, UTF-8 with a Windows-1252 fallback. XLSX: the sheet named ``sheet`` when the
    workbook has one, else the first sheet; the workbook is checked first (check_xlsx). Raises
    ReadError when the file cannot be read. ``result.attrs`` holds ``source`` (the file name)
    and ``delimiter`` (CSV) or ``sheet`` (XLSX).
    """
    path = Path(path)
    suffix = _check_path(path)
    attrs: dict[str, object] = {"source": path.name}
    try:
        if suffix in TEXT_SUFFIXES:
            cells, delimiter = _read_csv_cells(path)
            df = _frame(cells, path.name, str)
            attrs["delimiter"] = delimiter
        else:
            check_xlsx(path)
            book = _Workbook(path)
            names = book.names
            if not names:
                raise ReadError(f"{path.name}: the workbook has no sheets")
            # A sheet that is not there: the first one (read_export says so instead).
            name = next((n for n in names if sheet and n.strip().casefold() == sheet.strip().casefold()), names[0])
            df = _frame(book.read(name), f"{path.name}, sheet {name!r}", object)
            attrs["sheet"] = name
    except OSError as e:
        raise ReadError(f"{path.name}: cannot be opened ({e.strerror or e})") from None
    df.attrs.update(attrs)
    return df


# ---------------------------------------------------------------- reading exports (SPEC §7.1)


# A report line's first filled cell: "Total", "Grand Totals (40 records)", "Subtotal", "Count".
_TOTAL = re.compile(r"\b(?:grand\s+totals?|sub-?totals?|totals?|count)\b", re.IGNORECASE)
_NOTICE = re.compile(r"^\s*(?:copyright\b|\(c\)|©|confidential information\b|generated by\b)", re.IGNORECASE)


@dataclass
class ReadSummary:
    """What reading one export did (SPEC §7.1 "Summary"); ``render_summary`` writes it out."""

    source: str
    sheet: str | None = None
    rows: int = 0
    header_row: int = 1  # the header's row among the file's non-blank rows, 1-based
    above: list[str] = field(default_factory=list)  # title and filter lines above the header
    skipped: list[str] = field(default_factory=list)  # report lines below it (totals, notices)
    mapping: dict[str, str] = field(default_factory=dict)  # export header → field (matched ones)
    renamed: dict[str, str] = field(default_factory=dict)  # export header → "<name> (CRM)"
    unmatched: list[str] = field(default_factory=list)  # carried along under their own name
    absent: list[str] = field(default_factory=list)  # fields the export does not have
    numbers: list[str] = field(default_factory=list)  # how ambiguous number columns were read
    dates: list[str] = field(default_factory=list)  # how ambiguous date columns were read
    warnings: list[str] = field(default_factory=list)  # mixed currencies, mixed decimal marks
    issues: list[tuple[str, int]] = field(default_factory=list)  # filled in by the caller (issue_counts)


def _filled(v: object) -> bool:
    return not (v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()))


def _joined(values: list[object]) -> str:
    """The filled cells of a line, as one text."""
    def text(v: object) -> str:
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            return str(int(v))  # a total read as a number shows as written: 2701, not 2701.0
        return printable(v).strip()

    return " | ".join(text(v) for v in values if _filled(v))


def render_summary(summary: ReadSummary) -> str:
    """The summary as lines of plain text for a terminal (control characters removed)."""
    s = summary
    lines = [f"Read {s.rows:,} rows from {s.source}."]
    if s.sheet:
        lines.append(f"  Sheet: {s.sheet}.")
    if s.above:
        row = f" (row {s.header_row})" if s.sheet else ""
        lines.append(f"  Skipped above the header{row}: " + "; ".join(s.above))
    if s.skipped:
        lines.append(f"  Skipped {len(s.skipped)} report line(s): " + "; ".join(s.skipped))
    if s.mapping:
        lines.append("  Columns: " + ", ".join(f"{h} → {f}" if h != f else h for h, f in s.mapping.items()) + ".")
    if s.renamed:
        lines.append("  Kept under a new name (the table has its own column of that name): "
                     + ", ".join(f"{h} → {n}" for h, n in s.renamed.items()) + ".")
    if s.unmatched:
        lines.append("  Carried along unmatched: " + ", ".join(s.unmatched) + ".")
    if s.absent:
        lines.append("  Not in the export: " + ", ".join(s.absent) + ".")
    lines += [f"  {t}" for t in (*s.numbers, *s.dates, *s.warnings)]
    if s.issues:
        lines.append("  Issues, most frequent first:")
        lines += [f"    {n:,} × {t}" for t, n in s.issues]
    return "\n".join(printable(line) if not line.startswith("  ") else "  " + printable(line[2:]) for line in lines)


def issue_counts(result: pd.DataFrame) -> list[tuple[str, int]]:
    """Rows' issues counted by issue text, most frequent first ("Duplicate Account ID ACC-7" and
    "... ACC-9" count as one kind)."""
    if "Issues" not in result.columns:
        return []
    issues = result["Issues"].fillna("").astype(str)
    flagged = issues[issues != ""]
    parts = flagged.str.split("; ").explode()
    kinds = parts.str.replace(r"^(Duplicate .+ ID) .*$", r"\1", regex=True)
    counts = kinds.value_counts(sort=False)
    return sorted(((str(k), int(n)) for k, n in counts.items()), key=lambda kv: (-kv[1], kv[0]))


def _table_headers(columns: tuple[Column, ...]) -> set[str]:
    """Normalised headers of the workbook table an export fills (its inputs, derived columns and
    layout columns, SPEC §5): an export column of such a name that is not that field is renamed."""
    table = "Accounts" if any(c.header == "Account ID" and c.required for c in columns) else "Pipeline"
    names = [c.header for c in columns] + list(schema.TABLE_HEADERS.get(table, ()))
    return {schema.normalise(h) for h in names}


def _find_header(cells: pd.DataFrame, columns: tuple[Column, ...], required: set[str],
                 source: str) -> tuple[int, dict[str, object], list[str]]:
    """The header row (among the first HEADER_ROWS non-blank rows) holding every required column."""
    best: tuple[int, int, list[str]] | None = None
    for i in range(min(HEADER_ROWS, len(cells))):
        names = [("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()) for v in cells.iloc[i]]
        if not any(names):
            continue
        mapping = schema.match(names, columns)
        if all(h in mapping for h in required):
            return i, mapping, names
        if best is None or len(mapping) > best[1]:
            best = (i, len(mapping), names)
    found = [n for n in (best[2] if best else []) if n]
    missing = [c.header for c in columns if c.header in required and c.header not in schema.match(found, columns)]
    raise schema.MissingColumnsError(missing, found, source)


def read_export(
    path: str | os.PathLike[str],
    columns: tuple[Column, ...],
    sheet: str | None = None,
    require: tuple[str, ...] | None = None,
    extra: tuple[Column, ...] = (),
) -> pd.DataFrame:
    """An export with its columns named as in ``columns`` (SPEC §7.1), values typed.

    The header is the first of the first 30 rows holding every required column (``require``,
    default the columns marked required); title lines above it and report lines below it are
    skipped. Matched columns are renamed to the spec's headers; ``extra`` columns (Company
    Revenue) are matched and typed too; an export column named like one of the table's own
    headers without being that field, or repeating a header, is kept as "<name> (CRM)"; other
    columns are carried along as they are. Number and date columns of the spec are read as a
    spreadsheet reads them (floats, dates); what is not a number or date stays as typed, so
    the engine gives the row an issue. ID and text columns keep their text exactly.

    XLSX: the sheet named ``sheet``, else the first sheet whose header matches. ``.attrs``:
    ``source``, ``delimiter`` or ``sheet``, and ``summary`` (a ReadSummary).
    Raises ReadError, or schema.MissingColumnsError naming the file, the missing and found columns.
    """
    path = Path(path)
    suffix = _check_path(path)
    required = set(require) if require is not None else {c.header for c in columns if c.required}
    specs = (*columns, *extra)
    try:
        if suffix in TEXT_SUFFIXES:
            sheet_name = None
            fast = _read_csv_typed(path, specs, required)
            if fast is not None:
                split, h, mapping, names, delimiter = fast
                try:
                    return _export_frame(None, h, mapping, names, columns, extra, required,
                                         ReadSummary(path.name), delimiter, split)
                except _Reread:
                    pass
            cells, delimiter = _read_csv_cells(path)
            h, mapping, names = _find_header(_drop_blank_head(cells), specs, required, path.name)
        else:
            check_xlsx(path)
            delimiter = None
            book = _Workbook(path)
            names_ = book.names
            candidates = [_pick_sheet(names_, sheet, path.name)] if sheet else names_
            first_error: schema.MissingColumnsError | None = None
            for sheet_name in candidates:
                cells = book.read(sheet_name)
                try:
                    h, mapping, names = _find_header(_drop_blank_head(cells), specs, required,
                                                     f"{path.name}, sheet {sheet_name!r}")
                    break
                except schema.MissingColumnsError as e:
                    first_error = first_error or e
            else:
                if first_error is None:
                    raise ReadError(f"{path.name}: the workbook has no sheets")
                raise first_error
    except OSError as e:
        raise ReadError(f"{path.name}: cannot be opened ({e.strerror or e})") from None
    return _export_frame(cells, h, mapping, names, columns, extra, required,
                         ReadSummary(path.name, sheet_name), delimiter)


class _Reread(Exception):
    """The typed CSV read cannot settle a column (its text is needed): read the file as text."""


_PLAIN = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)\s*")


def _read_csv_typed(path: Path, specs: tuple[Column, ...], required: set[str]) -> tuple | None:
    """The fast way to read a plain CSV export: the header found in the first lines, then pandas'
    C reader parsing the number columns whose first values are plain decimals ("1234.5") straight
    to floats. None (read it as text instead) when the file is not that plain: UTF-16, quoted line
    breaks near the top, ';'-separated (its decimal mark may be a comma), or no such column.
    A value further down that is not a plain decimal makes pandas stop, and the text read follows.
    """
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        return None
    head = data[: 2**18]
    if len(data) > len(head):
        head = head[: head.rfind(b"\n") + 1]
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    lines = text.splitlines()
    if any(line.count('"') % 2 for line in lines):
        return None
    numbered = [(i, line) for i, line in enumerate(lines) if line.strip()]
    delimiter = _sniff_delimiter([line for _, line in numbered[: HEADER_ROWS + 5]])
    if delimiter == ";" or not numbered:
        return None
    rows = list(csv.reader([line for _, line in numbered], delimiter=delimiter))
    filled = [k for k, r in enumerate(rows) if any(c.strip() for c in r)]
    top = _cells([rows[k] for k in filled[:HEADER_ROWS]]).fillna("")
    h, mapping, names = _find_header(top, specs, required, path.name)
    at = filled[h]
    kinds = {c.header: c.kind for c in specs}
    peek = rows[at + 1: at + 1001]
    floats = []
    for header, found in mapping.items():
        if kinds[header] in ("number", "whole", "fraction") and not (
                kinds[header] == "fraction" and schema.is_percent_header(found)):
            j = names.index(str(found))
            if all(j >= len(r) or not r[j] or _PLAIN.fullmatch(r[j]) for r in peek):
                floats.append(j)
    if not floats:
        return None
    width = max(len(r) for r in rows)
    try:
        body = pd.read_csv(path, sep=delimiter, header=None, names=range(width), skiprows=numbered[at][0] + 1,
                           dtype={j: ("float64" if j in floats else str) for j in range(width)}, encoding=encoding,
                           keep_default_na=False, na_values={j: [""] for j in floats}, skip_blank_lines=True,
                           index_col=False)
    except (ValueError, UnicodeDecodeError):  # a value that is not a plain decimal; a row wider than the top
        return None
    if data.find(b"'") >= 0 and re.search(b"'" + _GUARDED.pattern.encode(), data):
        for j in body.columns:
            if j not in floats and body[j].str.startswith("'").any():
                body[j] = body[j].str.replace(_UNGUARD, "", regex=True)
    above = [rows[k] for k in filled[:h]]
    return (above, body, numbered[at][0] + 1), h, mapping, names, delimiter


def _drop_blank_head(cells: pd.DataFrame) -> pd.DataFrame:
    """The first rows, blank rows left out (their index is kept, so the header row is found in ``cells``)."""
    head = cells.iloc[: HEADER_ROWS * 4]
    filled = ~_row_blank(head).all(axis=1) if len(head) else np.zeros(0, bool)
    return head[filled].iloc[:HEADER_ROWS]


def _export_frame(cells: pd.DataFrame | None, h: int, mapping: dict[str, object], names: list[str],
                  columns: tuple[Column, ...], extra: tuple[Column, ...], required: set[str],
                  summary: ReadSummary, delimiter: str | None,
                  split: tuple[list[list[object]], pd.DataFrame, int] | None = None) -> pd.DataFrame:
    """The export below its header ``h`` as the spec's frame; ``split`` (lines above the header,
    the rows below it, the header's row number) when the reader already split the file."""
    if split is None:
        head = _drop_blank_head(cells)
        at = int(head.index[h])  # the header's position in ``cells``
        split = ([list(row) for row in head.iloc[:h].itertuples(index=False)], cells.iloc[at + 1:], at + 1)
    above, data, summary.header_row = split
    summary.above = [_joined(list(row)) for row in above]
    kinds = {c.header: c.kind for c in (*columns, *extra)}
    id_field = next((c.header for c in columns if c.kind == "id" and c.header in required), None)
    n_cols = len(names)
    # Report lines and blank rows: only rows whose ID (or, with no ID column, every required
    # column) is blank can be one, so the rest of the file is looked at on those rows only.
    key_cols = [names.index(str(mapping[id_field]))] if id_field else [
        names.index(str(mapping[f])) for f in required if f in mapping]
    key_blank = np.logical_and.reduce([_blank(data.iloc[:, j]) for j in key_cols]) if key_cols else np.ones(len(data), bool)
    candidates = np.flatnonzero(key_blank)
    drop = np.zeros(len(data), dtype=bool)
    if candidates.size:
        sub = data.iloc[candidates]
        blank = _row_blank(sub)
        filled = (~blank).sum(axis=1)
        for k, i in enumerate(candidates):
            if filled[k] == 0:
                drop[i] = True  # an empty row: no record
                continue
            first = next(sub.iat[k, j] for j in range(sub.shape[1]) if not blank[k, j])
            if filled[k] <= 1 or _TOTAL.search(str(first)):
                drop[i] = True
                summary.skipped.append(_joined([sub.iat[k, j] for j in range(sub.shape[1]) if not blank[k, j]]))
    # The notices at the end of a Salesforce export ("Copyright (c) ...", "Generated By: ...", the
    # company's name) fill one cell each, often the first column, which may be the ID: a block of
    # one-cell rows at the end that holds such a notice is skipped whole.
    end = len(data)
    while end > 0 and drop[end - 1]:
        end -= 1
    block: list[int] = []
    while end > 0:
        row_blank = _row_blank(data, np.array([end - 1]))[0]
        if (~row_blank).sum() > 1:
            break
        end -= 1
        block.append(end)
    notices = [i for i in block if not drop[i] and _NOTICE.search(" ".join(str(v) for v in data.iloc[i] if v is not None))]
    if notices:
        for i in sorted(block):
            if not drop[i]:
                drop[i] = True
                summary.skipped.append(_joined(list(data.iloc[i])))
    data = data[~drop] if drop.any() else data
    # Columns: a column with no header and no values is leftover formatting.
    keep: list[int] = []
    for j in range(data.shape[1]):
        header = names[j] if j < n_cols else ""
        if header or not _blank(data.iloc[:, j]).all():
            keep.append(j)
    field_of = {str(found): spec for spec, found in mapping.items()}
    reserved = _table_headers(columns)
    used: set[str] = set()
    out_names: list[str] = []
    matched_done: set[str] = set()
    for j in keep:
        header = names[j] if j < n_cols else ""
        if header in field_of and header not in matched_done:
            matched_done.add(header)
            name = field_of[header]
            summary.mapping[header] = name
        else:
            name = header or f"Column {j + 1}"
            key = schema.normalise(name)
            if key in reserved or key in used or name in field_of:
                base, name, n = name, f"{name} (CRM)", 2
                while schema.normalise(name) in used:
                    name, n = f"{base} (CRM {n})", n + 1
                summary.renamed[header or name] = name
            else:
                summary.unmatched.append(name)
        used.add(schema.normalise(name))
        out_names.append(name)
    df = data.iloc[:, keep].set_axis(out_names, axis=1).reset_index(drop=True)
    typed = {h for h in mapping if kinds[h] in ("number", "fraction", "whole", "date")}
    for name in df.columns:
        if name not in typed and df[name].dtype == object:
            df[name] = _whole_to_int(df[name])
    summary.absent = [c.header for c in columns if c.header not in mapping and c.header in ("Revenue",)]
    _type_columns(df, {h: kinds[h] for h in mapping}, {h: str(mapping[h]) for h in mapping}, summary, delimiter)
    summary.rows = len(df)
    df.attrs.update({"source": summary.source, "summary": summary})
    if summary.sheet:
        df.attrs["sheet"] = summary.sheet
    if delimiter:
        df.attrs["delimiter"] = delimiter
    return df


def _type_columns(df: pd.DataFrame, kinds: dict[str, str], found: dict[str, str], summary: ReadSummary,
                  delimiter: str | None) -> None:
    """Number and date columns as a spreadsheet reads them; what is not one stays as typed."""
    numbers: dict[str, values.NumberColumn] = {}
    for header, kind in kinds.items():
        if kind in ("number", "fraction", "whole"):
            numbers[header] = values.read_numbers(df[header], kind == "fraction" and schema.is_percent_header(found[header]))
    style = values.file_style(list(numbers.values()), delimiter)
    if style == "," and any(values.text_needed(c) for c in numbers.values()):
        raise _Reread  # a column read straight to floats may hold "1.234" meaning 1234
    for header, col in numbers.items():
        name = f"{header} ({found[header]})" if found[header] != header else header
        if not col.decided and col.ambiguous:
            values.settle(col, style)
            why = "as most of the file's number columns" if any(c.decided for c in numbers.values()) else (
                "as in a semicolon-separated file" if delimiter == ";" else "the file decides nothing")
            mark = "decimal comma" if style == "," else "decimal point"
            summary.numbers.append(f"{name}: values such as 1,234 or 1.234 read with a {mark} ({why}).")
        if col.mixed_marks:
            summary.warnings.append(f"{name} mixes decimal commas and points; each value that shows its mark is read "
                                    f"by it, the others with a decimal {'comma' if col.style == ',' else 'point'}.")
        if len(col.currencies) > 1:
            summary.warnings.append(f"{name} mixes currencies ({', '.join(col.currencies)}): the amounts are read "
                                    "as written, not converted.")
        df[header] = _typed(df[header], col.values, col.ok, col.blank)
    for header, kind in kinds.items():
        if kind == "date":
            col = values.read_dates(df[header])
            name = f"{header} ({found[header]})" if found[header] != header else header
            if col.ambiguous and not col.decided:
                summary.dates.append(f"{name}: dates such as 03/04/2026 read month-first (4 March 2026); "
                                     "no value shows the order.")
            elif col.mixed:
                summary.warnings.append(f"{name} mixes month-first and day-first dates; dates that show their "
                                        f"order are read by it, the others {'day' if col.order == 'dmy' else 'month'}-first.")
            elif col.ambiguous:
                summary.dates.append(f"{name}: numeric dates read {'day' if col.order == 'dmy' else 'month'}-first, "
                                     "as the column's unambiguous dates show.")
            df[header] = _typed_dates(df[header], col.values, col.ok, col.blank)


def _typed(original: pd.Series, numbers: np.ndarray, ok: np.ndarray, blank: np.ndarray) -> pd.Series:
    """Floats where read; the rest as typed (so the engine flags it). All numbers or blank: float64."""
    if (ok | blank).all():
        return pd.Series(np.where(ok, numbers, np.nan), index=original.index, name=original.name)
    out = original.to_numpy(dtype=object).copy()
    out[ok] = numbers[ok]
    return pd.Series(out, index=original.index, name=original.name, dtype=object)


def _typed_dates(original: pd.Series, dates: np.ndarray, ok: np.ndarray, blank: np.ndarray) -> pd.Series:
    if (ok | blank).all():
        return pd.Series(dates.astype("datetime64[s]"), index=original.index, name=original.name)
    out = original.to_numpy(dtype=object).copy()
    idx = np.flatnonzero(ok)
    out[idx] = list(pd.DatetimeIndex(dates[idx].astype("datetime64[s]")))
    return pd.Series(out, index=original.index, name=original.name, dtype=object)


def read_accounts(path: str | os.PathLike[str], sheet: str | None = None, require_revenue: bool = True) -> pd.DataFrame:
    """An accounts export (rotxl, Salesforce, HubSpot, ...) with its columns named as in SPEC §1.

    See read_export. A CRM's Annual Revenue is the customer's size: it becomes Company Revenue,
    never Revenue. ``require_revenue=False`` reads an export without a Revenue column (Revenue then
    comes from won deals, §7.2); the summary says Revenue is absent. A fraction column whose
    header carries "%" ("Margin %") holds percentages: 40 becomes 0.4.
    """
    require = tuple(c.header for c in ACCOUNT_COLUMNS if c.required and (require_revenue or c.header != "Revenue"))
    return read_export(path, ACCOUNT_COLUMNS, sheet, require, (schema.COMPANY_REVENUE,))


_CRM_STATUS = {"closedwon": "Won", "closedlost": "Lost"}


def read_pipeline(path: str | os.PathLike[str], sheet: str | None = None) -> pd.DataFrame:
    """An opportunities export with its columns named as in SPEC §2 (see read_export).

    "Probability (%)" from Salesforce reads 60 and 60% as 0.6. An export with no Status column
    gets one from its Stage: "Closed Won"/"closedwon" is Won, "Closed Lost"/"closedlost" is
    Lost, anything else blank (Open). An existing Status column is left as it is.
    """
    df = read_export(path, PIPELINE_COLUMNS, sheet)
    if "Status" not in df.columns and "Stage" in df.columns:
        attrs = dict(df.attrs)
        codes, stages = pd.factorize(df["Stage"].to_numpy(dtype=object))
        status = np.array([_CRM_STATUS.get(schema.normalise(v), "") if isinstance(v, str) else "" for v in stages]
                          + [""], dtype=object)
        df["Status"] = pd.Series(status[codes], index=df.index, dtype=object)  # code -1 (blank) takes the last
        df.attrs = attrs
    return df


# ---------------------------------------------------------------- writing


def check_output(path: str | os.PathLike[str], rows: int | None = None, columns: int | None = None) -> Path:
    """The output path, or OutputError when rotxl cannot write that kind of file, or (given the
    table's size) when an XLSX would hold more rows or columns than Excel's grid."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(
            f"{path.name}: cannot write '{path.suffix or 'no extension'}' files; "
            f"name the output .csv or .xlsx"
        )
    if path.suffix.lower() == ".xlsx":
        if rows is not None and rows + 1 > XLSX_MAX_ROWS:
            raise OutputError(f"{path.name}: {rows:,} rows and a header do not fit in an Excel sheet "
                              f"({XLSX_MAX_ROWS:,} rows); write a .csv instead")
        if columns is not None and columns > XLSX_MAX_COLUMNS:
            raise OutputError(f"{path.name}: {columns:,} columns do not fit in an Excel sheet "
                              f"({XLSX_MAX_COLUMNS:,} columns); write a .csv instead")
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
    path = check_output(path, len(df), df.shape[1])
    if path.suffix.lower() == ".csv":
        return atomic_write(path, lambda tmp: _write_csv(df, tmp))
    return atomic_write(path, lambda tmp: _write_xlsx(df, tmp, sheet))


__all__ = [
    "OutputError",
    "ReadError",
    "ReadSummary",
    "check_output",
    "check_xlsx",
    "issue_counts",
    "read_export",
    "render_summary",
    "guard_csv_text",
    "read_accounts",
    "read_pipeline",
    "read_table",
    "typed_values",
    "unguard_csv_text",
    "write_table",
]
