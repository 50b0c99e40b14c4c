"""Hot reload of a running monitor, on SQLite and PostgreSQL: a valid change (a probe added, one
changed, the policy edited) is applied while an incident is open, and the incident keeps its id,
its detector state and the policy it snapshotted; an invalid change is refused with the file and
line, and the previous config keeps running. SIGHUP reloads `monitor run` too."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from pytest_httpserver import HTTPServer
from test_run import Process, environment, monitor_command, process_reaper

from monitor.storage.database import Database
from monitor.storage.escalation import incident_policy
from monitor.storage.incidents import latest_incident
from monitor.storage.repository import recent_results
from monitor.testing.runtime import eventually, running_monitor

__all__ = ["process_reaper"]  # the fixture

PEOPLE = """
people:
  - {id: alice, name: Alice, phone: "+4915110000001"}
  - {id: bob, name: Bob, phone: "+4915110000002"}
defaults: {policy: urgent}
"""


def config_text(base: str, *, policy_person: str, extra_probe: bool, interval: str) -> str:
    probes = f"""
probes:
  - name: login
    interval: {interval}
    timeout: 500ms
    request: {{url: "{base}/login"}}
    conditions: ["[STATUS] == 200"]
    alert: {{trigger: [{{consecutive_failures: 1}}], confirm: {{runs: 0}}}}
"""
    if extra_probe:
        probes += f"""
  - name: signup
    interval: 1s
    timeout: 500ms
    request: {{url: "{base}/signup"}}
"""
    policy = f"""
policies:
  - name: urgent
    levels:
      - {{notify: [{{person: {policy_person}, via: [console]}}], escalate_after: 10m}}
"""
    return PEOPLE + probes + policy


async def test_a_valid_change_is_applied_and_the_open_incident_kept(
    httpserver: HTTPServer, database: Database, database_url: str, tmp_path: Path
) -> None:
    httpserver.expect_request("/login").respond_with_data("down", status=503)
    httpserver.expect_request("/signup").respond_with_data("ok")
    base = httpserver.url_for("").rstrip("/")
    path = tmp_path / "monitor.yaml"
    path.write_text(config_text(base, policy_person="alice", extra_probe=False, interval="1s"))
    lines: list[str] = []
    async with running_monitor(
        path, database_url=database_url, lines=lines, config_path=path, watch_config_every=0.1
    ) as runtime:

        async def opened() -> object:
            found = await latest_incident(database, probe="login")
            return found is not None and await incident_policy(database, found.id) is not None

        await eventually(opened, what="login's incident, paged")
        incident = await latest_incident(database, probe="login")
        assert incident is not None
        policy_before = await incident_policy(database, incident.id)
        tracker = runtime.detector.trackers["login"]  # type: ignore[union-attr]

        # The same detection settings, a new interval; a probe added; the policy edited.
        path.write_text(config_text(base, policy_person="bob", extra_probe=True, interval="2s"))
        await eventually(
            lambda: any("config reloaded" in line for line in lines), what="the reload"
        )

        [line] = [line for line in lines if "config reloaded" in line]
        assert line == "config reloaded: 2 probes; 1 added (signup), 0 removed, 1 changed (login)"
        assert runtime.config_errors == []
        assert runtime.detector.trackers["login"] is tracker  # type: ignore[union-attr]
        assert runtime.detector.open_incident_id("login") == incident.id  # type: ignore[union-attr]

        async def signup_ran() -> object:
            return await recent_results(database, probe="signup", limit=1)

        await eventually(signup_ran, what="the added probe's first run")
        still = await latest_incident(database, probe="login")
        assert still is not None and still.id == incident.id and still.state == "triggered"
        assert await incident_policy(database, incident.id) == policy_before  # alice, not bob


async def test_an_invalid_change_is_refused_and_the_old_config_keeps_running(
    httpserver: HTTPServer, database: Database, database_url: str, tmp_path: Path
) -> None:
    httpserver.expect_request("/login").respond_with_data("ok")
    base = httpserver.url_for("").rstrip("/")
    path = tmp_path / "monitor.yaml"
    good = config_text(base, policy_person="alice", extra_probe=False, interval="1s")
    path.write_text(good)
    lines: list[str] = []
    async with running_monitor(
        path, database_url=database_url, lines=lines, config_path=path, watch_config_every=0.1
    ) as runtime:
        path.write_text(good.replace("interval: 1s", "interval: soon"))
        await eventually(lambda: runtime.config_errors, what="the refusal")

        [problem] = runtime.config_errors
        assert problem.startswith(f"{path}:") and "probes[0].interval" in problem
        assert any("config reload refused (1 error)" in line for line in lines)
        served = len(httpserver.log)
        await eventually(lambda: len(httpserver.log) >= served + 2, what="the old config's runs")
        assert [probe.interval.total_seconds() for probe in runtime.probes] == [1.0]

        path.write_text(good)  # fixed: applied, the refusal cleared
        await eventually(lambda: not runtime.config_errors, what="the fixed config")


def test_sighup_reloads_monitor_run(
    tmp_path: Path,
    database_url: str,
    httpserver: HTTPServer,
    process_reaper: list[Process],
) -> None:
    httpserver.expect_request("/login").respond_with_data("ok")
    httpserver.expect_request("/signup").respond_with_data("ok")
    base = httpserver.url_for("").rstrip("/")
    path = tmp_path / "monitor.yaml"
    path.write_text(config_text(base, policy_person="alice", extra_probe=False, interval="1s"))
    env = environment(base, database_url) | {"MONITOR_ADMIN_TOKEN": "reload-test-token"}
    process = Process(monitor_command("run", str(path), "--summary-every", "0s"), env)
    process_reaper.append(process)
    web = process.wait_for_line("web: status page at ").split(" at ", 1)[1].split("/;", 1)[0]
    process.wait_for_line("now detects and escalates")  # ready from here on

    # An invalid edit, then SIGHUP: refused, shown on /readyz, the monitor runs on.
    text = path.read_text()
    path.write_text(text.replace("escalate_after: 10m", "escalate_after: never"))
    process.popen.send_signal(signal.SIGHUP)
    process.wait_for_line("config reload refused (1 error)")
    ready = httpx.get(f"{web}/readyz").json()
    assert ready["status"] == "ready", ready
    assert len(ready["config_errors"]) == 1 and "escalate_after" in ready["config_errors"][0]

    path.write_text(config_text(base, policy_person="alice", extra_probe=True, interval="1s"))
    process.popen.send_signal(signal.SIGHUP)
    process.wait_for_line("config reloaded: 2 probes; 1 added (signup)")
    assert httpx.get(f"{web}/readyz").json()["config_errors"] == []
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=10) == 0
