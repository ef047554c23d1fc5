"""Turning a question into a reply: answer it, ask "A or B?", or say what the bot can do.

The matcher decides `answer`, `clarify` or `fallback`; two misses in a row offer a person.
An answer whose intent has an action carries that action's button; in a group chat the
button opens the private chat instead, since actions and account data are private.
"""

from __future__ import annotations

from faq.matcher import Decision
from faq.modes import Mode, mode_of
from handlers.context import TurnContext, Understanding
from handlers.flows.base import flow_for_request, flow_of_action, flow_of_personal_question, start_flow
from handlers.handoff import hand_off

# The topics of the menu (/help, /start, after a miss), in this order.
MENU_INTENTS = (
    "registration",
    "required_documents",
    "fees",
    "payouts",
    "store_limits",
    "open_store",
    "quota_increase",
    "password_reset",
    "shipping_pickup",
    "human_agent",
)
MISSES_BEFORE_AGENT = 2


def intent_title(ctx: TurnContext, intent_id: str) -> str:
    intent = ctx.core.knowledge.intents.get(intent_id)
    return intent.title[ctx.lang] if intent else intent_id


async def respond(ctx: TurnContext, text: str) -> None:
    """Reply to a message outside any flow: a request for something the bot can do starts it, a
    personal question is answered from the seller's account, a question gets the answer."""
    match = ctx.match(text)
    ctx.understood = Understanding(intent=match.intent, score=float(match.score), decision=match.decision)
    if match.decision is Decision.ANSWER and await _act_on(ctx, match.intent, mode_of(text), text):
        return
    if match.decision is Decision.ANSWER:
        await answer_intent(ctx, match.intent)
    elif match.decision is Decision.CLARIFY:
        clarify(ctx, [c.intent for c in match.candidates])
    else:
        not_understood(ctx)


async def _act_on(ctx: TurnContext, intent_id: str, mode: Mode, text: str) -> bool:
    """Start what a request asks for, or look up what a personal question asks about; False when
    the message is a question to answer (the caller answers it)."""
    intent = ctx.core.knowledge.intents.get(intent_id)
    if intent is None or intent_id == "human_agent":
        return False
    personal = flow_of_personal_question(intent_id)
    if mode == "personal" and personal is not None:
        ctx.state.misses = 0
        await start_flow(ctx, personal.name)
        return True
    flow = flow_for_request(intent_id, intent.action, text)
    if mode == "request" and flow is not None:
        ctx.state.misses = 0
        ctx.say("understanding.on_it", action=ctx.text(f"actions.{flow.name}"))
        await start_flow(ctx, flow.name, flow.answers_in(text))
        return True
    return False


async def answer_intent(ctx: TurnContext, intent_id: str, *, chosen: bool = False) -> None:
    """The knowledge-base answer of an intent, with its action button if it has one."""
    knowledge = ctx.core.knowledge
    if intent_id not in knowledge.intents:
        not_understood(ctx)
        return
    ctx.state.misses = 0
    if chosen and ctx.understood.intent is None:
        ctx.understood = Understanding(intent=intent_id, score=1.0, decision="chosen")
    if intent_id == "human_agent":
        await hand_off(ctx, reason="requested")
        return
    answer = knowledge.render(intent_id, ctx.lang, ctx.core.policy)
    flow = flow_of_action(knowledge.intents[intent_id].action)
    buttons = []
    if flow is not None:
        label = ctx.text(f"actions.{flow.name}")
        if not ctx.inbound.is_group or flow.in_groups:
            buttons = ctx.buttons((label, "flow", flow.name))
        elif flow.payload:
            buttons = [ctx.private_chat_button(label, flow.payload)]
    ctx.say_text(answer, buttons=buttons)


def clarify(ctx: TurnContext, candidates: list[str]) -> None:
    """Ask "did you mean A or B?" with a button per candidate and one for "neither"."""
    known = [c for c in candidates if c in ctx.core.knowledge.intents][:3]
    if len(known) < 2:
        not_understood(ctx)
        return
    specs = [(intent_title(ctx, c), "intent", c) for c in known]
    specs.append((ctx.text("understanding.none_of_these"), "none_of_these", None))
    ctx.say(
        "understanding.clarify", buttons=ctx.buttons(*specs), options=[intent_title(ctx, c) for c in known]
    )


def not_understood(ctx: TurnContext) -> None:
    """Out of scope: say what the bot can help with; after repeated misses offer a person."""
    ctx.state.misses += 1
    if ctx.state.misses >= MISSES_BEFORE_AGENT:
        label = ctx.text("actions.agent")
        if ctx.inbound.is_group:
            buttons = [ctx.private_chat_button(label, "agent")]
        else:
            buttons = ctx.buttons((label, "agent", "misses"), (ctx.text("actions.menu"), "menu", None))
        ctx.say("understanding.offer_agent", buttons=buttons)
        return
    topic_menu(ctx, "understanding.fallback")


def topic_menu(ctx: TurnContext, key: str) -> None:
    """A reply (`key`) followed by the topics the bot can help with, as buttons."""
    topics = [i for i in MENU_INTENTS if i in ctx.core.knowledge.intents]
    titles = [intent_title(ctx, i) for i in topics]
    ctx.say(
        key,
        buttons=ctx.buttons(*[(t, "intent", i) for t, i in zip(titles, topics, strict=True)]),
        topics=titles,
    )
