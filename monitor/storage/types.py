"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class Timestamp(TypeDecorator[datetime]):
    """A point in time: a timezone-aware UTC `datetime` in Python.

    PostgreSQL stores `TIMESTAMP WITH TIME ZONE`. SQLite has no date type and its text form takes
    about 30 bytes, so there it is an INTEGER of epoch milliseconds (6 bytes for current dates):
    results are the bulk of the database and their rows must stay narrow. SQLite therefore keeps
    millisecond precision (sub-millisecond parts are floored); PostgreSQL keeps microseconds.

    A naive datetime is refused rather than guessed at: a local time read as UTC would shift every
    result by hours without anyone noticing.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"Timestamp needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a time zone")
        if dialect.name == "sqlite":
            return to_epoch_ms(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_epoch_ms(int(value))
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


def to_epoch_ms(moment: datetime) -> int:
    # Integer arithmetic on timedeltas: exact, unlike float seconds * 1000.
    return (moment - EPOCH) // _MILLISECOND


def from_epoch_ms(value: int) -> datetime:
    return EPOCH + value * _MILLISECOND
