"""PostgreSQL going away under a running monitor, and coming back: the connections cut and new
ones refused (a TCP relay in front of the test database closes), as when the server stops.

The monitor keeps probing and holds the results, texts the self policy directly through the
Twilio sandbox (the engine pages from the database, so it cannot), leads again once the
database is back, writes every held result, and records the outage as a monitor-self incident
whose timeline has the emergency SMS; the all-clear names it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import make_url

from monitor.config.models import SELF_PROBE
from monitor.sandbox import create_app
from monitor.settings import TwilioSettings
from monitor.storage.incidents import get_incident, latest_incident
from monitor.storage.repository import count_results
from monitor.testing.asgi_server import serve_asgi
from monitor.testing.runtime import eventually, running_monitor
from monitor.testing.tcp_relay import TcpRelay

SID, TOKEN, FROM = "AC" + "0d" * 16, "outage-test-token", "+15005550006"
ALICE = "+4915110000001"


@pytest.fixture
def sandbox() -> Iterator[str]:
    with serve_asgi(create_app(account_sid=SID, auth_token=TOKEN)) as url:
        yield url


def config_file(tmp_path: Path, target: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            defaults: {{policy: urgent}}
            self: {{database_failing_for: 2s}}
            probes:
              - {{name: login, interval: 1s, timeout: 500ms, request: {{url: "{target}"}}}}
            policies:
              - name: urgent
                levels: [{{notify: [{{person: alice, via: [sms]}}], escalate_after: 5m}}]
            people:
              - {{id: alice, name: Alice, phone: "{ALICE}", channels: [sms]}}
            """
        )
    )
    return path


async def texts_to_alice(sandbox: str) -> list[str]:
    async with httpx.AsyncClient() as client:
        messages = (await client.get(f"{sandbox}/sandbox/messages", params={"to": ALICE})).json()
    return [m["body"] for m in messages if m["direction"] == "outbound-api"]


async def test_postgresql_gone_mid_run_texts_directly_and_loses_no_result(
    postgres_url: str, tmp_path: Path, httpserver: HTTPServer, sandbox: str
) -> None:
    httpserver.expect_request("/").respond_with_data("ok")
    real = make_url(postgres_url)
    relay = TcpRelay(target=(real.host or "127.0.0.1", real.port or 5432))
    await relay.open()
    twilio = TwilioSettings.model_validate(
        {"account_sid": SID, "auth_token": TOKEN, "TWILIO_FROM": FROM, "api_base_url": sandbox}
    )
    assert twilio.configured
    config = config_file(tmp_path, httpserver.url_for("/"))
    through_relay = real.set(port=relay.port).render_as_string(False)
    try:
        async with running_monitor(config, database_url=through_relay, twilio=twilio) as runtime:
            assert runtime.recorder is not None and runtime.self_watch is not None
            recorder, watch = runtime.recorder, runtime.self_watch
            await eventually(lambda: runtime.leading, what="the monitor to lead")
            await eventually(lambda: recorder.stats.stored >= 2, what="results stored")

            await relay.close()  # PostgreSQL gone: connections cut, new ones refused

            async def texted(text: str) -> bool:
                await watch.check()  # the watch's own pass comes every 10 s
                return any(text in body for body in await texts_to_alice(sandbox))

            await eventually(
                lambda: texted("monitor-self: database refuses writes"),
                what="the emergency SMS",
                seconds=30,
            )
            assert recorder.stats.pending > 0
            await eventually(lambda: not runtime.leading, what="the lock lost with its session")

            await relay.open()  # back
            await eventually(lambda: recorder.stats.pending == 0, what="held results written")
            await eventually(lambda: runtime.leading, what="leading again", seconds=30)
            await eventually(
                lambda: texted("the monitor works again"), what="the all-clear", seconds=30
            )

            assert runtime.database is not None
            stats = recorder.stats
            assert stats.dropped == 0 and stats.rejected == 0
            stored = await count_results(runtime.database, probe="login")
            assert stored >= stats.stored - stats.pending  # none lost (more may come meanwhile)
            assert stored <= stats.taken
            incident = await latest_incident(runtime.database, probe=SELF_PROBE)
            assert incident is not None and incident.state == "resolved"
            all_clear = [b for b in await texts_to_alice(sandbox) if "works again" in b]
            assert all_clear == [all_clear[0]] and f"MON-{incident.id}" in all_clear[0]
            found = await get_incident(runtime.database, incident.id)
            assert found is not None
            notes = [event.detail for event in found[1] if event.kind == "note"]
            assert "emergency SMS to Alice sent by sms (the database was unreachable)" in notes
    finally:
        await relay.close()
