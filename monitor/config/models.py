"""The YAML config as pydantic models: what engineers may write, with every rule that can be
checked before a probe runs (conditions parse, templates compile, extracted names exist)."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from monitor.config.durations import Duration, format_duration
from monitor.probing.conditions import Condition, ConditionSyntaxError, is_placeholder
from monitor.probing.templating import HELPERS, strings_in

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
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


def _scalar_text(value: Any) -> Any:
    # `page: 1` or `X-Debug: true` in YAML are meant as text, not as type errors.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[
    str,
    BeforeValidator(_scalar_text),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]


def _no_bool(value: Any) -> Any:
    # YAML's `true` would otherwise pass as 1.
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not true/false")
    return value


Count = Annotated[int, BeforeValidator(_no_bool)]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]

_PERCENT_PATTERN = r"^\s*\d+(\.\d+)?\s*%\s*$"


def _percent_as_ratio(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1]) / 100
    return _no_bool(value)


def _percent_as_number(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(value.strip()[:-1])
    return _no_bool(value)


# `0.2` or `20%`.
Ratio = Annotated[
    float,
    BeforeValidator(_percent_as_ratio),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _PERCENT_PATTERN}]}
    ),
]
# `99.9` or `99.9%`.
Percentage = Annotated[
    float,
    BeforeValidator(_percent_as_number),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _PERCENT_PATTERN}]}
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
    min_samples: Count = Field(default=6, ge=1)


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
    min_duration: Duration = timedelta(0)


class Confirm(Strict):
    runs: Count = Field(default=5, ge=0, description="extra runs after a failure; 0 turns it off")
    every: Duration = timedelta(seconds=5)


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


class Defaults(Strict):
    interval: PositiveDuration = timedelta(seconds=30)
    timeout: PositiveDuration = timedelta(seconds=10)
    locations: list[str] = Field(default_factory=lambda: ["local"], min_length=1)


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


class MonitorConfig(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    probes: list[ProbeConfig] = Field(default_factory=list)
