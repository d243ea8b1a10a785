"""Reading what ``rotxl plan`` plans from: CRM exports and rotxl workbooks, in any mix."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd

from ..rules.schema import MissingColumnsError
from ..rules.settings import NAMED_CELLS, Settings
from .io import ReadError, read_accounts, read_pipeline

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
# Settings a rotxl workbook's Settings sheet holds that the plan reads when typed as numbers.
PLAN_SETTINGS = ("weekly_hours", "follow_up_minutes", "default_deal_hours", "cadence_days", "hours_months",
                 "revenue_high", "revenue_floor", "hours_high", "p_min", "amount_min", "big_deal_amount",
                 "aggravation_weight", "as_of")


def _sheets(path: Path) -> list[str]:
    from python_calamine import CalamineWorkbook

    try:
        return list(CalamineWorkbook.from_path(str(path)).sheet_names)
    except Exception:
        return []


def workbook_settings(path: str | os.PathLike[str]) -> dict[str, object]:
    """The settings typed (as numbers or dates, not formulas) in a rotxl workbook's named cells."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=False)
    found: dict[str, object] = {}
    for field in PLAN_SETTINGS:
        name = NAMED_CELLS[field][0]
        if name not in wb.defined_names:
            continue
        for sheet, ref in wb.defined_names[name].destinations:
            value = wb[sheet][ref.replace("$", "")].value
            if field == "as_of":
                if isinstance(value, dt.datetime):
                    found[field] = value.date()
                elif isinstance(value, dt.date):
                    found[field] = value
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                found[field] = int(value) if field == "cadence_days" else float(value)
    return found


def read_plan_inputs(paths: list[str | os.PathLike[str]]) -> tuple[pd.DataFrame | None, pd.DataFrame | None, dict[str, object]]:
    """Accounts and pipeline rows from the files (exports are told apart by their columns; a
    rotxl workbook gives both tables), and the settings typed in any rotxl workbook among them."""
    accounts, pipeline, settings = [], [], {}
    for p in map(Path, paths):
        if p.suffix.lower() in WORKBOOK_SUFFIXES and p.is_file() and {"Accounts", "Pipeline"} <= set(_sheets(p)):
            accounts.append(read_accounts(p))
            pipeline.append(read_pipeline(p))
            settings.update(workbook_settings(p))
            continue
        try:
            pipeline.append(read_pipeline(p))
        except MissingColumnsError as as_pipeline:
            try:
                accounts.append(read_accounts(p))
            except MissingColumnsError as as_accounts:
                raise ReadError(f"{p.name}: neither an accounts nor an opportunities export. "
                                f"As accounts: {as_accounts}. As opportunities: {as_pipeline}") from None
    join = lambda frames: pd.concat(frames, ignore_index=True) if frames else None  # noqa: E731
    return join(accounts), join(pipeline), settings


def plan_settings(typed: dict[str, object], **given: object) -> Settings:
    """The workbook's typed settings, overridden by what the command line gave."""
    return Settings().with_(**{**typed, **{k: v for k, v in given.items() if v is not None}})
