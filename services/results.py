"""What a service returns: the effect it had, or a refusal naming every rule that failed.

A refusal is data, not an exception: the conversation explains each violated rule in the
seller's language and says what to do, from the rule id and its parameters (which stores,
which limit). Unexpected failures (database down, a bug) remain exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Rule(StrEnum):
    """Every platform rule a service can refuse by. The value is the stable id, under which
    docs/domain.md lists the rule with the function that enforces it and the test that proves it."""

    # accounts
    EMAIL_INVALID = "email_invalid"
    EMAIL_TAKEN = "email_taken"
    MULTIPLE_ACCOUNTS = "multiple_accounts"  # a second account for the same business licence
    LICENCE_INVALID = "licence_invalid"  # Unified Social Credit Code: length, characters, check character
    COMPANY_NAME_INVALID = "company_name_invalid"
    ACCOUNT_NOT_FOUND = "account_not_found"
    ACCOUNT_NOT_ACTIVE = "account_not_active"
    COUNTRY_NOT_ACCEPTED = "country_not_accepted"  # only mainland-China companies may join
    ACCOUNT_STATE_TRANSITION = "account_state_transition"  # e.g. suspended -> pending_verification
    LIMIT_INVALID = "limit_invalid"  # an operator-set store or listing limit out of range
    # stores
    STORE_LIMIT_REACHED = "store_limit_reached"
    TITLE_LENGTH = "title_length"
    TITLE_DUPLICATE = "title_duplicate"
    TITLE_FORBIDDEN_CONTENT = "title_forbidden_content"  # URL, e-mail address or the word "Joom"
    SPECIALIZATION_INVALID = "specialization_invalid"
    ICON_FORMAT = "icon_format"  # not JPEG or PNG by content, or unreadable
    ICON_NOT_SQUARE = "icon_not_square"
    ICON_TOO_SMALL = "icon_too_small"
    ICON_TOO_LARGE = "icon_too_large"  # bytes, or a decompression bomb
    STORE_NOT_FOUND = "store_not_found"
    CANNOT_SELL = "cannot_sell"  # KYC not approved, payout unbound, or icon missing
    # quota and listing capacity
    SELLER_RATING = "seller_rating"  # performance rating must be average or perfect
    RECENT_BAN = "recent_ban"  # a store banned within ban_lookback_days
    STORE_RATINGS = "store_ratings"  # a store rated poor or critical
    UNKNOWN_STORES = "unknown_stores"  # more than max_unknown_stores rated unknown
    SPECIALIZATION_MISSING = "specialization_missing"
    REQUEST_ALREADY_OPEN = "request_already_open"
    LISTING_CAP_REACHED = "listing_cap_reached"  # already at listing_hard_cap
    REQUEST_NOT_FOUND = "request_not_found"
    REQUEST_NOT_OPEN = "request_not_open"  # already approved or rejected
    # tokens and codes
    RATE_LIMITED = "rate_limited"
    TOKEN_INVALID = "token_invalid"  # unknown, used or expired: deliberately one rule
    CODE_WRONG = "code_wrong"
    CODE_EXPIRED = "code_expired"
    CODE_ATTEMPTS_EXHAUSTED = "code_attempts_exhausted"
    # login e-mail change
    EMAIL_UNCHANGED = "email_unchanged"  # the new address is the current one
    # pickup
    PICKUP_CITY = "pickup_city"  # no door pickup in that city: send by SF Express instead
    PICKUP_DETAILS_INVALID = "pickup_details_invalid"
    # chat links
    NOT_LINKED = "not_linked"
    GROUP_CHAT = "group_chat"  # account data and actions are for private chats only
    # handoff to a person
    HANDOFF_NOT_FOUND = "handoff_not_found"
    HANDOFF_CLOSED = "handoff_closed"
    MESSAGE_INVALID = "message_invalid"  # an agent's message: empty or too long
    CHAT_IDENTITY_INVALID = "chat_identity_invalid"  # empty or malformed channel / chat user id
    HANDOFF_TAKEN = "handoff_taken"  # another agent has claimed the conversation
    # agents of the web desk
    AGENT_EXISTS = "agent_exists"
    AGENT_NOT_FOUND = "agent_not_found"
    NAME_INVALID = "name_invalid"
    PASSWORD_INVALID = "password_invalid"  # too short or too long
    SIGN_IN_FAILED = "sign_in_failed"  # wrong address or password: deliberately one rule


@dataclass(frozen=True)
class Violation:
    rule: Rule
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """The action was not taken. `violations` lists every rule that failed, not just the first."""

    violations: tuple[Violation, ...]

    ok = False

    @property
    def rules(self) -> set[Rule]:
        return {v.rule for v in self.violations}

    def violation(self, rule: Rule) -> Violation | None:
        return next((v for v in self.violations if v.rule is rule), None)


@dataclass(frozen=True)
class Done(Generic[T]):
    """The action took effect (or had already, for a repeated idempotency key)."""

    value: T

    ok = True


Result = Done[T] | Refused


def refuse(*violations: Violation) -> Refused:
    return Refused(tuple(violations))
