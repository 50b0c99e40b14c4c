"""jinja2 templating of request fields, sandboxed: probe configs come from git, not from users,
but a template must still not reach into Python internals."""

from __future__ import annotations

import secrets
import uuid as uuid_module
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

HELPERS = ("uuid", "random_email", "now")
_MARKERS = ("{{", "{%", "{#")


class TemplateProblem(ValueError):
    """A template that cannot compile, or that uses a variable nobody provides."""


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


def is_template(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def variables_used(text: str) -> set[str]:
    """The names a template reads; raises `TemplateProblem` when it does not compile."""
    if not is_template(text):
        return set()
    try:
        parsed = environment().parse(text)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateProblem(f"template syntax: {error.message}") from None
    return set(meta.find_undeclared_variables(parsed))


def helpers(now: Callable[[], datetime]) -> dict[str, Callable[..., Any]]:
    """Functions every template may call: fresh values for throwaway accounts and timestamps."""

    def random_email(domain: str = "example.com") -> str:
        return f"probe-{secrets.token_hex(6)}@{domain}"

    def new_uuid() -> str:
        return str(uuid_module.uuid4())

    return {"uuid": new_uuid, "random_email": random_email, "now": now}


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Render one string; plain strings come back untouched (and cost nothing)."""
    if not is_template(text):
        return text
    try:
        return environment().from_string(text).render(**variables)
    except jinja2.UndefinedError as error:
        raise TemplateProblem(f"template: {error.message}") from None
    except jinja2.TemplateError as error:
        raise TemplateProblem(f"template: {error}") from None


def render_data(data: Any, variables: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON-like structure (keys too)."""
    if isinstance(data, str):
        return render(data, variables)
    if isinstance(data, dict):
        return {render(str(k), variables): render_data(v, variables) for k, v in data.items()}
    if isinstance(data, list):
        return [render_data(item, variables) for item in data]
    return data


def strings_in(data: Any) -> list[str]:
    """Every string inside a JSON-like structure, keys included."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        found: list[str] = []
        for key, value in data.items():
            found.extend(strings_in(key))
            found.extend(strings_in(value))
        return found
    if isinstance(data, list):
        return [text for item in data for text in strings_in(item)]
    return []
