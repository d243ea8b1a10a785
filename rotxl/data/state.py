"""The build state (SPEC §6.1): what a team build wrote, kept in ``--out/.rotxl/state.sqlite``.

A rebuild compares each owner's workbook with what was written last time, so it knows exactly
what the salesperson changed. The schema is versioned (``PRAGMA user_version``) and grows by
migrations written as code: ``MIGRATIONS[k]`` brings a file from version k to k + 1. Add a
migration by appending to the list; never edit one that has shipped.

Tables:

- ``builds``: one row per build (when, how many rows, forced or not);
- ``files``: per owner, the file name written, its sha256 as written, when, and whether it
  carries sheets of the salesperson's own (so an unchanged file is still read for those);
- ``cells``: per file, table, row key and column: the export's last value, the value written
  (both normalised), the kind of the written value (to rebuild it from here when the workbook
  cannot be read), and whether the salesperson typed it (sticky until they type again);
- ``rows``: per file and table, each row key and the sheet row it was written to;
- ``columns``: per table, each header the build wrote and its kind (input, formula, build, user);
- ``export_ids``: the IDs of the latest export, to notice IDs that changed format;
- ``pending``: renames a build committed but has not finished (a build killed in between is
  finished by the next one, so files and state never disagree).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import socket
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ..rules.engine import factorize_keeping_blank
from .history import MIGRATION as HISTORY_MIGRATION

STATE_DIR = ".rotxl"
STATE_FILE = "state.sqlite"
LOCK_FILE = "lock"
TIMEOUT = 30.0  # seconds to wait for another process's write transaction

Migration = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = [
    # 0 -> 1: what was written
    """
    CREATE TABLE builds (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        accounts INTEGER,
        opportunities INTEGER
    );
    CREATE TABLE files (
        owner TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        build_id INTEGER REFERENCES builds(id)
    );
    CREATE TABLE cells (
        file TEXT NOT NULL,
        tbl TEXT NOT NULL,
        key TEXT NOT NULL,
        col TEXT NOT NULL,
        export_value TEXT NOT NULL DEFAULT '',
        written_value TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 's',
        typed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (file, tbl, key, col)
    ) WITHOUT ROWID;
    CREATE TABLE rows (
        file TEXT NOT NULL,
        tbl TEXT NOT NULL,
        key TEXT NOT NULL,
        row INTEGER NOT NULL,
        PRIMARY KEY (file, tbl, key)
    ) WITHOUT ROWID;
    """,
    # 1 -> 2: the previous export's IDs (changed-ID check), the columns written, carried sheets, --force
    """
    CREATE TABLE export_ids (tbl TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (tbl, key)) WITHOUT ROWID;
    CREATE TABLE columns (tbl TEXT NOT NULL, header TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (tbl, header));
    ALTER TABLE files ADD COLUMN own_sheets INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE builds ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE pending (build_id INTEGER NOT NULL, tmp TEXT NOT NULL, final TEXT NOT NULL);
    """,
    # 2 -> 3: the weekly history of the team's figures (§10)
    HISTORY_MIGRATION,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StateError(RuntimeError):
    """The state file is newer than this rotxl, or cannot be opened."""


class BuildLocked(RuntimeError):
    """Another build is writing into the same folder."""


def state_path(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / STATE_DIR / STATE_FILE


def migrate(con: sqlite3.Connection) -> int:
    """Bring the open database to SCHEMA_VERSION, one migration (and one transaction) at a time."""
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StateError(f"the build state is from a newer rotxl (schema {version}, this rotxl knows {SCHEMA_VERSION}); "
                         "upgrade rotxl")
    for k in range(version, SCHEMA_VERSION):
        step = MIGRATIONS[k]
        con.execute("BEGIN IMMEDIATE")
        try:
            if callable(step):
                step(con)
            else:
                for statement in step.split(";"):
                    if statement.strip():
                        con.execute(statement)
            con.execute(f"PRAGMA user_version = {k + 1}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def connect(out_dir: str | os.PathLike[str]) -> sqlite3.Connection:
    """The build state of ``out_dir``, created or migrated to the current schema.

    Transactions are explicit (``isolation_level=None``): a build opens one with ``BEGIN`` and
    commits it at the end, so a killed build leaves the previous state whole."""
    path = state_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = sqlite3.connect(path, timeout=TIMEOUT, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        migrate(con)
    except sqlite3.DatabaseError as e:
        raise StateError(f"{path}: the build state cannot be opened ({e}); move it away to start afresh") from None
    return con


# ---------------------------------------------------------------- the lock on --out


class Lock:
    """``--out/.rotxl/lock``, created with O_EXCL and holding our pid: one build per folder.

    A lock left by a process that is gone (killed, crashed) on this machine is stale and is
    taken over."""

    def __init__(self, out_dir: str | os.PathLike[str]):
        self.path = Path(out_dir) / STATE_DIR / LOCK_FILE
        self.held = False

    def __enter__(self) -> "Lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = f"{os.getpid()} {socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._stale():
                    self.path.unlink(missing_ok=True)
                    continue
                raise BuildLocked(f"another build is writing into {self.path.parent.parent} "
                                  f"({self._holder()}); wait for it to finish, or delete {self.path} if it is gone") from None
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self.held = True
            return self
        raise BuildLocked(f"could not take the lock {self.path}")

    def _holder(self) -> str:
        try:
            pid, _, host = self.path.read_text().partition(" ")
            return f"process {pid} on {host or 'this machine'}"
        except OSError:
            return "another process"

    def _stale(self) -> bool:
        try:
            pid_text, _, host = self.path.read_text().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return True  # empty or garbled: its writer died before finishing the line
        if host and host != socket.gethostname():
            return False  # a build on another machine (a shared folder): cannot tell, so respect it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


# ---------------------------------------------------------------- comparing values


def _norm_one(v: object) -> tuple[str, str]:
    """(normalised text, kind) of one value: numbers to 15 significant digits, dates to the day,
    text trimmed, blank as ""."""
    if v is None or v is pd.NA or v is pd.NaT:
        return "", "s"
    if isinstance(v, (bool, np.bool_)):
        return ("TRUE" if v else "FALSE"), "b"
    if isinstance(v, (int, float, Decimal, np.integer, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "", "s"
        if math.isinf(f):
            return str(f), "s"
        return _number(f), "n"
    if isinstance(v, (dt.datetime, pd.Timestamp)):
        return v.date().isoformat(), "d"
    if isinstance(v, dt.date):
        return v.isoformat(), "d"
    if isinstance(v, np.datetime64):
        return ("" if np.isnat(v) else str(v.astype("datetime64[D]"))), "d"
    if isinstance(v, Formula):
        return str(v).strip(), "f"
    text = str(v).strip()
    if not text:
        return "", "s"
    try:
        f = float(text)
    except ValueError:
        return text, "s"
    return (_number(f) if math.isfinite(f) else text), "s"


def _number(f: float) -> str:
    text = f"{f:.15g}"
    return "0" if text == "-0" else text


def normalise(values: pd.Series | list | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised text and kind of every value, computed once per distinct value."""
    arr = pd.Series(values, dtype=object).to_numpy(dtype=object) if not isinstance(values, pd.Series) else values.to_numpy(dtype=object)
    if len(arr) == 0:
        return np.array([], dtype=object), np.array([], dtype=object)
    codes, uniques = factorize_keeping_blank(arr)
    norm_u = np.empty(len(uniques), dtype=object)
    kind_u = np.empty(len(uniques), dtype=object)
    # plain numbers, the bulk of any table, formatted in one pass; the rest one by one
    plain = {float, int, np.float64, np.int64}
    numeric = np.fromiter((type(u) in plain for u in uniques), dtype=bool, count=len(uniques))
    if numeric.any():
        f = uniques[numeric].astype("float64")
        text = np.char.mod("%.15g", f).astype(object)
        text[text == "-0"] = "0"
        text[np.isnan(f)] = ""
        norm_u[numeric] = text
        kind_u[numeric] = np.where(np.isnan(f), "s", np.where(np.isinf(f), "s", "n"))
    text = np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques))
    if text.any():
        norm_u[text], kind_u[text] = _norm_texts(uniques[text]), "s"
    for i in np.flatnonzero(~numeric & ~text):
        norm_u[i], kind_u[i] = _norm_one(uniques[i])
    return norm_u[codes], kind_u[codes]


_DECIMAL = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


def _norm_texts(values: np.ndarray) -> np.ndarray:
    """_norm_one over distinct texts, vectorised: trimmed, and a text that reads as a finite
    number (float() reads it) written as that number. ASCII decimals are read here; the rare text
    float() might read otherwise (digit separators "1_000", other scripts' digits) goes to
    _norm_one."""
    s = pd.Series(values, dtype=object).str.strip()
    out = s.to_numpy(dtype=object).copy()
    decimal = s.str.fullmatch(_DECIMAL, flags=re.ASCII).to_numpy(dtype=bool)
    if decimal.any():
        f = np.array([float(t) for t in out[decimal]], dtype="float64")
        finite = np.isfinite(f)
        number = np.char.mod("%.15g", f).astype(object)
        number[number == "-0"] = "0"
        out[np.flatnonzero(decimal)[finite]] = number[finite]
    plain = np.fromiter((t.isascii() and "_" not in t for t in out), dtype=bool, count=len(out))
    odd = ~decimal & ~plain
    for i in np.flatnonzero(odd):
        out[i] = _norm_one(values[i])[0]
    return out


class Formula(str):
    """A formula the salesperson typed in a column or sheet of their own: carried as a formula.

    Text from an export is never one of these; only a cell the reader found holding a formula
    becomes one. ``row`` is the sheet row it was read from (its references are moved along
    with its row)."""

    def __new__(cls, text: str, row: int | None = None):
        obj = super().__new__(cls, text)
        obj.row = row
        return obj

    def __reduce__(self):
        return (Formula, (str(self), self.row))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Formula) and str.__eq__(self, other)

    def __hash__(self) -> int:
        return hash(("formula", str(self)))


def restore(text: str, kind: str) -> object:
    """A value written earlier, from its normalised text and kind (for a workbook that cannot be read)."""
    if text == "":
        return None
    if kind == "n":
        f = float(text)
        return int(f) if f.is_integer() and abs(f) < 2**53 else f
    if kind == "d":
        return dt.date.fromisoformat(text)
    if kind == "b":
        return text == "TRUE"
    if kind == "f":
        return Formula(text)
    return text


# ---------------------------------------------------------------- reading and writing the state


def files(con: sqlite3.Connection) -> pd.DataFrame:
    return pd.read_sql_query("SELECT owner, name, sha256, saved_at, own_sheets FROM files", con)


def cells(con: sqlite3.Connection) -> pd.DataFrame:
    """Every cell written, as a long frame (a rebuild loads only what it needs: rebuild_cells)."""
    return pd.read_sql_query("SELECT file, tbl, key, col, export_value, written_value, kind, typed FROM cells", con)


def rebuild_cells(con: sqlite3.Connection, read: list[str], rows: pd.DataFrame,
                  inputs: dict[str, list[str]]) -> pd.DataFrame:
    """The cells a rebuild looks at, as a long frame like ``cells``: every cell of the files
    ``read`` now; of the other files, every cell of the ``rows`` given (file, tbl, key) and of
    the rows with a typed cell, every cell outside the tables' ``inputs`` columns (the
    salesperson's own columns) and the Settings. The rest of an unchanged workbook holds what
    was written, and the fresh export brings those values again."""
    con.execute("CREATE TEMP TABLE IF NOT EXISTS read_files (name TEXT PRIMARY KEY)")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_rows (file TEXT, tbl TEXT, key TEXT, PRIMARY KEY (file, tbl, key))")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS input_columns (tbl TEXT, col TEXT, PRIMARY KEY (tbl, col))")
    for table in ("read_files", "wanted_rows", "input_columns"):
        con.execute(f"DELETE FROM temp.{table}")
    con.executemany("INSERT OR IGNORE INTO temp.read_files VALUES (?)", [(n,) for n in read])
    con.executemany("INSERT OR IGNORE INTO temp.wanted_rows VALUES (?,?,?)",
                    rows[["file", "tbl", "key"]].itertuples(index=False, name=None))
    con.execute("INSERT OR IGNORE INTO temp.wanted_rows SELECT DISTINCT file, tbl, key FROM cells WHERE typed = 1")
    con.executemany("INSERT OR IGNORE INTO temp.input_columns VALUES (?,?)",
                    [(t, c) for t, cols in inputs.items() for c in cols])
    fields = "c.file, c.tbl, c.key, c.col, c.export_value, c.written_value, c.kind, c.typed"
    # CROSS JOIN keeps SQLite's loop over the few wanted rows, each looked up in cells by its key
    query = f"""
        SELECT {fields} FROM cells c WHERE c.file IN (SELECT name FROM temp.read_files)
        UNION ALL
        SELECT {fields} FROM temp.wanted_rows w CROSS JOIN cells c ON c.file = w.file AND c.tbl = w.tbl AND c.key = w.key
        WHERE c.file NOT IN (SELECT name FROM temp.read_files)
        UNION ALL
        SELECT {fields} FROM cells c
        WHERE (c.tbl = 'Settings' OR (c.tbl, c.col) NOT IN (SELECT tbl, col FROM temp.input_columns))
          AND c.file NOT IN (SELECT name FROM temp.read_files)
          AND (c.file, c.tbl, c.key) NOT IN (SELECT file, tbl, key FROM temp.wanted_rows)"""
    return pd.read_sql_query(query, con)


def row_positions(con: sqlite3.Connection) -> pd.DataFrame:
    return pd.read_sql_query("SELECT file, tbl, key, row FROM rows", con)


def export_ids(con: sqlite3.Connection, table: str) -> pd.Index:
    return pd.Index(pd.read_sql_query("SELECT key FROM export_ids WHERE tbl = ?", con, params=(table,))["key"])


def column_kinds(con: sqlite3.Connection, table: str) -> dict[str, str]:
    return dict(con.execute("SELECT header, kind FROM columns WHERE tbl = ?", (table,)).fetchall())
