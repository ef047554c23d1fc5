"""The `[mail]` section: where outgoing mail goes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["outbox", "smtp"] = "outbox"
    from_address: str = "Joom Seller Support <no-reply@sellerbot.local>"
    # outbox: one .eml file per message; empty means <data dir>/outbox
    outbox_dir: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    # "starttls" upgrades a plain connection, "tls" connects over TLS (port 465), "none" is for loopback only
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    # base URL of the pages that reset links and e-mail confirmations point to
    public_base_url: str = "https://merchant.joom.com/sellerbot"
