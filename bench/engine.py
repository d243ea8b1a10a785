"""Engine speed: classify_accounts on 1,000,000 accounts against a bare numpy pass of the same math.

Baseline: the spec's arithmetic written straight in numpy (duplicate-ID check, effective hours,
ROT, three percentiles, segments), no validation messages, no DataFrame. Both run in this
process, side by side, best of three. Also: one ROT worksheet-function call through xlwings'
custom-function call path against a call of the bare Python function.

Run:  uv run --extra dev python bench/engine.py [N]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import numpy as np
import pandas as pd

os.environ.setdefault("XLWINGS_ON_SERVER", "true")
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")

import rotxl  # noqa: E402


def make_accounts(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "Account ID": np.char.add("ACC-", np.arange(n).astype(str)),
        "Account": "Acme",
        "Revenue": np.round(rng.lognormal(10, 1.3, n), 2),
        "Margin": np.where(rng.random(n) < 0.3, 0.4, np.nan),
        "Hours": np.round(rng.gamma(2, 6, n), 1),
        "Aggravation": np.where(rng.random(n) < 0.4, rng.integers(1, 6, n), np.nan),
    })


def bare_numpy(ids, revenue, margin, hours, agg, weight=0.25):
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    valid = counts[inverse] == 1
    eh = hours * (1 + weight * (np.where(np.isnan(agg), 1, agg) - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rot = np.where(eh == 0, np.nan, revenue * np.where(np.isnan(margin), 1, margin) / eh)
    high, floor = np.quantile(revenue[valid], [0.7, 0.2])
    hh = np.quantile(eh[valid], 0.5)
    low_time = eh <= hh
    seg = np.select([revenue < floor, (revenue >= high) & low_time, revenue >= high, low_time], list("CADB"), "E")
    return eh, rot, seg


def best_of(f, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def bench_engine(n: int) -> None:
    df = make_accounts(n)
    arrays = [df[c].to_numpy() for c in ("Account ID", "Revenue", "Margin", "Hours", "Aggravation")]
    t_np, (eh, rot, seg) = best_of(lambda: bare_numpy(*arrays))
    t_engine, result = best_of(lambda: rotxl.classify_accounts(df))
    assert np.array_equal(result["Segment"].to_numpy(dtype=str), seg), "engine and baseline disagree"
    print(f"classify_accounts, {n:,} accounts")
    print(f"  bare numpy pass      {t_np * 1000:9.1f} ms")
    print(f"  rotxl engine         {t_engine * 1000:9.1f} ms")
    print(f"  ratio engine/numpy   {t_engine / t_np:9.2f}x   (target: within 3x)")


def bench_udf_call(calls: int = 2000) -> None:
    import xlwings
    import xlwings.server

    import udfs
    from rotxl.excel import functions

    data = {
        "func_name": "ROT", "args": [[[120000.0]], [[40.0]], [[3.0]], [[0.5]], [[None]]],
        "caller_address": "Sheet1!A1", "version": xlwings.__version__, "client": "Office.js",
        "runtime": "1.4", "culture_info_name": "en-US", "date_format": "M/d/yyyy",
    }

    async def through_xlwings():
        for _ in range(calls):
            await xlwings.server.custom_functions_call(data, udfs)

    bare = getattr(functions.ROT, "__wrapped__", functions.ROT)
    t_bare, _ = best_of(lambda: [bare(120000.0, 40.0, 3.0, 0.5, None) for _ in range(calls)])
    t_xlw, _ = best_of(lambda: asyncio.run(through_xlwings()))
    print(f"ROT worksheet function, {calls:,} calls")
    print(f"  bare Python call     {t_bare / calls * 1e6:9.1f} µs per call")
    print(f"  xlwings call path    {t_xlw / calls * 1e6:9.1f} µs per call")
    print(f"  ratio                {t_xlw / t_bare:9.2f}x")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    bench_engine(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    bench_udf_call()
