"""Reading speed: read_accounts / read_pipeline against the plainest way to load the same file.

- CSV: a 1,000,000-row accounts export (plain numbers, as rotxl and most CRMs write them) read
  by ``read_accounts`` (header search, report lines, numbers typed, summary) against
  ``pandas.read_csv`` with the same dtypes (text columns ``str``, number columns ``float64``).
  Also a 1,000,000-row opportunities export with dates, and a "formatted" accounts export
  (currency symbols and thousands separators) to show what formatted numbers cost.
- XLSX: a 100,000-row accounts export read by ``read_accounts`` (bounds check included) against
  python-calamine straight to a DataFrame (``to_python`` then ``pd.DataFrame``).

Both sides run in this process, one after the other, ``--repeat`` times; CPU and wall time are
medians. Run:  uv run --extra dev python bench/read.py [CSV_ROWS] [XLSX_ROWS] [--repeat N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rotxl.data.io import read_accounts, read_pipeline

ACCOUNT_DTYPES = {"Account ID": str, "Account": str, "Owner": str, "Revenue": "float64", "Margin": "float64",
                  "Hours": "float64", "Aggravation": "float64"}
PIPELINE_DTYPES = {"Opportunity ID": str, "Account": str, "Owner": str, "Stage": str, "Amount": "float64",
                   "Probability": "float64", "Close Date": str, "Last Contact": str}


def accounts(n: int, formatted: bool = False, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    revenue = np.round(rng.lognormal(10, 1.3, n), 2)
    return pd.DataFrame({
        "Account ID": np.char.add("001A0000", np.char.zfill(np.arange(n).astype(str), 10)),
        "Account": np.char.add("Account ", (np.arange(n) % 5000).astype(str)),
        "Owner": np.array(["Ana Souza", "Ben Carter", "Chloé Martin", "Dev Patel"])[rng.integers(0, 4, n)],
        "Revenue": [f"${v:,.2f}" for v in revenue] if formatted else revenue,
        "Margin": np.where(rng.random(n) < 0.3, 0.4, np.nan),
        "Hours": np.round(rng.gamma(2, 6, n), 1),
        "Aggravation": np.where(rng.random(n) < 0.4, rng.integers(1, 6, n), np.nan),
    })


def pipeline(n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = np.datetime64("2026-01-01") + rng.integers(0, 700, n).astype("timedelta64[D]")
    return pd.DataFrame({
        "Opportunity ID": np.char.add("006A0000", np.char.zfill(np.arange(n).astype(str), 10)),
        "Account": np.char.add("Account ", (np.arange(n) % 5000).astype(str)),
        "Owner": np.array(["Ana Souza", "Ben Carter"])[rng.integers(0, 2, n)],
        "Stage": np.array(["Prospecting", "Proposal", "Closed Won", "Closed Lost"])[rng.integers(0, 4, n)],
        "Amount": np.round(rng.lognormal(9, 1, n), 2),
        "Probability": np.round(rng.random(n), 2),
        "Close Date": days.astype(str),
        "Last Contact": (days - 30).astype(str),
    })


def measure(fn, repeat: int) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def compare(label: str, ours, baseline, repeat: int) -> None:
    o, b = measure(ours, repeat), measure(baseline, repeat)
    print(f"{label}\n  rotxl     CPU {o[0]:6.2f} s  wall {o[1]:6.2f} s\n  baseline  CPU {b[0]:6.2f} s  wall {b[1]:6.2f} s\n"
          f"  ratio     CPU {o[0] / b[0]:.2f}×  wall {o[1] / b[1]:.2f}×", flush=True)


def calamine_frame(path: Path) -> pd.DataFrame:
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    return pd.DataFrame(rows[1:], columns=rows[0])


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    args = [a for a in args if a != str(repeat)] if "--repeat" in sys.argv else args
    csv_rows = int(args[0]) if args else 1_000_000
    xlsx_rows = int(args[1]) if len(args) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        plain, fmt, deals, book = d / "accounts.csv", d / "formatted.csv", d / "deals.csv", d / "accounts.xlsx"
        accounts(csv_rows).to_csv(plain, index=False)
        accounts(csv_rows, formatted=True).to_csv(fmt, index=False)
        pipeline(csv_rows).to_csv(deals, index=False)
        accounts(xlsx_rows).to_excel(book, index=False, engine="xlsxwriter")
        print(f"median of {repeat}; one process; {csv_rows:,} CSV rows, {xlsx_rows:,} XLSX rows\n")
        compare("CSV accounts, plain numbers: read_accounts vs pandas.read_csv(dtype=...)",
                lambda: read_accounts(plain), lambda: pd.read_csv(plain, dtype=ACCOUNT_DTYPES, keep_default_na=False,
                                                                   na_values=[""]), repeat)
        compare("CSV opportunities with dates: read_pipeline vs pandas.read_csv(dtype=..., parse_dates=...)",
                lambda: read_pipeline(deals),
                lambda: pd.read_csv(deals, dtype=PIPELINE_DTYPES, keep_default_na=False, na_values=[""],
                                    parse_dates=["Close Date", "Last Contact"]), repeat)
        compare("CSV accounts, formatted money ($1,234.50): read_accounts vs pandas.read_csv(thousands=',') + strip '$'",
                lambda: read_accounts(fmt),
                lambda: pd.read_csv(fmt, dtype={**ACCOUNT_DTYPES, "Revenue": str}, keep_default_na=False,
                                    na_values=[""]).assign(Revenue=lambda df: pd.to_numeric(
                                        df["Revenue"].str.replace(r"[$,]", "", regex=True))), repeat)
        compare("XLSX accounts: read_accounts vs python-calamine to a DataFrame",
                lambda: read_accounts(book), lambda: calamine_frame(book), repeat)


if __name__ == "__main__":
    main()
