"""`sellerbot admin handoffs | reply | close`: answering sellers as a person.

`handoffs` lists the conversations waiting for a person, longest wait first, with who the
seller is, the last turns and the desk's internal notes (`--all`: closed ones too, with how they
ended and the seller's rating); `reply ID TEXT` answers one (the seller gets it on their
channel); `close ID` returns the conversation to the bot, which tells the seller so.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import click

from bot.commands.shared import print_json, run_on_database, value_or_fail, with_settings
from bot.config import Settings
from handlers.handoff import close_as_agent, reply_as_agent
from services.accounts import get_account
from services.db import Database
from services.desk import DeskMessageView
from services.desk import notes as desk_notes
from services.handoff import HandoffView, held_deliveries, list_handoffs
from services.outbound import window_open

# How many of the latest turns the list shows per conversation.
CONTEXT_TURNS = 6


def _agent_name(name: str | None) -> str:
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "agent"


def _describe(
    view: HandoffView, account: str | None, notes: list[DeskMessageView], held: list[str], now: datetime
) -> str:
    if view.closed_at is None:
        waited = int((now - view.created_at).total_seconds() // 60)
        state = f"waiting {waited} min"
    else:
        ended = view.resolution.value.replace("_", " ") if view.resolution else "closed"
        state = f"{ended}, rated {view.rating}/5" if view.rating else ended
    lines = [
        f"handoff {view.id} [{view.status.value}] — {view.channel} user {view.user_id}"
        f" ({view.language}), {state}, reason: {view.reason}",
        f"  account: {account or 'not linked'}",
    ]
    if view.agent:
        lines.append(f"  agent: {view.agent}")
    for turn in view.last_turns:
        who = "seller" if turn.direction == "in" else (turn.author or "bot")
        text = " ".join(turn.text.split())
        lines.append(f"  {turn.at:%H:%M} {who}: {text[:200]}{'…' if len(text) > 200 else ''}")
    for note in notes:
        lines.append(f"  note by {note.author}: {' '.join((note.text or '').split())}")
    for text in held:
        lines.append(
            f"  waiting for the seller's next message (the channel's reply window closed): {text[:200]}"
        )
    return "\n".join(lines)


@click.command("handoffs")
@with_settings
@click.option("--all", "include_closed", is_flag=True, help="Include closed handoffs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def handoffs(settings: Settings, include_closed: bool, as_json: bool) -> None:
    """List conversations waiting for a person, with their context."""

    async def work(db: Database) -> list[tuple[HandoffView, str | None, list[DeskMessageView], list[str]]]:
        async with db.sessions() as session:
            views = await list_handoffs(session, include_closed=include_closed, turns=CONTEXT_TURNS)
            rows = []
            for view in views:
                account = None
                if view.account_id is not None:
                    found = await get_account(session, account_id=view.account_id, policy=settings.policy)
                    account = f"{found.email} — {found.company}" if found else None
                notes = await desk_notes(session, handoff_id=view.id)
                held = await held_deliveries(session, conversation_id=view.conversation_id)
                rows.append((view, account, notes, held))
            return rows

    rows = run_on_database(settings, work, needs_existing=False)
    if as_json:
        print_json(
            [
                {
                    **view.as_json(),
                    "account": account,
                    "notes": [{"author": n.author, "text": n.text} for n in notes],
                    "held": held,
                }
                for view, account, notes, held in rows
            ]
        )
        return
    if not rows:
        click.echo("no conversations are waiting for a person")
        return
    now = datetime.now(UTC)
    click.echo("\n\n".join(_describe(view, account, notes, held, now) for view, account, notes, held in rows))


@click.command("reply")
@with_settings
@click.argument("handoff_id", type=int)
@click.argument("text")
@click.option("--agent", default=None, help="Your name as the agent (default: your login name).")
def reply(settings: Settings, handoff_id: int, text: str, agent: str | None) -> None:
    """Answer a handed-off conversation as a person."""

    async def work(db: Database) -> tuple[HandoffView, bool]:
        result = await reply_as_agent(
            sessions=db.sessions, handoff_id=handoff_id, text=text, agent=_agent_name(agent)
        )
        view = value_or_fail(result, settings.policy)
        return view, await reply_window_closed(db, settings, view)

    view, waits = run_on_database(settings, work)
    click.echo(f"sent to {view.channel} user {view.user_id} (handoff {view.id})")
    if waits:
        click.echo(
            "the seller's QQ accepts answers only for a while after their last message, and that time is "
            "over: this answer goes to them with their next message"
        )


async def reply_window_closed(db: Database, settings: Settings, view: HandoffView) -> bool:
    """Whether the seller's channel will hold an answer until they write again (the official QQ
    API answers a seller only within a while of their last message)."""
    if view.channel != "qq" or settings.qq.protocol != "official":
        return False
    from bot.qq.events import Target
    from bot.qq.official.transport import window_rule

    target = Target.of_conversation(view.chat_id, view.thread_id, view.user_id)
    return not await window_open(
        db.sessions,
        channel="qq",
        chat_key=target.chat_key,
        user_id=target.user,
        rule=window_rule(settings.qq, target.kind),
    )


@click.command("close")
@with_settings
@click.argument("handoff_id", type=int)
@click.option("--agent", default=None, help="Your name as the agent (default: your login name).")
def close(settings: Settings, handoff_id: int, agent: str | None) -> None:
    """Return a handed-off conversation to the bot (the seller is told)."""

    async def work(db: Database) -> HandoffView:
        result = await close_as_agent(sessions=db.sessions, handoff_id=handoff_id, agent=_agent_name(agent))
        return value_or_fail(result, settings.policy)

    view = run_on_database(settings, work)
    click.echo(f"handoff {view.id} closed; the conversation is back with the bot")
