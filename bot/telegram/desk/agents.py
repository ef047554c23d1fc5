"""What agents do in the desk group. Every update from the group comes here (it is looked at
before the sellers' handlers and takes all of the group's messages, edits and button presses),
handled in order per topic by the update processor like any chat's.

In a conversation's topic, an agent's message (text, a photo, a document) goes to the seller
through `agent_reply` — the transcript and a delivery for the seller's channel — and the bot says
nothing more; a reply to one of the seller's relayed messages quotes that message for the seller.
Commands: /close (back to the bot; the seller is asked to rate; the relay then closes and renames
the topic), /note TEXT (kept with the transcript, never sent), /info (a fresh context card),
/lang zh|en (the desk's language in this topic). Anything else that starts with a slash is an
unknown command: said so, nothing sent. The General topic and topics that are no conversation's
reach no seller: whatever is written in General is told so; in a topic of the agents' own (for
their own chat) only commands and messages to the bot are. A person closing or
reopening a topic in Telegram is remembered (the relay reopens it when the seller writes). An
agent who edits a message the seller already got sends the new text as a correction.
"""

from __future__ import annotations

import logging
import re

from bot.telegram.api import ApiCall
from bot.telegram.desk import texts
from bot.telegram.desk.base import SUGGESTION_PREFIX, Desk, agent_label
from bot.telegram.files import FileFetchError, FileTooLarge
from bot.telegram.render import MAX_MESSAGE_UTF16, NO_PREVIEW, utf16_len
from bot.telegram.seller import alert, file_ref, has_file, is_unsupported, megabytes
from bot.telegram.translate import (
    Json,
    callback_message,
    chat_id_of,
    full_name,
    is_addressed,
    text_of,
    thread_of,
)
from handlers import replies
from handlers.handoff import agent_says, close_as_agent, reply_as_agent
from services import desk as desk_service
from services.desk import TopicView
from services.explain import explain
from services.handoff import FileData, get_handoff, open_handoff_id
from services.models import DeskMessageKind
from services.results import Refused, Rule

log = logging.getLogger(__name__)

DESK_COMMANDS = ("close", "note", "info", "lang")
_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?$", re.DOTALL)
_LANG_ALIASES = {"zh": "zh", "cn": "zh", "中文": "zh", "en": "en", "english": "en", "英文": "en"}


class DeskHandlers:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    # -- helpers ---------------------------------------------------------------------------
    def _reply(self, message: Json, text: str) -> list[ApiCall]:
        return self.desk.render.text(
            chat_id_of(message), text, thread_id=thread_of(message), reply_to=message["message_id"]
        )

    def _command(self, message: Json) -> tuple[str, str] | None:
        """(name, argument) of a command for this bot; None for text or another bot's command."""
        text = text_of(message).strip()
        match = _COMMAND_RE.match(text)
        if not match:
            return None
        if match.group(2) and match.group(2).casefold() != self.desk.identity.username.casefold():
            return None
        return match.group(1).lower(), (match.group(3) or "").strip()

    # -- messages --------------------------------------------------------------------------
    async def on_message(self, message: Json) -> list[ApiCall]:
        desk = self.desk
        author = message.get("from")
        if author is not None and author.get("is_bot"):
            return []  # another bot in the group
        text = text_of(message)
        command = self._command(message)
        if text.startswith("/") and command is None and _COMMAND_RE.match(text.strip()):
            return []  # a command for another bot
        thread = thread_of(message)
        if thread is None:
            # The General topic reaches no seller: whatever is written there is told so (team
            # chat goes in a topic of the agents' own, which the bot leaves alone).
            if command is not None or text or has_file(message):
                return self._reply(message, replies.say("desk.general_topic", desk.settings.desk_language))
            return []
        async with desk.sessions() as session:
            topic = await desk_service.topic_by_thread(session, chat_id=desk.key, thread_id=thread)
        if topic is None:
            if command is not None or is_addressed(message, desk.identity):
                return self._reply(message, replies.say("desk.unknown_topic", desk.settings.desk_language))
            return []
        if command is not None:
            return await self._run_command(message, topic, *command)
        if message.get("text") is not None or has_file(message):
            return await self._to_seller(message, topic)
        if is_unsupported(message):
            return self._reply(message, replies.say("desk.unsupported", topic.language))
        return []  # service messages (pinned, members joined, …)

    async def _to_seller(self, message: Json, topic: TopicView) -> list[ApiCall]:
        desk = self.desk
        lang = topic.language
        async with desk.sessions() as session:
            handoff_id = await open_handoff_id(session, conversation_id=topic.conversation_id)
            handoff = await get_handoff(session, handoff_id=handoff_id, turns=0) if handoff_id else None
            quoted = None
            reply = message.get("reply_to_message")
            if reply is not None and reply["message_id"] != topic.thread_id:  # not the topic's own root
                found = await desk_service.find_message(
                    session, topic_id=topic.id, message_id=reply["message_id"]
                )
                if found is not None and found.kind is DeskMessageKind.SELLER:
                    quoted = found.turn_id
        if handoff is None:
            return self._reply(message, replies.say("desk.not_open", lang))
        file = None
        if has_file(message):
            try:
                fetched = await desk.files.fetch(file_ref(message))
            except FileTooLarge as exc:
                return self._reply(
                    message,
                    replies.say(
                        "desk.file_too_large",
                        lang,
                        size_mb=megabytes(exc.size),
                        limit_mb=megabytes(exc.limit),
                    ),
                )
            except FileFetchError as exc:
                log.error("desk: could not fetch an agent's file: %s", exc)
                return self._reply(message, replies.say("desk.file_failed", lang))
            file = FileData(name=fetched.name, data=fetched.data, mime_type=fetched.mime_type)
        text = text_of(message)
        name = desk.seller_name_for_agent(message.get("from"))
        result = await reply_as_agent(
            sessions=desk.sessions,
            handoff_id=handoff.id,
            text=text,
            agent=agent_label(message.get("from"), message["chat"].get("title") or ""),
            shown=agent_says(text, name=name, lang=handoff.language) if name else None,
            file=file,
            reply_to_turn_id=quoted,
        )
        if isinstance(result, Refused):
            if Rule.HANDOFF_CLOSED in result.rules or Rule.HANDOFF_NOT_FOUND in result.rules:
                return self._reply(message, replies.say("desk.not_open", lang))
            reason = " ".join(explain(v, lang, policy=desk.policy) for v in result.violations)
            return self._reply(message, replies.say("desk.not_sent", lang, reason=reason))
        await desk_service.record_message(
            desk.sessions,
            topic_id=topic.id,
            handoff_id=handoff.id,
            message_id=message["message_id"],
            kind=DeskMessageKind.AGENT,
            author=agent_label(message.get("from"), message["chat"].get("title") or ""),
            now=desk.now(),
        )
        return []

    async def on_edit(self, message: Json) -> list[ApiCall]:
        """An agent edited a message that went to the seller. The seller's copy cannot be edited
        (it may be on another channel), so the new text goes to them as a correction, and the
        agent is told. Edits of anything else (commands, notes, the General topic) change nothing."""
        desk = self.desk
        author = message.get("from")
        thread = thread_of(message)
        text = text_of(message).strip()
        if author is None or author.get("is_bot") or thread is None or not text or text.startswith("/"):
            return []
        async with desk.sessions() as session:
            topic = await desk_service.topic_by_thread(session, chat_id=desk.key, thread_id=thread)
            if topic is None:
                return []
            found = await desk_service.find_message(
                session, topic_id=topic.id, message_id=message["message_id"]
            )
            if found is None or found.kind is not DeskMessageKind.AGENT:
                return []  # not a message the seller got
            handoff_id = await open_handoff_id(session, conversation_id=topic.conversation_id)
            handoff = await get_handoff(session, handoff_id=handoff_id, turns=0) if handoff_id else None
        if handoff is None:
            return self._reply(message, replies.say("desk.edit_not_sent", topic.language))
        correction = replies.say("handoff.agent_correction", handoff.language, text=text)
        name = desk.seller_name_for_agent(author)
        result = await reply_as_agent(
            sessions=desk.sessions,
            handoff_id=handoff.id,
            text=correction,
            agent=agent_label(author, message["chat"].get("title") or ""),
            shown=agent_says(correction, name=name, lang=handoff.language) if name else None,
        )
        if isinstance(result, Refused):
            return self._reply(message, replies.say("desk.edit_not_sent", topic.language))
        return self._reply(message, replies.say("desk.edit_sent", topic.language))

    # -- commands --------------------------------------------------------------------------
    async def _run_command(self, message: Json, topic: TopicView, name: str, argument: str) -> list[ApiCall]:
        lang = topic.language
        if name == "close":
            return await self._close(message, topic)
        if name == "note":
            return await self._note(message, topic, argument)
        if name == "info":
            return await self._info(message, topic)
        if name == "lang":
            choice = _LANG_ALIASES.get(argument.strip().lower())
            if choice is None:
                return self._reply(message, replies.say("desk.lang_usage", lang))
            await desk_service.update_topic(
                self.desk.sessions, topic_id=topic.id, language=choice, now=self.desk.now()
            )
            return self._reply(message, replies.say("desk.lang_set", choice))
        return self._reply(message, replies.say("desk.unknown_command", lang, command=name))

    async def _close(self, message: Json, topic: TopicView) -> list[ApiCall]:
        desk = self.desk
        async with desk.sessions() as session:
            handoff_id = await open_handoff_id(session, conversation_id=topic.conversation_id)
        if handoff_id is None:
            return self._reply(message, replies.say("desk.already_closed", topic.language))
        result = await close_as_agent(
            sessions=desk.sessions,
            handoff_id=handoff_id,
            agent=agent_label(message.get("from"), message["chat"].get("title") or ""),
        )
        if isinstance(result, Refused):
            return self._reply(message, replies.say("desk.already_closed", topic.language))
        desk.wake_relay()  # the notice, and the topic closed and renamed, come from the relay
        return []

    async def _note(self, message: Json, topic: TopicView, text: str) -> list[ApiCall]:
        desk = self.desk
        if not text:
            return self._reply(message, replies.say("desk.note_usage", topic.language))
        async with desk.sessions() as session:
            handoff_id = await desk_service.latest_handoff_id(session, conversation_id=topic.conversation_id)
        await desk_service.record_message(
            desk.sessions,
            topic_id=topic.id,
            handoff_id=handoff_id,
            message_id=message["message_id"],
            kind=DeskMessageKind.NOTE,
            text=text[:4000],
            author=agent_label(message.get("from"), message["chat"].get("title") or ""),
            now=desk.now(),
        )
        return self._reply(message, replies.say("desk.note_saved", topic.language))

    async def _info(self, message: Json, topic: TopicView) -> list[ApiCall]:
        desk = self.desk
        async with desk.sessions() as session:
            handoff_id = await desk_service.latest_handoff_id(session, conversation_id=topic.conversation_id)
            context = (
                await desk_service.context(
                    session,
                    handoff_id=handoff_id,
                    policy=desk.policy,
                    turns=desk.settings.context_turns,
                    now=desk.now(),
                )
                if handoff_id is not None
                else None
            )
        if context is None:
            return self._reply(message, replies.say("desk.unknown_topic", topic.language))
        text = texts.card(context, lang=topic.language, settings=desk.settings, now=desk.now())
        return desk.render.text(chat_id_of(message), text, thread_id=topic.thread_id)

    # -- service messages ------------------------------------------------------------------
    async def on_topic_state(self, message: Json) -> list[ApiCall]:
        thread = thread_of(message)
        if thread is not None:
            closed = "forum_topic_closed" in message
            await desk_service.mark_thread(
                self.desk.sessions,
                chat_id=self.desk.key,
                thread_id=thread,
                closed=closed,
                now=self.desk.now(),
            )
        return []

    # -- buttons ---------------------------------------------------------------------------
    async def on_button(self, query: Json) -> list[ApiCall]:
        desk = self.desk
        message = callback_message(query)
        data = query.get("data") or ""
        lang = desk.settings.desk_language
        topic = None
        if message is not None and thread_of(message) is not None:
            async with desk.sessions() as session:
                topic = await desk_service.topic_by_thread(
                    session, chat_id=desk.key, thread_id=thread_of(message)
                )
        if topic is not None:
            lang = topic.language
        suggestion = data.removeprefix(SUGGESTION_PREFIX) if data.startswith(SUGGESTION_PREFIX) else ""
        row = None
        if suggestion.isdigit() and topic is not None:
            async with desk.sessions() as session:
                row = await desk_service.get_message(session, desk_message_id=int(suggestion))
        if (
            message is None
            or topic is None
            or row is None
            or row.topic_id != topic.id
            or row.kind is not DeskMessageKind.ASSIST
        ):
            return self._alert(query, replies.say("buttons.expired", lang))
        if row.sent_at is not None:
            return self._alert(query, replies.say("desk.assist_already_sent", lang))
        async with desk.sessions() as session:
            handoff_id = await open_handoff_id(session, conversation_id=topic.conversation_id)
            handoff = await get_handoff(session, handoff_id=handoff_id, turns=0) if handoff_id else None
        if handoff is None or handoff.id != row.handoff_id:
            return self._alert(query, replies.say("desk.not_open", lang))
        agent = agent_label(query["from"])
        if not await desk_service.claim_suggestion(
            desk.sessions, desk_message_id=row.id, agent=agent, now=desk.now()
        ):
            return self._alert(query, replies.say("desk.assist_already_sent", lang))
        name = desk.seller_name_for_agent(query["from"])
        text = row.text or ""
        result = await reply_as_agent(
            sessions=desk.sessions,
            handoff_id=handoff.id,
            text=text,
            agent=agent,
            shown=agent_says(text, name=name, lang=handoff.language) if name else None,
        )
        if isinstance(result, Refused):
            await desk_service.release_suggestion(desk.sessions, desk_message_id=row.id)
            return self._alert(query, replies.say("desk.not_open", lang))
        methods = [ApiCall("answerCallbackQuery", {"callback_query_id": query["id"]})]
        sent_by = replies.say("desk.assist_sent", lang, agent=full_name(query["from"]))
        marked = f"{message.get('text') or ''}\n\n{sent_by}"
        if message.get("text") and utf16_len(marked) <= MAX_MESSAGE_UTF16:
            place = {"chat_id": chat_id_of(message), "message_id": message["message_id"]}
            methods.append(
                ApiCall("editMessageText", {**place, "text": marked, "link_preview_options": NO_PREVIEW})
            )
        return methods

    def _alert(self, query: Json, text: str) -> list[ApiCall]:
        return alert(query, text[:200])

    # -- the group's updates -------------------------------------------------------------
    def claims(self, update: Json) -> bool:
        """Whether an update is the desk's: anything from its group."""
        message = update.get("message") or update.get("edited_message")
        query = update.get("callback_query")
        if message is None and query is not None:
            message = callback_message(query)
        return message is not None and chat_id_of(message) == self.desk.chat_id

    async def handle(self, update: Json) -> list[ApiCall]:
        """An update from the desk's group (`claims` said so)."""
        if (message := update.get("message")) is not None:
            if "forum_topic_closed" in message or "forum_topic_reopened" in message:
                return await self.on_topic_state(message)
            if "forum_topic_created" in message or "forum_topic_edited" in message:
                return []
            return await self.on_message(message)
        if (edited := update.get("edited_message")) is not None:
            return await self.on_edit(edited)
        if (query := update.get("callback_query")) is not None:
            return await self.on_button(query)
        return []
