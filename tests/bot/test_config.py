"""Configuration: the example file documents every key, and each source overrides the one before."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"


def test_example_file_loads_and_equals_the_defaults() -> None:
    from_file = load_settings(EXAMPLE)
    defaults = load_settings()
    assert from_file.model_dump() == defaults.model_dump()


def test_example_file_documents_every_key() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert section in example, f"[{section}] missing from config.example.toml"
        missing = set(model.model_fields) - set(example[section])
        assert not missing, f"[{section}] keys missing from config.example.toml: {sorted(missing)}"


def test_no_configuration_runs_on_sqlite_in_the_data_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SELLERBOT_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'sellerbot.db'}"
    assert settings.outbox_path == tmp_path / "outbox"
    assert settings.mail.backend == "outbox"


def test_precedence_file_then_environment_then_command_line(tmp_path: Path, monkeypatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[policy]\nstore_limit = 3\nquota_step = 4\n[database]\nurl = "sqlite+aiosqlite:///x.db"\n'
    )
    monkeypatch.setenv("SELLERBOT_CONFIG", str(cfg))
    monkeypatch.setenv("SELLERBOT_POLICY__QUOTA_STEP", "7")
    settings = load_settings(db_url="sqlite+aiosqlite:///y.db", data_dir=tmp_path / "d")
    assert settings.policy.store_limit == 3  # from the file
    assert settings.policy.quota_step == 7  # the environment beats the file
    assert settings.database_url == "sqlite+aiosqlite:///y.db"  # the command line beats both
    assert settings.data_path == tmp_path / "d"


def test_list_values_come_from_the_environment_as_json(monkeypatch) -> None:
    monkeypatch.setenv("SELLERBOT_POLICY__PICKUP_CITIES", '["Shenzhen", "Guangzhou"]')
    assert load_settings().policy.pickup_cities == ["Shenzhen", "Guangzhou"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[policy]\nstore_limit = 0\n", "policy.store_limit"),
        ("[policy]\nstore_limt = 2\n", "policy.store_limt"),
        ("[polcy]\nstore_limit = 2\n", "polcy"),
        ("[policy\n", "not valid TOML"),
        ("[policy]\nlisting_limit = 2000\n", "listing_limit"),
        ('[mail]\nbackend = "pigeon"\n', "mail.backend"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_settings(cfg)


def test_missing_configuration_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_bad_environment_value_names_the_key(monkeypatch) -> None:
    monkeypatch.setenv("SELLERBOT_POLICY__STORE_LIMIT", "many")
    with pytest.raises(ConfigError, match=r"policy\.store_limit"):
        load_settings()
