"""Shipping an order: door pickup in the pickup cities, SF Express freight collect elsewhere.

City first: outside the pickup cities the seller gets the SF Express instructions and the
warehouse address; in one, the flow collects address → phone → parcel count → date, shows a
summary where any answer can be changed, and books on confirm.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Flow, link_first
from handlers.helpers import explain_refusal
from handlers.parsing import parse_count, parse_date
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

FIELDS = ("address", "phone", "parcels", "date")


class PickupFlow(Flow):
    name = "pickup"
    button_steps = frozenset({"summary"})
    # The city comes first and needs no account: the SF Express instructions are for anyone.
    # Booking a door pickup does; the account is linked then, keeping the city.
    needs_account = False
    free_text_steps = frozenset({"address"})

    async def begin(self, ctx: TurnContext) -> None:
        self.enter(ctx, "city")
        await self.prompt(ctx)

    async def resume(self, ctx: TurnContext, data: dict[str, Any]) -> None:
        option = shipping_option(str(data.get("city", "")), policy=ctx.core.policy)
        if not isinstance(option, DoorPickup):  # the pickup cities changed meanwhile: ask again
            await self.begin(ctx)
            return
        self.enter(ctx, "address", city=option.city)
        await self.prompt(ctx)

    async def prompt(self, ctx: TurnContext) -> None:
        step, data = ctx.state.step, ctx.state.data
        policy = ctx.core.policy
        if step == "city":
            buttons = self.choices(ctx, *[(city_name(c, ctx.lang), c) for c in policy.pickup_cities])
            ctx.say("pickup.ask_city", buttons=buttons, cities=policy.pickup_cities)
        elif step == "address":
            ctx.say("pickup.ask_address", city=data["city"])
        elif step == "phone":
            ctx.say("pickup.ask_phone")
        elif step == "parcels":
            ctx.say("pickup.ask_parcels")
        elif step == "date":
            today = china_today(ctx.now)
            days = [today + timedelta(days=n) for n in (1, 2, 3)]
            buttons = self.choices(ctx, *[(d.isoformat(), d.isoformat()) for d in days])
            ctx.say("pickup.ask_date", buttons=buttons)
        elif step == "summary":
            buttons = self.choices(
                ctx,
                (ctx.text("actions.confirm"), "confirm"),
                *[(ctx.text(f"pickup.edit_{f}"), f"edit_{f}") for f in FIELDS],
                self.cancel_choice(ctx),
            )
            ctx.say("pickup.summary", buttons=buttons, **{k: data[k] for k in ("city", *FIELDS)})

    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        step = ctx.state.step
        if step == "city":
            return await self._take_city(ctx, text)
        if step in FIELDS:
            return await self._take_field(ctx, step, text)
        ctx.say("flows.use_buttons")
        return False

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        step = ctx.state.step
        if step == "city" and isinstance(value, str):
            await self._take_city(ctx, value)
        elif step == "date" and isinstance(value, str):
            await self._take_field(ctx, "date", value)
        elif step == "summary" and value == "confirm":
            await self._book(ctx)
        elif step == "summary" and isinstance(value, str) and value.removeprefix("edit_") in FIELDS:
            await self.edit(ctx, value.removeprefix("edit_"))
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
                await link_first(ctx, self.name, {"city": option.city})
                return True
            ctx.state.data["city"] = option.city
            self.goto(ctx, "address")
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

    async def _take_field(self, ctx: TurnContext, field: str, text: str) -> bool:
        value: Any
        if field == "address":
            value = " ".join(text.split())
        elif field == "phone":
            value = normalize_phone(text) or text.strip()
        elif field == "parcels":
            value = parse_count(text)
            if value is None:
                ctx.say("pickup.parcels_not_number")
                return False
        else:
            value = parse_date(text, today=china_today(ctx.now))
            if value is None:
                ctx.say("pickup.date_not_date")
                return False
        violation = pickup_field_violation(field, value, policy=ctx.core.policy, now=ctx.now)
        if violation is not None:
            explain_refusal(ctx, refuse(violation))
            return field == "address"  # a bad address is still an answer; other fields may be questions
        ctx.state.data[field] = value.isoformat() if isinstance(value, date) else value
        self.goto(ctx, self.next_step(ctx, _following(field)))
        await self.prompt(ctx)
        return True

    async def _book(self, ctx: TurnContext) -> None:
        data = ctx.state.data
        account_id = await ctx.account_id()
        if account_id is None:
            self.finish(ctx)
            ctx.say("errors.not_linked")
            return
        result = await book_pickup(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            account_id=account_id,
            city=data["city"],
            address=data["address"],
            phone=data["phone"],
            parcels=int(data["parcels"]),
            pickup_date=date.fromisoformat(data["date"]),
            actor=ctx.actor,
            idempotency_key=ctx.idempotency_key("book_pickup"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            data["editing"] = True
            self.goto(ctx, "summary")
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


def _following(field: str) -> str:
    """The step after `field` in a first run through the details."""
    following = FIELDS[FIELDS.index(field) + 1 :]
    return following[0] if following else "summary"
