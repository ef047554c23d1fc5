"""What a message asks for, beside what it is about: an action done (a request), an explanation
(a question), or the seller's own data (a personal question).

The matcher says what a message is about ("opening a store"); the same topic can be asked as
"怎么开店" (how does it work), "帮我开个店" (do it) or "我还能开几个店" (about my account). The
mode is read from the words around the topic — who it is for, whether something is asked to be
done or looked up, whether it is phrased as a question — by rules over the normalized text, in
Chinese and English. `benchmarks/modes.py` measures them on a labelled set
(`benchmarks/data/modes_dev.jsonl`).
"""

from __future__ import annotations

import re
from typing import Literal

Mode = Literal["request", "question", "personal"]

# The seller's own account: "my", "do I have", "我的", "我还能".
_PERSONAL = re.compile(
    r"我的|我有|我现在(有|能)|我还(能|有|可以|剩)|我目前|我为什么|为什么我|我有没有|查(一下|下)?我|看看我|我.{0,6}(通过|绑定)"
    r"|\bmy\b|\bdo i have\b|\bcan i (still|have)\b|\bam i\b|\bwhy can'?t i\b|\bwhy can i not\b"
    r"|\bi have left\b"
)
# Looking something up (for the seller's data): "查", "show", "check".
_LOOKUP = re.compile(r"查|看看|看一下|查看|\bshow\b|\blist\b|\bcheck\b|\bstatus\b|进度|怎么样了|几个|多少|剩")
# Asking for something to be done, or wanting it.
_REQUEST = re.compile(
    r"帮我|给我|^请|请[帮给发安把为]|麻烦|我要|我想要|我想|直接|现在就|帮忙|替我|[吧呗]$"
    r"|\bplease\b|\bpls\b|\bplz\b|\bcan you\b|\bcould you\b|\bi want\b|\bi'?d like\b|\bi need\b|\bhelp me\b"
    r"|\bfor me\b"
)
# Desire alone is a request ("我要提额", "I want more stores").
_DESIRE = re.compile(r"我要|我想要|我想|\bi want\b|\bi'?d like\b|\bi need\b")
# What the bot can do.
_ACTION = re.compile(
    r"开.{0,3}[店铺]|提(高|额|.{0,2}额度)|[提加升调]到\s*\d|申请|重置|找回|发(送|个|一下)?.{0,4}(链接|邮件)|预约|约.{0,6}(揽收|取件|取货|上门)|安排"
    r"|改.{0,4}邮箱|换.{0,4}邮箱|邮箱.{0,3}[换改]|换成|修改|绑定|转人工|加.{0,3}(店铺|名额)|调高"
    r"|\bopen\b|\braise\b|\brise\b|\brequest\b|\bsend\b|\breset\b|\bbook\b|\barrange\b|\bschedule\b|\bchange\b"
    r"|\bupdate\b|\blink\b|\bconnect\b|\bincrease\b"
)
# An imperative at the start: "open a store for me", "reset my password please" ("rise" is how many
# sellers write "raise": "rise product limit to 1000").
_IMPERATIVE = re.compile(
    r"^(open|raise|rise|request|send|reset|book|arrange|schedule|change|update|link|connect)\b"
)
_QUESTION = re.compile(
    r"怎么|怎样|如何|什么|多久|几天|哪些|哪里|哪个|吗|呢|[?？]|咋|是否|能不能|可不可以|可以.{0,8}吗|要钱|几个|多少"
    r"|^(how|what|whats|what's|when|which|why|where|is|are|can|do|does|should|will)\b"
)


# How something works, even about "my" things: "how do I reset my password".
_HOW_TO = re.compile(r"^how (do|does|can|to|long)\b|^what (do i need|happens)\b|怎么(?!样)|如何|多久|几天")


def mode_of(text: str) -> Mode:
    """Whether `text` asks for an action, an explanation, or the seller's own data."""
    lowered = " ".join(text.casefold().split())
    personal = bool(_PERSONAL.search(lowered))
    lookup = bool(_LOOKUP.search(lowered))
    action = bool(_ACTION.search(lowered)) or bool(_IMPERATIVE.search(lowered))
    asked = bool(_REQUEST.search(lowered))
    question = bool(_QUESTION.search(lowered))
    if _IMPERATIVE.search(lowered):
        return "request"
    if _HOW_TO.search(lowered) and not (personal and lookup):
        return "question"
    if personal and (lookup or not (asked and action)):
        return "personal"
    if asked and action:
        return "request"
    if question:
        return "question"
    if _DESIRE.search(lowered) or action:
        return "request"
    return "question"
