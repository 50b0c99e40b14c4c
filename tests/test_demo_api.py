"""The demo API over real HTTP: the user journey the probes follow and each fault mode.

Every test talks to a real uvicorn server on 127.0.0.1 (see `monitor.testing.serve_asgi`), the
way the monitor's probes will.
"""

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from demo_api import DemoSettings, DemoSettingsError

DemoApiFactory = Callable[[DemoSettings], str]

REPO_ROOT = Path(__file__).resolve().parents[1]
PROBE_EMAIL = "probe@example.com"
PROBE_PASSWORD = "probe-password"


# helpers -----------------------------------------------------------------------------------


def login(url: str, email: str = PROBE_EMAIL, password: str = PROBE_PASSWORD) -> str:
    response = httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    assert isinstance(token, str)
    return token


def signup(url: str, email: str, password: str = "correct horse") -> None:
    response = httpx.post(f"{url}/api/v1/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text


def bearer_client(url: str, token: str) -> httpx.Client:
    """A client that authenticates by header only: it starts with an empty cookie jar."""
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})


def cookie_client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, cookies={"session": token})


def set_faults(url: str, **changes: Any) -> dict[str, Any]:
    response = httpx.put(f"{url}/_admin/faults", json=changes)
    assert response.status_code == 200, response.text
    faults: dict[str, Any] = response.json()
    return faults


def share_names(client: httpx.Client) -> list[str]:
    response = client.get("/api/v1/shares")
    assert response.status_code == 200, response.text
    return [share["name"] for share in response.json()["shares"]]


# the user journey --------------------------------------------------------------------------


def test_healthz_answers_200(demo_api_url: str) -> None:
    response = httpx.get(f"{demo_api_url}/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_signup_rejects_duplicates_and_invalid_input(demo_api_url: str) -> None:
    url = f"{demo_api_url}/api/v1/auth/signup"

    created = httpx.post(url, json={"email": "Ada@Example.com", "password": "long enough"})
    assert created.status_code == 201
    assert created.json()["email"] == "ada@example.com"
    assert created.json()["id"]

    # Emails are compared case-insensitively, as users type them.
    again = httpx.post(url, json={"email": "ada@example.com", "password": "long enough"})
    assert again.status_code == 409
    bad_email = httpx.post(url, json={"email": "not-an-email", "password": "long enough"})
    assert bad_email.status_code == 422
    short_password = httpx.post(url, json={"email": "bob@example.com", "password": "short"})
    assert short_password.status_code == 422
    missing = httpx.post(url, json={"email": "bob@example.com"})
    assert missing.status_code == 422


def test_full_user_journey(demo_api_url: str) -> None:
    url = demo_api_url
    signup(url, "grace@example.com", "hopper-1906")

    wrong = httpx.post(
        f"{url}/api/v1/auth/login", json={"email": "grace@example.com", "password": "nope nope"}
    )
    assert wrong.status_code == 401

    with httpx.Client(base_url=url) as browser:
        response = browser.post(
            "/api/v1/auth/login", json={"email": "grace@example.com", "password": "hopper-1906"}
        )
        assert response.status_code == 200
        token = response.json()["token"]
        # The same session is offered as a cookie, for clients that keep a cookie jar.
        assert browser.cookies.get("session") == token

    with bearer_client(url, token) as api:
        assert share_names(api) == []
        created = api.post("/api/v1/shares", json={"name": "holiday photos"})
        assert created.status_code == 201
        share = created.json()
        assert share["name"] == "holiday photos"
        assert share["id"]

    with cookie_client(url, token) as browser:
        assert share_names(browser) == ["holiday photos"]

    assert httpx.get(f"{url}/api/v1/shares").status_code == 401

    with bearer_client(url, token) as api:
        assert api.delete(f"/api/v1/shares/{share['id']}").status_code == 204
        assert api.delete(f"/api/v1/shares/{share['id']}").status_code == 404
        assert share_names(api) == []

        logout = api.post("/api/v1/auth/logout")
        assert logout.status_code == 204
        assert api.get("/api/v1/shares").status_code == 401
    with cookie_client(url, token) as browser:
        assert browser.get("/api/v1/shares").status_code == 401

    token = login(url, "grace@example.com", "hopper-1906")
    with bearer_client(url, token) as api:
        api.post("/api/v1/shares", json={"name": "left behind"}).raise_for_status()
        assert api.delete("/api/v1/account").status_code == 204
        assert api.get("/api/v1/shares").status_code == 401

    gone = httpx.post(
        f"{url}/api/v1/auth/login", json={"email": "grace@example.com", "password": "hopper-1906"}
    )
    assert gone.status_code == 401
    # The email is free again, and the deleted account's shares did not survive.
    signup(url, "grace@example.com", "hopper-1906")
    with bearer_client(url, login(url, "grace@example.com", "hopper-1906")) as api:
        assert share_names(api) == []


def test_cookie_logout_clears_the_cookie(demo_api_url: str) -> None:
    with httpx.Client(base_url=demo_api_url) as browser:
        browser.post(
            "/api/v1/auth/login", json={"email": PROBE_EMAIL, "password": PROBE_PASSWORD}
        ).raise_for_status()
        assert browser.get("/api/v1/shares").status_code == 200

        assert browser.post("/api/v1/auth/logout").status_code == 204

        assert "session" not in browser.cookies
        assert browser.get("/api/v1/shares").status_code == 401


def test_logout_without_a_session_is_still_204(demo_api_url: str) -> None:
    assert httpx.post(f"{demo_api_url}/api/v1/auth/logout").status_code == 204


def test_a_wrong_bearer_token_is_not_rescued_by_the_cookie(demo_api_url: str) -> None:
    token = login(demo_api_url)
    with httpx.Client(
        base_url=demo_api_url,
        cookies={"session": token},
        headers={"Authorization": "Bearer not-a-token"},
    ) as client:
        assert client.get("/api/v1/shares").status_code == 401


def test_users_cannot_see_or_revoke_each_others_shares(demo_api_url: str) -> None:
    signup(demo_api_url, "mallory@example.com")
    with (
        bearer_client(demo_api_url, login(demo_api_url)) as owner,
        bearer_client(
            demo_api_url, login(demo_api_url, "mallory@example.com", "correct horse")
        ) as other,
    ):
        share = owner.post("/api/v1/shares", json={"name": "private"}).json()

        assert share_names(other) == []
        assert other.delete(f"/api/v1/shares/{share['id']}").status_code == 404
        assert share_names(owner) == ["private"]


def test_groups_and_members(demo_api_url: str) -> None:
    signup(demo_api_url, "member@example.com")
    with (
        bearer_client(demo_api_url, login(demo_api_url)) as owner,
        bearer_client(
            demo_api_url, login(demo_api_url, "member@example.com", "correct horse")
        ) as member,
    ):
        created = owner.post("/api/v1/groups", json={"name": "family"})
        assert created.status_code == 201
        group = created.json()
        assert group["members"] == [PROBE_EMAIL]
        assert member.get("/api/v1/groups").json() == {"groups": []}
        assert member.get(f"/api/v1/groups/{group['id']}").status_code == 404

        added = owner.post(
            f"/api/v1/groups/{group['id']}/members", json={"email": "member@example.com"}
        )
        assert added.status_code == 201
        assert added.json()["members"] == [PROBE_EMAIL, "member@example.com"]

        assert [g["name"] for g in member.get("/api/v1/groups").json()["groups"]] == ["family"]
        not_owner = member.post(
            f"/api/v1/groups/{group['id']}/members", json={"email": PROBE_EMAIL}
        )
        assert not_owner.status_code == 403
        unknown = owner.post(
            f"/api/v1/groups/{group['id']}/members", json={"email": "nobody@example.com"}
        )
        assert unknown.status_code == 404


def test_the_probe_account_comes_from_settings(demo_api_factory: DemoApiFactory) -> None:
    url = demo_api_factory(DemoSettings(user_email="ops@corp.example", user_password="s3cret-pw"))

    assert login(url, "ops@corp.example", "s3cret-pw")
    wrong = httpx.post(
        f"{url}/api/v1/auth/login", json={"email": PROBE_EMAIL, "password": PROBE_PASSWORD}
    )
    assert wrong.status_code == 401


# faults ------------------------------------------------------------------------------------


def test_error_ratio_one_fails_every_api_request_but_not_health_or_admin(
    demo_api_factory: DemoApiFactory,
) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=1.0))

    responses = [httpx.get(f"{url}/api/v1/shares") for _ in range(20)]
    responses.append(httpx.post(f"{url}/api/v1/auth/login", json={}))
    responses.append(httpx.get(f"{url}/api/v1/no-such-route"))

    assert [r.status_code for r in responses] == [503] * len(responses)
    assert responses[0].headers["x-demo-fault"] == "error_ratio"
    assert "503" in responses[0].text
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/_admin/faults").json()["error_ratio"] == 1.0


def test_error_ratio_zero_fails_nothing(demo_api_factory: DemoApiFactory) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=0.0, seed=1))

    with bearer_client(url, login(url)) as api:
        statuses = [api.get("/api/v1/shares").status_code for _ in range(100)]

    assert statuses == [200] * 100


def _outcomes(url: str, *, ratio: float, requests: int) -> list[int]:
    """Status codes of `requests` authenticated reads after setting the error ratio."""
    with bearer_client(url, login(url)) as api:
        set_faults(url, error_ratio=ratio)
        return [api.get("/api/v1/shares").status_code for _ in range(requests)]


def test_error_ratio_fails_about_that_share_of_requests(demo_api_factory: DemoApiFactory) -> None:
    url = demo_api_factory(DemoSettings(seed=1234))

    statuses = _outcomes(url, ratio=0.3, requests=300)

    assert set(statuses) == {200, 503}
    assert 0.2 <= statuses.count(503) / len(statuses) <= 0.4


def test_the_seed_makes_failures_reproducible(demo_api_factory: DemoApiFactory) -> None:
    first = _outcomes(demo_api_factory(DemoSettings(seed=7)), ratio=0.5, requests=60)
    second = _outcomes(demo_api_factory(DemoSettings(seed=7)), ratio=0.5, requests=60)

    assert first == second
    assert 503 in first
    assert 200 in first


def test_latency_delays_api_answers_by_at_least_the_setting(
    demo_api_factory: DemoApiFactory,
) -> None:
    url = demo_api_factory(DemoSettings(latency_ms=300))

    with httpx.Client(base_url=url) as client:
        started = time.perf_counter()
        response = client.get("/api/v1/shares")
        elapsed = time.perf_counter() - started

    assert response.status_code == 401  # delayed, then answered normally
    assert elapsed >= 0.3


def test_a_full_disk_fails_writes_but_not_reads_or_sessions(
    demo_api_factory: DemoApiFactory,
) -> None:
    url = demo_api_factory(DemoSettings(disk_full=True))
    token = login(url)  # the probe account was on disk before it filled up

    with bearer_client(url, token) as api:
        assert api.get("/api/v1/shares").status_code == 200
        assert api.get("/api/v1/groups").status_code == 200
        refused = api.post("/api/v1/shares", json={"name": "report.pdf"})
        assert refused.status_code == 507
        assert refused.headers["x-demo-fault"] == "disk_full"
        assert api.post("/api/v1/groups", json={"name": "team"}).status_code == 507
        signup_refused = httpx.post(
            f"{url}/api/v1/auth/signup", json={"email": "new@example.com", "password": "12345678"}
        )
        assert signup_refused.status_code == 507

        # A share written before the disk filled up cannot be revoked while it is full.
        set_faults(url, disk_full=False)
        share = api.post("/api/v1/shares", json={"name": "report.pdf"}).json()
        set_faults(url, disk_full=True)
        assert api.delete(f"/api/v1/shares/{share['id']}").status_code == 507
        assert api.delete("/api/v1/account").status_code == 507
        assert share_names(api) == ["report.pdf"]

        # Sessions live in memory: logging out (and in again) still works.
        assert api.post("/api/v1/auth/logout").status_code == 204
        assert api.get("/api/v1/shares").status_code == 401
    assert login(url)


def test_fault_changes_take_effect_on_the_next_request(demo_api_url: str) -> None:
    with bearer_client(demo_api_url, login(demo_api_url)) as api:
        assert api.get("/api/v1/shares").status_code == 200

        set_faults(demo_api_url, error_ratio=1.0)
        assert api.get("/api/v1/shares").status_code == 503

        set_faults(demo_api_url, error_ratio=0.0)
        assert api.get("/api/v1/shares").status_code == 200

        set_faults(demo_api_url, disk_full=True)
        assert api.post("/api/v1/shares", json={"name": "x"}).status_code == 507


def test_fault_updates_are_partial(demo_api_factory: DemoApiFactory) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=0.25, latency_ms=5))

    assert set_faults(url, disk_full=True) == {
        "error_ratio": 0.25,
        "latency_ms": 5,
        "disk_full": True,
    }
    assert set_faults(url, latency_ms=0) == {
        "error_ratio": 0.25,
        "latency_ms": 0,
        "disk_full": True,
    }
    assert httpx.get(f"{url}/_admin/faults").json() == {
        "error_ratio": 0.25,
        "latency_ms": 0,
        "disk_full": True,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"error_ratio": 1.5},
        {"error_ratio": -0.1},
        {"error_ratio": "0.5"},
        {"latency_ms": -1},
        {"latency_ms": 2.5},
        {"latency_ms": 600_001},
        {"disk_full": "yes"},
        {"disk_full": 1},
        {"error_rate": 0.5},  # a typo must not be silently ignored
        {"error_ratio": 0.5, "latency_ms": -1},  # all or nothing
    ],
)
def test_invalid_fault_values_are_rejected(demo_api_url: str, body: dict[str, Any]) -> None:
    before = httpx.get(f"{demo_api_url}/_admin/faults").json()

    response = httpx.put(f"{demo_api_url}/_admin/faults", json=body)

    assert response.status_code == 422
    assert httpx.get(f"{demo_api_url}/_admin/faults").json() == before


# settings from the environment -------------------------------------------------------------


def test_settings_are_read_from_demo_env_vars() -> None:
    settings = DemoSettings.from_env(
        {
            "DEMO_ERROR_RATIO": "0.3",
            "DEMO_LATENCY_MS": "250",
            "DEMO_DISK_FULL": "true",
            "DEMO_SEED": "42",
            "DEMO_USER_EMAIL": "Ops@Corp.example",
            "DEMO_USER_PASSWORD": "hunter2hunter2",
            "DEMO_SEED_UNRELATED": "ignored",
            "DEMO_LATENCY": "",
        }
    )

    assert settings == DemoSettings(
        error_ratio=0.3,
        latency_ms=250,
        disk_full=True,
        seed=42,
        user_email="ops@corp.example",
        user_password="hunter2hunter2",
    )
    assert DemoSettings.from_env({"DEMO_DISK_FULL": "", "DEMO_SEED": " "}) == DemoSettings()


def test_unknown_demo_env_vars_are_listed_for_a_warning() -> None:
    environ = {"DEMO_ERROR_RATE": "0.3", "DEMO_SEED": "1", "HOME": "/root"}

    assert DemoSettings.unknown_env(environ) == ["DEMO_ERROR_RATE"]


def test_invalid_env_vars_are_named_in_the_error() -> None:
    with pytest.raises(DemoSettingsError) as caught:
        DemoSettings.from_env(
            {"DEMO_ERROR_RATIO": "1.5", "DEMO_DISK_FULL": "maybe", "DEMO_USER_EMAIL": "nope"}
        )

    message = str(caught.value)
    assert "DEMO_ERROR_RATIO='1.5'" in message
    assert "DEMO_DISK_FULL='maybe'" in message
    assert "DEMO_USER_EMAIL='nope'" in message
    assert len(caught.value.problems) == 3


# python -m demo_api ------------------------------------------------------------------------


def _demo_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
    return {**env, "PYTHONPATH": "examples", **extra}


@pytest.fixture
def demo_process() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts `python -m demo_api ARGS` from the repo root; kills what is left at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo_api", *args],
            cwd=REPO_ROOT,
            env=env or _demo_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _read_stdout_line(process: subprocess.Popen[str], *, prefix: str, timeout: float) -> str | None:
    """The first stdout line starting with `prefix`, waiting at most `timeout` seconds.

    A reader thread, because a pipe's readline cannot time out; None if the process exits
    or the deadline passes first.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            return None
        if line is None:
            return None
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    return None


def test_python_m_demo_api_serves_on_the_port_it_prints(
    demo_process: Callable[..., subprocess.Popen[str]],
) -> None:
    process = demo_process("--host", "127.0.0.1", "--port", "0")

    url = _read_stdout_line(process, prefix="demo_api listening on ", timeout=20)

    assert url is not None, f"no URL printed; exit code {process.poll()}"
    assert url.startswith("http://127.0.0.1:")
    assert not url.endswith(":0")
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert login(url)

    process.terminate()
    process.wait(timeout=10)


def test_python_m_demo_api_refuses_bad_env_vars(
    demo_process: Callable[..., subprocess.Popen[str]],
) -> None:
    process = demo_process("--port", "0", env=_demo_env(DEMO_ERROR_RATIO="2"))

    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 2
    assert "DEMO_ERROR_RATIO='2'" in stderr
