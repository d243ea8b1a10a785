"""The worksheet functions, called the way Excel calls them on xlwings Server and Lite.

Every call goes through xlwings' own custom-function machinery (custom_functions_call with
an Office.js-shaped payload), so argument conversion, blanks, error values coming in and
error values going out are xlwings' real behaviour, not a stand-in. conftest.py switches
xlwings to that machinery before it is imported.
"""

import asyncio
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xlwings
from xlwings.server import custom_functions_call, custom_functions_meta

from rotxl.rules import engine

from rotxl.excel import functions
from rotxl.rules.settings import FACTORS, Settings, SettingsError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # udfs.py lives at the repo root
import udfs  # noqa: E402

EPOCH = dt.date(1899, 12, 30)  # Excel's serial 0
ERROR_TYPES = {
    "#DIV/0!": "Div0",
    "#N/A": "NotAvailable",
    "#NAME?": "Name",
    "#NULL!": "Null",
    "#NUM!": "Num",
    "#REF!": "Ref",
    "#VALUE!": "Value",
}


def call(func_name: str, *args, runtime: str = "1.4"):
    """One Excel call: scalars as [[v]], ranges as rows, omitted arguments as None."""
    data = {
        "func_name": func_name,
        "args": list(args),
        "version": xlwings.__version__,
        "client": "Office.js",
        "runtime": runtime,
        "culture_info_name": "en-US",
        "date_format": "m/d/yyyy",
        "caller_address": "Sheet1!B2",
    }
    return asyncio.run(custom_functions_call(data, udfs))


def c(value):
    """A one-cell argument."""
    return [[value]]


def xl_error(code: str) -> dict:
    """An error value arriving from a cell, as Office.js sends it."""
    return {"type": "Error", "basicValue": code, "errorType": ERROR_TYPES[code]}


def err(code: str) -> dict:
    """An error value as xlwings hands it back to Excel (runtime 1.4 and later)."""
    return {"type": "Error", "errorType": ERROR_TYPES[code]}


def one(result):
    assert len(result) == 1 and len(result[0]) == 1, result
    return result[0][0]


def date_out(day: dt.date) -> dict:
    return {"type": "FormattedNumber", "basicValue": float((day - EPOCH).days), "numberFormat": "m/d/yyyy"}


# ---------------------------------------------------------------- registration


PARAMS = {
    "ROT": (["revenue", "hours"], ["aggravation", "margin", "aggravation_weight"]),
    "ROT_SEGMENT": (
        ["revenue", "hours", "revenue_high", "hours_high"],
        ["revenue_floor", "aggravation", "aggravation_weight"],
    ),
    "ROT_ACTION": (["segment"], []),
    "ROT_THRESHOLDS": (["accounts"], []),
    "ROT_TABLE": (["accounts"], ["revenue_high", "hours_high", "revenue_floor"]),
    "EXPECTED_VALUE": (["amount", "probability"], []),
    "ENGAGEMENT": (["scores"], ["weights"]),
    "OPPORTUNITY_ROT": (["amount", "probability"], ["hours"]),
    "OPPORTUNITY_PRIORITY": (["amount", "probability", "p_min", "amount_min", "big_deal_amount"], ["status"]),
    "NEXT_FOLLOW_UP": (["last_contact"], ["cadence_days"]),
    "PIPELINE_TABLE": (["pipeline"], ["as_of"]),
    "ROT_PLAN": (["accounts"], ["pipeline", "weekly_hours", "as_of"]),
    "LEARNED_PROBABILITY": (["history", "pipeline"], ["learn_from", "as_of"]),
}


def test_meta_lists_every_function_with_descriptions_and_optional_flags():
    meta = custom_functions_meta(udfs)
    funcs = {f["name"]: f for f in meta["functions"]}
    assert set(funcs) == set(PARAMS) == set(functions.__all__)
    for name, (required, optional) in PARAMS.items():
        f = funcs[name]
        assert f["description"].strip() and "\n" not in f["description"]
        assert [p["name"] for p in f["parameters"]] == required + optional
        for p in f["parameters"]:
            assert p["description"].strip()
            assert not p["description"].startswith("Positional argument"), (name, p["name"])
            assert p.get("optional", False) is (p["name"] in optional), (name, p["name"])


def test_every_argument_receives_error_values_as_text():
    # Without err_to_str an error cell would arrive as None, i.e. as a blank.
    for name in functions.__all__:
        for arg in getattr(udfs, name).__xlfunc__["args"]:
            assert arg["options"].get("err_to_str") is True, (name, arg["name"])


# ---------------------------------------------------------------- ROT


def spec_rot(revenue, hours, aggravation=1, margin=1, weight=0.25):
    return revenue * margin / (hours * (1 + weight * (aggravation - 1)))


@pytest.mark.parametrize(
    "revenue, hours, aggravation, margin, weight",
    [
        (120_000, 40, 1, 1, 0.25),
        (120_000, 40, 3, 0.35, 0.25),
        (5_000, 2.5, 5, 1, 0.4),
        (0, 10, 2, 0.5, 0.25),
        (98_765.43, 17.5, 4, 0.62, 0),
    ],
)
def test_rot_is_the_spec_formula(revenue, hours, aggravation, margin, weight):
    got = one(call("ROT", c(revenue), c(hours), c(aggravation), c(margin), c(weight)))
    assert got == pytest.approx(spec_rot(revenue, hours, aggravation, margin, weight), rel=1e-12)


@pytest.mark.parametrize("blank", [None, ""])  # argument left out / a blank cell
def test_rot_blank_optionals_take_the_spec_defaults(blank):
    assert one(call("ROT", c(1000), c(20), c(blank), c(blank), c(blank))) == pytest.approx(50.0)
    assert one(call("ROT", c(1000), c(20), c(3), c(blank), c(blank))) == pytest.approx(spec_rot(1000, 20, 3))
    assert one(call("ROT", c(1000), c(20), None, None, None)) == pytest.approx(50.0)


def test_rot_reads_text_numbers_as_the_engine_does():
    assert one(call("ROT", c(" 1000 "), c(20), None, c("60%"), None)) == pytest.approx(30.0)


@pytest.mark.parametrize("blank", [None, ""])
def test_rot_awaiting_hours_is_blank_not_an_error(blank):
    assert one(call("ROT", c(1000), c(blank), None, None, None)) == ""


@pytest.mark.parametrize(
    "args, code",
    [
        ((0, 40, None, None, None), None),  # sanity: valid
        ((1000, 0, None, None, None), "#DIV/0!"),
        ((1000, 0, 5, 0.5, None), "#DIV/0!"),
        ((1000, 10, 1, 1, 0), None),
        (("12k", 10, None, None, None), "#VALUE!"),
        ((1000, "ten", None, None, None), "#VALUE!"),
        ((True, 10, None, None, None), "#VALUE!"),
        ((None, 10, None, None, None), "#VALUE!"),  # revenue is required
        ((-1, 10, None, None, None), "#NUM!"),
        ((1000, -5, None, None, None), "#NUM!"),
        ((1000, 10, 0, None, None), "#NUM!"),
        ((1000, 10, 6, None, None), "#NUM!"),
        ((1000, 10, 2.5, None, None), "#NUM!"),
        ((1000, 10, "high", None, None), "#VALUE!"),
        ((1000, 10, None, 1.5, None), "#NUM!"),
        ((1000, 10, None, -0.1, None), "#NUM!"),
        ((1000, 10, None, None, -0.25), "#NUM!"),
        ((1000, 10, None, None, "x"), "#VALUE!"),
    ],
)
def test_rot_bad_input_is_an_excel_error(args, code):
    got = one(call("ROT", *(c(a) for a in args)))
    if code is None:
        assert isinstance(got, float)
    else:
        assert got == err(code)


@pytest.mark.parametrize("code", list(ERROR_TYPES))
def test_rot_propagates_error_values(code):
    assert one(call("ROT", c(xl_error(code)), c(10), None, None, None)) == err(code)
    assert one(call("ROT", c(1000), c(10), None, None, c(xl_error(code)))) == err(code)


def test_the_first_error_in_argument_order_wins():
    # An incoming error beats a bad value after it, and among bad values the first one counts.
    assert one(call("ROT", c(1000), c(xl_error("#REF!")), c(9), None, None)) == err("#REF!")
    assert one(call("ROT", c(-1), c("x"), None, None, None)) == err("#NUM!")
    assert one(call("ROT", c(1000), c(10), None, c(1.5), c("x"))) == err("#NUM!")


def test_errors_are_plain_strings_before_runtime_1_4():
    assert one(call("ROT", c(1000), c(0), None, None, None, runtime="1.3")) == "#DIV/0!"
    assert one(call("ROT", c("x"), c(1), None, None, None, runtime="1.3")) == "#VALUE!"


def test_a_range_where_one_value_belongs_is_value_error():
    assert one(call("ROT", [[1000, 2000]], c(10), None, None, None)) == err("#VALUE!")


def test_a_result_beyond_float_range_is_num_error():
    assert one(call("ROT", c(1e308), c(1e-10), None, None, None)) == err("#NUM!")
    assert one(call("OPPORTUNITY_ROT", c(1e308), c(1), c(1e-10))) == err("#NUM!")


def test_an_unexpected_exception_becomes_value_error(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(functions, "_effective_hours", broken)
    assert one(call("ROT", c(1000), c(10), None, None, None)) == err("#VALUE!")


def test_scalar_calls_build_no_pandas_objects(monkeypatch):
    # Per-call overhead: numbers and blanks are read without the engine's pandas round trip.
    def forbidden(*args, **kwargs):
        raise AssertionError("pandas object built in a scalar call")

    monkeypatch.setattr(functions.pd, "Series", forbidden)
    monkeypatch.setattr(functions.pd, "DataFrame", forbidden)
    assert one(call("ROT", c(1000), c(20), c(3), None, None)) == pytest.approx(spec_rot(1000, 20, 3))
    assert one(call("ROT_SEGMENT", c(1000), c(20), c(900), c(30), None, None, None)) == "A"


@pytest.mark.parametrize(
    "value",
    [0, 7, 12.5, -3.25, 1e300, 1e308, -1e308, float("nan"), float("inf"), None, "12", " 60% ", "12k", "", True, False, "1e3",
     dt.date(2026, 1, 2)],
)
def test_the_plain_number_reading_is_the_engines(value):
    ref = engine.parse_numbers(pd.Series([value], dtype=object))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ref = engine.parse_numbers(pd.Series([value], dtype="float64"))  # how a numeric column reads
    try:
        got = functions._read_number(value)
    except functions._Fail as e:
        # not a number (#VALUE!) or beyond what a spreadsheet holds (#NUM!)
        assert ref.bad[0] or abs(ref.values[0]) > functions.MAX_NUMBER, (value, e.code)
        return
    assert not ref.bad[0]
    assert (np.isnan(got) and ref.blank[0]) or got == ref.values[0]


# ---------------------------------------------------------------- ROT_SEGMENT, ROT_ACTION


@pytest.mark.parametrize(
    "revenue, hours, aggravation, expected",
    [
        (150, 10, None, "A"),
        (100, 20, None, "A"),  # revenue at RevenueHigh is high, EH at HoursHigh is low time
        (150, 21, None, "D"),
        (150, 16, 3, "D"),  # aggravation pushes EH to 24
        (60, 10, None, "B"),
        (60, 30, None, "E"),
        (49.99, 5, None, "C"),
        (49.99, 500, 5, "C"),
    ],
)
def test_rot_segment_follows_the_spec_order(revenue, hours, aggravation, expected):
    got = one(call("ROT_SEGMENT", c(revenue), c(hours), c(100), c(20), c(50), c(aggravation), None))
    assert got == expected
    eh = engine.effective_hours(np.array([hours], float), np.array([np.nan if aggravation is None else aggravation]), 0.25)
    assert engine.segment(np.array([revenue], float), eh, 100, 20, 50)[0] == expected


def test_rot_segment_blank_floor_is_zero_and_blank_hours_is_blank():
    assert one(call("ROT_SEGMENT", c(1), c(5), c(100), c(20), None, None, None)) == "B"
    assert one(call("ROT_SEGMENT", c(0), c(5), c(100), c(20), None, None, None)) == "P"  # no revenue: a prospect
    assert one(call("ROT_SEGMENT", c(500), c(""), c(100), c(20), None, None, None)) == ""


@pytest.mark.parametrize(
    "args, code",
    [
        ((150, 10, 100, 20, 200, None, None), "#NUM!"),  # RevenueFloor above RevenueHigh
        ((150, 10, None, 20, None, None, None), "#VALUE!"),  # RevenueHigh is required
        ((150, 10, 100, "x", None, None, None), "#VALUE!"),
        ((150, 10, -100, 20, None, None, None), "#NUM!"),
        ((150, -1, 100, 20, None, None, None), "#NUM!"),
        ((150, 10, 100, 20, None, 9, None), "#NUM!"),
        ((150, 10, xl_error("#N/A"), 20, None, None, None), "#N/A"),
    ],
)
def test_rot_segment_errors(args, code):
    assert one(call("ROT_SEGMENT", *(c(a) for a in args))) == err(code)


def test_rot_action_gives_the_engine_texts():
    for seg, text in engine.ACTIONS.items():
        assert one(call("ROT_ACTION", c(seg))) == text
        assert one(call("ROT_ACTION", c(f" {seg.lower()} "))) == text
    assert one(call("ROT_ACTION", c(""))) == ""  # no segment yet (awaiting hours)
    assert one(call("ROT_ACTION", None)) == ""
    assert one(call("ROT_ACTION", c("F"))) == err("#VALUE!")
    assert one(call("ROT_ACTION", c(3))) == err("#VALUE!")
    assert one(call("ROT_ACTION", c(xl_error("#NAME?")))) == err("#NAME?")


# ---------------------------------------------------------------- accounts tables

ACCOUNT_HEADER = ["Account ID", "account", "REVENUE", "Hours", "Margin", "Aggravation", "Notes"]
ACCOUNT_ROWS = [
    ["ACC-1", "Acme", 120_000, 40, None, 2, "key"],
    ["ACC-2", "Globex", 8_000, "", 0.5, "", None],  # awaiting hours
    ["ACC-3", "Initech", "12k", 5, None, None, ""],
    ["ACC-4", "Hooli", 60_000, -5, None, None, None],
    ["ACC-5", "Wonka", xl_error("#N/A"), 3, None, None, None],
    ["ACC-6", "Stark", 30_000, 0, None, None, None],
    ["ACC-7", "Duff", 90_000, 12, "40%", 1, None],
    ["ACC-8", "Tyrell", 45_000, 9, 0.3, 4, None],
    ["ACC-9", "Umbrella", 2_500, 30, None, 5, None],
    ["ACC-1", "Acme twin", 1_000, 1, None, None, None],
    ["ACC-10", "Soylent", 75_000, 7, 1.4, None, None],
    [None, None, None, None, None, None, None],  # an entirely blank row inside the range
    ["ACC-11", "Wayne", 250_000, 60, 0.25, 3, None],
    ["", None, "", None, "", None, None],  # trailing blank row ("" and null both blank)
]


def engine_view(rows):
    """The rows as the engine sees them: blanks None, error cells as their text."""
    clean = []
    for row in rows:
        clean.append([v["basicValue"] if isinstance(v, dict) else (None if v == "" else v) for v in row])
    return pd.DataFrame(clean, columns=ACCOUNT_HEADER, dtype=object)


def blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def test_rot_table_matches_classify_accounts_row_by_row():
    result = call("ROT_TABLE", [ACCOUNT_HEADER, *ACCOUNT_ROWS], None, None, None)
    derived = ["Effective Hours", "ROT", "Segment", "Action", "Issues"]
    assert result[0] == ACCOUNT_HEADER + derived
    assert len(result) == 1 + len(ACCOUNT_ROWS)
    expected = engine.classify_accounts(engine_view(ACCOUNT_ROWS))
    for i in range(len(ACCOUNT_ROWS)):
        got = dict(zip(result[0], result[1 + i]))
        want = expected.iloc[i]
        for col in ("Effective Hours", "ROT"):
            assert got[col] == ("" if blank(want[col]) else pytest.approx(want[col], rel=1e-12)), (i, col)
        for col in ("Segment", "Action", "Issues"):
            assert got[col] == ("" if blank(want[col]) else want[col]), (i, col)
    # Blank rows stay blank rows, so the result lines up with its input.
    assert result[12] == [""] * 12 and result[14] == [""] * 12


def test_rot_table_cells_are_what_a_spill_needs():
    result = call("ROT_TABLE", [ACCOUNT_HEADER, *ACCOUNT_ROWS], None, None, None)
    rows = {r[1]: dict(zip(result[0], r)) for r in result[1:] if r[1]}  # by account name
    # By hand, from the spec: EH = 9 × (1 + 0.25 × (4 − 1)) = 15.75; ROT = 45000 × 0.3 ÷ 15.75.
    assert rows["Tyrell"]["Effective Hours"] == 15.75
    assert rows["Tyrell"]["ROT"] == pytest.approx(45_000 * 0.3 / 15.75, rel=1e-12)
    # Awaiting hours: no ROT, no segment, no issue. EH 0: ROT blank (not #DIV/0!) in tables.
    assert [rows["Globex"][k] for k in ("Effective Hours", "ROT", "Segment", "Issues")] == ["", "", "", ""]
    assert rows["Stark"]["ROT"] == "" and rows["Stark"]["Issues"] == ""
    # Bad cells: the row gets the engine's issue text and keeps its input, error values included.
    assert rows["Initech"]["Issues"] == "Revenue must be a number"
    assert rows["Wonka"]["REVENUE"] == err("#N/A") and rows["Wonka"]["Issues"] == "Revenue must be a number"
    assert rows["Hooli"]["Issues"] == "Hours must be ≥ 0"
    assert rows["Soylent"]["Issues"] == "Margin must be a fraction 0–1"
    assert rows["Acme"]["Issues"] == rows["Acme twin"]["Issues"] == "Duplicate Account ID ACC-1"
    assert rows["Acme"]["ROT"] == "" and rows["Acme"]["Notes"] == "key"
    # No NaN anywhere: xlwings would show it as #NUM!.
    assert all(cell != err("#NUM!") for r in result for cell in r)


def test_rot_table_with_thresholds_typed_over_the_defaults():
    rows = [r for r in ACCOUNT_ROWS if r[0] and r[0] != "ACC-1"]  # no duplicate: all rows count
    result = call("ROT_TABLE", [ACCOUNT_HEADER, *rows], c(70_000), c(15), c(10_000))
    expected = engine.classify_accounts(
        engine_view(rows), Settings(revenue_high=70_000, hours_high=15, revenue_floor=10_000)
    )
    got = [r[result[0].index("Segment")] for r in result[1:]]
    assert got == [s if isinstance(s, str) else "" for s in expected["Segment"]]
    assert "A" in got and "C" in got and "E" in got


@pytest.mark.parametrize(
    "thresholds, code",
    [
        ((1_000, None, 5_000), "#NUM!"),  # RevenueFloor above RevenueHigh
        ((None, None, 10**9), "#NUM!"),  # above the computed RevenueHigh
        (("high", None, None), "#VALUE!"),
        ((None, -1, None), "#NUM!"),
        ((None, xl_error("#DIV/0!"), None), "#DIV/0!"),
    ],
)
def test_rot_table_threshold_errors(thresholds, code):
    args = [None if t is None else c(t) for t in thresholds]
    assert one(call("ROT_TABLE", [ACCOUNT_HEADER, *ACCOUNT_ROWS], *args)) == err(code)


def test_rot_table_range_errors():
    assert one(call("ROT_TABLE", [["Name", "Sales"], ["x", 1]], None, None, None)) == err("#VALUE!")
    assert one(call("ROT_TABLE", c(xl_error("#REF!")), None, None, None)) == err("#REF!")
    only_header = call("ROT_TABLE", [["Account ID", "Account", "Revenue"]], None, None, None)
    assert only_header == [["Account ID", "Account", "Revenue", "Effective Hours", "ROT", "Segment", "Action", "Issues"]]


def test_rot_table_replaces_derived_columns_already_in_the_range():
    header = ["Account ID", "Account", "Revenue", "Hours", "ROT"]
    result = call("ROT_TABLE", [header, ["A", "a", 100, 4, 999], ["B", "b", 50, 5, None]], None, None, None)
    assert result[0] == ["Account ID", "Account", "Revenue", "Hours", "Effective Hours", "ROT", "Segment", "Action", "Issues"]
    assert result[1][5] == 25.0 and result[2][5] == 10.0


def test_rot_thresholds_are_the_engines():
    result = call("ROT_THRESHOLDS", [ACCOUNT_HEADER, *ACCOUNT_ROWS])
    t = engine.account_thresholds(engine_view(ACCOUNT_ROWS))
    assert [r[0] for r in result] == ["RevenueHigh", "RevenueFloor", "HoursHigh"]
    for name, value in result:
        assert value == pytest.approx(t[name], rel=1e-12)
    # By hand: valid revenues are 8000, 30000, 90000, 45000, 2500, 250000 (ACC-1 is a duplicate).
    revenues = np.array([8_000, 30_000, 90_000, 45_000, 2_500, 250_000], float)
    assert result[0][1] == pytest.approx(np.quantile(revenues, 0.7))
    assert result[1][1] == pytest.approx(np.quantile(revenues, 0.2))


def test_rot_thresholds_without_valid_rows_are_num_errors():
    result = call("ROT_THRESHOLDS", [ACCOUNT_HEADER, ["X", "x", "n/a", 1, None, None, None]])
    assert result == [["RevenueHigh", err("#NUM!")], ["RevenueFloor", err("#NUM!")], ["HoursHigh", err("#NUM!")]]


# ---------------------------------------------------------------- opportunities


@pytest.mark.parametrize(
    "amount, probability, expected",
    [(50_000, 0.4, 20_000.0), (1_234.5, 1, 1_234.5), (0, 0.5, 0.0), (10_000, "60%", 6_000.0)],
)
def test_expected_value(amount, probability, expected):
    assert one(call("EXPECTED_VALUE", c(amount), c(probability))) == pytest.approx(expected)


@pytest.mark.parametrize(
    "amount, probability, code",
    [
        (1000, 1.2, "#NUM!"),
        (1000, -0.1, "#NUM!"),
        (-5, 0.5, "#NUM!"),
        ("TBD", 0.5, "#VALUE!"),
        (1000, "likely", "#VALUE!"),
        (1000, None, "#VALUE!"),
        (None, 0.5, "#VALUE!"),
        (xl_error("#NULL!"), 0.5, "#NULL!"),
    ],
)
def test_expected_value_errors(amount, probability, code):
    assert one(call("EXPECTED_VALUE", c(amount), c(probability))) == err(code)


def test_engagement_is_the_weighted_score_formula():
    # Spec: Σ wᵢ·sᵢ ÷ (5 · Σ wᵢ) over the scored factors; default weights 3, 2, 2, 2, 1.
    assert one(call("ENGAGEMENT", [[5, 4, 3, 2, 1]], None)) == pytest.approx((15 + 8 + 6 + 4 + 1) / 50)
    # Blank factors (null or "") drop out of both sums.
    assert one(call("ENGAGEMENT", [[5, None, "", 3, None]], None)) == pytest.approx((15 + 6) / 25)
    # Weights as a row or as a column.
    assert one(call("ENGAGEMENT", [[5, 4, 3, 2, 1]], [[1, 1, 1, 1, 1]])) == pytest.approx(15 / 25)
    assert one(call("ENGAGEMENT", [[5], [4], [3], [2], [1]], [[0], [0], [0], [0], [1]])) == pytest.approx(0.2)
    scores = [np.array([s], float) for s in (5, 4, 3, 2, 1)]
    assert one(call("ENGAGEMENT", [[5, 4, 3, 2, 1]], None)) == engine.engagement(np.array([np.nan]), scores, (3, 2, 2, 2, 1))[0]


@pytest.mark.parametrize(
    "scores, weights, code",
    [
        ([[None, "", None, None, None]], None, "#VALUE!"),  # no score at all
        ([[6, 1, 1, 1, 1]], None, "#NUM!"),
        ([[2.5, 1, 1, 1, 1]], None, "#NUM!"),
        ([[-1, 1, 1, 1, 1]], None, "#NUM!"),
        ([["high", 1, 1, 1, 1]], None, "#VALUE!"),
        ([[1, 1, 1, 1]], None, "#VALUE!"),  # four cells, five factors
        ([[1, 1, xl_error("#N/A"), 1, 1]], None, "#N/A"),
        ([[1, 1, 1, 1, 1]], [[0, 0, 0, 0, 0]], "#NUM!"),
        ([[1, 1, 1, 1, 1]], [[1, -1, 1, 1, 1]], "#NUM!"),
        ([[1, 1, 1, 1, 1]], [[1, 1, None, 1, 1]], "#VALUE!"),
        ([[1, 1, 1, 1, 1]], [[1, 1, 1]], "#VALUE!"),
    ],
)
def test_engagement_errors(scores, weights, code):
    assert one(call("ENGAGEMENT", scores, weights)) == err(code)


def test_opportunity_rot():
    assert one(call("OPPORTUNITY_ROT", c(50_000), c(0.4), c(8))) == pytest.approx(2_500.0)
    # Blank hours: DefaultDealHours (10).
    assert one(call("OPPORTUNITY_ROT", c(50_000), c(0.4), None)) == pytest.approx(2_000.0)
    assert one(call("OPPORTUNITY_ROT", c(50_000), c(0.4), c(""))) == pytest.approx(2_000.0)
    assert one(call("OPPORTUNITY_ROT", c(50_000), c(0.4), c(0))) == err("#DIV/0!")
    assert one(call("OPPORTUNITY_ROT", c(50_000), c(0.4), c(-2))) == err("#NUM!")
    assert one(call("OPPORTUNITY_ROT", c(50_000), c(None), c(8))) == err("#VALUE!")


@pytest.mark.parametrize(
    "amount, probability, status, expected",
    [
        (20_000, 0.5, None, "Pursue"),
        (10_000, 0.2, "Open", "Pursue"),  # both rules are ≥
        (9_999, 0.9, "", "Deprioritize"),
        (200_000, 0.05, " open ", "Nurture"),
        (50_000, 0.1, None, "Deprioritize"),
        (20_000, 0.5, "Won", ""),
        (20_000, 0.5, "lost", ""),
    ],
)
def test_opportunity_priority(amount, probability, status, expected):
    got = one(call("OPPORTUNITY_PRIORITY", c(amount), c(probability), c(0.2), c(10_000), c(100_000), c(status)))
    assert got == expected


@pytest.mark.parametrize(
    "args, code",
    [
        ((20_000, 0.5, 0.2, 10_000, 100_000, "Maybe"), "#VALUE!"),
        ((20_000, 0.5, 1.5, 10_000, 100_000, None), "#NUM!"),
        ((20_000, 0.5, 0.2, None, 100_000, None), "#VALUE!"),
        ((20_000, 0.5, 0.2, 10_000, -1, None), "#NUM!"),
        ((20_000, 1.1, 0.2, 10_000, 100_000, "Won"), "#NUM!"),  # bad input beats Won
        ((20_000, 0.5, 0.2, 10_000, 100_000, xl_error("#N/A")), "#N/A"),
    ],
)
def test_opportunity_priority_errors(args, code):
    assert one(call("OPPORTUNITY_PRIORITY", *(c(a) for a in args))) == err(code)


def test_next_follow_up():
    serial = (dt.date(2026, 11, 1) - EPOCH).days
    assert one(call("NEXT_FOLLOW_UP", c(serial), None)) == date_out(dt.date(2026, 11, 11))
    assert one(call("NEXT_FOLLOW_UP", c(float(serial) + 0.75), c(7))) == date_out(dt.date(2026, 11, 8))
    assert one(call("NEXT_FOLLOW_UP", c("2026-11-01"), c(""))) == date_out(dt.date(2026, 11, 11))
    assert one(call("NEXT_FOLLOW_UP", c("11/1/2026"), c(0))) == date_out(dt.date(2026, 11, 1))
    assert one(call("NEXT_FOLLOW_UP", c(None), None)) == engine.CONTACT_NOW
    assert one(call("NEXT_FOLLOW_UP", c(""), c(5))) == "Contact now"
    # Before runtime 1.4 a date goes back as its serial number.
    assert one(call("NEXT_FOLLOW_UP", c(serial), None, runtime="1.3")) == serial + 10


@pytest.mark.parametrize(
    "last_contact, cadence, code",
    [
        ("last week", None, "#VALUE!"),
        (True, None, "#VALUE!"),
        (46000, -1, "#NUM!"),
        (46000, 2.5, "#NUM!"),
        (46000, "often", "#VALUE!"),
        (xl_error("#REF!"), None, "#REF!"),
    ],
)
def test_next_follow_up_errors(last_contact, cadence, code):
    assert one(call("NEXT_FOLLOW_UP", c(last_contact), c(cadence))) == err(code)


# ---------------------------------------------------------------- PIPELINE_TABLE

AS_OF = dt.date(2026, 11, 20)
PIPELINE_HEADER = [
    "Opportunity ID", "Amount", "Probability", "Decision-maker access", "Compelling event", "Budget",
    "ICP fit", "Relationship", "Est. Hours", "Last Contact", "Status", "Lost Reason",
]  # fmt: skip


def serial(day: dt.date) -> int:
    return (day - EPOCH).days


PIPELINE_ROWS = [
    ["OPP-1", 50_000, 0.6, None, None, None, None, None, 8, serial(dt.date(2026, 11, 1)), None, None],
    ["OPP-2", 2_000, None, 4, 3, "", None, 5, None, serial(dt.date(2026, 11, 15)), "", None],
    ["OPP-3", 9_000, 1, None, None, None, None, None, 0, serial(dt.date(2026, 10, 1)), "Won", None],
    ["OPP-4", 100, 0, None, None, None, None, None, None, None, "Lost", ""],  # Lost needs a reason
    ["OPP-5", "TBD", 0.5, None, None, 9, None, None, None, "soon", "Maybe", None],
    ["OPP-6", 400_000, 0.05, None, None, None, None, None, 20, None, None, None],
    [None] * 12,
    ["OPP-7", 30_000, None, None, None, None, None, None, None, serial(dt.date(2026, 11, 10)), None, None],
    ["OPP-8", 15_000, xl_error("#N/A"), 2, 2, 2, 2, 2, 4, serial(dt.date(2026, 11, 10)), "Open", None],
    ["OPP-9", 70_000, 0.35, None, None, None, None, None, 12, serial(dt.date(2026, 11, 19)), "open", None],
]


def test_pipeline_table_matches_score_pipeline_row_by_row():
    result = call("PIPELINE_TABLE", [PIPELINE_HEADER, *PIPELINE_ROWS], c(serial(AS_OF)))
    derived = ["Engagement", "Expected Value", "Opportunity ROT", "Priority", "Next Follow-up", "Overdue", "Issues"]
    assert result[0] == PIPELINE_HEADER + derived
    view = pd.DataFrame(
        [[v["basicValue"] if isinstance(v, dict) else (None if v == "" else v) for v in row] for row in PIPELINE_ROWS],
        columns=PIPELINE_HEADER,
        dtype=object,
    )
    expected = engine.score_pipeline(view, as_of=AS_OF)
    for i in range(len(PIPELINE_ROWS)):
        got = dict(zip(result[0], result[1 + i]))
        want = expected.iloc[i]
        for col in ("Engagement", "Expected Value", "Opportunity ROT"):
            assert got[col] == ("" if blank(want[col]) else pytest.approx(want[col], rel=1e-12)), (i, col)
        for col in ("Priority", "Issues"):
            assert got[col] == ("" if blank(want[col]) else want[col]), (i, col)
        follow = want["Next Follow-up"]
        assert got["Next Follow-up"] == ("" if blank(follow) else follow if isinstance(follow, str) else date_out(follow))
        assert got["Overdue"] == ("" if want["Overdue"] is pd.NA else bool(want["Overdue"])), i
    assert result[7] == [""] * len(result[0])


def test_pipeline_table_cells_by_hand():
    result = call("PIPELINE_TABLE", [PIPELINE_HEADER, *PIPELINE_ROWS], c(serial(AS_OF)))
    rows = {r[0]: dict(zip(result[0], r)) for r in result[1:] if r[0]}
    one_ = rows["OPP-1"]
    assert (one_["Engagement"], one_["Expected Value"], one_["Opportunity ROT"]) == (0.6, 30_000.0, 3_750.0)
    assert one_["Next Follow-up"] == date_out(dt.date(2026, 11, 11)) and one_["Overdue"] is True
    # Input dates spill back as dates, not as serial numbers.
    assert one_["Last Contact"] == date_out(dt.date(2026, 11, 1))
    # Engagement from scores: (3·4 + 2·3 + 1·5) ÷ (5 · 6); blank hours: DefaultDealHours.
    two = rows["OPP-2"]
    assert two["Engagement"] == pytest.approx(23 / 30)
    assert two["Opportunity ROT"] == pytest.approx(2_000 * 23 / 30 / 10)
    assert two["Overdue"] is False
    assert rows["OPP-6"]["Next Follow-up"] == "Contact now"
    assert [rows["OPP-3"][k] for k in ("Priority", "Next Follow-up", "Overdue")] == ["", "", ""]  # Won
    assert rows["OPP-4"]["Issues"] == "Lost needs a reason"
    assert rows["OPP-5"]["Issues"] == (
        "Amount must be a number; Budget must be a whole number 0–5; Last Contact must be a date; "
        "Status must be Open, Won or Lost"
    )
    assert rows["OPP-8"]["Probability"] == err("#N/A") and rows["OPP-8"]["Issues"] == "Probability must be a fraction 0–1"
    assert all(cell != err("#NUM!") for r in result for cell in r)


def test_pipeline_table_as_of_decides_overdue():
    before = call("PIPELINE_TABLE", [PIPELINE_HEADER, *PIPELINE_ROWS], c("2026-11-05"))
    after = call("PIPELINE_TABLE", [PIPELINE_HEADER, *PIPELINE_ROWS], c("2026-11-12"))
    col = before[0].index("Overdue")
    assert before[1][col] is False and after[1][col] is True  # due 2026-11-11


def test_pipeline_table_blank_as_of_is_today():
    result = call("PIPELINE_TABLE", [PIPELINE_HEADER, PIPELINE_ROWS[0]], None)
    due = dt.date(2026, 11, 11)
    assert result[1][result[0].index("Overdue")] is (dt.date.today() > due)


def test_pipeline_table_errors():
    assert one(call("PIPELINE_TABLE", [PIPELINE_HEADER, *PIPELINE_ROWS], c("someday"))) == err("#VALUE!")
    assert one(call("PIPELINE_TABLE", [["Deal", "Value"], ["x", 1]], None)) == err("#VALUE!")
    assert one(call("PIPELINE_TABLE", c(xl_error("#REF!")), None)) == err("#REF!")


# ---------------------------------------------------------------- the one-cell functions are the engine's rules
#
# The scalar functions follow the engine in plain Python for speed (rotxl/excel/functions.py);
# here hypothesis holds them to the engine over random cells, extremes included: an Excel error
# exactly where the engine gives the row an issue, otherwise the engine's value to the bit.

from hypothesis import example, given, settings as hsettings, strategies as st  # noqa: E402

_EXTREMES = [0, 0.0, 1e-300, 9.99999999999999e307, 1e308, -1e308, float("inf"), float("-inf")]


def _cells(low=-5.0, high=1e6, extra=()):
    return st.one_of(
        st.none(),
        st.just(""),
        st.floats(low, high, allow_nan=False),
        st.integers(int(low), int(high)),
        st.sampled_from([*_EXTREMES, "12", " 60% ", "12k", "n/a", True, *extra]),
    )


def _is_error(v) -> bool:
    return isinstance(v, str) and v in functions.ERRORS


def _account_row(revenue, hours, aggravation, margin) -> pd.DataFrame:
    return pd.DataFrame([{"Account ID": "A1", "Account": "Acme", "Revenue": revenue, "Margin": margin,
                          "Hours": hours, "Aggravation": aggravation}], dtype=object)


@hsettings(max_examples=200, deadline=None)
@given(revenue=_cells(), hours=_cells(), aggravation=_cells(0, 6), margin=_cells(-0.5, 1.5),
       weight=st.one_of(st.none(), st.floats(0, 3)))
@example(revenue=1.0, hours=2.225073858507203e-309, aggravation=None, margin=None, weight=None)  # ROT overflows
@example(revenue=9.99999999999999e+307, hours=0.5, aggravation=None, margin=0.0, weight=None)  # only ROT_SEGMENT overflows
def test_rot_and_rot_segment_are_the_engine(revenue, hours, aggravation, margin, weight):
    s = Settings(aggravation_weight=0.25 if weight is None else weight, revenue_high=5000, hours_high=20, revenue_floor=100)
    row = engine.classify_accounts(_account_row(revenue, hours, aggravation, margin), s).iloc[0]
    got = functions.ROT(revenue, hours, aggravation, margin, weight)
    seg = functions.ROT_SEGMENT(revenue, hours, 5000, 20, 100, aggravation, weight)
    if row["Issues"]:
        # The function has one more rule the table has not: margin is not an argument of ROT_SEGMENT.
        assert _is_error(got), (row["Issues"], got)
        assert _is_error(seg) or "Margin" in row["Issues"], (row["Issues"], seg)
        return
    # Without its margin, ROT_SEGMENT judges ROT at margin 1: #NUM! where revenue ÷ hours alone is too large.
    assert not _is_error(seg) or (margin is not None and _is_error(functions.ROT(revenue, hours, aggravation, None, weight))), seg
    if _is_error(seg):
        seg = row["Segment"]  # the #NUM! just allowed; ROT is still the engine's
    if pd.isna(row["Effective Hours"]):
        assert got == seg == ""  # awaiting hours
    elif row["Effective Hours"] == 0:
        assert got == "#DIV/0!" and seg == row["Segment"]
    else:
        assert got == row["ROT"] and seg == row["Segment"]


def _pipeline_row(amount, probability, status="Open", last_contact=None) -> pd.DataFrame:
    return pd.DataFrame([{"Opportunity ID": "O1", "Amount": amount, "Probability": probability, "Status": status,
                          "Lost Reason": "Budget cut", "Last Contact": last_contact}], dtype=object)


@hsettings(max_examples=200, deadline=None)
@given(amount=_cells(), probability=_cells(-0.5, 1.5), hours=_cells(),
       status=st.sampled_from([None, "", "Open", " won ", "LOST", "Maybe", 3]))
def test_deal_functions_are_the_engine(amount, probability, hours, status):
    s = Settings(p_min=0.2, amount_min=1000, big_deal_amount=50000)
    as_of = dt.date(2026, 1, 20)
    row = engine.score_pipeline(_pipeline_row(amount, probability, status), s, as_of=as_of).iloc[0]
    prio = functions.OPPORTUNITY_PRIORITY(amount, probability, 0.2, 1000, 50000, status)
    if row["Issues"]:
        assert _is_error(prio), (row["Issues"], prio)
    else:
        assert prio == ("" if pd.isna(row["Priority"]) else row["Priority"])
    # Expected Value and Opportunity ROT take no status: an open row with the hours
    row = engine.score_pipeline(_pipeline_row(amount, probability).assign(**{"Est. Hours": hours}), s, as_of=as_of).iloc[0]
    ev = functions.EXPECTED_VALUE(amount, probability)
    rot = functions.OPPORTUNITY_ROT(amount, probability, hours)
    if row["Issues"]:
        assert _is_error(rot), (row["Issues"], rot)
        return
    assert ev == row["Expected Value"]
    assert rot == ("#DIV/0!" if pd.isna(row["Opportunity ROT"]) else row["Opportunity ROT"])


@hsettings(max_examples=200, deadline=None)
@given(scores=st.lists(st.one_of(st.none(), st.integers(-1, 6), st.floats(0, 5), st.just("x")), min_size=5, max_size=5),
       weights=st.lists(st.one_of(st.integers(0, 5), st.floats(0, 5)), min_size=5, max_size=5))
def test_engagement_is_the_engine(scores, weights):
    got = functions.ENGAGEMENT([scores], [weights])
    try:
        s = Settings(weights=tuple(float(w) for w in weights))
    except SettingsError:
        assert _is_error(got)
        return
    frame = pd.DataFrame([{"Opportunity ID": "O1", "Amount": 1000, **dict(zip(FACTORS, scores))}], dtype=object)
    row = engine.score_pipeline(frame, s, as_of=dt.date(2026, 1, 20)).iloc[0]
    if row["Issues"]:
        assert _is_error(got), (row["Issues"], got)
    else:
        assert got == row["Engagement"]


@hsettings(max_examples=200, deadline=None)
@given(last=st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(9999, 12, 31)),
                      st.sampled_from([1, 45000, 2958465, 2958466, 0, -3, "2026-01-05", "1/5/2026", "soon"])),
       cadence=st.one_of(st.none(), st.integers(0, 40), st.sampled_from([2.5, -1, "x"])))
def test_next_follow_up_is_the_engine(last, cadence):
    got = functions.NEXT_FOLLOW_UP(last, cadence)
    days = 10 if cadence is None else cadence
    try:
        s = Settings(cadence_days=days)
        valid_cadence = isinstance(days, int)
    except Exception:
        valid_cadence = False
    if not valid_cadence:
        assert _is_error(got)
        return
    row = engine.score_pipeline(_pipeline_row(1000, 0.5, "Open", last), s, as_of=dt.date(2026, 1, 20)).iloc[0]
    if _is_error(got):
        assert "Last Contact" in row["Issues"] or "Next Follow-up" in row["Issues"], (last, got, row["Issues"])
    else:
        want = row["Next Follow-up"]
        assert got == (want if isinstance(want, str) else pd.Timestamp(want).date())


# ---------------------------------------------------------------- xlwings' call path


def test_the_call_path_never_searches_for_pyodide():
    """On CPython xlwings imports pyodide.ffi for every argument and range cell; the failure is
    remembered (functions._remember_no_pyodide), so no call searches sys.path for it again."""
    searched = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "pyodide":
                searched.append(name)
            return None

    watch = Watch()
    sys.meta_path.insert(0, watch)
    try:
        table = [["Account ID", "Account", "Revenue", "Hours"], *[[f"A{i}", "Acme", 1000 + i, 5] for i in range(50)]]
        call("ROT", c(1000), c(10), None, None, None)
        call("ROT_TABLE", table, None, None, None)
    finally:
        sys.meta_path.remove(watch)
    assert searched == []
    assert sys.modules.get("pyodide", "absent") is None  # Python's record of "cannot be imported"
