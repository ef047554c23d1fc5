"""The runtime every chat channel shares; nothing here knows a chat library.

- `inbox`: each update a channel delivers is stored once (by the channel's update number, or its
  own string id), before it is handled;
- `workers`: ordered per-chat workers — a chat's updates one at a time in order under the chat's
  lease (`leases`), many chats side by side, a few inside the conversation core at once; the
  channel supplies an `UpdateHandler` (what an update means, how to send its answer);
- `limiter`: the outbound limits, sliding windows each channel configures with its own numbers,
  shared through Redis by several processes;
- `deliveries`: agents' messages to sellers, sent by the seller's channel;
- `housekeeping`: the hourly clean-up, a task of its own;
- `trouble`: backoff and the outage log; `metrics`: what is measured per update;
- `languages`: the language of what an adapter says by itself; `text`: cutting long replies;
- `serve`: running a channel until SIGTERM, then draining it.

The apology with a reference id, shared with the core, is `handlers.apology`.
"""
