"""The update processor: stored updates in, handled once, in order per chat, many chats at once.

Intake (polling or the webhook) calls `accept`, which stores the updates in the database
(`services.inbound_queue`; a redelivered update is recognised there and dropped) and wakes a
worker for each chat that got something new. A worker takes the chat's lease, then handles the
chat's updates one by one in `update_id` order — through the aiogram dispatcher, whose routers
return the Bot API calls to make — sends the calls, marks the update done, and goes on until the
chat has nothing waiting; then it releases the lease and looks once more (an update stored by
another process while it was releasing would otherwise wait for the sweep). Up to `workers`
chats are worked on at once, most of them waiting for the outbound limiter; of those, at most
`concurrent_handling` are inside the conversation core at the same moment. Every second a sweep
looks for chats with work and no live lease: updates another process stored, and chats whose
process died (its lease expired).

Failures: an update whose handling raised gets an apology with a reference id and the worker goes
on; a database that cannot be reached is retried with backoff, and what was stored is handled once
it is back. An update a dead process had started is never run again (it may already have
acted): the user is told it may not have been handled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import Update

from bot.telegram.client import backoff_delay
from bot.telegram.metrics import CURRENT_WAITS, Stats, WaitMeter
from bot.telegram.middleware import Languages
from bot.telegram.render import Renderer
from bot.telegram.sender import Sender
from bot.telegram.translate import CHANNEL, chat_key, is_addressed, language_hint, reply_target, update_user
from handlers import replies
from services import inbound_queue as queue
from services.db import Sessions, is_unavailable
from services.housekeeping import purge_expired
from services.models import utcnow
from services.policy import Policy

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
PRUNE_EVERY_SECONDS = 3600.0
_RECENT = 10_000


def as_methods(result: Any) -> list[TelegramMethod]:
    """What a handler returned, as a list of calls to make."""
    if result is None or result is UNHANDLED:
        return []
    if isinstance(result, TelegramMethod):
        return [result]
    if isinstance(result, Iterable) and not isinstance(result, str | bytes):
        return [m for m in result if isinstance(m, TelegramMethod)]
    return []


def payload_text(raw: dict[str, Any]) -> str:
    # ensure_ascii keeps a NUL character as the escape \\u0000 (PostgreSQL text refuses the byte).
    return json.dumps(raw, ensure_ascii=True, separators=(",", ":"))


class UpdateProcessor:
    def __init__(
        self,
        *,
        sessions: Sessions,
        dispatcher: Dispatcher,
        bot: Bot,
        sender: Sender,
        render: Renderer,
        languages: Languages,
        owner: str,
        workers: int = 64,
        concurrent_handling: int = 8,
        lease_seconds: float = 30.0,
        keep_updates_hours: int = 48,
        keep_expired_days: int = 30,
        policy: Policy | None = None,
        sweep_seconds: float = SWEEP_SECONDS,
        stats: Stats | None = None,
    ) -> None:
        self.sessions = sessions
        self.dispatcher = dispatcher
        self.bot = bot
        self.sender = sender
        self.render = render
        self.languages = languages
        self.owner = owner
        self.workers = workers
        self._slots = asyncio.Semaphore(concurrent_handling)
        self.lease_seconds = lease_seconds
        self.keep_updates_hours = keep_updates_hours
        self.keep_expired_days = keep_expired_days
        self.policy = policy or Policy()
        self.sweep_seconds = sweep_seconds
        self.stats = stats or Stats()
        self._hints: dict[str, None] = {}  # chats to look at, in arrival order
        self._active: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._db_failures = 0
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._recent: deque[int] = deque(maxlen=_RECENT)
        self._recent_set: set[int] = set()

    # -- intake ------------------------------------------------------------------------------
    async def accept(self, raws: Sequence[dict[str, Any]]) -> list[int]:
        """Store updates as received (JSON objects); returns the ids that were new. Raises if
        the database cannot store them (the caller tells the users)."""
        rows: list[queue.NewUpdate] = []
        for raw in raws:
            try:
                update = Update.model_validate(raw, context={"bot": self.bot})
            except Exception as exc:
                log.error("ignoring an update that does not parse: %s", type(exc).__name__)
                continue
            rows.append(queue.NewUpdate(update.update_id, chat_key(update), payload_text(raw)))
        new = set(
            await queue.store_updates(self.sessions, channel=CHANNEL, updates=rows, received_by=self.owner)
        )
        for row in rows:
            if row.update_id in new:
                self.wake(row.chat_key)
            else:
                self.stats.duplicates += 1
                log.info("update %s was delivered again; dropped", row.update_id)
        return sorted(new)

    def tell_users(self, raws: Sequence[dict[str, Any]], exc: BaseException) -> None:
        """The updates could not be stored: tell each sender (in the background) that the
        database is unavailable, or apologise with a reference id."""
        reference = secrets.token_hex(4)
        if is_unavailable(exc):
            log.error(
                "cannot store %d update(s): database unavailable [ref %s]: %r", len(raws), reference, exc
            )
            key = "errors.database_unavailable"
        else:
            log.error("cannot store %d update(s) [ref %s]", len(raws), reference, exc_info=exc)
            key = "errors.internal"
        for raw in raws:
            self._spawn(self._notice(raw, key, reference))

    async def _notice(self, raw: dict[str, Any], key: str, reference: str) -> None:
        try:
            update = Update.model_validate(raw, context={"bot": self.bot})
        except Exception:
            return
        await self.sender.deliver(await self._message_about(update, key, reference))

    async def _message_about(self, update: Update, key: str, reference: str) -> list[TelegramMethod]:
        target = reply_target(update)
        if target is None:
            return []
        if update.message is not None and not is_addressed(update.message, self.render.identity):
            return []
        user = update_user(update)
        lang = await self.languages.of(
            chat_id=target[0], user_id=user.id if user else 0, hint=language_hint(user)
        )
        methods: list[TelegramMethod] = []
        if update.callback_query is not None:
            methods.append(AnswerCallbackQuery(callback_query_id=update.callback_query.id))
        return methods + self.render.text(
            target[0], replies.say(key, lang, reference=reference), thread_id=target[1]
        )

    def wake(self, chat: str) -> None:
        self._hints[chat] = None
        self._wake.set()

    # -- the scheduler -----------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        next_prune = loop.time() + 60.0
        while not self._stopping:
            now = loop.time()
            if now >= next_sweep:
                await self._sweep()
                next_sweep = now + self.sweep_seconds
            if now >= next_prune:
                self._spawn(self.housekeeping())
                next_prune = now + PRUNE_EVERY_SECONDS
            self._wake.clear()
            self._start_workers()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, next_sweep - loop.time()))
            except TimeoutError:
                pass

    async def _sweep(self) -> None:
        try:
            chats = await queue.chats_with_work(self.sessions, channel=CHANNEL, limit=self.workers * 4)
        except Exception as exc:
            self._db_trouble("looking for waiting updates", exc)
            return
        self._db_ok()
        for chat in chats:
            self._hints.setdefault(chat, None)

    async def housekeeping(self) -> None:
        """Forget handled updates and delete expired rows (hourly; errors are logged, never raised)."""
        try:
            before = utcnow() - timedelta(hours=self.keep_updates_hours)
            pruned = await queue.prune_updates(self.sessions, channel=CHANNEL, before=before)
            if pruned:
                log.info("forgot %d handled update(s)", pruned)
            # Expired links and codes, old idempotency keys, icons of unfinished flows. Every
            # process may do it: the deletes are idempotent.
            purged = await purge_expired(
                sessions=self.sessions, keep_days=self.keep_expired_days, now=utcnow(), policy=self.policy
            )
            if purged.total:
                log.info("deleted %d expired row(s): %s", purged.total, purged)
        except Exception as exc:
            self._db_trouble("deleting old updates and expired rows", exc)

    def _start_workers(self) -> None:
        for chat in list(self._hints):
            if chat in self._active:
                continue  # kept: looked at again once its worker has let go of the chat
            if len(self._active) >= self.workers:
                return
            del self._hints[chat]
            task = asyncio.create_task(self._work_on(chat), name=f"telegram-chat-{chat}")
            self._active[chat] = task
            task.add_done_callback(lambda t, c=chat: self._worker_done(c, t))

    def _worker_done(self, chat: str, task: asyncio.Task[None]) -> None:
        if self._active.get(chat) is task:
            del self._active[chat]
        if not task.cancelled() and task.exception() is not None:
            log.error("worker for chat %s failed", chat, exc_info=task.exception())
        self._wake.set()

    def _retry_later(self, chat: str) -> None:
        delay = backoff_delay(max(1, self._db_failures))
        asyncio.get_running_loop().call_later(delay, self.wake, chat)

    # -- one chat ----------------------------------------------------------------------------
    async def _work_on(self, chat: str) -> None:
        try:
            if not await queue.acquire_lease(
                self.sessions, channel=CHANNEL, chat_key=chat, owner=self.owner, seconds=self.lease_seconds
            ):
                return  # another process has it
        except Exception as exc:
            self._db_trouble(f"taking chat {chat}", exc)
            self._retry_later(chat)
            return
        heartbeat = asyncio.create_task(self._heartbeat(chat))
        released = False
        try:
            loop = asyncio.get_running_loop()
            while not self._stopping:
                meter = WaitMeter()
                # Only `concurrent_handling` updates are in the core at once: the CPU and the
                # database serve them in turn instead of all at once, and the other workers wait
                # here, before they take their chat's next update, or with replies for the limiter.
                async with self._slots:
                    if self._stopping:  # told to stop while waiting for a slot
                        break
                    try:
                        work = await queue.next_update(
                            self.sessions,
                            channel=CHANNEL,
                            chat_key=chat,
                            owner=self.owner,
                            lease_seconds=self.lease_seconds,
                        )
                    except Exception as exc:
                        self._db_trouble(f"taking the next update of chat {chat}", exc)
                        self._retry_later(chat)
                        return
                    self._db_ok()
                    started = loop.time()
                    methods: list[TelegramMethod] = []
                    if work.update is not None and not work.lease_lost:
                        token = CURRENT_WAITS.set(meter)
                        try:
                            methods = await self._dispatch(work.update)
                        finally:
                            CURRENT_WAITS.reset(token)
                for item in work.abandoned:
                    await self._abandoned(item)
                if work.lease_lost:
                    log.warning("lost the lease of chat %s (took too long); another process goes on", chat)
                    return
                if work.update is None:
                    break
                await self._complete(work.update, methods, started=started, meter=meter)
        finally:
            heartbeat.cancel()
            try:
                await queue.release_lease(self.sessions, channel=CHANNEL, chat_key=chat, owner=self.owner)
                released = True
            except Exception as exc:  # it expires by itself
                self._db_trouble(f"releasing chat {chat}", exc)
        if released and not self._stopping:
            try:
                if await queue.has_waiting(self.sessions, channel=CHANNEL, chat_key=chat):
                    self.wake(chat)
            except Exception as exc:  # the sweep will find it
                self._db_trouble(f"looking at chat {chat}", exc)

    async def _heartbeat(self, chat: str) -> None:
        """Renew the lease while a long update (a big download, a group's limiter wait) runs."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                held = await queue.renew_lease(
                    self.sessions,
                    channel=CHANNEL,
                    chat_key=chat,
                    owner=self.owner,
                    seconds=self.lease_seconds,
                )
            except Exception as exc:
                self._db_trouble(f"renewing chat {chat}", exc)
                continue
            if not held:
                log.warning("lease of chat %s was lost while handling an update", chat)
                return

    # -- one update --------------------------------------------------------------------------
    async def _complete(
        self, item: queue.QueuedUpdate, methods: list[TelegramMethod], *, started: float, meter: WaitMeter
    ) -> None:
        """Send what handling the update produced, then mark it handled."""
        token = CURRENT_WAITS.set(meter)
        loop = asyncio.get_running_loop()
        try:
            await self.sender.deliver(methods)
            sent = loop.time()
            await self._finish(item)
            self.stats.record(
                latency=sent - started - meter.seconds,
                waited=meter.seconds,
                end_to_end=(utcnow() - item.received_at).total_seconds(),
            )
        finally:
            CURRENT_WAITS.reset(token)
            self._resolve(item.update_id)

    async def _dispatch(self, item: queue.QueuedUpdate) -> list[TelegramMethod]:
        try:
            update = Update.model_validate(json.loads(item.payload), context={"bot": self.bot})
        except Exception as exc:
            log.error("stored update %s does not parse (%s); skipped", item.update_id, type(exc).__name__)
            return []
        try:
            return as_methods(await self.dispatcher.feed_update(self.bot, update))
        except Exception as exc:
            # The errors router could not answer either; this is the last word.
            self.stats.errors += 1
            reference = secrets.token_hex(4)
            log.error("update %s failed [ref %s]", item.update_id, reference, exc_info=exc)
            key = "errors.database_unavailable" if is_unavailable(exc) else "errors.internal"
            try:
                return await self._message_about(update, key, reference)
            except Exception:
                return []

    async def _finish(self, item: queue.QueuedUpdate) -> None:
        failures = 0
        while True:
            try:
                if not await queue.finish_update(
                    self.sessions, channel=CHANNEL, update_id=item.update_id, owner=self.owner
                ):
                    log.warning(
                        "update %s was taken over by another process before it finished", item.update_id
                    )
                return
            except Exception as exc:
                failures += 1
                self._db_trouble(f"marking update {item.update_id} handled", exc)
                if not is_unavailable(exc) or (self._stopping and failures > 3):
                    return  # left as started: a later holder of the chat abandons it
                await asyncio.sleep(backoff_delay(failures))

    async def _abandoned(self, item: queue.QueuedUpdate) -> None:
        self.stats.abandoned += 1
        reference = secrets.token_hex(4)
        log.warning(
            "update %s was being handled by a process that stopped [ref %s]", item.update_id, reference
        )
        try:
            update = Update.model_validate(json.loads(item.payload), context={"bot": self.bot})
            await self.sender.deliver(await self._message_about(update, "channel.interrupted", reference))
        except Exception as exc:
            log.error("could not tell the user about update %s: %r", item.update_id, exc)
        self._resolve(item.update_id)

    # -- database trouble --------------------------------------------------------------------
    def _db_trouble(self, doing: str, exc: BaseException) -> None:
        self._db_failures += 1
        if is_unavailable(exc):
            # Once, then every 30th time: an outage must not flood the log.
            if self._db_failures == 1 or self._db_failures % 30 == 0:
                log.error("database unavailable while %s (%r); retrying", doing, exc)
        else:
            log.error("failed while %s", doing, exc_info=exc)

    def _db_ok(self) -> None:
        if self._db_failures:
            log.info("database available again")
            self._db_failures = 0

    # -- waiting (tests, shutdown) -----------------------------------------------------------
    def _resolve(self, update_id: int) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(update_id)
        self._recent_set.add(update_id)
        for future in self._waiters.pop(update_id, []):
            if not future.done():
                future.set_result(None)

    async def wait_handled(self, update_id: int) -> None:
        """Return once this process has handled (or abandoned) the update."""
        if update_id in self._recent_set:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(update_id, []).append(future)
        await future

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    @property
    def busy(self) -> bool:
        return bool(self._active or self._hints or self._side_tasks)

    async def stop(self, grace: float) -> None:
        """Stop taking updates; let those being handled finish (up to `grace` seconds)."""
        self._stopping = True
        self._wake.set()
        tasks = [*self._active.values(), *self._side_tasks]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                log.warning("stopping before %s finished", task.get_name())
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
