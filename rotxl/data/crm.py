"""Revenue from won deals and time from activity logs (SPEC §7.2, §7.3).

The functions take frames whose columns are already named as the spec's headers (what
``rotxl.data.io`` returns) and give back new frames; nothing is read or written here except by
:func:`read_activities`. One entry point, :func:`prepare`, is what the CLI and the team build
call::

    from rotxl.data import crm, io
    acc, pipe, result = crm.prepare(io.read_accounts("accounts.csv"), io.read_pipeline("deals.csv"),
                                    crm.read_activities("activities.csv"), Settings(as_of=date(2026, 11, 20)))
    print("\\n".join(result.lines()))

Matching is vectorised: every text is normalised once per distinct value and rows are joined with
pandas lookups, never a Python loop over rows.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..rules import schema
from ..rules.engine import parse_dates, parse_numbers
from ..rules.schema import ACTIVITY_COLUMNS, DURATION_SECONDS, MissingColumnsError
from ..rules.settings import Settings

REVENUE = "Revenue"
LOGGED_HOURS = "Logged Hours"
# The activity frame's column of durations in seconds (a "Call Duration" header); "Duration" holds minutes.
DURATION_SECONDS_COLUMN = "Duration (seconds)"
LINK_COLUMNS: tuple[str, ...] = ("Account ID", "Account", "Opportunity ID", "Opportunity")
# The columns an activity frame gains from activity_minutes (kept on the Unmatched Activities sheet).
ACTIVITY_KIND = "Activity Kind"
MINUTES = "Minutes"
ACTIVITY_DAY = "Activity Day"  # the Date as read (datetime64[D]), parsed once
UNASSIGNED = "Unassigned"

KINDS: tuple[str, ...] = ("Call", "Email", "Meeting", "Other")
# §7.3: types matched by word, case-insensitively, in this order (a "demo call" is a Call).
_KIND_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Call", re.compile(r"\b(calls?|phone|log a call)\b", re.I)),
    ("Email", re.compile(r"\b(e-?mails?|mails?)\b", re.I)),
    ("Meeting", re.compile(r"\b(meetings?|events?|demos?|visits?|appointments?)\b", re.I)),
)


# ---------------------------------------------------------------- the window of months up to AsOf


def edate(day: dt.date, months: int) -> dt.date:
    """Excel's EDATE: the same day ``months`` months away, or that month's last day when it has fewer."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def in_window(dates: np.ndarray, as_of: dt.date, months: int) -> np.ndarray:
    """Dates after EDATE(AsOf, −months) and on or before AsOf (NaT is never in)."""
    start = np.datetime64(edate(as_of, -months), "D")
    end = np.datetime64(as_of, "D")
    return ~np.isnat(dates) & (dates > start) & (dates <= end)


# ---------------------------------------------------------------- matching rows to accounts


def _text(s: pd.Series, id_like: bool = False) -> pd.Series:
    """Trimmed text of each value ("" for blanks), each distinct value read once; IDs typed as
    numbers read as "1001", as engine.parse_text reads them."""
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)

    def one(v: object) -> str:
        if isinstance(v, float):
            if v != v:
                return ""
            if id_like and v.is_integer():
                return str(int(v))
        return str(v).strip()

    table = np.array([one(v) for v in uniques] + [""], dtype=object)
    return pd.Series(table[codes], index=s.index, dtype=object)


def _names(s: pd.Series) -> pd.Series:
    """Names as matched: trimmed and case-insensitive, each distinct value normalised once."""
    codes, uniques = pd.factorize(_text(s), use_na_sentinel=True)
    table = np.array([str(v).casefold() for v in uniques] + [""], dtype=object)
    return pd.Series(table[codes], index=s.index, dtype=object)


def _ids(s: pd.Series) -> pd.Series:
    return _text(s, id_like=True)


def account_keys(accounts: pd.DataFrame) -> pd.Series:
    """Each account row's key: its Account ID, or its row position when the ID is blank."""
    ids = _ids(accounts["Account ID"]) if "Account ID" in accounts.columns else pd.Series("", index=accounts.index)
    positions = "\x00" + pd.Series(np.arange(len(accounts)), index=accounts.index).astype(str)
    return ids.where(ids != "", positions)


@dataclass
class _Matcher:
    """Finds the account of rows of another frame: by Account ID, else by a unique name."""

    keys: pd.Series  # account_keys of the accounts
    ids: set[str]
    short: pd.Series  # 15-character Salesforce ID -> the 18-character ID it starts
    by_name: pd.Series  # normalised name -> account key, for names held by one account only
    ambiguous: set[str]  # normalised names held by more than one account
    display: dict[str, str]  # normalised ambiguous name -> the name as first written

    @classmethod
    def of(cls, accounts: pd.DataFrame) -> "_Matcher":
        keys = account_keys(accounts)
        ids = set(keys[~keys.str.startswith("\x00")].to_numpy())
        short = salesforce_short_ids(keys)
        if "Account" not in accounts.columns:
            return cls(keys, ids, short, pd.Series(dtype=object), set(), {})
        names = _names(accounts["Account"])
        named = names != ""
        counts = names[named].value_counts()
        unique = counts.index[counts == 1]
        by_name = pd.Series(keys[named].to_numpy(), index=names[named].to_numpy())
        by_name = by_name[by_name.index.isin(unique)]
        ambiguous = set(counts.index[counts > 1])
        first = pd.Series(_text(accounts["Account"]).to_numpy(), index=names.to_numpy())
        display = {k: str(first[k].iloc[0]) for k in ambiguous}
        return cls(keys, ids, short, by_name, ambiguous, display)

    def match(self, frame: pd.DataFrame, id_column: str = "Account ID", name_column: str = "Account") -> tuple[pd.Series, pd.Series]:
        """(account key or None per row, normalised ambiguous name or None per row).

        A row with an ID is matched by it (an unknown ID matches nothing: an ID is never second-guessed
        by a name); a row without one, by its name when exactly one account has that name.
        """
        none = pd.Series(None, index=frame.index, dtype=object)
        has_id = pd.Series(False, index=frame.index)
        key = none.copy()
        if id_column in frame.columns:
            ids = _ids(frame[id_column])
            has_id = ids != ""
            key = ids.where(has_id & ids.isin(self.ids), ids.map(self.short)).astype(object)
        ambiguous = none.copy()
        if name_column in frame.columns:
            names = _names(frame[name_column])
            by_name = names.map(self.by_name).where(~has_id, None)
            key = key.where(key.notna(), by_name)
            ambiguous = names.where(~has_id & names.isin(self.ambiguous), None).astype(object)
        return key.astype(object), ambiguous


def salesforce_short_ids(ids: pd.Series) -> pd.Series:
    """Salesforce reports show an ID in 15 case-sensitive characters or 18 (with a case-safe
    suffix): 15-character ID -> the 18-character ID it starts, for the IDs that have 18."""
    ids = ids[ids.str.len() == 18]
    short = pd.Series(ids.to_numpy(), index=ids.str[:15].to_numpy())
    return short[~short.index.duplicated(keep=False)]


def _unique_lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """keys -> values for keys that occur once (a duplicated key matches nothing)."""
    ok = keys != ""
    counts = keys[ok].value_counts()
    lookup = pd.Series(values[ok].to_numpy(), index=keys[ok].to_numpy())
    return lookup[lookup.index.isin(counts.index[counts == 1])]


# ---------------------------------------------------------------- §7.2 revenue from won deals


def _won(pipeline: pd.DataFrame) -> np.ndarray:
    if "Status" in pipeline.columns:
        return (_names(pipeline["Status"]) == "won").to_numpy()
    if "Stage" in pipeline.columns:
        return _names(pipeline["Stage"]).str.replace(r"\W+", "", regex=True).isin(["won", "closedwon"]).to_numpy()
    return np.zeros(len(pipeline), dtype=bool)


@dataclass
class RevenueSummary:
    source: str  # where Revenue came from, in words
    deals_counted: int = 0
    ambiguous_names: list[str] = field(default_factory=list)
    unmatched_deals: int = 0  # won deals in the window matching no account
    unmatched_amount: float = 0.0
    unreadable_amounts: int = 0  # won deals in the window whose Amount is not a number


def revenue_from_won_deals(accounts: pd.DataFrame, pipeline: pd.DataFrame, as_of: dt.date,
                           revenue_months: int = 12) -> tuple[pd.DataFrame, RevenueSummary]:
    """Accounts with Revenue = Σ Amount of their Won deals closed in the RevenueMonths up to AsOf (§7.2).

    Deals are matched by Account ID when they carry one, else by account name (trimmed,
    case-insensitive; a name held by more than one account matches none and is listed). An
    account with no such deal gets 0. A Won deal whose Amount is not a number adds nothing and is
    counted in the summary (the Pipeline table shows it as an issue).
    """
    won = _won(pipeline)
    close = parse_dates(pipeline["Close Date"]).values if "Close Date" in pipeline.columns else np.full(len(pipeline), np.datetime64("NaT"), "datetime64[D]")
    deals = won & in_window(close, as_of, revenue_months)
    amount = parse_numbers(pipeline["Amount"]) if "Amount" in pipeline.columns else None
    readable = ~amount.blank & ~amount.bad if amount is not None else np.zeros(len(pipeline), bool)
    matcher = _Matcher.of(accounts)
    key, ambiguous = matcher.match(pipeline[deals])
    values = amount.values[deals] if amount is not None else np.zeros(int(deals.sum()))
    counted = key.notna().to_numpy() & readable[deals]
    sums = pd.Series(values[counted]).groupby(key.to_numpy()[counted]).sum()

    out = accounts.copy()
    out[REVENUE] = matcher.keys.map(sums).fillna(0.0).astype(float)
    # Revenue sits where an export would have it: after Owner (or Account).
    anchor = next((c for c in ("Owner", "Account", "Account ID") if c in accounts.columns), None)
    if anchor is not None:
        cols = [c for c in out.columns if c != REVENUE]
        cols.insert(cols.index(anchor) + 1, REVENUE)
        out = out[cols]
    out.attrs = dict(accounts.attrs)

    unmatched = key.isna().to_numpy()
    source = (f"Revenue: no Revenue column in the accounts export, so it is the Won deals closed after "
              f"{edate(as_of, -revenue_months):%Y-%m-%d} and on or before {as_of:%Y-%m-%d} ({revenue_months} months)")
    summary = RevenueSummary(
        source=source,
        deals_counted=int(counted.sum()),
        ambiguous_names=sorted({matcher.display[n] for n in ambiguous.dropna()}, key=str.casefold),
        unmatched_deals=int(unmatched.sum()),
        unmatched_amount=float(np.nansum(values[unmatched & readable[deals]])),
        unreadable_amounts=int((~readable[deals]).sum()),
    )
    return out, summary


# ---------------------------------------------------------------- §7.3 activities


def activity_kind(types: pd.Series) -> pd.Series:
    """Call, Email, Meeting or Other, by word, case-insensitively; each distinct type read once."""
    text = _text(types)
    distinct = pd.unique(text.to_numpy())

    def kind(t: str) -> str:
        return next((k for k, words in _KIND_WORDS if words.search(t)), "Other")

    return text.map({t: kind(str(t)) for t in distinct})


_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")  # h:mm:ss or mm:ss
_SPELLED = re.compile(
    r"^(?:(\d+(?:\.\d+)?)\s*h(?:ours?|rs?)?)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in(?:ute)?s?)?)?\s*(?:(\d+(?:\.\d+)?)\s*s(?:ec(?:ond)?s?)?)?$",
    re.I,
)


def _spelled_minutes(text: str) -> float | None:
    """Minutes of a duration written out: "1:30:00", "12:30" (mm:ss), "1h 30m", "45 min", "90s"."""
    t = text.strip()
    m = _CLOCK.match(t)
    if m:
        h, mm, ss = m.groups()
        return int(h or 0) * 60 + int(mm) + float(ss) / 60
    m = _SPELLED.match(t)
    if m and any(m.groups()):
        h, mm, ss = (float(g) if g else 0.0 for g in m.groups())
        return h * 60 + mm + ss / 60
    return None


def duration_minutes(s: pd.Series, seconds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(minutes, bad) of a duration column: numbers are minutes (seconds ÷ 60 when ``seconds``);
    ``h:mm:ss``, ``mm:ss`` and ``1h 30m`` are read as written whatever the header; Excel time
    values (a time of day or a timedelta) as the time they hold. Blank is NaN, not bad."""
    p = parse_numbers(s)
    minutes = p.values / 60 if seconds else p.values.copy()
    bad = p.bad.copy()
    bad[minutes < 0] = True
    minutes[minutes < 0] = np.nan
    if p.bad.any():
        rest = s[p.bad]
        distinct = pd.unique(rest.astype(object).to_numpy())

        def one(v: object) -> float | None:
            if isinstance(v, dt.time):
                return v.hour * 60 + v.minute + v.second / 60
            if isinstance(v, (dt.timedelta, pd.Timedelta)):
                return pd.Timedelta(v).total_seconds() / 60
            return _spelled_minutes(v) if isinstance(v, str) else None

        read = rest.astype(object).map({v: one(v) for v in distinct}).to_numpy(dtype=float, na_value=np.nan)
        minutes[p.bad] = read
        bad[p.bad] = np.isnan(read)
    return minutes, bad


def activity_minutes(activities: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """The activities with their Activity Kind and Minutes (§7.3).

    Minutes = the duration when given ("Duration" in minutes, "Duration (seconds)" in seconds),
    else the default of the type: MinutesCall, MinutesEmail, MinutesMeeting, MinutesOther. An
    unreadable duration falls back to the type's default too and is counted by :func:`prepare`.
    """
    s = settings or Settings()
    n = len(activities)
    kind = activity_kind(activities["Type"]) if "Type" in activities.columns else pd.Series("Other", index=activities.index)
    defaults = {"Call": s.minutes_call, "Email": s.minutes_email, "Meeting": s.minutes_meeting, "Other": s.minutes_other}
    minutes = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    for header, in_seconds in (("Duration", False), (DURATION_SECONDS_COLUMN, True)):
        if header in activities.columns:
            m, b = duration_minutes(activities[header], seconds=in_seconds)
            take = np.isnan(minutes) & ~np.isnan(m)
            minutes[take] = m[take]
            bad |= b
    bad &= np.isnan(minutes)
    out = activities.copy()
    out[ACTIVITY_KIND] = kind.to_numpy()
    out[MINUTES] = np.where(np.isnan(minutes), kind.map(defaults).to_numpy(dtype=float), minutes)
    out[ACTIVITY_DAY] = parse_dates(activities["Date"]).values
    out.attrs = dict(activities.attrs)
    out.attrs["bad_durations"] = int(bad.sum())
    return out


def read_activities(path: str | os.PathLike[str], sheet: str | None = None) -> pd.DataFrame:
    """An activity export (Salesforce, HubSpot, Pipedrive, ...) with its columns named as in §7.3.

    A duration header in seconds ("Call Duration", "Duration (seconds)") becomes the column
    "Duration (seconds)"; minutes headers become "Duration". Needs a Date column and at least one
    link (Account ID, Account, Opportunity ID or Opportunity); raises MissingColumnsError otherwise.
    """
    from .io import read_table

    df = read_table(path, sheet)
    source = str(df.attrs.get("source", path))
    return match_activity_columns(df, source)


def looks_like_activities(headers: list[object]) -> bool:
    """Headers of an activity export: a Date and a link (§7.3), a Type or a duration, and no
    Amount (an opportunities export has one; a HubSpot deals export has a Create Date too)."""
    try:
        mapping = schema.resolve(headers, ACTIVITY_COLUMNS)
    except MissingColumnsError:
        return False
    keys = {schema.normalise(h) for h in headers}
    timed = "Type" in mapping or "Duration" in mapping or bool(keys & {schema.normalise(h) for h in DURATION_SECONDS})
    amount = schema.column(schema.PIPELINE_COLUMNS, "Amount")
    has_amount = bool(keys & {schema.normalise(h) for h in (amount.header, *amount.aliases)})
    return timed and any(c in mapping for c in LINK_COLUMNS) and not has_amount


def match_activity_columns(df: pd.DataFrame, source: str = "the activities") -> pd.DataFrame:
    """Rename an activity table's headers to §7.3's (see :func:`read_activities`)."""
    headers = list(df.columns)
    mapping = schema.resolve(headers, ACTIVITY_COLUMNS, source=source)
    taken = {schema.normalise(v) for v in mapping.values()}
    seconds_keys = {schema.normalise(h) for h in DURATION_SECONDS}
    seconds = next((h for h in headers if schema.normalise(h) in seconds_keys and schema.normalise(h) not in taken), None)
    if seconds is not None:
        mapping[DURATION_SECONDS_COLUMN] = seconds
    if not any(c in mapping for c in LINK_COLUMNS):
        raise MissingColumnsError([" or ".join(LINK_COLUMNS)], [str(h) for h in headers], source)
    attrs = dict(df.attrs)
    out = df.rename(columns={found: header for header, found in mapping.items()})
    out.attrs = attrs
    return out


@dataclass
class ActivitySummary:
    read: int = 0
    counted: int = 0  # in the HoursMonths window, matched to an account
    after_as_of: int = 0
    undated: int = 0
    bad_durations: int = 0
    via_opportunity: int = 0  # matched to an account through their opportunity only
    unmatched: int = 0
    ambiguous_names: list[str] = field(default_factory=list)
    contacts_updated: int = 0  # open opportunities whose Last Contact came from the activities
    follow_ups_updated: int = 0


def _days(activities: pd.DataFrame) -> np.ndarray:
    if ACTIVITY_DAY in activities.columns:
        return activities[ACTIVITY_DAY].to_numpy(dtype="datetime64[D]")
    return parse_dates(activities["Date"]).values


def _opportunity_links(activities: pd.DataFrame, pipeline: pd.DataFrame | None) -> pd.Series:
    """Each activity's opportunity: the pipeline row position (by Opportunity ID, else a unique
    Opportunity name), or NaN."""
    none = pd.Series(np.nan, index=activities.index)
    if pipeline is None or pipeline.empty:
        return none
    positions = pd.Series(np.arange(len(pipeline), dtype=float), index=pipeline.index)
    link = none.copy()
    has_id = pd.Series(False, index=activities.index)
    if "Opportunity ID" in activities.columns and "Opportunity ID" in pipeline.columns:
        ids = _ids(activities["Opportunity ID"])
        has_id = ids != ""
        # Duplicated IDs are an issue of the pipeline; the activity goes to the first of them.
        pipe_ids = _ids(pipeline["Opportunity ID"])
        first = pd.Series(positions.to_numpy(), index=pipe_ids.to_numpy())
        first = first[~first.index.duplicated() & (first.index != "")]
        full = ids.map(salesforce_short_ids(pipe_ids)).where(~ids.isin(first.index), ids)
        link = full.map(first).where(has_id)
    if "Opportunity" in activities.columns and "Opportunity" in pipeline.columns:
        names = _unique_lookup(_names(pipeline["Opportunity"]), positions)
        by_name = _names(activities["Opportunity"]).map(names).where(~has_id)
        link = link.where(link.notna(), by_name)
    return link.astype(float)


def logged_hours(accounts: pd.DataFrame, pipeline: pd.DataFrame | None, activities: pd.DataFrame,
                 settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, ActivitySummary]:
    """(accounts with Logged Hours, pipeline with Last Contact and Follow-ups from the activities,
    the unmatched activities, the summary) — §7.3. ``activities`` come from :func:`activity_minutes`."""
    as_of = settings.as_of_date()
    summary = ActivitySummary(read=len(activities), bad_durations=int(activities.attrs.get("bad_durations", 0)))
    dates = _days(activities)
    summary.undated = int(np.isnat(dates).sum())
    summary.after_as_of = int((dates > np.datetime64(as_of, "D")).sum())
    minutes = activities[MINUTES].to_numpy(dtype=float)

    opp = _opportunity_links(activities, pipeline)
    has_opp = opp.notna().to_numpy()
    acc_key = pd.Series(None, index=activities.index, dtype=object)
    ambiguous = pd.Series(None, index=activities.index, dtype=object)
    matcher = None
    if accounts is not None:
        matcher = _Matcher.of(accounts)
        acc_key, ambiguous = matcher.match(activities)
        if pipeline is not None and has_opp.any():
            deal_key, _ = matcher.match(pipeline)
            via = pd.Series(deal_key.to_numpy(), dtype=object).reindex(opp.fillna(-1).astype(int).to_numpy()).to_numpy()
            via = pd.Series(via, index=activities.index, dtype=object).where(has_opp, None)
            only_via = acc_key.isna() & via.notna()
            summary.via_opportunity = int(only_via.sum())
            acc_key = acc_key.where(acc_key.notna(), via)
    matched = acc_key.notna().to_numpy() | has_opp
    if accounts is None:  # nothing to match accounts against: an account link is not "unmatched"
        for c in ("Account ID", "Account"):
            if c in activities.columns:
                matched |= (_text(activities[c]) != "").to_numpy()
    summary.unmatched = int((~matched).sum())
    if matcher is not None:
        summary.ambiguous_names = sorted({matcher.display[n] for n in ambiguous[~acc_key.notna()].dropna()}, key=str.casefold)
    unmatched = activities[~matched].drop(columns=[ACTIVITY_KIND, MINUTES, ACTIVITY_DAY], errors="ignore")

    acc_out = accounts
    if accounts is not None:
        counted = acc_key.notna().to_numpy() & in_window(dates, as_of, settings.hours_months)
        summary.counted = int(counted.sum())
        hours = pd.Series(minutes[counted] / 60).groupby(acc_key.to_numpy()[counted]).sum()
        acc_out = accounts.copy()
        acc_out[LOGGED_HOURS] = matcher.keys.map(hours).fillna(0.0).astype(float)
        acc_out.attrs = dict(accounts.attrs)

    pipe_out = pipeline
    if pipeline is not None:
        pipe_out, summary.contacts_updated, summary.follow_ups_updated = _contacts(pipeline, opp, dates, as_of)
    return acc_out, pipe_out, unmatched, summary


def _contacts(pipeline: pd.DataFrame, opp: pd.Series, dates: np.ndarray, as_of: dt.date) -> tuple[pd.DataFrame, int, int]:
    """Open opportunities' Last Contact and Follow-ups, raised to what the activities show (§7.3)."""
    done = dates <= np.datetime64(as_of, "D")  # NaT compares False
    linked = opp.notna().to_numpy() & done
    rows = opp.to_numpy()[linked].astype(int)
    n = len(pipeline)
    latest = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    counts = np.zeros(n, dtype=int)
    if rows.size:
        per = pd.DataFrame({"row": rows, "date": dates[linked]}).groupby("row")["date"].agg(["max", "size"])
        latest[per.index.to_numpy()] = per["max"].to_numpy(dtype="datetime64[D]")
        counts[per.index.to_numpy()] = per["size"].to_numpy()
    status = _names(pipeline["Status"]) if "Status" in pipeline.columns else pd.Series("", index=pipeline.index)
    open_ = ~status.isin(["won", "lost"]).to_numpy()

    out = pipeline.copy()
    out.attrs = dict(pipeline.attrs)
    last = parse_dates(pipeline["Last Contact"]) if "Last Contact" in pipeline.columns else None
    # An unreadable export value is kept as it is (its issue shows); blank or earlier is replaced.
    old = last.values if last is not None else np.full(n, np.datetime64("NaT"), "datetime64[D]")
    keep_bad = last.bad if last is not None else np.zeros(n, bool)
    newer = open_ & ~np.isnat(latest) & ~keep_bad & (np.isnat(old) | (latest > old))
    if newer.any():
        column = out["Last Contact"].astype(object) if last is not None else pd.Series(None, index=out.index, dtype=object)
        column[newer] = [d.item() for d in latest[newer]]
        out["Last Contact"] = column
    follow = parse_numbers(pipeline["Follow-ups"]) if "Follow-ups" in pipeline.columns else None
    fu_old = follow.values if follow is not None else np.full(n, np.nan)
    fu_bad = follow.bad if follow is not None else np.zeros(n, bool)
    more = open_ & (counts > 0) & ~fu_bad & (np.isnan(fu_old) | (counts > np.nan_to_num(fu_old, nan=-1)))
    if more.any():
        column = out["Follow-ups"].astype(object) if follow is not None else pd.Series(None, index=out.index, dtype=object)
        column[more] = counts[more].tolist()
        out["Follow-ups"] = column
    return out, int(newer.sum()), int(more.sum())


def logged_this_week(activities: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """Σ minutes ÷ 60 per owner of the activities dated AsOf − 6 … AsOf, every activity counted
    (matched or not). Owners compared trimmed and case-insensitively, shown as first written;
    blank is Unassigned. Index: owner; name "Logged this week"."""
    dates = _days(activities)
    end = np.datetime64(as_of, "D")
    week = ~np.isnat(dates) & (dates >= end - np.timedelta64(6, "D")) & (dates <= end)
    owner = _text(activities["Owner"]) if "Owner" in activities.columns else pd.Series("", index=activities.index)
    owner = owner.where(owner != "", UNASSIGNED)
    key = _names(owner)
    shown = pd.Series(owner.to_numpy(), index=key.to_numpy())
    shown = shown[~shown.index.duplicated()]
    hours = pd.Series(activities[MINUTES].to_numpy(dtype=float)[week] / 60).groupby(key.to_numpy()[week]).sum()
    hours.index = shown.reindex(hours.index).to_numpy()
    return hours.rename("Logged this week").rename_axis("Owner")


# ---------------------------------------------------------------- the one entry point


@dataclass
class CrmResult:
    """What prepare did, for the summary and the Team Rollup."""

    revenue: RevenueSummary | None = None  # None: the export had Revenue
    activities: ActivitySummary | None = None  # None: no activity export
    unmatched_activities: pd.DataFrame = field(default_factory=pd.DataFrame)
    logged_this_week: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="Logged this week"))

    def lines(self) -> list[str]:
        """The summary, one line each, for the terminal."""
        out: list[str] = []
        r = self.revenue
        if r is None:
            out.append("Revenue: from the accounts export's Revenue column.")
        else:
            out.append(r.source + f": {r.deals_counted} deals counted.")
            if r.unmatched_deals:
                out.append(f"  {r.unmatched_deals} Won deals in that period match no account "
                           f"({r.unmatched_amount:,.2f} not counted).")
            if r.ambiguous_names:
                out.append("  Names held by more than one account (their deals match none; give the deals an "
                           "Account ID): " + ", ".join(r.ambiguous_names[:10])
                           + (f" and {len(r.ambiguous_names) - 10} more" if len(r.ambiguous_names) > 10 else ""))
            if r.unreadable_amounts:
                out.append(f"  {r.unreadable_amounts} Won deals in that period have an Amount that is not a number "
                           "(not counted; see their Issues).")
        a = self.activities
        if a is not None:
            out.append(f"Activities: {a.read} read; {a.counted} count towards Logged Hours "
                       f"({a.via_opportunity} through their opportunity's account).")
            if a.after_as_of:
                out.append(f"  {a.after_as_of} dated after AsOf (planned, not spent: not counted).")
            if a.undated:
                out.append(f"  {a.undated} with no readable Date (not counted).")
            if a.bad_durations:
                out.append(f"  {a.bad_durations} with a Duration that is not a time (the type's default minutes used).")
            if a.unmatched:
                out.append(f"  {a.unmatched} match no account and no opportunity (listed on the Team Rollup's "
                           "Unmatched Activities sheet in a team build).")
            if a.ambiguous_names:
                out.append("  Account names held by more than one account: " + ", ".join(a.ambiguous_names[:10]))
            out.append(f"  Open opportunities updated: Last Contact {a.contacts_updated}, Follow-ups {a.follow_ups_updated}.")
        return out


def prepare(accounts: pd.DataFrame | None, pipeline: pd.DataFrame | None, activities: pd.DataFrame | None,
            settings: Settings | None = None) -> tuple[pd.DataFrame | None, pd.DataFrame | None, CrmResult]:
    """Revenue from won deals (when the accounts have no Revenue column) and Logged Hours, Last
    Contact and Follow-ups from the activities (when given), as of ``settings.as_of`` (today when
    None). Raises MissingColumnsError when the accounts have no Revenue and there is no pipeline."""
    s = settings or Settings()
    as_of = s.as_of_date()
    result = CrmResult()
    if accounts is not None and REVENUE not in accounts.columns:
        if pipeline is None:
            raise MissingColumnsError([REVENUE], [str(c) for c in accounts.columns],
                                      str(accounts.attrs.get("source", "the accounts")) + " (and no opportunities export to "
                                      "take Revenue from Won deals)")
        accounts, result.revenue = revenue_from_won_deals(accounts, pipeline, as_of, s.revenue_months)
    if activities is not None:
        timed = activity_minutes(activities, s)
        accounts, pipeline, result.unmatched_activities, result.activities = logged_hours(accounts, pipeline, timed, s)
        result.logged_this_week = logged_this_week(timed, as_of)
    return accounts, pipeline, result


__all__ = [
    "CrmResult", "activity_kind", "activity_minutes", "duration_minutes", "edate", "in_window", "logged_hours",
    "logged_this_week", "looks_like_activities", "match_activity_columns", "prepare", "read_activities", "revenue_from_won_deals",
]
