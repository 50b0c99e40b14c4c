"""Multi-step flows against real HTTP servers: values carried between steps, cleanup, cookies,
and no secret in what a run reports."""

from __future__ import annotations

import json
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.clock import SystemClock
from monitor.config.models import ProbeConfig
from monitor.probing.errors import ErrorKind
from monitor.probing.flow import RunResult, run_probe


def probe(**fields: Any) -> ProbeConfig:
    return ProbeConfig.model_validate({"name": "flow", **fields})


async def run(config: ProbeConfig, env: dict[str, str] | None = None) -> RunResult:
    return await run_probe(config, clock=SystemClock(), env_values=env)


async def test_extracted_values_reach_later_steps(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/login", method="POST", json={"user": "ann"}).respond_with_json(
        {"token": "tok-123", "profile": {"id": 7}}, headers={"X-Request-Id": "req-9"}
    )
    httpserver.expect_request(
        "/items/7", headers={"Authorization": "Bearer tok-123", "X-Trace": "req-9"}
    ).respond_with_json({"items": [1, 2, 3]})
    config = probe(
        steps=[
            {
                "name": "login",
                "request": {
                    "method": "POST",
                    "url": httpserver.url_for("/login"),
                    "json": {"user": "ann"},
                },
                "extract": {
                    "token": "[BODY].token",
                    "user_id": "[BODY].profile.id",
                    "trace": "[HEADERS].X-Request-Id",
                },
            },
            {
                "name": "items",
                "request": {
                    "url": httpserver.url_for("/items/{{ user_id }}"),
                    "headers": {"Authorization": "Bearer {{ token }}", "X-Trace": "{{ trace }}"},
                },
                "conditions": ["[STATUS] == 200", "len([BODY].items) == 3"],
            },
        ]
    )
    result = await run(config)
    assert result.ok, result.summary()
    assert [s.status for s in result.steps] == [200, 200]
    assert len(httpserver.log) == 2


async def test_failed_step_stops_the_run_but_cleanup_runs(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/signup", method="POST").respond_with_json(
        {"id": "u1", "token": "t1"}, status=201
    )
    httpserver.expect_request("/shares", method="POST").respond_with_data("disk full", status=507)
    httpserver.expect_request("/shares", method="GET").respond_with_json({"shares": []})
    httpserver.expect_request(
        "/account", method="DELETE", headers={"Authorization": "Bearer t1"}
    ).respond_with_data("", status=204)
    config = probe(
        steps=[
            {
                "name": "signup",
                "request": {"method": "POST", "url": httpserver.url_for("/signup")},
                "conditions": ["[STATUS] == 201"],
                "extract": {"token": "[BODY].token"},
            },
            {
                "name": "share",
                "request": {"method": "POST", "url": httpserver.url_for("/shares")},
                "conditions": ["[STATUS] == 201"],
            },
            {"name": "list", "request": {"url": httpserver.url_for("/shares")}},
            {
                "name": "delete account",
                "always_run": True,
                "request": {
                    "method": "DELETE",
                    "url": httpserver.url_for("/account"),
                    "headers": {"Authorization": "Bearer {{ token }}"},
                },
                "conditions": ["[STATUS] == 204"],
            },
        ]
    )
    result = await run(config)
    assert not result.ok
    signup, share, listing, cleanup = result.steps
    assert signup.ok
    assert not share.ok and share.status == 507
    assert [c.resolved for c in share.failed_conditions] == ["[STATUS] (507) == 201"]
    assert listing.skipped and listing.skip_reason == "an earlier step failed"
    assert cleanup.ok and cleanup.status == 204
    # The list step never reached the server; the cleanup did.
    assert [(entry[0].method, entry[0].path) for entry in httpserver.log] == [
        ("POST", "/signup"),
        ("POST", "/shares"),
        ("DELETE", "/account"),
    ]
    assert result.summary() == "share: [STATUS] (507) == 201"


async def test_cleanup_is_skipped_when_its_values_never_came(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/login").respond_with_data("nope", status=503)
    config = probe(
        steps=[
            {
                "name": "login",
                "request": {"url": httpserver.url_for("/login")},
                "extract": {"token": "[BODY].token"},
            },
            {
                "name": "logout",
                "always_run": True,
                "request": {
                    "url": httpserver.url_for("/logout"),
                    "headers": {"Authorization": "Bearer {{ token }}"},
                },
            },
        ]
    )
    result = await run(config)
    login, logout = result.steps
    assert not login.ok
    assert logout.skipped and logout.skip_reason == "needs token from a step that did not succeed"
    assert len(httpserver.log) == 1


async def test_cookie_jar_is_shared_across_steps_and_extractable(httpserver: HTTPServer) -> None:
    def set_cookie(request: Request) -> Response:
        response = Response("ok")
        response.set_cookie("sid", "cookie-value-42", path="/")
        return response

    def need_cookie(request: Request) -> Response:
        if request.cookies.get("sid") != "cookie-value-42":
            return Response("no session", status=401)
        return Response(
            json.dumps({"echo": request.headers.get("X-Sid")}), content_type="application/json"
        )

    httpserver.expect_request("/login").respond_with_handler(set_cookie)
    httpserver.expect_request("/me").respond_with_handler(need_cookie)
    config = probe(
        steps=[
            {
                "name": "login",
                "request": {"url": httpserver.url_for("/login")},
                "extract": {"sid": "[COOKIES].sid"},
            },
            {
                "name": "me",
                "request": {"url": httpserver.url_for("/me"), "headers": {"X-Sid": "{{ sid }}"}},
                "conditions": ["[STATUS] == 200", "[BODY].echo == cookie"],
            },
        ]
    )
    result = await run(config)
    me = result.steps[1]
    assert me.status == 200
    # The session cookie is a credential: it never shows, even in a failed condition.
    assert [c.resolved for c in me.failed_conditions] == ["[BODY].echo ([REDACTED]) == cookie"]


async def test_missing_extract_path_fails_the_step(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/login").respond_with_json({"access": "x"})
    config = probe(
        steps=[
            {
                "name": "login",
                "request": {"url": httpserver.url_for("/login")},
                "extract": {"token": "[BODY].token"},
            }
        ]
    )
    result = await run(config)
    step = result.steps[0]
    assert not step.ok
    assert step.error is not None and step.error.kind == ErrorKind.EXTRACT
    assert step.error.message == "extract token: [BODY].token is missing from the response"


async def test_variables_and_helpers_render_once_per_run(httpserver: HTTPServer) -> None:
    seen: list[dict[str, Any]] = []

    def record(request: Request) -> Response:
        seen.append(request.get_json())
        return Response("{}", status=201, content_type="application/json")

    httpserver.expect_request("/signup").respond_with_handler(record)
    config = probe(
        variables={"email": "{{ random_email() }}", "run_id": "{{ uuid() }}"},
        steps=[
            {
                "name": "first",
                "request": {
                    "method": "POST",
                    "url": httpserver.url_for("/signup"),
                    "json": {"email": "{{ email }}", "run": "{{ run_id }}"},
                },
            },
            {
                "name": "again",
                "request": {
                    "method": "POST",
                    "url": httpserver.url_for("/signup"),
                    "json": {"email": "{{ email }}", "run": "{{ run_id }}"},
                },
            },
        ],
    )
    first_run = await run(config)
    second_run = await run(config)
    assert first_run.ok and second_run.ok
    assert seen[0] == seen[1] and seen[2] == seen[3]
    assert seen[0]["email"] != seen[2]["email"]
    assert seen[0]["email"].endswith("@example.com")
    assert len(seen[0]["run"]) == 36


async def test_secrets_never_appear_in_results(httpserver: HTTPServer) -> None:
    # A misbehaving API that echoes credentials back in its answers.
    def echo(request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        return Response(
            json.dumps(
                {
                    "password": body.get("password"),
                    "auth": request.headers.get("Authorization"),
                    "token": "tok-secret-1",
                }
            ),
            content_type="application/json",
        )

    httpserver.expect_request("/echo").respond_with_handler(echo)
    env = {"PROBE_PASSWORD": "env-pass-9876"}
    config = probe(
        steps=[
            {
                "name": "login",
                "request": {
                    "method": "POST",
                    "url": httpserver.url_for("/echo"),
                    "json": {"password": "env-pass-9876"},
                },
                "conditions": ["[BODY].password == x"],
            },
        ]
    )
    config_with_token = probe(
        steps=[
            {
                "name": "login",
                "request": {"url": httpserver.url_for("/echo")},
                "extract": {"token": "[BODY].token"},
            },
            {
                "name": "use",
                "request": {
                    "url": httpserver.url_for("/echo"),
                    "headers": {"Authorization": "Bearer {{ token }}"},
                },
                "conditions": ["[BODY].auth == x", "[BODY] == x"],
            },
        ]
    )
    first = await run(config, env)
    second = await run(config_with_token)
    text = json.dumps(first.to_json()) + json.dumps(second.to_json())
    assert "env-pass-9876" not in text
    assert "tok-secret-1" not in text
    assert (
        first.steps[0].failed_conditions[0].resolved == "[BODY].password (${PROBE_PASSWORD}) == x"
    )
    assert second.steps[1].failed_conditions[0].resolved == "[BODY].auth ([REDACTED]) == x"


async def test_short_form_probe_is_one_step(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/health").respond_with_json({"status": "degraded"})
    config = probe(
        request={"url": httpserver.url_for("/health")}, conditions=["[BODY].status == ok"]
    )
    result = await run(config)
    assert [s.name for s in result.steps] == ["flow"]
    assert result.summary() == "flow: [BODY].status (degraded) == ok"
    assert result.to_json()["steps"][0]["conditions"] == [
        {
            "condition": "[BODY].status == ok",
            "ok": False,
            "resolved": "[BODY].status (degraded) == ok",
        }
    ]


async def test_secret_query_parameters_are_redacted(httpserver: HTTPServer) -> None:
    def echo(request: Request) -> Response:
        return Response(
            json.dumps({"key": request.args.get("api_key")}), content_type="application/json"
        )

    httpserver.expect_request("/search").respond_with_handler(echo)
    config = probe(
        request={"url": httpserver.url_for("/search"), "query": {"api_key": "literal-key-777"}},
        conditions=["[BODY].key == other"],
    )
    result = await run(config)
    assert result.steps[0].failed_conditions[0].resolved == "[BODY].key ([REDACTED]) == other"


async def test_credentials_the_target_hands_out_never_show(httpserver: HTTPServer) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.SECRETPAYLOAD.signature"

    def login(request: Request) -> Response:
        response = Response(
            json.dumps({"token": token, "user": "ann"}), content_type="application/json"
        )
        response.set_cookie("session", "SESSIONSECRET1234", path="/")
        return response

    httpserver.expect_request("/login").respond_with_handler(login)
    config = probe(
        request={"url": httpserver.url_for("/login")},
        conditions=[
            "[BODY].token == x",  # no extract: the token is still a credential
            "[BODY].token == pat(x*)",  # pat() cuts long values: the cut must not leak a prefix
            "[HEADERS].Set-Cookie == x",
            "[BODY].user == bob",
        ],
    )
    result = await run(config)
    shown = [c.resolved for c in result.steps[0].failed_conditions]
    assert shown == [
        "[BODY].token ([REDACTED]) == x",
        "[BODY].token ([REDACTED]) == pat(x*)",
        "[HEADERS].Set-Cookie ([REDACTED]) == x",
        "[BODY].user (ann) == bob",
    ]
    text = json.dumps(result.to_json())
    assert "SECRETPAYLOAD" not in text and "SESSIONSECRET" not in text


async def test_secrets_echoed_back_json_escaped_never_show(httpserver: HTTPServer) -> None:
    # FastAPI's 422 answers echo the input: a password with quotes or accents comes back escaped.
    def validation_error(request: Request) -> Response:
        body = request.get_data(as_text=True)
        return Response(
            json.dumps({"detail": [{"input": body}]}), status=422, content_type="application/json"
        )

    httpserver.expect_request("/signup").respond_with_handler(validation_error)
    password = 'pa"ss\\wörd-42'
    config = probe(
        request={"method": "POST", "url": httpserver.url_for("/signup"), "json": {"pw": password}},
        conditions=["[BODY] == x"],
    )
    result = await run(config, env={"PW": password})
    shown = result.steps[0].failed_conditions[0].resolved
    assert "pa" not in shown.replace("[BODY]", "")
    assert "${PW}" in shown


async def test_extract_takes_present_values_even_when_a_condition_fails(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/signup").respond_with_json({"id": "u1"}, status=500)
    httpserver.expect_request("/users/u1", method="DELETE").respond_with_data("", status=204)
    config = probe(
        steps=[
            {
                "name": "signup",
                "request": {"url": httpserver.url_for("/signup")},
                "conditions": ["[STATUS] == 201"],
                "extract": {"user_id": "[BODY].id"},
            },
            {
                "name": "cleanup",
                "always_run": True,
                "request": {"method": "DELETE", "url": httpserver.url_for("/users/{{ user_id }}")},
            },
        ]
    )
    result = await run(config)
    assert not result.steps[0].ok
    assert result.steps[1].ok and result.steps[1].status == 204
