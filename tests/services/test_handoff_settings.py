"""Support hours ([handoff]): whether agents are at the desk now, and when they are next, in the
support team's time zone; windows that cross midnight; around the clock; bad settings refused."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.handoff_settings import HandoffSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Beijing time in the week of Monday 2026-11-23 (day 0 = Monday)."""
    return datetime(2026, 11, 23 + day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "back"),
    [
        (local(0, 10), None),  # Monday morning: on duty
        (local(0, 9, 0), None),  # the window opens at 09:00 sharp
        (local(0, 18, 0), local(1, 9)),  # and closes at 18:00
        (local(1, 7), local(1, 9)),  # early Tuesday: back today
        (local(4, 20), local(7, 9)),  # Friday night: back on Monday
        (local(5, 12), local(7, 9)),  # Saturday
    ],
)
def test_office_hours_on_weekdays(now: datetime, back: datetime | None) -> None:
    hours = HandoffSettings().hours  # 09:00-18:00, Monday to Friday, Asia/Shanghai
    assert hours.is_open(now.astimezone(UTC)) is (back is None)
    assert hours.next_opening(now.astimezone(UTC)) == back


def test_a_night_shift_belongs_to_the_day_it_starts() -> None:
    hours = HandoffSettings(support_hours="22:00-06:00").hours
    assert hours.is_open(local(1, 2))  # Tuesday 02:00: Monday's shift
    assert hours.is_open(local(5, 2))  # Saturday 02:00: Friday's shift
    assert not hours.is_open(local(6, 2))  # Sunday 02:00: Saturday has no shift
    assert hours.next_opening(local(6, 2)) == local(7, 22)


def test_all_day_and_around_the_clock() -> None:
    whole_days = HandoffSettings(support_hours="00:00-24:00", support_days=list(("mon", "sat"))).hours
    assert whole_days.is_open(local(5, 23, 59)) and not whole_days.is_open(local(6, 0, 1))
    always = HandoffSettings(support_hours="").hours
    assert (
        always.around_the_clock and always.is_open(local(6, 3)) and always.next_opening(local(6, 3)) is None
    )


@pytest.mark.parametrize(
    "values",
    [
        {"support_hours": "9-18"},
        {"support_hours": "18:00-18:00"},
        {"support_hours": "08:00-24:30"},
        {"support_days": ["monday", "funday"]},
        {"support_days": []},
        {"time_zone": "Mars/Olympus_Mons"},
        {"desk_language": "fr"},
        {"reminder_minutes": -1},
    ],
)
def test_bad_settings_are_refused(values: dict) -> None:
    with pytest.raises(ValidationError):
        HandoffSettings(**values)


def national_day(day: int, hour: int) -> datetime:
    """A moment in Beijing time in October 2026."""
    return datetime(2026, 10, day, hour, tzinfo=SHANGHAI)


def test_holidays_are_off_and_make_up_workdays_on() -> None:
    settings = HandoffSettings(
        holidays=[f"2026-10-0{d}" for d in range(1, 8)],  # National Day week, Thursday to Wednesday
        workdays=["2026-10-10"],  # a make-up working Saturday
    )
    hours = settings.hours
    assert not hours.is_open(national_day(2, 10))  # a Friday, but a holiday
    # the evening before the holidays: back after them, not on Thursday morning
    assert hours.next_opening(national_day(1, 8)) == national_day(8, 9)
    assert hours.next_opening(datetime(2026, 9, 30, 19, tzinfo=SHANGHAI)) == national_day(8, 9)
    assert hours.is_open(national_day(10, 10))  # Saturday, a workday
    assert not hours.is_open(national_day(11, 10))  # Sunday


def test_a_holiday_as_a_workday_too_is_refused() -> None:
    with pytest.raises(ValidationError, match="both a holiday and a workday"):
        HandoffSettings(holidays=["2026-10-01"], workdays=["2026-10-01"])
    with pytest.raises(ValidationError):
        HandoffSettings(holidays=["the first of October"])
