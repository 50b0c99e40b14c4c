"""A run's hard deadline: a target that accepts and never answers fails the run, on time."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from monitor.clock import SystemClock
from monitor.config.models import ProbeConfig
from monitor.probing.errors import ErrorKind
from monitor.probing.runner import run_with_deadline
from monitor.storage.records import ResultRecord


@pytest.fixture
def silent_target() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/"


async def test_a_hung_target_fails_the_run_at_its_deadline(silent_target: str) -> None:
    probe = ProbeConfig.model_validate(
        {"name": "hung", "interval": "30s", "timeout": "20s", "request": {"url": silent_target}}
    )
    began = time.monotonic()
    result = await run_with_deadline(probe, clock=SystemClock(), deadline=timedelta(seconds=0.3))
    assert time.monotonic() - began < 2
    assert not result.ok
    error = result.steps[0].error
    assert error is not None and error.kind == ErrorKind.DEADLINE
    assert error.message == "the run did not finish within its deadline of 300ms"
    record = ResultRecord.from_run(result, due_at=result.started_at)
    assert (record.error_kind, record.failed_step) == ("deadline", "run")
