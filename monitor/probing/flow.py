"""Run one probe like a user would: its steps in order, values carried from step to step.

The first failing step ends the run, except for steps marked `always_run` (cleanup, such as
deleting the throwaway account), which run anyway when the values they need exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.clock import Clock
from monitor.config.models import ProbeConfig, StepConfig
from monitor.probing.conditions import ConditionResult, resolve
from monitor.probing.errors import ErrorKind, ProbeError
from monitor.probing.http import ProbeSession, RequestSpec, Timings
from monitor.probing.observation import Observation
from monitor.probing.redaction import Redactor, looks_secret
from monitor.probing.templating import TemplateProblem, helpers, render, render_data, variables_used

COOKIE_PREFIX = "[COOKIES]."


@dataclass(frozen=True, kw_only=True)
class StepResult:
    name: str
    ok: bool
    skipped: bool = False
    skip_reason: str | None = None
    always_run: bool = False
    status: int | None = None
    duration_ms: float | None = None
    timings: Timings | None = None
    ip: str | None = None
    certificate_not_after: datetime | None = None
    conditions: tuple[ConditionResult, ...] = ()
    error: ProbeError | None = None

    @property
    def failed_conditions(self) -> tuple[ConditionResult, ...]:
        return tuple(c for c in self.conditions if not c.ok)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "skipped": self.skipped,
            "status": self.status,
            "duration_ms": _rounded(self.duration_ms),
            "ip": self.ip,
            "certificate_expires_at": None
            if self.certificate_not_after is None
            else self.certificate_not_after.isoformat(),
            "timings": None
            if self.timings is None
            else {
                "connect_ms": _rounded(self.timings.connect_ms),
                "tls_ms": _rounded(self.timings.tls_ms),
                "ttfb_ms": _rounded(self.timings.ttfb_ms),
            },
            "error": None
            if self.error is None
            else {"kind": str(self.error.kind), "message": self.error.message},
            "conditions": [
                {"condition": c.condition, "ok": c.ok, "resolved": c.resolved}
                for c in self.conditions
            ],
        }


@dataclass(frozen=True, kw_only=True)
class RunResult:
    probe: str
    location: str
    started_at: datetime
    duration_ms: float
    steps: tuple[StepResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        # A step skipped after a failure is not a second failure; the failed step already counts.
        return all(step.ok for step in self.steps if not step.skipped)

    @classmethod
    def failed(
        cls,
        *,
        probe: str,
        location: str,
        started_at: datetime,
        duration_ms: float,
        error: ProbeError,
        stage: str = "run",
    ) -> RunResult:
        """A run that failed before (or outside) its steps: one pseudo-step named `stage`."""
        return cls(
            probe=probe,
            location=location,
            started_at=started_at,
            duration_ms=duration_ms,
            steps=(StepResult(name=stage, ok=False, error=error),),
        )

    @property
    def first_failure(self) -> StepResult | None:
        return next((step for step in self.steps if not step.ok and not step.skipped), None)

    def summary(self) -> str:
        """One line saying what failed: the step and its first failed condition or error."""
        failed = self.first_failure
        if failed is None:
            return "ok"
        if failed.error is not None:
            return f"{failed.name}: {failed.error.message}"
        reasons = "; ".join(c.resolved for c in failed.failed_conditions)
        return f"{failed.name}: {reasons}"

    def to_json(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "location": self.location,
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "duration_ms": _rounded(self.duration_ms),
            "steps": [step.to_json() for step in self.steps],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def run_probe(
    probe: ProbeConfig,
    *,
    clock: Clock,
    env_values: Mapping[str, str] | None = None,
    location: str = "local",
) -> RunResult:
    """Run every step of `probe` once; never raises (a bug shows as a failed run, not a crash)."""
    started_at = clock.now()
    try:
        return await _run_probe(probe, clock=clock, env_values=env_values, location=location)
    except asyncio.CancelledError:
        raise
    except Exception as unexpected:
        return RunResult.failed(
            probe=probe.name,
            location=location,
            started_at=started_at,
            duration_ms=0.0,
            error=_unexpected(unexpected, Redactor(env_values)),
        )


async def _run_probe(
    probe: ProbeConfig,
    *,
    clock: Clock,
    env_values: Mapping[str, str] | None,
    location: str,
) -> RunResult:
    redact = Redactor(env_values)
    variables: dict[str, Any] = dict(helpers(clock.now))
    started_at = clock.now()
    started = time.perf_counter()
    results: list[StepResult] = []
    failed = False
    try:
        for name, template in probe.variables.items():
            variables[name] = render(template, variables)
            if looks_secret(name):
                redact.add_secret(variables[name])
    except TemplateProblem as problem:
        error = ProbeError(kind=ErrorKind.TEMPLATE, message=redact(f"variables: {problem}"))
        return RunResult.failed(
            probe=probe.name,
            location=location,
            started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=error,
            stage="variables",
        )
    async with ProbeSession(clock=clock) as session:
        for step in probe.effective_steps():
            if failed and not step.always_run:
                results.append(
                    StepResult(
                        name=step.name, ok=False, skipped=True, skip_reason="an earlier step failed"
                    )
                )
                continue
            missing = _missing_variables(step, variables)
            if missing:
                reason = f"needs {', '.join(sorted(missing))} from a step that did not succeed"
                results.append(
                    StepResult(
                        name=step.name,
                        ok=False,
                        skipped=True,
                        skip_reason=reason,
                        always_run=step.always_run,
                    )
                )
                continue
            result = await _run_step(
                step, probe=probe, session=session, variables=variables, redact=redact
            )
            results.append(result)
            failed = failed or not result.ok
    return RunResult(
        probe=probe.name,
        location=location,
        started_at=started_at,
        duration_ms=(time.perf_counter() - started) * 1000,
        steps=tuple(results),
    )


def _missing_variables(step: StepConfig, variables: Mapping[str, Any]) -> set[str]:
    used: set[str] = set()
    for text in step.request.template_strings():
        used |= variables_used(text)
    return used - set(variables)


async def _run_step(
    step: StepConfig,
    *,
    probe: ProbeConfig,
    session: ProbeSession,
    variables: dict[str, Any],
    redact: Redactor,
) -> StepResult:
    """One step; whatever goes wrong becomes a failed step, never an exception out of the run."""
    try:
        return await _send_and_check(
            step, probe=probe, session=session, variables=variables, redact=redact
        )
    except asyncio.CancelledError:
        raise
    except Exception as unexpected:  # a bug must fail one step loudly, not the whole monitor
        failure = _unexpected(unexpected, redact)
        return StepResult(name=step.name, ok=False, always_run=step.always_run, error=failure)


def _unexpected(error: Exception, redact: Redactor) -> ProbeError:
    """A bug as one redacted line: the type and the first line of its message."""
    message = redact(f"unexpected {type(error).__name__}: {error}")
    return ProbeError(kind=ErrorKind.OTHER, message=message.splitlines()[0][:300])


async def _send_and_check(
    step: StepConfig,
    *,
    probe: ProbeConfig,
    session: ProbeSession,
    variables: dict[str, Any],
    redact: Redactor,
) -> StepResult:
    try:
        spec = _render_request(step, probe=probe, variables=variables)
    except TemplateProblem as problem:
        failure = ProbeError(kind=ErrorKind.TEMPLATE, message=redact(str(problem)))
        return StepResult(name=step.name, ok=False, always_run=step.always_run, error=failure)
    # What this step sends as a credential must not come back in what it prints.
    redact.add_credentials_of(dict(spec.headers))
    redact.add_credentials_of(dict(spec.query))
    redact.add_credentials_of(spec.json)
    redact.add_credentials_of(dict(spec.form or {}))

    outcome = await session.send(spec)
    _learn_credentials(outcome.observation, session, redact)
    conditions: tuple[ConditionResult, ...] = ()
    error: ProbeError | None = outcome.error
    if error is None:
        conditions = tuple(
            condition.evaluate(outcome.observation, redact=redact) for condition in step.conditions
        )
        # Extract even when a condition failed: a cleanup step may still need the value (the
        # account was created even if it was slow to say so).
        missing = _extract(step, outcome.observation, session, variables, redact)
        if all(c.ok for c in conditions):
            error = missing
    ok = error is None and all(c.ok for c in conditions)
    return StepResult(
        name=step.name,
        ok=ok,
        always_run=step.always_run,
        status=outcome.observation.status or None,
        duration_ms=outcome.timings.total_ms,
        timings=outcome.timings,
        ip=outcome.observation.ip or None,
        certificate_not_after=outcome.observation.certificate_not_after,
        conditions=tuple(
            ConditionResult(condition=c.condition, ok=c.ok, resolved=redact(c.resolved))
            for c in conditions
        ),
        error=None if error is None else ProbeError(kind=error.kind, message=redact(error.message)),
    )


def _learn_credentials(observation: Observation, session: ProbeSession, redact: Redactor) -> None:
    """Credentials the target hands out (tokens in JSON, cookies) must not show either, whether
    or not the probe extracts them."""
    redact.add_credentials_of(dict(observation.headers))
    redact.add_secrets(cookie.value for cookie in session.cookies.jar if cookie.value)
    body = observation.body.lstrip()[:1]
    if body in (b"{", b"["):
        with contextlib.suppress(ValueError):  # not JSON after all: nothing to learn
            redact.add_credentials_of(json.loads(observation.body))


def _render_request(
    step: StepConfig, *, probe: ProbeConfig, variables: Mapping[str, Any]
) -> RequestSpec:
    request = step.request
    timeout = request.timeout or probe.timeout
    url = render(request.url, variables)
    if not url.startswith(("http://", "https://")):
        raise TemplateProblem(f"url must start with http:// or https://, rendered to {url!r}")
    return RequestSpec(
        method=request.method,
        url=url,
        query=render_data(request.query, variables),
        headers=render_data(request.headers, variables),
        json=render_data(request.json_body, variables),
        body=None if request.body is None else render(request.body, variables),
        form=None if request.form is None else render_data(request.form, variables),
        timeout=timeout.total_seconds(),
        follow_redirects=request.follow_redirects,
        verify=request.verify,
    )


def _extract(
    step: StepConfig,
    observation: Observation,
    session: ProbeSession,
    variables: dict[str, Any],
    redact: Redactor,
) -> ProbeError | None:
    """Take every value that is present; return an error naming the first that is not."""
    first_missing: ProbeError | None = None
    for name, source in step.extract.items():
        value: str | None
        if source.startswith(COOKIE_PREFIX):
            value = session.cookies.get(source.removeprefix(COOKIE_PREFIX))
        else:
            value = resolve(source, observation)
        if value is None:
            first_missing = first_missing or ProbeError(
                kind=ErrorKind.EXTRACT,
                message=f"extract {name}: {source} is missing from the response",
            )
            continue
        if looks_secret(name) or looks_secret(source) or source.startswith(COOKIE_PREFIX):
            redact.add_secret(value)
        variables[name] = value
    return first_missing
