"""Shared fixtures. Database fixtures run every test on SQLite, and on PostgreSQL too when
SELLERBOT_TEST_POSTGRES_URL is set (`.ci/run` sets it); elsewhere those runs skip, saying why.

Speed: the schema is built once per test session with the real migrations — into a template
SQLite file that each test copies, and into a private PostgreSQL schema (a random name, so
concurrent test runs on one server do not meet) that is emptied before each test.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from faq.knowledge import KnowledgeBase, load_knowledge_base
from faq.matcher import Matcher, training_key
from faq.settings import MatcherSettings
from services.db import Database, create_engine, session_factory, upgrade_schema
from services.models import AccountState, Base, KycStatus, PayoutStatus, Rating
from services.policy import Policy
from services.uscc import uscc_check_character

POSTGRES_URL = os.environ.get("SELLERBOT_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("SELLERBOT_TEST_REDIS_URL", "")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's own configuration or data folder."""
    for name in list(os.environ):
        if name.startswith("SELLERBOT_") and not name.startswith("SELLERBOT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SELLERBOT_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Agents' passwords hashed at argon2's lowest cost. At the library's production cost a hash
    or a check takes a tenth of a second or more of CPU, and the desk's tests make hundreds; the
    code paths and the hash format stay the same (`sellerbot` processes started by tests keep the
    production cost)."""
    from argon2 import PasswordHasher

    from services import agents

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(agents, "_hasher", cheap)
        patch.setattr(agents, "_DUMMY_HASH", cheap.hash("not anyone's password"))
        yield


NO_POSTGRES = "SELLERBOT_TEST_POSTGRES_URL is not set: the PostgreSQL runs of the database tests are skipped"


def run_in_own_loop(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion on a fresh event loop in a worker thread: session fixtures
    may be first requested from inside a running test loop, where asyncio.run is not allowed."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(make())).result()


def postgres_engine(schema: str, **kwargs: Any):
    return create_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}, **kwargs)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade_schema(engine)
        await engine.dispose()

    run_in_own_loop(build)
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    schema = f"sellerbot_test_{secrets.token_hex(4)}"

    async def run(statement: str | None, migrate: bool = False) -> None:
        engine = create_engine(POSTGRES_URL)
        async with engine.begin() as conn:
            await conn.execute(text(statement or "SELECT 1"))
        await engine.dispose()
        if migrate:
            engine = postgres_engine(schema)
            await upgrade_schema(engine)
            await engine.dispose()

    run_in_own_loop(lambda: run(f"CREATE SCHEMA {schema}", migrate=True))
    yield schema
    run_in_own_loop(lambda: run(f"DROP SCHEMA {schema} CASCADE"))


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "sellerbot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        # Enough connections for the concurrency tests to really run side by side.
        engine = create_engine(f"sqlite+aiosqlite:///{path}", pool_size=25, max_overflow=5)
    else:
        schema = request.getfixturevalue("postgres_schema")
        engine = postgres_engine(schema, pool_size=25, max_overflow=5)
        # DELETE rather than TRUNCATE: on a handful of rows it is ten times faster.
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    database = Database(engine=engine, sessions=session_factory(engine))
    try:
        yield database
    finally:
        await database.close()


_serial = itertools.count(1)


def make_licence(n: int | None = None) -> str:
    """A valid Unified Social Credit Code, different for each n. Without n, never one holding
    "49": the template-injection probes ("{{7*7}}") look for that number in what the bot says,
    and a summary repeats the seller's licence."""
    while True:
        number = next(_serial) if n is None else n
        first17 = f"91440300{number:09d}"
        licence = first17 + uscc_check_character(first17)
        if n is not None or "49" not in licence:
            return licence


async def make_account(
    db: Database,
    policy: Policy,
    *,
    email: str | None = None,
    state: AccountState = AccountState.ACTIVE,
    kyc: KycStatus = KycStatus.APPROVED,
    payout: PayoutStatus = PayoutStatus.BOUND,
    rating: Rating = Rating.AVERAGE,
    store_limit: int | None = None,
    listing_limit: int | None = None,
    company: str = "Shenzhen Example Trading Co., Ltd.",
    licence: str | None = None,
):
    """An account that passes every check unless told otherwise; returns its AccountView."""
    from services.accounts import create_account

    n = next(_serial)
    result = await create_account(
        sessions=db.sessions,
        policy=policy,
        email=email or f"seller{n}@example.com",
        company=company,
        licence=licence or make_licence(n),
        state=state,
        kyc=kyc,
        payout=payout,
        rating=rating,
        store_limit=store_limit,
        listing_limit=listing_limit,
        actor="test",
    )
    assert result.ok, result
    return result.value


# -- the trained matcher: once per test session, for every package's tests ----------------------
@pytest.fixture(scope="session")
def knowledge() -> KnowledgeBase:
    """The bundled knowledge base."""
    return load_knowledge_base()


@pytest.fixture(scope="session")
def matcher_cache(tmp_path_factory: pytest.TempPathFactory, knowledge: KnowledgeBase) -> Path:
    """A cache folder holding the session's one trained matcher, as `bot.app.build_app` leaves it
    under <data dir>/cache and with the key it looks for (the bundled base, default settings): an
    app built on a data folder that links here (`prepare_data_dir`) loads it instead of training."""
    folder = tmp_path_factory.mktemp("matcher-cache")
    # Trained once per machine, not once per run: the model is kept between runs in the system's
    # temporary folder under its training key (the examples, the settings and the matcher's own
    # code), so a later run loads it only when nothing that shapes it has changed.
    kept_between_runs = Path(tempfile.gettempdir()) / f"sellerbot-tests-{os.getuid()}" / "matcher"
    settings = MatcherSettings()
    Matcher.from_knowledge_base(knowledge, settings, cache_dir=kept_between_runs)
    name = f"matcher-{training_key(knowledge.labelled_examples(), settings)}.npz"
    try:
        shutil.copyfile(kept_between_runs / name, folder / name)
    except OSError:  # pruned meanwhile by another process, or not writable there: train here
        Matcher.from_knowledge_base(knowledge, settings, cache_dir=folder)
    assert len(list(folder.glob("matcher-*.npz"))) == 1, "the trained matcher was not saved"
    return folder


@pytest.fixture(scope="session")
def matcher(knowledge: KnowledgeBase, matcher_cache: Path) -> Matcher:
    """The session's trained matcher, loaded from `matcher_cache`: the very model that the apps
    started by tests load, so that in-process and channel tests see the same decisions."""
    return Matcher.from_knowledge_base(knowledge, MatcherSettings(), cache_dir=matcher_cache)


# -- a running bot's data folder (the channels' tests) ------------------------------------------
def prepare_data_dir(data_dir: Path, matcher_cache: Path, sqlite_template: Path | None = None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "cache").exists():
        (data_dir / "cache").symlink_to(matcher_cache, target_is_directory=True)
    if sqlite_template is not None and not (data_dir / "sellerbot.db").exists():
        shutil.copyfile(sqlite_template, data_dir / "sellerbot.db")


def channel_data_dir(tmp_path: Path, matcher_cache: Path, sqlite_template: Path) -> Path:
    """A running channel's data folder: the shared matcher and a fresh copy of the migrated
    database (the `data_dir` fixture of the channels' tests)."""
    folder = tmp_path / "data"
    prepare_data_dir(folder, matcher_cache, sqlite_template)
    return folder


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its sellerbot settings (the tests' own kept), plus
    `settings`: for a `sellerbot` process a test starts."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SELLERBOT_") or k.startswith("SELLERBOT_TEST_")
    }
    env.update(settings)
    return env


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (migrated by the bot at start-up); yields its URL."""
    from sqlalchemy.engine import make_url

    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    name = f"sellerbot_run_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis, with this test's keys under a prefix of their own (see redis_prefix)."""
    if not REDIS_URL:
        pytest.skip("SELLERBOT_TEST_REDIS_URL is not set: the Redis tests are skipped")
    yield REDIS_URL


# -- the fast local loop ------------------------------------------------------------------------
# Fixtures that start a whole channel runtime (a bot on a fake Telegram or QQ server, a desk, a
# host bot). A test that uses one runs a bot end to end, which takes about a second: it is `slow`,
# left out of the fast loop (`pytest -m "not slow"`) and run by CI with everything else.
RUNTIME_FIXTURES = frozenset(
    {"runtime", "desk_runtime", "official_runtime", "onebot_runtime", "qq", "served"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if RUNTIME_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
