"""Who may use the admin pages and the JSON API: the holder of MONITOR_ADMIN_TOKEN.

The API takes the token as `Authorization: Bearer ...` (monitor/web/api.py). The admin pages
take it once, on the login form, and then carry a session cookie: an expiry signed with a key
derived from the token (rotating the token ends every session), plus a CSRF token derived from
the session for forms. Every comparison is constant-time. Times are epoch seconds from the
injected clock, so a test can let a session expire without waiting 12 hours.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from monitor.web.context import WebContext

SESSION_COOKIE = "monitor_session"
SESSION_SECONDS = 12 * 3600  # a night on call


def web_context(request: Request) -> WebContext:
    web: WebContext = request.app.state.web
    return web


def token_matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _key(admin_token: str) -> bytes:
    return hashlib.sha256(b"monitor-session\x00" + admin_token.encode()).digest()


def _sign(admin_token: str, message: str) -> str:
    return hmac.new(_key(admin_token), message.encode(), hashlib.sha256).hexdigest()


def new_session(admin_token: str, *, now: float) -> str:
    expires = int(now + SESSION_SECONDS)
    return f"{expires}.{_sign(admin_token, f'session:{expires}')}"


def session_valid(admin_token: str | None, cookie: str | None, *, now: float) -> bool:
    if not admin_token or not cookie:
        return False
    expires, _, signature = cookie.partition(".")
    if not expires.isdigit():
        return False
    if not hmac.compare_digest(signature, _sign(admin_token, f"session:{expires}")):
        return False
    return int(expires) > now


def csrf_token(admin_token: str, session: str) -> str:
    return _sign(admin_token, f"csrf:{session}")


def csrf_valid(admin_token: str | None, session: str | None, given: str | None) -> bool:
    if not admin_token or not session or not given:
        return False
    return hmac.compare_digest(given, csrf_token(admin_token, session))
