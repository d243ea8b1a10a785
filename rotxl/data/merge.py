"""Rebuild without losing a keystroke (SPEC §6): merge a fresh CRM export into what a
salesperson already has in their workbook, matched by ID.

Who owns which column:

- the CRM owns the columns it exports (schema ``crm_owned``: IDs, names, owner, revenue,
  stage, amount, probability, close date) and any other column that comes in the export:
  they are refreshed from the export;
- the salesperson owns the rest of the spec's inputs (margin, hours, aggravation, factor
  scores, est. hours, last contact, follow-ups, status, lost reason): a value they typed is
  kept; a blank they left is filled from the export when it has one;
- columns the salesperson added to the table are theirs entirely and ride along with the row;
- rows that left the export are kept, with SYNC_COLUMN saying "Not in latest export".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..rules.engine import NOT_IN_EXPORT, parse_text
from ..rules.schema import ACCOUNT_DERIVED, PIPELINE_DERIVED, Column

SYNC_COLUMN = "CRM Sync"
DERIVED = set(ACCOUNT_DERIVED) | set(PIPELINE_DERIVED)


def _keys(df: pd.DataFrame, id_header: str) -> pd.Series:
    """ID plus occurrence number, so rows sharing an ID (flagged as duplicates) still pair up in order."""
    ids, _ = parse_text(df[id_header], id_like=True) if id_header in df else (pd.Series([""] * len(df)), None)
    ids = ids.reset_index(drop=True)
    return ids + "\x00" + ids.groupby(ids).cumcount().astype(str)


def _blank(s: pd.Series) -> np.ndarray:
    return parse_text(s)[1]


def merge_table(previous: pd.DataFrame | None, export: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    """The rows of ``export`` with what the salesperson typed in ``previous`` kept, then the rows of
    ``previous`` that are no longer in the export. Derived columns of ``previous`` are ignored."""
    export = export.reset_index(drop=True)
    if previous is None or previous.empty:
        out = export.copy()
        out[SYNC_COLUMN] = None
        return out
    id_header = columns[0].header
    previous = previous.drop(columns=[c for c in previous.columns if c in DERIVED]).reset_index(drop=True)
    spec = {c.header: c for c in columns}
    user_owned = [c.header for c in columns if not c.crm_owned]
    added = [c for c in previous.columns if c not in spec and c not in export.columns and c != SYNC_COLUMN]

    new_keys, old_keys = _keys(export, id_header), _keys(previous, id_header)
    old_pos = pd.Series(np.arange(len(previous)), index=old_keys.to_numpy())
    match = old_pos.reindex(new_keys.to_numpy()).to_numpy()  # row of previous per export row, NaN if new
    found = ~np.isnan(match)
    src = np.where(found, match, 0).astype(int)

    out = export.copy()
    for h in user_owned:
        if h not in previous:
            continue
        typed = previous[h].to_numpy(dtype=object)[src]
        keep = found & ~_blank(previous[h])[src]
        fresh = out[h].to_numpy(dtype=object) if h in out else np.full(len(out), None, dtype=object)
        out[h] = np.where(keep, typed, fresh)
    for h in added:
        out[h] = np.where(found, previous[h].to_numpy(dtype=object)[src], None)
    out[SYNC_COLUMN] = None

    gone = ~np.isin(old_keys.to_numpy(), new_keys.to_numpy()) & ~_all_blank(previous, columns)
    if gone.any():
        left = previous[gone].copy()
        left[SYNC_COLUMN] = NOT_IN_EXPORT
        out = pd.concat([out.astype(object), left.astype(object)], ignore_index=True)
    ordered = [h for h in spec if h in out] + [h for h in out.columns if h not in spec and h != SYNC_COLUMN]
    return out[ordered + [SYNC_COLUMN]]


def _all_blank(df: pd.DataFrame, columns: tuple[Column, ...]) -> np.ndarray:
    masks = [_blank(df[c.header]) for c in columns if c.header in df]
    return np.logical_and.reduce(masks) if masks else np.ones(len(df), dtype=bool)
