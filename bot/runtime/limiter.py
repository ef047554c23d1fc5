"""The outbound limiter: a channel's message limits, kept before each send.

Each channel configures its own numbers (`OutboundLimits`): Telegram allows a bot about 30
messages a second to all chats together and 20 a minute to one group, and asks that bursts to one
chat be smoothed; QQ has limits of its own. Each limit is a sliding window: at most `limit` sends
in any `seconds`-long window. A send asks for a slot in every window that applies to it (all
chats; its chat; its group) at once: it gets them all and records the send in each, or it is told
how long to wait before the earliest of the full windows has room, and asks again. Recording only
real send times, in order, keeps every window's guarantee exact.

`LocalLimiter` keeps the windows in this process. `RedisLimiter` keeps them in Redis with the
same algorithm in one Lua script, so that several processes serving one bot share the budget;
if Redis cannot be reached it falls back to the local windows (a message is never dropped
because a limiter is down).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    limit: int
    seconds: float


@dataclass(frozen=True)
class OutboundLimits:
    overall: Window = Window(30, 1.0)
    # The overall budget spread over the second (a tenth of it per 100 ms), so that a backlog
    # goes out evenly rather than as 30 at once on every second's edge, which a server measuring
    # its own windows would see straddle two of them.
    overall_spread: Window = Window(3, 0.1)
    group: Window = Window(20, 60.0)
    # Smoothing per chat: a burst of `limit`, then one every seconds/limit on average.
    chat: Window = Window(3, 3.0)

    @classmethod
    def from_rates(
        cls, *, per_second: int, group_per_minute: int, chat_per_second: float, chat_burst: int
    ) -> OutboundLimits:
        return cls(
            overall=Window(per_second, 1.0),
            overall_spread=Window(max(1, math.ceil(per_second / 10)), 0.1),
            group=Window(group_per_minute, 60.0),
            chat=Window(chat_burst, chat_burst / chat_per_second),
        )

    def windows(self, chat_id: int | str, *, group: bool) -> list[tuple[str, Window]]:
        keys = [("all", self.overall), ("all:spread", self.overall_spread), (f"chat:{chat_id}", self.chat)]
        if group:
            keys.append((f"group:{chat_id}", self.group))
        return keys


class Limiter(Protocol):
    async def acquire(self, chat_id: int | str, *, group: bool) -> float:
        """Wait for a slot to send one message to the chat; returns the seconds waited."""
        ...

    async def close(self) -> None: ...


class LocalLimiter:
    """Sliding windows in this process's memory."""

    def __init__(
        self,
        limits: OutboundLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}

    def try_acquire(self, chat_id: int | str, *, group: bool) -> float:
        """Take the slot now (returns 0) or say how many seconds until one may be free."""
        now = self._clock()
        windows = self.limits.windows(chat_id, group=group)
        wait = 0.0
        for key, window in windows:
            sent = self._sent.get(key)
            if sent is None:
                continue
            # (sent + seconds <= now, not sent <= now - seconds: the same sum as the wait below,
            # so that a wait that ends exactly on the window's edge is granted, not re-rounded.)
            while sent and sent[0] + window.seconds <= now:
                sent.popleft()
            if len(sent) >= window.limit:
                wait = max(wait, sent[len(sent) - window.limit] + window.seconds - now)
        if wait > 0:
            return wait
        for key, window in windows:
            sent = self._sent.setdefault(key, deque())
            sent.append(now)
            while len(sent) > window.limit:
                sent.popleft()
        self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        # Windows of chats that went quiet are dropped, so memory follows the active chats.
        if len(self._sent) > 10_000:
            horizon = max(self.limits.group.seconds, self.limits.chat.seconds, self.limits.overall.seconds)
            for key in [k for k, v in self._sent.items() if not v or v[-1] < now - horizon]:
                del self._sent[key]

    async def acquire(self, chat_id: int | str, *, group: bool) -> float:
        waited = 0.0
        while True:
            wait = self.try_acquire(chat_id, group=group)
            if wait <= 0:
                return waited
            await self._sleep(wait)
            waited += wait

    async def close(self) -> None:
        return None


# KEYS: one sorted set per window; ARGV: limit and window (µs) for each key, then a unique id.
# Scores are the server's clock (TIME) in µs, so processes need no common clock.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
local id = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, id)
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * i]) / 1000) + 1000)
end
return 0
"""


class RedisLimiter:
    """The same sliding windows, shared through Redis by every process of one bot."""

    def __init__(self, redis: Any, limits: OutboundLimits, *, prefix: str, fallback: LocalLimiter) -> None:
        self.redis = redis
        self.limits = limits
        self.prefix = prefix
        self.fallback = fallback
        self._script = redis.register_script(_ACQUIRE_LUA)
        self._warned = False

    async def acquire(self, chat_id: int | str, *, group: bool) -> float:
        windows = self.limits.windows(chat_id, group=group)
        keys = [f"{self.prefix}:{key}" for key, _ in windows]
        waited = 0.0
        while True:
            args: list[Any] = []
            for _, window in windows:
                args += [window.limit, int(window.seconds * 1_000_000)]
            args.append(secrets.token_hex(8))
            try:
                wait_us = int(await self._script(keys=keys, args=args))
            except Exception as exc:  # Redis down or unreachable: keep the limits locally
                if not self._warned:
                    log.warning(
                        "Redis limiter unavailable (%s); using this process's limits", type(exc).__name__
                    )
                    self._warned = True
                return waited + await self.fallback.acquire(chat_id, group=group)
            if self._warned:
                log.info("Redis limiter available again")
                self._warned = False
            if wait_us <= 0:
                return waited
            wait = wait_us / 1_000_000
            await asyncio.sleep(wait)
            waited += wait

    async def close(self) -> None:
        await self.redis.aclose()


def build_limiter(limits: OutboundLimits, *, redis_url: str = "", prefix: str = "sellerbot") -> Limiter:
    local = LocalLimiter(limits)
    if not redis_url:
        return local
    from redis.asyncio import Redis

    return RedisLimiter(Redis.from_url(redis_url), limits, prefix=prefix, fallback=local)
