"""Running a channel as a service: start it, serve until SIGTERM or Ctrl-C, then stop it in order
(no new updates; those being handled finish, up to the channel's grace period). A part of the
runtime that fails stops the service with its error."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)


class Running(Protocol):
    async def wait(self) -> None:
        """Until a part of the runtime fails (its error is raised); never returns otherwise."""
        ...

    async def stop(self) -> None: ...


R = TypeVar("R", bound=Running)


async def until_a_part_ends(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """`Running.wait` for a runtime whose parts are `tasks`: until one ends; its error is raised."""
    if not tasks:
        return
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def settle_long_lived_objects() -> None:
    """Once a service has started: what it built to serve (the trained matcher, the knowledge
    base, compiled statements and templates, imported modules: some hundred thousand objects) is
    kept until the process ends, so the cyclic garbage collector stops looking through it. A full
    collection otherwise walks all of it again and stops the event loop for about 0.2 s (measured
    under load). (Those objects are still freed when nothing refers to them.)"""
    gc.collect()
    gc.freeze()


async def serve_until_signalled(start: Callable[[], Awaitable[R]], *, describe: Callable[[R], str]) -> None:
    """Start the runtime, say what it serves (`describe`), and serve until a signal."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runtime = await start()
    settle_long_lived_objects()
    log.info("serving %s", describe(runtime))
    waiting = asyncio.create_task(runtime.wait())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("stopping: letting the messages being handled finish")
    finally:
        waiting.cancel()
        stopping.cancel()
        await runtime.stop()
    if waiting.done() and not waiting.cancelled() and waiting.exception() is not None:
        raise waiting.exception()  # type: ignore[misc]
