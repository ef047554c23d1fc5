"""A command that needs an extra that is not installed says which one and how to install it,
and exits 2 without a traceback (checked in a process where the extra's module cannot be
imported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_without(
    modules: list[str], args: list[str], tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    # A module set to None in sys.modules cannot be imported: as if its package were not installed.
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)
    code = f"import sys; {blocked}; from bot.cli import main; main({args!r})"
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SELLERBOT_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow  # a `sellerbot` process each
@pytest.mark.parametrize(
    ("modules", "args", "env", "expected"),
    [
        (
            ["aiogram"],
            ["run", "telegram"],
            {},
            "sellerbot run telegram needs the telegram extra (aiogram is not installed): "
            "pip install 'sellerbot[telegram]'",
        ),
        (
            ["cryptography"],
            ["run", "qq"],
            {},
            "sellerbot run qq needs the qq extra (cryptography is not installed): "
            "pip install 'sellerbot[qq]'",
        ),
        (
            ["asyncpg"],
            ["db", "current"],
            {"SELLERBOT_DATABASE__URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"},
            "a PostgreSQL database needs the postgres extra (asyncpg is not installed): "
            "pip install 'sellerbot[postgres]'",
        ),
        (
            ["redis"],
            ["run", "qq", "--protocol", "onebot"],
            {"SELLERBOT_REDIS__URL": "redis://127.0.0.1:1/0"},
            "[redis] url needs the redis extra (redis is not installed): pip install 'sellerbot[redis]'",
        ),
    ],
)
def test_a_missing_extra_is_named_with_its_install_command(
    tmp_path: Path, modules: list[str], args: list[str], env: dict[str, str], expected: str
) -> None:
    result = run_without(modules, args, tmp_path, **env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: {expected}"
    assert "Traceback" not in result.stderr + result.stdout
