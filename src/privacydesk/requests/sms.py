"""Text messages for phone verification, through a pluggable sender.

A sender is any object with `send(to, text)`. `PRIVACYDESK_SMS_SENDER` names it: `log` (the
default, for development: it writes the message to the log) or the name of an entry point in the
group `privacydesk.sms_senders` whose object is a sender class taking no arguments, or a sender.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from privacydesk.config import get_settings

ENTRY_POINT_GROUP = "privacydesk.sms_senders"
log = logging.getLogger(__name__)


@runtime_checkable
class SmsSender(Protocol):
    """Sends one text message; raises OSError (or a subclass) when the gateway cannot take it."""

    def send(self, to: str, text: str) -> None:
        """Send `text` to the phone number `to` (digits with a leading +)."""


class LogSender:
    """Writes messages to the log instead of sending them: for development and tests, never for production."""

    def send(self, to: str, text: str) -> None:
        """Log the message, the number shortened to its last digits."""
        log.warning("text message not sent (no SMS gateway configured)", extra={"to": f"...{to[-3:]}", "text": text})


def sender() -> SmsSender:
    """The configured sender."""
    return _load(get_settings().sms_sender)


@cache
def _load(name: str) -> SmsSender:
    if name == "log":
        return LogSender()
    found = [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.name == name]
    if not found:
        known = ", ".join(sorted({"log", *(point.name for point in entry_points(group=ENTRY_POINT_GROUP))}))
        raise LookupError(f"no SMS sender named {name!r} (PRIVACYDESK_SMS_SENDER); installed: {known}")
    loaded = found[0].load()
    instance = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(instance, SmsSender):
        raise TypeError(f"the SMS sender {name!r} has no send(to, text) method")
    return instance
