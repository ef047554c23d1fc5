"""Opening a store: title → specialization → icon (optional, as a file) → summary → confirm.

Each answer is checked with the same rules `services.stores.open_store` enforces, as soon as it
is given; the summary lets the seller change any answer; the store is opened only on confirm,
once, however often the button is pressed.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Answer, Flow, On, step_table
from handlers.helpers import explain_refusal, load_account
from handlers.state import FlowData
from handlers.types import InboundFile
from services import uploads
from services.explain import label
from services.icons import check_icon
from services.models import Specialization
from services.results import Refused, Rule, refuse
from services.stores import (
    list_stores,
    open_store,
    opening_blockers,
    parse_specialization,
    title_violations,
)

SPECIALIZATIONS = [s.value for s in Specialization]


class Step(StrEnum):
    TITLE = "title"
    SPECIALIZATION = "specialization"
    ICON = "icon"
    SUMMARY = "summary"


@dataclass
class OpenStoreAnswers(FlowData):
    title: str | None = None
    specialization: str | None = None  # a Specialization value
    # the icon sent, kept as an upload until the store is opened, and how the summary shows it
    icon_upload: int | None = None
    icon_desc: str | None = None


_OPENING_A_STORE = re.compile(r"开.{0,4}[店铺]|\bopen\b.{0,20}\b(store|shop)s?\b", re.IGNORECASE)


class OpenStoreFlow(Flow[OpenStoreAnswers]):
    name = "open_store"
    kb_action = "open_store"
    payload = "open_store"
    answers_type = OpenStoreAnswers
    # "我想再开一家店铺" and "我想再开一个店铺" fall either side of the line between opening a store and
    # asking for more: a request that speaks of opening one opens one, and at the limit `begin`
    # says so ("2 of 2 stores used") and offers the increase with the eligibility result.
    claimed_intents = ("quota_increase", "store_limits")

    def claims(self, text: str) -> bool:
        return _OPENING_A_STORE.search(text) is not None

    async def begin(self, ctx: TurnContext) -> None:
        account = await load_account(ctx)
        if account is None:  # unlinked meanwhile
            ctx.say("errors.not_linked")
            return
        blockers = opening_blockers(
            state=account.state, store_limit=account.store_limit, stores=account.stores
        )
        if blockers:
            explain_refusal(ctx, refuse(*blockers))
            if any(v.rule is Rule.STORE_LIMIT_REACHED for v in blockers):
                ctx.say(
                    "open_store.offer_quota",
                    buttons=ctx.buttons((ctx.text("actions.quota"), "flow", "quota")),
                )
            return
        self.enter(ctx, Step.TITLE)
        ctx.say("open_store.intro", free=account.store_limit - account.stores)
        await self.prompt(ctx)

    # -- the steps --------------------------------------------------------------------------
    async def _ask_title(self, ctx: TurnContext) -> None:
        policy = ctx.core.policy
        ctx.say("open_store.ask_title", min=policy.title_min_length, max=policy.title_max_length)

    async def _ask_specialization(self, ctx: TurnContext) -> None:
        # Labels are written for the middle of a sentence; a button starts with a capital.
        names = [label("specialization", s, ctx.lang) for s in SPECIALIZATIONS]
        buttons = self.choices(
            ctx, *[(n[:1].upper() + n[1:], s) for n, s in zip(names, SPECIALIZATIONS, strict=True)]
        )
        ctx.say("open_store.ask_specialization", buttons=buttons)

    async def _type_specialization(self, ctx: TurnContext, text: str) -> bool:
        specialization = parse_specialization(text)
        if specialization is None:
            ctx.say(
                "open_store.specialization_unknown",
                options=[label("specialization", s, ctx.lang) for s in SPECIALIZATIONS],
            )
            return False
        await self._take_specialization(ctx, specialization.value)
        return True

    async def _choose_specialization(self, ctx: TurnContext, value: Any) -> None:
        if value in SPECIALIZATIONS:
            await self._take_specialization(ctx, value)
        else:
            await self.prompt(ctx)

    async def _ask_icon(self, ctx: TurnContext) -> None:
        policy = ctx.core.policy
        ctx.say(
            "open_store.ask_icon",
            buttons=self._skip_icon_button(ctx),
            min=policy.icon_min_pixels,
            max_mb=_mb(policy.icon_max_bytes),
        )

    async def _type_icon(self, ctx: TurnContext, text: str) -> bool:
        ctx.say("open_store.icon_needs_file", buttons=self._skip_icon_button(ctx))
        return False

    async def _take_icon(self, ctx: TurnContext, file: InboundFile) -> None:
        result = await asyncio.to_thread(check_icon, file.data, policy=ctx.core.policy)
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            await self.prompt(ctx)
            return
        info = result.value
        upload_id = await uploads.save_upload(
            sessions=ctx.core.sessions, conversation_id=ctx.conversation_id, data=file.data, now=ctx.now
        )
        answers = self.answers(ctx)
        answers.icon_upload = upload_id
        answers.icon_desc = f"{info.format} {info.width}×{info.height}"
        ctx.say("open_store.icon_ok", format=info.format, width=info.width, height=info.height)
        self.goto(ctx, Step.SUMMARY)
        await self.prompt(ctx)

    async def _skip_icon(self, ctx: TurnContext, value: Any) -> None:
        if value == "skip":
            answers = self.answers(ctx)
            answers.icon_upload = answers.icon_desc = None
            self.goto(ctx, Step.SUMMARY)
        await self.prompt(ctx)

    async def _ask_summary(self, ctx: TurnContext) -> None:
        answers = self.answers(ctx)
        buttons = self.choices(
            ctx,
            (ctx.text("actions.confirm"), "confirm"),
            (ctx.text("open_store.edit_title"), "edit_title"),
            (ctx.text("open_store.edit_specialization"), "edit_specialization"),
            (
                ctx.text("open_store.edit_icon" if answers.icon_upload else "open_store.add_icon"),
                "edit_icon",
            ),
            self.cancel_choice(ctx),
        )
        ctx.say(
            "open_store.summary",
            buttons=buttons,
            title=answers.title,
            specialization=label("specialization", answers.specialization or "", ctx.lang),
            icon=answers.icon_desc,
        )

    async def _confirm(self, ctx: TurnContext, value: Any) -> None:
        if value == "confirm":
            await self._open(ctx)
        elif value in {"edit_title", "edit_specialization", "edit_icon"}:
            await self.edit(ctx, Step(value.removeprefix("edit_")))
        else:
            await self.prompt(ctx)

    def _skip_icon_button(self, ctx: TurnContext) -> list:
        return self.choices(ctx, (ctx.text("open_store.skip_icon"), "skip"))

    async def _take_title(self, ctx: TurnContext, text: str) -> bool:
        account_id = await ctx.account_id()
        assert account_id is not None
        async with ctx.core.sessions() as session:
            existing = [s.title for s in await list_stores(session, account_id=account_id)]
        violations = title_violations(text, existing_titles=existing, policy=ctx.core.policy)
        if violations:
            explain_refusal(ctx, refuse(*violations))
            ctx.say("open_store.ask_title_again")
            return True
        self.answers(ctx).title = " ".join(text.split())
        self._next(ctx, Step.SPECIALIZATION)
        await self.prompt(ctx)
        return True

    async def _take_specialization(self, ctx: TurnContext, value: str) -> None:
        self.answers(ctx).specialization = value
        self._next(ctx, Step.ICON)
        await self.prompt(ctx)

    def _next(self, ctx: TurnContext, step: Step) -> None:
        self.goto(ctx, self.next_step(ctx, step, Step.SUMMARY))

    async def _open(self, ctx: TurnContext) -> None:
        answers = self.answers(ctx)
        account_id = await ctx.account_id()
        if account_id is None:
            self.finish(ctx)
            ctx.say("errors.not_linked")
            return
        icon = None
        if answers.icon_upload:
            icon = await uploads.load_upload(
                sessions=ctx.core.sessions, upload_id=answers.icon_upload, conversation_id=ctx.conversation_id
            )
            if icon is None:  # deleted as an unfinished flow's file: never open without saying so
                answers.icon_upload = answers.icon_desc = None
                ctx.say("open_store.icon_lost")
                answers.editing = True
                self.goto(ctx, Step.ICON)
                await self.prompt(ctx)
                return
        result = await open_store(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            account_id=account_id,
            title=answers.title,
            specialization=answers.specialization,
            icon=icon,
            actor=ctx.actor,
            idempotency_key=ctx.idempotency_key("open_store"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            if result.rules & {Rule.TITLE_DUPLICATE, Rule.TITLE_LENGTH, Rule.TITLE_FORBIDDEN_CONTENT}:
                answers.editing = True
                self.goto(ctx, Step.TITLE)
                await self.prompt(ctx)
            else:
                self.finish(ctx)
            return
        store = result.value
        self.finish(ctx)
        if answers.icon_upload:
            await uploads.discard_upload(sessions=ctx.core.sessions, upload_id=answers.icon_upload)
        blockers = [label("blocker", b, ctx.lang) for b in store.selling_blockers]
        ctx.say(
            "open_store.opened",
            title=store.title,
            specialization=label(
                "specialization", store.specialization.value if store.specialization else "", ctx.lang
            ),
            blockers=blockers,
        )

    steps = step_table(
        {
            Step.TITLE: On(ask=_ask_title, text=_take_title, answer=Answer.FREE_TEXT),
            Step.SPECIALIZATION: On(
                ask=_ask_specialization, text=_type_specialization, choice=_choose_specialization
            ),
            Step.ICON: On(ask=_ask_icon, text=_type_icon, choice=_skip_icon, file=_take_icon),
            Step.SUMMARY: On(ask=_ask_summary, text=Flow.use_buttons, choice=_confirm, answer=Answer.BUTTONS),
        }
    )


def _mb(size: int) -> str:
    return f"{size / 1048576:g}"
