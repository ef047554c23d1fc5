"""Handing the conversation to a person (the core part; an agents' desk builds on it).

`hand_off` opens a handoff; from then on the bot stays silent in this conversation and keeps
the transcript, until an agent closes it (`close_as_agent`) or the seller leaves the queue
with /cancel. Agents answer through `reply_as_agent`; their messages reach the seller through
the channel's delivery queue.
"""

from __future__ import annotations

from handlers import replies
from handlers.context import TurnContext
from services import handoff as handoff_service
from services.db import Sessions
from services.results import Done, Refused

LEAVE_WORDS = {"/cancel", "cancel", "取消", "/start"}


async def hand_off(ctx: TurnContext, *, reason: str) -> None:
    """Hand this conversation to a person. In a group, offer the private chat instead."""
    if ctx.inbound.is_group:
        ctx.say("group.private_only", buttons=[ctx.private_chat_button(ctx.text("actions.agent"), "agent")])
        return
    ctx.state.leave_flow()
    ctx.state.resume_flow = None
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
    ctx.say("handoff.started")


async def while_with_agent(ctx: TurnContext) -> None:
    """A message while a person has the conversation: kept in the transcript (by the core),
    not answered by the bot, except /cancel, which leaves the queue and returns to the bot."""
    text = ctx.inbound.text.strip().casefold()
    if text.split("@")[0] not in LEAVE_WORDS:
        return
    async with ctx.core.sessions() as session:
        handoff_id = await handoff_service.open_handoff_id(session, conversation_id=ctx.conversation_id)
    if handoff_id is not None:
        await handoff_service.close_handoff(
            sessions=ctx.core.sessions, handoff_id=handoff_id, closed_by=ctx.actor, now=ctx.now
        )
    ctx.say("handoff.left")


async def reply_as_agent(
    *, sessions: Sessions, handoff_id: int, text: str, agent: str
) -> Done[handoff_service.HandoffView] | Refused:
    return await handoff_service.agent_reply(sessions=sessions, handoff_id=handoff_id, text=text, agent=agent)


async def close_as_agent(
    *, sessions: Sessions, handoff_id: int, agent: str
) -> Done[handoff_service.HandoffView] | Refused:
    """Close a handoff and tell the seller, in their language, that the bot is back."""
    async with sessions() as session:
        view = await handoff_service.get_handoff(session, handoff_id=handoff_id, turns=0)
    notice = replies.say("handoff.closed", view.language) if view is not None else None
    return await handoff_service.close_handoff(
        sessions=sessions, handoff_id=handoff_id, closed_by=f"agent:{agent}", notice=notice
    )
