"""Slash commands and button presses.

Commands: /start [payload], /help, /lang [zh|en], /cancel, the commands flows declare (/link,
/stores, /limits), /agent. In a group they may carry the bot's name (`/help@sellerbot`). A
pressed button is looked up in the conversation state; an unknown, expired or already-pressed
button changes nothing.
"""

from __future__ import annotations

import re

from handlers import understanding
from handlers.context import TurnContext
from handlers.deep_links import read_payload
from handlers.flows.base import (
    continue_flow_after_interruption,
    flow_commanded,
    flow_commands,
    flow_of_payload,
    start_flow,
)
from handlers.handoff import hand_off, rate
from handlers.in_flow import run_flow_choice
from handlers.replies import LANGUAGES

_COMMAND_RE = re.compile(r"^/([A-Za-z_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?$", re.DOTALL)

# The conversation's own commands, around those the flows declare; in a group the bot answers
# questions only, so there the flows' commands are those of flows a group may start.
_FIRST_COMMANDS = ("start", "help", "lang", "cancel")
_FIRST_GROUP_COMMANDS = ("help", "lang")
_LAST_COMMANDS = ("agent",)
# Deep-link payloads that are not a flow's.
_OTHER_PAYLOADS = ("menu", "agent")


def command_names() -> tuple[str, ...]:
    """Every command, in the order menus list them."""
    return (*_FIRST_COMMANDS, *flow_commands(), *_LAST_COMMANDS)


def group_commands() -> tuple[str, ...]:
    """The commands a group chat's menu lists."""
    return (*_FIRST_GROUP_COMMANDS, *flow_commands(in_groups=True), *_LAST_COMMANDS)


COMMANDS = command_names()


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


def _payload_target(payload: str) -> str | None:
    """What a deep link opens: a flow's name, "menu" or "agent"; None for an unknown payload."""
    if payload in _OTHER_PAYLOADS:
        return payload
    flow = flow_of_payload(payload)
    return flow.name if flow is not None else None


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
    elif name == "agent":
        await hand_off(ctx, reason="requested")
    elif (flow := flow_commanded(name)) is not None:
        await start_flow(ctx, flow.name)
    else:
        ctx.say("commands.unknown", command=name, commands=command_names())


async def _start(ctx: TurnContext, payload: str) -> None:
    target, lang = read_payload(payload) if payload else (None, None)
    target = _payload_target(target) if target else None
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
        await hand_off(ctx, reason=str(value or "requested"))
    elif action == "rate":
        await rate(ctx, value)
    elif action == "none_of_these":
        understanding.not_understood(ctx)
    elif action == "menu":
        understanding.topic_menu(ctx, "menu.help")
    else:  # a button of an older version of the bot
        ctx.refuse_button()
