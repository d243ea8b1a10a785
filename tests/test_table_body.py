"""A streamed table body (rotxl.excel.table_body) writes the very file openpyxl writes from cells."""

from __future__ import annotations

import datetime as dt
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from lxml.etree import xmlfile
from io import BytesIO

from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline
from rotxl.data.state import Formula
from rotxl.excel import carry, table_body
from rotxl.excel.cells import clean_text, put
from rotxl.excel.workbook import build_workbook
from rotxl.rules import learn
from rotxl.rules.settings import Settings

HOSTILE = ["plain", " spaced ", "a&b<c>d\"e'f", "line\r\nbreak\tand tab", "=cmd|' /C calc'!A0",
           "=HYPERLINK(\"http://x\")", "#N/A", "bad\x01char", "</sheetData>", "ünïcødé ✓", "x" * 40_000, "\ufffe"]


def _parts(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}  # core.xml: the save time


def _frames(n_acc: int = 60, n_opp: int = 90) -> tuple[pd.DataFrame, pd.DataFrame]:
    acc = sample_accounts(n_acc, seed=5).astype(object)
    pipe = sample_pipeline(acc, n_opp, seed=6).astype(object)
    k = min(len(HOSTILE), n_acc)
    acc.loc[: k - 1, "Account"] = HOSTILE[:k]
    acc.loc[3, "Revenue"] = "n/a"  # text in a money column: text cell, no style
    acc.loc[4, "Hours"] = float("nan")
    acc.loc[5, "Margin"] = 1  # an int among floats
    acc["Notes"] = [None, True, dt.datetime(2026, 1, 2, 3, 4), dt.date(2026, 5, 6), np.float64(2.5), 7, "text",
                    dt.time(9, 30), ""] + [None] * (n_acc - 9)
    acc.loc[6, "Hours"] = Formula("=2*3", 9)  # typed by a salesperson on row 9 of the old file
    pipe.loc[: k - 1, "Opportunity"] = HOSTILE[:k]
    pipe.loc[0, "Status"], pipe.loc[1, "Status"] = "Won", "Lost"  # closed rows: grouped at the end
    pipe.loc[1, "Lost Reason"] = "=price"
    return acc, pipe


def _build(acc, pipe, stream: bool, path, model=None):
    wb = build_workbook(acc, pipe, Settings(as_of=SAMPLE_AS_OF), model=model, stream=stream)
    for ws in wb.worksheets:
        for name, frame in (("Accounts", acc), ("Pipeline", pipe)):
            if name in ws.tables and frame is not None:
                carry.write_table_formulas(ws, frame)
    wb.save(path)
    return path


def test_streamed_workbook_is_the_workbook_of_cells(tmp_path):
    acc, pipe = _frames()
    cells, streamed = _parts(_build(acc, pipe, False, tmp_path / "cells.xlsx")), \
        _parts(_build(acc, pipe, True, tmp_path / "stream.xlsx"))
    assert cells.keys() == streamed.keys()
    for name in cells:
        assert cells[name] == streamed[name], name
    # and the file is what it should be: text stays text, the typed formula is a formula
    ws = openpyxl.load_workbook(tmp_path / "stream.xlsx")["Accounts"]
    head = [c.value for c in ws[1]]
    col = {h: i for i, h in enumerate(head)}
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert any(r[col["Account"]] == "=cmd|' /C calc'!A0" for r in rows)
    assert sum(isinstance(r[col["Hours"]], str) and r[col["Hours"]] == "=2*3" for r in rows) == 1
    assert ws.cell(2 + [r[col["Hours"]] for r in rows].index("=2*3"), col["Hours"] + 1).data_type == "f"
    assert ws.max_row == len(acc) + 1


def test_streamed_with_a_model_and_empty_tables(tmp_path):
    acc, pipe = _frames(120, 400)
    model = learn.learn_from(pipe, Settings(as_of=SAMPLE_AS_OF), ())
    assert isinstance(model, learn.Model)
    for a, p in ((acc, pipe), (acc.iloc[:0], pipe.iloc[:0]), (None, None)):
        one = _parts(_build(a, p, False, tmp_path / "a.xlsx", model if p is not None and len(p) else None))
        two = _parts(_build(a, p, True, tmp_path / "b.xlsx", model if p is not None and len(p) else None))
        assert one == two


def test_a_cell_written_into_the_body_is_refused(tmp_path):
    wb = build_workbook(*_frames(), stream=True)
    wb["Accounts"].cell(5, 2).value = "x"
    with pytest.raises(ValueError, match="table body"):
        wb.save(tmp_path / "x.xlsx")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_text_is_escaped_as_lxml_escapes_it(text):
    text = clean_text(text)
    wb = openpyxl.Workbook()
    cell = put(wb.active, 1, 1, text)
    buffer = BytesIO()
    with xmlfile(buffer) as xf:
        openpyxl.cell._writer.write_cell(xf, wb.active, cell, False)
    assert buffer.getvalue() == table_body._encode('<c r="A1"' + table_body._text_cell(text))
