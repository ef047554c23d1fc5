"""Fixtures of the service tests. The database fixtures (`db`, on SQLite and on PostgreSQL when
SELLERBOT_TEST_POSTGRES_URL is set) and the account helpers live in tests/conftest.py, shared
with the conversation tests; they are re-exported here for the tests that import them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.mail import OutboxMailer
from services.mail_dispatch import MailDispatcher
from services.policy import Policy
from tests.conftest import (
    BACKENDS,
    NO_POSTGRES,
    make_account,
    make_licence,
    postgres_engine,
    run_in_own_loop,
)

__all__ = ["BACKENDS", "NO_POSTGRES", "make_account", "make_licence", "postgres_engine", "run_in_own_loop"]


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxMailer:
    return OutboxMailer(tmp_path / "outbox")


@pytest.fixture
async def mail(outbox: OutboxMailer) -> AsyncIterator[MailDispatcher]:
    dispatcher = MailDispatcher(outbox, public_base_url="https://merchant.example/sellerbot")
    yield dispatcher
    await dispatcher.drain()
