"""The Telegram channel over the channel-neutral conversation core: one library-neutral layer
(updates as the Bot API's JSON in, Bot API calls as data out) and thin bindings that carry HTTP.

The layer (imports no Telegram client library):
    api.py          a call (`ApiCall`), the errors, `Transport` (what a binding supplies), and
                    `ApiClient`: 429s obeyed, network failures retried
    translate.py    updates → `Inbound`: text, commands, mentions (privacy mode), buttons, topics
    seller.py       the sellers' updates (text, files, media, pressed buttons, edits) → calls
    render.py       `Reply` → calls (split at 4,096, inline keyboards within 64 bytes, deep links)
    processor.py    which updates are sellerbot's (`UpdateRouter`); stored updates handled once,
                    in order per chat, chats side by side (the shared runtime's chat workers)
    sender.py       every outgoing call: the limiter first, then the API client
    outbox.py       the durable outbox's rows sent      deliveries.py  agents' messages
    files.py        getFile and download, with the size limit
    desk/           the agents' desk: a forum supergroup, a topic per handed-off conversation
    service.py      the channel assembled and its background tasks run, on any transport
    polling.py      intake by long polling        webhook.py  intake by webhook (plain aiohttp)
    client.py       the token checked and kept out of logs

Bindings:
    aiogram_transport.py  calls through an aiogram `Bot`
    runtime.py      the standalone runtime (`sellerbot run telegram`) on aiogram
    embed.py        `aiogram_router(settings)`: sellerbot inside a host's aiogram `Dispatcher`
    ptb.py          `install(application, settings)`: sellerbot inside a host's python-telegram-bot
                    `Application`
"""
