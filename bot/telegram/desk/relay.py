"""The desk relay: everything the desk says without being asked, from the state in the database.

Every `interval` seconds (or at once when woken) each process looks for conversations whose
handoffs the desk owes something — a new handoff, seller messages not yet in the topic, a close
or a rating not yet reported — and serves each under a lease of its own ("telegram-desk",
per conversation), the same claim the update processor uses for chats: so two processes never
serve one conversation at once, and never make two topics for it (the database would refuse the
second, and the extra topic is deleted). Each process serves several conversations side by side,
one conversation's messages in order.

For a handoff the desk: makes the conversation's topic (or reopens and renames the one it had),
posts the context card, then relays each new seller message (text, photos, files: their bytes
come from the database, so a console seller's file arrives too) and after it the knowledge base's
best answer with a button that sends it. A topic someone deleted is made again (with a fresh
card) when the next message has to go in; a topic a person closed is reopened when the seller
writes. Every `reminder_every` seconds, open handoffs whose seller has waited `reminder_minutes`
for an agent get a reminder (during support hours, once per wait). Once the handoff is closed the
remaining messages go in, then a closing notice, and the topic is closed and renamed; the
seller's rating follows when given.

Messages are relayed at least once: a crash between sending one and recording it sends it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.runtime.leases import Lease
from bot.runtime.trouble import Outage, backoff_delay
from bot.telegram.api import ApiCall, ApiError, BadRequest, api_error_text, message_id_of
from bot.telegram.desk import texts
from bot.telegram.desk.base import SUGGESTION_PREFIX, Desk, not_modified, topic_closed, topic_gone
from faq.matcher import Decision
from handlers import replies
from services import desk as desk_service
from services.db import is_unavailable
from services.desk import DeskHandoffView, SellerTurn, TopicExists, TopicView
from services.handoff import HELD, HandoffView, claim_failure_notice, turn_files, unnoticed_failures
from services.models import DeskMessageKind, HandoffResolution

log = logging.getLogger(__name__)

LEASE_CHANNEL = "telegram-desk"
# The seller's channel, as agents call it.
CHANNEL_NAMES = {"telegram": "Telegram", "qq": "QQ", "console": "sellerbot chat"}
BATCH = 100
SIDE_BY_SIDE = 8
REMINDER_EVERY_SECONDS = 30.0
# Suggested answers only for intents the bot would answer or offer; never "a person" itself.
_NO_SUGGESTION = {"human_agent"}


class Superseded(Exception):
    """Another process served this conversation meanwhile (its lease ran out under this one)."""


class DeskRelay:
    def __init__(
        self,
        desk: Desk,
        *,
        owner: str,
        interval: float,
        lease_seconds: float = 30.0,
        reminder_every: float = REMINDER_EVERY_SECONDS,
    ) -> None:
        self.desk = desk
        self.owner = owner
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.reminder_every = reminder_every
        self.passes = 0
        self.reminder_passes = 0  # passes that looked for sellers waiting too long
        self._passed = asyncio.Condition()
        self._serving: set[int] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._outage = Outage(log)
        self._slots = asyncio.Semaphore(SIDE_BY_SIDE)
        # conversations whose serving failed: not tried again before this (loop time), and how often
        self._backoff: dict[int, tuple[float, int]] = {}
        self._pass: asyncio.Task[Any] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last_reminders = -math.inf
        while not self._stopping:
            reminders = loop.time() - last_reminders >= self.reminder_every
            if reminders:
                last_reminders = loop.time()
            next_reminders = last_reminders + self.reminder_every
            self._wake.clear()
            self._pass = asyncio.create_task(self._guarded_pass(reminders))
            await asyncio.shield(self._pass)
            if self._stopping:
                break
            try:
                wait = min(self.interval, max(0.01, next_reminders - loop.time()))
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def stop(self, grace: float) -> None:
        """Finish the pass in hand (up to `grace` seconds), then stop."""
        self._stopping = True
        self._wake.set()
        if self._pass is not None and not self._pass.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._pass), timeout=grace)
            except TimeoutError:
                self._pass.cancel()
                await asyncio.gather(self._pass, return_exceptions=True)

    async def _guarded_pass(self, reminders: bool) -> None:
        try:
            await self.pass_once(reminders=reminders)
            self._outage.ok()
        except Exception as exc:
            self._outage.failed("serving the desk", exc)
        finally:
            async with self._passed:
                self._passed.notify_all()

    async def wait_passes(self, count: int, *, reminders: bool = False) -> None:
        """Return once the loop has made `count` more passes (that looked for reminders, if
        `reminders`): tests."""

        def made() -> int:
            return self.reminder_passes if reminders else self.passes

        target = made() + count
        async with self._passed:
            while made() < target and not self._stopping:
                self.wake()
                await self._passed.wait()

    async def pass_once(self, *, reminders: bool = False) -> int:
        """Serve every conversation the desk owes something; returns how many were looked at."""
        desk = self.desk
        async with desk.sessions() as session:
            found = await desk_service.conversations_with_work(session, chat_id=desk.key, limit=BATCH)
            waiting: list[int] = []
            if reminders and desk.settings.reminder_minutes:
                waiting = await desk_service.open_desk_conversations(session, chat_id=desk.key)
        work = {c: False for c in found} | {c: True for c in waiting}
        now = asyncio.get_running_loop().time()
        work = {c: r for c, r in work.items() if self._backoff.get(c, (0.0, 0))[0] <= now}
        await asyncio.gather(*(self._serve(c, reminders=r) for c, r in work.items()))
        self.passes += 1
        self.reminder_passes += reminders
        return len(work)

    async def _serve(self, conversation_id: int, *, reminders: bool) -> None:
        if conversation_id in self._serving:
            return  # this process serves it already (passes called side by side)
        self._serving.add(conversation_id)
        try:
            await self._serve_leased(conversation_id, reminders=reminders)
        finally:
            self._serving.discard(conversation_id)

    async def _serve_leased(self, conversation_id: int, *, reminders: bool) -> None:
        async with self._slots:
            if self._stopping:
                return
            desk = self.desk
            lease = Lease(
                desk.sessions,
                channel=LEASE_CHANNEL,
                key=f"{desk.key}:conversation:{conversation_id}",
                owner=self.owner,
                seconds=self.lease_seconds,
            )
            if not await lease.acquire():
                return  # another process serves it now
            try:
                await self._serve_conversation(conversation_id, reminders=reminders)
                self._backoff.pop(conversation_id, None)
            except Superseded:
                log.warning("desk: conversation %s was served by another process meanwhile", conversation_id)
            except Exception as exc:
                failures = self._backoff.get(conversation_id, (0.0, 0))[1] + 1
                delay = backoff_delay(failures) * 4
                self._backoff[conversation_id] = (asyncio.get_running_loop().time() + delay, failures)
                if isinstance(exc, ApiError):
                    log.error(
                        "desk: conversation %s: %s (again in %.0f s)",
                        conversation_id,
                        api_error_text(exc),
                        delay,
                    )
                elif is_unavailable(exc):
                    log.error("desk: conversation %s: database unavailable", conversation_id)
                else:
                    log.error("desk: conversation %s failed", conversation_id, exc_info=exc)
            finally:
                await lease.release()

    async def _serve_conversation(self, conversation_id: int, *, reminders: bool) -> None:
        desk = self.desk
        async with desk.sessions() as session:
            items = await desk_service.handoffs_to_serve(
                session, chat_id=desk.key, conversation_id=conversation_id, reminders=reminders
            )
            topic = await desk_service.get_topic(session, chat_id=desk.key, conversation_id=conversation_id)
        for handoff, state in items:
            serving = _Serving(desk, handoff, state, topic)
            await serving.run(reminders=reminders)
            topic = serving.topic


class _Serving:
    """One handoff of one conversation, served under the conversation's lease."""

    def __init__(
        self, desk: Desk, handoff: HandoffView, state: DeskHandoffView | None, topic: TopicView | None
    ) -> None:
        self.desk = desk
        self.handoff = handoff
        self.state = state
        self._topic = topic

    @property
    def topic(self) -> TopicView | None:
        return self._topic

    @property
    def lang(self) -> str:
        return self._topic.language if self._topic is not None else self.desk.settings.desk_language

    def say(self, key: str, /, **context: Any) -> str:
        return replies.say(key, self.lang, **context)

    # -- the steps -------------------------------------------------------------------------
    async def run(self, *, reminders: bool) -> None:
        if self.state is None:
            if not self.handoff.is_open:
                return  # closed before it reached the desk
            await self._start()
        await self._relay()
        await self._report_undelivered()
        if reminders and self.handoff.is_open:
            await self._remind()
        assert self.state is not None
        if not self.handoff.is_open and self.state.closed_noticed_at is None:
            await self._close()
        if self.handoff.rating is not None and self.state.rating_noticed_at is None:
            await self._rated()

    async def _context(self) -> desk_service.Context:
        desk = self.desk
        async with desk.sessions() as session:
            found = await desk_service.context(
                session,
                handoff_id=self.handoff.id,
                policy=desk.policy,
                turns=desk.settings.context_turns,
                now=desk.now(),
            )
        assert found is not None
        return found

    async def _start(self) -> None:
        """The handoff reaches the desk: its topic, then the context card."""
        desk = self.desk
        context = await self._context()
        again = False
        if self._topic is not None:
            async with desk.sessions() as session:
                again = await desk_service.topic_had_handoffs(session, topic_id=self._topic.id)
        if self._topic is None:
            await self._create_topic(context)
        else:
            await self._reopen(context)
        async with desk.sessions() as session:
            last_turn = await desk_service.last_seller_turn_id(
                session, conversation_id=self.handoff.conversation_id
            )
        sent = await self._send(lambda thread: self._card(context, thread, again=again), recreate_card=False)
        assert self._topic is not None
        try:
            self.state = await desk_service.start_desk_handoff(
                desk.sessions,
                handoff_id=self.handoff.id,
                topic_id=self._topic.id,
                card_message_id=sent[0] if sent else None,
                relayed_turn_id=last_turn,
                now=desk.now(),
            )
        except IntegrityError:
            raise Superseded(self.handoff.conversation_id) from None
        await self._record(sent, DeskMessageKind.CARD)

    def _card(
        self, context: desk_service.Context, thread: int, *, again: bool = False, recreated: bool = False
    ) -> list[ApiCall]:
        desk = self.desk
        text = texts.card(
            context, lang=self.lang, settings=desk.settings, now=desk.now(), again=again, recreated=recreated
        )
        return desk.render.text(desk.chat_id, text, thread_id=thread)

    async def _create_topic(self, context: desk_service.Context) -> None:
        desk = self.desk
        lang = desk.settings.desk_language
        name = texts.topic_name(context, lang)
        made = await desk.sender.call(ApiCall("createForumTopic", {"chat_id": desk.chat_id, "name": name}))
        try:
            self._topic = await desk_service.save_topic(
                desk.sessions,
                chat_id=desk.key,
                conversation_id=self.handoff.conversation_id,
                thread_id=made["message_thread_id"],
                name=name,
                language=lang,
                now=desk.now(),
            )
        except TopicExists:
            # Another process made the conversation's topic meanwhile (the lease ran out under
            # this one): that one stays, ours goes, and that process goes on serving.
            try:
                await desk.sender.call(self._topic_method("deleteForumTopic", made["message_thread_id"]))
            except ApiError as exc:
                log.error("desk: could not delete the extra topic: %s", api_error_text(exc))
            raise Superseded(self.handoff.conversation_id) from None

    async def _reopen(self, context: desk_service.Context | None = None) -> None:
        """Reopen the conversation's topic (closed by /close or by a person) under its open name;
        if it was deleted, make a new one."""
        desk = self.desk
        assert self._topic is not None
        context = context or await self._context()
        name = texts.topic_name(context, self._topic.language)
        try:
            if self._topic.closed:
                await self._topic_call(self._topic_method("reopenForumTopic", self._topic.thread_id))
            if name != self._topic.name:
                await self._topic_call(self._topic_method("editForumTopic", self._topic.thread_id, name=name))
        except BadRequest as exc:
            if not topic_gone(exc):
                raise
            await self._recreate(card=False, context=context)
            return
        self._topic = await desk_service.update_topic(
            desk.sessions, topic_id=self._topic.id, closed=False, name=name, now=desk.now()
        )

    def _topic_method(self, method: str, thread: int, **params: Any) -> ApiCall:
        return ApiCall(method, {"chat_id": self.desk.chat_id, "message_thread_id": thread, **params})

    async def _topic_call(self, method: ApiCall) -> None:
        try:
            await self.desk.sender.call(method)
        except BadRequest as exc:
            if not not_modified(exc):
                raise

    async def _recreate(self, *, card: bool, context: desk_service.Context | None = None) -> None:
        """The topic was deleted: a new one for the conversation, with a fresh card if the
        handoff had one."""
        desk = self.desk
        assert self._topic is not None
        context = context or await self._context()
        log.info(
            "desk: the topic of conversation %s was deleted; making a new one", self.handoff.conversation_id
        )
        name = texts.topic_name(context, self._topic.language)
        made = await desk.sender.call(ApiCall("createForumTopic", {"chat_id": desk.chat_id, "name": name}))
        self._topic = await desk_service.update_topic(
            desk.sessions,
            topic_id=self._topic.id,
            thread_id=made["message_thread_id"],
            name=name,
            closed=False,
            now=desk.now(),
        )
        if card:
            sent = await self._call_all(self._card(context, self._topic.thread_id, recreated=True))
            await self._record(sent, DeskMessageKind.CARD)

    async def _call_all(self, methods: list[ApiCall]) -> list[int]:
        """The ids of the messages the calls made."""
        sent = []
        for method in methods:
            made = message_id_of(await self.desk.sender.call(method))
            if made is not None:
                sent.append(made)
        return sent

    async def _send(
        self, build: Callable[[int], list[ApiCall]], *, heal: bool = True, recreate_card: bool = True
    ) -> list[int]:
        """Post into the topic; a deleted topic is made again, a closed one reopened, and the
        message posted there."""
        assert self._topic is not None
        try:
            return await self._call_all(build(self._topic.thread_id))
        except BadRequest as exc:
            if not heal:
                raise
            if topic_gone(exc):
                await self._recreate(card=recreate_card and self.state is not None)
            elif topic_closed(exc):
                await self._reopen()
            else:
                raise
        return await self._call_all(build(self._topic.thread_id))

    async def _record(
        self,
        sent: list[int],
        kind: DeskMessageKind,
        *,
        turn_id: int | None = None,
        text: str | None = None,
    ) -> None:
        assert self._topic is not None
        for message_id in sent:
            await desk_service.record_message(
                self.desk.sessions,
                topic_id=self._topic.id,
                handoff_id=self.handoff.id,
                message_id=message_id,
                kind=kind,
                turn_id=turn_id,
                text=text,
                now=self.desk.now(),
            )

    # -- seller's messages -----------------------------------------------------------------
    async def _relay(self) -> None:
        desk = self.desk
        assert self.state is not None
        while True:
            async with desk.sessions() as session:
                turns = await desk_service.seller_turns_to_relay(
                    session, handoff=self.handoff, after_turn_id=self.state.relayed_turn_id
                )
            if not turns:
                return
            if self.handoff.is_open and self._topic is not None and self._topic.closed:
                await self._reopen()  # a person closed it; the seller writes again
            for turn in turns:
                if not turn.button_only:
                    await self._relay_turn(turn)
                await desk_service.advance_relay(desk.sessions, handoff_id=self.handoff.id, turn_id=turn.id)
                self.state = dataclasses.replace(self.state, relayed_turn_id=turn.id)

    async def _relay_turn(self, turn: SellerTurn) -> None:
        desk = self.desk
        async with desk.sessions() as session:
            files = await turn_files(session, turn.id)
        if not files:
            text = self.say("desk.seller_says", text=turn.text or turn.described)
            sent = await self._send(lambda thread: desk.render.text(desk.chat_id, text, thread_id=thread))
            await self._record(sent, DeskMessageKind.SELLER, turn_id=turn.id)
        for index, file in enumerate(files):
            if index == 0 and turn.text:
                caption = self.say("desk.seller_says", text=turn.text)
            else:
                caption = self.say("desk.seller_file", name=file.name)

            def build(thread: int, file: Any = file, caption: str = caption) -> list[ApiCall]:
                return desk.render.file(
                    desk.chat_id,
                    name=file.name,
                    data=file.data,
                    mime_type=file.mime_type,
                    caption=caption,
                    thread_id=thread,
                )

            sent = await self._send(build)
            await self._record(sent, DeskMessageKind.SELLER, turn_id=turn.id)
        if desk.settings.assist and turn.text and self.handoff.is_open:
            await self._suggest(turn)

    async def _suggest(self, turn: SellerTurn) -> None:
        """The knowledge base's best answer to the seller's message, with a button that sends it
        to the seller as it is."""
        desk = self.desk
        seller_lang = turn.language if turn.language in replies.LANGUAGES else self.handoff.language
        match = desk.matcher.match(turn.text)
        intent = match.intent
        if (
            match.decision is Decision.FALLBACK
            or intent not in desk.knowledge.intents
            or intent in _NO_SUGGESTION
        ):
            return
        answer = desk.knowledge.render(intent, seller_lang, desk.policy)
        assert self._topic is not None
        row_id = await desk_service.record_message(
            desk.sessions,
            topic_id=self._topic.id,
            handoff_id=self.handoff.id,
            kind=DeskMessageKind.ASSIST,
            turn_id=turn.id,
            text=answer,
            intent=intent,
            now=desk.now(),
        )
        text = self.say(
            "desk.assist",
            title=desk.knowledge.intents[intent].title[self.lang],
            score=round(float(match.score) * 100),
            answer=answer,
        )
        send = {"text": self.say("desk.assist_send"), "callback_data": f"{SUGGESTION_PREFIX}{row_id}"}
        markup = {"inline_keyboard": [[send]]}

        def build(thread: int) -> list[ApiCall]:
            methods = desk.render.text(desk.chat_id, text, thread_id=thread)
            methods[-1] = methods[-1].replace(reply_markup=markup)
            return methods

        sent = await self._send(build)
        if sent:
            await desk_service.set_message_id(desk.sessions, desk_message_id=row_id, message_id=sent[-1])

    # -- reminders and notices -------------------------------------------------------------
    async def _remind(self) -> None:
        desk = self.desk
        minutes = desk.settings.reminder_minutes
        now = desk.now()
        if not minutes or not desk.settings.hours.is_open(now):
            return
        async with desk.sessions() as session:
            since = await desk_service.waiting_since(session, handoff=self.handoff)
        if since is None or now - since < timedelta(minutes=minutes):
            return
        if not await desk_service.claim_reminder(
            desk.sessions, handoff_id=self.handoff.id, waiting_since=since
        ):
            return  # this wait has had its reminder
        text = self.say("desk.reminder", minutes=desk_service.minutes_between(since, now))
        sent = await self._send(lambda thread: desk.render.text(desk.chat_id, text, thread_id=thread))
        await self._record(sent, DeskMessageKind.NOTICE)

    async def _report_undelivered(self) -> None:
        """Tell the agents, in the topic, about each of their messages the seller's channel
        refused (the seller blocked the bot, …) or holds until the seller writes again (QQ's reply
        window): once each, whichever process gets to it."""
        desk = self.desk
        if self._topic is None:
            return
        async with desk.sessions() as session:
            failed = await unnoticed_failures(
                session, conversation_id=self.handoff.conversation_id, since=self.handoff.created_at
            )
        for item in failed:
            held = item.failure == HELD
            if not await claim_failure_notice(
                sessions=desk.sessions, delivery_id=item.id, now=desk.now(), held=held
            ):
                continue
            quoted = item.text if len(item.text) <= 200 else item.text[:199] + "…"
            channel = CHANNEL_NAMES.get(self.handoff.channel, self.handoff.channel)
            text = self.say("desk.undelivered", failure=item.failure, text=quoted, channel=channel)
            if self.handoff.is_open:
                sent = await self._send(
                    lambda thread, text=text: desk.render.text(desk.chat_id, text, thread_id=thread)
                )
                await self._record(sent, DeskMessageKind.NOTICE)
            else:
                await self._notice(text)

    async def _notice(self, text: str) -> None:
        """A notice about a handoff that is over: never brings a deleted topic back."""
        desk = self.desk
        try:
            sent = await self._send(
                lambda thread: desk.render.text(desk.chat_id, text, thread_id=thread), heal=False
            )
        except ApiError as exc:
            # Best effort: the topic is closed (and the handoff recorded) all the same.
            log.info(
                "desk: notice for conversation %s not posted: %s",
                self.handoff.conversation_id,
                api_error_text(exc),
            )
            return
        await self._record(sent, DeskMessageKind.NOTICE)

    async def _close(self) -> None:
        """The handoff is over: say how, then close the topic and mark its name."""
        desk = self.desk
        handoff = self.handoff
        if not await desk_service.claim_closed_notice(desk.sessions, handoff_id=handoff.id, now=desk.now()):
            return
        if self._topic is None:
            return
        closed_by = handoff.closed_by or ""
        if handoff.resolution is HandoffResolution.SELLER_LEFT:
            text = self.say("desk.seller_left")
        elif closed_by.startswith("agent:"):
            text = self.say(
                "desk.closed",
                agent=closed_by.removeprefix("agent:"),
                rating_asked=handoff.first_reply_at is not None,
            )
        else:
            text = self.say("desk.closed_elsewhere", who=closed_by)
        await self._notice(text)
        name = texts.closed_topic_name(self._topic.name, self.lang)
        try:
            await self._topic_call(self._topic_method("closeForumTopic", self._topic.thread_id))
            await self._topic_call(self._topic_method("editForumTopic", self._topic.thread_id, name=name))
        except BadRequest as exc:
            if not topic_gone(exc):
                raise
        self._topic = await desk_service.update_topic(
            desk.sessions, topic_id=self._topic.id, closed=True, name=name, now=desk.now()
        )

    async def _rated(self) -> None:
        desk = self.desk
        if self._topic is None or not await desk_service.claim_rating_notice(
            desk.sessions, handoff_id=self.handoff.id, now=desk.now()
        ):
            return
        await self._notice(self.say("desk.rated", stars=self.handoff.rating))
