"""Field types shared by the config models: names, counts, durations, ratios, time zones, and the
strict base model (unknown keys are errors, models are frozen)."""

from __future__ import annotations

import difflib
from datetime import timedelta
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

from monitor.config.durations import Duration

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


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


@cache
def _zone_names() -> dict[str, str]:
    # Lower-case name -> IANA name: `europe/berlin` should still suggest `Europe/Berlin`.
    # Read only when a name is wrong: listing the database walks every file in it.
    return {name.lower(): name for name in available_timezones()}


def _close_zones(typed: str, names: dict[str, str]) -> list[str]:
    """The best few matches: `Europe/Berln` suggests Berlin, not also Dublin and Belfast."""
    if typed in names:
        return [names[typed]]  # only the case was wrong
    scored = sorted(
        ((difflib.SequenceMatcher(None, typed, lower).ratio(), lower) for lower in names),
        reverse=True,
    )
    best = scored[0][0] if scored else 0.0
    return [names[lower] for ratio, lower in scored[:3] if ratio >= max(0.6, best - 0.05)]


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    else:
        return value
    names = _zone_names()
    if not names:
        raise ValueError(
            f"unknown time zone {value!r}: no time zone database found (install tzdata)"
        )
    close = _close_zones(value.lower(), names)
    if close:
        quoted = [repr(name) for name in close]
        options = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        raise ValueError(f"unknown time zone {value!r} (did you mean {options}?)")
    raise ValueError(
        f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin or America/New_York"
    )


TimeZoneName = Annotated[
    str,
    AfterValidator(_check_zone),
    WithJsonSchema(
        {"type": "string", "description": "IANA time zone", "examples": ["Europe/Berlin"]}
    ),
]
