"""Why a probe step got no usable answer: a short kind for rules and one line for humans."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    DNS = "dns"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    WRITE_TIMEOUT = "write_timeout"
    POOL_TIMEOUT = "pool_timeout"
    TLS = "tls"
    TOO_LARGE = "too_large"
    PROTOCOL = "protocol"
    INVALID_URL = "invalid_url"
    INVALID_REQUEST = "invalid_request"
    # Set by the multi-step flow, not by the HTTP step itself.
    DEADLINE = "deadline"
    TEMPLATE = "template"
    EXTRACT = "extract"
    OTHER = "other"


@dataclass(frozen=True)
class ProbeError:
    """A network failure of one step, as a value: steps return it, they do not raise it.

    `message` is one short line fit for an SMS or a status page. It never contains the URL's
    userinfo or query string, nor any header value or request body: those may hold secrets.
    """

    kind: ErrorKind
    message: str

    def __str__(self) -> str:
        return self.message
