"""`monitor demo`: the example API as a real process, and the example probes run against it."""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

import monitor

READY_PREFIX = "demo_api listening on "
DEMO_EMAIL = "probe@example.com"
DEMO_PASSWORD = "probe-password"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
        # Its own session: a Ctrl-C in the terminal reaches the demo alone, which stops the
        # monitor first and the API last (probes in flight must not see it go away).
        start_new_session=True,
        preexec_fn=_end_with(os.getpid()) if sys.platform == "linux" else None,
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


def _end_with(parent: int) -> Callable[[], None]:
    """What the API's process runs before the API starts: from then on the kernel sends it
    SIGTERM when the demo's process ends, however it ends. Without it, a demo killed outright
    (SIGKILL, or a signal after its handlers are gone) leaves the API running, holding its port.
    """

    # Looked up here, not in the child: between fork and exec only the simplest calls are safe.
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def end_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the demo ended before the line above took effect
            os._exit(1)

    return end_with_parent


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


def fresh_database_url() -> str:
    """SQLite in a new temporary directory: the demo never touches a monitor's real database,
    and each run starts with no incidents. Left in place, so it can be explored afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    return f"sqlite+aiosqlite:///{directory / 'demo.db'}"


def demo_environment(api_base: str) -> dict[str, str]:
    """The variables examples/probes.yaml reads, pointing at the demo API and its probe account."""
    return {
        **os.environ,
        "API_BASE": api_base,
        "PROBE_EMAIL": DEMO_EMAIL,
        "PROBE_PASSWORD": DEMO_PASSWORD,
    }


async def set_faults(api_base: str, *, error_ratio: float, disk_full: bool) -> None:
    """Change the running demo API's faults (`PUT /_admin/faults`); raises `DemoError`."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.put(
                f"{api_base}/_admin/faults",
                json={"error_ratio": error_ratio, "disk_full": disk_full},
            )
            response.raise_for_status()
    except httpx.HTTPError as error:
        raise DemoError(f"could not change the demo API's faults: {error}") from error


def fault_commands(api_base: str) -> list[str]:
    """The curl commands that break and repair the demo API by hand."""
    faults = f"{api_base}/_admin/faults"
    put = f"curl -X PUT {faults} -H 'content-type: application/json' -d"
    return [
        f"{put} '{{\"error_ratio\": 0.3}}'",
        f"{put} '{{\"disk_full\": true}}'",
        f'{put} \'{{"error_ratio": 0, "disk_full": false}}\'',
    ]
