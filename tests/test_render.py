"""What people see: workbooks and the Team Rollup printed to PDF by LibreOffice, read back with pdftotext.

Each sheet's pages are found by the footer every sheet prints ("<sheet>: page n of N"). The
checks: how many pages a sheet takes, that the answer columns and the top items are on its
first page, and that no cell shows ### (a number too wide for its column).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.utils.cell import coordinate_to_tuple
import pandas as pd
import pytest

import rotxl
from rotxl import Settings
from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline
from rotxl.excel import dashboard, rollup, workbook
from rotxl.excel.team import build_team
from spreadsheet import soffice


def render(paths: list[Path], outdir: Path) -> dict[str, dict[str, list[str]]]:
    """PDF of each workbook (one LibreOffice run, throwaway profile); per file, the text of each
    sheet's pages, keyed by sheet name."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                        "--convert-to", "pdf", "--outdir", str(outdir), *map(str, paths)],
                       check=True, capture_output=True, timeout=600)
    out = {}
    for p in paths:
        pdf = outdir / f"{p.stem}.pdf"
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        pages: dict[str, list[str]] = {}
        for page in text.split("\f"):
            footer = re.search(r"^\s*(.+?): page \d+ of \d+\s*$", page, re.MULTILINE)
            if footer:
                pages.setdefault(footer[1].strip(), []).append(page)
        out[p.stem] = pages
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("pdf")
    accounts = sample_accounts(10)
    pipeline = sample_pipeline(accounts, n=30)
    s = Settings(as_of=SAMPLE_AS_OF)
    path = workbook.save_workbook(workbook.build_workbook(accounts, pipeline, s), src / "ten.xlsx")
    team_accounts = sample_accounts(240)
    team_accounts.loc[team_accounts.index[:2], "Owner"] = None  # an Unassigned row: in the table, not charted
    team = build_team(team_accounts, sample_pipeline(team_accounts, n=300), src / "team", as_of=SAMPLE_AS_OF, jobs=1)
    copy = shutil.copyfile(team.rollup, src / "rollup.xlsx")
    want = {"accounts": rotxl.classify_accounts(accounts, s), "pipeline": rotxl.score_pipeline(pipeline, s),
            "team": team}
    return render([path, copy], out), want


def _first(pages: dict[str, list[str]], sheet: str) -> str:
    assert sheet in pages, f"no page of {sheet}: {list(pages)}"
    return pages[sheet][0]


@pytest.mark.slow
def test_a_ten_account_workbook_prints_in_a_few_landscape_pages(rendered):
    pages, _ = rendered
    ten = pages["ten"]
    assert {len(ten[s]) for s in ("Accounts", "Pipeline", "Dashboard", "Settings")} == {1}, {s: len(p) for s, p in ten.items()}
    assert sum(len(p) for p in ten.values()) <= 8
    for sheet, texts in ten.items():
        assert "###" not in "".join(texts), sheet


@pytest.mark.slow
def test_answer_columns_and_top_items_on_the_first_page(rendered):
    pages, want = rendered
    ten = pages["ten"]
    accounts = _first(ten, "Accounts")
    for header in ("Account ID", "Account", "Segment", "Action", "ROT", "Issues"):
        assert header in accounts
    acc = want["accounts"]
    best = acc.loc[pd.to_numeric(acc["ROT"]).idxmax()]
    assert best["Account"] in accounts and best["Action"] in accounts
    pipeline = _first(ten, "Pipeline")
    for header in ("Priority", "Overdue", "Expected", "Issues"):
        assert header in pipeline
    pipe = want["pipeline"]
    pursue = pipe[pipe["Priority"] == "Pursue"].assign(ev=lambda d: pd.to_numeric(d["Expected Value"]))
    top = pursue.sort_values("ev", ascending=False, kind="stable")
    dash = _first(ten, "Dashboard")
    assert "Top 5 Pursue deals by expected value" in dash and "Time on dump segments" in dash
    for name in top["Opportunity"].head(dashboard.TOP_N):
        assert name in dash, name
    # Every chart is drawn on the Dashboard's one page, beside the figures.
    for title in ("Share of revenue and of time", "Revenue against effective", "Open expected value"):
        assert title in " ".join(dash.split()), title


@pytest.mark.slow
def test_the_team_rollup_reads_on_one_page(rendered):
    pages, want = rendered
    team = want["team"]
    rollup_pages = pages["rollup"]
    assert list(rollup_pages) == ["Team"] and len(rollup_pages["Team"]) == 1
    text = rollup_pages["Team"][0]
    assert "###" not in text
    assert "Team Rollup" in text and "Figures as of 20 Nov 2026" in text
    for owner in team.table.index:
        assert owner in text, owner
    for _, label, _ in rollup.THRESHOLDS:
        assert label in text, label
    flat = " ".join(text.split())
    for _, title in rollup.CHARTS[:4]:
        assert title in flat, title


def test_charts_sit_beside_their_figures_on_the_first_screen(tmp_path):
    """The Dashboard's charts start within A1:V33 (what a 1920×1080 screen shows at 100%) and the
    rollup's charts lie in a grid under its table, Unassigned left out of every series."""
    accounts = sample_accounts(30)
    wb = workbook.build_workbook(accounts, sample_pipeline(accounts, n=40), Settings(as_of=SAMPLE_AS_OF))
    anchors = [coordinate_to_tuple(c.anchor) for c in wb["Dashboard"]._charts]  # (row, column), 1-based
    assert len(anchors) == 3 and all(row <= 33 and col <= 22 for row, col in anchors), anchors
    accounts.loc[accounts.index[:2], "Owner"] = None
    team = build_team(accounts, sample_pipeline(accounts, n=40), tmp_path, as_of=SAMPLE_AS_OF, jobs=1)
    ws = openpyxl.load_workbook(team.rollup)["Team"]
    owners = [ws.cell(r, 1).value for r in range(rollup.HEADER_ROW + 1, rollup.HEADER_ROW + len(team.table) + 1)]
    assert owners[-2:] == ["Unassigned", "Team"]
    assert ws.cell(rollup.HEADER_ROW + 1, 1).hyperlink.target == f"{owners[0]}.xlsx"
    assert (tmp_path / f"{owners[0]}.xlsx").exists()
    with zipfile.ZipFile(team.rollup) as z:
        xml = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    xml = [x for x in xml if "'Team'!" in x]  # the Team sheet's charts (the Trend sheet has its own)
    last_owner_row = rollup.HEADER_ROW + len(team.table) - 2  # the row above Unassigned
    assert xml and all(f"$A${last_owner_row}</f>" in x for x in xml)  # openpyxl reads no charts back: the XML


def test_every_cell_of_the_rollup_goes_through_put(tmp_path):
    """Owner names from the CRM are data: one that looks like a formula stays text, and links by file name."""
    accounts = sample_accounts(20)
    accounts.loc[accounts.index[:5], "Owner"] = '=HYPERLINK("http://evil.example","x")'
    team = build_team(accounts, sample_pipeline(accounts, n=20), tmp_path, as_of=SAMPLE_AS_OF, jobs=1)
    ws = openpyxl.load_workbook(team.rollup)["Team"]
    formulas = [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    names = {ws.cell(r, 1).value: ws.cell(r, 1) for r in range(rollup.HEADER_ROW + 1, ws.max_row + 1)}
    evil = names['=HYPERLINK("http://evil.example","x")']
    assert evil.data_type == "s" and evil.hyperlink.target.endswith(".xlsx") and ":" not in evil.hyperlink.target
