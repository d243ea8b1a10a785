"""Team build (SPEC §6): one workbook per owner plus a Team Rollup, rebuilt weekly.

Thresholds are computed once over the whole team and written into every workbook as numbers,
so an A account means the same thing for everyone. A rebuild merges the fresh exports with
what each salesperson typed (rotxl.data.merge), team-wide by ID, so an account that moved from one
owner to another takes its logged hours along.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import unicodedata
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..rules import engine

from . import rollup
from ..data.io import read_table
from ..data.merge import merge_table
from ..rules.schema import ACCOUNT_COLUMNS, ACCOUNT_DERIVED, PIPELINE_COLUMNS, PIPELINE_DERIVED
from ..rules.settings import Settings
from .workbook import build_workbook, save_workbook

UNASSIGNED = "Unassigned"
ROLLUP_NAME = "Team Rollup"
BACKUP_DIR = "backups"
MAX_STEM = 80
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


@dataclass
class TeamBuild:
    out_dir: Path
    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # owner -> what went wrong
    rollup: Path | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    accounts: pd.DataFrame | None = None  # team-wide, classified
    pipeline: pd.DataFrame | None = None  # team-wide, scored
    table: pd.DataFrame | None = None  # the rollup's figures: one row per owner, then "Team"


# ---------------------------------------------------------------- file names


def _stem(owner: str) -> str:
    s = unicodedata.normalize("NFC", owner)
    s = _WINDOWS_FORBIDDEN.sub("_", s).strip(" .")  # Windows drops trailing dots/spaces; leading dots hide files
    s = re.sub(r"\s+", " ", s) or "owner"
    while len(s.encode("utf-8")) > MAX_STEM * 2 or len(s) > MAX_STEM:
        s = s[:-1]
    s = s.rstrip(" .") or "owner"
    if s.split(".")[0].upper() in _RESERVED:
        s = "_" + s
    return s


def safe_filenames(owners: list[str]) -> dict[str, str]:
    """A file name per owner: no separators, nothing Windows forbids, no device names, bounded
    length, unicode kept; owners whose names would collide (also by case) get a short hash of
    their full name, so the same owner always gets the same file."""
    stems = {o: _stem(o) for o in owners}
    groups: dict[str, list[str]] = {}
    for o, s in stems.items():
        groups.setdefault(s.casefold(), []).append(o)
    names = {}
    for o, s in stems.items():
        if len(groups[s.casefold()]) > 1 or s.casefold() == ROLLUP_NAME.casefold():
            s = f"{s} {hashlib.sha1(o.encode('utf-8')).hexdigest()[:6]}"
        names[o] = f"{s}.xlsx"
    return names


# ---------------------------------------------------------------- reading what is there


def read_workbook_inputs(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The input (and user-added) columns of a rotxl workbook's Accounts and Pipeline tables."""
    out = []
    for sheet, derived in (("Accounts", ACCOUNT_DERIVED), ("Pipeline", PIPELINE_DERIVED)):
        df = read_table(path, sheet=sheet)
        out.append(df.drop(columns=[c for c in df.columns if c in derived]))
    return out[0], out[1]


def _previous(out_dir: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    accounts, pipeline = [], []
    for path in sorted(out_dir.glob("*.xlsx")):
        if path.stem == ROLLUP_NAME or path.name.startswith(("~$", ".")):
            continue
        a, p = read_workbook_inputs(path)
        accounts.append(a)
        pipeline.append(p)
    return _concat(accounts), _concat(pipeline)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    return pd.concat([f.astype(object) for f in frames], ignore_index=True) if frames else None


def owner_key(df: pd.DataFrame) -> pd.Series:
    if "Owner" not in df:
        return pd.Series(UNASSIGNED, index=df.index)
    text, blank = engine.parse_text(df["Owner"])
    return text.where(~blank, UNASSIGNED)


# ---------------------------------------------------------------- writing one owner's workbook


def _locked(path: Path) -> str | None:
    lock = path.with_name("~$" + path.name)
    if lock.exists():
        return f"{path.name} is open in Excel ({lock.name} exists): close it and build again"
    return None


def _write_owner(owner: str, path: Path, accounts: pd.DataFrame, pipeline: pd.DataFrame, settings: Settings,
                 currency: str, stamp: str) -> tuple[str, Path, str | None]:
    try:
        problem = _locked(path)
        if problem:
            return owner, path, problem
        wb = build_workbook(accounts, pipeline, settings, currency=currency)
        wb.properties.title = f"rotxl: {owner}"
        wb.properties.subject = owner
        if path.exists():
            backups = path.parent / BACKUP_DIR
            backups.mkdir(exist_ok=True)
            shutil.copy2(path, backups / f"{path.stem} {stamp}.xlsx")
        save_workbook(wb, path, force=True)
        return owner, path, None
    except PermissionError:
        return owner, path, f"{path.name} is locked (open in Excel or read-only): close it and build again"
    except OSError as e:
        return owner, path, f"{path.name} could not be written: {e.strerror or e}"


# ---------------------------------------------------------------- the team


def build_team(
    accounts: pd.DataFrame,
    pipeline: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    as_of: dt.date | None = None,
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
    currency: str = "$",
) -> TeamBuild:
    """Build (or rebuild) every owner's workbook and the Team Rollup in ``out_dir``.

    A locked workbook is reported in ``result.failed`` and the rest of the team still builds.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".*.xlsx.tmp"):  # left by a build that was killed mid-write
        stale.unlink(missing_ok=True)
    prev_acc, prev_pipe = _previous(out_dir)
    acc = merge_table(prev_acc, accounts, ACCOUNT_COLUMNS)
    pipe = merge_table(prev_pipe, pipeline, PIPELINE_COLUMNS)

    base = Settings(as_of=as_of or dt.date.today())
    team_acc = engine.classify_accounts(acc, base)
    team_pipe = engine.score_pipeline(pipe, base)
    t = {**team_acc.attrs["thresholds"], **team_pipe.attrs["thresholds"]}
    known = {k: (None if v != v else v) for k, v in t.items()}  # NaN: no valid rows; the workbook computes it live
    settings = base.with_(revenue_high=known["RevenueHigh"], revenue_floor=known["RevenueFloor"], hours_high=known["HoursHigh"],
                          amount_min=known["AmountMin"], big_deal_amount=known["BigDealAmount"])

    acc_owner, pipe_owner = owner_key(acc), owner_key(pipe)
    owners = sorted(set(acc_owner) | set(pipe_owner), key=str.casefold)
    names = safe_filenames(owners)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H%M%S")
    result = TeamBuild(out_dir, thresholds=t, accounts=team_acc, pipeline=team_pipe)
    acc_rows, pipe_rows = acc.groupby(acc_owner.to_numpy()).indices, pipe.groupby(pipe_owner.to_numpy()).indices
    none = np.array([], dtype=int)
    tasks = [(o, out_dir / names[o], acc.iloc[acc_rows.get(o, none)], pipe.iloc[pipe_rows.get(o, none)], settings, currency, stamp)
             for o in owners]
    workers = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    done = 0

    def record(owner: str, path: Path, error: str | None) -> None:
        nonlocal done
        done += 1
        if error:
            result.failed[owner] = error
        else:
            result.written.append(path)
        if progress:
            progress(f"[{done}/{len(tasks)}] {owner}: " + (error or path.name))

    def rollup_workbook():
        result.table = rollup.team_table(team_acc, team_pipe, acc_owner, pipe_owner, settings)
        return rollup.build_rollup(result.table, settings, t, currency)

    if workers == 1:
        for task in tasks:
            record(*_write_owner(*task))
        wb = rollup_workbook()
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_write_owner, *task) for task in tasks]
            wb = rollup_workbook()  # while the workers write the owners' files
            for future in as_completed(futures):
                record(*future.result())

    rollup_path = out_dir / f"{ROLLUP_NAME}.xlsx"
    problem = _locked(rollup_path)
    if problem:
        result.failed[ROLLUP_NAME] = problem
    else:
        try:
            save_workbook(wb, rollup_path, force=True)
            result.rollup = rollup_path
        except PermissionError:
            result.failed[ROLLUP_NAME] = f"{rollup_path.name} is locked (open in Excel?): close it and build again"
    if progress:
        progress(f"Team Rollup: {result.failed.get(ROLLUP_NAME, rollup_path.name)}")
    return result
