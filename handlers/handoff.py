"""Handing the conversation to a person (the core part; the agents' desk builds on it).

`hand_off` opens a handoff and tells the seller when a person will answer (the support hours);
from then on the bot stays silent in this conversation and keeps the transcript, with the
seller's files, until an agent closes it (`close_as_agent`) or the seller leaves the queue with
/cancel. Agents answer through `reply_as_agent`; their messages reach the seller through the
channel's delivery queue. An agent who answered and then closes asks the seller to rate the help
(1–5 buttons, whose meaning is kept in the conversation state like every button's); the press
is recorded on the handoff, once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from handlers import replies
from handlers.context import TurnContext
from handlers.parsing import is_cancel_word
from handlers.state import ButtonMeaning, ConversationState
from services import handoff as handoff_service
from services.db import Sessions, write_transaction
from services.handoff_settings import HandoffSettings
from services.models import Conversation, Handoff, utcnow
from services.results import Done, Refused

# Commands that leave the queue for a person (the words that do are the cancel words).
LEAVE_COMMANDS = {"/cancel", "/start"}
RATINGS = (1, 2, 3, 4, 5)
# The zone support hours are usually given in, named as sellers say it.
BEIJING = "Asia/Shanghai"
_CLOSE_ATTEMPTS = 3


def availability(settings: HandoffSettings, now: datetime, lang: str) -> str | None:
    """When a person will answer: the support hours, and whether agents are there now or when
    they are back. None when support runs around the clock."""
    hours = settings.hours
    if hours.around_the_clock:
        return None
    names = replies.say("units.weekdays", lang).split(", ")
    days = [names[i] for i in sorted(hours.days)]
    if len(days) == 7:
        day_text = replies.say("handoff.every_day", lang)
    elif len(days) >= 3 and sorted(hours.days) == list(range(min(hours.days), max(hours.days) + 1)):
        day_text = replies.say("handoff.days_range", lang, first=days[0], last=days[-1])
    else:
        day_text = replies.join_list(days, lang)
    zone = replies.say("handoff.beijing_time", lang) if settings.time_zone == BEIJING else settings.time_zone
    context: dict[str, Any] = {
        "days": day_text,
        "hours": settings.support_hours.replace("-", "–"),
        "zone": zone,
    }
    back = hours.next_opening(now)
    if back is None:
        return replies.say("handoff.hours_open", lang, **context)
    in_days = (back.date() - hours.local(now).date()).days
    return replies.say(
        "handoff.hours_closed",
        lang,
        in_days=in_days,
        weekday=names[back.weekday()],
        date=back.date().isoformat(),
        time=back.strftime("%H:%M"),
        **context,
    )


async def hand_off(ctx: TurnContext, *, reason: str) -> None:
    """Hand this conversation to a person. In a group, offer the private chat instead."""
    if ctx.inbound.is_group:
        ctx.say("group.private_only", buttons=[ctx.private_chat_button(ctx.text("actions.agent"), "agent")])
        return
    ctx.state.leave_flow()
    ctx.state.forget_resume()
    ctx.state.misses = 0
    await handoff_service.start_handoff(
        sessions=ctx.core.sessions,
        conversation_id=ctx.conversation_id,
        reason=reason,
        language=ctx.lang,
        actor=ctx.actor,
        now=ctx.now,
    )
    ctx.handed_off = True
    when = availability(ctx.core.options.handoff, ctx.now, ctx.lang)
    ctx.say_text("\n".join(part for part in (ctx.text("handoff.started"), when) if part))


async def while_with_agent(ctx: TurnContext) -> None:
    """A message while a person has the conversation: kept in the transcript (by the core, with
    its files, which the desk relays), not answered by the bot, except /cancel, which leaves the
    queue and returns to the bot."""
    text = ctx.inbound.text.strip().casefold()
    leaves = text.split("@")[0] in LEAVE_COMMANDS or is_cancel_word(text)
    if ctx.inbound.for_person_only or not leaves:
        ctx.keep_files = True
        return
    async with ctx.core.sessions() as session:
        handoff_id = await handoff_service.open_handoff_id(session, conversation_id=ctx.conversation_id)
    if handoff_id is not None:
        await handoff_service.close_handoff(
            sessions=ctx.core.sessions,
            handoff_id=handoff_id,
            closed_by=ctx.actor,
            now=ctx.now,
            seller_left=True,
        )
    ctx.say("handoff.left")


async def reply_as_agent(
    *,
    sessions: Sessions,
    handoff_id: int,
    text: str,
    agent: str,
    shown: str | None = None,
    file: handoff_service.FileData | None = None,
    reply_to_turn_id: int | None = None,
) -> Done[handoff_service.HandoffView] | Refused:
    return await handoff_service.agent_reply(
        sessions=sessions,
        handoff_id=handoff_id,
        text=text,
        agent=agent,
        shown=shown,
        file=file,
        reply_to_turn_id=reply_to_turn_id,
    )


def agent_says(text: str, *, name: str | None, lang: str) -> str:
    """An agent's message as the seller reads it: under the bot's name, or with the agent's."""
    if not name or not text.strip():
        return text
    return replies.say("handoff.agent_says", lang, name=name, text=text.strip())


async def _ask_rating(session: AsyncSession, handoff: Handoff, now: datetime) -> None:
    """Queue the rating question with 1–5 buttons; their meaning goes into the conversation state
    (the conversation's version changes, so a turn saved meanwhile starts over)."""
    row = await session.get(Conversation, handoff.conversation_id)
    assert row is not None
    state = ConversationState.from_row(
        lang=row.language or handoff.language, flow=row.flow, step=row.step, data=row.state
    )
    group = state.new_button_group()
    buttons = []
    for stars in RATINGS:
        label = replies.say("handoff.rate_label", handoff.language, stars=stars)
        meaning = ButtonMeaning(
            action="rate", value={"handoff": handoff.id, "stars": stars}, group=group, label=label
        )
        buttons.append((state.add_button(meaning), label))
    # On a channel that numbers choices, "5" now means five stars.
    state.show([bid for bid, _ in buttons])
    row.state = state.to_json()
    row.updated_at = now
    handoff_service.queue_delivery(
        session,
        conversation_id=handoff.conversation_id,
        text=replies.say("handoff.rate", handoff.language),
        buttons=buttons,
        now=now,
    )


async def close_as_agent(
    *, sessions: Sessions, handoff_id: int, agent: str, ask_rating: bool = True, now: datetime | None = None
) -> Done[handoff_service.HandoffView] | Refused:
    """Close a handoff and tell the seller, in their language, that the bot is back; if an agent
    answered, ask the seller to rate the help. Refusals: HANDOFF_NOT_FOUND, HANDOFF_CLOSED."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Done[handoff_service.HandoffView] | Refused:
        handoff = await session.get(Handoff, handoff_id)
        notice = replies.say("handoff.closed", handoff.language) if handoff is not None else None
        closed = await handoff_service.close_open_handoff(
            session, handoff_id=handoff_id, closed_by=f"agent:{agent}", now=now, notice=notice
        )
        if isinstance(closed, Refused):
            return closed
        if ask_rating and closed.first_reply_at is not None:
            await _ask_rating(session, closed, now)
        await session.flush()
        view = await handoff_service.get_handoff(session, handoff_id=handoff_id, turns=0)
        assert view is not None
        return Done(view)

    for attempt in range(_CLOSE_ATTEMPTS):
        try:
            return await write_transaction(sessions, work)
        except StaleDataError:
            # The seller's message was saved meanwhile (the conversation state changed): again.
            if attempt == _CLOSE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def rate(ctx: TurnContext, value: Any) -> None:
    """The seller pressed a rating button: recorded once on its handoff, then thanks."""
    try:
        handoff_id, stars = int(value["handoff"]), int(value["stars"])
    except (KeyError, TypeError, ValueError):
        ctx.refuse_button()
        return
    recorded = await handoff_service.rate_handoff(
        sessions=ctx.core.sessions,
        handoff_id=handoff_id,
        conversation_id=ctx.conversation_id,
        stars=stars,
        now=ctx.now,
    )
    if not recorded:
        ctx.refuse_button("buttons.already_pressed")
        return
    ctx.say("handoff.rated", stars=stars)
