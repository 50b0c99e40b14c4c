"""The `monitor` command run as a user runs it: a real process, exit codes and output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trustme
from conftest import DemoApiFactory
from demo_api import DemoSettings
from pytest_httpserver import HTTPServer
from tls_helpers import leaf, server_context
from werkzeug import Request, Response

from monitor.demo import DEMO_EMAIL, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def monitor(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("monitor")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def example_env(api_base: str) -> dict[str, str]:
    return {"API_BASE": api_base, "PROBE_EMAIL": DEMO_EMAIL, "PROBE_PASSWORD": DEMO_PASSWORD}


def test_help_lists_every_command() -> None:
    result = monitor("--help")
    assert result.returncode == 0
    for command in ("validate", "probe", "schema", "demo"):
        assert re.search(rf"│ {command}\s+\S", result.stdout), command


def test_validate_ok() -> None:
    result = monitor("validate", "examples/", env=example_env("http://127.0.0.1:9"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok: 3 probes, 10 steps in 2 files"


def test_validate_reports_five_mistakes_with_locations(tmp_path: Path) -> None:
    config = tmp_path / "probes.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            probes:
              - name: login
                intervall: 30s
                request: {url: "${UNSET_API_BASE}/login"}
                conditions: ["[STATUS]==200"]
              - name: signup
                request: {url: "http://127.0.0.1:9/", method: FETCH}
              - name: login
                request: {url: "http://127.0.0.1:9/"}
            """
        )
    )
    env_without = {k: v for k, v in os.environ.items() if k != "UNSET_API_BASE"}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "validate", str(config)],
        capture_output=True,
        text=True,
        env={**env_without, "COLUMNS": "200"},
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    located = [line for line in lines if line.startswith(f"{config}:")]
    assert [line.split(": ", 2)[:2] for line in located] == [
        [f"{config}:3:5", "probes[0].intervall"],
        [f"{config}:4:20", "probes[0].request.url"],
        [f"{config}:5:18", "probes[0].conditions[0]"],
        [f"{config}:7:51", "probes[1].request.method"],
        [f"{config}:8:11", "probes[2].name"],
    ]
    assert "did you mean `interval`?" in located[0]
    assert "UNSET_API_BASE is not set" in located[1]
    assert lines[-1] == f"5 errors in {config}"


def test_probe_prints_each_step_and_exits_0(demo_api_url: str) -> None:
    result = monitor("probe", "examples/", env=example_env(demo_api_url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^PASS  login  \d+ ms$", result.stdout, re.MULTILINE)
    assert re.search(
        r"^  PASS  sign in\s+200\s+\d+ ms  \(connect \d+ ms", result.stdout, re.MULTILINE
    )
    assert "  PASS  revoke share" in result.stdout


def test_probe_failure_shows_resolved_conditions_and_exits_1(
    demo_api_factory: DemoApiFactory,
) -> None:
    url = demo_api_factory(DemoSettings(disk_full=True))
    result = monitor("probe", "examples/", "--name", "sharing", env=example_env(url))
    assert result.returncode == 1
    assert "FAIL  sharing" in result.stdout
    assert re.search(r"^  FAIL  create share\s+507", result.stdout, re.MULTILINE)
    assert "        [STATUS] (507) == 201" in result.stdout
    assert "skipped: needs share_id from a step that did not succeed" in result.stdout


def test_probe_json_shape(demo_api_url: str) -> None:
    result = monitor(
        "probe",
        "examples/",
        "-n",
        "login",
        "-n",
        "signup",
        "--json",
        env=example_env(demo_api_url),
    )
    assert result.returncode == 0, result.stderr
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [run["probe"] for run in runs] == ["login", "signup"]
    for run in runs:
        assert {"probe", "ok", "duration_ms", "steps"} <= set(run)
        for step in run["steps"]:
            assert {"name", "ok", "status", "duration_ms", "error", "conditions"} <= set(step)
            for condition in step["conditions"]:
                assert set(condition) == {"condition", "ok", "resolved"}
    assert runs[0]["steps"][0]["conditions"][0] == {
        "condition": "[STATUS] == 200",
        "ok": True,
        "resolved": "[STATUS] (200) == 200",
    }


def test_probe_connection_refused_is_a_failure_not_a_crash() -> None:
    result = monitor("probe", "examples/", "-n", "login", env=example_env("http://127.0.0.1:1"))
    assert result.returncode == 1
    assert "error (connect_refused): connection refused by 127.0.0.1:1" in result.stdout


def test_probe_config_error_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("probes:\n  - name: x\n    request: {url: nope}\n")
    result = monitor("probe", str(config))
    assert result.returncode == 2
    assert (
        f"{config}:3:20: probes[0].request.url: url must start with http:// or https://"
        in result.stderr
    )


def test_probe_unknown_name_exits_2() -> None:
    result = monitor("probe", "examples/", "-n", "nope", env=example_env("http://127.0.0.1:9"))
    assert result.returncode == 2
    assert "no probe named 'nope' (known: login, signup, sharing)" in result.stderr


def test_schema_describes_the_config() -> None:
    result = monitor("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) == {
        "defaults",
        "probes",
        "maintenance",
        "people",
        "schedules",
        "policies",
        "messages",
        "channels",
        "retention",
        "self",
    }
    probe = schema["$defs"]["ProbeConfig"]
    assert {"name", "interval", "steps", "request", "alert"} <= set(probe["properties"])
    assert probe["additionalProperties"] is False
    request = schema["$defs"]["RequestConfig"]
    assert "json" in request["properties"]
    assert request["properties"]["timeout"]["anyOf"][0]["pattern"].startswith("^(")


def test_demo_runs_the_examples_against_the_example_api(tmp_path: Path) -> None:
    # Run from an unrelated directory: the demo finds the examples beside the package.
    result = monitor(
        "demo", "--once", "--database-url", f"sqlite:///{tmp_path}/demo.db", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Example API at http://127\.0\.0\.1:\d+", result.stdout)
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("PASS ")] == [
        "login",
        "signup",
        "sharing",
    ]


def test_demo_with_a_full_disk_shows_the_failures(tmp_path: Path) -> None:
    result = monitor(
        "demo", "--once", "--disk-full", "--database-url", f"sqlite:///{tmp_path}/demo.db"
    )
    assert result.returncode == 1
    assert re.search(r"^FAIL  signup .*\[STATUS\] \(507\) == 201", result.stdout, re.MULTILINE)
    assert re.search(r"^PASS  login ", result.stdout, re.MULTILINE)


def test_probe_of_a_tls_target_reports_the_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    server = HTTPServer(ssl_context=server_context(leaf(ca, not_after=not_after)))
    server.expect_request("/health").respond_with_json({"status": "ok"})
    server.start()
    try:
        config = tmp_path / "tls.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                probes:
                  - name: unverified
                    request: {{url: "{server.url_for("/health")}", verify: false}}
                    conditions: ["[STATUS] == 200", "[CERTIFICATE_EXPIRATION] > 48h"]
                  - name: verified
                    request: {{url: "{server.url_for("/health")}"}}
                """
            )
        )
        text = monitor("probe", str(config))
        as_json = monitor("probe", str(config), "--json")
    finally:
        server.stop()
    assert text.returncode == 1
    assert re.search(r"PASS  unverified\s+200 .*certificate expires in (19|20) days", text.stdout)
    assert "error (tls): TLS: certificate verify failed" in text.stdout
    runs = {run["probe"]: run for run in map(json.loads, as_json.stdout.splitlines())}
    step = runs["unverified"]["steps"][0]
    assert datetime.fromisoformat(step["certificate_expires_at"]) == not_after
    assert step["ip"] == "127.0.0.1"
    assert runs["verified"]["steps"][0]["error"]["kind"] == "tls"


def test_probe_output_never_shows_secrets(tmp_path: Path, httpserver: HTTPServer) -> None:
    # A target that echoes the request back, credentials included.
    def echo(request: Request) -> Response:
        return Response(
            json.dumps(
                {"you_sent": request.get_json(), "auth": request.headers.get("Authorization")}
            ),
            content_type="application/json",
        )

    httpserver.expect_request("/login").respond_with_handler(echo)
    config = tmp_path / "p.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            probes:
              - name: login
                request:
                  method: POST
                  url: ${API_BASE}/login
                  headers: {Authorization: "Basic ${API_KEY}"}
                  json: {email: me@example.com, password: "${PROBE_PASSWORD}"}
                conditions: ["[BODY] == nothing", "[BODY].auth == nothing"]
            """
        )
    )
    env = {
        "API_BASE": httpserver.url_for("").rstrip("/"),
        "PROBE_PASSWORD": "pw-8c1f-secret",
        "API_KEY": "key-77aa",
    }
    text = monitor("probe", str(config), env=env)
    as_json = monitor("probe", str(config), "--json", env=env)
    assert text.returncode == as_json.returncode == 1
    for output in (text.stdout + text.stderr, as_json.stdout + as_json.stderr):
        assert "pw-8c1f-secret" not in output and "key-77aa" not in output
        assert "${PROBE_PASSWORD}" in output
    assert "[BODY].auth ([REDACTED]) == nothing" in text.stdout


def test_a_config_without_probes(tmp_path: Path) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text("defaults: {interval: 1m}\nprobes:\n")
    validated = monitor("validate", str(config))
    assert validated.returncode == 0
    assert validated.stderr.strip() == "warning: no probes are defined"
    probed = monitor("probe", str(config))
    assert probed.returncode == 2
    assert probed.stderr.strip() == f"error: no probes to run in {config}"


def test_demo_keeps_monitoring_until_interrupted(tmp_path: Path) -> None:
    # The README's first command: it keeps running (the outage it stages is a minute away), says
    # where the phones are, and Ctrl-C stops everything it started.
    script = Path(sys.executable).with_name("monitor")
    process = subprocess.Popen(
        [str(script), "demo", "--database-url", f"sqlite:///{tmp_path}/demo.db"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # ends when the process does: no fixed sleep
            seen.append(line)
            if line.startswith("Once someone acknowledges"):
                break
        output = "".join(seen)
        assert re.search(r"^PASS  login ", output, re.MULTILINE), output
        api = re.search(r"^Example API at (http://\S+) ", output, re.MULTILINE)
        phones = re.search(r"^The phones: +(http://\S+)/ ", output, re.MULTILINE)
        assert api and phones, output
        assert f"Alice Meyer  {phones[1]}/phone/%2B4915110000001" in output
        assert "In 1m the demo breaks the example API." in output
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        rest = process.stdout.read()
        assert re.search(r"^stopped: (\d+) results taken, \1 stored, 0 not written$", rest, re.M)
        for url in (api[1], phones[1]):  # the example API's process and the sandbox are gone
            with pytest.raises(httpx.ConnectError):
                httpx.get(url, timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_bad_setting_in_the_environment_is_named() -> None:
    result = monitor("results", env={"MONITOR_MAX_CONCURRENCY": "abc"})
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: MONITOR_MAX_CONCURRENCY: Input should be a valid integer"
    )
