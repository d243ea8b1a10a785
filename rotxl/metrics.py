"""Team productivity (SPEC §3) from classified accounts and a scored pipeline.

The Dashboard and the Team Rollup show the same figures as native formulas; the tests hold
the two to each other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .engine import CONTACT_NOW, PRIORITIES, _cols, parse_numbers, parse_status
from .schema import ACCOUNT_COLUMNS, PIPELINE_COLUMNS
from .settings import Settings

SEGMENTS = ("A", "B", "C", "D", "E")
DUMP = ("C", "E")


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def _account_numbers(accounts: pd.DataFrame) -> pd.DataFrame:
    cols = _cols(accounts, ACCOUNT_COLUMNS)
    revenue = parse_numbers(cols["Revenue"]).values
    margin = parse_numbers(cols["Margin"]).values
    return pd.DataFrame({
        "Segment": accounts["Segment"].to_numpy(dtype=object),
        "Revenue": revenue,
        "Earned": revenue * np.where(np.isnan(margin), 1.0, margin),
        "EH": accounts["Effective Hours"].to_numpy(dtype="float64"),
        "Valid": (accounts["Issues"] == "").to_numpy() & ~np.isnan(revenue),
    })


def segment_summary(accounts: pd.DataFrame) -> pd.DataFrame:
    """Per segment: accounts, revenue, effective hours, ROT (Σ revenue×margin ÷ Σ EH), share of time."""
    a = _account_numbers(accounts)
    total_eh = np.nansum(a["EH"])
    segmented = a["Revenue"][a["Segment"].isin(SEGMENTS)].sum()
    rows = []
    for seg in SEGMENTS:
        m = (a["Segment"] == seg).to_numpy()
        eh = a["EH"][m].sum()
        rows.append({
            "Segment": seg,
            "Accounts": int(m.sum()),
            "Revenue": a["Revenue"][m].sum(),
            "Effective Hours": eh,
            "ROT": _ratio(a["Earned"][m].sum(), eh),
            "Share of Revenue": _ratio(a["Revenue"][m].sum(), segmented),
            "Share of Time": _ratio(eh, total_eh),
        })
    return pd.DataFrame(rows).set_index("Segment")


def account_metrics(accounts: pd.DataFrame) -> dict[str, float]:
    a = _account_numbers(accounts)
    logged = ~np.isnan(a["EH"].to_numpy())
    eh = a["EH"][logged].sum()
    return {
        "Accounts": int(a["Valid"].sum()),
        "Revenue": a["Revenue"][a["Valid"]].sum(),
        "Effective Hours": eh,
        "ROT": _ratio(a["Earned"][logged].sum(), eh),
        "Time on Dump Segments": _ratio(a["EH"][a["Segment"].isin(DUMP)].sum(), eh),
        "Revenue Share of A": _ratio(a["Revenue"][a["Segment"] == "A"].sum(), a["Revenue"][a["Valid"]].sum()),
        "Rows with Issues": int((accounts["Issues"] != "").sum()),
    }


def pipeline_metrics(pipeline: pd.DataFrame, settings: Settings | None = None) -> dict[str, float]:
    s = settings or Settings()
    cols = _cols(pipeline, PIPELINE_COLUMNS)
    prio = pipeline["Priority"].to_numpy(dtype=object)
    ev = pipeline["Expected Value"].to_numpy(dtype="float64")
    est = parse_numbers(cols["Est. Hours"]).values
    live = pd.notna(prio)
    hours = np.where(np.isnan(est), s.default_deal_hours, est)[live].sum()
    valid = (pipeline["Issues"] == "").to_numpy()
    status, _ = parse_status(cols["Status"])
    won, lost = int((valid & (status == "Won")).sum()), int((valid & (status == "Lost")).sum())
    out: dict[str, float] = {"Open EV": ev[live].sum()}
    for p in PRIORITIES:
        out[f"EV {p}"] = ev[prio == p].sum()
    for p in PRIORITIES:
        out[f"Count {p}"] = int((prio == p).sum())
    out.update({
        "Remaining Hours": hours,
        "EV per Remaining Hour": _ratio(ev[live].sum(), hours),
        "Won": won,
        "Lost": lost,
        "Win Rate": _ratio(won, won + lost),
        "Overdue Follow-ups": int(pipeline["Overdue"].fillna(False).astype(bool).sum()),
        "Open with No Contact": int((pipeline["Next Follow-up"].astype(object) == CONTACT_NOW).sum()),
        "Rows with Issues": int((pipeline["Issues"] != "").sum()),
    })
    return out
