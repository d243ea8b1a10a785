"""The rotxl command line, run on real files in tmp_path."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

import rotxl
from rotxl.cli import main
from rotxl.data.io import read_table

AS_OF = "2026-11-20"
ACCOUNT_OUT = ["Effective Hours", "ROT", "Segment", "Action", "Issues"]
PIPELINE_OUT = ["Engagement", "Expected Value", "Opportunity ROT", "Priority", "Next Follow-up", "Overdue", "Issues"]
FORMULAS = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3"]

# Ten accounts with spec headers: IDs, names, owners, revenue, margin, hours, aggravation.
ACCOUNTS = [
    ("A01", "Acme", "Ana", 120000, "", 10, ""),
    ("A02", "Globex", "Ana", 95000, 0.4, 40, 3),
    ("A03", "Initech", "Ben", 3000, "", 12, ""),
    ("A04", "Umbrella", "Ben", 45000, "", 8, 2),
    ("A05", "Hooli", "Ana", 30000, "", 30, 5),
    ("A06", "Vandelay", "Ben", 60000, "", "", ""),
    ("A07", "Stark", "Ana", 250000, 0.3, 15, ""),
    ("A08", "Wayne", "Ben", 8000, "", 2, ""),
    ("A09", "Tyrell", "Ana", "12k", "", 5, ""),
    ("A10", "Soylent", "Ben", 20000, "", -3, ""),
]
# Opportunities: ID, name, account, owner, amount, probability (fraction), stage, close date.
DEALS = [
    ("O1", "Renewal", "Acme", "Ana", 50000, 0.6, "Proposal", "2026-12-01"),
    ("O2", "Upsell", "Globex", "Ana", 8000, 0.1, "Qualification", "2026-12-15"),
    ("O3", "Pilot", "Initech", "Ben", 1000, 0.9, "Closed Won", "2026-10-01"),
    ("O4", "Big bet", "Stark", "Ana", 400000, 0.05, "Prospecting", "2027-03-01"),
    ("O5", "Lost one", "Hooli", "Ben", 2000, 0.0, "Closed Lost", "2026-10-05"),
    ("O6", "Expansion", "Wayne", "Ben", 25000, 0.333, "Negotiation", "2026-11-30"),
    ("O7", "Tiny", "Umbrella", "Ben", 500, 0.5, "Proposal", "2026-12-20"),
]
STATUS = {"Closed Won": "Won", "Closed Lost": "Lost"}


def csv_file(path: Path, header: list[str], rows: list[tuple]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def xlsx_file(path: Path, header: list[str], rows: list[tuple], sheet: str = "Export") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append([None if v == "" else v for v in row])
    wb.save(path)
    return path


def spec_accounts(path: Path) -> Path:
    header = ["Account ID", "Account", "Owner", "Revenue", "Margin", "Hours", "Aggravation"]
    return (xlsx_file if path.suffix == ".xlsx" else csv_file)(path, header, ACCOUNTS)


def spec_pipeline(path: Path) -> Path:
    header = ["Opportunity ID", "Opportunity", "Account", "Owner", "Amount", "Probability", "Stage", "Close Date", "Status"]
    rows = [(*r, STATUS.get(r[6], "")) for r in DEALS]
    return (xlsx_file if path.suffix == ".xlsx" else csv_file)(path, header, rows)


def run(*args: object):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def out_frame(path: Path) -> pd.DataFrame:
    """An output file as text, whatever its format, so CSV and XLSX outputs compare cell by cell."""
    df = read_table(path)
    return df.astype(object).where(df.notna(), "").astype(str)


def expected_accounts(src: Path) -> pd.DataFrame:
    return rotxl.classify_accounts(rotxl.data.io.read_accounts(src))


# ---------------------------------------------------------------- formats in and out


@pytest.mark.parametrize("src_ext,out_ext", [(".csv", ".csv"), (".csv", ".xlsx"), (".xlsx", ".csv"), (".xlsx", ".xlsx")])
def test_classify_every_format_pair(tmp_path, src_ext, out_ext):
    src = spec_accounts(tmp_path / f"accounts{src_ext}")
    out = tmp_path / f"result{out_ext}"
    result = run("classify", src, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # with -o, stdout stays clean; the summary is on stderr
    got = read_table(out)
    want = expected_accounts(src)
    assert list(got.columns) == list(want.columns)
    assert got["Segment"].fillna("").replace({None: ""}).tolist() == want["Segment"].fillna("").tolist()
    assert got["Issues"].fillna("").replace({None: ""}).tolist() == want["Issues"].tolist()
    rot = pd.to_numeric(got["ROT"].replace({"": None}), errors="coerce").to_numpy(dtype=float)
    assert rot == pytest.approx(want["ROT"].to_numpy(dtype=float), nan_ok=True, rel=1e-15)
    # The rows with bad input are kept and flagged, not dropped.
    assert len(got) == len(ACCOUNTS)
    issues = dict(zip(got["Account ID"], got["Issues"].fillna("")))
    assert issues["A09"] == "Revenue must be a number" and issues["A10"] == "Hours must be ≥ 0"


@pytest.mark.parametrize("src_ext,out_ext", [(".csv", ".csv"), (".csv", ".xlsx"), (".xlsx", ".csv"), (".xlsx", ".xlsx")])
def test_score_every_format_pair(tmp_path, src_ext, out_ext):
    src = spec_pipeline(tmp_path / f"pipeline{src_ext}")
    out = tmp_path / f"scored{out_ext}"
    result = run("score", src, "--as-of", AS_OF, "-o", out)
    assert result.exit_code == 0, result.output
    got = out_frame(out)
    assert list(got.columns)[-len(PIPELINE_OUT):] == PIPELINE_OUT
    prio = dict(zip(got["Opportunity ID"], got["Priority"]))
    assert prio["O3"] == "" and prio["O5"] == ""  # Won and Lost have no priority
    assert prio["O1"] == "Pursue"
    assert set(got["Next Follow-up"][got["Status"] == ""]) == {"Contact now"}
    assert got["Issues"][got["Opportunity ID"] == "O5"].item() == "Lost needs a reason"


def test_xlsx_output_is_typed_and_formatted(tmp_path):
    src = spec_pipeline(tmp_path / "pipeline.csv")
    out = tmp_path / "scored.xlsx"
    assert run("score", src, "--as-of", AS_OF, "-o", out).exit_code == 0
    ws = openpyxl.load_workbook(out)["Pipeline"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[2])}  # O1: amount 50000 at 0.6
    assert row["Amount"].value == 50000 and row["Amount"].number_format == "#,##0.00"
    assert row["Probability"].value == 0.6 and row["Probability"].number_format == "0.0%"
    assert row["Expected Value"].value == 30000 and row["Engagement"].number_format == "0.0%"
    assert row["Close Date"].value == dt.datetime(2026, 12, 1) and row["Close Date"].number_format == "yyyy-mm-dd"
    assert row["Overdue"].value is False and row["Overdue"].data_type == "b"
    assert row["Opportunity ID"].data_type == "s"
    assert ws.freeze_panes == "A2"


# ---------------------------------------------------------------- CRM exports as they come


def test_salesforce_exports_give_the_spec_results(tmp_path):
    sf_accounts = csv_file(
        tmp_path / "sf_accounts.csv",
        ["Account ID", "Account Name", "Account Owner", "Revenue (TTM)", "Margin", "Hours", "Aggravation"],
        ACCOUNTS,
    )
    sf_deals = csv_file(
        tmp_path / "sf_opps.csv",
        ["Opportunity ID", "Opportunity Name", "Account Name", "Opportunity Owner", "Amount", "Probability (%)", "Stage", "Close Date"],
        [(*r[:5], round(r[5] * 100, 1), *r[6:]) for r in DEALS],
    )
    for cmd, sf, spec, cols in (
        ("classify", sf_accounts, spec_accounts(tmp_path / "spec_accounts.csv"), ACCOUNT_OUT),
        ("score", sf_deals, spec_pipeline(tmp_path / "spec_pipeline.csv"), PIPELINE_OUT),
    ):
        for src, out in ((sf, tmp_path / f"sf_{cmd}.csv"), (spec, tmp_path / f"spec_{cmd}.csv")):
            result = run(cmd, src, "--as-of", AS_OF, "-o", out) if cmd == "score" else run(cmd, src, "-o", out)
            assert result.exit_code == 0, result.output
        a, b = out_frame(tmp_path / f"sf_{cmd}.csv"), out_frame(tmp_path / f"spec_{cmd}.csv")
        pd.testing.assert_frame_equal(a[cols], b[cols])
        assert b["Issues"].ne("").sum() >= 1  # the comparison covers flagged rows too
    got = out_frame(tmp_path / "sf_score.csv")
    assert got["Status"].tolist() == [STATUS.get(r[6], "") for r in DEALS]  # derived from Stage
    assert got["Engagement"].tolist()[:2] == ["0.6", "0.1"]


def test_hubspot_exports_give_the_spec_results(tmp_path):
    hs_companies = xlsx_file(
        tmp_path / "hubspot-companies.xlsx",
        ["Record ID", "Company name", "Company owner", "Bookings", "Margin", "Hours", "Aggravation"],
        ACCOUNTS,
    )
    hs_stage = {"Closed Won": "closedwon", "Closed Lost": "closedlost"}
    hs_deals = xlsx_file(
        tmp_path / "hubspot-deals.xlsx",
        ["Record ID", "Deal Name", "Company name", "Deal owner", "Amount", "Deal probability", "Deal Stage", "Close Date"],
        [(*r[:6], hs_stage.get(r[6], r[6].lower().replace(" ", "")), r[7]) for r in DEALS],
    )
    pairs = (
        ("classify", hs_companies, spec_accounts(tmp_path / "accounts.xlsx"), ACCOUNT_OUT),
        ("score", hs_deals, spec_pipeline(tmp_path / "pipeline.xlsx"), PIPELINE_OUT),
    )
    for cmd, hs, spec, cols in pairs:
        outs = []
        for src in (hs, spec):
            out = tmp_path / f"{src.stem}_out.xlsx"
            args = [cmd, src, "-o", out] + (["--as-of", AS_OF] if cmd == "score" else [])
            result = run(*args)
            assert result.exit_code == 0, result.output
            outs.append(out_frame(out))
        pd.testing.assert_frame_equal(outs[0][cols], outs[1][cols])
        assert outs[0].columns[0] == ("Account ID" if cmd == "classify" else "Opportunity ID")  # was "Record ID"


# ---------------------------------------------------------------- stopping with exit 2


def test_missing_column_stops_with_a_message_and_writes_nothing(tmp_path):
    src = csv_file(tmp_path / "export.csv", ["Account ID", "Account", "Annual Revnue"], [("A1", "Acme", 5)])
    out = tmp_path / "new.xlsx"
    result = run("classify", src, "-o", out)
    assert result.exit_code == 2
    message = result.stderr
    for text in ("export.csv", "'Revenue'", '"Account ID", "Account", "Annual Revnue"', 'did you mean "Annual Revnue"'):
        assert text in message, message
    assert "Traceback" not in result.output and not out.exists()

    existing = tmp_path / "report.csv"
    existing.write_bytes(b"yesterday's report\n")
    assert run("classify", src, "-o", existing).exit_code == 2
    assert existing.read_bytes() == b"yesterday's report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv", "report.csv"]


def test_unreadable_files_exit_2(tmp_path):
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
    (tmp_path / "empty.csv").write_bytes(b"")
    for name in ("broken.xlsx", "empty.csv", "missing.csv"):
        result = run("score", tmp_path / name, "-o", tmp_path / "out.csv")
        assert result.exit_code == 2, result.output
        assert name in result.stderr and result.stderr.startswith("rotxl: ")
        assert isinstance(result.exception, SystemExit)  # no Python traceback
    assert not (tmp_path / "out.csv").exists()


def test_contradicting_revenue_thresholds_exit_2(tmp_path):
    src = spec_accounts(tmp_path / "accounts.csv")
    result = run("classify", src, "--revenue-floor", "50000", "--revenue-high", "40000", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2
    assert "RevenueFloor" in result.stderr and "RevenueHigh" in result.stderr
    # A floor above the high computed from the data is the same error.
    result = run("classify", src, "--revenue-floor", "1e9", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2 and "RevenueFloor (1,000,000,000.00) is above RevenueHigh" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_unknown_output_format_stops_before_reading(tmp_path):
    result = run("classify", tmp_path / "does-not-matter.csv", "-o", tmp_path / "out.txt")
    assert result.exit_code == 2 and "out.txt" in result.stderr and ".csv or .xlsx" in result.stderr
    src = spec_accounts(tmp_path / "accounts.csv")
    result = run("classify", src, "-o", tmp_path / "no" / "such" / "folder.xlsx")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == [src]


# ---------------------------------------------------------------- what the user sees


def test_formula_like_text_stays_text_through_the_cli(tmp_path):
    rows = [(f"A{i}", name, "Ana", 1000 * (i + 1), "", 5, "") for i, name in enumerate(FORMULAS)]
    src = csv_file(tmp_path / "accounts.csv", ["Account ID", "Account", "Owner", "Revenue", "Margin", "Hours", "Aggravation"], rows)
    assert run("classify", src, "-o", tmp_path / "out.xlsx").exit_code == 0
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx")["Accounts"]
    cells = [ws.cell(row=r, column=2) for r in range(2, 6)]
    assert [(c.value, c.data_type) for c in cells] == [(f, "s") for f in FORMULAS]

    assert run("classify", src, "-o", tmp_path / "out.csv").exit_code == 0
    assert read_table(tmp_path / "out.csv")["Account"].tolist() == FORMULAS
    # ... and a rotxl CSV output is itself a valid input that keeps the text.
    assert run("classify", tmp_path / "out.csv", "-o", tmp_path / "again.xlsx").exit_code == 0
    ws = openpyxl.load_workbook(tmp_path / "again.xlsx")["Accounts"]
    assert [ws.cell(row=r, column=2).value for r in range(2, 6)] == FORMULAS


def test_summary_goes_to_stderr(tmp_path):
    result = run("classify", spec_accounts(tmp_path / "accounts.csv"), "-o", tmp_path / "out.xlsx")
    err = result.stderr
    assert "Read 10 rows from accounts.csv." in err
    assert "Rows with issues: 2" in err
    assert "1 × Revenue must be a number" in err and "1 × Hours must be ≥ 0" in err
    want = expected_accounts(tmp_path / "accounts.csv")
    counts = want["Segment"].value_counts()
    assert f"Segments: A {counts.get('A', 0)}, B {counts.get('B', 0)}, C {counts.get('C', 0)}" in err
    assert "awaiting hours 1" in err  # A06 has no hours yet
    high = want.attrs["thresholds"]["RevenueHigh"]
    assert f"RevenueHigh {high:,.2f} (computed)" in err
    assert "Wrote 10 rows to" in err

    result = run("score", spec_pipeline(tmp_path / "p.csv"), "--as-of", AS_OF, "--p-min", "0.3", "-o", tmp_path / "p.xlsx")
    err = result.stderr
    assert "Read 7 rows from p.csv." in err
    assert "Priority (open rows): Pursue" in err
    assert "Follow-ups as of 2026-11-20: 0 overdue, 5 to contact now" in err
    assert "PMin 30.0% (set)" in err and "AmountMin" in err and "BigDealAmount" in err


def test_overdue_counts_follow_as_of(tmp_path):
    src = csv_file(tmp_path / "p.csv", ["Opportunity ID", "Amount", "Probability", "Last Contact"],
                   [("O1", 100, 0.5, "2026-11-01"), ("O2", 100, 0.5, "2026-11-15"), ("O3", 100, 0.5, "")])
    err = run("score", src, "--as-of", "2026-11-20", "--cadence-days", "10", "-o", tmp_path / "o.csv").stderr
    assert "1 overdue, 1 to contact now" in err
    err = run("score", src, "--as-of", "2026-11-26", "--cadence-days", "10", "-o", tmp_path / "o.csv").stderr
    assert "2 overdue, 1 to contact now" in err


def test_without_output_a_table_of_the_first_50_rows(tmp_path):
    rows = [(f"A{i:03d}", f"Name {i:03d}", "Ana", 1000 + i, "", 5, "") for i in range(60)]
    rows[0] = ("A000", "[bold red]Acme[/bold red]", "Ana", 1000, "", 5, "")
    src = csv_file(tmp_path / "a.csv", ["Account ID", "Account", "Owner", "Revenue", "Margin", "Hours", "Aggravation"], rows)
    result = run("classify", src)
    assert result.exit_code == 0
    out = result.stdout
    assert "A049" in out and "A050" not in out
    assert "10 more rows" in out and "-o" in out
    assert "[bold red]Acme[/bold red]" in out  # CRM text is not rich markup
    assert "Read 60 rows" in result.stderr and "Read 60 rows" not in out
    assert list(tmp_path.iterdir()) == [src]


def test_the_installed_entry_point_runs_in_a_real_process(tmp_path):
    src = spec_accounts(tmp_path / "accounts.xlsx")
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "rotxl.cli", "classify", str(src), "-o", str(out)],
                          check=False, capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    assert "Read 10 rows from accounts.xlsx." in done.stderr
    assert out_frame(out)["Segment"].tolist() == expected_accounts(src)["Segment"].fillna("").tolist()

    bad = csv_file(tmp_path / "bad.csv", ["ID", "Name"], [("1", "x")])
    done = subprocess.run([sys.executable, "-m", "rotxl.cli", "classify", str(bad), "-o", str(tmp_path / "x.csv")],
                          check=False, capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 2
    assert "bad.csv: missing required column(s)" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.csv").exists()
