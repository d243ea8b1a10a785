"""lite/main.py as xlwings Lite loads it: in a Python where python-calamine cannot be imported
(Pyodide has no build of it), through xlwings' own custom-function and script machinery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

import rotxl
from rotxl.excel import functions
from rotxl.data import sample
from rotxl.excel.workbook import build_workbook, save_workbook
from test_macros import payload

ROOT = Path(__file__).resolve().parents[1]
LITE = ROOT / "lite"
SCRIPTS = ["check", "freeze_thresholds", "import_export", "learn_from_history", "live_thresholds", "plan_my_week",
           "prioritise"]

# Runs in a fresh interpreter: python_calamine is blocked before anything is imported, then
# lite/main.py is loaded as xlwings Lite loads main.py, and its metadata and a script are called.
CHILD = r'''
import asyncio, importlib.abc, importlib.util, json, sys

blocked = []

class NoCalamine(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "python_calamine":
            blocked.append(name)
            raise ImportError(f"No module named {name!r} (as in Pyodide)")
        return None

sys.meta_path.insert(0, NoCalamine())

import xlwings as xw
from xlwings.server import custom_functions_meta, custom_scripts_meta, custom_scripts_call

spec = importlib.util.spec_from_file_location("main", sys.argv[1])
main = importlib.util.module_from_spec(spec)
spec.loader.exec_module(main)

import rotxl
book = xw.Book(json=json.load(open(sys.argv[2])))
asyncio.run(custom_scripts_call(main, "import_export", typehint_to_value={xw.Book: book}))
accounts = rotxl.read_accounts(sys.argv[3])  # an XLSX export, read without calamine
print(json.dumps({
    "functions": custom_functions_meta(main)["functions"],
    "scripts": custom_scripts_meta(main),
    "actions": book.json()["actions"],
    "accounts": len(accounts),
    "blocked": blocked,
    "calamine_loaded": "python_calamine" in sys.modules,
    "rotxl_from": rotxl.__file__,
}, default=str))
'''


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lite")
    acc = sample.sample_accounts(40)
    wb = build_workbook(acc, sample.sample_pipeline(acc, 30))
    save_workbook(wb, tmp / "book.xlsx")
    p = payload(wb, tmp / "book.xlsx")  # formula cells come without values: fine for an import
    export = acc.iloc[:10]
    rows = [list(export.columns)] + [["" if v != v or v is None else v for v in r] for r in export.astype(object).itertuples(index=False)]
    p["sheets"].append({**p["sheets"][0], "name": "Import", "values": rows, "tables": []})
    (tmp / "payload.json").write_text(json.dumps(p, default=str))
    rotxl.write_table(export, tmp / "export.xlsx")
    run = subprocess.run([sys.executable, "-c", CHILD, str(LITE / "main.py"), str(tmp / "payload.json"), str(tmp / "export.xlsx")],
                         capture_output=True, text=True, timeout=300, cwd=tmp)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_lite_main_imports_without_calamine(lite):
    assert lite["blocked"] and not lite["calamine_loaded"]  # something tried, and rotxl did without it
    assert lite["accounts"] == 10


def test_rotxl_comes_from_the_copy_embedded_in_main_py(lite):
    assert ".zip" in lite["rotxl_from"] and "rotxl-" in lite["rotxl_from"], lite["rotxl_from"]


def test_committed_lite_files_are_in_step_with_the_package():
    from rotxl.excel.lite import embedded_files, package_files, requirements_txt

    main_py = (LITE / "main.py").read_text(encoding="utf-8")
    assert embedded_files(main_py) == package_files(), "lite/main.py is out of date: run rotxl lite"
    assert (LITE / "requirements.txt").read_text() == requirements_txt()


def test_every_worksheet_function_is_registered(lite):
    names = sorted(f["name"] for f in lite["functions"])
    assert names == sorted(functions.__all__)
    rot = next(f for f in lite["functions"] if f["name"] == "ROT")
    assert [p["name"] for p in rot["parameters"]] == ["revenue", "hours", "aggravation", "margin", "aggravation_weight"]


def test_every_script_is_registered_and_runs(lite):
    assert sorted(s["function_name"] for s in lite["scripts"]) == SCRIPTS
    funcs = [a["func"] for a in lite["actions"]]
    assert "setValues" in funcs and funcs[-1] == "alert"
    assert lite["actions"][-1]["args"][0].startswith('Imported 10 accounts from the "Import" sheet into the Accounts table')


def test_requirements_pin_xlwings_and_name_only_what_pyodide_can_install():
    lines = [line.strip() for line in (LITE / "requirements.txt").read_text().splitlines() if line.strip()]
    import xlwings

    assert lines[0] == f"xlwings=={xlwings.__version__}"  # the version rotxl is tested with
    assert set(lines[1:]) == {"pandas", "numpy", "openpyxl"}  # Pyodide's own builds and a pure-Python wheel


def test_no_compiled_dependency_pyodide_lacks():
    """On Pyodide (platform_system Emscripten) rotxl's wheel asks only for what Pyodide has:
    numpy and pandas (its own builds) and pure-Python packages."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pyodide = {"platform_system": "Emscripten", "sys_platform": "emscripten", "platform_machine": "wasm32"}
    wanted = {Requirement(d).name for d in deps
              if Requirement(d).marker is None or Marker(str(Requirement(d).marker)).evaluate(pyodide)}
    assert wanted == {"pandas", "numpy", "openpyxl", "xlwings", "click", "rich"}
