"""`monitor demo` run as a user runs it: the whole story, shortened by `--fast`, with the ACK
sent from a sandbox phone the way its phone page sends it."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from monitor.config import load_config
from monitor.demo import demo_environment
from monitor.demo_config import FAST, NORMAL, speed_up, story_probe
from monitor.demo_run import SandboxAccount, sandbox_twilio
from monitor.detection.maintenance import MaintenanceWindow

ROOT = Path(__file__).resolve().parents[1]
STORY_DEADLINE = 90.0  # seconds for the whole story; it takes about 35


class Demo:
    """A running `monitor demo`, its output read line by line as it comes."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        script = Path(sys.executable).with_name("monitor")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
        self.popen = subprocess.Popen(
            [*command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env=env,
        )
        self.deadline = time.monotonic() + STORY_DEADLINE
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str) -> re.Match[str]:
        """The first line from here on that matches `pattern`, before the story's deadline."""
        while (left := self.deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.seen))

    def rest(self) -> list[str]:
        """Every line still to come, once the process has ended."""
        while (line := self.lines.get(timeout=10)) is not None:
            self.seen.append(line)
        return self.seen

    def stop(self) -> None:
        """SIGTERM first: killed outright, the demo could not stop the example API's process."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def test_demo_pages_until_an_ack_then_heals_and_resolves(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "TMPDIR": str(tmp_path),  # the demo's fresh database goes there
        # A real account in the user's environment must not leak into the demo: pages sent
        # here would fail, and the SMS checked below would never reach the sandbox.
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "not-the-sandbox-token",
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
    }
    demo = Demo(
        [
            "demo",
            "--fast",
            "--exit-when-done",
            "--listen",
            "127.0.0.1:0",
            "--sandbox-listen",
            "127.0.0.1:0",
        ],
        cwd=tmp_path,
        env=env,
    )
    try:
        api = demo.expect(r"^Example API at (http://127\.0\.0\.1:\d+)")[1]
        status = demo.expect(r"^The status page: +(http://127\.0\.0\.1:\d+)/ ")[1]
        token = demo.expect(r"^The admin pages: +\S+/admin \(token: (\S+)\)$")[1]
        sandbox = demo.expect(r"^The phones: +(http://127\.0\.0\.1:\d+)/ ")[1]
        assert "Service status" in httpx.get(f"{status}/").text
        login = httpx.post(f"{status}/admin/login", data={"token": token})
        assert login.status_code == 303 and "monitor_session" in login.headers["set-cookie"]
        demo.expect(r"OUTAGE: the example API now fails 30% of its requests")
        demo.expect(r"MON-1  OPENED: login PARTIAL")
        primary = demo.expect(r"MON-1  SMS to (.+) \(primary, \+\*+\d{4}\)$")[1]
        page = demo.expect(rf"reply ACK on {primary}'s phone: {sandbox}/phone/(\S+)$")[1]
        phone = unquote(page)

        # The page really went through the sandbox, before anyone answered it.
        texts = httpx.get(f"{sandbox}/sandbox/messages", params={"to": phone}).json()
        pages = [m["body"] for m in texts if m["direction"] == "outbound-api"]
        assert len(pages) == 1, pages
        assert pages[0].startswith("[MON-1] PARTIAL OUTAGE login: ")
        assert pages[0].endswith(". Reply ACK 1")

        # As the phone page's reply box does it.
        reply = httpx.post(f"{sandbox}/sandbox/reply", json={"from": phone, "body": "ACK"})
        assert reply.json()["replies"] == [
            "Acknowledged MON-1 (login). Reply RESOLVE 1 when fixed."
        ]

        demo.expect(rf"MON-1  ACKNOWLEDGED by {primary} by SMS$")
        demo.expect(r"MON-1 is acknowledged: the engineer fixes the example API")
        faults = httpx.get(f"{api}/_admin/faults").json()
        assert faults["error_ratio"] == 0 and faults["disk_full"] is False
        demo.expect(r"MON-1  RESOLVED: 2 runs in a row passed")
        demo.expect(rf'MON-1  "resolved" SMS to {primary}$')
        demo.expect(rf"MON-1  {primary} received the resolved message$")
        demo.expect(r"The story is complete\.")
        demo.expect(rf"MON-1 \(login\): acknowledged \S+ after it opened \(by {primary} by SMS\)")

        assert demo.popen.wait(timeout=max(1.0, demo.deadline - time.monotonic())) == 0
        output = demo.rest()
    finally:
        demo.stop()
    # No line per failed run (the story tells the first one), and every result was stored.
    assert not [line for line in output if " FAIL " in line]
    stopped = next(line for line in output if line.startswith("stopped: "))
    assert re.fullmatch(r"stopped: (\d+) results taken, \1 stored, 0 not written", stopped)


def test_the_demo_config_is_the_examples_sped_up(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_config(ROOT / "examples", environ=demo_environment("http://127.0.0.1:9"))
    probe = story_probe(loaded.config)
    assert probe is not None and probe.name == "login"
    for pace in (NORMAL, FAST):
        demo = speed_up(loaded, pace, pages_for="login")
        assert {p.interval for p in demo.probes} == {pace.interval}
        assert all(p.timeout <= pace.interval for p in demo.probes)
        login = demo.config.probes[0].alert
        assert login.trigger is not None and login.trigger[0].failure_ratio is not None
        assert login.trigger[0].failure_ratio.window == pace.window
        assert login.recover.min_duration == pace.recover_after
        (policy,) = demo.config.policies
        assert {level.escalate_after for level in policy.levels} == {pace.escalate_after}
        assert policy.repeat is None  # still `forever`
        # signup and sharing run, but a window that never ends keeps them from paging.
        held = MaintenanceWindow.from_config(demo.config.maintenance[-1])
        assert not held.applies_to("login") and held.applies_to("signup")
        assert held.occurrence_at(datetime.now(UTC)) is not None
    # The examples as loaded are untouched.
    assert loaded.config.probes[0].interval == timedelta(seconds=30)
    assert [m.reason for m in loaded.config.maintenance] == ["weekly database vacuum"]

    # The user's own Twilio settings never reach the demo's pages.
    for name, value in {
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
        "TWILIO_SECONDARY_AUTH_TOKEN": "real",
        "TWILIO_TIMEOUT": "99",
    }.items():
        monkeypatch.setenv(name, value)
    account = SandboxAccount(account_sid="AC" + "5a" * 16, auth_token="t", number="+15005550006")
    settings = sandbox_twilio("http://127.0.0.1:8090", account)
    assert settings.messaging_service_sid is None and settings.secondary_auth_token is None
    assert settings.timeout == 10.0 and settings.from_number == "+15005550006"
    assert settings.api_base_url == "http://127.0.0.1:8090"
