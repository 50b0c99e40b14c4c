"""Paging scenarios through Twilio: the harness phones connected to the sandbox (DESIGN.md §7).

    phone("alice").expect_sms("PARTIAL").reply("ACK 1")
    phone("alice").expect_call().press("1")

Three parts, each where it would be in production:
- the sandbox (`monitor.sandbox`), a Twilio-compatible server on a real port in its own thread;
- the monitor's web app (Twilio's webhooks) on a real port in its own thread, with its own
  connection to the scenario's database, like a second process;
- the engine, in the test's event loop on the manual clock, paging through the real Twilio
  channels (the real twilio library) aimed at the sandbox.

A phone is the sandbox seen from one number: what it received (SMS and calls), a reply typed on
it, a key pressed on a call. Anything the test did not expect is left unseen, and
`TwilioScenario.assert_quiet()` fails on it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI

from monitor.channels.registry import channels_for
from monitor.channels.twilio import TwilioClient
from monitor.clock import Clock, ManualClock
from monitor.config.models import MonitorConfig
from monitor.config.oncall import ChannelsConfig
from monitor.escalation.engine import Engine
from monitor.escalation.policy import OnCall
from monitor.sandbox import SandboxPerson
from monitor.sandbox import create_app as create_sandbox
from monitor.settings import TwilioSettings
from monitor.storage.database import Database
from monitor.testing.asgi_server import serve_asgi
from monitor.testing.paging import Scenario
from monitor.testing.web import web_context
from monitor.web import create_app

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "scenario-auth-token"
FROM = "+15005550006"
WAIT_SECONDS = 10.0  # how long an expectation waits for the sandbox before it fails
POLL_SECONDS = 0.02


def _wait_for(condition: Callable[[], Any], *, what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)


@dataclass
class SandboxCall:
    phone: SandboxPhone
    sid: str

    def state(self) -> dict[str, Any]:
        response = self.phone.http.get(f"/sandbox/calls/{self.sid}")
        response.raise_for_status()
        call: dict[str, Any] = response.json()
        return call

    @property
    def transcript(self) -> list[str]:
        return list(self.state()["transcript"])

    def press(self, digits: str) -> list[str]:
        """Press keys on the call; what the call said after them."""
        before = len(self.transcript)
        response = self.phone.http.post(f"/sandbox/calls/{self.sid}/press", json={"digits": digits})
        assert response.status_code == 200, (
            f"press {digits}: {response.status_code} {response.text}"
        )
        said: list[str] = response.json()["transcript"][before:]
        return said

    def hang_up(self) -> None:
        self.phone.http.post(f"/sandbox/calls/{self.sid}/hangup").raise_for_status()


class SandboxPhone:
    def __init__(self, http: httpx.Client, *, person: str, number: str) -> None:
        self.http = http
        self.person = person
        self.number = number
        self._seen_sms: set[str] = set()
        self._seen_calls: set[str] = set()
        self.last_sms: str | None = None

    def messages(self) -> list[dict[str, Any]]:
        response = self.http.get("/sandbox/messages", params={"to": self.number})
        response.raise_for_status()
        return [
            m
            for m in response.json()
            if m["direction"] == "outbound-api" and m["to"] == self.number
        ]

    def calls(self) -> list[dict[str, Any]]:
        response = self.http.get("/sandbox/calls", params={"to": self.number})
        response.raise_for_status()
        return [c for c in response.json() if c["to"] == self.number]

    def _unseen_sms(self) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m["sid"] not in self._seen_sms]

    def _unseen_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if c["sid"] not in self._seen_calls]

    def expect_sms(self, contains: str = "") -> SandboxPhone:
        """The oldest SMS this phone has not looked at yet; it must contain `contains`."""
        unseen = _wait_for(self._unseen_sms, what=f"an SMS to {self.person}", timeout=2.0)
        message = unseen[0]
        self._seen_sms.add(message["sid"])
        self.last_sms = str(message["body"])
        assert contains in self.last_sms, f"{self.person} got {self.last_sms!r}, not {contains!r}"
        return self

    def expect_resolved(self, contains: str = "") -> SandboxPhone:
        self.expect_sms(contains)
        assert self.last_sms is not None and "RESOLVED" in self.last_sms.upper(), self.last_sms
        return self

    def reply(self, body: str) -> list[str]:
        """Type `body` and send it: the sandbox POSTs it to the monitor signed as Twilio would.
        Returns the monitor's replies."""
        response = self.http.post("/sandbox/reply", json={"from": self.number, "body": body})
        response.raise_for_status()
        answer = response.json()
        assert answer["status"] == 200, f"the monitor answered {answer}"
        return list(answer["replies"])

    def expect_call(self, contains: str = "") -> SandboxCall:
        """The oldest call not looked at yet, once it is answered and listening for a key (or
        over: busy, no answer); what it said must contain `contains`."""
        unseen = _wait_for(self._unseen_calls, what=f"a call to {self.person}", timeout=2.0)
        call = SandboxCall(self, unseen[0]["sid"])
        self._seen_calls.add(call.sid)
        state = _wait_for(
            lambda: (lambda s: s if s["waiting_for_digits"] or _call_over(s) else None)(
                call.state()
            ),
            what=f"the call to {self.person} to be answered",
        )
        said = " ".join(state["transcript"])
        assert contains in said, f"the call to {self.person} said {said!r}, not {contains!r}"
        return call

    def expect_nothing(self) -> None:
        sms = [m["body"] for m in self._unseen_sms()]
        calls = [c["sid"] for c in self._unseen_calls()]
        assert not sms and not calls, f"{self.person} got unexpected SMS {sms} / calls {calls}"

    def behave(self, **behaviour: str | bool) -> None:
        """How the number behaves from now on: sms=deliver|fail|undelivered|silent,
        voice=answer|no-answer|busy|fail|machine, out_of_order=True."""
        self.http.post(
            f"/sandbox/numbers/{quote(self.number, safe='')}", json=behaviour
        ).raise_for_status()


def _call_over(call: dict[str, Any]) -> bool:
    return call["status"] in ("completed", "busy", "no-answer", "failed", "canceled")


class TwilioScenario:
    """A Scenario (manual clock, real engine, real database) paging through the sandbox."""

    def __init__(self, scenario: Scenario, *, sandbox: FastAPI, http: httpx.Client) -> None:
        self.scenario = scenario
        self.sandbox = sandbox
        self.http = http
        self._phones: dict[str, SandboxPhone] = {}
        self.monitor_app: FastAPI | None = None  # the webhooks' app (its own engine object)

    def __getattr__(self, name: str) -> Any:
        # open, tick, fast_forward, ack, resolve, events, state, now, minute ...
        return getattr(self.scenario, name)

    def phone(self, person: str) -> SandboxPhone:
        if person not in self._phones:
            found = self.scenario.config.person(person)
            assert found is not None and found.phone is not None, f"no phone for {person}"
            self._phones[person] = SandboxPhone(self.http, person=person, number=found.phone)
        return self._phones[person]

    def settle(self, timeout: float = WAIT_SECONDS) -> None:
        """Wait until the sandbox has nothing more to say: every status callback sent and
        answered (only calls waiting for a key may still be open)."""

        def quiet() -> bool:
            runtime = self.sandbox.state.runtime
            waiting = sum(
                1 for c in self.http.get("/sandbox/calls").json() if c["waiting_for_digits"]
            )
            hooks = self.http.get("/sandbox/webhooks").json()
            return len(runtime.tasks) <= waiting and all(h["done"] for h in hooks)

        _wait_for(quiet, what="the sandbox's callbacks", timeout=timeout)

    async def tick(self) -> None:
        self.settle()
        await self.scenario.tick()
        self.settle()

    def assert_quiet(self) -> None:
        for person in self.scenario.config.people:
            if person.phone is not None:
                self.phone(person.id).expect_nothing()


def _monitor_app(
    database_url: str,
    *,
    config: Callable[[], MonitorConfig],
    clock: Clock,
    on_call: OnCall,
) -> FastAPI:
    """The web app with its own database connection, made in the server thread's own loop."""
    app = create_app(None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        db = Database.connect(database_url)
        # An engine of its own: a failed delivery writes the next channel's page, which the
        # scenario's engine sends at its next tick.
        engine = Engine(db, config=config, channels={}, clock=clock, on_call=on_call)
        # public_url is set once the server listens: signatures are checked against it.
        app.state.web = web_context(
            db, clock=clock, config=config, engine=engine, twilio_tokens=[AUTH_TOKEN]
        )
        try:
            yield
        finally:
            await db.dispose()

    app.router.lifespan_context = lifespan
    return app


@contextmanager
def twilio_scenario(
    db: Database,
    *,
    database_url: str,
    config: MonitorConfig,
    on_call: OnCall,
    start: datetime,
) -> Iterator[tuple[TwilioScenario, TwilioClient]]:
    """Start the sandbox and the monitor's web app; yield the scenario (and the Twilio client,
    which the caller closes in its event loop)."""
    clock = ManualClock(start)
    box: dict[str, Scenario] = {}
    with ExitStack() as stack:
        sandbox = create_sandbox(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            people=[SandboxPerson(name=p.name, phone=p.phone) for p in config.people if p.phone],
            callback_delay=0.01,
            gather_timeout=30.0,
        )
        sandbox_url = stack.enter_context(serve_asgi(sandbox))
        monitor_app = _monitor_app(
            database_url,
            # The scenario's config as it is now (a scenario may reload it).
            config=lambda: box["scenario"].config if box else config,
            clock=clock,
            on_call=on_call,
        )
        monitor_url = stack.enter_context(serve_asgi(monitor_app))
        monitor_app.state.web.public_url = monitor_url
        http = stack.enter_context(httpx.Client(base_url=sandbox_url, timeout=10))
        http.post(
            "/sandbox/config", json={"inbound_sms_url": f"{monitor_url}/twilio/sms"}
        ).raise_for_status()
        twilio = TwilioClient(
            TwilioSettings.model_validate(
                {
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                    "TWILIO_FROM": FROM,
                    "api_base_url": sandbox_url,
                    "timeout": 5.0,
                }
            )
        )
        channels = channels_for(ChannelsConfig(), twilio=twilio, public_url=monitor_url)
        scenario = Scenario(
            db, config, on_call=on_call, start=start, channels=channels, clock=clock
        )
        box["scenario"] = scenario
        found = TwilioScenario(scenario, sandbox=sandbox, http=http)
        found.monitor_app = monitor_app
        yield found, twilio
