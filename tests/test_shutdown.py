"""SIGTERM during load, on SQLite and PostgreSQL: `monitor run` with 60 probes running every
second against a real, slowish HTTP server exits within 10 s, and every result it took is in
the database (its own count, the database's count and what the target served agree)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from pytest_httpserver import HTTPServer
from test_run import Process, environment, monitor_command, process_reaper, run_cli
from werkzeug import Request, Response

__all__ = ["process_reaper"]  # the fixture

PROBES = 60


def slow(request: Request) -> Response:
    time.sleep(0.05)  # runs overlap and are in flight when the signal comes
    return Response("ok")


def test_sigterm_under_load_exits_within_10s_with_no_result_lost(
    tmp_path: Path, database_url: str, httpserver: HTTPServer, process_reaper: list[Process]
) -> None:
    httpserver.expect_request("/ping").respond_with_handler(slow)
    url = httpserver.url_for("/ping")
    config = tmp_path / "load.yaml"
    config.write_text(
        "probes:\n"
        + "".join(
            f'  - {{name: p{n:02d}, interval: 1s, timeout: 900ms, request: {{url: "{url}"}}}}\n'
            for n in range(PROBES)
        )
    )
    env = environment(httpserver.url_for(""), database_url)
    process = Process(monitor_command("run", str(config), "--summary-every", "0s"), env)
    process_reaper.append(process)
    process.wait_for_line("web: status page")
    deadline = time.monotonic() + 30
    while len(httpserver.log) < 4 * PROBES:
        assert time.monotonic() < deadline, "the probes are not running"
        time.sleep(0.05)

    stopping = time.monotonic()
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=15) == 0
    took = time.monotonic() - stopping

    print(f"stopped {took:.1f} s after SIGTERM")  # the figure for the notes (pytest -s)
    assert took < 10, f"took {took:.1f} s to stop"
    stopped = process.wait_for_line("stopped: ")
    taken = int(stopped.split("stopped: ", 1)[1].split()[0])
    assert f"{taken} results taken, {taken} stored, 0 not written" in stopped
    counted = run_cli(env, "results", "--since", "1h", "--limit", "100000", "--json")
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.count('"probe":') == taken
    # Every request the target answered is a result (none cut off and forgotten).
    assert taken >= len(httpserver.log)
