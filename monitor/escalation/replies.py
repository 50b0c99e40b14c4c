"""What an on-call engineer's text message asks for (DESIGN.md §4).

Written half asleep on a phone keyboard: case, spaces and the odd punctuation mark do not
matter, and several spellings mean the same thing: `ACK`, `A`, `ACK 12`, `12A`, `ack #12`,
`ACK MON-12`; `RESOLVE 12`, `R 12`, `12R`; `ESC 12`, `12E`; `HELP`. Carriers' opt-out words
(`STOP`, `UNSUBSCRIBE` ...) and opt-in words (`START` ...) are recognised so the monitor can
record who cannot be texted. Anything else is `UNKNOWN` and gets the help text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Command(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    HELP = "help"
    STOP = "stop"
    START = "start"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reply:
    command: Command
    incident: int | None = None  # None: the latest incident paged to that number


# Twilio's (and US carriers') keywords: the provider itself acts on them whatever we answer.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "H", "?", "INFO"})

_VERBS = {
    "ACK": Command.ACK,
    "A": Command.ACK,
    "ACKNOWLEDGE": Command.ACK,
    "RESOLVE": Command.RESOLVE,
    "RESOLVED": Command.RESOLVE,
    "RES": Command.RESOLVE,
    "R": Command.RESOLVE,
    "ESCALATE": Command.ESCALATE,
    "ESC": Command.ESCALATE,
    "E": Command.ESCALATE,
}
_VERB = "|".join(sorted(_VERBS, key=len, reverse=True))
# `MON-12`, `#12` and `12` all name incident 12 (the SMS shows `[MON-12]`).
_NUMBER = r"(?:MON-?|#)?(\d{1,9})"
_VERB_FIRST = re.compile(rf"^({_VERB})(?:\s*{_NUMBER})?$")
_NUMBER_FIRST = re.compile(rf"^{_NUMBER}\s*({_VERB})$")


def parse_reply(body: str) -> Reply:
    text = _normalize(body)
    if text in STOP_WORDS:
        return Reply(Command.STOP)
    if text in START_WORDS:
        return Reply(Command.START)
    if text in HELP_WORDS:
        return Reply(Command.HELP)
    if match := _VERB_FIRST.match(text):
        verb, number = match.groups()
        return Reply(_VERBS[verb], int(number) if number else None)
    if match := _NUMBER_FIRST.match(text):
        number, verb = match.groups()
        return Reply(_VERBS[verb], int(number))
    return Reply(Command.UNKNOWN)


def _normalize(body: str) -> str:
    # Phones add a full stop or an exclamation mark after a word; people type `ack: 12`.
    text = body.strip().upper()
    if text != "?":
        text = re.sub(r"[.!,:;]+", " ", text)
    return " ".join(text.split())
