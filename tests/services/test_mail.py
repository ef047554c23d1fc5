"""Mail: composing from templates, the outbox, and SMTP against a real server on loopback."""

from __future__ import annotations

import asyncio
import base64
import email.policy
import socket
import ssl
import time
import traceback
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from jinja2 import UndefinedError
from pydantic import SecretStr

from services.mail import (
    MailDeliveryError,
    OutboxMailer,
    OutgoingMail,
    SmtpMailer,
    build_mailer,
    compose,
    mask_email,
)
from services.mail_settings import MailSettings

FROM = "Joom 商户支持 <no-reply@sellerbot.test>"
CHINESE_TEXT = "您好：\n\n您的验证码是 123456，请勿告诉任何人。\n"
USER = "bot@sellerbot.test"
PASSWORD = "s3cret-Pässwörd-密码"  # non-ASCII: smtplib's own login() cannot send it
ASCII_USER = "ascii-bot"
ASCII_PASSWORD = "Plain-ASCII-pw-1"
CREDENTIALS = {USER: PASSWORD, ASCII_USER: ASCII_PASSWORD}


def chinese_mail(
    to: str = "seller@example.com", subject: str = "Joom 商户账号聊天绑定验证码"
) -> OutgoingMail:
    return OutgoingMail(to=to, subject=subject, text=CHINESE_TEXT)


# --- OutgoingMail and mask_email -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "a@example.com\r\nBcc: victim@example.com"),
        ("to", "a@example.com\nBcc: victim@example.com"),
        ("subject", "hello\r\nBcc: victim@example.com"),
        ("subject", "hello\rworld"),
    ],
)
def test_header_values_with_line_breaks_are_refused(field: str, value: str) -> None:
    values = {"to": "a@example.com", "subject": "s", "text": "t", field: value}
    with pytest.raises(ValueError, match=field):
        OutgoingMail(**values)


@pytest.mark.parametrize("to", ["", "not an address", "a@example.com, b@example.com"])
def test_to_must_be_one_address(to: str) -> None:
    with pytest.raises(ValueError, match="address"):
        OutgoingMail(to=to, subject="s", text="t")


@pytest.mark.parametrize("to", ["张三@例子.中国", "seller@例子.中国", "张三@example.com"])
def test_internationalised_addresses_are_refused(to: str) -> None:
    with pytest.raises(ValueError, match="internationalised"):
        OutgoingMail(to=to, subject="s", text="t")


def test_display_name_may_be_chinese() -> None:
    assert OutgoingMail(to="张三 <seller@example.com>", subject="s", text="t").to.startswith("张三")


def test_body_may_have_many_lines() -> None:
    assert OutgoingMail(to="a@example.com", subject="s", text="a\r\nb\n").text == "a\r\nb\n"


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("seller@example.com", "s***@example.com"),
        ("s@example.com", "s***@example.com"),
        ("  Seller.Name@Example.COM ", "S***@Example.COM"),
        ("张三@例子.中国", "张***@例子.中国"),
        ('"a@b"@example.com', '"***@example.com'),
        ("no-at-sign", "***"),
        ("@example.com", "***"),
        ("seller@", "***"),
        ("", "***"),
    ],
)
def test_mask_email(address: str, masked: str) -> None:
    assert mask_email(address) == masked


def test_mask_email_hides_the_local_part() -> None:
    masked = mask_email("verysecretname@example.com")
    assert "secret" not in masked
    assert masked.endswith("@example.com")


# --- compose -------------------------------------------------------------------------------

CONTEXTS: dict[str, dict[str, Any]] = {
    "password_reset": {"link": "https://merchant.joom.com/sellerbot/reset?t=Abc_123", "minutes": 30},
    "link_code": {"code": "048213", "minutes": 10},
    "email_change_confirm": {
        "link": "https://merchant.joom.com/sellerbot/email?t=Xyz-789",
        "minutes": 1440,
        "company": "深圳市好货贸易有限公司",
    },
    "email_change_notice": {"new_email_masked": "n***@example.com", "company": "深圳市好货贸易有限公司"},
    "email_change_requested": {
        "new_email_masked": "n***@example.com",
        "minutes": 1440,
        "company": "深圳市好货贸易有限公司",
        "support_email": "merchant@joom.com",
        "cancel_link": "https://merchant.joom.com/sellerbot/stop-email-change?token=Stop-456",
        "undo_days": 7,
    },
    "email_change_undone": {"company": "深圳市好货贸易有限公司", "support_email": "merchant@joom.com"},
}
# What each template must say, by language: the values and the duration as a person reads it.
EXPECTED: dict[tuple[str, str], list[str]] = {
    ("password_reset", "zh"): ["reset?t=Abc_123", "30分钟", "只能使用一次", "忽略"],
    ("password_reset", "en"): ["reset?t=Abc_123", "30 minutes", "only once", "ignore"],
    ("link_code", "zh"): ["048213", "10分钟", "请勿将验证码告诉任何人"],
    ("link_code", "en"): ["048213", "10 minutes", "Never share"],
    ("email_change_confirm", "zh"): ["email?t=Xyz-789", "24小时", "深圳市好货贸易有限公司"],
    ("email_change_confirm", "en"): ["email?t=Xyz-789", "24 hours", "深圳市好货贸易有限公司"],
    ("email_change_notice", "zh"): ["n***@example.com", "深圳市好货贸易有限公司", "联系"],
    ("email_change_notice", "en"): ["n***@example.com", "深圳市好货贸易有限公司", "contact"],
    ("email_change_requested", "zh"): [
        "n***@example.com",
        "24小时",
        "merchant@joom.com",
        "token=Stop-456",
        "7天内有效",
        "撤销",
    ],
    ("email_change_requested", "en"): [
        "n***@example.com",
        "24 hours",
        "merchant@joom.com",
        "token=Stop-456",
        "valid for 7 days",
        "undoes the change",
    ],
    ("email_change_undone", "zh"): [
        "深圳市好货贸易有限公司",
        "重新使用本邮箱登录",
        "重置密码",
        "merchant@joom.com",
    ],
    ("email_change_undone", "en"): [
        "深圳市好货贸易有限公司",
        "log in with this address again",
        "reset your password",
    ],
}


@pytest.mark.parametrize(("template", "lang"), sorted(EXPECTED))
def test_every_template_renders_in_both_languages(template: str, lang: str) -> None:
    mail = compose(template, lang, to="seller@example.com", **CONTEXTS[template])
    assert mail.to == "seller@example.com"
    assert mail.subject and "\n" not in mail.subject and mail.subject == mail.subject.strip()
    assert "Joom" in mail.subject
    for needle in EXPECTED[template, lang]:
        assert needle in mail.text, needle
    # Nothing of the template language leaks into the mail, and the layout frames it.
    for leftover in ("{{", "}}", "{%", "%}", "{#"):
        assert leftover not in mail.text and leftover not in mail.subject
    assert mail.text.endswith("\n") and not mail.text.endswith("\n\n")
    assert ("请勿直接回复" if lang == "zh" else "do not reply") in mail.text
    # The subject block is rendered on its own, not printed into the body: the body opens with the greeting.
    assert mail.text.startswith("您好：\n\n" if lang == "zh" else "Hello,\n\n")


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_english_mails_are_plain_ascii_apart_from_values(template: str) -> None:
    # Catches full-width punctuation copied into an English template.
    context = {k: (v if not isinstance(v, str) else "Value") for k, v in CONTEXTS[template].items()}
    mail = compose(template, "en", to="seller@example.com", **context)
    assert (mail.subject + mail.text).isascii()


@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_chinese_and_english_versions_differ(template: str) -> None:
    zh = compose(template, "zh", to="a@example.com", **CONTEXTS[template])
    en = compose(template, "en", to="a@example.com", **CONTEXTS[template])
    assert zh.subject != en.subject
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.subject)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_user_values_are_data_not_templates(lang: str) -> None:
    company = "{{7*7}} {% raw %}{{ config }}{{ ''.__class__.__mro__ }} ${7*7} <b>&amp;</b>"
    mail = compose(
        "email_change_confirm",
        lang,
        to="a@example.com",
        link="https://x.test/?a=1&b=2",
        minutes=60,
        company=company,
    )
    assert company in mail.text  # literally, not evaluated and not HTML-escaped
    assert "49" not in mail.text
    assert "https://x.test/?a=1&b=2" in mail.text  # no &amp; in a plain-text link


def test_support_email_is_optional_in_the_notice() -> None:
    ctx = CONTEXTS["email_change_notice"]
    assert "merchant@joom.com" not in compose("email_change_notice", "en", to="a@example.com", **ctx).text
    for lang in ("zh", "en"):
        mail = compose(
            "email_change_notice", lang, to="a@example.com", support_email="merchant@joom.com", **ctx
        )
        assert "merchant@joom.com" in mail.text


@pytest.mark.parametrize(
    ("minutes", "en", "zh"),
    [
        (1, "1 minute", "1分钟"),
        (30, "30 minutes", "30分钟"),
        (60, "1 hour", "1小时"),
        (90, "90 minutes", "90分钟"),
    ],
)
def test_durations_read_naturally(minutes: int, en: str, zh: str) -> None:
    assert (
        f"valid for {en} " in compose("password_reset", "en", to="a@x.test", link="L", minutes=minutes).text
    )
    assert (
        f"该链接{zh}内有效" in compose("password_reset", "zh", to="a@x.test", link="L", minutes=minutes).text
    )


def test_missing_context_value_raises() -> None:
    with pytest.raises(UndefinedError, match="minutes"):
        compose("password_reset", "en", to="a@example.com", link="https://x.test")


@pytest.mark.parametrize("lang", ["fr", "ZH", "zh-CN", "", "../zh"])
def test_unknown_language(lang: str) -> None:
    with pytest.raises(ValueError, match="language"):
        compose("password_reset", lang, to="a@example.com", **CONTEXTS["password_reset"])


@pytest.mark.parametrize(
    "template", ["nope", "_layout", "../mail/password_reset", "password_reset.zh", "", "Password_Reset"]
)
def test_unknown_or_unsafe_template_name(template: str) -> None:
    with pytest.raises(ValueError):
        compose(template, "zh", to="a@example.com", **CONTEXTS["password_reset"])


def test_compose_refuses_a_bad_recipient() -> None:
    with pytest.raises(ValueError):
        compose("link_code", "zh", to="a@example.com\r\nBcc: b@example.com", code="1", minutes=1)


# --- outbox --------------------------------------------------------------------------------


def raw_files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


async def test_outbox_writes_a_parseable_rfc5322_message(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "outbox"  # created on first send
    mailer = OutboxMailer(folder, from_address=FROM)
    before = time.time()
    await mailer.send(chinese_mail())

    [path] = raw_files(folder)
    assert path.suffix == ".eml" and not path.name.startswith(".")
    raw = path.read_bytes()
    assert raw.isascii()  # headers encoded, body transfer-encoded: safe for any mail tool
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert b"=?utf-8?" in raw.lower()  # the Chinese subject is RFC 2047-encoded

    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert msg["To"] == "seller@example.com"
    assert msg["From"].addresses[0].addr_spec == "no-reply@sellerbot.test"
    assert msg["From"].addresses[0].display_name == "Joom 商户支持"
    assert msg["Subject"] == "Joom 商户账号聊天绑定验证码"
    assert abs(parsedate_to_datetime(msg["Date"]).timestamp() - before) < 60
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@sellerbot.test>")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content() == CHINESE_TEXT

    [parsed] = mailer.messages()
    assert parsed["Subject"] == msg["Subject"] and parsed.get_content() == CHINESE_TEXT


async def test_outbox_many_concurrent_sends_give_distinct_files_in_send_order(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path)
    count = 60
    await asyncio.gather(*(mailer.send(chinese_mail(subject=f"消息 {i}")) for i in range(count)))
    files = raw_files(tmp_path)
    assert len(files) == count
    assert len({p.name for p in files}) == count
    messages = mailer.messages()
    assert [m["Subject"] for m in messages] == [f"消息 {i}" for i in range(count)]
    assert len({m["Message-ID"] for m in messages}) == count


async def test_outbox_two_mailers_on_one_folder_keep_order(tmp_path: Path) -> None:
    first, second = OutboxMailer(tmp_path), OutboxMailer(tmp_path)
    for i in range(10):
        await (first if i % 2 else second).send(chinese_mail(subject=f"m{i}"))
    assert [m["Subject"] for m in first.messages()] == [f"m{i}" for i in range(10)]


async def test_outbox_ignores_temporary_and_foreign_files(tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path)
    await mailer.send(chinese_mail(subject="real"))
    (tmp_path / ".00000000000000000001-1-abcd.eml.tmp").write_bytes(b"half a mess")
    (tmp_path / "README.txt").write_text("not mail")
    assert [m["Subject"] for m in mailer.messages()] == ["real"]


def test_outbox_messages_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert OutboxMailer(tmp_path / "never").messages() == []


async def test_outbox_unwritable_folder_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(MailDeliveryError, match="outbox"):
        await OutboxMailer(blocker / "outbox").send(chinese_mail())


def test_build_mailer_picks_the_backend(tmp_path: Path) -> None:
    outbox = build_mailer(MailSettings(from_address=FROM), outbox=tmp_path)
    assert isinstance(outbox, OutboxMailer)
    assert outbox.folder == tmp_path and outbox.from_address == FROM
    smtp = build_mailer(MailSettings(backend="smtp", smtp_host="mail.example.com"), outbox=tmp_path)
    assert isinstance(smtp, SmtpMailer)
    assert smtp.settings.smtp_host == "mail.example.com"


# --- SMTP against a real server ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping what it accepted; refuses recipients at refused.example."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=email.policy.default)
        return [parser.parsebytes(e.original_content or b"") for e in self.envelopes]  # type: ignore[misc]


def authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and any(
        (auth_data.login, auth_data.password) == (user.encode(), password.encode())
        for user, password in CREDENTIALS.items()
    )
    # handled=False: let the server answer 535 itself (handled=True would mean "already answered").
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


class Server:
    def __init__(self, inbox: Inbox, port: int) -> None:
        self.inbox, self.port = inbox, port


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest, server_tls: ssl.SSLContext) -> Iterator[Server]:
    """A real SMTP server on 127.0.0.1. `request.param`: "plain", "starttls", "tls", each
    optionally with "+auth"."""
    kind = getattr(request, "param", "plain")
    inbox, port = Inbox(), free_port()
    kwargs: dict[str, Any] = {"server_hostname": "localhost"}
    if kind.startswith("starttls"):
        kwargs.update(tls_context=server_tls, require_starttls=True)
    elif kind.startswith("tls"):
        kwargs.update(ssl_context=server_tls)
    if kind.endswith("+auth"):
        kwargs.update(
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS connection is encrypted too.
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=kind.startswith("starttls"),
        )
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield Server(inbox, port)
    finally:
        controller.stop()


def smtp_settings(port: int, security: str, **extra: Any) -> MailSettings:
    return MailSettings(
        backend="smtp",
        from_address=FROM,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=security,
        smtp_timeout_seconds=extra.pop("timeout", 5.0),
        **extra,
    )


def assert_delivered(server: Server, subject: str = "Joom 商户账号聊天绑定验证码") -> None:
    [envelope] = server.inbox.envelopes
    assert envelope.mail_from == "no-reply@sellerbot.test"
    assert envelope.rcpt_tos == ["seller@example.com"]
    [msg] = server.inbox.messages()
    assert msg["Subject"] == subject
    assert msg["To"] == "seller@example.com"
    assert msg["Message-ID"] and msg["Date"]
    assert msg.get_content() == CHINESE_TEXT


@pytest.mark.parametrize(
    ("smtp_server", "security"),
    [("plain", "none"), ("starttls", "starttls"), ("tls", "tls")],
    indirect=["smtp_server"],
)
async def test_smtp_delivers(smtp_server: Server, security: str, client_tls: ssl.SSLContext) -> None:
    mailer = SmtpMailer(smtp_settings(smtp_server.port, security), ssl_context=client_tls)
    await mailer.send(chinese_mail())
    assert_delivered(smtp_server)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("user", [USER, ASCII_USER])
@pytest.mark.parametrize(
    ("smtp_server", "security"),
    [("plain+auth", "none"), ("starttls+auth", "starttls"), ("tls+auth", "tls")],
    indirect=["smtp_server"],
)
async def test_smtp_auth_with_the_right_password(
    smtp_server: Server, security: str, user: str, client_tls: ssl.SSLContext
) -> None:
    settings = smtp_settings(
        smtp_server.port, security, smtp_username=user, smtp_password=SecretStr(CREDENTIALS[user])
    )
    await SmtpMailer(settings, ssl_context=client_tls).send(chinese_mail())
    assert_delivered(smtp_server)


def assert_secret_free(exc: BaseException) -> None:
    told = str(exc) + repr(exc) + "".join(traceback.format_exception(exc))
    for secret in (PASSWORD, ASCII_PASSWORD):
        assert secret not in told
        assert base64.b64encode(secret.encode()).decode() not in told
    assert "wrong-" not in told


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("user", [USER, ASCII_USER])
@pytest.mark.parametrize(
    ("smtp_server", "security"),
    [("starttls+auth", "starttls"), ("tls+auth", "tls")],
    indirect=["smtp_server"],
)
async def test_smtp_wrong_password(
    smtp_server: Server, security: str, user: str, client_tls: ssl.SSLContext
) -> None:
    settings = smtp_settings(
        smtp_server.port, security, smtp_username=user, smtp_password=SecretStr("wrong-" + CREDENTIALS[user])
    )
    with pytest.raises(MailDeliveryError, match="refused the login") as info:
        await SmtpMailer(settings, ssl_context=client_tls).send(chinese_mail())
    assert "535" in str(info.value)
    assert user in str(info.value)
    assert_secret_free(info.value)
    assert smtp_server.inbox.envelopes == []


@pytest.mark.parametrize("smtp_server", ["starttls+auth"], indirect=True)
async def test_smtp_auth_required_but_no_credentials(smtp_server: Server, client_tls: ssl.SSLContext) -> None:
    with pytest.raises(MailDeliveryError, match="530"):
        await SmtpMailer(smtp_settings(smtp_server.port, "starttls"), ssl_context=client_tls).send(
            chinese_mail()
        )
    assert smtp_server.inbox.envelopes == []


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
async def test_smtp_starttls_required_but_not_offered(
    smtp_server: Server, client_tls: ssl.SSLContext
) -> None:
    # No silent fall-back to plain text when the settings ask for STARTTLS.
    with pytest.raises(MailDeliveryError, match="STARTTLS"):
        await SmtpMailer(smtp_settings(smtp_server.port, "starttls"), ssl_context=client_tls).send(
            chinese_mail()
        )
    assert smtp_server.inbox.envelopes == []


@pytest.mark.parametrize(
    ("smtp_server", "security"), [("starttls", "starttls"), ("tls", "tls")], indirect=["smtp_server"]
)
async def test_smtp_untrusted_certificate_is_refused(smtp_server: Server, security: str) -> None:
    # Without the test CA, the system trust store does not know the self-signed certificate.
    with pytest.raises(MailDeliveryError, match=r"TLS|certificate"):
        await SmtpMailer(smtp_settings(smtp_server.port, security)).send(chinese_mail())
    assert smtp_server.inbox.envelopes == []


@pytest.mark.parametrize("smtp_server", ["plain"], indirect=True)
async def test_smtp_refused_recipient(smtp_server: Server) -> None:
    with pytest.raises(MailDeliveryError, match="550") as info:
        await SmtpMailer(smtp_settings(smtp_server.port, "none")).send(
            chinese_mail(to="nobody@refused.example")
        )
    assert "nobody@refused.example" in str(info.value)


async def test_smtp_server_down() -> None:
    port = free_port()  # nothing listens there
    settings = smtp_settings(port, "starttls", smtp_username=USER, smtp_password=SecretStr(PASSWORD))
    with pytest.raises(MailDeliveryError, match=f"127.0.0.1:{port}") as info:
        await SmtpMailer(settings).send(chinese_mail())
    assert "Connection" in str(info.value) or "refused" in str(info.value)
    assert_secret_free(info.value)


async def test_smtp_timeout() -> None:
    # A listening socket that never accepts: the TCP handshake completes, the greeting never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings = smtp_settings(silent.getsockname()[1], "none", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(MailDeliveryError, match="timed out"):
            await SmtpMailer(settings).send(chinese_mail())
        assert time.monotonic() - started < 5


async def test_smtp_password_is_never_sent_in_clear_to_a_remote_host() -> None:
    settings = MailSettings(
        backend="smtp",
        smtp_host="smtp.example.com",
        smtp_port=25,
        smtp_security="none",
        smtp_username=USER,
        smtp_password=SecretStr(PASSWORD),
    )
    # Refused before any connection is attempted (no network needed for this test).
    with pytest.raises(MailDeliveryError, match="unencrypted") as info:
        await SmtpMailer(settings).send(chinese_mail())
    assert_secret_free(info.value)


async def test_smtp_send_does_not_block_the_event_loop() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings = smtp_settings(silent.getsockname()[1], "none", timeout=0.6)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        task = asyncio.create_task(ticker())
        with pytest.raises(MailDeliveryError):
            await SmtpMailer(settings).send(chinese_mail())
        task.cancel()
        assert ticks >= 5  # the loop kept running while the worker thread waited
