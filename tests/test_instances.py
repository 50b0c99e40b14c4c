"""Several `monitor run` processes on one PostgreSQL database: one leads (an advisory lock) and
pages; kill -9 it during an escalation and another takes over within 10 s; the sandbox shows
every page of the policy exactly once (the one in flight at the kill may come twice)."""

from __future__ import annotations

import contextlib
import queue
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DemoApiFactory
from demo_api import DemoSettings
from test_run import Process, environment, monitor_command, process_reaper, results_json

from monitor.sandbox import create_app
from monitor.testing.asgi_server import serve_asgi

__all__ = ["process_reaper"]  # the fixture

SID, TOKEN, FROM = "AC" + "cd" * 16, "instances-test-token", "+15005550006"
PHONES = {"alice": "+4915110000001", "bob": "+4915110000002", "carol": "+4915110000003"}
LEVEL_SECONDS = 4


@pytest.fixture
def sandbox() -> Iterator[str]:
    with serve_asgi(create_app(account_sid=SID, auth_token=TOKEN)) as url:
        yield url


def sms_bodies(sandbox: str, phone: str) -> list[str]:
    messages = httpx.get(f"{sandbox}/sandbox/messages", params={"to": phone}).json()
    return [m["body"] for m in messages if m["direction"] == "outbound-api"]


def sms_count(sandbox: str, phone: str) -> int:
    return len(sms_bodies(sandbox, phone))


def read_lines(processes: list[Process]) -> None:
    for process in processes:
        with contextlib.suppress(queue.Empty):
            while True:
                process.seen.append(process.lines.get_nowait())


def leaders(processes: list[Process]) -> list[int]:
    read_lines(processes)
    return [
        index
        for index, process in enumerate(processes)
        if any("now detects and escalates" in line for line in process.seen)
    ]


def wait(condition: object, *, what: str, seconds: float = 30) -> float:
    assert callable(condition)
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - start


def paging_environment(
    demo_api_factory: DemoApiFactory, postgres_url: str, sandbox: str
) -> dict[str, str]:
    """`monitor run`'s environment: an example API failing every request, the PostgreSQL test
    database, Twilio in the sandbox."""
    api = demo_api_factory(DemoSettings(error_ratio=1.0))
    return environment(api, postgres_url) | {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM": FROM,
        "TWILIO_API_BASE_URL": sandbox,
    }


def config_file(
    tmp_path: Path, *, locations: tuple[str, ...] = ("local",), quorum: int = 1
) -> Path:
    people = "\n".join(
        f'  - {{id: {name}, name: {name.title()}, phone: "{phone}", channels: [sms]}}'
        for name, phone in PHONES.items()
    )
    levels = "\n".join(
        f"      - {{notify: [{{person: {name}, via: [sms]}}], escalate_after: {LEVEL_SECONDS}s}}"
        for name in PHONES
    )
    path = tmp_path / "monitor.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            defaults: {policy: urgent}
            probes:
              - name: login
                interval: 1s
                timeout: 500ms
                locations: [LOCATIONS]
                request: {url: "${API_BASE}/api/v1/shares"}
                conditions: ["[STATUS] == 200"]
                alert: {trigger: [{consecutive_failures: 1}], confirm: {runs: 0}, quorum: QUORUM}
            policies:
              - name: urgent
                repeat: 0
                levels:
            """
        )
        .replace("LOCATIONS", ", ".join(locations))
        .replace("QUORUM", str(quorum))
        + levels
        + "\npeople:\n"
        + people
        + "\n"
    )
    return path


def test_kill_9_of_the_leader_during_an_escalation_hands_over_with_every_page_once(
    tmp_path: Path,
    postgres_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
    sandbox: str,
) -> None:
    env = paging_environment(demo_api_factory, postgres_url, sandbox)
    config = config_file(tmp_path)
    processes = []
    for _ in range(3):
        process = Process(monitor_command("run", str(config), "--summary-every", "0s"), env)
        process_reaper.append(process)
        process.wait_for_line("web: status page")  # one at a time: migrations run once
        processes.append(process)

    wait(lambda: leaders(processes), what="a leader")
    [first] = leaders(processes)
    wait(lambda: sms_count(sandbox, PHONES["alice"]) >= 1, what="the page to alice")

    processes[first].popen.kill()  # kill -9, mid-escalation: bob is due in 4 s
    processes[first].popen.wait(timeout=5)
    took = wait(lambda: len(leaders(processes)) == 2, what="another leader", seconds=15)

    print(f"takeover after kill -9: {took:.1f} s")  # the figure for the notes (pytest -s)
    assert took < 10, f"the takeover took {took:.1f} s"
    wait(lambda: sms_count(sandbox, PHONES["carol"]) >= 1, what="the page to carol", seconds=30)
    time.sleep(LEVEL_SECONDS + 1)  # long enough for any duplicate to show
    counts = {name: sms_count(sandbox, phone) for name, phone in PHONES.items()}
    # Alice's page was sent before the kill, so only bob's could have been in flight.
    assert counts["alice"] == 1 and counts["carol"] == 1, counts
    assert counts["bob"] in (1, 2), counts
    survivors = [p for i, p in enumerate(processes) if i != first]
    read_lines(survivors)
    assert sum(any("now detects" in line for line in p.seen) for p in survivors) == 1


def test_a_second_instance_waits_and_only_one_leads(
    tmp_path: Path,
    postgres_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
) -> None:
    api = demo_api_factory(DemoSettings())
    env = environment(api, postgres_url)
    config = config_file(tmp_path)
    processes = []
    for role in ("all", "engine"):
        process = Process(
            monitor_command("run", str(config), "--summary-every", "0s", "--role", role), env
        )
        process_reaper.append(process)
        process.wait_for_line("web: status page")
        processes.append(process)
    wait(lambda: leaders(processes), what="a leader")
    time.sleep(3)  # longer than a follower's retry
    assert len(leaders(processes)) == 1
    engine_lines = "\n".join(processes[1].seen)
    assert "role: engine at location local" in engine_lines
    for process in processes:
        process.popen.terminate()
        assert process.popen.wait(timeout=10) == 0


def test_probe_instances_in_two_locations_meet_a_quorum_and_a_silent_one_pages(
    tmp_path: Path,
    postgres_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
    sandbox: str,
) -> None:
    env = paging_environment(demo_api_factory, postgres_url, sandbox)
    config = str(config_file(tmp_path, locations=("eu", "us"), quorum=2))

    def start(*args: str) -> Process:
        process = Process(monitor_command("run", config, "--summary-every", "0s", *args), env)
        process_reaper.append(process)
        process.wait_for_line("web: status page")  # one at a time: migrations run once
        return process

    engine = start("--role", "engine")
    wait(lambda: leaders([engine]), what="the engine to lead")
    start("--role", "probe", "--location", "eu")

    def alice_about(text: str) -> list[str]:
        return [body for body in sms_bodies(sandbox, PHONES["alice"]) if text in body]

    # Only eu reports, every run failing: below the quorum, so no page for login; but the
    # leader sees that us has sent nothing (3 runs of 1 s + 0.5 s + 10 s) and says so.
    wait(lambda: alice_about("no results from us"), what="the silence page", seconds=45)
    assert not [body for body in sms_bodies(sandbox, PHONES["alice"]) if "monitor-self" not in body]
    [silence] = alice_about("no results from us")
    assert "monitor-self" in silence and "login" in silence

    start("--role", "probe", "--location", "us")
    wait(
        lambda: [b for b in sms_bodies(sandbox, PHONES["alice"]) if "monitor-self" not in b],
        what="the page for login once both locations fail",
        seconds=20,
    )
    locations = {row["location"] for row in results_json(env, "--probe", "login")}
    assert locations == {"eu", "us"}
