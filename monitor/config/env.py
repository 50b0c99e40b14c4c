"""`${VAR}` and `${VAR:-default}` in YAML string values, taken from the environment.

Secrets live in the environment, never in YAML; every substituted value is remembered so output
can show `${PROBE_PASSWORD}` instead of the password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.config.yaml_source import PathKey

# `$${X}` is an escaped, literal `${X}`.
_REFERENCE = re.compile(r"\$(\$)?\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TEMPLATE_MARKERS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class EnvProblem:
    path: PathKey
    message: str


@dataclass
class Substitution:
    """What substitution did: values used (for redaction) and problems found."""

    used: dict[str, str] = field(default_factory=dict)
    problems: list[EnvProblem] = field(default_factory=list)


def substitute(
    data: Any, environ: Mapping[str, str], result: Substitution, path: PathKey = ()
) -> Any:
    """Return a copy of `data` with references replaced in every string value (keys untouched)."""
    if isinstance(data, dict):
        return {
            key: substitute(value, environ, result, (*path, key)) for key, value in data.items()
        }
    if isinstance(data, list):
        return [substitute(item, environ, result, (*path, i)) for i, item in enumerate(data)]
    if isinstance(data, str) and "$" in data:
        return _substitute_text(data, environ, result, path)
    return data


def _substitute_text(
    text: str, environ: Mapping[str, str], result: Substitution, path: PathKey
) -> str:
    # Requests and variables are later rendered as jinja2 templates: a value from the environment
    # must stay literal there (a password containing `{{` is not a template).
    in_template = "request" in path or "variables" in path

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]
        inner = match.group(2)
        name, has_default, default = inner.partition(":-")
        if not _NAME.fullmatch(name):
            result.problems.append(
                EnvProblem(
                    path,
                    f"invalid variable reference ${{{inner}}}: write ${{NAME}} or ${{NAME:-default}}",
                )
            )
            return match.group(0)
        value = environ.get(name)
        if value is None:
            if not has_default:
                result.problems.append(
                    EnvProblem(
                        path,
                        f"environment variable {name} is not set "
                        f"(set it, or give a default: ${{{name}:-value}})",
                    )
                )
                return match.group(0)
            value = default
        else:
            result.used[name] = value
        if in_template and any(marker in value for marker in _TEMPLATE_MARKERS):
            return "{% raw %}" + value + "{% endraw %}"
        return value

    return _REFERENCE.sub(replace, text)
