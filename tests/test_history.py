"""§10 history and the Trend (issue 12): four successive builds from exports that change week by
week, recorded in a real SQLite file; a repeated week replaces itself; a write killed mid-way
leaves the earlier weeks intact; the Trend sheet's series are the weeks' figures; LibreOffice
draws the charts.

The team build of this branch does not record history yet (state.py lands with another part), so
the tests drive record_week with each week's table (trend.week_table over the classified and
scored exports, as the build will) and open and migrate the state file as state.py will.
"""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

import weeks
from rotxl.cli import main
from rotxl.data import history
from rotxl.excel import rollup, trend
from rotxl.excel.team import owner_key
from rotxl.rules import engine
from rotxl.rules.settings import Settings
from spreadsheet import soffice

ROOT = Path(__file__).resolve().parent.parent


def week_table(k: int) -> pd.DataFrame:
    s = Settings(as_of=weeks.AS_OF[k], hourly_cost=60)
    acc = engine.classify_accounts(weeks.accounts(k), s)
    pipe = engine.score_pipeline(weeks.pipeline(k), s)
    return trend.week_table(acc, pipe, owner_key(acc), owner_key(pipe), s, logged_this_week=weeks.logged_this_week(k))


def connect(out: Path) -> sqlite3.Connection:
    path = history.state_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    history.migrate(conn)
    return conn


@pytest.fixture(scope="module")
def tables() -> list[pd.DataFrame]:
    return [week_table(k) for k in range(4)]


@pytest.fixture()
def four_weeks(tmp_path, tables) -> Path:
    conn = connect(tmp_path)
    for k, t in enumerate(tables):
        history.record_week(conn, weeks.AS_OF[k], t)
    conn.close()
    return tmp_path


def _equal(got, want) -> bool:
    if isinstance(want, str):
        return got == want
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got is None or (isinstance(got, float) and math.isnan(got))
    return got is not None and not isinstance(got, str) and math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12)


def test_the_exports_change_week_by_week(tables):
    team = [t.loc["Team"] for t in tables]
    assert len({t["Win Rate"] for t in team}) == 4  # deals won and lost
    assert len({t["Open EV"] for t in team}) == 4
    assert tables[0].loc["Ben Carter", "Accounts"] != tables[3].loc["Ben Carter", "Accounts"]  # an account moved
    assert tables[0].loc["Ben Carter", "Time on Dump Segments"] > tables[3].loc["Ben Carter", "Time on Dump Segments"]
    assert isinstance(team[0]["Retention"], float) and isinstance(team[0]["Cost of Sales ÷ Revenue"], float)


def test_state_holds_four_weeks_each_equal_to_its_table(four_weeks, tables):
    conn = sqlite3.connect(history.state_path(four_weeks))
    h = history.load_history(conn)
    assert history.weeks(h) == weeks.AS_OF
    for k, t in enumerate(tables):
        w = h[h["As Of"] == weeks.AS_OF[k]]
        assert len(w) == t.size
        for (team, owner, figure), value, note in zip(zip(w["Team"], w["Owner"], w["Figure"]), w["Value"], w["Note"]):
            want = t.iloc[-1][figure] if team else t.loc[owner, figure]
            assert _equal(note if isinstance(want, str) else value, want), (weeks.AS_OF[k], owner, figure)
    assert [r[0] for r in conn.execute("SELECT as_of FROM weekly_builds ORDER BY as_of")] == [d.isoformat() for d in weeks.AS_OF]


def test_a_repeated_week_replaces_itself(four_weeks, tables):
    conn = sqlite3.connect(history.state_path(four_weeks))
    before = history.load_history(conn)
    history.record_week(conn, weeks.AS_OF[1], tables[3].drop(index="Cy Doe"))  # a rebuild of week 2 with other figures
    after = history.load_history(conn)
    assert history.weeks(after) == weeks.AS_OF
    w = after[after["As Of"] == weeks.AS_OF[1]]
    assert len(w) == tables[3].drop(index="Cy Doe").size and "Cy Doe" not in set(w["Owner"])
    got = w[(w["Owner"] == "Ben Carter") & (w["Figure"] == "Open EV")]["Value"].item()
    assert got == tables[3].loc["Ben Carter", "Open EV"]
    others = lambda h: h[h["As Of"] != weeks.AS_OF[1]].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(others(before), others(after))


KILLER = r"""
import os, signal, sqlite3, sys
sys.path[:0] = [{tests!r}]
import pandas as pd
from rotxl.data import history
conn = sqlite3.connect({path!r})
table = pd.read_pickle({table!r})
calls = 0
def kill_mid_write():
    global calls
    if conn.in_transaction:
        calls += 1
        if calls == 40:  # well inside the transaction: the week's old rows deleted, part of the new ones written
            open({marker!r}, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    return 0
conn.set_progress_handler(kill_mid_write, 10)
history.record_week(conn, {as_of!r}, table)
print("not killed")
"""


@pytest.mark.parametrize("week", [1, None], ids=["replacing a week", "adding a week"])
def test_history_survives_a_write_killed_midway(four_weeks, tables, tmp_path, week):
    path = history.state_path(four_weeks)
    conn = sqlite3.connect(path)
    before = history.load_history(conn)
    conn.close()
    big = pd.concat([tables[3]] * 3)  # enough rows that the kill lands mid-write
    big.index = [f"Owner {i}" for i in range(len(big))]
    big.to_pickle(tmp_path / "table.pkl")
    marker = tmp_path / "killed"
    as_of = weeks.AS_OF[week].isoformat() if week is not None else "2026-11-30"
    script = KILLER.format(tests=str(Path(__file__).parent), path=str(path), table=str(tmp_path / "table.pkl"),
                           marker=str(marker), as_of=as_of)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == -9 and marker.exists(), run.stdout + run.stderr
    assert Path(str(path) + "-journal").exists()  # the transaction was open when the process died
    conn = sqlite3.connect(path)
    after = history.load_history(conn)
    pd.testing.assert_frame_equal(before, after)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _trend_blocks(ws) -> dict[str, pd.DataFrame]:
    """Every series block of the Trend sheet, read back: title → frame (As Of index)."""
    rows = list(ws.iter_rows(values_only=True))
    titles = {title for title, _ in trend.CHARTS}
    out = {}
    for i, row in enumerate(rows):
        if row and row[0] in titles and i + 1 < len(rows) and rows[i + 1][0] == "As Of":
            header = [h for h in rows[i + 1] if h is not None]
            data = []
            for r in rows[i + 2:]:
                if r[0] is None:
                    break
                data.append(r[:len(header)])
            out[row[0]] = pd.DataFrame(data, columns=header).set_index("As Of")
    return out


@pytest.fixture()
def rollup_file(four_weeks, tables, tmp_path) -> Path:
    conn = sqlite3.connect(history.state_path(four_weeks))
    h = history.load_history(conn)
    wb = rollup.build_rollup(tables[3], Settings(as_of=weeks.AS_OF[3]), {"RevenueHigh": 1.0}, history=h)
    path = tmp_path / "Team Rollup.xlsx"
    wb.save(path)
    return path


def test_trend_series_equal_each_weeks_figures(rollup_file, tables):
    wb = load_workbook(rollup_file)
    assert {trend.CHANGES_SHEET, trend.TREND_SHEET} <= set(wb.sheetnames)
    blocks = _trend_blocks(wb[trend.TREND_SHEET])
    assert set(blocks) == {title for title, _ in trend.CHARTS}
    for title, figures in trend.CHARTS:
        block = blocks[title]
        assert [d.date() for d in block.index] == weeks.AS_OF
        for k, t in enumerate(tables):
            for owner in ["Ana Souza", "Ben Carter", "Cy Doe", "Team"]:
                for figure, suffix in zip(figures, ["", ""] if len(figures) == 1 else [" Plan", " Logged"]):
                    got = block.iloc[k][owner + suffix]
                    assert _equal(got, t.loc[owner, figure]), (title, weeks.AS_OF[k], owner, figure, got)
    assert len(wb[trend.TREND_SHEET]._charts) == len(trend.CHARTS) + 3  # and each owner's Plan against Logged


def test_change_since_previous_build_beside_every_figure(rollup_file, tables):
    ws = load_workbook(rollup_file)[trend.CHANGES_SHEET]
    header = [c.value for c in ws[4]]
    assert header[0] == "Owner" and header[1::2] == list(tables[3].columns) and set(header[2::2]) == {"Change"}
    rows = {ws.cell(r, 1).value: r for r in range(5, 5 + len(tables[3]))}
    now, before = tables[3], tables[2]
    checked = 0
    for owner, r in rows.items():
        for j, figure in enumerate(now.columns):
            value, change = ws.cell(r, 2 + 2 * j), ws.cell(r, 3 + 2 * j)
            new, old = now.loc[owner, figure], before.loc[owner, figure]
            assert _equal(value.value, new)
            if isinstance(new, str) or isinstance(old, str) or pd.isna(new) or pd.isna(old):
                assert change.value is None
                continue
            pct = trend.FIGURES[figure].kind == "pct"
            assert change.value == pytest.approx((new - old) * (100 if pct else 1))
            better = trend.FIGURES[figure].better * (int(new > old) - int(new < old))
            assert change.font.color.rgb[-6:] == (trend.GREEN if better > 0 else trend.RED if better < 0 else trend.GREY)
            assert "▲" in change.number_format and "▼" in change.number_format
            checked += 1
    assert checked > 50
    ana = rows["Ana Souza"]
    dump = 2 + 2 * list(now.columns).index("Time on Dump Segments")
    assert now.loc["Ana Souza", "Time on Dump Segments"] < before.loc["Ana Souza", "Time on Dump Segments"]
    assert ws.cell(ana, dump + 1).font.color.rgb[-6:] == trend.GREEN  # Ana's time on dump segments fell: better


def test_what_changed_in_words(four_weeks, tables):
    h = history.load_history(sqlite3.connect(history.state_path(four_weeks)))
    every = trend.what_changed(h, weeks.AS_OF[1], tables[1], limit=100)
    before, now = tables[0].loc["Ben Carter", "Time on Dump Segments"], tables[1].loc["Ben Carter", "Time on Dump Segments"]
    assert now < before - trend.MOVE_POINTS
    assert f"Ben Carter's time on dump segments fell from {before:.0%} to {now:.0%}" in every
    ev0, ev1 = tables[0].loc["Team", "Open EV"], tables[1].loc["Team", "Open EV"]
    assert f"The team's open expected value fell from ${ev0:,.0f} to ${ev1:,.0f}" in every
    # Only moves of 5 points (shares) or 10% (the rest), largest first, at most MAX_WORDS by default.
    c = trend.changes(h, weeks.AS_OF[1], tables[1])
    small = c[(c["Figure"] == "Win Rate") & (c["Change"].abs() < trend.MOVE_POINTS)]
    for _, r in small.iterrows():
        assert not any(line.startswith(f"{r['Owner']}'s win rate") for line in every)
    lines = trend.what_changed(h, weeks.AS_OF[1], tables[1])
    assert lines == every[: trend.MAX_WORDS] and len(lines) == trend.MAX_WORDS
    assert trend.what_changed(h, weeks.AS_OF[0], tables[0]) == []  # the first week has nothing to compare with


def test_libreoffice_draws_the_trend_charts(rollup_file, tables, tmp_path):
    team_charts = len(rollup.build_rollup(tables[3], Settings(as_of=weeks.AS_OF[3]), {})["Team"]._charts)
    with zipfile.ZipFile(rollup_file) as z:
        # the Team sheet's charts, the Trend's, and each owner's Plan against Logged
        assert len([n for n in z.namelist() if n.startswith("xl/charts/chart")]) == team_charts + len(trend.CHARTS) + 3
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                        "--outdir", str(tmp_path), str(rollup_file)], check=True, capture_output=True, timeout=300)
    pdf = tmp_path / "Team Rollup.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                                                                   check=True).stdout.splitlines() if line.startswith("Pages")))
    assert pages >= 3
    assert "What changed since 2026-11-16" in text and "This build against the previous one" in text
    flat = " ".join(text.split())
    for title, _ in trend.CHARTS:  # chart titles are drawn as text in the PDF
        assert title.split()[0] in flat
    assert "Ben Carter: Plan Hours against Logged Hours" in flat


def test_rotxl_history_prints_and_exports(four_weeks, tables, tmp_path):
    runner = CliRunner()
    printed = runner.invoke(main, ["history", "--out", str(four_weeks), "--figure", "Win Rate"])
    assert printed.exit_code == 0, printed.output
    assert "Win Rate" in printed.output and "2026-11-23" in printed.output
    assert f"{tables[3].loc['Team', 'Win Rate']:.1%}" in printed.output
    out = tmp_path / "history.csv"
    exported = runner.invoke(main, ["history", "--out", str(four_weeks), "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    back = pd.read_csv(out, encoding="utf-8-sig")
    assert len(back) == sum(len(t) for t in tables)
    last = back[(back["As Of"] == "2026-11-23") & (back["Owner"] == "Ben Carter")].iloc[0]
    assert last["Open EV"] == pytest.approx(tables[3].loc["Ben Carter", "Open EV"])
    assert last["Plan Hours"] == pytest.approx(tables[3].loc["Ben Carter", "Plan Hours"])
    assert last["Planned Return"] == tables[3].loc["Ben Carter", "Planned Return"]  # the text saying what it needs
    missing = runner.invoke(main, ["history", "--out", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no build history" in missing.output
    bad = runner.invoke(main, ["history", "--out", str(four_weeks), "--figure", "Happiness"])
    assert bad.exit_code == 2 and "recorded figures" in bad.output


def test_a_large_team_charts_the_teams_line_only(tables):
    owners = pd.concat([tables[3].iloc[:-1]] * 5)
    big = pd.concat([owners.set_axis([f"Rep {i:02d}" for i in range(len(owners))]), tables[3].iloc[[-1]]])
    assert len(big) - 1 > trend.MAX_LINES
    wb = rollup.build_rollup(big, Settings(as_of=weeks.AS_OF[3]), {}, history=history.long_table(weeks.AS_OF[2], big))
    charts = wb[trend.TREND_SHEET]._charts
    assert len(charts) == len(trend.CHARTS)  # no per-owner charts either
    assert [len(c.series) for c in charts] == [1] * (len(trend.CHARTS) - 1) + [2]


def test_record_week_inside_the_callers_transaction(four_weeks, tables):
    conn = sqlite3.connect(history.state_path(four_weeks))
    conn.execute("BEGIN")
    history.record_week(conn, "2026-11-30", tables[3], commit=False)
    assert conn.in_transaction
    conn.rollback()  # the build failed after recording: the week is not kept
    assert history.weeks(history.load_history(conn)) == weeks.AS_OF
    history.record_week(conn, "2026-11-30", tables[3], commit=False)
    conn.commit()
    assert len(history.weeks(history.load_history(sqlite3.connect(history.state_path(four_weeks))))) == 5


def test_team_builds_record_each_week_and_a_repeated_week_replaces_itself(tmp_path):
    """The weekly history through the team build itself (§10): every build records its week's
    figures in the build state; the Team Rollup shows the change since the last build and the
    Trend; the same AsOf built again replaces its week."""
    import datetime as dt

    from rotxl.data.sample import sample_accounts, sample_pipeline
    from rotxl.excel.team import build_team

    accounts = sample_accounts(60, seed=3, messy=False)
    pipeline = sample_pipeline(accounts, 90, seed=5, messy=False)
    days = [dt.date(2026, 11, 6), dt.date(2026, 11, 13), dt.date(2026, 11, 20)]
    for day in days:
        result = build_team(accounts, pipeline, tmp_path, as_of=day, jobs=1)
        # a week's work: deals move on between builds
        pipeline.loc[pipeline.index[: 5], "Status"] = "Won"
    conn = sqlite3.connect(history.state_path(tmp_path))
    h = history.load_history(conn)
    assert history.weeks(h) == days
    team = h[(h["Owner"] == "Team") & (h["Figure"] == "Open EV")].set_index("As Of")["Value"]
    assert team[days[-1]] == pytest.approx(result.table.loc["Team", "Open EV"])
    again = build_team(accounts, pipeline, tmp_path, as_of=days[-1], jobs=1)
    h = history.load_history(sqlite3.connect(history.state_path(tmp_path)))
    assert history.weeks(h) == days  # replaced, not added
    now = h[(h["Owner"] == "Team") & (h["Figure"] == "Open EV") & (h["As Of"] == days[-1])]["Value"].item()
    assert now == pytest.approx(again.table.loc["Team", "Open EV"])
    wb = load_workbook(again.rollup)
    assert {trend.CHANGES_SHEET, trend.TREND_SHEET} <= set(wb.sheetnames)
