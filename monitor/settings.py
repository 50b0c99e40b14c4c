"""Settings from the environment (secrets and deployment facts never live in the YAML)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./monitor.db"


def normalize_database_url(url: str) -> str:
    """Accept the URLs people paste (`postgresql://`, `postgres://`, `sqlite:///`) and pick the
    async drivers the monitor uses."""
    for prefix in (
        "postgresql://",
        "postgres://",
        "postgresql+psycopg2://",
        "postgresql+psycopg://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://...",
    )
    max_concurrency: int = Field(default=100, ge=1, description="probe runs in flight at once")

    @field_validator("database_url")
    @classmethod
    def _normalize(cls, value: str) -> str:
        return normalize_database_url(value)


DEFAULT_LISTEN = "127.0.0.1:8080"
TWILIO_API = "https://api.twilio.com"


class WebSettings(BaseSettings):
    """Where the monitor's web server listens and the address the world reaches it by."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="ignore")

    public_url: str | None = Field(
        default=None,
        description="the URL Twilio reaches the monitor at (https://monitor.example.com): "
        "callbacks are built from it and webhook signatures are checked against it",
    )
    listen: str = Field(default=DEFAULT_LISTEN, description="host:port of the web server")
    admin_token: SecretStr | None = Field(
        default=None,
        description="the admin pages' login and the JSON API's bearer token; unset: both are off",
    )

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


class TwilioSettings(BaseSettings):
    """TWILIO_* from the environment: the account, the sender, and where the API is."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_", extra="ignore")

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    # Accepted on webhooks while the primary token is being rotated (Twilio signs with the one
    # that is primary at the moment, and both are valid for a while).
    secondary_auth_token: SecretStr | None = None
    from_number: str | None = Field(default=None, validation_alias="TWILIO_FROM")
    messaging_service_sid: str | None = None
    api_base_url: str = Field(
        default=TWILIO_API,
        description="Twilio's API, or a Twilio-compatible server such as `monitor sandbox`",
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds per request to Twilio")

    @property
    def configured(self) -> bool:
        return bool(
            self.account_sid
            and self.auth_token
            and (self.from_number or self.messaging_service_sid)
        )

    def tokens(self) -> list[str]:
        return [
            token.get_secret_value()
            for token in (self.auth_token, self.secondary_auth_token)
            if token is not None and token.get_secret_value()
        ]
