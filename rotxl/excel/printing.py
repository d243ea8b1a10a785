"""How every sheet rotxl writes prints: landscape, one page wide, header rows repeated."""

from __future__ import annotations

from openpyxl.worksheet.page import PageMargins


def print_setup(ws, title_rows: str | None = None, fit_height: int = 0) -> None:
    """Landscape A4, every column on one page width and as many pages down as needed
    (``fit_height`` 0; 1 fits the sheet on one page), ``title_rows`` repeated on every page,
    narrow margins and a footer with the sheet's name and page number."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, fit_height
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.5, header=0.25, footer=0.25)
    if title_rows:
        ws.print_title_rows = title_rows
    ws.oddFooter.center.text = "&A: page &P of &N"
    ws.oddFooter.center.size = 8
