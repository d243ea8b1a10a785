"""Team build speed (SPEC §6, §6.1): first builds, rebuilds and the three-way merge alone.

Prints CPU time (this process and its workers) and wall time, medians over repeats, and ratios:

- first build against XlsxWriter writing the same cells (the floor: the fastest plain way to
  write those workbooks, in as many worker processes as the build uses), at 50 and 500 owners;
- rebuild with 10% of the workbooks edited (one typed value each) against the first build
  (target: <= 1.1x: reading what changed and merging cost little next to writing);
- the merge alone (rotxl.data.merge.rebuild_table) at 10k, 40k and 160k rows, against a plain
  pandas merge on the ID (the honest floor for matching by hashing); target: linear,
  160k <= 5x 40k;
- ``--big``: 1,000,000 accounts and 200,000 opportunities for 200 owners, first build only,
  with peak memory (target: <= 5 min). Run it on its own.

Run:  uv run --extra dev python bench/team.py [--owners 50 500] [--merge 10000 40000 160000] [--repeats 3]
      uv run --extra dev python bench/team.py --big [--big-accounts 1000000]
The machine is shared: figures are noisy; compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import logging
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import xlsxwriter
from openpyxl.worksheet.formula import ArrayFormula

from rotxl.cli import main
from rotxl.data import state
from rotxl.data.merge import id_keys, rebuild_table
from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline
from rotxl.rules.schema import ACCOUNT_COLUMNS

ACCOUNTS_PER_OWNER, OPPS_PER_OWNER = 200, 100


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - w, cpu() - c


def make_exports(owners: int, folder: Path, accounts: int | None = None, opps: int | None = None) -> tuple[Path, Path]:
    names = tuple(f"Rep {i:03d}" for i in range(owners))
    acc = sample_accounts(accounts or owners * ACCOUNTS_PER_OWNER, owners=names, seed=1)
    pipe = sample_pipeline(acc, opps or owners * OPPS_PER_OWNER, seed=2)
    acc["Owner"] = [names[i % owners] for i in range(len(acc))]  # every owner gets exactly their share
    pipe["Owner"] = [names[i % owners] for i in range(len(pipe))]
    acc.to_csv(folder / "accounts.csv", index=False)
    pipe.to_csv(folder / "pipeline.csv", index=False)
    return folder / "accounts.csv", folder / "pipeline.csv"


def build(acc: Path, pipe: Path, out: Path) -> None:
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):  # the build's own summary
        main(["build", "--accounts", str(acc), "--pipeline", str(pipe), "--out", str(out), "--as-of",
              SAMPLE_AS_OF.isoformat()], standalone_mode=False)


def edit(paths: list[Path]) -> None:
    """A salesperson's edit: one typed Hours in the Accounts table."""
    for path in paths:
        wb = openpyxl.load_workbook(path)
        ws = next(w for w in wb.worksheets if "Accounts" in w.tables)
        col = next(c.column for c in ws[1] if c.value == "Hours")
        ws.cell(2, col).value = 42
        wb.save(path)


def _cells(path: Path) -> list:
    wb = openpyxl.load_workbook(path)
    return [(ws.title, [(c.row - 1, c.column - 1, c.value) for row in ws.iter_rows() for c in row if c.value is not None])
            for ws in wb.worksheets]


def _write_book(job: tuple[Path, Path]) -> tuple[int, float, float]:
    """Read one built workbook's cells (not timed), then time writing them with XlsxWriter."""
    source, target = job
    sheets = _cells(source)
    w, c = time.perf_counter(), time.process_time()
    wb = xlsxwriter.Workbook(str(target))
    for title, cells in sheets:
        ws = wb.add_worksheet(title[:31])
        ws._prepare_formula = lambda f, expand_future_functions=False: f[1:] if f.startswith("=") else f
        for r, col, v in cells:
            if isinstance(v, ArrayFormula):
                ws.write_array_formula(r, col, r, col, v.text)
            elif isinstance(v, str) and v.startswith("="):
                ws.write_formula(r, col, v)
            elif isinstance(v, str):
                ws.write_string(r, col, v)
            else:
                ws.write(r, col, v)
    wb.close()
    return os.getpid(), time.perf_counter() - w, time.process_time() - c


def xlsxwriter_floor(folder: Path, out: Path) -> tuple[float, float]:
    """Every cell of every workbook the build wrote, written again with XlsxWriter as given, by as
    many worker processes as the build uses (one per core). Each worker reads its workbooks' cells
    untimed and times only the writing: CPU is the sum over workers, wall the busiest worker's sum
    (the workers write side by side), so neither reading nor handing cells between processes counts."""
    jobs = [(p, out / f"{i}.xlsx") for i, p in enumerate(sorted(folder.glob("*.xlsx")))]
    workers = max(1, min(os.cpu_count() or 1, 64))  # as rotxl.excel.team.build_team
    if workers == 1:
        done = [_write_book(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            done = list(pool.map(_write_book, jobs))
    busy: dict[int, float] = {}
    for pid, wall, _ in done:
        busy[pid] = busy.get(pid, 0.0) + wall
    return max(busy.values(), default=0.0), sum(c for _, _, c in done)


def team(owners: int, repeats: int) -> None:
    first, again, floor = [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            acc, pipe = make_exports(owners, tmp)
            out = tmp / "team"
            first.append(timed(lambda: build(acc, pipe, out)))
            books = sorted(p for p in out.glob("*.xlsx") if p.name != "Team Rollup.xlsx")
            edit(books[:: 10])
            again.append(timed(lambda: build(acc, pipe, out)))
            (tmp / "floor").mkdir()
            floor.append(xlsxwriter_floor(out, tmp / "floor"))
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    print(f"{owners} owners x {ACCOUNTS_PER_OWNER} accounts x {OPPS_PER_OWNER} opportunities (median of {repeats})")
    print(f"  first build            wall {med(first, 0):8.2f} s   cpu {med(first, 1):8.2f} s")
    print(f"  rebuild, 10% edited    wall {med(again, 0):8.2f} s   cpu {med(again, 1):8.2f} s")
    print(f"  XlsxWriter floor       wall {med(floor, 0):8.2f} s   cpu {med(floor, 1):8.2f} s   (as many processes as the build)")
    print(f"  ratio rebuild / first build     {med(again, 0) / med(first, 0):6.2f}x wall   "
          f"{med(again, 1) / med(first, 1):6.2f}x cpu   (target <= 1.1)")
    print(f"  ratio first build / floor       {med(first, 0) / med(floor, 0):6.2f}x wall   "
          f"{med(first, 1) / med(floor, 1):6.2f}x cpu")
    if repeats > 1:
        print("  each repeat, rebuild / first    " + "   ".join(f"{a[0] / f[0]:.2f}x wall {a[1] / f[1]:.2f}x cpu"
                                                          for f, a in zip(first, again)))


def merge_inputs(n: int):
    """An export of n accounts, the workbooks' rows (10% typed Hours), and the state's cells."""
    acc = sample_accounts(n, owners=tuple(f"Rep {i}" for i in range(50)), seed=3).astype(object)
    acc["Account ID"] = [f"ACC-{i:07d}" for i in range(n)]
    keys = id_keys(acc["Account ID"])
    theirs = acc.copy()
    theirs["Hours"] = np.where(np.arange(n) % 10 == 0, 99.0, theirs["Hours"])
    theirs["_key"], theirs["_file"], theirs["_owner"] = keys, theirs["Owner"] + ".xlsx", theirs["Owner"]
    theirs["_saved"], theirs["_row"] = 1.0, np.arange(n) + 2
    cols = [c.header for c in ACCOUNT_COLUMNS if c.header in acc.columns]
    parts = []
    for h in cols:
        norm, kind = state.normalise(acc[h])
        parts.append(pd.DataFrame({"file": theirs["_file"].to_numpy(), "tbl": "Accounts", "key": keys, "col": h,
                                   "export_value": norm, "written_value": norm, "kind": kind, "typed": 0}))
    return acc, theirs, pd.concat(parts, ignore_index=True)


def merge(sizes: list[int], repeats: int) -> None:
    print("Three-way merge alone (Accounts; 10% of rows typed)")
    per = {}
    for n in sizes:
        acc, theirs, base = merge_inputs(n)
        fresh = acc.copy()
        fresh["Revenue"] = pd.to_numeric(fresh["Revenue"], errors="coerce") * 1.01
        t = [timed(lambda: rebuild_table("Accounts", ACCOUNT_COLUMNS, fresh, theirs, base, set(theirs["_key"])))
             for _ in range(repeats)]
        floor = [timed(lambda: fresh.merge(theirs[["Account ID", "Hours", "Margin", "Aggravation"]], on="Account ID",
                                           how="outer", suffixes=("", " typed"))) for _ in range(repeats)]
        wall, c = statistics.median(x[0] for x in t), statistics.median(x[1] for x in t)
        fw = statistics.median(x[0] for x in floor)
        per[n] = wall
        print(f"  {n:>8,} rows   wall {wall:7.2f} s   cpu {c:7.2f} s   pandas merge floor {fw:6.3f} s   ratio {wall / fw:7.1f}x")
    if 40_000 in per and 160_000 in per:
        print(f"  160k / 40k: {per[160_000] / per[40_000]:.2f}x   (target <= 5: linear)")


def big(accounts: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        acc, pipe = make_exports(200, tmp, accounts, accounts // 5)
        wall, c = timed(lambda: build(acc, pipe, tmp / "team"))
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{accounts:,} accounts + {accounts // 5:,} opportunities, 200 owners, first build")
    print(f"  wall {wall:8.1f} s   cpu {c:8.1f} s   (target: wall <= 300 s)")
    print(f"  peak memory: this process {peak_self:,.0f} MB, largest worker {peak_kids:,.0f} MB")


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, nargs="*", default=[50, 500])
    parser.add_argument("--merge", type=int, nargs="*", default=[10_000, 40_000, 160_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="only the 1M-account first build")
    parser.add_argument("--big-accounts", type=int, default=1_000_000, help="accounts of --big (a smaller try first)")
    args = parser.parse_args()
    if args.big:
        big(args.big_accounts)
    else:
        merge(args.merge, args.repeats)
        for n in args.owners:
            team(n, args.repeats)
