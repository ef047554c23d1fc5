"""The QQ channel: the official QQ Bot API (`official/`) and OneBot v11 clients such as NapCat
(`onebot/`), each turning its events into a channel-neutral `QQMessage` (`events`) and sending
through a transport, on the shared runtime (`bot.runtime`): `updates` (what a message means, and
agents' answers), `render` (replies as QQ messages: numbered choices, paragraphs, plain links),
`sending` (the limiter and the record of every message), `runtime` (`start_qq`)."""
