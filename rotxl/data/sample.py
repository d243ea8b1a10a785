"""A realistic, deterministic sample team: long-tailed revenue and the mess of real exports."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..rules.settings import FACTORS

OWNERS: tuple[str, ...] = (
    "Ana Souza", "Ben Carter", "Chloé Martin", "Dev Patel",
    "Erin O'Neil", "Farid Haddad", "Grace Kim", "Zoë Müller",
)
_FIRST = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
          "Soylent", "Cyberdyne", "Wonka", "Gringotts", "Oceanic", "Nakatomi", "Aperture", "Duff",
          "Monarch", "Pied Piper", "Blue Sun", "Sirius", "Zenith", "Nordwind", "Kōbe")
_SECOND = ("Industries", "Logistics", "Foods", "Health", "Labs", "Retail", "Bank", "Energy",
           "Studios", "Motors", "Systems", "Partners", "GmbH", "S.A.", "Ltd", "Group")
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
LOST_REASONS = ("Price", "Went with competitor", "No budget", "Timing", "No decision")

SAMPLE_AS_OF = dt.date(2026, 11, 20)


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    first = rng.choice(_FIRST, n)
    second = rng.choice(_SECOND, n)
    return np.char.add(np.char.add(first.astype(str), " "), second.astype(str)).astype(object)


def sample_accounts(n: int = 1200, owners: tuple[str, ...] = OWNERS, seed: int = 7, messy: bool = True) -> pd.DataFrame:
    """Accounts with lognormal revenue, hours loosely tied to revenue, and a few bad rows."""
    rng = np.random.default_rng(seed)
    revenue = np.round(rng.lognormal(10.3, 1.3, n), 2)
    hours = np.round(rng.gamma(2.0, 6.0, n) * (revenue / revenue.mean()) ** 0.3 + rng.uniform(0, 4, n), 1)
    df = pd.DataFrame(
        {
            "Account ID": [f"ACC-{i:05d}" for i in range(1, n + 1)],
            "Account": _names(rng, n),
            "Owner": rng.choice(owners, n),
            "Revenue": revenue.astype(object),
            "Margin": np.where(rng.random(n) < 0.3, np.round(rng.uniform(0.15, 0.6, n), 2), np.nan),
            "Hours": hours.astype(object),
            "Aggravation": np.where(rng.random(n) < 0.4, rng.integers(1, 6, n), np.nan),
        }
    )
    df["Aggravation"] = df["Aggravation"].astype(object)
    df["Margin"] = df["Margin"].astype(object)
    if messy and n >= 50:
        # Awaiting hours: the salesperson has not logged time yet.
        df.loc[rng.choice(n, max(1, n // 40), replace=False), "Hours"] = None
        bad = rng.choice(n, 8, replace=False)
        df.loc[bad[0], "Revenue"] = "12k"
        df.loc[bad[1], "Hours"] = -5
        df.loc[bad[2], "Aggravation"] = 7
        df.loc[bad[3], "Account ID"] = df.loc[bad[4], "Account ID"]
        df.loc[bad[5], "Account"] = "=HYPERLINK(\"http://example.com\",\"Click me\")"
        df.loc[bad[6], "Account"] = "@SUM(A1:A9)"
        df.loc[bad[7], "Margin"] = 1.4
    return df


def sample_pipeline(accounts: pd.DataFrame, n: int = 2000, seed: int = 11, messy: bool = True,
                    as_of: dt.date = SAMPLE_AS_OF) -> pd.DataFrame:
    """Opportunities on the sample accounts; some with a CRM probability, some scored, some neither."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(accounts), n)
    stage = rng.choice(STAGES, n, p=(0.2, 0.2, 0.2, 0.15, 0.15, 0.1))
    status = np.select([stage == "Closed Won", stage == "Closed Lost"], ["Won", "Lost"], "Open")
    has_prob = rng.random(n) < 0.5
    prob = np.where(has_prob, np.round(rng.uniform(0.05, 0.95, n), 2), np.nan)
    df = pd.DataFrame(
        {
            "Opportunity ID": [f"OPP-{i:05d}" for i in range(1, n + 1)],
            "Opportunity": [f"Deal {i}" for i in range(1, n + 1)],
            "Account": accounts["Account"].to_numpy()[pick],
            "Owner": accounts["Owner"].to_numpy()[pick],
            "Stage": stage,
            "Amount": np.round(rng.lognormal(9.5, 1.1, n), -1),
            "Probability": np.where(status == "Won", 1.0, np.where(status == "Lost", 0.0, prob)),
        }
    )
    for name in FACTORS:
        scored = ~has_prob & (rng.random(n) < 0.85)
        df[name] = np.where(scored, rng.integers(0, 6, n), np.nan)
    df["Est. Hours"] = np.where(rng.random(n) < 0.6, rng.integers(2, 40, n), np.nan)
    base = np.datetime64(as_of)
    df["Close Date"] = pd.to_datetime(base + rng.integers(-60, 120, n).astype("timedelta64[D]")).date
    contacted = rng.random(n) < 0.85
    last = pd.to_datetime(base - rng.integers(0, 30, n).astype("timedelta64[D]")).date
    df["Last Contact"] = np.where(contacted, last, None)
    df["Follow-ups"] = rng.integers(0, 8, n)
    df["Status"] = np.where(status == "Open", "", status)
    df["Lost Reason"] = np.where(status == "Lost", rng.choice(LOST_REASONS, n), "")
    if messy and n >= 50:
        bad = rng.choice(n, 6, replace=False)
        df["Amount"] = df["Amount"].astype(object)
        lost = np.flatnonzero(status == "Lost")
        if lost.size:
            df.loc[lost[0], "Lost Reason"] = ""
        df.loc[bad[0], "Amount"] = "TBD"
        df.loc[bad[1], "Budget"] = 9
        df.loc[bad[2], "Probability"] = np.nan
        for name in FACTORS:
            df.loc[bad[2], name] = np.nan
        df.loc[bad[3], "Status"] = "Maybe"
        df.loc[bad[4], "Opportunity"] = "+cmd|' /C calc'!A0"
        df.loc[bad[5], "Opportunity ID"] = df.loc[bad[0], "Opportunity ID"]
    return df
