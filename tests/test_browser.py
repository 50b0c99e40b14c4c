"""The status page and the admin pages in a real browser: headless Chromium (Debian's package,
driven by Playwright; no browser is downloaded) against a real `monitor run` probing the example
API. Screenshots go to tests/artifacts/ (ignored by git) for a human to look at."""

from __future__ import annotations

import json
import os
import shutil
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DemoApiFactory
from demo_api import DemoSettings
from test_run import Process, environment, monitor_command, process_reaper, run_cli

__all__ = ["process_reaper"]  # the fixture

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ADMIN_TOKEN = "browser-test-admin-token"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    try:
        yield context.new_page()
    finally:
        context.close()


def eventually(check: Callable[[], bool], *, what: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def start_monitor(
    tmp_path: Path, database_url: str, api: str, reaper: list[Process]
) -> tuple[Process, str, dict[str, str]]:
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            probes:
              - name: login
                group: accounts
                interval: 1s
                timeout: 900ms
                request:
                  method: POST
                  url: "${API_BASE}/api/v1/auth/login"
                  json: {email: "${PROBE_EMAIL}", password: "${PROBE_PASSWORD}"}
                conditions: ["[STATUS] == 200"]
                alert:
                  trigger: [{consecutive_failures: 2}]
                  recover: {consecutive_successes: 2, min_duration: 2s}
                  confirm: {runs: 0}
              - name: sharing-health
                group: sharing
                interval: 5s
                timeout: 2s
                request: {url: "${API_BASE}/healthz"}
            """
        )
    )
    env = environment(api, database_url) | {"MONITOR_ADMIN_TOKEN": ADMIN_TOKEN}
    process = Process(monitor_command("run", str(config), "--summary-every", "0s"), env)
    reaper.append(process)
    web = process.wait_for_line("web: status page at ")
    base = web.split("web: status page at ", 1)[1].split("/;", 1)[0]
    assert f"admin at {base}/admin, API at {base}/api/v1" in web
    return process, base, env


def set_error_ratio(api: str, ratio: float) -> None:
    httpx.put(f"{api}/_admin/faults", json={"error_ratio": ratio}).raise_for_status()


def banner(page: object, url: str) -> str:
    page.goto(url)  # type: ignore[attr-defined]
    text: str = page.locator(".banner").inner_text()  # type: ignore[attr-defined]
    return text


def stop(process: Process) -> None:
    process.popen.send_signal(signal.SIGTERM)
    assert process.popen.wait(timeout=15) == 0


def test_the_status_page_shows_an_outage_as_it_happens_and_its_history_after(
    tmp_path: Path,
    database_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
    page: object,
) -> None:
    api = demo_api_factory(DemoSettings())
    process, monitor, _ = start_monitor(tmp_path, database_url, api, process_reaper)
    ARTIFACTS.mkdir(exist_ok=True)

    assert banner(page, monitor) == "All systems operational"
    components = page.locator("[data-component]")  # type: ignore[attr-defined]
    assert components.count() == 2
    assert page.locator('[data-component="accounts"] .bar li').count() == 90  # type: ignore[attr-defined]

    set_error_ratio(api, 1.0)
    process.wait_for_line("OPENED incident #")
    eventually(lambda: "outage" in banner(page, monitor).lower(), what="the outage on the page")
    accounts = page.locator('[data-component="accounts"]')  # type: ignore[attr-defined]
    assert accounts.get_attribute("data-state") in ("partial", "major")
    assert "Current incidents" in page.content()  # type: ignore[attr-defined]
    assert page.locator('[data-component="sharing"]').get_attribute("data-state") == "operational"  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / "status-outage.png"), full_page=True)  # type: ignore[attr-defined]

    set_error_ratio(api, 0.0)
    process.wait_for_line("RESOLVED", timeout=40)
    eventually(
        lambda: banner(page, monitor) == "All systems operational", what="the recovery on the page"
    )
    history = page.locator("section", has_text="Past incidents").inner_text()  # type: ignore[attr-defined]
    assert "outage: accounts" in history.lower()
    assert "lasted" in history
    today = page.locator('[data-component="accounts"] .bar li').last  # type: ignore[attr-defined]
    assert today.get_attribute("class").split()[0] != "none"
    assert "%" in (today.get_attribute("title") or "")
    page.screenshot(path=str(ARTIFACTS / "status-history.png"), full_page=True)  # type: ignore[attr-defined]

    # Readable on a phone: the bar keeps to the screen's width.
    page.set_viewport_size({"width": 375, "height": 800})  # type: ignore[attr-defined]
    page.goto(monitor)  # type: ignore[attr-defined]
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 375
    page.screenshot(path=str(ARTIFACTS / "status-phone.png"), full_page=True)  # type: ignore[attr-defined]
    stop(process)


def test_an_admin_logs_in_and_acknowledges_with_the_button(
    tmp_path: Path,
    database_url: str,
    demo_api_factory: DemoApiFactory,
    process_reaper: list[Process],
    page: object,
) -> None:
    api = demo_api_factory(DemoSettings(error_ratio=1.0))
    process, monitor, env = start_monitor(tmp_path, database_url, api, process_reaper)
    incident = process.wait_for_line("OPENED incident #").split("#", 1)[1].split()[0]
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{monitor}/admin")  # type: ignore[attr-defined]
    assert "/admin/login" in page.url  # type: ignore[attr-defined]
    page.get_by_label("Admin token").fill("not the token")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    assert "/admin/login" in page.url  # type: ignore[attr-defined]
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]
    page.wait_for_url(f"{monitor}/admin*")  # type: ignore[attr-defined]

    button = page.get_by_role("button", name=f"Acknowledge MON-{incident}")  # type: ignore[attr-defined]
    button.wait_for()
    page.screenshot(path=str(ARTIFACTS / "admin-incident.png"), full_page=True)  # type: ignore[attr-defined]
    button.click()
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert page.get_by_role("button", name=f"Acknowledge MON-{incident}").count() == 0  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / "admin-acknowledged.png"), full_page=True)  # type: ignore[attr-defined]

    shown = run_cli(env, "incident", "show", incident, "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["state"] == "acknowledged"
    assert detail["acknowledged_by"] == "admin (web)"
    stop(process)
