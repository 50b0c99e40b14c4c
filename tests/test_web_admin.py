"""The admin pages over real HTTP, as a browser without JavaScript uses them: log in with the
token, read the pages, press the buttons of their forms (hidden CSRF field included).

The monitor's web server runs on a free port over the scenario harness (SQLite and PostgreSQL,
a manual clock, recording phones); what a button did is checked in the database.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser

import httpx
import pytest
from pytest_httpserver import HTTPServer

from monitor.probing.flow import run_probe
from monitor.storage.escalation import pages_of
from monitor.storage.records import ResultRecord
from monitor.storage.repository import ensure_probes, insert_results, recent_results_per_probe
from monitor.storage.silences import list_silences
from monitor.testing.paging import Scenario
from monitor.testing.web import web_context
from monitor.web import WebContext, WebServer, create_app
from monitor.web.auth import SESSION_COOKIE
from tests.scenarios.conftest import (
    PEOPLE,
    THREE_LEVELS,
    ScenarioFactory,
    config_of,
    scenario_factory,
)

__all__ = ["scenario_factory"]  # the fixture, shared with the paging scenarios

ADMIN_TOKEN = "correct-horse-battery-staple"
ALICE_PHONE = "+4915110000001"


@dataclass
class Form:
    action: str
    fields: dict[str, str]  # the hidden inputs, as a browser would send them
    buttons: list[str]  # accessible names: aria-label, else the text


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._label: str | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and found.get("method") == "post":
            self._form = Form(action=found.get("action", ""), fields={}, buttons=[])
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and found.get("type") == "hidden":
            self._form.fields[found["name"]] = found.get("value", "")
        elif self._form is not None and tag == "button":
            self._label, self._text = found.get("aria-label"), []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._form is not None and self._text is not None:
            self._form.buttons.append(self._label or "".join(self._text).strip())
            self._label, self._text = None, None
        elif tag == "form":
            self._form = None


def forms_of(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def button_names(html: str) -> list[str]:
    return [name for form in forms_of(html) for name in form.buttons]


@dataclass
class Admin:
    scenario: Scenario
    web: WebContext
    client: httpx.AsyncClient
    woken: list[str] = field(default_factory=list)

    async def login(self, token: str = ADMIN_TOKEN, **extra: str) -> httpx.Response:
        return await self.client.post("/admin/login", data={"token": token, **extra})

    async def page(self, path: str) -> str:
        response = await self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert ADMIN_TOKEN not in response.text
        return response.text

    async def press(self, button: str, *, on: str = "/admin", **fields: str) -> httpx.Response:
        """Press the button named `button` on page `on`: post its form as a browser would."""
        html = await self.page(on)
        [form] = [form for form in forms_of(html) if button in form.buttons]
        return await self.client.post(form.action, data={**form.fields, **fields})

    async def csrf(self) -> str:
        [token] = {form.fields["csrf"] for form in forms_of(await self.page("/admin"))}
        return token


@pytest.fixture
async def admin(scenario_factory: ScenarioFactory) -> AsyncIterator[Admin]:
    scenario = await scenario_factory()
    config = lambda: scenario.config  # noqa: E731  (a reload replaces scenario.config)
    woken: list[str] = []
    web = web_context(
        scenario.db,
        clock=scenario.clock,
        config=config,
        engine=scenario.engine,
        twilio_tokens=["twilio-auth-token"],
        admin_token=ADMIN_TOKEN,
        wake=lambda: woken.append("wake"),
    )
    server = WebServer(create_app(web), listen="127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield Admin(scenario, web, client, woken)
    finally:
        await server.stop()


@pytest.fixture
async def logged_in(admin: Admin) -> Admin:
    response = await admin.login()
    assert response.status_code == 303, response.text
    return admin


# --- logging in ----------------------------------------------------------------------------------


async def test_a_wrong_token_is_refused_and_the_right_one_sets_the_session_cookie(
    admin: Admin,
) -> None:
    login = await admin.client.get("/admin/login")
    assert 'name="token"' in login.text and 'type="password"' in login.text
    assert login.headers["x-frame-options"] == "DENY"  # no clickjacking of the buttons
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]

    wrong = await admin.login("not-the-token")
    assert wrong.status_code == 401
    assert "That is not the admin token" in wrong.text
    assert "set-cookie" not in wrong.headers
    assert (await admin.client.get("/admin")).status_code == 303

    right = await admin.login()
    assert right.status_code == 303
    assert right.headers["location"] == "/admin"
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/admin"} <= attributes
    assert "secure" not in attributes  # plain http on 127.0.0.1: a Secure cookie never returns
    assert ADMIN_TOKEN not in cookie
    assert "Open incidents" in await admin.page("/admin")


async def test_the_cookie_is_secure_when_the_public_url_is_https(admin: Admin) -> None:
    admin.web.public_url = "https://monitor.example.com"
    response = await admin.login()
    assert response.status_code == 303
    assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}


async def test_without_a_token_configured_the_admin_pages_are_off(admin: Admin) -> None:
    admin.web.admin_token = None
    assert "The admin pages are off" in await admin.page("/admin/login")
    refused = await admin.login("")
    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers
    assert (await admin.client.get("/admin")).headers["location"] == "/admin/login"


@pytest.mark.parametrize("path", ["/admin", "/admin/probes", "/admin/silences"])
async def test_every_page_redirects_to_the_login_without_a_valid_session(
    admin: Admin, path: str
) -> None:
    response = await admin.client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")
    admin.client.cookies.set(SESSION_COOKIE, "9999999999." + "0" * 64)
    forged = await admin.client.get(path)
    assert forged.status_code == 303


async def test_the_login_brings_you_back_to_the_page_asked_for_but_never_off_site(
    admin: Admin,
) -> None:
    asked = await admin.client.get("/admin/silences")
    assert asked.headers["location"] == "/admin/login?next=%2Fadmin%2Fsilences"
    login = await admin.page(asked.headers["location"])
    assert 'name="next" value="/admin/silences"' in login
    back = await admin.login(next="/admin/silences")
    assert back.headers["location"] == "/admin/silences"
    for elsewhere in ("https://evil.example.com/admin", "//evil.example.com/admin", "/twilio/sms"):
        assert (await admin.login(next=elsewhere)).headers["location"] == "/admin"


async def test_a_session_ends_after_12_hours(logged_in: Admin) -> None:
    await logged_in.page("/admin")
    logged_in.scenario.clock.advance(timedelta(hours=12, seconds=1))
    assert (await logged_in.client.get("/admin")).status_code == 303


async def test_logging_out_forgets_the_session(logged_in: Admin) -> None:
    response = await logged_in.press("Log out")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?notice=logged-out"
    assert "You are logged out." in await logged_in.page(response.headers["location"])
    assert (await logged_in.client.get("/admin")).status_code == 303


# --- incidents -----------------------------------------------------------------------------------


async def test_an_open_incident_shows_with_its_timeline_and_pages(logged_in: Admin) -> None:
    scenario = logged_in.scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms(f"MON-{incident}")

    html = await logged_in.page("/admin")

    assert f"MON-{incident} · login" in html
    for shown in ("partial", "triggered", "35% of 20 runs failed in 5m"):
        assert shown in html
    assert "sign in: [STATUS] (503) == 200" in html  # the cause
    assert "failure_ratio above 20% over 5m" in html  # the rule
    assert "2026-03-02 08:30:00 UTC" in html  # opened at, UTC
    [page] = await pages_of(scenario.db, incident)
    assert (page.person, page.channel, page.status) == ("alice", "sms", "sent")
    pages_table = html.split(f'aria-label="Pages of MON-{incident}"')[1].split("</table>")[0]
    assert re.search(r"<td>1</td><td>Alice</td>\s*<td>sms</td><td>sent</td><td>-</td>", pages_table)
    assert "<td>opened</td>" in html  # the timeline
    assert button_names(html) == [
        "Log out",
        f"Acknowledge MON-{incident}",
        f"Escalate MON-{incident}",
        f"Resolve MON-{incident}",
    ]
    # On call now: Alice (primary) and Carol (secondary), numbers masked to the last 4 digits.
    assert 'Alice <span class="muted mono">+*********0001</span>' in html
    assert "Carol" in html and "+*******0103" in html
    assert ALICE_PHONE not in html and "+12125550103" not in html
    assert "2026-03-09 08:00:00 UTC" in html  # the next handoff: Monday 09:00 in Berlin


async def test_the_acknowledge_button_acknowledges_the_incident(logged_in: Admin) -> None:
    scenario = logged_in.scenario
    incident = await scenario.open("login")

    response = await logged_in.press(f"Acknowledge MON-{incident}")

    assert response.status_code == 303
    assert response.headers["location"] == f"/admin?notice=acknowledged&id={incident}"
    assert await scenario.state(incident) == "acknowledged"
    assert [e.detail for e in await scenario.events(incident) if e.kind == "acknowledged"] == [
        "by admin (web)"
    ]
    assert logged_in.woken == ["wake"]
    html = await logged_in.page(response.headers["location"])
    assert f"Acknowledged MON-{incident}: no more pages" in html
    assert "acknowledged</span>" in html and "by admin (web)" in html
    assert f"Acknowledge MON-{incident}" not in button_names(html)

    again = await logged_in.client.post(
        f"/admin/incidents/{incident}/ack", data={"csrf": await logged_in.csrf()}
    )
    assert again.headers["location"] == f"/admin?notice=not-acknowledged&id={incident}"
    assert logged_in.woken == ["wake"]


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "the other session"])
@pytest.mark.parametrize("action", ["ack", "resolve", "escalate"])
async def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    logged_in: Admin, csrf: str | None, action: str
) -> None:
    scenario = logged_in.scenario
    incident = await scenario.open("login")
    events = await scenario.events(incident)
    if csrf == "the other session":
        # A token that is right for another session (logged in elsewhere) is wrong for this one.
        scenario.clock.advance(timedelta(seconds=1))
        other = httpx.AsyncClient(base_url=str(logged_in.client.base_url))
        async with other:
            await other.post("/admin/login", data={"token": ADMIN_TOKEN})
            html = (await other.get("/admin")).text
            csrf = forms_of(html)[0].fields["csrf"]
        assert csrf != await logged_in.csrf()
    data = {} if csrf is None else {"csrf": csrf}

    response = await logged_in.client.post(f"/admin/incidents/{incident}/{action}", data=data)

    assert response.status_code == 403
    assert await scenario.state(incident) == "triggered"
    assert await scenario.events(incident) == events
    assert logged_in.woken == []


async def test_a_post_without_a_session_redirects_to_the_login_and_changes_nothing(
    admin: Admin,
) -> None:
    incident = await admin.scenario.open("login")
    response = await admin.client.post(f"/admin/incidents/{incident}/ack", data={"csrf": "x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"
    assert await admin.scenario.state(incident) == "triggered"


async def test_escalate_pages_the_next_level_and_resolve_closes_the_incident(
    logged_in: Admin,
) -> None:
    scenario = logged_in.scenario
    incident = await scenario.open("login")
    scenario.phone("alice").expect_sms(f"MON-{incident}")
    await logged_in.press(f"Acknowledge MON-{incident}")

    escalated = await logged_in.press(f"Escalate MON-{incident}")

    assert escalated.headers["location"] == f"/admin?notice=escalated&id={incident}"
    assert await scenario.state(incident) == "triggered"  # acknowledged no more
    assert "by admin (web): now" in [e.detail for e in await scenario.events(incident)]
    await scenario.tick()  # what web.wake() asks the running engine to do at once
    scenario.phone("alice").expect_call(f"{incident}")  # level 2: primary by voice
    scenario.assert_quiet()

    resolved = await logged_in.press(f"Resolve MON-{incident}")

    assert resolved.headers["location"] == f"/admin?notice=resolved&id={incident}"
    assert await scenario.state(incident) == "resolved"
    assert logged_in.woken == ["wake", "wake", "wake"]
    html = await logged_in.page(resolved.headers["location"])
    assert "No open incidents." in html
    recent = html.split("Recently resolved")[1]
    assert f'<td class="nowrap">MON-{incident}</td><td>login</td>' in recent
    await scenario.tick()
    scenario.phone("alice").expect_resolved()

    late = await logged_in.client.post(
        f"/admin/incidents/{incident}/escalate", data={"csrf": await logged_in.csrf()}
    )
    assert late.headers["location"] == f"/admin?notice=not-escalated&id={incident}"
    missing = await logged_in.client.post(
        "/admin/incidents/999/resolve", data={"csrf": await logged_in.csrf()}
    )
    assert missing.headers["location"] == "/admin?notice=no-incident&id=999"
    assert "There is no incident MON-999." in await logged_in.page(missing.headers["location"])


async def test_a_notice_in_the_query_string_shows_only_the_fixed_sentences(
    logged_in: Admin,
) -> None:
    html = await logged_in.page("/admin?notice=Call+%2B1555+now&id=1")
    assert "Call" not in html and 'role="status"' not in html
    html = await logged_in.page("/admin?notice=resolved&id=<b>1</b>")
    assert 'role="status"' not in html


# --- silences ------------------------------------------------------------------------------------


async def test_a_silence_is_added_from_the_form_and_ended_by_its_button(
    logged_in: Admin,
) -> None:
    scenario = logged_in.scenario
    page = await logged_in.page("/admin/silences")
    assert "No active or planned silences." in page
    assert 'name="probe" value="login"' in page

    added = await logged_in.press(
        "Add silence",
        on="/admin/silences",
        scope="selected",
        probe="login",
        duration="2h",
        reason="LB swap",
    )

    assert added.status_code == 303
    [silence] = await list_silences(scenario.db, at=scenario.now)
    assert added.headers["location"] == f"/admin/silences?notice=silenced&id={silence.id}"
    assert silence.probes == ("login",)
    assert silence.ends_at - silence.starts_at == timedelta(hours=2)
    assert silence.starts_at == scenario.now
    assert (silence.reason, silence.created_by) == ("LB swap", "admin (web)")
    html = await logged_in.page(added.headers["location"])
    assert f"Silence #{silence.id} added." in html
    assert "<td>login</td>" in html and "LB swap" in html and "(2h left)" in html

    scenario.clock.advance(timedelta(minutes=30))
    ended = await logged_in.press(f"End silence #{silence.id}", on="/admin/silences")

    assert ended.headers["location"] == f"/admin/silences?notice=ended&id={silence.id}"
    [after] = await list_silences(scenario.db, at=silence.starts_at, include_expired=True)
    assert after.ended_at == scenario.now
    assert await list_silences(scenario.db, at=scenario.now) == []
    assert "No active or planned silences." in await logged_in.page("/admin/silences")


async def test_a_silence_of_all_probes(logged_in: Admin) -> None:
    response = await logged_in.press(
        "Add silence", on="/admin/silences", scope="all", duration="30m", reason="deploy"
    )
    assert response.status_code == 303
    [silence] = await list_silences(logged_in.scenario.db, at=logged_in.scenario.now)
    assert silence.probes is None
    assert "all probes" in await logged_in.page("/admin/silences")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"scope": "selected", "probe": "logn", "duration": "1h", "reason": "x"},
            "no probe named &#39;logn&#39; (configured: login); a misspelt name would silence",
        ),
        ({"scope": "selected", "duration": "1h", "reason": "x"}, "choose the probes to silence"),
        (
            {"scope": "all", "probe": "login", "duration": "1h", "reason": "x"},
            "probes are ticked but all probes is chosen",
        ),
        ({"scope": "all", "duration": "2 hours", "reason": "x"}, "duration: invalid duration"),
        ({"scope": "all", "duration": "0s", "reason": "x"}, "a silence of 0s silences nothing"),
        ({"scope": "all", "duration": "1h", "reason": "  "}, "a silence needs a reason"),
    ],
)
async def test_a_wrong_silence_form_is_shown_again_with_the_reason(
    logged_in: Admin, fields: dict[str, str], message: str
) -> None:
    response = await logged_in.press("Add silence", on="/admin/silences", **fields)
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{fields["duration"]}"' in response.text  # what was typed stays
    assert await list_silences(logged_in.scenario.db, at=logged_in.scenario.now) == []


async def test_ending_a_silence_needs_the_csrf_token(logged_in: Admin) -> None:
    await logged_in.press(
        "Add silence", on="/admin/silences", scope="all", duration="1h", reason="deploy"
    )
    [silence] = await list_silences(logged_in.scenario.db, at=logged_in.scenario.now)
    refused = await logged_in.client.post(f"/admin/silences/{silence.id}/end", data={})
    assert refused.status_code == 403
    assert await list_silences(logged_in.scenario.db, at=logged_in.scenario.now) == [silence]
    forged_add = await logged_in.client.post(
        "/admin/silences", data={"scope": "all", "duration": "1h", "reason": "x"}
    )
    assert forged_add.status_code == 403
    assert len(await list_silences(logged_in.scenario.db, at=logged_in.scenario.now)) == 1


# --- probes --------------------------------------------------------------------------------------


def probes_yaml(url: str) -> str:
    return f"""
probes:
  - name: login
    request: {{url: "{url}"}}
    conditions: ["[STATUS] == 200", "[BODY].ok == true"]
  - {{name: signup, description: "Sign up a throwaway account", request: {{url: "{url}"}}}}
"""


async def test_the_probes_page_shows_the_failing_conditions_and_a_sparkline(
    logged_in: Admin, httpserver: HTTPServer
) -> None:
    scenario = logged_in.scenario
    scenario.config = config_of(PEOPLE, THREE_LEVELS, probes_yaml(httpserver.url_for("/login")))
    [login, _] = scenario.config.probes
    records = []
    httpserver.expect_request("/login").respond_with_json({"ok": True})
    for _ in range(4):
        run = await run_probe(login, clock=scenario.clock)
        records.append(ResultRecord.from_run(run, due_at=run.started_at))
        scenario.clock.advance(timedelta(seconds=30))
    httpserver.clear()
    httpserver.expect_request("/login").respond_with_json({"ok": False}, status=503)
    failed = await run_probe(login, clock=scenario.clock)
    records.append(ResultRecord.from_run(failed, due_at=failed.started_at))
    await insert_results(
        scenario.db, records, await ensure_probes(scenario.db, ["login"], now=scenario.now)
    )

    html = await logged_in.page("/admin/probes")

    login_section, signup_section = html.split('id="probe-signup"')
    assert "failing</span>" in login_section
    assert '<code class="condition">[STATUS] == 200</code> → ' in login_section
    assert '<code class="resolved">[STATUS] (503) == 200</code>' in login_section
    assert '<code class="resolved">[BODY].ok (false) == true</code>' in login_section
    assert "5, 1 failed" in login_section
    [svg] = re.findall(r"<svg class=\"spark\".*?</svg>", login_section, flags=re.S)
    [points] = re.findall(r'<polyline points="([^"]+)"', svg)
    assert len(points.split()) == 5
    assert svg.count("<circle") == 1  # the failed run
    assert 'aria-label="duration of the last 5 runs: ' in svg and ", 1 failed" in svg
    # The other probe never ran.
    assert "no runs yet" in signup_section and "Sign up a throwaway account" in signup_section
    assert "<svg" not in signup_section


async def test_latest_results_are_the_newest_of_each_probe_in_one_query(
    logged_in: Admin,
) -> None:
    scenario = logged_in.scenario
    ids = await ensure_probes(scenario.db, ["busy", "quiet"], now=scenario.now)
    start = scenario.now

    def record(probe: str, second: int) -> ResultRecord:
        at = start + timedelta(seconds=second)
        return ResultRecord(
            probe=probe,
            location="local",
            due_at=at,
            started_at=at,
            duration_ms=float(second),
            ok=True,
            status=200,
        )

    await insert_results(
        scenario.db,
        [record("busy", second) for second in range(40)]
        + [record("quiet", second) for second in range(3)],
        ids,
    )

    found = await recent_results_per_probe(scenario.db, ["busy", "quiet", "never"], limit=30)

    assert [r.duration_ms for r in found["busy"]] == list(range(39, 9, -1))
    assert [r.duration_ms for r in found["quiet"]] == [2, 1, 0]
    assert found["never"] == []
