"""The rotxl add-in for Windows Excel: a "ROT" ribbon tab whose buttons run rotxl.excel.macros through
xlwings (``RunPython "import rotxl.excel.macros; rotxl.excel.macros.check()"``).

The add-in is written from source, without Excel: the ribbon XML, a small workbook, and a VBA
project (vbaProject.bin) holding

- the xlwings VBA module for custom add-ins and its Dictionary class, taken from the installed
  xlwings package (``xlwings_custom_addin.bas``, ``addin/Dictionary.cls``), so the add-in always
  matches the xlwings version that runs the actions; both carry their licence notices (xlwings:
  BSD 3-clause, Zoomer Analytics; Dictionary: MIT, Tim Hall);
- a module of ribbon callbacks, one per button, generated from ACTIONS below.

The VBA project holds source code only: its _VBA_PROJECT stream has version 0xFFFF, which tells
Excel to compile the modules from their source on first load (MS-OVBA 2.3.4.1), the way xlwings'
own add-in templates are built. The compound file (MS-CFB) and the module compression (MS-OVBA
2.4.1) are written here, in plain Python.
"""

from __future__ import annotations

import os
import random
import struct
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import click

from ..data.files import FileExistsNoForce, atomic_write

PROJECT = "rotxl"  # the VBA project's name, and xlwings' PROJECT_NAME: config sheet rotxl.conf
RIBBON_MODULE = "RibbonROT"


@dataclass(frozen=True)
class Action:
    group: str
    callback: str  # the VBA Sub the button calls
    function: str  # the function in rotxl.excel.macros it runs
    label: str
    image: str  # imageMso: an icon built into Office
    tip: str


ACTIONS: tuple[Action, ...] = (
    Action("Data", "ImportExport", "import_export", "Import export", "ImportTextFile",
           "Merge a CRM export (CSV or Excel) into the Accounts or Pipeline table. What you typed is kept; "
           "rows that left the export are kept and marked."),
    Action("Data", "CheckRows", "check", "Check", "DataValidation",
           "List every row with an issue on the Check sheet."),
    Action("Plan", "Prioritise", "prioritise", "Prioritise", "SortDialog",
           "Sort Accounts by segment and ROT, and the Pipeline by priority and expected value."),
    Action("Plan", "LearnFromHistory", "learn_from_history", "Learn from history", "GoalSeek",
           "Learn from the Pipeline's won and lost deals how likely each open deal is to be won, and why."),
    Action("Thresholds", "FreezeThresholds", "freeze_thresholds", "Freeze thresholds", "Lock",
           "Write today's thresholds into Settings as numbers: they stop following the data."),
    Action("Thresholds", "LiveThresholds", "live_thresholds", "Live thresholds", "Refresh",
           "Let the thresholds follow the data again (percentiles of the valid rows)."),
    Action("Team", "BuildTeam", "build_team_workbooks", "Build team workbooks", "ExportExcel",
           "One workbook per owner and a Team Rollup, in a folder next to this workbook."),
    Action("Plan", "PlanMyWeek", "plan_my_week", "Plan my week", "DateAndTimeInsert",
           "Every owner's plan for the week on the Plan sheet: follow-ups first, then the hours that pay most."),
)


# ---------------------------------------------------------------- ribbon and VBA source


def ribbon_xml() -> str:
    groups: dict[str, list[Action]] = {}
    for a in ACTIONS:
        groups.setdefault(a.group, []).append(a)
    lines = ['<customUI xmlns="http://schemas.microsoft.com/office/2006/01/customui">',
             "  <ribbon>", "    <tabs>", '      <tab id="rotxlTab" label="ROT">']
    for group, actions in groups.items():
        lines.append(f'        <group id="rotxl{group}" label={quoteattr(group)}>')
        for a in actions:
            lines.append(f'          <button id="rotxl{a.callback}" label={quoteattr(a.label)} size="large" '
                         f'imageMso="{a.image}" screentip={quoteattr(a.label)} supertip={quoteattr(a.tip)} '
                         f'onAction="{RIBBON_MODULE}.{a.callback}"/>')
        lines.append("        </group>")
    lines += ["      </tab>", "    </tabs>", "  </ribbon>", "</customUI>", ""]
    return "\n".join(lines)


def ribbon_module() -> str:
    subs = [f'Attribute VB_Name = "{RIBBON_MODULE}"',
            "' Ribbon callbacks of the ROT tab: each button runs one action of rotxl.excel.macros through xlwings."]
    for a in ACTIONS:
        subs += ["", f"Sub {a.callback}(control As IRibbonControl)",
                 f'    RunPython "import rotxl.excel.macros; rotxl.excel.macros.{a.function}()"', "End Sub"]
    return "\r\n".join(subs) + "\r\n"


def _xlwings_dir() -> Path:
    import xlwings

    return Path(xlwings.__file__).parent


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def xlwings_module() -> str:
    """xlwings' VBA module for custom add-ins, its config named after this project."""
    text = (_xlwings_dir() / "xlwings_custom_addin.bas").read_text(encoding="cp1252")
    old = 'Public Const PROJECT_NAME As String = "myaddin"'
    if old not in text:
        raise RuntimeError("this xlwings version's add-in module has no PROJECT_NAME constant to set")
    return _crlf(text.replace(old, f'Public Const PROJECT_NAME As String = "{PROJECT}"'))


def dictionary_module() -> str:
    """xlwings' Dictionary class (used on the Mac), with the attributes a class module's stream
    holds in place of the exported file's VERSION/BEGIN/END header."""
    lines = _crlf((_xlwings_dir() / "addin" / "Dictionary.cls").read_text(encoding="cp1252")).split("\r\n")
    lines = lines[lines.index('Attribute VB_Name = "Dictionary"'):]
    end = next(i for i, line in enumerate(lines) if not line.startswith("Attribute VB_"))
    given = {line.split("=")[0].strip(): line for line in lines[:end]}
    header = [
        'Attribute VB_Name = "Dictionary"', 'Attribute VB_Base = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"',
        "Attribute VB_GlobalNameSpace = False", "Attribute VB_Creatable = False", "Attribute VB_PredeclaredId = False",
        given.get("Attribute VB_Exposed", "Attribute VB_Exposed = False"), "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = False", *([given["Attribute VB_Description"]] if "Attribute VB_Description" in given else []),
    ]
    return "\r\n".join(header + lines[end:])


def document_module(name: str, base: str) -> str:
    """The code module behind a workbook (base 00020819) or a worksheet (00020820): empty."""
    return "\r\n".join([
        f'Attribute VB_Name = "{name}"', f'Attribute VB_Base = "0{{{base}-0000-0000-C000-000000000046}}"',
        "Attribute VB_GlobalNameSpace = False", "Attribute VB_Creatable = False", "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True", "Attribute VB_TemplateDerived = False", "Attribute VB_Customizable = True", "",
    ])


# ---------------------------------------------------------------- MS-OVBA: compression, dir stream, PROJECT


def compress(data: bytes) -> bytes:
    """MS-OVBA 2.4.1 CompressedContainer: chunks of 4096 bytes, each LZ77-compressed with copy
    tokens whose offset/length split grows with the position in the chunk."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start:start + 4096]
        body = _compress_chunk(chunk)
        if len(body) <= 4096:
            out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
        else:  # incompressible: a raw chunk, always 4096 bytes (padded)
            out += struct.pack("<H", 0x3000 | 0xFFF) + chunk.ljust(4096, b"\x00")
    return bytes(out)


def _compress_chunk(chunk: bytes) -> bytes:
    out = bytearray()
    seen: dict[bytes, list[int]] = {}  # 3-byte prefix -> positions, for finding matches quickly
    pos = 0
    while pos < len(chunk):
        flags, tokens = 0, bytearray()
        for bit in range(8):
            if pos >= len(chunk):
                break
            bits = max((pos - 1).bit_length(), 4)
            max_len = (0xFFFF >> bits) + 3
            best_len, best_at = 0, 0
            for at in reversed(seen.get(chunk[pos:pos + 3], [])[-64:]):
                n = 0
                while n < max_len and pos + n < len(chunk) and chunk[at + n] == chunk[pos + n]:
                    n += 1
                if n > best_len:
                    best_len, best_at = n, at
                if n == max_len:
                    break
            step = best_len if best_len >= 3 else 1
            if best_len >= 3:
                flags |= 1 << bit
                tokens += struct.pack("<H", ((pos - best_at - 1) << (16 - bits)) | (best_len - 3))
            else:
                tokens.append(chunk[pos])
            for p in range(pos, pos + step):
                seen.setdefault(chunk[p:p + 3], []).append(p)
            pos += step
        out.append(flags)
        out += tokens
    return bytes(out)


def _record(rid: int, data: bytes) -> bytes:
    return struct.pack("<HI", rid, len(data)) + data


def _text_record(rid: int, uid: int, text: str) -> bytes:
    return _record(rid, text.encode("cp1252")) + _record(uid, text.encode("utf-16-le"))


@dataclass(frozen=True)
class Module:
    name: str
    kind: str  # "std", "class" or "document"
    source: str


REFERENCES: tuple[tuple[str, str], ...] = (
    ("stdole", r"*\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\Windows\System32\stdole2.tlb#OLE Automation"),
    # IRibbonControl, the type of the callbacks' argument, comes from the Office library.
    ("Office", r"*\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0#"
               r"C:\Program Files\Common Files\Microsoft Shared\OFFICE16\MSO.DLL#Microsoft Office 16.0 Object Library"),
)


def dir_stream(modules: list[Module]) -> bytes:
    """MS-OVBA 2.3.4.2: project information, references and modules, uncompressed."""
    d = bytearray()
    d += _record(0x0001, struct.pack("<I", 1))  # SYSKIND: 32-bit Windows; Excel 64-bit recompiles from source
    d += _record(0x0002, struct.pack("<I", 0x409))  # LCID
    d += _record(0x0014, struct.pack("<I", 0x409))  # LCIDINVOKE
    d += _record(0x0003, struct.pack("<H", 1252))  # CODEPAGE
    d += _record(0x0004, PROJECT.encode("cp1252"))  # NAME
    d += _text_record(0x0005, 0x0040, "")  # DOCSTRING
    d += _text_record(0x0006, 0x003D, "")  # HELPFILEPATH (both records hold the path)
    d += _record(0x0007, struct.pack("<I", 0))  # HELPCONTEXT
    d += _record(0x0008, struct.pack("<I", 0))  # LIBFLAGS
    d += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # VERSION: its size field is fixed at 4 but 6 bytes follow
    d += _text_record(0x000C, 0x003C, "")  # CONSTANTS
    for name, libid in REFERENCES:
        d += _text_record(0x0016, 0x003E, name)
        lib = libid.encode("cp1252")
        d += _record(0x000D, struct.pack("<I", len(lib)) + lib + struct.pack("<IH", 0, 0))
    d += _record(0x000F, struct.pack("<H", len(modules)))
    d += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for m in modules:
        d += _text_record(0x0019, 0x0047, m.name)  # NAME, NAMEUNICODE
        d += _text_record(0x001A, 0x0032, m.name)  # STREAMNAME
        d += _text_record(0x001C, 0x0048, "")  # DOCSTRING
        d += _record(0x0031, struct.pack("<I", 0))  # OFFSET: the stream is all source, no p-code
        d += _record(0x001E, struct.pack("<I", 0))  # HELPCONTEXT
        d += _record(0x002C, struct.pack("<H", 0xFFFF))  # COOKIE
        d += _record(0x0021 if m.kind == "std" else 0x0022, b"")  # TYPE: procedural, or document/class
        d += _record(0x002B, b"")  # module terminator
    d += _record(0x0010, b"")  # dir terminator
    return bytes(d)


def _encrypt(project_id: str, data: bytes, rng: random.Random) -> str:
    """MS-OVBA 2.4.3.2 data encryption, for the CMG, DPB and GC lines of the PROJECT stream."""
    seed = rng.randrange(256)
    key = sum(project_id.encode("cp1252")) & 0xFF
    out = bytearray([seed, seed ^ 2, seed ^ key])
    unencrypted1, encrypted1, encrypted2 = key, seed ^ key, seed ^ 2
    ignored = [rng.randrange(256) for _ in range((seed & 6) // 2)]
    for byte in [*ignored, *struct.pack("<I", len(data)), *data]:
        enc = byte ^ ((encrypted2 + unencrypted1) & 0xFF)
        out.append(enc)
        encrypted2, encrypted1, unencrypted1 = encrypted1, enc, byte
    return out.hex().upper()


def project_stream(modules: list[Module], project_id: str, rng: random.Random) -> bytes:
    """MS-OVBA 2.3.1: the PROJECT stream, text; no protection, no password, visible."""
    kinds = {"document": "Document={}/&H00000000", "std": "Module={}", "class": "Class={}"}
    visible = b"\xff"
    lines = [f'ID="{project_id}"', *(kinds[m.kind].format(m.name) for m in modules), f'Name="{PROJECT}"',
             'HelpContextID="0"', 'VersionCompatible32="393222000"',
             f'CMG="{_encrypt(project_id, bytes(4), rng)}"',  # protection state: none
             f'DPB="{_encrypt(project_id, bytes(1), rng)}"',  # password: none
             f'GC="{_encrypt(project_id, visible, rng)}"',  # visibility: visible
             "", "[Host Extender Info]", "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
             "", "[Workspace]", *(f"{m.name}=0, 0, 0, 0, C" for m in modules), ""]
    return "\r\n".join(lines).encode("cp1252")


def projectwm_stream(modules: list[Module]) -> bytes:
    out = bytearray()
    for m in modules:
        out += m.name.encode("cp1252") + b"\x00" + m.name.encode("utf-16-le") + b"\x00\x00"
    return bytes(out + b"\x00\x00")


def vba_project(modules: list[Module], seed: int = 0) -> bytes:
    rng = random.Random(seed)  # a fixed seed: the same add-in comes out byte for byte
    project_id = "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper() + "}"
    streams = {
        "PROJECT": project_stream(modules, project_id, rng),
        "PROJECTwm": projectwm_stream(modules),
        # Version 0xFFFF: no compiled code here, Excel compiles the modules from their source.
        "VBA/_VBA_PROJECT": bytes([0xCC, 0x61, 0xFF, 0xFF, 0x00, 0x01, 0x00]),
        "VBA/dir": compress(dir_stream(modules)),
    }
    for m in modules:
        streams[f"VBA/{m.name}"] = compress(m.source.encode("cp1252"))
    return compound_file(streams)


# ---------------------------------------------------------------- MS-CFB: the compound file


FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
SECTOR, MINI, CUTOFF = 512, 64, 4096


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[_Entry] | None = None
    start: int = END
    sid: int = 0
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM


def _tree(children: list[_Entry]) -> int:
    """A binary search tree of siblings in CFB's order (shorter names first, then upper-case
    compare), balanced; returns the root's id. All entries are black, which readers accept."""
    def key(e: _Entry) -> tuple[int, str]:
        return len(e.name), e.name.upper()

    ordered = sorted(children, key=key)

    def build(lo: int, hi: int) -> int:
        if lo >= hi:
            return NOSTREAM
        mid = (lo + hi) // 2
        e = ordered[mid]
        e.left, e.right = build(lo, mid), build(mid + 1, hi)
        return e.sid

    return build(0, len(ordered))


def compound_file(streams: dict[str, bytes]) -> bytes:
    """An MS-CFB version 3 file holding ``streams`` ("storage/stream" paths)."""
    root = _Entry("Root Entry", 5, children=[])
    for path, data in streams.items():
        *storages, name = path.split("/")
        node = root
        for s in storages:
            found = next((c for c in node.children or [] if c.name == s), None)
            if found is None:
                found = _Entry(s, 1, children=[])
                node.children.append(found)  # type: ignore[union-attr] - storages have a list
            node = found
        node.children.append(_Entry(name, 2, data))  # type: ignore[union-attr]
    entries: list[_Entry] = []

    def number(e: _Entry) -> None:
        e.sid = len(entries)
        entries.append(e)
        for c in e.children or []:
            number(c)

    number(root)
    for e in entries:
        if e.children:
            e.child = _tree(e.children)

    # Small streams live in the mini stream (64-byte sectors), the root entry's own data.
    mini, minifat = bytearray(), []
    for e in entries:
        if e.kind == 2 and 0 < len(e.data) < CUTOFF:
            e.start = len(mini) // MINI
            n = -(-len(e.data) // MINI)
            minifat += [*range(e.start + 1, e.start + n), END]
            mini += e.data.ljust(n * MINI, b"\x00")
    root.data = bytes(mini)

    def sectors(data: bytes) -> int:
        return -(-len(data) // SECTOR)

    big = [e for e in entries if (e.kind == 2 and len(e.data) >= CUTOFF) or (e.kind == 5 and e.data)]
    dir_sectors = -(-len(entries) // 4)
    minifat_sectors = -(-len(minifat) // 128)
    minifat += [FREE] * (minifat_sectors * 128 - len(minifat))
    rest = dir_sectors + minifat_sectors + sum(sectors(e.data) for e in big)
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + rest:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("the VBA project is too large for a compound file without DIFAT sectors")

    fat: list[int] = [FATSECT] * fat_sectors
    body = bytearray()

    def place(data: bytes, count: int) -> int:
        first = len(fat)
        fat.extend([*range(first + 1, first + count), END])
        body.extend(data.ljust(count * SECTOR, b"\x00"))
        return first

    dir_start = len(fat)
    fat.extend([*range(dir_start + 1, dir_start + dir_sectors), END])
    body.extend(bytes(dir_sectors * SECTOR))  # filled in below, once every start sector is known
    minifat_start = place(b"".join(struct.pack("<I", x) for x in minifat), minifat_sectors) if minifat else END
    for e in big:
        e.start = place(e.data, sectors(e.data))
    fat += [FREE] * (fat_sectors * 128 - len(fat))

    directory = bytearray()
    for e in entries:
        name = e.name.encode("utf-16-le") + b"\x00\x00"
        size = len(e.data) if e.kind in (2, 5) else 0
        start = e.start if size else (END if e.kind == 5 else 0)
        directory += struct.pack("<64sHBBIII16sIQQIQ", name, len(name), e.kind, 1, e.left, e.right, e.child,
                                 bytes(16), 0, 0, 0, start, size)
    directory += b"".join(struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM,
                                      bytes(16), 0, 0, 0, 0, 0) for _ in range(dir_sectors * 4 - len(entries)))
    body[:len(directory)] = directory

    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", bytes.fromhex("D0CF11E0A1B11AE1"), bytes(16), 0x3E, 3, 0xFFFE, 9, 6,
                         bytes(6), 0, fat_sectors, dir_start, 0, CUTOFF, minifat_start, minifat_sectors, END, 0)
    header += b"".join(struct.pack("<I", x) for x in difat)
    fat_bytes = b"".join(struct.pack("<I", x) for x in fat)
    return header + fat_bytes + bytes(body)


# ---------------------------------------------------------------- the .xlam file


def _conf_rows(interpreter: str | None) -> list[tuple[str, str]]:
    """Settings for xlwings' RunPython: the Python that wrote the add-in, when that was on Windows."""
    if interpreter:
        return [("Interpreter_Win", interpreter)]
    if sys.platform != "win32":
        return []
    conda_exe, conda_env = os.environ.get("CONDA_EXE"), os.environ.get("CONDA_DEFAULT_ENV")
    if conda_exe and conda_env:  # conda Pythons need their environment activated, which xlwings does
        return [("Conda Path", str(Path(conda_exe).parents[1])), ("Conda Env", conda_env)]
    pythonw = Path(sys.executable).with_name("pythonw.exe")
    return [("Interpreter_Win", str(pythonw if pythonw.exists() else Path(sys.executable)))]


def _sheet_xml(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>{escape(k)}</t></is></c>'
        f'<c r="B{i}" t="inlineStr"><is><t>{escape(v)}</t></is></c></row>'
        for i, (k, v) in enumerate(rows, start=1)
    )
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheetPr codeName="Sheet1"/><cols><col min="1" max="1" width="18" customWidth="1"/>'
            f'<col min="2" max="2" width="60" customWidth="1"/></cols><sheetData>{cells}</sheetData></worksheet>')


def _parts(interpreter: str | None) -> dict[str, bytes]:
    rows = _conf_rows(interpreter)
    # xlwings reads settings from a sheet named after the project; with a leading underscore the
    # sheet is only a template of the settings one can fill in (the xlwings convention).
    sheet = f"{PROJECT}.conf" if rows else f"_{PROJECT}.conf"
    rows = rows or [("Interpreter_Win", ""), ("Conda Path", ""), ("Conda Env", "")]
    modules = [
        Module("ThisWorkbook", "document", document_module("ThisWorkbook", "00020819")),
        Module("Sheet1", "document", document_module("Sheet1", "00020820")),
        Module("xlwings", "std", xlwings_module()),
        Module("Dictionary", "class", dictionary_module()),
        Module(RIBBON_MODULE, "std", ribbon_module()),
    ]
    ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    xml = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    parts = {
        "[Content_Types].xml": xml + (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.addin.macroEnabled.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/xl/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            "</Types>"),
        "_rels/.rels": xml + (
            f'<Relationships xmlns="{ns}">'
            f'<Relationship Id="rId1" Type="{office}/officeDocument" Target="xl/workbook.xml"/>'
            f'<Relationship Id="rId2" Type="{ns}/metadata/core-properties" Target="docProps/core.xml"/>'
            '<Relationship Id="rId3" Type="http://schemas.microsoft.com/office/2006/relationships/ui/extensibility" '
            'Target="customUI/customUI.xml"/></Relationships>'),
        "docProps/core.xml": xml + (
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>rotxl</dc:title>'
            "<dc:description>Return on selling time: the ROT ribbon tab (rotxl and xlwings).</dc:description>"
            "</cp:coreProperties>"),
        "customUI/customUI.xml": ribbon_xml(),
        "xl/workbook.xml": xml + (
            f'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{office}">'
            '<workbookPr codeName="ThisWorkbook"/><bookViews><workbookView visibility="hidden"/></bookViews>'
            f'<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": xml + (
            f'<Relationships xmlns="{ns}">'
            f'<Relationship Id="rId1" Type="{office}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{office}/styles" Target="styles.xml"/>'
            '<Relationship Id="rId3" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
            'Target="vbaProject.bin"/></Relationships>'),
        "xl/styles.xml": xml + (
            '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'),
        "xl/worksheets/sheet1.xml": _sheet_xml(rows),
    }
    out = {name: text.encode("utf-8") for name, text in parts.items()}
    out["xl/vbaProject.bin"] = vba_project(modules)
    return out


def write_addin(path: str | os.PathLike[str], force: bool = True, interpreter: str | None = None) -> Path:
    """Write the rotxl add-in (.xlam) to ``path``, atomically.

    ``interpreter``: the python(w).exe the add-in runs the actions with. Default: the Python running
    this, when that is on Windows (a conda environment is named by Conda Path and Conda Env instead);
    elsewhere none, and xlwings uses the Python on the PATH or the settings in ~/.rotxl/rotxl.conf.
    """
    parts = _parts(interpreter)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in parts.items():
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # same input, same bytes
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)

    return atomic_write(path, write, overwrite=force)


@click.command("addin")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("rotxl.xlam"),
              show_default=True, help="Where to write the add-in.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("--interpreter", help="python(w).exe to run the actions with (default: this Python, on Windows).")
def addin_command(output: Path, force: bool, interpreter: str | None) -> None:
    """Write the Excel add-in with the ROT ribbon tab (Windows Excel, with xlwings)."""
    if output.suffix.lower() != ".xlam":
        raise click.UsageError(f"{output}: an Excel add-in must be named .xlam")
    if not output.parent.is_dir():
        raise click.UsageError(f"{output}: the folder {output.parent} does not exist")
    try:
        write_addin(output, force=force, interpreter=interpreter)
    except FileExistsNoForce as e:
        raise click.UsageError(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"could not write {output}: {e.strerror or e}") from None
    click.echo(f"Wrote {output}. In Excel: File > Options > Add-ins > Manage Excel Add-ins > Go > Browse, "
               "pick it, and the ROT tab appears.", err=True)
