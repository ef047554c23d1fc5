"""The Telegram channel (aiogram 3) over the channel-neutral conversation core.

    runtime.py     start-up and shutdown; `start_telegram(settings)`
    polling.py     intake by long polling      webhook.py   intake by webhook (secret checked)
    processor.py   stored updates handled once, in order per chat, chats side by side
    routers/       one aiogram router per concern: errors, buttons, files, messages
    translate.py   Telegram objects → `Inbound`; group addressing (privacy mode)
    render.py      `Reply` → Bot API calls (split at 4,096, inline keyboards, deep links)
    sender.py      every outgoing call: limiter first, then the client
    limiter.py     30/s overall, 20/min per group, smoothing per chat (local or Redis)
    client.py      the aiogram Bot: API server, retries (429, network), token kept out of logs
    files.py       getFile and download, with the size limit
    deliveries.py  agents' messages from the handoff queue (text, files, buttons, quotes)
    desk/          the agents' desk: a forum supergroup, a topic per handed-off conversation
Only this package imports aiogram.
"""
