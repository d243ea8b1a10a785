"""Team productivity (SPEC §3) and the checklist over time (SPEC §10).

Every figure is a sum over rows, grouped (by owner for the Team Rollup, or all rows as one
group), then a ratio of sums: one vectorised pass whatever the number of owners. The
Dashboard shows the same figures as native formulas; the tests hold the two to each other.
Rows kept only because they left the export (CRM Sync = "Not in latest export") are left out
of every figure. A checklist figure whose inputs are missing is a text saying what it needs.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .engine import CONTACT_NOW, NOT_IN_EXPORT, PRIORITIES, _cols, parse_dates, parse_numbers, percentile_inc
from .engine import parse_status as _parse_status
from .engine import parse_text as _parse_text
from .schema import ACCOUNT_COLUMNS, FIRMOGRAPHICS, PIPELINE_COLUMNS
from .settings import Settings

SEGMENTS = ("A", "B", "C", "D", "E")
DUMP = ("C", "E")
SYNC_COLUMN = "CRM Sync"


def _distinct(s: pd.Series):
    """Row codes and the distinct values of ``s``: text is read once per distinct value, not per row."""
    codes, uniques = pd.factorize(s.reset_index(drop=True), use_na_sentinel=False)
    return codes, pd.Series(np.asarray(uniques, dtype=object) if s.dtype == object else uniques)


def parse_text(s: pd.Series, id_like: bool = False) -> tuple[pd.Series, np.ndarray]:
    """engine.parse_text, read once per distinct value."""
    codes, uniques = _distinct(s)
    text, blank = _parse_text(uniques, id_like=id_like)
    return pd.Series(text.to_numpy(dtype=object)[codes], index=s.index, dtype=object), blank[codes]


def parse_status(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """engine.parse_status, read once per distinct value."""
    codes, uniques = _distinct(s)
    status, bad = _parse_status(uniques)
    return status[codes], bad[codes]


def kept(df: pd.DataFrame) -> np.ndarray:
    """Rows still in the export: a row kept only because it left the export counts in no figure."""
    if SYNC_COLUMN not in df:
        return np.ones(len(df), dtype=bool)
    text, _ = parse_text(df[SYNC_COLUMN])
    return (text.str.casefold() != NOT_IN_EXPORT.casefold()).to_numpy()


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(den) != 0, np.asarray(num, dtype=float) / np.where(np.asarray(den) != 0, den, 1), np.nan)


def _groups(n: int, by: pd.Series | None) -> np.ndarray:
    return np.full(n, "Team", dtype=object) if by is None else by.to_numpy(dtype=object)


def _account_numbers(accounts: pd.DataFrame) -> pd.DataFrame:
    cols = _cols(accounts, ACCOUNT_COLUMNS)
    revenue = parse_numbers(cols["Revenue"]).values
    margin = parse_numbers(cols["Margin"]).values
    eh = accounts["Effective Hours"].to_numpy(dtype="float64")
    seg = accounts["Segment"].to_numpy(dtype=object)
    live = kept(accounts)
    valid = (accounts["Issues"] == "").to_numpy() & ~np.isnan(revenue) & live
    logged = ~np.isnan(eh) & live
    seg = np.where(live, seg, None)
    earned = revenue * np.where(np.isnan(margin), 1.0, margin)
    return pd.DataFrame({
        "Segment": seg,
        "Revenue": revenue,
        "Earned": earned,
        "EH": eh,
        "Valid": valid,
        "ValidRevenue": np.where(valid, revenue, 0.0),
        "LoggedEH": np.where(logged, eh, 0.0),
        "LoggedEarned": np.where(logged, earned, 0.0),
        "DumpEH": np.where(np.isin(seg, DUMP) & logged, np.nan_to_num(eh), 0.0),
        "RevenueA": np.where(seg == "A", revenue, 0.0),
        "Issue": (accounts["Issues"] != "").to_numpy() & live,
    })


def segment_summary(accounts: pd.DataFrame) -> pd.DataFrame:
    """Per segment: accounts, revenue, effective hours, ROT (Σ revenue×margin ÷ Σ EH), shares of revenue and time."""
    a = _account_numbers(accounts)
    sums = a[a["Segment"].isin(SEGMENTS)].groupby("Segment")[["Revenue", "Earned", "EH"]].sum().reindex(list(SEGMENTS), fill_value=0.0)
    counts = a["Segment"].value_counts().reindex(list(SEGMENTS), fill_value=0)
    return pd.DataFrame({
        "Accounts": counts.astype(int),
        "Revenue": sums["Revenue"],
        "Effective Hours": sums["EH"],
        "ROT": _ratio(sums["Earned"], sums["EH"]),
        "Share of Revenue": _ratio(sums["Revenue"], sums["Revenue"].sum()),
        "Share of Time": _ratio(sums["EH"], a["LoggedEH"].sum()),
    }, index=pd.Index(SEGMENTS, name="Segment"))


def account_table(accounts: pd.DataFrame, by: pd.Series | None = None) -> pd.DataFrame:
    """§3 account figures per group (one row "Team" when ``by`` is None)."""
    a = _account_numbers(accounts)
    s = a.drop(columns=["Segment"]).groupby(_groups(len(a), by)).sum()
    return pd.DataFrame({
        "Accounts": s["Valid"].astype(int),
        "Revenue": s["ValidRevenue"],
        "Effective Hours": s["LoggedEH"],
        "ROT": _ratio(s["LoggedEarned"], s["LoggedEH"]),
        "Time on Dump Segments": _ratio(s["DumpEH"], s["LoggedEH"]),
        "Revenue Share of A": _ratio(s["RevenueA"], s["ValidRevenue"]),
        "Rows with Issues": s["Issue"].astype(int),
    }, index=s.index)


def pipeline_table(pipeline: pd.DataFrame, settings: Settings | None = None, by: pd.Series | None = None) -> pd.DataFrame:
    """§3 pipeline figures per group (one row "Team" when ``by`` is None)."""
    s = settings or Settings()
    cols = _cols(pipeline, PIPELINE_COLUMNS)
    prio = pipeline["Priority"].to_numpy(dtype=object)
    ev = np.nan_to_num(pipeline["Expected Value"].to_numpy(dtype="float64"))
    est = parse_numbers(cols["Est. Hours"]).values
    here = kept(pipeline)
    prio = np.where(here, prio, None)
    live = pd.notna(prio)
    status, _ = parse_status(cols["Status"])
    # Follow-up never stops for an issue (§2): every Open row counts, issues or not.
    open_ = here & (status == "Open")
    rows = pd.DataFrame({
        "Open EV": np.where(live, ev, 0.0),
        **{f"EV {p}": np.where(prio == p, ev, 0.0) for p in PRIORITIES},
        **{f"Count {p}": prio == p for p in PRIORITIES},
        "Remaining Hours": np.where(live, np.where(np.isnan(est), s.default_deal_hours, est), 0.0),
        # A Won or Lost row counts whatever else it lacks (a Lost row without a reason is a loss).
        "Won": here & (status == "Won"),
        "Lost": here & (status == "Lost"),
        "Overdue Follow-ups": open_ & pipeline["Overdue"].fillna(False).astype(bool).to_numpy(),
        "Open with No Contact": open_ & (pipeline["Next Follow-up"].astype(object) == CONTACT_NOW).to_numpy(),
        "Rows with Issues": here & (pipeline["Issues"] != "").to_numpy(),
    })
    t = rows.groupby(_groups(len(rows), by)).sum()
    counts = [f"Count {p}" for p in PRIORITIES] + ["Won", "Lost", "Overdue Follow-ups", "Open with No Contact", "Rows with Issues"]
    t[counts] = t[counts].astype(int)
    t.insert(t.columns.get_loc("Remaining Hours") + 1, "EV per Remaining Hour", _ratio(t["Open EV"], t["Remaining Hours"]))
    t.insert(t.columns.get_loc("Lost") + 1, "Win Rate", _ratio(t["Won"], t["Won"] + t["Lost"]))
    return t


def account_metrics(accounts: pd.DataFrame) -> dict[str, float]:
    return account_table(accounts).iloc[0].to_dict() if len(accounts) else {}


def pipeline_metrics(pipeline: pd.DataFrame, settings: Settings | None = None) -> dict[str, float]:
    return pipeline_table(pipeline, settings).iloc[0].to_dict() if len(pipeline) else {}


# ---------------------------------------------------------------- §10 the checklist

CHECKLIST: tuple[str, ...] = (
    "Retention", "New Accounts (12 months)", "New Account Consistency", "Cost of Sales ÷ Revenue", "Prospect Time on ICP Fit",
)
ICP_FIT = "ICP Fit"
ICP_MIN_A = 5  # fewer A accounts than this: no ICP Fit (too few to resemble)
ICP_GOOD = 0.5
# Columns that record whether an account already buys: they would make every customer "fit".
NOT_FIRMOGRAPHIC = frozenset(h.casefold() for h in (
    "Type", "Account Type", "Customer Type", "Customer Status", "Status", "Lifecycle Stage", "Lead Status",
    "Customer Since", "Became a Customer Date", "Segment", "Revenue", "Hours", "Logged Hours", "Won Deals",
))
_NUMBER_FIRMOGRAPHICS = ("Company Revenue", "Employees")


def edate(day: dt.date, months: int) -> dt.date:
    """Excel's EDATE: the same day ``months`` later, clamped to the month's end."""
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date()


def _text_key(s: pd.Series, prefix: str = "", id_like: bool = False) -> np.ndarray:
    """prefix + the text trimmed and case-folded ("" when blank), worked out once per distinct value."""
    codes, uniques = _distinct(s)
    text, blank = _parse_text(uniques, id_like=id_like)
    keys = text if id_like else text.str.casefold()
    return np.where(blank, "", (prefix + keys).to_numpy(dtype=object))[codes]


def deal_accounts(pipeline: pd.DataFrame) -> pd.Series:
    """Which account each deal belongs to: its Account ID when the export carries one, else its
    account name (trimmed, case ignored); "" when neither is given."""
    keys = _text_key(_cols(pipeline, PIPELINE_COLUMNS)["Account"], "name:")
    if "Account ID" in pipeline:
        ids = _text_key(pipeline["Account ID"], "id:", id_like=True)
        keys = np.where(ids != "", ids, keys)
    return pd.Series(keys, dtype=object)


def won_deals(pipeline: pd.DataFrame, by: pd.Series | None = None) -> pd.DataFrame:
    """Won rows still in the export with an account and a Close Date: account key, close day, amount, group."""
    cols = _cols(pipeline, PIPELINE_COLUMNS)
    status, _ = parse_status(cols["Status"])
    close = parse_dates(cols["Close Date"]).values
    amount = parse_numbers(cols["Amount"]).values
    account = deal_accounts(pipeline).to_numpy(dtype=object)
    keep = kept(pipeline) & (status == "Won") & ~np.isnat(close) & (account != "")
    return pd.DataFrame({
        "Account": account[keep], "Close": close[keep], "Amount": amount[keep], "Group": _groups(len(pipeline), by)[keep],
    })


def _windows(as_of: dt.date, months: int) -> tuple[np.datetime64, np.datetime64, np.datetime64]:
    """Starts of the previous and current RevenueMonths windows, and AsOf: each window runs after its start, up to its end."""
    d = lambda x: np.datetime64(x, "D")  # noqa: E731
    return d(edate(as_of, -2 * months)), d(edate(as_of, -months)), d(as_of)


def retention(pipeline: pd.DataFrame, settings: Settings, by: pd.Series | None = None) -> pd.Series:
    """§10: of the accounts with Won revenue in the previous RevenueMonths window (the one ending where
    the current one starts), the share that also have Won revenue in the current window.

    Shown only when the Won deals reach back to the previous window's first day; otherwise a text
    saying what is needed. Per group (owner of the deal) or one value "Team".
    """
    prev_start, cur_start, as_of = _windows(settings.as_of_date(), settings.revenue_months)
    won = won_deals(pipeline, by)
    groups = pd.Index(pd.unique(_groups(len(pipeline), by)))
    first_day = prev_start + 1
    if won.empty or won["Close"].min() > first_day:
        need = f"needs Won deals back to {pd.Timestamp(first_day):%Y-%m-%d}"
        return pd.Series(need, index=groups, dtype=object)
    paid = won[won["Amount"] > 0]
    prev = paid[(paid["Close"] > prev_start) & (paid["Close"] <= cur_start)][["Group", "Account"]].drop_duplicates()
    cur = paid[(paid["Close"] > cur_start) & (paid["Close"] <= as_of)][["Group", "Account"]].drop_duplicates()
    both = prev.merge(cur, on=["Group", "Account"])
    n_prev = prev.groupby("Group").size().reindex(groups, fill_value=0)
    n_both = both.groupby("Group").size().reindex(groups, fill_value=0)
    share = pd.Series(_ratio(n_both, n_prev), index=groups, dtype=object)
    return share.where(n_prev > 0, "needs accounts with Won revenue in the previous window")


def last_complete_months(as_of: dt.date, n: int = 12) -> pd.PeriodIndex:
    """The ``n`` calendar months before AsOf's month, oldest first."""
    this = pd.Period(as_of, "M")
    return pd.period_range(this - n, this - 1, freq="M")


def new_accounts_by_month(pipeline: pd.DataFrame, settings: Settings, by: pd.Series | None = None) -> pd.DataFrame:
    """§10: per group (rows) and month (columns, the last 12 complete calendar months before AsOf),
    the accounts whose first Won deal over all the history given closed in that month."""
    months = last_complete_months(settings.as_of_date())
    won = won_deals(pipeline, by)
    groups = pd.Index(pd.unique(_groups(len(pipeline), by)))
    first = won.sort_values("Close", kind="stable").drop_duplicates("Account")  # the first Won deal names its owner
    month = pd.PeriodIndex(pd.DatetimeIndex(first["Close"]), freq="M")
    counts = pd.crosstab(first["Group"].to_numpy(), month) if len(first) else pd.DataFrame()
    return counts.reindex(index=groups, columns=months, fill_value=0).astype(int)


def consistency(counts: pd.DataFrame) -> pd.Series:
    """Coefficient of variation of each row of monthly counts: STDEV.P ÷ mean (lower is steadier)."""
    mean = counts.mean(axis=1)
    cv = pd.Series(_ratio(counts.std(axis=1, ddof=0), mean), index=counts.index, dtype=object)
    return cv.where(mean > 0, "needs new accounts in the last 12 months")


def _real_hours(accounts: pd.DataFrame) -> np.ndarray:
    """h: Hours when given, else Logged Hours (real time, not aggravation-weighted)."""
    hours = parse_numbers(_cols(accounts, ACCOUNT_COLUMNS)["Hours"]).values
    if "Logged Hours" in accounts:
        hours = np.where(np.isnan(hours), parse_numbers(accounts["Logged Hours"]).values, hours)
    return hours


def cost_of_sales(accounts: pd.DataFrame, settings: Settings, by: pd.Series | None = None) -> pd.Series:
    """§10: Σ h × HourlyCost ÷ Σ Revenue over the valid accounts, per group; a text when HourlyCost is not given."""
    groups = pd.Index(pd.unique(_groups(len(accounts), by)))
    if settings.hourly_cost is None or not settings.hourly_cost > 0:  # no cost given (0 is none), as the workbook's N(HourlyCost)>0
        return pd.Series("needs HourlyCost", index=groups, dtype=object)
    valid = (accounts["Issues"] == "").to_numpy() & kept(accounts)
    revenue = parse_numbers(_cols(accounts, ACCOUNT_COLUMNS)["Revenue"]).values
    h = _real_hours(accounts)
    rows = pd.DataFrame({
        "Cost": np.where(valid, np.nan_to_num(h) * settings.hourly_cost, 0.0),
        "Revenue": np.where(valid, np.nan_to_num(revenue), 0.0),
    })
    s = rows.groupby(_groups(len(rows), by)).sum().reindex(groups, fill_value=0.0)
    out = pd.Series(_ratio(s["Cost"], s["Revenue"]), index=groups, dtype=object)
    return out.where(s["Revenue"] > 0, "needs revenue")


def icp_columns(accounts: pd.DataFrame, icp_from: tuple[str, ...] = ()) -> list[str]:
    """The firmographic columns present: schema.FIRMOGRAPHICS and those named with --icp-from.

    A column that records whether the account already buys (Type, Customer Status, …) would make
    every customer look like the ideal one: naming one stops with a message.
    """
    bad = [c for c in icp_from if c.strip().casefold() in NOT_FIRMOGRAPHIC]
    if bad:
        raise ValueError(f"--icp-from: {', '.join(bad)} records whether an account is a customer, not what it looks like; "
                         "name firmographic columns such as Industry or Employees")
    present = {c.strip().casefold(): c for c in accounts.columns}
    wanted = dict.fromkeys(c.strip().casefold() for c in (*FIRMOGRAPHICS, *icp_from))
    return [present[k] for k in wanted if k in present]


def _icp_keys(values: pd.Series, numeric: bool) -> pd.Series:
    """The value an account is compared on: text trimmed and case-folded; numbers as their quintile
    band of all accounts (1 + the number of the 20/40/60/80th percentiles below the value, so a
    value equal to a cut-off takes the lower band). Blank: None."""
    if numeric:
        v = parse_numbers(values).values
        edges = [percentile_inc(v[~np.isnan(v)], q) for q in (0.2, 0.4, 0.6, 0.8)]
        band = 1 + np.searchsorted(np.asarray(edges, dtype=float), v, side="left")
        return pd.Series(np.where(np.isnan(v), None, band.astype(object)), dtype=object)
    keys = _text_key(values)
    return pd.Series(np.where(keys == "", None, keys), dtype=object)


def _is_numeric(name: str, values: pd.Series) -> bool:
    if name.strip().casefold() in {c.casefold() for c in _NUMBER_FIRMOGRAPHICS}:
        return True
    p = parse_numbers(values)
    return bool((~p.blank).any() and not p.bad.any())


def icp_fit(accounts: pd.DataFrame, icp_from: tuple[str, ...] = ()) -> np.ndarray:
    """§10 ICP Fit per account, 0–1: per firmographic column, the share of the team's A accounts
    (the account itself left out) with the same value, averaged over the columns the account has
    a value in. NaN when the team has fewer than 5 A accounts, or the account has no firmographics.
    Rows that left the export get none, and are no A account to resemble."""
    n = len(accounts)
    here = kept(accounts)
    is_a = here & (accounts["Segment"].to_numpy(dtype=object) == "A")
    n_a = int(is_a.sum())
    columns = icp_columns(accounts, icp_from)
    if n_a < ICP_MIN_A or not columns:
        return np.full(n, np.nan)
    total, seen = np.zeros(n), np.zeros(n)
    for name in columns:
        keys = _icp_keys(accounts[name].reset_index(drop=True), _is_numeric(name, accounts[name]))
        has = keys.notna().to_numpy()
        a_counts = keys[is_a].value_counts()
        same = keys.map(a_counts).fillna(0).to_numpy(dtype=float) - (is_a & has)
        total += np.where(has, same / (n_a - is_a), 0.0)
        seen += has
    return np.where(here & (seen > 0), total / np.where(seen > 0, seen, 1), np.nan)


def prospect_icp_share(accounts: pd.DataFrame, pipeline: pd.DataFrame, fit: np.ndarray,
                       by: pd.Series | None = None) -> pd.Series:
    """§10 team figure: of the effective hours on prospects (accounts with open deals and no revenue),
    the share on prospects with ICP Fit ≥ 0.5. A deal names its account by Account ID when the
    pipeline carries one, else by name (a name shared by two accounts matches neither)."""
    groups = pd.Index(pd.unique(_groups(len(accounts), by)))
    if np.isnan(fit).all():
        return pd.Series(f"needs ICP Fit ({ICP_MIN_A} A accounts and firmographic columns)", index=groups, dtype=object)
    cols = _cols(pipeline, PIPELINE_COLUMNS)
    status, _ = parse_status(cols["Status"])
    open_keys = set(deal_accounts(pipeline)[kept(pipeline) & (status == "Open")])
    acols = _cols(accounts, ACCOUNT_COLUMNS)
    ids = pd.Series(_text_key(acols["Account ID"], "id:", id_like=True))
    names = pd.Series(_text_key(acols["Account"], "name:"))
    unique_name = ~names.duplicated(keep=False)
    has_open = (ids.isin(open_keys) | (names.isin(open_keys) & unique_name)).to_numpy()
    revenue = parse_numbers(acols["Revenue"]).values
    eh = np.nan_to_num(accounts["Effective Hours"].to_numpy(dtype="float64"))
    prospect = kept(accounts) & (accounts["Issues"] == "").to_numpy() & (revenue == 0) & has_open
    rows = pd.DataFrame({"Time": np.where(prospect, eh, 0.0), "Fit": np.where(prospect & (fit >= ICP_GOOD), eh, 0.0)})
    s = rows.groupby(_groups(len(rows), by)).sum().reindex(groups, fill_value=0.0)
    out = pd.Series(_ratio(s["Fit"], s["Time"]), index=groups, dtype=object)
    return out.where(s["Time"] > 0, "needs hours on prospects with open deals")


def checklist_table(accounts: pd.DataFrame, pipeline: pd.DataFrame, settings: Settings,
                    acc_by: pd.Series | None = None, pipe_by: pd.Series | None = None,
                    icp_from: tuple[str, ...] = ()) -> pd.DataFrame:
    """The §10 checklist per group (one row "Team" when the groupings are None): numbers, or a text
    saying what a figure needs. Deals count for the owner of the deal, accounts for theirs."""
    fit = icp_fit(accounts, icp_from)
    months = new_accounts_by_month(pipeline, settings, pipe_by)
    table = pd.DataFrame({
        "Retention": retention(pipeline, settings, pipe_by),
        "New Accounts (12 months)": months.sum(axis=1),
        "New Account Consistency": consistency(months),
    })
    acc = pd.DataFrame({
        "Cost of Sales ÷ Revenue": cost_of_sales(accounts, settings, acc_by),
        "Prospect Time on ICP Fit": prospect_icp_share(accounts, pipeline, fit, acc_by),
    })
    out = table.join(acc, how="outer")
    out["New Accounts (12 months)"] = out["New Accounts (12 months)"].fillna(0).astype(int)
    # A group with accounts but no deals still needs its texts, not a blank.
    for name, text in (("Retention", "needs Won deals"), ("New Account Consistency", "needs new accounts in the last 12 months"),
                       ("Cost of Sales ÷ Revenue", "needs accounts"), ("Prospect Time on ICP Fit", "needs accounts")):
        out[name] = out[name].astype(object).where(out[name].notna(), text)
    return out[list(CHECKLIST)]


def plan_table(accounts: pd.DataFrame, pipeline: pd.DataFrame, acc_by: pd.Series | None = None,
               pipe_by: pd.Series | None = None, logged_this_week: pd.Series | None = None) -> pd.DataFrame:
    """§8 per group: Plan Hours (accounts and open deals) and Planned Return when the plan's columns are
    there, and Logged Hours This Week (§7.3) when the activities gave it (a Series by owner)."""
    parts = []
    for df, by in ((accounts, acc_by), (pipeline, pipe_by)):
        here = kept(df)
        cols = {c: np.where(here, np.nan_to_num(parse_numbers(df[c]).values), 0.0) for c in ("Plan Hours", "Planned Return") if c in df}
        parts.append(pd.DataFrame(cols).groupby(_groups(len(df), by)).sum() if cols else None)
    groups = pd.Index(pd.unique(np.concatenate([_groups(len(accounts), acc_by), _groups(len(pipeline), pipe_by)])))
    out = pd.DataFrame(index=groups)
    for name in ("Plan Hours", "Planned Return"):
        have = [p[name] for p in parts if p is not None and name in p]
        out[name] = sum(h.reindex(groups, fill_value=0.0) for h in have) if have else f"needs the weekly plan ({name})"
    if logged_this_week is None:
        out["Logged Hours This Week"] = "needs an activities export"
    else:
        logged = logged_this_week.astype(float).groupby(level=0).sum()
        out["Logged Hours This Week"] = float(logged.sum()) if acc_by is None else logged.reindex(groups, fill_value=0.0)
    return out
