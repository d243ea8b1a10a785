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
import pandas._libs.lib as pdlib

from . import schema
from .schema import (
    ACCOUNT_COLUMNS,
    ACCOUNT_DERIVED,
    LEARNED_PROBABILITY,
    NOT_IN_EXPORT,
    PIPELINE_COLUMNS,
    PIPELINE_DERIVED,
    SYNC_COLUMN,
    Column,
)
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
    "P": "Prospect: win the first deal",
}
FOCUS: dict[str, str] = {"A": "Work", "B": "Work", "C": "Dump", "D": "Work", "E": "Dump", "P": "Prospect"}
PRIORITIES: tuple[str, ...] = ("Pursue", "Nurture", "Deprioritize")
CONTACT_NOW = "Contact now"
NO_ENGAGEMENT = "No probability or engagement scores"
# Named cells of the five factor weights on the Settings sheet, in the order of FACTORS.
WEIGHT_NAMES: tuple[str, ...] = ("WeightAccess", "WeightEvent", "WeightBudget", "WeightFit", "WeightRelationship")

# Excel's date serial 0; serial numbers in date columns count from here (1900 date system).
EXCEL_EPOCH = np.datetime64("1899-12-30")
# The largest number a cell holds, and the last date (9999-12-31, serial 2958465): beyond them
# a value is an issue, never an inf or a serial no spreadsheet can show.
XL_MAX = 9.99999999999999e307
XL_MAX_TEXT = "9.99999999999999E+307"
LAST_DATE = np.datetime64("9999-12-31")
LAST_SERIAL = 2958465
TOO_LATE = "Next Follow-up is past 9999-12-31"


def too_large(header: str) -> str:
    return f"{header} is too large"


# ---------------------------------------------------------------- parsing values as typed


@dataclass
class Parsed:
    """One input column read as the spec's type: values, and which cells were blank or bad."""

    values: np.ndarray  # float64 (NaN where blank or bad) or datetime64[D] (NaT)
    blank: np.ndarray  # bool
    bad: np.ndarray  # bool: not blank, not a usable value of the column's type
    huge: np.ndarray | None = None  # bool, within bad: a number beyond what a spreadsheet holds

    def __post_init__(self) -> None:
        if self.huge is None:
            self.huge = np.zeros(len(self.blank), dtype=bool)

    @property
    def number(self) -> np.ndarray:
        """A number a spreadsheet can hold (whatever the column's range rules say of it)."""
        return ~self.blank & ~self.bad


def _as_string(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip()


def plain_numbers(s: pd.Series) -> bool:
    """An object column holding only Python or numpy numbers (and blanks): no text, booleans or
    dates, so it reads as a float column does."""
    return s.dtype == object and pdlib.infer_dtype(s.to_numpy(), skipna=True) in ("floating", "integer", "mixed-integer-float")


def parse_numbers(s: pd.Series) -> Parsed:
    """Numbers as Excel's ISNUMBER sees them; text such as "12k" is bad, "60%" is 0.6.

    A number beyond ±9.99999999999999E+307 (or ±inf) is bad and ``huge``: "is too large".
    """
    if plain_numbers(s):
        try:
            s = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
        except (OverflowError, TypeError, ValueError):  # an int beyond float64: read as text below
            pass
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        blank = np.isnan(values)
        with np.errstate(invalid="ignore"):
            huge = np.abs(values) > XL_MAX
        if huge.any():
            values = np.where(huge, np.nan, values)
        return Parsed(values, blank, huge, huge)
    text = _as_string(s)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    pct = text.str.endswith("%").fillna(False).to_numpy(dtype=bool)
    core = text.where(~pct, text.str[:-1].str.strip()) if pct.any() else text
    values = pd.to_numeric(core, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    values = np.where(pct, values / 100, values)
    # Booleans and dates are not numbers to ISNUMBER either.
    if s.dtype == object:
        odd = s.map(type).isin((bool, np.bool_, dt.date, dt.datetime, pd.Timestamp)).to_numpy()
        values[odd] = np.nan
    with np.errstate(invalid="ignore"):
        huge = np.abs(values) > XL_MAX
    if np.isinf(values).any():
        # "1e999" is a number too large; "inf" or "Infinity" is a word, as in a spreadsheet.
        rows = np.flatnonzero(np.isinf(values))
        number = s.iloc[rows].map(lambda v: isinstance(v, (float, np.floating))).to_numpy(dtype=bool)
        huge[rows] = number | core.iloc[rows].str.contains(r"\d", regex=True).fillna(False).to_numpy(dtype=bool)
    values[huge | ~np.isfinite(values)] = np.nan
    bad = ~blank & np.isnan(values)
    return Parsed(values, blank, bad, huge & bad)


def parse_dates(s: pd.Series) -> Parsed:
    """Dates, ISO text ("2026-11-01"), US text ("11/1/2026") or Excel serial numbers 1–2958465."""
    if pd.api.types.is_datetime64_any_dtype(s):
        values = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) else s
        values = values.to_numpy(dtype="datetime64[D]")
        blank = np.isnat(values)
        return Parsed(values, blank, np.zeros(len(s), dtype=bool))
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):  # serial numbers
        serial = s.to_numpy(dtype="float64", na_value=np.nan)
        blank = np.isnan(serial)
        ok = (serial >= 1) & (serial < LAST_SERIAL + 1)
        out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[D]")
        out[ok] = EXCEL_EPOCH + np.floor(serial[ok]).astype("int64")
        return Parsed(out, blank, ~blank & ~ok)
    obj = s.astype(object)
    text = _as_string(obj)
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[D]")
    kinds = obj.map(type)
    is_num = kinds.isin((int, float, np.int64, np.float64)).to_numpy()
    # Date objects directly, as numpy holds them up to 9999-12-31 (pandas stops at 2262).
    is_date = kinds.isin((dt.date, dt.datetime, pd.Timestamp)).to_numpy() & ~blank
    if is_date.any():
        # The date as written (a datetime's own zone kept, its time dropped), by day number.
        days = np.fromiter((v.toordinal() for v in obj[is_date]), dtype="int64", count=int(is_date.sum()))
        out[is_date] = (days - _ORDINAL_1970).astype("datetime64[D]")
    if is_num.any():
        serial = pd.to_numeric(obj[is_num], errors="coerce").to_numpy(dtype="float64")
        ok = np.isfinite(serial) & (serial >= 1) & (serial < LAST_SERIAL + 1)
        days = np.where(ok, np.floor(serial), 0).astype("int64")
        out[np.flatnonzero(is_num)[ok]] = EXCEL_EPOCH + days[ok]
    rest = ~blank & ~is_num & ~is_date
    if rest.any():
        parsed = pd.to_datetime(obj[rest], errors="coerce", format="ISO8601")
        retry = parsed.isna().to_numpy()
        if retry.any():
            mixed = pd.to_datetime(obj[rest][retry], errors="coerce", format="mixed")
            parsed = parsed.copy()
            parsed[retry] = mixed
        out[rest] = parsed.to_numpy(dtype="datetime64[D]")
        late = rest & np.isnat(out)
        if late.any():  # ISO dates past pandas' range (2262), up to 9999-12-31
            out[late] = [_iso_day(v) for v in text[late]]
    bad = ~blank & np.isnat(out)
    return Parsed(out, blank, bad)


_ORDINAL_1970 = dt.date(1970, 1, 1).toordinal()


def _iso_day(text: str) -> np.datetime64:
    try:
        return np.datetime64(dt.date.fromisoformat(text[:10]), "D")
    except ValueError:
        return np.datetime64("NaT")


# Every character str.strip() removes (the highest is U+3000).
_SPACE = np.array([chr(c).isspace() for c in range(0x3001)])


def _edges(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For an array of str: which are empty, and which start or end with whitespace.

    One join and one pass over the code points, instead of a strip per value; None when a
    value holds the NUL separator (the caller then strips value by value).
    """
    if not values.size:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    points = np.frombuffer("\x00".join(values).encode("utf-32-le"), dtype=np.uint32)
    sep = np.flatnonzero(points == 0)
    if sep.size != values.size - 1:
        return None
    starts = np.concatenate(([0], sep + 1))
    ends = np.concatenate((sep, [points.size]))
    empty = starts == ends
    if not points.size:  # every value empty
        return empty, np.zeros(values.size, dtype=bool)
    # On an empty value these read a neighbour's character; ~empty masks them out.
    first = np.minimum(points[np.minimum(starts, points.size - 1)], 0x3000)
    last = np.minimum(points[np.maximum(ends - 1, 0)], 0x3000)
    return empty, ~empty & (_SPACE[first] | _SPACE[last])


@dataclass
class Text:
    """A text column, normalised once per distinct value: trimmed, IDs typed as numbers read as
    "1001" not "1001.0". ``codes`` number the distinct trimmed texts (-1: blank)."""

    codes: np.ndarray
    uniques: np.ndarray  # object array of the distinct trimmed texts, none of them blank

    @property
    def blank(self) -> np.ndarray:
        return self.codes < 0

    def values(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        codes = self.codes[rows]
        return np.where(codes < 0, "", self.uniques[np.maximum(codes, 0)]) if self.uniques.size else np.full(codes.shape, "", dtype=object)

    def duplicated(self) -> np.ndarray:
        """Rows whose text (not blank) is on another row too."""
        counts = np.bincount(self.codes[self.codes >= 0], minlength=self.uniques.size + 1)
        return ~self.blank & (counts[np.maximum(self.codes, 0)] > 1)


def read_text(s: pd.Series, id_like: bool = False) -> Text:
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    found = _edges(uniques) if pdlib.is_string_array(uniques) else None
    if found is not None:
        empty, spaced = found
        if spaced.any():
            uniques = uniques.copy()
            uniques[spaced] = [u.strip() for u in uniques[spaced]]
            empty = empty | spaced & (uniques == "")
            spaced = spaced & ~empty
    else:
        text = pd.Series(uniques, dtype=object).astype("string").str.strip()
        if id_like:
            text = text.str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
        uniques = text.fillna("").to_numpy(dtype=object)
        empty = uniques == ""
        spaced = np.ones(uniques.size, dtype=bool)
    if spaced.any():  # two raw values that trim alike are one text
        codes_u, merged = pd.factorize(uniques)
        codes = np.where(codes < 0, -1, codes_u[np.maximum(codes, 0)])
        empty = np.asarray(merged, dtype=object) == ""
        uniques = np.asarray(merged, dtype=object)
    if empty.any():  # blank texts join the -1 code
        keep = np.flatnonzero(~empty)
        remap = np.full(uniques.size, -1)
        remap[keep] = np.arange(keep.size)
        codes = np.where(codes < 0, -1, remap[np.maximum(codes, 0)])
        uniques = uniques[keep]
    return Text(codes, uniques)


def factorize_keeping_blank(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize(values, use_na_sentinel=False): the blank (None, NaN) is one more distinct
    value, numbered in the order first met like the others. pandas' own option for that scans the
    whole column for blanks a second time."""
    codes, uniques = pd.factorize(values)
    uniques = np.asarray(uniques, dtype=object)
    blank = codes < 0
    if blank.any():
        at = int(codes[: int(np.argmax(blank))].max(initial=-1)) + 1  # codes count up as values are met
        codes = np.where(blank, at, np.where(codes >= at, codes + 1, codes))
        uniques = np.insert(uniques, at, None)
    return codes, uniques


def text_values(s: pd.Series) -> np.ndarray:
    """``read_text(s).values()``: each row's text trimmed, "" for a blank. A column of strings
    only (names, mostly distinct) is trimmed in place of hashing every value first."""
    values = s.to_numpy(dtype=object, copy=True)  # a new array: never the frame's own
    if pdlib.is_string_array(values):
        found = _edges(values)
        if found is not None:
            spaced = found[1]
            if spaced.any():
                values[spaced] = [v.strip() for v in values[spaced]]
            return values
    return read_text(s).values()


def parse_text(s: pd.Series, id_like: bool = False) -> tuple[pd.Series, np.ndarray]:
    """Text values and the blank mask. IDs typed as numbers read as "1001", not "1001.0"."""
    t = read_text(s, id_like)
    return pd.Series(t.values(), index=s.index, dtype=object), t.blank


# ---------------------------------------------------------------- the issue rules (§4)


class Issues:
    """Collects (mask, message) pairs and joins the messages of each row with "; ".

    A message is a text, or a function of the rows (indices) it applies to giving their texts,
    so per-row texts ("Duplicate Account ID ACC-7") are built only for the rows that have them.
    """

    def __init__(self, n: int, skip: np.ndarray | None = None):
        self.n = n
        self.skip = skip  # rows that raise no issue at all (a completely empty table row)
        self.rules: list[tuple[np.ndarray, object]] = []

    def add(self, mask: np.ndarray, message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if self.skip is not None:
            mask = mask & ~self.skip
        if mask.any():
            self.rules.append((mask, message))

    def any(self) -> np.ndarray:
        if not self.rules:
            return np.zeros(self.n, dtype=bool)
        return np.logical_or.reduce([m for m, _ in self.rules])

    def text(self) -> np.ndarray:
        out = np.full(self.n, "", dtype=object)
        rows = np.flatnonzero(self.any())
        if rows.size == 0:
            return out
        joined = np.full(rows.size, "", dtype=object)
        for mask, message in self.rules:
            sub = mask[rows]
            part = message if isinstance(message, str) else np.asarray(message(rows[sub]), dtype=object)
            sep = np.where(joined[sub] == "", "", "; ").astype(object)
            joined[sub] = joined[sub] + sep + part
        out[rows] = joined
        return out


def check_number(issues: Issues, p: Parsed, col: Column, low: float = 0.0, high: float | None = None) -> None:
    name = col.header
    if col.required:
        issues.add(p.blank, f"{name} is required")
    issues.add(p.huge, too_large(name))
    bad = p.bad & ~p.huge
    if col.kind == "fraction":
        out_of_range = ~np.isnan(p.values) & ((p.values < 0) | (p.values > 1))
        issues.add(bad | out_of_range, f"{name} must be a fraction 0–1")
    elif col.kind == "whole":
        v = p.values
        whole = ~np.isnan(v) & (v == np.floor(v)) & (v >= low)
        if high is not None:
            whole &= v <= high
        span = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
        issues.add(bad | (~p.blank & ~p.huge & ~whole), f"{name} must be a whole number {span}")
    else:
        issues.add(bad, f"{name} must be a number")
        issues.add(~np.isnan(p.values) & (p.values < low), f"{name} must be ≥ {low:g}")


def check_id(issues: Issues, ids: Text, col: Column) -> None:
    issues.add(ids.blank, f"{col.header} is required")
    prefix = f"Duplicate {col.header} "
    issues.add(ids.duplicated(), lambda rows: prefix + ids.values(rows))


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


def _num(x: str) -> str:
    """TRUE when the cell is a number a spreadsheet can hold (never an error, whatever x holds)."""
    return f"IF(ISNUMBER({x}),ABS({x})<={XL_MAX_TEXT},FALSE)"


def _num_or_blank(x: str) -> str:
    return f'IF(TRIM({x})="",TRUE,{_num(x)})'


def check_number_formula(ref, col: Column, low: float = 0.0, high: float | None = None) -> str:
    """Mirrors check_number: ISNUMBER is Excel's own "is this a number"."""
    x = ref(col.header)
    on_blank = _issue(f"{col.header} is required") if col.required else '""'
    if col.kind == "fraction":
        msg = _issue(f"{col.header} must be a fraction 0–1")
        check = f'IF(OR({x}<0,{x}>1),{msg},"")'
    elif col.kind == "whole":
        span = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
        msg = _issue(f"{col.header} must be a whole number {span}")
        upper = f",{x}>{high:g}" if high is not None else ""
        check = f'IF(OR({x}<>INT({x}),{x}<{low:g}{upper}),{msg},"")'
    else:
        msg = _issue(f"{col.header} must be a number")
        check = f'IF({x}<{low:g},{_issue(f"{col.header} must be ≥ {low:g}")},"")'
    huge = _issue(too_large(col.header))
    return f'IF(TRIM({x})="",{on_blank},IF(ISNUMBER({x}),IF(ABS({x})>{XL_MAX_TEXT},{huge},{check}),{msg}))'


def check_date_formula(ref, header: str) -> str:
    x = ref(header)
    msg = _issue(f"{header} must be a date")
    return f'IF(TRIM({x})="","",IF(ISNUMBER({x}),IF(OR({x}<1,{x}>={LAST_SERIAL + 1}),{msg},""),{msg}))'


def check_id_formula(table: str, ref, col: Column) -> str:
    """Blank, or the same ID (exactly, after trimming) on another row. EXACT is case-sensitive, as CRM IDs are."""
    x = ref(col.header)
    column = f"{table}[{_escape(col.header)}]"
    return (f'IF(TRIM({x})="",{_issue(f"{col.header} is required")},'
            f'IF(SUMPRODUCT(--EXACT(TRIM({column}),TRIM({x})))>1,{_issue(f"Duplicate {col.header} ")}&TRIM({x}),""))')


def row_blank_formula(ref, columns: tuple[Column, ...]) -> str:
    """TRUE on a row with no input at all (a table's spare row): cell by cell, so the input
    columns need not stand side by side in the table."""
    return f'COUNTA({",".join(ref(c.header) for c in columns)})=0'


def issues_formula(ref, parts: list[str], columns: tuple[Column, ...]) -> str:
    return f'=IF({row_blank_formula(ref, columns)},"",MID({"&".join(parts)},3,32767))'


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
    values = values[~np.isnan(values)]
    if not values.size:
        return float("nan")
    # Excel's own interpolation, x[k] + (h − k)(x[k+1] − x[k]); numpy's lerp rounds differently.
    # np.partition places the two ranks needed without sorting the rest.
    h = (values.size - 1) * q
    k = int(np.floor(h))
    k1 = min(k + 1, values.size - 1)
    part = np.partition(values, [k, k1])
    return float(part[k] + (h - k) * (part[k1] - part[k]))


def _cols(df: pd.DataFrame, columns: tuple[Column, ...]) -> dict[str, pd.Series]:
    mapping = schema.resolve(list(df.columns), columns)
    # A missing column is all blank: NaN, which every parser reads on its fast path.
    blank = pd.Series(np.full(len(df), np.nan), index=df.index)
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
            empty[rows] = read_text(col.iloc[rows]).blank
    return empty


def _kept(df: pd.DataFrame) -> np.ndarray:
    """Rows kept only because they left the export (§6.1): out of every threshold."""
    if SYNC_COLUMN not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return (df[SYNC_COLUMN].to_numpy(dtype=object) == NOT_IN_EXPORT)


def _output(df: pd.DataFrame, derived: dict[str, object], names: tuple[str, ...]) -> pd.DataFrame:
    out = df.drop(columns=[c for c in df.columns if c in names])
    for name in names:
        out[name] = derived[name]
    return out


# ---------------------------------------------------------------- accounts (§1)


def effective_hours(hours: np.ndarray, aggravation: np.ndarray, weight: float) -> np.ndarray:
    """EH = hours × (1 + AggravationWeight × (aggravation − 1)); blank aggravation is 1."""
    agg = np.where(np.isnan(aggravation), 1.0, aggravation)
    with np.errstate(over="ignore", invalid="ignore"):
        return hours * (1 + weight * (agg - 1))


def _hours(ref) -> str:
    """h of §1: Hours when given, else Logged Hours."""
    hours, logged = ref("Hours"), ref("Logged Hours")
    return f'IF(TRIM({hours})="",{logged},{hours})'


def _effective_hours_expr(ref) -> str:
    agg = ref("Aggravation")
    return f'{_hours(ref)}*(1+AggravationWeight*(IF(TRIM({agg})="",1,{agg})-1))'


def effective_hours_formula(ref) -> str:
    hours, logged = ref("Hours"), ref("Logged Hours")
    return (f'=IF(OR({ref("Issues")}<>"",AND(TRIM({hours})="",TRIM({logged})="")),"",'
            f'{_effective_hours_expr(ref)})')


def rot(revenue: np.ndarray, margin: np.ndarray, eh: np.ndarray) -> np.ndarray:
    """ROT = revenue × margin ÷ EH; blank margin is 1; undefined (NaN) when EH is 0."""
    m = np.where(np.isnan(margin), 1.0, margin)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(eh == 0, np.nan, revenue * m / eh)


def _margin(ref) -> str:
    margin = ref("Margin")
    return f'IF(TRIM({margin})="",1,{margin})'


def rot_formula(ref) -> str:
    eh = ref("Effective Hours")
    return f'=IF(OR({eh}="",{eh}=0),"",{ref("Revenue")}*{_margin(ref)}/{eh})'


SEGMENTS = np.array([None, "P", "C", "A", "D", "B", "E"], dtype=object)  # by segment code, 0: none


def segment_codes(revenue: np.ndarray, eh: np.ndarray, revenue_high: float, hours_high: float, revenue_floor: float) -> np.ndarray:
    """Index into SEGMENTS: P (revenue 0), then C, A, D, B, E (SPEC §1); 0 where EH is unknown,
    or (for A–E) a threshold is."""
    check_floor_below_high(revenue_floor, revenue_high)
    high_rev = ge(revenue, revenue_high)
    low_time = le(eh, hours_high)
    codes = np.select([revenue == 0, lt(revenue, revenue_floor), high_rev & low_time, high_rev, low_time],
                      np.arange(1, 6, dtype=np.int8), np.int8(6)).astype(np.int8)
    no_threshold = bool(np.isnan([revenue_high, hours_high, revenue_floor]).any())
    undefined = np.isnan(revenue) | np.isnan(eh) | ((revenue != 0) & no_threshold)
    return np.where(undefined, np.int8(0), codes)


def segment(revenue: np.ndarray, eh: np.ndarray, revenue_high: float, hours_high: float, revenue_floor: float) -> np.ndarray:
    """P, A–E or None per row, as segment_codes."""
    return SEGMENTS[segment_codes(np.asarray(revenue, dtype=float), np.asarray(eh, dtype=float),
                                  revenue_high, hours_high, revenue_floor)]


def segment_formula(ref) -> str:
    """P needs no threshold; A–E stay blank while a threshold is missing or RevenueFloor > RevenueHigh
    (the Settings sheet says why)."""
    rev, eh = ref("Revenue"), ref("Effective Hours")
    return (f'=IF({eh}="","",IF(IF(AND(ISNUMBER(RevenueFloor),ISNUMBER(RevenueHigh)),RevenueFloor>RevenueHigh,FALSE),"",'
            f'IF({rev}=0,"P",IF(OR(NOT(ISNUMBER(RevenueHigh)),NOT(ISNUMBER(RevenueFloor)),NOT(ISNUMBER(HoursHigh))),"",'
            f'IF({rev}<RevenueFloor,"C",IF(AND({rev}>=RevenueHigh,{eh}<=HoursHigh),"A",'
            f'IF({rev}>=RevenueHigh,"D",IF({eh}<=HoursHigh,"B","E"))))))))')


_ACTIONS_BY_CODE = np.array([None, *(ACTIONS[k] for k in SEGMENTS[1:])], dtype=object)


def action(seg: np.ndarray) -> np.ndarray:
    return pd.Series(seg, dtype=object).map(ACTIONS).to_numpy(dtype=object)


def action_formula(ref) -> str:
    seg = ref("Segment")
    texts = ",".join(xl_text(ACTIONS[k]) for k in "ABCDE")
    return f'=IF({seg}="","",IF({seg}="P",{xl_text(ACTIONS["P"])},CHOOSE(CODE({seg})-64,{texts})))'


def _overflow_formulas(ref) -> list[str]:
    """EH and ROT that would pass what a cell holds: an issue (mirrors _overflow), never an inf.

    Checked wherever their inputs are numbers, whatever else is wrong with the row; IFERROR
    catches the #NUM! a spreadsheet gives on overflow.
    """
    h, agg, rev = _hours(ref), ref("Aggravation"), ref("Revenue")
    eh = _effective_hours_expr(ref)
    eh_msg, rot_msg = _issue(too_large("Effective Hours")), _issue(too_large("ROT"))
    eh_inputs = f'AND({_num(h)},{_num_or_blank(agg)})'
    eh_part = f'IF({eh_inputs},IFERROR(IF(ABS({eh})>{XL_MAX_TEXT},{eh_msg},""),{eh_msg}),"")'
    rot_part = (f'IF(AND({eh_inputs},{_num(rev)},{_num_or_blank(ref("Margin"))}),'
                f'IF(IFERROR(ABS({eh})>{XL_MAX_TEXT},TRUE),"",IF({eh}=0,"",'
                f'IFERROR(IF(ABS({rev}*{_margin(ref)}/({eh}))>{XL_MAX_TEXT},{rot_msg},""),{rot_msg}))),"")')
    return [eh_part, rot_part]


def account_issues_formula(ref) -> str:
    spec = {c.header: c for c in ACCOUNT_COLUMNS}
    parts = [
        check_id_formula("Accounts", ref, spec["Account ID"]),
        f'IF(TRIM({ref("Account")})="",{_issue("Account is required")},"")',
        check_number_formula(ref, spec["Revenue"]),
        check_number_formula(ref, spec["Margin"]),
        check_number_formula(ref, spec["Hours"]),
        check_number_formula(ref, spec["Logged Hours"]),
        check_number_formula(ref, spec["Aggravation"], 1, 5),
        *_overflow_formulas(ref),
    ]
    return issues_formula(ref, parts, ACCOUNT_COLUMNS)


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


def _valid_percentile_formula(table: str, column: str, q: float, extra: str) -> str:
    """PERCENTILE.INC over the valid rows (Issues blank), ``extra`` conditions, and not a row kept
    only because it left the export: an array formula. On a valid row the value is a number or
    blank, so comparisons stand in for ISNUMBER (which IronCalc does not take over a range)."""
    values = f"{table}[{_escape(column)}]"
    kept = f'({table}[{SYNC_COLUMN}]<>{xl_text(NOT_IN_EXPORT)})'
    # The "" (ignored, as text is) rather than FALSE: LibreOffice reads a one-row table's {FALSE} as 0.
    return f'=IFERROR(_xlfn.PERCENTILE.INC(IF(({table}[Issues]=""){extra}*{kept},{values},""),{q}),"")'


def account_threshold_formulas() -> dict[str, str]:
    # Prospects (revenue 0), untouched accounts (EH 0) and spare rows (blank: 0, or "") are left out (§1).
    paying = "*(Accounts[Revenue]>0)"
    worked = paying + '*(Accounts[Effective Hours]<>"")*(Accounts[Effective Hours]>0)'
    return {
        "RevenueHigh": _valid_percentile_formula("Accounts", "Revenue", REVENUE_HIGH_PCT, paying),
        "RevenueFloor": _valid_percentile_formula("Accounts", "Revenue", REVENUE_FLOOR_PCT, paying),
        "HoursHigh": _valid_percentile_formula("Accounts", "Effective Hours", HOURS_HIGH_PCT, worked),
    }


@dataclass
class _Accounts:
    revenue: np.ndarray
    margin: np.ndarray
    eh: np.ndarray
    issues: Issues
    valid: np.ndarray
    kept: np.ndarray


def _overflow(issues: Issues, h: Parsed, agg: Parsed, revenue: Parsed, margin: Parsed, weight: float) -> np.ndarray:
    """EH (returned) and ROT that would overflow a cell give the row an issue (§4)."""
    eh = effective_hours(h.values, agg.values, weight)
    eh_inputs = h.number & (agg.blank | agg.number)
    eh_huge = eh_inputs & ~(np.abs(eh) <= XL_MAX)
    issues.add(eh_huge, too_large("Effective Hours"))
    rot_inputs = eh_inputs & ~eh_huge & (eh != 0) & revenue.number & (margin.blank | margin.number)
    if rot_inputs.any():
        r = rot(revenue.values, margin.values, eh)
        issues.add(rot_inputs & ~(np.abs(r) <= XL_MAX), too_large("ROT"))
    return eh


def _read_accounts(df: pd.DataFrame, s: Settings) -> _Accounts:
    cols = _cols(df, ACCOUNT_COLUMNS)
    spec = {c.header: c for c in ACCOUNT_COLUMNS}
    ids = read_text(cols["Account ID"], id_like=True)
    name_blank = read_text(cols["Account"]).blank
    numbers = {h: parse_numbers(cols[h]) for h in ("Revenue", "Margin", "Hours", "Logged Hours", "Aggravation")}
    empty = _empty_rows([ids.blank, name_blank, *(p.blank for p in numbers.values())], cols,
                        {"Account ID", "Account", *numbers})
    issues = Issues(len(df), skip=empty)
    check_id(issues, ids, spec["Account ID"])
    issues.add(name_blank, "Account is required")
    for h, p in numbers.items():
        check_number(issues, p, spec[h], *((1, 5) if h == "Aggravation" else ()))
    revenue, margin, hours, logged, agg = numbers.values()
    # h of §1: Hours when given, else Logged Hours.
    h = Parsed(np.where(hours.blank, logged.values, hours.values), hours.blank & logged.blank,
               np.where(hours.blank, logged.bad, hours.bad))
    eh = _overflow(issues, h, agg, revenue, margin, s.aggravation_weight)
    valid = ~issues.any() & ~empty
    eh = np.where(valid, eh, np.nan)
    return _Accounts(revenue.values, margin.values, eh, issues, valid, _kept(df))


def _account_thresholds(a: _Accounts, s: Settings) -> dict[str, float]:
    # Prospects (revenue 0), untouched accounts (EH 0) and rows that left the export are left out.
    paying = a.valid & ~a.kept & (a.revenue > 0)
    t = {
        "RevenueHigh": s.revenue_high if s.revenue_high is not None else percentile_inc(a.revenue[paying], REVENUE_HIGH_PCT),
        "RevenueFloor": s.revenue_floor if s.revenue_floor is not None else percentile_inc(a.revenue[paying], REVENUE_FLOOR_PCT),
        "HoursHigh": s.hours_high if s.hours_high is not None else percentile_inc(a.eh[paying & (a.eh > 0)], HOURS_HIGH_PCT),
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
    codes = segment_codes(a.revenue, a.eh, t["RevenueHigh"], t["HoursHigh"], t["RevenueFloor"])  # eh is NaN unless valid
    out = _output(
        df,
        {
            "Effective Hours": a.eh,
            "ROT": rot(a.revenue, a.margin, a.eh),
            "Segment": SEGMENTS[codes],
            "Action": _ACTIONS_BY_CODE[codes],
            "Issues": a.issues.text(),
        },
        ACCOUNT_DERIVED,
    )
    out.attrs["thresholds"] = t
    return out


# ---------------------------------------------------------------- opportunities (§2)


def engagement(probability: np.ndarray, scores: list[np.ndarray], weights: tuple[float, ...],
               learned: np.ndarray | None = None) -> np.ndarray:
    """p = the learned probability where there is one (§9), else probability when given, else
    Σ wᵢ·sᵢ ÷ (5 · Σ wᵢ) over the scored factors."""
    num = np.zeros(len(probability))
    den = np.zeros(len(probability))
    for w, sc in zip(weights, scores):
        has = ~np.isnan(sc)
        num = num + np.where(has, w * np.nan_to_num(sc), 0.0)
        den = den + np.where(has, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        from_scores = np.where(den > 0, num / (5 * den), np.nan)
    p = np.where(np.isnan(probability), from_scores, probability)
    return p if learned is None else np.where(np.isnan(learned), p, learned)


def _use_learned(ref) -> str:
    return f"AND(UseLearned=TRUE,ISNUMBER({ref(LEARNED_PROBABILITY)}))"


def _score_sums(ref) -> tuple[str, str]:
    num = "+".join(f'{w}*IF(ISNUMBER({ref(f)}),{ref(f)},0)' for w, f in zip(WEIGHT_NAMES, FACTORS))
    den = "+".join(f'IF(ISNUMBER({ref(f)}),{w},0)' for w, f in zip(WEIGHT_NAMES, FACTORS))
    return num, den


def _engagement_expr(ref, learned: bool) -> str:
    prob = ref("Probability")
    num, den = _score_sums(ref)
    p = f'IF(ISNUMBER({prob}),{prob},IF(({den})=0,"",({num})/(5*({den}))))'
    return f'IF({_use_learned(ref)},{ref(LEARNED_PROBABILITY)},{p})' if learned else p


def engagement_formula(ref, learned: bool = False) -> str:
    """``learned``: the table has a Learned Probability column, used while UseLearned is TRUE."""
    return f'=IF({ref("Issues")}<>"","",{_engagement_expr(ref, learned)})'


def expected_value(amount: np.ndarray, p: np.ndarray) -> np.ndarray:
    return amount * p


def expected_value_formula(ref) -> str:
    p = ref("Engagement")
    return f'=IF({p}="","",{ref("Amount")}*{p})'


def opportunity_rot(ev: np.ndarray, est_hours: np.ndarray, default_hours: float) -> np.ndarray:
    """EV ÷ (Est. Hours, or DefaultDealHours when blank); undefined when those hours are 0."""
    hours = np.where(np.isnan(est_hours), default_hours, est_hours)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(hours == 0, np.nan, ev / hours)


def _deal_hours(ref) -> str:
    est = ref("Est. Hours")
    return f'IF(TRIM({est})="",DefaultDealHours,{est})'


def opportunity_rot_formula(ref) -> str:
    ev, hours = ref("Expected Value"), _deal_hours(ref)
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


def _valid_date(x: str) -> str:
    return f"IF(ISNUMBER({x}),AND({x}>=1,{x}<{LAST_SERIAL + 1}),FALSE)"


def next_follow_up_formula(ref) -> str:
    """Every Open row whose Last Contact is a valid date or blank, whatever its other issues (§2)."""
    last = ref("Last Contact")
    due = f"{last}+CadenceDays"
    return (f'=IF(OR({row_blank_formula(ref, PIPELINE_COLUMNS)},NOT({_open_formula(ref)})),"",'
            f'IF(TRIM({last})="",{xl_text(CONTACT_NOW)},IF({_valid_date(last)},IF({due}>{LAST_SERIAL},"",{due}),"")))')


def overdue_formula(ref) -> str:
    nxt = ref("Next Follow-up")
    return f'=IF({nxt}="","",IF(ISNUMBER({nxt}),AsOf>{nxt},FALSE))'


def pipeline_issues_formula(ref, learned: bool = False) -> str:
    spec = {c.header: c for c in PIPELINE_COLUMNS}
    status, prob, last = ref("Status"), ref("Probability"), ref("Last Contact")
    _, scored = _score_sums(ref)
    no_p = f'AND(TRIM({prob})="",({scored})=0)'
    if learned:
        no_p = f"AND({no_p},NOT({_use_learned(ref)}))"
    parts = [
        check_id_formula("Pipeline", ref, spec["Opportunity ID"]),
        check_number_formula(ref, spec["Amount"]),
        check_number_formula(ref, spec["Probability"]),
        *(check_number_formula(ref, spec[f], 0, 5) for f in FACTORS),
        check_number_formula(ref, spec["Est. Hours"]),
        check_date_formula(ref, "Close Date"),
        check_date_formula(ref, "Last Contact"),
        f'IF({_valid_date(last)},IF({last}+CadenceDays>{LAST_SERIAL},{_issue(TOO_LATE)},""),"")',
        check_number_formula(ref, spec["Follow-ups"], 0),
        f'IF(OR(TRIM({status})="",TRIM({status})="Open",TRIM({status})="Won",TRIM({status})="Lost"),"",'
        f'{_issue("Status must be Open, Won or Lost")})',
        f'IF(AND(TRIM({status})="Lost",TRIM({ref("Lost Reason")})=""),{_issue("Lost needs a reason")},"")',
        f'IF({no_p},{_issue(NO_ENGAGEMENT)},"")',
        _opportunity_overflow_formula(ref, learned),
    ]
    return issues_formula(ref, parts, PIPELINE_COLUMNS)


def _opportunity_overflow_formula(ref, learned: bool) -> str:
    """Opportunity ROT past what a cell holds (tiny Est. Hours): an issue, as in _opportunity_overflow."""
    amount, est = ref("Amount"), ref("Est. Hours")
    p = _engagement_expr(ref, learned)
    msg = _issue(too_large("Opportunity ROT"))
    ok_p = f'ISNUMBER(IFERROR({p},""))'
    return (f'IF(AND({_num(amount)},{_num_or_blank(est)}),IF({ok_p},IF({_deal_hours(ref)}=0,"",'
            f'IFERROR(IF(ABS({amount}*({p})/{_deal_hours(ref)})>{XL_MAX_TEXT},{msg},""),{msg})),""),"")')


def pipeline_formulas(learned: bool = False) -> dict[str, str]:
    """The native formula of every derived Pipeline column, in table order. ``learned``: the table
    has a Learned Probability column (§9)."""
    ref = this_row("Pipeline")
    return {
        "Engagement": engagement_formula(ref, learned),
        "Expected Value": expected_value_formula(ref),
        "Opportunity ROT": opportunity_rot_formula(ref),
        "Priority": priority_formula(ref),
        "Next Follow-up": next_follow_up_formula(ref),
        "Overdue": overdue_formula(ref),
        "Issues": pipeline_issues_formula(ref, learned),
    }


def pipeline_threshold_formulas() -> dict[str, str]:
    open_rows = '*(Pipeline[Amount]<>"")*((TRIM(Pipeline[Status])="")+(TRIM(Pipeline[Status])="Open"))'
    return {
        "AmountMin": _valid_percentile_formula("Pipeline", "Amount", AMOUNT_MIN_PCT, open_rows),
        "BigDealAmount": _valid_percentile_formula("Pipeline", "Amount", BIG_DEAL_PCT, open_rows),
    }


def parse_status(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Status as "Open", "Won" or "Lost" (blank is Open, case ignored), and the bad mask.

    Read once per distinct value: a status column holds a handful of them.
    """
    t = read_text(s)
    canon = {st.casefold(): st for st in schema.STATUSES}
    names = np.array(["Open"] + [canon.get(u.casefold(), "") for u in t.uniques], dtype=object)
    status = names[t.codes + 1]
    return status, status == ""


@dataclass
class _Pipeline:
    amount: np.ndarray
    p: np.ndarray
    est_hours: np.ndarray
    due: np.ndarray  # datetime64[D]: Last Contact + CadenceDays; NaT where none
    follow: np.ndarray  # Open rows that get a follow-up, whatever their other issues (§2)
    status: np.ndarray
    issues: Issues
    valid: np.ndarray
    kept: np.ndarray


def _learned_values(df: pd.DataFrame, learned, s: Settings) -> np.ndarray | None:
    if not s.use_learned:
        return None
    if learned is not None:
        return parse_numbers(pd.Series(np.asarray(learned, dtype=object))).values
    if LEARNED_PROBABILITY in df.columns:
        return parse_numbers(df[LEARNED_PROBABILITY]).values
    return None


def _opportunity_overflow(issues: Issues, amount: Parsed, est: Parsed, p: np.ndarray, default_hours: float) -> None:
    inputs = amount.number & (est.blank | est.number) & ~np.isnan(p)
    if inputs.any():
        with np.errstate(over="ignore"):  # an overflow to inf is what this looks for
            r = opportunity_rot(amount.values * p, est.values, default_hours)
        issues.add(inputs & ~np.isnan(r) & ~(np.abs(r) <= XL_MAX), too_large("Opportunity ROT"))


def _read_pipeline(df: pd.DataFrame, s: Settings, learned=None) -> _Pipeline:
    cols = _cols(df, PIPELINE_COLUMNS)
    spec = {c.header: c for c in PIPELINE_COLUMNS}
    ids = read_text(cols["Opportunity ID"], id_like=True)
    numbers = {h: parse_numbers(cols[h]) for h in ("Amount", "Probability", *FACTORS, "Est. Hours", "Follow-ups")}
    close, last = parse_dates(cols["Close Date"]), parse_dates(cols["Last Contact"])
    empty = _empty_rows([ids.blank, close.blank, last.blank, *(p.blank for p in numbers.values())], cols,
                        {"Opportunity ID", "Close Date", "Last Contact", *numbers})
    issues = Issues(len(df), skip=empty)
    check_id(issues, ids, spec["Opportunity ID"])
    for h, p in numbers.items():
        if h == "Follow-ups":  # in the order of the columns, as the Issues formula has them
            issues.add(close.bad, "Close Date must be a date")
            issues.add(last.bad, "Last Contact must be a date")
            late = ~np.isnat(last.values) & (last.values > LAST_DATE - np.timedelta64(int(s.cadence_days), "D"))
            issues.add(late, TOO_LATE)
        check_number(issues, p, spec[h], *((0, 5) if h in FACTORS else (0,) if h == "Follow-ups" else ()))
    status, bad_status = parse_status(cols["Status"])
    issues.add(bad_status, "Status must be Open, Won or Lost")
    issues.add((status == "Lost") & read_text(cols["Lost Reason"]).blank, "Lost needs a reason")
    prob = numbers["Probability"]
    learned_p = _learned_values(df, learned, s)
    p = engagement(prob.values, [numbers[f].values for f in FACTORS], s.weights, learned_p)
    issues.add(np.isnan(p) & ~prob.bad, NO_ENGAGEMENT)
    _opportunity_overflow(issues, numbers["Amount"], numbers["Est. Hours"], p, s.default_deal_hours)
    valid = ~issues.any() & ~empty
    follow = ~empty & (status == "Open") & ~last.bad & ~late
    due = np.where(late, np.datetime64("NaT"), next_follow_up(np.where(late, np.datetime64("NaT"), last.values), s.cadence_days))
    return _Pipeline(numbers["Amount"].values, np.where(valid, p, np.nan), numbers["Est. Hours"].values, due, follow,
                     status, issues, valid, _kept(df))


def _pipeline_thresholds(pl: _Pipeline, s: Settings) -> dict[str, float]:
    open_amounts = pl.amount[pl.valid & ~pl.kept & (pl.status == "Open")]
    return {
        "PMin": s.p_min,
        "AmountMin": s.amount_min if s.amount_min is not None else percentile_inc(open_amounts, AMOUNT_MIN_PCT),
        "BigDealAmount": s.big_deal_amount if s.big_deal_amount is not None else percentile_inc(open_amounts, BIG_DEAL_PCT),
    }


def pipeline_thresholds(df: pd.DataFrame, settings: Settings | None = None, learned=None) -> dict[str, float]:
    """PMin, AmountMin and BigDealAmount: the given settings, or computed from the valid open rows."""
    s = settings or Settings()
    return _pipeline_thresholds(_read_pipeline(df, s, learned), s)


def score_pipeline(df: pd.DataFrame, settings: Settings | None = None, as_of: dt.date | None = None,
                   learned=None) -> pd.DataFrame:
    """The pipeline with Engagement, Expected Value, Opportunity ROT, Priority, Next Follow-up,
    Overdue and Issues appended. ``as_of`` (default: settings.as_of, else today) judges Overdue.

    With ``settings.use_learned`` (the default), Engagement is the learned probability (§9) where
    there is one: ``learned`` (one value per row), else the frame's Learned Probability column.
    """
    s = settings or Settings()
    as_of_day = np.datetime64(as_of or s.as_of_date(), "D")
    pl = _read_pipeline(df, s, learned)
    t = _pipeline_thresholds(pl, s)
    ev = expected_value(pl.amount, pl.p)
    live = pl.valid & (pl.status == "Open")
    prio = priority(pl.p, pl.amount, t["PMin"], t["AmountMin"], t["BigDealAmount"])
    prio[~live] = None
    contacted = ~np.isnat(pl.due)
    follow = np.full(len(df), None, dtype=object)
    dated = pl.follow & contacted
    follow[dated] = pl.due[dated].astype(object)
    follow[pl.follow & ~contacted] = CONTACT_NOW
    overdue = pd.array(np.where(pl.follow, contacted & (as_of_day > pl.due), False), dtype="boolean")
    overdue[~pl.follow] = pd.NA
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
