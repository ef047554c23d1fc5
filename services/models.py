"""The database schema: SQLAlchemy 2 typed models, the same on SQLite and PostgreSQL.

Every datetime is timezone-aware UTC (`UTCDateTime`). Value sets (account state, ratings, …)
are `StrEnum`s stored as short strings with a CHECK constraint, so a bad value cannot enter
either database. Secrets (reset tokens, confirmation tokens, link codes) are stored only as
hashes. A rule the database can enforce by itself is enforced there as well as in Python: the
unique e-mail and licence, unique store titles per account, and at most one open quota request
of each kind per account (a partial unique index).

The schema changes only through Alembic migrations (`services/migrations/`); a test checks
that models and migrations agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Constraint names are part of the schema: fixed conventions keep migrations reproducible and
# let SQLite batch migrations find constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones and would hand back naive values,
    so values are converted to UTC on the way in and marked UTC on the way out. A naive value
    is a bug (whose clock?), so it is rejected rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) value")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: store them without an offset, all in UTC, so that
        # string order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    """A StrEnum column stored as its value, with a CHECK constraint (no native PG enum type, so
    adding a value is a plain migration)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in cls),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class AccountState(StrEnum):
    PENDING_VERIFICATION = "pending_verification"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class KycStatus(StrEnum):
    NOT_SUBMITTED = "not_submitted"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class PayoutStatus(StrEnum):
    BOUND = "bound"
    UNBOUND = "unbound"


class Rating(StrEnum):
    """A seller's or a store's performance rating."""

    PERFECT = "perfect"
    AVERAGE = "average"
    POOR = "poor"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class Specialization(StrEnum):
    APPAREL = "apparel"
    HEALTH_BEAUTY = "health_beauty"
    ELECTRONICS = "electronics"
    ADULT = "adult"
    OTHER = "other"


class RequestKind(StrEnum):
    STORE_QUOTA = "store_quota"
    LISTING_CAPACITY = "listing_capacity"


class RequestStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class LinkVerifiedBy(StrEnum):
    CODE = "code"
    OPERATOR = "operator"


class PickupStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


class AuditOutcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"


class TurnDirection(StrEnum):
    IN = "in"
    OUT = "out"


class TurnKind(StrEnum):
    """What a turn was, for every reader of the transcript (the desk, reports): data, never
    parsed back out of the text."""

    TEXT = "text"  # typed text (or a bot's or agent's message)
    BUTTON = "button"  # a pressed button (button_id, button_label)
    FILE = "file"  # a file or photo (its uploads hold the data)
    COMMAND = "command"  # a command such as /help


class AgentRole(StrEnum):
    AGENT = "agent"  # serves handed-off conversations
    LEAD = "lead"  # also sees the reports and reassigns conversations


class HandoffStatus(StrEnum):
    WAITING = "waiting"  # handed to a person, no agent has answered yet
    ACTIVE = "active"  # an agent has answered
    CLOSED = "closed"  # back with the bot


class HandoffResolution(StrEnum):
    RESOLVED = "resolved"  # an agent closed it after answering
    UNANSWERED = "unanswered"  # closed without any agent's message
    SELLER_LEFT = "seller_left"  # the seller left the queue (/cancel)


class DeskMessageKind(StrEnum):
    """What a message in the agents' desk stands for."""

    CARD = "card"  # the context card of a handoff
    SELLER = "seller"  # a seller's message, relayed (turn_id: the seller's turn)
    AGENT = "agent"  # an agent's message, sent to the seller (turn_id: the agent's turn)
    ASSIST = "assist"  # the knowledge base's suggested answer (text), with a button to send it
    NOTE = "note"  # an agent's internal note (text), never sent to the seller
    NOTICE = "notice"  # the desk's own notices (closed, rated, reminders)


class UpdateStatus(StrEnum):
    PENDING = "pending"  # stored, waiting for its turn in its chat
    PROCESSING = "processing"  # a process has taken it (see InboundUpdate.handled_by)
    DONE = "done"  # handled; the row stays a while so that a redelivery is recognised
    ABANDONED = "abandoned"  # its process died while handling it: never run again (it may have acted)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSONDocument,
    }


class Account(Base):
    """A merchant account (one company). Mirrors the platform's record of the seller."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    # The address lower-cased: the unique key, so "Seller@X.com" and "seller@x.com" are one login.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    company: Mapped[str] = mapped_column(String(200))
    # Unified Social Credit Code, normalised (services.uscc.normalize_licence): one company, one account.
    licence: Mapped[str] = mapped_column(String(18), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    state: Mapped[AccountState] = mapped_column(_enum(AccountState, "account_state"))
    kyc: Mapped[KycStatus] = mapped_column(_enum(KycStatus, "kyc_status"))
    payout: Mapped[PayoutStatus] = mapped_column(_enum(PayoutStatus, "payout_status"))
    rating: Mapped[Rating] = mapped_column(_enum(Rating, "seller_rating"))
    store_limit: Mapped[int] = mapped_column(Integer)
    listing_limit: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    stores: Mapped[list[Store]] = relationship(back_populates="account", order_by="Store.id")

    __table_args__ = (
        CheckConstraint("store_limit >= 0", name="store_limit_non_negative"),
        CheckConstraint("listing_limit >= 0", name="listing_limit_non_negative"),
    )


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    # The title folded for comparison (NFKC, case-folded, spaces collapsed): unique per account.
    title_key: Mapped[str] = mapped_column(String(200))
    # None: a store opened before specializations existed; it blocks quota requests.
    specialization: Mapped[Specialization | None] = mapped_column(
        _enum(Specialization, "store_specialization"), nullable=True
    )
    rating: Mapped[Rating] = mapped_column(_enum(Rating, "store_rating"))
    # False: temporarily closed by the seller, or banned.
    enabled: Mapped[bool] = mapped_column(Boolean)
    banned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    listings: Mapped[int] = mapped_column(Integer, default=0)
    icon_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    icon_format: Mapped[str | None] = mapped_column(String(8), nullable=True)
    icon_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="stores")

    __table_args__ = (
        UniqueConstraint("account_id", "title_key"),
        CheckConstraint("listings >= 0", name="listings_non_negative"),
    )


class QuotaRequest(Base):
    """A request for more stores (store_quota) or more listings per store (listing_capacity)."""

    __tablename__ = "quota_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RequestKind] = mapped_column(_enum(RequestKind, "request_kind"))
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus, "request_status"))
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The agent's reason for a rejection (shown to the seller).
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The limit before and after an approval (store_limit or listing_limit).
    limit_before: Mapped[int | None] = mapped_column(Integer, nullable=True)
    limit_after: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        # At most one open request of each kind per account, enforced by the database itself so
        # that two concurrent requests cannot both stay open. Partial indexes exist on both backends.
        Index(
            "uq_quota_requests_one_open_per_kind",
            "account_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )


class ResetToken(Base):
    """A password-reset request. For an address with no account the row is still written (with a
    token nobody receives) so that registered and unknown addresses cost the same and share the
    same rate limit: the reply reveals nothing."""

    __tablename__ = "reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The requested address, lower-cased: the rate limit counts per address as well as per account.
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EmailChangeRequest(Base):
    __tablename__ = "email_change_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    new_email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The link in the warning to the current address that stops this change, or undoes it once
    # confirmed (hashed like the confirmation token; NULL for requests made before it existed).
    cancel_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    # The login before the confirmation (what an undo restores).
    previous_email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # When the cancel link was used, and when this confirmed change was undone by one.
    cancel_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    undone_at: Mapped[datetime | None] = mapped_column(nullable=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Set when a newer request, a confirmation or an expiry made this one unusable.
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LinkCode(Base):
    """A 6-digit code mailed to link a chat user to an account. As with reset tokens, an unknown
    address gets a row too (account_id NULL, a code nobody receives), so both cases behave alike."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_user_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    # Per-code random salt for the HMAC: equal codes do not give equal hashes.
    salt: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    # Set when the code is used, replaced by a newer one, or its tries are exhausted.
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (Index("ix_link_codes_chat_user", "channel", "chat_user_id", "created_at"),)


class ChatLink(Base):
    """A chat user (per channel) linked to one merchant account."""

    __tablename__ = "chat_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_user_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    verified_by: Mapped[LinkVerifiedBy] = mapped_column(_enum(LinkVerifiedBy, "link_verified_by"))
    linked_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (UniqueConstraint("channel", "chat_user_id"),)


class PickupBooking(Base):
    __tablename__ = "pickup_bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    city: Mapped[str] = mapped_column(String(64))  # canonical English name
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str] = mapped_column(String(32))  # normalised digits
    parcels: Mapped[int] = mapped_column(Integer)
    pickup_date: Mapped[date] = mapped_column()
    status: Mapped[PickupStatus] = mapped_column(_enum(PickupStatus, "pickup_status"))
    booked_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (CheckConstraint("parcels > 0", name="parcels_positive"),)


class AuditEvent(Base):
    """Every action and every refusal: who, what, on which account, with what outcome."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[AuditOutcome] = mapped_column(_enum(AuditOutcome, "audit_outcome"))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IdempotencyKey(Base):
    """An action already performed under a caller-chosen key: repeating it returns the first
    result instead of acting again."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the action's arguments: the same key with different arguments is a caller bug.
    request_hash: Mapped[str] = mapped_column(String(64))
    # The row the action created or changed (store, request, booking …), to rebuild the result.
    result_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column()


class Conversation(Base):
    """The state of one conversation (per channel, chat, thread and user), kept in the database
    so that any bot process can serve the next message. `version` gives optimistic concurrency:
    a stale write raises StaleDataError instead of silently losing an update."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128))
    # Empty string rather than NULL: NULLs never collide in a unique constraint.
    thread_id: Mapped[str] = mapped_column(String(128), default="")
    user_id: Mapped[str] = mapped_column(String(128), default="")
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # The user's name as the channel last showed it (for the agents' desk).
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    flow: Mapped[str | None] = mapped_column(String(64), nullable=True)
    step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}
    __table_args__ = (UniqueConstraint("channel", "chat_id", "thread_id", "user_id"),)


class Turn(Base):
    """One message in or out of a conversation, with what the matcher made of it."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[TurnDirection] = mapped_column(_enum(TurnDirection, "turn_direction"))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    decision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    flow_step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Who wrote an outgoing message: None for the bot, "agent:<name>" for a person.
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The channel's id of an incoming message (a Telegram message id), so a person's answer can
    # quote the message it answers.
    channel_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[TurnKind] = mapped_column(
        _enum(TurnKind, "turn_kind"), default=TurnKind.TEXT, server_default=TurnKind.TEXT.value
    )
    # A pressed button's id and the label the seller saw (kind "button").
    button_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    button_label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # What the seller typed, alone (an incoming turn's `text` also describes its files and the
    # button pressed, for people reading the transcript).
    typed_text: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_turns_conversation", "conversation_id", "created_at"),)


class Handoff(Base):
    """A conversation handed to a person. While it is open the bot stays silent in that
    conversation and keeps the transcript; closing it returns the conversation to the bot."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[HandoffStatus] = mapped_column(_enum(HandoffStatus, "handoff_status"))
    # Why: "requested" (the seller asked), "misses" (the bot could not answer twice),
    # "email_change_no_match" (a rule that sends the case to a person), ...
    reason: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column()
    first_reply_at: Mapped[datetime | None] = mapped_column(nullable=True)
    agent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolution: Mapped[HandoffResolution | None] = mapped_column(
        _enum(HandoffResolution, "handoff_resolution"), nullable=True
    )
    # The seller's rating of the help (1–5), asked for when an agent closes the handoff.
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The agent who took the conversation on the web desk: only they reply (from any desk).
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
        # One open handoff per conversation, whatever races between processes.
        Index(
            "uq_handoffs_one_open_per_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
    )


class Delivery(Base):
    """A message for a seller that does not answer an inbound message (an agent's reply): the
    seller's channel adapter picks it up and sends it, on whichever process serves the channel."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    # Buttons under the message: [[id, label], ...]; their meaning is in the conversation state.
    buttons: Mapped[list[Any] | None] = mapped_column(JSONDocument, nullable=True)
    # A file sent with the message (an agent's photo or document).
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("uploads.id", ondelete="SET NULL"), nullable=True
    )
    # The channel's id of the seller's message this one answers (quoted where the channel can).
    reply_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Set when the seller's channel refused the message for good (`failure`: "blocked" — the
    # seller blocked the bot or left —, "refused" or "error"): the agents' desk tells the agent,
    # once (`failure_noticed_at`), so nobody believes an answer arrived that did not.
    failed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    failure: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failure_noticed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Set when the seller's channel cannot send it yet (QQ answers a seller only within a while of
    # their last message): it waits for the seller's next message, and the desk tells the agent,
    # once (`held_noticed_at`). Cleared when the seller writes again.
    held_at: Mapped[datetime | None] = mapped_column(nullable=True)
    held_noticed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (Index("ix_deliveries_pending", "delivered_at", "conversation_id"),)


class Upload(Base):
    """A file of a conversation, in the database so that any bot process can use it: a store icon
    a seller sent during a flow (kept until the flow uses it), or a file of a handed-off
    conversation (the seller's or an agent's, kept with the transcript; `turn_id` is its turn)."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("turns.id", ondelete="CASCADE"), nullable=True, index=True
    )
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mime_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column()


class InboundUpdate(Base):
    """An update a chat channel delivered (a Telegram update), stored before it is handled.

    The primary key makes each update take effect once: a second delivery of the same update
    (Telegram retrying a webhook, polling again after a restart, another process) fails to
    insert and is dropped. Stored updates are the work queue: the updates of one chat
    (`chat_key`) are handled one at a time in `update_id` order, by whichever process holds the
    chat's lease (`ChatLease`), while different chats are handled side by side. The payload is
    JSON text (not JSONB: a message may contain a NUL character, which JSONB refuses) and is
    cleared once the update is handled; the row itself is pruned after a couple of days.
    """

    __tablename__ = "inbound_updates"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[UpdateStatus] = mapped_column(_enum(UpdateStatus, "update_status"))
    received_at: Mapped[datetime] = mapped_column()
    # Which process took it in and which handled it ("host:pid:random"), for operators and tests.
    received_by: Mapped[str] = mapped_column(String(100))
    handled_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # For channels whose updates carry a string id instead of a number (QQ): that id, by which a
    # redelivery is recognised; `update_id` is then the order of arrival.
    event_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Times a process took it and died before it was handled: it is handled again (the turn's
    # state, transcript and replies are saved with its completion, and actions carry idempotency
    # keys), unless it keeps failing so (then the sender is told to send it again).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        # The next update of a chat, and the chats with work waiting.
        Index("ix_inbound_updates_queue", "channel", "status", "chat_key", "update_id"),
        Index("ix_inbound_updates_finished", "finished_at"),
        Index("ux_inbound_updates_event_key", "channel", "event_key", unique=True),
        # A chat's updates in order (its next one): without it SQLite walks the primary key, in
        # update_id order, through every update the channel has stored.
        Index("ix_inbound_updates_chat", "channel", "chat_key", "update_id"),
    )


class ChatLease(Base):
    """Which process handles a chat's updates right now, until `expires_at`. The holder renews
    it while it works; a process that dies stops renewing, and another takes the chat over once
    the lease has expired."""

    __tablename__ = "chat_leases"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    chat_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column()


class DeskTopic(Base):
    """The forum topic of a conversation in the agents' group (the desk). One topic per
    conversation and group, whatever races between processes; it is reopened for the
    conversation's next handoff, and replaced if someone deleted it."""

    __tablename__ = "desk_topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(128))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The language of the desk's texts in this topic (/lang).
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        UniqueConstraint("chat_id", "conversation_id"),
        UniqueConstraint("chat_id", "thread_id"),
    )


class DeskHandoff(Base):
    """What the desk has done for one handoff: its context card, how far the seller's messages
    are relayed, the reminder, and the notices once it is closed and rated."""

    __tablename__ = "desk_handoffs"

    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("desk_topics.id", ondelete="CASCADE"), index=True)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The seller's turns up to this id are in the topic (in the card or relayed).
    relayed_turn_id: Mapped[int] = mapped_column(Integer, default=0)
    # The start of the seller's wait the desk was last reminded of (one reminder per wait).
    reminded_for: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_noticed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rating_noticed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column()


class DeskMessage(Base):
    """A message in the agents' desk and what it stands for: the mapping between the desk's
    message ids and the conversation (never read from a forwarded message's origin)."""

    __tablename__ = "desk_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a note written on the web desk (it has no topic).
    topic_id: Mapped[int | None] = mapped_column(
        ForeignKey("desk_topics.id", ondelete="CASCADE"), nullable=True
    )
    handoff_id: Mapped[int | None] = mapped_column(
        ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The message's id in the agents' group (None until sent).
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kind: Mapped[DeskMessageKind] = mapped_column(_enum(DeskMessageKind, "desk_message_kind"))
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("turns.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # A note's text, or the answer an assist message suggests.
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # An assist message: when (and by whom, `author`) its answer was sent to the seller.
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_desk_messages_topic_message", "topic_id", "message_id"),)


class ReplyWindow(Base):
    """A seller's latest message on a channel that lets the bot answer only in reply to one (the
    official QQ API): the bot may answer it until `opened_at` plus the channel's window, at most
    the channel's number of times, each answer numbered (`used`, its msg_seq). One row per
    seller and chat; a newer message replaces the older."""

    __tablename__ = "reply_windows"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    chat_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # The message (or, for a button press, the event) an answer refers to.
    reference: Mapped[str] = mapped_column(String(128))
    reference_kind: Mapped[str] = mapped_column(String(16))  # "msg_id" or "event_id"
    opened_at: Mapped[datetime] = mapped_column()
    used: Mapped[int] = mapped_column(Integer, default=0)


class SendOutcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # the channel refused it for good, or it could no longer be sent
    UNKNOWN = "unknown"  # the channel did not say (a timeout): it may have arrived; never resent


class OutboundMessage(Base):
    """What became of a message the bot sent on a channel that needs a record of it (QQ): the
    channel's id of a sent message (a seller who replies to it addresses the bot), a message that
    could not be sent and why (never retried blindly), or one whose fate is unknown."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_key: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[SendOutcome] = mapped_column(_enum(SendOutcome, "send_outcome"))
    # What it was: its text (cut), or the name of a file.
    summary: Mapped[str] = mapped_column(Text)
    failure: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # The seller's message it answered, if any.
    reply_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column()

    __table_args__ = (
        Index("ix_outbound_messages_sent", "channel", "chat_key", "channel_message_id"),
        Index("ix_outbound_messages_created", "created_at"),
    )


class OutboxStatus(StrEnum):
    PENDING = "pending"  # written with the turn; waiting for the channel's sender
    SENT = "sent"
    FAILED = "failed"  # the channel refused it for good (the seller blocked the bot, …)


class OutboxMessage(Base):
    """A message on its way to a chat (a turn's replies, an agent's message), written in the
    transaction of its cause, so that a crash loses none: the chat's holder sends the chat's rows
    in order, within the channel's limits, and marks each sent (with the channel's ids of the
    messages) — a crash between the send and the mark sends it once more (`services.outbox`)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    # The order a chat's messages keep (the channel's chat key, as for inbound updates).
    chat_key: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), nullable=True
    )
    # An agent's message: the delivery it sends (marked failed with the row, for the desk).
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), nullable=True
    )
    # JSON: where it goes (chat, thread, user, the message it answers) and what.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    failure: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # JSON list of the channel's ids of the messages sent.
    message_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_outbox_pending", "channel", "status", "chat_key", "id"),
        Index("ix_outbox_created", "created_at"),
    )


class Agent(Base):
    """A support agent who signs in to the web desk (`sellerbot serve`)."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The sign-in address, lower-cased.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[AgentRole] = mapped_column(_enum(AgentRole, "agent_role"))
    # argon2id; None until the agent has set a password through their link.
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The desk's own language for this agent (zh or en).
    language: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[datetime] = mapped_column()
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AgentToken(Base):
    """A one-time link to set an agent's password (the rules of reset links: random, stored as
    its hash, single use, expiring)."""

    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AgentSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its hash."""

    __tablename__ = "agent_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    # The session's CSRF token, carried by every form that changes something.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SignInAttempt(Base):
    """A failed sign-in, counted per address and per IP for the rate limit."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "email:<address>" or "ip:<address>"
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_sign_in_attempts_key", "key", "at"),)
