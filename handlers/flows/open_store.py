"""Opening a store: title → specialization → icon (optional, as a file) → summary → confirm.

Each answer is checked with the same rules `services.stores.open_store` enforces, as soon as it
is given; the summary lets the seller change any answer; the store is opened only on confirm,
once, however often the button is pressed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Flow
from handlers.helpers import explain_refusal, load_account
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


class OpenStoreFlow(Flow):
    name = "open_store"
    button_steps = frozenset({"summary"})
    free_text_steps = frozenset({"title"})
    file_steps = frozenset({"icon"})

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
        self.enter(ctx, "title")
        ctx.say("open_store.intro", free=account.store_limit - account.stores)
        await self.prompt(ctx)

    async def prompt(self, ctx: TurnContext) -> None:
        step, data = ctx.state.step, ctx.state.data
        policy = ctx.core.policy
        if step == "title":
            ctx.say("open_store.ask_title", min=policy.title_min_length, max=policy.title_max_length)
        elif step == "specialization":
            # Labels are written for the middle of a sentence; a button starts with a capital.
            names = [label("specialization", s, ctx.lang) for s in SPECIALIZATIONS]
            buttons = self.choices(
                ctx, *[(n[:1].upper() + n[1:], s) for n, s in zip(names, SPECIALIZATIONS, strict=True)]
            )
            ctx.say("open_store.ask_specialization", buttons=buttons)
        elif step == "icon":
            buttons = self.choices(ctx, (ctx.text("open_store.skip_icon"), "skip"))
            ctx.say(
                "open_store.ask_icon",
                buttons=buttons,
                min=policy.icon_min_pixels,
                max_mb=_mb(policy.icon_max_bytes),
            )
        elif step == "summary":
            buttons = self.choices(
                ctx,
                (ctx.text("actions.confirm"), "confirm"),
                (ctx.text("open_store.edit_title"), "edit_title"),
                (ctx.text("open_store.edit_specialization"), "edit_specialization"),
                (
                    ctx.text("open_store.edit_icon" if data.get("icon_upload") else "open_store.add_icon"),
                    "edit_icon",
                ),
                self.cancel_choice(ctx),
            )
            ctx.say(
                "open_store.summary",
                buttons=buttons,
                title=data["title"],
                specialization=label("specialization", data["specialization"], ctx.lang),
                icon=data.get("icon_desc"),
            )

    # -- answers ----------------------------------------------------------------------------
    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        step = ctx.state.step
        if step == "title":
            await self._take_title(ctx, text)
            return True
        if step == "specialization":
            specialization = parse_specialization(text)
            if specialization is None:
                ctx.say(
                    "open_store.specialization_unknown",
                    options=[label("specialization", s, ctx.lang) for s in SPECIALIZATIONS],
                )
                return False
            self._take_specialization(ctx, specialization.value)
            await self.prompt(ctx)
            return True
        if step == "icon":
            skip = self.choices(ctx, (ctx.text("open_store.skip_icon"), "skip"))
            ctx.say("open_store.icon_needs_file", buttons=skip)
            return False
        if step == "summary":
            ctx.say("flows.use_buttons")
            return False
        return False

    async def on_file(self, ctx: TurnContext, file: InboundFile) -> None:
        result = await asyncio.to_thread(check_icon, file.data, policy=ctx.core.policy)
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            await self.prompt(ctx)
            return
        info = result.value
        upload_id = await uploads.save_upload(
            sessions=ctx.core.sessions, conversation_id=ctx.conversation_id, data=file.data, now=ctx.now
        )
        ctx.state.data["icon_upload"] = upload_id
        ctx.state.data["icon_desc"] = f"{info.format} {info.width}×{info.height}"
        ctx.say("open_store.icon_ok", format=info.format, width=info.width, height=info.height)
        self.goto(ctx, "summary")
        await self.prompt(ctx)

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        step, data = ctx.state.step, ctx.state.data
        if step == "specialization" and value in SPECIALIZATIONS:
            self._take_specialization(ctx, value)
            await self.prompt(ctx)
        elif step == "icon" and value == "skip":
            data.pop("icon_upload", None)
            data.pop("icon_desc", None)
            self.goto(ctx, "summary")
            await self.prompt(ctx)
        elif step == "summary" and value == "confirm":
            await self._open(ctx)
        elif step == "summary" and value in {"edit_title", "edit_specialization", "edit_icon"}:
            await self.edit(ctx, value.removeprefix("edit_"))
        else:
            await self.prompt(ctx)

    async def _take_title(self, ctx: TurnContext, text: str) -> None:
        account_id = await ctx.account_id()
        assert account_id is not None
        async with ctx.core.sessions() as session:
            existing = [s.title for s in await list_stores(session, account_id=account_id)]
        violations = title_violations(text, existing_titles=existing, policy=ctx.core.policy)
        if violations:
            explain_refusal(ctx, refuse(*violations))
            ctx.say("open_store.ask_title_again")
            return
        ctx.state.data["title"] = " ".join(text.split())
        self._next(ctx, "specialization")
        await self.prompt(ctx)

    def _take_specialization(self, ctx: TurnContext, value: str) -> None:
        ctx.state.data["specialization"] = value
        self._next(ctx, "icon")

    def _next(self, ctx: TurnContext, step: str) -> None:
        self.goto(ctx, self.next_step(ctx, step))

    async def _open(self, ctx: TurnContext) -> None:
        data = ctx.state.data
        account_id = await ctx.account_id()
        if account_id is None:
            self.finish(ctx)
            ctx.say("errors.not_linked")
            return
        icon = None
        if data.get("icon_upload"):
            icon = await uploads.load_upload(
                sessions=ctx.core.sessions, upload_id=data["icon_upload"], conversation_id=ctx.conversation_id
            )
            if icon is None:  # deleted as an unfinished flow's file: never open without saying so
                data.pop("icon_upload")
                data.pop("icon_desc", None)
                ctx.say("open_store.icon_lost")
                data["editing"] = True
                self.goto(ctx, "icon")
                await self.prompt(ctx)
                return
        result = await open_store(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            account_id=account_id,
            title=data["title"],
            specialization=data["specialization"],
            icon=icon,
            actor=ctx.actor,
            idempotency_key=ctx.idempotency_key("open_store"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            if result.rules & {Rule.TITLE_DUPLICATE, Rule.TITLE_LENGTH, Rule.TITLE_FORBIDDEN_CONTENT}:
                data["editing"] = True
                self.goto(ctx, "title")
                await self.prompt(ctx)
            else:
                self.finish(ctx)
            return
        store = result.value
        self.finish(ctx)
        if data.get("icon_upload"):
            await uploads.discard_upload(sessions=ctx.core.sessions, upload_id=data["icon_upload"])
        blockers = [label("blocker", b, ctx.lang) for b in store.selling_blockers]
        ctx.say(
            "open_store.opened",
            title=store.title,
            specialization=label(
                "specialization", store.specialization.value if store.specialization else "", ctx.lang
            ),
            blockers=blockers,
        )


def _mb(size: int) -> str:
    return f"{size / 1048576:g}"
