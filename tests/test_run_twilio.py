"""`monitor run` as a real process paging through Twilio (the sandbox on a port): the SMS
arrives, its delivery is reported back, a signed `ACK` reply acknowledges, paging stops."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DemoApiFactory
from demo_api import DemoSettings
from test_run import Process, environment, monitor_command, process_reaper, run_cli

from monitor.sandbox import create_app
from monitor.testing.asgi_server import serve_asgi

__all__ = ["process_reaper"]  # the fixture

SID, TOKEN, FROM = "AC" + "ef" * 16, "run-test-token", "+15005550006"
ALICE, BOB = "+4915110000001", "+4915110000002"


@pytest.fixture
def sandbox() -> Iterator[str]:
    with serve_asgi(create_app(account_sid=SID, auth_token=TOKEN)) as url:
        yield url


def wait_until(condition: Callable[[], object], *, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def sms_to(sandbox: str, phone: str) -> list[dict[str, object]]:
    messages = httpx.get(f"{sandbox}/sandbox/messages", params={"to": phone}).json()
    return [m for m in messages if m["direction"] == "outbound-api"]


def test_run_pages_through_twilio_and_an_sms_reply_acknowledges(
    tmp_path: Path,
    database_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
    sandbox: str,
) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=1.0))
    env = environment(url, database_url) | {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM": FROM,
        "TWILIO_API_BASE_URL": sandbox,
    }
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            defaults: {{policy: urgent}}
            probes:
              - name: login
                interval: 2s
                timeout: 1s
                request: {{url: "${{API_BASE}}/api/v1/shares"}}
                conditions: ["[STATUS] == 200"]
                alert:
                  trigger: [{{consecutive_failures: 1}}]
                  confirm: {{runs: 0}}
            people:
              - {{id: alice, name: Alice, phone: "{ALICE}"}}
              - {{id: bob, name: Bob, phone: "{BOB}"}}
            policies:
              - name: urgent
                levels:
                  - {{notify: [{{person: alice, via: [sms]}}], escalate_after: 4s}}
                  - {{notify: [{{person: bob, via: [sms]}}], escalate_after: 4s}}
            """
        )
    )
    process = Process(monitor_command("run", str(config), "--summary-every", "0s"), env)
    process_reaper.append(process)
    paging = process.wait_for_line("paging: ")
    assert f"paging: SMS and calls through {sandbox} from +*******0006" in paging
    webhooks = paging.rsplit("webhooks at ", 1)[1].strip()
    httpx.post(
        f"{sandbox}/sandbox/config", json={"inbound_sms_url": f"{webhooks}/twilio/sms"}
    ).raise_for_status()

    incident = process.wait_for_line("OPENED incident #").split("#", 1)[1].split()[0]
    wait_until(lambda: sms_to(sandbox, ALICE), what="the SMS to alice")
    [page] = sms_to(sandbox, ALICE)
    assert str(page["body"]).startswith(f"[MON-{incident}] PARTIAL OUTAGE login")

    answer = httpx.post(f"{sandbox}/sandbox/reply", json={"from": ALICE, "body": "ack"}).json()
    assert answer == {
        "status": 200,
        "replies": [f"Acknowledged MON-{incident} (login). Reply RESOLVE {incident} when fixed."],
        "error": None,
    }
    # Past level 2's moment (4 s) and the next cycle's: nobody else is paged.
    deadline = time.monotonic() + 9
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            process.seen.append(process.lines.get(timeout=0.2))
    assert sms_to(sandbox, BOB) == []
    assert len(sms_to(sandbox, ALICE)) == 1
    assert ALICE not in "\n".join(process.seen)

    shown = run_cli(env, "incident", "show", incident, "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["state"] == "acknowledged"
    assert [(p["person"], p["channel"], p["status"]) for p in detail["pages"]] == [
        ("alice", "sms", "delivered")
    ]
    kinds = [event["kind"] for event in detail["events"]]
    assert kinds.index("delivered") < kinds.index("acknowledged")
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=10) == 0
