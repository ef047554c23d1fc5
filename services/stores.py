"""Stores: opening one, the title rules, the icon, and when a store may sell.

Title rules, and the decisions taken where the platform's rules leave room:

* The title is NFKC-normalised (full-width letters and digits become ASCII) with runs of
  white space collapsed, then must be `title_min_length`–`title_max_length` characters.
* Unique among the account's stores, compared case-insensitively (`title_key`).
* No URL, no e-mail address, and not the word "Joom" in any disguise: any case, full-width,
  with accents, with look-alike letters (Cyrillic "о", Greek "ο", digit "0"), stretched
  ("Jooom"), spelled out with separators ("J o o m", "J.O.O.M") or inside a word ("JoomShop",
  "MyJoom"). Separators are ignored only around single characters, so two ordinary words that
  happen to meet ("Banjo Omni") are not refused.
* Control and invisible formatting characters are refused too (they hide text).

The rules, with their tests: docs/domain.md#store_limit_reached, docs/domain.md#title_length,
docs/domain.md#title_duplicate, docs/domain.md#title_forbidden_content,
docs/domain.md#specialization_invalid, docs/domain.md#new_store_unknown, docs/domain.md#cannot_sell.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.actions import Outcome, run_action
from services.db import Sessions
from services.icons import IconInfo, check_icon
from services.models import (
    Account,
    AccountState,
    KycStatus,
    PayoutStatus,
    Rating,
    Specialization,
    Store,
    utcnow,
)
from services.policy import Policy
from services.results import Done, Refused, Rule, Violation, refuse

SPECIALIZATIONS = tuple(s.value for s in Specialization)

# Names sellers use for each specialization, besides its id (matched after `_label_key`).
_SPECIALIZATION_NAMES: dict[str, Specialization] = {
    "apparel": Specialization.APPAREL,
    "clothing": Specialization.APPAREL,
    "fashion": Specialization.APPAREL,
    "服装": Specialization.APPAREL,
    "服饰": Specialization.APPAREL,
    "healthbeauty": Specialization.HEALTH_BEAUTY,
    "healthandbeauty": Specialization.HEALTH_BEAUTY,
    "beauty": Specialization.HEALTH_BEAUTY,
    "健康与美容": Specialization.HEALTH_BEAUTY,
    "健康美容": Specialization.HEALTH_BEAUTY,
    "美妆": Specialization.HEALTH_BEAUTY,
    "electronics": Specialization.ELECTRONICS,
    "电子": Specialization.ELECTRONICS,
    "电子产品": Specialization.ELECTRONICS,
    "adult": Specialization.ADULT,
    "成人": Specialization.ADULT,
    "成人用品": Specialization.ADULT,
    "other": Specialization.OTHER,
    "其他": Specialization.OTHER,
}


def _label_key(text: str) -> str:
    return re.sub(r"[\s_&/+\-、·.]+", "", unicodedata.normalize("NFKC", text).casefold())


def parse_specialization(text: str | Specialization | None) -> Specialization | None:
    """The specialization a seller or operator named ("health & beauty", "美妆", "apparel"), or
    None if it is not one of the five."""
    if isinstance(text, Specialization):
        return text
    if not text:
        return None
    return _SPECIALIZATION_NAMES.get(_label_key(text))


# --- titles -----------------------------------------------------------------------------------

# Letters that look like the letters of "joom" in other scripts, and digits that stand in for them
# ("rn", which reads as "m" in most fonts, is replaced separately).
_LOOKALIKES = str.maketrans(
    {
        "0": "o",
        "о": "o",  # Cyrillic o
        "ο": "o",  # Greek omicron
        "օ": "o",  # Armenian oh
        "ᴏ": "o",  # small capital o
        "ј": "j",  # Cyrillic je
        "ʝ": "j",
        "ϳ": "j",  # Greek yot
        "м": "m",  # Cyrillic em
        "ɱ": "m",
        "ᴍ": "m",
    }
)
_BRAND = "joom"
_URL = re.compile(
    r"(?:https?://|www\.|://)"
    r"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|cn|hk|tw|shop|store|top|xyz|site|online|vip|club|info|biz|io|co|me|cc|tv|app|"
    r"ru|us|uk|de|fr|jp|kr|in|ly|link|live|tech|asia)\b",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_DOTS = str.maketrans({"。": ".", "｡": ".", "．": "."})


def clean_title(text: str) -> str:
    """The title as stored: NFKC, white space collapsed and trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def title_key(text: str) -> str:
    """The title as compared for uniqueness within an account."""
    return clean_title(text).casefold()


def _skeleton_words(text: str) -> list[str]:
    """The title's words reduced to what they look like: no accents, one case, look-alikes
    replaced, invisible characters dropped, runs of "o" shortened, and single characters joined
    to their neighbours (so "J o o m" and "J oom" read "joom", while "Banjo Omni" stays apart)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Mn", "Me", "Cf"))
    text = text.casefold().translate(_LOOKALIKES).replace("rn", "m")
    words = [re.sub(r"o{3,}", "oo", w) for w in re.findall(r"[^\W_]+", text)]
    merged: list[str] = []
    for word in words:
        if merged and (len(word) == 1 or len(merged[-1]) == 1):
            merged[-1] += word
        else:
            merged.append(word)
    return merged


def mentions_brand(text: str) -> bool:
    """Whether the title contains the word "Joom", however disguised (see the module notes)."""
    return any(_BRAND in word for word in _skeleton_words(text))


def forbidden_content(title: str) -> list[str]:
    """What a title contains that titles may not: "url", "email", "joom", "control"."""
    text = unicodedata.normalize("NFKC", title).translate(_DOTS)
    found = []
    if _URL.search(text):
        found.append("url")
    if _EMAIL.search(text):
        found.append("email")
    if mentions_brand(title):
        found.append("joom")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in title if ch not in "\t\n\r"):
        found.append("control")
    return found


def title_violations(title: str, *, existing_titles: Sequence[str], policy: Policy) -> list[Violation]:
    """Every rule the title breaks: length, forbidden content, a duplicate of another store of the
    account (`existing_titles`; the refusal quotes that store's title as it is written)."""
    cleaned = clean_title(title)
    problems = []
    if not policy.title_min_length <= len(cleaned) <= policy.title_max_length:
        problems.append(
            Violation(
                Rule.TITLE_LENGTH,
                {"length": len(cleaned), "min": policy.title_min_length, "max": policy.title_max_length},
            )
        )
    found = forbidden_content(title)
    if found:
        problems.append(Violation(Rule.TITLE_FORBIDDEN_CONTENT, {"title": cleaned, "found": found}))
    same = next((t for t in existing_titles if title_key(t) == title_key(cleaned)), None) if cleaned else None
    if same is not None:
        problems.append(Violation(Rule.TITLE_DUPLICATE, {"title": same}))
    return problems


# --- selling ------------------------------------------------------------------------------------


def account_blockers(state: AccountState, kyc: KycStatus, payout: PayoutStatus) -> list[str]:
    """What of the account stops every store of it from selling: "account_not_active",
    "kyc_not_approved", "payout_unbound"."""
    blockers = []
    if state is not AccountState.ACTIVE:
        blockers.append("account_not_active")
    if kyc is not KycStatus.APPROVED:
        blockers.append("kyc_not_approved")
    if payout is not PayoutStatus.BOUND:
        blockers.append("payout_unbound")
    return blockers


def selling_blockers(account: Account, store: Store) -> list[str]:
    """What stops the store from selling: the account's blockers (`account_blockers`),
    "icon_missing", "store_disabled". Empty when it can sell."""
    blockers = account_blockers(account.state, account.kyc, account.payout)
    if store.icon_sha256 is None:
        blockers.append("icon_missing")
    if not store.enabled:
        blockers.append("store_disabled")
    return blockers


def can_sell(account: Account, store: Store) -> Done[None] | Refused:
    """Done when the store can sell; otherwise CANNOT_SELL naming everything still missing."""
    missing = selling_blockers(account, store)
    if missing:
        return refuse(Violation(Rule.CANNOT_SELL, {"store": store.title, "missing": missing}))
    return Done(None)


# --- views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreView:
    id: int
    account_id: int
    title: str
    specialization: Specialization | None
    rating: Rating
    enabled: bool
    banned_at: datetime | None
    listings: int
    has_icon: bool
    created_at: datetime
    # Empty when the store can sell; else what is missing (see `selling_blockers`).
    selling_blockers: tuple[str, ...]

    @property
    def can_sell(self) -> bool:
        return not self.selling_blockers

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "specialization": self.specialization.value if self.specialization else None,
            "rating": self.rating.value,
            "enabled": self.enabled,
            "banned_at": self.banned_at.isoformat() if self.banned_at else None,
            "listings": self.listings,
            "has_icon": self.has_icon,
            "can_sell": self.can_sell,
            "selling_blockers": list(self.selling_blockers),
            "created_at": self.created_at.isoformat(),
        }


def store_view(account: Account, store: Store) -> StoreView:
    return StoreView(
        id=store.id,
        account_id=store.account_id,
        title=store.title,
        specialization=store.specialization,
        rating=store.rating,
        enabled=store.enabled,
        banned_at=store.banned_at,
        listings=store.listings,
        has_icon=store.icon_sha256 is not None,
        created_at=store.created_at,
        selling_blockers=tuple(selling_blockers(account, store)),
    )


async def account_stores(session: AsyncSession, account_id: int) -> list[Store]:
    stmt = select(Store).where(Store.account_id == account_id).order_by(Store.id)
    return list((await session.execute(stmt)).scalars())


async def list_stores(session: AsyncSession, *, account_id: int) -> list[StoreView]:
    """The account's stores, oldest first (empty for an unknown account)."""
    account = await session.get(Account, account_id)
    if account is None:
        return []
    return [store_view(account, s) for s in await account_stores(session, account_id)]


async def _replay_store(session: AsyncSession, store_id: int | None) -> StoreView:
    store = await session.get(Store, store_id)
    assert store is not None
    account = await session.get(Account, store.account_id)
    assert account is not None
    return store_view(account, store)


def _apply_icon(store: Store, icon: IconInfo | None) -> None:
    if icon is not None:
        store.icon_sha256, store.icon_format, store.icon_size = icon.sha256, icon.format, icon.size


def _specialization_violation(
    given: str | Specialization | None,
) -> tuple[Specialization | None, list[Violation]]:
    parsed = parse_specialization(given)
    if parsed is None:
        given_text = given.value if isinstance(given, Specialization) else given
        return None, [
            Violation(Rule.SPECIALIZATION_INVALID, {"given": given_text, "options": list(SPECIALIZATIONS)})
        ]
    return parsed, []


def _icon_violations(icon: bytes | None, policy: Policy) -> tuple[IconInfo | None, list[Violation]]:
    if icon is None:
        return None, []
    checked = check_icon(icon, policy=policy)
    if isinstance(checked, Refused):
        return None, list(checked.violations)
    return checked.value, []


# --- actions ------------------------------------------------------------------------------------


def opening_blockers(*, state: AccountState, store_limit: int, stores: int) -> list[Violation]:
    """What stops the account from opening any store now, whatever the title: an account that is
    not active, and no free slot under its store limit (closed stores count too). A conversation
    checks this before asking for a title; `open_store` checks it again."""
    violations: list[Violation] = []
    if state is not AccountState.ACTIVE:
        violations.append(Violation(Rule.ACCOUNT_NOT_ACTIVE, {"state": state.value}))
    if stores >= store_limit:
        violations.append(Violation(Rule.STORE_LIMIT_REACHED, {"limit": store_limit, "stores": stores}))
    return violations


async def open_store(
    *,
    sessions: Sessions,
    policy: Policy,
    account_id: int,
    title: str,
    specialization: str | Specialization | None,
    icon: bytes | None = None,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[StoreView] | Refused:
    """Open a store for the seller. Needs an active account and a free slot under store_limit
    (all stores count, closed and banned ones too), a valid title, one of the five
    specializations, and, if an icon is given, a valid icon (it may be added later, but the store
    cannot sell without one). A new store starts rated `unknown`."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[StoreView]:
        account = await session.get(Account, account_id)
        if account is None:
            return Outcome(refuse(Violation(Rule.ACCOUNT_NOT_FOUND, {"account_id": account_id})))
        stores = await account_stores(session, account.id)
        violations = opening_blockers(
            state=account.state, store_limit=account.store_limit, stores=len(stores)
        )
        violations += title_violations(title, existing_titles=[s.title for s in stores], policy=policy)
        parsed, problems = _specialization_violation(specialization)
        violations += problems
        icon_info, problems = _icon_violations(icon, policy)
        violations += problems
        if violations:
            return Outcome(refuse(*violations), account_id=account.id)
        store = Store(
            account_id=account.id,
            title=clean_title(title),
            title_key=title_key(title),
            specialization=parsed,
            rating=Rating.UNKNOWN,
            enabled=True,
            banned_at=None,
            listings=0,
            created_at=now,
        )
        _apply_icon(store, icon_info)
        session.add(store)
        await session.flush()
        return Outcome(
            Done(store_view(account, store)),
            account_id=account.id,
            result_id=store.id,
            details={"store_id": store.id},
        )

    return await run_action(
        sessions,
        action="open_store",
        actor=actor,
        params={
            "account_id": account_id,
            "title": title,
            "specialization": str(specialization) if specialization is not None else None,
            # the icon's content is not logged, only whether one was given
            "icon": icon is not None,
        },
        work=work,
        replay=_replay_store,
        now=now,
        account_id=account_id,
        idempotency_key=idempotency_key,
    )


async def set_store_icon(
    *,
    sessions: Sessions,
    policy: Policy,
    account_id: int,
    store_id: int,
    icon: bytes,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[StoreView] | Refused:
    """Give a store its icon (JPEG or PNG by content, square, large enough, small enough)."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[StoreView]:
        account = await session.get(Account, account_id)
        store = await session.get(Store, store_id)
        if account is None:
            return Outcome(refuse(Violation(Rule.ACCOUNT_NOT_FOUND, {"account_id": account_id})))
        if store is None or store.account_id != account.id:
            return Outcome(
                refuse(Violation(Rule.STORE_NOT_FOUND, {"store_id": store_id})), account_id=account.id
            )
        icon_info, problems = _icon_violations(icon, policy)
        if problems:
            return Outcome(refuse(*problems), account_id=account.id)
        _apply_icon(store, icon_info)
        await session.flush()
        return Outcome(Done(store_view(account, store)), account_id=account.id, result_id=store.id)

    return await run_action(
        sessions,
        action="set_store_icon",
        actor=actor,
        params={"account_id": account_id, "store_id": store_id, "icon_bytes": len(icon)},
        work=work,
        replay=_replay_store,
        now=now,
        account_id=account_id,
        idempotency_key=idempotency_key,
    )


async def import_store(
    *,
    sessions: Sessions,
    policy: Policy,
    account_id: int,
    title: str,
    specialization: str | Specialization | None,
    rating: Rating = Rating.UNKNOWN,
    banned_at: datetime | None = None,
    listings: int = 0,
    actor: str,
    now: datetime | None = None,
) -> Done[StoreView] | Refused:
    """Record a store that already exists on the platform (operator tooling). Unlike
    `open_store` it neither needs an active account nor a free slot, and it may have no
    specialization (older stores), a rating, a ban date and listings; the title rules apply.
    A banned store is recorded as disabled."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[StoreView]:
        account = await session.get(Account, account_id)
        if account is None:
            return Outcome(refuse(Violation(Rule.ACCOUNT_NOT_FOUND, {"account_id": account_id})))
        stores = await account_stores(session, account.id)
        violations = title_violations(title, existing_titles=[s.title for s in stores], policy=policy)
        parsed = None
        if specialization is not None:
            parsed, problems = _specialization_violation(specialization)
            violations += problems
        if not 0 <= listings <= policy.listing_hard_cap:
            # active and inactive listings together never exceed the hard cap
            violations.append(
                Violation(
                    Rule.LIMIT_INVALID,
                    {"field": "listings", "value": listings, "min": 0, "max": policy.listing_hard_cap},
                )
            )
        if banned_at is not None and banned_at > now:
            violations.append(
                Violation(
                    Rule.LIMIT_INVALID, {"field": "banned_at", "value": banned_at.isoformat(), "max": "now"}
                )
            )
        if violations:
            return Outcome(refuse(*violations), account_id=account.id)
        store = Store(
            account_id=account.id,
            title=clean_title(title),
            title_key=title_key(title),
            specialization=parsed,
            rating=rating,
            enabled=banned_at is None,
            banned_at=banned_at,
            listings=listings,
            created_at=now,
        )
        session.add(store)
        await session.flush()
        return Outcome(
            Done(store_view(account, store)),
            account_id=account.id,
            result_id=store.id,
            details={"store_id": store.id},
        )

    return await run_action(
        sessions,
        action="import_store",
        actor=actor,
        params={
            "account_id": account_id,
            "title": title,
            "specialization": str(specialization) if specialization is not None else None,
            "rating": rating,
            "banned_at": banned_at,
            "listings": listings,
        },
        work=work,
        replay=_replay_store,
        now=now,
        account_id=account_id,
    )
