"""Team build (SPEC §6): one workbook per owner plus a Team Rollup, rebuilt weekly.

Thresholds are computed once over the whole team and written into every workbook as numbers,
so an A account means the same thing for everyone. A rebuild never loses what a salesperson did
(§6.1): the build state (rotxl.data.state, in ``--out/.rotxl``) remembers what was written, each
owner's workbook is compared with it (rotxl.data.merge, three-way), and their typed values, own
columns, own sheets and personal settings are carried onto the fresh export (rotxl.excel.carry).

A build, in order: take the lock on ``--out``; finish the renames of a build that was killed
after it committed; read the workbooks that changed since they were written (in worker
processes); merge; stop if most IDs changed (unless forced); write every workbook to a temporary
file of this build (workers); commit the new state together with the list of renames; back up
and rename the files into place; write the Team Rollup with its rebuild report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import history, state
from ..data.io import read_table
from ..data.merge import (META, SYNC_COLUMN, Merged, crm_headers, export_id_keys, has_id, id_keys, input_columns,
                          normalised_export, rebuild_table, theirs_from_state, written_norms)
from ..rules import engine, learn, metrics, plan
from ..rules.schema import ACCOUNT_COLUMNS, ACCOUNT_DERIVED, PIPELINE_COLUMNS, PIPELINE_DERIVED
from ..rules.settings import Settings, SettingsError
from . import carry, report as rebuild_report, rollup, trend, unmatched
from .cells import clean_name, put
from .workbook import build_workbook, save_workbook

UNASSIGNED = "Unassigned"
ROLLUP_NAME = "Team Rollup"
BACKUP_DIR = "backups"
MAX_STEM = 80
CHANGED_ID_MIN = 20  # SPEC §6.1: the changed-ID check needs a previous export of at least this many IDs
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
WRITE_META = ["_key", "_owner", "_row", "_file"]
TABLES = {"Accounts": (ACCOUNT_COLUMNS, ACCOUNT_DERIVED), "Pipeline": (PIPELINE_COLUMNS, PIPELINE_DERIVED)}
# Columns the build writes as values into the tables (§10): rewritten by every build, never carried.
BUILD_VALUES = {"Accounts": (metrics.ICP_FIT,), "Pipeline": ()}


class ChangedIDs(RuntimeError):
    """Most IDs of the previous export are missing from the fresh one: stop before writing."""


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
    report: pd.DataFrame | None = None  # the rebuild report (rotxl.excel.report.COLUMNS)
    unreadable: dict[str, str] = field(default_factory=dict)  # file -> why
    foreign: list[str] = field(default_factory=list)  # files in --out the build did not write
    backups: Path | None = None
    report_entries: list[dict] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)  # what the build learned or could not (for the summary)
    model: object | None = None  # the learned model (rotxl.rules.learn.Model), when there were enough deals


# ---------------------------------------------------------------- file names


def _stem(owner: str) -> str:
    s = unicodedata.normalize("NFC", clean_name(owner))
    s = _WINDOWS_FORBIDDEN.sub("_", s)
    if s.startswith("~$"):
        s = "_" + s[2:]  # Excel's lock-file prefix: a file named so is taken for a lock and never read
    s = s.strip(" .")  # Windows drops trailing dots/spaces; leading dots hide files
    s = re.sub(r"\s+", " ", s) or "owner"
    while len(s.encode("utf-8")) > MAX_STEM * 2 or len(s) > MAX_STEM:
        s = s[:-1]
    s = s.rstrip(" .") or "owner"
    if s.split(".")[0].upper() in _RESERVED:
        s = "_" + s
    return s


def safe_filenames(owners: list[str], known: dict[str, str] | None = None) -> dict[str, str]:
    """A file name per owner: no separators, nothing Windows forbids, no device names, no leading
    dot or "~$", bounded length, unicode kept, unique regardless of case (checked after naming,
    so "Ana" and "Ana c96634" cannot meet). Owners whose names would collide get a short hash of
    their full name; ``known`` names (from the build state) are kept, so a file keeps its name."""
    names: dict[str, str] = {}
    taken = {ROLLUP_NAME.casefold() + ".xlsx"}
    for o in owners:
        if known and o in known and known[o].casefold() not in taken:
            names[o] = known[o]
            taken.add(known[o].casefold())
    stems = {o: _stem(o) for o in owners if o not in names}
    clash: dict[str, int] = {}
    for s in stems.values():
        clash[s.casefold()] = clash.get(s.casefold(), 0) + 1
    for o in sorted(stems, key=lambda x: (x.casefold(), x)):
        s = stems[o]
        digest = hashlib.sha1(o.encode("utf-8")).hexdigest()
        n = 6 if clash[s.casefold()] > 1 or f"{s}.xlsx".casefold() in taken else 0
        name = f"{s} {digest[:n]}.xlsx" if n else f"{s}.xlsx"
        while name.casefold() in taken:
            n += 2
            name = f"{s} {digest[:n]}.xlsx" if n <= len(digest) else f"{s} {len(taken)}.xlsx"
        names[o] = name
        taken.add(name.casefold())
    return names


# ---------------------------------------------------------------- reading what is there


def read_workbook_inputs(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The input (and user-added) columns of a rotxl workbook's Accounts and Pipeline tables."""
    out = []
    for sheet, derived in (("Accounts", ACCOUNT_DERIVED), ("Pipeline", PIPELINE_DERIVED)):
        df = read_table(path, sheet=sheet)
        out.append(df.drop(columns=[c for c in df.columns if c in derived]))
    return out[0], out[1]


def owner_key(df: pd.DataFrame) -> pd.Series:
    if "Owner" not in df:
        return pd.Series(UNASSIGNED, index=df.index)
    text, blank = engine.parse_text(df["Owner"])
    return text.where(~blank, UNASSIGNED)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _lock_file(path: Path) -> Path:
    return path.with_name("~$" + path.name)


def _read_one(path: Path, formula_columns: dict[str, set[str]], rotxl_sheets: set[str]):
    try:
        return carry.read_owner_workbook(path, formula_columns, rotxl_sheets)
    except carry.UnreadableWorkbook as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - whatever a broken file does, it is reported, never a traceback
        return f"{path.name}: cannot be read ({type(e).__name__}: {clean_name(e)[:200]})"


# ---------------------------------------------------------------- writing one owner's workbook


@dataclass
class OwnerTask:
    owner: str
    name: str
    tmp: Path
    accounts: pd.DataFrame
    pipeline: pd.DataFrame
    settings: Settings
    sheets: list
    currency: str
    model: learn.Model | None = None
    checklist: dict | None = None


@dataclass
class BuildInputs:
    """What a build takes besides the exports: the team's settings (windows, minutes, UseLearned,
    HourlyCost), what the activity log gave (rotxl.data.crm.prepare), and the columns to learn
    from (§9) and to judge ICP fit on (§10)."""

    settings: Settings | None = None
    crm: object | None = None  # rotxl.data.crm.CrmResult
    learn_from: tuple[str, ...] = ()
    icp_from: tuple[str, ...] = ()


def _write_owner(task: OwnerTask) -> tuple[str, str | None, str | None, dict]:
    """Write one owner's workbook to this build's temporary file. (owner, sha256, error, layout)."""
    try:
        wb = build_workbook(task.accounts, task.pipeline, task.settings, currency=task.currency, model=task.model,
                            checklist=task.checklist, stream=True)
        layout = {"sheets": list(wb.sheetnames)}
        for table in TABLES:
            ws = next(w for w in wb.worksheets if table in w.tables)
            for cell in ws[1]:  # headers come from exports and salespeople: text, never formulas
                if cell.data_type == "f":
                    put(ws, 1, cell.column, cell.value)
            carry.write_table_formulas(ws, task.accounts if table == "Accounts" else task.pipeline)
            frame = task.accounts if table == "Accounts" else task.pipeline
            # formula: derived; input: from the merged rows; build: values the build fills (not carried)
            layout[table] = {c.name: ("formula" if c.calculatedColumnFormula is not None else
                                      "input" if c.name in frame.columns and c.name not in BUILD_VALUES[table]
                                      else "build")
                             for c in ws.tables[table].tableColumns}
        carry.add_own_sheets(wb, task.sheets)
        wb.properties.title = clean_name(f"rotxl: {task.owner}")[:255]
        wb.properties.subject = clean_name(task.owner)[:255]
        wb.save(task.tmp)
        return task.owner, _sha256(task.tmp), None, layout
    except OSError as e:
        return task.owner, None, f"{task.name} could not be written: {e.strerror or e}", {}


# ---------------------------------------------------------------- the team


def _theirs(read: dict[str, object], listed: pd.DataFrame, base: pd.DataFrame, positions: pd.DataFrame,
            table: str) -> tuple[pd.DataFrame, set[str]]:
    """Every listed workbook's table: as read now, or as the state says it was written; and the
    files taken from the state."""
    id_header = TABLES[table][0][0].header
    frames = []
    from_state = {}
    for r in listed.itertuples():
        wb = read.get(r.name)
        if isinstance(wb, carry.OwnerWorkbook):
            f = wb.tables[table].copy()
            f["_key"] = id_keys(f[id_header], blank_prefix=f"{r.name}:") if id_header in f else \
                np.array([f"\x01{r.name}:{i}" for i in range(len(f))], dtype=object)
            f["_file"], f["_owner"], f["_saved"] = r.name, r.owner, wb.saved
            frames.append(f)
        else:
            from_state[r.name] = (r.owner, 0.0)
    if from_state:
        frames.append(theirs_from_state(base, positions, table, from_state))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["_key", "_file", "_owner", "_saved", "_row"]), set(from_state)
    return pd.concat([f.astype(object) for f in frames], ignore_index=True), set(from_state)


def _changed_ids(previous: dict[str, pd.Index], fresh_keys: dict[str, pd.Index]) -> tuple[int, int]:
    """(previous export's IDs, how many of them are in the fresh export), team-wide."""
    total = present = 0
    for table, fresh in fresh_keys.items():
        total += len(previous[table])
        present += int(previous[table].isin(fresh).sum())
    return total, present


def _prepared_export(table: str, export: pd.DataFrame) -> pd.DataFrame:
    """An export with clean headers, a CRM column named like one of rotxl's renamed beside it."""
    export = export.set_axis([clean_name(h) for h in export.columns], axis=1)
    return crm_headers(export, [c.header for c in TABLES[table][0]], _reserved(table))


def _base(con, to_read: list[Path], exports: dict[str, pd.DataFrame], fresh_keys: dict[str, pd.Index]
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the rebuild needs of what was written last time: the rows' places (all) and the cells
    (rotxl.data.state.rebuild_cells) of the files read now, of rows no longer in the fresh export
    (or without an ID), and of rows and columns the salesperson made theirs."""
    positions = state.row_positions(con)
    gone = np.zeros(len(positions), dtype=bool)
    for table, fresh in fresh_keys.items():
        at = (positions["tbl"] == table).to_numpy()
        keys = positions["key"][at]
        gone[at] = ~keys.isin(fresh).to_numpy() | ~has_id(keys.to_numpy(dtype=object))
    inputs = {t: input_columns(TABLES[t][0], e) for t, e in exports.items()}
    return state.rebuild_cells(con, [p.name for p in to_read], positions[gone], inputs), positions


def _finish_pending(con, out_dir: Path) -> None:
    """A build killed after committing its state but before all its renames: finish them."""
    pending = con.execute("SELECT tmp, final FROM pending").fetchall()
    for tmp, final in pending:
        if Path(tmp).exists():
            os.replace(tmp, out_dir / final)
    if pending:
        con.execute("DELETE FROM pending")


def build_team(
    accounts: pd.DataFrame,
    pipeline: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    as_of: dt.date | None = None,
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
    currency: str = "$",
    force: bool = False,
    inputs: BuildInputs | None = None,
) -> TeamBuild:
    """Build (or rebuild) every owner's workbook and the Team Rollup in ``out_dir``.

    Raises state.BuildLocked when another build holds ``out_dir``, ChangedIDs when most IDs of
    the previous export are gone (unless ``force``). A workbook that is locked or cannot be read
    is reported (``result.unreadable``, ``result.failed``), left as it is, and the rest builds."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)
    with state.Lock(out_dir):
        con = state.connect(out_dir)
        try:
            _finish_pending(con, out_dir)
            return _build(con, accounts, pipeline, out_dir, as_of, jobs, say, currency, force, inputs or BuildInputs())
        finally:
            con.close()


def _build(con, accounts, pipeline, out_dir: Path, as_of, jobs, say, currency, force, inputs: BuildInputs) -> TeamBuild:
    tmp_root = out_dir / state.STATE_DIR / "tmp"
    shutil.rmtree(tmp_root, ignore_errors=True)  # a killed build's leftovers; we hold the lock
    listed = state.files(con)
    listed = listed.assign(name=[clean_name(n) for n in listed["name"]])
    kinds = {t: state.column_kinds(con, t) for t in TABLES}
    formula_columns = {t: {h for h, k in kinds[t].items() if k == "formula"} or set(TABLES[t][1]) for t in TABLES}
    rotxl_sheets = set(state.column_kinds(con, "#sheets")) or {"Start", "This Week", "Dashboard", "Settings", "Model"}

    result = TeamBuild(out_dir)
    skip_write: set[str] = set()  # files not to overwrite (locked or unreadable)
    to_read = []
    for r in listed.itertuples():
        path = out_dir / r.name
        if _lock_file(path).exists():
            result.unreadable[r.name] = f"{r.name} is open in Excel ({_lock_file(path).name} exists): close it and build again"
            skip_write.add(r.name)
        elif not path.is_file():
            continue  # deleted: rebuilt from the state
        elif r.own_sheets or _sha256(path) != r.sha256:
            to_read.append(path)
    known = {p.casefold() for p in listed["name"]} | {f"{ROLLUP_NAME}.xlsx".casefold()}
    result.foreign = sorted(p.name for p in out_dir.iterdir() if p.is_file() and p.name.casefold() not in known
                            and not (p.name.startswith("~$") and p.name[2:].casefold() in known))
    # workbooks an earlier rotxl wrote (before the build state): adopted, read like any other
    legacy = {n: o for n in result.foreign if (o := _legacy_owner(out_dir / n)) is not None
              and o not in set(listed["owner"])}
    if legacy:
        result.foreign = [n for n in result.foreign if n not in legacy]
        listed = pd.concat([listed, pd.DataFrame({"owner": list(legacy.values()), "name": list(legacy),
                                                  "sha256": "", "saved_at": "", "own_sheets": 0})], ignore_index=True)
        for n in legacy:
            if _lock_file(out_dir / n).exists():
                result.unreadable[n] = f"{n} is open in Excel ({_lock_file(out_dir / n).name} exists): close it and build again"
                skip_write.add(n)
            else:
                to_read.append(out_dir / n)

    workers = max(1, min(jobs or os.cpu_count() or 1, 64))
    pool: Executor | None = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        read: dict[str, object] = {}
        pairs: Iterable[tuple[str, object]] = ()
        if to_read:
            say(f"Reading {len(to_read)} changed workbook(s)")
            if pool:
                futures = {pool.submit(_read_one, p, formula_columns, rotxl_sheets): p for p in to_read}
                pairs = ((futures[f].name, f.result()) for f in as_completed(futures))
            else:
                pairs = ((p.name, _read_one(p, formula_columns, rotxl_sheets)) for p in to_read)
        # What was written last time, and the export's keys and values, worked out while the workers
        # read the changed workbooks.
        exports = {"Accounts": _prepared_export("Accounts", accounts), "Pipeline": _prepared_export("Pipeline", pipeline)}
        keys = {t: export_id_keys(e, TABLES[t][0]) for t, e in exports.items()}
        fresh_keys = {t: pd.Index(k[has_id(k)]) for t, k in keys.items()}
        base, positions = _base(con, to_read, exports, fresh_keys)
        norms = {t: normalised_export(e) for t, e in exports.items()}
        for k, (name, wb) in enumerate(pairs, start=1):
            read[name] = wb
            if isinstance(wb, str):
                result.unreadable[name] = wb
                skip_write.add(name)
            say(f"[{k}/{len(to_read)}] read {name}" + (": cannot be read" if isinstance(wb, str) else ""))
        for n in legacy:
            result.report_entries.append(rebuild_report.entry(
                "Adopted a workbook of an earlier rotxl", file=n,
                detail="no build state yet: its own columns, sheets, settings and the values in columns the CRM "
                       "does not fill are taken as typed"))
        return _merge_and_write(con, accounts, pipeline, exports, norms, keys, fresh_keys, out_dir, as_of, say,
                                currency, force, listed, read, skip_write, result, pool, tmp_root, base, positions,
                                _legacy_base(read, legacy), inputs)
    finally:
        if pool:
            pool.shutdown()


def _reserved(table: str) -> list[str]:
    columns, derived = TABLES[table]
    return [c.header for c in columns] + list(derived) + [SYNC_COLUMN]


def _merge_and_write(con, accounts, pipeline, exports, norms, keys, fresh_keys, out_dir, as_of, say, currency, force,
                     listed, read, skip_write, result, pool, tmp_root, base, positions, legacy_base, inputs: BuildInputs
                     ) -> TeamBuild:
    say("Merging")
    kinds = {t: state.column_kinds(con, t) for t in TABLES}
    if len(legacy_base):
        base = pd.concat([base, legacy_base], ignore_index=True)
    previous_ids = {t: state.export_ids(con, t) for t in TABLES}
    total, present = _changed_ids(previous_ids, fresh_keys)
    if total >= CHANGED_ID_MIN and present < total / 2 and not force:
        raise ChangedIDs(f"only {present:,} of the {total:,} IDs of the previous export are in this one (IDs re-exported "
                         "in another format?): nothing was written; check the export, or build again with --force")
    report: list[dict] = result.report_entries
    merged: dict[str, Merged] = {}
    own_cols: dict[str, dict[str, set[str]]] = {}
    for table, export in exports.items():
        columns, _ = TABLES[table]
        theirs, from_state = _theirs(read, listed, base, positions, table)
        # what the build fills is not carried (a state written before ICP Fit was marked says "input")
        theirs = theirs.drop(columns=[h for h in theirs.columns if h != SYNC_COLUMN
                                      and (kinds[table].get(h) == "build" or h in BUILD_VALUES[table])])
        # which of the salesperson's own columns each file has (the rest are the export's)
        export_side = set(input_columns(columns, export))
        own = [h for h in theirs.columns if h not in META and h != SYNC_COLUMN and h not in export_side]
        filled = theirs[own].notna().groupby(theirs["_file"].to_numpy()).any() if len(theirs) else pd.DataFrame()
        own_cols[table] = {f: set(filled.columns[row]) | set(read[f].tables[table].columns
                                                              if isinstance(read.get(f), carry.OwnerWorkbook) else ())
                           for f, row in zip(filled.index, filled.to_numpy(dtype=bool))}
        b = base[base["tbl"] == table]
        ever = set(previous_ids[table]) | set(b.loc[(b["col"] == columns[0].header) & (b["export_value"] != ""), "key"])
        m = rebuild_table(table, columns, export, theirs, b, ever, from_state, norms[table], keys[table])
        merged[table] = m
        report += m.report
    for name, wb in read.items():
        if isinstance(wb, carry.OwnerWorkbook):
            for table, row, h, v in wb.typed_over:
                report.append(rebuild_report.entry("Typed over a formula: not carried", table, f"row {row}", h, v,
                                                   file=name, detail="the formula is restored"))
            for line in wb.not_carried:
                report.append(rebuild_report.entry("Not carried", file=name, detail=line))

    acc, pipe = merged["Accounts"].frame, merged["Pipeline"].frame
    base_settings = (inputs.settings or Settings()).with_(as_of=as_of or dt.date.today())
    # §9: learned from the merged rows (the export with what salespeople typed: their scores)
    model = learn.learn_from(pipe.drop(columns=WRITE_META), base_settings, inputs.learn_from)
    if isinstance(model, learn.Shortfall):
        result.notes.append(f"Learned engagement: {model.message}")
        model = None
    else:
        result.notes.append(f"Learned engagement from {model.won:,} won and {model.lost:,} lost deals "
                            "(the Model sheet of every workbook shows the model and how good it is).")
    result.model = model
    team_acc = engine.classify_accounts(acc.drop(columns=WRITE_META), base_settings)
    team_pipe = engine.score_pipeline(learn.add_learned(pipe.drop(columns=WRITE_META), model), base_settings)
    t = {**team_acc.attrs["thresholds"], **team_pipe.attrs["thresholds"]}
    known_t = {k: (None if v != v else v) for k, v in t.items()}  # NaN: no valid rows; the workbook computes it live
    settings = base_settings.with_(revenue_high=known_t["RevenueHigh"], revenue_floor=known_t["RevenueFloor"],
                                   hours_high=known_t["HoursHigh"], amount_min=known_t["AmountMin"],
                                   big_deal_amount=known_t["BigDealAmount"])
    # §8 for the team's figures (each workbook plans with its owner's own WeeklyHours, live)
    week_plan = plan.make_plan(team_acc, team_pipe, settings)
    team_acc = team_acc.assign(**{"Plan Hours": week_plan.account_hours, "Planned Return": week_plan.account_return})
    team_pipe = team_pipe.assign(**{"Plan Hours": week_plan.pipeline_hours, "Planned Return": week_plan.pipeline_return})
    # §10 ICP Fit: the team's A accounts are what every account is compared with (a value, written by the build)
    fit = metrics.icp_fit(team_acc, inputs.icp_from)
    team_acc[metrics.ICP_FIT] = fit
    acc = acc.assign(**{metrics.ICP_FIT: fit})
    # The workbooks judge AsOf live (TODAY()) unless a date was given
    owner_settings = settings.with_() if as_of else _live_as_of(settings)
    result.thresholds, result.accounts, result.pipeline = t, team_acc, team_pipe

    acc_owner, pipe_owner = owner_key(acc), owner_key(pipe)
    owners = sorted(set(acc_owner) | set(pipe_owner), key=str.casefold)
    by_owner_file = dict(zip(listed["owner"], listed["name"]))
    names = _names_clear_of_foreign(owners, by_owner_file, result, out_dir, report)
    file_owner = {n: o for o, n in names.items()}

    # personal settings: what the owner typed (read now, or remembered in the state)
    typed_settings = _personal_settings(read, listed, base, report)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H%M%S")
    build_id = con.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM builds").fetchone()[0]
    tmp_dir = tmp_root / str(build_id)
    tmp_dir.mkdir(parents=True, exist_ok=True)

    acc_rows = _rows_by_owner(acc, acc_owner)
    pipe_rows = _rows_by_owner(pipe, pipe_owner)
    crm = inputs.crm
    week = trend.week_table(team_acc, team_pipe, acc_owner, pipe_owner, settings, inputs.icp_from,
                            getattr(crm, "logged_this_week", None))
    checklist = {o: {k: v for k, v in row.items() if isinstance(k, str)} for o, row in week.iloc[:-1].iterrows()}
    tasks = []
    for o in owners:
        name = names[o]
        if name in skip_write:
            result.failed[o] = result.unreadable.get(name, f"{name} was not written")
            continue
        if _lock_file(out_dir / name).exists():
            result.failed[o] = f"{name} is open in Excel ({_lock_file(out_dir / name).name} exists): close it and build again"
            continue
        s = owner_settings
        changes = typed_settings.get(name, {})
        if changes:
            try:
                s = settings.with_(**carry.personal_settings(changes))
            except (SettingsError, TypeError, ValueError) as e:
                report.append(rebuild_report.entry("Setting not carried", file=name, detail=clean_name(e)))
        own = read.get(name)
        sheets = own.sheets if isinstance(own, carry.OwnerWorkbook) else []
        a, p = acc.iloc[acc_rows.get(o, [])], pipe.iloc[pipe_rows.get(o, [])]
        a, p = _home_order(a, name), _home_order(p, name)
        a = _own_columns(a, merged["Accounts"].user_columns, own_cols["Accounts"].get(name, set()))
        p = _own_columns(p, merged["Pipeline"].user_columns, own_cols["Pipeline"].get(name, set()))
        a, p = a.drop(columns=WRITE_META), p.drop(columns=WRITE_META)  # the merge's bookkeeping is not a column
        tasks.append(OwnerTask(o, name, tmp_dir / f"{len(tasks)}.xlsx", a, p, s, sheets, currency, model,
                               checklist.get(o)))
    written: dict[str, tuple[OwnerTask, str]] = {}
    layout: dict = {}
    say(f"Writing {len(tasks)} workbook(s)")

    def record(k: int, task: OwnerTask, sha: str | None, error: str | None, lay: dict) -> None:
        nonlocal layout
        if error:
            result.failed[task.owner] = error
        else:
            written[task.name] = (task, sha)
            layout = layout or lay
        say(f"[{k}/{len(tasks)}] {task.owner}: " + (error or task.name))

    if pool:
        futures = {pool.submit(_write_owner, task): task for task in tasks}
        for k, f in enumerate(as_completed(futures), start=1):
            owner, sha, error, lay = f.result()
            record(k, futures[f], sha, error, lay)
    else:
        for k, task in enumerate(tasks, start=1):
            owner, sha, error, lay = _write_owner(task)
            record(k, task, sha, error, lay)

    # what people did that the report names; then the new state, in one transaction
    result.report = rebuild_report.frame(report)
    backups = out_dir / BACKUP_DIR / f"{stamp} build {build_id}"
    replaced = [n for n in written if (out_dir / n).exists()]
    result.backups = backups if replaced else None
    for n in replaced:  # before the state moves on: a build killed after its commit is finished by the next one
        backups.mkdir(parents=True, exist_ok=True)
        _backup(out_dir / n, backups / n)
    _save_state(con, build_id, force, merged, written, layout, accounts, pipeline, listed, file_owner, tmp_dir, owners,
                names, skip_write, typed_settings)
    for n, (task, _) in sorted(written.items()):
        os.replace(task.tmp, out_dir / n)
        result.written.append(out_dir / n)
    con.execute("DELETE FROM pending")
    shutil.rmtree(tmp_dir, ignore_errors=True)

    # §10: this week's figures join the history (the same AsOf replaces its week)
    history.record_week(con, settings.as_of_date(), week)
    result.table = week
    wb = rollup.build_rollup(week, settings, t, currency, links=names, history=history.load_history(con))
    rebuild_report.write(wb, result)
    if crm is not None and len(getattr(crm, "unmatched_activities", ())):
        unmatched.write_unmatched_sheet(wb, crm.unmatched_activities)
    rollup_path = out_dir / f"{ROLLUP_NAME}.xlsx"
    if _lock_file(rollup_path).exists():
        result.failed[ROLLUP_NAME] = f"{rollup_path.name} is open in Excel ({_lock_file(rollup_path).name} exists): close it and build again"
    else:
        try:
            save_workbook(wb, rollup_path, force=True)
            result.rollup = rollup_path
        except PermissionError:
            result.failed[ROLLUP_NAME] = f"{rollup_path.name} is locked (open in Excel?): close it and build again"
    say(f"Team Rollup: {result.failed.get(ROLLUP_NAME, rollup_path.name)}")
    return result


def _backup(path: Path, to: Path) -> None:
    """Keep the workbook about to be replaced. A hard link where the disk has them: the build
    renames a new file over the old one, so the link holds the old bytes without a copy."""
    try:
        os.link(path, to)
    except OSError:
        shutil.copy2(path, to)


def _live_as_of(s: Settings) -> Settings:
    """``s`` with AsOf left to the workbook (a live =TODAY())."""
    from dataclasses import replace

    return replace(s, as_of=None)


def _legacy_owner(path: Path) -> str | None:
    """The owner of a workbook an earlier rotxl (before the build state) wrote: its title says so."""
    import zipfile
    from xml.sax.saxutils import unescape

    if path.suffix.lower() != ".xlsx" or path.name.startswith("~$"):
        return None
    try:
        carry.check_xlsx(path)
        with zipfile.ZipFile(path) as z:
            core = z.read("docProps/core.xml")[:100_000].decode("utf-8", "replace")
    except (carry.UnreadableWorkbook, KeyError, OSError, zipfile.BadZipFile):
        return None
    title = re.search(r"<dc:title[^>]*>rotxl: (.*?)</dc:title>", core, re.S)
    return unescape(title.group(1)) if title else None


def _legacy_base(read: dict[str, object], legacy: dict[str, str]) -> pd.DataFrame:
    """For a workbook an earlier rotxl wrote, there is no state: take its CRM-owned cells as what
    was written (so they are not mistaken for typed values) and everything else as typed."""
    parts = []
    for name in legacy:
        wb = read.get(name)
        if not isinstance(wb, carry.OwnerWorkbook):
            continue
        for table, (columns, _) in TABLES.items():
            f = wb.tables[table]
            id_header = columns[0].header
            if id_header not in f or not len(f):
                continue
            keys = id_keys(f[id_header], blank_prefix=f"{name}:")
            user_owned = {c.header for c in columns if not c.crm_owned}
            for h in f.columns:
                if h.startswith("_") or h in user_owned:
                    continue
                norm, kind = written_norms(f[h], h)
                parts.append(pd.DataFrame({"file": name, "tbl": table, "key": keys, "col": h, "export_value": norm,
                                           "written_value": norm, "kind": kind, "typed": 0}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _names_clear_of_foreign(owners, known, result, out_dir: Path, report) -> dict[str, str]:
    """File names that leave the files the build did not write alone."""
    foreign = {n.casefold() for n in result.foreign}
    names = safe_filenames(owners, known)
    for o, n in names.items():
        if n.casefold() in foreign:
            taken = {v.casefold() for v in names.values()} | foreign
            stem, k = n[:-5], 2
            while f"{stem} ({k}).xlsx".casefold() in taken:
                k += 1
            names[o] = f"{stem} ({k}).xlsx"
    return names


def _rows_by_owner(df: pd.DataFrame, owner: pd.Series) -> dict[str, np.ndarray]:
    return df.groupby(owner.to_numpy()).indices if len(df) else {}


def _own_columns(df: pd.DataFrame, user_columns: list[str], mine: set[str]) -> pd.DataFrame:
    """A salesperson's own columns go to their own workbook, and wherever one of their rows went."""
    drop = [h for h in user_columns if h not in mine and df[h].isna().all()]
    return df.drop(columns=drop)


def _home_order(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows already in this workbook stay in the order the salesperson left them; new ones follow."""
    if not len(df):
        return df.reset_index(drop=True)
    home = (df["_file"].to_numpy(dtype=object) == name) & pd.notna(df["_row"]).to_numpy()
    order = np.where(home, pd.to_numeric(df["_row"], errors="coerce").fillna(0).to_numpy(), np.inf)
    return df.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def _personal_settings(read, listed, base, report) -> dict[str, dict[str, object]]:
    """Per file, the personal settings its owner typed (now, or on an earlier build: sticky)."""
    out: dict[str, dict[str, object]] = {}
    b = base[base["tbl"] == "Settings"]
    read_now = {n for n, wb in read.items() if isinstance(wb, carry.OwnerWorkbook)}
    # only the workbooks read now and those with a setting typed before can have one to carry
    b = b[b["file"].isin(pd.Index(list(read_now))) | (b["typed"] == 1)]
    by_file = {f: g.set_index("col") for f, g in b.groupby("file")}
    none = b.iloc[:0].set_index("col")
    for name in listed["name"]:
        if name not in read_now and name not in by_file:
            continue
        mine = by_file.get(name, none)
        values: dict[str, object] = {}
        if name in read_now:
            for setting, value in read[name].settings.items():
                norm = state.normalise([value])[0][0]
                was = mine["written_value"].get(setting, None)
                if (was is not None and norm != was) or int(mine["typed"].get(setting, 0) or 0):
                    values[setting] = value
        else:
            for setting, row in mine[mine["typed"] == 1].iterrows():
                values[setting] = state.restore(row["written_value"], row["kind"])
        if values:
            out[name] = values
            for setting, value in values.items():
                report.append(rebuild_report.entry("Setting carried", "Settings", "", setting, value, file=name))
    return out


def _settings_cells(s: Settings) -> dict[str, object]:
    from ..rules.settings import NAMED_CELLS

    values = {name: getattr(s, f) for f, (name, scope) in NAMED_CELLS.items() if scope == "personal"}
    values.update(dict(zip(engine.WEIGHT_NAMES, s.weights)))
    return values


def _save_table_state(con, table: str, m: Merged, names: dict[str, str], files: list[str]) -> None:
    """The rows and cells of one table of the files written. They go in in key order (file, key,
    column), which SQLite appends to its index far faster than rows in any other order."""
    frame = m.frame
    file = np.array([names.get(o, "") for o in owner_key(frame).to_numpy(dtype=object)], dtype=object)
    keep = np.flatnonzero(pd.Series(file).isin(pd.Index(files)).to_numpy())
    f, fn = frame.iloc[keep], file[keep]
    keys = f["_key"].to_numpy(dtype=object)
    # sheet row of each key: rows of one file are written in _home_order
    rows = np.empty(len(f), dtype=np.int64)
    for n, idx in (pd.Series(fn).groupby(fn).indices.items() if len(fn) else ()):
        ordered = _home_order(f.iloc[idx].assign(_i=idx), n)["_i"].to_numpy()
        rows[ordered] = np.arange(2, len(ordered) + 2)
    order = np.lexsort((pd.factorize(keys, sort=True)[0], pd.factorize(fn, sort=True)[0])) if len(f) else np.arange(0)
    con.executemany("INSERT INTO rows (file, tbl, key, row) VALUES (?,?,?,?)",
                    zip(fn[order].tolist(), itertools.repeat(table), keys[order].tolist(), rows[order].tolist()))
    cols = sorted(h for h in frame.columns if not h.startswith("_") and h != SYNC_COLUMN)
    if not cols or not len(f):
        return
    shape = (len(f), len(cols))
    written_value, kind = np.empty(shape, dtype=object), np.empty(shape, dtype=object)
    export_value, typed = np.full(shape, "", dtype=object), np.zeros(shape, dtype=np.int64)
    for j, h in enumerate(cols):
        norm, k = written_norms(f[h], h)
        written_value[:, j], kind[:, j] = norm[order], k[order]
        if h in m.cells:  # an input column; the salesperson's own columns have no export value
            ev, ty = m.cells[h]
            export_value[:, j], typed[:, j] = ev[keep][order], ty[keep][order]
    # row-major: each key's columns together, in key order
    written_value, kind, export_value, typed = (a.ravel() for a in (written_value, kind, export_value, typed))
    some = np.flatnonzero((written_value != "") | (export_value != "") | (typed == 1))
    file_of, key_of = np.repeat(fn[order], len(cols)), np.repeat(keys[order], len(cols))
    col_of = np.tile(np.array(cols, dtype=object), len(f))
    con.executemany("INSERT OR REPLACE INTO cells (file, tbl, key, col, export_value, written_value, kind, typed) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    zip(file_of[some].tolist(), itertools.repeat(table), key_of[some].tolist(), col_of[some].tolist(),
                        export_value[some].tolist(), written_value[some].tolist(), kind[some].tolist(), typed[some].tolist()))


def _save_state(con, build_id, force, merged, written, layout, accounts, pipeline, listed, file_owner, tmp_dir, owners,
                names, skip_write, typed_settings) -> None:
    """The new build state and the renames still to do, in one transaction."""
    now = dt.datetime.now().isoformat(timespec="seconds")
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("INSERT INTO builds (id, started_at, finished_at, accounts, opportunities, forced) VALUES (?,?,?,?,?,?)",
                    (build_id, now, now, len(accounts), len(pipeline), int(force)))
        files = list(written)
        gone = [n for n in listed["name"] if n not in written and n not in skip_write and n not in set(names.values())]
        if set(listed["name"]) <= set(files) | set(gone):  # every file's state is replaced: SQLite drops the pages at once
            con.execute("DELETE FROM cells")
            con.execute("DELETE FROM rows")
        for n in files + gone:
            for table in ("cells", "rows"):
                con.execute(f"DELETE FROM {table} WHERE file = ?", (n,))
            con.execute("DELETE FROM files WHERE name = ?", (n,))
        for table, m in merged.items():
            _save_table_state(con, table, m, names, files)
        for n, (task, sha) in written.items():
            own = 1 if task.sheets else 0
            con.execute("INSERT OR REPLACE INTO files (owner, name, sha256, saved_at, build_id, own_sheets) VALUES (?,?,?,?,?,?)",
                        (task.owner, n, sha, now, build_id, own))
            typed = typed_settings.get(n, {})
            for name, value in _settings_cells(task.settings).items():
                norm, kind = state.normalise([value])
                con.execute("INSERT OR REPLACE INTO cells (file, tbl, key, col, export_value, written_value, kind, typed) "
                            "VALUES (?,?,?,?,?,?,?,?)", (n, "Settings", "", name, "", norm[0], kind[0], int(name in typed)))
            con.execute("INSERT INTO pending (build_id, tmp, final) VALUES (?,?,?)", (build_id, str(task.tmp), n))
        if layout:
            con.execute("DELETE FROM columns")
            for table in TABLES:
                con.executemany("INSERT INTO columns (tbl, header, kind) VALUES (?,?,?)",
                                [(table, h, k) for h, k in layout.get(table, {}).items()])
            con.executemany("INSERT INTO columns (tbl, header, kind) VALUES ('#sheets', ?, 'sheet')",
                            [(s,) for s in layout["sheets"]])
        con.execute("DELETE FROM export_ids")
        for table, df in (("Accounts", accounts), ("Pipeline", pipeline)):
            id_header = TABLES[table][0][0].header
            if id_header in df:
                keys = np.unique(id_keys(df[id_header]))  # in key order: see _save_table_state
                con.executemany("INSERT OR IGNORE INTO export_ids (tbl, key) VALUES (?, ?)",
                                [(table, k) for k in keys.tolist() if not k.startswith("\x01")])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
