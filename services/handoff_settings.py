"""The `[handoff]` section: when people are at the desk, how long a seller may wait before the desk
is reminded, and how agents' messages are shown to sellers.

Support hours are a daily window in the support team's time zone on given weekdays
(`support_hours = "09:00-18:00"`, `support_days = ["mon", …]`, `time_zone = "Asia/Shanghai"`). A
window may cross midnight ("22:00-06:00": it belongs to the day it starts); "00:00-24:00" is the
whole day; an empty `support_hours` means around the clock (no hours are announced).
`holidays` are dates without support although their weekday has it (国庆, 春节); `workdays` are
dates with support although their weekday has none (the make-up working days, 调休). A window
belongs to the date it starts on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class HandoffSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # "HH:MM-HH:MM" in `time_zone`; empty: around the clock.
    support_hours: str = "09:00-18:00"
    support_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    time_zone: str = "Asia/Shanghai"
    # Dates (in `time_zone`) off although a support day, and dates on although not one.
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()
    # A seller waiting this long for an agent's answer gets the desk a reminder (0: never).
    reminder_minutes: int = Field(15, ge=0, le=7 * 24 * 60)
    # Agents' messages go out under the bot's name; true prefixes the agent's name.
    show_agent_names: bool = False
    # The name a seller sees for an agent, by the agent's Telegram user id (else their first name).
    agent_names: dict[str, str] = Field(default_factory=dict)
    # The language of the desk's own texts (context cards, notices) until an agent sets /lang.
    desk_language: str = "zh"
    # Post the knowledge base's best answer to each seller message, with a button that sends it.
    assist: bool = True
    # Turns of the conversation the context card shows.
    context_turns: int = Field(10, ge=0, le=50)

    @field_validator("support_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        match = _HOURS_RE.match(value)
        if not match:
            raise ValueError('use "HH:MM-HH:MM" (for example "09:00-18:00"), or "" for around the clock')
        if match.group(3) == "24" and match.group(4) != "00":
            raise ValueError("the latest end is 24:00")
        if value[:5] == value[6:]:
            raise ValueError("the window is empty (start and end are the same)")
        return value

    @field_validator("support_days")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        days = tuple(str(d).strip().lower()[:3] for d in value)
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown day(s) {unknown}; use {', '.join(WEEKDAYS)}")
        if not days:
            raise ValueError("name at least one day")
        return tuple(sorted(set(days), key=WEEKDAYS.index))

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, value: tuple[date, ...], info: ValidationInfo) -> tuple[date, ...]:
        both = ", ".join(d.isoformat() for d in sorted(set(value) & set(info.data.get("holidays", ()))))
        if both:
            raise ValueError(f"{both} cannot be both a holiday and a workday")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("desk_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError('"zh" or "en"')
        return value

    @cached_property
    def hours(self) -> SupportHours:
        return SupportHours.from_settings(self)


@dataclass(frozen=True)
class SupportHours:
    start: time | None  # None: around the clock
    end_minutes: int  # minutes after the start day's midnight (may pass 24 h)
    days: frozenset[int]  # 0 = Monday
    zone: ZoneInfo
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, settings: HandoffSettings) -> SupportHours:
        zone = ZoneInfo(settings.time_zone)
        days = frozenset(WEEKDAYS.index(d) for d in settings.support_days)
        off, on = frozenset(settings.holidays), frozenset(settings.workdays)
        if not settings.support_hours:
            return cls(None, 0, days, zone, off, on)
        start_text, end_text = settings.support_hours.split("-")
        sh, sm = (int(x) for x in start_text.split(":"))
        eh, em = (int(x) for x in end_text.split(":"))
        start, end = sh * 60 + sm, eh * 60 + em
        if end <= start:
            end += 24 * 60  # crosses midnight
        return cls(time(sh, sm), end, days, zone, off, on)

    def has_support(self, day: date) -> bool:
        """Whether a window starts on `day` (a date in the support time zone)."""
        if day in self.holidays:
            return False
        return day in self.workdays or day.weekday() in self.days

    @property
    def around_the_clock(self) -> bool:
        return self.start is None

    def _windows(
        self, now: datetime, *, days_before: int, days_after: int
    ) -> list[tuple[datetime, datetime]]:
        assert self.start is not None
        local = now.astimezone(self.zone)
        found = []
        for offset in range(-days_before, days_after + 1):
            day = (local + timedelta(days=offset)).date()
            if not self.has_support(day):
                continue
            opens = datetime.combine(day, self.start, tzinfo=self.zone)
            start_minutes = self.start.hour * 60 + self.start.minute
            closes = opens + timedelta(minutes=self.end_minutes - start_minutes)
            found.append((opens, closes))
        return found

    def is_open(self, now: datetime) -> bool:
        if self.start is None:
            return True
        return any(opens <= now < closes for opens, closes in self._windows(now, days_before=1, days_after=0))

    def next_opening(self, now: datetime) -> datetime | None:
        """When agents are next at the desk (in the support time zone); None if they are now."""
        if self.is_open(now):
            return None
        # Far enough for the longest holidays (Spring Festival: about nine days off).
        later = [opens for opens, _ in self._windows(now, days_before=0, days_after=45) if opens > now]
        return min(later) if later else None

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)
