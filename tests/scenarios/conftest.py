"""Paging scenarios: one story per file, told through monitor.testing.paging (a manual clock,
the real engine over SQLite and PostgreSQL, phones that record what each person received)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
import yaml

from monitor.config.models import MonitorConfig
from monitor.oncall import on_call
from monitor.storage.database import Database
from monitor.testing.paging import Scenario
from monitor.testing.twilio import TwilioScenario
from monitor.testing.twilio import twilio_scenario as start_twilio_scenario

# A Monday, 09:30 in Berlin: alice's week in the `primary` rotation below.
START = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)

PEOPLE = """
people:
  - {id: alice, name: Alice, phone: "+4915110000001", timezone: Europe/Berlin}
  - {id: bob, name: Bob, phone: "+4915110000002", timezone: Europe/Berlin}
  - {id: carol, name: Carol, phone: "+12125550103", timezone: America/New_York}
  - {id: dave, name: Dave, phone: "+12125550104", channels: [sms]}
schedules:
  - name: primary
    timezone: Europe/Berlin
    layers:
      - rotation: {every: 1w, handoff: "mon 09:00", members: [alice, bob], start: 2026-03-02}
  - name: secondary
    timezone: Europe/Berlin
    layers:
      - rotation: {every: 1w, handoff: "mon 09:00", members: [carol, dave], start: 2026-03-02}
probes:
  - {name: login, request: {url: "http://127.0.0.1:9/"}}
defaults: {policy: api-critical}
"""

# DESIGN.md §3's example policy, with repeat 2.
THREE_LEVELS = """
policies:
  - name: api-critical
    repeat: 2
    ack_timeout: 30m
    levels:
      - {notify: [{schedule: primary, via: [sms]}], escalate_after: 5m}
      - {notify: [{schedule: primary, via: [voice]}], escalate_after: 10m}
      - {notify: [{schedule: secondary, via: [sms, voice]}, {person: dave, via: [sms]}], escalate_after: 15m}
"""


def config_of(*parts: str) -> MonitorConfig:
    data: dict[str, object] = {}
    for part in parts:
        data.update(yaml.safe_load(part))
    return MonitorConfig.model_validate(data)


ScenarioFactory = Callable[..., Awaitable[Scenario]]


@pytest.fixture
async def scenario_factory(database: Database) -> ScenarioFactory:
    async def make(
        *parts: str, start: datetime = START, engines: int = 1, db: Database | None = None
    ) -> Scenario:
        config = config_of(PEOPLE, *(parts or (THREE_LEVELS,)))
        return Scenario(db or database, config, on_call=on_call, start=start, engines=engines)

    return make


@pytest.fixture
def configure() -> Callable[..., MonitorConfig]:
    """The scenario's people and schedules with the given policies: a config as reloaded."""
    return lambda *parts: config_of(PEOPLE, *parts)


@pytest.fixture
async def scenario(scenario_factory: ScenarioFactory) -> Scenario:
    return await scenario_factory()


@pytest.fixture
async def twilio_scenario(database: Database, database_url: str) -> AsyncIterator[TwilioScenario]:
    """The scenario paging through the Twilio sandbox: real HTTP, the real twilio library,
    signed webhooks into the monitor's web app (DESIGN.md §7)."""
    with start_twilio_scenario(
        database,
        database_url=database_url,
        config=config_of(PEOPLE, THREE_LEVELS),
        on_call=on_call,
        start=START,
    ) as (scenario, twilio):
        try:
            yield scenario
        finally:
            await twilio.aclose()
