"""`sellerbot report handoffs`: how many conversations went to a person and how they ended, the
time to the first agent reply (median and nearest-rank p90), and the ratings, overall and per
agent, in text and JSON."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from services.db import open_database
from services.handoff import agent_reply, close_handoff, rate_handoff, start_handoff
from services.models import Conversation
from services.reports import percentile

# Ten days ago: older than --days 1.
START = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)


def test_the_nearest_rank_percentile() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0
    assert percentile([10.0, 1.0, 3.0], 0.5) == 3.0


async def _handoffs(data_dir: Path) -> None:
    """Five handoffs: Anna first answers after 1, 2 and 10 minutes and is rated 5 and 4; Bo
    answers after 30 seconds and is rated 2; one seller leaves before anyone answers."""
    database = await open_database(f"sqlite+aiosqlite:///{data_dir / 'sellerbot.db'}")
    sessions = database.sessions
    plan = [("anna", 60, 5), ("anna", 120, 4), ("anna", 600, None), ("bo", 30, 2), (None, None, None)]
    try:
        for n, (agent, wait, stars) in enumerate(plan):
            at = START + timedelta(hours=n)
            async with sessions() as session, session.begin():
                row = Conversation(
                    channel="console", chat_id=f"s{n}", user_id=f"s{n}", language="zh", state={}
                )
                session.add(row)
                await session.flush()
                cid = row.id
            handoff = (
                await start_handoff(
                    sessions=sessions,
                    conversation_id=cid,
                    reason="requested",
                    language="zh",
                    actor="t",
                    now=at,
                )
            ).value
            if agent is not None:
                await agent_reply(
                    sessions=sessions,
                    handoff_id=handoff.id,
                    text="hi",
                    agent=agent,
                    now=at + timedelta(seconds=wait),
                )
            closed_by = f"agent:{agent}" if agent else f"console:s{n}"
            await close_handoff(
                sessions=sessions,
                handoff_id=handoff.id,
                closed_by=closed_by,
                seller_left=agent is None,
                now=at,
            )
            if stars is not None:
                await rate_handoff(sessions=sessions, handoff_id=handoff.id, conversation_id=cid, stars=stars)
    finally:
        await database.close()


def test_counts_times_to_first_reply_and_ratings_overall_and_per_agent(tmp_path: Path) -> None:
    asyncio.run(_handoffs(tmp_path))
    runner = CliRunner()
    result = runner.invoke(main, ["report", "handoffs", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        "handoffs: 5 (0 open) — resolved 4, unanswered 0, seller left 1",
        # waits 30 s, 1, 2 and 10 min: median 1 min 30 s, p90 (the 4th of 4) 10 min
        "time to first agent reply (4 answered): median 1 min 30 s, p90 10 min 0 s",
        "rating (3 rated): average 3.67 — 1★ 0 · 2★ 1 · 3★ 0 · 4★ 1 · 5★ 1",
    ]
    anna = lines.index("  anna")
    assert lines[anna + 1 : anna + 4] == [
        "    handoffs: 3 (0 open) — resolved 3, unanswered 0, seller left 0",
        "    time to first agent reply (3 answered): median 2 min 0 s, p90 10 min 0 s",
        "    rating (2 rated): average 4.50 — 1★ 0 · 2★ 0 · 3★ 0 · 4★ 1 · 5★ 1",
    ]
    assert lines.index("  bo") > anna  # the busiest agent first

    data = json.loads(
        runner.invoke(main, ["report", "handoffs", "--json", "--data-dir", str(tmp_path)]).output
    )
    assert data["overall"]["median_first_reply_seconds"] == 90.0
    assert data["overall"]["p90_first_reply_seconds"] == 600.0
    assert [(a["agent"], a["handoffs"], a["average_rating"]) for a in data["agents"]] == [
        ("anna", 3, 4.5),
        ("bo", 1, 2.0),
    ]
    # --days: only recent handoffs (these are older than a day)
    recent = runner.invoke(main, ["report", "handoffs", "--days", "1", "--data-dir", str(tmp_path)])
    assert recent.output.strip() == "no conversations were handed to a person in the last 1 days"
