"""A big table's body written straight into its sheet's XML when the workbook is saved.

openpyxl spends about 10 µs on a cell: a Cell object, then an lxml element to serialise it.
A team of a million accounts is some 30 million table cells, so most of a big build went
there. Down a table's column every cell is alike (one formula, or values of one or two kinds
with one style), so a :class:`Body` keeps the columns and writes their ``<row>`` elements at
save, as plain text, byte for byte what openpyxl writes for the same cells (the tests save
each table both ways and compare every part of the file). Everything else in the workbook,
the header row included, is openpyxl's as before.

The cells obey :mod:`rotxl.excel.cells`' rules: text is always a text cell (never a
formula), numbers and dates are numbers with the column's format, and the only formulas are
those rotxl built and those a salesperson typed (:meth:`Body.put_formula`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import partial
from io import BytesIO
from pathlib import Path
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl.xml.functions import xmlfile  # lxml when there, as openpyxl writes with it
from openpyxl.cell.cell import Cell
from openpyxl.cell._writer import write_cell
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from .cells import clean_text, put, put_column, put_formula, put_formula_column, takes_format

_ATTR = "_rotxl_body"
_ESCAPE = re.compile(r"[&<>\r]")
_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}  # as libxml2 escapes element text
_DATES = (dt.date, dt.datetime)


def _escape(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ENTITY[m[0]], text) if _ESCAPE.search(text) else text


def _text_cell(text: str) -> str:
    """The part of a text cell after its reference, as openpyxl (lxml) writes it."""
    if not text:
        return ' t="inlineStr"></c>'
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f' t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>'


def _encode(xml: str) -> bytes:
    # openpyxl's sheet XML is ASCII: lxml writes every other character as a reference (&#8805;).
    return xml.encode("ascii", "xmlcharrefreplace")


def _number(value: float) -> str:
    return "%.16g" % value if math.isfinite(value) else ""


class Body:
    """Rows ``first_row`` to ``first_row + rows - 1`` of ``ws``, held column by column.

    Made by :func:`attach`; from then on ``ws.parent.save`` writes the body with the sheet.
    Nothing else may write a cell in these rows (saving says so if something did)."""

    def __init__(self, ws, first_row: int, rows: int):
        self.ws, self.first_row, self.rows = ws, first_row, rows
        # column -> (kind, data, style, span): ("values", the values, {type: (first row, prototype
        # cell)}, ...) or ("formula", its text, a cell styled as each, ...); span: (first, last)
        # row index holding a cell, None if none
        self._columns: dict[int, tuple] = {}
        self._formulas: dict[tuple[int, int], str] = {}  # (row, column) -> a formula the salesperson typed
        self._scratch_ws = None

    @property
    def last_row(self) -> int:
        return self.first_row + self.rows - 1

    def put_column(self, column: int, values: list, number_format: str | None = None) -> None:
        """:func:`rotxl.excel.cells.put_column` for the body's rows: ``values`` from the first row."""
        values = list(values[: self.rows])
        first: dict[type, int] = {}  # each kind of value, at the row it first appears
        last = None  # the last row holding a value
        for i, v in enumerate(values):
            first.setdefault(type(v), i)
            if v is not None:
                last = i
        # The style of each kind of value, made as put_column makes it and in the same order, so
        # number formats are registered with the workbook exactly as writing cells would.
        protos: dict[type, tuple[int, Cell]] = {}
        for t, i in first.items():
            if t is type(None) or issubclass(t, str):
                continue
            v = values[i]
            if takes_format(v, number_format):
                protos[t] = (i, put(self._scratch(), 1, column, v, number_format))
            else:
                protos[t] = (i, Cell(self.ws, row=1, column=column, value=v))
        filled = [i for t, i in first.items() if t is not type(None)]
        self._columns[column] = ("values", values, protos, (min(filled), last) if filled else None)

    def put_formula_column(self, column: int, formula: str, number_format: str | None = None, fill=None) -> None:
        """:func:`rotxl.excel.cells.put_formula_column` on every row of the body."""
        first = put_formula(self._scratch(), 1, column, formula, number_format)
        if fill is not None:
            first.fill = fill
        self._columns[column] = ("formula", formula, first, (0, self.rows - 1))

    def put_formula(self, row: int, column: int, formula: str) -> None:
        """A formula the salesperson typed, over the text the column holds at ``row``."""
        if not formula.startswith("="):
            raise ValueError(f"not a formula: {formula!r}")
        self._formulas[(row, column)] = formula

    def _scratch(self) -> Worksheet:
        # A sheet of this workbook that is not in it: cells made there register their styles
        # with the workbook, as the table's own cells would, and are never written.
        if self._scratch_ws is None:
            self._scratch_ws = Worksheet(self.ws.parent, title="scratch")
        return self._scratch_ws

    def bounds(self) -> tuple[int, int, int, int] | None:
        """(min row, min column, max row, max column) of the cells the body writes, None if none."""
        spans = {c: span for c, (_, _, _, span) in self._columns.items() if span}
        if not spans:
            return None
        return (self.first_row + min(a for a, _ in spans.values()), min(spans),
                self.first_row + max(b for _, b in spans.values()), max(spans))

    # ------------------------------------------------------------ at save

    def _styled(self) -> list[tuple[int, int, object]]:
        """(row, column, style) where each style first appears: openpyxl numbers the styles in
        the order it meets them, row by row, and the body registers them in that same order."""
        first = []
        for c, (kind, _, proto, _) in self._columns.items():
            for i, cell in ([(0, proto)] if kind == "formula" else proto.values()):
                if cell.has_style:
                    first.append((self.first_row + i, c, cell._style))
        return sorted(first, key=lambda x: (x[0], x[1]))

    def _cells(self, column: int, rows: list[str]) -> list[str]:
        """Every row's cell of ``column`` as XML ("" where the row has none)."""
        kind, data, proto, _ = self._columns[column]
        letter = get_column_letter(column)
        if kind == "formula":
            s = f' s="{proto.style_id}"' if proto.has_style else ""
            tail = f'"{s}><f>{_escape(data[1:])}</f><v></v></c>'
            return [f'<c r="{letter}{r}{tail}' for r in rows]
        proto = {t: cell for t, (_, cell) in proto.items()}
        styles = {t: (f' s="{p.style_id}"' if p.has_style else "") for t, p in proto.items()}
        epoch = self.ws.parent.epoch
        out = [""] * len(rows)
        text_cache: dict[str, str] = {}
        for i, v in enumerate(data):
            if v is None:
                continue
            t = type(v)
            ref = f'<c r="{letter}{rows[i]}"'
            if isinstance(v, str):
                row = self.first_row + i
                if (row, column) in self._formulas:
                    out[i] = f'{ref}><f>{_escape(self._formulas[row, column][1:])}</f><v></v></c>'
                    continue
                cell = text_cache.get(v)
                if cell is None:
                    cell = text_cache[v] = _text_cell(clean_text(v))
                out[i] = ref + cell
            elif t is float or t is int:
                out[i] = f'{ref}{styles[t]} t="n"><v>{_number(v)}</v></c>'
            elif t in _DATES and proto[t].data_type == "d":
                out[i] = f'{ref}{styles[t]} t="n"><v>{_number(to_excel(v, epoch))}</v></c>'
            else:  # anything rarer (booleans, times, ...): the cell openpyxl makes, as it writes it
                out[i] = self._openpyxl_cell(self.first_row + i, column, v, proto[t])
        return out

    def _openpyxl_cell(self, row: int, column: int, value, proto: Cell) -> str:
        cell = Cell(self.ws, row=row, column=column, style_array=proto._style)
        cell._value, cell.data_type = value, proto.data_type
        buffer = BytesIO()
        with xmlfile(buffer) as xf:
            write_cell(xf, self.ws, cell, cell.has_style)
        return buffer.getvalue().decode("ascii")

    def write_rows(self, out) -> None:
        """The body's ``<row>`` elements, to the binary file ``out``."""
        styles = self.ws.parent._cell_styles
        for _, _, style in self._styled():
            styles.add(style)
        for row, column in self._formulas:
            if not self.first_row <= row <= self.last_row or column not in self._columns:
                raise ValueError(f"a formula at row {row}, column {column} is outside the table body")
        numbers = [str(r) for r in range(self.first_row, self.last_row + 1)]
        columns = [self._cells(c, numbers) for c in sorted(self._columns)]
        dims = self.ws.row_dimensions
        chunk: list[str] = []
        for i, parts in enumerate(zip(*columns)):
            r = self.first_row + i
            cells = "".join(parts)
            if r in dims:
                attrs = "".join(f' {k}="{v}"' for k, v in dict(dims[r]).items())
                chunk.append(f'<row r="{r}"{attrs}>{cells}</row>')
            elif cells:
                chunk.append(f'<row r="{r}">{cells}</row>')
            if len(chunk) >= 1000:
                out.write(_encode("".join(chunk)))
                chunk = []
        out.write(_encode("".join(chunk)))


class Cells:
    """Body's two column calls, writing openpyxl cells (:mod:`rotxl.excel.cells`) instead."""

    def __init__(self, ws, first_row: int, rows: int):
        self.ws, self.first_row, self.rows = ws, first_row, rows

    def put_column(self, column: int, values: list, number_format: str | None = None) -> None:
        put_column(self.ws, column, self.first_row, values, number_format)

    def put_formula_column(self, column: int, formula: str, number_format: str | None = None, fill=None) -> None:
        put_formula_column(self.ws, column, range(self.first_row, self.first_row + self.rows), formula,
                           number_format, fill)


def columns(ws, first_row: int, rows: int, stream: bool) -> Body | Cells:
    """Where a table's columns go: streamed at save (:func:`attach`), or as cells in ``ws``."""
    return attach(ws, first_row, rows) if stream else Cells(ws, first_row, rows)


def attach(ws, first_row: int, rows: int) -> Body:
    """A body for rows ``first_row``… of ``ws``; the workbook's ``save`` now writes it."""
    body = Body(ws, first_row, rows)
    setattr(ws, _ATTR, body)
    ws.parent.save = partial(save, ws.parent)  # so wb.save never writes a sheet without its body
    return body


def of(ws) -> Body | None:
    """The body attached to ``ws``, if any."""
    return getattr(ws, _ATTR, None)


class _SheetWriter(WorksheetWriter):
    """openpyxl's sheet writer, leaving the body's rows to the body."""

    def __init__(self, ws, body: Body):
        super().__init__(ws)
        self.body = body

    def rows(self):
        rows = super().rows()
        for r, cells in rows:
            if r >= self.body.first_row and (cells or r > self.body.last_row):
                raise ValueError(f"{self.ws.title}: row {r} has cells of its own where the table body is written")
        return [(r, cells) for r, cells in rows if r < self.body.first_row]

    def write_dimensions(self):
        bounds = [b for b in (self.body.bounds(),) if b]
        if self.ws._cells:
            rows, cols = zip(*self.ws._cells)
            bounds.append((min(rows), min(cols), max(rows), max(cols)))
        if not bounds:
            ref = "A1:A1"
        else:
            r0, c0 = min(b[0] for b in bounds), min(b[1] for b in bounds)
            r1, c1 = max(b[2] for b in bounds), max(b[3] for b in bounds)
            ref = f"{get_column_letter(c0)}{r0}:{get_column_letter(c1)}{r1}"
        self.xf.send(SheetDimension(ref).to_tree())


class _BookWriter(ExcelWriter):
    def write_worksheet(self, ws):
        body = of(ws)
        if body is None:
            return super().write_worksheet(ws)
        ws._drawing = SpreadsheetDrawing()  # as ExcelWriter.write_worksheet does
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = _SheetWriter(ws, body)
        writer.write()
        ws._rels = writer._rels
        xml = Path(writer.out).read_bytes()
        # The first "</sheetData>" ends the element: element text cannot hold a bare "<".
        head, tail = xml.split(b"</sheetData>", 1)
        with self._archive.open(ws.path[1:], "w", force_zip64=True) as out:
            out.write(head)
            body.write_rows(out)
            out.write(b"</sheetData>" + tail)
        self.manifest.append(ws)
        writer.cleanup()


# zlib level 3 packs a table sheet (its formula text repeated down every row) as small as the
# default level 6 does, in a third of the time: 65.8 MB of XML to 1.45 MB in 0.08 s against 0.24 s.
COMPRESS_LEVEL = 3


def save(wb, filename) -> None:
    """openpyxl's save_workbook, with every attached body written into its sheet."""
    archive = ZipFile(filename, "w", ZIP_DEFLATED, allowZip64=True, compresslevel=COMPRESS_LEVEL)
    wb.properties.modified = dt.datetime.now(tz=dt.timezone.utc).replace(tzinfo=None)
    _BookWriter(wb, archive).save()
