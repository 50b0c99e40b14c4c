"""Logs: stdout only, as text or JSON lines, phone numbers masked and credentials redacted.

There is no log file, on purpose: the outage this project exists for began with a disk filled
by logs nobody rotated. In a container stdout goes to the engine's log driver, which rotates
(docker-compose.yml caps it at 3 x 10 MB).

Masking happens in the formatter, on the final text (message, arguments and traceback), so no
call site can forget it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from monitor.masking import mask_phones

LogFormat = Literal["text", "json"]
EVENTS = "monitor.events"

_CREDENTIALS = (
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 ***"),
    # password=..., token: ..., auth_token=..., api_key=... in URLs, forms, reprs
    (
        re.compile(
            r"(?i)\b([a-z_]*(?:password|passwd|secret|token|api_?key)[a-z_]*)"
            r"(\"?'?\s*[=:]\s*\"?'?)([^\s\"'&,;]+)"
        ),
        r"\1\2***",
    ),
    # https://user:secret@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s/]+@"), r"\1:***@"),
)
# Record attributes every LogRecord has: the rest came through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_NOISE = {"color_message"}  # uvicorn's message again, with terminal colours


def redact(text: str) -> str:
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return mask_phones(text)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in _NOISE and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        return json.dumps(entry, default=lambda value: redact(str(value)), ensure_ascii=False)


class _OwnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so that configuring twice replaces it."""


def configure_logging(
    fmt: LogFormat = "text", *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _OwnHandler):
            root.removeHandler(handler)
    handler = _OwnHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO, query string and userinfo included.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def event_logger() -> Callable[[str], None]:
    """The runtime's console lines as log lines (`--log-format json`: one stream to parse)."""
    events = logging.getLogger(EVENTS)
    return lambda line: events.info("%s", line)
