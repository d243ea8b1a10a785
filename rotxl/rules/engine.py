"""The rules of SPEC §1, §2 and §4, vectorised over whole frames.

Every derived column has one implementation here, and beside it the text of the native Excel
formula that mirrors it (``*_formula``), which rotxl.excel.workbook writes into the tables. The
worksheet functions call these same functions on one-element inputs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import schema
from .schema import ACCOUNT_COLUMNS, ACCOUNT_DERIVED, PIPELINE_COLUMNS, PIPELINE_DERIVED, Column
from .settings import (
    AMOUNT_MIN_PCT,
    BIG_DEAL_PCT,
    FACTORS,
    HOURS_HIGH_PCT,
    REVENUE_FLOOR_PCT,
    REVENUE_HIGH_PCT,
    Settings,
    check_floor_below_high,
)

ACTIONS: dict[str, str] = {
    "A": "Coddle and protect; leverage for referrals",
    "B": "Grow share",
    "C": "Dump, or resist any time investment",
    "D": "Selectively dump; recruit layers from leadership",
    "E": "Dump",
}
FOCUS: dict[str, str] = {"A": "Work", "B": "Work", "C": "Dump", "D": "Work", "E": "Dump"}
PRIORITIES: tuple[str, ...] = ("Pursue", "Nurture", "Deprioritize")
CONTACT_NOW = "Contact now"
NO_ENGAGEMENT = "No probability or engagement scores"
# Named cells of the five factor weights on the Settings sheet, in the order of FACTORS.
WEIGHT_NAMES: tuple[str, ...] = ("WeightAccess", "WeightEvent", "WeightBudget", "WeightFit", "WeightRelationship")
NOT_IN_EXPORT = "Not in latest export"

# Excel's date serial 0; serial numbers in date columns count from here (1900 date system).
EXCEL_EPOCH = np.datetime64("1899-12-30")


# ---------------------------------------------------------------- parsing values as typed


@dataclass
class Parsed:
    """One input column read as the spec's type: values, and which cells were blank or bad."""

    values: np.ndarray  # float64 (NaN where blank or bad) or datetime64[D] (NaT)
    blank: np.ndarray  # bool
    bad: np.ndarray  # bool: not blank, not a value of the column's type


def _as_string(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip()


def parse_numbers(s: pd.Series) -> Parsed:
    """Numbers as Excel's ISNUMBER sees them; text such as "12k" is bad, "60%" is 0.6."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        blank = np.isnan(values)
        bad = np.isinf(values)
        return Parsed(np.where(bad, np.nan, values), blank, bad)
    text = _as_string(s)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    pct = text.str.endswith("%").fillna(False).to_numpy(dtype=bool)
    core = text.where(~pct, text.str[:-1].str.strip()) if pct.any() else text
    values = pd.to_numeric(core, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    values = np.where(pct, values / 100, values)
    values[~np.isfinite(values)] = np.nan
    # Booleans and dates are not numbers to ISNUMBER either.
    if s.dtype == object:
        odd = s.map(type).isin((bool, np.bool_, dt.date, dt.datetime, pd.Timestamp)).to_numpy()
        values[odd] = np.nan
    bad = ~blank & np.isnan(values)
    return Parsed(values, blank, bad)


def parse_dates(s: pd.Series) -> Parsed:
    """Dates, ISO text ("2026-11-01"), US text ("11/1/2026") or Excel serial numbers."""
    if pd.api.types.is_datetime64_any_dtype(s):
        values = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) else s
        values = values.to_numpy(dtype="datetime64[D]")
        blank = np.isnat(values)
        return Parsed(values, blank, np.zeros(len(s), dtype=bool))
    obj = s.astype(object)
    text = _as_string(obj)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[D]")
    is_num = obj.map(type).isin((int, float, np.int64, np.float64)).to_numpy()
    if is_num.any():
        serial = pd.to_numeric(obj[is_num], errors="coerce").to_numpy(dtype="float64")
        ok = np.isfinite(serial) & (serial >= 1)
        days = np.where(ok, np.floor(serial), 0).astype("int64")
        out[np.flatnonzero(is_num)[ok]] = EXCEL_EPOCH + days[ok]
    rest = ~blank & ~is_num
    if rest.any():
        parsed = pd.to_datetime(obj[rest], errors="coerce", format="ISO8601")
        retry = parsed.isna().to_numpy()
        if retry.any():
            mixed = pd.to_datetime(obj[rest][retry], errors="coerce", format="mixed")
            parsed = parsed.copy()
            parsed[retry] = mixed
        out[rest] = parsed.to_numpy(dtype="datetime64[D]")
    bad = ~blank & np.isnat(out)
    return Parsed(out, blank, bad)


def parse_text(s: pd.Series, id_like: bool = False) -> tuple[pd.Series, np.ndarray]:
    """Text values and the blank mask. IDs typed as numbers read as "1001", not "1001.0"."""
    text = _as_string(s)
    if id_like and not pd.api.types.is_string_dtype(s):
        text = text.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    return text.fillna(""), blank


# ---------------------------------------------------------------- the issue rules (§4)


class Issues:
    """Collects (mask, message) pairs and joins the messages of each row with "; "."""

    def __init__(self, n: int):
        self.n = n
        self.rules: list[tuple[np.ndarray, object]] = []

    def add(self, mask: np.ndarray, message: str | pd.Series) -> None:
        if mask.any():
            self.rules.append((np.asarray(mask, dtype=bool), message))

    def exclude(self, rows: np.ndarray) -> None:
        """Rows that raise no issue at all (a completely empty table row)."""
        self.rules = [(m & ~rows, msg) for m, msg in self.rules]

    def any(self) -> np.ndarray:
        if not self.rules:
            return np.zeros(self.n, dtype=bool)
        return np.logical_or.reduce([m for m, _ in self.rules])

    def text(self) -> np.ndarray:
        out = np.full(self.n, "", dtype=object)
        rows = np.flatnonzero(self.any())
        if rows.size == 0:
            return out
        joined = pd.Series("", index=range(rows.size), dtype=object)
        for mask, message in self.rules:
            part = message if isinstance(message, str) else message.to_numpy(dtype=object)[rows]
            piece = np.where(mask[rows], part, None)
            has = pd.notna(piece)
            sep = np.where(has & (joined != "").to_numpy(), "; ", "")
            joined = joined + pd.Series(np.where(has, sep + pd.Series(piece).fillna("").to_numpy(dtype=object), ""), dtype=object)
        out[rows] = joined.to_numpy(dtype=object)
        return out


def check_number(issues: Issues, p: Parsed, col: Column, low: float = 0.0, high: float | None = None) -> None:
    name = col.header
    if col.required:
        issues.add(p.blank, f"{name} is required")
    if col.kind == "fraction":
        out_of_range = ~np.isnan(p.values) & ((p.values < 0) | (p.values > 1))
        issues.add(p.bad | out_of_range, f"{name} must be a fraction 0–1")
    elif col.kind == "whole":
        v = p.values
        whole = ~np.isnan(v) & (v == np.floor(v)) & (v >= low)
        if high is not None:
            whole &= v <= high
        span = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
        issues.add(p.bad | (~p.blank & ~whole), f"{name} must be a whole number {span}")
    else:
        issues.add(p.bad, f"{name} must be a number")
        issues.add(~np.isnan(p.values) & (p.values < low), f"{name} must be ≥ {low:g}")


def check_id(issues: Issues, ids: pd.Series, blank: np.ndarray, col: Column) -> None:
    issues.add(blank, f"{col.header} is required")
    dup = ids.duplicated(keep=False).to_numpy() & ~blank
    issues.add(dup, f"Duplicate {col.header} " + ids)


# The Issues column as a native formula: one IF per rule above, each giving "; message" or "",
# joined with & and the leading "; " cut off by MID (TEXTJOIN is not in Excel 2016).


def this_row(table: str):
    """``ref("Hours")`` -> ``Accounts[[#This Row],[Hours]]`` (the file form of [@Hours])."""
    return lambda header: f"{table}[[#This Row],[{_escape(header)}]]"


def _escape(header: str) -> str:
    return "".join("'" + ch if ch in "[]#'" else ch for ch in header)


def xl_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _issue(message: str) -> str:
    return xl_text("; " + message)


def check_number_formula(ref, col: Column, low: float = 0.0, high: float | None = None) -> str:
    """Mirrors check_number: ISNUMBER is Excel's own "is this a number"."""
    x = ref(col.header)
    on_blank = _issue(f"{col.header} is required") if col.required else '""'
    if col.kind == "fraction":
        msg = _issue(f"{col.header} must be a fraction 0–1")
        return f'IF(TRIM({x})="",{on_blank},IF(ISNUMBER({x}),IF(OR({x}<0,{x}>1),{msg},""),{msg}))'
    if col.kind == "whole":
        span = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
        msg = _issue(f"{col.header} must be a whole number {span}")
        upper = f",{x}>{high:g}" if high is not None else ""
        return f'IF(TRIM({x})="",{on_blank},IF(ISNUMBER({x}),IF(OR({x}<>INT({x}),{x}<{low:g}{upper}),{msg},""),{msg}))'
    return (f'IF(TRIM({x})="",{on_blank},IF(ISNUMBER({x}),IF({x}<{low:g},{_issue(f"{col.header} must be ≥ {low:g}")},""),'
            f'{_issue(f"{col.header} must be a number")}))')


def check_date_formula(ref, header: str) -> str:
    x = ref(header)
    return f'IF(TRIM({x})="","",IF(ISNUMBER({x}),"",{_issue(f"{header} must be a date")}))'


def check_id_formula(table: str, ref, col: Column) -> str:
    """Blank, or the same ID (exactly, after trimming) on another row. EXACT is case-sensitive, as CRM IDs are."""
    x = ref(col.header)
    column = f"{table}[{_escape(col.header)}]"
    return (f'IF(TRIM({x})="",{_issue(f"{col.header} is required")},'
            f'IF(SUMPRODUCT(--EXACT(TRIM({column}),TRIM({x})))>1,{_issue(f"Duplicate {col.header} ")}&TRIM({x}),""))')


def issues_formula(ref, parts: list[str], inputs: tuple[str, str]) -> str:
    first, last = inputs
    row = ref(first).replace(f"[{_escape(first)}]]", f"[{_escape(first)}]:[{_escape(last)}]]")
    return f'=IF(COUNTA({row})=0,"",MID({"&".join(parts)},3,32767))'


# Spreadsheets compare numbers that differ only in the last bits as equal (LibreOffice's
# approxEqual, Excel's 15 significant digits): 6.4 × 1.75 is 11.200000000000001 in binary, yet
# "<= 11.2" in a cell. The engine compares thresholds the same way so segments and priorities
# agree with the workbook at the boundaries.
_APPROX = 2.0**-48


def approx_eq(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (a == b) | (np.abs(a - b) < np.minimum(np.abs(a), np.abs(b)) * _APPROX)


def ge(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return (a >= b) | approx_eq(a, b)


def le(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return (a <= b) | approx_eq(a, b)


def lt(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    return (a < b) & ~approx_eq(a, b)


def percentile_inc(values: np.ndarray, q: float) -> float:
    """Excel's PERCENTILE.INC (numpy's default linear method); NaN when there are no values."""
    values = np.sort(values[~np.isnan(values)])
    if not values.size:
        return float("nan")
    # Excel's own interpolation, x[k] + (h − k)(x[k+1] − x[k]); numpy's lerp rounds differently.
    h = (values.size - 1) * q
    k = int(np.floor(h))
    upper = values[min(k + 1, values.size - 1)]
    return float(values[k] + (h - k) * (upper - values[k]))


def _cols(df: pd.DataFrame, columns: tuple[Column, ...]) -> dict[str, pd.Series]:
    mapping = schema.resolve(list(df.columns), columns)
    blank = pd.Series([None] * len(df), index=df.index, dtype=object)
    return {c.header: (df[mapping[c.header]] if c.header in mapping else blank) for c in columns}


def _empty_rows(blanks: list[np.ndarray], cols: dict[str, pd.Series], parsed: set[str]) -> np.ndarray:
    """Rows with no input at all: a table's spare row, not a row with issues.

    ``blanks`` are the blank masks already computed while parsing; the other columns are
    only looked at on the few rows that are still candidates.
    """
    empty = np.logical_and.reduce(blanks)
    for name, col in cols.items():
        if name not in parsed and empty.any():
            rows = np.flatnonzero(empty)
            empty[rows] = parse_text(col.iloc[rows])[1]
    return empty


def _output(df: pd.DataFrame, derived: dict[str, object], names: tuple[str, ...]) -> pd.DataFrame:
    out = df.drop(columns=[c for c in df.columns if c in names])
    for name in names:
        out[name] = derived[name]
    return out


# ---------------------------------------------------------------- accounts (§1)


def effective_hours(hours: np.ndarray, aggravation: np.ndarray, weight: float) -> np.ndarray:
    """EH = hours × (1 + AggravationWeight × (aggravation − 1)); blank aggravation is 1."""
    agg = np.where(np.isnan(aggravation), 1.0, aggravation)
    return hours * (1 + weight * (agg - 1))


def effective_hours_formula(ref) -> str:
    hours, agg = ref("Hours"), ref("Aggravation")
    return (f'=IF(OR({ref("Issues")}<>"",TRIM({hours})=""),"",'
            f'{hours}*(1+AggravationWeight*(IF(TRIM({agg})="",1,{agg})-1)))')


def rot(revenue: np.ndarray, margin: np.ndarray, eh: np.ndarray) -> np.ndarray:
    """ROT = revenue × margin ÷ EH; blank margin is 1; undefined (NaN) when EH is 0."""
    m = np.where(np.isnan(margin), 1.0, margin)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eh == 0, np.nan, revenue * m / eh)


def rot_formula(ref) -> str:
    eh, margin = ref("Effective Hours"), ref("Margin")
    return f'=IF(OR({eh}="",{eh}=0),"",{ref("Revenue")}*IF(TRIM({margin})="",1,{margin})/{eh})'


def segment(revenue: np.ndarray, eh: np.ndarray, revenue_high: float, hours_high: float, revenue_floor: float) -> np.ndarray:
    """A–E in the spec's order; None where revenue, EH or a threshold is missing."""
    check_floor_below_high(revenue_floor, revenue_high)
    low_time = le(eh, hours_high)
    high_rev = ge(revenue, revenue_high)
    seg = np.select(
        [lt(revenue, revenue_floor), high_rev & low_time, high_rev, low_time],
        ["C", "A", "D", "B"],
        "E",
    ).astype(object)
    undefined = np.isnan(revenue) | np.isnan(eh) | np.isnan([revenue_high, hours_high, revenue_floor]).any()
    seg[np.broadcast_to(undefined, seg.shape)] = None
    return seg


def segment_formula(ref) -> str:
    """Blank while a threshold is missing or RevenueFloor > RevenueHigh (the Settings sheet says why)."""
    rev, eh = ref("Revenue"), ref("Effective Hours")
    return (f'=IF(OR({eh}="",NOT(ISNUMBER(RevenueHigh)),NOT(ISNUMBER(RevenueFloor)),NOT(ISNUMBER(HoursHigh)),'
            f'RevenueFloor>RevenueHigh),"",IF({rev}<RevenueFloor,"C",IF(AND({rev}>=RevenueHigh,{eh}<=HoursHigh),"A",'
            f'IF({rev}>=RevenueHigh,"D",IF({eh}<=HoursHigh,"B","E")))))')


def action(seg: np.ndarray) -> np.ndarray:
    return pd.Series(seg, dtype=object).map(ACTIONS).to_numpy(dtype=object)


def action_formula(ref) -> str:
    seg = ref("Segment")
    texts = ",".join(xl_text(ACTIONS[k]) for k in "ABCDE")
    return f'=IF({seg}="","",CHOOSE(CODE({seg})-64,{texts}))'


def account_issues_formula(ref) -> str:
    spec = {c.header: c for c in ACCOUNT_COLUMNS}
    parts = [
        check_id_formula("Accounts", ref, spec["Account ID"]),
        f'IF(TRIM({ref("Account")})="",{_issue("Account is required")},"")',
        check_number_formula(ref, spec["Revenue"]),
        check_number_formula(ref, spec["Margin"]),
        check_number_formula(ref, spec["Hours"]),
        check_number_formula(ref, spec["Aggravation"], 1, 5),
    ]
    return issues_formula(ref, parts, (ACCOUNT_COLUMNS[0].header, ACCOUNT_COLUMNS[-1].header))


def account_formulas() -> dict[str, str]:
    """The native formula of every derived Accounts column, in table order."""
    ref = this_row("Accounts")
    return {
        "Effective Hours": effective_hours_formula(ref),
        "ROT": rot_formula(ref),
        "Segment": segment_formula(ref),
        "Action": action_formula(ref),
        "Issues": account_issues_formula(ref),
    }


def _valid_percentile_formula(table: str, column: str, q: float, extra: str = "") -> str:
    """PERCENTILE.INC over the valid rows (Issues blank, value a number): an array formula."""
    values = f"{table}[{_escape(column)}]"
    return f'=IFERROR(_xlfn.PERCENTILE.INC(IF(({table}[Issues]="")*ISNUMBER({values}){extra},{values}),{q}),"")'


def account_threshold_formulas() -> dict[str, str]:
    return {
        "RevenueHigh": _valid_percentile_formula("Accounts", "Revenue", REVENUE_HIGH_PCT),
        "RevenueFloor": _valid_percentile_formula("Accounts", "Revenue", REVENUE_FLOOR_PCT),
        "HoursHigh": _valid_percentile_formula("Accounts", "Effective Hours", HOURS_HIGH_PCT),
    }


@dataclass
class _Accounts:
    revenue: np.ndarray
    margin: np.ndarray
    hours: np.ndarray
    eh: np.ndarray
    issues: Issues
    valid: np.ndarray


def _read_accounts(df: pd.DataFrame, s: Settings) -> _Accounts:
    cols = _cols(df, ACCOUNT_COLUMNS)
    spec = {c.header: c for c in ACCOUNT_COLUMNS}
    issues = Issues(len(df))
    ids, id_blank = parse_text(cols["Account ID"], id_like=True)
    check_id(issues, ids, id_blank, spec["Account ID"])
    name_blank = parse_text(cols["Account"])[1]
    issues.add(name_blank, "Account is required")
    revenue = parse_numbers(cols["Revenue"])
    check_number(issues, revenue, spec["Revenue"])
    margin = parse_numbers(cols["Margin"])
    check_number(issues, margin, spec["Margin"])
    hours = parse_numbers(cols["Hours"])
    check_number(issues, hours, spec["Hours"])
    agg = parse_numbers(cols["Aggravation"])
    check_number(issues, agg, spec["Aggravation"], 1, 5)
    empty = _empty_rows([id_blank, name_blank, revenue.blank, margin.blank, hours.blank, agg.blank], cols,
                        {"Account ID", "Account", "Revenue", "Margin", "Hours", "Aggravation"})
    issues.exclude(empty)
    valid = ~issues.any() & ~empty
    eh = np.where(valid, effective_hours(hours.values, agg.values, s.aggravation_weight), np.nan)
    return _Accounts(revenue.values, margin.values, hours.values, eh, issues, valid)


def _account_thresholds(a: _Accounts, s: Settings) -> dict[str, float]:
    valid_revenue = a.revenue[a.valid]
    t = {
        "RevenueHigh": s.revenue_high if s.revenue_high is not None else percentile_inc(valid_revenue, REVENUE_HIGH_PCT),
        "RevenueFloor": s.revenue_floor if s.revenue_floor is not None else percentile_inc(valid_revenue, REVENUE_FLOOR_PCT),
        "HoursHigh": s.hours_high if s.hours_high is not None else percentile_inc(a.eh, HOURS_HIGH_PCT),
    }
    check_floor_below_high(t["RevenueFloor"], t["RevenueHigh"])
    return t


def account_thresholds(df: pd.DataFrame, settings: Settings | None = None) -> dict[str, float]:
    """RevenueHigh, RevenueFloor and HoursHigh: the given settings, or computed from the valid rows."""
    s = settings or Settings()
    return _account_thresholds(_read_accounts(df, s), s)


def classify_accounts(df: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """The accounts table with Effective Hours, ROT, Segment, Action and Issues appended.

    Headers are matched case- and space-insensitively; input columns come back unchanged
    and in order. The thresholds used are in ``result.attrs["thresholds"]``.
    """
    s = settings or Settings()
    a = _read_accounts(df, s)
    t = _account_thresholds(a, s)
    seg = segment(a.revenue, a.eh, t["RevenueHigh"], t["HoursHigh"], t["RevenueFloor"])
    seg[~a.valid] = None
    out = _output(
        df,
        {
            "Effective Hours": a.eh,
            "ROT": rot(a.revenue, a.margin, a.eh),
            "Segment": seg,
            "Action": action(seg),
            "Issues": a.issues.text(),
        },
        ACCOUNT_DERIVED,
    )
    out.attrs["thresholds"] = t
    return out


# ---------------------------------------------------------------- opportunities (§2)


def engagement(probability: np.ndarray, scores: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """p = probability when given, else Σ wᵢ·sᵢ ÷ (5 · Σ wᵢ) over the scored factors."""
    num = np.zeros(len(probability))
    den = np.zeros(len(probability))
    for w, sc in zip(weights, scores):
        has = ~np.isnan(sc)
        num = num + np.where(has, w * np.nan_to_num(sc), 0.0)
        den = den + np.where(has, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        from_scores = np.where(den > 0, num / (5 * den), np.nan)
    return np.where(np.isnan(probability), from_scores, probability)


def engagement_formula(ref) -> str:
    prob = ref("Probability")
    num = "+".join(f'{w}*IF(ISNUMBER({ref(f)}),{ref(f)},0)' for w, f in zip(WEIGHT_NAMES, FACTORS))
    den = "+".join(f'IF(ISNUMBER({ref(f)}),{w},0)' for w, f in zip(WEIGHT_NAMES, FACTORS))
    return f'=IF({ref("Issues")}<>"","",IF(ISNUMBER({prob}),{prob},({num})/(5*({den}))))'


def expected_value(amount: np.ndarray, p: np.ndarray) -> np.ndarray:
    return amount * p


def expected_value_formula(ref) -> str:
    p = ref("Engagement")
    return f'=IF({p}="","",{ref("Amount")}*{p})'


def opportunity_rot(ev: np.ndarray, est_hours: np.ndarray, default_hours: float) -> np.ndarray:
    """EV ÷ (Est. Hours, or DefaultDealHours when blank); undefined when those hours are 0."""
    hours = np.where(np.isnan(est_hours), default_hours, est_hours)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hours == 0, np.nan, ev / hours)


def opportunity_rot_formula(ref) -> str:
    est, ev = ref("Est. Hours"), ref("Expected Value")
    hours = f'IF(TRIM({est})="",DefaultDealHours,{est})'
    return f'=IF({ev}="","",IF({hours}=0,"",{ev}/{hours}))'


def priority(p: np.ndarray, amount: np.ndarray, p_min: float, amount_min: float, big_deal: float) -> np.ndarray:
    """Pursue / Nurture / Deprioritize (for open rows; the caller blanks the others)."""
    return np.select(
        [ge(p, p_min) & ge(amount, amount_min), ge(amount, big_deal)], ["Pursue", "Nurture"], "Deprioritize"
    ).astype(object)


def _open_formula(ref) -> str:
    status = ref("Status")
    return f'OR(TRIM({status})="",TRIM({status})="Open")'


def priority_formula(ref) -> str:
    p, amount = ref("Engagement"), ref("Amount")
    return (f'=IF(OR({p}="",NOT({_open_formula(ref)})),"",IF(AND({p}>=PMin,{amount}>=AmountMin),"Pursue",'
            f'IF({amount}>=BigDealAmount,"Nurture","Deprioritize")))')


def next_follow_up(last_contact: np.ndarray, cadence_days: int) -> np.ndarray:
    """Last Contact + CadenceDays (datetime64[D]); NaT where there was no contact."""
    return last_contact + np.timedelta64(int(cadence_days), "D")


def next_follow_up_formula(ref) -> str:
    last = ref("Last Contact")
    return (f'=IF(OR({ref("Engagement")}="",NOT({_open_formula(ref)})),"",'
            f'IF(TRIM({last})="",{xl_text(CONTACT_NOW)},{last}+CadenceDays))')


def overdue_formula(ref) -> str:
    nxt = ref("Next Follow-up")
    return f'=IF({nxt}="","",IF(ISNUMBER({nxt}),AsOf>{nxt},FALSE))'


def pipeline_issues_formula(ref) -> str:
    spec = {c.header: c for c in PIPELINE_COLUMNS}
    status, prob = ref("Status"), ref("Probability")
    scored = "+".join(f'IF(ISNUMBER({ref(f)}),{w},0)' for w, f in zip(WEIGHT_NAMES, FACTORS))
    parts = [
        check_id_formula("Pipeline", ref, spec["Opportunity ID"]),
        check_number_formula(ref, spec["Amount"]),
        check_number_formula(ref, spec["Probability"]),
        *(check_number_formula(ref, spec[f], 0, 5) for f in FACTORS),
        check_number_formula(ref, spec["Est. Hours"]),
        check_date_formula(ref, "Close Date"),
        check_date_formula(ref, "Last Contact"),
        check_number_formula(ref, spec["Follow-ups"], 0),
        f'IF(OR(TRIM({status})="",TRIM({status})="Open",TRIM({status})="Won",TRIM({status})="Lost"),"",'
        f'{_issue("Status must be Open, Won or Lost")})',
        f'IF(AND(TRIM({status})="Lost",TRIM({ref("Lost Reason")})=""),{_issue("Lost needs a reason")},"")',
        f'IF(AND(TRIM({prob})="",({scored})=0),{_issue(NO_ENGAGEMENT)},"")',
    ]
    return issues_formula(ref, parts, (PIPELINE_COLUMNS[0].header, PIPELINE_COLUMNS[-1].header))


def pipeline_formulas() -> dict[str, str]:
    """The native formula of every derived Pipeline column, in table order."""
    ref = this_row("Pipeline")
    return {
        "Engagement": engagement_formula(ref),
        "Expected Value": expected_value_formula(ref),
        "Opportunity ROT": opportunity_rot_formula(ref),
        "Priority": priority_formula(ref),
        "Next Follow-up": next_follow_up_formula(ref),
        "Overdue": overdue_formula(ref),
        "Issues": pipeline_issues_formula(ref),
    }


def pipeline_threshold_formulas() -> dict[str, str]:
    open_rows = '*((TRIM(Pipeline[Status])="")+(TRIM(Pipeline[Status])="Open"))'
    return {
        "AmountMin": _valid_percentile_formula("Pipeline", "Amount", AMOUNT_MIN_PCT, open_rows),
        "BigDealAmount": _valid_percentile_formula("Pipeline", "Amount", BIG_DEAL_PCT, open_rows),
    }


def parse_status(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Status as "Open", "Won" or "Lost" (blank is Open, case ignored), and the bad mask."""
    text, blank = parse_text(s)
    canon = text.str.casefold().map({st.casefold(): st for st in schema.STATUSES})
    bad = ~blank & canon.isna().to_numpy()
    return np.where(blank, "Open", canon.fillna("").to_numpy(dtype=object)), bad


@dataclass
class _Pipeline:
    amount: np.ndarray
    p: np.ndarray
    est_hours: np.ndarray
    last_contact: np.ndarray
    status: np.ndarray
    issues: Issues
    valid: np.ndarray


def _read_pipeline(df: pd.DataFrame, s: Settings) -> _Pipeline:
    cols = _cols(df, PIPELINE_COLUMNS)
    spec = {c.header: c for c in PIPELINE_COLUMNS}
    issues = Issues(len(df))
    ids, id_blank = parse_text(cols["Opportunity ID"], id_like=True)
    check_id(issues, ids, id_blank, spec["Opportunity ID"])
    amount = parse_numbers(cols["Amount"])
    check_number(issues, amount, spec["Amount"])
    prob = parse_numbers(cols["Probability"])
    check_number(issues, prob, spec["Probability"])
    scores = [parse_numbers(cols[name]) for name in FACTORS]
    for name, sc in zip(FACTORS, scores):
        check_number(issues, sc, spec[name], 0, 5)
    est = parse_numbers(cols["Est. Hours"])
    check_number(issues, est, spec["Est. Hours"])
    close, last = parse_dates(cols["Close Date"]), parse_dates(cols["Last Contact"])
    issues.add(close.bad, "Close Date must be a date")
    issues.add(last.bad, "Last Contact must be a date")
    follow_ups = parse_numbers(cols["Follow-ups"])
    check_number(issues, follow_ups, spec["Follow-ups"], 0)
    status, bad_status = parse_status(cols["Status"])
    issues.add(bad_status, "Status must be Open, Won or Lost")
    issues.add((status == "Lost") & parse_text(cols["Lost Reason"])[1], "Lost needs a reason")
    p = engagement(prob.values, [sc.values for sc in scores], s.weights)
    issues.add(np.isnan(p) & ~prob.bad, NO_ENGAGEMENT)
    empty = _empty_rows([id_blank, amount.blank, prob.blank, est.blank, close.blank, last.blank, follow_ups.blank,
                         *(sc.blank for sc in scores)], cols,
                        {"Opportunity ID", "Amount", "Probability", "Est. Hours", "Close Date", "Last Contact", "Follow-ups"})
    issues.exclude(empty)
    valid = ~issues.any() & ~empty
    return _Pipeline(amount.values, np.where(valid, p, np.nan), est.values, last.values, status, issues, valid)


def _pipeline_thresholds(pl: _Pipeline, s: Settings) -> dict[str, float]:
    open_amounts = pl.amount[pl.valid & (pl.status == "Open")]
    return {
        "PMin": s.p_min,
        "AmountMin": s.amount_min if s.amount_min is not None else percentile_inc(open_amounts, AMOUNT_MIN_PCT),
        "BigDealAmount": s.big_deal_amount if s.big_deal_amount is not None else percentile_inc(open_amounts, BIG_DEAL_PCT),
    }


def pipeline_thresholds(df: pd.DataFrame, settings: Settings | None = None) -> dict[str, float]:
    """PMin, AmountMin and BigDealAmount: the given settings, or computed from the valid open rows."""
    s = settings or Settings()
    return _pipeline_thresholds(_read_pipeline(df, s), s)


def score_pipeline(df: pd.DataFrame, settings: Settings | None = None, as_of: dt.date | None = None) -> pd.DataFrame:
    """The pipeline with Engagement, Expected Value, Opportunity ROT, Priority, Next Follow-up,
    Overdue and Issues appended. ``as_of`` (default: settings.as_of, else today) judges Overdue.
    """
    s = settings or Settings()
    as_of_day = np.datetime64(as_of or s.as_of_date(), "D")
    pl = _read_pipeline(df, s)
    t = _pipeline_thresholds(pl, s)
    ev = expected_value(pl.amount, pl.p)
    live = pl.valid & (pl.status == "Open")
    prio = priority(pl.p, pl.amount, t["PMin"], t["AmountMin"], t["BigDealAmount"])
    prio[~live] = None
    due = next_follow_up(pl.last_contact, s.cadence_days)
    contacted = ~np.isnat(due)
    follow = np.full(len(df), None, dtype=object)
    follow[live & contacted] = pd.to_datetime(due[live & contacted]).date
    follow[live & ~contacted] = CONTACT_NOW
    overdue = pd.array(np.where(live, contacted & (as_of_day > due), False), dtype="boolean")
    overdue[~live] = pd.NA
    out = _output(
        df,
        {
            "Engagement": pl.p,
            "Expected Value": ev,
            "Opportunity ROT": opportunity_rot(ev, pl.est_hours, s.default_deal_hours),
            "Priority": prio,
            "Next Follow-up": follow,
            "Overdue": overdue,
            "Issues": pl.issues.text(),
        },
        PIPELINE_DERIVED,
    )
    out.attrs["thresholds"] = t
    out.attrs["as_of"] = as_of_day.astype(dt.date)
    return out
