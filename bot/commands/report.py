"""`sellerbot report …`: what the conversation log says, for the people who improve the bot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from bot.commands.shared import print_json, run_on_database, with_settings
from bot.config import Settings
from faq.clusters import DEFAULT_THRESHOLD, QuestionGroup, group_similar
from services.db import Database
from services.reports import HandoffReport, HandoffStats, handoff_report, unanswered_questions


@click.group("report")
def report() -> None:
    """Reports from the conversation log."""


@report.command("unanswered")
@with_settings
@click.option("--days", type=click.IntRange(min=1), default=None, help="Only the last N days (default: all).")
@click.option(
    "--min-count", type=click.IntRange(min=1), default=1, help="Only groups asked at least N times."
)
@click.option(
    "--similarity",
    type=click.FloatRange(0, 100),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="How alike (0–100) two questions must be to share a group.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def unanswered(
    settings: Settings, days: int | None, min_count: int, similarity: float, as_json: bool
) -> None:
    """Questions the bot could not answer, grouped by similarity, most frequent first."""
    since = datetime.now(UTC) - timedelta(days=days) if days else None

    async def work(db: Database) -> list[QuestionGroup]:
        async with db.sessions() as session:
            questions = await unanswered_questions(session, since=since)
        return group_similar(questions, threshold=similarity)

    groups = [g for g in run_on_database(settings, work, needs_existing=False) if g.count >= min_count]
    if as_json:
        print_json([g.as_json() for g in groups])
        return
    if not groups:
        click.echo("no unanswered questions")
        return
    for group in groups:
        seen = f", last {group.last_seen:%Y-%m-%d %H:%M} UTC" if group.last_seen else ""
        click.echo(f"{group.count:>5} × {group.representative}  [{group.language}{seen}]")
        for example in group.examples:
            if example != group.representative:
                click.echo(f"        · {example}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _describe(stats: HandoffStats) -> list[str]:
    ended = ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in stats.resolutions.items())
    lines = [f"handoffs: {stats.handoffs} ({stats.open} open) — {ended}"]
    lines.append(
        f"time to first agent reply ({stats.answered} answered): median "
        f"{_duration(stats.median_first_reply_seconds)}, p90 {_duration(stats.p90_first_reply_seconds)}"
    )
    if stats.average_rating is None:
        lines.append("rating: none yet")
    else:
        spread = " · ".join(f"{stars}★ {count}" for stars, count in stats.ratings.items())
        lines.append(f"rating ({stats.rated} rated): average {stats.average_rating:.2f} — {spread}")
    return lines


@report.command("handoffs")
@with_settings
@click.option("--days", type=click.IntRange(min=1), default=None, help="Only the last N days (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def handoffs(settings: Settings, days: int | None, as_json: bool) -> None:
    """Conversations handed to a person: how many and how they ended, time to the first agent
    reply (median and p90), and the sellers' ratings, overall and per agent."""
    since = datetime.now(UTC) - timedelta(days=days) if days else None

    async def work(db: Database) -> HandoffReport:
        async with db.sessions() as session:
            return await handoff_report(session, since=since)

    found = run_on_database(settings, work, needs_existing=False)
    if as_json:
        print_json(found.as_json())
        return
    if not found.overall.handoffs:
        click.echo("no conversations were handed to a person" + (f" in the last {days} days" if days else ""))
        return
    click.echo("\n".join(_describe(found.overall)))
    if found.agents:
        click.echo("\nper agent:")
        for stats in found.agents:
            click.echo(f"  {stats.agent}")
            click.echo("\n".join(f"    {line}" for line in _describe(stats)))
