"""A small language for scripted conversations with the bot, and the fixtures that run them.

    chat = bot.chat("u1")
    r = await chat.send("我想开店")
    assert "开新店" in r.text and r.labels == ["开设店铺"]
    r = await chat.press("开设店铺")          # buttons are pressed by label, never by position
    r = await chat.upload("logo.png", png(600, 600))

`Bot` is the conversation core on one database with an outbox and a clock the test controls;
`bot.restart()` closes it and builds a new core on the same database, as a second process or a
restart would. `Said` is what one turn answered: its texts, its buttons, and checks on them.
The matcher is trained once per test session (the `matcher` fixture of tests/conftest.py); every
test gets a fresh SQLite file (the `bot` fixture) or, for `bot_any`, each backend in turn.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from faq.knowledge import KnowledgeBase
from faq.matcher import Matcher
from faq.settings import MatcherSettings
from handlers import replies
from handlers.core import ConversationCore, CoreOptions
from handlers.types import Button, ButtonKind, Inbound, InboundFile, Reply
from services.db import Database, create_engine, session_factory
from services.handoff_settings import HandoffSettings
from services.linking import link_by_operator
from services.mail import OutboxMailer
from services.mail_dispatch import MailDispatcher
from services.models import Base, Conversation, Rating, Specialization, Turn
from services.policy import Policy
from services.stores import import_store
from tests.conftest import make_account, postgres_engine

CHANNEL = "console"
BASE_URL = "https://merchant.example/sellerbot"
# Support around the clock unless a test says otherwise: what a seller handed to a person is
# told then does not depend on when the tests run.
AROUND_THE_CLOCK = HandoffSettings(support_hours="")


def t(key: str, lang: str, **context: Any) -> str:
    """A sentence of the reply catalogue, as the seller reads it."""
    return replies.say(key, lang, **context)


def png(width: int, height: int, *, color: str = "red", fmt: str = "PNG") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format=fmt)
    return out.getvalue()


# -- one turn's replies -------------------------------------------------------------------------
@dataclass
class Said:
    replies: list[Reply]

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.replies]

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    @property
    def buttons(self) -> list[Button]:
        return [b for r in self.replies for b in r.buttons]

    @property
    def labels(self) -> list[str]:
        return [b.label for b in self.buttons]

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.text

    def __bool__(self) -> bool:
        return bool(self.replies)

    def button(self, label: str) -> Button:
        found = [b for b in self.buttons if b.label == label]
        assert found, f"no button {label!r}; the buttons are {self.labels}"
        return found[0]

    def says(self, key: str, lang: str, **context: Any) -> bool:
        """True if one of the replies is exactly the catalogue sentence `key`."""
        return t(key, lang, **context) in self.texts

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"Said(texts={self.texts!r}, labels={self.labels!r})"


# -- the clock ----------------------------------------------------------------------------------
@dataclass
class Clock:
    """The core's clock: the real time when the test starts, moved on only by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# -- a chat -------------------------------------------------------------------------------------
class Chat:
    """One chat user talking to the bot, in a private chat or a group."""

    def __init__(
        self,
        bot: Bot,
        user: str,
        *,
        group: bool,
        lang_hint: str | None,
        thread: str = "",
        numbered: bool = False,
    ) -> None:
        self.bot = bot
        self.user = user
        self.group = group
        self.lang_hint = lang_hint
        self.thread = thread
        # a channel without buttons (QQ): choices are answered by number or label
        self.numbered = numbered
        self.last: Said = Said([])
        self.history: list[Said] = []

    @property
    def chat_id(self) -> str:
        return "group-1" if self.group else self.user

    def inbound(self, **kw: Any) -> Inbound:
        text = kw.get("text", "")
        addressed = kw.pop("addressed", None)
        if addressed is None:
            addressed = (
                not self.group
                or kw.get("button") is not None  # the bot's own button
                or text.strip().startswith("/")
                or re.search(r"@sellerbot\b", text, re.IGNORECASE) is not None
            )
        return Inbound(
            channel=CHANNEL,
            chat_id=self.chat_id,
            user_id=self.user,
            thread_id=self.thread,
            display_name=f"Seller {self.user}",
            is_group=self.group,
            addressed_to_bot=addressed,
            language_hint=self.lang_hint,
            numbered_choices=self.numbered,
            **kw,
        )

    async def _turn(self, inbound: Inbound) -> Said:
        said = Said(await self.bot.core.handle(inbound))
        self.history.append(said)
        if said.replies:
            self.last = said
        return said

    async def send(self, text: str, *, addressed: bool | None = None) -> Said:
        return await self._turn(self.inbound(text=text, addressed=addressed))

    async def press(self, label: str) -> Said:
        """Press the button labelled `label` among those the last answer showed."""
        return await self.press_button(self.last.button(label))

    async def press_button(self, button: Button) -> Said:
        if button.kind is ButtonKind.PRIVATE_CHAT:
            # What the channel does: open the private chat with `/start <payload>`.
            self.group = False
            return await self.send(f"/start {button.id}")
        return await self._turn(self.inbound(button=button.id))

    async def press_id(self, button_id: str) -> Said:
        return await self._turn(self.inbound(button=button_id))

    async def upload(self, name: str, data: bytes, text: str = "") -> Said:
        return await self._turn(self.inbound(text=text, files=(InboundFile(name=name, data=data),)))

    async def conversation(self) -> Conversation | None:
        """This chat's conversation row (state, flow, step, language), as stored."""
        rows = await self.bot.rows(
            Conversation,
            Conversation.channel == CHANNEL,
            Conversation.chat_id == self.chat_id,
            Conversation.user_id == self.user,
            Conversation.thread_id == self.thread,
        )
        return rows[0] if rows else None

    async def in_a_flow(self) -> bool:
        """Whether the stored conversation is in the middle of a flow (where the seller cannot ask:
        while a person has the conversation, the bot is silent)."""
        row = await self.conversation()
        return row is not None and row.flow is not None

    async def asked(self) -> list[str]:
        """What the bot is waiting for, as the seller can find out: /help shows the topics and, in
        the middle of a flow, says that it goes on and asks the step's question again; [] outside a
        flow. The last answer stays the one before (its buttons are still live)."""
        last = self.last
        menu, *rest = (await self.send("/help")).replies
        self.last = last
        assert menu.buttons, "/help shows the topics"
        if not rest:
            return []
        assert rest[0].text in {t("flows.resume", lang) for lang in replies.LANGUAGES}, rest
        return [reply.text for reply in rest[1:]]

    async def turns(self) -> list[Turn]:
        row = await self.conversation()
        assert row is not None
        return await self.bot.rows(Turn, Turn.conversation_id == row.id)


# -- the bot ------------------------------------------------------------------------------------
class Bot:
    """The conversation core on one database, with an outbox folder and a test clock."""

    def __init__(
        self,
        *,
        open_database: Callable[[], Awaitable[Database]],
        knowledge: KnowledgeBase,
        matcher: Matcher,
        outbox: Path,
        policy: Policy | None = None,
        backend: str = "sqlite",
    ) -> None:
        self._open_database = open_database
        self.knowledge = knowledge
        self.matcher = matcher
        self.outbox = OutboxMailer(outbox)
        self.policy = policy or Policy()
        self.clock = Clock()
        self.backend = backend
        self.database: Database | None = None
        self.core: ConversationCore
        self.mail: MailDispatcher

    async def start(self) -> Bot:
        self.database = await self._open_database()
        self.mail = MailDispatcher(self.outbox, public_base_url=BASE_URL)
        self.core = self.new_core()
        return self

    def new_core(self, **options: Any) -> ConversationCore:
        """A core of its own (a second bot process) on this bot's database."""
        assert self.database is not None
        return ConversationCore(
            sessions=self.database.sessions,
            policy=self.policy,
            knowledge=self.knowledge,
            matcher=self.matcher,
            mail=self.mail,
            options=CoreOptions(**{"handoff": AROUND_THE_CLOCK, **options}),
            clock=self.clock,
        )

    async def restart(self, *, policy: Policy | None = None) -> None:
        """Stop this bot and start a new one on the same database (a restart, or another process)."""
        await self.close()
        if policy is not None:
            self.policy = policy
        await self.start()

    async def close(self) -> None:
        if self.database is not None:
            await self.mail.drain()
            await self.database.close()
            self.database = None

    @property
    def sessions(self):
        assert self.database is not None
        return self.database.sessions

    def chat(
        self, user: str = "seller-1", *, group: bool = False, lang: str | None = None, numbered: bool = False
    ) -> Chat:
        return Chat(self, user, group=group, lang_hint=lang, numbered=numbered)

    # -- the world around the conversation ----------------------------------------------------
    async def mails(self, to: str | None = None) -> list[EmailMessage]:
        await self.mail.drain()
        return [m for m in self.outbox.messages() if to is None or m["To"] == to]

    async def link_code(self, to: str) -> str:
        """The 6-digit linking code of the last mail to `to`."""
        mails = await self.mails(to)
        assert mails, f"no mail to {to}"
        match = re.search(r"^\s+(\d{6})\s*$", mails[-1].get_content(), re.MULTILINE)
        assert match is not None, "no 6-digit code in the mail"
        return match.group(1)

    async def seller(
        self, *, email: str | None = None, link: Chat | None = None, stores: int = 0, **kw: Any
    ) -> Any:
        """A merchant account (active, KYC approved, payout bound, rating average unless told),
        with `stores` electronics stores rated average, linked to the chat `link` if given."""
        assert self.database is not None
        account = await make_account(self.database, self.policy, email=email, **kw)
        for n in range(stores):
            await self.store(account.id, f"Store {n + 1}")
        if link is not None:
            await self.link(link, account.id)
        return account

    async def store(
        self,
        account_id: int,
        title: str,
        *,
        specialization: Specialization | None = Specialization.ELECTRONICS,
        rating: Rating = Rating.AVERAGE,
        banned_days_ago: int | None = None,
        listings: int = 0,
    ) -> Any:
        banned_at = None if banned_days_ago is None else self.clock.now - timedelta(days=banned_days_ago)
        result = await import_store(
            sessions=self.sessions,
            policy=self.policy,
            account_id=account_id,
            title=title,
            specialization=specialization,
            rating=rating,
            banned_at=banned_at,
            listings=listings,
            actor="test",
            now=self.clock.now,
        )
        assert result.ok, result
        return result.value

    async def link(self, chat: Chat, account_id: int) -> None:
        result = await link_by_operator(
            sessions=self.sessions,
            account_id=account_id,
            channel=CHANNEL,
            chat_user_id=chat.user,
            actor="test",
        )
        assert result.ok, result

    async def rows(self, model: type[Base], *where: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.execute(select(model).where(*where).order_by(model.id))).scalars())

    async def count(self, model: type[Base], *where: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# -- fixtures -----------------------------------------------------------------------------------
# `knowledge`, `matcher` and `matcher_cache` are the session's, in tests/conftest.py.


# Questions taught under two intents at once, so that the matcher below finds each a near tie
# whatever the bundled base says elsewhere: the core's "A or B?" is tested on a sure tie.
NEAR_TIES = {
    "zh": ("揽收ERP", ("shipping_pickup", "erp_integration")),
    "en": ("store account", ("multiple_accounts", "store_management")),
}


@pytest.fixture(scope="session")
def tie_matcher(knowledge: KnowledgeBase) -> Matcher:
    """Trained on the bundled base and NEAR_TIES (session-wide: only tests/handlers/conftest.py
    imports it, so it is trained at most once)."""
    taught = [(q, intent) for q, intents in NEAR_TIES.values() for intent in intents for _ in range(3)]
    return Matcher.train(knowledge.labelled_examples() + taught, MatcherSettings())


async def _make_bot(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, knowledge: KnowledgeBase, matcher: Matcher
) -> Bot:
    if backend == "sqlite":
        path = tmp_path / "sellerbot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)

        async def open_database() -> Database:
            engine = create_engine(f"sqlite+aiosqlite:///{path}", pool_size=10, max_overflow=5)
            return Database(engine=engine, sessions=session_factory(engine))

    else:
        schema = request.getfixturevalue("postgres_schema")
        engine = postgres_engine(schema)
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
        await engine.dispose()

        async def open_database() -> Database:
            engine = postgres_engine(schema, pool_size=10, max_overflow=5)
            return Database(engine=engine, sessions=session_factory(engine))

    bot = Bot(
        open_database=open_database,
        knowledge=knowledge,
        matcher=matcher,
        outbox=tmp_path / "outbox",
        backend=backend,
    )
    return await bot.start()


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest, tmp_path: Path, knowledge: KnowledgeBase, matcher: Matcher
) -> AsyncIterator[Bot]:
    """The bot on a fresh SQLite file."""
    made = await _make_bot(request, "sqlite", tmp_path, knowledge, matcher)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def bot_any(
    request: pytest.FixtureRequest, tmp_path: Path, knowledge: KnowledgeBase, matcher: Matcher
) -> AsyncIterator[Bot]:
    """The bot on a fresh SQLite file, and on PostgreSQL when SELLERBOT_TEST_POSTGRES_URL is set."""
    made = await _make_bot(request, request.param, tmp_path, knowledge, matcher)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def tie_bot(
    request: pytest.FixtureRequest, tmp_path: Path, knowledge: KnowledgeBase, tie_matcher: Matcher
) -> AsyncIterator[Bot]:
    """The bot on a fresh SQLite file, with a matcher for which NEAR_TIES are near ties."""
    made = await _make_bot(request, "sqlite", tmp_path, knowledge, tie_matcher)
    try:
        yield made
    finally:
        await made.close()
