"""Worksheet functions (UDFs): the engine's rules (SPEC §1, §2), callable from a cell.

The same module serves classic xlwings on Windows (COM, "Import Functions") and xlwings
Server / Lite (Office.js): ``xw.func`` resolves to the right implementation per runtime.
The functions do not re-implement the spec: they read each cell with the engine's parsers,
check it with the engine's rules (engine.check_number) and compute with the engine's rule
functions on one-element arrays; the table functions call classify_accounts / score_pipeline.

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
from ..rules.settings import FACTORS, Settings, SettingsError

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
            with np.errstate(over="ignore"):  # an overflow is inf, which _finite makes #NUM!
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
        if isinstance(v, str) and v in ERRORS:
            raise _Fail(v)


# ---------------------------------------------------------------- reading one cell, the engine's way


def _one(value: object, blank: bool, bad: bool) -> engine.Parsed:
    return engine.Parsed(np.array([value]), np.array([blank]), np.array([bad]))


@functools.lru_cache(maxsize=4096)
def _engine_parse(parse: Callable[[pd.Series], engine.Parsed], kind: type, value: Cell) -> tuple:
    # The engine's parsers work on columns, at ~1 ms per call for a one-cell column; the
    # cache keeps recalculations of the same dates and texts cheap. ``kind`` is part of
    # the key because True == 1 == 1.0 hash alike but do not parse alike.
    p = parse(pd.Series([value], dtype=object))
    return p.values[0], bool(p.blank[0]), bool(p.bad[0])


def _scalar(value: Cell) -> Cell:
    if isinstance(value, list):  # a multi-cell range where one value belongs
        raise _Fail(VALUE)
    return value


def _parse_number(value: Cell) -> engine.Parsed:
    value = _scalar(value)
    if value is None:
        return _one(np.nan, True, False)
    if type(value) in (float, int):
        # The common case, read as engine.parse_numbers reads a numeric column (NaN is
        # blank, ±inf is bad) without its pandas round trip. bool is not a number, as there.
        v = float(value)
        return _one(v if math.isfinite(v) else np.nan, math.isnan(v), math.isinf(v))
    return _one(*_engine_parse(engine.parse_numbers, type(value), value))


def _number(value: Cell, col: Column, low: float = 0.0, high: float | None = None) -> float:
    """One cell read and checked as the engine checks ``col``; NaN when blank (and allowed)."""
    p = _parse_number(value)
    issues = engine.Issues(1)
    engine.check_number(issues, p, col, low, high)
    if issues.any()[0]:
        raise _Fail(VALUE if p.bad[0] or p.blank[0] else NUM)
    return float(p.values[0])


def _setting(value: Cell, name: str, default: float | None) -> float | None:
    """A setting given as an argument, a number ≥ 0; blank is the spec's default."""
    v = _number(value, Column(name, "number"))
    return default if math.isnan(v) else v


def _threshold(value: Cell, name: str, kind: str = "number") -> float:
    """A required threshold argument: same kind of number as the values it is compared with."""
    return _number(value, Column(name, kind, required=True))


def _finite(x: float) -> float:
    """A result too large for a float (e.g. 1e308 × 10) is #NUM!, as in Excel."""
    if math.isinf(x):
        raise _Fail(NUM)
    return float(x)


def _date(value: Cell) -> np.datetime64 | None:
    """A date (date cell, Excel serial number, ISO or US text) read by engine.parse_dates."""
    value = _scalar(value)
    if value is None:
        return None
    day, blank, bad = _engine_parse(engine.parse_dates, type(value), value)
    if bad:
        raise _Fail(VALUE)
    return None if blank else day


_ACC = {c.header: c for c in ACCOUNT_COLUMNS}
_OPP = {c.header: c for c in PIPELINE_COLUMNS}
REVENUE, HOURS, MARGIN, AGGRAVATION = _ACC["Revenue"], _ACC["Hours"], _ACC["Margin"], _ACC["Aggravation"]
AMOUNT, EST_HOURS = _OPP["Amount"], _OPP["Est. Hours"]
PROBABILITY = dataclasses.replace(_OPP["Probability"], required=True)  # optional in a table row only


def _aggravation(value: Cell) -> float:
    return _number(value, AGGRAVATION, 1, 5)  # NaN when blank: the engine reads it as 1


def _aggravation_weight(value: Cell) -> float:
    return _setting(value, "AggravationWeight", DEFAULTS.aggravation_weight)


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
    if np.isnan(h):
        return ""  # awaiting hours: not an issue, just no ROT yet
    eh = engine.effective_hours(np.array([h]), np.array([agg]), w)
    r = engine.rot(np.array([rev]), np.array([m]), eh)[0]
    if np.isnan(r):
        raise _Fail(DIV0)  # effective hours are 0
    return _finite(r)


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
    """The account's segment: A high revenue, low time; B low time; C revenue below the floor; D high revenue, high time; E the rest."""
    _propagate(revenue, hours, revenue_high, hours_high, revenue_floor, aggravation, aggravation_weight)
    rev = _number(revenue, REVENUE)
    h = _number(hours, HOURS)
    high = _threshold(revenue_high, "RevenueHigh")
    hours_hi = _threshold(hours_high, "HoursHigh")
    floor = _setting(revenue_floor, "RevenueFloor", 0.0)
    agg = _aggravation(aggravation)
    w = _aggravation_weight(aggravation_weight)
    if np.isnan(h):
        return ""  # awaiting hours
    eh = engine.effective_hours(np.array([h]), np.array([agg]), w)
    seg = engine.segment(np.array([rev]), eh, high, hours_hi, floor)[0]  # SettingsError: #NUM!
    return seg or ""


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
    return str(engine.action(np.array([seg.strip().upper()], dtype=object))[0])


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
    return _finite(engine.expected_value(np.array([a]), np.array([p]))[0])


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
    sc = [np.array([_number(c, col, 0, 5)]) for c, col in zip(cells, cols)]
    w = DEFAULTS.weights
    if weights is not None:
        given = [c for row in weights for c in row]
        _propagate(*given)
        if len(given) != len(FACTORS):
            raise _Fail(VALUE)
        w = tuple(_threshold(c, "Weight") for c in given)
        Settings(weights=w)  # the engine's own check: not all 0 (SettingsError: #NUM!)
    p = engine.engagement(np.array([np.nan]), sc, w)[0]
    if np.isnan(p):
        raise _Fail(VALUE)  # no score at all: "No probability or engagement scores"
    return float(p)


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
    ev = engine.expected_value(np.array([a]), np.array([p]))
    r = engine.opportunity_rot(ev, np.array([h]), DEFAULTS.default_deal_hours)[0]
    if np.isnan(r):
        raise _Fail(DIV0)  # hours are 0
    return _finite(r)


@functools.lru_cache(maxsize=256)
def _parse_status(kind: type, value: Cell) -> tuple[str, bool]:
    status, bad = engine.parse_status(pd.Series([value], dtype=object))
    return str(status[0]), bool(bad[0])


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
    st, bad = _parse_status(type(status), _scalar(status))
    if bad:
        raise _Fail(VALUE)
    if st != "Open":
        return ""
    return str(engine.priority(np.array([p]), np.array([a]), pmin, amin, big)[0])


@xw.func(category=CATEGORY)
@xw.arg("last_contact", doc="Date of the last contact. Blank returns \"Contact now\".", err_to_str=True)
@xw.arg("cadence_days", doc=f"Days between follow-ups, a whole number ≥ 0. Blank = {DEFAULTS.cadence_days}.", err_to_str=True)
@_excel_function
def NEXT_FOLLOW_UP(last_contact: Cell, cadence_days: Cell = None) -> Cell:
    """Date of the next follow-up: last contact + cadence days ("Contact now" when there was no contact)."""
    _propagate(last_contact, cadence_days)
    last = _date(last_contact)
    days = _number(cadence_days, Column("CadenceDays", "whole"), 0)
    cadence = DEFAULTS.cadence_days if math.isnan(days) else int(days)
    if last is None:
        return engine.CONTACT_NOW
    due: dt.date = engine.next_follow_up(np.array([last], dtype="datetime64[D]"), cadence)[0].item()
    return due


@xw.func(category=CATEGORY)
@xw.arg("pipeline", ndim=2, doc="The opportunities, header row first (Opportunity ID, Amount, Probability, ...).", err_to_str=True)
@xw.arg("as_of", doc="The date Overdue is judged on. Blank = today (when the function last calculated).", err_to_str=True)
@_excel_function
def PIPELINE_TABLE(pipeline: Range, as_of: Cell = None) -> Cell:
    """The pipeline with Engagement, Expected Value, Opportunity ROT, Priority, Next Follow-up, Overdue and Issues appended."""
    df = _frame(pipeline)
    _propagate(as_of)
    day = _date(as_of)
    out = engine.score_pipeline(df, as_of=None if day is None else day.item())
    _serials_as_dates(out, ("Close Date", "Last Contact"))
    return _spill(out)


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
