"""The column writers write exactly what the one-cell writers write (values, types, styles, XML)."""

from __future__ import annotations

import datetime as dt
import zipfile

import numpy as np
import openpyxl
from openpyxl.styles import PatternFill

from rotxl.excel.cells import put, put_column, put_formula, put_formula_column

VALUES = ["plain", " spaced ", "=cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\")", "#N/A", "bad\x01char", "",
          "x" * 40_000, 12, -3.5, np.float64(2.25), np.int64(7), 1e308, True, False, None,
          dt.date(2026, 11, 23), dt.datetime(2026, 11, 23, 9, 30), dt.date(9999, 12, 31), 0, None, "last"]


def _sheet_xml(path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read("xl/worksheets/sheet1.xml")


def _save(wb, path):
    wb.save(path)
    return _sheet_xml(path)


def test_put_column_writes_what_put_writes(tmp_path):
    for fmt in (None, "#,##0.00", "yyyy-mm-dd"):
        one, many = openpyxl.Workbook(), openpyxl.Workbook()
        for i, v in enumerate(VALUES, start=2):
            if v is not None:
                put(one.active, i, 3, v, fmt)
        put_column(many.active, 3, 2, VALUES, fmt)
        a, b = one.active, many.active
        assert sorted(a._cells) == sorted(b._cells)
        for key, cell in a._cells.items():
            other = b._cells[key]
            assert (cell.value, cell.data_type, cell.number_format) == (other.value, other.data_type, other.number_format)
        assert b["C4"].data_type == "s" and b["C4"].value.startswith("=")  # data text is never a formula
        assert _save(one, tmp_path / "one.xlsx") == _save(many, tmp_path / "many.xlsx")


def test_put_formula_column_writes_what_put_formula_writes(tmp_path):
    fill = PatternFill("solid", fgColor="F2F2F2")
    one, many = openpyxl.Workbook(), openpyxl.Workbook()
    for r in range(2, 40):
        put_formula(one.active, r, 2, "=Accounts[[#This Row],[Hours]]*2", "0.0").fill = fill
    put_formula_column(many.active, 2, range(2, 40), "=Accounts[[#This Row],[Hours]]*2", "0.0", fill)
    put_formula_column(many.active, 3, range(2, 2), "=1")  # no rows: nothing written
    assert [(c.value, c.data_type, c.number_format, tuple(c._style)) for c in many.active["B"][1:]] == \
           [(c.value, c.data_type, c.number_format, tuple(c._style)) for c in one.active["B"][1:]]
    assert _save(one, tmp_path / "one.xlsx") == _save(many, tmp_path / "many.xlsx")
