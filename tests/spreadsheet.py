"""Recalculating workbooks in real spreadsheet engines: LibreOffice (headless) and IronCalc.

No fallback and no skip: a machine without LibreOffice or IronCalc fails these tests (.ci/run
installs LibreOffice; IronCalc is a dev dependency).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook


def soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        raise RuntimeError("LibreOffice (soffice) is not installed: apt-get install -y libreoffice-calc-nogui")
    return exe


def recalculate(paths: list[Path], outdir: Path) -> list[Path]:
    """Open each workbook in LibreOffice, recalculate every formula, save a copy to outdir."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", "xlsx", "--outdir", str(outdir), *map(str, paths)],
            check=True, capture_output=True, timeout=600,
        )
    out = [outdir / p.name for p in paths]
    missing = [p for p in out if not p.exists()]
    if missing:
        raise RuntimeError(f"LibreOffice did not write {missing}")
    return out


def ironcalc(path: Path) -> dict[str, list[list[object]]]:
    """Load a built workbook in IronCalc, evaluate every formula, and read every sheet's cells
    (rows of values, as ``cells`` gives them). IronCalc gives dates as serial numbers; ``same``
    reads them."""
    import ironcalc as ic

    model = ic.load_from_xlsx(str(path))
    model.evaluate()
    extent: dict[int, tuple[int, int]] = {}
    for index, r, c in model.get_all_cells():
        rows, cols = extent.get(index, (0, 0))
        extent[index] = (max(rows, r), max(cols, c))
    out = {}
    for index, props in enumerate(model.get_worksheets_properties()):
        rows, cols = extent.get(index, (0, 0))
        out[props["name"]] = [[model.get_cell_value(index, r, c) for c in range(1, cols + 1)] for r in range(1, rows + 1)]
    return out


def frame(rows: list[list[object]]) -> pd.DataFrame:
    """A table's cells as a frame, its first row the headers (blank headers dropped at the right)."""
    width = len(rows[0])
    while width and rows[0][width - 1] in (None, ""):
        width -= 1
    return pd.DataFrame([r[:width] for r in rows[1:]], columns=rows[0][:width])


def sheet(path: Path, name: str) -> pd.DataFrame:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()
    return pd.DataFrame(rows[1:], columns=rows[0])


def cells(path: Path, name: str) -> list[list[object]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()


def blank(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, str) and v == "") or (isinstance(v, float) and math.isnan(v))


def same(got, want) -> bool:
    """A recalculated cell against the engine's value: numbers to 1e-9 relative, the rest exactly."""
    if blank(got) or blank(want):
        return blank(got) and blank(want)
    if isinstance(want, (bool,)) or type(want).__name__ == "bool_":
        return got is want or got == bool(want)
    if isinstance(want, (dt.date, pd.Timestamp)):
        want = want.date() if isinstance(want, (pd.Timestamp, dt.datetime)) else want
        if isinstance(got, float):  # a date serial (IronCalc)
            got = (dt.datetime(1899, 12, 30) + dt.timedelta(days=got)).date()
        got = got.date() if isinstance(got, dt.datetime) else got
        return got == want
    if isinstance(want, (int, float)) and not isinstance(got, str):
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-12)
    return got == want


def mismatches(got: pd.DataFrame, want: pd.DataFrame, columns) -> list[str]:
    out = []
    assert len(got) == len(want), f"{len(got)} rows recalculated, {len(want)} expected"
    for col in columns:
        for i, (g, w) in enumerate(zip(got[col].tolist(), want[col].astype(object).tolist())):
            if not same(g, w):
                out.append(f"row {i + 2} {col}: spreadsheet {g!r}, engine {w!r}")
    return out
