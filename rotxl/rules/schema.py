"""The columns of SPEC §1 and §2, and how export headers are matched to them.

Headers match case-, space- and punctuation-insensitively, so ``account id``, ``Account_ID``
and ``ACCOUNT ID`` are all the spec's ``Account ID``; the aliases cover Salesforce and
HubSpot exports as they come out of the CRM.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .settings import FACTORS


@dataclass(frozen=True)
class Column:
    header: str
    kind: str  # id, text, number, fraction, whole, date, status
    required: bool = False
    aliases: tuple[str, ...] = ()
    crm_owned: bool = False  # refreshed from the export on a rebuild (SPEC §6)


ACCOUNT_COLUMNS: tuple[Column, ...] = (
    Column("Account ID", "id", True, ("Record ID", "Company ID", "Account Number"), True),
    Column("Account", "text", True, ("Account Name", "Company name", "Company"), True),
    Column("Owner", "text", False, ("Account Owner", "Company owner", "Owner Name", "Sales Rep"), True),
    # Never "Annual Revenue": that is the customer's own size (COMPANY_REVENUE, §7.2).
    Column("Revenue", "number", True, ("Revenue (TTM)", "Trailing Revenue", "Bookings", "Billings"), True),
    Column("Margin", "fraction", False, ("Gross Margin",)),
    Column("Hours", "number", False, ("Hours Spent", "Time Spent", "Maintenance Hours")),
    # §7.3: filled by every build from the activity log; Hours, when typed, wins over it.
    Column("Logged Hours", "number", False, ("Hours Logged",), True),
    Column("Aggravation", "whole", False, ("Aggravation Factor",)),
)

PIPELINE_COLUMNS: tuple[Column, ...] = (
    Column("Opportunity ID", "id", True, ("Record ID", "Deal ID", "Opportunity Number"), True),
    Column("Opportunity", "text", False, ("Opportunity Name", "Deal Name"), True),
    Column("Account", "text", False, ("Account Name", "Company name", "Associated Company", "Company"), True),
    Column("Owner", "text", False, ("Opportunity Owner", "Deal owner", "Owner Name", "Sales Rep"), True),
    Column("Stage", "text", False, ("Deal Stage", "Sales Stage"), True),
    Column("Amount", "number", True, ("Deal Amount", "Opportunity Amount"), True),
    Column("Probability", "fraction", False, ("Deal probability", "Win Probability"), True),
    *(Column(name, "whole") for name in FACTORS),
    Column("Est. Hours", "number", False, ("Estimated Hours", "Hours Needed")),
    Column("Close Date", "date", False, ("Expected Close Date", "Closing Date"), True),
    Column("Last Contact", "date", False, ("Last Activity", "Last Activity Date", "Last Contacted")),
    Column("Follow-ups", "whole", False, ("Follow ups", "Number of Follow-ups")),
    Column("Status", "status", False, ()),
    Column("Lost Reason", "text", False, ("Loss Reason", "Closed Lost Reason", "Reason Lost")),
)

# §7.2: the customer's own size, a firmographic (§10), kept under this name and never Revenue.
COMPANY_REVENUE = Column("Company Revenue", "number", False, ("Annual Revenue", "Annual Revenue (USD)"), True)

# Headers of the workbook tables beyond their input columns (§5): derived, layout and helper
# columns. An export column of one of these names (a CRM's own "Segment") is not that column: it
# is kept as "<name> (CRM)".
TABLE_HEADERS: dict[str, tuple[str, ...]] = {
    "Accounts": ("Segment", "Action", "ROT", "Plan Hours", "Logged Hours", "Effective Hours", "ICP Fit", "Issues",
                 "CRM Sync", "Company Revenue", "Planned Return"),
    "Pipeline": ("Priority", "Next Follow-up", "Overdue", "Expected Value", "Plan Hours", "Engagement",
                 "Learned Probability", "Why", "Opportunity ROT", "Issues", "CRM Sync", "Planned Return"),
}
# §10: firmographic columns ICP Fit compares, when present (numbers in quintile bands).
FIRMOGRAPHICS: tuple[str, ...] = ("Industry", "Company Revenue", "Employees", "Country", "State")

# §7.3: one row per logged activity.
ACTIVITY_COLUMNS: tuple[Column, ...] = (
    Column("Date", "date", True, ("Activity Date", "Due Date", "Start", "Start Date Time", "Call Date",
                                  "Meeting Start Time", "Create Date")),
    Column("Account ID", "id", False, ()),
    Column("Account", "text", False, ("Account Name", "Company", "Company name", "Associated Company", "Related To")),
    Column("Opportunity ID", "id", False, ()),
    Column("Opportunity", "text", False, ("Opportunity Name", "Associated Deal", "Deal Name")),
    Column("Owner", "text", False, ("Assigned", "Assigned To", "Activity Assigned To", "Activity owner", "Call owner")),
    Column("Type", "text", False, ("Activity Type", "Task Subtype", "Event Subtype", "Call/Email/Meeting")),
    Column("Duration", "duration", False, ("Duration (minutes)", "Duration (min)", "Meeting Duration")),
)
# Duration headers that hold seconds, not minutes (§7.3).
DURATION_SECONDS: tuple[str, ...] = ("Call Duration", "Call Duration (seconds)", "Duration (seconds)")

ACCOUNT_DERIVED: tuple[str, ...] = ("Effective Hours", "ROT", "Segment", "Action", "Issues")
PIPELINE_DERIVED: tuple[str, ...] = (
    "Engagement", "Expected Value", "Opportunity ROT", "Priority", "Next Follow-up", "Overdue", "Issues",
)

STATUSES: tuple[str, ...] = ("Open", "Won", "Lost")

# §6.1: the column a rebuild writes beside every row, and its value on rows that left the export.
# Such rows keep their derived values but are left out of thresholds and figures.
SYNC_COLUMN = "CRM Sync"
NOT_IN_EXPORT = "Not in latest export"
# §9: the learned model's output column; Engagement uses it when Settings.use_learned.
LEARNED_PROBABILITY = "Learned Probability"


class MissingColumnsError(ValueError):
    """A file lacks required columns; the message names what is missing and what was found."""

    def __init__(self, missing: list[str], found: list[str], source: str = "the data"):
        self.missing, self.found, self.source = missing, found, source
        hints = []
        found_keys = {normalise(f) for f in found}
        for name in missing:
            if name.endswith(" ID"):
                # A report without its ID column (Salesforce reports leave it out unless added): a
                # name is not an ID, so no "did you mean Account Name" here.
                names = {name[:-3], f"{name[:-3]} Name", "Company name", "Deal Name", "Company"}
                if found_keys & {normalise(n) for n in names}:
                    hints.append(f'add the "{name}" column to the report in the CRM and export again '
                                 f"(in Salesforce: Customize, Columns, {name}); a name cannot stand in for an ID")
                    continue
            if name == "Revenue" and found_keys & {normalise(n) for n in (COMPANY_REVENUE.header, *COMPANY_REVENUE.aliases)}:
                hints.append("Annual Revenue is the customer's own size (kept as Company Revenue), not what they paid "
                             "you: add a Revenue column (e.g. the last 12 months' bookings), or give the opportunities "
                             "export so Revenue comes from Won deals")
                continue
            close = closest_header(name, found)
            if close:
                hints.append(f'did you mean "{close}" for "{name}"?')
        found_text = ", ".join(f'"{f}"' for f in found) if found else "no columns at all"
        message = (
            f"{source}: missing required column(s) {', '.join(repr(m) for m in missing)}; "
            f"found {found_text}"
        )
        if hints:
            message += "; " + "; ".join(hints)
        super().__init__(message)


def normalise(header: object) -> str:
    """The matching key of a header: letters and digits only, case-folded."""
    return re.sub(r"[\W_]+", "", str(header).casefold())


def is_percent_header(header: object) -> bool:
    """A column whose header carries "%" holds percentages (60 means 0.6)."""
    return "%" in str(header)


def closest_header(name: str, found: list[str]) -> str | None:
    keys = {normalise(f): f for f in found}
    match = difflib.get_close_matches(normalise(name), list(keys), n=1, cutoff=0.6)
    return keys[match[0]] if match else None


def match(headers: list[object], columns: tuple[Column, ...]) -> dict[str, object]:
    """Map each spec header to the matching header in ``headers`` (fields with no match left out).

    The spec's own header wins over an alias; among aliases, the first listed wins. A header is
    used for one field only, and the first of two equal headers is the one used.
    """
    by_key: dict[str, object] = {}
    for h in headers:
        if str(h).strip():
            by_key.setdefault(normalise(h), h)
    taken: set[str] = set()
    mapping: dict[str, object] = {}
    # Two passes so that an exact header ("Account") is never taken as another field's
    # alias before its own field gets to it.
    for exact in (True, False):
        for col in columns:
            if col.header in mapping:
                continue
            names = (col.header,) if exact else col.aliases
            for name in names:
                key = normalise(name)
                if key in by_key and key not in taken:
                    mapping[col.header] = by_key[key]
                    taken.add(key)
                    break
    return mapping


def resolve(headers: list[object], columns: tuple[Column, ...], source: str = "the data") -> dict[str, object]:
    """``match``, raising MissingColumnsError when a required field has no match."""
    mapping = match(headers, columns)
    missing = [c.header for c in columns if c.required and c.header not in mapping]
    if missing:
        raise MissingColumnsError(missing, [str(h) for h in headers], source)
    return mapping


def column(columns: tuple[Column, ...], header: str) -> Column:
    return next(c for c in columns if c.header == header)
