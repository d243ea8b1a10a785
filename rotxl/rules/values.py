"""Reading what people type and CRMs export: numbers and dates as a spreadsheet reads them (SPEC §7.1).

Pure functions over one column at a time. A value is parsed once per distinct text; the choices
that depend on the whole column (is the comma a decimal mark? is 03/04 the 3rd of April?) are
made from the values that decide them, and reported, so nothing is guessed silently.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

# ---------------------------------------------------------------- numbers

# Symbols and prefixed dollars, longest first so "US$" is not read as "US" + "$".
CURRENCY_SYMBOLS: dict[str, str] = {
    "US$": "USD", "CA$": "CAD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "R$": "BRL", "C$": "CAD", "A$": "AUD",
    "S$": "SGD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY",
    "₪": "ILS", "zł": "PLN", "Kč": "CZK", "kr.": "kr", "kr": "kr", "Fr.": "CHF", "R": "ZAR",
}
# ISO 4217 codes of the currencies a sales team is likely to see, written before or after the digits.
CURRENCY_CODES: frozenset[str] = frozenset(
    "USD EUR GBP CHF JPY CNY RMB INR CAD AUD NZD SEK NOK DKK ISK PLN CZK HUF RON BGN HRK RSD BRL MXN ARS CLP COP "
    "PEN UYU ZAR SGD HKD TWD KRW THB MYR IDR PHP VND PKR BDT LKR RUB UAH TRY ILS AED SAR QAR KWD BHD OMR JOD EGP "
    "NGN KES GHS MAD TND".split()
)
_CURRENCY = "|".join(
    [re.escape(s) for s in sorted(CURRENCY_SYMBOLS, key=len, reverse=True)] + sorted(CURRENCY_CODES)
)
# pre: signs, an opening parenthesis and a currency; body: digits and separators; post: %, ) and a currency.
_SPACES = " \u00a0\u202f\u2009"
_GROUP = "'\u2019" + _SPACES  # thousands separators that are never a decimal mark
_NUMBER_TEXT = re.compile(
    rf"(?P<pre>[-+\u2212(\s]*(?:(?:{_CURRENCY})[-+\u2212(\s]*)?)"
    rf"(?P<body>[.,]?\d(?:[\d.,{_GROUP}]*\d)?)"
    rf"(?P<post>[\s%)]*(?:(?:{_CURRENCY})[\s%)]*)?)",
    re.IGNORECASE,
)
_CURRENCY_IN = re.compile(_CURRENCY, re.IGNORECASE)
_PRE_NOISE = re.compile(r"[\s(]|" + _CURRENCY, re.IGNORECASE)
# "$1,234.56", "-$1,234.5", "$1,234,567", "$12.50": a decimal point beyond doubt (not "$1,234" or "$1.234").
_US_BULK = re.compile(r"-?\$?-?(?:[1-9]\d{0,2}(?:,\d{3})+\.\d+|[1-9]\d{0,2}(?:,\d{3}){2,}|\d+\.(?:\d{1,2}|\d{4,}))")
_US_MONEY = re.compile(r"(?P<open>\()?(?P<neg>-)?(?P<cur>[$€£¥₹])?(?P<int>[1-9]\d{0,2}(?:,\d{3})+|\d+)"
                       r"(?:\.(?P<frac>\d+))?(?P<close>\))?")


@dataclass(frozen=True)
class NumberText:
    """One typed number: its value when the decimal mark is "." and when it is ",".

    ``style`` is the mark the text itself decides ("." or ","), or "" when it decides nothing:
    no mark at all (both values equal), or one mark followed by exactly three digits ("1,234"),
    which reads 1234 or 1.234 depending on the column.
    """

    point: float
    comma: float
    style: str
    currency: str  # ISO code ("kr" for the Nordic crowns), "" when none was written


def _grouped(digits: str, sep: str) -> bool:
    """``digits`` (an integer part) is valid with ``sep`` as thousands separator(s)."""
    if not any(c in digits for c in sep):
        return digits.isdigit() or digits == ""
    groups = re.split("[" + re.escape(sep) + "]", digits)
    head, rest = groups[0], groups[1:]
    if 1 <= len(head) <= 3 and all(len(g) == 3 and g.isdigit() for g in rest) and head.isdigit():
        return True
    # Indian grouping (lakh, crore): 12,34,567
    return sep.strip(_GROUP) == "," and bool(re.fullmatch(r"\d{1,2}(,\d{2})*,\d{3}", digits))


def _value(body: str, mark: str) -> float | None:
    """The body read with ``mark`` as decimal mark and the other mark (and spaces) as groups."""
    other = "," if mark == "." else "."
    whole, _, frac = body.rpartition(mark) if mark in body else (body, "", "")
    if mark in whole or not frac.isdigit() and frac != "" or (mark in body and frac == ""):
        return None
    if not _grouped(whole, other + _GROUP):
        return None
    digits = re.sub(r"\D", "", whole)
    try:
        return float(Decimal((digits or "0") + "." + (frac or "0")))
    except InvalidOperation:
        return None


def read_number(text: str, percent: bool = False) -> NumberText | None:
    """A typed number as spreadsheets read it: "$1,234.50", "(1.234,00 €)", "12,5 %", "CHF 1'250".

    ``percent``: the column holds percentages (its header carries "%"): the value is ÷ 100,
    once, whether or not it ends in "%". None when the text is not a number ("12k", "n/a").
    """
    t = text.strip()
    q = _US_MONEY.fullmatch(t)
    if q and ("," in q["int"] or q["frac"] is None) and bool(q["open"]) == bool(q["close"]) and not (
            q["open"] and q["neg"]):
        # The common case, "$1,234.56", "(1,234.00)" or "1,234", without the general parse.
        whole, frac = q["int"], q["frac"]
        sign = -1.0 if q["neg"] or q["open"] else 1.0
        point = sign * float(whole.replace(",", "") + "." + (frac or "0"))
        ambiguous = frac is None and whole.count(",") == 1
        comma = sign * float(whole.replace(",", ".")) if ambiguous else point
        if percent:
            point, comma = percent_of(point), percent_of(comma)
        style = "" if ambiguous or "," not in whole else "."
        return NumberText(point, comma, style, CURRENCY_SYMBOLS[q["cur"]] if q["cur"] else "")
    m = _NUMBER_TEXT.fullmatch(t)
    if not m:
        return None
    pre, body, post = m["pre"], m["body"], m["post"]
    currencies = _CURRENCY_IN.findall(pre) + _CURRENCY_IN.findall(post)
    if len(currencies) > 1:
        return None
    currency = ""
    if currencies:
        c = currencies[0]
        currency = c.upper() if c.upper() in CURRENCY_CODES else CURRENCY_SYMBOLS.get(c, c)
        if c not in CURRENCY_SYMBOLS and c.upper() not in CURRENCY_CODES:
            return None
        if c.upper() in CURRENCY_CODES and c != c.upper():
            return None  # "usd 5" is a word, not a code
    signs = _PRE_NOISE.sub("", pre)
    opened, closed = pre.count("("), post.count(")")
    pct = post.count("%")
    if len(signs) > 1 or opened != closed or opened > 1 or pct > 1 or (opened and signs):
        return None
    negative = signs in ("-", "\u2212") or opened == 1
    body = re.sub("[" + _GROUP + "]", " ", body)
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        style = "." if body.rfind(".") > body.rfind(",") else ","
    elif dots + commas > 1:
        style = "," if dots else "."  # a repeated mark groups thousands: the other is decimal
    elif dots + commas == 1:
        mark = "." if dots else ","
        whole, _, frac = body.partition(mark)
        three = len(frac) == 3 and " " not in whole and re.fullmatch(r"[1-9]\d{0,2}", whole)
        style = "" if three else mark
    else:
        style = ""
    point = _value(body, ".") if style in (".", "") else None
    comma = _value(body, ",") if style in (",", "") else None
    if style == ".":
        comma = point
    elif style == ",":
        point = comma
    if point is None or comma is None:
        return None

    def finish(v: float) -> float:
        v = -v if negative else v
        if percent or pct:
            v = float(Decimal(repr(v)) / 100)
        return v

    return NumberText(finish(point), finish(comma), style, currency)


def percent_of(v: float) -> float:
    """v ÷ 100 as the decimal text reads it: 33.3 → 0.333, not 0.33299999999999996."""
    return float(Decimal(repr(float(v))) / 100)


@dataclass
class NumberColumn:
    """A number column read: values (float, NaN where blank or not a number), and what decided it."""

    values: np.ndarray
    ok: np.ndarray  # bool: read as a number
    style: str  # the decimal mark used for values that do not decide it themselves ("." or ",")
    decided: bool  # the column's own values decided the style
    ambiguous: bool  # some values read differently with the other style ("1,234")
    mixed_marks: bool  # values decided both styles; the majority won
    currencies: list[str] = field(default_factory=list)
    point_votes: int = 0
    comma_votes: int = 0
    blank: np.ndarray | None = None  # bool: empty or only spaces
    from_floats: bool = False  # read from numbers, not text (a workbook's, or a CSV read typed)


def _is_text(v: object) -> bool:
    return isinstance(v, str)


def _blank_texts(texts: np.ndarray) -> np.ndarray:
    """"" or only spaces, for an array of str."""
    blank = np.zeros(len(texts), dtype=bool)
    low = np.flatnonzero(texts < "!")  # "" and texts starting with a space or control character
    if low.size:
        blank[low] = np.array([not t.strip() for t in texts[low]], dtype=bool)
    return blank


def _split_kinds(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of the str cells, the numeric cells (int or float, not bool) and the missing cells."""
    missing = pd.isna(arr)
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    n = len(arr)
    if kind in ("string", "empty"):
        return ~missing, np.zeros(n, bool), missing
    if kind in ("floating", "integer", "mixed-integer-float", "decimal"):
        return np.zeros(n, bool), ~missing, missing
    is_str = np.fromiter((type(v) is str for v in arr), bool, n)
    numeric = np.fromiter((type(v) in (int, float) for v in arr), bool, n)
    return is_str, numeric & ~missing, missing


def read_numbers(s: pd.Series, percent: bool = False) -> NumberColumn:
    """Read a column's numbers (text and numeric cells); decide its decimal mark where its values do.

    The style of undecided columns is settled by ``settle`` once the whole file is read.
    """
    n = len(s)
    values = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        # a numeric dtype (a frame built in Python, or a workbook column of numbers only)
        v = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64")
        good = np.isfinite(v)
        if percent:
            values[good] = [percent_of(x) for x in v[good]]
        else:
            values = np.where(good, v, np.nan)
        return NumberColumn(values, good, ".", False, False, False, blank=np.isnan(v), from_floats=True)
    arr = s.to_numpy(dtype=object)
    if isinstance(s.dtype, pd.StringDtype) and not s.hasnans:
        is_str, numeric, blank = np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    else:
        is_str, numeric, blank = _split_kinds(arr)
    # Numeric cells of a workbook are numbers already (booleans and dates are not numbers).
    if numeric.any():
        v = arr[numeric].astype("float64")
        good = np.isfinite(v)
        idx = np.flatnonzero(numeric)[good]
        values[idx] = [percent_of(x) for x in v[good]] if percent else v[good]
        ok[idx] = True
    text_idx = np.flatnonzero(is_str)
    point_votes = comma_votes = 0
    currencies: dict[str, int] = {}
    ambiguous_rows = np.zeros(0, dtype=np.int64)
    amb_point = amb_comma = np.zeros(0)
    if text_idx.size:
        texts = arr[text_idx]
        blank[text_idx] = _blank_texts(texts)
        # Parse each distinct text once when values repeat; else straight through pandas' C parser.
        head = texts[: 10_000]
        if len(pd.unique(head)) * 5 < len(head) or percent:
            codes, uniq = pd.factorize(texts)
        else:
            codes, uniq = None, texts
        uniq = np.asarray(uniq, dtype=object)
        fast = pd.to_numeric(pd.Series(uniq, dtype=object), errors="coerce").to_numpy(dtype="float64")
        fast_ok = np.isfinite(fast)
        # Plain decimals ("1234.56", "12", "1e3"), read by pandas' C parser: right whenever the
        # point is the decimal mark. Style codes: 0 the text decides nothing, 1 point, 2 comma.
        u_point = np.where(fast_ok, fast, np.nan)
        u_comma = u_point.copy()
        u_style = np.zeros(len(uniq), dtype=np.int8)
        u_ok = fast_ok.copy()
        u_cur = np.full(len(uniq), "", dtype=object)
        av = np.abs(fast)
        frac = fast_ok & (fast != np.floor(fast))
        surely_point = frac & ((av >= 1000) | (av < 1) | (np.abs(fast * 1000 - np.round(fast * 1000)) > 1e-6 * av))
        u_style[surely_point] = 1
        rest = np.flatnonzero(~fast_ok)
        if rest.size > 1000 and not percent:
            # Many distinct "$1,234.56": the values whose text surely has a decimal point, in bulk.
            texts = pd.Series(uniq[rest], dtype=object)
            bulk = texts.str.fullmatch(_US_BULK).to_numpy(dtype=bool)
            if bulk.any():
                idx = rest[bulk]
                u_point[idx] = u_comma[idx] = pd.to_numeric(
                    texts[bulk].str.replace(r"[$,]", "", regex=True), errors="coerce").to_numpy(dtype="float64")
                u_ok[idx] = np.isfinite(u_point[idx])
                u_style[idx] = np.where(u_ok[idx], 1, 0)
                u_cur[idx[texts[bulk].str.startswith("$").to_numpy(dtype=bool)
                          | texts[bulk].str.startswith("-$").to_numpy(dtype=bool)]] = "USD"
                rest = rest[~bulk]
        # Everything else: formatted numbers, blanks and text, once per distinct text.
        for i in rest:
            t = uniq[i]
            if not t.strip():
                continue
            r = read_number(t, percent)
            if r is not None:
                u_point[i], u_comma[i], u_ok[i] = r.point, r.comma, True
                u_style[i] = 1 if r.style == "." else 2 if r.style == "," else 0
                if r.currency:
                    u_cur[i] = r.currency
        # Plain values in [1, 1000) with up to three decimals may be a thousands-grouped "1.234":
        # their text matters only when a comma may be the column's mark, or nothing decides it.
        maybe = fast_ok & ~surely_point & (av >= 1) & (av < 1000)
        parsed = np.zeros(len(uniq), dtype=bool)
        if maybe.any() and ((u_style == 2).any() or not (u_style == 1).any()):
            for i in np.flatnonzero(maybe):
                r = read_number(uniq[i], percent)
                if r is not None:
                    u_point[i], u_comma[i] = r.point, r.comma
                    u_style[i] = 1 if r.style == "." else 2 if r.style == "," else 0
                    parsed[i] = True
        if percent:  # ÷ 100 once: the plain values read_number did not already read
            redo = np.flatnonzero(fast_ok & ~parsed)
            u_point[redo] = u_comma[redo] = [percent_of(x) for x in fast[redo]]
        if codes is not None:
            t_point, t_comma, t_style, t_ok = u_point[codes], u_comma[codes], u_style[codes], u_ok[codes]
            per_unique = np.bincount(codes[codes >= 0], minlength=len(uniq))
        else:
            t_point, t_comma, t_style, t_ok = u_point, u_comma, u_style, u_ok
            per_unique = np.ones(len(uniq), dtype=np.int64)
        has_cur = np.flatnonzero(u_cur != "")
        if has_cur.size:
            for c, k in pd.Series(per_unique[has_cur]).groupby(u_cur[has_cur]).sum().items():
                currencies[str(c)] = int(k)
        point_votes, comma_votes = int(np.count_nonzero(t_style == 1)), int(np.count_nonzero(t_style == 2))
        amb = t_ok & (t_style == 0) & (t_point != t_comma)
        ambiguous_rows = text_idx[amb]
        amb_point, amb_comma = t_point[amb], t_comma[amb]
        values[text_idx[t_ok]] = t_point[t_ok]
        ok[text_idx[t_ok]] = True
        # A value whose own text decides the style is read that way, whatever the column's style.
        by_comma = t_ok & (t_style == 2)
        values[text_idx[by_comma]] = t_comma[by_comma]
    style = "," if comma_votes > point_votes else "."
    col = NumberColumn(values, ok, style, bool(point_votes or comma_votes), ambiguous_rows.size > 0,
                       bool(point_votes and comma_votes), sorted(currencies, key=lambda c: (-currencies[c], c)),
                       point_votes, comma_votes, blank)
    col._ambiguous = (ambiguous_rows, amb_point, amb_comma)  # type: ignore[attr-defined]
    if style == ",":
        col.values[ambiguous_rows] = amb_comma
    return col


def text_needed(col: NumberColumn) -> bool:
    """A column read from numbers whose text could have been a thousands-grouped "1.234": with no
    value that is surely decimal, in a file whose decimal mark is a comma, its text is needed."""
    if not col.from_floats:
        return False
    v = col.values[col.ok]
    av = np.abs(v)
    sure = (v != np.floor(v)) & ((av >= 1000) | (av < 1) | (np.abs(v * 1000 - np.round(v * 1000)) > 1e-6 * av))
    return bool(not sure.any() and ((av >= 1) & (av < 1000)).any())


def settle(col: NumberColumn, style: str) -> None:
    """Read an undecided column's ambiguous values ("1,234") with the file's ``style``."""
    rows, point, comma = col._ambiguous  # type: ignore[attr-defined]
    col.style = style
    col.values[rows] = comma if style == "," else point


def file_style(columns: list[NumberColumn], delimiter: str | None) -> str:
    """The decimal mark of a file's undecided columns: the majority of its decided columns, else
    the delimiter's convention (European Excel writes ';' between fields and ',' as the mark)."""
    decided = [c.style for c in columns if c.decided]
    points, commas = decided.count("."), decided.count(",")
    if points != commas:
        return "." if points > commas else ","
    return "," if delimiter == ";" else "."


# ---------------------------------------------------------------- dates

EXCEL_EPOCH = dt.date(1899, 12, 30)
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_MONTH = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_TIME = r"(?:[T\s,]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[ap]\.?m\.?)?\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?|[A-Z]{3,4})?)?"
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
_ISO = re.compile(r"(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})" + _TIME, re.I)
_NUMERIC = re.compile(r"(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})" + _TIME, re.I)
_MONTH_DAY = re.compile(_WEEKDAY + _MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})" + _TIME, re.I)
_DAY_MONTH = re.compile(_WEEKDAY + r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s-]+" + _MONTH + r",?[\s-]+(?P<y>\d{4}|\d{2})" + _TIME, re.I)
_SERIAL = re.compile(r"\d{1,7}(?:\.\d+)?")


def _year(y: str) -> int:
    # Excel's two-digit years: 00–29 are 20xx, 30–99 are 19xx.
    n = int(y)
    return n if len(y) == 4 else (2000 + n if n < 30 else 1900 + n)


def _date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def serial_date(v: float) -> dt.date | None:
    """An Excel serial number (1900 date system) as a date; the time of day is dropped."""
    if not math.isfinite(v) or not 1 <= v < 2958466:
        return None
    return EXCEL_EPOCH + dt.timedelta(days=int(math.floor(v)))


@dataclass(frozen=True)
class DateText:
    """One typed date: read month-first and day-first (equal unless a numeric "03/04/2026"), and
    which order its own text decides ("mdy", "dmy" or "")."""

    month_first: dt.date | None
    day_first: dt.date | None
    order: str


def read_date(text: str) -> DateText | None:
    """A typed date as written: ISO (zone offsets ignored: the calendar date as written), US or
    day-first numeric, "Nov 23, 2026", "23 Nov 2026", "23.11.2026", or an Excel serial number."""
    t = text.strip()
    if m := _ISO.fullmatch(t):
        d = _date(int(m["y"]), int(m["m"]), int(m["d"]))
        return DateText(d, d, "") if d else None
    if m := _NUMERIC.fullmatch(t):
        a, b, y = int(m["a"]), int(m["b"]), _year(m["y"])
        if m["sep"] == ".":  # 23.11.2026: dotted dates are day-first wherever they are written
            d = _date(y, b, a)
            return DateText(d, d, "") if d else None
        mdy, dmy = _date(y, a, b), _date(y, b, a)
        if mdy is None and dmy is None:
            return None
        order = "" if (mdy and dmy) else ("mdy" if mdy else "dmy")
        return DateText(mdy, dmy, order)
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        if m := pattern.fullmatch(t):
            d = _date(_year(m["y"]), _MONTHS[m["mon"][:3].lower()], int(m["d"]))
            return DateText(d, d, "") if d else None
    if _SERIAL.fullmatch(t):
        d = serial_date(float(t))
        return DateText(d, d, "") if d else None
    return None


@dataclass
class DateColumn:
    """A date column read: values (datetime64[D], NaT where blank or not a date), and its order."""

    values: np.ndarray
    ok: np.ndarray
    order: str  # "mdy" or "dmy": how numeric dates that do not decide it themselves were read
    decided: bool
    ambiguous: bool  # some numeric dates read differently day-first ("03/04/2026")
    mixed: bool  # values decided both orders; the majority won (a tie: month-first)
    blank: np.ndarray | None = None


def read_dates(s: pd.Series) -> DateColumn:
    """Read a column's dates: text, workbook dates and Excel serial numbers, once per distinct value."""
    n = len(s)
    arr = s.to_numpy(dtype=object)
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) else s
        values = v.to_numpy(dtype="datetime64[D]")
        return DateColumn(values, ~np.isnat(values), "mdy", False, False, False, np.isnat(values))
    codes, uniq = pd.factorize(arr, use_na_sentinel=True)
    mdy: list[dt.date | None] = []
    dmy: list[dt.date | None] = []
    orders: list[str] = []
    for u in uniq:
        d: DateText | None = None
        if isinstance(u, str):
            d = read_date(u) if u.strip() else None
        elif isinstance(u, (dt.datetime, pd.Timestamp)):
            x = u.date()
            d = DateText(x, x, "")
        elif isinstance(u, dt.date):
            d = DateText(u, u, "")
        elif isinstance(u, (int, float, np.integer, np.floating)) and not isinstance(u, (bool, np.bool_)):
            x = serial_date(float(u))
            d = DateText(x, x, "") if x else None
        mdy.append(d.month_first if d else None)
        dmy.append(d.day_first if d else None)
        orders.append(d.order if d else "")
    u_orders = np.array(orders, dtype=object)
    row_orders = np.where(codes >= 0, u_orders[np.maximum(codes, 0)] if len(uniq) else "", "")
    votes_mdy, votes_dmy = int((row_orders == "mdy").sum()), int((row_orders == "dmy").sum())
    order = "dmy" if votes_dmy > votes_mdy else "mdy"
    chosen = [(a if o == "mdy" else b if o == "dmy" else (b if order == "dmy" and b else a if a else b))
              for a, b, o in zip(mdy, dmy, orders)]
    u_values = np.array([np.datetime64(c, "D") if c else np.datetime64("NaT") for c in chosen], dtype="datetime64[D]")
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    has = codes >= 0
    if len(uniq):
        values[has] = u_values[codes[has]]
    amb_u = np.array([o == "" and a is not None and b is not None and a != b for a, b, o in zip(mdy, dmy, orders)], bool)
    ambiguous = bool(len(uniq) and amb_u[codes[has]].any())
    u_blank = np.array([u is None or (isinstance(u, str) and not u.strip()) or (isinstance(u, float) and u != u)
                        for u in uniq], dtype=bool)
    blank = ~has.copy()
    if len(uniq):
        blank[has] = u_blank[codes[has]]
    return DateColumn(values, ~np.isnat(values), order, bool(votes_mdy or votes_dmy), ambiguous,
                      bool(votes_mdy and votes_dmy), blank)


# ---------------------------------------------------------------- text for the terminal

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """Text safe to print on a terminal: control characters (escape sequences, bidi overrides)
    removed, line breaks and tabs as spaces."""
    return _CONTROL.sub("", str(text).replace("\r\n", " ").replace("\n", " ").replace("\t", " "))


__all__ = [
    "CURRENCY_CODES",
    "CURRENCY_SYMBOLS",
    "DateColumn",
    "DateText",
    "NumberColumn",
    "NumberText",
    "file_style",
    "percent_of",
    "printable",
    "read_date",
    "read_dates",
    "read_number",
    "read_numbers",
    "serial_date",
    "settle",
]
