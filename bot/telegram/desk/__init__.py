"""The agents' desk: a Telegram forum supergroup where each conversation handed to a person is a
topic, for sellers on any channel (console and Telegram today).

    check.py    start-up: the group is a forum and the bot an administrator who manages topics
    base.py     what the desk's parts share (`Desk`): the group, settings, sender, clock; errors
    texts.py    the context card, topic names, agents' names (sentences from the catalogue)
    relay.py    `DeskRelay`: the topic of each handoff (created, reopened, renamed, closed,
                replaced when deleted), the context card, the seller's messages and files, the
                knowledge base's suggested answers, reminders, closing and rating notices
    agents.py   what agents do in the group: answer in a topic (to the seller, through the
                delivery queue), /close, /note, /info, /lang, "send this suggestion"

The seller's side stays channel-neutral: the core records each message of a handed-off
conversation (with its files) and the relay picks up new ones from the database, whichever
channel they came from; an agent's answer goes back through `services.handoff.agent_reply`,
as a delivery the seller's own channel sends.
"""

from bot.telegram.desk.agents import DeskHandlers
from bot.telegram.desk.base import Desk, DeskConfigError
from bot.telegram.desk.check import check_desk
from bot.telegram.desk.relay import DeskRelay

__all__ = ["Desk", "DeskConfigError", "DeskHandlers", "DeskRelay", "check_desk"]
