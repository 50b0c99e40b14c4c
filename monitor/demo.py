"""`monitor demo`: the example API as a real process, and the example probes run against it."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import monitor

READY_PREFIX = "demo_api listening on "
DEMO_EMAIL = "probe@example.com"
DEMO_PASSWORD = "probe-password"


class DemoError(RuntimeError):
    pass


def find_examples(given: Path | None) -> Path:
    """The examples directory: as given, else `./examples`, else the one beside the package
    (an editable install from a clone)."""
    candidates = (
        [given]
        if given is not None
        else [Path("examples"), Path(monitor.__file__).resolve().parents[1] / "examples"]
    )
    for candidate in candidates:
        if candidate is not None and (candidate / "demo_api" / "__init__.py").is_file():
            return candidate
    raise DemoError(
        "cannot find examples/demo_api: run from the repository root or pass --examples PATH"
    )


@contextmanager
def running_demo_api(
    examples: Path, *, faults: Mapping[str, str] | None = None, startup_timeout: float = 30.0
) -> Iterator[str]:
    """Start the demo API on a free port in its own process; yield its base URL."""
    env = dict(os.environ)
    paths = [str(examples.resolve()), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    env.update(faults or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "demo_api", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    # A reader thread, not select(): text-mode readline buffers lines that select cannot see.
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process, lines), daemon=True).start()
    try:
        yield _wait_for_url(lines, startup_timeout)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_lines(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    # Reads until the process ends, so a full pipe can never block the API.
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line.rstrip())
    lines.put(None)


def _wait_for_url(lines: queue.Queue[str | None], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break  # the process ended
        if line.startswith(READY_PREFIX):
            return line.removeprefix(READY_PREFIX).strip()
        seen.append(line)
    output = "\n".join(seen[-20:])
    raise DemoError(f"the demo API did not start within {timeout:.0f}s:\n{output}")


def demo_environment(api_base: str) -> dict[str, str]:
    """The variables examples/probes.yaml reads, pointing at the demo API and its probe account."""
    return {
        **os.environ,
        "API_BASE": api_base,
        "PROBE_EMAIL": DEMO_EMAIL,
        "PROBE_PASSWORD": DEMO_PASSWORD,
    }


def demo_instructions(api_base: str) -> str:
    faults = f"{api_base}/_admin/faults"
    return (
        "\nProbing every 30s; a line for every failed run and a summary every 15s.\n"
        "Cause an outage from another terminal and watch it show up:\n"
        f"  curl -X PUT {faults} -H 'content-type: application/json' -d '{{\"error_ratio\": 0.3}}'\n"
        f"  curl -X PUT {faults} -H 'content-type: application/json' -d '{{\"disk_full\": true}}'\n"
        f"  curl -X PUT {faults} -H 'content-type: application/json' "
        '-d \'{"error_ratio": 0, "disk_full": false}\'\n'
        "Stored results: .venv/bin/monitor results --failed   Stop: Ctrl-C"
    )
