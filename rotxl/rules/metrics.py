"""Team productivity (SPEC §3) from classified accounts and a scored pipeline.

Every figure is a sum over rows, grouped (by owner for the Team Rollup, or all rows as one
group), then a ratio of sums: one vectorised pass whatever the number of owners. The
Dashboard shows the same figures as native formulas; the tests hold the two to each other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .engine import CONTACT_NOW, PRIORITIES, _cols, parse_numbers, parse_status
from .schema import ACCOUNT_COLUMNS, PIPELINE_COLUMNS
from .settings import Settings

SEGMENTS = ("A", "B", "C", "D", "E")
DUMP = ("C", "E")


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(den) != 0, np.asarray(num, dtype=float) / np.where(np.asarray(den) != 0, den, 1), np.nan)


def _groups(n: int, by: pd.Series | None) -> np.ndarray:
    return np.full(n, "Team", dtype=object) if by is None else by.to_numpy(dtype=object)


def _account_numbers(accounts: pd.DataFrame) -> pd.DataFrame:
    cols = _cols(accounts, ACCOUNT_COLUMNS)
    revenue = parse_numbers(cols["Revenue"]).values
    margin = parse_numbers(cols["Margin"]).values
    eh = accounts["Effective Hours"].to_numpy(dtype="float64")
    seg = accounts["Segment"].to_numpy(dtype=object)
    valid = (accounts["Issues"] == "").to_numpy() & ~np.isnan(revenue)
    logged = ~np.isnan(eh)
    earned = revenue * np.where(np.isnan(margin), 1.0, margin)
    return pd.DataFrame({
        "Segment": seg,
        "Revenue": revenue,
        "Earned": earned,
        "EH": eh,
        "Valid": valid,
        "ValidRevenue": np.where(valid, revenue, 0.0),
        "LoggedEH": np.where(logged, eh, 0.0),
        "LoggedEarned": np.where(logged, earned, 0.0),
        "DumpEH": np.where(np.isin(seg, DUMP), np.nan_to_num(eh), 0.0),
        "RevenueA": np.where(seg == "A", revenue, 0.0),
        "Issue": (accounts["Issues"] != "").to_numpy(),
    })


def segment_summary(accounts: pd.DataFrame) -> pd.DataFrame:
    """Per segment: accounts, revenue, effective hours, ROT (Σ revenue×margin ÷ Σ EH), shares of revenue and time."""
    a = _account_numbers(accounts)
    sums = a[a["Segment"].isin(SEGMENTS)].groupby("Segment")[["Revenue", "Earned", "EH"]].sum().reindex(list(SEGMENTS), fill_value=0.0)
    counts = a["Segment"].value_counts().reindex(list(SEGMENTS), fill_value=0)
    return pd.DataFrame({
        "Accounts": counts.astype(int),
        "Revenue": sums["Revenue"],
        "Effective Hours": sums["EH"],
        "ROT": _ratio(sums["Earned"], sums["EH"]),
        "Share of Revenue": _ratio(sums["Revenue"], sums["Revenue"].sum()),
        "Share of Time": _ratio(sums["EH"], np.nansum(a["EH"])),
    }, index=pd.Index(SEGMENTS, name="Segment"))


def account_table(accounts: pd.DataFrame, by: pd.Series | None = None) -> pd.DataFrame:
    """§3 account figures per group (one row "Team" when ``by`` is None)."""
    a = _account_numbers(accounts)
    s = a.drop(columns=["Segment"]).groupby(_groups(len(a), by)).sum()
    return pd.DataFrame({
        "Accounts": s["Valid"].astype(int),
        "Revenue": s["ValidRevenue"],
        "Effective Hours": s["LoggedEH"],
        "ROT": _ratio(s["LoggedEarned"], s["LoggedEH"]),
        "Time on Dump Segments": _ratio(s["DumpEH"], s["LoggedEH"]),
        "Revenue Share of A": _ratio(s["RevenueA"], s["ValidRevenue"]),
        "Rows with Issues": s["Issue"].astype(int),
    }, index=s.index)


def pipeline_table(pipeline: pd.DataFrame, settings: Settings | None = None, by: pd.Series | None = None) -> pd.DataFrame:
    """§3 pipeline figures per group (one row "Team" when ``by`` is None)."""
    s = settings or Settings()
    cols = _cols(pipeline, PIPELINE_COLUMNS)
    prio = pipeline["Priority"].to_numpy(dtype=object)
    ev = np.nan_to_num(pipeline["Expected Value"].to_numpy(dtype="float64"))
    est = parse_numbers(cols["Est. Hours"]).values
    live = pd.notna(prio)
    valid = (pipeline["Issues"] == "").to_numpy()
    status, _ = parse_status(cols["Status"])
    rows = pd.DataFrame({
        "Open EV": np.where(live, ev, 0.0),
        **{f"EV {p}": np.where(prio == p, ev, 0.0) for p in PRIORITIES},
        **{f"Count {p}": prio == p for p in PRIORITIES},
        "Remaining Hours": np.where(live, np.where(np.isnan(est), s.default_deal_hours, est), 0.0),
        "Won": valid & (status == "Won"),
        "Lost": valid & (status == "Lost"),
        "Overdue Follow-ups": pipeline["Overdue"].fillna(False).astype(bool).to_numpy(),
        "Open with No Contact": (pipeline["Next Follow-up"].astype(object) == CONTACT_NOW).to_numpy(),
        "Rows with Issues": (pipeline["Issues"] != "").to_numpy(),
    })
    t = rows.groupby(_groups(len(rows), by)).sum()
    counts = [f"Count {p}" for p in PRIORITIES] + ["Won", "Lost", "Overdue Follow-ups", "Open with No Contact", "Rows with Issues"]
    t[counts] = t[counts].astype(int)
    t.insert(t.columns.get_loc("Remaining Hours") + 1, "EV per Remaining Hour", _ratio(t["Open EV"], t["Remaining Hours"]))
    t.insert(t.columns.get_loc("Lost") + 1, "Win Rate", _ratio(t["Won"], t["Won"] + t["Lost"]))
    return t


def account_metrics(accounts: pd.DataFrame) -> dict[str, float]:
    return account_table(accounts).iloc[0].to_dict() if len(accounts) else {}


def pipeline_metrics(pipeline: pd.DataFrame, settings: Settings | None = None) -> dict[str, float]:
    return pipeline_table(pipeline, settings).iloc[0].to_dict() if len(pipeline) else {}
