"""Sending the services' mail in the background, after the transaction that made it has committed.

Why in the background: a reply must not wait for an SMTP server, and above all its timing must
not depend on whether a message was sent at all. A password-reset or link-code request for an
unknown address sends nothing; if the reply waited for delivery, a slow answer would betray a
registered address. With `send_later` both cases return as soon as the database work is done.

Failures are logged with a reference id (never the message body, which holds a link or code);
the seller can simply ask again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from urllib.parse import quote

from services.mail import Mailer, OutgoingMail

log = logging.getLogger(__name__)


class MailDispatcher:
    """Delivers outgoing mail through `mailer` in background tasks, and builds the links that
    mails point to (`public_base_url` from the [mail] settings)."""

    def __init__(self, mailer: Mailer, *, public_base_url: str) -> None:
        self.mailer = mailer
        self.public_base_url = public_base_url.rstrip("/")
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures = 0

    def link(self, page: str, token: str, *, lang: str | None = None) -> str:
        """The link to a page of the web application (`sellerbot serve`), in the mail's language."""
        suffix = f"&lang={lang}" if lang in ("zh", "en") else ""
        return f"{self.public_base_url}/{page}?token={quote(token, safe='')}{suffix}"

    def send_later(self, mail: OutgoingMail) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(mail))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, mail: OutgoingMail) -> None:
        try:
            await self.mailer.send(mail)
        except Exception:
            self.failures += 1
            reference = secrets.token_hex(4)
            log.exception("mail delivery failed [ref %s] subject=%r", reference, mail.subject)

    async def drain(self) -> None:
        """Wait until every message handed over so far has been delivered (or has failed):
        before shutting down, and in tests."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
