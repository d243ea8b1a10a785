"""A plain, row-by-row reading of SPEC §1, §2 and §4, written independently of the engine.

Slow on purpose: one Python loop per row, one `if` per sentence of the spec. The engine's
vectorised results are checked against it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

FACTORS = ["Decision-maker access", "Compelling event", "Budget", "ICP fit", "Relationship"]
ACTIONS = {
    "A": "Coddle and protect; leverage for referrals",
    "B": "Grow share",
    "C": "Dump, or resist any time investment",
    "D": "Selectively dump; recruit layers from leadership",
    "E": "Dump",
}


def blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def number(v):
    """(value, ok): ok is False for a non-blank value that is not a number."""
    if blank(v):
        return None, True
    if isinstance(v, bool):
        return None, False
    if isinstance(v, (int, float)):
        return (float(v), True) if math.isfinite(v) else (None, False)
    text = str(v).strip()
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    try:
        f = float(text)
    except ValueError:
        return None, False
    return (f * scale, True) if math.isfinite(f) else (None, False)


def percentile_inc(values, q):
    xs = sorted(values)
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def approx_eq(a, b):
    """As a spreadsheet compares: equal but for the last bits of the binary fraction."""
    return a == b or abs(a - b) < min(abs(a), abs(b)) * 2.0**-48


def GE(a, b):
    return a >= b or approx_eq(a, b)


def LE(a, b):
    return a <= b or approx_eq(a, b)


def LT(a, b):
    return a < b and not approx_eq(a, b)


def whole(v, low, high=None):
    return v is not None and v == int(v) and v >= low and (high is None or v <= high)


def id_text(v) -> str:
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return "" if blank(v) else str(v).strip()


def classify(rows, weight=0.25, revenue_high=None, revenue_floor=None, hours_high=None):
    ids = Counter(id_text(r.get("Account ID")) for r in rows)
    parsed = []
    for r in rows:
        issues = []
        if all(blank(v) for v in r.values()):  # a spare, empty table row: nothing to say
            parsed.append((None, 1, None, issues))
            continue
        rid = id_text(r.get("Account ID"))
        if rid == "":
            issues.append("Account ID is required")
        elif ids[rid] > 1:
            issues.append(f"Duplicate Account ID {rid}")
        if blank(r.get("Account")):
            issues.append("Account is required")
        revenue, ok = number(r.get("Revenue"))
        if blank(r.get("Revenue")):
            issues.append("Revenue is required")
        elif not ok:
            issues.append("Revenue must be a number")
        elif revenue < 0:
            issues.append("Revenue must be ≥ 0")
        margin, ok = number(r.get("Margin"))
        if not ok or (margin is not None and not 0 <= margin <= 1):
            issues.append("Margin must be a fraction 0–1")
        hours, ok = number(r.get("Hours"))
        if not ok:
            issues.append("Hours must be a number")
        elif hours is not None and hours < 0:
            issues.append("Hours must be ≥ 0")
        agg, ok = number(r.get("Aggravation"))
        if not ok or (agg is not None and not whole(agg, 1, 5)):
            issues.append("Aggravation must be a whole number 1–5")
        eh = None
        if not issues and hours is not None:
            eh = hours * (1 + weight * ((1 if agg is None else agg) - 1))
        parsed.append((revenue, 1 if margin is None else margin, eh, issues))
    valid_rev = [p[0] for p in parsed if not p[3] and p[0] is not None]
    valid_eh = [p[2] for p in parsed if not p[3] and p[2] is not None]
    high = revenue_high if revenue_high is not None else percentile_inc(valid_rev, 0.70)
    floor = revenue_floor if revenue_floor is not None else percentile_inc(valid_rev, 0.20)
    hh = hours_high if hours_high is not None else percentile_inc(valid_eh, 0.50)
    out = []
    for revenue, margin, eh, issues in parsed:
        row = {"Effective Hours": eh, "ROT": None, "Segment": None, "Action": None, "Issues": "; ".join(issues)}
        if not issues and eh is not None and revenue is not None:
            row["ROT"] = None if eh == 0 else revenue * margin / eh
            if None not in (high, floor, hh):
                if LT(revenue, floor):
                    seg = "C"
                elif GE(revenue, high) and LE(eh, hh):
                    seg = "A"
                elif GE(revenue, high) and not LE(eh, hh):
                    seg = "D"
                elif LE(eh, hh):
                    seg = "B"
                else:
                    seg = "E"
                row["Segment"], row["Action"] = seg, ACTIONS[seg]
        out.append(row)
    return out, {"RevenueHigh": high, "RevenueFloor": floor, "HoursHigh": hh}


def date_value(v):
    if blank(v):
        return None, True
    if isinstance(v, dt.datetime):
        return v.date(), True
    if isinstance(v, dt.date):
        return v, True
    try:
        return dt.date.fromisoformat(str(v).strip()[:10]), True
    except ValueError:
        return None, False


def score(rows, as_of, weights=(3, 2, 2, 2, 1), p_min=0.2, amount_min=None, big_deal=None,
          default_hours=10, cadence=10):
    ids = Counter(id_text(r.get("Opportunity ID")) for r in rows)
    parsed = []
    for r in rows:
        issues = []
        if all(blank(v) for v in r.values()):  # a spare, empty table row
            parsed.append((None, None, None, None, None, ["empty"]))
            continue
        rid = id_text(r.get("Opportunity ID"))
        if rid == "":
            issues.append("Opportunity ID is required")
        elif ids[rid] > 1:
            issues.append(f"Duplicate Opportunity ID {rid}")
        amount, ok = number(r.get("Amount"))
        if blank(r.get("Amount")):
            issues.append("Amount is required")
        elif not ok:
            issues.append("Amount must be a number")
        elif amount < 0:
            issues.append("Amount must be ≥ 0")
        prob, ok = number(r.get("Probability"))
        prob_bad = not ok or (prob is not None and not 0 <= prob <= 1)
        if prob_bad:
            issues.append("Probability must be a fraction 0–1")
        scores = []
        for name in FACTORS:
            s, ok = number(r.get(name))
            if not ok or (s is not None and not whole(s, 0, 5)):
                issues.append(f"{name} must be a whole number 0–5")
            scores.append(s)
        est, ok = number(r.get("Est. Hours"))
        if not ok:
            issues.append("Est. Hours must be a number")
        elif est is not None and est < 0:
            issues.append("Est. Hours must be ≥ 0")
        for name in ("Close Date", "Last Contact"):
            if not date_value(r.get(name))[1]:
                issues.append(f"{name} must be a date")
        last = date_value(r.get("Last Contact"))[0]
        fu, ok = number(r.get("Follow-ups"))
        if not ok or (fu is not None and not whole(fu, 0)):
            issues.append("Follow-ups must be a whole number ≥ 0")
        status_text = "" if blank(r.get("Status")) else str(r.get("Status")).strip()
        status = {"": "Open", "open": "Open", "won": "Won", "lost": "Lost"}.get(status_text.casefold())
        if status is None:
            issues.append("Status must be Open, Won or Lost")
        if status == "Lost" and blank(r.get("Lost Reason")):
            issues.append("Lost needs a reason")
        p = None
        if prob is not None and not prob_bad:
            p = prob
        elif prob is None:
            num = sum(w * s for w, s in zip(weights, scores) if s is not None)
            den = sum(w for w, s in zip(weights, scores) if s is not None)
            p = num / (5 * den) if den > 0 else None
        if p is None and not prob_bad:
            issues.append("No probability or engagement scores")
        parsed.append((amount, p, est, last, status, issues))
    open_amounts = [a for a, p, e, l, st, iss in parsed if not iss and st == "Open"]
    amin = amount_min if amount_min is not None else percentile_inc(open_amounts, 0.25)
    big = big_deal if big_deal is not None else percentile_inc(open_amounts, 0.90)
    out = []
    for amount, p, est, last, status, issues in parsed:
        row = dict.fromkeys(["Engagement", "Expected Value", "Opportunity ROT", "Priority", "Next Follow-up", "Overdue"])
        row["Issues"] = "" if issues == ["empty"] else "; ".join(issues)
        if not issues:
            ev = amount * p
            hours = default_hours if est is None else est
            row.update({"Engagement": p, "Expected Value": ev, "Opportunity ROT": None if hours == 0 else ev / hours})
            if status == "Open":
                if GE(p, p_min) and GE(amount, amin):
                    row["Priority"] = "Pursue"
                elif GE(amount, big):
                    row["Priority"] = "Nurture"
                else:
                    row["Priority"] = "Deprioritize"
                if last is None:
                    row["Next Follow-up"], row["Overdue"] = "Contact now", False
                else:
                    due = last + dt.timedelta(days=cadence)
                    row["Next Follow-up"], row["Overdue"] = due, as_of > due
        out.append(row)
    return out, {"PMin": p_min, "AmountMin": amin, "BigDealAmount": big}
