"""`sellerbot admin handoffs | reply | close`: answering sellers as a person.

`handoffs` lists the conversations waiting for a person, longest wait first, with who the
seller is and the last turns; `reply ID TEXT` answers one (the seller gets it on their
channel); `close ID` returns the conversation to the bot, which tells the seller so.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import click

from bot.cli import Settings, with_settings
from bot.commands.admin import print_json, run, value_or_fail
from handlers.handoff import close_as_agent, reply_as_agent
from services.accounts import get_account
from services.db import Database
from services.handoff import HandoffView, list_handoffs

# How many of the latest turns the list shows per conversation.
CONTEXT_TURNS = 6


def _agent_name(name: str | None) -> str:
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "agent"


def _describe(view: HandoffView, account: str | None, now: datetime) -> str:
    waited = int((now - view.created_at).total_seconds() // 60)
    lines = [
        f"handoff {view.id} [{view.status.value}] — {view.channel} user {view.user_id}"
        f" ({view.language}), waiting {waited} min, reason: {view.reason}",
        f"  account: {account or 'not linked'}",
    ]
    if view.agent:
        lines.append(f"  agent: {view.agent}")
    for turn in view.last_turns:
        who = "seller" if turn.direction == "in" else (turn.author or "bot")
        text = " ".join(turn.text.split())
        lines.append(f"  {turn.at:%H:%M} {who}: {text[:200]}{'…' if len(text) > 200 else ''}")
    return "\n".join(lines)


@click.command("handoffs")
@with_settings
@click.option("--all", "include_closed", is_flag=True, help="Include closed handoffs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def handoffs(settings: Settings, include_closed: bool, as_json: bool) -> None:
    """List conversations waiting for a person, with their context."""

    async def work(db: Database) -> list[tuple[HandoffView, str | None]]:
        async with db.sessions() as session:
            views = await list_handoffs(session, include_closed=include_closed, turns=CONTEXT_TURNS)
            rows = []
            for view in views:
                account = None
                if view.account_id is not None:
                    found = await get_account(session, account_id=view.account_id, policy=settings.policy)
                    account = f"{found.email} — {found.company}" if found else None
                rows.append((view, account))
            return rows

    rows = run(settings, work, needs_existing=False)
    if as_json:
        print_json([{**view.as_json(), "account": account} for view, account in rows])
        return
    if not rows:
        click.echo("no conversations are waiting for a person")
        return
    now = datetime.now(UTC)
    click.echo("\n\n".join(_describe(view, account, now) for view, account in rows))


@click.command("reply")
@with_settings
@click.argument("handoff_id", type=int)
@click.argument("text")
@click.option("--agent", default=None, help="Your name as the agent (default: your login name).")
def reply(settings: Settings, handoff_id: int, text: str, agent: str | None) -> None:
    """Answer a handed-off conversation as a person."""

    async def work(db: Database) -> HandoffView:
        result = await reply_as_agent(
            sessions=db.sessions, handoff_id=handoff_id, text=text, agent=_agent_name(agent)
        )
        return value_or_fail(result, settings.policy)

    view = run(settings, work)
    click.echo(f"sent to {view.channel} user {view.user_id} (handoff {view.id})")


@click.command("close")
@with_settings
@click.argument("handoff_id", type=int)
@click.option("--agent", default=None, help="Your name as the agent (default: your login name).")
def close(settings: Settings, handoff_id: int, agent: str | None) -> None:
    """Return a handed-off conversation to the bot (the seller is told)."""

    async def work(db: Database) -> HandoffView:
        result = await close_as_agent(sessions=db.sessions, handoff_id=handoff_id, agent=_agent_name(agent))
        return value_or_fail(result, settings.policy)

    view = run(settings, work)
    click.echo(f"handoff {view.id} closed; the conversation is back with the bot")
