"""Worksheet-function speed: a call's own cost, and xlwings' call path around it.

Figures (CPU time and wall time, medians over repeats, one process):

1. Each one-cell function called as plain Python: its own cost per call (target: ≤ 5 µs).
2. ROT through xlwings' Office.js custom-function call path (what xlwings Server and the tests
   run) against the same path calling a trivial 5-argument function (the bare xlwings
   machinery), with rotxl's remedy for xlwings' uncached ``pyodide`` import in force. Target:
   ≤ 2× the bare machinery. The same two calls with the remedy lifted show what it saves.
3. ROT_TABLE over 10,000 accounts through the call path, with and without the remedy.

Run:  uv run --extra dev python bench/functions.py [ROWS]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import types

os.environ.setdefault("XLWINGS_ON_SERVER", "true")
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")

import xlwings as xw  # noqa: E402
from xlwings.server import custom_functions_call  # noqa: E402

from rotxl.excel import functions  # noqa: E402

REPEATS = 7


def clock(fn, number: int, repeats: int = REPEATS) -> tuple[float, float]:
    """Median (CPU, wall) seconds per call of fn() over ``repeats`` runs of ``number`` calls."""
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(number):
            fn()
        cpu.append((time.process_time() - c0) / number)
        wall.append((time.perf_counter() - w0) / number)
    return statistics.median(cpu), statistics.median(wall)


def payload(name: str, args: list) -> dict:
    return {"func_name": name, "args": args, "version": xw.__version__, "client": "Office.js", "runtime": "1.4",
            "culture_info_name": "en-US", "date_format": "m/d/yyyy", "caller_address": "Sheet1!B2"}


def bare_module() -> types.ModuleType:
    """A module with one trivial function of ROT's shape, registered the way rotxl's are."""
    module = types.ModuleType("bare_udfs")
    exec(
        "import xlwings as xw\n"
        "@xw.func\n"
        "@xw.arg('a', err_to_str=True)\n@xw.arg('b', err_to_str=True)\n@xw.arg('c', err_to_str=True)\n"
        "@xw.arg('d', err_to_str=True)\n@xw.arg('e', err_to_str=True)\n"
        "def TRIVIAL(a, b, c=None, d=None, e=None):\n    return 0.0\n",
        module.__dict__,
    )
    return module


def through_xlwings(module, name: str, args: list):
    return lambda: asyncio.run(custom_functions_call(payload(name, args), module))


def row(label: str, cpu: float, wall: float, unit: float = 1e-6, suffix: str = "µs") -> None:
    print(f"  {label:<44} CPU {cpu / unit:9.2f} {suffix}   wall {wall / unit:9.2f} {suffix}")


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(f"1. One call as plain Python (medians of {REPEATS} runs; target ≤ 5 µs)")
    calls = {
        "ROT(1000, 20, 3)": lambda: functions.ROT(1000.0, 20.0, 3.0, None, None),
        "ROT_SEGMENT(1000, 20, 900, 30, 100)": lambda: functions.ROT_SEGMENT(1000.0, 20.0, 900.0, 30.0, 100.0, None, None),
        "ROT_ACTION(\"A\")": lambda: functions.ROT_ACTION("A"),
        "EXPECTED_VALUE(50000, 0.4)": lambda: functions.EXPECTED_VALUE(50000.0, 0.4),
        "ENGAGEMENT(5 scores)": lambda: functions.ENGAGEMENT([[4.0, 3.0, None, 5.0, 2.0]], None),
        "OPPORTUNITY_ROT(50000, 0.4, 12)": lambda: functions.OPPORTUNITY_ROT(50000.0, 0.4, 12.0),
        "OPPORTUNITY_PRIORITY(...)": lambda: functions.OPPORTUNITY_PRIORITY(50000.0, 0.4, 0.2, 1000.0, 90000.0, "Open"),
        "NEXT_FOLLOW_UP(serial 46000, 10)": lambda: functions.NEXT_FOLLOW_UP(46000.0, 10.0),
    }
    for label, fn in calls.items():
        row(label, *clock(fn, 20_000))

    import rotxl.excel.functions  # noqa: F401  (the remedy is in force from here)
    bare = bare_module()
    args = [[[1000]], [[20]], [[3]], None, None]
    print("\n2. Through xlwings' custom-function call path, per call")
    rot = clock(through_xlwings(functions, "ROT", args), 300)
    trivial = clock(through_xlwings(bare, "TRIVIAL", args), 300)
    row("ROT (remedy in force)", *rot)
    row("bare machinery: trivial 5-argument function", *trivial)
    print(f"  ratio ROT / bare machinery: CPU {rot[0] / trivial[0]:.2f}×, wall {rot[1] / trivial[1]:.2f}× (target ≤ 2×)")
    saved = sys.modules.pop("pyodide")
    try:
        rot_slow = clock(through_xlwings(functions, "ROT", args), 100)
        trivial_slow = clock(through_xlwings(bare, "TRIVIAL", args), 100)
    finally:
        sys.modules["pyodide"] = saved
    row("ROT, remedy lifted (xlwings as shipped)", *rot_slow)
    row("trivial function, remedy lifted", *trivial_slow)

    table = [["Account ID", "Account", "Revenue", "Hours", "Aggravation"],
             *[[f"ACC-{i}", f"Account {i}", 1000.0 + i, 5.0 + i % 40, None if i % 3 else 2] for i in range(rows)]]
    call_table = through_xlwings(functions, "ROT_TABLE", [table, None, None, None])
    print(f"\n3. ROT_TABLE over {rows:,} accounts through the call path (medians of 3)")
    fast = clock(call_table, 1, 3)
    row("remedy in force", *fast, unit=1, suffix="s ")
    sys.modules.pop("pyodide")
    try:
        slow = clock(call_table, 1, 3)
    finally:
        sys.modules["pyodide"] = saved
    row("remedy lifted (xlwings as shipped)", *slow, unit=1, suffix="s ")
    print(f"  saved: {slow[1] / fast[1]:.1f}× wall")


if __name__ == "__main__":
    main()
