"""Start-up settings of the demo API, read from `DEMO_*` environment variables."""

from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from demo_api.faults import Faults
from demo_api.values import Email, ErrorRatio, LatencyMs, Password

ENV_PREFIX = "DEMO_"


class DemoSettingsError(ValueError):
    """Invalid `DEMO_*` environment variables; the message names each variable and the fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid DEMO_* environment variables:\n  " + "\n  ".join(problems))
        self.problems = problems


class DemoSettings(BaseModel):
    """Plain values, so tests build them directly; only `from_env` looks at the environment.

    Keeping the environment out of the constructor means a `DEMO_ERROR_RATIO` left in a
    developer's shell cannot leak into tests that ask for a healthy API.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    error_ratio: ErrorRatio = 0.0
    latency_ms: LatencyMs = 0
    disk_full: bool = False
    seed: int | None = None
    user_email: Email = "probe@example.com"
    user_password: Password = "probe-password"

    @property
    def faults(self) -> Faults:
        return Faults(
            error_ratio=self.error_ratio, latency_ms=self.latency_ms, disk_full=self.disk_full
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        """Read `DEMO_<FIELD>` for every field; unset or empty variables keep the default."""
        values = {
            name: environ[_env_name(name)]
            for name in cls.model_fields
            if environ.get(_env_name(name), "").strip()
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise DemoSettingsError(
                [_describe(error, values) for error in exc.errors(include_url=False)]
            ) from None

    @classmethod
    def unknown_env(cls, environ: Mapping[str, str]) -> list[str]:
        """`DEMO_*` variables that name no setting, e.g. the typo `DEMO_ERROR_RATE`.

        Reported, not rejected: other tools may pass their own `DEMO_*` variables along.
        """
        known = {_env_name(name) for name in cls.model_fields}
        return sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in known)


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _describe(error: ErrorDetails, values: Mapping[str, str]) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    return f"{_env_name(field)}={values.get(field, '')!r}: {error['msg']}"
