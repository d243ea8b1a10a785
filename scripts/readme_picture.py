"""Render the README's pictures from the sample data (LibreOffice -> PDF -> pdftoppm):

- docs/dashboard.png: the Dashboard of a sample salesperson's workbook;
- docs/rollup.png: the manager's Team Rollup of the sample team;
- docs/this-week.png: the This Week sheet, when the workbook has one.

Run:  uv run python scripts/readme_picture.py
Needs LibreOffice (soffice) and poppler-utils (pdftoppm) on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook

from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline
from rotxl.excel.team import build_team

ROOT = Path(__file__).resolve().parents[1]
# (sheet, picture): each sheet of an owner's workbook that the README shows.
OWNER_SHEETS = (("Dashboard", "dashboard.png"), ("This Week", "this-week.png"))


def _png(xlsx: Path, sheet: str, out: Path, tmp: Path) -> Path:
    """The first printed page of one sheet, as the sheet's own print setup lays it out."""
    wb = load_workbook(xlsx)
    for ws in wb.worksheets:  # hidden sheets are left out of the PDF
        ws.sheet_state = "visible" if ws.title == sheet else "hidden"
    wb.active = wb.sheetnames.index(sheet)
    src = tmp / f"{out.stem}.xlsx"
    wb.save(src)
    soffice = shutil.which("soffice") or sys.exit("soffice not found: apt-get install -y libreoffice-calc-nogui")
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to", "pdf",
                    "--outdir", str(tmp), str(src)], check=True, capture_output=True)
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(tmp / f"{out.stem}.pdf"),
                    str(tmp / out.stem)], check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp / f"{out.stem}.png", out)
    print(f"wrote {out}")
    return out


def main(docs: Path = ROOT / "docs") -> list[Path]:
    accounts = sample_accounts(400)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        team = build_team(accounts, sample_pipeline(accounts, n=600), tmp / "team", as_of=SAMPLE_AS_OF, jobs=1)
        owner = sorted(team.written)[0]
        sheets = load_workbook(owner, read_only=True).sheetnames
        written = [_png(owner, sheet, docs / name, tmp) for sheet, name in OWNER_SHEETS if sheet in sheets]
        written.append(_png(team.rollup, "Team", docs / "rollup.png", tmp))
    return written


if __name__ == "__main__":
    main()
