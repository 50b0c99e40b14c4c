"""Twilio's webhooks over real HTTP: signatures, SMS replies, keypresses and delivery status.

The monitor's web server runs on a free port; requests are signed with Twilio's own
RequestValidator exactly as Twilio signs them (the full public URL plus the form fields). The
engine behind it pages through recording phones (the sandbox scenarios cover the Twilio side).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from monitor.escalation.answers import AUTO_REPLIES_PER_HOUR, HELP_TEXT
from monitor.storage.database import Database
from monitor.storage.escalation import pages_of
from monitor.storage.inbound import opted_out_phones
from monitor.storage.tables import InboundSms
from monitor.testing.paging import Scenario
from monitor.testing.web import web_context
from monitor.web import WebContext, WebServer, create_app
from tests.scenarios.conftest import ScenarioFactory, scenario_factory

__all__ = ["scenario_factory"]  # the fixture, shared with the paging scenarios

PUBLIC = "https://monitor.example.com"
TOKEN, SECONDARY = "primary-auth-token", "secondary-auth-token"
ALICE, BOB, STRANGER = "+4915110000001", "+4915110000002", "+4915199999999"


@dataclass
class Hooks:
    scenario: Scenario
    web: WebContext
    client: httpx.AsyncClient

    async def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        token: str = TOKEN,
        signed_for: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        url = signed_for or PUBLIC + path
        headers = {}
        if signature is None:
            signature = RequestValidator(token).compute_signature(url, params)
        if signature:
            headers["X-Twilio-Signature"] = signature
        return await self.client.post(path, data=params, headers=headers)

    async def sms(self, phone: str, body: str, **kwargs: str) -> httpx.Response:
        params = {"MessageSid": "SM" + "0" * 32, "From": phone, "To": "+15005550006", "Body": body}
        return await self.post("/twilio/sms", params, **kwargs)

    async def replies(self, phone: str, body: str) -> list[str]:
        response = await self.sms(phone, body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        root = ElementTree.fromstring(response.text)
        assert root.tag == "Response"
        return [message.text or "" for message in root.iter("Message")]


@pytest.fixture
async def hooks(scenario_factory: ScenarioFactory) -> AsyncIterator[Hooks]:
    scenario = await scenario_factory()
    config = lambda: scenario.config  # noqa: E731
    web = web_context(
        scenario.db,
        clock=scenario.clock,
        config=config,
        engine=scenario.engine,
        public_url=PUBLIC,
        twilio_tokens=[TOKEN, SECONDARY],
    )
    server = WebServer(create_app(web), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield Hooks(scenario, web, client)
    finally:
        await server.stop()


async def inbound_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(InboundSms)) or 0)


async def test_ack_by_sms_acknowledges_and_stops_the_paging(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms(f"[MON-{incident}] PARTIAL")

    replies = await hooks.replies(ALICE, f"ack {incident}")

    assert replies == [f"Acknowledged MON-{incident} (login). Reply RESOLVE {incident} when fixed."]
    assert await scenario.state(incident) == "acknowledged"
    assert [e.detail for e in await scenario.events(incident) if e.kind == "acknowledged"] == [
        "by Alice by SMS"
    ]
    await scenario.fast_forward("29m")
    scenario.assert_quiet()


async def test_a_bare_ack_answers_the_latest_incident_paged_to_that_number(hooks: Hooks) -> None:
    scenario = hooks.scenario
    await scenario.open("login")
    scenario.phone("alice").expect_sms()
    assert await hooks.replies(ALICE, "A") == [
        "Acknowledged MON-1 (login). Reply RESOLVE 1 when fixed."
    ]
    assert await hooks.replies(ALICE, "12a".replace("12", "1")) == [
        "MON-1 (login) was already acknowledged by Alice by SMS. Reply RESOLVE 1 when fixed."
    ]


@pytest.mark.parametrize(
    "forgery",
    ["missing", "garbage", "wrong token", "other URL", "http instead of https", "changed body"],
)
async def test_a_request_not_signed_by_twilio_gets_403_and_changes_nothing(
    hooks: Hooks, forgery: str
) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    params = {"From": ALICE, "To": "+15005550006", "Body": f"ACK {incident}"}
    path = "/twilio/sms"
    if forgery == "missing":
        response = await hooks.post(path, params, signature="")
    elif forgery == "garbage":
        response = await hooks.post(path, params, signature="bm90IGEgc2lnbmF0dXJl")
    elif forgery == "wrong token":
        response = await hooks.post(path, params, token="someone-elses-token")
    elif forgery == "other URL":
        response = await hooks.post(path, params, signed_for="https://evil.example.com" + path)
    elif forgery == "http instead of https":
        response = await hooks.post(path, params, signed_for="http://monitor.example.com" + path)
    else:
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
        tampered = {**params, "Body": f"RESOLVE {incident}"}
        response = await hooks.client.post(
            path, data=tampered, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 403
    assert await scenario.state(incident) == "triggered"
    assert await inbound_count(scenario.db) == 0
    assert hooks.web.stats.webhook_rejections["/twilio/sms"] == 1


async def test_the_secondary_token_is_accepted_during_a_rotation(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    response = await hooks.sms(ALICE, f"ACK {incident}", token=SECONDARY)
    assert response.status_code == 200
    assert await scenario.state(incident) == "acknowledged"


async def test_status_and_voice_hooks_refuse_unsigned_requests(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    page = (await pages_of(scenario.db, incident))[0]
    for path, params in (
        (f"/twilio/status/{page.id}", {"MessageStatus": "undelivered", "MessageSid": "SM1"}),
        (f"/twilio/voice/{page.id}", {"CallStatus": "in-progress"}),
        (f"/twilio/voice/{page.id}/gather", {"Digits": "2"}),
    ):
        response = await hooks.post(path, params, token="wrong")
        assert response.status_code == 403, path
    assert await scenario.state(incident) == "triggered"
    assert (await pages_of(scenario.db, incident))[0].status == "sent"


async def test_a_number_not_on_the_roster_gets_no_answer_and_changes_nothing(
    hooks: Hooks,
) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    assert await hooks.replies(STRANGER, f"ACK {incident}") == []
    assert await hooks.replies(STRANGER, "HELP") == []
    assert await scenario.state(incident) == "triggered"


async def test_a_roster_person_never_paged_for_an_incident_is_refused(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")  # alice is on call; bob is not in the snapshot
    assert await hooks.replies(BOB, f"ACK {incident}") == [
        f"You were not paged for MON-{incident}. Reply HELP for commands."
    ]
    assert await hooks.replies(BOB, "ACK 7") == [
        "You were not paged for MON-7. Reply HELP for commands."
    ]
    assert await hooks.replies(BOB, "ACK") == [
        "No incident was paged to you. Reply HELP for commands."
    ]
    assert await scenario.state(incident) == "triggered"


async def test_someone_on_call_in_the_policy_may_answer_before_their_level_is_paged(
    hooks: Hooks,
) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")  # carol is level 3, not paged yet
    assert await hooks.replies("+12125550103", f"ACK {incident}") == [
        f"Acknowledged MON-{incident} (login). Reply RESOLVE {incident} when fixed."
    ]


async def test_resolve_by_sms_sends_the_resolved_messages(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    assert await hooks.replies(ALICE, f"{incident}R") == [f"Resolved MON-{incident} (login)."]
    assert await scenario.state(incident) == "resolved"
    await scenario.tick()
    scenario.phone("alice").expect_resolved()
    scenario.assert_quiet()


async def test_help_and_unknown_texts_get_the_help_reply_at_most_five_an_hour(
    hooks: Hooks,
) -> None:
    scenario = hooks.scenario
    assert await hooks.replies(ALICE, "HELP") == [HELP_TEXT]
    assert len(HELP_TEXT) <= 160
    for _ in range(AUTO_REPLIES_PER_HOUR - 1):
        assert await hooks.replies(ALICE, "what is going on?") == [HELP_TEXT]
    assert await hooks.replies(ALICE, "hello?") == []  # the sixth within the hour
    scenario.clock.advance(timedelta(minutes=61))
    assert await hooks.replies(ALICE, "help") == [HELP_TEXT]
    # An action is always confirmed, whatever the count.
    incident = await scenario.open("login")
    for _ in range(AUTO_REPLIES_PER_HOUR):
        await hooks.replies(ALICE, "??")
    assert await hooks.replies(ALICE, f"ACK {incident}") != []


async def test_stop_and_start_are_recorded(hooks: Hooks) -> None:
    scenario = hooks.scenario
    assert await hooks.replies(ALICE, "STOP") == []  # Twilio sends its own confirmation
    assert set(await opted_out_phones(scenario.db)) == {ALICE}
    assert await hooks.replies(ALICE, "start") == []
    assert await opted_out_phones(scenario.db) == {}


async def status(hooks: Hooks, page_id: int, **params: str) -> None:
    response = await hooks.post(f"/twilio/status/{page_id}", params)
    assert response.status_code == 204, response.text


async def test_status_callbacks_out_of_order_never_move_a_page_back(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    page = (await pages_of(scenario.db, incident))[0]
    await status(hooks, page.id, MessageSid="SM1", MessageStatus="delivered")
    await status(hooks, page.id, MessageSid="SM1", MessageStatus="sent")
    await status(hooks, page.id, MessageSid="SM1", MessageStatus="queued")
    await status(hooks, page.id, MessageSid="SM1", MessageStatus="undelivered")
    [after] = await pages_of(scenario.db, incident)
    assert (after.status, after.delivery) == ("delivered", "delivered")
    assert [e.detail for e in await scenario.events(incident) if e.kind == "delivered"] == [
        f"Alice received the page (#{page.id})"
    ]


async def test_an_undelivered_sms_calls_the_person_at_the_next_tick(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    page = (await pages_of(scenario.db, incident))[0]
    await status(hooks, page.id, MessageSid="SM1", MessageStatus="sent")
    await status(hooks, page.id, MessageSid="SM1", MessageStatus="undelivered", ErrorCode="30003")
    await scenario.tick()  # no time passes: the level's 5 minutes are not what moves it
    scenario.phone("alice").expect_call()
    scenario.assert_quiet()
    pages = await pages_of(scenario.db, incident)
    assert [(p.channel, p.status) for p in pages] == [("sms", "failed"), ("voice", "sent")]
    assert pages[0].error == "the SMS was not delivered (error 30003)"
    assert "Alice by sms: the SMS was not delivered (error 30003)" in [
        e.detail for e in await scenario.events(incident)
    ]


async def test_a_call_nobody_answers_moves_on_like_a_failed_sms(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms()
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_call()  # level 2: voice
    voice = (await pages_of(scenario.db, incident))[-1]
    await status(hooks, voice.id, CallSid="CA1", CallStatus="ringing")
    await status(hooks, voice.id, CallSid="CA1", CallStatus="no-answer")
    await scenario.tick()
    scenario.phone("alice").expect_sms()  # alice's next channel after voice
    scenario.assert_quiet()


def said(twiml: str) -> list[str]:
    return [say.text or "" for say in ElementTree.fromstring(twiml).iter("Say")]


async def test_the_call_says_the_message_twice_then_listens_for_a_key(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    await scenario.fast_forward("5m")
    voice = (await pages_of(scenario.db, incident))[-1]
    assert voice.channel == "voice"
    response = await hooks.post(
        f"/twilio/voice/{voice.id}", {"CallSid": "CA1", "CallStatus": "in-progress"}
    )
    assert response.status_code == 200
    root = ElementTree.fromstring(response.text)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == f"{PUBLIC}/twilio/voice/{voice.id}/gather"
    words = said(response.text)
    assert words[0] == words[1] and "login" in words[0]
    assert "Press 1 to acknowledge" in words[2]
    [page] = [p for p in await pages_of(scenario.db, incident) if p.id == voice.id]
    assert page.status == "delivered"  # answered

    pressed = await hooks.post(
        f"/twilio/voice/{voice.id}/gather", {"CallSid": "CA1", "Digits": "1"}
    )
    assert said(pressed.text) == [f"Acknowledged incident {incident}. Goodbye."]
    assert await scenario.state(incident) == "acknowledged"
    assert [e.detail for e in await scenario.events(incident) if e.kind == "acknowledged"] == [
        "by Alice by phone"
    ]


@pytest.mark.parametrize(("digit", "state"), [("2", "resolved"), ("3", "triggered")])
async def test_keys_2_and_3_resolve_and_escalate(hooks: Hooks, digit: str, state: str) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    await scenario.fast_forward("5m")
    voice = (await pages_of(scenario.db, incident))[-1]
    await hooks.post(f"/twilio/voice/{voice.id}/gather", {"CallSid": "CA1", "Digits": digit})
    assert await scenario.state(incident) == state
    if digit == "3":
        assert "escalated" in [e.kind for e in await scenario.events(incident)]


async def test_star_repeats_and_a_voicemail_is_not_an_answer(hooks: Hooks) -> None:
    scenario = hooks.scenario
    incident = await scenario.open("login")
    await scenario.fast_forward("5m")
    scenario.phone("alice").expect_sms()
    scenario.phone("alice").expect_call()
    voice = (await pages_of(scenario.db, incident))[-1]
    repeat = await hooks.post(f"/twilio/voice/{voice.id}/gather", {"Digits": "*"})
    redirect = ElementTree.fromstring(repeat.text).find("Redirect")
    assert redirect is not None and redirect.text == f"{PUBLIC}/twilio/voice/{voice.id}"

    machine = await hooks.post(
        f"/twilio/voice/{voice.id}",
        {"CallSid": "CA1", "CallStatus": "in-progress", "AnsweredBy": "machine_start"},
    )
    assert ElementTree.fromstring(machine.text).find("Gather") is None
    [page] = [p for p in await pages_of(scenario.db, incident) if p.id == voice.id]
    assert (page.status, page.delivery) == ("failed", "answered-by-machine")
    await scenario.tick()
    scenario.phone("alice").expect_sms()  # the next channel, at once
    assert await scenario.state(incident) == "triggered"


async def test_a_bare_ack_prefers_the_latest_open_incident(hooks: Hooks) -> None:
    scenario = hooks.scenario
    first = await scenario.open("login")
    scenario.clock.advance(timedelta(minutes=1))
    second = await scenario.open("signup")
    scenario.phone("alice").expect_sms(f"MON-{first}")
    scenario.phone("alice").expect_sms(f"MON-{second}")
    await scenario.resolve(second)
    assert await hooks.replies(ALICE, "ACK") == [
        f"Acknowledged MON-{first} (login). Reply RESOLVE {first} when fixed."
    ]
