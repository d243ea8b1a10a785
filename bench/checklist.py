"""Checklist speed (SPEC §10): the team's checklist_table (retention, new accounts per month and
their consistency, cost of sales, ICP Fit of every account, prospect time on good fits) on N
accounts and 2N deals, against a bare numpy pass of the same arithmetic.

Baseline: the figures written straight in numpy/pandas on already-parsed arrays (ICP Fit by
integer codes and bincount per column, retention by set membership, first Won deal by one
groupby), no parsing of what people typed, no texts for missing inputs, no per-owner grouping.
Both run in this process, side by side, best of three (CPU and wall time).

Run:  uv run --extra dev python bench/checklist.py [N]
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np
import pandas as pd

import rotxl
from rotxl.rules import metrics
from rotxl.rules.settings import Settings

AS_OF = dt.date(2026, 11, 23)


def make(n: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = np.char.add("Acme ", np.arange(n).astype(str))
    accounts = pd.DataFrame({
        "Account ID": np.char.add("ACC-", np.arange(n).astype(str)), "Account": names,
        "Owner": rng.choice(["Ana", "Ben", "Cy", "Dee"], n),
        "Revenue": np.where(rng.random(n) < 0.2, 0.0, np.round(rng.lognormal(10, 1.3, n), 2)),
        "Hours": np.round(rng.gamma(2, 6, n), 1),
        "Industry": rng.choice(["Retail", "Health", "Energy", "Mining", "Finance"], n),
        "Employees": rng.choice([10, 50, 200, 1000, 5000], n).astype(float),
        "Country": rng.choice(["FR", "DE", "US", "UK"], n),
    })
    m = 2 * n
    close = pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(0, 1200, m), unit="D")
    pipeline = pd.DataFrame({
        "Opportunity ID": np.char.add("OPP-", np.arange(m).astype(str)), "Account": names[rng.integers(0, n, m)],
        "Owner": rng.choice(["Ana", "Ben", "Cy", "Dee"], m), "Amount": np.round(rng.lognormal(9, 1, m), 2),
        "Probability": 0.5, "Close Date": close, "Status": rng.choice(["Open", "Won", "Lost"], m, p=[0.4, 0.35, 0.25]),
        "Lost Reason": "Price",
    })
    return accounts, pipeline


def bare(acc: pd.DataFrame, pipe: pd.DataFrame, hourly_cost: float) -> dict[str, float]:
    seg = acc["Segment"].to_numpy(dtype=object)
    is_a = seg == "A"
    n_a = is_a.sum()
    total, seen = np.zeros(len(acc)), np.zeros(len(acc))
    for col in ("Industry", "Country"):
        codes, _ = pd.factorize(acc[col])
        a_counts = np.bincount(codes[is_a], minlength=codes.max() + 1)
        total += (a_counts[codes] - is_a) / (n_a - is_a)
        seen += 1
    v = acc["Employees"].to_numpy()
    band = np.searchsorted(np.quantile(v, [0.2, 0.4, 0.6, 0.8]), v, side="left")
    a_counts = np.bincount(band[is_a], minlength=5)
    total += (a_counts[band] - is_a) / (n_a - is_a)
    fit = total / (seen + 1)
    won = pipe["Status"].to_numpy() == "Won"
    keys, _ = pd.factorize(pipe["Account"].to_numpy()[won])  # accounts as integer codes
    days = pipe["Close Date"].to_numpy(dtype="datetime64[D]")[won]
    prev_start, cur_start = np.datetime64("2024-11-23"), np.datetime64("2025-11-23")
    before = np.bincount(keys[(days > prev_start) & (days <= cur_start)], minlength=keys.max() + 1) > 0
    now = np.bincount(keys[(days > cur_start) & (days <= np.datetime64(AS_OF))], minlength=keys.max() + 1) > 0
    first = np.full(keys.max() + 1, np.datetime64("9999-12-31"), dtype="datetime64[D]")
    np.minimum.at(first, keys, days)
    months = np.unique(first.astype("datetime64[M]"), return_counts=True)[1]
    h, r = acc["Hours"].to_numpy(), acc["Revenue"].to_numpy()
    return {"Retention": (before & now).sum() / before.sum(), "New": float(months.sum()), "Cost": h.sum() * hourly_cost / r.sum(),
            "Fit": float(np.nanmean(fit))}


def best_of(f, repeats: int = 3) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        f()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall)


def main(n: int) -> None:
    accounts, pipeline = make(n)
    s = Settings(as_of=AS_OF, hourly_cost=60)
    acc = rotxl.classify_accounts(accounts, s)
    pipe = rotxl.score_pipeline(pipeline, s)
    ours = best_of(lambda: metrics.checklist_table(acc, pipe, s))
    base = best_of(lambda: bare(acc, pipe, 60.0))
    per_owner = best_of(lambda: metrics.checklist_table(acc, pipe, s, acc["Owner"], pipe["Owner"]))
    print(f"checklist on {n:,} accounts and {2 * n:,} deals (best of 3; a shared machine)")
    print(f"  rotxl team       cpu {ours[0]:7.3f} s   wall {ours[1]:7.3f} s")
    print(f"  rotxl per owner  cpu {per_owner[0]:7.3f} s   wall {per_owner[1]:7.3f} s")
    print(f"  bare numpy       cpu {base[0]:7.3f} s   wall {base[1]:7.3f} s")
    print(f"  ratio (team, wall) {ours[1] / base[1]:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
