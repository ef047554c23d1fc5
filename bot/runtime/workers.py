"""Ordered per-chat workers: stored updates in, handled once, in order per chat, many chats at once.

Intake (polling, a webhook, a WebSocket) calls `accept`, which stores the updates in the inbox (a
redelivered update is recognised there and dropped) and wakes a worker for each chat that got
something new. A worker takes the chat's lease, then handles the chat's updates one by one in
order — the channel's `UpdateHandler` understands each and says what to send — sends, marks the
update done, and goes on until the chat has nothing waiting. What the chat is owed from the
durable outbox (`services.outbox`: the replies a turn saved with itself, agents' messages, rows a
dead process left unsent) is sent by the chat's holder too, before the next update. Then it
releases the lease and looks once more (an update stored by another process while it was releasing
would otherwise wait for the sweep). Up to `workers` chats are worked on at once, most of them
waiting for the outbound limiter; of those, at most `concurrent_handling` are inside the
conversation core at the same moment. Every second a sweep looks for chats with work and no live
lease: updates another process stored, and chats whose process died (its lease expired).

Failures: an update whose handling raised gets an apology with a reference id and the worker goes
on; a database that cannot be reached is retried with backoff, and what was stored is handled once
it is back. An update a dead process had started is handled again (its turn was not saved, and
actions carry idempotency keys); one that was started `MAX_ATTEMPTS` times is abandoned, and the
user is told it may not have been handled. An outbox row the channel could not take (it could not
be reached) waits, and the chat is looked at again after a backoff.

Nothing here knows a chat library: the channel's handler does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from bot.runtime.inbox import Arrival, Inbox
from bot.runtime.leases import Lease
from bot.runtime.metrics import CURRENT_WAITS, Stats, WaitMeter
from bot.runtime.trouble import Outage, backoff_delay
from handlers.apology import Apology
from services import inbound_queue as queue
from services import outbox
from services.db import Sessions, is_unavailable
from services.models import utcnow

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
_RECENT = 10_000

Outgoing = TypeVar("Outgoing")
T = TypeVar("T")


class UpdateHandler(Protocol[Outgoing]):
    """A channel's part: what an update means, and how to send what it produced."""

    async def handle(self, update: queue.QueuedUpdate) -> Outgoing:
        """Understand the update and build what to send (inside a handling slot). If it raises,
        the update's sender gets an apology."""
        ...

    async def notify(self, payload: str, apology: Apology) -> Outgoing:
        """A message to the sender of a stored update (given as its payload) that something went
        wrong with it, or nothing to send if there is nobody to tell."""
        ...

    async def send(self, update: queue.QueuedUpdate | None, outgoing: Outgoing) -> None:
        """Send what handling (or a notice about) an update produced, within the channel's limits."""
        ...

    async def send_queued(self, item: outbox.Pending) -> outbox.Outcome:
        """Send one row of the chat's outbox within the channel's limits; the outcome says whether
        it went (with the channel's message ids) or failed for good. Raises if the channel could not
        be reached: the row waits."""
        ...


class ChatWorkers(Generic[Outgoing]):
    def __init__(
        self,
        *,
        sessions: Sessions,
        channel: str,
        handler: UpdateHandler[Outgoing],
        owner: str,
        workers: int = 64,
        concurrent_handling: int = 8,
        lease_seconds: float = 30.0,
        sweep_seconds: float = SWEEP_SECONDS,
        stats: Stats | None = None,
        claims: Callable[[str], bool] | None = None,
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.handler = handler
        self.owner = owner
        self.inbox = Inbox(sessions, channel=channel, owner=owner)
        self.workers = workers
        self._slots = asyncio.Semaphore(concurrent_handling)
        self.lease_seconds = lease_seconds
        self.sweep_seconds = sweep_seconds
        self.stats = stats or Stats()
        # Which chats this process may serve (all, unless the channel says otherwise: a OneBot
        # account's chats only where its client is connected, since only there can they be
        # answered).
        self.claims = claims or (lambda chat: True)
        self._hints: dict[str, None] = {}  # chats to look at, in arrival order
        self._owed: set[str] = set()  # chats woken since their worker last read their outbox
        self._active: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._outage = Outage(log)
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._recent: deque[int] = deque(maxlen=_RECENT)
        self._recent_set: set[int] = set()

    # -- intake ------------------------------------------------------------------------------
    async def accept(self, arrivals: Sequence[Arrival]) -> list[int]:
        """Store updates as received; returns the numbers of those that were new. Raises if the
        database cannot store them (the caller then calls `tell_users`)."""
        return self.accept_stored(await self.inbox.store(arrivals))

    def accept_stored(self, stored: Sequence[tuple[Arrival, int | None]]) -> list[int]:
        """Wake the chats of arrivals the inbox has stored (those with a number; the others were
        redeliveries); returns the numbers."""
        new: list[int] = []
        for arrival, number in stored:
            if number is None:
                self.stats.duplicates += 1
                log.info(
                    "%s update %s was delivered again; dropped",
                    self.channel,
                    arrival.update_id if arrival.event_key is None else arrival.event_key,
                )
                continue
            new.append(number)
            # A new update puts nothing in the chat's outbox: its worker need not read it again.
            self.wake(arrival.chat_key, owed=False)
        return sorted(new)

    def tell_users(self, payloads: Sequence[str], exc: BaseException) -> None:
        """The updates could not be stored: tell each sender (in the background) that the
        database is unavailable, or apologise with a reference id."""
        apology = Apology.for_error(exc, log, f"storing {len(payloads)} {self.channel} update(s)")
        for payload in payloads:
            self._spawn(self._notify(None, payload, apology))

    async def _notify(self, update: queue.QueuedUpdate | None, payload: str, apology: Apology) -> None:
        try:
            await self.handler.send(update, await self.handler.notify(payload, apology))
        except Exception as exc:
            log.error(
                "could not tell the sender of a %s update [ref %s]: %r", self.channel, apology.reference, exc
            )

    def wake(self, chat: str, *, owed: bool = True) -> None:
        """Look at the chat: it has an update waiting, or (`owed`) rows in its outbox."""
        self._hints[chat] = None
        if owed:
            # Its worker, if it has one, reads the chat's outbox before its next update (an
            # agent's message was queued). A worker taking the chat reads it anyway.
            self._owed.add(chat)
        self._wake.set()

    # -- the scheduler -----------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        while not self._stopping:
            now = loop.time()
            if now >= next_sweep:
                await self._sweep()
                next_sweep = now + self.sweep_seconds
            self._wake.clear()
            self._start_workers()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, next_sweep - loop.time()))
            except TimeoutError:
                pass

    async def _sweep(self) -> None:
        try:
            chats = await queue.chats_with_work(self.sessions, channel=self.channel, limit=self.workers * 4)
        except Exception as exc:
            self._outage.failed("looking for waiting updates", exc)
            return
        self._outage.ok()
        for chat in chats:
            if self.claims(chat):
                self._hints.setdefault(chat, None)

    def _start_workers(self) -> None:
        for chat in list(self._hints):
            if chat in self._active:
                continue  # kept: looked at again once its worker has let go of the chat
            if len(self._active) >= self.workers:
                return
            del self._hints[chat]
            task = asyncio.create_task(self._work_on(chat), name=f"{self.channel}-chat-{chat}")
            self._active[chat] = task
            task.add_done_callback(lambda t, c=chat: self._worker_done(c, t))

    def _worker_done(self, chat: str, task: asyncio.Task[None]) -> None:
        if self._active.get(chat) is task:
            del self._active[chat]
        if not task.cancelled() and task.exception() is not None:
            log.error("worker for %s chat %s failed", self.channel, chat, exc_info=task.exception())
        self._wake.set()
        self._maybe_idle()

    def _retry_later(self, chat: str) -> None:
        asyncio.get_running_loop().call_later(self._outage.retry_delay(), self.wake, chat)

    # -- one chat ----------------------------------------------------------------------------
    async def _work_on(self, chat: str) -> None:
        lease = Lease(
            self.sessions, channel=self.channel, key=chat, owner=self.owner, seconds=self.lease_seconds
        )
        try:
            if not await lease.acquire():
                return  # another process has it
        except Exception as exc:
            self._outage.failed(f"taking chat {chat}", exc)
            self._retry_later(chat)
            return
        try:
            await self._handle_chat(chat)
        finally:
            # Work stored by another process while this one was letting go would otherwise
            # wait for the sweep: the release looks for it (if it fails, the sweep finds it).
            waiting = await lease.release(look=not self._stopping)
        if waiting and not self._stopping:
            self.wake(chat)

    async def _handle_chat(self, chat: str) -> None:
        loop = asyncio.get_running_loop()
        # The update whose answer went out and which is not marked handled yet, and the outbox
        # rows sent: the next look for work marks them, in the same transaction (one write an
        # update instead of two).
        sent: queue.QueuedUpdate | None = None
        outcomes: list[outbox.Outcome] = []
        # The next update, taken by the transaction that saved the turn before it.
        prefetched: queue.QueuedUpdate | None = None
        first = True  # updates a dead holder had started are looked for when the chat is taken
        self._owed.discard(chat)
        try:
            while not self._stopping:
                meter = WaitMeter()
                # Only `concurrent_handling` updates are in the core at once: the CPU and the
                # database serve them in turn instead of all at once, and the other workers wait
                # here, before they take their chat's next update, or with replies for the limiter.
                async with self._slots:
                    if self._stopping:  # told to stop while waiting for a slot
                        return
                    try:
                        if prefetched is not None:
                            # Taken already. What the chat is owed meanwhile (an agent's message:
                            # the chat was woken) is read on its own, less the rows just sent.
                            owed: tuple[outbox.Pending, ...] = ()
                            if chat in self._owed:
                                self._owed.discard(chat)
                                owed = await queue.owed_rows(
                                    self.sessions,
                                    channel=self.channel,
                                    chat_key=chat,
                                    unmarked=[o.id for o in outcomes],
                                )
                            work = queue.NextWork(update=prefetched, outbox=owed)
                            prefetched = None
                        else:
                            self._owed.discard(chat)
                            work = await queue.next_update(
                                self.sessions,
                                channel=self.channel,
                                chat_key=chat,
                                owner=self.owner,
                                lease_seconds=self.lease_seconds,
                                finished=sent.update_id if sent is not None else None,
                                look_for_abandoned=first,
                                sent=outcomes,
                            )
                            outcomes = []
                        first = False
                    except Exception as exc:
                        self._outage.failed(f"taking the next update of chat {chat}", exc)
                        self._retry_later(chat)
                        return
                    if sent is not None:
                        self._marked(sent, work.finished)
                        sent = None
                    self._outage.ok()
                    # What a dead holder had started is told first, in the words of that moment
                    # (the next update may change the conversation's language).
                    notices = [(item, await self._interrupted(item)) for item in work.abandoned]
                    started = loop.time()
                    outgoing: Any = None
                    turn = outbox.TurnTarget(
                        self.channel, chat, owner=self.owner, take_next=not self._stopping
                    )
                    if work.update is not None and not work.lease_lost:
                        turn.update_id = work.update.update_id
                        turn.sent = outcomes
                        waits, queued = CURRENT_WAITS.set(meter), outbox.CURRENT_TURN.set(turn)
                        try:
                            outgoing = await self._understand(work.update)
                        finally:
                            outbox.CURRENT_TURN.reset(queued)
                            CURRENT_WAITS.reset(waits)
                        if turn.queued:  # the turn's transaction marked them, and took the next
                            outcomes = []
                            prefetched = turn.next
                if work.lease_lost:
                    log.warning("lost the lease of chat %s (took too long); another process goes on", chat)
                    return
                # What the chat was owed goes first (a dead process's rows are older than this
                # update's answer).
                if not await self._send_rows(work.outbox, outcomes, chat):
                    return
                for item, notice in notices:
                    await self._send_notice(item, notice)
                if work.update is None:
                    if work.outbox:
                        continue  # marked with the next look, which may find more
                    return
                done = await self._complete(
                    work.update, outgoing, started=started, meter=meter, turn=turn, outcomes=outcomes
                )
                if not done:
                    return
                if turn.finished:
                    self._resolve(work.update.update_id)
                else:
                    sent = work.update
        finally:
            if outcomes:  # stopping, or the database failed: marked on their own
                await self._mark(outcomes)
            if sent is not None:
                await self._finish(sent)
                self._resolve(sent.update_id)
            if prefetched is not None:  # taken, not started: waiting again, in its place
                update_id = prefetched.update_id
                await self._while_unavailable(
                    f"putting back update {update_id}",
                    lambda: queue.put_back(
                        self.sessions, channel=self.channel, update_id=update_id, owner=self.owner
                    ),
                )

    async def _send_rows(
        self, rows: Sequence[outbox.Pending], outcomes: list[outbox.Outcome], chat: str
    ) -> bool:
        """Send outbox rows in order (their outcomes are marked with the next look for work);
        False if the channel could not be reached (the rest wait, and the chat is looked at again
        later)."""
        for row in rows:
            try:
                outcomes.append(await self.handler.send_queued(row))
            except Exception as exc:
                self._outage.failed(f"sending to {self.channel} chat {chat}", exc)
                self._retry_later(chat)
                return False
        return True

    async def _mark(self, outcomes: list[outbox.Outcome]) -> None:
        """Mark sent rows on their own (the look for the next update could not); if that fails,
        they are sent again by the chat's next holder."""
        await self._while_unavailable(
            f"marking {len(outcomes)} {self.channel} message(s) sent",
            lambda: outbox.mark(self.sessions, outcomes),
        )

    def _marked(self, item: queue.QueuedUpdate, still_ours: bool | None) -> None:
        if still_ours is False:
            log.warning("update %s was taken over by another process before it finished", item.update_id)
        self._resolve(item.update_id)

    # -- one update --------------------------------------------------------------------------
    async def _understand(self, item: queue.QueuedUpdate) -> Any:
        try:
            return await self.handler.handle(item)
        except Exception as exc:
            # The channel's handler could not answer either; this is the last word.
            self.stats.errors += 1
            apology = Apology.for_error(exc, log, f"{self.channel} update {item.update_id}")
            try:
                return await self.handler.notify(item.payload, apology)
            except Exception:
                return None

    async def _complete(
        self,
        item: queue.QueuedUpdate,
        outgoing: Any,
        *,
        started: float,
        meter: WaitMeter,
        turn: outbox.TurnTarget,
        outcomes: list[outbox.Outcome],
    ) -> bool:
        """Send what handling the update produced: what the channel sends by itself (a pressed
        button's answer, a note), then the turn's replies, which the core saved in the outbox with
        the turn (the caller marks them sent, and a turn-less update handled). False if the
        channel could not be reached (the replies wait in the outbox)."""
        token = CURRENT_WAITS.set(meter)
        loop = asyncio.get_running_loop()
        try:
            if outgoing is not None:
                await self.handler.send(item, outgoing)
            if not await self._send_rows(turn.rows, outcomes, turn.chat_key):
                return False
            self.stats.record(
                latency=loop.time() - started - meter.seconds,
                waited=meter.seconds,
                end_to_end=(utcnow() - item.received_at).total_seconds(),
            )
            return True
        finally:
            CURRENT_WAITS.reset(token)

    async def _finish(self, item: queue.QueuedUpdate) -> None:
        """Mark a turn-less update handled on its own; if that fails, the chat's next holder
        handles it again."""
        finished = await self._while_unavailable(
            f"marking update {item.update_id} handled",
            lambda: queue.finish_update(
                self.sessions, channel=self.channel, update_id=item.update_id, owner=self.owner
            ),
        )
        if finished is False:
            log.warning("update %s was taken over by another process before it finished", item.update_id)

    async def _while_unavailable(self, what: str, write: Callable[[], Awaitable[T]]) -> T | None:
        """A write retried with backoff while the database is away (a few times only once
        stopping); None if it did not happen."""
        failures = 0
        while True:
            try:
                return await write()
            except Exception as exc:
                failures += 1
                self._outage.failed(what, exc)
                if not is_unavailable(exc) or (self._stopping and failures > 3):
                    return None
                await asyncio.sleep(backoff_delay(failures))

    async def _interrupted(self, item: queue.QueuedUpdate) -> Any:
        """The notice that an update a dead process had started may not have been handled."""
        self.stats.abandoned += 1
        apology = Apology.interrupted(log, f"{self.channel} update {item.update_id}")
        try:
            return await self.handler.notify(item.payload, apology)
        except Exception as exc:
            log.error(
                "could not word the notice of update %s [ref %s]: %r", item.update_id, apology.reference, exc
            )
            return None

    async def _send_notice(self, item: queue.QueuedUpdate, notice: Any) -> None:
        try:
            if notice is not None:
                await self.handler.send(item, notice)
        except Exception as exc:
            log.error("could not tell the sender of %s update %s: %r", self.channel, item.update_id, exc)
        self._resolve(item.update_id)

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
        task.add_done_callback(self._side_task_done)

    def _side_task_done(self, task: asyncio.Task[Any]) -> None:
        self._side_tasks.discard(task)
        self._maybe_idle()

    @property
    def outage(self) -> Outage:
        """The database's failures as the workers meet them."""
        return self._outage

    @property
    def busy(self) -> bool:
        return bool(self._active or self._hints or self._side_tasks)

    def _maybe_idle(self) -> None:
        if self.busy:
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait_idle(self) -> None:
        """Return once no chat is being worked on or waits to be (what this process was told of:
        an agent's message it queued is sent by then)."""
        if not self.busy:
            return
        future = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(future)
        await future

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
