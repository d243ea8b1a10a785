"""Reading a salesperson's workbook back, and carrying what is theirs into the rebuilt one (SPEC §6.1).

Read: the Accounts and Pipeline tables (found by table name, wherever the sheet went and
whatever it is called now), with formulas the salesperson typed kept as formulas; values typed
over derived (formula) columns, named so the report can say they were not carried; the
personal settings (named cells); and the sheets the salesperson added, as plain data (values,
formulas, number formats, fonts, fills, borders, alignment, column widths, row heights, merged
cells), naming what the writer cannot carry (charts, images, pivot tables, comments).

Write: those sheets and formulas into the freshly built workbook. Formulas come only from
cells that held a formula in the salesperson's own file; text from an export never becomes one.
"""

from __future__ import annotations

import copy
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl.formula.translate import Translator
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

from ..data.state import Formula
from ..rules import engine
from ..rules.settings import NAMED_CELLS
from . import cell_reader, table_body
from .cells import clean_name, put, put_formula

TABLES = ("Accounts", "Pipeline")
PERSONAL: dict[str, str] = {
    **{name: field_ for field_, (name, scope) in NAMED_CELLS.items() if scope == "personal"},
    **{name: f"weights[{i}]" for i, name in enumerate(engine.WEIGHT_NAMES)},
}
# Hostile files: refuse before a reader tries to inflate them.
MAX_UNPACKED = 1 << 30  # 1 GiB of XML in all
MAX_RATIO = 200  # deflate rarely beats 100:1 on real spreadsheets; bombs do 1000:1 and more
MAX_MEMBERS = 10_000
MAX_CELLS = 20_000_000


class UnreadableWorkbook(Exception):
    """A previous workbook that cannot be read safely; the message says why."""


def check_xlsx(path: Path) -> None:
    """Refuse a zip bomb or a file that is not an xlsx before openpyxl inflates it.

    Uses rotxl.data.io.check_xlsx when it is there (the reading helper's guard)."""
    from ..data import io

    guard = getattr(io, "check_xlsx", None)
    if guard is not None:
        try:
            guard(path)
        except Exception as e:  # noqa: BLE001 - its own error type; we only need the message
            raise UnreadableWorkbook(str(e)) from None
        return
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise UnreadableWorkbook(f"{path.name}: not an Excel workbook ({e})") from None
    if len(members) > MAX_MEMBERS:
        raise UnreadableWorkbook(f"{path.name}: {len(members):,} parts inside; refused as hostile")
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED:
        raise UnreadableWorkbook(f"{path.name}: unpacks to {total:,} bytes; refused as a zip bomb")
    for m in members:
        if m.file_size > 1 << 20 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise UnreadableWorkbook(f"{path.name}: {m.filename} inflates {m.file_size // max(m.compress_size, 1):,}:1; "
                                     "refused as a zip bomb")


@dataclass
class OwnSheet:
    """A sheet the salesperson added, as data that crosses process boundaries."""

    title: str
    cells: list[tuple[int, int, object, str, object, object, object, object]] = field(default_factory=list)
    widths: dict[str, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    freeze: str | None = None


@dataclass
class OwnerWorkbook:
    """What a salesperson's workbook holds that a rebuild needs."""

    name: str
    saved: float  # when it was saved (file time), to settle two typed copies of one ID
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # with _row: the sheet row
    typed_over: list[tuple[str, int, str, object]] = field(default_factory=list)  # table, sheet row, column, value
    settings: dict[str, object] = field(default_factory=dict)
    sheets: list[OwnSheet] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)


def _value(v: object, data_type: str, row: int) -> object:
    """A cell's value as carried: formulas as Formula (with the row they were read from), blank
    text as None."""
    if data_type == "f":
        if isinstance(v, DataTableFormula):
            return None  # Excel's what-if tables: nothing to carry into a rebuilt sheet
        text = v.text if isinstance(v, ArrayFormula) else v
        return Formula(text if str(text).startswith("=") else f"={text}", row) if text else None
    if isinstance(v, str):
        return v if v.strip() else None
    return v


def _table_frame(book: cell_reader.Book, sheet: cell_reader.Sheet, table,
                 formula_columns: set[str]) -> tuple[pd.DataFrame, list[tuple[int, str, object]]]:
    min_col, min_row, max_col, max_row = range_boundaries(table.ref)
    headers = [clean_name(c.name) for c in table.tableColumns][: max_col - min_col + 1]
    # the derived columns' formulas are the build's own: only a value typed over one is read
    derived = {min_col + j: h for j, h in enumerate(headers) if h in formula_columns}
    cells, formula_rows = book.cells(sheet, (min_row + 1, max_row, min_col, min_col + len(headers) - 1), set(derived))
    data: dict[int, dict[int, object]] = {r: {} for r in formula_rows}
    typed_over = []
    for (r, c), (v, t) in sorted(cells.items()):
        v = _value(v, t, r)
        if v is None:
            continue
        row = data.setdefault(r, {})
        if c in derived:
            typed_over.append((r, derived[c], v))
        else:
            row[c - min_col] = v
    rows = sorted(data)
    frame = pd.DataFrame({h: [data[r].get(j) for r in rows] for j, h in enumerate(headers) if h not in formula_columns},
                         dtype=object)
    frame["_row"] = rows
    return frame, typed_over


def _own_sheet(ws) -> tuple[OwnSheet, list[str]]:
    sheet = OwnSheet(clean_name(ws.title)[:31] or "Sheet")
    lost = []
    for (r, c), cell in ws._cells.items():
        v = _value(cell.value, cell.data_type, r)
        styled = cell.has_style
        if v is None and not styled:
            continue
        if cell.comment is not None:
            lost.append(f"comment in {cell.coordinate}")
        sheet.cells.append((r, c, v, cell.number_format, copy.copy(cell.font) if styled else None,
                            copy.copy(cell.fill) if styled else None, copy.copy(cell.border) if styled else None,
                            copy.copy(cell.alignment) if styled else None))
    if len(sheet.cells) > MAX_CELLS:
        raise UnreadableWorkbook(f"sheet {ws.title!r} has {len(sheet.cells):,} cells; refused")
    sheet.widths = {k: d.width for k, d in ws.column_dimensions.items() if d.customWidth and d.width}
    sheet.heights = {k: d.height for k, d in ws.row_dimensions.items() if d.height}
    sheet.merged = [str(m) for m in ws.merged_cells.ranges]
    sheet.freeze = ws.freeze_panes
    for what, items in (("chart", ws._charts), ("image", ws._images), ("pivot table", getattr(ws, "_pivots", []))):
        if items:
            lost.append(f"{len(items)} {what}{'s' if len(items) > 1 else ''}")
    return sheet, [f"sheet {sheet.title!r}: {x} not carried (the writer cannot copy it)" for x in lost]


def read_owner_workbook(path: Path, formula_columns: dict[str, set[str]], rotxl_sheets: set[str]) -> OwnerWorkbook:
    """The tables, personal settings and own sheets of one salesperson's workbook.

    ``formula_columns``: per table, the derived columns the build wrote as formulas;
    ``rotxl_sheets``: the sheet names the build wrote (the rest are the salesperson's own).
    Raises UnreadableWorkbook with a plain reason for anything it cannot read."""
    check_xlsx(path)
    try:
        return _read(path, formula_columns, rotxl_sheets)
    except UnreadableWorkbook:
        raise
    except Exception as e:  # noqa: BLE001 - zip, XML, openpyxl's own: any of them means "cannot read"
        raise UnreadableWorkbook(f"{path.name}: cannot be read ({type(e).__name__}: {clean_name(e)[:200]})") from None


def _read(path: Path, formula_columns: dict[str, set[str]], rotxl_sheets: set[str]) -> OwnerWorkbook:
    out = OwnerWorkbook(path.name, os.stat(path).st_mtime)
    with cell_reader.Book(path) as book:
        table_sheets = set()
        for sheet in book.sheets:
            for table in sheet.tables:
                match = next((t for t in TABLES if t.casefold() == table.name.casefold()), None)
                if match and match not in out.tables:
                    frame, typed_over = _table_frame(book, sheet, table, formula_columns.get(match, set()))
                    out.tables[match] = frame
                    out.typed_over += [(match, r, h, v) for r, h, v in typed_over]
                    table_sheets.add(sheet.title)
        missing = [t for t in TABLES if t not in out.tables]
        if missing:
            raise UnreadableWorkbook(f"{path.name}: has no table named {' or '.join(missing)} (found "
                                     f"{', '.join(t.name for s in book.sheets for t in s.tables) or 'no tables'})")
        out.settings = _named_settings(book)
        own = [s.title for s in book.sheets if s.title not in table_sheets and s.title not in rotxl_sheets]
    if own:  # sheets of the salesperson's own are copied with their styles: openpyxl's cells
        import openpyxl

        wb = openpyxl.load_workbook(path, rich_text=False)
        for title in own:
            sheet, lost = _own_sheet(wb[title])
            out.sheets.append(sheet)
            out.not_carried += lost
        wb.close()
    return out


def _named_settings(book: cell_reader.Book) -> dict[str, object]:
    """The personal settings' named cells that hold a value (not a formula)."""
    wanted: dict[str, dict[str, tuple[int, int]]] = {}
    for name in PERSONAL:
        dn = book.names.get(name)
        if dn is None:
            continue
        try:
            [(sheet, ref)] = list(dn.destinations)
            wanted.setdefault(sheet, {})[name] = coordinate_to_tuple(ref.replace("$", ""))
        except ValueError:  # a range, several places, or not a cell
            continue
    out = {}
    for title, at in wanted.items():
        sheet = book.sheet(title)
        if sheet is None:
            continue
        rows, cols = [r for r, _ in at.values()], [c for _, c in at.values()]
        cells, _ = book.cells(sheet, (min(rows), max(rows), min(cols), max(cols)))
        for name, rc in at.items():
            v, t = cells.get(rc, (None, "n"))
            if t != "f" and v is not None:
                out[name] = v
    return out


def personal_settings(values: dict[str, object]) -> dict[str, object]:
    """Settings.with_() arguments from named-cell values; weights as a tuple of five."""
    from ..rules.settings import DEFAULT_WEIGHTS

    changes: dict[str, object] = {}
    weights = list(DEFAULT_WEIGHTS)
    has_weights = False
    for name, value in values.items():
        target = PERSONAL.get(name)
        if target is None:
            continue
        if target.startswith("weights["):
            weights[int(target[8:-1])] = value
            has_weights = True
        else:
            changes[target] = value
    if has_weights:
        changes["weights"] = tuple(weights)
    return changes


# ---------------------------------------------------------------- writing into the rebuilt workbook


def moved_formula(formula: Formula, row: int, column: int) -> str:
    """The salesperson's formula as it reads on its row's new sheet row (relative refs follow)."""
    text = str(formula)
    if formula.row and formula.row != row:
        try:
            text = Translator(text, origin=f"{get_column_letter(column)}{formula.row}").translate_formula(
                f"{get_column_letter(column)}{row}")
        except Exception:  # noqa: BLE001 - a formula openpyxl's tokenizer cannot parse stays as typed
            pass
    return text


def write_table_formulas(ws, frame: pd.DataFrame, first_row: int = 2) -> int:
    """Turn the salesperson's formulas in ``frame`` (written as text by the table writer) back into
    formulas, on the rows they landed on. Returns how many."""
    headers = {c.value: c.column for c in ws[1]}
    body = table_body.of(ws)
    n = 0
    for h in frame.columns:
        if h not in headers or frame[h].dtype != object:
            continue
        for i, v in enumerate(frame[h].to_numpy()):
            if isinstance(v, Formula):
                text = moved_formula(v, first_row + i, headers[h])
                if body:
                    body.put_formula(first_row + i, headers[h], text)
                else:
                    put_formula(ws, first_row + i, headers[h], text)
                n += 1
    return n


def add_own_sheets(wb, sheets: list[OwnSheet]) -> None:
    """The salesperson's own sheets, after the build's: values, formulas, formats, sizes, merges."""
    taken = {s.casefold() for s in wb.sheetnames}
    for own in sheets:
        title, k = own.title, 2
        while title.casefold() in taken:
            title, k = f"{own.title[:27]} ({k})", k + 1
        taken.add(title.casefold())
        ws = wb.create_sheet(title)
        for r, c, v, fmt, font, fill, border, alignment in own.cells:
            if isinstance(v, Formula):
                cell = put_formula(ws, r, c, str(v))
            elif v is not None:
                cell = put(ws, r, c, v)
            else:
                cell = ws.cell(r, c)
            cell.number_format = fmt
            if font is not None:
                cell.font, cell.fill, cell.border, cell.alignment = font, fill, border, alignment
        for letter, width in own.widths.items():
            ws.column_dimensions[letter].width = width
        for row, height in own.heights.items():
            ws.row_dimensions[row].height = height
        for ref in own.merged:
            ws.merge_cells(ref)
        ws.freeze_panes = own.freeze
