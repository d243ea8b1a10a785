"""A realistic, deterministic sample team: long-tailed revenue and the mess of real exports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

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


# ---------------------------------------------------------------- exports as a CRM writes them (SPEC §7)

INDUSTRIES = ("Manufacturing", "Retail", "Healthcare", "Financial Services", "Technology", "Logistics", "Energy",
              "Education")
COUNTRIES = (("United States", ("CA", "NY", "TX", "IL", "WA")), ("Canada", ("ON", "QC", "BC")),
             ("United Kingdom", ("",)), ("Germany", ("",)))
CRM_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review")
STAGE_PROBABILITY = (10, 20, 40, 60, 80)
LEAD_SOURCES = ("Web", "Referral", "Partner", "Cold Call", "Trade Show", "Advertisement")
REPORT_FOOTER = ("Grand Totals ({n} records)", "", "Confidential Information - Do Not Distribute",
                 "Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.")
_SF_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(prefix: str, numbers: np.ndarray, seed: int = 0) -> list[str]:
    """18-character Salesforce IDs: a 15-character case-sensitive ID and its 3-character case-safe suffix."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
    tails = ["".join(r) for r in rng.choice(alphabet, (len(numbers), 6))]
    out = []
    for number, tail in zip(numbers, tails):
        base = f"{prefix}5g{int(number):04d}{tail}"[:15]
        suffix = "".join(
            _SF_SUFFIX[sum(1 << k for k, ch in enumerate(base[i:i + 5]) if "A" <= ch <= "Z")] for i in (0, 5, 10))
        out.append(base + suffix)
    return out


def _money(values: np.ndarray) -> np.ndarray:
    return np.array([f"${v:,.2f}" for v in values], dtype=object)


def _us_date(days: np.ndarray) -> np.ndarray:
    return np.array([f"{d.month}/{d.day}/{d.year}" for d in pd.to_datetime(days).date], dtype=object)


def crm_exports(owners: tuple[str, ...] = OWNERS, n_accounts: int = 480, n_deals: int = 1400, seed: int = 7,
                as_of: dt.date = SAMPLE_AS_OF) -> dict[str, pd.DataFrame]:
    """A team's accounts, opportunities and activities as a Salesforce report exports them: text
    cells as the CRM writes them (18-character IDs, "$12,500.00", US dates, "Probability (%)"),
    no Revenue column (it comes from the Won deals, §7.2) and no hours (they come from the
    activities, §7.3). Deterministic. Keys: accounts, opportunities, activities."""
    rng = np.random.default_rng(seed)
    base = np.datetime64(as_of)

    # Accounts: a firm's own size ("Annual Revenue") is a firmographic, not what it paid us.
    n = n_accounts
    acc_id = salesforce_id("001", np.arange(1, n + 1), seed)
    country = rng.integers(0, len(COUNTRIES), n)
    state = [rng.choice(COUNTRIES[c][1]) for c in country]
    accounts = pd.DataFrame({
        "Account ID": acc_id,
        "Account Name": _names(rng, n),
        "Account Owner": rng.choice(owners, n),
        "Industry": rng.choice(INDUSTRIES, n),
        "Annual Revenue": _money(np.round(rng.lognormal(16, 1.5, n), -3)),
        "Employees": rng.lognormal(5, 1.4, n).astype(int) + 5,
        "Billing Country": [COUNTRIES[c][0] for c in country],
        "Billing State/Province": state,
        "Type": np.where(rng.random(n) < 0.6, "Customer", "Prospect"),
    })
    accounts.loc[n // 3, "Account Name"] = "=HYPERLINK(\"http://example.com\",\"Click me\")"
    accounts.loc[n // 2, "Account Name"] = accounts.loc[n // 2 - 1, "Account Name"]  # two accounts, one name

    # Opportunities: closed ones over the last ~30 months (revenue and learning), open ones ahead.
    m = n_deals
    pick = rng.integers(0, n, m)
    # Customers buy; prospects mostly have open deals.
    customer = (accounts["Type"].to_numpy()[pick] == "Customer")
    status = np.where(rng.random(m) < np.where(customer, 0.55, 0.15), "Won",
                      np.where(rng.random(m) < 0.45, "Lost", "Open"))
    close = np.where(status == "Open", base + rng.integers(-20, 150, m).astype("timedelta64[D]"),
                     base - rng.integers(0, 900, m).astype("timedelta64[D]"))
    stage_i = rng.integers(0, len(CRM_STAGES), m)
    stage = np.where(status == "Won", "Closed Won", np.where(status == "Lost", "Closed Lost",
                                                               np.array(CRM_STAGES)[stage_i]))
    prob = np.where(status == "Won", 100, np.where(status == "Lost", 0, np.array(STAGE_PROBABILITY)[stage_i]))
    amount = np.round(rng.lognormal(9.6, 1.0, m), -2)
    last_activity = np.where(rng.random(m) < 0.5, base - rng.integers(5, 60, m).astype("timedelta64[D]"),
                             np.datetime64("NaT"))
    opportunities = pd.DataFrame({
        "Opportunity ID": salesforce_id("006", np.arange(1, m + 1), seed + 1),
        "Opportunity Name": [f"{a} - {k}" for a, k in zip(accounts["Account Name"].to_numpy()[pick],
                                                          rng.choice(("Renewal", "Expansion", "New Business", "Pilot",
                                                                      "Services"), m))],
        "Account ID": np.array(acc_id)[pick],
        "Account Name": accounts["Account Name"].to_numpy()[pick],
        "Opportunity Owner": accounts["Account Owner"].to_numpy()[pick],
        "Stage": stage,
        "Amount": _money(amount),
        "Probability (%)": prob,
        "Close Date": _us_date(close),
        "Last Activity": np.where(np.isnat(last_activity), "", _us_date(np.where(np.isnat(last_activity), base,
                                                                                   last_activity))),
        "Lead Source": rng.choice(LEAD_SOURCES, m),
        "Type": np.where(customer, "Existing Business", "New Business"),
        "Loss Reason": np.where(status == "Lost", rng.choice(LOST_REASONS, m), ""),
    })
    opportunities.loc[m // 4, "Amount"] = "TBD"
    lost = np.flatnonzero(status == "Lost")
    if lost.size:
        opportunities.loc[lost[0], "Loss Reason"] = ""  # Lost needs a reason: an issue to show

    # Activities: touches per account by how much it buys; meetings carry their minutes, tasks none.
    weight = np.where(accounts["Type"].to_numpy() == "Customer", rng.gamma(2.0, 12.0, n), rng.gamma(1.0, 4.0, n))
    touches = rng.poisson(weight)
    k = int(touches.sum())
    on = np.repeat(np.arange(n), touches)
    kind = rng.choice(("Call", "Email", "Meeting"), k, p=(0.45, 0.4, 0.15))
    day = base - rng.integers(-10, 400, k).astype("timedelta64[D]")  # a few planned after AsOf
    deals_of = pd.Series(np.arange(m)).groupby(pick).apply(list).to_dict()
    with_deal = rng.random(k) < 0.5
    opp = np.array([deals_of[a][rng.integers(len(deals_of[a]))] if w and a in deals_of else -1
                    for a, w in zip(on, with_deal)])
    linked_opp = opp >= 0
    only_opp = linked_opp & (rng.random(k) < 0.5)  # logged on the deal, not the account
    minutes = np.where(kind == "Meeting", rng.choice((30, 45, 60, 90), k), 0)
    subjects = {"Call": "Call", "Email": "Email:", "Meeting": "Meeting"}
    activities = pd.DataFrame({
        "Subject": [f"{subjects[t]} {s}" for t, s in zip(kind, rng.choice(("follow-up", "check-in", "proposal",
                                                                            "pricing", "kickoff"), k))],
        "Task Subtype": kind,
        "Date": _us_date(day),
        "Assigned": accounts["Account Owner"].to_numpy()[on],
        "Account ID": np.where(only_opp, "", np.array(acc_id)[on]),
        "Opportunity ID": np.where(linked_opp, opportunities["Opportunity ID"].to_numpy()[np.maximum(opp, 0)], ""),
        "Duration (minutes)": np.where(kind == "Meeting", minutes.astype(str), ""),
    })
    # A few logged against records no longer in the export: listed, never dropped.
    gone = rng.choice(k, min(6, k), replace=False)
    activities.loc[gone, "Account ID"] = salesforce_id("001", np.arange(9000, 9000 + len(gone)), seed + 2)
    activities.loc[gone, "Opportunity ID"] = ""
    activities = activities.sort_values("Date", key=lambda d: pd.to_datetime(d, format="%m/%d/%Y"), kind="stable")
    return {"accounts": accounts, "opportunities": opportunities, "activities": activities.reset_index(drop=True)}


def write_report(df: pd.DataFrame, path: str | Path) -> Path:
    """A report export as Salesforce writes one: every field quoted, then a totals and notice block."""
    import csv

    from .files import atomic_write
    from .io import guard_csv_text

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL)
            w.writerow(df.columns)
            for row in df.astype(str).replace({"nan": "", "None": ""}).itertuples(index=False):
                w.writerow([guard_csv_text(v) for v in row])
            w.writerow([])
            for line in REPORT_FOOTER:
                w.writerow([line.format(n=len(df))] if line else [])

    return atomic_write(Path(path), write)


def write_crm_exports(folder: str | Path, **options) -> dict[str, Path]:
    """The three sample reports as CSV files in ``folder``: accounts.csv, opportunities.csv, activities.csv."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write_report(df, folder / f"{name}.csv") for name, df in crm_exports(**options).items()}
