"""The Twilio SMS and voice channels with the real twilio library against the sandbox: what a
page sends, and how each of Twilio's failures is judged (retry, or move on at once)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from monitor.channels.base import DeliveryError, Page
from monitor.channels.twilio import TwilioClient
from monitor.channels.twilio_sms import TwilioSmsChannel
from monitor.channels.twilio_voice import TwilioVoiceChannel
from monitor.sandbox import create_app
from monitor.settings import TwilioSettings
from monitor.testing.asgi_server import serve_asgi

SID, TOKEN, FROM = "AC" + "ab" * 16, "channel-test-token", "+15005550006"
ALICE = "+4915110000001"
PUBLIC = "https://monitor.example.com"


@dataclass
class Sandbox:
    url: str
    http: httpx.Client


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    app = create_app(account_sid=SID, auth_token=TOKEN, callback_delay=0.01)
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Sandbox(url, http)


def settings(base_url: str, **extra: object) -> TwilioSettings:
    return TwilioSettings.model_validate(
        {
            "account_sid": SID,
            "auth_token": TOKEN,
            "TWILIO_FROM": FROM,
            "api_base_url": base_url,
            "timeout": 2.0,
            **extra,
        }
    )


@pytest.fixture
async def twilio(sandbox: Sandbox) -> AsyncIterator[TwilioClient]:
    sandbox.http.post("/sandbox/reset").raise_for_status()
    client = TwilioClient(settings(sandbox.url))
    yield client
    await client.aclose()


def page(channel: str, *, phone: str | None = ALICE, page_id: int = 7) -> Page:
    return Page(
        id=page_id,
        incident_id=12,
        kind="page",
        person_id="alice",
        person_name="Alice",
        phone=phone,
        channel=channel,
        text="[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (HTTP 503). Reply ACK 12",
        voice_text="Partial outage of login.",
        probe="login",
        severity="partial",
    )


async def test_an_sms_page_reaches_twilio_with_its_status_callback(
    twilio: TwilioClient, sandbox: Sandbox
) -> None:
    sid = await TwilioSmsChannel(twilio, public_url=PUBLIC).send(page("sms"))
    assert sid is not None and sid.startswith("SM")
    [message] = sandbox.http.get("/sandbox/messages", params={"to": ALICE}).json()
    assert (message["sid"], message["from"], message["body"]) == (sid, FROM, page("sms").text)
    hooks = sandbox.http.get("/sandbox/webhooks").json()
    # The sandbox reports delivery to the URL the page carried (nothing listens there here).
    assert {hook["url"] for hook in hooks} <= {f"{PUBLIC}/twilio/status/7"}


async def test_a_call_points_twilio_at_the_monitors_twiml(
    twilio: TwilioClient, sandbox: Sandbox
) -> None:
    sid = await TwilioVoiceChannel(twilio, public_url=PUBLIC).send(page("voice", page_id=8))
    assert sid is not None and sid.startswith("CA")
    [call] = sandbox.http.get("/sandbox/calls", params={"to": ALICE}).json()
    assert call["twiml_url"] == f"{PUBLIC}/twilio/voice/8"


async def test_a_messaging_service_replaces_the_sender(sandbox: Sandbox) -> None:
    sandbox.http.post("/sandbox/reset").raise_for_status()
    client = TwilioClient(settings(sandbox.url, messaging_service_sid="MG" + "1" * 32))
    try:
        await TwilioSmsChannel(client, public_url=None).send(page("sms"))
    finally:
        await client.aclose()
    [message] = sandbox.http.get("/sandbox/messages", params={"to": ALICE}).json()
    assert message["body"] == page("sms").text


@pytest.mark.parametrize(
    ("fault", "permanent", "reason"),
    [
        ({"status": 400, "code": 21211}, True, "Twilio 21211: invalid phone number"),
        (
            {"status": 400, "code": 21610},
            True,
            "Twilio 21610: the recipient replied STOP: no SMS until they reply START",
        ),
        ({"status": 401, "code": 20003}, True, "Twilio 20003: Twilio refused the credentials"),
        ({"status": 500, "code": 20500}, False, "Twilio 20500"),
        ({"status": 503}, False, "Twilio"),
        ({"status": 429, "code": 20429}, False, "Twilio 20429"),
    ],
)
async def test_twilio_errors_are_judged(
    twilio: TwilioClient, sandbox: Sandbox, fault: dict[str, object], permanent: bool, reason: str
) -> None:
    sandbox.http.post("/sandbox/faults", json={**fault, "times": 1}).raise_for_status()
    with pytest.raises(DeliveryError) as raised:
        await TwilioSmsChannel(twilio, public_url=PUBLIC).send(page("sms"))
    assert raised.value.permanent is permanent
    assert raised.value.reason.startswith(reason)


async def test_a_twilio_that_does_not_answer_in_time_is_a_transient_failure(
    twilio: TwilioClient, sandbox: Sandbox
) -> None:
    sandbox.http.post("/sandbox/faults", json={"delay": 5.0, "times": 1}).raise_for_status()
    with pytest.raises(DeliveryError) as raised:
        await TwilioSmsChannel(twilio, public_url=PUBLIC).send(page("sms"))
    assert not raised.value.permanent
    assert raised.value.reason == "Twilio did not answer within 2 s"


async def test_an_unreachable_twilio_is_a_transient_failure() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = TwilioClient(settings(f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(DeliveryError) as raised:
            await TwilioSmsChannel(client, public_url=PUBLIC).send(page("sms"))
    finally:
        await client.aclose()
    assert not raised.value.permanent
    assert raised.value.reason.startswith("cannot reach Twilio")


async def test_pages_that_cannot_be_sent_fail_for_good(twilio: TwilioClient) -> None:
    with pytest.raises(DeliveryError) as no_phone:
        await TwilioSmsChannel(twilio, public_url=PUBLIC).send(page("sms", phone=None))
    assert no_phone.value.permanent
    with pytest.raises(DeliveryError) as no_url:
        await TwilioVoiceChannel(twilio, public_url=None).send(page("voice"))
    assert no_url.value.permanent
    assert "MONITOR_PUBLIC_URL" in no_url.value.reason


async def test_nothing_logs_a_full_phone_number_or_the_token(
    twilio: TwilioClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await TwilioSmsChannel(twilio, public_url=PUBLIC).send(page("sms"))
    await TwilioVoiceChannel(twilio, public_url=PUBLIC).send(page("voice"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert ALICE not in logged
    assert TOKEN not in logged


def test_the_settings_need_an_account_a_token_and_a_sender() -> None:
    assert not TwilioSettings.model_validate({"account_sid": SID, "auth_token": TOKEN}).configured
    assert settings("http://x").configured
    with pytest.raises(ValueError, match="TWILIO_FROM"):
        TwilioClient(TwilioSettings.model_validate({"account_sid": SID}))
