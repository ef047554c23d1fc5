"""A demo seller for trying the bot's actions at once (`sellerbot chat --demo`).

The seller is an active company account with KYC approved, a payout account bound, an average
rating and one electronics store, with room for one more store, and it is linked to the console
user. Running it again reuses what exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.accounts import create_account, find_account_by_email
from services.db import Sessions
from services.linking import link_by_operator, linked_account_id
from services.models import AccountState, KycStatus, PayoutStatus, Rating, Specialization
from services.policy import Policy
from services.results import Refused
from services.stores import import_store
from services.uscc import uscc_check_character

DEMO_EMAIL = "demo-seller@example.com"
DEMO_COMPANY = "深圳示例电子贸易有限公司 (Demo)"
_LICENCE_BODY = "91440300MA5DEM401"
DEMO_LICENCE = _LICENCE_BODY + uscc_check_character(_LICENCE_BODY)
DEMO_STORE = "Demo Gadgets"
ACTOR = "operator:demo"


class DemoError(Exception):
    """The demo seller could not be set up (the message says which rule refused it)."""


@dataclass(frozen=True)
class DemoSeller:
    account_id: int
    email: str
    created: bool


DEMO_ICON = "demo-icon.png"


def ensure_demo_icon(folder: Path, *, policy: Policy) -> Path:
    """A store icon that passes the icon rules (a square PNG of the minimum size), for trying
    "open a store with an icon" without looking for a picture: `/file <folder>/demo-icon.png`."""
    path = folder / DEMO_ICON
    if not path.is_file():
        from PIL import Image, ImageDraw

        size = policy.icon_min_pixels
        image = Image.new("RGB", (size, size), (255, 106, 0))
        ImageDraw.Draw(image).ellipse((size // 5, size // 5, size * 4 // 5, size * 4 // 5), fill="white")
        folder.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    return path


async def ensure_demo_seller(
    *, sessions: Sessions, policy: Policy, channel: str, chat_user_id: str
) -> DemoSeller:
    async with sessions() as session:
        existing = await find_account_by_email(session, DEMO_EMAIL)
        account_id = existing.id if existing is not None else None
    created = account_id is None
    if account_id is None:
        result = await create_account(
            sessions=sessions,
            policy=policy,
            email=DEMO_EMAIL,
            company=DEMO_COMPANY,
            licence=DEMO_LICENCE,
            state=AccountState.ACTIVE,
            kyc=KycStatus.APPROVED,
            payout=PayoutStatus.BOUND,
            rating=Rating.AVERAGE,
            store_limit=max(2, policy.store_limit),
            actor=ACTOR,
        )
        if isinstance(result, Refused):
            raise DemoError(f"cannot create the demo seller: {[v.rule.value for v in result.violations]}")
        account_id = result.value.id
        store = await import_store(
            sessions=sessions,
            policy=policy,
            account_id=account_id,
            title=DEMO_STORE,
            specialization=Specialization.ELECTRONICS,
            rating=Rating.AVERAGE,
            listings=120,
            actor=ACTOR,
        )
        if isinstance(store, Refused):
            raise DemoError(f"cannot create the demo store: {[v.rule.value for v in store.violations]}")
    async with sessions() as session:
        linked = await linked_account_id(session, channel=channel, chat_user_id=chat_user_id)
    if linked != account_id:
        result = await link_by_operator(
            sessions=sessions, account_id=account_id, channel=channel, chat_user_id=chat_user_id, actor=ACTOR
        )
        if isinstance(result, Refused):
            raise DemoError(f"cannot link the demo seller: {[v.rule.value for v in result.violations]}")
    return DemoSeller(account_id=account_id, email=DEMO_EMAIL, created=created)
