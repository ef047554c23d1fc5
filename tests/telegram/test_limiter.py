"""The outbound limiter: every window holds for every request sequence (checked on a clock the
test controls, so no timing is measured), the Redis limiter shares one budget between processes,
and a Redis that is down does not stop messages."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runtime.limiter import LocalLimiter, OutboundLimits, RedisLimiter, Window

TELEGRAM = OutboundLimits.from_rates(per_second=30, group_per_minute=20, chat_per_second=1.0, chat_burst=3)


class Clock:
    """A clock that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] + seconds <= at + 1e-9:  # (a nanosecond for float rounding)
            start += 1
        best = max(best, end - start + 1)
    return best


async def send_all(limits: OutboundLimits, requests: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Requests (chat id, arrival delay) one after another; returns (chat, send time)."""
    clock = Clock()
    limiter = LocalLimiter(limits, clock=clock, sleep=clock.sleep)
    sent = []
    for chat, delay in requests:
        clock.now += delay
        await limiter.acquire(chat, group=chat < 0)
        sent.append((chat, clock.now))
    return sent


def check_windows(limits: OutboundLimits, sent: list[tuple[int, float]]) -> None:
    times = [at for _, at in sent]
    assert max_in_window(times, limits.overall.seconds) <= limits.overall.limit
    assert max_in_window(times, limits.overall_spread.seconds) <= limits.overall_spread.limit
    for chat in {c for c, _ in sent}:
        mine = [at for c, at in sent if c == chat]
        assert max_in_window(mine, limits.chat.seconds) <= limits.chat.limit
        if chat < 0:
            assert max_in_window(mine, limits.group.seconds) <= limits.group.limit


async def test_a_burst_to_many_chats_goes_at_30_a_second_spread_over_each_second() -> None:
    sent = await send_all(TELEGRAM, [(chat, 0.0) for chat in range(1, 91)])
    check_windows(TELEGRAM, sent)
    times = [round(at - sent[0][1], 6) for _, at in sent]
    assert times[:7] == [0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.2]  # three every tenth of a second
    assert max_in_window([at for _, at in sent], 1.0) == 30  # the full budget is used …
    assert times[-1] == 2.9  # … and no more slowly than that


async def test_a_burst_to_one_group_is_smoothed_and_capped_at_20_a_minute() -> None:
    sent = await send_all(TELEGRAM, [(-100, 0.0)] * 25)
    check_windows(TELEGRAM, sent)
    times = [at - sent[0][1] for _, at in sent]
    assert times[:4] == [0.0, 0.0, 0.0, 3.0]  # a burst of 3, then one a second on average
    assert times[20] == 60.0  # the 21st waits for the minute


async def test_a_private_chat_is_smoothed_but_not_capped_per_minute() -> None:
    sent = await send_all(TELEGRAM, [(42, 0.0)] * 30)
    check_windows(TELEGRAM, sent)
    assert sent[-1][1] - sent[0][1] == 27.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1, 2, 3, -10, -20]), st.floats(min_value=0, max_value=2.0)),
        min_size=1,
        max_size=80,
    ),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=1, max_value=4),
)
def test_every_window_holds_for_any_sequence(
    requests: list[tuple[int, float]], overall: int, burst: int
) -> None:
    limits = OutboundLimits(
        overall=Window(overall, 1.0),
        overall_spread=Window(2, 0.25),
        group=Window(4, 10.0),
        chat=Window(burst, 2.0),
    )
    sent = asyncio.run(send_all(limits, requests))
    check_windows(limits, sent)


@pytest.mark.slow  # paces sends in real time
async def test_processes_share_one_budget_through_redis(redis_url: str) -> None:
    from redis.asyncio import Redis

    prefix = f"sellerbot-test:{secrets.token_hex(4)}"
    limits = OutboundLimits(
        overall=Window(4, 0.3), overall_spread=Window(4, 0.3), group=Window(20, 60.0), chat=Window(100, 1.0)
    )
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    first, second = (RedisLimiter(c, limits, prefix=prefix, fallback=LocalLimiter(limits)) for c in clients)
    try:
        await asyncio.gather(
            *(limiter.acquire(chat, group=False) for chat in range(12) for limiter in (first, second))
        )
        # The slots granted, in the server's own clock: never more than 4 in 0.3 s across both.
        granted = [
            score / 1e6 for _, score in await clients[0].zrange(f"{prefix}:all", 0, -1, withscores=True)
        ]
        assert len(granted) >= 4
        assert max_in_window(granted, 0.3) <= 4
    finally:
        await first.close()
        await second.close()


async def test_a_redis_that_is_down_falls_back_to_local_limits() -> None:
    from redis.asyncio import Redis

    clock = Clock()
    limits = OutboundLimits(
        overall=Window(2, 1.0), overall_spread=Window(2, 1.0), group=Window(20, 60.0), chat=Window(100, 1.0)
    )
    local = LocalLimiter(limits, clock=clock, sleep=clock.sleep)
    limiter = RedisLimiter(Redis.from_url("redis://127.0.0.1:1/0"), limits, prefix="x", fallback=local)
    try:
        waited = [await limiter.acquire(chat, group=False) for chat in range(5)]
    finally:
        await limiter.close()
    assert waited == [0.0, 0.0, 1.0, 0.0, 1.0]
