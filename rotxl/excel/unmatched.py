"""The Team Rollup's "Unmatched Activities" sheet (SPEC §7.3): activities that match no account
and no opportunity, listed as exported so nothing is dropped silently."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .cells import clean_name, put

SHEET = "Unmatched Activities"
DATE_FORMAT = "yyyy-mm-dd"


def _value(v: object) -> object:
    """A frame value as a cell takes it: blanks None, numpy scalars and Timestamps as Python's."""
    if v is None or v is pd.NaT or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        v = v.replace(tzinfo=None)
        return v.date() if v.time() == dt.time(0) else v
    return v if isinstance(v, (str, int, float, dt.date, dt.time)) else str(v)


def write_unmatched_sheet(wb, df: pd.DataFrame, title: str = SHEET):
    """Add (or replace) the sheet listing ``df``'s rows under its headers; every value through
    cells.put, so CRM text is never a formula. Returns the sheet."""
    if title in wb.sheetnames:
        del wb[title]
    ws = wb.create_sheet(title)
    put(ws, 1, 1, f"{len(df):,} activities match no account and no opportunity. Fix their Account or "
                  "Opportunity in the CRM (or add the account) and rebuild: they then count as Logged Hours.")
    headers = [clean_name(c) for c in df.columns]
    bold = Font(bold=True)
    for j, h in enumerate(headers, start=1):
        put(ws, 3, j, h).font = bold
    widths = [len(h) for h in headers]
    for i, row in enumerate(df.astype(object).itertuples(index=False), start=4):
        for j, v in enumerate(row, start=1):
            v = _value(v)
            if v is None:
                continue
            put(ws, i, j, v, DATE_FORMAT if isinstance(v, dt.date) else None)
            widths[j - 1] = max(widths[j - 1], min(len(str(v)), 50))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w + 2
    ws.freeze_panes = "A4"
    return ws
