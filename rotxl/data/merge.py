"""The three-way rebuild of SPEC §6.1, one table at a time.

base   = what the build wrote last time (the build state, rotxl.data.state)
theirs = what each owner's workbook holds now (or, for a workbook that is unchanged or cannot
         be read, what the state says it holds)
new    = the fresh CRM export

A cell the salesperson changed (theirs differs from base after normalising) is typed, and stays
typed on later rebuilds until they type again. A typed value is carried onto the fresh export by
ID, team-wide; where the export also fills the column, it stands until the export's own value for
that cell changes (then the export wins and the report names what it replaced). Last Contact takes
the latest date and Follow-ups the largest count. Two typed copies of one ID: the most recently
saved workbook wins. Rows that left the export are kept and marked; rows without an ID never match.

Matching is by hashing (pandas indexes and merges on normalised keys): linear in the rows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..rules.engine import NOT_IN_EXPORT, parse_dates, parse_numbers, parse_text
from ..rules.schema import Column, normalise as header_key
from .io import DATE_COLUMNS, NUMERIC_COLUMNS
from .state import normalise, restore

SYNC_COLUMN = "CRM Sync"
LATEST_DATE = ("Last Contact",)  # SPEC §6.1: the latest news wins
LARGEST = ("Follow-ups",)
META = ("_key", "_file", "_owner", "_saved", "_row")
_SF_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


# ---------------------------------------------------------------- IDs


def _sf15(ids: pd.Series) -> pd.Series:
    """Salesforce 18-character IDs as their 15-character form, when the 3-character suffix is the
    case checksum of the first 15 (so an 18-character ID that merely looks like one is left alone)."""
    cand = ids.str.fullmatch(r"[A-Za-z0-9]{18}").fillna(False)
    if not cand.any():
        return ids
    out = ids.copy()
    uniq = ids[cand].unique()
    fixed = {}
    for u in uniq:  # once per distinct ID
        suffix = ""
        for k in range(3):
            bits = sum(1 << i for i, ch in enumerate(u[5 * k: 5 * k + 5]) if "A" <= ch <= "Z")
            suffix += _SF_CHARS[bits]
        if suffix == u[15:]:
            fixed[u] = u[:15]
    if fixed:
        out[cand] = ids[cand].map(lambda v: fixed.get(v, v))
    return out


def id_keys(ids: pd.Series, group: pd.Series | None = None, blank_prefix: str = "") -> np.ndarray:
    """Matching keys: the ID as text, trimmed (18-character Salesforce IDs as 15); a second row with
    the same ID (in the same group) gets "#2", and a row without an ID gets a key of its own that
    matches nothing."""
    text, blank = parse_text(ids.reset_index(drop=True), id_like=True)
    text = _sf15(text)
    by = [text] if group is None else [pd.Series(np.asarray(group)), text]
    n = text.groupby(by).cumcount().to_numpy() if len(text) else np.array([], dtype=int)
    keys = text.to_numpy(dtype=object).copy()
    dup = n > 0
    if dup.any():
        keys[dup] = keys[dup] + "#" + (n[dup] + 1).astype(str)
    if blank.any():
        where = np.flatnonzero(blank)
        keys[blank] = np.array([f"\x01{blank_prefix}{i}" for i in where], dtype=object)
    return keys


def has_id(keys: np.ndarray) -> np.ndarray:
    return np.fromiter((not k.startswith("\x01") for k in keys), dtype=bool, count=len(keys))


def crm_headers(export: pd.DataFrame, fields: list[str], reserved: list[str]) -> pd.DataFrame:
    """SPEC §5: an export column whose name equals one of the table's headers (``reserved``) up to
    case and spacing without being that field (``fields``: the spec inputs the reader mapped), or
    repeats a header already taken, is kept as "<name> (CRM)": never merged, never dropped (Excel
    wants a table's headers unique regardless of case)."""
    seen: set[str] = set()
    for h in reserved:
        seen |= {header_key(h), h.casefold()}
    names = []
    for h in export.columns:
        name = str(h)
        if name in fields and name not in names:
            names.append(name)
            continue
        base, k = name, 1
        while header_key(name) in seen or name.casefold() in seen or name in names:
            name = f"{base} (CRM)" if k == 1 else f"{base} (CRM {k})"
            k += 1
        seen |= {header_key(name), name.casefold()}
        names.append(name)
    return export.set_axis(names, axis=1)


# ---------------------------------------------------------------- the merge


@dataclass
class Merged:
    frame: pd.DataFrame  # rows to write: export rows with carried values, then kept rows; _key, _owner, _row, _file
    # per input column, the export's value (normalised) and the typed flag of each row of frame,
    # for the state
    cells: dict[str, tuple[np.ndarray, np.ndarray]]
    report: list[dict] = field(default_factory=list)
    user_columns: list[str] = field(default_factory=list)


def written_norms(s: pd.Series, header: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised text and kind of each value as the workbook writer writes it (numbers in number
    columns, dates in date columns), worked out once per distinct value."""
    arr = s.to_numpy(dtype=object)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    if not len(uniques):
        return np.full(len(arr), "", dtype=object), np.full(len(arr), "s", dtype=object)
    norm_u, kind_u = normalise(_as_written(pd.Series(uniques, dtype=object), header))
    ok = codes >= 0
    at = np.where(ok, codes, 0)
    return np.where(ok, norm_u[at], ""), np.where(ok, kind_u[at], "s")


def written_norms_of(df: pd.DataFrame, headers: list[str]) -> dict[str, np.ndarray]:
    """The normalised text (written_norms) of several columns, one pass per kind of column
    (numbers, dates, the rest): on a few thousand rows the passes, not the values, cost."""
    out: dict[str, np.ndarray] = {}
    for group in ([h for h in headers if h in NUMERIC_COLUMNS], [h for h in headers if h in DATE_COLUMNS],
                  [h for h in headers if h not in NUMERIC_COLUMNS and h not in DATE_COLUMNS]):
        if not group:
            continue
        values = np.concatenate([df[h].to_numpy(dtype=object) for h in group]) if len(df) else np.array([], dtype=object)
        norm = written_norms(pd.Series(values, dtype=object), group[0])[0]
        for h, part in zip(group, np.split(norm, np.arange(1, len(group)) * len(df))):
            out[h] = part
    return out


def _as_written(u: pd.Series, header: str) -> np.ndarray:
    """rotxl.data.io.typed_values, vectorised: numbers in number columns and dates in date columns
    become numbers and dates, as the workbook writer writes them."""
    vals = u.to_numpy(dtype=object).copy()
    if header in NUMERIC_COLUMNS:
        p = parse_numbers(u)
        ok = ~p.blank & ~p.bad
        vals[ok] = p.values[ok].astype(object)
    elif header in DATE_COLUMNS:
        p = parse_dates(u)
        ok = ~p.blank & ~p.bad
        vals[ok] = p.values[ok].astype("datetime64[D]").astype(object)
    return vals


def _norm_written(s: pd.Series, header: str) -> np.ndarray:
    return written_norms(s, header)[0]


def _report(what: str, table: str, key: str, column: str = "", value: object = None, other: object = None,
            file: str = "", detail: str = "") -> dict:
    return {"What": what, "Table": table, "ID": key, "Column": column, "Value": value, "Instead of": other,
            "File": file, "Detail": detail}


def rebuild_table(
    table: str,
    columns: tuple[Column, ...],
    export: pd.DataFrame,
    theirs: pd.DataFrame,
    base: pd.DataFrame,
    ever_exported: set[str],
    from_state: Collection[str] = (),
    export_norms: dict[str, np.ndarray] | None = None,
    export_keys: np.ndarray | None = None,
) -> Merged:
    """Merge one table. ``theirs``: every owner workbook's rows, with META columns (_key from
    id_keys per file, _file, _owner, _saved, _row). ``base``: the state's cells of the same files
    (file, key, col, export_value, written_value, typed). ``ever_exported``: keys that came from an
    export before (rows that leave the export now are kept and marked). ``from_state``: files
    whose rows in ``theirs`` were rebuilt from ``base`` (unchanged since written, or unreadable):
    their cells are what was written, so only their typed flags are looked at. ``export_norms``:
    ``normalised_export(export)``, ``export_keys``: ``export_id_keys(export, columns)``, when
    worked out beforehand (a build does both while it waits for the workbooks it reads)."""
    export = export.reset_index(drop=True)
    e_key = np.array(export_id_keys(export, columns) if export_keys is None else export_keys, dtype=object)
    no_id = np.flatnonzero(~has_id(e_key))
    e_key[no_id] = [f"\x01new{i}" for i in no_id]
    report: list[dict] = []
    inputs = input_columns(columns, export)
    t_cols = [h for h in theirs.columns if h not in META and h != SYNC_COLUMN]
    compared = [h for h in inputs if h in t_cols]
    user_cols = [h for h in t_cols if h not in inputs]

    theirs = _drop_untouched_export_rows_without_id(theirs, base, compared)

    # ---- typed cells: theirs against base, per file
    if len(theirs) and compared:
        rows = _rows_to_compare(theirs, base, table, from_state, e_key)
        long = rows[["_key", "_file", "_saved", *compared]].melt(id_vars=["_key", "_file", "_saved"], var_name="col",
                                                               value_name="value")
        norms_now = written_norms_of(rows, compared)
        long["norm"] = np.concatenate([norms_now[h] for h in compared])
        b = base[base["tbl"] == table] if len(base) else base
        export_value, written, was_typed = _base_cells(b, _file_keys(rows["_file"], rows["_key"]), compared)
        long["export_value"] = export_value
        long["typed_now"] = long["norm"].to_numpy(dtype=object) != written
        long["was_typed"] = was_typed
        typed = long[long["typed_now"] | long["was_typed"]].sort_values("_saved", ascending=False, kind="stable")
        winners = typed.drop_duplicates(["_key", "col"])
        losers = typed[typed.duplicated(["_key", "col"])]
        if len(losers):
            w = winners.set_index(["_key", "col"])
            for key, col, value, norm, file in zip(losers["_key"], losers["col"], losers["value"], losers["norm"],
                                                   losers["_file"]):
                win = w.loc[(key, col)]
                if win["norm"] != norm:
                    report.append(_report("Conflict: two typed copies", table, key, col, win["value"], value,
                                          f"{win['_file']} over {file}", "the most recently saved workbook wins"))
    else:
        winners = pd.DataFrame(columns=["_key", "col", "value", "norm", "_file", "export_value", "typed_now"])

    # ---- export rows with the carried values
    norms: dict[str, np.ndarray] = dict(export_norms or {})

    def export_norm(h: str) -> np.ndarray:
        if h not in norms:
            norms[h] = _norm_written(export[h], h) if h in export else np.full(len(export), "", dtype=object)
        return norms[h]

    out = pd.DataFrame(index=range(len(export)))
    for h in inputs:
        out[h] = export[h].to_numpy(dtype=object) if h in export else None
    typed_mask: dict[str, np.ndarray] = {}
    for h in compared:
        w = winners[winners["col"] == h]
        if not len(w):
            continue
        w = w.set_index("_key")
        hit = pd.Index(w.index).get_indexer(e_key)
        found = hit >= 0
        if not found.any():
            continue
        src = np.where(found, hit, 0)
        t_value = w["value"].to_numpy(dtype=object)[src]
        t_norm = w["norm"].to_numpy(dtype=object)[src]
        was_export = w["export_value"].to_numpy(dtype=object)[src]
        e_col = out[h]
        e_norm = export_norm(h)
        keep = found.copy()
        if h in LATEST_DATE or h in LARGEST:
            parse = parse_dates if h in LATEST_DATE else parse_numbers
            tv, ev = parse(pd.Series(t_value, dtype=object)), parse(e_col)
            t_is = tv.values.astype("float64") if h in LARGEST else tv.values.astype("datetime64[D]").astype("float64")
            e_is = ev.values.astype("float64") if h in LARGEST else ev.values.astype("datetime64[D]").astype("float64")
            keep &= ~(~ev.blank & ~ev.bad & ((tv.blank | tv.bad) | (np.nan_to_num(e_is, nan=-np.inf) > np.nan_to_num(t_is, nan=-np.inf))))
        elif h in export.columns:
            changed = found & pd.notna(was_export) & (np.asarray(was_export, dtype=object) != e_norm)
            replaced = changed & (t_norm != e_norm)
            for i in np.flatnonzero(replaced):
                report.append(_report("Typed value replaced by the export", table, e_key[i], h, e_col.iloc[i], t_value[i],
                                      detail="the export's own value for this cell changed, so it wins"))
            keep &= ~changed
        if keep.any():
            vals = e_col.to_numpy(dtype=object).copy()
            vals[keep] = t_value[keep]
            out[h] = vals
        typed_mask[h] = keep
        carried = keep & (t_norm != e_norm)
        if carried.any():
            for i in np.flatnonzero(carried):
                report.append(_report("Typed value carried", table, e_key[i], h, t_value[i], e_col.iloc[i]))
    out["_key"] = e_key
    out[SYNC_COLUMN] = None

    # ---- theirs, one copy per key (the most recently saved), for user columns, homes and kept rows
    latest = theirs.sort_values("_saved", ascending=False, kind="stable").drop_duplicates("_key") if len(theirs) else theirs
    idx = pd.Index(latest["_key"]) if len(latest) else pd.Index([])
    hit = idx.get_indexer(e_key)
    found = hit >= 0
    src = np.where(found, hit, 0)
    for h in user_cols:
        vals = latest[h].to_numpy(dtype=object)[src] if len(latest) else np.full(len(out), None, dtype=object)
        out[h] = np.where(found, vals, None)
    for m in ("_owner", "_row", "_file"):
        out[m] = np.where(found, latest[m].to_numpy(dtype=object)[src], None) if len(latest) else None

    # ---- rows kept: in a workbook, not in the export
    n_export = len(out)
    if len(latest):
        left = latest[~latest["_key"].isin(pd.Index(e_key)).to_numpy()].copy()
        if len(left):
            for h in inputs:
                if h not in left:
                    left[h] = None
            was = left["_key"].isin(ever_exported).to_numpy() & has_id(left["_key"].to_numpy(dtype=object))
            left[SYNC_COLUMN] = np.where(was, NOT_IN_EXPORT, None)
            if "Owner" in left:
                left["Owner"] = np.where(parse_text(left["Owner"])[1], left["_owner"], left["Owner"])
            for key, file in zip(left.loc[was, "_key"], left.loc[was, "_file"]):
                report.append(_report("Row kept: not in the latest export", table, key, file=str(file),
                                      detail=f'marked CRM Sync = "{NOT_IN_EXPORT}"'))
            out = pd.concat([out.astype(object), left[[c for c in out.columns if c in left]].astype(object)], ignore_index=True)

    # ---- state cells: the export's value and the typed flag per written input cell
    keys = out["_key"].to_numpy(dtype=object)
    kept_keys = keys[n_export:]
    prev = None
    if len(kept_keys) and len(theirs) and compared:
        prev = long.sort_values("_saved", ascending=False, kind="stable").drop_duplicates(["_key", "col"])
        prev = prev.set_index(["_key", "col"])
    cells = {}
    for h in inputs:
        ev = np.full(len(out), "", dtype=object)
        ev[:n_export] = export_norm(h)
        ty = np.zeros(len(out), dtype=bool)
        ty[:n_export] = typed_mask.get(h, False)
        if prev is not None and h in compared:
            # a kept row keeps what it had, so it is recognised when it comes back to the export
            at = prev.index.get_indexer(pd.MultiIndex.from_arrays([kept_keys, np.full(len(kept_keys), h, dtype=object)]))
            ok = at >= 0
            ev[n_export:][ok] = prev["export_value"].fillna("").to_numpy(dtype=object)[at[ok]]
            ty[n_export:][ok] = (prev["typed_now"] | prev["was_typed"]).to_numpy(dtype=bool)[at[ok]]
        cells[h] = (ev, ty)
    ordered = inputs + [SYNC_COLUMN] + user_cols + ["_key", "_owner", "_row", "_file"]
    return Merged(out[ordered], cells, report, user_cols)


def input_columns(columns: tuple[Column, ...], export: pd.DataFrame) -> list[str]:
    """A table's input columns on this build: its own fields, then the export's other columns."""
    spec = [c.header for c in columns]
    return spec + [h for h in export.columns if h not in spec and h != SYNC_COLUMN]


def export_id_keys(export: pd.DataFrame, columns: tuple[Column, ...]) -> np.ndarray:
    """id_keys of an export's ID column (a key of its own for each row when it has none)."""
    id_header = columns[0].header
    if id_header in export:
        return id_keys(export[id_header])
    return id_keys(pd.Series([None] * len(export)), blank_prefix="new")


def normalised_export(export: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each export column's values normalised as written (the state's export values)."""
    export = export.reset_index(drop=True)
    return {h: _norm_written(export[h], h) for h in export.columns if h != SYNC_COLUMN}


def _drop_untouched_export_rows_without_id(theirs: pd.DataFrame, base: pd.DataFrame, compared: list[str]) -> pd.DataFrame:
    """A row without an ID that the build wrote from the export, untouched since: the fresh export
    brings its own rows without an ID, so this copy is not kept as well (a row without an ID
    never matches; only an identical, untyped copy is recognised). A copy someone typed in stays."""
    if not len(theirs) or not len(base) or not compared:
        return theirs
    noid = ~has_id(theirs["_key"].to_numpy(dtype=object))
    if not noid.any():
        return theirs
    written = base[base["key"].str.startswith("\x01new")]
    if not len(written):
        return theirs
    wide = written.pivot_table(index=["file", "key"], columns="col", values="written_value", aggfunc="first")
    wide = wide.reindex(columns=compared).astype(object).fillna("")
    seen = {(f, *vals) for (f, _), vals in zip(wide.index, wide.itertuples(index=False, name=None))}
    rows = theirs[noid]
    norms = written_norms_of(rows, compared)
    sig = [(f, *vals) for f, vals in zip(rows["_file"], zip(*(norms[h] for h in compared)))]
    drop = np.zeros(len(theirs), dtype=bool)
    drop[np.flatnonzero(noid)] = [s in seen for s in sig]
    return theirs[~drop] if drop.any() else theirs


def _rows_to_compare(theirs: pd.DataFrame, base: pd.DataFrame, table: str, from_state: Collection[str],
                     export_keys: np.ndarray) -> pd.DataFrame:
    """The rows of ``theirs`` the typed-cell comparison needs: all rows of workbooks read now; of
    the rows rebuilt from the state, those with a cell typed before and those no longer in the
    export (kept: they keep their export values). The rest hold exactly what was written, so
    nothing in them is typed; most rows of a rebuild are such."""
    if not len(from_state):
        return theirs
    in_state = theirs["_file"].isin(pd.Index(list(from_state))).to_numpy()
    if not in_state.any():
        return theirs
    typed = base[(base["tbl"] == table) & (base["typed"] == 1)] if len(base) else base
    was_typed = pd.Index(_file_keys(typed["file"], typed["key"])) if len(typed) else pd.Index([])
    check = np.flatnonzero(in_state)
    keep = ~in_state
    keep[check] = (pd.Index(_file_keys(theirs["_file"].iloc[check], theirs["_key"].iloc[check])).isin(was_typed)
                   | ~theirs["_key"].iloc[check].isin(pd.Index(export_keys)).to_numpy())
    return theirs[keep]


def _base_cells(b: pd.DataFrame, file_keys: np.ndarray, columns: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the state holds for each of ``columns`` (one after the other) of the rows ``file_keys``
    (_file_keys): the export's value (None where the state has no such cell), the value written
    ("" where none) and whether it was typed. One hashed lookup of the rows per column: a merge on
    (file, key, column) hashes every cell's three texts."""
    n = len(file_keys)
    export_value = np.full(n * len(columns), None, dtype=object)
    written = np.full(n * len(columns), "", dtype=object)
    typed = np.zeros(n * len(columns), dtype=bool)
    if not len(b) or not n:
        return export_value, written, typed
    cells_of = pd.Series(np.arange(len(b))).groupby(b["col"].to_numpy(dtype=object)).indices
    b_keys = _file_keys(b["file"], b["key"])
    b_export, b_written = b["export_value"].to_numpy(dtype=object), b["written_value"].to_numpy(dtype=object)
    b_typed = b["typed"].to_numpy() == 1
    for j, h in enumerate(columns):
        at = cells_of.get(h)
        if at is None:
            continue
        index = pd.Index(b_keys[at])
        if not index.is_unique:  # the state has one cell per (file, key, column); be sure of it
            first = ~index.duplicated()
            at, index = at[first], index[first]
        hit = index.get_indexer(file_keys)
        found = hit >= 0
        cell = at[hit[found]]
        span = np.arange(j * n, (j + 1) * n)[found]
        export_value[span], written[span], typed[span] = b_export[cell], b_written[cell], b_typed[cell]
    return export_value, written, typed


def _file_keys(files: pd.Series, keys: pd.Series) -> np.ndarray:
    """One text per (file, key) pair, to match pairs by hashing."""
    return files.to_numpy(dtype=object) + "\x00" + keys.to_numpy(dtype=object)


def theirs_from_state(base: pd.DataFrame, positions: pd.DataFrame, table: str,
                      files: dict[str, tuple[str, float]]) -> pd.DataFrame:
    """Workbooks' tables as the state says they were written (workbooks unchanged since, or that
    cannot be read), all at once. ``files``: file name -> (owner, saved)."""
    names = pd.Index(list(files))
    b = base[(base["tbl"] == table) & base["file"].isin(names)]
    pos = positions[(positions["tbl"] == table) & positions["file"].isin(names)]
    if not len(pos):
        return pd.DataFrame(columns=list(META))
    long = pd.DataFrame({"file": b["file"].to_numpy(), "key": b["key"].to_numpy(), "col": b["col"].to_numpy(),
                         "value": restore_many(b["written_value"].to_numpy(dtype=object), b["kind"].to_numpy(dtype=object))})
    if len(long):
        wide = long.pivot(index=["file", "key"], columns="col", values="value")
        wide = wide.reindex(pd.MultiIndex.from_arrays([pos["file"].to_numpy(), pos["key"].to_numpy()])).astype(object)
        wide = wide.where(pd.notna(wide), None)
    else:
        wide = pd.DataFrame(index=range(len(pos)))
    wide.columns.name = None
    wide = wide.reset_index(drop=True)
    rows = pos["row"].to_numpy()
    from .state import Formula

    for h in wide.columns:  # formulas move with their rows: remember which row each was written to
        col = wide[h].to_numpy(dtype=object, copy=True)  # pandas may hand out a read-only view
        at = [i for i, v in enumerate(col) if type(v) is Formula] if (b["kind"] == "f").any() else []
        for i in at:
            col[i] = Formula(str(col[i]), int(rows[i]))
        wide[h] = col
    wide["_key"] = pos["key"].to_numpy(dtype=object)
    wide["_file"] = pos["file"].to_numpy(dtype=object)
    wide["_owner"] = wide["_file"].map({f: o for f, (o, _) in files.items()})
    wide["_saved"] = wide["_file"].map({f: s for f, (_, s) in files.items()})
    wide["_row"] = rows
    return wide


def restore_many(text: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """state.restore over whole columns, one pass per kind."""
    out = np.full(len(text), None, dtype=object)
    filled = text != ""
    for k in set(kind[filled]):
        at = filled & (kind == k)
        if k == "n":
            out[at] = pd.to_numeric(pd.Series(text[at]), errors="coerce").to_numpy(dtype=object)
        elif k == "d":
            out[at] = np.array(text[at].astype(str), dtype="datetime64[D]").astype(object)
        else:
            out[at] = [restore(t, k) for t in text[at]] if k in ("b", "f") else text[at]
    return out


# ---------------------------------------------------------------- two-way (a single workbook's "Import export")


def _occurrence_keys(df: pd.DataFrame, id_header: str) -> np.ndarray:
    if id_header not in df:
        return np.array([f"\x01{i}" for i in range(len(df))], dtype=object)
    return id_keys(df[id_header])


def merge_table(previous: pd.DataFrame | None, export: pd.DataFrame, columns: tuple[Column, ...],
                derived: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Two-way merge for one workbook with no build state (the ribbon's Import export): the rows of
    ``export`` with what the salesperson typed in ``previous`` kept in the columns the CRM does not
    own, then the rows of ``previous`` no longer in the export, marked. ``derived``: this table's
    derived headers, dropped from ``previous`` (another table's derived names are ordinary columns)."""
    from ..rules.schema import ACCOUNT_COLUMNS, ACCOUNT_DERIVED, PIPELINE_DERIVED

    export = export.reset_index(drop=True)
    if previous is None or previous.empty:
        out = export.copy()
        out[SYNC_COLUMN] = None
        return out
    if derived is None:
        derived = ACCOUNT_DERIVED if columns is ACCOUNT_COLUMNS else PIPELINE_DERIVED
    id_header = columns[0].header
    previous = previous.drop(columns=[c for c in previous.columns if c in derived]).reset_index(drop=True)
    spec = {c.header: c for c in columns}
    user_owned = [c.header for c in columns if not c.crm_owned]
    added = [c for c in previous.columns if c not in spec and c not in export.columns and c != SYNC_COLUMN]

    new_keys, old_keys = _occurrence_keys(export, id_header), _occurrence_keys(previous, id_header)
    hit = pd.Index(old_keys).get_indexer(new_keys)  # hashing, linear; keys without an ID match nothing
    found = hit >= 0
    src = np.where(found, hit, 0)

    out = export.copy()
    for h in user_owned:
        if h not in previous:
            continue
        typed = previous[h].to_numpy(dtype=object)[src]
        keep = found & ~parse_text(previous[h])[1][src]
        fresh = out[h].to_numpy(dtype=object) if h in out else np.full(len(out), None, dtype=object)
        out[h] = np.where(keep, typed, fresh)
    for h in added:
        out[h] = np.where(found, previous[h].to_numpy(dtype=object)[src], None)
    out[SYNC_COLUMN] = None

    blank_rows = np.logical_and.reduce([parse_text(previous[c.header])[1] for c in columns if c.header in previous]) \
        if any(c.header in previous for c in columns) else np.ones(len(previous), bool)
    gone = ~pd.Series(old_keys).isin(pd.Index(new_keys)).to_numpy()
    gone &= ~blank_rows
    if gone.any():
        left = previous[gone].copy()
        left[SYNC_COLUMN] = np.where(has_id(old_keys[gone]), NOT_IN_EXPORT, None)
        out = pd.concat([out.astype(object), left.astype(object)], ignore_index=True)
    ordered = [h for h in spec if h in out] + [h for h in out.columns if h not in spec and h != SYNC_COLUMN]
    return out[ordered + [SYNC_COLUMN]]
