"""Team build speed: end-to-end `rotxl build` against XlsxWriter writing the same cells.

Baseline (the floor): XlsxWriter, in this process, writing every cell of every workbook the
build produced (values and formulas, read back from the build's own files beforehand, untimed).
The build is timed end to end (reading the CSV exports, merging, computing, writing, rollup),
in this process, with its worker processes. Same run, side by side.

Run:  uv run --extra dev python bench/team.py [OWNERS ...]     (default: 50 500)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import openpyxl
import xlsxwriter
from openpyxl.worksheet.formula import ArrayFormula

from rotxl.cli import main
from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline

ACCOUNTS_PER_OWNER, OPPS_PER_OWNER = 200, 100
DOCUMENTED_UP_TO = 100


def make_exports(owners: int, folder: Path) -> tuple[Path, Path]:
    names = tuple(f"Rep {i:03d}" for i in range(owners))
    acc = sample_accounts(owners * ACCOUNTS_PER_OWNER, owners=names, seed=1)
    pipe = sample_pipeline(acc, owners * OPPS_PER_OWNER, seed=2)
    # every owner gets exactly their share of rows
    acc["Owner"] = [names[i % owners] for i in range(len(acc))]
    pipe["Owner"] = [names[i % owners] for i in range(len(pipe))]
    acc.to_csv(folder / "accounts.csv", index=False)
    pipe.to_csv(folder / "pipeline.csv", index=False)
    return folder / "accounts.csv", folder / "pipeline.csv"


def cells_of(path: Path) -> list[tuple[str, list[tuple[int, int, object]]]]:
    wb = openpyxl.load_workbook(path)
    out = []
    for ws in wb.worksheets:
        out.append((ws.title, [(c.row - 1, c.column - 1, c.value) for row in ws.iter_rows() for c in row if c.value is not None]))
    return out


def _as_given(formula: str, expand_future_functions: bool = False) -> str:
    return formula[1:] if formula.startswith("=") else formula


def xlsxwriter_floor(books: list[list[tuple[str, list]]], folder: Path, rewrite: bool = True) -> None:
    """``rewrite=False`` skips XlsxWriter's scan of every formula for newer functions (some 60
    regex passes per formula): the strictest floor, with formula text written as given."""
    for i, sheets in enumerate(books):
        wb = xlsxwriter.Workbook(str(folder / f"{i}.xlsx"))
        for title, cells in sheets:
            ws = wb.add_worksheet(title[:31])
            if not rewrite:
                ws._prepare_formula = _as_given
            for r, c, v in cells:
                if isinstance(v, ArrayFormula):
                    ws.write_array_formula(r, c, r, c, v.text)
                elif isinstance(v, str) and v.startswith("="):
                    ws.write_formula(r, c, v)
                elif isinstance(v, str):
                    ws.write_string(r, c, v)
                else:
                    ws.write(r, c, v)
        wb.close()


def run(owners: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        acc, pipe = make_exports(owners, tmp)
        out = tmp / "team"
        t = time.perf_counter()
        main(["build", "--accounts", str(acc), "--pipeline", str(pipe), "--out", str(out),
              "--as-of", SAMPLE_AS_OF.isoformat()], standalone_mode=False)
        t_build = time.perf_counter() - t
        books = [cells_of(p) for p in sorted(out.glob("*.xlsx"))]
        n_cells = sum(len(c) for sheets in books for _, c in sheets)
        (tmp / "floor").mkdir()
        t_floor = None
        if owners <= DOCUMENTED_UP_TO:  # some 60 regex passes per formula: minutes at 500 owners
            t = time.perf_counter()
            xlsxwriter_floor(books, tmp / "floor")
            t_floor = time.perf_counter() - t
        t = time.perf_counter()
        xlsxwriter_floor(books, tmp / "floor", rewrite=False)
        t_strict = time.perf_counter() - t
    print(f"{owners} owners x {ACCOUNTS_PER_OWNER} accounts x {OPPS_PER_OWNER} opportunities: "
          f"{len(books)} workbooks, {n_cells:,} cells")
    if t_floor is not None:
        print(f"  XlsxWriter, write_formula as documented      {t_floor:8.2f} s")
    print(f"  XlsxWriter, formula text as given (floor)    {t_strict:8.2f} s")
    print(f"  rotxl build, end to end                      {t_build:8.2f} s")
    print(f"  ratio build / floor                          {t_build / t_strict:8.2f}x   (target: <= 1.0)")
    if t_floor is not None:
        print(f"  ratio build / documented XlsxWriter use      {t_build / t_floor:8.2f}x")


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    for n in [int(a) for a in sys.argv[1:]] or [50, 500]:
        run(n)
