"""A host bot on python-telegram-bot 22 with a command of its own, /weather (with a button of its
own), that also serves sellerbot: FAQ, actions, handoff to people and the agents' desk — one
`install` call on the host's `Application`, one token.

    pip install -e '.[ptb]'
    SELLERBOT_TELEGRAM__TOKEN=123456:ABC... python -m examples.ptb_host

Sellerbot's configuration is its usual one (SELLERBOT_CONFIG or SELLERBOT_* variables: the
database, Redis, [telegram] limits and agents_chat_id, [handoff]); the host reads the token and
the Bot API server from it too, for brevity.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.config import Settings, load_settings
from bot.telegram.processor import ALLOWED_UPDATES
from bot.telegram.ptb import PtbSellerbot, install

WEATHER = "Shenzhen: sunny, 25°C"
REFRESHED = "Still sunny."
# The host's own buttons carry callback data of its own; sellerbot only takes "b:…".
REFRESH = "weather:refresh"


async def weather(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None:
        refresh = InlineKeyboardButton("Refresh", callback_data=REFRESH)
        await update.effective_message.reply_text(WEATHER, reply_markup=InlineKeyboardMarkup([[refresh]]))


async def refreshed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(REFRESHED)


def build(settings: Settings, *, concurrent_updates: bool = False) -> tuple[Application, PtbSellerbot]:  # type: ignore[type-arg]
    """The host's application: its own handlers first, then sellerbot's (group 0, after them)."""
    telegram = settings.telegram
    application = (
        ApplicationBuilder()
        .token(telegram.token.get_secret_value())
        .base_url(f"{telegram.api_base_url}/bot")
        .base_file_url(f"{telegram.api_base_url}/file/bot")
        .concurrent_updates(concurrent_updates)
        .build()
    )
    application.add_handler(CommandHandler("weather", weather))
    application.add_handler(CallbackQueryHandler(refreshed, pattern=f"^{REFRESH}$"))
    sellerbot = install(application, settings)
    return application, sellerbot


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    application, _ = build(load_settings())
    # run_polling runs post_init and post_stop, which start and stop sellerbot; the update types
    # must include sellerbot's.
    application.run_polling(allowed_updates=ALLOWED_UPDATES)


if __name__ == "__main__":
    main()
