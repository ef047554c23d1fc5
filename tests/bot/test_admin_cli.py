"""The operator CLI (`sellerbot admin …`): the spec's commands and options, JSON output, and bad
input that prints the problem on stderr, exits 2 and writes nothing. Runs through click's
CliRunner, once on PostgreSQL, and once through the installed `sellerbot` console script."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.cli import main
from services.db import create_engine, open_database
from services.models import RequestKind
from services.policy import Policy
from services.quota import request_increase
from services.uscc import uscc_check_character
from tests.conftest import POSTGRES_URL


def licence(n: int) -> str:
    first17 = f"91440300{n:09d}"
    return first17 + uscc_check_character(first17)


LICENCE = licence(1)


class Cli:
    """Runs `sellerbot …` in-process against one data folder (or database URL)."""

    def __init__(self, *location: str) -> None:
        self.location = list(location)
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(main, [*args, *self.location], catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.stderr
        return result

    def bad(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert result.stderr.startswith("error:") or "Error:" in result.stderr
        return result

    def json(self, *args: str):
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(data_dir: Path) -> Cli:
    return Cli("--data-dir", str(data_dir))


def create_account(cli: Cli, email: str = "seller@example.com", lic: str = LICENCE, *extra: str) -> Result:
    return cli.ok(
        "admin",
        "account",
        "create",
        "--email",
        email,
        "--company",
        "Sunrise Co., Ltd.",
        "--license",
        lic,
        *extra,
    )


def test_account_create_and_show(cli: Cli) -> None:
    out = create_account(
        cli,
        "Seller@Example.com",
        LICENCE,
        "--rating",
        "average",
        "--kyc",
        "approved",
        "--payout",
        "bound",
        "--store-limit",
        "3",
    ).stdout
    assert "created account" in out
    shown = cli.json("admin", "account", "show", "seller@example.com")
    assert shown["email"] == "Seller@Example.com"
    assert (shown["store_limit"], shown["listing_limit"]) == (3, 500)
    assert (shown["rating"], shown["kyc"], shown["payout"], shown["state"]) == (
        "average",
        "approved",
        "bound",
        "active",
    )
    assert shown["country"] == "CN" and shown["licence"] == LICENCE
    assert shown["open_requests"] == [] and shown["increase_blockers"] == []
    text_out = cli.ok("admin", "account", "show", "SELLER@example.com").stdout
    assert "Sunrise Co., Ltd." in text_out and "no open requests" in text_out


def test_account_defaults_come_from_policy_and_state_defaults_to_active(cli: Cli) -> None:
    create_account(cli)
    shown = cli.json("admin", "account", "show", "seller@example.com")
    assert (shown["store_limit"], shown["state"], shown["rating"], shown["kyc"], shown["payout"]) == (
        1,
        "active",
        "unknown",
        "not_submitted",
        "unbound",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-address"], "not a valid e-mail address"),
        (["--license", "91440300MA5F00K12"], "18 characters"),
        (["--license", LICENCE[:-1] + ("0" if LICENCE[-1] != "0" else "1")], "check character"),
        (["--country", "US"], "mainland China"),
        (["--company", "X"], "company name"),
        (["--store-limit", "0"], "store limit"),
    ],
)
def test_bad_account_input_exits_2_and_writes_nothing(
    cli: Cli, data_dir: Path, args: list[str], message: str
) -> None:
    base = {"--email": "seller@example.com", "--company": "Sunrise Co., Ltd.", "--license": LICENCE}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = cli.bad("admin", "account", "create", *[x for pair in base.items() for x in pair])
    assert message in result.stderr
    assert result.stdout == ""
    assert not data_dir.exists()  # not even the database file was created


@pytest.mark.parametrize(
    "args",
    [
        [
            "admin",
            "account",
            "create",
            "--email",
            "a@b.cn",
            "--company",
            "Co",
            "--license",
            LICENCE,
            "--kyc",
            "done",
        ],
        [
            "admin",
            "account",
            "create",
            "--email",
            "a@b.cn",
            "--company",
            "Co",
            "--license",
            LICENCE,
            "--store-limit",
            "x",
        ],
        ["admin", "account", "create", "--company", "Co", "--license", LICENCE],
        ["admin", "store", "create", "--account", "a@b.cn", "--title", "T1", "--specialization", "books"],
        ["admin", "store", "create", "--account", "a@b.cn", "--title", "T1", "--banned-days-ago", "-1"],
    ],
)
def test_malformed_options_exit_2(cli: Cli, data_dir: Path, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert not data_dir.exists()


def test_duplicates_are_refused_naming_the_rule(cli: Cli) -> None:
    create_account(cli)
    result = cli.bad(
        "admin",
        "account",
        "create",
        "--email",
        "SELLER@example.com",
        "--company",
        "Other Co.",
        "--license",
        LICENCE.lower(),
    )
    assert "already the login of another account" in result.stderr
    assert "One company may hold only one account" in result.stderr
    assert len(cli.json("admin", "account", "show", "seller@example.com")["email"]) > 0


def test_unknown_account_is_bad_input(cli: Cli, data_dir: Path) -> None:
    for args in (
        ["admin", "account", "show", "nobody@example.com"],
        ["admin", "store", "list", "--account", "nobody@example.com"],
        ["admin", "store", "create", "--account", "nobody@example.com", "--title", "Shop"],
        ["admin", "link", "--account", "nobody@example.com", "--channel", "telegram", "--user", "1"],
    ):
        assert "error:" in cli.bad(*args).stderr
    assert not data_dir.exists()
    create_account(cli)
    assert (
        "no account with the e-mail nobody@example.com"
        in cli.bad("admin", "account", "show", "nobody@example.com").stderr
    )


def test_store_create_and_list(cli: Cli) -> None:
    create_account(cli, "seller@example.com", LICENCE, "--store-limit", "5")
    cli.ok(
        "admin",
        "store",
        "create",
        "--account",
        "seller@example.com",
        "--title",
        "Sunrise Apparel",
        "--specialization",
        "apparel",
        "--rating",
        "average",
        "--listings",
        "120",
    )
    cli.ok(
        "admin",
        "store",
        "create",
        "--account",
        "seller@example.com",
        "--title",
        "Legacy",
        "--specialization",
        "none",
        "--rating",
        "poor",
        "--banned-days-ago",
        "30",
    )
    cli.ok("admin", "store", "create", "--account", "seller@example.com", "--title", "Plain")
    stores = cli.json("admin", "store", "list", "--account", "seller@example.com")
    assert [(s["title"], s["specialization"], s["rating"], s["enabled"]) for s in stores] == [
        ("Sunrise Apparel", "apparel", "average", True),
        ("Legacy", None, "poor", False),
        ("Plain", "other", "unknown", True),
    ]
    assert stores[0]["listings"] == 120 and stores[1]["banned_at"] is not None
    listing = cli.ok("admin", "store", "list", "--account", "seller@example.com").stdout
    assert "Sunrise Apparel" in listing and "banned" in listing
    blockers = {
        b["rule"] for b in cli.json("admin", "account", "show", "seller@example.com")["increase_blockers"]
    }
    assert blockers == {"seller_rating", "recent_ban", "store_ratings", "specialization_missing"}


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("J", "2 to 50 characters"),
        ("JoomShop", "“Joom”"),
        ("www.shop.cn", "web address"),
        ("sunrise", "already have a store"),
    ],
)
def test_bad_store_input_exits_2_and_writes_nothing(cli: Cli, title: str, message: str) -> None:
    create_account(cli, "seller@example.com", LICENCE, "--store-limit", "5")
    cli.ok("admin", "store", "create", "--account", "seller@example.com", "--title", "Sunrise")
    result = cli.bad("admin", "store", "create", "--account", "seller@example.com", "--title", title)
    assert message in result.stderr
    assert len(cli.json("admin", "store", "list", "--account", "seller@example.com")) == 1


def test_link_a_chat_user(cli: Cli) -> None:
    create_account(cli)
    out = cli.ok(
        "admin", "link", "--account", "seller@example.com", "--channel", "telegram", "--user", "777"
    ).stdout
    assert "telegram:777" in out
    shown = cli.json("admin", "account", "show", "seller@example.com")
    assert shown["chat_links"] == [{"channel": "telegram", "user": "777", "verified_by": "operator"}]
    assert (
        "chat"
        in cli.bad(
            "admin", "link", "--account", "seller@example.com", "--channel", "Tele Gram", "--user", "1"
        ).stderr
    )


def test_account_update_and_request_decisions(cli: Cli, data_dir: Path) -> None:
    create_account(
        cli, "seller@example.com", LICENCE, "--state", "pending_verification", "--rating", "average"
    )
    cli.ok("admin", "account", "update", "seller@example.com", "--state", "active", "--kyc", "approved")
    result = cli.bad("admin", "account", "update", "seller@example.com", "--state", "pending_verification")
    assert "cannot go from active" in result.stderr
    assert "nothing to change" in cli.bad("admin", "account", "update", "seller@example.com").stderr
    # open two requests through the service (the chat does this), then decide them here

    async def ask() -> list[int]:
        db = await open_database(f"sqlite+aiosqlite:///{data_dir}/sellerbot.db")
        policy = Policy(auto_approve=False)
        ids = []
        for kind in RequestKind:
            ids.append(
                (
                    await request_increase(
                        sessions=db.sessions, policy=policy, account_id=1, kind=kind, actor="chat:test:1"
                    )
                ).value.id
            )
        await db.close()
        return ids

    quota_id, capacity_id = asyncio.run(ask())
    listed = cli.json("admin", "request", "list", "--account", "seller@example.com")
    assert [r["status"] for r in listed] == ["open", "open"]
    assert len(cli.json("admin", "account", "show", "seller@example.com")["open_requests"]) == 2
    cli.ok("admin", "request", "approve", str(quota_id))
    cli.ok("admin", "request", "reject", str(capacity_id), "--reason", "not now")
    assert "already approved" in cli.bad("admin", "request", "approve", str(quota_id)).stderr
    shown = cli.json("admin", "account", "show", "seller@example.com")
    assert (shown["store_limit"], shown["listing_limit"], shown["open_requests"]) == (11, 500, [])


def test_help_lists_every_admin_command(cli: Cli) -> None:
    out = CliRunner().invoke(main, ["admin", "--help"]).output
    for name in ("account", "store", "link", "request"):
        assert name in out
    for group, command in [
        ("account", "create"),
        ("account", "show"),
        ("store", "create"),
        ("store", "list"),
    ]:
        options = CliRunner().invoke(main, ["admin", group, command, "--help"]).output
        assert "--data-dir" in options and "--db" in options


@pytest.mark.postgres
def test_the_cli_works_on_postgresql() -> None:
    if not POSTGRES_URL:
        pytest.skip("SELLERBOT_TEST_POSTGRES_URL is not set")
    name = f"sellerbot_cli_{secrets.token_hex(4)}"
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        cli = Cli("--db", url)
        create_account(cli, "seller@example.com", LICENCE, "--store-limit", "2")
        cli.ok("admin", "store", "create", "--account", "seller@example.com", "--title", "Sunrise")
        assert (
            "already have a store"
            in cli.bad(
                "admin", "store", "create", "--account", "seller@example.com", "--title", "SUNRISE"
            ).stderr
        )
        assert [
            s["title"] for s in cli.json("admin", "store", "list", "--account", "seller@example.com")
        ] == ["Sunrise"]
        cli.ok("admin", "link", "--account", "seller@example.com", "--channel", "qq", "--user", "10001")
    finally:
        asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.mark.slow  # `sellerbot` processes
def test_the_installed_console_script(tmp_path: Path) -> None:
    """Once through a real process: the `sellerbot` entry point, exit codes, stdout and stderr."""
    script = shutil.which("sellerbot", path=str(Path(sys.executable).parent))
    assert script, "the sellerbot console script is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERBOT_")}
    data = tmp_path / "proc"

    def sellerbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *args, "--data-dir", str(data)], capture_output=True, text=True, env=env, timeout=120
        )

    created = sellerbot(
        "admin",
        "account",
        "create",
        "--email",
        "proc@example.com",
        "--company",
        "Proc Co.",
        "--license",
        LICENCE,
    )
    assert created.returncode == 0, created.stderr
    assert (data / "sellerbot.db").exists()
    refused = sellerbot(
        "admin",
        "account",
        "create",
        "--email",
        "proc@example.com",
        "--company",
        "Proc Co.",
        "--license",
        "123",
    )
    assert refused.returncode == 2 and refused.stdout == "" and "18 characters" in refused.stderr
    shown = sellerbot("admin", "account", "show", "proc@example.com", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["email"] == "proc@example.com"
