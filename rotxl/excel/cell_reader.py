"""Reading chosen cells of an xlsx without loading the whole workbook.

A rebuild reads back each edited workbook's two tables and its named settings. openpyxl's
``load_workbook`` parses every sheet and makes a Cell object for every cell; on a rotxl workbook
two thirds of the table cells are derived formulas the rebuild does not carry, and the other
sheets are rotxl's own. Here openpyxl's own parts do the reading (the package, shared strings,
defined names, tables, its date formats and its cell parser, so each value is exactly what
``load_workbook`` gives; tests/test_cell_reader.py compares the two), but the sheet XML goes
through lxml's C parser and only the cells asked for reach Python; the derived columns' formula
cells are cut from the bytes before lxml parses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from openpyxl.packaging.relationship import get_dependents, get_rels_path
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format
from openpyxl.utils.cell import column_index_from_string, get_column_letter
from openpyxl.worksheet._reader import (CELL_TAG, FORMULA_TAG, INLINE_STRING, ROW_TAG, VALUE_TAG, WorkSheetParser,
                                        _cast_number)
from openpyxl.worksheet.table import Table
from openpyxl.xml.constants import ARC_STYLE, SHEET_MAIN_NS

# What a cell reader sees of hostile XML: no entities expanded, nothing fetched, no huge nodes.
_SAFE = {"resolve_entities": False, "no_network": True, "huge_tree": False}
_DIGITS = "0123456789"
_CHUNK = 1 << 20  # bytes of sheet XML parsed at a time
_TEXT_TAG = f"{{{SHEET_MAIN_NS}}}t"


@dataclass
class Sheet:
    title: str
    part: str  # the sheet's part in the package
    tables: list[_Table]


class Book:
    """One xlsx, opened for reading cells: its worksheets (in order, with their tables) and its
    workbook-wide defined names. Use as a context manager."""

    def __init__(self, path: str | Path):
        self._reader = r = ExcelReader(str(path), keep_links=False, rich_text=False)
        try:
            r.read_manifest()
            r.read_strings()
            r.read_workbook()
            self.date_styles, self.timedelta_styles = _date_styles(r.archive, r.wb)
            self.names = r.parser.defined_names.by_sheet().get("global", {})
            self.sheets: list[Sheet] = []
            for sheet, rel in r.parser.find_sheets():
                if rel.target not in r.valid_files or "chartsheet" in rel.Type:
                    continue
                rels_path = get_rels_path(rel.target)
                rels = get_dependents(r.archive, rels_path) if rels_path in r.valid_files else []
                tables = [_Table(r.archive, t.target) for t in (rels.find(Table._rel_type) if rels else [])]
                self.sheets.append(Sheet(sheet.name, rel.target, tables))
        except BaseException:
            r.archive.close()
            raise

    def __enter__(self) -> Book:
        return self

    def __exit__(self, *exc) -> None:
        self._reader.archive.close()

    def sheet(self, title: str) -> Sheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def cells(self, sheet: Sheet, area: tuple[int, int, int, int], skip_formulas: set[int] = frozenset()
              ) -> tuple[dict[tuple[int, int], tuple[object, str]], set[int]]:
        """The cells of ``sheet`` in ``area`` (min_row, max_row, min_col, max_col), as
        {(row, column): (value, data_type)} with openpyxl's values and types; formula cells in
        the columns ``skip_formulas`` are left out, and the rows that had one are returned
        beside (so a row of formulas only is still seen)."""
        try:
            return self._cells(sheet, area, skip_formulas, _skipped_formula_cells(skip_formulas))
        except _CellWithoutReference:
            return self._cells(sheet, area, skip_formulas, None)

    def _cells(self, sheet: Sheet, area: tuple[int, int, int, int], skip_formulas: set[int],
               skipped: re.Pattern[bytes] | None) -> tuple[dict[tuple[int, int], tuple[object, str]], set[int]]:
        r = self._reader
        wb = r.wb
        parser = WorkSheetParser(None, r.shared_strings, epoch=wb.epoch, date_formats=self.date_styles,
                                 timedelta_formats=self.timedelta_styles)
        dates = self.date_styles
        min_row, max_row, min_col, max_col = area
        out: dict[tuple[int, int], tuple[object, str]] = {}
        formula_rows: set[int] = set()
        columns: dict[str, int] = {}
        with r.archive.open(sheet.part) as src:
            for row_el in _rows(src, skipped, formula_rows):
                n = row_el.get("r")
                parser.row_counter = _row_number(n) if n is not None else parser.row_counter + 1
                parser.col_counter = 0
                row = parser.row_counter
                for c in row_el.iterchildren(CELL_TAG):
                    ref = c.get("r")
                    if ref:
                        letters = ref.rstrip(_DIGITS)
                        col = columns.get(letters) or columns.setdefault(letters, column_index_from_string(letters))
                        at = int(ref[len(letters):])
                    elif skipped is not None:
                        raise _CellWithoutReference  # its column follows the cells before it, some of them cut
                    else:
                        col, at = parser.col_counter + 1, row
                    # the schema puts <f> first; find() costs twenty times more, so only when there is more
                    f = c[0] if len(c) else None
                    if f is not None and f.tag != FORMULA_TAG:
                        f = c.find(FORMULA_TAG) if len(c) > 1 else None
                    if min_row <= at <= max_row and min_col <= col <= max_col:
                        # what parse_cell makes of plain inline text and of numbers, in a fraction of the time
                        t = c.get("t")
                        if f is None and t == "inlineStr" and (text := _plain_inline(c)) is not None:
                            out[(at, col)] = (text, "s")
                        elif (f is None and (t is None or t == "n") and len(c) == 1 and c[0].tag == VALUE_TAG
                              and int(c.get("s") or 0) not in dates):
                            text = c[0].text
                            out[(at, col)] = (_cast_number(text) if text else None, "n")
                        elif f is None or col not in skip_formulas:
                            cell = parser.parse_cell(c)  # moves the column counter itself
                            out[(cell["row"], cell["column"])] = (cell["value"], cell["data_type"])
                            continue
                        else:
                            formula_rows.add(at)
                    parser.col_counter = col
                    if f is not None and f.get("t") == "shared" and f.text:
                        # the first cell of a shared formula: the cells that share it are read from it
                        parser.parse_formula(c)
                row_el.clear()
                while row_el.getprevious() is not None:
                    del row_el.getparent()[0]
        return out, {r for r in formula_rows if min_row <= r <= max_row}


def _skipped_formula_cells(columns: set[int]) -> re.Pattern[bytes] | None:
    """A cell of one of ``columns`` holding a plain formula, as rotxl, Excel and LibreOffice
    write it: <c r="C3" s="28"><f>...</f><v>...</v></c>, the row number captured."""
    if not columns:
        return None
    letters = b"|".join(get_column_letter(c).encode() for c in sorted(columns))
    return re.compile(rb'<c r="(?:' + letters + rb')(\d+)"(?: [a-zA-Z]+="[^"<>]*")*>'
                      rb'<f(?: aca="(?:false|true)")?>[^<]*</f>(?:<v>[^<]*</v>|<v/>)?</c>')


class _CellWithoutReference(Exception):
    """A cell without its r="..." in a sheet whose formula cells were cut: read it again whole."""


def _rows(src, skipped: re.Pattern[bytes] | None, formula_rows: set[int]):
    """The <row> elements of a sheet part, parsed a chunk at a time. Nine tenths of a rotxl
    table's XML is the derived columns' formula text, which the rebuild does not read: with
    ``skipped`` those cells are cut from the bytes before lxml sees them (their rows added to
    ``formula_rows``), which is what the caller would do with them. A chunk with CDATA (whose
    text could look like a cell) is left whole."""
    parser = etree.XMLPullParser(events=("end",), tag=ROW_TAG, **_SAFE)
    rest = b""
    while True:
        data = src.read(_CHUNK)
        chunk = rest + data
        end = chunk.rfind(b"</row>") + len(b"</row>") if data else len(chunk)
        if data and end < len(b"</row>"):  # no row ends in it yet
            rest = chunk
            continue
        chunk, rest = chunk[:end], chunk[end:]
        if skipped is not None and b"<![CDATA[" not in chunk:
            pieces = skipped.split(chunk)
            formula_rows.update(map(int, pieces[1::2]))
            chunk = b"".join(pieces[::2])
        parser.feed(chunk)
        for _, row_el in parser.read_events():
            yield row_el
        if not data:
            break
    parser.close()
    for _, row_el in parser.read_events():
        yield row_el


class _Table:
    """A table part, parsed once: its name at once, the rest (openpyxl's Table) when asked for."""

    def __init__(self, archive, part: str):
        self._tree = etree.fromstring(archive.read(part), etree.XMLParser(**_SAFE))
        self.name = self._tree.get("name")
        self._table: Table | None = None

    def __getattr__(self, attr: str):
        if self._table is None:
            self._table = Table.from_tree(self._tree)
        return getattr(self._table, attr)


def _date_styles(archive, wb) -> tuple[set[int], set[int]]:
    """Which cell styles show dates and which durations, as openpyxl's Stylesheet works them out
    (Stylesheet._normalise_numbers), without building every font, fill and border of the styles."""
    try:
        root = etree.fromstring(archive.read(ARC_STYLE), etree.XMLParser(**_SAFE))
    except KeyError:
        return wb._date_formats, wb._timedelta_formats
    custom = {int(n.get("numFmtId")): n.get("formatCode") for n in root.iterfind(f"{{{SHEET_MAIN_NS}}}numFmts/*")}
    xfs = root.findall(f"{{{SHEET_MAIN_NS}}}cellXfs/{{{SHEET_MAIN_NS}}}xf")
    if not xfs:  # openpyxl keeps its own defaults
        return wb._date_formats, wb._timedelta_formats
    dates, durations = set(), set()
    for idx, xf in enumerate(xfs):
        number_format = int(xf.get("numFmtId", 0))
        fmt = custom[number_format] if number_format in custom else builtin_format_code(number_format)
        if is_date_format(fmt):
            dates.add(idx)
        if is_timedelta_format(fmt):
            durations.add(idx)
    return dates, durations


def _plain_inline(c) -> str | None:
    """The text of an inline string of one plain run (<is><t>text</t></is>, as openpyxl writes
    them), or None for anything else (rich text, phonetic runs), left to openpyxl."""
    is_ = c.find(INLINE_STRING)
    if is_ is None or len(is_) != 1 or is_[0].tag != _TEXT_TAG:
        return None
    return is_[0].text or ""


def _row_number(text: str) -> int:
    """A row's r attribute, as openpyxl reads it (some writers put "3.0")."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise ValueError(f"{text} is not a valid row number") from None
        return int(value)
