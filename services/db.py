"""Opening the database, migrating it, and running a write transaction safely on either backend.

`open_database` is what the composition root (the bot, the CLI) calls. `write_transaction` is how
every service that changes something runs its work: SQLite serialises writers with
`BEGIN IMMEDIATE` (taken on every transaction of our engines), PostgreSQL with a row lock on the
account the action concerns (`lock_account`), and both retry the whole unit of work when the
database reports a lock timeout, a serialization failure, a deadlock or a unique-key race.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, MultipleResultsFound, NoResultFound, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import greenlet_spawn

from services.models import Account

log = logging.getLogger(__name__)

R = TypeVar("R")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a SQLite connection waits for another writer before reporting "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000
# PostgreSQL SQLSTATEs after which the same transaction may simply be run again.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
WRITE_ATTEMPTS = 8

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Database:
    """An open database: the engine and the session factory services take as `sessions`."""

    engine: AsyncEngine
    sessions: Sessions

    async def close(self) -> None:
        await self.engine.dispose()


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    if u.database.startswith("file:"):
        return None
    return Path(u.database)


def create_engine(url: str | URL, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine configured for this project's transaction rules.

    SQLite: WAL (readers never wait for the writer), foreign keys on, a busy timeout, and every
    transaction started with BEGIN IMMEDIATE. Python's sqlite3 driver otherwise starts a
    transaction only at the first write, so two "read then write" transactions could both read
    the same free store slot; IMMEDIATE takes the write lock up front, making each transaction
    serialisable, and the busy timeout makes the others wait their turn.
    """
    inline = False
    if make_url(url).get_backend_name() != "sqlite":
        # A pooled connection may have died with a database restart: test it on checkout, so the
        # first request after an outage reconnects instead of failing.
        kwargs.setdefault("pool_pre_ping", True)
    elif (path := sqlite_file(url)) is not None and "pool_size" not in kwargs:
        # The embedded database: one connection, whose calls run on the event loop's thread
        # (see InlineSQLite); transactions take their turn for it in the pool. (A caller that
        # asks for a pool of several connections gets aiosqlite's threads: the loop must not wait
        # on a lock another of its own connections holds.)
        kwargs.update(async_creator=lambda: _inline_sqlite(path), pool_size=1, max_overflow=0)
        inline = True
        # Not rolled back again when it goes back to the pool: SQLAlchemy's connection has ended
        # its transaction by then (committed, or rolled back on close), and reads run outside one.
        kwargs.setdefault("pool_reset_on_return", None)
        kwargs.setdefault("pool_timeout", 60)
    engine = create_async_engine(url, echo=echo, **kwargs)
    if inline:
        _INLINE_ENGINES.add(engine.sync_engine)
    if engine.dialect.name == "sqlite":
        in_memory = sqlite_file(url) is None

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            # Take over BEGIN from the driver (see SQLAlchemy's "sqlite_transactions" notes).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                # Safe with WAL: a power cut may lose the last commits, never corrupt the file.
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Reads (see `reading`) run in SQLite's autocommit mode: each statement sees the latest
            # commit, and none waits for the write lock.
            if not conn.get_execution_options().get(READ_ONLY, False):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


READ_ONLY = "sellerbot_read_only"
# The engines whose connection is an InlineSQLite.
_INLINE_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@asynccontextmanager
async def reading(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A session that only reads: on SQLite its statements run without BEGIN IMMEDIATE, each in
    SQLite's autocommit mode — none takes or waits for the write lock, and each sees the latest
    commit (several statements are not one snapshot). Writing in it is a bug."""
    async with sessions() as session:
        await session.connection(execution_options={READ_ONLY: True})
        yield session


class InlineSQLite(aiosqlite.Connection):
    """aiosqlite's connection, with each call made at once on the event loop's thread instead of
    handed to the connection's own thread and waited for. A statement on a local SQLite file
    takes microseconds; the hand-over took more than the statement, a dozen times a turn. The
    engine keeps one such connection: transactions in this process wait their turn for it in the
    pool, never on SQLite's lock, so the loop never stops for a lock this process holds. (Another
    process writing the same file may make a call wait up to the busy timeout; the embedded
    database serves one process — PostgreSQL is for several.)"""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    @property
    def sqlite_connection(self) -> sqlite3.Connection:
        """The sqlite3 connection itself (see `HotStatement`)."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return self._connection


class HotStatement:
    """A prebuilt Core statement of a hot path (every turn, every update), run by SQLAlchemy — or,
    on the embedded database, straight on its sqlite3 connection: compiled once, its parameters
    and results converted by the same type processors SQLAlchemy would use. SQLAlchemy's
    execution context costs about 40 µs a statement, more than SQLite takes to run one, and a turn
    runs seven. Inside the same transaction as the caller's other statements; a failure is raised
    as SQLAlchemy's exception for it, as `Connection.execute` would.

    Only statements that need nothing of SQLAlchemy at execution are run directly (no defaults
    computed in Python, no IN lists written in at execution); others always go through
    SQLAlchemy. `column_keys`: for an INSERT given its values at execution, the columns they
    name."""

    def __init__(self, statement: Any, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: _PlainSQL | None = None
        self._plain_ok = True

    def run(self, connection: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Any:
        """Execute with one set of parameters, or several (executemany; no RETURNING then).
        Returns SQLAlchemy's result, or on the embedded database a `PlainResult`: both give
        `rowcount`, `first()`, `scalar()`, `scalar_one()` and iterate over rows."""
        driver = connection.connection.driver_connection
        if not self._plain_ok or type(driver) is not InlineSQLite:
            return connection.execute(self.statement, params)
        plain = self._compiled
        if plain is None:
            plain = _PlainSQL.compile(self.statement, connection.dialect, self.column_keys)
            if plain is None:
                self._plain_ok = False
                return connection.execute(self.statement, params)
            self._compiled = plain
        return plain.run(driver.sqlite_connection, params)


@dataclass(frozen=True)
class PlainResult:
    """What a `HotStatement` run directly on SQLite returns (the part of SQLAlchemy's result the
    hot paths use)."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise NoResultFound("expected one row") if not self.rows else MultipleResultsFound("more rows")
        return self.rows[0][0]


@dataclass(frozen=True)
class _PlainSQL:
    sql: str
    # Per positional parameter: its key and name (the caller's parameters give it by either, as
    # in SQLAlchemy), its value when they do not (a value written in the statement), and its
    # type's processor.
    binds: tuple[tuple[str, str, Any, Callable[[Any], Any] | None], ...]
    results: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def compile(cls, statement: Any, dialect: Any, column_keys: list[str] | None) -> _PlainSQL | None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if (
            compiled.positiontup is None
            or compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.literal_execute_params
            or compiled.post_compile_params
        ):
            return None
        binds = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            binds.append((bind.key, name, None if bind.required else bind.effective_value, process))
        columns = getattr(statement, "exported_columns", ())
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        return cls(compiled.string, tuple(binds), results)

    def _values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for key, name, default, process in self.binds:
            value = params[key] if key in params else params.get(name, default)
            # (Applied to None too, as SQLAlchemy does: a JSON column stores None as 'null'.)
            values.append(value if process is None else process(value))
        return tuple(values)

    def run(
        self, sqlite: sqlite3.Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> PlainResult:
        many = not isinstance(params, Mapping)
        try:
            if many and len(params) == 1:  # type: ignore[arg-type]
                params, many = params[0], False  # type: ignore[index]
            if many:
                cursor = sqlite.executemany(self.sql, [self._values(p) for p in params])  # type: ignore[union-attr]
                return PlainResult([], cursor.rowcount)
            cursor = sqlite.execute(self.sql, self._values(params))  # type: ignore[arg-type]
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, None, exc, sqlite3.Error) from exc
        if rows and any(self.results):
            rows = [
                tuple(value if p is None else p(value) for value, p in zip(row, self.results, strict=False))
                for row in rows
            ]
        return PlainResult(rows, cursor.rowcount)


async def _inline_sqlite(path: Path) -> InlineSQLite:
    connection = InlineSQLite(
        lambda: sqlite3.connect(str(path), check_same_thread=False, isolation_level=None), iter_chunk_size=64
    )
    return await connection


@asynccontextmanager
async def reading_connection(sessions: Sessions) -> AsyncIterator[AsyncConnection]:
    """Like `reading`, a bare connection for Core statements (no ORM session around it: the
    conversation core's hot path)."""
    async with _connection(sessions.kw["bind"]) as connection:
        yield await connection.execution_options(**{READ_ONLY: True})


@asynccontextmanager
async def writing_connection(sessions: Sessions) -> AsyncIterator[AsyncConnection]:
    """A bare connection in a write transaction, committed at the end (Core statements only)."""
    async with _connection(sessions.kw["bind"]) as connection, connection.begin():
        yield connection


async def run_reading(sessions: Sessions, work: Callable[[Connection], R]) -> R:
    """Run `work`, synchronous Core statements on a plain connection, as a read (see `reading`).
    The whole of it is one hand-over to SQLAlchemy's synchronous layer instead of one a statement
    (the hot paths: a turn's load and save, the runtime's next update)."""
    engine: AsyncEngine = sessions.kw["bind"]
    if engine.sync_engine in _INLINE_ENGINES:
        return await greenlet_spawn(_inline, engine.sync_engine, _read, work)
    async with reading_connection(sessions) as connection:
        return await connection.run_sync(work)


async def run_writing(sessions: Sessions, work: Callable[[Connection], R]) -> R:
    """Run `work`, synchronous Core statements on a plain connection, in one write transaction
    committed at the end (rolled back if it raises); one hand-over, as in `run_reading`."""
    engine: AsyncEngine = sessions.kw["bind"]
    if engine.sync_engine in _INLINE_ENGINES:
        return await greenlet_spawn(_inline, engine.sync_engine, _in_transaction, work)
    async with _connection(engine) as connection:
        return await connection.run_sync(_in_transaction, work)


def _in_transaction(connection: Connection, work: Callable[[Connection], R]) -> R:
    with connection.begin():
        return work(connection)


def _read(connection: Connection, work: Callable[[Connection], R]) -> R:
    return work(connection.execution_options(**{READ_ONLY: True}))


def _inline(
    engine: Engine,
    run: Callable[[Connection, Callable[[Connection], R]], R],
    work: Callable[[Connection], R],
) -> R:
    # The embedded database: taking the connection from the pool, the work and giving it back,
    # all in one hand-over to the synchronous layer (what AsyncConnection does in three). Only
    # taking the connection may wait; once it is taken nothing suspends (see InlineSQLite), so a
    # cancellation cannot cut the work or the giving back short.
    with engine.connect() as connection:
        return run(connection, work)


@asynccontextmanager
async def _connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection from the engine's pool, given back at the end. SQLAlchemy's `async with`
    gives it back in a task of its own, shielded from cancellation (a close cut short could hand
    a connection to a disposed pool), which costs two turns of the event loop; the embedded
    database's calls never wait (see InlineSQLite), so there a close cannot be cut short and is
    made directly."""
    connection = engine.connect()
    if engine.sync_engine not in _INLINE_ENGINES:
        async with connection:
            yield connection
        return
    await connection.start()
    try:
        yield connection
    finally:
        await connection.close()


def session_factory(engine: AsyncEngine) -> Sessions:
    # expire_on_commit=False: results built from rows stay readable after the commit.
    return async_sessionmaker(engine, expire_on_commit=False)


async def open_database(url: str, *, auto_migrate: bool = True, echo: bool = False) -> Database:
    """Open the database at `url`, creating the SQLite file's folder, and bring the schema up to
    date. The embedded default (SQLite) always migrates itself; PostgreSQL does when
    `auto_migrate` is true (otherwise run `sellerbot db upgrade`)."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo)
    try:
        if auto_migrate or engine.dialect.name == "sqlite":
            await upgrade_schema(engine)
    except BaseException:
        await engine.dispose()
        raise
    return Database(engine=engine, sessions=session_factory(engine))


def alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Keep the application's logging configuration: env.py does not call fileConfig.
    cfg.attributes["configure_logger"] = False
    return cfg


async def upgrade_schema(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to `revision` through `engine`."""
    from alembic import command

    def run(sync_conn: Any) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The migration revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def is_retryable(exc: BaseException) -> bool:
    """True for failures that mean "another transaction got in the way; run it again"."""
    if isinstance(exc, IntegrityError):
        # A unique-key race: a concurrent transaction inserted the same key first. Run again and
        # the checks see its row and refuse properly (or replay an idempotent result). Other
        # integrity errors (a foreign key, a CHECK) are bugs and are raised at once.
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return state == "23505" or "UNIQUE constraint failed" in str(exc.orig)
    if isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower():
        return True  # SQLite: "database is locked" after the busy timeout
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return state in _RETRYABLE_SQLSTATES
    return False


# SQLSTATE classes and codes that mean "the server cannot be used right now": connection
# exceptions (08…), and the server shutting down, crashing or starting up (57P01–57P03).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_SQLITE_UNAVAILABLE = ("unable to open database file", "disk i/o error")


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return seen


def _raised_by_driver(exc: BaseException) -> bool:
    """True if the exception came up through SQLAlchemy or a database driver (an OSError from
    writing the mail outbox, say, is not the database being down)."""
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("sqlalchemy", "asyncpg", "aiosqlite")):
            return True
        tb = tb.tb_next
    return False


def is_unavailable(exc: BaseException) -> bool:
    """True when a failure means the database cannot be reached (down, restarting, unreachable
    network, missing file), as opposed to a bug or a conflict: callers tell the user to come back
    later instead of apologising for an internal error."""
    for cause in _causes(exc):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, OSError) and _raised_by_driver(cause):
            return True  # connection refused or reset, no route, DNS failure — on the way to the database
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if type(cause).__name__ in {"ConnectionDoesNotExistError", "CannotConnectNowError"}:
            return True  # asyncpg: the connection was closed under us / the server is starting
        if isinstance(cause, OperationalError) and any(
            marker in str(cause.orig).lower() for marker in _SQLITE_UNAVAILABLE
        ):
            return True
    return False


async def write_transaction(
    sessions: Sessions, work: Callable[[AsyncSession], Awaitable[R]], *, attempts: int = WRITE_ATTEMPTS
) -> R:
    """Run `work(session)` in one transaction and commit it, running it again from the start when
    the database reports a retryable conflict. `work` must not have effects outside the
    database (send mail after this returns), because it may run more than once."""
    for attempt in range(1, attempts + 1):
        try:
            async with sessions() as session, session.begin():
                return await work(session)
        except (DBAPIError, IntegrityError) as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            log.debug("retrying a write transaction after %s (attempt %d)", type(exc).__name__, attempt)
            # A short random pause so that the transactions that collided do not collide again.
            await asyncio.sleep(random.uniform(0.005, 0.03) * attempt)
    raise AssertionError("unreachable")


async def lock_account(session: AsyncSession, account_id: int) -> Account | None:
    """Load the account, locking its row until the transaction ends (PostgreSQL
    `SELECT … FOR UPDATE`). Every action that checks a limit and then writes takes this lock
    first, so two actions on one account run one after the other. On SQLite the BEGIN IMMEDIATE
    of the transaction already serialises writers and FOR UPDATE is not emitted."""
    stmt = select(Account).where(Account.id == account_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_key(session: AsyncSession, key: str) -> None:
    """Serialise transactions about one thing that has no row to lock yet (an e-mail address, a
    chat user): a PostgreSQL transaction-scoped advisory lock on the key's hash. SQLite needs
    none (BEGIN IMMEDIATE)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
