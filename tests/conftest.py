"""Shared fixtures. Database fixtures run every test on SQLite, and on PostgreSQL too when
SELLERBOT_TEST_POSTGRES_URL is set (`.ci/run` sets it); elsewhere those runs skip, saying why."""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get("SELLERBOT_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("SELLERBOT_TEST_REDIS_URL", "")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's own configuration or data folder."""
    for name in list(os.environ):
        if name.startswith("SELLERBOT_") and not name.startswith("SELLERBOT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SELLERBOT_DATA_DIR", str(tmp_path_factory.mktemp("data")))
