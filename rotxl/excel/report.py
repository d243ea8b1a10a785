"""The rebuild report (SPEC §6.1): a sheet of the Team Rollup and a summary for the terminal.

It names every value carried, every conflict and how it was settled, the rows kept that left the
export, the workbooks that could not be read, the files in ``--out`` the build left alone, and
where the previous files were backed up. Every cell goes through rotxl.excel.cells.put: IDs,
owner names and typed values are data, never formulas.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd
from openpyxl.styles import Font, PatternFill

from .cells import clean_name, put, put_row

SHEET = "Rebuild Report"
COLUMNS = ("What", "Table", "ID", "Column", "Value", "Instead of", "File", "Detail")
MAX_ROWS = 100_000  # beyond this the sheet says how many more there were; the counts stay whole
HEADER_FILL = PatternFill("solid", fgColor="305496")


def entry(what: str, table: str = "", key: str = "", column: str = "", value: object = None, other: object = None,
          file: str = "", detail: str = "") -> dict:
    return {"What": what, "Table": table, "ID": key, "Column": column, "Value": value, "Instead of": other,
            "File": file, "Detail": detail}


def frame(entries: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(entries, columns=list(COLUMNS))
    if len(df):
        # keys of rows without an ID are internal ("\x01file:3"): show them as such
        ids = df["ID"].astype(str)
        df["ID"] = ids.where(~ids.str.startswith("\x01"), "(no ID)").str.replace(r"#(\d+)$", r" (copy \1)", regex=True)
    return df


def _files_lines(result) -> list[tuple[str, str, str]]:
    lines = [("Workbook not read", name, why) for name, why in result.unreadable.items()]
    lines += [("Left alone (not written by rotxl)", name, "named here only; the build neither read nor changed it")
              for name in result.foreign]
    if result.backups is not None:
        lines.append(("Previous files backed up", str(result.backups), ""))
    return lines


def summary(result) -> list[str]:
    """Plain lines for the terminal."""
    df = result.report if result.report is not None else frame([])
    lines = []
    counts = Counter(df["What"]) if len(df) else Counter()
    for what, n in sorted(counts.items()):
        lines.append(f"{what}: {n:,}")
    conflicts = df[df["What"].str.startswith("Conflict") | df["What"].str.startswith("Typed value replaced")] if len(df) else df
    for r in conflicts.head(10).itertuples():
        lines.append(f"  {r.What}: {r.Table} {r.ID} {r.Column}: kept {r.Value!r}, not {r._6!r} ({r.File or r.Detail})")
    if len(conflicts) > 10:
        lines.append(f"  … {len(conflicts) - 10:,} more in the {SHEET} sheet of the Team Rollup")
    for what, name, why in _files_lines(result):
        lines.append(f"{what}: {name}" + (f" ({why})" if why else ""))
    return [clean_name(line) for line in lines]


def write(wb, result) -> None:
    """The report sheet, after the rollup's own sheets."""
    ws = wb.create_sheet(SHEET)
    df = result.report if result.report is not None else frame([])
    put(ws, 1, 1, "Rebuild report").font = Font(bold=True, size=14)
    r = 3
    for what, name, why in _files_lines(result):
        put_row(ws, r, [what, name, why])
        r += 1
    counts = Counter(df["What"]) if len(df) else Counter()
    for what, n in sorted(counts.items()):
        put_row(ws, r, [what, n])
        r += 1
    if not counts and r == 3:
        put(ws, r, 1, "Nothing to report: a first build, or nobody changed anything.")
        r += 1
    r += 1
    put_row(ws, r, list(COLUMNS))
    for j in range(1, len(COLUMNS) + 1):
        ws.cell(r, j).font = Font(bold=True, color="FFFFFF")
        ws.cell(r, j).fill = HEADER_FILL
    ws.freeze_panes = ws.cell(r + 1, 1)
    shown = df.head(MAX_ROWS)
    for i, row in enumerate(shown.itertuples(index=False), start=r + 1):
        for j, v in enumerate(row, start=1):
            if v is not None and not (isinstance(v, float) and v != v) and v != "":
                put(ws, i, j, v, "yyyy-mm-dd" if isinstance(v, dt.date) else None)
    if len(df) > MAX_ROWS:
        put(ws, r + 1 + len(shown), 1, f"… and {len(df) - MAX_ROWS:,} more")
    for letter, width in zip("ABCDEFGH", (36, 10, 18, 18, 22, 22, 24, 60)):
        ws.column_dimensions[letter].width = width
