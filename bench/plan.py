"""Plan speed: rotxl.rules.plan.make_plan on 10,000 accounts and 20,000 deals against a bare numpy
sort-and-cumsum of the same plan, and LibreOffice's recalculation of the plan formulas.

The engine's frames (classify_accounts, score_pipeline) are made once, outside the timing: this
measures the plan. Baseline: the same plan in plain numpy on arrays already parsed (follow-ups
due and their order by lexsort, the slots, caps, one lexsort into plan order, a cumsum per
owner), with no owner normalising, no text parsing and no plan lines or why texts; and the
same with the reading of the frames' columns (to_numeric, to_datetime, owners trimmed) timed too. Both run in
this process, one after the other; medians of CPU and wall time over the repeats.

LibreOffice: a 2,000-row workbook (800 accounts, 1,200 deals, 8 owners) recalculated headless,
with the plan's columns and without them (the difference is what the plan formulas cost).

Run:  uv run --extra dev python bench/plan.py [ACCOUNTS DEALS]
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rotxl.data.sample import sample_accounts, sample_pipeline  # noqa: E402
from rotxl.rules import engine, plan  # noqa: E402
from rotxl.rules.settings import Settings  # noqa: E402

AS_OF = dt.date(2026, 11, 20)
REPEATS = 7


def timed(f, repeat: int = REPEATS):
    cpu, wall = [], []
    out = None
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        out = f()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), out


def _per_distinct(values: np.ndarray, f) -> np.ndarray:
    """f applied to the distinct values only (the fastest plain way to read repeated text or dates)."""
    codes, uniques = pd.factorize(values)  # blanks are -1: the last item, a blank, reads them
    return np.asarray(f(pd.Series([*uniques, None], dtype=object)))[codes]


def bare_arrays(ca: pd.DataFrame, sp: pd.DataFrame, s: Settings) -> dict[str, np.ndarray]:
    """The inputs of the plan as plain arrays, read from the frames the fastest plain way:
    numbers by to_numeric, text and dates once per distinct value."""
    owners = np.r_[sp["Owner"].to_numpy(object), ca["Owner"].to_numpy(object)]
    codes, _ = pd.factorize(_per_distinct(owners, lambda u: u.fillna("").str.strip().str.lower()))
    nf = sp["Next Follow-up"].to_numpy(object)
    now = _per_distinct(nf, lambda u: (u == engine.CONTACT_NOW).to_numpy())
    dates = _per_distinct(nf, lambda u: pd.to_datetime(u.where(u != engine.CONTACT_NOW), errors="coerce")
                          .to_numpy("datetime64[D]"))
    est = pd.to_numeric(sp["Est. Hours"], errors="coerce").to_numpy(float)
    close = _per_distinct(sp["Close Date"].to_numpy(object),
                          lambda u: pd.to_datetime(u, errors="coerce").to_numpy("datetime64[D]"))
    hours = pd.to_numeric(ca["Hours"], errors="coerce").to_numpy(float)
    return {
        "p_owner": codes[: len(sp)], "a_owner": codes[len(sp):],
        "due": now | (dates <= np.datetime64(AS_OF) + np.timedelta64(6, "D")),
        "ev": pd.to_numeric(sp["Expected Value"], errors="coerce").to_numpy(float),
        "p_rot": pd.to_numeric(sp["Opportunity ROT"], errors="coerce").to_numpy(float),
        "p_ok": sp["Priority"].isin(["Pursue", "Nurture"]).to_numpy() & (sp["Issues"] == "").to_numpy(),
        "p_hours": np.where(np.isnan(est), s.default_deal_hours, est),
        "weeks": np.where(np.isnat(close), 1.0, np.maximum(1.0, (close - np.datetime64(AS_OF)).astype(float) / 7)),
        "a_rot": pd.to_numeric(ca["ROT"], errors="coerce").to_numpy(float),
        "a_ok": ca["Segment"].isin(["A", "B", "D"]).to_numpy() & (ca["Issues"] == "").to_numpy(),
        "revenue": pd.to_numeric(ca["Revenue"], errors="coerce").to_numpy(float),
        "a_hours": hours,
    }


def bare_plan(a: dict[str, np.ndarray], s: Settings) -> np.ndarray:
    """Plan Hours of every row: the same greedy plan, sort and cumsum in numpy."""
    n_p = a["p_owner"].size
    slots = int(s.weekly_hours * 60 / s.follow_up_minutes)
    fu_value = np.where(np.isnan(a["ev"]), -1, np.round(a["ev"], 2))
    order = np.lexsort((np.arange(n_p), -fu_value, a["p_owner"], ~a["due"]))
    due_sorted = order[a["due"][order]]
    owner_sorted = a["p_owner"][due_sorted]
    first = np.r_[0, np.flatnonzero(np.diff(owner_sorted)) + 1]
    rank = np.arange(due_sorted.size) - np.repeat(first, np.diff(np.r_[first, due_sorted.size]))
    fu = np.zeros(n_p)
    fu[due_sorted[rank < slots]] = s.follow_up_minutes / 60
    n_owners = int(max(a["p_owner"].max(initial=-1), a["a_owner"].max(initial=-1))) + 1
    taken = np.bincount(a["p_owner"], weights=fu > 0, minlength=n_owners)
    budget = np.maximum(0, s.weekly_hours - taken * (s.follow_up_minutes / 60))
    ok = np.r_[a["p_ok"] & ~np.isnan(a["p_rot"]), a["a_ok"] & ~np.isnan(a["a_rot"])]
    cap = np.where(ok, np.r_[a["p_hours"] / a["weeks"], a["a_hours"] / (s.hours_months * 52 / 12)], 0)
    ret = np.where(ok, np.round(np.r_[a["p_rot"], a["a_rot"]], 6), -np.inf)
    val = np.where(ok, np.round(np.r_[a["ev"], a["revenue"]], 2), -np.inf)
    owner = np.r_[a["p_owner"], a["a_owner"]]
    table = np.r_[np.zeros(n_p), np.ones(a["a_owner"].size)]
    order = np.lexsort((np.arange(owner.size), table, -val, -ret, owner))
    csum = np.cumsum(cap[order])
    o = owner[order]
    first = np.r_[0, np.flatnonzero(np.diff(o)) + 1]
    base = np.repeat(np.r_[0, csum][first], np.diff(np.r_[first, o.size]))
    ahead = np.empty(owner.size)
    ahead[order] = csum - cap[order] - base
    selling = np.where(ok, np.clip(np.minimum(cap, budget[owner] - ahead), 0, None), 0)
    return np.round(np.r_[fu, np.zeros(a["a_owner"].size)] + selling, 6)


def engine_vs_numpy(n_acc: int, n_deals: int) -> None:
    acc = sample_accounts(n_acc, messy=False)
    pipe = sample_pipeline(acc, n_deals, messy=False)
    s = Settings(as_of=AS_OF)
    ca, sp = engine.classify_accounts(acc, s), engine.score_pipeline(pipe, s)
    arrays = bare_arrays(ca, sp, s)
    e_cpu, e_wall, result = timed(lambda: plan.make_plan(ca, sp, s))
    b_cpu, b_wall, bare = timed(lambda: bare_plan(arrays, s))
    r_cpu, r_wall, _ = timed(lambda: bare_plan(bare_arrays(ca, sp, s), s))
    same = np.allclose(np.r_[result.pipeline_hours, result.account_hours], bare, rtol=1e-9, atol=1e-9)
    print(f"plan of {n_acc:,} accounts and {n_deals:,} deals ({len(result.owners)} owners, {len(result.items):,} planned items), "
          f"median of {REPEATS}, one process")
    print(f"  engine make_plan   CPU {e_cpu * 1000:8.1f} ms   wall {e_wall * 1000:8.1f} ms")
    print(f"  bare numpy         CPU {b_cpu * 1000:8.1f} ms   wall {b_wall * 1000:8.1f} ms")
    print(f"  ratio engine/bare  CPU {e_cpu / b_cpu:8.2f} x    wall {e_wall / b_wall:8.2f} x   (same Plan Hours: {same})")
    print(f"  bare numpy, reading the frames' columns too (to_numeric; owners, dates once per distinct value):")
    print(f"                     CPU {r_cpu * 1000:8.1f} ms   wall {r_wall * 1000:8.1f} ms   "
          f"ratio engine/this CPU {e_cpu / r_cpu:.2f} x, wall {e_wall / r_wall:.2f} x")


def libreoffice(n_acc: int = 800, n_deals: int = 1200) -> None:
    from spreadsheet import recalculate

    from rotxl.excel import workbook

    acc = sample_accounts(n_acc, messy=False)
    pipe = sample_pipeline(acc, n_deals, messy=False)
    s = Settings(as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        workbook.save_workbook(workbook.build_workbook(acc, pipe, s), tmp / "with_plan.xlsx")
        keep = workbook._with_plan, workbook._write_this_week
        workbook._with_plan = lambda formulas, inputs, plan_formulas: formulas
        workbook._write_this_week = lambda *args: None
        try:
            workbook.save_workbook(workbook.build_workbook(acc, pipe, s), tmp / "without_plan.xlsx")
        finally:
            workbook._with_plan, workbook._write_this_week = keep
        times = {}
        for name in ("without_plan", "with_plan"):
            t = time.perf_counter()
            recalculate([tmp / f"{name}.xlsx"], tmp / name)
            times[name] = time.perf_counter() - t
    print(f"LibreOffice headless recalculation (open, recalculate, save) of {n_acc + n_deals:,} rows "
          f"({n_acc:,} accounts, {n_deals:,} deals), one run each")
    print(f"  without the plan   wall {times['without_plan']:8.1f} s")
    print(f"  with the plan      wall {times['with_plan']:8.1f} s   (plan formulas: {times['with_plan'] - times['without_plan']:.1f} s)")


if __name__ == "__main__":
    n_acc, n_deals = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (10_000, 20_000)
    engine_vs_numpy(n_acc, n_deals)
    libreoffice()
