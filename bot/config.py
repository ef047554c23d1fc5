"""The single settings object.

Sources, lowest precedence first: built-in defaults, the TOML file (`--config FILE` or
`SELLERBOT_CONFIG`), environment variables `SELLERBOT_<SECTION>__<KEY>` (for secrets),
then the command line (`--data-dir`, `--db`). With nothing set, the bot runs on SQLite
and writes mail to an outbox folder, both under a per-user data folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from faq.settings import MatcherSettings
from services.handoff_settings import HandoffSettings
from services.mail_settings import MailSettings
from services.policy import Policy

ENV_PREFIX = "SELLERBOT_"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


class AppSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: str = ""
    default_language: Literal["zh", "en"] = "zh"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # empty: SQLite at <data dir>/sellerbot.db; PostgreSQL: postgresql+asyncpg://user@host/db
    url: str = ""
    # run migrations at start-up (the embedded default always does)
    auto_migrate: bool = True
    echo: bool = False
    # days expired links and codes, old idempotency keys and icons of unfinished flows are kept
    keep_expired_days: int = Field(default=30, ge=1)


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr = SecretStr("")
    # Root URL of the Bot API server: methods at <root>/bot<token>/<method>, files at
    # <root>/file/bot<token>/<path>.
    api_base_url: str = "https://api.telegram.org"
    # Long polling: seconds a getUpdates call waits for news.
    poll_timeout_seconds: int = Field(default=25, ge=0, le=50)
    # Webhook mode (`sellerbot run telegram --webhook`).
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    webhook_path: str = "/telegram/webhook"
    max_connections: int = Field(default=40, ge=1, le=100)
    # Processing.
    workers: int = Field(default=64, ge=1, le=1000)
    concurrent_handling: int = Field(default=8, ge=1, le=1000)
    lease_seconds: float = Field(default=30.0, ge=2.0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0.0)
    keep_updates_hours: int = Field(default=48, ge=25)
    delivery_poll_seconds: float = Field(default=1.0, gt=0.0)
    # Outbound limits (Telegram's): all chats together, one group, and smoothing per chat.
    messages_per_second: int = Field(default=30, ge=1)
    group_messages_per_minute: int = Field(default=20, ge=1)
    chat_messages_per_second: float = Field(default=1.0, gt=0.0)
    chat_burst: int = Field(default=3, ge=1)
    network_retries: int = Field(default=8, ge=0)
    max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # The agents' desk: a forum supergroup (id -100…) where each handed-off conversation is a
    # topic; the bot must be an administrator allowed to manage topics. 0: no desk.
    agents_chat_id: int = 0

    @field_validator("agents_chat_id")
    @classmethod
    def _agents_chat(cls, value: int) -> int:
        if value > 0:
            raise ValueError("a group's id is negative (a supergroup's starts with -100)")
        return value

    @field_validator("api_base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.match(r"^/[A-Za-z0-9_./-]*$", value):
            raise ValueError("must be a URL path starting with /")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        # Telegram's rule for secret_token: 1–256 characters A-Z a-z 0-9 _ -
        if value.get_secret_value() and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("use 1–256 letters, digits, _ or -")
        return value


def _host_port(value: str) -> str:
    """ "host:port" (the host may be an IPv6 address in brackets); the port 0 means any free one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("use host:port, e.g. 127.0.0.1:8080")
    return value


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class QQSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "official": the QQ Bot API (AppID and AppSecret from q.qq.com); "onebot": a self-hosted QQ
    # client (NapCat, LLOneBot) connecting by OneBot v11 reverse WebSocket.
    protocol: Literal["official", "onebot"] = "official"

    # -- the official API -------------------------------------------------------------------
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    api_base_url: str = "https://api.sgroup.qq.com"
    token_url: str = "https://bots.qq.com/app/getAppAccessToken"
    # How events arrive: "webhook" (the platform posts them; its current path) or "gateway" (a
    # WebSocket the bot opens; being retired by the platform).
    events: Literal["webhook", "gateway"] = "webhook"
    webhook_listen: str = "127.0.0.1:8443"
    webhook_path: str = "/qq/webhook"
    # Passive replies: minutes after a seller's message the bot may still answer it, and how many
    # messages may answer one message (the platform's rules; its documents disagree on private chats).
    group_reply_minutes: float = Field(default=5.0, gt=0)
    private_reply_minutes: float = Field(default=60.0, gt=0)
    group_replies_per_message: int = Field(default=5, ge=1)
    private_replies_per_message: int = Field(default=4, ge=1)
    # Links: "plain" writes web addresses without their scheme (merchant.joom.com), which the
    # platform does not treat as links; "allowed" sends them as they are (every domain must be on
    # the bot's URL allow-list in the management console).
    links: Literal["plain", "allowed"] = "plain"
    # Markdown messages with keyboards (they need the platform's approval): choices become buttons.
    markdown_keyboards: bool = False

    # -- OneBot v11 --------------------------------------------------------------------------
    onebot_listen: str = "127.0.0.1:6700"
    onebot_path: str = "/onebot/v11/ws"
    onebot_access_token: SecretStr = SecretStr("")
    # Seconds an action (sending a message) may take before it counts as unknown (never resent).
    onebot_action_timeout_seconds: float = Field(default=30.0, gt=0)
    # A connection that sent nothing (no heartbeat, no event) for this many heartbeat intervals is
    # dropped; the client reconnects.
    onebot_missed_heartbeats: float = Field(default=3.0, ge=1.5)

    # -- both --------------------------------------------------------------------------------
    # Longest message sent in one piece (characters); longer replies are split at paragraphs.
    max_message_chars: int = Field(default=1500, ge=100, le=10_000)
    # Largest image read from a seller.
    max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # Outbound limits: messages per second to all chats together, per minute to one group, and
    # smoothing for one chat (a burst, then this many per second).
    messages_per_second: int = Field(default=20, ge=1)
    group_messages_per_minute: int = Field(default=20, ge=1)
    chat_messages_per_second: float = Field(default=1.0, gt=0.0)
    chat_burst: int = Field(default=5, ge=1)
    # Processing, as for Telegram.
    workers: int = Field(default=64, ge=1, le=1000)
    concurrent_handling: int = Field(default=8, ge=1, le=1000)
    lease_seconds: float = Field(default=30.0, ge=2.0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0.0)
    keep_updates_hours: int = Field(default=48, ge=1)
    delivery_poll_seconds: float = Field(default=1.0, gt=0.0)

    @field_validator("api_base_url", "token_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("webhook_path", "onebot_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.match(r"^/[A-Za-z0-9_./-]*$", value):
            raise ValueError("must be a URL path starting with /")
        return value

    @field_validator("webhook_listen", "onebot_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _host_port(value)


class RedisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # empty: no Redis (one process); redis://host:6379/0 when several processes serve one bot
    url: str = ""
    key_prefix: str = "sellerbot"


class WebSettings(BaseModel):
    """`sellerbot serve`: the agents' desk in a browser, the pages behind the links in mails,
    /healthz and /metrics."""

    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:8000"
    # Where agents open the desk (links in the agents' password mails); the pages of mail links
    # are at [mail] public_base_url, which should point to this application.
    public_base_url: str = "http://127.0.0.1:8000"
    # A session ends after this long without a request.
    session_idle_minutes: int = Field(default=8 * 60, ge=5, le=30 * 24 * 60)
    # Secure cookies: on behind TLS (a reverse proxy that terminates it); "auto" follows the
    # scheme of public_base_url.
    secure_cookies: Literal["auto", "on", "off"] = "auto"
    # How often the desk looks for changes to push to open pages.
    live_poll_seconds: float = Field(default=1.0, gt=0.0, le=30.0)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _host_port(value)

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies == "auto":
            return self.public_base_url.startswith("https://")
        return self.secure_cookies == "on"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    app: AppSettings = Field(default_factory=AppSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    policy: Policy = Field(default_factory=Policy)
    matcher: MatcherSettings = Field(default_factory=MatcherSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    qq: QQSettings = Field(default_factory=QQSettings)
    handoff: HandoffSettings = Field(default_factory=HandoffSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init values; the environment overrides it.
        return (env_settings, init_settings)

    @property
    def data_path(self) -> Path:
        return Path(self.app.data_dir).expanduser()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_path / 'sellerbot.db'}"

    @property
    def outbox_path(self) -> Path:
        return Path(self.mail.outbox_dir).expanduser() if self.mail.outbox_dir else self.data_path / "outbox"


def default_data_dir() -> str:
    return platformdirs.user_data_dir("sellerbot", appauthor=False)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"configuration path is a folder, not a file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and explicit overrides."""
    path = config_file or os.environ.get(f"{ENV_PREFIX}CONFIG") or None
    values = _read_toml(Path(path).expanduser()) if path else {}
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s): {', '.join(unknown)}")
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    chosen_dir = (
        (str(data_dir) if data_dir else None)
        or os.environ.get(f"{ENV_PREFIX}DATA_DIR")
        or settings.app.data_dir
        or default_data_dir()
    )
    settings.app = settings.app.model_copy(update={"data_dir": str(Path(chosen_dir).expanduser())})
    if db_url:
        settings.database = settings.database.model_copy(update={"url": db_url})
    return settings
