"""Revenue from won deals and Logged Hours (SPEC §7.2, §7.3): crm.prepare against plain pandas.

Input: N accounts, 3N opportunities, 10N activities, every value as text as a CSV gives it
(ISO dates, plain numbers), links by ID. Baseline: the same work written the fastest plain way
in pandas — parse the dates and numbers, filter Won deals in the window, group by Account ID,
map onto the accounts; activity minutes from duration or type default, account through the
opportunity when missing, windowed sums, the open deals' latest contact and count, the owners'
week — with no name matching, no issues, no summary. Same process, one core each, medians of
CPU and wall time over the repeats.

Run:  uv run --extra dev python bench/crm.py [N] [REPEATS]      (default: 100000 5)
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time

import numpy as np
import pandas as pd

from rotxl.data import crm
from rotxl.rules.settings import Settings

AS_OF = dt.date(2026, 11, 20)


def make(n: int, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.char.add("001", np.arange(n).astype(str)).astype(object)
    accounts = pd.DataFrame({"Account ID": ids, "Account": np.char.add("Co ", np.arange(n).astype(str)).astype(object)})
    m = 3 * n
    base = np.datetime64(AS_OF)
    deals = pd.DataFrame({
        "Opportunity ID": np.char.add("006", np.arange(m).astype(str)).astype(object),
        "Account ID": ids[rng.integers(0, n, m)],
        "Status": rng.choice(np.array(["Won", "Lost", ""], dtype=object), m),
        "Amount": np.round(rng.uniform(100, 50000, m), 2).astype(str).astype(object),
        "Close Date": (base - rng.integers(-60, 900, m).astype("timedelta64[D]")).astype(str).astype(object),
        "Last Contact": "", "Follow-ups": "",
    })
    k = 10 * n
    opp = rng.integers(0, m, k)
    only_opp = rng.random(k) < 0.3
    acts = pd.DataFrame({
        "Date": (base - rng.integers(-10, 400, k).astype("timedelta64[D]")).astype(str).astype(object),
        "Account ID": np.where(only_opp, "", deals["Account ID"].to_numpy()[opp]).astype(object),
        "Opportunity ID": np.where(rng.random(k) < 0.5, deals["Opportunity ID"].to_numpy()[opp], "").astype(object),
        "Owner": rng.choice(np.array(["Ana", "Ben", "Chloé", "Dev"], dtype=object), k),
        "Type": rng.choice(np.array(["Call", "Email", "Meeting", "Task"], dtype=object), k),
        "Duration": np.where(rng.random(k) < 0.2, "30", "").astype(object),
    })
    acts.loc[only_opp & (acts["Opportunity ID"] == ""), "Opportunity ID"] = deals["Opportunity ID"].to_numpy()[opp][
        only_opp & (acts["Opportunity ID"] == "").to_numpy()]
    return accounts, deals, acts


def plain(accounts: pd.DataFrame, deals: pd.DataFrame, acts: pd.DataFrame, s: Settings):
    as_of = pd.Timestamp(AS_OF)
    start = as_of - pd.DateOffset(months=s.revenue_months)
    close = pd.to_datetime(deals["Close Date"], format="ISO8601")
    amount = pd.to_numeric(deals["Amount"])
    won = (deals["Status"] == "Won") & (close > start) & (close <= as_of)
    revenue = accounts["Account ID"].map(amount[won].groupby(deals["Account ID"][won]).sum()).fillna(0.0)

    date = pd.to_datetime(acts["Date"], format="ISO8601")
    defaults = {"Call": s.minutes_call, "Email": s.minutes_email, "Meeting": s.minutes_meeting}
    minutes = pd.to_numeric(acts["Duration"].replace("", np.nan)).fillna(acts["Type"].map(defaults).fillna(s.minutes_other))
    deal_account = pd.Series(deals["Account ID"].to_numpy(), index=deals["Opportunity ID"].to_numpy())
    account = acts["Account ID"].where(acts["Account ID"] != "", acts["Opportunity ID"].map(deal_account))
    in_hours = (date > as_of - pd.DateOffset(months=s.hours_months)) & (date <= as_of)
    logged = accounts["Account ID"].map((minutes[in_hours] / 60).groupby(account[in_hours]).sum()).fillna(0.0)
    done = (date <= as_of) & (acts["Opportunity ID"] != "")
    per = date[done].groupby(acts["Opportunity ID"][done]).agg(["max", "size"])
    week = (date >= as_of - pd.Timedelta(days=6)) & (date <= as_of)
    this_week = (minutes[week] / 60).groupby(acts["Owner"][week]).sum()
    return revenue, logged, per, this_week


def measure(f, repeats: int) -> tuple[float, float, object]:
    cpu, wall = [], []
    out = None
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        out = f()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), out


def main(n: int, repeats: int) -> None:
    accounts, deals, acts = make(n)
    s = Settings(as_of=AS_OF)
    c_base, w_base, (revenue, logged, _, _) = measure(lambda: plain(accounts, deals, acts, s), repeats)
    c_rotxl, w_rotxl, (acc, _, _) = measure(lambda: crm.prepare(accounts, deals, acts, s), repeats)
    assert np.allclose(acc["Revenue"].to_numpy(), revenue.to_numpy()), "revenue differs from the baseline"
    assert np.allclose(acc["Logged Hours"].to_numpy(), logged.to_numpy()), "logged hours differ from the baseline"
    print(f"crm.prepare: {n:,} accounts, {len(deals):,} opportunities, {len(acts):,} activities; median of {repeats}")
    print(f"  plain pandas     CPU {c_base:7.2f} s   wall {w_base:7.2f} s")
    print(f"  rotxl crm        CPU {c_rotxl:7.2f} s   wall {w_rotxl:7.2f} s")
    print(f"  ratio rotxl/plain  CPU {c_rotxl / c_base:5.2f}x   wall {w_rotxl / w_base:5.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
