"""Settings of SPEC §1 and §2: every default in one place.

A threshold left as ``None`` is computed from the data (PERCENTILE.INC over the valid rows),
exactly as the workbook's Settings sheet does with a live formula.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

FACTORS: tuple[str, ...] = (
    "Decision-maker access",
    "Compelling event",
    "Budget",
    "ICP fit",
    "Relationship",
)
DEFAULT_WEIGHTS: tuple[float, ...] = (3, 2, 2, 2, 1)

# Percentile levels of the computed thresholds (PERCENTILE.INC, inclusive).
REVENUE_HIGH_PCT = 0.70
REVENUE_FLOOR_PCT = 0.20
HOURS_HIGH_PCT = 0.50
AMOUNT_MIN_PCT = 0.25
BIG_DEAL_PCT = 0.90


class SettingsError(ValueError):
    """Settings that contradict each other (e.g. RevenueFloor above RevenueHigh)."""


@dataclass(frozen=True)
class Settings:
    """The named cells of the workbook's Settings sheet, with the spec's defaults."""

    aggravation_weight: float = 0.25
    revenue_high: float | None = None
    revenue_floor: float | None = None
    hours_high: float | None = None
    weights: tuple[float, ...] = field(default=DEFAULT_WEIGHTS)
    p_min: float = 0.20
    amount_min: float | None = None
    big_deal_amount: float | None = None
    default_deal_hours: float = 10
    cadence_days: int = 10
    as_of: dt.date | None = None
    # §8 the weekly plan (personal)
    weekly_hours: float = 20
    follow_up_minutes: float = 15
    # §7.2, §7.3 revenue from won deals and time from activities (team)
    revenue_months: int = 12
    hours_months: int = 12
    minutes_call: float = 15
    minutes_email: float = 5
    minutes_meeting: float = 60
    minutes_other: float = 15
    # §9 learned engagement
    learn_months: int = 24
    use_learned: bool = True
    # §10 cost of sales (team); None: not given
    hourly_cost: float | None = None

    def __post_init__(self) -> None:
        if len(self.weights) != len(FACTORS):
            raise SettingsError(f"weights needs {len(FACTORS)} numbers, got {len(self.weights)}")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise SettingsError("weights must be ≥ 0 and not all 0")
        if self.aggravation_weight < 0:
            raise SettingsError("AggravationWeight must be ≥ 0")
        if self.default_deal_hours < 0:
            raise SettingsError("DefaultDealHours must be ≥ 0")
        if self.cadence_days < 0:
            raise SettingsError("CadenceDays must be ≥ 0")
        if self.weekly_hours < 0:
            raise SettingsError("WeeklyHours must be ≥ 0")
        if self.follow_up_minutes <= 0:
            raise SettingsError("FollowUpMinutes must be > 0")
        check_floor_below_high(self.revenue_floor, self.revenue_high)

    def with_(self, **changes) -> "Settings":
        """A copy with some values changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_of_date(self) -> dt.date:
        return self.as_of or dt.date.today()


# SPEC §5: every setting's named cell on the Settings sheet, and whether a rebuild carries a
# salesperson's own value ("personal") or rewrites it ("team"). AsOf is the build's: a typed
# date is never carried.
NAMED_CELLS: dict[str, tuple[str, str]] = {
    "aggravation_weight": ("AggravationWeight", "personal"),
    "revenue_high": ("RevenueHigh", "team"),
    "revenue_floor": ("RevenueFloor", "team"),
    "hours_high": ("HoursHigh", "team"),
    "p_min": ("PMin", "team"),
    "amount_min": ("AmountMin", "team"),
    "big_deal_amount": ("BigDealAmount", "team"),
    "default_deal_hours": ("DefaultDealHours", "personal"),
    "cadence_days": ("CadenceDays", "personal"),
    "weekly_hours": ("WeeklyHours", "personal"),
    "follow_up_minutes": ("FollowUpMinutes", "personal"),
    "revenue_months": ("RevenueMonths", "team"),
    "hours_months": ("HoursMonths", "team"),
    "minutes_call": ("MinutesCall", "team"),
    "minutes_email": ("MinutesEmail", "team"),
    "minutes_meeting": ("MinutesMeeting", "team"),
    "minutes_other": ("MinutesOther", "team"),
    "learn_months": ("LearnMonths", "team"),
    "use_learned": ("UseLearned", "personal"),
    "hourly_cost": ("HourlyCost", "team"),
    "as_of": ("AsOf", "build"),
}
# The five factor weights are personal too: WeightAccess … WeightRelationship (rules.engine.WEIGHT_NAMES).


def check_floor_below_high(floor: float | None, high: float | None) -> None:
    """SPEC §1: RevenueFloor > RevenueHigh is a settings error, never silently reordered."""
    if floor is not None and high is not None and floor > high:
        raise SettingsError(
            f"RevenueFloor ({floor:,.2f}) is above RevenueHigh ({high:,.2f}): "
            "lower RevenueFloor or raise RevenueHigh"
        )
