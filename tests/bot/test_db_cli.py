"""`sellerbot db upgrade` / `db current` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.cli import main
from services.db import create_engine, head_revision
from tests.conftest import POSTGRES_URL


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_upgrade_creates_and_migrates_the_embedded_database(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    before = invoke("db", "current", "--data-dir", str(data))
    assert before.exit_code == 2 and "no database yet" in before.stderr
    assert not data.exists()
    result = invoke("db", "upgrade", "--data-dir", str(data))
    assert result.exit_code == 0, result.stderr
    assert f"revision {head_revision()}" in result.stdout
    assert (data / "sellerbot.db").exists()
    current = invoke("db", "current", "--data-dir", str(data))
    assert current.exit_code == 0 and "up to date" in current.stdout
    # running it again changes nothing
    assert invoke("db", "upgrade", "--data-dir", str(data)).exit_code == 0


def test_the_database_url_option_wins_and_hides_passwords(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"
    assert invoke("db", "upgrade", "--db", url, "--data-dir", str(tmp_path / "unused")).exit_code == 0
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "unused" / "sellerbot.db").exists()
    bad = invoke("db", "upgrade", "--db", "postgresql+asyncpg://user:s3cret@127.0.0.1:1/none")
    assert bad.exit_code == 2 and "cannot upgrade" in bad.stderr and "s3cret" not in bad.stderr


@pytest.mark.postgres
def test_upgrade_on_postgresql() -> None:
    if not POSTGRES_URL:
        pytest.skip("SELLERBOT_TEST_POSTGRES_URL is not set")
    name = f"sellerbot_dbcli_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        assert "needs `sellerbot db upgrade`" in invoke("db", "current", "--db", url).stdout
        assert invoke("db", "upgrade", "--db", url).exit_code == 0
        assert "up to date" in invoke("db", "current", "--db", url).stdout
    finally:
        asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))


def test_purge_deletes_expired_rows_and_says_how_many(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = invoke("db", "purge", "--data-dir", str(data))
    assert missing.exit_code == 2 and "no database yet" in missing.stderr and not data.exists()
    assert invoke("db", "upgrade", "--data-dir", str(data)).exit_code == 0

    async def old_token() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{data / 'sellerbot.db'}")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO reset_tokens (email_key, token_hash, created_at, expires_at)"
                    " VALUES ('a@b.c', :h, '2020-01-01 00:00:00.000000', '2020-01-01 00:30:00.000000')"
                ),
                {"h": "f" * 64},
            )
        await engine.dispose()

    asyncio.run(old_token())
    result = invoke("db", "purge", "--data-dir", str(data), "--keep-days", "7")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("deleted 1 expired row(s), keeping the last 7 day(s): 1 reset tokens")
    again = invoke("db", "purge", "--data-dir", str(data))
    assert again.exit_code == 0 and again.stdout.startswith(
        "deleted 0 expired row(s), keeping the last 30 day(s)"
    )
    bad = CliRunner().invoke(main, ["db", "purge", "--data-dir", str(data), "--keep-days", "0"])
    assert bad.exit_code == 2 and "--keep-days" in bad.output
