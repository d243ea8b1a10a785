"""The rotxl add-in (.xlam), checked without Excel: its ribbon, its VBA project read back by
oletools (olevba, olefile), and LibreOffice opening it and importing its VBA modules."""

from __future__ import annotations

import random
import re
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import warnings

import olefile
import pytest
from click.testing import CliRunner

with warnings.catch_warnings():  # oletools still spells pyparsing's old names
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools.olevba import VBA_Parser, decompress_stream

from rotxl.excel import addin, macros
from spreadsheet import soffice

CUSTOMUI = "{http://schemas.microsoft.com/office/2006/01/customui}"


@pytest.fixture(scope="module")
def xlam(tmp_path_factory) -> Path:
    return addin.write_addin(tmp_path_factory.mktemp("addin") / "rotxl.xlam", interpreter=r"C:\Python311\pythonw.exe")


@pytest.fixture(scope="module")
def vba(xlam) -> dict[str, str]:
    """Module name -> source, as olevba reads them back."""
    parser = VBA_Parser(str(xlam))
    try:
        return {Path(name).stem: code for _, _, name, code in parser.extract_all_macros()}
    finally:
        parser.close()


def buttons(xlam: Path) -> list[ET.Element]:
    with zipfile.ZipFile(xlam) as z:
        root = ET.fromstring(z.read("customUI/customUI.xml"))  # well-formed, or this raises
    assert root.tag == f"{CUSTOMUI}customUI"
    return list(root.iter(f"{CUSTOMUI}button"))


def test_package_parts_and_relationships(xlam):
    with zipfile.ZipFile(xlam) as z:
        assert z.testzip() is None
        names = set(z.namelist())
        types = z.read("[Content_Types].xml").decode()
        rels = z.read("_rels/.rels").decode()
        book_rels = z.read("xl/_rels/workbook.xml.rels").decode()
        for part in names:
            if part.endswith((".xml", ".rels")):
                ET.fromstring(z.read(part))
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        workbook = z.read("xl/workbook.xml").decode()
    assert {"customUI/customUI.xml", "xl/vbaProject.bin", "xl/workbook.xml", "xl/worksheets/sheet1.xml"} <= names
    assert 'PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.addin.macroEnabled.main+xml"' in types
    assert 'ContentType="application/vnd.ms-office.vbaProject"' in types
    assert 'ui/extensibility" Target="customUI/customUI.xml"' in rels
    assert 'relationships/vbaProject" Target="vbaProject.bin"' in book_rels
    # xlwings reads RunPython's settings from a sheet named after the VBA project.
    assert 'name="rotxl.conf"' in workbook and 'codeName="ThisWorkbook"' in workbook
    assert "<t>Interpreter_Win</t>" in sheet and r"<t>C:\Python311\pythonw.exe</t>" in sheet


def test_ribbon_has_a_tab_a_group_per_theme_and_a_callback_per_button(xlam):
    with zipfile.ZipFile(xlam) as z:
        root = ET.fromstring(z.read("customUI/customUI.xml"))
    (tab,) = root.iter(f"{CUSTOMUI}tab")
    assert tab.get("label") == "ROT"
    groups = [g.get("label") for g in tab.iter(f"{CUSTOMUI}group")]
    assert groups == ["Data", "Plan", "Thresholds", "Team"]
    found = buttons(xlam)
    assert len(found) == len(addin.ACTIONS) == 8
    assert len({b.get("id") for b in found}) == len(found)
    for b in found:
        assert b.get("onAction", "").startswith(f"{addin.RIBBON_MODULE}.")
        assert b.get("imageMso") and b.get("label") and b.get("screentip") and b.get("supertip")


def test_every_callback_is_in_the_vba_project_and_runs_its_action(xlam, vba):
    ribbon = vba[addin.RIBBON_MODULE]
    subs = dict(re.findall(r'Sub (\w+)\(control As IRibbonControl\)\s+RunPython "import rotxl\.excel\.macros; rotxl\.excel\.macros\.(\w+)\(\)"\s+End Sub',
                           ribbon))
    want = {a.callback: a.function for a in addin.ACTIONS}
    assert subs == want
    for b in buttons(xlam):
        callback = b.get("onAction").split(".", 1)[1]
        action = next(a for a in addin.ACTIONS if a.callback == callback)
        assert b.get("label") == action.label
        assert callable(getattr(macros, subs[callback]))  # the action exists
        assert subs[callback] in macros.__all__


def test_the_xlwings_module_comes_from_the_installed_xlwings(vba):
    import xlwings

    code = vba["xlwings"]
    assert "Public Function RunPython(PythonCommand As String)" in code
    assert f'Public Const XLWINGS_VERSION As String = "{xlwings.__version__}"' in code
    assert 'Public Const PROJECT_NAME As String = "rotxl"' in code
    assert "xlwings is distributed under a BSD 3-clause license." in code  # the notice travels along
    assert "Public Property Get Count() As Long" in vba["Dictionary"] and "License: MIT" in vba["Dictionary"]
    assert set(vba) == {"ThisWorkbook", "Sheet1", "xlwings", "Dictionary", addin.RIBBON_MODULE}


def test_vba_project_holds_source_only(xlam):
    with zipfile.ZipFile(xlam) as z:
        data = z.read("xl/vbaProject.bin")
    ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT)  # strict: structural defects raise
    assert sorted("/".join(e) for e in ole.listdir()) == [
        "PROJECT", "PROJECTwm", "VBA/Dictionary", f"VBA/{addin.RIBBON_MODULE}", "VBA/Sheet1", "VBA/ThisWorkbook",
        "VBA/_VBA_PROJECT", "VBA/dir", "VBA/xlwings"]
    assert ole.openstream("VBA/_VBA_PROJECT").read()[:4] == bytes([0xCC, 0x61, 0xFF, 0xFF])  # compile from source
    project = ole.openstream("PROJECT").read().decode("cp1252")
    assert 'Name="rotxl"' in project and f"Module={addin.RIBBON_MODULE}" in project and "Class=Dictionary" in project
    d = bytes(decompress_stream(bytearray(ole.openstream("VBA/dir").read())))
    offsets = []
    i = 0
    while i < len(d):
        rid, size = struct.unpack_from("<HI", d, i)
        size = 6 if rid == 0x0009 else size
        if rid == 0x0031:
            offsets.append(struct.unpack_from("<I", d, i + 6)[0])
        i += 6 + size
    assert offsets == [0] * 5  # every module stream starts with its source


@pytest.mark.parametrize("data", [
    b"",
    b"a",
    b"abcabcabcabcabc" * 3,
    b"x" * 4096,  # exactly one chunk of one byte repeated
    bytes(random.Random(1).randrange(256) for _ in range(9000)),  # incompressible: raw chunks
    ("Sub A()\r\n    RunPython \"x\"\r\nEnd Sub\r\n" * 700).encode(),  # source across chunk borders
])
def test_compression_reads_back(data):
    packed = addin.compress(data)
    assert bytes(decompress_stream(bytearray(packed)))[:len(data)] == data
    if len(data) > 100 and data[:50] == data[50:100]:
        assert len(packed) < len(data) / 2  # repetitive text does compress


def test_libreoffice_opens_it_and_imports_the_vba(xlam, tmp_path):
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             # LibreOffice does not recognise the add-in's extension, so name the filter.
             "--infilter=Calc MS Excel 2007 VBA XML", "--convert-to", "ods", "--outdir", str(tmp_path), str(xlam)],
            capture_output=True, text=True, timeout=300,
        )
    assert run.returncode == 0, run.stderr
    out = tmp_path / "rotxl.ods"
    assert out.exists(), run.stdout + run.stderr
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        ribbon = z.read(f"Basic/rotxl/{addin.RIBBON_MODULE}.xml").decode()
        content = z.read("content.xml").decode()
    assert {f"Basic/rotxl/{m}.xml" for m in ("xlwings", "Dictionary", "ThisWorkbook", "Sheet1")} <= names
    for a in addin.ACTIONS:
        assert f"Sub {a.callback}(control As IRibbonControl)" in ribbon
        assert f"rotxl.excel.macros.{a.function}()" in ribbon
    assert "rotxl.conf" in content and "Interpreter_Win" in content


def test_same_input_same_bytes_and_no_interpreter_means_a_template_sheet(tmp_path, monkeypatch):
    monkeypatch.setattr(addin.sys, "platform", "linux")
    a = addin.write_addin(tmp_path / "a.xlam").read_bytes()
    b = addin.write_addin(tmp_path / "b.xlam").read_bytes()
    assert a == b
    with zipfile.ZipFile(tmp_path / "a.xlam") as z:
        assert 'name="_rotxl.conf"' in z.read("xl/workbook.xml").decode()


def test_command_writes_atomically_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    out = tmp_path / "rotxl.xlam"
    first = runner.invoke(addin.addin_command, ["-o", str(out)])
    assert first.exit_code == 0, first.output
    assert zipfile.is_zipfile(out) and "Wrote" in first.output
    before = out.read_bytes()
    again = runner.invoke(addin.addin_command, ["-o", str(out), "--interpreter", r"C:\Py\pythonw.exe"])
    assert again.exit_code == 2 and "already exists" in again.output and out.read_bytes() == before
    forced = runner.invoke(addin.addin_command, ["-o", str(out), "--force", "--interpreter", r"C:\Py\pythonw.exe"])
    assert forced.exit_code == 0 and out.read_bytes() != before
    wrong = runner.invoke(addin.addin_command, ["-o", str(tmp_path / "rotxl.xlsm")])
    assert wrong.exit_code == 2 and ".xlam" in wrong.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rotxl.xlam"]  # no temporary file left behind
