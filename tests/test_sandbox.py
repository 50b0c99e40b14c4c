"""The Twilio sandbox, driven by the real twilio library over real HTTP.

A second small app (the receiver) plays the monitor: it answers TwiML and records every request
the sandbox sends, checking its `X-Twilio-Signature` with Twilio's own validator.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from monitor.sandbox import SandboxPerson, create_app, serve
from monitor.testing import serve_asgi

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "sandbox-test-token"
ALICE = "+4915110000001"
BOB = "+4915110000002"
MONITOR_NUMBER = "+15005550006"
PEOPLE = (SandboxPerson(name="Alice", phone=ALICE), SandboxPerson(name="Bob", phone=BOB))

T = TypeVar("T")

VOICE_TWIML = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say>Incident 1: login is down.</Say>
  <Gather action="gather" numDigits="1"><Say>Press 1 to acknowledge.</Say></Gather>
</Response>"""
GATHER_TWIML = "<Response><Say>Acknowledged. Goodbye.</Say><Hangup/></Response>"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    params: dict[str, str]
    signature_valid: bool


class Receiver:
    """The monitor's side: records signed requests and answers TwiML."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self.url = ""

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def app(self) -> FastAPI:
        app = FastAPI()
        validator = RequestValidator(TOKEN)

        async def record(request: Request) -> dict[str, str]:
            form = await request.form()
            params = {key: str(value) for key, value in form.items()}
            if request.method == "GET":
                params = dict(request.query_params)
                valid = validator.validate(
                    str(request.url), {}, request.headers.get("X-Twilio-Signature", "")
                )
            else:
                valid = validator.validate(
                    str(request.url), params, request.headers.get("X-Twilio-Signature", "")
                )
            with self._lock:
                self.requests.append(Received(request.method, request.url.path, params, valid))
            return params

        def twiml(text: str) -> Response:
            return Response(text, media_type="application/xml")

        @app.api_route("/status", methods=["GET", "POST"])
        async def status(request: Request) -> Response:
            await record(request)
            return Response(status_code=204)

        @app.api_route("/voice", methods=["GET", "POST"])
        async def voice(request: Request) -> Response:
            await record(request)
            return twiml(VOICE_TWIML)

        @app.post("/gather")
        async def gather(request: Request) -> Response:
            params = await record(request)
            if params.get("Digits") == "1":
                return twiml(GATHER_TWIML)
            return twiml(VOICE_TWIML)

        @app.post("/redirect")
        async def redirect(request: Request) -> Response:
            await record(request)
            return twiml("<Response><Say>One moment.</Say><Redirect>voice</Redirect></Response>")

        @app.post("/sms")
        async def sms(request: Request) -> Response:
            params = await record(request)
            body = params["Body"]
            return twiml(f"<Response><Message>Got: {escape(body)}</Message></Response>")

        return app


@dataclass(frozen=True)
class Sandbox:
    url: str
    http: httpx.Client

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.http.get(path, **kwargs)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(path, json=body or {})
        response.raise_for_status()
        return response.json()


def wait_for(
    get: Callable[[], T],
    until: Callable[[T], object] = bool,
    *,
    timeout: float = 5.0,
    what: str = "condition",
) -> T:
    """Poll `get()` every 20 ms until `until(value)` holds and return that value; fail after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve_asgi(receiver.app()) as url:
        receiver.url = url
        yield receiver


@contextmanager
def running_sandbox(receiver: Receiver, **options: Any) -> Iterator[Sandbox]:
    app = create_app(
        account_sid=SID,
        auth_token=TOKEN,
        inbound_sms_url=f"{receiver.url}/sms",
        people=PEOPLE,
        callback_delay=0.01,
        **options,
    )
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Sandbox(url, http)


@pytest.fixture(scope="module")
def shared_sandbox(receiver: Receiver) -> Iterator[Sandbox]:
    with running_sandbox(receiver) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: Sandbox, receiver: Receiver) -> Sandbox:
    """One server for the module, reset before each test: cheap and independent."""
    shared_sandbox.post("/sandbox/reset")
    shared_sandbox.post("/sandbox/config", {"inbound_sms_url": f"{receiver.url}/sms"})
    with receiver._lock:
        receiver.requests.clear()
    return shared_sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> Client:
    client = Client(SID, TOKEN, environment={}, http_client=TwilioHttpClient(timeout=5))
    client.api.base_url = sandbox.url
    return client


# --- Messages -------------------------------------------------------------------------------------


def test_the_twilio_library_creates_and_fetches_a_message(client: Client) -> None:
    message = client.messages.create(to=ALICE, from_=MONITOR_NUMBER, body="Incident 1: down")

    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert message.to == ALICE
    assert message.body == "Incident 1: down"
    assert message.date_created is not None and message.date_created.year >= 2024
    assert message.direction == "outbound-api"
    fetched = wait_for(
        client.messages(message.sid).fetch, lambda m: m.status == "delivered", what="delivered"
    )
    assert fetched.date_sent is not None


def test_an_invalid_to_is_twilio_error_21211(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to="0151 123", from_=MONITOR_NUMBER, body="x")
    assert raised.value.status == 400
    assert raised.value.code == 21211
    assert "0151 123" in raised.value.msg


def test_a_missing_body_is_21602(sandbox: Sandbox) -> None:
    response = httpx.post(
        f"{sandbox.url}/2010-04-01/Accounts/{SID}/Messages.json",
        data={"To": ALICE, "From": MONITOR_NUMBER},
        auth=(SID, TOKEN),
    )
    assert response.status_code == 400
    assert response.json()["code"] == 21602


def test_wrong_credentials_are_401_and_a_foreign_account_404(sandbox: Sandbox) -> None:
    wrong = Client(SID, "not-the-token", environment={}, http_client=TwilioHttpClient(timeout=5))
    wrong.api.base_url = sandbox.url
    with pytest.raises(TwilioRestException) as raised:
        wrong.messages.create(to=ALICE, from_=MONITOR_NUMBER, body="x")
    assert (raised.value.status, raised.value.code) == (401, 20003)

    other = "AC" + "f" * 32
    response = httpx.post(
        f"{sandbox.url}/2010-04-01/Accounts/{other}/Messages.json",
        data={"To": ALICE, "From": MONITOR_NUMBER, "Body": "x"},
        auth=(SID, TOKEN),
    )
    assert response.status_code == 404 and response.json()["code"] == 20404


def test_status_callbacks_are_signed_sent_then_delivered(
    client: Client, receiver: Receiver
) -> None:
    message = client.messages.create(
        to=ALICE, from_=MONITOR_NUMBER, body="hi", status_callback=f"{receiver.url}/status"
    )

    callbacks = wait_for(lambda: receiver.on("/status"), lambda got: len(got) == 2)
    assert [c.params["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    assert all(c.signature_valid for c in callbacks)
    first = callbacks[0].params
    assert first["MessageSid"] == first["SmsSid"] == message.sid
    assert first["AccountSid"] == SID
    assert (first["From"], first["To"]) == (MONITOR_NUMBER, ALICE)
    assert first["SmsStatus"] == "sent" and first["ApiVersion"] == "2010-04-01"
    assert "ErrorCode" not in first


@pytest.mark.parametrize(
    ("behaviour", "statuses", "error_code"),
    [("fail", ["failed"], "30008"), ("undelivered", ["sent", "undelivered"], "30003")],
)
def test_failing_phones_report_error_codes(
    client: Client,
    sandbox: Sandbox,
    receiver: Receiver,
    behaviour: str,
    statuses: list[str],
    error_code: str,
) -> None:
    assert sandbox.post(f"/sandbox/numbers/{ALICE}", {"sms": behaviour})["sms"] == behaviour
    message = client.messages.create(
        to=ALICE, from_=MONITOR_NUMBER, body="hi", status_callback=f"{receiver.url}/status"
    )

    callbacks = wait_for(lambda: receiver.on("/status"), lambda got: len(got) == len(statuses))
    assert [c.params["MessageStatus"] for c in callbacks] == statuses
    assert callbacks[-1].params["ErrorCode"] == error_code
    fetched = wait_for(client.messages(message.sid).fetch, lambda m: m.status == statuses[-1])
    assert fetched.error_code == int(error_code)


def test_out_of_order_callbacks_report_delivered_before_sent(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    sandbox.post(f"/sandbox/numbers/{ALICE}", {"out_of_order": True})
    assert sandbox.get(f"/sandbox/numbers/{ALICE}") == {
        "phone": ALICE,
        "sms": "deliver",
        "voice": "answer",
        "out_of_order": True,
    }
    message = client.messages.create(
        to=ALICE, from_=MONITOR_NUMBER, body="hi", status_callback=f"{receiver.url}/status"
    )

    callbacks = wait_for(lambda: receiver.on("/status"), lambda got: len(got) == 2)
    assert [c.params["MessageStatus"] for c in callbacks] == ["delivered", "sent"]
    wait_for(lambda: client.messages(message.sid).fetch().status == "delivered")


def test_faults_fail_twice_then_succeed(client: Client, sandbox: Sandbox) -> None:
    sandbox.post("/sandbox/faults", {"status": 500, "times": 2, "code": 20500, "message": "boom"})
    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            client.messages.create(to=ALICE, from_=MONITOR_NUMBER, body="x")
        assert (raised.value.status, raised.value.code) == (500, 20500)
        assert "boom" in raised.value.msg
    assert client.messages.create(to=ALICE, from_=MONITOR_NUMBER, body="x").status == "queued"


def test_a_delay_fault_lets_a_client_time_out(sandbox: Sandbox) -> None:
    sandbox.post("/sandbox/faults", {"delay": 0.5, "times": 1})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{sandbox.url}/2010-04-01/Accounts/{SID}/Messages.json",
            data={"To": ALICE, "From": MONITOR_NUMBER, "Body": "slow"},
            auth=(SID, TOKEN),
            timeout=0.1,
        )
    # Like a slow Twilio, the sandbox still carries out the request the client gave up on.
    (message,) = wait_for(lambda: sandbox.get("/sandbox/messages"))
    assert message["body"] == "slow"

    sandbox.post("/sandbox/faults", {"delay": 5.0, "times": 3})
    assert sandbox.get("/sandbox/faults")["fault"]["times"] == 3
    sandbox.http.delete("/sandbox/faults").raise_for_status()
    assert sandbox.get("/sandbox/faults") == {"fault": None}


def test_an_unreachable_callback_target_is_recorded(client: Client, sandbox: Sandbox) -> None:
    client.messages.create(
        to=ALICE, from_=MONITOR_NUMBER, body="x", status_callback="http://127.0.0.1:9/status"
    )

    hooks = wait_for(
        lambda: sandbox.get("/sandbox/webhooks"),
        lambda got: len(got) == 2 and all(hook["done"] for hook in got),
    )
    assert all(hook["status"] is None and "ConnectError" in hook["error"] for hook in hooks)
    assert hooks[0]["params"]["MessageStatus"] == "sent"
    assert sandbox.get("/sandbox/config")["number"] == MONITOR_NUMBER  # still serving


async def test_the_async_client_creates_a_message(sandbox: Sandbox, receiver: Receiver) -> None:
    http_client = AsyncTwilioHttpClient(timeout=5)
    client = Client(SID, TOKEN, environment={}, http_client=http_client)
    client.api.base_url = sandbox.url
    try:
        message = await client.messages.create_async(
            to=BOB, from_=MONITOR_NUMBER, body="async", status_callback=f"{receiver.url}/status"
        )
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to="nope", from_=MONITOR_NUMBER, body="x")
    finally:
        await http_client.session.close()

    assert message.sid.startswith("SM") and message.status == "queued"
    assert raised.value.code == 21211
    deadline = time.monotonic() + 5
    while len(receiver.on("/status")) < 2:
        assert time.monotonic() < deadline, "no callbacks for the async message"
        await asyncio.sleep(0.02)


# --- Calls ----------------------------------------------------------------------------------------


def _call(client: Client, receiver: Receiver, **options: Any) -> Any:
    return client.calls.create(
        to=ALICE,
        from_=MONITOR_NUMBER,
        url=f"{receiver.url}/voice",
        status_callback=f"{receiver.url}/status",
        **options,
    )


def test_an_answered_call_says_its_twiml_and_takes_a_key_press(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    call = _call(
        client, receiver, status_callback_event=["initiated", "ringing", "answered", "completed"]
    )
    assert call.sid.startswith("CA") and call.status == "queued"

    waiting = wait_for(
        lambda: sandbox.get(f"/sandbox/calls/{call.sid}"),
        lambda got: got["waiting_for_digits"],
        what="the call to wait for digits",
    )
    assert waiting["transcript"] == ["Incident 1: login is down.", "Press 1 to acknowledge."]
    assert waiting["status"] == "in-progress"
    (fetch,) = receiver.on("/voice")
    assert fetch.signature_valid and fetch.method == "POST"
    assert fetch.params["CallStatus"] == "in-progress"
    assert (fetch.params["CallSid"], fetch.params["To"]) == (call.sid, ALICE)
    assert client.calls(call.sid).fetch().status == "in-progress"

    pressed = sandbox.post(f"/sandbox/calls/{call.sid}/press", {"digits": "1"})
    assert pressed["transcript"][-1] == "Acknowledged. Goodbye."
    assert pressed["digits"] == ["1"] and not pressed["waiting_for_digits"]
    (gather,) = receiver.on("/gather")
    assert gather.signature_valid and gather.params["Digits"] == "1"
    assert gather.params["CallSid"] == call.sid

    callbacks = wait_for(
        lambda: receiver.on("/status"),
        lambda got: bool(got) and got[-1].params["CallStatus"] == "completed",
    )
    assert [c.params["CallStatus"] for c in callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert all(c.signature_valid for c in callbacks)
    assert "CallDuration" in callbacks[-1].params and "Duration" in callbacks[-1].params
    fetched = client.calls(call.sid).fetch()
    assert fetched.status == "completed" and fetched.duration is not None
    assert (
        sandbox.http.post(f"/sandbox/calls/{call.sid}/press", json={"digits": "1"}).status_code
        == 409
    )
    assert sandbox.http.post("/sandbox/calls/CAnope/press", json={"digits": "1"}).status_code == 404


@pytest.mark.parametrize(("behaviour", "status"), [("no-answer", "no-answer"), ("busy", "busy")])
def test_unanswered_calls_end_without_twiml(
    client: Client, sandbox: Sandbox, receiver: Receiver, behaviour: str, status: str
) -> None:
    sandbox.post(f"/sandbox/numbers/{ALICE}", {"voice": behaviour})
    call = _call(client, receiver, status_callback_event=["ringing"])

    callbacks = wait_for(lambda: receiver.on("/status"), lambda got: len(got) == 2)
    assert [c.params["CallStatus"] for c in callbacks] == ["ringing", status]
    assert callbacks[-1].params["CallDuration"] == "0"
    assert receiver.on("/voice") == []
    assert client.calls(call.sid).fetch().status == status


def test_a_machine_listens_and_the_call_completes(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    sandbox.post(f"/sandbox/numbers/{ALICE}", {"voice": "machine"})
    call = _call(client, receiver, machine_detection="Enable")

    (completed,) = wait_for(lambda: receiver.on("/status"))
    assert completed.params["CallStatus"] == "completed"
    assert completed.params["AnsweredBy"] == "machine_start"
    (fetch,) = receiver.on("/voice")
    assert fetch.params["AnsweredBy"] == "machine_start"
    fetched = client.calls(call.sid).fetch()
    assert (fetched.status, fetched.answered_by) == ("completed", "machine_start")
    assert "Incident 1: login is down." in sandbox.get(f"/sandbox/calls/{call.sid}")["transcript"]


def test_redirects_are_followed_and_digits_gathered_up_to_num_digits(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    call = client.calls.create(to=ALICE, from_=MONITOR_NUMBER, url=f"{receiver.url}/redirect")
    wait_for(lambda: sandbox.get(f"/sandbox/calls/{call.sid}")["waiting_for_digits"])
    assert receiver.on("/voice")[0].signature_valid  # the relative <Redirect> was resolved

    wrong = sandbox.post(f"/sandbox/calls/{call.sid}/press", {"digits": "9"})
    assert wrong["waiting_for_digits"] and receiver.on("/gather")[0].params["Digits"] == "9"
    assert wrong["transcript"].count("Press 1 to acknowledge.") == 2

    inline = client.calls.create(
        to=BOB,
        from_=MONITOR_NUMBER,
        twiml=f'<Response><Gather numDigits="2" action="{receiver.url}/gather">'
        "<Say>Enter two digits.</Say></Gather></Response>",
    )
    wait_for(lambda: sandbox.get(f"/sandbox/calls/{inline.sid}")["waiting_for_digits"])
    half = sandbox.post(f"/sandbox/calls/{inline.sid}/press", {"digits": "4"})
    assert half["waiting_for_digits"] and half["pending_digits"] == "4"
    assert len(receiver.on("/gather")) == 1
    sandbox.post(f"/sandbox/calls/{inline.sid}/press", {"digits": "2"})
    assert receiver.on("/gather")[-1].params["Digits"] == "42"


def test_hang_up_ends_a_waiting_call(client: Client, sandbox: Sandbox, receiver: Receiver) -> None:
    call = _call(client, receiver, machine_detection="Enable", method="GET")
    wait_for(lambda: sandbox.get(f"/sandbox/calls/{call.sid}")["waiting_for_digits"])
    (fetch,) = receiver.on("/voice")
    assert fetch.method == "GET" and fetch.signature_valid
    assert fetch.params["AnsweredBy"] == "human"

    ended = sandbox.post(f"/sandbox/calls/{call.sid}/hangup")
    assert ended["status"] == "completed"
    (completed,) = wait_for(lambda: receiver.on("/status"))
    assert completed.params["CallStatus"] == "completed"


def test_a_call_nobody_answers_completes_after_the_gather_timeout(receiver: Receiver) -> None:
    with running_sandbox(receiver, gather_timeout=0.2) as sandbox:
        client = Client(SID, TOKEN, environment={}, http_client=TwilioHttpClient(timeout=5))
        client.api.base_url = sandbox.url
        call = _call(client, receiver)
        wait_for(lambda: client.calls(call.sid).fetch().status == "completed")
        assert sandbox.get(f"/sandbox/calls/{call.sid}")["digits"] == []


# --- Inbound SMS ----------------------------------------------------------------------------------


def test_a_reply_is_posted_signed_and_the_twiml_answer_delivered(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    result = sandbox.post("/sandbox/reply", {"from": ALICE, "body": "ACK 1"})

    assert result == {"status": 200, "replies": ["Got: ACK 1"], "error": None}
    (inbound,) = receiver.on("/sms")
    assert inbound.signature_valid
    params = inbound.params
    assert (params["From"], params["To"], params["Body"]) == (ALICE, MONITOR_NUMBER, "ACK 1")
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert params["MessageSid"].startswith("SM") and params["AccountSid"] == SID
    assert (params["NumMedia"], params["NumSegments"]) == ("0", "1")
    assert "MessagingServiceSid" not in params
    messages = sandbox.get("/sandbox/messages", params={"to": ALICE})
    assert [(m["direction"], m["body"], m["status"]) for m in messages] == [
        ("inbound", "ACK 1", "received"),
        ("outbound-reply", "Got: ACK 1", "delivered"),
    ]


def test_a_forged_signature_reaches_the_webhook_as_forged(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    sandbox.post("/sandbox/reply", {"from": ALICE, "body": "hi", "signature": "forged"})
    assert not receiver.on("/sms")[0].signature_valid


def test_stop_opts_out_and_start_opts_back_in(client: Client, sandbox: Sandbox) -> None:
    stopped = sandbox.post("/sandbox/reply", {"from": ALICE, "body": " stop "})
    assert stopped["status"] == 200
    assert stopped["replies"] == [
        "You have successfully been unsubscribed. You will not receive any more messages from "
        "this number. Reply START to resubscribe."
    ]
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=ALICE, from_=MONITOR_NUMBER, body="x")
    assert (raised.value.status, raised.value.code) == (400, 21610)

    started = sandbox.post("/sandbox/reply", {"from": ALICE, "body": "START"})
    assert started["replies"][0].startswith("You have successfully been re-subscribed")
    assert client.messages.create(to=ALICE, from_=MONITOR_NUMBER, body="x").status == "queued"


# --- Phone pages ----------------------------------------------------------------------------------


def test_the_phone_page_shows_the_conversation_escaped(client: Client, sandbox: Sandbox) -> None:
    client.messages.create(to=ALICE, from_=MONITOR_NUMBER, body="<b>login</b> & down")
    sandbox.post("/sandbox/reply", {"from": ALICE, "body": "ACK <1>"})

    index = sandbox.http.get("/")
    assert index.status_code == 200
    assert "Alice" in index.text and f"/phone/{quote(ALICE, safe='')}" in index.text
    page = sandbox.http.get("/phone/%2B4915110000001")
    assert page.status_code == 200
    assert "&lt;b&gt;login&lt;/b&gt; &amp; down" in page.text
    assert "<b>login</b>" not in page.text
    assert "ACK &lt;1&gt;" in page.text and "Got: ACK &lt;1&gt;" in page.text


def test_the_phone_page_forms_reply_and_press(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    phone = f"/phone/{quote(ALICE, safe='')}"
    replied = sandbox.http.post(f"{phone}/reply", data={"body": "ACK 7"})
    assert replied.status_code == 303 and replied.headers["location"] == phone
    assert receiver.on("/sms")[0].params["Body"] == "ACK 7"

    nothing = sandbox.http.post(f"{phone}/press", data={"digits": "1"})
    assert nothing.status_code == 303 and "notice=" in nothing.headers["location"]

    call = _call(client, receiver)
    wait_for(lambda: sandbox.get(f"/sandbox/calls/{call.sid}")["waiting_for_digits"])
    page = sandbox.http.get(phone).text
    assert "Press 1 to acknowledge." in page and 'name="digits" value="#"' in page
    pressed = sandbox.http.post(f"{phone}/press", data={"digits": "1"})
    assert pressed.status_code == 303 and pressed.headers["location"] == phone
    assert sandbox.get(f"/sandbox/calls/{call.sid}")["transcript"][-1] == "Acknowledged. Goodbye."


# --- Control API and serve() ----------------------------------------------------------------------


def test_config_and_reset(sandbox: Sandbox, client: Client) -> None:
    config = sandbox.post("/sandbox/config", {"inbound_sms_url": None})
    assert config == {"account_sid": SID, "number": MONITOR_NUMBER, "inbound_sms_url": None}
    unconfigured = sandbox.post("/sandbox/reply", {"from": BOB, "body": "hi"})
    assert unconfigured["status"] is None and "inbound_sms_url" in unconfigured["error"]
    client.messages.create(to=BOB, from_=MONITOR_NUMBER, body="x")

    sandbox.post("/sandbox/reset")
    assert sandbox.get("/sandbox/messages") == []
    assert sandbox.get("/sandbox/webhooks") == []
    # Reset clears state, not the configuration.
    assert sandbox.get("/sandbox/config")["inbound_sms_url"] is None


async def test_serve_listens_until_stopped() -> None:
    stop = asyncio.Event()
    urls: list[str] = []
    server = asyncio.create_task(
        serve(
            host="127.0.0.1",
            port=0,
            account_sid=SID,
            auth_token=TOKEN,
            inbound_sms_url=None,
            people=PEOPLE,
            ready=urls.append,
            stop=stop,
        )
    )
    deadline = time.monotonic() + 5
    while not urls:
        assert time.monotonic() < deadline and not server.done(), "serve() did not get ready"
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=urls[0]) as http:
        assert (await http.get("/sandbox/config")).json()["account_sid"] == SID
        assert "Bob" in (await http.get("/")).text
    stop.set()
    await asyncio.wait_for(server, 5)
