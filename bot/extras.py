"""Optional parts of sellerbot (pip extras), and a clear word when one a command needs is missing:
which extra, and the command that installs it — never an import error's traceback."""

from __future__ import annotations

import importlib

# The modules each extra brings (what `pyproject.toml` lists under [project.optional-dependencies]).
EXTRAS: dict[str, tuple[str, ...]] = {
    "telegram": ("aiogram", "aiohttp"),
    "qq": ("aiohttp", "cryptography"),
    "postgres": ("asyncpg",),
    "redis": ("redis",),
    "web": ("aiohttp", "argon2"),
}


def missing_module(extra: str) -> str | None:
    """The first module of `extra` that cannot be imported, or None if all can."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


def missing_extra_message(extra: str, needed_for: str) -> str | None:
    """What to tell the user if `extra` is missing (None if it is installed)."""
    module = missing_module(extra)
    if module is None:
        return None
    return (
        f"{needed_for} needs the {extra} extra ({module} is not installed): pip install 'sellerbot[{extra}]'"
    )
