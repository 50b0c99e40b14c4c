"""The public status page over real HTTP, on SQLite and PostgreSQL: components, the 90-day bars
from rollups, current and past incidents with public titles, status.json, the Atom feed, badges
— and none of the secrets planted in the probes' config, results and incidents."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import httpx
import pytest
import yaml

from monitor.clock import ManualClock
from monitor.config.models import MonitorConfig
from monitor.storage.database import Database
from monitor.storage.incidents import acknowledge_incident, open_incident, resolve_incident
from monitor.storage.records import ResultRecord
from monitor.storage.repository import insert_results, sync_probes
from monitor.storage.retention import apply_retention
from monitor.storage.rollups import roll_up
from monitor.testing.web import web_context
from monitor.web import WebServer, create_app
from monitor.web.status_page import StatusCache

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECRETS = [
    "sk_live_PLANTED_TOKEN",
    "hunter2-PLANTED-PASSWORD",
    "internal-db-7.corp.example",
    "+4915110000001",
    "10000001",
    "X-Planted-Header",
    "PLANTED-ERROR-TEXT",
    "PLANTED-CAUSE",
    "api.internal.example",
]

CONFIG = """
people:
  - {id: alice, name: Alice, phone: "+4915110000001"}
probes:
  - name: login
    group: accounts
    request:
      method: POST
      url: "https://api.internal.example/login?key=sk_live_PLANTED_TOKEN"
      headers: {X-Planted-Header: "Bearer sk_live_PLANTED_TOKEN"}
      json: {email: probe@example.com, password: hunter2-PLANTED-PASSWORD}
  - name: signup
    group: accounts
    request: {url: "https://internal-db-7.corp.example/signup"}
  - name: list-shares
    group: sharing
    request: {url: "https://api.internal.example/shares"}
  - name: old-probe
    group: retired
    enabled: false
    request: {url: "https://api.internal.example/old"}
"""


@dataclass
class Site:
    client: httpx.AsyncClient
    db: Database
    clock: ManualClock
    ids: dict[str, int]
    cache: StatusCache

    async def page(self) -> str:
        response = await self.client.get("/")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        return response.text

    async def status(self) -> dict[str, object]:
        response = await self.client.get("/status.json")
        assert response.status_code == 200
        document: dict[str, object] = response.json()
        return document


def config() -> MonitorConfig:
    return MonitorConfig.model_validate(yaml.safe_load(CONFIG))


@pytest.fixture
async def site(database: Database) -> AsyncIterator[Site]:
    clock = ManualClock(NOW)
    cfg = config()
    get = lambda: cfg  # noqa: E731
    ids = await sync_probes(
        database, [(p.name, p.component, "hash") for p in cfg.probes], now=NOW - timedelta(days=95)
    )
    web = web_context(database, clock=clock, config=get, public_url="https://status.example.com")
    app = create_app(web)
    app.state.status_cache.ttl = 0  # every request sees the database as it is now
    server = WebServer(app, listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield Site(client, database, clock, ids, app.state.status_cache)
    finally:
        await server.stop()


def run(probe: str, at: datetime, *, ok: bool) -> ResultRecord:
    return ResultRecord(
        probe=probe,
        location="local",
        due_at=at,
        started_at=at,
        duration_ms=120,
        ok=ok,
        status=200 if ok else 503,
        error_kind=None if ok else "condition",
        error_message=None if ok else "PLANTED-ERROR-TEXT from internal-db-7.corp.example",
        failed_step=None if ok else "login",
        details=None if ok else [{"url": "https://api.internal.example/?sk_live_PLANTED_TOKEN"}],
    )


async def seed_days(site: Site, *, days: int, failing_day: int, failure_every: int) -> None:
    """Hourly runs of every probe for `days` days up to NOW; on `failing_day` days ago one run
    in `failure_every` of login fails."""
    records = []
    start = NOW - timedelta(days=days)
    at = start
    while at < NOW:
        day_offset = (NOW.date() - at.date()).days
        for probe in ("login", "signup", "list-shares"):
            fails = probe == "login" and day_offset == failing_day and at.hour % failure_every == 0
            records.append(run(probe, at, ok=not fails))
        at += timedelta(hours=1)
    await insert_results(site.db, records, site.ids)


async def open_login_incident(site: Site, at: datetime, severity: str = "partial") -> int:
    opened = await open_incident(
        site.db,
        probe="login",
        severity=severity,  # type: ignore[arg-type]
        rule="failure_ratio above 20% over 5m",
        figures="35% of 20 runs failed in 5m (PLANTED-ERROR-TEXT)",
        cause="[BODY].error == PLANTED-CAUSE",
        at=at,
    )
    return opened.incident.id


def bar_cells(page: str, component: str) -> list[tuple[str, str]]:
    block = page.split(f'data-component="{component}"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<li class="(\w+)[^"]*" title="([^"]+)">', block)


async def test_all_operational_with_a_row_per_component(site: Site) -> None:
    page = await site.page()

    assert "All systems operational" in page
    assert re.findall(r'data-component="([^"]+)" data-state="(\w+)"', page) == [
        ("accounts", "operational"),
        ("sharing", "operational"),
    ]  # the disabled probe's component is not shown
    assert len(bar_cells(page, "accounts")) == 90
    assert "No incidents in the last 30 days." in page


async def test_an_open_incident_shows_in_the_banner_component_and_current_list(
    site: Site,
) -> None:
    incident = await open_login_incident(site, NOW - timedelta(minutes=25))

    page = await site.page()

    assert 'class="banner partial"' in page and "Partial outage" in page
    assert 'data-component="accounts" data-state="partial"' in page
    assert 'data-component="sharing" data-state="operational"' in page
    current = page.split("Current incidents", 1)[1].split("Components", 1)[0]
    assert f'data-incident="{incident}"' in current
    assert "Partial outage: accounts" in current
    assert "ongoing for 25m" in current
    assert "Investigating" in current or "investigating" in current

    await acknowledge_incident(site.db, incident_id=incident, at=NOW, by="alice")
    page = await site.page()
    assert "Our engineers are working on it." in page


async def test_a_resolved_incident_moves_to_the_history_with_its_duration(site: Site) -> None:
    incident = await open_login_incident(site, NOW - timedelta(days=3, hours=2), "major")
    await resolve_incident(
        site.db, incident_id=incident, at=NOW - timedelta(days=3), detail="recovered"
    )

    page = await site.page()

    assert "All systems operational" in page
    assert "Current incidents" not in page
    history = page.split("Past incidents", 1)[1]
    assert "Major outage: accounts" in history
    assert "lasted 2h" in history
    assert "This incident has been resolved." in history


async def test_the_uptime_bar_colours_days_by_uptime_from_the_rollups(site: Site) -> None:
    # login fails 1 run in 4 on the day 5 days ago: accounts has 2 probes -> 12.5% down that day.
    await seed_days(site, days=20, failing_day=5, failure_every=4)
    await roll_up(site.db, now=NOW)

    cells = bar_cells(await site.page(), "accounts")

    by_date = {text.split(":")[0]: (level, text) for level, text in cells}
    failing = (NOW - timedelta(days=5)).date().isoformat()
    assert by_date[failing] == ("major", f"{failing}: 87.5%")
    quiet = (NOW - timedelta(days=6)).date().isoformat()
    assert by_date[quiet] == ("operational", f"{quiet}: 100%")
    long_ago = (NOW - timedelta(days=60)).date().isoformat()
    assert by_date[long_ago] == ("none", f"{long_ago}: no data")
    sharing = {t.split(":")[0]: level for level, t in bar_cells(await site.page(), "sharing")}
    assert sharing[failing] == "operational"


async def test_uptime_is_the_same_before_and_after_the_rollup(site: Site) -> None:
    await seed_days(site, days=10, failing_day=0, failure_every=3)
    before = await site.status()

    await roll_up(site.db, now=NOW)
    after = await site.status()

    assert before["components"] == after["components"]
    accounts = after["components"][0]  # type: ignore[index]
    today = accounts["days"][-1]
    assert today["date"] == NOW.date().isoformat()
    assert today["uptime"] == pytest.approx(1 - 4 / 24)  # 12 login runs today, 4 failed, of 24


async def test_uptime_is_the_same_after_retention_deletes_the_raw_results(site: Site) -> None:
    await seed_days(site, days=30, failing_day=20, failure_every=2)
    while await roll_up(site.db, now=NOW):  # 48 hours a pass
        pass
    before = await site.status()

    deleted = await apply_retention(
        site.db, now=NOW, raw=timedelta(days=14), rollups=timedelta(days=400)
    )
    after = await site.status()

    assert deleted.results == 3 * 24 * 16  # the 16 days past the raw horizon, 3 probes
    assert before["components"] == after["components"]
    accounts = after["components"][0]  # type: ignore[index]
    failing = (NOW - timedelta(days=20)).date().isoformat()
    day = next(d for d in accounts["days"] if d["date"] == failing)
    assert day["uptime"] == pytest.approx(1 - 12 / 48)  # login failed every other hour


async def test_status_json_describes_components_and_incidents(site: Site) -> None:
    incident = await open_login_incident(site, NOW - timedelta(minutes=10), "major")

    document = await site.status()

    assert document["status"] == {"indicator": "major", "description": "Major outage"}
    components = document["components"]
    assert [(c["name"], c["status"]) for c in components] == [  # type: ignore[union-attr]
        ("accounts", "major"),
        ("sharing", "operational"),
    ]
    assert len(components[0]["days"]) == 90  # type: ignore[index]
    (current,) = document["incidents"]  # type: ignore[misc]
    assert current["id"] == incident
    assert current["title"] == "Major outage: accounts"
    assert current["status"] == "investigating"
    assert current["duration_seconds"] == 600


async def test_the_atom_feed_lists_incidents(site: Site) -> None:
    first = await open_login_incident(site, NOW - timedelta(days=2))
    await resolve_incident(site.db, incident_id=first, at=NOW - timedelta(days=1), detail="x")
    second = await open_login_incident(site, NOW - timedelta(hours=1), "major")

    response = await site.client.get("/feed.atom")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ElementTree.fromstring(response.text)
    entries = root.findall("a:entry", ns)
    assert [e.findtext("a:title", namespaces=ns) for e in entries] == [
        "Major outage: accounts",
        "Partial outage: accounts (resolved)",
    ]
    ids = [e.findtext("a:id", namespaces=ns) for e in entries]
    assert ids == [
        f"https://status.example.com/#incident-{second}",
        f"https://status.example.com/#incident-{first}",
    ]


async def test_badges_per_component(site: Site) -> None:
    await open_login_incident(site, NOW - timedelta(minutes=5))

    accounts = await site.client.get("/badge/accounts.svg")
    sharing = await site.client.get("/badge/sharing.svg")
    missing = await site.client.get("/badge/nothing.svg")

    assert accounts.status_code == 200
    assert accounts.headers["content-type"].startswith("image/svg+xml")
    svg = ElementTree.fromstring(accounts.text)
    assert svg.get("aria-label") == "accounts: partial outage"
    assert "#e07b24" in accounts.text
    assert ElementTree.fromstring(sharing.text).get("aria-label") == "sharing: operational"
    assert missing.status_code == 404


async def test_no_secret_reaches_the_public_pages(site: Site) -> None:
    await seed_days(site, days=3, failing_day=0, failure_every=2)
    await roll_up(site.db, now=NOW)
    incident = await open_login_incident(site, NOW - timedelta(hours=2))
    await acknowledge_incident(site.db, incident_id=incident, at=NOW, by="alice +4915110000001")

    bodies = [
        (await site.client.get(path)).text
        for path in ("/", "/status.json", "/feed.atom", "/badge/accounts.svg")
    ]

    for body in bodies:
        for secret in SECRETS:
            assert secret not in body
        assert "login" not in body.replace("logins", "")  # probe names are internal too
        assert "failure_ratio" not in body and "35% of 20 runs" not in body


async def test_the_cache_serves_one_snapshot_for_its_lifetime(site: Site) -> None:
    site.cache.ttl = 60
    assert "All systems operational" in await site.page()
    await open_login_incident(site, NOW - timedelta(minutes=5))

    assert "All systems operational" in await site.page()  # the snapshot of a moment ago
    site.cache.ttl = 0
    assert "Partial outage" in await site.page()


async def test_an_expired_snapshot_is_served_while_one_rebuild_runs(site: Site) -> None:
    seconds = [1000.0]
    site.cache.monotonic = lambda: seconds[0]
    site.cache.ttl = 5
    assert "All systems operational" in await site.page()
    incident = await open_login_incident(site, NOW - timedelta(minutes=5))

    seconds[0] += 6  # expired, within the 30 s it may still be served while rebuilt
    stale = await site.page()
    await site.cache.rebuilt()
    fresh = await site.page()
    seconds[0] += 40  # far past: the request waits for the rebuild itself
    await resolve_incident(site.db, incident_id=incident, at=NOW, detail="fixed")
    waited = await site.page()

    assert "All systems operational" in stale
    assert "Partial outage" in fresh
    assert "All systems operational" in waited
