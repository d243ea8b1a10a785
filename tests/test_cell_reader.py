"""rotxl.excel.cell_reader reads exactly what openpyxl's load_workbook reads, cell for cell: on
workbooks rotxl built, the same edited with openpyxl and saved by LibreOffice, and on sheet XML
written the ways other tools write it (shared formulas, inline and rich text, cells and rows
without references, ISO dates, errors, the 1904 calendar)."""

from __future__ import annotations

import datetime as dt
import threading
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree
from openpyxl.cell import MergedCell
from openpyxl.worksheet.formula import ArrayFormula

from rotxl.data.sample import sample_accounts, sample_pipeline
from rotxl.excel import carry, cell_reader
from rotxl.excel.cell_reader import Book
from rotxl.excel.workbook import build_workbook
from spreadsheet import recalculate

BIG = (1, 10**6, 1, 16384)


def as_openpyxl(path: Path, title: str, area=BIG, skip=frozenset()) -> tuple[dict, set]:
    """The reference: the cells of one sheet in ``area`` as load_workbook has them."""
    ws = openpyxl.load_workbook(path)[title]
    min_row, max_row, min_col, max_col = area
    cells, formula_rows = {}, set()
    for (r, c), cell in ws._cells.items():
        if not (min_row <= r <= max_row and min_col <= c <= max_col) or isinstance(cell, MergedCell):
            continue
        if cell.data_type == "f" and c in skip:
            formula_rows.add(r)
        else:
            cells[(r, c)] = (cell.value, cell.data_type)
    return cells, formula_rows


def comparable(cells: dict) -> dict:
    """Cells with a value (openpyxl turns the empty cells of a merged range into MergedCells)."""
    return {k: ((v.ref, v.text) if isinstance(v, ArrayFormula) else v, t) for k, (v, t) in cells.items()
            if v is not None}


def assert_reads_alike(path: Path, area=BIG, skip=frozenset()) -> int:
    n = 0
    with Book(path) as book:
        assert [s.title for s in book.sheets] == openpyxl.load_workbook(path).sheetnames
        for sheet in book.sheets:
            got, got_rows = book.cells(sheet, area, skip)
            want, want_rows = as_openpyxl(path, sheet.title, area, skip)
            assert comparable(got) == comparable(want), sheet.title
            assert got_rows == want_rows, sheet.title
            n += len(comparable(got))
    return n


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A rotxl workbook as written (streamed), then a salesperson's edits with openpyxl."""
    folder = tmp_path_factory.mktemp("built")
    acc = sample_accounts(60, seed=5)
    wb = build_workbook(acc, sample_pipeline(acc, 40, seed=6), stream=True)
    wb.save(folder / "as_built.xlsx")
    wb = openpyxl.load_workbook(folder / "as_built.xlsx")
    ws = next(w for w in wb.worksheets if "Accounts" in w.tables)
    ws["C5"] = dt.datetime(2026, 11, 2)
    ws["D6"] = True
    ws["E7"] = "=SUM(E2:E4)"
    ws["F8"] = ArrayFormula("F8", "=SUM(E2:E4*2)")
    ws["G9"] = "   "
    ws["B10"] = "naïve ≥ 5 \u2028 \x7f"
    wb.save(folder / "edited.xlsx")
    return folder


def test_a_built_workbook_reads_as_openpyxl_reads_it(built):
    assert assert_reads_alike(built / "as_built.xlsx") > 1000
    assert assert_reads_alike(built / "edited.xlsx") > 1000


def test_a_sheet_read_in_small_chunks_reads_the_same(built, monkeypatch):
    """Rows and cells cut across the chunks the sheet XML is parsed in."""
    monkeypatch.setattr(cell_reader, "_CHUNK", 97)
    assert_reads_alike(built / "edited.xlsx", (2, 30, 1, 40), skip=frozenset(range(3, 30, 2)))


def test_only_the_area_asked_for_and_formulas_skipped_by_column(built):
    path = built / "edited.xlsx"
    assert_reads_alike(path, (2, 30, 3, 12), skip=frozenset({5, 9, 10}))
    with Book(path) as book:
        accounts = next(s for s in book.sheets if any(t.name == "Accounts" for t in s.tables))
        cells, rows = book.cells(accounts, (2, 30, 3, 12), frozenset(range(3, 13)))
    assert all(t != "f" for _, t in cells.values()) and rows


def test_a_libreoffice_save_reads_as_openpyxl_reads_it(built, tmp_path):
    [saved] = recalculate([built / "edited.xlsx"], tmp_path / "lo")
    assert assert_reads_alike(saved) > 1000
    derived = frozenset(range(3, 40))
    assert assert_reads_alike(saved, skip=derived) > 100
    # LibreOffice writes <f aca="false">: its formula cells are cut before parsing as well
    with zipfile.ZipFile(saved) as z, Book(saved) as book:
        accounts = next(s for s in book.sheets if any(t.name == "Accounts" for t in s.tables))
        cut = cell_reader._skipped_formula_cells(derived).split(z.read(accounts.part.lstrip("/")))[1::2]
    assert len(cut) > 500


SHEET = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t xml:space="preserve"> ID </t></is></c><c r="B1" t="s"><v>0</v></c><c r="C1" t="str"><f>"x"&amp;"y"</f><v>xy</v></c></row>
<row r="2" spans="1:6"><c r="A2"><v>1</v></c><c r="B2" s="1"><v>45000.5</v></c><c r="C2"><f t="shared" ref="C2:C4" si="0">A2*2</f><v>2</v></c><c r="D2" t="b"><v>1</v></c><c r="E2"><f t="shared" ref="E2:F2" si="1">$A2+B$2</f></c><c r="F2"><f t="shared" si="1"/></c></row>
<row><c><v>2</v></c><c t="e"><v>#N/A</v></c><c r="C3"><f t="shared" si="0"/><v>4</v></c><c r="D3" t="d"><v>2026-11-20T10:30:00</v></c></row>
<row r="4.0"><c r="A4" t="s"><v>1</v></c><c r="C4"><f t="shared" si="0"/></c><c r="D4"><f t="array" ref="D4">SUM(A2:A3)</f><v>3</v></c><c r="E4" s="1"/></row>
<row r="7"><c r="A7"><v>1E-3</v></c><c r="B7" t="inlineStr"><is><r><t>a</t></r><r><rPr><b/></rPr><t>b</t></r></is></c><c r="C7" t="s"><v>2</v></c><c r="D7"><v>5</v><f>A7*5</f></c></row>
</sheetData></worksheet>"""
STRINGS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="3" uniqueCount="3">
<si><t>plain</t></si><si><r><t xml:space="preserve">rich </t></r><r><rPr><b/></rPr><t>text</t></r><rPh sb="0" eb="1"><t>phon</t></rPh></si>
<si><t>_x005F_x000D_ kept</t></si></sst>"""


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PARTS = {
    "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>",
    "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
    "xl/styles.xml": f'<styleSheet xmlns="{MAIN}"><fonts count="1"><font><sz val="11"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>',
}


def one_sheet_workbook(path: Path, sheet_xml: str, date1904: bool = False) -> Path:
    """An xlsx of one sheet "Data" holding ``sheet_xml``, with STRINGS and two cell styles."""
    workbook = (f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><workbookPr date1904="{int(date1904)}"/>'
                '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>')
    with zipfile.ZipFile(path, "w") as z:
        for name, text in {**PARTS, "xl/workbook.xml": workbook, "xl/worksheets/sheet1.xml": sheet_xml,
                           "xl/sharedStrings.xml": STRINGS}.items():
            z.writestr(name, text)
    return path


@pytest.mark.parametrize("date1904", [False, True])
def test_sheet_xml_as_other_tools_write_it(tmp_path, date1904):
    path = one_sheet_workbook(tmp_path / "other.xlsx", SHEET, date1904)
    assert assert_reads_alike(path) == 20
    assert assert_reads_alike(path, (2, 4, 1, 6), skip=frozenset({3, 5})) == 9
    with Book(path) as book:
        cells, rows = book.cells(book.sheets[0], (2, 4, 1, 6), frozenset({3, 5}))
    assert cells[(2, 6)] == ("=$A2+C$2", "f")  # shared from E2, which was skipped
    assert cells[(3, 1)] == (2, "n") and cells[(3, 2)] == ("#N/A", "e") and rows == {2, 3, 4}
    assert cells[(2, 2)][0] == (dt.datetime(2027, 3, 16, 12) if date1904 else dt.datetime(2023, 3, 15, 12))
    with Book(path) as book:
        cells, rows = book.cells(book.sheets[0], (7, 7, 1, 6), frozenset({4}))
    assert (7, 4) not in cells and rows == {7}  # a formula after its value is still a formula


# Cells the reader cuts from the bytes before parsing (plain formulas in skipped columns), beside
# what must stop it: a cell without its reference after a cut one, and CDATA text that looks like a cell.
CUT = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>ID</t></is></c><c r="B1"><f>1+1</f><v>2</v></c></row>
<row r="2"><c r="A2"><v>1</v></c><c r="B2" s="0" t="str"><f aca="false">"a"&amp;"b"</f><v>ab</v></c><c r="C2"><f>A2</f><v/></c></row>
<row r="3"><c r="B3"><f>A3*2</f><v></v></c><c r="C3"><f>A3</f></c></row>
<row r="4"><c r="A4"><v>4</v></c><c r="B4"><f>A4*2</f><v>8</v></c><c><v>9</v></c><c r="D4"><f>B4</f><v>8</v></c></row>
<row r="5"><c r="A5" t="inlineStr"><is><t><![CDATA[<c r="B5"><f>X</f><v>1</v></c> kept]]></t></is></c><c r="B5"><f>A5</f></c></row>
<row r="9"><c r="B9"><f>A9</f><v>0</v></c></row>
</sheetData></worksheet>"""


@pytest.mark.parametrize("sheet", ["cut", "without a reference", "cdata"])
def test_formula_cells_cut_before_parsing_read_as_openpyxl_reads_them(tmp_path, sheet):
    xml = CUT if sheet == "without a reference" else CUT.replace("<c><v>9</v></c>", '<c r="C4"><v>9</v></c>')
    if sheet != "cdata":
        xml = xml.replace('<![CDATA[<c r="B5"><f>X</f><v>1</v></c> kept]]>', "&lt;c&gt; kept")
    path = one_sheet_workbook(tmp_path / "cut.xlsx", xml)
    assert_reads_alike(path)
    assert_reads_alike(path, (2, 5, 1, 4), skip=frozenset({2, 3}))
    with Book(path) as book:
        cells, rows = book.cells(book.sheets[0], (2, 5, 1, 4), frozenset({2, 3}))
    assert rows == {2, 3, 4, 5}  # row 3 holds formulas only; row 9 is outside the area
    assert cells[(4, 3)] == (9, "n") and cells[(4, 4)] == ("=B4", "f")
    if sheet == "cdata":
        assert cells[(5, 1)] == ('<c r="B5"><f>X</f><v>1</v></c> kept', "s")


@pytest.mark.parametrize("xml", ["", "<", '<worksheet xmlns="%s"><sheetData/></worksheet>' % MAIN])
def test_an_empty_or_broken_sheet_part_ends(tmp_path, xml):
    got: list = []

    def read() -> None:
        with Book(one_sheet_workbook(tmp_path / "empty.xlsx", xml)) as book:
            try:
                got.append(book.cells(book.sheets[0], BIG, frozenset({1})))
            except etree.XMLSyntaxError as e:
                got.append(e)

    reader = threading.Thread(target=read, daemon=True)  # a reader that loops for ever fails the test, not the run
    reader.start()
    reader.join(60)
    assert got, "the reader did not end"
    assert got[0] == ({}, set()) if xml.startswith("<worksheet") else isinstance(got[0], etree.XMLSyntaxError)


def test_hostile_xml_is_not_expanded(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"] = "x"
    wb.save(tmp_path / "base.xlsx")
    laughs = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
              '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
              '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
              '<row r="1"><c r="A1" t="inlineStr"><is><t>&c;</t></is></c></row></sheetData></worksheet>')
    path = tmp_path / "laughs.xlsx"
    with zipfile.ZipFile(tmp_path / "base.xlsx") as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, laughs.encode() if item.filename == "xl/worksheets/sheet1.xml" else src.read(item.filename))
    with Book(path) as book:
        cells, _ = book.cells(book.sheets[0], BIG)
    assert "aaaaaaaaaa" * 10 not in str(cells.get((1, 1), ""))


def test_a_table_frame_is_the_table_as_openpyxl_reads_it(built):
    """read_owner_workbook's tables against the same tables read cell by cell from load_workbook."""
    formulas = {"Accounts": {"Segment", "ROT", "Action"}, "Pipeline": {"Priority", "Expected Value"}}
    got = carry.read_owner_workbook(built / "edited.xlsx", formulas, {"Start", "Settings"})
    wb = openpyxl.load_workbook(built / "edited.xlsx")
    for ws in wb.worksheets:
        for t in ws.tables.values():
            name = t.name
            if name not in formulas:
                continue
            frame = got.tables[name]
            headers = [c.name for c in t.tableColumns]
            c1 = openpyxl.utils.range_boundaries(t.ref)[0]
            for i, r in enumerate(frame["_row"]):
                for j, h in enumerate(headers):
                    if h in formulas[name]:
                        continue
                    cell = ws.cell(r, c1 + j)
                    want = carry._value(cell.value, cell.data_type, r)
                    assert frame[h].iloc[i] == want or (want is None and frame[h].iloc[i] is None), (name, r, h)
    assert got.tables["Accounts"].loc[got.tables["Accounts"]["_row"] == 7].iloc[0].notna().any()
    assert {"Dashboard", "Chart Data", "This Week"} <= {s.title for s in got.sheets}  # not rotxl's here
