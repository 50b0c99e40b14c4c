"""The console and webhook channels. The webhook talks to real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.channels import Channel, ConsoleChannel, DeliveryError, Page, WebhookChannel
from monitor.config.oncall import WebhookChannelConfig

TOKEN = "s3cr3t-token-value"


def page(**changes: object) -> Page:
    values: dict[str, object] = {
        "id": 7,
        "incident_id": 12,
        "kind": "page",
        "person_id": "alice",
        "person_name": "Alice Meyer",
        "phone": "+4915110000001",
        "channel": "sms",
        "text": "[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (HTTP 503). Reply ACK 12",
        "probe": "login",
        "severity": "partial",
    }
    values.update(changes)
    return Page(**values)  # type: ignore[arg-type]


# --- console ---------------------------------------------------------------------------------


async def test_console_prints_one_line_per_page_with_the_phone_masked() -> None:
    stream = io.StringIO()
    channel: Channel = ConsoleChannel(stream=stream)
    assert await channel.send(page()) is None
    assert stream.getvalue() == (
        "PAGE #7 to Alice Meyer (+*********0001) via sms: "
        "[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (HTTP 503). Reply ACK 12\n"
    )


async def test_console_says_when_the_message_is_the_resolved_one() -> None:
    stream = io.StringIO()
    await ConsoleChannel(stream=stream).send(
        page(kind="resolved", text="[MON-12] RESOLVED login after 23m. No action needed.")
    )
    assert stream.getvalue() == (
        "RESOLVED #7 to Alice Meyer (+*********0001) via sms: "
        "[MON-12] RESOLVED login after 23m. No action needed.\n"
    )


async def test_console_names_the_person_by_id_without_a_phone() -> None:
    stream = io.StringIO()
    await ConsoleChannel(stream=stream).send(page(phone=None, channel="webhook"))
    assert stream.getvalue().startswith("PAGE #7 to Alice Meyer (alice) via webhook: [MON-12]")


async def test_console_masks_numbers_in_the_text_and_keeps_one_line() -> None:
    stream = io.StringIO()
    await ConsoleChannel(stream=stream).send(
        page(text="[MON-3] MAJOR OUTAGE sms-api: gateway said\n'+4915110000002 unreachable'")
    )
    output = stream.getvalue()
    assert output.count("\n") == 1
    assert "+*********0002 unreachable" in output
    assert "4915110000002" not in output


async def test_console_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    channel = ConsoleChannel()
    assert channel.name == "console"
    await channel.send(page())
    assert capsys.readouterr().out.startswith("PAGE #7 to Alice Meyer (+*********0001) via sms:")


# --- webhook ---------------------------------------------------------------------------------


def webhook(url: str, **changes: object) -> WebhookChannel:
    settings: dict[str, object] = {
        "url": url,
        "headers": {"Authorization": f"Bearer {TOKEN}", "X-Team": "payments"},
        "timeout": timedelta(seconds=5),
    }
    settings.update(changes)
    return WebhookChannel(WebhookChannelConfig.model_validate(settings))


async def test_webhook_posts_the_page_as_json_with_headers(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    channel = webhook(httpserver.url_for("/hook"))
    assert channel.name == "webhook"
    assert await channel.send(page(channel="webhook")) is None

    (request, _), *_ = httpserver.log
    assert json.loads(request.get_data()) == {
        "page_id": 7,
        "incident_id": 12,
        "kind": "page",
        "person": {"id": "alice", "name": "Alice Meyer"},
        "channel": "webhook",
        "probe": "login",
        "severity": "partial",
        "text": "[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (HTTP 503). Reply ACK 12",
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Team"] == "payments"
    assert request.headers["Idempotency-Key"] == "page-7"
    assert "4915110000001" not in request.get_data(as_text=True)


async def test_webhook_masks_phone_numbers_quoted_in_the_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("", status=204)
    await webhook(httpserver.url_for("/hook")).send(page(text="sms-api: +4915110000002 bounced"))
    (request, _), *_ = httpserver.log
    assert json.loads(request.get_data())["text"] == "sms-api: +*********0002 bounced"


async def test_webhook_returns_the_id_from_the_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_json({"id": "msg-42"}, status=201)
    assert await webhook(httpserver.url_for("/hook")).send(page()) == "msg-42"


async def test_webhook_returns_the_request_id_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data(
        "accepted", status=202, headers={"X-Request-Id": "req-9"}
    )
    assert await webhook(httpserver.url_for("/hook")).send(page()) == "req-9"


async def test_webhook_uses_a_given_client_and_leaves_it_open(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_json({"id": 5})
    config = WebhookChannelConfig(url=httpserver.url_for("/hook"))
    async with httpx.AsyncClient() as client:
        channel = WebhookChannel(config, client)
        assert await channel.send(page(id=1)) == "5"
        assert await channel.send(page(id=2)) == "5"
        assert not client.is_closed
    keys = [request.headers["Idempotency-Key"] for request, _ in httpserver.log]
    assert keys == ["page-1", "page-2"]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_webhook_load_and_server_errors_are_transient(
    httpserver: HTTPServer, status: int
) -> None:
    httpserver.expect_request("/hook").respond_with_data("try later", status=status)
    with pytest.raises(DeliveryError) as caught:
        await webhook(httpserver.url_for("/hook")).send(page())
    assert caught.value.permanent is False
    assert f"HTTP {status}: try later" in caught.value.reason


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_webhook_client_errors_are_permanent(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/hook").respond_with_data("no such hook", status=status)
    with pytest.raises(DeliveryError) as caught:
        await webhook(httpserver.url_for("/hook")).send(page())
    assert caught.value.permanent is True
    assert f"HTTP {status}: no such hook" in caught.value.reason


async def test_webhook_redirects_are_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data(
        "", status=301, headers={"Location": "/elsewhere"}
    )
    with pytest.raises(DeliveryError) as caught:
        await webhook(httpserver.url_for("/hook")).send(page())
    assert caught.value.permanent is True
    assert "HTTP 301" in caught.value.reason
    assert "redirect" in caught.value.reason


async def test_webhook_errors_quote_no_secrets(httpserver: HTTPServer) -> None:
    secret_path = "/services/T0001/B0001/XXXXXXXXXXXXXXXX"
    echoed = (
        f"invalid token Bearer {TOKEN} for POST {httpserver.url_for(secret_path)}, "
        f"team payments, caller +4915110000001\n" + "x" * 500
    )
    httpserver.expect_request(secret_path).respond_with_data(echoed, status=403)
    with pytest.raises(DeliveryError) as caught:
        await webhook(httpserver.url_for(secret_path)).send(page())
    reason = caught.value.reason
    assert caught.value.permanent is True
    assert reason.startswith(f"webhook http://localhost:{httpserver.port} answered HTTP 403: ")
    for secret in (TOKEN, secret_path, "XXXXXXXXXXXXXXXX", "payments", "4915110000001"):
        assert secret not in reason
    assert "[REDACTED]" in reason
    assert len(reason) < 250, "a short excerpt, not the whole body"


@pytest.fixture
def stalling_server(httpserver: HTTPServer) -> Iterator[str]:
    """A server that accepts the request and answers only when the test is over."""
    release = threading.Event()

    def stall(_: Request) -> Response:
        release.wait(10)
        return Response("too late")

    httpserver.expect_request("/slow").respond_with_handler(stall)
    yield httpserver.url_for("/slow")
    release.set()


async def test_webhook_timeout_is_transient(stalling_server: str) -> None:
    channel = webhook(stalling_server, timeout=timedelta(milliseconds=200))
    with pytest.raises(DeliveryError) as caught:
        await channel.send(page())
    assert caught.value.permanent is False
    assert "no answer within 0.2s" in caught.value.reason
    assert TOKEN not in caught.value.reason


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_webhook_connection_refused_is_transient() -> None:
    url = f"http://127.0.0.1:{_unused_port()}/hook?key={TOKEN}"
    with pytest.raises(DeliveryError) as caught:
        await webhook(url).send(page())
    assert caught.value.permanent is False
    assert "cannot connect" in caught.value.reason
    assert TOKEN not in caught.value.reason
    assert "/hook" not in caught.value.reason


async def test_webhook_with_a_url_that_is_not_http_fails_for_good() -> None:
    with pytest.raises(DeliveryError) as caught:
        await webhook("ftp://example.com/hook").send(page())
    assert caught.value.permanent is True
    assert "http://" in caught.value.reason
