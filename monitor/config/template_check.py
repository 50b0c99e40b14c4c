"""Templates checked before anything runs: each compiles, and reads only names that exist by then
(the helpers, `variables`, and values extracted by an *earlier* step).

Works on the raw YAML data, not on validated models, so a probe with an unrelated mistake still
gets its template problems reported in the same pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from monitor.probing.templating import HELPERS, TemplateProblem, variables_used

PathKey = tuple[str | int, ...]
Problem = tuple[PathKey, str]
_REQUEST_FIELDS = ("url", "query", "headers", "json", "body", "form")


def template_problems(raw_probe: object) -> list[Problem]:
    """Problems of one probe as (path inside the probe, message)."""
    if not isinstance(raw_probe, dict):
        return []
    problems: list[Problem] = []
    known = set(HELPERS)
    variables = raw_probe.get("variables")
    if isinstance(variables, dict):
        for name, text in variables.items():
            path: PathKey = ("variables", str(name))
            for unknown in _check(text, path, set(HELPERS), problems):
                problems.append(
                    (
                        path,
                        f"template variable `{unknown}` is not defined here "
                        "(variables may use only uuid(), random_email() and now())",
                    )
                )
        known.update(str(name) for name in variables)

    steps = _steps(raw_probe)
    for index, (prefix, step) in enumerate(steps):
        request = step.get("request")
        if isinstance(request, dict):
            for field_path, text in _request_strings(request):
                path = (*prefix, "request", *field_path)
                for name in _check(text, path, known, problems):
                    later = any(name in _extract_names(s) for _, s in steps[index + 1 :])
                    hint = " (extracted by a later step?)" if later else ""
                    problems.append(
                        (
                            path,
                            f"template variable `{name}` is not extracted by an earlier step{hint}",
                        )
                    )
        known.update(_extract_names(step))
    return problems


def _steps(raw_probe: dict[str, Any]) -> list[tuple[PathKey, dict[str, Any]]]:
    if isinstance(raw_probe.get("request"), dict):
        return [((), raw_probe)]  # the short form: the probe is its own single step
    steps = raw_probe.get("steps")
    if not isinstance(steps, list):
        return []
    return [(("steps", i), step) for i, step in enumerate(steps) if isinstance(step, dict)]


def _extract_names(step: dict[str, Any]) -> set[str]:
    extract = step.get("extract")
    return {str(name) for name in extract} if isinstance(extract, dict) else set()


def _request_strings(request: dict[str, Any]) -> Iterator[tuple[PathKey, str]]:
    for field in _REQUEST_FIELDS:
        if field in request:
            yield from _strings(request[field], (field,))


def _strings(data: object, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield (*path, str(key)), str(key)
            yield from _strings(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _strings(item, (*path, index))


def _check(text: object, path: PathKey, known: set[str], problems: list[Problem]) -> list[str]:
    """The unknown names `text` reads, in order; a syntax error is added to `problems`."""
    if not isinstance(text, str):
        return []
    try:
        used = variables_used(text)
    except TemplateProblem as problem:
        problems.append((path, f"{problem} in {text!r}"))
        return []
    return sorted(used - known)
