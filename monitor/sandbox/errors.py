"""Errors of the Twilio REST API, shaped as Twilio answers them.

The twilio library turns such a body into `TwilioRestException(status, uri, msg, code)`; it
takes the legacy shape (code, message, more_info, status), not the RFC 9457 one, so the
exception type is the one application code catches in production.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

API_PREFIX = "/2010-04-01/"


class TwilioApiError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(status: int, code: int, message: str) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")


async def handle_twilio_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TwilioApiError)
    return JSONResponse(
        error_body(exc.status, exc.code, exc.message),
        status_code=exc.status,
        headers=exc.headers,
    )


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own errors (unknown route, wrong method) in Twilio's shape under its API prefix,
    so a client pointed at a resource the sandbox lacks gets a TwilioRestException, not a
    JSON decoding surprise."""
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(API_PREFIX):
        code = 20404 if exc.status_code == 404 else exc.status_code
        message = (
            f"The requested resource {request.url.path} was not found"
            if exc.status_code == 404
            else str(exc.detail)
        )
        return JSONResponse(error_body(exc.status_code, code, message), status_code=exc.status_code)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
