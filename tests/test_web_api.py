"""The JSON API over real HTTP on SQLite and PostgreSQL: 401 on every endpoint without the
token or with a wrong one, what each endpoint returns with it, and that ack, resolve, escalate
and silences really change the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from monitor.storage.incidents import add_note, get_incident
from monitor.storage.records import ResultRecord
from monitor.storage.repository import insert_results, sync_probes
from monitor.storage.silences import list_silences
from monitor.testing.paging import Scenario
from monitor.testing.web import web_context
from monitor.web import WebServer, create_app
from tests.scenarios.conftest import ScenarioFactory, scenario_factory

__all__ = ["scenario_factory"]  # the fixture

TOKEN = "api-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ENDPOINTS = [
    ("GET", "/api/v1/probes"),
    ("GET", "/api/v1/probes/login"),
    ("GET", "/api/v1/results"),
    ("GET", "/api/v1/incidents"),
    ("GET", "/api/v1/incidents/1"),
    ("POST", "/api/v1/incidents/1/ack"),
    ("POST", "/api/v1/incidents/1/resolve"),
    ("POST", "/api/v1/incidents/1/escalate"),
    ("GET", "/api/v1/oncall"),
    ("GET", "/api/v1/silences"),
    ("POST", "/api/v1/silences"),
    ("POST", "/api/v1/silences/1/end"),
]


@dataclass
class Api:
    scenario: Scenario
    client: httpx.AsyncClient
    wakes: list[int]

    async def get(self, path: str, **params: object) -> httpx.Response:
        return await self.client.get(f"/api/v1{path}", headers=AUTH, params=params)

    async def post(self, path: str, body: object = None) -> httpx.Response:
        return await self.client.post(f"/api/v1{path}", headers=AUTH, json=body)


async def serve(scenario: Scenario, token: str | None) -> AsyncIterator[Api]:
    config = lambda: scenario.config  # noqa: E731
    wakes: list[int] = []
    web = web_context(
        scenario.db,
        clock=scenario.clock,
        config=config,
        engine=scenario.engine,
        admin_token=token,
        wake=lambda: wakes.append(1),
    )
    server = WebServer(create_app(web), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield Api(scenario, client, wakes)
    finally:
        await server.stop()


@pytest.fixture
async def api(scenario_factory: ScenarioFactory) -> AsyncIterator[Api]:
    async for served in serve(await scenario_factory(), TOKEN):
        yield served


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}],
    ids=["none", "wrong"],
)
async def test_every_endpoint_refuses_a_missing_or_wrong_token(
    api: Api, method: str, path: str, headers: dict[str, str]
) -> None:
    incident = await api.scenario.open("login")

    response = await api.client.request(method, path, headers=headers, json={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert await api.scenario.state(incident) == "triggered"


@pytest.mark.parametrize(
    "authorization", [TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"]
)
async def test_only_the_exact_bearer_token_is_accepted(api: Api, authorization: str) -> None:
    refused = await api.client.get("/api/v1/probes", headers={"Authorization": authorization})
    accepted = await api.client.get("/api/v1/probes", headers=AUTH)

    assert (refused.status_code, accepted.status_code) == (401, 200)


async def test_without_a_configured_token_the_api_is_off(
    scenario_factory: ScenarioFactory,
) -> None:
    async for api in serve(await scenario_factory(), None):
        response = await api.get("/probes")
        assert response.status_code == 401
        assert response.json()["detail"] == "the API is off: MONITOR_ADMIN_TOKEN is not set"


async def test_probes_with_their_last_result_and_open_incident(api: Api) -> None:
    db, now = api.scenario.db, api.scenario.now
    ids = await sync_probes(db, [("login", "login", "h")], now=now)
    failed = ResultRecord(
        probe="login",
        location="local",
        due_at=now,
        started_at=now,
        duration_ms=42,
        ok=False,
        status=503,
        error_kind="condition",
        error_message="sign in: [STATUS] (503) == 200",
        failed_step="sign in",
        details=[{"name": "sign in", "status": 503}],
    )
    passed = ResultRecord(
        probe="login",
        location="local",
        due_at=now - timedelta(seconds=30),
        started_at=now - timedelta(seconds=30),
        duration_ms=12,
        ok=True,
        status=200,
    )
    await insert_results(db, [passed, failed], ids)
    incident = await api.scenario.open("login")

    [probe] = (await api.get("/probes")).json()
    detail = (await api.get("/probes/login", limit=1)).json()

    assert probe["name"] == "login" and probe["enabled"] is True
    assert probe["interval_seconds"] == 30
    assert probe["last_result"]["ok"] is False
    assert probe["last_result"]["error_message"] == "sign in: [STATUS] (503) == 200"
    assert probe["open_incident"]["id"] == incident
    assert [r["status"] for r in detail["results"]] == [503]
    assert (await api.get("/probes/nothing")).status_code == 404

    assert [r["ok"] for r in (await api.get("/results")).json()] == [False, True]
    assert [r["ok"] for r in (await api.get("/results", failed="true")).json()] == [False]
    since = (now - timedelta(seconds=10)).isoformat()
    assert len((await api.get("/results", since=since)).json()) == 1
    assert (await api.get("/results", limit=0)).status_code == 422


async def test_incidents_list_and_show_with_timeline_and_pages(api: Api) -> None:
    incident = await api.scenario.open("login")

    listed = (await api.get("/incidents", open="true")).json()
    shown = (await api.get(f"/incidents/{incident}")).json()

    assert [i["id"] for i in listed] == [incident]
    assert shown["state"] == "triggered" and shown["severity"] == "partial"
    assert shown["events"][0]["kind"] == "opened"
    assert [(p["person"], p["channel"], p["status"]) for p in shown["pages"]] == [
        ("alice", "sms", "sent")
    ]
    assert (await api.get("/incidents/999")).status_code == 404


async def test_ack_acknowledges_in_the_database_and_wakes_the_engine(api: Api) -> None:
    incident = await api.scenario.open("login")

    response = await api.post(f"/incidents/{incident}/ack", {"by": "alice"})

    assert response.status_code == 200
    assert response.json()["state"] == "acknowledged"
    found = await get_incident(api.scenario.db, incident)
    assert found is not None
    assert (found[0].state, found[0].acknowledged_by) == ("acknowledged", "alice")
    assert api.wakes == [1]
    again = await api.post(f"/incidents/{incident}/ack")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"MON-{incident} is acknowledged: only a triggered incident can be acknowledged"
    )
    assert (await api.post("/incidents/999/ack")).status_code == 404
    assert api.wakes == [1]


async def test_escalate_then_resolve(api: Api) -> None:
    incident = await api.scenario.open("login")
    api.scenario.phone("alice").expect_sms()

    escalated = await api.post(f"/incidents/{incident}/escalate")
    await api.scenario.tick()
    resolved = await api.post(f"/incidents/{incident}/resolve", {"by": "bob"})

    assert escalated.status_code == 200
    api.scenario.phone("alice").expect_call()  # level 2: the primary by voice
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    assert await api.scenario.state(incident) == "resolved"
    assert (await api.post(f"/incidents/{incident}/resolve")).status_code == 409
    assert (await api.post(f"/incidents/{incident}/escalate")).status_code == 409
    assert (await api.post(f"/incidents/{incident}/ack", {"by": ""})).status_code == 422


async def test_oncall_names_who_is_on_call_with_masked_phones(api: Api) -> None:
    response = await api.get("/oncall")

    assert response.status_code == 200
    primary = next(s for s in response.json() if s["schedule"] == "primary")
    assert primary["person"] == {"id": "alice", "name": "Alice", "phone": "+*********0001"}
    assert primary["handoffs"][0]["to_person"]["id"] == "bob"
    assert "+4915110000001" not in response.text


async def test_silences_add_list_end(api: Api) -> None:
    added = await api.post(
        "/silences", {"probes": ["login"], "duration": "2h", "reason": "deploy", "by": "carol"}
    )
    everything = await api.post("/silences", {"duration": "30m", "reason": "db move"})

    assert added.status_code == 201
    body = added.json()
    assert (body["probes"], body["reason"], body["created_by"], body["active"]) == (
        ["login"],
        "deploy",
        "carol",
        True,
    )
    assert everything.json()["probes"] is None
    assert [s["id"] for s in (await api.get("/silences")).json()] == [
        body["id"],
        everything.json()["id"],
    ]

    ended = await api.post(f"/silences/{body['id']}/end")

    assert ended.status_code == 200 and ended.json()["active"] is False
    stored = await list_silences(api.scenario.db, at=api.scenario.now)
    assert [s.id for s in stored] == [everything.json()["id"]]
    assert len((await api.get("/silences", all="true")).json()) == 2
    assert (await api.post("/silences/999/end")).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"probes": ["logn"], "duration": "1h", "reason": "x"}, "no probe named 'logn'"),
        ({"duration": "soon", "reason": "x"}, "duration: "),
        ({"duration": "1h", "reason": "   "}, "a silence needs a reason"),
    ],
)
async def test_a_bad_silence_is_refused_with_the_reason(
    api: Api, body: dict[str, object], message: str
) -> None:
    response = await api.post("/silences", body)

    assert response.status_code == 422
    assert message in str(response.json()["detail"])
    assert await list_silences(api.scenario.db, at=api.scenario.now) == []


async def test_the_openapi_document_lists_the_paths_and_the_bearer_scheme(api: Api) -> None:
    response = await api.client.get("/api/v1/openapi.json")  # no token: it holds no data

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "monitor API"
    assert {
        "/probes",
        "/probes/{name}",
        "/results",
        "/incidents",
        "/incidents/{incident_id}",
        "/incidents/{incident_id}/ack",
        "/incidents/{incident_id}/resolve",
        "/incidents/{incident_id}/escalate",
        "/oncall",
        "/silences",
        "/silences/{silence_id}/end",
    } <= set(document["paths"])
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/incidents"]["get"]["security"] == [{"HTTPBearer": []}]


async def test_phone_numbers_in_the_timeline_are_masked(api: Api) -> None:
    incident = await api.scenario.open("login")
    await add_note(
        api.scenario.db,
        incident_id=incident,
        at=api.scenario.now,
        detail="call to +4915110000001 failed: busy",
    )

    shown = await api.get(f"/incidents/{incident}")

    assert "+4915110000001" not in shown.text
    assert "call to +*********0001 failed: busy" in [e["detail"] for e in shown.json()["events"]]


async def test_a_time_without_a_zone_is_refused_with_the_fix(api: Api) -> None:
    response = await api.get("/results", since="2026-03-02T08:00:00")

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "since: 2026-03-02T08:00:00 has no time zone; add Z or an offset like +01:00"
    )
