"""Four weekly exports of one small team that change week by week: deals won and lost, hours
logged, an account moving from one owner to another (issue 12)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

FIRST = dt.date(2026, 11, 2)
AS_OF = [FIRST + dt.timedelta(days=7 * k) for k in range(4)]
OWNERS = ("Ana Souza", "Ben Carter", "Cy Doe")


def accounts(week: int) -> pd.DataFrame:
    rows = []
    for i in range(1, 25):
        owner = OWNERS[i % 3]
        if i == 4 and week >= 2:  # A04 moves from Ben to Cy in week 2
            owner = "Cy Doe"
        revenue = [0, 200_000, 150_000, 40_000, 12_000, 3_000][i % 6] + 1_000 * i
        hours = [8, 12, 14, 60, 45, 70][i % 6] + i // 3
        if owner == "Ben Carter" and i % 6 in (4, 5):  # Ben stops spending time on low producers
            hours = max(2, hours - 18 * week)
        if i % 6 == 0:
            revenue = 0  # prospects
        hours += 2 * week if owner == "Ana Souza" else 0
        rows.append({
            "Account ID": f"A{i:02d}", "Account": f"Account {i:02d}", "Owner": owner, "Revenue": revenue,
            "Margin": None, "Hours": hours, "Aggravation": 1 if i % 6 in (1, 2) else 1 + i % 3,
            "Industry": ["Retail", "Health", "Retail", "Energy"][i % 4], "Employees": 50 * (1 + i % 5),
            # Plan Hours as rotxl.rules.plan writes them (§8): the plan's own module fills this at merge.
            "Plan Hours": round(hours / 52, 6) if i % 6 in (1, 2, 3) else 0.0,
        })
    return pd.DataFrame(rows)


def pipeline(week: int) -> pd.DataFrame:
    as_of = AS_OF[week]
    rows = []
    for j in range(1, 31):
        account = 1 + (j * 7) % 24
        owner = OWNERS[account % 3]
        if account == 4 and week >= 2:
            owner = "Cy Doe"
        status, reason, close = "Open", None, as_of + dt.timedelta(days=20 + j)
        # Deal j closes in week j % 5 (weeks 0..3): won when j is even, lost otherwise.
        if j % 5 <= week and j % 5 < 4:
            status = "Won" if j % 2 == 0 else "Lost"
            reason = "Budget cut" if status == "Lost" and j % 3 else None  # some losses lack a reason: still losses
            close = AS_OF[j % 5] - dt.timedelta(days=1)
        rows.append({
            "Opportunity ID": f"D{j:02d}", "Opportunity": f"Deal {j:02d}", "Account": f"Account {account:02d}",
            "Owner": owner, "Stage": "Proposal", "Amount": 5_000 + 1_500 * j, "Probability": 0.1 + (j % 8) / 10,
            "Est. Hours": 4 + j % 6, "Close Date": close,
            "Last Contact": as_of - dt.timedelta(days=(j * 3 + 4 * week) % 25),
            "Follow-ups": j % 4, "Status": status, "Lost Reason": reason,
        })
    # Won deals of earlier years, so retention and new accounts have a history to read.
    for j in range(40):
        account = 1 + j % 20
        rows.append({
            "Opportunity ID": f"H{j:02d}", "Opportunity": f"Old deal {j:02d}", "Account": f"Account {account:02d}",
            "Owner": OWNERS[account % 3], "Stage": "Closed", "Amount": 8_000 + 500 * j, "Probability": 1,
            "Close Date": dt.date(2024, 9, 1) + dt.timedelta(days=18 * j), "Status": "Won",
        })
    return pd.DataFrame(rows)


def logged_this_week(week: int) -> pd.Series:
    """Hours each owner logged in the week up to AsOf (§7.3's "Logged this week", from the activities)."""
    return pd.Series({"Ana Souza": 9.5 + week, "Ben Carter": 14.0 - 2 * week, "Cy Doe": 6.0 + 3 * week})
