"""examples/probes.yaml against the example API: passing when healthy, and failing in the way
the original outage looked under each fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DemoApiFactory
from demo_api import DemoSettings, create_app

from monitor.clock import SystemClock
from monitor.config import LoadedConfig, load_config
from monitor.demo import DEMO_EMAIL, DEMO_PASSWORD
from monitor.probing.flow import RunResult, run_probe
from monitor.testing import serve_asgi

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example_config(api_base: str) -> LoadedConfig:
    environ = {"API_BASE": api_base, "PROBE_EMAIL": DEMO_EMAIL, "PROBE_PASSWORD": DEMO_PASSWORD}
    return load_config(EXAMPLES, environ=environ)


async def run_examples(api_base: str) -> dict[str, RunResult]:
    loaded = example_config(api_base)
    clock = SystemClock()
    results = {}
    for probe in loaded.probes:
        results[probe.name] = await run_probe(probe, clock=clock, env_values=loaded.env_values)
    return results


def test_examples_validate() -> None:
    loaded = example_config("http://127.0.0.1:9")
    assert [p.name for p in loaded.probes] == ["login", "signup", "sharing"]
    assert {p.component for p in loaded.probes} == {"accounts", "sharing"}


async def test_examples_pass_against_the_healthy_api(demo_api_url: str) -> None:
    results = await run_examples(demo_api_url)
    assert {name: r.summary() for name, r in results.items()} == {
        "login": "ok",
        "signup": "ok",
        "sharing": "ok",
    }
    # Cleanup steps ran and passed.
    assert results["signup"].steps[-1].name == "delete account" and results["signup"].steps[-1].ok
    assert results["sharing"].steps[-1].name == "revoke share" and results["sharing"].steps[-1].ok


async def test_a_balancer_failing_everything(demo_api_factory: DemoApiFactory) -> None:
    url = demo_api_factory(DemoSettings(error_ratio=1.0))
    results = await run_examples(url)
    assert {name: r.ok for name, r in results.items()} == {
        "login": False,
        "signup": False,
        "sharing": False,
    }
    assert results["login"].summary() == (
        "sign in: [STATUS] (503) == 200; has([BODY].token) (false) == true"
    )


async def test_a_full_disk_breaks_writes_but_not_login(demo_api_factory: DemoApiFactory) -> None:
    url = demo_api_factory(DemoSettings(disk_full=True))
    results = await run_examples(url)
    assert results["login"].ok
    assert results["signup"].summary().startswith("create account: [STATUS] (507) == 201")
    assert results["sharing"].summary().startswith("create share: [STATUS] (507) == 201")


async def test_a_slow_api_fails_the_latency_condition(demo_api_factory: DemoApiFactory) -> None:
    url = demo_api_factory(DemoSettings(latency_ms=900))
    loaded = example_config(url)
    result = await run_probe(
        loaded.probe("login"), clock=SystemClock(), env_values=loaded.env_values
    )
    assert not result.ok
    failed = result.steps[0].failed_conditions
    assert [c.condition for c in failed] == ["[RESPONSE_TIME] < 800"]
    assert failed[0].resolved.startswith("[RESPONSE_TIME] (")


@pytest.mark.parametrize("ratio", [0.3])
async def test_a_partial_outage_fails_some_runs(
    demo_api_factory: DemoApiFactory, ratio: float
) -> None:
    # The outage this project exists for: part of the traffic fails, the rest works.
    url = demo_api_factory(DemoSettings(error_ratio=ratio, seed=7))
    loaded = example_config(url)
    probe = loaded.probe("login")
    outcomes = [
        (await run_probe(probe, clock=SystemClock(), env_values=loaded.env_values)).ok
        for _ in range(30)
    ]
    assert 0 < outcomes.count(False) < 30


async def test_the_signup_probe_leaves_no_account_behind_in_a_partial_outage() -> None:
    # With 30% of requests failing, any step can fail; the cleanup must still delete every account
    # that was created, or a week of probing litters the production user table.
    app = create_app(DemoSettings(error_ratio=0.3, seed=11))
    store = app.state.demo.store
    with serve_asgi(app) as url:
        loaded = example_config(url)
        probe = loaded.probe("signup")
        runs = [
            await run_probe(probe, clock=SystemClock(), env_values=loaded.env_values)
            for _ in range(40)
        ]
    failed_cleanups = [r for r in runs if not r.steps[-1].skipped and not r.steps[-1].ok]
    assert 0 < sum(not r.ok for r in runs) < 40  # the outage was real
    # Only the seeded probe account remains, except for accounts whose delete itself hit a 503.
    assert store.user_count() == 1 + len(failed_cleanups)
