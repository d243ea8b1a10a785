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
    "P": "Prospect: win the first deal",
}


XL_MAX = 9.99999999999999e307  # the largest number a spreadsheet cell holds
LAST_DATE = dt.date(9999, 12, 31)
TOO_LARGE = "too large"  # number() returns this instead of a value


def blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def number(v):
    """(value, ok): ok is False for a non-blank value that is not a number; value is TOO_LARGE for
    a number beyond what a spreadsheet holds."""
    if blank(v):
        return None, True
    if isinstance(v, bool):
        return None, False
    if isinstance(v, (int, float)):
        if math.isinf(v) or abs(v) > XL_MAX:
            return TOO_LARGE, False
        return float(v), True
    text = str(v).strip()
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    try:
        f = float(text)
    except ValueError:
        return None, False
    if math.isnan(f):
        return None, False
    if math.isinf(f) or abs(f * scale) > XL_MAX:
        # "1e999" is a number too large; "inf" is a word.
        return (TOO_LARGE, False) if any(c.isdigit() for c in text) else (None, False)
    return f * scale, True


def usable(v) -> bool:
    """A number a spreadsheet can hold, whatever the column's own rules say of it."""
    value, ok = number(v)
    return ok and value is not None


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
    if b is None:  # no threshold (nothing to take a percentile of): a number is never at or above a blank
        return False
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


def check_number(issues, v, header, kind="number", low=0.0, high=None, required=False):
    """The value (None unless a usable number) after adding its issue, if any."""
    value, ok = number(v)
    if blank(v):
        if required:
            issues.append(f"{header} is required")
        return None
    if value == TOO_LARGE:
        issues.append(f"{header} is too large")
        return None
    if kind == "fraction":
        if not ok or not 0 <= value <= 1:
            issues.append(f"{header} must be a fraction 0–1")
    elif kind == "whole":
        span = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
        if not ok or not whole(value, low, high):
            issues.append(f"{header} must be a whole number {span}")
    elif not ok:
        issues.append(f"{header} must be a number")
    elif value < low:
        issues.append(f"{header} must be ≥ {low:g}")
    return value if ok else None


def too_big(x) -> bool:
    return x is None or math.isinf(x) or math.isnan(x) or abs(x) > XL_MAX


def classify(rows, weight=0.25, revenue_high=None, revenue_floor=None, hours_high=None):
    ids = Counter(id_text(r.get("Account ID")) for r in rows)
    parsed = []
    for r in rows:
        issues = []
        kept = r.get("CRM Sync") == "Not in latest export"
        if all(blank(v) for k, v in r.items() if k != "CRM Sync"):  # a spare, empty table row: nothing to say
            parsed.append((None, 1, None, issues, kept))
            continue
        rid = id_text(r.get("Account ID"))
        if rid == "":
            issues.append("Account ID is required")
        elif ids[rid] > 1:
            issues.append(f"Duplicate Account ID {rid}")
        if blank(r.get("Account")):
            issues.append("Account is required")
        revenue = check_number(issues, r.get("Revenue"), "Revenue", required=True)
        margin = check_number(issues, r.get("Margin"), "Margin", "fraction")
        check_number(issues, r.get("Hours"), "Hours")
        check_number(issues, r.get("Logged Hours"), "Logged Hours")
        check_number(issues, r.get("Aggravation"), "Aggravation", "whole", 1, 5)
        # h is Hours when given, else Logged Hours; both blank: awaiting hours, not an issue.
        h_cell = r.get("Logged Hours") if blank(r.get("Hours")) else r.get("Hours")
        agg_cell = r.get("Aggravation")
        eh = None
        if usable(h_cell) and (blank(agg_cell) or usable(agg_cell)):
            a = 1 if blank(agg_cell) else number(agg_cell)[0]
            try:
                eh = number(h_cell)[0] * (1 + weight * (a - 1))
            except OverflowError:  # pragma: no cover - floats give inf, not an error
                eh = math.inf
            if too_big(eh):
                issues.append("Effective Hours is too large")
            elif eh != 0 and usable(r.get("Revenue")) and (blank(r.get("Margin")) or usable(r.get("Margin"))):
                m = 1 if blank(r.get("Margin")) else number(r.get("Margin"))[0]
                if too_big(number(r.get("Revenue"))[0] * m / eh):
                    issues.append("ROT is too large")
        if issues:
            eh = None
        parsed.append((revenue, 1 if margin is None else margin, eh, issues, kept))
    paying = [p for p in parsed if not p[3] and not p[4] and p[0] is not None and p[0] > 0]
    valid_rev = [p[0] for p in paying]
    valid_eh = [p[2] for p in paying if p[2] is not None and p[2] > 0]
    high = revenue_high if revenue_high is not None else percentile_inc(valid_rev, 0.70)
    floor = revenue_floor if revenue_floor is not None else percentile_inc(valid_rev, 0.20)
    hh = hours_high if hours_high is not None else percentile_inc(valid_eh, 0.50)
    out = []
    for revenue, margin, eh, issues, _ in parsed:
        row = {"Effective Hours": eh, "ROT": None, "Segment": None, "Action": None, "Issues": "; ".join(issues)}
        if not issues and eh is not None and revenue is not None:
            row["ROT"] = None if eh == 0 else revenue * margin / eh
            seg = None
            if revenue == 0:
                seg = "P"
            elif None not in (high, floor, hh):
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
            if seg:
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
          default_hours=10, cadence=10, learned=None):
    """``learned``: the learned probability per row (None where there is none), in use."""
    ids = Counter(id_text(r.get("Opportunity ID")) for r in rows)
    parsed = []
    for i, r in enumerate(rows):
        issues = []
        kept = r.get("CRM Sync") == "Not in latest export"
        if all(blank(v) for k, v in r.items() if k not in ("CRM Sync", "Learned Probability")):  # a spare, empty row
            parsed.append((None, None, None, None, None, ["empty"], None, kept))
            continue
        rid = id_text(r.get("Opportunity ID"))
        if rid == "":
            issues.append("Opportunity ID is required")
        elif ids[rid] > 1:
            issues.append(f"Duplicate Opportunity ID {rid}")
        amount = check_number(issues, r.get("Amount"), "Amount", required=True)
        n_before = len(issues)
        check_number(issues, r.get("Probability"), "Probability", "fraction")
        prob_bad = len(issues) > n_before
        prob_value, prob_ok = number(r.get("Probability"))
        scores = []
        for name in FACTORS:
            check_number(issues, r.get(name), name, "whole", 0, 5)
            sv, ok = number(r.get(name))
            scores.append(sv if ok else None)  # a score out of range still counts (the row is invalid anyway)
        est = check_number(issues, r.get("Est. Hours"), "Est. Hours")
        for name in ("Close Date", "Last Contact"):
            if not date_value(r.get(name))[1]:
                issues.append(f"{name} must be a date")
        last, last_ok = date_value(r.get("Last Contact"))
        due = None
        if last is not None:
            if (LAST_DATE - last).days < cadence:
                issues.append("Next Follow-up is past 9999-12-31")
                last_ok = False
            else:
                due = last + dt.timedelta(days=cadence)
        check_number(issues, r.get("Follow-ups"), "Follow-ups", "whole", 0)
        status_text = "" if blank(r.get("Status")) else str(r.get("Status")).strip()
        status = {"": "Open", "open": "Open", "won": "Won", "lost": "Lost"}.get(status_text.casefold())
        if status is None:
            issues.append("Status must be Open, Won or Lost")
        if status == "Lost" and blank(r.get("Lost Reason")):
            issues.append("Lost needs a reason")
        p = None
        if learned is not None and learned[i] is not None:
            p = learned[i]
        elif prob_ok and prob_value is not None:
            p = prob_value  # out of range or not, the row's own issue says so
        elif prob_value is None:
            num = sum(w * s for w, s in zip(weights, scores) if s is not None)
            den = sum(w for w, s in zip(weights, scores) if s is not None)
            p = num / (5 * den) if den > 0 else None
        if p is None and not prob_bad:
            issues.append("No probability or engagement scores")
        if p is not None and usable(r.get("Amount")) and (blank(r.get("Est. Hours")) or usable(r.get("Est. Hours"))):
            hours = default_hours if blank(r.get("Est. Hours")) else number(r.get("Est. Hours"))[0]
            if hours != 0 and too_big(number(r.get("Amount"))[0] * p / hours):
                issues.append("Opportunity ROT is too large")
        follow = status == "Open" and last_ok
        parsed.append((amount, p, est, due, status, issues, follow, kept))
    open_amounts = [a for a, p, e, d, st, iss, f, kept in parsed if not iss and st == "Open" and not kept]
    amin = amount_min if amount_min is not None else percentile_inc(open_amounts, 0.25)
    big = big_deal if big_deal is not None else percentile_inc(open_amounts, 0.90)
    out = []
    for amount, p, est, due, status, issues, follow, _ in parsed:
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
        # Follow-up never stops for an issue elsewhere in the row (§2).
        if follow and issues != ["empty"]:
            if due is None:
                row["Next Follow-up"], row["Overdue"] = "Contact now", False
            else:
                row["Next Follow-up"], row["Overdue"] = due, as_of > due
        out.append(row)
    return out, {"PMin": p_min, "AmountMin": amin, "BigDealAmount": big}
