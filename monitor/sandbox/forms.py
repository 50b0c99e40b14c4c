"""Reading the form parameters of Twilio REST requests, with Twilio's validation errors."""

from __future__ import annotations

import re

from starlette.datastructures import FormData

from monitor.sandbox.errors import TwilioApiError

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def text(form: FormData, name: str) -> str | None:
    """A parameter's value; missing and empty are the same to Twilio."""
    value = form.get(name)
    if value is None or not isinstance(value, str) or value == "":
        return None
    return value


def values(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]


def required(form: FormData, name: str, *, code: int, message: str) -> str:
    value = text(form, name)
    if value is None:
        raise TwilioApiError(400, code, message)
    return value


def phone_number(form: FormData, name: str, *, missing_code: int, missing_message: str) -> str:
    """An E.164 number; anything else is Twilio's 21211 with its wording."""
    value = required(form, name, code=missing_code, message=missing_message)
    if not E164.fullmatch(value):
        raise TwilioApiError(
            400, 21211, f"The '{name}' number {value} is not a valid phone number."
        )
    return value


def is_e164(value: str) -> bool:
    return E164.fullmatch(value) is not None
