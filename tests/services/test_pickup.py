"""Shipping: door pickup in the pickup cities (Chinese or English names) with valid details;
elsewhere the SF Express freight-collect instructions and the warehouse address."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.db import Database
from services.models import AccountState, PickupStatus
from services.pickup import (
    DoorPickup,
    SendBySFExpress,
    book_pickup,
    china_today,
    normalize_phone,
    shipping_option,
)
from services.policy import Policy
from services.results import Rule
from tests.services.conftest import make_account

# 20:00 UTC on 1 May is already 2 May in China.
NOW = datetime(2025, 5, 1, 20, 0, tzinfo=UTC)
TODAY_CN = date(2025, 5, 2)
GOOD = {
    "city": "深圳",
    "address": "广东省深圳市南山区科技园南区 1 栋 101",
    "phone": "138 1234 5678",
    "parcels": 3,
    "pickup_date": TODAY_CN + timedelta(days=1),
}


async def book(db: Database, policy: Policy, account_id: int, **changes):
    return await book_pickup(
        sessions=db.sessions, policy=policy, account_id=account_id, actor="t", now=NOW, **{**GOOD, **changes}
    )


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("13812345678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("８６１３８１２３４５６７８", "13812345678"),
        ("0755-12345678", "075512345678"),
        ("(0755) 1234 5678", "075512345678"),
        ("010-1234-5678", "01012345678"),
        ("+86 755 1234 5678", "075512345678"),
        ("0571-8765432", "05718765432"),
    ],
)
def test_mainland_phone_numbers_are_accepted(text: str, digits: str) -> None:
    assert normalize_phone(text) == digits


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12345",
        "12812345678",
        "1381234567",
        "138123456789",
        "+1 415 555 2671",
        "12345678",
        "call me",
        "0755-123",
    ],
)
def test_other_phone_numbers_are_refused(text: str) -> None:
    assert normalize_phone(text) is None


def test_china_today_is_utc_plus_8() -> None:
    assert china_today(NOW) == TODAY_CN
    assert china_today(datetime(2025, 5, 1, 15, 59, tzinfo=UTC)) == date(2025, 5, 1)


@pytest.mark.parametrize("city", ["Shenzhen", "深圳", "深圳市", "shen zhen", "SHENZHEN CITY"])
def test_shenzhen_has_door_pickup_by_any_name(city: str) -> None:
    assert shipping_option(city, policy=Policy()) == DoorPickup(city="Shenzhen")


def test_other_cities_send_by_sf_express_to_the_warehouse() -> None:
    option = shipping_option("广州", policy=Policy())
    assert isinstance(option, SendBySFExpress)
    assert option.city == "Guangzhou" and option.carrier == "SF Express"
    assert option.warehouse_address == Policy().warehouse_address
    assert shipping_option("Guangzhou", policy=Policy(pickup_cities=["Shenzhen", "Guangzhou"])) == DoorPickup(
        "Guangzhou"
    )


async def test_a_pickup_in_shenzhen_is_booked(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    result = await book(db, policy, account.id)
    assert result.ok, result
    booking = result.value
    assert (booking.city, booking.phone, booking.parcels, booking.status) == (
        "Shenzhen",
        "13812345678",
        3,
        PickupStatus.BOOKED,
    )


@pytest.mark.parametrize("city", ["Guangzhou", "义乌", "Atlantis"])
async def test_elsewhere_the_refusal_carries_the_sf_express_instructions(
    db: Database, policy: Policy, city: str
) -> None:
    account = await make_account(db, policy)
    # the details do not matter outside the pickup cities: only the city rule is reported
    result = await book(db, policy, account.id, city=city, phone="bad")
    assert result.rules == {Rule.PICKUP_CITY}
    params = result.violation(Rule.PICKUP_CITY).params
    assert params["carrier"] == "SF Express"
    assert params["warehouse_address"] == policy.warehouse_address
    assert params["warehouse_address_zh"] == policy.warehouse_address_zh
    assert params["recognised"] is (city != "Atlantis")


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"address": "短"}, {"address": "length"}),
        ({"address": "x" * 301}, {"address": "length"}),
        ({"address": "Nanshan\x00District 1"}, {"address": "characters"}),
        ({"phone": "12345"}, {"phone": "format"}),
        ({"parcels": 0}, {"parcels": "range"}),
        ({"parcels": 501}, {"parcels": "range"}),
        ({"pickup_date": TODAY_CN - timedelta(days=1)}, {"date": "past"}),
        ({"pickup_date": TODAY_CN + timedelta(days=15)}, {"date": "too_far"}),
        (
            {"phone": "", "parcels": -1, "pickup_date": date(2020, 1, 1)},
            {"phone": "format", "parcels": "range", "date": "past"},
        ),
    ],
)
async def test_bad_details_are_all_named(db: Database, policy: Policy, changes: dict, problems: dict) -> None:
    account = await make_account(db, policy)
    result = await book(db, policy, account.id, **changes)
    assert result.rules == {Rule.PICKUP_DETAILS_INVALID}
    params = result.violation(Rule.PICKUP_DETAILS_INVALID).params
    assert params["problems"] == problems
    assert (params["earliest"], params["latest"]) == ("2025-05-02", "2025-05-16")


@pytest.mark.parametrize("days", [0, 14])
async def test_today_and_the_horizon_are_allowed(db: Database, policy: Policy, days: int) -> None:
    account = await make_account(db, policy)
    assert (await book(db, policy, account.id, pickup_date=TODAY_CN + timedelta(days=days))).ok


async def test_booking_needs_an_active_account(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, state=AccountState.SUSPENDED)
    assert (await book(db, policy, account.id)).rules == {Rule.ACCOUNT_NOT_ACTIVE}
    assert (await book(db, policy, 4242)).rules == {Rule.ACCOUNT_NOT_FOUND}


async def test_a_repeated_idempotency_key_books_once(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    first = await book(db, policy, account.id, idempotency_key="pickup-1")
    again = await book(db, policy, account.id, idempotency_key="pickup-1")
    assert first.value == again.value
    other = await book(db, policy, account.id, idempotency_key="pickup-2")
    assert other.value.id != first.value.id
