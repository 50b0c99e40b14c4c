"""Durations as engineers write them in YAML: `500ms`, `30s`, `5m`, `1h`, `1d`, `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"


def parse_duration(value: object) -> timedelta:
    """Parse `30s`-style text; a bare number is refused because `30` could mean seconds or minutes."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration such as 30s, got {type(value).__name__}")
    if isinstance(value, int | float):
        raise ValueError(f"duration {value} has no unit: write {value}s or {value}m")
    text = value.strip().replace(" ", "")
    if not text:
        raise ValueError("empty duration: write e.g. 30s")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        raise ValueError(f"duration {text} has no unit: write {text}s or {text}m")
    position = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        raise ValueError(
            f"invalid duration {value!r}: use a number and a unit (ms, s, m, h, d, w), e.g. 500ms, 30s, 1h30m"
        )
    try:
        return timedelta(seconds=total)
    except OverflowError:
        raise ValueError(f"duration {value!r} is too long") from None


def format_duration(delta: timedelta) -> str:
    """The shortest exact text for a duration (`90s` -> `1m30s`), as the YAML would say it."""
    millis = round(delta.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _serialize(delta: timedelta) -> str:
    return format_duration(delta)


def _validate(value: Any) -> timedelta:
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(_serialize, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["500ms", "30s", "5m"]}
    ),
]
