"""What a user is told when handling their message went wrong, in every channel the same way:
an apology quoting a reference id that is also in the log (with the traceback), or, when the
database cannot be reached, to send it again in a few minutes — never a stack trace. The core
uses it for a failed turn, and every channel's runtime for what fails around the core (an update
that cannot be stored or parsed, a process that stopped in the middle of one)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from handlers import replies
from services.db import is_unavailable

INTERNAL = "errors.internal"
UNAVAILABLE = "errors.database_unavailable"
INTERRUPTED = "channel.interrupted"


def new_reference() -> str:
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Apology:
    """The reply catalogue's key of the message and the reference it quotes."""

    key: str
    reference: str = field(default_factory=new_reference)

    @classmethod
    def for_error(cls, exc: BaseException, log: logging.Logger, what: str) -> Apology:
        """Log the failure of `what` (with its reference) and choose the message."""
        apology = cls(UNAVAILABLE if is_unavailable(exc) else INTERNAL)
        if apology.key == UNAVAILABLE:
            log.error("%s: database unavailable [ref %s]: %r", what, apology.reference, exc)
        else:
            log.error("%s failed [ref %s]", what, apology.reference, exc_info=exc)
        return apology

    @classmethod
    def interrupted(cls, log: logging.Logger, what: str) -> Apology:
        """A process stopped while handling `what`: it may or may not have taken effect."""
        apology = cls(INTERRUPTED)
        log.warning("%s was being handled by a process that stopped [ref %s]", what, apology.reference)
        return apology

    def text(self, lang: str) -> str:
        return replies.say(self.key, lang, reference=self.reference)
