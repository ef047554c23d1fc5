"""The desk over HTTP: sign-in, CSRF, sessions, claims, replies, the audit log, health, metrics."""

from __future__ import annotations

import asyncio

from handlers.types import Inbound
from services.audit import events
from services.handoff import list_handoffs, pending_deliveries
from tests.web.conftest import Site, hidden, sign_in


async def seller_hands_off(site: Site, user: str = "s1", text: str = "转人工") -> int:
    core = site.app.core
    await core.handle(Inbound(channel="console", chat_id=user, user_id=user, text=text))
    async with site.app.database.sessions() as session:
        handoffs = [h for h in await list_handoffs(session) if h.user_id == user]
    assert handoffs, "the seller's request did not reach the queue"
    return handoffs[0].id


async def test_sign_in_never_says_which_was_wrong_and_pages_carry_the_headers(site: Site) -> None:
    await site.agent("li@support.example", "Li Na")
    async with site.client() as client:
        wrong_password = await sign_in(client, "li@support.example", "not the password")
        wrong_address = await sign_in(client, "nobody@support.example")
        assert wrong_password.status == wrong_address.status == 401
        text_a, text_b = await wrong_password.text(), await wrong_address.text()
        assert "The e-mail address or the password is not right." in text_a and "is not right" in text_b
        headers = wrong_password.headers
        assert (
            "script-src 'self'" in headers["Content-Security-Policy"]
            and "unsafe-inline" not in headers["Content-Security-Policy"]
        )
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"
        ok = await sign_in(client, "li@support.example")
        assert ok.status == 200 and ok.url.path == "/desk"
        cookie = next(c for c in client.cookie_jar if c.key == "sellerbot_desk")
        assert cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_a_form_without_its_csrf_token_changes_nothing(site: Site) -> None:
    await site.agent("li@support.example", "Li Na")
    handoff_id = await seller_hands_off(site)
    async with site.client() as client:
        await sign_in(client, "li@support.example")
        forged = await client.post(f"/desk/c/{handoff_id}/reply", data={"text": "hello", "csrf": "forged"})
        assert forged.status == 403
        missing = await client.post(f"/desk/c/{handoff_id}/claim", data={})
        assert missing.status == 403
        # A sign-in form posted from elsewhere (no form cookie) is refused too
    async with site.client() as other:
        refused = await other.post(
            "/desk/sign-in?lang=en", data={"form": "x" * 43, "email": "li@support.example"}
        )
        assert refused.status == 403 and "This form has expired" in await refused.text()
    async with site.app.database.sessions() as session:
        assert await pending_deliveries(session, channel="console") == []
        handoff = (await list_handoffs(session))[0]
    assert handoff.claimed_by is None


async def test_two_agents_claim_at_once_one_owns_it_the_other_is_told(site: Site) -> None:
    li = await site.agent("li@support.example", "Li Na")
    wang = await site.agent("wang@support.example", "Wang Wei")
    handoff_id = await seller_hands_off(site)
    async with site.client() as a, site.client() as b:
        for client, email in ((a, "li@support.example"), (b, "wang@support.example")):
            await sign_in(client, email)

        async def claim(client):
            async with client.get(f"/desk/c/{handoff_id}") as page:
                csrf = hidden(await page.text(), "csrf")
            return await client.post(f"/desk/c/{handoff_id}/claim", data={"csrf": csrf})

        first, second = await asyncio.gather(claim(a), claim(b))
        pages = [await first.text(), await second.text()]
    owner_page = [p for p in pages if "You have this conversation." in p]
    other_page = [p for p in pages if "has taken this conversation" in p]
    assert len(owner_page) == 1 and len(other_page) == 1
    async with site.app.database.sessions() as session:
        handoff = (await list_handoffs(session))[0]
        claims = [e for e in await events(session) if e.action == "handoff_claim"]
    assert handoff.claimed_by in (li, wang) and len(claims) == 1
    assert (handoff.claimed_by == li) == ("Wang Wei" in other_page[0] or "Li Na (web" in other_page[0])


async def test_an_agent_answers_closes_and_every_action_is_audited(site: Site) -> None:
    await site.agent("li@support.example", "Li Na")
    handoff_id = await seller_hands_off(site, text="转人工")
    async with site.client() as client:
        await sign_in(client, "li@support.example")
        async with client.get(f"/desk/c/{handoff_id}") as page:
            html = await page.text()
        csrf = hidden(html, "csrf")
        assert "转人工" in html  # the transcript, the seller's words
        sent = await client.post(
            f"/desk/c/{handoff_id}/reply", data={"csrf": csrf, "text": "<b>hello</b> {{ 7*7 }}"}
        )
        html = await sent.text()
        assert "Sent." in html and "&lt;b&gt;hello&lt;/b&gt; {{ 7*7 }}" in html  # shown as text
        await client.post(f"/desk/c/{handoff_id}/note", data={"csrf": csrf, "text": "called them"})
        closed = await client.post(f"/desk/c/{handoff_id}/close", data={"csrf": csrf})
        assert "Closed. The seller was asked for a rating." in await closed.text()
        signed_out = await client.post("/desk/sign-out", data={"csrf": csrf})
        assert "You are signed out." in await signed_out.text()
        after = await client.get("/desk", allow_redirects=False)
        assert after.status == 303
    async with site.app.database.sessions() as session:
        texts = [d.text for d in await pending_deliveries(session, channel="console")]
        actions = {e.action for e in await events(session)}
    assert texts[0] == "<b>hello</b> {{ 7*7 }}" and len(texts) == 3  # the answer, the close, the rating
    assert {"agent_sign_in", "handoff_claim", "handoff_reply", "handoff_note", "handoff_close"} <= actions
    assert "agent_sign_out" in actions


async def test_health_and_metrics(site: Site) -> None:
    await seller_hands_off(site)
    async with site.client() as client:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["migrations"] == "current"
        metrics = await (await client.get("/metrics")).text()
    assert 'sellerbot_handoffs_waiting{channel="console"} 1' in metrics
    assert 'sellerbot_turns_total{channel="console"}' in metrics
    assert "# TYPE sellerbot_outbox_backlog gauge" in metrics
