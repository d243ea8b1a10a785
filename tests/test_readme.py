"""The README's library example runs as written, on the sample team's exports."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl

from rotxl.data.sample import sample_accounts, sample_pipeline

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_library_example_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## As a library"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    acc = sample_accounts(60, seed=3)
    acc.to_csv(tmp_path / "accounts.csv", index=False)
    sample_pipeline(acc, 120, seed=4).to_csv(tmp_path / "opportunities.csv", index=False)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    for name in ("scored.xlsx", "mine.xlsx", "fast.xlsx", "team/Team Rollup.xlsx"):
        assert (tmp_path / name).is_file(), name
    mine, fast = (openpyxl.load_workbook(tmp_path / n)["Accounts"] for n in ("mine.xlsx", "fast.xlsx"))
    assert [[c.value for c in r] for r in mine.iter_rows()] == [[c.value for c in r] for r in fast.iter_rows()]
