"""The team's weekly figures over time (SPEC §10), kept in the build state's SQLite file.

Every team build records its rollup table (one row per owner, then the team) keyed by AsOf; a
rebuild for the same AsOf replaces that week, in one transaction, so a build killed mid-write
leaves the earlier weeks exactly as they were. The table is long (one row per week, owner and
figure), so figures added later need no new columns. A figure that could not be computed is
kept as the text that says what it needs.
"""

from __future__ import annotations

import datetime as dt
import numbers
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

TEAM = "Team"
STATE_DIR = ".rotxl"
STATE_FILE = "state.sqlite"

# The migration state.py's MIGRATIONS list includes (idempotent, so it can run on any state file).
MIGRATION = """
CREATE TABLE IF NOT EXISTS weekly_figures (
    as_of   TEXT NOT NULL,              -- the build's AsOf, ISO date
    is_team INTEGER NOT NULL,           -- 1: the whole team's row, 0: one owner's
    owner   TEXT NOT NULL,              -- the owner as the rollup names them ("Team" for the team row)
    row     INTEGER NOT NULL,           -- the row's place in that week's rollup
    figure  TEXT NOT NULL,              -- the rollup's column header
    value   REAL,                       -- the figure, when it is a number
    note    TEXT,                       -- or what it needs ("needs HourlyCost")
    PRIMARY KEY (as_of, is_team, owner, figure)
);
CREATE TABLE IF NOT EXISTS weekly_builds (
    as_of       TEXT PRIMARY KEY,
    recorded_at TEXT NOT NULL            -- when the build recorded it (UTC)
);
"""


def migrate(conn: sqlite3.Connection) -> None:
    """Create the history tables (what state.py's migrations do at merge)."""
    conn.executescript(MIGRATION)


def state_path(out_dir: str | os.PathLike[str]) -> Path:
    return Path(out_dir) / STATE_DIR / STATE_FILE


def open_state(out_dir: str | os.PathLike[str]) -> sqlite3.Connection:
    """The build state of ``out_dir``, opened for reading history. Stops with a message naming the
    folder when no build has recorded anything there."""
    path = state_path(out_dir)
    if not path.exists():
        raise FileNotFoundError(f"{out_dir}: no build history ({STATE_DIR}/{STATE_FILE} not found); run rotxl build --out {out_dir} first")
    try:
        from .state import connect  # the build state's own opener (migrations, timeout), once merged
    except ImportError:
        conn = sqlite3.connect(path, timeout=30)
        migrate(conn)
        return conn
    return connect(out_dir)


def _iso(as_of: dt.date | str) -> str:
    return as_of if isinstance(as_of, str) else as_of.isoformat()


def _rows(as_of: str, table: pd.DataFrame):
    last = len(table) - 1
    for i, (owner, row) in enumerate(table.iterrows()):
        for figure, v in row.items():
            number = isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and v == v
            note = v if isinstance(v, str) else None
            yield as_of, int(i == last), str(owner), i, str(figure), float(v) if number else None, note


def long_table(as_of: dt.date | str, table: pd.DataFrame) -> pd.DataFrame:
    """One week's rollup table in the shape load_history() returns."""
    df = pd.DataFrame(list(_rows(_iso(as_of), table)), columns=["As Of", "Team", "Owner", "Row", "Figure", "Value", "Note"])
    df["As Of"] = pd.to_datetime(df["As Of"]).dt.date
    df["Team"] = df["Team"].astype(bool)
    return df[["As Of", "Owner", "Team", "Row", "Figure", "Value", "Note"]]


def with_week(history: pd.DataFrame, as_of: dt.date, table: pd.DataFrame) -> pd.DataFrame:
    """``history`` with this week's table in place of whatever it held for AsOf (as record_week does)."""
    rest = history[history["As Of"] != as_of]
    return pd.concat([rest, long_table(as_of, table)], ignore_index=True).sort_values(["As Of", "Row"], kind="stable")


def record_week(conn: sqlite3.Connection, as_of: dt.date | str, table: pd.DataFrame, commit: bool = True) -> int:
    """Record one build's figures (``table``: one row per owner, the last row the team) under AsOf,
    replacing whatever that AsOf held, in one transaction. Returns the number of figures written.

    ``commit=False`` leaves the transaction to the caller, so the build state can write its own
    tables and this week's figures in the one transaction of the build.
    """
    day = _iso(as_of)
    rows = list(_rows(day, table))

    def write() -> None:
        conn.execute("DELETE FROM weekly_figures WHERE as_of = ?", (day,))
        conn.executemany("INSERT INTO weekly_figures VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT OR REPLACE INTO weekly_builds VALUES (?, ?)",
                     (day, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")))

    if not commit:
        write()
        return len(rows)
    with conn:  # commits on success, rolls back on any error; a killed process leaves the journal to roll back
        write()
    return len(rows)


def load_history(conn: sqlite3.Connection) -> pd.DataFrame:
    """Every recorded figure, long: As Of (date), Owner, Team (bool), Row, Figure, Value, Note;
    oldest week first, each week in its rollup's order."""
    df = pd.read_sql_query(
        "SELECT as_of, owner, is_team, row, figure, value, note FROM weekly_figures ORDER BY as_of, row, rowid", conn)
    df.columns = ["As Of", "Owner", "Team", "Row", "Figure", "Value", "Note"]
    df["As Of"] = pd.to_datetime(df["As Of"]).dt.date
    df["Team"] = df["Team"].astype(bool)
    return df


def weeks(history: pd.DataFrame) -> list[dt.date]:
    return sorted(history["As Of"].unique())


def series(history: pd.DataFrame, figure: str) -> pd.DataFrame:
    """One figure over time: a row per week, a column per owner (in the latest rollup's order) and
    "Team" last. Owners absent in a week are blank there; texts ("needs …") are blank too."""
    h = history[history["Figure"] == figure]
    owners = h[~h["Team"]].sort_values(["As Of", "Row"], ascending=[False, True])["Owner"].drop_duplicates().tolist()
    h = h.assign(Column=h["Owner"].where(~h["Team"], TEAM))
    wide = h.set_index(["As Of", "Column"])["Value"].unstack("Column")
    return wide.reindex(index=weeks(history), columns=[*owners, TEAM])


def as_table(history: pd.DataFrame) -> pd.DataFrame:
    """The history for printing or export: one row per week and owner, one column per figure
    (a figure that needed something shows its text)."""
    h = history.assign(Shown=history["Value"].astype(object).where(history["Value"].notna(), history["Note"]))
    figures = list(dict.fromkeys(h["Figure"]))
    wide = h.set_index(["As Of", "Row", "Owner", "Figure"])["Shown"].unstack("Figure")
    wide = wide.reindex(columns=figures).reset_index().drop(columns="Row")
    wide.columns.name = None
    return wide
