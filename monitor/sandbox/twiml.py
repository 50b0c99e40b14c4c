"""Reading the TwiML the monitor answers: the few verbs a paging call or an SMS reply uses.

Voice: `<Say>` (also inside `<Gather>`), `<Gather>`, `<Redirect>`, `<Hangup>`/`<Reject>`; other
verbs (`<Play>`, `<Pause>`, ...) take no part in the dialogue and are skipped. Messaging: the
text of every `<Message>`. URLs are resolved against the document's own URL, as Twilio does.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from urllib.parse import urljoin


class TwimlError(ValueError):
    """Not a TwiML document; Twilio would say "an application error has occurred"."""


@dataclass(frozen=True, kw_only=True)
class Say:
    text: str


@dataclass(frozen=True, kw_only=True)
class Gather:
    action: str | None
    method: str
    num_digits: int | None
    finish_on_key: str
    says: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Redirect:
    url: str
    method: str


@dataclass(frozen=True, kw_only=True)
class Hangup:
    pass


Verb = Say | Gather | Redirect | Hangup


def parse_voice(document: str, *, url: str | None) -> list[Verb]:
    """The verbs of a voice document in order; `url` is where it came from (None for inline
    TwiML), against which relative `action` and `<Redirect>` URLs are resolved."""
    verbs: list[Verb] = []
    for element in _response(document):
        if element.tag == "Say":
            verbs.append(Say(text=_text(element)))
        elif element.tag == "Gather":
            action = element.get("action")
            verbs.append(
                Gather(
                    # Without an action Twilio posts the digits to the current document's URL.
                    action=_resolve(url, action) if action else url,
                    method=element.get("method", "POST").upper(),
                    num_digits=_positive_int(element.get("numDigits")),
                    finish_on_key=element.get("finishOnKey", "#"),
                    says=tuple(_text(say) for say in element.iter("Say")),
                )
            )
        elif element.tag == "Redirect":
            target = _text(element)
            if not target:
                raise TwimlError("<Redirect> without a URL")
            verbs.append(Redirect(url=_resolve(url, target), method=element.get("method", "POST")))
        elif element.tag in ("Hangup", "Reject"):
            verbs.append(Hangup())
    return verbs


def message_texts(document: str) -> list[str]:
    """The texts of the `<Message>` replies in a messaging document; an empty body (Twilio
    accepts an empty answer too) has none."""
    if not document.strip():
        return []
    texts = []
    for element in _response(document):
        if element.tag == "Message":
            body = element.find("Body")
            texts.append(_text(body if body is not None else element))
    return texts


def _response(document: str) -> ElementTree.Element:
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    return root


def _text(element: ElementTree.Element) -> str:
    # itertext: SSML inside <Say> (<break/>, <emphasis>) still yields the words around it.
    return re.sub(r"\s+", " ", "".join(element.itertext())).strip()


def _resolve(base: str | None, target: str) -> str:
    if base is None:
        if "://" not in target:
            raise TwimlError(f"relative URL {target!r} in TwiML that has no URL of its own")
        return target
    return urljoin(base, target)


def _positive_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None
