"""Revenue from won deals (SPEC §7.2) and time from activity logs (§7.3), held to a plain
row-by-row reading of the spec written here (loops on purpose: it is the reference)."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from rotxl.data import crm
from rotxl.rules.schema import MissingColumnsError
from rotxl.rules.settings import Settings

AS_OF = dt.date(2026, 3, 31)


# ---------------------------------------------------------------- the reference, row by row


def ref_edate(d: dt.date, months: int) -> dt.date:
    y, m = d.year, d.month + months
    while m < 1:
        y, m = y - 1, m + 12
    while m > 12:
        y, m = y + 1, m - 12
    last = calendar.monthrange(y, m)[1]
    return dt.date(y, m, min(d.day, last))


def as_date(v):
    if v is None or v == "" or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v).strip())
    except ValueError:
        return None


def key(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v).strip().casefold()


def ref_account_of(row: dict, accounts: list[dict]) -> int | None:
    """§7.2: by Account ID when the row has one, else by a name held by exactly one account."""
    rid = key(row.get("Account ID"))
    if rid:
        for i, a in enumerate(accounts):
            if key(a["Account ID"]) == rid:
                return i
        return None
    name = key(row.get("Account"))
    if not name:
        return None
    hits = [i for i, a in enumerate(accounts) if key(a["Account"]) == name]
    return hits[0] if len(hits) == 1 else None


def ref_revenue(accounts: list[dict], deals: list[dict], as_of: dt.date, months: int) -> list[float]:
    start = ref_edate(as_of, -months)
    revenue = [0.0] * len(accounts)
    for d in deals:
        if key(d.get("Status")) != "won":
            continue
        close = as_date(d.get("Close Date"))
        if close is None or not (start < close <= as_of):
            continue
        i = ref_account_of(d, accounts)
        if i is not None:
            revenue[i] += float(d["Amount"])
    return revenue


def ref_kind(t) -> str:
    words = key(t).replace("-", " ").replace("/", " ").split()
    text = " ".join(words)
    if any(w in ("call", "calls", "phone") for w in words) or "log a call" in text:
        return "Call"
    if any(w in ("email", "emails", "mail", "mails") for w in words) or "e mail" in text:
        return "Email"
    if any(w in ("meeting", "meetings", "event", "events", "demo", "demos", "visit", "visits", "appointment",
                 "appointments") for w in words):
        return "Meeting"
    return "Other"


def ref_minutes(row: dict, s: Settings) -> float:
    for header, scale in (("Duration", 1), ("Duration (seconds)", 60)):
        v = row.get(header)
        if v is None or v == "":
            continue
        text = str(v).strip()
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) == 2:
                return parts[0] + parts[1] / 60
            return parts[0] * 60 + parts[1] + parts[2] / 60
        if "h" in text or "m" in text:
            h = m = 0.0
            for token in text.replace("h", "h ").replace("m", "m ").split():
                if token.endswith("h"):
                    h = float(token[:-1])
                elif token.endswith("m"):
                    m = float(token[:-1])
            return h * 60 + m
        return float(text) / scale
    return {"Call": s.minutes_call, "Email": s.minutes_email, "Meeting": s.minutes_meeting,
            "Other": s.minutes_other}[ref_kind(row.get("Type"))]


def ref_opportunity_of(row: dict, deals: list[dict]) -> int | None:
    oid = key(row.get("Opportunity ID"))
    if oid:
        return next((j for j, d in enumerate(deals) if key(d["Opportunity ID"]) == oid), None)
    name = key(row.get("Opportunity"))
    if not name:
        return None
    hits = [j for j, d in enumerate(deals) if key(d.get("Opportunity")) == name]
    return hits[0] if len(hits) == 1 else None


def ref_logged(accounts, deals, activities, s: Settings):
    as_of = s.as_of
    start = ref_edate(as_of, -s.hours_months)
    hours = [0.0] * len(accounts)
    last = [as_date(d.get("Last Contact")) for d in deals]
    follow = [d.get("Follow-ups") for d in deals]
    unmatched = 0
    week: dict[str, float] = {}
    for act in activities:
        minutes = ref_minutes(act, s)
        day = as_date(act.get("Date"))
        j = ref_opportunity_of(act, deals)
        i = ref_account_of(act, accounts)
        if i is None and j is not None:
            i = ref_account_of(deals[j], accounts)
        if i is None and j is None:
            unmatched += 1
        if day is not None and i is not None and start < day <= as_of:
            hours[i] += minutes / 60
        if day is not None and as_of - dt.timedelta(days=6) <= day <= as_of:
            owner = str(act.get("Owner") or "").strip() or "Unassigned"
            week[owner] = week.get(owner, 0.0) + minutes / 60
    for j, d in enumerate(deals):
        if key(d.get("Status")) in ("won", "lost"):
            continue
        mine = [as_date(a.get("Date")) for a in activities if ref_opportunity_of(a, deals) == j]
        mine = [x for x in mine if x is not None and x <= as_of]
        if mine and (last[j] is None or max(mine) > last[j]):
            last[j] = max(mine)
        if mine and (follow[j] is None or follow[j] == "" or len(mine) > float(follow[j])):
            follow[j] = len(mine)
    return hours, last, follow, unmatched, week


# ---------------------------------------------------------------- data


def _accounts() -> pd.DataFrame:
    return pd.DataFrame({
        "Account ID": ["A1", "A2", "A3", "A4", "A5", "A6"],
        "Account": ["Acme", "Globex", "Initech", " twin co ", "Twin Co", "Solo"],
        "Owner": ["Ana", "Ana", "Ben", "Ben", "Ben", "Ana"],
    })


def _deals() -> pd.DataFrame:
    rows = [
        # (id, name, account id, account, status, amount, close)
        ("O1", "Acme renewal", "A1", "", "Won", 1000, "2026-03-31"),  # on AsOf: in
        ("O2", "Acme old", "A1", "", "Won", 500, "2025-03-31"),  # = EDATE(AsOf, -12): out
        ("O3", "Acme edge", "A1", "", "Won", 250, "2025-04-01"),  # day after: in
        ("O4", "Globex", "", " GLOBEX ", "Won", 300, "2025-12-01"),  # by name, trimmed, case-insensitive
        ("O5", "Twin", "", "twin co", "Won", 700, "2026-01-10"),  # ambiguous name: none
        ("O6", "Later", "A2", "", "Won", 900, "2026-04-01"),  # after AsOf: out
        ("O7", "Lost one", "A3", "", "Lost", 800, "2026-02-01"),
        ("O8", "Open one", "A3", "", "", 400, "2026-05-01"),
        ("O9", "Ghost", "ZZ", "Acme", "Won", 600, "2026-01-01"),  # unknown ID: never second-guessed by name
        ("O10", "Nobody", "", "Nobody Ltd", "Won", 100, "2026-02-02"),
        ("O11", "Initech open", "", "Initech", "Open", 100, "2026-06-01"),
    ]
    return pd.DataFrame(rows, columns=["Opportunity ID", "Opportunity", "Account ID", "Account", "Status", "Amount",
                                       "Close Date"]).assign(**{"Last Contact": ["", "", "", "", "", "", "", "2026-03-01",
                                                                                   "", "", "2026-03-20"],
                                                                "Follow-ups": [None] * 7 + [2, None, None, 5]})


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in df.to_dict("records")]


def test_edate_counts_month_ends_as_excel_does():
    assert crm.edate(dt.date(2026, 3, 31), -12) == dt.date(2025, 3, 31)
    assert crm.edate(dt.date(2026, 3, 31), -1) == dt.date(2026, 2, 28)
    assert crm.edate(dt.date(2024, 2, 29), -12) == dt.date(2023, 2, 28)
    assert crm.edate(dt.date(2026, 5, 31), -3) == dt.date(2026, 2, 28)
    assert crm.edate(dt.date(2024, 5, 31), -3) == dt.date(2024, 2, 29)
    assert crm.edate(dt.date(2026, 1, 15), -13) == dt.date(2024, 12, 15)
    for months in range(0, 40):
        for day in (dt.date(2026, 3, 31), dt.date(2024, 2, 29), dt.date(2025, 12, 31), dt.date(2026, 7, 1)):
            assert crm.edate(day, -months) == ref_edate(day, -months)


def test_revenue_from_won_deals_follows_the_spec():
    acc, deals = _accounts(), _deals()
    out, summary = crm.revenue_from_won_deals(acc, deals, AS_OF, 12)
    expected = ref_revenue(_records(acc), _records(deals), AS_OF, 12)
    assert out["Revenue"].tolist() == pytest.approx(expected)
    assert out["Revenue"].tolist() == [1250.0, 300.0, 0.0, 0.0, 0.0, 0.0]
    assert list(out.columns) == ["Account ID", "Account", "Owner", "Revenue"]
    assert summary.ambiguous_names == ["twin co"]
    assert summary.unmatched_deals == 3  # O5 (ambiguous), O9 (unknown ID), O10 (no such name)
    assert summary.unmatched_amount == 1400
    assert summary.deals_counted == 3


@pytest.mark.parametrize("months", [1, 3, 12, 13, 24])
@pytest.mark.parametrize("as_of", [dt.date(2026, 3, 31), dt.date(2026, 2, 28), dt.date(2024, 2, 29), dt.date(2026, 11, 20)])
def test_revenue_matches_the_reference_on_random_deals(as_of, months):
    rng = np.random.default_rng(months * 1000 + as_of.toordinal() % 997)
    acc = pd.DataFrame({"Account ID": [f"A{i}" for i in range(40)],
                        "Account": rng.choice([f"Co {i}" for i in range(35)], 40)})
    n = 400
    days = rng.integers(-800, 60, n)
    deals = pd.DataFrame({
        "Opportunity ID": [f"O{i}" for i in range(n)],
        "Account ID": np.where(rng.random(n) < 0.5, rng.choice([*acc["Account ID"], "", "A999"], n), ""),
        "Account": rng.choice([*acc["Account"], "co 3 ", "nobody"], n),
        "Status": rng.choice(["Won", "won", "Lost", "", "Open"], n),
        "Amount": np.round(rng.uniform(0, 5000, n), 2),
        "Close Date": [(as_of + dt.timedelta(days=int(d))).isoformat() for d in days],
    })
    out, _ = crm.revenue_from_won_deals(acc, deals, as_of, months)
    assert out["Revenue"].tolist() == pytest.approx(ref_revenue(_records(acc), _records(deals), as_of, months))


def test_revenue_uses_the_stage_when_there_is_no_status_column():
    acc = pd.DataFrame({"Account ID": ["A1"], "Account": ["Acme"]})
    deals = pd.DataFrame({"Opportunity ID": ["O1", "O2"], "Account": ["Acme", "Acme"], "Stage": ["Closed Won", "Proposal"],
                          "Amount": [100, 200], "Close Date": ["2026-01-01", "2026-01-01"]})
    out, _ = crm.revenue_from_won_deals(acc, deals, AS_OF, 12)
    assert out["Revenue"].tolist() == [100.0]


def test_prepare_without_revenue_or_pipeline_stops_naming_the_column():
    with pytest.raises(MissingColumnsError, match="Revenue"):
        crm.prepare(_accounts(), None, None, Settings(as_of=AS_OF))


def test_prepare_keeps_an_export_revenue_column():
    acc = _accounts().assign(Revenue=[1, 2, 3, 4, 5, 6])
    out, _, result = crm.prepare(acc, _deals(), None, Settings(as_of=AS_OF))
    assert out["Revenue"].tolist() == [1, 2, 3, 4, 5, 6]
    assert result.revenue is None


# ---------------------------------------------------------------- activities


@pytest.mark.parametrize("text,kind", [
    ("Call", "Call"), ("CALL", "Call"), ("Phone call", "Call"), ("Log a Call", "Call"), ("Outbound calls", "Call"),
    ("Email", "Email"), ("E-mail", "Email"), ("List Email", "Email"), ("mail", "Email"),
    ("Meeting", "Meeting"), ("Event", "Meeting"), ("Product demo", "Meeting"), ("Site visit", "Meeting"),
    ("Appointment", "Meeting"), ("Task", "Other"), ("", "Other"), (None, "Other"), ("Callback", "Other"),
    ("Mailing list", "Other"), ("Note", "Other"),
])
def test_activity_types_match_by_word(text, kind):
    assert crm.activity_kind(pd.Series([text], dtype=object)).tolist() == [kind]
    assert ref_kind(text) == kind


@pytest.mark.parametrize("value,seconds,minutes", [
    (30, False, 30), ("45", False, 45), (90, True, 1.5), ("600", True, 10), ("1:30:00", False, 90),
    ("1:30:00", True, 90), ("12:30", False, 12.5), ("12:30", True, 12.5), ("1h 30m", False, 90), ("1h", True, 60),
    ("45m", False, 45), ("2 hours", False, 120), ("90 min", False, 90), ("30s", False, 0.5),
    (dt.time(1, 15), False, 75), (dt.timedelta(minutes=20), True, 20),
])
def test_durations_read_as_written(value, seconds, minutes):
    m, bad = crm.duration_minutes(pd.Series([value], dtype=object), seconds=seconds)
    assert m[0] == pytest.approx(minutes) and not bad[0]


def test_unreadable_durations_fall_back_to_the_type_default_and_are_counted():
    acts = pd.DataFrame({"Date": ["2026-03-01"] * 4, "Type": ["Call", "Meeting", "Email", "Task"],
                         "Duration": ["soon", "-5", "", None]})
    out = crm.activity_minutes(acts, Settings(minutes_call=12))
    assert out["Minutes"].tolist() == [12, 60, 5, 15]
    assert out.attrs["bad_durations"] == 2


def test_seconds_and_minutes_headers():
    acts = pd.DataFrame({"Activity Date": ["2026-03-01"] * 3, "Account ID": ["A1"] * 3,
                         "Call Duration (seconds)": ["120", "", "0:10:00"], "Duration (minutes)": ["", "7", ""],
                         "Task Subtype": ["Call", "Call", "Email"], "Assigned": ["Ana", "Ana", "Ana"]})
    matched = crm.match_activity_columns(acts)
    assert {"Date", "Account ID", "Duration", "Duration (seconds)", "Type", "Owner"} <= set(matched.columns)
    assert crm.activity_minutes(matched)["Minutes"].tolist() == [2, 7, 10]


def test_an_activity_export_needs_a_date_and_a_link():
    with pytest.raises(MissingColumnsError, match="Date"):
        crm.match_activity_columns(pd.DataFrame({"Account": ["x"]}))
    with pytest.raises(MissingColumnsError, match="Account ID or Account"):
        crm.match_activity_columns(pd.DataFrame({"Date": ["2026-01-01"], "Subject": ["x"]}))


def _activities() -> pd.DataFrame:
    rows = [
        # date, account id, account, opp id, opp, owner, type, minutes, seconds
        ("2026-03-31", "A1", "", "", "", "Ana", "Call", "", ""),  # on AsOf: counts (15)
        ("2025-03-31", "A1", "", "", "", "Ana", "Meeting", "", ""),  # = window start: out
        ("2025-04-01", "A1", "", "", "", "Ana", "Meeting", "30", ""),  # in: 30
        ("2026-04-01", "A1", "", "", "", "Ana", "Meeting", "", ""),  # after AsOf: planned, out
        ("2026-03-10", "", "", "O8", "", "Ben", "Email", "", ""),  # opportunity only -> A3
        ("2026-03-25", "", "", "", "Initech open", "ben ", "Log a Call", "", "600"),  # by opp name -> A3, 10 min
        ("2026-03-26", "", "globex", "", "", "", "Demo", "1:00:00", ""),  # by name
        ("2026-03-20", "", "Twin Co", "", "", "Ben", "Call", "", ""),  # ambiguous, no opp: unmatched
        ("2026-03-20", "", "Nowhere", "", "", "Ben", "Call", "", ""),  # unmatched
        ("2026-03-29", "", "", "O8", "", "Ben", "Meeting", "", ""),  # latest for O8
        ("2026-04-02", "", "", "O8", "", "Ben", "Meeting", "", ""),  # after AsOf: no contact
        ("2026-03-01", "", "", "O1", "", "Ana", "Call", "", ""),  # a Won deal: its contact is not touched
        ("not a date", "A2", "", "", "", "Ana", "Call", "", ""),
    ]
    return pd.DataFrame(rows, columns=["Date", "Account ID", "Account", "Opportunity ID", "Opportunity", "Owner", "Type",
                                       "Duration", "Duration (seconds)"])


def test_logged_hours_and_contacts_follow_the_spec():
    s = Settings(as_of=AS_OF)
    acc = _accounts().assign(Revenue=1.0)
    deals, acts = _deals(), _activities()
    out_acc, out_pipe, result = crm.prepare(acc, deals, acts, s)
    hours, last, follow, unmatched, week = ref_logged(_records(acc), _records(deals), _records(acts), s)
    assert out_acc["Logged Hours"].tolist() == pytest.approx(hours)
    assert out_acc["Logged Hours"].tolist() == pytest.approx([(15 + 30 + 15) / 60, 1.0, (5 + 10 + 60) / 60, 0, 0, 0])
    got_last = [crm_date(v) for v in out_pipe["Last Contact"]]
    assert got_last == last
    assert got_last[7] == dt.date(2026, 3, 29) and got_last[10] == dt.date(2026, 3, 25)
    assert [None if v is None or v != v else int(v) for v in out_pipe["Follow-ups"]] == [
        None if f is None else int(f) for f in follow]
    assert result.activities.unmatched == unmatched == 2
    assert result.unmatched_activities["Account"].tolist() == ["Twin Co", "Nowhere"]
    assert result.activities.ambiguous_names == ["twin co"]
    assert result.activities.after_as_of == 2 and result.activities.undated == 1
    assert result.logged_this_week.to_dict() == pytest.approx({"Ana": 0.25, "Ben": (10 + 60) / 60, "Unassigned": 1.0})
    assert sum(result.logged_this_week) == pytest.approx(sum(week.values()))
    assert all("\n" not in line for line in result.lines())


def crm_date(v):
    if v is None or v == "" or (isinstance(v, float) and v != v):
        return None
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(v)


@pytest.mark.parametrize("seed", range(4))
def test_logged_hours_match_the_reference_on_random_activities(seed):
    rng = np.random.default_rng(seed)
    s = Settings(as_of=dt.date(2026, 2, 28), hours_months=int(rng.choice([1, 6, 12])), minutes_call=10)
    acc = pd.DataFrame({"Account ID": [f"A{i}" for i in range(30)], "Account": rng.choice([f"Co {i}" for i in range(25)], 30),
                        "Revenue": 1.0})
    n_deals = 60
    deals = pd.DataFrame({"Opportunity ID": [f"O{i}" for i in range(n_deals)],
                          "Opportunity": rng.choice([f"Deal {i}" for i in range(50)], n_deals),
                          "Account": rng.choice([*acc["Account"], "nobody"], n_deals),
                          "Status": rng.choice(["", "Open", "Won", "Lost"], n_deals),
                          "Last Contact": rng.choice(["", "2026-02-01", "2025-06-01"], n_deals),
                          "Follow-ups": rng.choice([None, 0, 3, 40], n_deals)})
    n = 500
    days = rng.integers(-420, 20, n)
    acts = pd.DataFrame({
        "Date": [(s.as_of + dt.timedelta(days=int(d))).isoformat() for d in days],
        "Account ID": np.where(rng.random(n) < 0.3, rng.choice([*acc["Account ID"], "A404"], n), ""),
        "Account": np.where(rng.random(n) < 0.4, rng.choice([*acc["Account"], "Mystery"], n), ""),
        "Opportunity ID": np.where(rng.random(n) < 0.3, rng.choice([*deals["Opportunity ID"], "O404"], n), ""),
        "Opportunity": np.where(rng.random(n) < 0.2, rng.choice(deals["Opportunity"], n), ""),
        "Owner": rng.choice(["Ana", "ANA ", "Ben", ""], n),
        "Type": rng.choice(["Call", "Email", "Meeting", "Task", "", "Log a Call", "Event"], n),
        "Duration": np.where(rng.random(n) < 0.3, rng.choice(["5", "1:00:00", "12:30", "1h 15m"], n), ""),
    })
    out_acc, out_pipe, result = crm.prepare(acc, deals, acts, s)
    hours, last, follow, unmatched, week = ref_logged(_records(acc), _records(deals), _records(acts), s)
    assert out_acc["Logged Hours"].tolist() == pytest.approx(hours)
    assert [crm_date(v) for v in out_pipe["Last Contact"]] == last
    assert [None if v is None or v != v else int(v) for v in out_pipe["Follow-ups"]] == [
        None if f is None or f != f else int(f) for f in follow]
    assert result.activities.unmatched == unmatched
    assert sum(result.logged_this_week) == pytest.approx(sum(week.values()))


def test_unmatched_sheet_writes_every_value_as_data(tmp_path):
    import openpyxl

    from rotxl.excel.unmatched import write_unmatched_sheet

    df = pd.DataFrame({"Date": [pd.Timestamp("2026-03-01"), "2026-03-02"], "Account": ["=HYPERLINK(\"x\")", "Nowhere"],
                       "Duration": [np.nan, 5.0], "Subject": ["@SUM(A1)", None]})
    wb = openpyxl.Workbook()
    write_unmatched_sheet(wb, df)
    wb.save(tmp_path / "u.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "u.xlsx")["Unmatched Activities"]
    assert [c.value for c in ws[3]] == ["Date", "Account", "Duration", "Subject"]
    assert ws["A4"].value == dt.datetime(2026, 3, 1) and ws["A4"].number_format == "yyyy-mm-dd"
    assert ws["B4"].value == "=HYPERLINK(\"x\")" and ws["B4"].data_type == "s"
    assert ws["D4"].data_type == "s" and ws["C4"].value is None and ws["C5"].value == 5
    assert ws["A1"].value.startswith("2 activities")


# ---------------------------------------------------------------- the command line, end to end


def _write_exports(tmp_path):
    """Small exports as CSV files: accounts with no Revenue column, deals, activities in seconds."""
    acc = _accounts()
    deals = _deals()
    acts = _activities().rename(columns={"Date": "Activity Date", "Owner": "Assigned To", "Type": "Activity Type",
                                         "Duration": "Duration (minutes)", "Duration (seconds)": "Call Duration"})
    paths = {}
    for name, df in (("accounts", acc), ("deals", deals), ("activities", acts)):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return paths, acc, deals, _activities()


def test_classify_takes_revenue_from_won_deals_and_hours_from_activities(tmp_path):
    from click.testing import CliRunner

    from rotxl.cli import main

    paths, acc, deals, acts = _write_exports(tmp_path)
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["classify", str(paths["accounts"]), "--pipeline", str(paths["deals"]), "--activities",
                                  str(paths["activities"]), "--as-of", AS_OF.isoformat(), "-o", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out, dtype={"Account ID": str})
    s = Settings(as_of=AS_OF)
    assert got["Revenue"].tolist() == pytest.approx(ref_revenue(_records(acc), _records(deals), AS_OF, 12))
    hours = ref_logged(_records(acc), _records(deals), _records(acts), s)[0]
    assert got["Logged Hours"].tolist() == pytest.approx(hours)
    assert "Won deals closed after 2025-03-31 and on or before 2026-03-31" in r.output
    assert "twin co" in r.output and "2 match no account and no opportunity" in r.output
    assert "Read 13 activities from activities.csv" in r.output

    # Shorter windows through the options; the accounts alone cannot say what they paid.
    r = CliRunner().invoke(main, ["classify", str(paths["accounts"]), "--pipeline", str(paths["deals"]), "--revenue-months",
                                  "1", "--as-of", AS_OF.isoformat(), "-o", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out)
    assert got["Revenue"].tolist() == pytest.approx(ref_revenue(_records(acc), _records(deals), AS_OF, 1))
    r = CliRunner().invoke(main, ["classify", str(paths["accounts"]), "-o", str(out)])
    assert r.exit_code == 2 and "Revenue" in r.output
    r = CliRunner().invoke(main, ["classify", str(paths["accounts"]), "--pipeline", str(paths["deals"]), "--minutes", "1,2"])
    assert r.exit_code == 2 and "--minutes" in r.output


def test_score_takes_last_contact_and_follow_ups_from_activities(tmp_path):
    from click.testing import CliRunner

    from rotxl.cli import main

    paths, acc, deals, acts = _write_exports(tmp_path)
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["score", str(paths["deals"]), "--activities", str(paths["activities"]),
                                  "--as-of", AS_OF.isoformat(), "-o", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out, keep_default_na=False)
    _, last, follow, _, _ = ref_logged(_records(acc), _records(deals), _records(acts), Settings(as_of=AS_OF))
    assert [crm_date(v) for v in got["Last Contact"]] == last
    assert float(got.loc[7, "Follow-ups"]) == 2 and float(got.loc[10, "Follow-ups"]) == 5  # not more than the export: kept


def test_workbook_with_activities_fills_logged_hours(tmp_path):
    import openpyxl
    from click.testing import CliRunner

    from rotxl.cli import main

    paths, acc, deals, acts = _write_exports(tmp_path)
    out = tmp_path / "book.xlsx"
    r = CliRunner().invoke(main, ["workbook", "--accounts", str(paths["accounts"]), "--pipeline", str(paths["deals"]),
                                  "--activities", str(paths["activities"]), "--as-of", AS_OF.isoformat(), "-o", str(out)])
    assert r.exit_code == 0, r.output
    ws = openpyxl.load_workbook(out)["Accounts"]
    header = [c.value for c in ws[1]]
    rows = {r[header.index("Account ID")]: r for r in ws.iter_rows(min_row=2, values_only=True) if r[0] is not None}
    hours = ref_logged(_records(acc), _records(deals), _records(acts), Settings(as_of=AS_OF))[0]
    revenue = ref_revenue(_records(acc), _records(deals), AS_OF, 12)
    for i, account_id in enumerate(acc["Account ID"]):
        assert rows[account_id][header.index("Logged Hours")] == pytest.approx(hours[i])
        assert rows[account_id][header.index("Revenue")] == pytest.approx(revenue[i])


def test_demo_builds_from_raw_crm_reports_and_activities_give_segments(tmp_path):
    """The demo's exports are as a CRM writes them (no Revenue, no hours, report footer, "$"
    amounts); its first build, with no hours typed, segments every account that has activities."""
    import csv

    from click.testing import CliRunner

    from rotxl.cli import main
    from spreadsheet import recalculate, sheet

    out = tmp_path / "demo"
    r = CliRunner().invoke(main, ["demo", "--out", str(out), "--jobs", "2"])
    assert r.exit_code == 0, r.output
    exports = {p.stem: list(csv.reader(p.open(encoding="utf-8-sig"))) for p in (out / "exports").glob("*.csv")}
    assert set(exports) == {"accounts", "opportunities", "activities"}
    acc_rows = exports["accounts"]
    assert acc_rows[0][:3] == ["Account ID", "Account Name", "Account Owner"] and "Annual Revenue" in acc_rows[0]
    assert not {"Revenue", "Hours"} & set(acc_rows[0])
    data = [row for row in acc_rows[1:] if len(row) > 1]
    assert all(len(row[0]) == 18 for row in data)
    assert [row for row in acc_rows if len(row) == 1][0] == [f"Grand Totals ({len(data)} records)"]
    assert ["Confidential Information - Do Not Distribute"] in acc_rows
    opp = exports["opportunities"]
    stage, amount = opp[0].index("Stage"), opp[0].index("Amount")
    stages = [row[stage] for row in opp[1:] if len(row) > 1]
    assert stages.count("Closed Won") >= 20 and stages.count("Closed Lost") >= 20
    assert all(row[amount].startswith("$") or row[amount] == "TBD" for row in opp[1:] if len(row) > 1)
    acts = exports["activities"]
    assert {"Subject", "Task Subtype", "Date", "Assigned", "Account ID", "Opportunity ID", "Duration (minutes)"} <= set(acts[0])
    assert "Unmatched" not in r.output or "match no account" in r.output

    [done] = recalculate([out / "Ana Souza.xlsx"], tmp_path / "recalc")
    accounts = sheet(done, "Accounts")
    active = accounts[pd.to_numeric(accounts["Logged Hours"], errors="coerce") > 0]
    assert len(active) >= 20
    clean = active[active["Issues"].fillna("") == ""]
    assert len(clean) >= len(active) - 2
    assert clean["Segment"].isin(["A", "B", "C", "D", "E", "P"]).all(), clean[["Account", "Segment"]].head()


# ---------------------------------------------------------------- Import export of an activity export (xlwings remote Book)


def test_import_export_recognises_an_activity_export(tmp_path):
    """Pasted on the Import sheet, an activity export fills Logged Hours and the open deals' contacts."""
    import copy

    from test_macros import ACC, PIPE, book_of, column, message, payload, written

    from rotxl.excel import macros
    from rotxl.excel.workbook import build_workbook, save_workbook
    from spreadsheet import recalculate

    acc = _accounts().assign(Revenue=[100.0, 200, 300, 400, 500, 600])
    deals = _deals().drop(columns=["Account ID"]).assign(Amount=lambda d: d["Amount"].astype(float))
    wb = build_workbook(acc, deals, Settings(as_of=AS_OF))
    save_workbook(wb, tmp_path / "book.xlsx")
    [done] = recalculate([tmp_path / "book.xlsx"], tmp_path / "recalc")
    p = payload(wb, done)
    acts = _activities().rename(columns={"Date": "Activity Date", "Owner": "Assigned", "Type": "Task Subtype",
                                         "Duration (seconds)": "Call Duration"})
    rows = [list(acts.columns)] + [["" if v is None else v for v in r] for r in acts.astype(object).itertuples(index=False)]
    p["sheets"].append({**copy.deepcopy(p["sheets"][0]), "name": "Import", "values": rows})
    book = book_of(p)
    macros.import_export(book)

    want_acc, want_pipe, _ = crm.prepare(acc, deals, _activities(), Settings(as_of=AS_OF))
    headers = p["sheets"][ACC]["values"][0]
    added = [a["args"] for a in book.json()["actions"] if a["func"] == "addTableColumn" and a["sheet_position"] == ACC]
    if "Logged Hours" in headers:  # the workbook's own column
        assert not added
        j = headers.index("Logged Hours")
    else:  # an older workbook: the column is added before the derived ones
        assert added and added[0][2] == "Logged Hours"
        j = added[0][1]
    cells = written(book, ACC)
    assert column(cells, j, range(1, 7)) == pytest.approx(want_acc["Logged Hours"].tolist())
    pipe_headers = p["sheets"][PIPE]["values"][0]
    cells = written(book, PIPE)
    got = column(cells, pipe_headers.index("Last Contact"), range(1, len(deals) + 1))
    ids = [r[pipe_headers.index("Opportunity ID")] for r in p["sheets"][PIPE]["values"][1:len(deals) + 1]]
    contact = dict(zip(ids, got))  # by deal: the sheet lists open deals first (§5)
    assert contact["O8"] == "2026-03-29" and contact["O11"] == "2026-03-25"
    assert [contact[o] for o in ids if o not in ("O8", "O11")] == [""] * 9  # closed deals are not touched
    text, mode = message(book)
    assert mode == "info" and text.startswith('Imported 13 activities from the "Import" sheet: Logged Hours of 6 accounts')
    assert "2 match no account and no opportunity" in text and "2 dated after AsOf" in text


def test_salesforce_15_character_ids_match_their_18_character_form():
    acc = pd.DataFrame({"Account ID": ["0015g00000AbCdEAAZ", "0015g00000AbCdeAAB"], "Account": ["X", "Y"], "Revenue": 1.0})
    deals = pd.DataFrame({"Opportunity ID": ["0065g00000XyZaBAAV"], "Account ID": ["0015g00000AbCdE"], "Status": ["Won"],
                          "Amount": [10], "Close Date": ["2026-01-01"]})
    out, _ = crm.revenue_from_won_deals(acc.drop(columns="Revenue"), deals, AS_OF, 12)
    assert out["Revenue"].tolist() == [10.0, 0.0]  # case-sensitive: AbCdE is not AbCde
    acts = pd.DataFrame({"Date": ["2026-03-01"], "Opportunity ID": ["0065g00000XyZaB"], "Type": ["Meeting"]})
    out, _, result = crm.prepare(acc, deals, acts, Settings(as_of=AS_OF))
    assert out["Logged Hours"].tolist() == [1.0, 0.0] and result.activities.unmatched == 0


def test_sample_reports_give_revenue_learning_rows_and_logged_hours():
    """The sample team's raw reports, with only the header matching and "$" reading io does, give
    customers and prospects, 20+ Won and 20+ Lost deals to learn from, and hours for the accounts
    that have activities."""
    from rotxl.data.sample import SAMPLE_AS_OF, crm_exports

    e = crm_exports(n_accounts=120, n_deals=400, seed=5)
    acc = e["accounts"].rename(columns={"Account Name": "Account", "Account Owner": "Owner", "Annual Revenue": "Company Revenue"})
    assert acc["Account ID"].str.len().eq(18).all() and acc["Account ID"].is_unique
    deals = e["opportunities"].rename(columns={"Opportunity Name": "Opportunity", "Account Name": "Account"})
    assert deals["Amount"].str.match(r"^\$\d{1,3}(,\d{3})*\.\d\d$").sum() == len(deals) - 1  # and one "TBD"
    deals["Amount"] = deals["Amount"].str.replace(r"[$,]", "", regex=True)
    deals["Status"] = deals["Stage"].map({"Closed Won": "Won", "Closed Lost": "Lost"}).fillna("")
    close = pd.to_datetime(deals["Close Date"], format="%m/%d/%Y")
    recent = close > pd.Timestamp(crm.edate(SAMPLE_AS_OF, -24))
    assert (recent & (deals["Status"] == "Won")).sum() >= 20 and (recent & (deals["Status"] == "Lost")).sum() >= 20
    assert close.min() < pd.Timestamp(crm.edate(SAMPLE_AS_OF, -28))  # about 30 months of history
    acts = crm.match_activity_columns(e["activities"])
    assert set(acts["Type"]) == {"Call", "Email", "Meeting"}
    assert (acts["Duration"] != "").eq(acts["Type"] == "Meeting").all()  # meetings carry minutes, tasks none

    out, _, result = crm.prepare(acc, deals, acts, Settings(as_of=SAMPLE_AS_OF))
    assert (out["Revenue"] > 0).sum() >= 20 and (out["Revenue"] == 0).sum() >= 10
    days = pd.to_datetime(acts["Date"], format="%m/%d/%Y").dt.date
    in_period = acts[(days > crm.edate(SAMPLE_AS_OF, -12)) & (days <= SAMPLE_AS_OF)]
    direct = set(in_period["Account ID"]) & set(out["Account ID"])
    assert (out.set_index("Account ID").loc[sorted(direct), "Logged Hours"] > 0).all()
    assert 0 < result.activities.unmatched <= 10 and result.activities.after_as_of > 0
    assert result.activities.via_opportunity > 0 and result.activities.contacts_updated > 0
