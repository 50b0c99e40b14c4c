"""The YAML config as pydantic models: what engineers may write, with every rule that can be
checked before a probe runs (conditions parse, templates compile, extracted names exist)."""

from __future__ import annotations

import re
from datetime import time, timedelta
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from monitor.config.durations import Duration, format_duration
from monitor.config.fields import (
    NAME_PATTERN,
    Count,
    Percentage,
    PositiveDuration,
    Ratio,
    Strict,
    Text,
    TimeZoneName,
)
from monitor.config.oncall import (
    ChannelsConfig,
    MessagesConfig,
    PersonConfig,
    PolicyConfig,
    ScheduleConfig,
)
from monitor.probing.conditions import Condition, ConditionSyntaxError, is_placeholder
from monitor.probing.templating import HELPERS, strings_in

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COOKIE_SOURCE = re.compile(r"^\[COOKIES\]\.([^\s]+)$")
DEFAULT_CONDITIONS = ("[STATUS] < 400",)


def _parse_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"a condition is a string such as '[STATUS] == 200', got {type(value).__name__}"
        )
    try:
        return Condition.parse(value)
    except ConditionSyntaxError as error:
        raise ValueError(f"invalid condition {value!r}: {error.reason}") from None


ConditionField = Annotated[
    Condition,
    PlainValidator(_parse_condition),
    PlainSerializer(lambda condition: condition.text, return_type=str),
    WithJsonSchema(
        {"type": "string", "description": "Gatus-style condition", "examples": ["[STATUS] == 200"]}
    ),
]


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class RequestConfig(Strict):
    """One HTTP request. Every string may be a jinja2 template (`{{ token }}`)."""

    method: HttpMethod = "GET"
    url: str = Field(min_length=1)
    query: dict[str, Text | list[Text]] = Field(default_factory=dict)
    headers: dict[str, Text] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    form: dict[str, Text] | None = None
    timeout: PositiveDuration | None = Field(
        default=None, description="defaults to the probe's timeout"
    )
    follow_redirects: bool = False
    verify: bool = Field(default=True, description="verify the TLS certificate")

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        # A templated URL (`{{ base }}/x`) is checked when it is rendered.
        if "{{" not in value and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"url must start with http:// or https:// and a host, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        given = [
            name
            for name, value in (("json", self.json_body), ("body", self.body), ("form", self.form))
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give at most one of json, body and form (got {' and '.join(given)})")
        return self

    def template_strings(self) -> list[str]:
        return [
            self.url,
            *strings_in(self.query),
            *strings_in(self.headers),
            *strings_in(self.json_body),
            *strings_in(self.body),
            *strings_in(self.form),
        ]


def _check_extract_source(value: str) -> str:
    if _COOKIE_SOURCE.match(value) or (
        (value.startswith("[BODY]") or value.startswith("[HEADERS].")) and is_placeholder(value)
    ):
        return value
    raise ValueError(
        f"cannot extract from {value!r}: use [BODY].path.to.value, [HEADERS].Name or [COOKIES].name"
    )


def _check_variable_names(variables: dict[str, str], *, what: str) -> dict[str, str]:
    """Names templates will read: identifiers that do not hide a helper."""
    for name in variables:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{what} {name!r} must be an identifier (letters, digits, _)")
        if name in HELPERS:
            raise ValueError(f"{what} {name!r} hides the template helper {name}()")
    return variables


ExtractSource = Annotated[str, AfterValidator(_check_extract_source)]


class StepConfig(Strict):
    name: str = Field(min_length=1)
    request: RequestConfig
    conditions: list[ConditionField] = Field(
        default_factory=lambda: [Condition.parse(text) for text in DEFAULT_CONDITIONS],
        description="all must hold for the step to pass; default: [STATUS] < 400",
    )
    extract: dict[str, ExtractSource] = Field(
        default_factory=dict,
        description="variables for later steps: {name: '[BODY].path' | '[HEADERS].Name' | '[COOKIES].name'}",
    )
    always_run: bool = Field(
        default=False, description="run even after an earlier step failed (cleanup)"
    )

    @field_validator("extract")
    @classmethod
    def _check_extract(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_variable_names(value, what="extract name")


class FailureRatio(Strict):
    above: Ratio = Field(gt=0, lt=1, description="share of failed runs: 0.2 or 20%")
    window: Duration = timedelta(minutes=5)
    # Counted from the first failure in the window: with fewer than 10 runs, two failures of a
    # healthy probe would already be above 20%.
    min_samples: Count = Field(
        default=10, ge=1, description="runs needed, counted from the first failure in the window"
    )


class Latency(Strict):
    percentile: Percentage = Field(default=95, gt=0, le=100)
    above: Duration
    window: Duration = timedelta(minutes=5)
    min_samples: Count = Field(default=6, ge=1)


class BurnWindow(Strict):
    long: Duration
    short: Duration
    factor: float = Field(gt=0)


class BurnRate(Strict):
    slo: Percentage = Field(gt=0, lt=100, description="target success percentage: 99.9 or 99.9%")
    min_samples: Count = Field(
        default=20, ge=1, description="runs the long window must hold before it can fire"
    )
    windows: list[BurnWindow] = Field(
        default_factory=lambda: [
            BurnWindow(long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),
            BurnWindow(long=timedelta(hours=6), short=timedelta(minutes=30), factor=6),
        ],
        min_length=1,
    )


class Trigger(Strict):
    """Exactly one rule; any trigger in the list opens an incident."""

    consecutive_failures: Count | None = Field(default=None, ge=1)
    failure_ratio: FailureRatio | None = None
    latency: Latency | None = None
    burn_rate: BurnRate | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            choices = ", ".join(type(self).model_fields)
            raise ValueError(f"a trigger is exactly one of {choices} (got {len(given)})")
        return self


class Recover(Strict):
    consecutive_successes: Count = Field(default=3, ge=1)
    # 10 minutes without a failure: at 30 s, 30% failures go 10 minutes without one about once
    # in 1,000 runs, so an ongoing partial outage does not resolve and re-page (flap).
    min_duration: Duration = Field(
        default=timedelta(minutes=10), description="time since the last failure before resolving"
    )


class Confirm(Strict):
    runs: Count = Field(
        default=5,
        ge=0,
        description="extra runs after a failure, the first at once; 0 turns them off",
    )
    every: PositiveDuration = timedelta(seconds=5)


class AlertConfig(Strict):
    policy: str | None = Field(default=None, description="escalation policy name")
    trigger: list[Trigger] | None = Field(
        default=None,
        min_length=1,
        description="default: failure_ratio above 0.2 over 5m, or 3 consecutive failures",
    )
    recover: Recover = Field(default_factory=Recover)
    quorum: Count = Field(default=1, ge=1, description="locations that must agree")
    confirm: Confirm = Field(default_factory=Confirm)
    flap_window: Duration = Field(
        default=timedelta(minutes=10),
        description="failing again this soon after resolving re-opens the same incident",
    )


class Defaults(Strict):
    interval: PositiveDuration = timedelta(seconds=30)
    timeout: PositiveDuration = timedelta(seconds=10)
    locations: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    policy: str | None = Field(
        default=None, description="escalation policy of probes whose `alert:` names none"
    )


class ProbeConfig(Strict):
    name: str = Field(
        description="unique; lowercase letters, digits, - and _ (used in URLs, messages, metrics)",
        json_schema_extra={"pattern": NAME_PATTERN},
    )
    group: str | None = Field(default=None, description="status-page component; default: the name")
    description: str | None = None
    enabled: bool = True
    interval: PositiveDuration = timedelta(seconds=30)
    timeout: PositiveDuration = timedelta(seconds=10)
    locations: list[str] = Field(default_factory=lambda: ["local"], min_length=1)
    variables: dict[str, Text] = Field(
        default_factory=dict,
        description="templates rendered once at the start of each run, e.g. "
        "{email: '{{ random_email() }}'}; every step can use them",
    )
    steps: list[StepConfig] = Field(default_factory=list)
    # The short form: one `request:` (with its conditions and extract) is a one-step probe.
    request: RequestConfig | None = None
    conditions: list[ConditionField] | None = None
    alert: AlertConfig = Field(default_factory=AlertConfig)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not re.match(NAME_PATTERN, value):
            suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_") or "probe"
            raise ValueError(
                f"probe name {value!r} may use only lowercase letters, digits, - and _ "
                f"(at most 63), e.g. {suggestion[:63]!r}"
            )
        return value

    @field_validator("variables")
    @classmethod
    def _check_variables(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_variable_names(value, what="variable name")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.request is not None and self.steps:
            raise ValueError("give either `request` (one step) or `steps`, not both")
        if self.request is None and not self.steps:
            raise ValueError("a probe needs `request` or `steps`")
        if self.conditions is not None and self.request is None:
            raise ValueError(
                "probe-level `conditions` go with `request`; with `steps`, put them in each step"
            )
        if self.alert.quorum > len(self.locations):
            raise ValueError(
                f"alert.quorum {self.alert.quorum} is more than the {len(self.locations)} "
                "location(s) the probe runs from: no incident could ever open"
            )
        timeouts = [("timeout", self.timeout)] + [
            (f"the timeout of step `{step.name}`", step.request.timeout)
            for step in self.effective_steps()
            if step.request.timeout is not None
        ]
        for what, timeout in timeouts:
            if timeout > self.interval:
                raise ValueError(
                    f"{what} ({format_duration(timeout)}) is longer than interval "
                    f"({format_duration(self.interval)}): a run must end before the next is due"
                )
        return self

    @property
    def component(self) -> str:
        return self.group or self.name

    def effective_steps(self) -> list[StepConfig]:
        """The steps as run: the short form becomes one step named after the probe."""
        return list(self._effective_steps)

    @cached_property
    def _effective_steps(self) -> tuple[StepConfig, ...]:
        # Computed once per (frozen) probe: building models on every run costs CPU at scale.
        return tuple(self._build_steps())

    def _build_steps(self) -> list[StepConfig]:
        if self.request is None:
            return list(self.steps)
        conditions = self.conditions if self.conditions is not None else None
        step = StepConfig(name=self.name, request=self.request)
        if conditions is not None:
            step = step.model_copy(update={"conditions": conditions})
        return [step]


# Maintenance windows.

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {
    **dict(zip(WEEKDAYS, WEEKDAYS, strict=True)),
    **dict(zip(_FULL_WEEKDAYS, WEEKDAYS, strict=True)),
}
_DAILY = "daily"
_MAX_MAINTENANCE = timedelta(days=7)
_START = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def _any_case(word: str) -> str:
    # JSON Schema patterns have no case-insensitive flag; the loader accepts `Sun` and `SUNDAY`.
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


_DAY_PATTERN = "^(" + "|".join(_any_case(n) for n in (*_DAY_NAMES, _DAILY)) + ")$"


def _day_name(value: Any) -> str:
    """One item of `every`: a weekday's short name (`mon`), or `daily` (expanded by `_days`)."""
    if isinstance(value, str):
        name = value.strip().lower()
        if name == _DAILY:
            return _DAILY
        if name in _DAY_NAMES:
            return _DAY_NAMES[name]
    shown = repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
    raise ValueError(
        f"unknown day {shown}: use {', '.join(WEEKDAYS)} (or monday ... sunday), or daily"
    )


def _one_or_list(value: Any) -> Any:
    # `every: daily` reads as naturally as `every: [daily]`.
    return [value] if isinstance(value, str) else value


def _days(value: list[str]) -> list[str]:
    """`daily` becomes all seven days; the result is in week order, each day once."""
    if not value:
        raise ValueError("list at least one day, e.g. [sun] or [daily]")
    chosen = set(WEEKDAYS) if _DAILY in value else set(value)
    return [day for day in WEEKDAYS if day in chosen]


Weekdays = Annotated[
    list[Annotated[str, PlainValidator(_day_name)]],
    BeforeValidator(_one_or_list),
    AfterValidator(_days),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _DAY_PATTERN},
                {
                    "type": "array",
                    "items": {"type": "string", "pattern": _DAY_PATTERN},
                    "minItems": 1,
                },
            ],
            "examples": [["sun"], ["mon", "tue", "wed", "thu", "fri"], "daily"],
        }
    ),
]


def _start_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted `23:30` as the base-60 number 1410; the text is lost by then.
        raise ValueError(
            f'start must be quoted text "HH:MM", e.g. start: "23:30" '
            f"(YAML reads an unquoted 23:30 as the number {value})"
        )
    match = _START.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f'start must be a time of day "HH:MM" (24-hour, 00:00 to 23:59), got {value!r}'
        )
    return time(int(match.group(1)), int(match.group(2)))


StartTime = Annotated[
    time,
    PlainValidator(_start_time),
    PlainSerializer(lambda start: start.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": _START.pattern, "examples": ["02:00", "23:30"]}),
]


def _at_most_a_week(value: timedelta) -> timedelta:
    if value > _MAX_MAINTENANCE:
        raise ValueError(f"must be at most 7d (a week), got {format_duration(value)}")
    return value


MaintenanceDuration = Annotated[PositiveDuration, AfterValidator(_at_most_a_week)]


class MaintenanceConfig(Strict):
    """A weekly window in which failures of its probes open no incident and page nobody."""

    probes: list[str] | None = Field(
        default=None, description="probe names; leave out for every probe"
    )
    every: Weekdays = Field(description="mon ... sun (or monday ... sunday), or daily")
    start: StartTime = Field(description='local wall-clock time "HH:MM" in `timezone`')
    duration: MaintenanceDuration = Field(description="real elapsed time, more than 0s, at most 7d")
    timezone: TimeZoneName
    reason: str | None = None

    @field_validator("probes")
    @classmethod
    def _some_probes(cls, value: list[str] | None) -> list[str] | None:
        # An empty list would silently cover nothing; leaving the key out means every probe.
        if value is not None and not value:
            raise ValueError("an empty list covers no probe; leave `probes` out for every probe")
        return value


class RetentionConfig(Strict):
    """How long the monitor keeps what it stores: it must never fill its own disk."""

    raw: PositiveDuration = Field(
        default=timedelta(days=14),
        description="raw results; older ones are deleted once rolled up into hourly figures",
    )
    rollups: PositiveDuration = Field(
        default=timedelta(days=400),
        description="hourly and daily rollups (the status page's history)",
    )

    @model_validator(mode="after")
    def _rollups_outlive_raw(self) -> Self:
        if self.rollups < self.raw:
            raise ValueError(
                "retention.rollups is shorter than retention.raw: history would end before "
                "the raw results do"
            )
        if self.rollups < timedelta(days=90):
            raise ValueError("retention.rollups must cover the status page's 90 days")
        return self


SELF_PROBE = "monitor-self"


class SelfConfig(Strict):
    """The monitor watching itself: a pager that silently fails is the bug this project exists
    for. Trouble opens a `monitor-self` incident paged through `policy` like any other."""

    heartbeat_url: Text | None = Field(
        default=None,
        description="pinged (GET) every `heartbeat_every` while the scheduler, the recorder and "
        "the escalation engine all work: a dead man's switch such as a cron-monitoring service "
        "pages someone when the pings stop",
    )
    heartbeat_every: PositiveDuration = timedelta(minutes=1)
    policy: str | None = Field(
        default=None, description="who is paged for monitor-self; default: defaults.policy"
    )
    database_failing_for: PositiveDuration = Field(
        default=timedelta(minutes=1),
        description="the database refusing result writes this long is trouble",
    )
    provider_failures: Count = Field(
        default=3, ge=1, description="sends in a row failing on one channel (sms, voice) is trouble"
    )
    max_lateness: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="p99 of how late probe runs start, above which is trouble",
    )
    engine_stalled_for: PositiveDuration = Field(
        default=timedelta(minutes=1),
        description="the escalation engine not finishing a tick this long is trouble",
    )
    missed_runs: Count = Field(
        default=3,
        ge=1,
        description="a probe's location sending no result for this many intervals (plus the "
        "timeout and 10 s) is trouble: the probe instance there died or was never started",
    )
    min_free_disk_mb: int = Field(
        default=500, ge=0, description="free space below this on the database's disk is trouble"
    )
    disk_path: str | None = Field(
        default=None,
        description="the filesystem to watch for free space; default: the SQLite file's "
        "directory (with PostgreSQL, set it to the data volume if it is mounted here)",
    )


class MonitorConfig(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    probes: list[ProbeConfig] = Field(default_factory=list)
    maintenance: list[MaintenanceConfig] = Field(default_factory=list)
    people: list[PersonConfig] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    policies: list[PolicyConfig] = Field(default_factory=list)
    messages: MessagesConfig = Field(default_factory=MessagesConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    watch_self: SelfConfig = Field(default_factory=SelfConfig, alias="self")

    def policy_of(self, probe: ProbeConfig) -> PolicyConfig | None:
        """The policy that pages for this probe: its own, else the default; None pages nobody."""
        name = probe.alert.policy or self.defaults.policy
        return next((policy for policy in self.policies if policy.name == name), None)

    def person(self, person_id: str) -> PersonConfig | None:
        return next((person for person in self.people if person.id == person_id), None)

    def schedule(self, name: str) -> ScheduleConfig | None:
        return next((schedule for schedule in self.schedules if schedule.name == name), None)
