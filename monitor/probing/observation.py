"""What one HTTP step saw: the input of conditions and of `extract`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class Observation:
    """Everything a condition may look at, already measured.

    `status` is 0 when no response arrived (as in Gatus). `headers` must be a case-insensitive
    mapping (an `httpx.Headers`). `certificate_expiration_ms` is the time left on the peer's TLS
    certificate when it was seen, 0 without TLS (Gatus's `[CERTIFICATE_EXPIRATION]`).
    """

    status: int = 0
    response_time_ms: int = 0
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    connected: bool = False
    ip: str = ""
    certificate_expiration_ms: int = 0
    certificate_not_after: datetime | None = None
