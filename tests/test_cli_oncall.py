"""`monitor oncall` and the warnings of `monitor validate`, run as a user runs them: a real
process, its exit code and output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

ONCALL = """\
people:
  - {id: alice, name: Alice Meyer, phone: "+4915110000001", timezone: Europe/Berlin}
  - {id: bob, name: Bob Jones, phone: "+4915110000002", timezone: Europe/Berlin}
  - {id: carol, name: Carol Diaz, phone: "+12125550103", timezone: America/New_York}
schedules:
  - name: primary
    timezone: Europe/Berlin
    layers:
      - rotation: {every: 1w, handoff: "mon 09:00", members: [alice, bob], start: 2026-03-02}
    overrides: [{person: carol, from: 2026-03-25T18:00, to: 2026-03-26T09:00}]
  - name: later
    timezone: America/New_York
    layers:
      - rotation: {every: 1d, handoff: "09:00", members: [carol], start: 2026-04-01}
"""


def monitor(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("monitor")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
    base = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**base, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "oncall.yaml"
    path.write_text(ONCALL)
    return path


def rows(output: str) -> list[list[str]]:
    """Table rows as cells (columns are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.strip()]


def test_oncall_shows_who_is_on_call_and_the_next_three_handoffs(config: Path) -> None:
    # Tuesday 24 March 2026, noon in Berlin: bob's week; carol covers Wednesday night.
    result = monitor("oncall", str(config), "--at", "2026-03-24T12:00+01:00")
    assert result.returncode == 0, result.stderr
    assert rows(result.stdout) == [
        ["schedule", "time zone", "on call at 2026-03-24 11:00:00 (UTC)", "source"],
        ["─" * len(rows(result.stdout)[1][0])],
        ["primary", "Europe/Berlin", "Bob Jones (bob)", "layer 1"],
        ["later", "America/New_York", "nobody"],
        ["schedule", "handoff (UTC)", "from", "to"],
        ["─" * len(rows(result.stdout)[5][0])],
        ["primary", "2026-03-25 17:00:00", "Bob Jones (bob)", "Carol Diaz (carol)"],
        ["primary", "2026-03-26 08:00:00", "Carol Diaz (carol)", "Bob Jones (bob)"],
        # Monday 09:00 in Berlin, now in summer time.
        ["primary", "2026-03-30 07:00:00", "Bob Jones (bob)", "Alice Meyer (alice)"],
        ["later", "2026-04-01 13:00:00", "nobody", "Carol Diaz (carol)"],
    ]


def test_oncall_json_one_object_per_schedule(config: Path) -> None:
    result = monitor(
        "oncall", str(config), "--at", "2026-03-24T11:00Z", "--schedule", "primary", "--json"
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    bob = {"id": "bob", "name": "Bob Jones"}
    carol = {"id": "carol", "name": "Carol Diaz"}
    assert json.loads(line) == {
        "schedule": "primary",
        "timezone": "Europe/Berlin",
        "at": "2026-03-24T11:00:00+00:00",
        "on_call": bob,
        "source": "layer 1",
        "handoffs": [
            {"at": "2026-03-25T17:00:00+00:00", "from": bob, "to": carol},
            {"at": "2026-03-26T08:00:00+00:00", "from": carol, "to": bob},
            {
                "at": "2026-03-30T07:00:00+00:00",
                "from": bob,
                "to": {"id": "alice", "name": "Alice Meyer"},
            },
        ],
    }
    nobody = monitor("oncall", str(config), "--at", "2026-03-24T11:00Z", "-s", "later", "--json")
    assert json.loads(nobody.stdout)["on_call"] is None
    assert json.loads(nobody.stdout)["source"] is None


def test_oncall_refuses_a_time_without_a_zone(config: Path) -> None:
    result = monitor("oncall", str(config), "--at", "2026-03-24T12:00")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --at: '2026-03-24T12:00' has no time zone: add Z for UTC (2026-03-24T12:00Z) "
        "or an offset (+01:00)"
    )
    garbled = monitor("oncall", str(config), "--at", "tomorrow")
    assert garbled.returncode == 2
    assert "'tomorrow' is not a time" in garbled.stderr


def test_oncall_unknown_schedule_exits_2_and_lists_the_known_ones(config: Path) -> None:
    result = monitor("oncall", str(config), "--schedule", "primray")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: no schedule `primray` in {config} (defined: primary, later)"
    )
    assert result.stdout == ""


def test_oncall_reads_monitor_config_and_needs_a_path(config: Path) -> None:
    from_env = monitor("oncall", "--at", "2026-03-24T11:00Z", env={"MONITOR_CONFIG": str(config)})
    assert from_env.returncode == 0, from_env.stderr
    assert "Bob Jones (bob)" in from_env.stdout
    neither = monitor("oncall")
    assert neither.returncode == 2
    assert neither.stderr.strip() == "error: give a config PATH, or set MONITOR_CONFIG to one"


def test_oncall_now_on_the_examples(tmp_path: Path) -> None:
    # Without --at: now, from the system clock. The examples' rotations started in January.
    env = {"API_BASE": "http://127.0.0.1:9", "PROBE_EMAIL": "a@b.c", "PROBE_PASSWORD": "pw"}
    result = monitor("oncall", str(EXAMPLES), "--json", env=env)
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["schedule"] for s in shown] == ["primary", "secondary"]
    for status in shown:
        assert status["on_call"]["id"] in ("alice", "bob", "carol", "dave")
        assert len(status["handoffs"]) == 3


def test_oncall_config_error_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "oncall.yaml"
    broken.write_text(ONCALL.replace("members: [alice, bob]", "members: [alice, bobb]"))
    result = monitor("oncall", str(broken))
    assert result.returncode == 2
    assert f"{broken}:9:70: " in result.stderr and "no person `bobb` (did you mean `bob`?)" in (
        result.stderr
    )


def test_oncall_without_schedules(tmp_path: Path) -> None:
    empty = tmp_path / "probes.yaml"
    empty.write_text("probes: []\n")
    result = monitor("oncall", str(empty))
    assert result.returncode == 0
    assert result.stdout.strip() == f"no schedules in {empty}"


def test_validate_warns_without_failing(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            people:
              - {id: alice, name: Alice, phone: "+4915110000001"}
              - {id: erin, name: Erin, phone: "+4915110000005"}
            schedules:
              - name: future
                timezone: Europe/Berlin
                layers: [{rotation: {every: 1w, handoff: "mon 09:00", members: [alice], start: 2099-01-05}}]
            policies:
              - {name: p, levels: [{notify: [{schedule: future}]}]}
            probes:
              - {name: login, request: {url: "http://127.0.0.1:9/"}, alert: {policy: p}}
              - {name: signup, request: {url: "http://127.0.0.1:9/"}}
            """
        )
    )
    result = monitor("validate", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: 2 probes, 2 steps in 1 file"
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 3, result.stderr
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.fullmatch(
        rf"warning: schedule future: nobody on call from {stamp} to {stamp} and beyond, 28d of "
        r"the next 4 weeks: a layer covers only from its rotation's `start`; pages to this "
        r"schedule reach nobody then",
        warnings[0],
    )
    assert warnings[1:] == [
        "warning: no escalation policy for probe signup: its incidents page nobody (set "
        "`alert.policy` on the probe, or `defaults.policy`)",
        "warning: person erin is in no schedule and no policy: nothing pages them",
    ]


def test_validate_the_examples_warns_about_nothing() -> None:
    env = {"API_BASE": "http://127.0.0.1:9", "PROBE_EMAIL": "a@b.c", "PROBE_PASSWORD": "pw"}
    result = monitor("validate", str(EXAMPLES), env=env)
    assert result.returncode == 0
    assert result.stderr == ""


def test_the_readme_shows_what_oncall_prints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "$ monitor oncall examples/oncall.yaml --at 2026-11-28T12:00Z\n"
    documented = readme.split(command, 1)[1].split("```", 1)[0]
    result = monitor("oncall", "examples/oncall.yaml", "--at", "2026-11-28T12:00Z")
    assert result.returncode == 0, result.stderr
    shown = "".join(line.rstrip() + "\n" for line in result.stdout.splitlines())
    assert shown == documented
