"""Twilio's request signatures: every webhook must prove it comes from Twilio.

The signature covers the full URL Twilio requested and the form fields. Behind a TLS-terminating
proxy the app sees http://10.0.0.5:8080/..., not the https://monitor.example.com/... Twilio
signed, so the URL is rebuilt from MONITOR_PUBLIC_URL. During a token rotation both the primary
and the secondary token are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.requests import Request
from twilio.request_validator import RequestValidator


def signed_url(request: Request, public_url: str | None) -> str:
    if public_url is None:
        return str(request.url)
    query = request.url.query
    return public_url + request.url.path + (f"?{query}" if query else "")


def is_signed(
    *, url: str, params: Mapping[str, str], signature: str | None, tokens: Sequence[str]
) -> bool:
    if not signature or not tokens:
        return False
    return any(RequestValidator(token).validate(url, dict(params), signature) for token in tokens)
