"""The weekly plan of SPEC §8, vectorised, with the native formula text of every plan column.

Input: the engine's frames (``classify_accounts`` and ``score_pipeline`` output, or the tables
of a rotxl workbook). Output: Plan Hours and Planned Return per row, and the plan per owner.

The workbook computes the same greedy plan row by row with classic functions: each item's
place in the plan is decided by COUNTIFS/SUMIFS over helper columns (the owner key, the
rounded return and value, the row), so no sort is needed. The formula text of each helper
column sits beside the rule it mirrors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import schema
from .engine import (CONTACT_NOW, NOT_IN_EXPORT, approx_eq, factorize_keeping_blank, parse_dates, parse_numbers,
                     plain_numbers, text_values, xl_text)
from .schema import ACCOUNT_COLUMNS, PIPELINE_COLUMNS
from .settings import Settings

UNASSIGNED = "Unassigned"
SELLING_SEGMENTS = ("A", "B", "D")
STOP_SEGMENTS = ("C", "E")
SELLING_PRIORITIES = ("Pursue", "Nurture")
# Why an account is worth its hours, in the words of SPEC §1's actions.
SEGMENT_WHY = {"A": "coddle and protect", "B": "grow share", "D": "keep selectively, recruit layers"}
KINDS = ("Follow-up", "Deal", "Account")
PLAN_COLUMNS = ("Owner", "Rank", "Kind", "Name", "Account", "Why", "Plan Hours", "Planned Return", "Table", "Row")
# Helper columns the plan's formulas need, at the right end of each table (SPEC §5). Plan Owner (text)
# first: LibreOffice draws a hidden column's number as ### across the empty cell left of it.
PIPELINE_HELPERS = (
    "Plan Owner", "Plan Row", "Plan Owner Criteria", "Plan Due", "Plan Follow-up Value", "Plan Follow-up Rank",
    "Plan Follow-up Hours", "Plan Return", "Plan Value", "Plan Cap", "Plan Budget", "Plan Ahead",
    "Plan Selling Hours", "Planned Return", "Plan Sells", "Plan Position", "Plan Sequence", "Plan Rank", "Plan Line",
)
ACCOUNT_HELPERS = (
    "Plan Owner", "Plan Row", "Plan Owner Criteria", "Plan Weekly Hours", "Plan Return", "Plan Value", "Plan Cap",
    "Plan Budget", "Plan Ahead", "Plan Selling Hours", "Planned Return", "Plan Sells", "Plan Position",
    "Plan Sequence", "Plan Rank", "Plan Line", "Plan Stop Hours", "Plan Stop Rank", "Plan Stop Line",
)

# Every column the plan adds to each table (Plan Hours, then the helpers): formulas, never data.
PIPELINE_PLAN_COLUMNS = ("Plan Hours", *PIPELINE_HELPERS)
ACCOUNT_PLAN_COLUMNS = ("Plan Hours", *ACCOUNT_HELPERS)


def table_headers(columns: tuple, derived: tuple[str, ...]) -> set[str]:
    """The headers a rotxl table always has: its spec columns and derived columns."""
    return {c.header for c in columns} | set(derived)


# ---------------------------------------------------------------- spreadsheet arithmetic


def excel_round(x: np.ndarray | float, digits: int) -> np.ndarray:
    """ROUND as spreadsheets do it: half away from zero, a value .5 up to its last bits rounds up."""
    x = np.asarray(x, dtype="float64")
    scale = 10.0**digits
    y = np.abs(x) * scale
    low = np.floor(y)
    up = (y - low >= 0.5) | approx_eq(y, low + 0.5)
    with np.errstate(invalid="ignore"):
        return np.sign(x) * np.where(up, low + 1, low) / scale


def approx_int(x: float) -> int:
    """INT of a non-negative number, as LibreOffice's approxFloor (5.9999999999999991 is 6)."""
    low = np.floor(x)
    return int(low + 1 if approx_eq(np.array([x]), low + 1)[0] else low)


def follow_up_slots(s: Settings) -> int:
    """INT(WeeklyHours × 60 ÷ FollowUpMinutes): how many follow-ups fit in a week."""
    return approx_int(s.weekly_hours * 60 / s.follow_up_minutes)


SLOTS_FORMULA = "INT(WeeklyHours*60/FollowUpMinutes)"


# ---------------------------------------------------------------- owners


def owner_keys(owner: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The owner compared trimmed (as Excel's TRIM) and case-insensitively; blank is Unassigned.

    Returns (key, display name). Text is normalised once per distinct value.
    """
    codes, key, shown = _owners(owner)
    return key[codes], shown[codes]


def _owners(owner: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, key per code, display name per code); codes number the distinct raw values in
    the order they are first met, blanks included (so the first spelling met is the first code)."""
    codes, uniques = factorize_keeping_blank(owner.to_numpy(dtype=object))
    text = pd.Series(uniques, dtype=object).astype("string").fillna("")
    shown = np.array([re.sub(" +", " ", v.strip(" ")) or UNASSIGNED for v in text], dtype=object)
    key = ("owner:" + pd.Series(shown, dtype=object).str.lower()).to_numpy(dtype=object)
    return codes, key, shown


def owner_key_formula(ref) -> str:
    # The "owner:" prefix keeps a name such as 123, TRUE or 1/2 text, never a number or a date.
    o = ref("Owner")
    return f'="owner:"&LOWER(IF(TRIM({o})="",{xl_text(UNASSIGNED)},TRIM({o})))'


def escape_criteria(x: str) -> str:
    """Formula text: the owner key as a literal in COUNTIFS/SUMIFS/MATCH (wildcards escaped)."""
    return f'SUBSTITUTE(SUBSTITUTE(SUBSTITUTE({x},"~","~~"),"*","~*"),"?","~?")'


def owner_criteria_formula(ref) -> str:
    # "=" first: a name can never start an operator ("<", ">", "=") in the criteria.
    return f'="="&{escape_criteria(ref("Plan Owner"))}'


# ---------------------------------------------------------------- reading the engine's frames


def _col(df: pd.DataFrame, header: str, columns: tuple) -> pd.Series:
    if header in df.columns:
        return df[header]
    try:
        mapping = schema.resolve(list(df.columns), tuple(c for c in columns if c.header == header and not c.required))
    except Exception:
        mapping = {}
    if header in mapping:
        return df[mapping[header]]
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def per_distinct(s: pd.Series, f) -> np.ndarray:
    """``f`` (Series -> array) applied once per distinct value of ``s`` (blanks included)."""
    codes, uniques = factorize_keeping_blank(s.to_numpy(dtype=object))
    return np.asarray(f(pd.Series(uniques, dtype=object)))[codes]


def _numbers(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(s) or plain_numbers(s):
        return parse_numbers(s).values
    return per_distinct(s, lambda u: parse_numbers(u).values)


def _dates(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return parse_dates(s).values
    return per_distinct(s, lambda u: parse_dates(u).values).astype("datetime64[D]")


def _left_export(df: pd.DataFrame) -> np.ndarray:
    if "CRM Sync" not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return text_values(df["CRM Sync"]) == NOT_IN_EXPORT


def _left_formula(ref, headers) -> str:
    return f'TRIM({ref("CRM Sync")})={xl_text(NOT_IN_EXPORT)}' if "CRM Sync" in headers else "FALSE"


# ---------------------------------------------------------------- step 1: follow-ups first


def due(next_follow_up: pd.Series, left: np.ndarray, as_of: dt.date) -> np.ndarray:
    """Open and Next Follow-up on or before AsOf + 6 (overdue included), or "Contact now"."""
    codes, now, dates = _follow_up(next_follow_up)
    return _due(now[codes], dates[codes], left, as_of)


def _due(now: np.ndarray, dates: np.ndarray, left: np.ndarray, as_of: dt.date) -> np.ndarray:
    soon = ~np.isnat(dates) & (dates <= np.datetime64(as_of, "D") + np.timedelta64(6, "D"))
    return (soon | now) & ~left


def _follow_up(next_follow_up: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Next Follow-up column read once per distinct value: (codes numbering the distinct
    values, and per distinct value the "Contact now" mask and the date)."""
    codes, uniques = factorize_keeping_blank(next_follow_up.to_numpy(dtype=object))
    now = np.array([isinstance(v, str) and v.strip() == CONTACT_NOW for v in uniques], dtype=bool)
    dates = parse_dates(pd.Series(np.where(now, None, uniques), dtype=object)).values.astype("datetime64[D]")
    return codes, now, dates


def due_formula(ref, headers) -> str:
    nf = ref("Next Follow-up")
    return (f'=IF({_left_formula(ref, headers)},0,IF(ISNUMBER({nf}),IF({nf}<=AsOf+6,1,0),'
            f'IF(TRIM({nf})={xl_text(CONTACT_NOW)},1,0)))')


def follow_up_value_formula(ref) -> str:
    # Expected Value to the cent, largest first, blank last (−1: values are never negative).
    ev = ref("Expected Value")
    return f'=IF({ref("Plan Due")}=1,IF(ISNUMBER({ev}),ROUND({ev},2),-1),"")'


def follow_up_rank_formula(ref) -> str:
    v, c = ref("Plan Follow-up Value"), ref("Plan Owner Criteria")
    same = f"Pipeline[Plan Owner],{c},Pipeline[Plan Due],1"
    return (f'=IF({ref("Plan Due")}=1,COUNTIFS({same},Pipeline[Plan Follow-up Value],">"&{v})'
            f'+COUNTIFS({same},Pipeline[Plan Follow-up Value],{v},Pipeline[Plan Row],"<"&{ref("Plan Row")})+1,"")')


def follow_up_hours_formula(ref) -> str:
    return (f'=IF({ref("Plan Due")}=1,IF({ref("Plan Follow-up Rank")}<={SLOTS_FORMULA},FollowUpMinutes/60,0),0)')


def budget_formula(ref) -> str:
    """What the owner's follow-ups leave of WeeklyHours."""
    # SUMPRODUCT, not COUNTIFS: IronCalc fails COUNTIFS over a one-cell range (a one-row Pipeline).
    o = ref("Plan Owner")
    return (f'=MAX(0,WeeklyHours-MIN(SUMPRODUCT((Pipeline[Plan Owner]={o})*(Pipeline[Plan Due]=1)),{SLOTS_FORMULA})'
            f'*(FollowUpMinutes/60))')


# ---------------------------------------------------------------- step 2: the hours that pay most


def deal_cap(est_hours: np.ndarray, close: np.ndarray, as_of: dt.date, default_hours: float) -> np.ndarray:
    """Remaining hours ÷ MAX(1, weeks to close): what a deal can absorb this week."""
    hours = np.where(np.isnan(est_hours), default_hours, est_hours)
    days = (close - np.datetime64(as_of, "D")).astype("float64")
    weeks = np.where(np.isnat(close), 1.0, np.maximum(1.0, days / 7))
    return hours / weeks


def deal_cap_formula(ref) -> str:
    est, close = ref("Est. Hours"), ref("Close Date")
    return (f'=IF({ref("Plan Return")}="",0,IF(TRIM({est})="",DefaultDealHours,{est})'
            f'/MAX(1,IF(ISNUMBER({close}),({close}-AsOf)/7,1)))')


def deal_return_formula(ref, headers) -> str:
    rot, prio = ref("Opportunity ROT"), ref("Priority")
    return (f'=IF(AND(NOT({_left_formula(ref, headers)}),OR({prio}="Pursue",{prio}="Nurture"),'
            f'{ref("Issues")}="",ISNUMBER({rot})),ROUND({rot},6),"")')


def deal_value_formula(ref) -> str:
    return f'=IF({ref("Plan Return")}="","",ROUND({ref("Expected Value")},2))'


def weekly_hours_now(hours: np.ndarray, logged: np.ndarray, hours_months: float) -> np.ndarray:
    """h ÷ (HoursMonths × 52 ÷ 12): the time an account takes per week at its present rate."""
    h = np.where(np.isnan(hours), logged, hours)
    return h / (hours_months * 52 / 12)


def weekly_hours_formula(ref, headers) -> str:
    hours = ref("Hours")
    h = f'IF(TRIM({hours})="",{ref("Logged Hours")},{hours})' if "Logged Hours" in headers else hours
    return f'=IF(OR({ref("Segment")}="",NOT(ISNUMBER({h}))),"",{h}/(HoursMonths*52/12))'


def account_return_formula(ref, headers) -> str:
    rot, seg = ref("ROT"), ref("Segment")
    return (f'=IF(AND(NOT({_left_formula(ref, headers)}),OR({seg}="A",{seg}="B",{seg}="D"),'
            f'{ref("Issues")}="",ISNUMBER({rot}),ISNUMBER({ref("Plan Weekly Hours")})),ROUND({rot},6),"")')


def account_value_formula(ref) -> str:
    return f'=IF({ref("Plan Return")}="","",ROUND({ref("Revenue")},2))'


def account_cap_formula(ref) -> str:
    return f'=IF({ref("Plan Return")}="",0,{ref("Plan Weekly Hours")})'


def _ahead_terms(ref, table: str, column: str, count: bool) -> str:
    """Σ (or count) over the owner's items ahead of this one in plan order, across both tables:
    higher return; same return and higher value; same both and earlier in plan (the Pipeline
    before Accounts, then table order)."""
    r, v, c, row = ref("Plan Return"), ref("Plan Value"), ref("Plan Owner Criteria"), ref("Plan Row")
    fn = "COUNTIFS(" if count else f"SUMIFS({{t}}[{column}],"
    extra = f",{{t}}[Plan Sells],1" if count else ""

    def term(t: str, crit: str) -> str:
        return (fn.format(t=t) + f"{t}[Plan Owner],{c}{extra.format(t=t)},{crit})")

    terms = [term(t, f'{t}[Plan Return],">"&{r}') for t in ("Pipeline", "Accounts")]
    terms += [term(t, f'{t}[Plan Return],{r},{t}[Plan Value],">"&{v}') for t in ("Pipeline", "Accounts")]
    if table == "Pipeline":
        terms.append(term("Pipeline", f'Pipeline[Plan Return],{r},Pipeline[Plan Value],{v},Pipeline[Plan Row],"<"&{row}'))
    else:
        terms.append(term("Pipeline", f"Pipeline[Plan Return],{r},Pipeline[Plan Value],{v}"))
        terms.append(term("Accounts", f'Accounts[Plan Return],{r},Accounts[Plan Value],{v},Accounts[Plan Row],"<"&{row}'))
    return "+".join(terms)


def ahead_formula(ref, table: str) -> str:
    return f'=IF({ref("Plan Return")}="",0,{_ahead_terms(ref, table, "Plan Cap", False)})'


def selling_hours_formula(ref) -> str:
    return f'=IF({ref("Plan Return")}="",0,MAX(0,MIN({ref("Plan Cap")},{ref("Plan Budget")}-{ref("Plan Ahead")})))'


# ---------------------------------------------------------------- step 3: Plan Hours, Planned Return, the plan's order


def plan_hours_formula(ref, table: str) -> str:
    if table == "Pipeline":
        return f'=ROUND({ref("Plan Follow-up Hours")}+{ref("Plan Selling Hours")},6)'
    return f'=ROUND({ref("Plan Selling Hours")},6)'


def planned_return_formula(ref, table: str) -> str:
    rot = ref("Opportunity ROT" if table == "Pipeline" else "ROT")
    return f'=IF({ref("Plan Return")}="",0,{ref("Plan Selling Hours")}*{rot})'


def sells_formula(ref) -> str:
    return f'=IF(ROUND({ref("Plan Selling Hours")},6)>0,1,0)'


def position_formula(ref, table: str) -> str:
    return f'=IF({ref("Plan Sells")}=1,{_ahead_terms(ref, table, "", True)},"")'


def sequence_formula(ref, table: str) -> str:
    """Follow-ups first in their order, then the selling items in plan order (one line per item)."""
    selling = f'IF({ref("Plan Sells")}=1,{SLOTS_FORMULA}+1+{ref("Plan Position")},"")'
    if table == "Pipeline":
        return f'=IF({ref("Plan Follow-up Hours")}>0,{ref("Plan Follow-up Rank")},{selling})'
    return "=" + selling


def rank_formula(ref) -> str:
    q, c = ref("Plan Sequence"), ref("Plan Owner Criteria")
    return (f'=IF({q}="","",COUNTIFS(Pipeline[Plan Owner],{c},Pipeline[Plan Sequence],"<"&{q})'
            f'+COUNTIFS(Accounts[Plan Owner],{c},Accounts[Plan Sequence],"<"&{q})+1)')


def line_formula(ref, rank: str) -> str:
    return f'=IF({ref(rank)}="","",{ref("Plan Owner")}&"#"&{ref(rank)})'


def stop_hours_formula(ref, headers) -> str:
    seg, w = ref("Segment"), ref("Plan Weekly Hours")
    return (f'=IF(AND(NOT({_left_formula(ref, headers)}),OR({seg}="C",{seg}="E"),ISNUMBER({w})),'
            f'ROUND({w},6),"")')


def stop_rank_formula(ref) -> str:
    s, c = ref("Plan Stop Hours"), ref("Plan Owner Criteria")
    return (f'=IF({s}="","",COUNTIFS(Accounts[Plan Owner],{c},Accounts[Plan Stop Hours],">"&{s})'
            f'+COUNTIFS(Accounts[Plan Owner],{c},Accounts[Plan Stop Hours],{s},Accounts[Plan Row],"<"&{ref("Plan Row")})+1)')


def pipeline_formulas(headers) -> dict[str, str]:
    """Plan Hours and the helper columns of the Pipeline table (``headers``: the table's own)."""
    from .engine import this_row

    ref = this_row("Pipeline")
    f = {
        "Plan Hours": plan_hours_formula(ref, "Pipeline"),
        "Plan Owner": owner_key_formula(ref),
        "Plan Row": "=ROW()",
        "Plan Owner Criteria": owner_criteria_formula(ref),
        "Plan Due": due_formula(ref, headers),
        "Plan Follow-up Value": follow_up_value_formula(ref),
        "Plan Follow-up Rank": follow_up_rank_formula(ref),
        "Plan Follow-up Hours": follow_up_hours_formula(ref),
        "Plan Return": deal_return_formula(ref, headers),
        "Plan Value": deal_value_formula(ref),
        "Plan Cap": deal_cap_formula(ref),
        "Plan Budget": budget_formula(ref),
        "Plan Ahead": ahead_formula(ref, "Pipeline"),
        "Plan Selling Hours": selling_hours_formula(ref),
        "Planned Return": planned_return_formula(ref, "Pipeline"),
        "Plan Sells": sells_formula(ref),
        "Plan Position": position_formula(ref, "Pipeline"),
        "Plan Sequence": sequence_formula(ref, "Pipeline"),
        "Plan Rank": rank_formula(ref),
        "Plan Line": line_formula(ref, "Plan Rank"),
    }
    assert tuple(f)[1:] == PIPELINE_HELPERS
    return f


def account_formulas(headers) -> dict[str, str]:
    """Plan Hours and the helper columns of the Accounts table (``headers``: the table's own)."""
    from .engine import this_row

    ref = this_row("Accounts")
    f = {
        "Plan Hours": plan_hours_formula(ref, "Accounts"),
        "Plan Owner": owner_key_formula(ref),
        "Plan Row": "=ROW()",
        "Plan Owner Criteria": owner_criteria_formula(ref),
        "Plan Weekly Hours": weekly_hours_formula(ref, headers),
        "Plan Return": account_return_formula(ref, headers),
        "Plan Value": account_value_formula(ref),
        "Plan Cap": account_cap_formula(ref),
        "Plan Budget": budget_formula(ref),
        "Plan Ahead": ahead_formula(ref, "Accounts"),
        "Plan Selling Hours": selling_hours_formula(ref),
        "Planned Return": planned_return_formula(ref, "Accounts"),
        "Plan Sells": sells_formula(ref),
        "Plan Position": position_formula(ref, "Accounts"),
        "Plan Sequence": sequence_formula(ref, "Accounts"),
        "Plan Rank": rank_formula(ref),
        "Plan Line": line_formula(ref, "Plan Rank"),
        "Plan Stop Hours": stop_hours_formula(ref, headers),
        "Plan Stop Rank": stop_rank_formula(ref),
        "Plan Stop Line": line_formula(ref, "Plan Stop Rank"),
    }
    assert tuple(f)[1:] == ACCOUNT_HELPERS
    return f


# ---------------------------------------------------------------- the plan, vectorised


@dataclass
class Plan:
    """Plan Hours and Planned Return per table row, and the plan per owner.

    ``items``: one row per planned item (PLAN_COLUMNS), per owner in plan order.
    ``not_planned``: follow-ups that were due but did not fit. ``stop``: C and E accounts with
    the weekly hours they take now. ``owners``: per owner, WeeklyHours, hours planned,
    Planned Return and return per planned hour.
    """

    account_hours: np.ndarray
    account_return: np.ndarray
    pipeline_hours: np.ndarray
    pipeline_return: np.ndarray
    items: pd.DataFrame
    not_planned: pd.DataFrame
    stop: pd.DataFrame
    owners: pd.DataFrame


def _money(x: np.ndarray, currency: str) -> np.ndarray:
    return _formatted(excel_round(x, 0), currency + "{:,.0f}")


def _formatted(values: np.ndarray, fmt: str) -> np.ndarray:
    """``fmt`` applied once per distinct value."""
    distinct, inverse = np.unique(np.asarray(values, dtype="float64"), return_inverse=True)
    texts = np.array([fmt.format(v) for v in distinct], dtype=object)
    return texts[inverse.reshape(-1)] if len(values) else np.zeros(0, dtype=object)


def follow_up_why(next_follow_up: pd.Series, as_of: dt.date) -> np.ndarray:
    """"Overdue since 10 Nov", "Due 14 Nov" or "Contact now: never contacted"."""
    codes, now, dates = _follow_up(next_follow_up)
    return _why(now, dates, as_of)[codes]


def _day_month(days: np.ndarray) -> np.ndarray:
    """"10 Nov", as TEXT(date, "d mmm") shows it, formatted once per distinct day."""
    distinct, inverse = np.unique(days, return_inverse=True)
    text = pd.Series(pd.DatetimeIndex(distinct).strftime("%d %b"), dtype=object).str.lstrip("0").to_numpy(dtype=object)
    return text[inverse.reshape(-1)]


def _why(now: np.ndarray, dates: np.ndarray, as_of: dt.date) -> np.ndarray:
    out = np.full(len(now), "Contact now: never contacted", dtype=object)
    dated = ~now & ~np.isnat(dates)
    if dated.any():
        late = dates[dated] < np.datetime64(as_of, "D")
        out[dated] = np.where(late, "Overdue since ", "Due ").astype(object) + _day_month(dates[dated])
    return out


def follow_up_why_formula(nf: str) -> str:
    return (f'IF(ISNUMBER({nf}),IF(AsOf>{nf},"Overdue since ","Due ")&TEXT({nf},"d mmm"),'
            f'"Contact now: never contacted")')


def selling_why(kind: np.ndarray, label: np.ndarray, rate: np.ndarray, currency: str) -> np.ndarray:
    """"Pursue: $2,100 per hour" or "A account: coddle and protect, $310 per hour"."""
    money = _money(rate, currency)
    account = pd.Series(label, dtype=object).map({k: f"{k} account: {v}, " for k, v in SEGMENT_WHY.items()}).fillna("").to_numpy(dtype=object)
    head = np.where(kind == "Account", account, label.astype(object) + ": ")
    return head + money + " per hour"


def make_plan(accounts: pd.DataFrame | None, pipeline: pd.DataFrame | None, settings: Settings | None = None,
              as_of: dt.date | None = None, currency: str = "$") -> Plan:
    """The weekly plan of SPEC §8 over the engine's frames (either may be None).

    ``accounts`` needs Owner, Revenue, Hours (Logged Hours, CRM Sync when present), ROT,
    Segment and Issues; ``pipeline`` needs Owner, Est. Hours, Close Date (CRM Sync when
    present), Expected Value, Opportunity ROT, Priority, Next Follow-up and Issues.
    """
    s = settings or Settings()
    day = as_of or s.as_of_date()
    acc = accounts if accounts is not None else pd.DataFrame(columns=["Owner", "Revenue", "Hours", "ROT", "Segment", "Issues"])
    pipe = pipeline if pipeline is not None else pd.DataFrame(
        columns=["Owner", "Est. Hours", "Close Date", "Expected Value", "Opportunity ROT", "Priority", "Next Follow-up", "Issues"])
    na, npipe = len(acc), len(pipe)

    # Step 1: follow-ups first.
    # Owners as integers in the order of their keys (sorting and grouping on numbers is fast),
    # read once per distinct spelling; each owner is shown as first met (Pipeline, then Accounts).
    p_raw, p_keys, p_shown = _owners(_col(pipe, "Owner", PIPELINE_COLUMNS))
    a_raw, a_keys, a_shown = _owners(_col(acc, "Owner", ACCOUNT_COLUMNS))
    owner_keys_sorted, spelling_code = np.unique(np.r_[p_keys, a_keys].astype(str), return_inverse=True)
    first_spelling = np.unique(spelling_code, return_index=True)[1]
    owner_names = np.r_[p_shown, a_shown][first_spelling]
    p_code, a_code = spelling_code[:p_keys.size][p_raw], spelling_code[p_keys.size:][a_raw]
    codes = np.r_[p_code, a_code].astype("int64")
    n_owners = owner_keys_sorted.size
    p_left = _left_export(pipe)
    nf = _col(pipe, "Next Follow-up", ())
    nf_codes, nf_now, nf_day = _follow_up(nf)
    now, nf_dates = nf_now[nf_codes], nf_day[nf_codes]
    p_due = _due(now, nf_dates, p_left, day)
    ev = _numbers(_col(pipe, "Expected Value", ()))
    fu_value = np.where(np.isnan(ev), -1.0, excel_round(ev, 2))
    fu_rank = np.zeros(npipe, dtype="int64")
    d = np.flatnonzero(p_due)
    d = d[np.lexsort((-fu_value[d], p_code[d]))]  # stable: ties stay in row order
    if d.size:
        keys = p_code[d]
        starts = np.r_[True, keys[1:] != keys[:-1]]
        group_start = np.maximum.accumulate(np.where(starts, np.arange(d.size), 0))
        fu_rank[d] = np.arange(d.size) - group_start + 1
    slots = follow_up_slots(s)
    fu_hours = np.where(p_due & (fu_rank <= slots), s.follow_up_minutes / 60, 0.0)
    due_count = np.bincount(p_code[p_due], minlength=n_owners)
    budgets = np.maximum(0.0, s.weekly_hours - np.minimum(due_count, slots) * (s.follow_up_minutes / 60))

    # Step 2: the hours that pay most.
    p_rot = _numbers(_col(pipe, "Opportunity ROT", ()))
    prio = text_values(_col(pipe, "Priority", ()))
    p_issue = text_values(_col(pipe, "Issues", ())) != ""
    p_ok = ~p_left & np.isin(prio, SELLING_PRIORITIES) & ~p_issue & ~np.isnan(p_rot)
    # Caps only where the deal sells: the rest take no selling hours.
    selling_deals = np.flatnonzero(p_ok)
    p_cap = np.zeros(npipe)
    p_cap[selling_deals] = deal_cap(_numbers(_col(pipe, "Est. Hours", PIPELINE_COLUMNS).iloc[selling_deals]),
                                    _dates(_col(pipe, "Close Date", PIPELINE_COLUMNS).iloc[selling_deals]),
                                    day, s.default_deal_hours)

    a_left = _left_export(acc)
    a_rot = _numbers(_col(acc, "ROT", ()))
    seg = text_values(_col(acc, "Segment", ()))
    a_issue = text_values(_col(acc, "Issues", ())) != ""
    logged = _numbers(acc["Logged Hours"]) if "Logged Hours" in acc.columns else np.full(na, np.nan)
    weekly = weekly_hours_now(_numbers(_col(acc, "Hours", ACCOUNT_COLUMNS)), logged, s.hours_months)
    weekly = np.where(seg == "", np.nan, weekly)
    revenue = _numbers(_col(acc, "Revenue", ACCOUNT_COLUMNS))
    a_ok = ~a_left & np.isin(seg, SELLING_SEGMENTS) & ~a_issue & ~np.isnan(a_rot) & ~np.isnan(weekly)
    a_cap = np.where(a_ok, weekly, 0.0)

    # The selling items of both tables, sorted into plan order within each owner: return, value,
    # then the Pipeline before Accounts and table order (lexsort is stable, and the rows are
    # laid out in that order already).
    key = codes
    ok = np.r_[p_ok, a_ok]
    table = np.r_[np.zeros(npipe), np.ones(na)]
    row = np.r_[np.arange(npipe), np.arange(na)]
    cap = np.r_[p_cap, a_cap]
    order = np.flatnonzero(ok)
    ret = excel_round(np.r_[p_rot, a_rot][order], 6)
    val = excel_round(np.r_[ev, revenue][order], 2)
    order = order[np.lexsort((-val, -ret, key[order]))]
    k_sorted = key[order]
    starts = np.r_[True, k_sorted[1:] != k_sorted[:-1]] if order.size else np.zeros(0, dtype=bool)
    csum = np.cumsum(cap[order])
    group_base = np.maximum.accumulate(np.where(starts, np.arange(order.size), 0)) if order.size else np.zeros(0, int)
    before = np.r_[0.0, csum][group_base]
    selling = np.zeros(key.size)
    ahead = csum - cap[order] - before
    selling[order] = np.maximum(0.0, np.minimum(cap[order], budgets[k_sorted] - ahead))

    # Step 3.
    hours = excel_round(np.r_[fu_hours, np.zeros(na)] + selling, 6)
    rate = np.r_[p_rot, a_rot]
    planned_return = np.where(ok, selling * np.where(ok, rate, 0.0), 0.0)
    left = np.r_[p_left, a_left]
    hours = np.where(left, 0.0, hours)

    # The plan's lines per owner: follow-ups first in their order, then selling in plan order.
    sells = excel_round(selling, 6) > 0
    has_fu = np.r_[fu_hours > 0, np.zeros(na, dtype=bool)]
    position = np.zeros(key.size, dtype="int64")
    position[order] = np.arange(order.size)
    seq = np.where(has_fu, np.r_[fu_rank, np.zeros(na, dtype="int64")], slots + 1 + position)
    lines = np.flatnonzero(has_fu | sells)
    lines = lines[np.lexsort((seq[lines], key[lines]))]
    lk = key[lines]
    lstart = np.r_[True, lk[1:] != lk[:-1]] if lines.size else np.zeros(0, dtype=bool)
    rank = np.arange(lines.size) - np.maximum.accumulate(np.where(lstart, np.arange(lines.size), 0)) + 1 if lines.size else np.zeros(0, int)

    owner_shown = owner_names[key]
    p_owner, a_owner = owner_shown[:npipe], owner_shown[npipe:]
    is_deal = table[lines] == 0
    prow = row[lines].astype(int)
    # Names are read only on the rows the plan lists.
    shown_p = np.zeros(npipe, dtype=bool)
    shown_p[prow[is_deal]] = True
    shown_p |= p_due
    shown_a = np.zeros(na, dtype=bool)
    shown_a[prow[~is_deal]] = True
    shown_a |= ~a_left & np.isin(seg, STOP_SEGMENTS)
    name_p, acct_p, name_a = (np.full(npipe, "", dtype=object), np.full(npipe, "", dtype=object), np.full(na, "", dtype=object))
    if shown_p.any():
        rows_p = np.flatnonzero(shown_p)
        name_p[rows_p] = text_values(_col(pipe, "Opportunity", PIPELINE_COLUMNS).iloc[rows_p])
        unnamed = rows_p[name_p[rows_p] == ""]
        if unnamed.size:
            name_p[unnamed] = text_values(_col(pipe, "Opportunity ID", ()).iloc[unnamed])
        acct_p[rows_p] = text_values(_col(pipe, "Account", PIPELINE_COLUMNS).iloc[rows_p])
    if shown_a.any():
        rows_a = np.flatnonzero(shown_a)
        name_a[rows_a] = text_values(_col(acc, "Account", ()).iloc[rows_a])
    fu_why = np.full(npipe, "", dtype=object)
    needs = np.flatnonzero(p_due)
    if needs.size:
        fu_why[needs] = _why(nf_now, nf_day, day)[nf_codes[needs]]
    kind = np.where(is_deal, np.where(has_fu[lines], "Follow-up", "Deal"), "Account").astype(object)
    label = np.where(is_deal, prio[np.where(is_deal, prow, 0)] if npipe else "", seg[np.where(~is_deal, prow, 0)] if na else "")
    why_sell = selling_why(np.where(is_deal, "Deal", "Account").astype(object), label.astype(object), rate[lines], currency)
    why = np.where(kind == "Follow-up", fu_why[np.where(is_deal, prow, 0)] if npipe else "", why_sell).astype(object)
    both = (kind == "Follow-up") & sells[lines]
    why[both] = why[both] + "; " + why_sell[both]
    items = pd.DataFrame({
        "Owner": owner_shown[lines],
        "Rank": rank,
        "Kind": kind,
        "Name": np.where(is_deal, name_p[np.where(is_deal, prow, 0)] if npipe else "", name_a[np.where(~is_deal, prow, 0)] if na else ""),
        "Account": np.where(is_deal, acct_p[np.where(is_deal, prow, 0)] if npipe else "", ""),
        "Why": why,
        "Plan Hours": hours[lines],
        "Planned Return": planned_return[lines],
        "Table": np.where(is_deal, "Pipeline", "Accounts"),
        "Row": prow,
    }, columns=list(PLAN_COLUMNS))

    missed = d[fu_hours[d] == 0]  # d: the due follow-ups per owner in their order
    not_planned = pd.DataFrame({
        "Owner": p_owner[missed], "Name": name_p[missed], "Account": acct_p[missed],
        "Why": fu_why[missed] if npipe else [], "Row": missed,
    })

    stop_rows = np.flatnonzero(~a_left & np.isin(seg, STOP_SEGMENTS) & ~np.isnan(weekly))
    stop_h = excel_round(weekly[stop_rows], 6)
    stop_rows = stop_rows[np.lexsort((stop_rows, -stop_h, a_code[stop_rows]))]
    stop = pd.DataFrame({
        "Owner": a_owner[stop_rows], "Account": name_a[stop_rows], "Segment": seg[stop_rows],
        "Weekly Hours": weekly[stop_rows],
        "Why": _formatted(excel_round(weekly[stop_rows], 1), "stop: {:,.1f} h a week"), "Row": stop_rows,
    })

    # Per owner: WeeklyHours, hours planned, Planned Return, per hour.
    if not key.size:
        owners = pd.DataFrame(columns=["Owner", "Weekly Hours", "Hours Planned", "Planned Return", "Return per Hour"])
    else:
        owners = pd.DataFrame({
            "Owner": owner_names,
            "Weekly Hours": float(s.weekly_hours),
            "Hours Planned": np.bincount(key, weights=hours, minlength=n_owners),
            "Planned Return": np.bincount(key, weights=planned_return, minlength=n_owners),
        })
        with np.errstate(divide="ignore", invalid="ignore"):
            owners["Return per Hour"] = np.where(owners["Hours Planned"] > 0, owners["Planned Return"] / owners["Hours Planned"], np.nan)
    return Plan(hours[npipe:], planned_return[npipe:], hours[:npipe], planned_return[:npipe], items, not_planned, stop, owners)
