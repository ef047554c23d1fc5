"""`sellerbot report …`: what the conversation log says, for the people who improve the bot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from bot.cli import Settings, with_settings
from bot.commands.admin import print_json, run
from faq.clusters import DEFAULT_THRESHOLD, QuestionGroup, group_similar
from services.db import Database
from services.reports import unanswered_questions


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

    groups = [g for g in run(settings, work, needs_existing=False) if g.count >= min_count]
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
