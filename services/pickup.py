"""Shipping: door pickup in the pickup cities, SF Express freight collect elsewhere.

A city is recognised in Chinese or English (services/cities.py). In a `pickup_cities` city the
seller books a pickup with an address, a contact phone (a mainland mobile or landline number),
a parcel count (1–`pickup_max_parcels`) and a date from today up to `pickup_horizon_days`
ahead, "today" being the date in China (UTC+8, no daylight saving). Anywhere else the
refusal PICKUP_CITY carries the SF Express freight-collect instructions and the warehouse
address from the policy, which is the answer the seller needs.

The rules, with their tests: docs/domain.md#pickup_city, docs/domain.md#pickup_details_invalid.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.actions import Outcome, run_action
from services.cities import canonical_city
from services.db import Sessions
from services.models import Account, AccountState, PickupBooking, PickupStatus, utcnow
from services.policy import Policy
from services.results import Done, Refused, Rule, Violation, refuse

CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")
CARRIER = "SF Express"
CARRIER_ZH = "顺丰"
ADDRESS_MIN, ADDRESS_MAX = 5, 300

# After the country prefix is removed: mobile 1[3-9] + 9 digits; landline 0 + area code (2 digits
# for 010 and 02x, else 3) + a 7- or 8-digit number.
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0(?:10|2\d)\d{8}|0[3-9]\d{2}\d{7,8}")


def normalize_phone(text: str) -> str | None:
    """A mainland-China phone number as digits ("13812345678", "075512345678"), or None if the
    text is not one. Accepts +86 / 0086 prefixes, spaces, hyphens, dots and parentheses, and
    full-width digits."""
    raw = unicodedata.normalize("NFKC", text).strip()
    if not re.fullmatch(r"\+?[\d\s\-().]+", raw):
        return None
    digits = re.sub(r"\D", "", raw)
    international = raw.startswith("+") or digits.startswith("0086")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and (raw.startswith("+") or len(digits) > 11):
        digits = digits[2:]
    elif raw.startswith("+"):
        return None  # another country's code
    if international and not digits.startswith("1"):
        digits = "0" + digits.removeprefix("0")  # "+86 755 …" drops the trunk 0
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    return None


def china_today(now: datetime) -> date:
    return now.astimezone(CHINA_TIME).date()


@dataclass(frozen=True)
class DoorPickup:
    """Free door pickup is available in this city."""

    city: str


@dataclass(frozen=True)
class SendBySFExpress:
    """No door pickup here: send the parcels by SF Express, freight collect (顺丰到付), free of
    charge, to the Joom Logistics warehouse."""

    city: str | None  # canonical name, or None when the city was not recognised
    carrier: str
    warehouse_address: str
    warehouse_address_zh: str


def _is_pickup_city(city: str | None, policy: Policy) -> bool:
    return city is not None and any(canonical_city(c) == city or c == city for c in policy.pickup_cities)


def shipping_option(city: str, *, policy: Policy) -> DoorPickup | SendBySFExpress:
    """What a seller in `city` does with their parcels (before asking for pickup details)."""
    canonical = canonical_city(city)
    if canonical is not None and _is_pickup_city(canonical, policy):
        return DoorPickup(city=canonical)
    return SendBySFExpress(
        city=canonical,
        carrier=CARRIER,
        warehouse_address=policy.warehouse_address,
        warehouse_address_zh=policy.warehouse_address_zh,
    )


def _city_violation(city: str, policy: Policy) -> Violation:
    option = shipping_option(city, policy=policy)
    assert isinstance(option, SendBySFExpress)
    return Violation(
        Rule.PICKUP_CITY,
        {
            "city": option.city or unicodedata.normalize("NFKC", city).strip(),
            "recognised": option.city is not None,
            "pickup_cities": list(policy.pickup_cities),
            "carrier": CARRIER,
            "carrier_zh": CARRIER_ZH,
            "warehouse_address": policy.warehouse_address,
            "warehouse_address_zh": policy.warehouse_address_zh,
        },
    )


def _field_problem(field: str, value: Any, *, policy: Policy, now: datetime) -> str | None:
    """What is wrong with one pickup detail ("length", "format", "range", "past", …), or None."""
    if field == "address":
        cleaned = " ".join(unicodedata.normalize("NFKC", value).split())
        if not ADDRESS_MIN <= len(cleaned) <= ADDRESS_MAX:
            return "length"
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in cleaned):
            return "characters"
        return None
    if field == "phone":
        return None if normalize_phone(value) is not None else "format"
    if field == "parcels":
        return None if 1 <= value <= policy.pickup_max_parcels else "range"
    if field == "date":
        today = china_today(now)
        if value < today:
            return "past"
        if value > today + timedelta(days=policy.pickup_horizon_days):
            return "too_far"
        return None
    raise ValueError(f"unknown pickup detail {field!r}")


def _details_violation(problems: dict[str, str], *, policy: Policy, now: datetime) -> Violation:
    today = china_today(now)
    return Violation(
        Rule.PICKUP_DETAILS_INVALID,
        {
            "problems": problems,
            "address_min": ADDRESS_MIN,
            "address_max": ADDRESS_MAX,
            "max_parcels": policy.pickup_max_parcels,
            "earliest": today.isoformat(),
            "latest": (today + timedelta(days=policy.pickup_horizon_days)).isoformat(),
        },
    )


def pickup_field_violation(field: str, value: Any, *, policy: Policy, now: datetime) -> Violation | None:
    """PICKUP_DETAILS_INVALID for one detail ("address", "phone", "parcels" or "date"), checked
    by the same rule as the booking, so a conversation can check each answer as it is given."""
    problem = _field_problem(field, value, policy=policy, now=now)
    return None if problem is None else _details_violation({field: problem}, policy=policy, now=now)


def pickup_detail_violations(
    *, address: str, phone: str, parcels: int, pickup_date: date, policy: Policy, now: datetime
) -> list[Violation]:
    """PICKUP_DETAILS_INVALID naming every bad field ("address", "phone", "parcels", "date")."""
    values = {"address": address, "phone": phone, "parcels": parcels, "date": pickup_date}
    problems = {
        field: problem
        for field, value in values.items()
        if (problem := _field_problem(field, value, policy=policy, now=now)) is not None
    }
    return [_details_violation(problems, policy=policy, now=now)] if problems else []


@dataclass(frozen=True)
class PickupBookingView:
    id: int
    account_id: int
    city: str
    address: str
    phone: str
    parcels: int
    pickup_date: date
    status: PickupStatus


def _view(booking: PickupBooking) -> PickupBookingView:
    return PickupBookingView(
        id=booking.id,
        account_id=booking.account_id,
        city=booking.city,
        address=booking.address,
        phone=booking.phone,
        parcels=booking.parcels,
        pickup_date=booking.pickup_date,
        status=booking.status,
    )


async def book_pickup(
    *,
    sessions: Sessions,
    policy: Policy,
    account_id: int,
    city: str,
    address: str,
    phone: str,
    parcels: int,
    pickup_date: date,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[PickupBookingView] | Refused:
    """Book a door pickup. Refusals: ACCOUNT_NOT_FOUND, ACCOUNT_NOT_ACTIVE, PICKUP_CITY (alone:
    outside the pickup cities the details do not matter, and it carries the SF Express
    instructions), PICKUP_DETAILS_INVALID (every bad field)."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[PickupBookingView]:
        account = await session.get(Account, account_id)
        if account is None:
            return Outcome(refuse(Violation(Rule.ACCOUNT_NOT_FOUND, {"account_id": account_id})))
        canonical = canonical_city(city)
        if not _is_pickup_city(canonical, policy):
            return Outcome(refuse(_city_violation(city, policy)), account_id=account.id)
        violations = []
        if account.state is not AccountState.ACTIVE:
            violations.append(Violation(Rule.ACCOUNT_NOT_ACTIVE, {"state": account.state.value}))
        violations += pickup_detail_violations(
            address=address, phone=phone, parcels=parcels, pickup_date=pickup_date, policy=policy, now=now
        )
        if violations:
            return Outcome(refuse(*violations), account_id=account.id)
        assert canonical is not None
        phone_digits = normalize_phone(phone)
        assert phone_digits is not None
        booking = PickupBooking(
            account_id=account.id,
            city=canonical,
            address=" ".join(unicodedata.normalize("NFKC", address).split()),
            phone=phone_digits,
            parcels=parcels,
            pickup_date=pickup_date,
            status=PickupStatus.BOOKED,
            booked_by=actor,
            created_at=now,
        )
        session.add(booking)
        await session.flush()
        return Outcome(Done(_view(booking)), account_id=account.id, result_id=booking.id)

    async def replay(session: AsyncSession, booking_id: int | None) -> PickupBookingView:
        booking = await session.get(PickupBooking, booking_id)
        assert booking is not None
        return _view(booking)

    return await run_action(
        sessions,
        action="book_pickup",
        actor=actor,
        params={
            "account_id": account_id,
            "city": city,
            "address": address,
            "phone": phone,
            "parcels": parcels,
            "pickup_date": pickup_date,
        },
        work=work,
        replay=replay,
        now=now,
        account_id=account_id,
        idempotency_key=idempotency_key,
    )
