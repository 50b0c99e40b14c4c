"""`monitor run` as a real process against the example API: it probes on schedule, stores every
result on SQLite and PostgreSQL, stops cleanly on SIGTERM, and `monitor results` shows it all."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DemoApiFactory
from demo_api import DemoSettings

from monitor.demo import DEMO_EMAIL, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[1]


def monitor_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("monitor")
    return [
        str(script) if script.exists() else sys.executable,
        *([] if script.exists() else ["-m", "monitor"]),
        *args,
    ]


def environment(api_base: str, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "API_BASE": api_base,
        "PROBE_EMAIL": DEMO_EMAIL,
        "PROBE_PASSWORD": DEMO_PASSWORD,
        "MONITOR_DATABASE_URL": database_url,
        # A free port: the web server of one test's monitor must not collide with another's.
        "MONITOR_LISTEN": "127.0.0.1:0",
        "COLUMNS": "200",
    }


def results_json(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    done = subprocess.run(
        monitor_command("results", "--json", "--limit", "1000", *args),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def fast_config(tmp_path: Path) -> Path:
    """The example login probe, every second."""
    config = tmp_path / "fast.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            probes:
              - name: login
                interval: 1s
                timeout: 1s
                steps:
                  - name: sign in
                    request:
                      method: POST
                      url: ${API_BASE}/api/v1/auth/login
                      json: {email: "${PROBE_EMAIL}", password: "${PROBE_PASSWORD}"}
                    conditions: ["[STATUS] == 200"]
              - name: health
                interval: 1s
                timeout: 1s
                request: {url: "${API_BASE}/healthz"}
            """
        )
    )
    return config


class Process:
    """A running `monitor run`, its output read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, predicate: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate in line:
                return line
        raise AssertionError(f"no line containing {predicate!r} in:\n" + "\n".join(self.seen))

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get(timeout=1))
            except queue.Empty:
                return self.seen


@pytest.fixture
def process_reaper() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait()


def wait_for_results(
    env: dict[str, str], count: int, timeout: float = 30
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        rows = results_json(env)
        if len(rows) >= count:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"only {len(rows)} results stored after {timeout}s")


def test_run_stores_results_and_stops_cleanly_on_sigterm(
    tmp_path: Path, database_url: str, demo_api_url: str, process_reaper: list[Process]
) -> None:
    env = environment(demo_api_url, database_url)
    process = Process(
        monitor_command("run", str(fast_config(tmp_path)), "--summary-every", "2s"), env
    )
    process_reaper.append(process)
    process.wait_for_line("summary:")
    wait_for_results(env, 6)

    stopping = time.monotonic()
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=10) == 0
    assert time.monotonic() - stopping < 10
    output = process.drain()
    final = next(line for line in output if line.startswith("stopped:"))
    taken = int(final.split()[1])
    # Every result taken before the signal is in the database.
    assert final == f"stopped: {taken} results taken, {taken} stored, 0 not written"
    rows = results_json(env)
    assert len(rows) == taken
    assert {row["probe"] for row in rows} == {"login", "health"}
    assert all(row["ok"] for row in rows)
    assert all(0 <= int(str(row["lateness_ms"])) < 1000 for row in rows)


def test_run_prints_failing_runs_and_results_shows_them(
    tmp_path: Path,
    database_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=1.0))
    env = environment(url, database_url)
    process = Process(
        monitor_command("run", str(fast_config(tmp_path)), "--summary-every", "0s"), env
    )
    process_reaper.append(process)
    line = process.wait_for_line("FAIL login")
    assert line.endswith("FAIL login: sign in: [STATUS] (503) == 200")
    wait_for_results(env, 2)
    process.popen.send_signal(signal.SIGINT)
    assert process.popen.wait(timeout=10) == 0

    failed = results_json(env, "--failed", "--probe", "login")
    assert failed and all(not row["ok"] for row in failed)
    assert failed[0]["error"] == "sign in: [STATUS] (503) == 200"
    assert failed[0]["failed_step"] == "sign in"
    assert failed[0]["status"] == 503
    steps = failed[0]["steps"]
    assert (
        isinstance(steps, list) and steps[0]["conditions"][0]["resolved"] == "[STATUS] (503) == 200"
    )
    # Newest first.
    started = [str(row["started_at"]) for row in failed]
    assert started == sorted(started, reverse=True)

    table = subprocess.run(
        monitor_command("results", "--probe", "login"),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert table.returncode == 0
    assert "FAIL" in table.stdout and "[STATUS] (503) == 200" in table.stdout


def test_run_once_stores_and_exits(tmp_path: Path, database_url: str, demo_api_url: str) -> None:
    env = environment(demo_api_url, database_url)
    done = subprocess.run(
        monitor_command("run", "examples/", "--once"),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("PASS ")] == [
        "login",
        "signup",
        "sharing",
    ]
    rows = results_json(env)
    assert sorted(str(row["probe"]) for row in rows) == ["login", "sharing", "signup"]
    # A new SQLite file is said out loud (a wrong path would otherwise start over silently).
    new_file = "database: a new SQLite file at"
    assert (new_file in done.stdout) == database_url.startswith("sqlite")
    again = run_cli(env, "run", "examples/", "--once")
    assert again.returncode == 0 and new_file not in again.stdout


def test_db_upgrade_and_results_on_an_empty_database(tmp_path: Path, database_url: str) -> None:
    env = environment("http://127.0.0.1:9", database_url)
    upgraded = subprocess.run(
        monitor_command("db", "upgrade"), capture_output=True, text=True, env=env, check=False
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is at revision" in upgraded.stdout
    shown_url = upgraded.stdout.split(" is at")[0]
    assert shown_url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://"))
    empty = subprocess.run(
        monitor_command("results"), capture_output=True, text=True, env=env, check=False
    )
    assert empty.returncode == 0
    assert empty.stdout.strip() == "no results in the last 1h"


def test_sigterm_during_a_once_run_against_a_hung_target_stops_quickly(tmp_path: Path) -> None:
    # A target that accepts connections and never answers.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])
                connected.set()

    threading.Thread(target=accept, daemon=True).start()
    config = tmp_path / "hung.yaml"
    port = server.getsockname()[1]
    config.write_text(
        f'probes:\n  - {{name: hung, interval: 60s, timeout: 50s, request: {{url: "http://127.0.0.1:{port}/"}}}}\n'
    )
    env = environment("http://127.0.0.1:9", f"sqlite+aiosqlite:///{tmp_path}/m.db")
    process = subprocess.Popen(
        monitor_command("run", str(config), "--once"),
        env=env,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert connected.wait(30), "the probe never reached the target"
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        assert time.monotonic() - stopping < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        server.close()
        for connection in held:
            connection.close()


def test_run_opens_an_incident_for_a_total_outage_and_resolves_it_on_recovery(
    tmp_path: Path,
    database_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=1.0))
    env = environment(url, database_url)
    config = tmp_path / "outage.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            probes:
              - name: login
                interval: 2s
                timeout: 1s
                steps:
                  - name: sign in
                    request:
                      method: POST
                      url: ${API_BASE}/api/v1/auth/login
                      json: {email: "${PROBE_EMAIL}", password: "${PROBE_PASSWORD}"}
                    conditions: ["[STATUS] == 200"]
                alert:
                  # A short window so the ratio falls back below its threshold within
                  # seconds of the recovery.
                  trigger:
                    - failure_ratio: {above: 0.2, window: 10s, min_samples: 10}
                  confirm: {runs: 3, every: 200ms}
                  recover: {consecutive_successes: 2, min_duration: 1s}
            """
        )
    )
    process = Process(monitor_command("run", str(config), "--summary-every", "0s"), env)
    process_reaper.append(process)
    # The failed scheduled run and bursts of confirmation runs 200 ms apart fill the window: no
    # waiting for more scheduled runs.
    process.wait_for_line("FAIL (confirming) login")
    opened = process.wait_for_line("OPENED incident #")
    assert "login MAJOR: 100% of 10 runs failed in 10s - sign in: [STATUS] (503) == 200" in opened
    httpx.put(f"{url}/_admin/faults", json={"error_ratio": 0.0}, timeout=5).raise_for_status()
    resolved = process.wait_for_line("RESOLVED incident #")
    assert resolved.endswith("login")
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=10) == 0
    confirmations = [
        row for row in results_json(env, "--probe", "login") if row.get("confirmation")
    ]
    assert confirmations, "confirmation runs are stored and marked"


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        monitor_command(*args),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_run_pages_the_on_call_person_until_acknowledged(
    tmp_path: Path,
    database_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=1.0))
    env = environment(url, database_url)
    config = tmp_path / "config"
    config.mkdir()
    (config / "probes.yaml").write_text(
        textwrap.dedent(
            """\
            defaults: {policy: urgent}
            probes:
              - name: login
                interval: 2s
                timeout: 1s
                request: {url: "${API_BASE}/api/v1/shares"}
                conditions: ["[STATUS] == 200"]
                alert:
                  trigger: [{consecutive_failures: 1}]
                  confirm: {runs: 0}
            """
        )
    )
    (config / "oncall.yaml").write_text(
        textwrap.dedent(
            """\
            people:
              - {id: alice, name: Alice, phone: "+4915110000001"}
              - {id: bob, name: Bob, phone: "+4915110000002"}
            policies:
              - name: urgent
                levels:
                  - {notify: [{person: alice, via: [sms]}], escalate_after: 3s}
                  - {notify: [{person: bob, via: [sms]}], escalate_after: 3s}
            """
        )
    )
    process = Process(monitor_command("run", str(config), "--summary-every", "0s"), env)
    process_reaper.append(process)
    opened = process.wait_for_line("OPENED incident #")
    incident = opened.split("#", 1)[1].split()[0]
    # No Twilio configured: the page prints on the console, the number masked.
    page = process.wait_for_line("PAGE #")
    assert (
        f"to Alice (+*********0001) via sms: [MON-{incident}] PARTIAL OUTAGE login: "
        "the last run failed (HTTP 503)"
    ) in page
    assert f"Reply ACK {incident}" in page
    assert "+4915110000001" not in "\n".join(process.seen)
    # Nobody answers: three seconds later, level 2.
    assert "to Bob (+*********0002) via sms" in process.wait_for_line("PAGE #")
    acked = run_cli(env, "ack", incident, "--by", "bob")
    assert acked.returncode == 0, acked.stderr
    assert acked.stdout == f"acknowledged incident #{incident} (login) by bob\n"
    again = run_cli(env, "ack", incident)
    assert again.returncode == 1
    assert "is acknowledged: only a triggered incident can be acknowledged" in again.stderr
    # Acknowledged: the cycle would page alice again 3 s after bob; wait past that.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            line = process.lines.get(timeout=0.2)
            process.seen.append(line)
            assert "PAGE #" not in line, f"paged after the acknowledgement: {line}"
    shown = run_cli(env, "incident", "show", incident, "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert [(p["level"], p["person"], p["channel"], p["status"]) for p in detail["pages"]] == [
        (1, "alice", "sms", "sent"),
        (2, "bob", "sms", "sent"),
    ]
    assert "acknowledged" in [event["kind"] for event in detail["events"]]
    resolved = run_cli(env, "resolve", incident, "--by", "bob")
    assert resolved.returncode == 0, resolved.stderr
    told = {process.wait_for_line("RESOLVED #"), process.wait_for_line("RESOLVED #")}
    assert {line.split(" to ", 1)[1].split(" ")[0] for line in told} == {"Alice", "Bob"}
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=10) == 0


def test_ack_of_an_unknown_incident_exits_1(tmp_path: Path) -> None:
    env = environment("http://127.0.0.1:9", f"sqlite+aiosqlite:///{tmp_path}/m.db")
    assert run_cli(env, "db", "upgrade").returncode == 0
    done = run_cli(env, "ack", "42")
    assert done.returncode == 1
    assert "no incident #42" in done.stderr
