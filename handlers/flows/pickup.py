"""Shipping an order: door pickup in the pickup cities, SF Express freight collect elsewhere.

City first: outside the pickup cities the seller gets the SF Express instructions and the
warehouse address; in one, the flow collects address → phone → parcel count → date, shows a
summary where any answer can be changed, and books on confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Answer, Flow, On, link_first, step_table
from handlers.helpers import explain_refusal
from handlers.parsing import parse_count, parse_date
from handlers.state import FlowData
from services.cities import canonical_city, city_name
from services.pickup import (
    DoorPickup,
    book_pickup,
    china_today,
    normalize_phone,
    pickup_field_violation,
    shipping_option,
)
from services.results import Refused, refuse


class Step(StrEnum):
    CITY = "city"
    ADDRESS = "address"
    PHONE = "phone"
    PARCELS = "parcels"
    DATE = "date"
    SUMMARY = "summary"


# The details of a door pickup, asked in this order after the city; each is a step.
FIELDS = (Step.ADDRESS, Step.PHONE, Step.PARCELS, Step.DATE)


@dataclass
class PickupAnswers(FlowData):
    city: str | None = None
    address: str | None = None
    phone: str | None = None
    parcels: int | None = None
    date: str | None = None  # ISO date


class PickupFlow(Flow[PickupAnswers]):
    name = "pickup"
    kb_action = "book_pickup"
    payload = "pickup"
    # The city comes first and needs no account: the SF Express instructions are for anyone.
    # Booking a door pickup does; the account is linked then, keeping the city.
    needs_account = False
    answers_type = PickupAnswers

    async def begin(self, ctx: TurnContext) -> None:
        self.enter(ctx, Step.CITY)
        await self.prompt(ctx)

    async def resume(self, ctx: TurnContext, answers: PickupAnswers) -> None:
        option = shipping_option(answers.city or "", policy=ctx.core.policy)
        if not isinstance(option, DoorPickup):  # the pickup cities changed meanwhile: ask again
            await self.begin(ctx)
            return
        self.enter(ctx, Step.ADDRESS, PickupAnswers(city=option.city))
        await self.prompt(ctx)

    # -- the steps --------------------------------------------------------------------------
    async def _ask_city(self, ctx: TurnContext) -> None:
        cities = ctx.core.policy.pickup_cities
        buttons = self.choices(ctx, *[(city_name(c, ctx.lang), c) for c in cities])
        ctx.say("pickup.ask_city", buttons=buttons, cities=cities)

    async def _choose_city(self, ctx: TurnContext, value: Any) -> None:
        if isinstance(value, str):
            await self._take_city(ctx, value)
        else:
            await self.prompt(ctx)

    async def _ask_address(self, ctx: TurnContext) -> None:
        ctx.say("pickup.ask_address", city=self.answers(ctx).city)

    async def _take_address(self, ctx: TurnContext, text: str) -> bool:
        return await self._take_field(ctx, Step.ADDRESS, text)

    async def _ask_phone(self, ctx: TurnContext) -> None:
        ctx.say("pickup.ask_phone")

    async def _take_phone(self, ctx: TurnContext, text: str) -> bool:
        return await self._take_field(ctx, Step.PHONE, text)

    async def _ask_parcels(self, ctx: TurnContext) -> None:
        ctx.say("pickup.ask_parcels")

    async def _take_parcels(self, ctx: TurnContext, text: str) -> bool:
        return await self._take_field(ctx, Step.PARCELS, text)

    async def _ask_date(self, ctx: TurnContext) -> None:
        today = china_today(ctx.now)
        days = [today + timedelta(days=n) for n in (1, 2, 3)]
        buttons = self.choices(ctx, *[(d.isoformat(), d.isoformat()) for d in days])
        ctx.say("pickup.ask_date", buttons=buttons)

    async def _take_date(self, ctx: TurnContext, text: str) -> bool:
        return await self._take_field(ctx, Step.DATE, text)

    async def _choose_date(self, ctx: TurnContext, value: Any) -> None:
        if isinstance(value, str):
            await self._take_field(ctx, Step.DATE, value)
        else:
            await self.prompt(ctx)

    async def _ask_summary(self, ctx: TurnContext) -> None:
        answers = self.answers(ctx)
        buttons = self.choices(
            ctx,
            (ctx.text("actions.confirm"), "confirm"),
            *[(ctx.text(f"pickup.edit_{f}"), f"edit_{f}") for f in FIELDS],
            self.cancel_choice(ctx),
        )
        details = {f.value: getattr(answers, f.value) for f in FIELDS}
        ctx.say("pickup.summary", buttons=buttons, city=answers.city, **details)

    async def _confirm(self, ctx: TurnContext, value: Any) -> None:
        edited = value.removeprefix("edit_") if isinstance(value, str) else None
        if value == "confirm":
            await self._book(ctx)
        elif edited in FIELDS:
            await self.edit(ctx, Step(edited))
        else:
            await self.prompt(ctx)

    async def _take_city(self, ctx: TurnContext, text: str) -> bool:
        policy = ctx.core.policy
        if canonical_city(text) is None:
            # Not a city we know: say where pickup is and what to do elsewhere, stay at this step.
            ctx.say("pickup.city_unknown", cities=policy.pickup_cities)
            return False
        option = shipping_option(text, policy=policy)
        if isinstance(option, DoorPickup):
            if await ctx.account_id() is None:
                ctx.say("pickup.door_pickup", city=option.city)
                await link_first(ctx, self.name, PickupAnswers(city=option.city))
                return True
            self.answers(ctx).city = option.city
            self.goto(ctx, Step.ADDRESS)
            ctx.say("pickup.door_pickup", city=option.city)
            await self.prompt(ctx)
            return True
        self.finish(ctx)
        ctx.say(
            "pickup.send_by_sf",
            city=option.city,
            cities=policy.pickup_cities,
            warehouse=option.warehouse_address_zh if ctx.lang == "zh" else option.warehouse_address,
        )
        return True

    async def _take_field(self, ctx: TurnContext, field: Step, text: str) -> bool:
        value: Any
        if field is Step.ADDRESS:
            value = " ".join(text.split())
        elif field is Step.PHONE:
            value = normalize_phone(text) or text.strip()
        elif field is Step.PARCELS:
            value = parse_count(text)
            if value is None:
                ctx.say("pickup.parcels_not_number")
                return False
        else:
            value = parse_date(text, today=china_today(ctx.now))
            if value is None:
                ctx.say("pickup.date_not_date")
                return False
        violation = pickup_field_violation(field.value, value, policy=ctx.core.policy, now=ctx.now)
        if violation is not None:
            explain_refusal(ctx, refuse(violation))
            return field is Step.ADDRESS  # a bad address is still an answer; other fields may be questions
        setattr(self.answers(ctx), field.value, value.isoformat() if isinstance(value, date) else value)
        self.goto(ctx, self.next_step(ctx, _following(field), Step.SUMMARY))
        await self.prompt(ctx)
        return True

    async def _book(self, ctx: TurnContext) -> None:
        answers = self.answers(ctx)
        account_id = await ctx.account_id()
        if account_id is None:
            self.finish(ctx)
            ctx.say("errors.not_linked")
            return
        assert answers.city and answers.address and answers.phone and answers.parcels and answers.date
        result = await book_pickup(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            account_id=account_id,
            city=answers.city,
            address=answers.address,
            phone=answers.phone,
            parcels=int(answers.parcels),
            pickup_date=date.fromisoformat(answers.date),
            actor=ctx.actor,
            idempotency_key=ctx.idempotency_key("book_pickup"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            answers.editing = True
            self.goto(ctx, Step.SUMMARY)
            await self.prompt(ctx)
            return
        self.finish(ctx)
        booking = result.value
        ctx.say(
            "pickup.booked",
            booking_id=booking.id,
            city=booking.city,
            address=booking.address,
            phone=booking.phone,
            parcels=booking.parcels,
            date=booking.pickup_date.isoformat(),
        )

    steps = step_table(
        {
            Step.CITY: On(ask=_ask_city, text=_take_city, choice=_choose_city),
            Step.ADDRESS: On(ask=_ask_address, text=_take_address, answer=Answer.FREE_TEXT),
            Step.PHONE: On(ask=_ask_phone, text=_take_phone),
            Step.PARCELS: On(ask=_ask_parcels, text=_take_parcels),
            Step.DATE: On(ask=_ask_date, text=_take_date, choice=_choose_date),
            Step.SUMMARY: On(ask=_ask_summary, text=Flow.use_buttons, choice=_confirm, answer=Answer.BUTTONS),
        }
    )


def _following(field: Step) -> Step:
    """The step after `field` in a first run through the details."""
    following = FIELDS[FIELDS.index(field) + 1 :]
    return following[0] if following else Step.SUMMARY
