"""The on-call half of the config: people, schedules, escalation policies, message templates and
the webhook channel. Checks that span several of them (a policy naming a schedule) are in the
loader, where they can point at the line that names the unknown thing."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from monitor.config.durations import Duration, format_duration
from monitor.config.fields import (
    NAME_PATTERN,
    Count,
    PositiveDuration,
    Strict,
    Text,
    TimeZoneName,
)

ChannelName = Literal["sms", "voice", "webhook", "console"]
CHANNEL_NAMES: tuple[ChannelName, ...] = ("sms", "voice", "webhook", "console")
# Channels that reach a person by phone number.
PHONE_CHANNELS: frozenset[str] = frozenset({"sms", "voice"})

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


def _e164(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError('a phone number is text in E.164 form, e.g. "+4915110000001" (quoted)')
    # `+49 151 1000-0001` as people write it; stored and compared without separators.
    compact = _PHONE_SEPARATORS.sub("", value)
    if not _E164.match(compact):
        raise ValueError(
            f"{value!r} is not an E.164 phone number: a + and the country code, then 8 to 15 "
            'digits in all, e.g. "+4915110000001"'
        )
    return compact


PhoneNumber = Annotated[
    str,
    BeforeValidator(_e164),
    WithJsonSchema({"type": "string", "description": "E.164", "examples": ["+4915110000001"]}),
]

Name = Annotated[str, Field(json_schema_extra={"pattern": NAME_PATTERN})]


def _name(value: str) -> str:
    if not re.match(NAME_PATTERN, value):
        raise ValueError(
            f"{value!r}: use lowercase letters, digits, - and _ (at most 63, starting with a "
            "letter or digit)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_name), WithJsonSchema({"type": "string"})]


class PersonConfig(Strict):
    id: Identifier = Field(description="what schedules and policies call this person")
    name: str
    phone: PhoneNumber | None = Field(default=None, description="E.164; needed for sms and voice")
    timezone: TimeZoneName = "UTC"
    channels: list[ChannelName] = Field(
        default_factory=lambda: list[ChannelName](["sms", "voice"]),
        min_length=1,
        description="how this person can be reached, in the order tried when one fails",
    )

    @model_validator(mode="after")
    def _phone_for_phone_channels(self) -> Self:
        needing = [channel for channel in self.channels if channel in PHONE_CHANNELS]
        if needing and self.phone is None:
            raise ValueError(
                f'channels {", ".join(needing)} need a `phone` (E.164, e.g. "+4915110000001")'
            )
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("a channel is listed twice in `channels`")
        return self


_HANDOFF = re.compile(
    r"^(?:(?P<day>mon|tue|wed|thu|fri|sat|sun)\s+)?(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)$"
)


def _handoff(value: Any) -> Any:
    if not isinstance(value, str) or not _HANDOFF.match(value.strip().lower()):
        raise ValueError(
            f'handoff {value!r}: a local time "HH:MM" (daily and hourly rotations) or a day '
            'and a time "mon 09:00" (weekly), quoted'
        )
    return value.strip().lower()


Handoff = Annotated[
    str,
    BeforeValidator(_handoff),
    WithJsonSchema({"type": "string", "examples": ["09:00", "mon 09:00"]}),
]


class RotationConfig(Strict):
    every: PositiveDuration = Field(
        description="shift length in whole hours: 1w, 1d, 12h ... (see monitor.oncall.rotation)"
    )
    handoff: Handoff = Field(
        default="09:00",
        description='local wall-clock time of the handoff: "09:00"; weekly rotations may name '
        'the day: "mon 09:00" (default: the weekday of `start`)',
    )
    members: list[Identifier] = Field(min_length=1, description="person ids, in turn order")
    start: date = Field(
        default=date(2026, 1, 5),
        description="the first member's shift begins at the first handoff on or after this date; "
        "before it this layer has nobody on call",
    )

    @model_validator(mode="after")
    def _shift_fits_the_clock(self) -> Self:
        # A 90m or 30m shift walks its handoffs around the clock face: nobody plans on-call
        # that way, so it is a typo (`1h30m` for `1d`?) rather than a rotation.
        if self.every % timedelta(hours=1):
            raise ValueError(
                f"every: {format_duration(self.every)} is not a whole number of hours: "
                "a shift is e.g. 12h, 1d or 1w"
            )
        # A day in the handoff only means something when every shift starts on the same weekday.
        if self.handoff[0].isalpha() and self.every % timedelta(weeks=1):
            time_only = self.handoff.split()[-1]
            raise ValueError(
                f'handoff "{self.handoff}" names a day, but every: {format_duration(self.every)} '
                f'is not a whole number of weeks: write "{time_only}", or every: 1w'
            )
        return self


class LayerConfig(Strict):
    name: str | None = None
    rotation: RotationConfig


class OverrideConfig(Strict):
    person: Identifier
    # Local time in the schedule's time zone unless an offset is given.
    from_: datetime = Field(alias="from")
    to: datetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if (self.from_.tzinfo is None) != (self.to.tzinfo is None):
            raise ValueError("give both `from` and `to` with an offset, or neither")
        if self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        return self


class ScheduleConfig(Strict):
    name: Identifier
    timezone: TimeZoneName
    layers: list[LayerConfig] = Field(min_length=1, description="later layers win")
    overrides: list[OverrideConfig] = Field(default_factory=list)


class TargetConfig(Strict):
    schedule: Identifier | None = None
    person: Identifier | None = None
    via: list[ChannelName] | None = Field(
        default=None,
        min_length=1,
        description="channels to page on at this level; default: the person's first channel",
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.schedule is None) == (self.person is None):
            raise ValueError("name exactly one of `schedule` or `person`")
        return self


class LevelConfig(Strict):
    notify: list[TargetConfig] = Field(min_length=1)
    escalate_after: PositiveDuration = Field(
        default=timedelta(minutes=5), description="time to wait for an ack before the next level"
    )


def _repeat(value: Any) -> Any:
    if value == "forever":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("repeat is a whole number of extra cycles, or `forever`")
    return value


Repeat = Annotated[
    int | None,
    BeforeValidator(_repeat),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"const": "forever"}]}),
]


class PolicyConfig(Strict):
    name: Identifier
    levels: list[LevelConfig] = Field(min_length=1)
    # None is `forever`: the product exists to keep paging until someone answers.
    repeat: Repeat = Field(
        default=None, description="extra cycles through all levels after the first, or `forever`"
    )
    ack_timeout: Duration | None = Field(
        default=timedelta(minutes=30),
        description="acknowledged but not resolved this long: page again from level 1; null: never",
    )
    notify_on_resolve: bool = True

    @model_validator(mode="after")
    def _repeat_not_negative(self) -> Self:
        if self.repeat is not None and self.repeat < 0:
            raise ValueError("repeat must be 0 or more, or `forever`")
        if self.ack_timeout is not None and self.ack_timeout <= timedelta(0):
            raise ValueError("ack_timeout must be longer than 0s, or null for never")
        return self


class MessagesConfig(Strict):
    """jinja2 templates overriding the built-in messages (see monitor.escalation.messages)."""

    sms: str | None = None
    voice: str | None = None
    resolved: str | None = None


class WebhookChannelConfig(Strict):
    url: str = Field(description="POSTed a JSON object per page; http(s)")
    headers: dict[str, Text] = Field(default_factory=dict)
    timeout: PositiveDuration = timedelta(seconds=5)


class ChannelsConfig(Strict):
    webhook: WebhookChannelConfig | None = None
    attempts: Count = Field(
        default=5, ge=1, description="tries of a page before it fails and the next channel is used"
    )
