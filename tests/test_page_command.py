"""`monitor page --test PERSON` as a user runs it: a real process, Twilio's library aimed at the
sandbox, the delivery status followed until it is final."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from monitor.sandbox import create_app
from monitor.testing.asgi_server import serve_asgi

SID, TOKEN = "AC" + "cd" * 16, "page-test-token"
ALICE = "+4915110000001"
CONFIG = f"""
people:
  - {{id: alice, name: Alice Meyer, phone: "{ALICE}"}}
  - {{id: webby, name: Web Only, channels: [webhook]}}
channels: {{webhook: {{url: "http://127.0.0.1:9/hook"}}}}
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    app = create_app(account_sid=SID, auth_token=TOKEN, callback_delay=0.05)
    with serve_asgi(app) as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, sandbox: str) -> Path:
    httpx.post(f"{sandbox}/sandbox/reset").raise_for_status()
    path = tmp_path / "oncall.yaml"
    path.write_text(CONFIG)
    return path


def page_test(
    *args: str, sandbox: str | None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["COLUMNS"] = "200"
    if sandbox is not None:
        env.update(
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_FROM="+15005550006",
            TWILIO_API_BASE_URL=sandbox,
        )
    script = Path(sys.executable).with_name("monitor")
    return subprocess.run(
        [str(script), "page", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def behave(sandbox: str, **behaviour: str) -> None:
    httpx.post(
        f"{sandbox}/sandbox/numbers/{quote(ALICE, safe='')}", json=behaviour
    ).raise_for_status()


def test_a_test_sms_is_followed_until_delivered(config: Path, sandbox: str) -> None:
    result = page_test("--test", "alice", str(config), sandbox=sandbox)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"test page to Alice Meyer (+*********0001) by sms through {sandbox}"
    assert "  delivered" in lines
    assert lines[-1].startswith("OK: delivered (SM")
    [message] = httpx.get(f"{sandbox}/sandbox/messages", params={"to": ALICE}).json()
    assert message["body"].startswith("monitor test page for Alice Meyer")
    assert ALICE not in result.stdout  # masked


def test_an_undelivered_test_sms_fails(config: Path, sandbox: str) -> None:
    behave(sandbox, sms="undelivered")
    result = page_test("--test", "alice", str(config), sandbox=sandbox)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].startswith("FAILED: undelivered (error 30003)")


def test_a_test_call_is_followed_until_answered(config: Path, sandbox: str) -> None:
    result = page_test("--test", "alice", "--via", "voice", str(config), sandbox=sandbox)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("OK: answered (CA")
    [call] = httpx.get(f"{sandbox}/sandbox/calls", params={"to": ALICE}).json()
    assert "If you hear this, phone paging works" in " ".join(call["transcript"])


@pytest.mark.parametrize(
    ("voice", "verdict"),
    [("no-answer", "FAILED: no-answer"), ("machine", "FAILED: a voicemail box answered")],
)
def test_an_unanswered_test_call_fails(
    config: Path, sandbox: str, voice: str, verdict: str
) -> None:
    behave(sandbox, voice=voice)
    result = page_test("--test", "alice", "--via", "voice", str(config), sandbox=sandbox)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].startswith(verdict)


def test_a_refused_test_page_says_why(config: Path, sandbox: str) -> None:
    httpx.post(
        f"{sandbox}/sandbox/faults", json={"status": 400, "code": 21211, "times": 1}
    ).raise_for_status()
    result = page_test("--test", "alice", str(config), sandbox=sandbox)
    assert result.returncode == 1
    assert "the provider refused the test page: Twilio 21211: invalid phone number" in result.stderr


def test_without_twilio_or_with_an_unknown_person_nothing_is_sent(config: Path) -> None:
    unconfigured = page_test("--test", "alice", str(config), sandbox=None)
    assert unconfigured.returncode == 2
    assert "Twilio is not configured" in unconfigured.stderr
    unknown = page_test("--test", "zoe", str(config), sandbox=None)
    assert unknown.returncode == 2
    assert "no person `zoe`" in unknown.stderr and "alice, webby" in unknown.stderr
    no_phone = page_test("--test", "webby", str(config), sandbox=None)
    assert no_phone.returncode == 2
    assert "Web Only has no phone number" in no_phone.stderr
