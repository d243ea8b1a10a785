"""The one path that writes a cell from data: text is always text, never a formula.

openpyxl makes any string that starts with "=" a formula, and LibreOffice evaluates a DDE
``=cmd|...`` or ``=HYPERLINK(...)`` written that way. Every sheet writes values that came from
outside (CRM text, owner names, export headers) through :func:`put`, so no such string is ever
a live formula, in any cell of any file rotxl writes. Formulas rotxl builds itself are written
with :func:`put_formula`, which is the only way to write one.
"""

from __future__ import annotations

import datetime as dt
import re

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

# Excel's cell limit; longer text is cut (and the cut is marked) rather than refused by Excel.
MAX_TEXT = 32767
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Besides control characters, XML 1.0 has no room for lone surrogates, U+FFFE and U+FFFF:
# lxml refuses them (the whole file would fail), so they go too.
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")


def clean_text(value: str) -> str:
    """Text as a cell can hold it: no control characters XML forbids, at most 32,767 characters."""
    value = _NOT_XML.sub("", ILLEGAL_CHARACTERS_RE.sub("", value))
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def clean_name(value: object) -> str:
    """A name or header for display (sheet cells, terminal): control characters removed, trimmed."""
    return _CONTROL.sub("", str(value)).replace("\t", " ").replace("\r", " ").replace("\n", " ").strip()


def takes_format(value: object, number_format: str | None) -> bool:
    """Whether :func:`put` gives ``value`` the column's number format: numbers and dates do."""
    return bool(number_format) and isinstance(value, (int, float, dt.date)) and not isinstance(value, bool)


def put(ws, row: int, column: int, value: object, number_format: str | None = None):
    """Write a value from data: text as a text cell (never a formula), numbers and dates as such."""
    if isinstance(value, str):
        cell = ws.cell(row, column, clean_text(value))
        cell.data_type = "s"
        return cell
    cell = ws.cell(row, column, value)
    if takes_format(value, number_format):
        cell.number_format = number_format
    return cell


def put_row(ws, row: int, values: list[object], first_column: int = 1) -> None:
    """Write a row of data values (headers, owner names, figures) through :func:`put`."""
    for j, v in enumerate(values, start=first_column):
        if v is not None:
            put(ws, row, j, v)


def put_column(ws, column: int, first_row: int, values, number_format: str | None = None) -> None:
    """:func:`put` down a column, the same cells: each style is set once and copied to the rest,
    since openpyxl otherwise looks the style up again for every cell (most of a big table's cost)."""
    styles: dict[type, tuple] = {}
    for row, v in enumerate(values, start=first_row):
        if v is None:
            continue
        if isinstance(v, str):
            cell = Cell(ws, row=row, column=column)
            cell._value, cell.data_type = clean_text(v), "s"
        elif takes_format(v, number_format):
            done = styles.get(type(v))
            if done is None:
                first = put(ws, row, column, v, number_format)
                styles[type(v)] = first._style, first.data_type
                continue
            cell = Cell(ws, row=row, column=column, style_array=done[0])
            cell._value, cell.data_type = v, done[1]  # as openpyxl binds this type, without resetting a date's format
        else:
            cell = Cell(ws, row=row, column=column, value=v)
        ws._add_cell(cell)


def put_formula_column(ws, column: int, rows: range, formula: str, number_format: str | None = None,
                       fill=None) -> None:
    """:func:`put_formula` on each of ``rows`` (a table's calculated column), styled once."""
    if not rows:
        return
    first = put_formula(ws, rows[0], column, formula, number_format)
    if fill is not None:
        first.fill = fill
    for row in rows[1:]:
        cell = Cell(ws, row=row, column=column, style_array=first._style)
        cell._value, cell.data_type = formula, "f"
        ws._add_cell(cell)


def put_formula(ws, row: int, column: int, formula: str, number_format: str | None = None):
    """Write a formula rotxl built itself (never one assembled from data text)."""
    if not formula.startswith("="):
        raise ValueError(f"not a formula: {formula!r}")
    cell = ws.cell(row, column, formula)
    if number_format:
        cell.number_format = number_format
    return cell
