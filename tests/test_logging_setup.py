"""Logs on stdout as text or JSON lines, with phone numbers masked and credentials redacted,
from the formatter itself and from `monitor run --log-format json`."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_run import ROOT, environment, monitor_command

from monitor.logging_setup import configure_logging, event_logger

PHONE = "+4915110000001"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_time_level_logger_message_extras_and_tracebacks() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    log = logging.getLogger("monitor.test")

    log.warning("page %s to %s failed", 12, PHONE, extra={"incident": 7})
    try:
        raise RuntimeError(f"Twilio refused {PHONE}")
    except RuntimeError:
        log.exception("sending failed")

    first, second = (json.loads(line) for line in lines_of(stream))
    assert first["level"] == "WARNING" and first["logger"] == "monitor.test"
    assert first["message"] == "page 12 to +*********0001 failed"
    assert first["incident"] == 7
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert "RuntimeError: Twilio refused +*********0001" in second["exc"]
    assert "491511" not in stream.getvalue()


def test_credentials_never_reach_the_log() -> None:
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    log = logging.getLogger("monitor.test")

    log.error("GET https://ACabc:s3cr3t-auth@api.example.com/x?token=tok-123456 failed")
    log.error("headers: Authorization: Bearer sk_live_abcdef123456, password=hunter2")

    text = stream.getvalue()
    for secret in ("s3cr3t-auth", "tok-123456", "sk_live_abcdef123456", "hunter2"):
        assert secret not in text
    assert "https://ACabc:***@api.example.com" in text
    assert " ERROR monitor.test: " in lines_of(stream)[0]


def test_configuring_twice_writes_each_line_once_and_never_to_a_file() -> None:
    before = set(logging.getLogger().handlers)  # pytest's own capture handlers
    stream = io.StringIO()
    configure_logging("text", stream=stream)
    configure_logging("json", stream=stream)
    event_logger()("OPENED incident #3")

    [line] = lines_of(stream)
    assert json.loads(line)["logger"] == "monitor.events"
    [added] = set(logging.getLogger().handlers) - before
    assert not isinstance(added, logging.FileHandler)
    assert logging.getLogger("httpx").level == logging.WARNING


def test_monitor_run_logs_json_lines_only_on_stdout(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f'people: [{{id: alice, name: Alice, phone: "{PHONE}"}}]\n'
        "probes:\n"
        '  - {name: down, timeout: 500ms, request: {url: "http://127.0.0.1:9/?token=tok-99999"}}\n'
    )
    env = environment("http://127.0.0.1:9", f"sqlite+aiosqlite:///{tmp_path}/m.db")
    done = subprocess.run(
        monitor_command("run", str(config), "--once", "--log-format", "json"),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # the probe failed
    assert done.stderr == ""
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    messages = [e["message"] for e in entries if e["logger"] == "monitor.events"]
    assert any(m.startswith("monitor: 1 probe from") for m in messages)
    assert any("FAIL down" in m for m in messages)
    assert "tok-99999" not in done.stdout and PHONE not in done.stdout
