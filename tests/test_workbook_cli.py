"""`rotxl template` and `rotxl workbook` with real files."""

from __future__ import annotations

import zipfile

import openpyxl
import pandas as pd
from click.testing import CliRunner

import rotxl
from rotxl.cli import main
from rotxl.data.sample import SAMPLE_AS_OF, sample_accounts, sample_pipeline
from rotxl.rules import learn
from rotxl.rules.schema import ACCOUNT_DERIVED, PIPELINE_DERIVED
from rotxl.rules.settings import Settings
from rotxl.excel.workbook import reading_rows
from spreadsheet import mismatches, recalculate, sheet


def _exports(tmp_path):
    acc = sample_accounts(150, seed=3)
    acc.to_csv(tmp_path / "accounts.csv", index=False)
    sample_pipeline(acc, 200, seed=4).to_csv(tmp_path / "pipeline.csv", index=False)
    return tmp_path / "accounts.csv", tmp_path / "pipeline.csv"


def test_workbook_from_exports_recalculates_to_the_engine(tmp_path):
    acc, pipe = _exports(tmp_path)
    out = tmp_path / "team.xlsx"
    r = CliRunner().invoke(main, ["workbook", "--accounts", str(acc), "--pipeline", str(pipe),
                                  "--as-of", SAMPLE_AS_OF.isoformat(), "-o", str(out)])
    assert r.exit_code == 0, r.output
    [done] = recalculate([out], tmp_path / "recalc")
    want_a = rotxl.classify_accounts(rotxl.data.io.read_accounts(acc))
    read = rotxl.data.io.read_pipeline(pipe)
    # §9: the command learns from the export's closed deals, so the engine scores with that same model
    settings = Settings(as_of=SAMPLE_AS_OF)
    model = learn.learn_from(read, settings)
    assert isinstance(model, learn.Model), model  # the sample has enough closed deals: learned Engagement is checked
    want_p = rotxl.score_pipeline(learn.add_learned(read, model), settings)
    want_p = want_p.iloc[reading_rows(read)].reset_index(drop=True)  # Won, Lost last
    errors = mismatches(sheet(done, "Accounts"), want_a, ACCOUNT_DERIVED)
    errors += mismatches(sheet(done, "Pipeline"), want_p, (*PIPELINE_DERIVED, learn.LEARNED, learn.WHY))
    assert not errors, "\n".join(errors[:20])
    # numbers from the CSV are numbers in the workbook, names are text
    ws = openpyxl.load_workbook(out)["Accounts"]
    revenue = next(c.column_letter for c in ws[1] if c.value == "Revenue")
    assert isinstance(ws[f"{revenue}2"].value, float) and ws["B2"].data_type == "s"


def test_workbook_refuses_to_overwrite_without_force(tmp_path):
    acc, _ = _exports(tmp_path)
    out = tmp_path / "mine.xlsx"
    out.write_bytes(b"precious")
    r = CliRunner().invoke(main, ["workbook", "--accounts", str(acc), "-o", str(out)])
    assert r.exit_code == 2 and "--force" in r.output and out.read_bytes() == b"precious"
    r = CliRunner().invoke(main, ["workbook", "--accounts", str(acc), "-o", str(out), "--force"])
    assert r.exit_code == 0 and zipfile.is_zipfile(out)


def test_workbook_with_a_missing_column_writes_nothing(tmp_path):
    bad = tmp_path / "accounts.csv"
    pd.DataFrame({"Account ID": ["1"], "Account": ["x"], "Revenu": [5]}).to_csv(bad, index=False)
    out = tmp_path / "out.xlsx"
    r = CliRunner().invoke(main, ["workbook", "--accounts", str(bad), "-o", str(out)])
    assert r.exit_code == 2
    assert "accounts.csv" in r.output and "Revenue" in r.output and "Revenu" in r.output
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_template_command_writes_the_empty_workbook(tmp_path):
    out = tmp_path / "t.xlsx"
    r = CliRunner().invoke(main, ["template", "-o", str(out)])
    assert r.exit_code == 0
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[:6] == ["Start", "This Week", "Accounts", "Pipeline", "Dashboard", "Settings"]
    assert CliRunner().invoke(main, ["template", "-o", str(out)]).exit_code == 2
