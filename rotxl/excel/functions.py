"""Worksheet functions (UDFs): the engine's rules (SPEC §1, §2), callable from a cell.

The same module serves classic xlwings on Windows (COM, "Import Functions") and xlwings
Server / Lite (Office.js): ``xw.func`` resolves to the right implementation per runtime.
The table functions call the engine (classify_accounts, score_pipeline). The one-cell functions
follow the engine's rules in plain Python, because a recalculation calls them thousands of
times; tests/test_functions.py holds them equal to the engine over random inputs.

Bad input comes back as an Excel error, never as a traceback:

- text where a number belongs, or a required argument left blank: #VALUE!
- a number out of its range (negative hours, aggravation 7, probability 1.2, RevenueFloor
  above RevenueHigh, ...): #NUM!
- effective hours (or deal hours) of 0: #DIV/0!
- an error arriving from another cell: that same error (Excel's propagation rule)
- anything unexpected: #VALUE! (and logged)
"""

import dataclasses
import datetime as dt
import functools
import importlib.util
import logging
import math
import os
import sys
from typing import Any, Callable

import numpy as np
import pandas as pd
import xlwings as xw

from ..rules import engine, schema
from ..rules.schema import ACCOUNT_COLUMNS, PIPELINE_COLUMNS, Column, MissingColumnsError
from ..rules.settings import FACTORS, Settings, SettingsError, check_floor_below_high

# The Python names are the Excel names: classic xlwings registers a function under its
# Python name, so lower-case names would show up in Excel as =rot(...).
__all__ = [
    "ROT",
    "ROT_SEGMENT",
    "ROT_ACTION",
    "ROT_THRESHOLDS",
    "ROT_TABLE",
    "EXPECTED_VALUE",
    "ENGAGEMENT",
    "OPPORTUNITY_ROT",
    "OPPORTUNITY_PRIORITY",
    "NEXT_FOLLOW_UP",
    "PIPELINE_TABLE",
]

logger = logging.getLogger(__name__)


def _remember_no_pyodide() -> None:
    """Make xlwings' per-cell ``from pyodide.ffi import JsNull`` fail at once on CPython.

    xlwings' Office.js call path (xlwings Server, and these tests) tries that import for every
    argument and every cell of a range argument, to recognise Pyodide's JsNull. Outside Pyodide
    the import fails, Python does not remember the failure, and each attempt rescans sys.path:
    about 0.1 ms a cell, 5 of the 6 seconds of a 10,000-row ROT_TABLE. ``None`` in sys.modules
    is Python's own record of "this module cannot be imported": the same ImportError, at once.
    In Pyodide (xlwings Lite) the real module is found and nothing changes.
    """
    if sys.platform != "emscripten" and "pyodide" not in sys.modules and importlib.util.find_spec("pyodide") is None:
        sys.modules["pyodide"] = None  # type: ignore[assignment]


_remember_no_pyodide()

CATEGORY = "rotxl"  # classic xlwings' function-wizard category; the Office.js xlfunc ignores it
DEFAULTS = Settings()

# A cell's value as xlwings hands it over: float, int, str, bool, datetime or None (blank).
# Typed Any on purpose: every function checks what it gets, the engine's way.
Cell = Any
# A range read with ndim=2: its rows of cells.
Range = list[list[Any]]

ERRORS = ("#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!")
DIV0, NUM, VALUE = "#DIV/0!", "#NUM!", "#VALUE!"

# ---------------------------------------------------------------- returning an Excel error

_CLASSIC = sys.platform == "win32" and os.environ.get("XLWINGS_ON_SERVER") != "true"

if _CLASSIC:
    # Classic xlwings (COM) writes a returned "#NUM!" as text; a real error cell needs a
    # VT_ERROR variant holding Excel's HRESULT for it. Windows only, so untested here.
    import pythoncom
    from win32com.client import VARIANT

    _HRESULTS = {
        "#DIV/0!": -2146826281,
        "#N/A": -2146826246,
        "#NAME?": -2146826259,
        "#NULL!": -2146826288,
        "#NUM!": -2146826252,
        "#REF!": -2146826265,
        "#VALUE!": -2146826273,
    }

    def _error(code: str) -> Cell:
        return VARIANT(pythoncom.VT_ERROR, _HRESULTS[code])

else:

    def _error(code: str) -> Cell:
        # xlwings Server and Lite turn the error's text into the real error value.
        return code


class _Fail(Exception):
    """Raised inside a worksheet function to make it return the Excel error ``code``."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _excel_function(f: Callable[..., Cell]) -> Callable[..., Cell]:
    """Turns whatever goes wrong inside ``f`` into an Excel error value."""

    @functools.wraps(f)
    def wrapper(*args: Cell) -> Cell:
        try:
            return f(*args)
        except _Fail as e:
            return _error(e.code)
        except SettingsError:  # RevenueFloor above RevenueHigh, weights all 0, ...
            return _error(NUM)
        except MissingColumnsError as e:  # a table range without the spec's headers
            logger.info("%s: %s", f.__name__, e)
            return _error(VALUE)
        except Exception:
            logger.exception("%s failed", f.__name__)
            return _error(VALUE)

    return wrapper


def _propagate(*values: Cell) -> None:
    """Excel's rule: the first error value among the arguments is the result."""
    for v in values:
        if v.__class__ is str and v in ERRORS:
            raise _Fail(v)


# ---------------------------------------------------------------- reading one cell
#
# A worksheet function reads a handful of cells per call, thousands of times per recalculation,
# so the scalar functions read and check each cell in plain Python: about a microsecond, where
# the engine's column parsers cost ~100 µs for a one-cell column. The rules are the engine's
# (rotxl.rules.engine): tests/test_functions.py holds every scalar function equal to the engine
# over random inputs with hypothesis, extremes included. Text in a number or date cell is rare
# and read by the engine's own parser (cached).

# The largest number a spreadsheet holds (Excel: 9.99999999999999E+307); beyond it: #NUM!.
MAX_NUMBER = 9.99999999999999e307
# Excel's last date, 9999-12-31, as a serial number (1900 date system).
MAX_SERIAL = 2958465
_EPOCH = dt.date(1899, 12, 30)
_APPROX = engine._APPROX


@functools.lru_cache(maxsize=4096)
def _engine_parse(parse: Callable[[pd.Series], engine.Parsed], kind: type, value: Cell) -> tuple:
    # ``kind`` is part of the key because True == 1 == 1.0 hash alike but do not parse alike.
    p = parse(pd.Series([value], dtype=object))
    return p.values[0], bool(p.blank[0]), bool(p.bad[0])


def _scalar(value: Cell) -> Cell:
    if value.__class__ is list:  # a multi-cell range where one value belongs
        raise _Fail(VALUE)
    return value


def _read_number(value: Cell) -> float:
    """One cell as engine.parse_numbers reads it: NaN when blank; #VALUE! when not a number."""
    cls = value.__class__
    if cls is float or cls is int:
        v = float(value)
        if v != v:
            return v  # NaN: blank
    elif value is None:
        return math.nan
    elif cls is list:
        raise _Fail(VALUE)
    elif cls is str:
        v, blank, bad = _engine_parse(engine.parse_numbers, cls, value)
        if bad:
            raise _Fail(VALUE)
        v = float(v)
    else:  # bool, dates: not numbers to ISNUMBER either
        raise _Fail(VALUE)
    if v > MAX_NUMBER or v < -MAX_NUMBER:  # inf included: "is too large"
        raise _Fail(NUM)
    return v


def _number(value: Cell, col: Column, low: float = 0.0, high: float | None = None) -> float:
    """One cell read and checked as engine.check_number checks ``col``; NaN when blank (and allowed).

    Blank where required and text where a number belongs: #VALUE!; out of range: #NUM!.
    """
    cls = value.__class__
    if (cls is float or cls is int) and -MAX_NUMBER <= value <= MAX_NUMBER:
        v = float(value)  # the common case, without a second call
    elif value is None:
        v = math.nan
    else:
        v = _read_number(value)
    if v != v:
        if col.required:
            raise _Fail(VALUE)
        return v
    kind = col.kind
    if kind == "fraction":
        ok = 0 <= v <= 1
    elif kind == "whole":
        ok = v == math.floor(v) and v >= low and (high is None or v <= high)
    else:
        ok = v >= low
    if not ok:
        raise _Fail(NUM)
    return v


@functools.lru_cache(maxsize=None)
def _argument(name: str, kind: str = "number", required: bool = False) -> Column:
    return Column(name, kind, required)


def _setting(value: Cell, name: str, default: float | None) -> float | None:
    """A setting given as an argument, a number ≥ 0; blank is the spec's default."""
    if value is None:
        return default
    v = _number(value, _argument(name))
    return default if v != v else v


def _threshold(value: Cell, name: str, kind: str = "number") -> float:
    """A required threshold argument: same kind of number as the values it is compared with."""
    return _number(value, _argument(name, kind, True))


def _finite(x: float) -> float:
    """A result beyond what a spreadsheet holds (e.g. 1e308 × 10) is #NUM!, as in Excel."""
    if x > MAX_NUMBER or x < -MAX_NUMBER:
        raise _Fail(NUM)
    return x


def _date(value: Cell) -> dt.date | None:
    """A date: a date cell, an Excel serial number (Office.js sends dates so), ISO or US text."""
    cls = value.__class__
    if value is None:
        return None
    if cls is dt.date:
        return value
    if cls is dt.datetime or cls is pd.Timestamp:
        return value.date()
    if cls is float or cls is int:
        if not 1 <= value <= MAX_SERIAL:
            raise _Fail(VALUE if value < 1 else NUM)
        return _EPOCH + dt.timedelta(days=math.floor(value))
    if cls is list:
        raise _Fail(VALUE)
    day, blank, bad = _engine_parse(engine.parse_dates, cls, value)
    if bad:
        raise _Fail(VALUE)
    return None if blank else day.item()


# Scalar forms of engine.ge / le / lt: spreadsheets take numbers equal to 15 digits as equal.
def _approx_eq(a: float, b: float) -> bool:
    return a == b or abs(a - b) < min(abs(a), abs(b)) * _APPROX


def _ge(a: float, b: float) -> bool:
    return a >= b or _approx_eq(a, b)


def _le(a: float, b: float) -> bool:
    return a <= b or _approx_eq(a, b)


def _lt(a: float, b: float) -> bool:
    return a < b and not _approx_eq(a, b)


_ACC = {c.header: c for c in ACCOUNT_COLUMNS}
_OPP = {c.header: c for c in PIPELINE_COLUMNS}
REVENUE, HOURS, MARGIN, AGGRAVATION = _ACC["Revenue"], _ACC["Hours"], _ACC["Margin"], _ACC["Aggravation"]
AMOUNT, EST_HOURS = _OPP["Amount"], _OPP["Est. Hours"]
PROBABILITY = dataclasses.replace(_OPP["Probability"], required=True)  # optional in a table row only
CADENCE = Column("CadenceDays", "whole")


def _aggravation(value: Cell) -> float:
    return _number(value, AGGRAVATION, 1, 5)  # NaN when blank: the engine reads it as 1


def _aggravation_weight(value: Cell) -> float:
    return _setting(value, "AggravationWeight", DEFAULTS.aggravation_weight)


def _effective_hours(hours: float, aggravation: float, weight: float) -> float:
    """engine.effective_hours for one account; #NUM! beyond what a spreadsheet holds."""
    agg = 1.0 if aggravation != aggravation else aggravation
    return _finite(hours * (1 + weight * (agg - 1)))


# ---------------------------------------------------------------- ranges in, tables out


def _frame(table: Range) -> pd.DataFrame:
    """A range with a header row as a DataFrame. Entirely blank rows stay in: the engine
    leaves them blank (a table's spare row), so the result lines up with the input."""
    if not table or not table[0]:
        raise _Fail(VALUE)
    header, rows = table[0], table[1:]
    _propagate(*header)  # e.g. =ROT_TABLE(#REF!)
    return pd.DataFrame(rows, columns=["" if h is None else h for h in header])


def _out(v: object) -> Cell:
    """One result cell: blanks as "" (xlwings would turn NaN into #NUM!), numpy scalars as
    Python values, error texts (e.g. an #N/A read from the input) as error values."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, str) and v in ERRORS:
        return _error(v)
    return v


def _spill(out: pd.DataFrame) -> Range:
    """Header row and rows, ready for xlwings to write."""
    rows = out.astype(object).itertuples(index=False, name=None)
    return [[_out(h) for h in out.columns], *([_out(v) for v in row] for row in rows)]


def _serials_as_dates(out: pd.DataFrame, names: tuple[str, ...]) -> None:
    """Office.js hands date cells over as serial numbers; give the table's date columns
    back as dates, so they spill as dates rather than as 46000-ish numbers."""
    mapping = schema.resolve(list(out.columns), PIPELINE_COLUMNS)
    for name in names:
        if name not in mapping:
            continue
        values = out[mapping[name]].astype(object)
        p = engine.parse_dates(values)
        numeric = values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        as_date = numeric.to_numpy(dtype=bool) & ~p.blank & ~p.bad
        values[as_date] = list(p.values[as_date].astype(object))
        out[mapping[name]] = values


# ---------------------------------------------------------------- accounts (SPEC §1)


@xw.func(category=CATEGORY)
@xw.arg("revenue", doc="Revenue from the account over the period (a number ≥ 0).", err_to_str=True)
@xw.arg("hours", doc="Selling and service hours on the account (≥ 0). Blank: awaiting hours, returns blank.", err_to_str=True)
@xw.arg("aggravation", doc="Aggravation, a whole number 1–5. Blank = 1 (none).", err_to_str=True)
@xw.arg("margin", doc="Margin, a fraction 0–1. Blank = 1 (ROT on revenue).", err_to_str=True)
@xw.arg("aggravation_weight", doc=f"How much one step of aggravation inflates hours (≥ 0). Blank = {DEFAULTS.aggravation_weight:g}.", err_to_str=True)
@_excel_function
def ROT(revenue: Cell, hours: Cell, aggravation: Cell = None, margin: Cell = None, aggravation_weight: Cell = None) -> Cell:
    """Return on time: revenue × margin ÷ effective hours, effective hours = hours × (1 + weight × (aggravation − 1))."""
    _propagate(revenue, hours, aggravation, margin, aggravation_weight)
    rev = _number(revenue, REVENUE)
    h = _number(hours, HOURS)  # NaN when blank: awaiting hours
    agg = _aggravation(aggravation)
    m = _number(margin, MARGIN)
    w = _aggravation_weight(aggravation_weight)
    if h != h:
        return ""  # awaiting hours: not an issue, just no ROT yet
    eh = _effective_hours(h, agg, w)
    if eh == 0:
        raise _Fail(DIV0)
    return _finite(rev * (1.0 if m != m else m) / eh)


@xw.func(category=CATEGORY)
@xw.arg("revenue", doc="Revenue from the account over the period (a number ≥ 0).", err_to_str=True)
@xw.arg("hours", doc="Selling and service hours on the account (≥ 0). Blank: awaiting hours, returns blank.", err_to_str=True)
@xw.arg("revenue_high", doc="RevenueHigh: revenue at or above this is high revenue.", err_to_str=True)
@xw.arg("hours_high", doc="HoursHigh: effective hours above this are high maintenance.", err_to_str=True)
@xw.arg("revenue_floor", doc="RevenueFloor: revenue below this is a low producer (segment C). Blank = 0.", err_to_str=True)
@xw.arg("aggravation", doc="Aggravation, a whole number 1–5. Blank = 1 (none).", err_to_str=True)
@xw.arg("aggravation_weight", doc=f"How much one step of aggravation inflates hours (≥ 0). Blank = {DEFAULTS.aggravation_weight:g}.", err_to_str=True)
@_excel_function
def ROT_SEGMENT(
    revenue: Cell,
    hours: Cell,
    revenue_high: Cell,
    hours_high: Cell,
    revenue_floor: Cell = None,
    aggravation: Cell = None,
    aggravation_weight: Cell = None,
) -> Cell:
    """The account's segment: P no revenue (a prospect); C below the floor; A high revenue, low time; D high revenue, high time; B low time; E the rest."""
    _propagate(revenue, hours, revenue_high, hours_high, revenue_floor, aggravation, aggravation_weight)
    rev = _number(revenue, REVENUE)
    h = _number(hours, HOURS)
    high = _threshold(revenue_high, "RevenueHigh")
    hours_hi = _threshold(hours_high, "HoursHigh")
    floor = _setting(revenue_floor, "RevenueFloor", 0.0)
    agg = _aggravation(aggravation)
    w = _aggravation_weight(aggravation_weight)
    if h != h:
        return ""  # awaiting hours
    check_floor_below_high(floor, high)  # SettingsError: #NUM!
    eh = _effective_hours(h, agg, w)
    if eh != 0:
        _finite(rev / eh)  # ROT beyond what a cell holds: the table gives the row an issue, no segment
    # engine.segment, in the spec's order
    if rev == 0:
        return "P"
    if _lt(rev, floor):
        return "C"
    if _ge(rev, high):
        return "A" if _le(eh, hours_hi) else "D"
    return "B" if _le(eh, hours_hi) else "E"


@xw.func(category=CATEGORY)
@xw.arg("segment", doc="A segment letter A–E (blank returns blank).", err_to_str=True)
@_excel_function
def ROT_ACTION(segment: Cell) -> Cell:
    """What to do with an account of segment A–E, e.g. A: "Coddle and protect; leverage for referrals"."""
    _propagate(segment)
    seg = _scalar(segment)
    if seg is None or (isinstance(seg, str) and not seg.strip()):
        return ""  # no segment yet (awaiting hours), as in the Accounts table
    if not isinstance(seg, str) or seg.strip().upper() not in engine.ACTIONS:
        raise _Fail(VALUE)
    return engine.ACTIONS[seg.strip().upper()]


@xw.func(category=CATEGORY)
@xw.arg("accounts", ndim=2, doc="The accounts, header row first (Account ID, Account, Revenue, Hours, ...).", err_to_str=True)
@_excel_function
def ROT_THRESHOLDS(accounts: Range) -> Cell:
    """The default thresholds computed from the valid accounts: RevenueHigh, RevenueFloor and HoursHigh, as name/value rows."""
    t = engine.account_thresholds(_frame(accounts))
    # No valid rows: #NUM!, as PERCENTILE.INC over nothing gives in the workbook.
    return [[name, _error(NUM) if math.isnan(v) else v] for name, v in t.items()]


@xw.func(category=CATEGORY)
@xw.arg("accounts", ndim=2, doc="The accounts, header row first (Account ID, Account, Revenue, Hours, ...).", err_to_str=True)
@xw.arg("revenue_high", doc="RevenueHigh. Blank: the 70th percentile of valid revenues.", err_to_str=True)
@xw.arg("hours_high", doc="HoursHigh. Blank: the median of valid effective hours.", err_to_str=True)
@xw.arg("revenue_floor", doc="RevenueFloor. Blank: the 20th percentile of valid revenues.", err_to_str=True)
@_excel_function
def ROT_TABLE(accounts: Range, revenue_high: Cell = None, hours_high: Cell = None, revenue_floor: Cell = None) -> Cell:
    """The accounts with Effective Hours, ROT, Segment, Action and Issues appended (spills, header row included)."""
    df = _frame(accounts)
    _propagate(revenue_high, hours_high, revenue_floor)
    given = {  # None: computed from the data, as the Settings sheet does
        key: _setting(value, name, None)
        for key, value, name in (
            ("revenue_high", revenue_high, "RevenueHigh"),
            ("hours_high", hours_high, "HoursHigh"),
            ("revenue_floor", revenue_floor, "RevenueFloor"),
        )
    }
    return _spill(engine.classify_accounts(df, Settings(**given)))


# ---------------------------------------------------------------- opportunities (SPEC §2)


@xw.func(category=CATEGORY)
@xw.arg("amount", doc="Opportunity amount (a number ≥ 0).", err_to_str=True)
@xw.arg("probability", doc="Engagement probability, a fraction 0–1.", err_to_str=True)
@_excel_function
def EXPECTED_VALUE(amount: Cell, probability: Cell) -> Cell:
    """Expected value of an opportunity: amount × probability."""
    _propagate(amount, probability)
    a = _number(amount, AMOUNT)
    p = _number(probability, PROBABILITY)
    return _finite(a * p)


@xw.func(category=CATEGORY)
@xw.arg("scores", ndim=2, doc="Five scores 0–5, in order: " + ", ".join(FACTORS) + ". Blanks drop out.", err_to_str=True)
# weights names its converter (list): xlwings cannot pick one from the union type hint.
@xw.arg("weights", list, ndim=2, doc="Five weights ≥ 0, in the same order. Blank = " + ", ".join(f"{w:g}" for w in DEFAULTS.weights) + ".", err_to_str=True)
@_excel_function
def ENGAGEMENT(scores: Range, weights: Range | None = None) -> Cell:
    """Likelihood of engaging (0–1) from five factor scores: Σ weight × score ÷ (5 × Σ weight) over the scored factors."""
    cells = [c for row in scores for c in row]
    _propagate(*cells)
    if len(cells) != len(FACTORS):
        raise _Fail(VALUE)
    cols = [_OPP[name] for name in FACTORS]
    sc = [_number(c, col, 0, 5) for c, col in zip(cells, cols)]
    w = DEFAULTS.weights
    if weights is not None:
        given = [c for row in weights for c in row]
        _propagate(*given)
        if len(given) != len(FACTORS):
            raise _Fail(VALUE)
        w = tuple(_threshold(c, "Weight") for c in given)
        Settings(weights=w)  # the engine's own check: not all 0 (SettingsError: #NUM!)
    # engine.engagement: the scored factors only, summed in the same order
    num = den = 0.0
    for weight, score in zip(w, sc):
        if score == score:
            num += weight * score
            den += weight
    if den == 0:
        raise _Fail(VALUE)  # no score at all: "No probability or engagement scores"
    return num / (5 * den)


@xw.func(category=CATEGORY)
@xw.arg("amount", doc="Opportunity amount (a number ≥ 0).", err_to_str=True)
@xw.arg("probability", doc="Engagement probability, a fraction 0–1.", err_to_str=True)
@xw.arg("hours", doc=f"Selling hours still needed (≥ 0). Blank = DefaultDealHours, {DEFAULTS.default_deal_hours:g}.", err_to_str=True)
@_excel_function
def OPPORTUNITY_ROT(amount: Cell, probability: Cell, hours: Cell = None) -> Cell:
    """Return on time of an opportunity: expected value (amount × probability) ÷ hours still needed."""
    _propagate(amount, probability, hours)
    a = _number(amount, AMOUNT)
    p = _number(probability, PROBABILITY)
    h = _number(hours, EST_HOURS)
    hours_left = DEFAULTS.default_deal_hours if h != h else h
    if hours_left == 0:
        raise _Fail(DIV0)
    return _finite(_finite(a * p) / hours_left)


_STATUS = {s.casefold(): s for s in schema.STATUSES}


def _status(value: Cell) -> str:
    """engine.parse_status for one cell: blank is Open, case ignored; anything else #VALUE!."""
    if value is None:
        return "Open"
    if value.__class__ is not str:
        raise _Fail(VALUE)
    text = value.strip()
    if not text:
        return "Open"
    st = _STATUS.get(text.casefold())
    if st is None:
        raise _Fail(VALUE)
    return st


@xw.func(category=CATEGORY)
@xw.arg("amount", doc="Opportunity amount (a number ≥ 0).", err_to_str=True)
@xw.arg("probability", doc="Engagement probability, a fraction 0–1.", err_to_str=True)
@xw.arg("p_min", doc=f"PMin: below this likelihood engagement is too low (the spec's default is {DEFAULTS.p_min:g}).", err_to_str=True)
@xw.arg("amount_min", doc="AmountMin: below this amount revenue potential is too low.", err_to_str=True)
@xw.arg("big_deal_amount", doc="BigDealAmount: big enough to nurture even at low likelihood.", err_to_str=True)
@xw.arg("status", doc="Open, Won or Lost. Blank = Open; Won and Lost return blank.", err_to_str=True)
@_excel_function
def OPPORTUNITY_PRIORITY(
    amount: Cell, probability: Cell, p_min: Cell, amount_min: Cell, big_deal_amount: Cell, status: Cell = None
) -> Cell:
    """Pursue (likely and big enough), Nurture (a big deal) or Deprioritize; blank for Won and Lost."""
    _propagate(amount, probability, p_min, amount_min, big_deal_amount, status)
    a = _number(amount, AMOUNT)
    p = _number(probability, PROBABILITY)
    pmin = _threshold(p_min, "PMin", "fraction")
    amin = _threshold(amount_min, "AmountMin")
    big = _threshold(big_deal_amount, "BigDealAmount")
    if _status(_scalar(status)) != "Open":
        return ""
    # engine.priority
    if _ge(p, pmin) and _ge(a, amin):
        return "Pursue"
    return "Nurture" if _ge(a, big) else "Deprioritize"


@xw.func(category=CATEGORY)
@xw.arg("last_contact", doc="Date of the last contact. Blank returns \"Contact now\".", err_to_str=True)
@xw.arg("cadence_days", doc=f"Days between follow-ups, a whole number ≥ 0. Blank = {DEFAULTS.cadence_days}.", err_to_str=True)
@_excel_function
def NEXT_FOLLOW_UP(last_contact: Cell, cadence_days: Cell = None) -> Cell:
    """Date of the next follow-up: last contact + cadence days ("Contact now" when there was no contact)."""
    _propagate(last_contact, cadence_days)
    last = _date(_scalar(last_contact))
    days = _number(cadence_days, CADENCE, 0)
    cadence = DEFAULTS.cadence_days if days != days else int(days)
    if last is None:
        return engine.CONTACT_NOW
    # engine.next_follow_up; past Excel's last date (9999-12-31) is #NUM!
    if last.toordinal() + cadence > dt.date.max.toordinal():
        raise _Fail(NUM)
    return last + dt.timedelta(days=cadence)


@xw.func(category=CATEGORY)
@xw.arg("pipeline", ndim=2, doc="The opportunities, header row first (Opportunity ID, Amount, Probability, ...).", err_to_str=True)
@xw.arg("as_of", doc="The date Overdue is judged on. Blank = today (when the function last calculated).", err_to_str=True)
@_excel_function
def PIPELINE_TABLE(pipeline: Range, as_of: Cell = None) -> Cell:
    """The pipeline with Engagement, Expected Value, Opportunity ROT, Priority, Next Follow-up, Overdue and Issues appended."""
    df = _frame(pipeline)
    _propagate(as_of)
    day = _date(_scalar(as_of))
    out = engine.score_pipeline(df, as_of=day)
    _serials_as_dates(out, ("Close Date", "Last Contact"))
    return _spill(out)


# ---------------------------------------------------------------- the weekly plan (SPEC §8)


def _plan_frame(table: Range) -> pd.DataFrame | None:
    """A table range, or None when the argument is blank (a plan of accounts or deals only)."""
    if table is None or table == [[None]] or (isinstance(table, list) and all(v is None for row in table for v in row)):
        return None
    return _frame(table)


@xw.func(category=CATEGORY)
@xw.arg("accounts", ndim=2, doc="The accounts, header row first (Account ID, Account, Owner, Revenue, Hours, ...). Blank: deals only.", err_to_str=True)
@xw.arg("pipeline", ndim=2, doc="The opportunities, header row first (Opportunity ID, Owner, Amount, ...). Blank: accounts only.", err_to_str=True)
@xw.arg("weekly_hours", doc=f"Selling hours in the week (≥ 0). Blank = {DEFAULTS.weekly_hours:g}.", err_to_str=True)
@xw.arg("as_of", doc="First day of the week planned. Blank = today (when the function last calculated).", err_to_str=True)
@_excel_function
def ROT_PLAN(accounts: Range, pipeline: Range = None, weekly_hours: Cell = None, as_of: Cell = None) -> Cell:
    """The week's plan per owner: follow-ups first, then the hours that pay most (spills Owner, Rank, Kind, Name, Account, Why, Plan Hours, Planned Return)."""
    from ..rules.plan import make_plan

    _propagate(weekly_hours, as_of)
    acc, pipe = _plan_frame(accounts), _plan_frame(pipeline)
    day = _date(as_of)
    s = Settings(weekly_hours=_setting(weekly_hours, "WeeklyHours", DEFAULTS.weekly_hours),
                 as_of=day)
    result = make_plan(
        None if acc is None else engine.classify_accounts(acc, s),
        None if pipe is None else engine.score_pipeline(pipe, s),
        s,
    )
    return _spill(result.items.drop(columns=["Table", "Row"]))


__all__.append("ROT_PLAN")


# ---------------------------------------------------------------- learned engagement (SPEC §9)
# Self-contained: the learned model lives in rotxl.rules.learn; this only reads ranges and spills.

from ..rules import learn as _learn  # noqa: E402

__all__.append("LEARNED_PROBABILITY")


@xw.func(category=CATEGORY)
@xw.arg("history", ndim=2, doc="Closed and open deals to learn from, header row first (Status Won/Lost, factor scores, Amount, ...).", err_to_str=True)
@xw.arg("pipeline", ndim=2, doc="The deals to score, header row first; may be the same range as history.", err_to_str=True)
@xw.arg("learn_from", doc='Extra columns to learn from, comma-separated, e.g. "Lead Source,Industry". Blank = none.', err_to_str=True)
@xw.arg("as_of", doc="Learn from deals closed within 24 months of this date. Blank = today.", err_to_str=True)
@_excel_function
def LEARNED_PROBABILITY(history: Range, pipeline: Range, learn_from: Cell = None, as_of: Cell = None) -> Cell:
    """Learned Probability and Why for each pipeline row, learned from the history's won and lost deals (or why nothing was learned)."""
    _propagate(learn_from, as_of)
    hist, pipe = _frame(history), _frame(pipeline)
    day = _date(as_of)
    names = [] if learn_from in (None, "") else str(learn_from).split(",")
    try:
        model = _learn.learn_from(hist, Settings(as_of=None if day is None else pd.Timestamp(day).date()), names)
    except (_learn.LearnError, MissingColumnsError):
        raise _Fail(VALUE)
    if isinstance(model, _learn.Shortfall):
        return model.message
    prob, why = model.score(pipe)
    return _spill(pd.DataFrame({_learn.LEARNED: prob, _learn.WHY: why}))
