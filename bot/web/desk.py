"""The agents' desk in a browser: the queue (live), a conversation with its context, the reply
box with the suggested answer, notes, claiming and closing, the sellers' files, and the leads'
reports. Handlers only translate between HTTP and the services, which hold every rule."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.web_request import FileField

from bot.web.charts import bar_chart
from bot.web.context import AGENT, WebContext, context_of
from bot.web.pages import page, text
from bot.web.security import signed_in
from faq.clusters import group_similar
from faq.matcher import Decision
from handlers.handoff import close_as_agent
from services import desk as desk_service
from services.agents import AgentView, list_agents
from services.explain import explain
from services.handoff import (
    FileData,
    HandoffView,
    agent_reply,
    claim_handoff,
    get_handoff,
    list_handoffs,
    load_file,
)
from services.reports import handoff_report, unanswered_questions
from services.results import Refused

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

VIEWS = ("waiting", "mine", "all")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class QueueRow:
    handoff: HandoffView
    waiting_minutes: int
    last: str
    needs_answer: bool

    def as_json(self, lang: str) -> dict[str, object]:
        h = self.handoff
        return {
            "id": h.id,
            "seller": h.display_name or h.user_id,
            "channel": h.channel,
            "language": h.language,
            "reason": h.reason,
            "waiting": text("minutes", lang, n=self.waiting_minutes),
            "last": self.last,
            "agent": h.holder or "",
            "needs_answer": self.needs_answer,
        }


async def queue_rows(context: WebContext, agent: AgentView, view: str) -> list[QueueRow]:
    now = _now()
    async with context.sessions() as session:
        handoffs = await list_handoffs(session, turns=1)
    rows = []
    for h in handoffs:
        if view == "waiting" and h.holder is not None:
            continue
        if view == "mine" and h.holder != agent.label:
            continue
        last = h.last_turns[-1] if h.last_turns else None
        rows.append(
            QueueRow(
                handoff=h,
                waiting_minutes=max(0, int((now - h.created_at).total_seconds() // 60)),
                last=(last.text if last else "")[:140],
                needs_answer=last is not None and last.direction == "in",
            )
        )
    return rows


def _unread(rows: list[QueueRow], agent: AgentView) -> int:
    """Conversations waiting for this agent: nobody's yet, or theirs with the seller's word last."""
    return sum(
        1 for r in rows if r.handoff.holder is None or (r.handoff.holder == agent.label and r.needs_answer)
    )


@routes.get("/desk")
@signed_in
async def queue(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    view = request.query.get("view", "waiting")
    view = view if view in VIEWS else "waiting"
    context = context_of(request)
    rows = await queue_rows(context, agent, view)
    everything = rows if view == "all" else await queue_rows(context, agent, "all")
    return page(
        request, "queue.html.j2", lang=agent.language, view=view, rows=rows, unread=_unread(everything, agent)
    )


@routes.get("/desk/queue.json")
@signed_in
async def queue_json(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    view = request.query.get("view", "waiting")
    context = context_of(request)
    rows = await queue_rows(context, agent, view if view in VIEWS else "waiting")
    everything = await queue_rows(context, agent, "all")
    body = {"rows": [r.as_json(agent.language) for r in rows], "unread": _unread(everything, agent)}
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def _fingerprint(context: WebContext, conversation: int | None) -> str:
    """What the open pages show, in short: when it changes, they are told to refresh."""
    async with context.sessions() as session:
        handoffs = await list_handoffs(session, turns=1)
        parts = [
            (h.id, h.status.value, h.holder, h.last_turns[-1].at.isoformat() if h.last_turns else "")
            for h in handoffs
        ]
        if conversation is not None:
            turns = await desk_service.transcript(session, conversation_id=conversation, limit=1)
            current = await get_handoff(session, handoff_id=conversation, turns=0)
            parts.append(("c", turns[-1].id if turns else 0, current.status.value if current else ""))
    return json.dumps(parts, default=str)


@routes.get("/desk/events")
@signed_in
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `change` whenever the queue (or, with `handoff`, that conversation)
    changes. The page then fetches what it shows."""
    context = context_of(request)
    handoff_id = request.query.get("handoff", "")
    conversation = None
    if handoff_id.isdigit():
        async with context.sessions() as session:
            found = await get_handoff(session, handoff_id=int(handoff_id), turns=0)
        conversation = found.conversation_id if found else None
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    last = None
    try:
        while True:
            current = await _fingerprint(context, conversation)
            if current != last:
                await response.write(b"event: change\ndata: {}\n\n")
                last = current
            else:
                await response.write(b": keep-alive\n\n")
            await asyncio.sleep(context.settings.web.live_poll_seconds)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def _handoff_or_404(context: WebContext, handoff_id: int) -> HandoffView:
    async with context.sessions() as session:
        found = await get_handoff(session, handoff_id=handoff_id, turns=0)
    if found is None:
        raise web.HTTPNotFound(text="not found")
    return found


def _suggestion(context: WebContext, turns: list[desk_service.TranscriptTurn], lang: str) -> str | None:
    """The knowledge base's answer to the seller's last words, if it has a confident one."""
    last = next((t for t in reversed(turns) if t.direction.value == "in" and t.words), None)
    if last is None:
        return None
    match = context.app.matcher.match(last.words)
    if match.decision is not Decision.ANSWER or match.intent not in context.app.knowledge.intents:
        return None
    return context.app.knowledge.render(match.intent, lang, context.settings.policy)


async def _conversation_values(context: WebContext, handoff_id: int, agent: AgentView) -> dict[str, object]:
    async with context.sessions() as session:
        card = await desk_service.context(
            session, handoff_id=handoff_id, policy=context.settings.policy, turns=0, now=_now()
        )
        if card is None:
            raise web.HTTPNotFound(text="not found")
        turns = await desk_service.transcript(session, conversation_id=card.handoff.conversation_id)
        notes = await desk_service.notes(session, handoff_id=handoff_id)
        team = [a for a in await list_agents(session) if not a.disabled] if agent.is_lead else []
    return {
        "card": card,
        "handoff": card.handoff,
        "turns": turns,
        "notes": notes,
        "suggestion": _suggestion(context, turns, card.handoff.language) if card.handoff.is_open else None,
        "mine": card.handoff.holder == agent.label,
        "team": team,
    }


@routes.get("/desk/c/{handoff_id:\\d+}")
@signed_in
async def conversation(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    values = await _conversation_values(context_of(request), int(request.match_info["handoff_id"]), agent)
    return page(
        request,
        "conversation.html.j2",
        lang=agent.language,
        notice=request.query.get("notice", ""),
        refused=request.query.get("refused", "")[:500],
        **values,
    )


@routes.get("/desk/c/{handoff_id:\\d+}/transcript")
@signed_in
async def transcript_fragment(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    values = await _conversation_values(context_of(request), int(request.match_info["handoff_id"]), agent)
    return page(request, "transcript.html.j2", lang=agent.language, **values)


def _plain_lines(value: str) -> str:
    """A browser sends a text box's line breaks as CR LF: the seller's chat gets plain ones."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _back(handoff_id: int, notice: str = "") -> web.HTTPSeeOther:
    suffix = f"?notice={notice}" if notice else ""
    return web.HTTPSeeOther(f"/desk/c/{handoff_id}{suffix}")


def _refusal(request: web.Request, handoff_id: int, result: Refused) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    reason = " ".join(
        explain(v, agent.language, policy=context_of(request).settings.policy) for v in result.violations
    )
    raise web.HTTPSeeOther(f"/desk/c/{handoff_id}?" + urlencode({"refused": reason}))


@routes.post("/desk/c/{handoff_id:\\d+}/claim")
@signed_in
async def claim(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    handoff_id = int(request.match_info["handoff_id"])
    form = await request.post()
    to = str(form.get("to", ""))
    context = context_of(request)
    target, reassign = agent.label, False
    if to and agent.is_lead:
        async with context.sessions() as session:
            chosen = next((a for a in await list_agents(session) if a.email == to and not a.disabled), None)
        if chosen is None:
            raise web.HTTPBadRequest(text="no such agent")
        target, reassign = chosen.label, True
    result = await claim_handoff(
        sessions=context.sessions,
        handoff_id=handoff_id,
        agent=target,
        actor=f"agent:{agent.email}",
        reassign=reassign,
    )
    if isinstance(result, Refused):
        return _refusal(request, handoff_id, result)
    raise _back(handoff_id)


@routes.post("/desk/c/{handoff_id:\\d+}/reply")
@signed_in
async def reply(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    handoff_id = int(request.match_info["handoff_id"])
    context = context_of(request)
    limit = context.settings.web.max_upload_bytes
    form = await request.post()
    file = None
    upload = form.get("file")
    if isinstance(upload, FileField) and upload.filename:
        data = upload.file.read(limit + 1)
        if len(data) > limit:
            raise web.HTTPSeeOther(f"/desk/c/{handoff_id}?notice=file_too_large")
        if data:
            file = FileData(name=upload.filename[:200], data=data, mime_type=upload.content_type or "")
    # Claimed by whoever answers first, so that nobody else answers too.
    handoff = await _handoff_or_404(context, handoff_id)
    if handoff.is_open and handoff.holder is None:
        claimed = await claim_handoff(
            sessions=context.sessions, handoff_id=handoff_id, agent=agent.label, actor=f"agent:{agent.email}"
        )
        if isinstance(claimed, Refused):
            return _refusal(request, handoff_id, claimed)
    result = await agent_reply(
        sessions=context.sessions,
        handoff_id=handoff_id,
        text=_plain_lines(str(form.get("text", ""))),
        agent=agent.label,
        shown=None,
        file=file,
    )
    if isinstance(result, Refused):
        return _refusal(request, handoff_id, result)
    raise _back(handoff_id, "sent")


@routes.post("/desk/c/{handoff_id:\\d+}/note")
@signed_in
async def note(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    handoff_id = int(request.match_info["handoff_id"])
    form = await request.post()
    words = _plain_lines(str(form.get("text", ""))).strip()[:4000]
    context = context_of(request)
    await _handoff_or_404(context, handoff_id)
    if words:
        await desk_service.add_note(
            context.sessions, handoff_id=handoff_id, author=agent.label, text=words, now=_now()
        )
    raise _back(handoff_id)


@routes.post("/desk/c/{handoff_id:\\d+}/close")
@signed_in
async def close(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    handoff_id = int(request.match_info["handoff_id"])
    context = context_of(request)
    handoff = await _handoff_or_404(context, handoff_id)
    if handoff.holder is not None and handoff.holder != agent.label and not agent.is_lead:
        raise web.HTTPSeeOther(f"/desk/c/{handoff_id}?notice=taken")
    result = await close_as_agent(sessions=context.sessions, handoff_id=handoff_id, agent=agent.label)
    if isinstance(result, Refused):
        return _refusal(request, handoff_id, result)
    raise _back(handoff_id, "closed")


@routes.get("/desk/files/{upload_id:\\d+}")
@signed_in
async def download(request: web.Request) -> web.StreamResponse:
    """A file of a conversation (images are shown inline by the page; others download)."""
    async with context_of(request).sessions() as session:
        stored = await load_file(session, int(request.match_info["upload_id"]))
    if stored is None:
        raise web.HTTPNotFound(text="not found")
    inline = stored.mime_type in ("image/jpeg", "image/png", "image/gif", "image/webp")
    disposition = "inline" if inline and not request.query.get("download") else "attachment"
    safe_name = "".join(c if c.isalnum() or c in "._- " else "_" for c in stored.name)[:100] or "file"
    return web.Response(
        body=stored.data,
        content_type=stored.mime_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f'{disposition}; filename="{safe_name}"',
            "Cache-Control": "private, no-store",
        },
    )


@routes.get("/desk/reports")
@signed_in
async def reports(request: web.Request) -> web.StreamResponse:
    agent: AgentView = request[AGENT]
    if not agent.is_lead:
        return page(request, "message.html.j2", lang=agent.language, status=403, key="leads_only")
    since = _now() - timedelta(days=30)
    async with context_of(request).sessions() as session:
        report = await handoff_report(session, since=since)
        questions = await unanswered_questions(session, since=since)
        per_day = await desk_service.handoffs_per_day(session, since=since)
    groups = group_similar(questions)[:20]
    chart = bar_chart(
        [(day.strftime("%m-%d"), count) for day, count in per_day], title=text("per_day", agent.language)
    )
    return page(request, "reports.html.j2", lang=agent.language, report=report, groups=groups, chart=chart)
