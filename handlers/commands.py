"""Slash commands and button presses.

Commands: /start [payload], /help, /lang [zh|en], /cancel, /link, /stores, /limits, /agent.
In a group they may carry the bot's name (`/help@sellerbot`). A pressed button is looked up
in the conversation state; an unknown, expired or already-pressed button changes nothing.
"""

from __future__ import annotations

import re

from handlers import understanding
from handlers.context import TurnContext
from handlers.flows.base import FLOW_ENTRY_POINTS, continue_flow_after_interruption, start_flow

_COMMAND_RE = re.compile(r"^/([A-Za-z_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?$", re.DOTALL)

COMMANDS = ("start", "help", "lang", "cancel", "link", "stores", "limits", "agent")
# Deep-link payloads (`/start <payload>`) that open a flow (or a person) in the private chat,
# optionally with the language of the group conversation they come from (`quota-en`).
START_PAYLOADS = {name: name for name in FLOW_ENTRY_POINTS} | {"menu": "menu", "agent": "agent"}
LANGUAGES = ("zh", "en")


def parse_command(text: str, *, bot_username: str) -> tuple[str, str] | None:
    """(command, argument) if the text is a slash command for this bot, else None."""
    match = _COMMAND_RE.match(text.strip())
    if not match:
        return None
    name, addressee, argument = match.group(1).lower(), match.group(2), (match.group(3) or "").strip()
    if addressee and addressee.lower() != bot_username.lower():
        return None  # a command for another bot in the same group
    return name, argument


def for_another_bot(text: str, *, bot_username: str) -> bool:
    """True for a slash command addressed to another bot (`/help@otherbot`)."""
    match = _COMMAND_RE.match(text.strip())
    return bool(match and match.group(2) and match.group(2).lower() != bot_username.lower())


def start_payload(flow: str, lang: str) -> str:
    """The deep-link payload that opens `flow` in the private chat, in the language `lang`."""
    return f"{flow}-{lang}"


def _read_payload(payload: str) -> tuple[str | None, str | None]:
    """(target, language) of a deep-link payload; either may be None."""
    name, _, lang = payload.strip().lower().rpartition("-")
    if not name or lang not in LANGUAGES:
        name, lang = payload.strip().lower(), ""
    return START_PAYLOADS.get(name), lang or None


async def run_command(ctx: TurnContext, name: str, argument: str) -> None:
    if name == "start":
        await _start(ctx, argument)
    elif name == "help":
        understanding.topic_menu(ctx, "menu.help")
        await continue_flow_after_interruption(ctx)
    elif name == "lang":
        _lang(ctx, argument)
    elif name == "cancel":
        await cancel(ctx)
    elif name == "link":
        await start_flow(ctx, "link")
    elif name == "stores":
        await start_flow(ctx, "stores")
    elif name == "limits":
        await start_flow(ctx, "limits")
    elif name == "agent":
        from handlers.handoff import hand_off

        await hand_off(ctx, reason="requested")
    else:
        ctx.say("commands.unknown", command=name, commands=COMMANDS)


async def _start(ctx: TurnContext, payload: str) -> None:
    target, lang = _read_payload(payload) if payload else (None, None)
    if lang is not None:
        ctx.state.lang = lang
    if target and target != "menu" and not ctx.inbound.is_group:
        ctx.state.leave_flow()
        await start_flow(ctx, target)
        return
    ctx.state.leave_flow()
    understanding.topic_menu(ctx, "menu.welcome")


def _lang(ctx: TurnContext, argument: str) -> None:
    choice = argument.strip().lower()
    aliases = {
        "zh": "zh",
        "cn": "zh",
        "中文": "zh",
        "chinese": "zh",
        "en": "en",
        "english": "en",
        "英文": "en",
    }
    if choice in aliases:
        set_language(ctx, aliases[choice])
        return
    buttons = ctx.buttons(*[(ctx.text(f"commands.lang_{lang}"), "lang", lang) for lang in LANGUAGES])
    ctx.say("commands.lang_choose", buttons=buttons)


def set_language(ctx: TurnContext, lang: str) -> None:
    ctx.state.lang = lang
    ctx.state.lang_chosen = True
    ctx.say("commands.lang_set")


async def cancel(ctx: TurnContext) -> None:
    if ctx.state.flow is None:
        ctx.say("commands.nothing_to_cancel")
        return
    ctx.state.leave_flow()
    ctx.state.forget_resume()
    understanding.topic_menu(ctx, "commands.cancelled")


async def press_button(ctx: TurnContext, button_id: str) -> None:
    from handlers.flows.base import run_flow_choice

    state = ctx.state
    if state.was_pressed(button_id):
        ctx.refuse_button("buttons.already_pressed")
        return
    meaning = state.press(button_id)
    if meaning is None:
        ctx.refuse_button()
        await continue_flow_after_interruption(ctx)
        return
    ctx.pressed_label = meaning.label or None
    action, value = meaning.action, meaning.value
    if action == "intent":
        await understanding.answer_intent(ctx, str(value), chosen=True)
    elif action == "flow":
        await start_flow(ctx, str(value))
    elif action == "resume":
        await continue_flow_after_interruption(ctx)
    elif action == "choice":
        await run_flow_choice(ctx, value)
    elif action == "lang":
        set_language(ctx, str(value))
    elif action == "agent":
        from handlers.handoff import hand_off

        await hand_off(ctx, reason=str(value or "requested"))
    elif action == "rate":
        from handlers.handoff import rate

        await rate(ctx, value)
    elif action == "none_of_these":
        understanding.not_understood(ctx)
    elif action == "menu":
        understanding.topic_menu(ctx, "menu.help")
    else:  # a button of an older version of the bot
        ctx.refuse_button()
