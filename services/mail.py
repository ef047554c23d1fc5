"""Outgoing mail: composing messages from templates and handing them to a mailer.

Two mailers share one interface (`Mailer`): `OutboxMailer` writes each message as an `.eml`
file in a folder (the embedded default, tests and the console chat read them back), and
`SmtpMailer` delivers through an SMTP server. Services depend on `Mailer` only; `build_mailer`
picks one from the `[mail]` settings.

Templates live in `services/templates/mail/<name>.<lang>.j2` and extend `_layout.<lang>.j2`.
Each defines two blocks:

* ``subject`` — rendered on its own and collapsed to one line (a context value with a line break
  cannot add headers or spill into the body);
* ``content`` — the body, which the layout wraps with the greeting, the signature and the
  "do not reply" line.

Values from users (company names, addresses) are context data: Jinja prints them, it never
parses them as template code, so ``{{7*7}}`` in a company name is mailed literally. The
environment is sandboxed anyway, and undefined names raise instead of printing nothing.
"""

from __future__ import annotations

import asyncio
import base64
import email.policy
import ipaddress
import os
import re
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from services.mail_settings import MailSettings

TEMPLATE_DIR = Path(__file__).parent / "templates" / "mail"
LANGUAGES = ("zh", "en")
_TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_DEFAULT_FROM = MailSettings().from_address


class MailDeliveryError(Exception):
    """The message could not be handed over. The text says why, for the log, and never holds a
    password."""


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str

    def __post_init__(self) -> None:
        # Headers are built from these; a line break would let a value add headers of its own.
        for name in ("to", "subject"):
            if re.search(r"[\r\n]", getattr(self, name)):
                raise ValueError(f"{name} must be one line")
        _, address = parseaddr(self.to)
        if len(getaddresses([self.to])) != 1 or "@" not in address:
            raise ValueError(f"not a single e-mail address: {self.to!r}")
        if not address.isascii():
            # Would need SMTPUTF8 end to end, and Python would write an invalid To: header for
            # the outbox; account addresses are validated as ASCII (services/email_address.py).
            raise ValueError(f"internationalised e-mail address not supported: {self.to!r}")


class Mailer(Protocol):
    async def send(self, mail: OutgoingMail) -> None: ...


def _message(mail: OutgoingMail, from_address: str) -> EmailMessage:
    """The RFC 5322 message: CRLF line ends, non-ASCII headers encoded (RFC 2047), UTF-8 body."""
    msg = EmailMessage(policy=email.policy.default)
    try:
        msg["From"] = from_address
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
    except (ValueError, TypeError) as exc:
        raise MailDeliveryError(f"cannot build the message headers: {exc}") from None
    msg["Date"] = format_datetime(datetime.now(UTC))
    # An explicit domain: make_msgid() would otherwise ask DNS for this host's FQDN, which can
    # block for seconds on a badly configured machine.
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "sellerbot.local"
    msg["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: tells vacation responders and ticket systems not to answer automatically.
    msg["Auto-Submitted"] = "auto-generated"
    # Base64 for non-ASCII text keeps the message 7-bit clean: no reliance on the server's
    # 8BITMIME, and the .eml files are plain ASCII. The body keeps "\n" line ends; the outbox
    # and smtplib both serialise the message with CRLF.
    msg.set_content(mail.text, charset="utf-8", cte=None if mail.text.isascii() else "base64")
    return msg


# --- outbox ---------------------------------------------------------------------------------

_stamp_lock = threading.Lock()
_last_stamp = 0


def _next_stamp() -> int:
    """Nanoseconds since the epoch, strictly increasing within the process even if two sends
    fall on the same clock tick or the wall clock steps back, so file names sort in send order."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns(), _last_stamp + 1)
        return _last_stamp


class OutboxMailer:
    """Writes every message as one `.eml` file in `folder` (created if missing).

    File names start with a zero-padded timestamp, so sorting them gives the send order; the
    process id and a random suffix keep names from several bot processes apart. Each file is
    written under a temporary name and renamed, so a reader never sees half a message.
    """

    def __init__(self, folder: Path, *, from_address: str = _DEFAULT_FROM) -> None:
        self.folder = Path(folder)
        self.from_address = from_address

    async def send(self, mail: OutgoingMail) -> None:
        msg = _message(mail, self.from_address)
        # The name is chosen now, in call order, not when the worker thread gets to run.
        name = f"{_next_stamp():020d}-{os.getpid()}-{secrets.token_hex(4)}.eml"
        await asyncio.to_thread(self._write, name, msg.as_bytes(policy=email.policy.SMTP))

    def _write(self, name: str, data: bytes) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temp = self.folder / f".{name}.tmp"
            with temp.open("xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.folder / name)
        except OSError as exc:
            raise MailDeliveryError(f"cannot write to the outbox {self.folder}: {exc}") from exc

    def messages(self) -> list[EmailMessage]:
        """Every message in the folder, in send order (empty if the folder does not exist)."""
        if not self.folder.is_dir():
            return []
        parser = BytesParser(policy=email.policy.default)
        result = []
        for path in sorted(self.folder.glob("[0-9]*.eml")):
            with path.open("rb") as fh:
                msg = parser.parse(fh)
            assert isinstance(msg, EmailMessage)  # policy.default builds EmailMessage
            result.append(msg)
        return result


# --- SMTP -----------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpMailer:
    """Delivers through an SMTP server with the standard library's smtplib, in a worker thread
    so the event loop never waits on the network.

    `smtp_security`: "starttls" upgrades the connection and fails if the server cannot (no silent
    fall-back to plain text); "tls" speaks TLS from the first byte (port 465); "none" is plain
    text, and then a password is only sent to a loopback address. Certificates are verified
    against the system's trust store, or `ssl_context` when given (a private CA, tests).
    Every failure becomes MailDeliveryError; the password never appears in its text.
    """

    def __init__(self, settings: MailSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._ssl_context = ssl_context

    async def send(self, mail: OutgoingMail) -> None:
        msg = _message(mail, self.settings.from_address)
        await asyncio.to_thread(self._deliver, msg)

    def _deliver(self, msg: EmailMessage) -> None:
        s = self.settings
        where = f"{s.smtp_host}:{s.smtp_port}"
        password = s.smtp_password.get_secret_value()
        if s.smtp_username and s.smtp_security == "none" and not _is_loopback(s.smtp_host):
            raise MailDeliveryError(
                f"refusing to send the SMTP password to {where} over an unencrypted connection; "
                "set smtp_security to starttls or tls"
            )
        context = self._ssl_context or ssl.create_default_context()
        step = "connect"
        try:
            client: smtplib.SMTP
            if s.smtp_security == "tls":
                client = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=context
                )
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            with client:
                step = "greet"
                client.ehlo()
                if s.smtp_security == "starttls":
                    step = "starttls"
                    client.starttls(context=context)
                    client.ehlo()
                if s.smtp_username:
                    step = "login"
                    _login(client, s.smtp_username, password)
                step = "send"
                refused = client.send_message(msg)
                if refused:
                    raise MailDeliveryError(f"{where} refused recipient(s): {_describe_refused(refused)}")
        except MailDeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailDeliveryError(
                _scrub(f"{where} refused the login of {s.smtp_username!r}: {_reply(exc)}", password)
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            what = "STARTTLS" if step == "starttls" else "authentication" if step == "login" else step
            raise MailDeliveryError(_scrub(f"{where} does not support {what}: {exc}", password)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailDeliveryError(
                _scrub(f"{where} refused the recipient: {_describe_refused(exc.recipients)}", password)
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            raise MailDeliveryError(
                _scrub(f"{where} refused the sender {exc.sender!r}: {_reply(exc)}", password)
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise MailDeliveryError(_scrub(f"{where} failed at {step}: {_reply(exc)}", password)) from None
        except ssl.SSLError as exc:
            raise MailDeliveryError(_scrub(f"TLS with {where} failed at {step}: {exc}", password)) from None
        except (smtplib.SMTPException, OSError) as exc:
            # Refused connection, DNS failure, timeout (an OSError too), dropped connection.
            reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise MailDeliveryError(_scrub(f"SMTP {where} failed at {step}: {reason}", password)) from None


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    if (username + password).isascii():
        client.login(username, password)  # negotiates CRAM-MD5, PLAIN or LOGIN
        return
    # smtplib encodes credentials as ASCII and would fail with UnicodeEncodeError. AUTH PLAIN
    # is defined over UTF-8 (RFC 4616), so send that by hand.
    if "PLAIN" not in client.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPNotSupportedError("non-ASCII credentials need AUTH PLAIN, which is not offered")
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, reply = client.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
    return f"{exc.smtp_code} {text}"


def _describe_refused(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt} ({code} {reply.decode('utf-8', 'replace')})" for rcpt, (code, reply) in refused.items()
    )


def _scrub(text: str, password: str) -> str:
    # Defence in depth: our own texts never include the password, but a server's reply is
    # quoted verbatim and a hostile or buggy one could echo it back.
    return text.replace(password, "***") if password else text


def build_mailer(settings: MailSettings, *, outbox: Path) -> Mailer:
    """The mailer the settings ask for. `outbox` is the resolved folder (Settings.outbox_path)."""
    if settings.backend == "smtp":
        return SmtpMailer(settings)
    return OutboxMailer(outbox, from_address=settings.from_address)


# --- composing ------------------------------------------------------------------------------


def _duration_en(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _duration_zh(minutes: int) -> str:
    return f"{minutes // 60}小时" if minutes % 60 == 0 else f"{minutes}分钟"


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text mail: HTML escaping would print &amp; into links
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["duration_en"] = _duration_en
    env.filters["duration_zh"] = _duration_zh
    return env


def _template(template: str, lang: str) -> Template:
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    if not _TEMPLATE_NAME.fullmatch(template):
        raise ValueError(f"not a template name: {template!r}")
    try:
        return _environment().get_template(f"{template}.{lang}.j2")
    except TemplateNotFound:
        raise ValueError(f"no mail template {template!r} in {lang!r}") from None


def compose(template: str, lang: str, *, to: str, **context: Any) -> OutgoingMail:
    """Render `services/templates/mail/<template>.<lang>.j2` into a message for `to`.

    The context each template needs: password_reset (link, minutes); link_code (code, minutes);
    email_change_confirm (link, minutes, company); email_change_requested (new_email_masked,
    minutes, company, support_email); email_change_notice (new_email_masked, company, and
    optionally support_email). A missing value raises jinja2.UndefinedError.
    """
    tmpl = _template(template, lang)
    ctx = tmpl.new_context(dict(context))
    if "subject" not in tmpl.blocks:
        raise ValueError(f"mail template {tmpl.name} has no subject block")
    subject = " ".join("".join(tmpl.blocks["subject"](ctx)).split())
    if not subject:
        raise ValueError(f"mail template {tmpl.name} rendered an empty subject")
    text = tmpl.render(context).strip() + "\n"
    return OutgoingMail(to=to, subject=subject, text=text)


def mask_email(address: str) -> str:
    """The address with its local part hidden but for the first character, for telling an owner
    where mail went without disclosing it: "seller@example.com" → "s***@example.com"."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"
