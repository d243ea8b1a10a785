"""Render the demo workbook's Dashboard to docs/dashboard.png (LibreOffice -> PDF -> pdftoppm).

Run:  uv run python scripts/readme_picture.py
Needs LibreOffice (soffice) and poppler-utils (pdftoppm) on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl.worksheet.page import PageMargins

from rotxl import Settings

from rotxl.excel import workbook
from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline

ROOT = Path(__file__).resolve().parents[1]


def main(out: Path = ROOT / "docs" / "dashboard.png") -> Path:
    accounts = sample_accounts()
    wb = workbook.build_workbook(accounts, sample_pipeline(accounts), Settings(as_of=SAMPLE_AS_OF))
    # Only the Dashboard is exported: hidden sheets are left out of the PDF.
    for ws in wb.worksheets:
        if ws.title != "Dashboard":
            ws.sheet_state = "hidden"
    dash = wb["Dashboard"]
    wb.active = wb.worksheets.index(dash)
    dash.page_setup.orientation = "landscape"
    dash.page_setup.fitToWidth, dash.page_setup.fitToHeight = 1, 1
    dash.sheet_properties.pageSetUpPr.fitToPage = True
    dash.page_margins = PageMargins(left=0.3, right=0.3, top=0.3, bottom=0.3)
    dash.print_area = "A1:T54"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "dashboard.xlsx"
        wb.save(src)
        soffice = shutil.which("soffice") or sys.exit("soffice not found: apt-get install -y libreoffice-calc-nogui")
        subprocess.run([soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--convert-to", "pdf",
                        "--outdir", str(tmp), str(src)], check=True, capture_output=True)
        subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(tmp / "dashboard.pdf"),
                        str(tmp / "page")], check=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp / "page.png", out)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
