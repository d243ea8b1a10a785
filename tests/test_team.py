"""Team builds with real files: names, rows, thresholds, rebuilds, crashes and locked files."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl.worksheet.table import TableColumn

import rotxl
from rotxl import Settings
from rotxl.cli import main
from rotxl.rules.engine import NOT_IN_EXPORT
from rotxl.data.merge import SYNC_COLUMN
from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline
from rotxl.rules.schema import ACCOUNT_DERIVED, PIPELINE_DERIVED
from rotxl.excel.team import build_team, read_workbook_inputs, safe_filenames
from spreadsheet import mismatches, recalculate, sheet

AWKWARD = ("../x", "CON", "a/b", "Zoë", "Ana", "ana", "", "nul.txt", "Team Rollup", " trailing dots... ", "x" * 300)
ROOT = Path(__file__).resolve().parents[1]


def _team(n_accounts=160, n_opps=240, owners=AWKWARD, seed=5):
    acc = sample_accounts(n_accounts, owners=owners, seed=seed)
    return acc, sample_pipeline(acc, n_opps, seed=seed + 1)


def _settings_values(path: Path) -> dict[str, object]:
    ws = openpyxl.load_workbook(path)["Settings"]
    return {ws.cell(r, 3).value: ws.cell(r, 2).value for r in range(2, ws.max_row + 1) if ws.cell(r, 3).value}


def test_safe_filenames():
    names = safe_filenames(list(AWKWARD))
    assert len(set(n.casefold() for n in names.values())) == len(AWKWARD)  # distinct, even by case
    for owner, name in names.items():
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert not any(ch in name for ch in '<>:"|?*')
        assert name.split(".")[0].upper() not in {"CON", "NUL", "PRN", "AUX", "COM1", "LPT1"}
        assert len(name) <= 100 and name.endswith(".xlsx")
    assert names["Zoë"] == "Zoë.xlsx" and names["CON"] == "_CON.xlsx"
    assert names["Ana"] != names["ana"] and names == safe_filenames(list(reversed(AWKWARD)))
    assert names["Team Rollup"] != "Team Rollup.xlsx"


def test_build_keeps_every_row_inside_dir_with_team_thresholds(tmp_path):
    acc, pipe = _team()
    out = tmp_path / "team"
    result = build_team(acc, pipe, out, as_of=SAMPLE_AS_OF, jobs=2)
    assert not result.failed and result.rollup == out / "Team Rollup.xlsx"
    files = [p for p in tmp_path.rglob("*") if p.is_file() and ".rotxl" not in p.parts]  # .rotxl: the build state
    assert all(p.resolve().parent == out.resolve() for p in files), files
    assert len(result.written) == len(AWKWARD)
    seen_acc, seen_opp = [], []
    for path in result.written:
        a, p = read_workbook_inputs(path)
        seen_acc += a["Account ID"].tolist()
        seen_opp += p["Opportunity ID"].tolist()
        values = _settings_values(path)
        for name, value in result.thresholds.items():
            assert values[name] == pytest.approx(value, rel=1e-12), (path.name, name)
    assert sorted(seen_acc) == sorted(acc["Account ID"].tolist())
    assert sorted(seen_opp) == sorted(pipe["Opportunity ID"].tolist())
    want = rotxl.classify_accounts(acc, Settings(as_of=SAMPLE_AS_OF)).attrs["thresholds"]
    assert result.thresholds["RevenueHigh"] == pytest.approx(want["RevenueHigh"])


def _add_notes_column(path: Path, notes: dict[int, str]) -> None:
    """What Excel does when a user types a new header right of the table: the table grows a column."""
    wb = openpyxl.load_workbook(path)
    ws = wb["Accounts"]
    table = ws.tables["Accounts"]
    first, last = table.ref.split(":")
    col = ws.max_column + 1
    ws.cell(1, col, "My Notes")
    for row, text in notes.items():
        ws.cell(row, col, text)
    last_row = int("".join(ch for ch in last if ch.isdigit()))
    table.ref = f"{first}:{openpyxl.utils.get_column_letter(col)}{last_row}"
    table.tableColumns.append(TableColumn(id=len(table.tableColumns) + 1, name="My Notes"))
    wb.save(path)


def test_rebuild_keeps_what_people_typed(tmp_path):
    acc, pipe = _team(owners=("Ana", "Ben"))
    out = tmp_path / "team"
    build_team(acc, pipe, out, as_of=SAMPLE_AS_OF, jobs=1)
    ana = out / "Ana.xlsx"
    wb = openpyxl.load_workbook(ana)
    ws, pw = wb["Accounts"], wb["Pipeline"]
    col = {c.value: c.column for c in ws[1]}
    pcol = {c.value: c.column for c in pw[1]}
    first_id, second_id = ws.cell(2, col["Account ID"]).value, ws.cell(3, col["Account ID"]).value
    ws.cell(2, col["Hours"]).value = 77.5
    ws.cell(3, col["Aggravation"]).value = 5
    opp_id = pw.cell(2, pcol["Opportunity ID"]).value
    pw.cell(2, pcol["Status"]).value = "Lost"
    pw.cell(2, pcol["Lost Reason"]).value = "Went with a competitor"
    wb.save(ana)
    _add_notes_column(ana, {2: "Call the CFO, not IT", 3: "Renewal in March"})
    before = ana.read_bytes()

    fresh = acc.copy()
    row = fresh.index[fresh["Account ID"] == first_id][0]
    fresh.loc[row, "Revenue"] = 123456.78
    fresh = fresh[fresh["Account ID"] != second_id]  # left the export
    build_team(fresh, pipe, out, as_of=SAMPLE_AS_OF, jobs=1)

    a, p = read_workbook_inputs(ana)
    kept = a.set_index("Account ID")
    assert kept.loc[first_id, "Hours"] == 77.5
    assert kept.loc[first_id, "Revenue"] == 123456.78
    assert kept.loc[first_id, "My Notes"] == "Call the CFO, not IT"
    assert kept.loc[second_id, SYNC_COLUMN] == NOT_IN_EXPORT
    assert kept.loc[second_id, "My Notes"] == "Renewal in March" and kept.loc[second_id, "Aggravation"] == 5
    opp = p.set_index("Opportunity ID").loc[opp_id]
    assert opp["Status"] == "Lost" and opp["Lost Reason"] == "Went with a competitor"
    backups = list((out / "backups").glob("*/Ana.xlsx"))
    assert any(b.read_bytes() == before for b in backups)

    # The rebuilt workbook still recalculates to the engine in a real spreadsheet.
    [done] = recalculate([ana], tmp_path / "recalc")
    settings = Settings(**{k: v for k, v in {
        "revenue_high": _settings_values(ana)["RevenueHigh"], "revenue_floor": _settings_values(ana)["RevenueFloor"],
        "hours_high": _settings_values(ana)["HoursHigh"], "amount_min": _settings_values(ana)["AmountMin"],
        "big_deal_amount": _settings_values(ana)["BigDealAmount"]}.items()}, as_of=SAMPLE_AS_OF)
    errors = mismatches(sheet(done, "Accounts"), rotxl.classify_accounts(a, settings), ACCOUNT_DERIVED)
    errors += mismatches(sheet(done, "Pipeline"), rotxl.score_pipeline(p, settings), PIPELINE_DERIVED)
    assert not errors, "\n".join(errors[:20])


def test_locked_workbook_is_named_and_the_rest_builds(tmp_path):
    acc, pipe = _team(owners=("Ana", "Ben", "Cy"))
    out = tmp_path / "team"
    out.mkdir()
    (out / "~$Ben.xlsx").write_bytes(b"lock")  # Excel's owner file while Ben.xlsx is open
    acc.to_csv(tmp_path / "a.csv", index=False)
    pipe.to_csv(tmp_path / "p.csv", index=False)
    r = CliRunner().invoke(main, ["build", "--accounts", str(tmp_path / "a.csv"), "--pipeline", str(tmp_path / "p.csv"),
                                  "--out", str(out), "--as-of", "2026-11-20", "--jobs", "1"])
    assert r.exit_code == 1
    assert "Ben.xlsx is open in Excel" in r.output
    assert (out / "Ana.xlsx").exists() and (out / "Cy.xlsx").exists() and not (out / "Ben.xlsx").exists()
    assert (out / "Team Rollup.xlsx").exists()


def test_killed_build_leaves_old_or_new_workbooks_whole(tmp_path):
    acc, pipe = _team(400, 600, owners=tuple(f"Owner {i}" for i in range(12)))
    out = tmp_path / "team"
    build_team(acc, pipe, out, as_of=SAMPLE_AS_OF, jobs=1)
    old = {p.name: p.read_bytes() for p in out.glob("*.xlsx")}
    acc2 = acc.copy()
    acc2["Revenue"] = pd.to_numeric(acc2["Revenue"], errors="coerce") + 1
    acc2.to_csv(tmp_path / "a.csv", index=False)
    pipe.to_csv(tmp_path / "p.csv", index=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rotxl.cli", "build", "--accounts", str(tmp_path / "a.csv"), "--pipeline",
         str(tmp_path / "p.csv"), "--out", str(out), "--as-of", "2026-11-20", "--jobs", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any((out / n).read_bytes() != b for n, b in old.items() if (out / n).exists()):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    changed = 0
    for path in out.glob("*.xlsx"):
        data = path.read_bytes()
        if data == old.get(path.name):
            continue
        changed += 1
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None
        openpyxl.load_workbook(path)  # whole and readable
    assert changed < len(old), "the build finished before it was killed; nothing was tested"
    assert set(old) == {p.name for p in out.glob("*.xlsx")}


def test_demo_builds_the_sample_team(tmp_path):
    r = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"), "--jobs", "2"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "demo").glob("*.xlsx"))
    assert len(names) == 9 and "Team Rollup.xlsx" in names and "Zoë Müller.xlsx" in names
    assert "Team summary" in r.output
    rollup = openpyxl.load_workbook(tmp_path / "demo" / "Team Rollup.xlsx")["Team"]
    owners = [c.value for c in rollup["A"]]
    owners = owners[owners.index("Owner"):]  # the table's header row, under the title
    assert owners[1:10] == ["Ana Souza", "Ben Carter", "Chloé Martin", "Dev Patel", "Erin O'Neil", "Farid Haddad",
                            "Grace Kim", "Zoë Müller", "Team"]
