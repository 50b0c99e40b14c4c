"""What a page says: the SMS, the call's text-to-speech, the "resolved" message.

Each is a jinja2 template (sandboxed, undefined names are errors); `messages:` in the on-call
config overrides any of them. A template may use:
- `incident`: the IncidentFacts below (`incident.probe`, `incident.figures`, `incident.cause` ...)
- `severity_word`: `DEGRADED`, `PARTIAL OUTAGE` or `MAJOR OUTAGE`
- `severity_phrase`: the same for speech: `Degraded performance`, `Partial outage`, `Major outage`
- `short_cause`: the first failing condition, short (`HTTP 503`), or "" when there is none
- `reply_code`: the incident number, as replies name it (`ACK 12`)
- `duration`: how long the incident lasted (`45s`, `23m`, `2h05m`), "" while it is open
- filters `spoken` (`35%` -> `35 percent`, `5m` -> `5 minutes`, `p95` -> `95th percentile ...`)
  and `sentence` (capital first letter, no final period)

SMS and "resolved" texts are made to fit one SMS, 160 GSM-7 characters: when too long, the short
cause is cut (down to 8 characters, then left out), then the figures (down to 12, then left
out), then the probe name; the incident number and the reply instruction are never cut. An
override gets the same treatment through the variables it uses; if even then it does not fit, it
goes out as a multi-part SMS.

Both SMS texts are also made GSM-7: one character outside that alphabet (an emoji, a curly quote
in a probe's error) would send the whole SMS as UCS-2, 70 characters a part. `to_gsm7` replaces
curly quotes, primes and backticks with straight quotes; dashes and minus signs with `-`; `…`
with `...`; `•` with `*`; `·` with `.`; the multiplication sign with `x`; `µ` with `u`; any space
with a space; letters with accents outside GSM-7 with the bare letter (`á` -> `a`). It drops
invisible characters (zero-width spaces, variation selectors, lone combining marks) and turns
anything else (emoji, CJK) into `?`.

A template that fails while rendering (say `{{ incident.cause.upper() }}` for an incident with no
cause) does not stop the page: the built-in message is sent instead and a warning is logged.
`template_problems` finds such failures before the monitor starts, by rendering every override
for sample incidents.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from monitor.config.oncall import MessagesConfig

if TYPE_CHECKING:  # storage imports the message checks of the config: only types here
    from monitor.storage.escalation import EscalationRow
    from monitor.storage.incidents import IncidentRow

log = logging.getLogger(__name__)

Field = Literal["sms", "voice", "resolved"]
FIELDS: tuple[Field, ...] = ("sms", "voice", "resolved")
VARIABLES = (
    "incident",
    "severity_word",
    "severity_phrase",
    "short_cause",
    "reply_code",
    "duration",
)

SMS_LIMIT = 160  # GSM-7 characters in one SMS
MIN_CAUSE = 8  # `HTTP 503`; a shorter cut of the cause says nothing
MIN_FIGURES = 12
MIN_PROBE = 8
SHORT_CAUSE_LIMIT = 40

DEFAULT_SMS = (
    "[MON-{{ reply_code }}] {{ severity_word }} {{ incident.probe }}"
    "{% if incident.figures %}: {{ incident.figures }}{% endif %}"
    "{% if short_cause %} ({{ short_cause }}){% endif %}"
    ". Reply ACK {{ reply_code }}"
)
DEFAULT_VOICE = (
    "Monitor alert. Incident {{ reply_code }}. "
    "{{ severity_phrase }} of {{ incident.probe | spoken }}."
    "{% if incident.figures %} {{ incident.figures | spoken | sentence }}.{% endif %}"
    " Press 1 to acknowledge, 2 to resolve, 3 to escalate."
)
DEFAULT_RESOLVED = (
    "[MON-{{ reply_code }}] RESOLVED {{ incident.probe }}"
    "{% if duration %} after {{ duration }}{% endif %}. No action needed."
)
_DEFAULTS: dict[Field, str] = {
    "sms": DEFAULT_SMS,
    "voice": DEFAULT_VOICE,
    "resolved": DEFAULT_RESOLVED,
}

_SEVERITY_WORDS = {"degraded": "DEGRADED", "partial": "PARTIAL OUTAGE", "major": "MAJOR OUTAGE"}
_SEVERITY_PHRASES = {
    "degraded": "Degraded performance",
    "partial": "Partial outage",
    "major": "Major outage",
}


@dataclass(frozen=True, kw_only=True)
class IncidentFacts:
    id: int
    probe: str
    group: str
    severity: str  # degraded | partial | major
    state: str  # triggered | acknowledged | resolved
    rule: str  # as configured: "failure_ratio above 20% over 5m"
    figures: str  # what the rule saw: "35% of 20 runs failed in 5m"
    cause: str | None  # the first failing condition: "sign in: [STATUS] (503) == 200"
    opened_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None

    @classmethod
    def of(cls, incident: IncidentRow | EscalationRow) -> IncidentFacts:
        """The facts a message tells, from either view of a stored incident."""
        return cls(
            **{field.name: getattr(incident, field.name) for field in dataclasses.fields(cls)}
        )


class MessageTemplateError(ValueError):
    """An override in `messages:` that does not compile, names an unknown variable, or fails
    when rendered for a sample incident."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"messages.{field}: {message}")
        self.field = field
        self.message = message


class Messages:
    def __init__(self, config: MessagesConfig | None = None) -> None:
        config = config or MessagesConfig()
        problems = template_problems(config)
        if problems:
            raise MessageTemplateError(*problems[0])
        env = _environment()
        self._defaults = {field: env.from_string(_DEFAULTS[field]) for field in FIELDS}
        self._overrides = {
            field: env.from_string(source)
            for field in FIELDS
            if (source := getattr(config, field)) is not None
        }

    def sms(self, incident: IncidentFacts) -> str:
        return self._render("sms", incident)

    def voice(self, incident: IncidentFacts) -> str:
        return self._render("voice", incident)

    def resolved(self, incident: IncidentFacts) -> str:
        return self._render("resolved", incident)

    def _render(self, field: Field, incident: IncidentFacts) -> str:
        override = self._overrides.get(field)
        if override is not None:
            try:
                text = _produce(field, override, incident)
            except Exception as error:
                log.warning(
                    "messages.%s failed for incident %s (%s), sent the built-in message instead",
                    field,
                    incident.id,
                    _describe(error),
                )
            else:
                if text:
                    return text
                log.warning(
                    "messages.%s rendered empty for incident %s, sent the built-in message instead",
                    field,
                    incident.id,
                )
        return _produce(field, self._defaults[field], incident)


def template_problems(config: MessagesConfig) -> list[tuple[str, str]]:
    """(field, message) for every override that does not compile, reads a variable that does
    not exist, or fails (or renders empty) for a sample incident."""
    problems: list[tuple[str, str]] = []
    env = _environment()
    for field in FIELDS:
        source: str | None = getattr(config, field)
        if source is None:
            continue
        try:
            template = env.from_string(source)
        except jinja2.TemplateSyntaxError as error:
            problems.append((field, f"template syntax: {error.message} (line {error.lineno})"))
            continue
        unknown = sorted(meta.find_undeclared_variables(env.parse(source)) - set(VARIABLES))
        if unknown:
            names = ", ".join(f"`{name}`" for name in unknown)
            problems.append(
                (field, f"unknown variable {names}: a template may use {', '.join(VARIABLES)}")
            )
            continue
        problem = _trial_render(field, template)
        if problem is not None:
            problems.append((field, problem))
    return problems


def _trial_render(field: Field, template: jinja2.Template) -> str | None:
    for sample, situation in _samples(field):
        try:
            text = _produce(field, template, sample)
        except Exception as error:
            return f"{_describe(error)}, when rendered for {situation}"
        if not text:
            return f"renders an empty message for {situation}"
    return None


def _samples(field: Field) -> list[tuple[IncidentFacts, str]]:
    opened = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    full = IncidentFacts(
        id=12,
        probe="login",
        group="accounts",
        severity="partial",
        state="triggered",
        rule="failure_ratio above 20% over 5m",
        figures="35% of 20 runs failed in 5m",
        cause="sign in: [STATUS] (503) == 200",
        opened_at=opened,
        resolved_at=None,
        acknowledged_by=None,
    )
    if field == "resolved":
        full = dataclasses.replace(
            full, state="resolved", resolved_at=opened + timedelta(minutes=23)
        )
    sparse = dataclasses.replace(full, cause=None)
    acknowledged = dataclasses.replace(full, acknowledged_by="alice")
    return [
        (full, "an incident"),
        (sparse, "an incident with no cause"),
        (acknowledged, "an acknowledged incident"),
    ]


_NO_FIELD = re.compile(r"^'[\w.]*IncidentFacts object' has no attribute '(\w+)'$")


def _describe(error: Exception) -> str:
    if isinstance(error, jinja2.UndefinedError):
        message = error.message or "undefined value"
        if match := _NO_FIELD.match(message):
            fields = ", ".join(field.name for field in dataclasses.fields(IncidentFacts))
            return f"`incident` has no field `{match[1]}` (it has {fields})"
        return message
    if isinstance(error, jinja2.TemplateError):
        return str(error)
    return f"{type(error).__name__}: {error}"


# --- rendering -----------------------------------------------------------------------------------


def _produce(field: Field, template: jinja2.Template, incident: IncidentFacts) -> str:
    if field == "voice":
        return _render_once(template, incident, _short_cause_or_empty(incident)).strip()
    return _fit_sms(lambda facts, cause: to_gsm7(_render_once(template, facts, cause)), incident)


def _render_once(template: jinja2.Template, incident: IncidentFacts, short: str) -> str:
    return template.render(
        incident=incident,
        severity_word=severity_word(incident.severity),
        severity_phrase=severity_phrase(incident.severity),
        short_cause=short,
        reply_code=incident.id,
        duration=(
            human_duration(incident.resolved_at - incident.opened_at)
            if incident.resolved_at is not None
            else ""
        ),
    )


def _short_cause_or_empty(incident: IncidentFacts) -> str:
    return short_cause(incident.cause) or ""


def _fit_sms(render: Callable[[IncidentFacts, str], str], incident: IncidentFacts) -> str:
    """`render(incident, short_cause)` made to fit one SMS by cutting, in turn, the short cause,
    the figures and the probe name (see the module docstring); the best effort if nothing fits."""
    cause = to_gsm7(_short_cause_or_empty(incident))
    incident = dataclasses.replace(
        incident, probe=to_gsm7(incident.probe), figures=to_gsm7(_one_line(incident.figures))
    )
    text = render(incident, cause).strip()
    if _fits(text):
        return text
    if cause:
        shortened = _shrink(lambda cut: render(incident, cut), cause, MIN_CAUSE)
        if shortened is not None:
            return shortened
    if incident.figures:
        shortened = _shrink(
            lambda cut: render(dataclasses.replace(incident, figures=cut), ""),
            incident.figures,
            MIN_FIGURES,
        )
        if shortened is not None:
            return shortened
    bare = dataclasses.replace(incident, figures="")
    shortened = _shrink(
        lambda cut: render(dataclasses.replace(bare, probe=cut), ""), bare.probe, MIN_PROBE
    )
    return shortened if shortened is not None else render(bare, "").strip()


def _shrink(render: Callable[[str], str], value: str, minimum: int) -> str | None:
    """The rendering with `value` cut just enough to fit one SMS; None if cutting it to
    `minimum` characters is not enough (or the text does not use it)."""
    length = gsm7_length(value)
    while length >= minimum:
        # A cut value before the template's own period would show `....`.
        text = render(truncate_gsm7(value, length)).strip().replace("....", "...")
        excess = gsm7_length(text) - SMS_LIMIT
        if excess <= 0:
            return text
        length -= excess
    return None


def _fits(text: str) -> bool:
    return gsm7_length(text) <= SMS_LIMIT


# --- the words -----------------------------------------------------------------------------------


def severity_word(severity: str) -> str:
    return _SEVERITY_WORDS.get(severity, severity.upper())


def severity_phrase(severity: str) -> str:
    return _SEVERITY_PHRASES.get(severity, severity.capitalize())


def human_duration(delta: timedelta) -> str:
    """45s, 23m, 2h05m, 1d02h: rounded down, to the two largest units."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


_STATUS = re.compile(r"^\[STATUS\] \((\d+)\)")
_RESPONSE_TIME = re.compile(r"^\[RESPONSE_TIME\] \((\d+)\)")
_NOT_CONNECTED = re.compile(r"^\[CONNECTED\] \(false\)")
_CERTIFICATE = re.compile(r"^\[CERTIFICATE_EXPIRATION\] \(([^)]*)\)")
_NAMED_TIMEOUT = re.compile(r"\((connect|read) timeout\)$")
_ERROR_KIND = re.compile(r"^[a-z]+(?:_[a-z]+)+\b")


def short_cause(cause: str | None, limit: int = SHORT_CAUSE_LIMIT) -> str | None:
    """The first failing condition of `step: condition; condition`, short: `[STATUS] (503) ==
    200` -> `HTTP 503`, `[RESPONSE_TIME] (912) < 800` -> `took 912ms`, an error message cut to
    `limit` characters."""
    if not cause or not cause.strip():
        return None
    text = _one_line(cause)
    _, separator, reason = text.partition(": ")
    first = (reason if separator else text).split("; ")[0].strip()
    if match := _STATUS.match(first):
        return f"HTTP {match[1]}"
    if match := _RESPONSE_TIME.match(first):
        return f"took {match[1]}ms"
    if _NOT_CONNECTED.match(first):
        return "no connection"
    if match := _CERTIFICATE.match(first):
        left = match[1]
        return "certificate expired" if left.startswith("-") else f"certificate expires in {left}"
    if first.startswith("connection refused"):
        return "connection refused"
    if match := _NAMED_TIMEOUT.search(first):
        return f"{match[1]} timeout"
    first = _ERROR_KIND.sub(lambda kind: kind[0].replace("_", " "), first)
    return truncate_gsm7(to_gsm7(first), limit)


def _one_line(text: str) -> str:
    return " ".join(text.split())


_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_PERCENTILE = re.compile(r"\bp(\d+(?:\.\d+)?)\b")
_DURATION = re.compile(r"(?<![\w.])(?:\d+(?:ms|d|h|m|s))+(?!\w)")
_DURATION_PART = re.compile(r"(\d+)(ms|d|h|m|s)")
_TIMES = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)x\b")
_UNITS = {"d": "day", "h": "hour", "m": "minute", "s": "second", "ms": "millisecond"}


def spoken(text: str) -> str:
    """Figures as text-to-speech should say them: `35% of 20 runs failed in 5m` -> `35 percent
    of 20 runs failed in 5 minutes`; `p95 1s200ms` -> `95th percentile response time 1 second
    200 milliseconds`; `14.4x` -> `14.4 times`; `sign-up_v2` -> `sign up v2`."""
    text = _PERCENT.sub(r"\1 percent", text)
    text = _PERCENTILE.sub(lambda m: f"{_ordinal(m[1])} percentile response time", text)
    text = _DURATION.sub(_spoken_duration, text)
    text = _TIMES.sub(r"\1 times", text)
    return re.sub(r"(?<=\w)[-_](?=\w)", " ", text)


def _spoken_duration(match: re.Match[str]) -> str:
    parts = []
    for count, unit in _DURATION_PART.findall(match[0]):
        word = _UNITS[unit]
        parts.append(f"{int(count)} {word}{'' if int(count) == 1 else 's'}")
    return " ".join(parts)


def _ordinal(number: str) -> str:
    if not number.isdigit():
        return f"{number}th"
    value = int(number)
    suffix = "th" if 10 <= value % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")
    return f"{number}{suffix}"


def sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:]


# --- GSM-7 ---------------------------------------------------------------------------------------

# GSM 03.38 default alphabet (without the escape to the extension table) and the extension
# characters, which take two septets each.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€")
_REPLACEMENTS = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    "\u2026": "...",
    "\u2022": "*",
    "\u00b7": ".",
    "\u00d7": "x",
    "\u00b5": "u",
    "\u03bc": "u",
}


def gsm7_length(text: str) -> int:
    """Septets `text` takes in a GSM-7 SMS; ValueError if a character is not GSM-7."""
    length = 0
    for char in text:
        if char in GSM7_BASIC:
            length += 1
        elif char in GSM7_EXTENSION:
            length += 2
        else:
            raise ValueError(f"{char!r} (U+{ord(char):04X}) is not a GSM-7 character")
    return length


def to_gsm7(text: str) -> str:
    """`text` in the GSM-7 alphabet (the replacements are listed in the module docstring)."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        return text
    return "".join(_gsm7_char(char) for char in text)


@lru_cache(maxsize=512)
def _gsm7_char(char: str) -> str:
    if char in GSM7_BASIC or char in GSM7_EXTENSION:
        return char
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    if char.isspace():
        return " "
    category = unicodedata.category(char)
    if category in ("Mn", "Me", "Cf"):  # combining marks, variation selectors, zero-width
        return ""
    if category == "Cc":
        return " "
    base = [c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)]
    if base and all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in base):
        return "".join(base)
    return "?"


_WORD_CUT_SLACK = 12
_CUT_PUNCTUATION = " .,;:-("


def truncate_gsm7(text: str, limit: int) -> str:
    """`text` cut to at most `limit` septets, ending in `...` when cut."""
    if gsm7_length(text) <= limit:
        return text
    kept: list[str] = []
    room = limit - 3
    for char in text:
        room -= 2 if char in GSM7_EXTENSION else 1
        if room < 0:
            break
        kept.append(char)
    cut = "".join(kept)
    # Whole words read better than `budg...`, unless that throws away most of what is left.
    if not text[len(cut)].isspace():
        space = cut.rfind(" ")
        if space >= max(len(cut) - _WORD_CUT_SLACK, len(cut) // 2):
            cut = cut[:space]
    return cut.rstrip(_CUT_PUNCTUATION) + "..."


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["spoken"] = spoken
    env.filters["sentence"] = sentence
    return env
