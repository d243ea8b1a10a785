"""Engine speed: classify_accounts on 1,000,000 accounts and score_pipeline on 1,000,000
opportunities, each against a bare numpy pass of the same rules.

The baselines do the same work the fastest plain way, knowing what the engine cannot know: that
every numeric column is already float, every date column datetime64, no ID needs trimming. They
check every rule the data could break (a hashed duplicate-ID check, blanks, ranges, whole
numbers, numbers too large), compute every derived column and both sets of thresholds
(PERCENTILE.INC by np.partition), write the Issues text for the rows that have one, and return
the same frame; the script checks the two frames are identical. Same process, one after the
other, CPU time (time.process_time) and wall time, medians over the repeats.

Also: one ROT worksheet-function call through xlwings' custom-function call path against a
call of the bare Python function.

Run:  uv run --extra dev python bench/engine.py [N] [REPEATS]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd

os.environ.setdefault("XLWINGS_ON_SERVER", "true")
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")

import rotxl  # noqa: E402
from rotxl.rules.engine import ACTIONS, CONTACT_NOW, XL_MAX  # noqa: E402

AS_OF = dt.date(2026, 3, 1)
SEGMENTS = np.array([None, "P", "C", "A", "D", "B", "E"], dtype=object)
ACTIONS_BY_CODE = np.array([None, *(ACTIONS[k] for k in SEGMENTS[1:])], dtype=object)


def _ids(prefix: str, n: int, rng) -> np.ndarray:
    ids = np.char.add(prefix, np.arange(n).astype(str)).astype(object)
    dup = rng.choice(n, n // 5000, replace=False)  # a few repeated IDs: their rows get an Issues text
    ids[dup] = ids[(dup + 1) % n]
    return ids


def make_accounts(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = np.round(rng.gamma(2, 6, n), 1)
    return pd.DataFrame({
        "Account ID": _ids("ACC-", n, rng),
        "Account": "Acme",
        "Revenue": np.where(rng.random(n) < 0.05, 0.0, np.round(rng.lognormal(10, 1.3, n), 2)),
        "Margin": np.where(rng.random(n) < 0.3, 0.4, np.nan),
        "Hours": np.where(rng.random(n) < 0.3, np.nan, hours),
        "Logged Hours": np.round(rng.gamma(2, 5, n), 1),
        "Aggravation": np.where(rng.random(n) < 0.4, rng.integers(1, 6, n), np.nan),
    })


def _percentile(values: np.ndarray, q: float) -> float:
    """PERCENTILE.INC as the spreadsheet interpolates it."""
    if not values.size:
        return float("nan")
    h = (values.size - 1) * q
    k = int(h)
    k1 = min(k + 1, values.size - 1)
    part = np.partition(values, [k, k1])
    return float(part[k] + (h - k) * (part[k1] - part[k]))


def _approx_eq(a, b):
    return (a == b) | (np.abs(a - b) < np.minimum(np.abs(a), np.abs(b)) * 2.0**-48)


def _issues(n: int, rows: np.ndarray, texts: np.ndarray) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    out[rows] = texts
    return out


def baseline_accounts(df: pd.DataFrame, weight: float = 0.25) -> pd.DataFrame:
    ids = df["Account ID"].to_numpy(dtype=object)
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    name_blank = df["Account"].isna().to_numpy()
    rev, margin, hours, logged, agg = (df[c].to_numpy() for c in ("Revenue", "Margin", "Hours", "Logged Hours", "Aggravation"))
    bad = dup | name_blank | np.isnan(rev) | (rev < 0) | (np.abs(rev) > XL_MAX)
    bad |= (margin < 0) | (margin > 1) | (hours < 0) | (logged < 0) | (np.abs(hours) > XL_MAX) | (np.abs(logged) > XL_MAX)
    bad |= ~np.isnan(agg) & ((agg != np.floor(agg)) | (agg < 1) | (agg > 5))
    h = np.where(np.isnan(hours), logged, hours)
    eh = h * (1 + weight * (np.where(np.isnan(agg), 1.0, agg) - 1))
    m = np.where(np.isnan(margin), 1.0, margin)
    with np.errstate(divide="ignore", invalid="ignore"):
        rot = rev * m / eh
    bad |= np.abs(eh) > XL_MAX
    bad |= (eh != 0) & (np.abs(rot) > XL_MAX)
    eh = np.where(bad, np.nan, eh)
    rot = np.where(bad | (eh == 0), np.nan, rot)
    paying = ~bad & (rev > 0)
    high = _percentile(rev[paying], 0.7)
    floor = _percentile(rev[paying], 0.2)
    hh = _percentile(eh[paying & (eh > 0)], 0.5)
    high_rev = (rev >= high) | _approx_eq(rev, high)
    low_time = (eh <= hh) | _approx_eq(eh, hh)
    below = (rev < floor) & ~_approx_eq(rev, floor)
    codes = np.select([rev == 0, below, high_rev & low_time, high_rev, low_time], np.arange(1, 6, dtype=np.int8), np.int8(6))
    codes = np.where(np.isnan(eh), np.int8(0), codes.astype(np.int8))
    rows = np.flatnonzero(dup)
    out = df.copy(deep=False)
    out["Effective Hours"] = eh
    out["ROT"] = rot
    out["Segment"] = SEGMENTS[codes]
    out["Action"] = ACTIONS_BY_CODE[codes]
    out["Issues"] = _issues(len(df), rows, "Duplicate Account ID " + ids[rows])
    out.attrs["thresholds"] = {"RevenueHigh": high, "RevenueFloor": floor, "HoursHigh": hh}
    return out


FACTORS = ("Decision-maker access", "Compelling event", "Budget", "ICP fit", "Relationship")
WEIGHTS = (3, 2, 2, 2, 1)


def make_pipeline(n: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    status = rng.choice(np.array(["Open", None, "Won", "Lost"], dtype=object), n, p=[0.4, 0.3, 0.15, 0.15])
    last = np.datetime64("2026-01-01") + rng.integers(0, 60, n).astype("timedelta64[D]")
    df = pd.DataFrame({
        "Opportunity ID": _ids("OPP-", n, rng),
        "Opportunity": "Deal",
        "Account": "Acme",
        "Stage": "Proposal",
        "Amount": np.round(rng.lognormal(9, 1, n), 2),
        "Probability": np.where(rng.random(n) < 0.5, np.round(rng.random(n), 2), np.nan),
        # Decision-maker access always scored, so every row has an engagement
        **{f: np.where((rng.random(n) < 0.2) & (f != FACTORS[0]), np.nan, rng.integers(0, 6, n).astype(float)) for f in FACTORS},
        "Est. Hours": np.where(rng.random(n) < 0.5, np.nan, np.round(rng.gamma(2, 4, n), 1)),
        "Close Date": pd.to_datetime(np.datetime64("2026-03-01") + rng.integers(0, 120, n).astype("timedelta64[D]")),
        "Last Contact": pd.to_datetime(np.where(rng.random(n) < 0.2, np.datetime64("NaT"), last)),
        "Follow-ups": rng.integers(0, 6, n).astype(float),
        "Status": status,
        "Lost Reason": np.where(status == "Lost", "Price", None),
    })
    return df


def baseline_pipeline(df: pd.DataFrame, as_of: dt.date, p_min: float = 0.2, default_hours: float = 10,
                      cadence: int = 10) -> pd.DataFrame:
    n = len(df)
    ids = df["Opportunity ID"].to_numpy(dtype=object)
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    amount, prob, est, fu = (df[c].to_numpy() for c in ("Amount", "Probability", "Est. Hours", "Follow-ups"))
    bad = dup | np.isnan(amount) | (amount < 0) | (np.abs(amount) > XL_MAX) | (prob < 0) | (prob > 1)
    bad |= (est < 0) | (np.abs(est) > XL_MAX) | ~np.isnan(fu) & ((fu != np.floor(fu)) | (fu < 0))
    num = np.zeros(n)
    den = np.zeros(n)
    for w, f in zip(WEIGHTS, FACTORS):
        sc = df[f].to_numpy()
        has = ~np.isnan(sc)
        bad |= has & ((sc != np.floor(sc)) | (sc < 0) | (sc > 5))
        num += np.where(has, w * sc, 0.0)
        den += np.where(has, w, 0.0)
    codes, uniques = pd.factorize(df["Status"])  # three distinct values: normalised once each
    canon = np.array(["Open"] + [{"open": "Open", "won": "Won", "lost": "Lost"}.get(u.strip().casefold(), "") for u in uniques], dtype=object)
    status = canon[codes + 1]
    bad |= status == ""
    bad |= (status == "Lost") & df["Lost Reason"].isna().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(np.isnan(prob), num / (5 * den), prob)
    bad |= np.isnan(p)
    hours = np.where(np.isnan(est), default_hours, est)
    with np.errstate(divide="ignore", invalid="ignore"):
        bad |= (hours != 0) & (np.abs(amount * p / hours) > XL_MAX)
    p = np.where(bad, np.nan, p)
    ev = amount * p
    with np.errstate(divide="ignore", invalid="ignore"):
        opp_rot = np.where(hours == 0, np.nan, ev / hours)
    is_open = status == "Open"
    live = ~bad & is_open
    amount_min = _percentile(amount[live], 0.25)
    big = _percentile(amount[live], 0.9)
    pursue = ((p >= p_min) | _approx_eq(p, p_min)) & ((amount >= amount_min) | _approx_eq(amount, amount_min))
    nurture = (amount >= big) | _approx_eq(amount, big)
    priority = np.where(pursue, "Pursue", np.where(nurture, "Nurture", "Deprioritize")).astype(object)
    priority[~live] = None
    last = df["Last Contact"].to_numpy(dtype="datetime64[D]")
    due = last + np.timedelta64(cadence, "D")
    contacted = ~np.isnat(due)
    follow = np.full(n, None, dtype=object)
    follow[is_open & contacted] = due[is_open & contacted].astype(object)
    follow[is_open & ~contacted] = CONTACT_NOW
    overdue = pd.array(np.where(is_open, contacted & (np.datetime64(as_of, "D") > due), False), dtype="boolean")
    overdue[~is_open] = pd.NA
    rows = np.flatnonzero(dup)
    out = df.copy(deep=False)
    out["Engagement"] = p
    out["Expected Value"] = ev
    out["Opportunity ROT"] = opp_rot
    out["Priority"] = priority
    out["Next Follow-up"] = follow
    out["Overdue"] = overdue
    out["Issues"] = _issues(n, rows, "Duplicate Opportunity ID " + ids[rows])
    out.attrs["thresholds"] = {"PMin": p_min, "AmountMin": amount_min, "BigDealAmount": big}
    return out


def measure(f, repeat: int):
    """Median CPU and wall seconds over ``repeat`` runs, and the last result."""
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        out = f()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), out


def compare(what: str, n: int, engine, baseline, repeat: int) -> None:
    # Alternate, so load on a shared machine falls on both alike.
    runs = {"engine": [], "baseline": []}
    for _ in range(repeat):
        for name, f in (("baseline", baseline), ("engine", engine)):
            runs[name].append(measure(f, 1))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
    got, want = runs["engine"][-1][2], runs["baseline"][-1][2]
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["thresholds"] == want.attrs["thresholds"], (got.attrs["thresholds"], want.attrs["thresholds"])
    (ec, ew), (bc, bw) = med["engine"], med["baseline"]
    print(f"{what}, {n:,} rows, median of {repeat}        CPU        wall")
    print(f"  bare numpy baseline            {bc * 1000:9.0f} ms {bw * 1000:9.0f} ms")
    print(f"  rotxl engine                   {ec * 1000:9.0f} ms {ew * 1000:9.0f} ms")
    print(f"  ratio engine/baseline          {ec / bc:9.2f}x    {ew / bw:9.2f}x   (target: within 1.5x)")
    print("  outputs identical: yes")


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
    t_bare, _, _ = measure(lambda: [bare(120000.0, 40.0, 3.0, 0.5, None) for _ in range(calls)], 3)
    t_xlw, _, _ = measure(lambda: asyncio.run(through_xlwings()), 3)
    print(f"ROT worksheet function, {calls:,} calls (CPU, median of 3)")
    print(f"  bare Python call     {t_bare / calls * 1e6:9.1f} µs per call")
    print(f"  xlwings call path    {t_xlw / calls * 1e6:9.1f} µs per call")
    print(f"  ratio                {t_xlw / t_bare:9.2f}x")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    accounts = make_accounts(n)
    compare("classify_accounts", n, lambda: rotxl.classify_accounts(accounts), lambda: baseline_accounts(accounts), repeat)
    pipeline = make_pipeline(n)
    settings = rotxl.Settings(as_of=AS_OF)
    compare("score_pipeline", n, lambda: rotxl.score_pipeline(pipeline, settings),
            lambda: baseline_pipeline(pipeline, AS_OF), repeat)
    bench_udf_call()
