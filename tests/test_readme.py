"""The README stays true: its two set-up commands, the CI command and the documented output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from monitor.config.models import MonitorConfig

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.DOTALL)


def test_quickstart_has_exactly_two_commands() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    run, test = commands
    assert run.startswith("python3 -m venv .venv && ") and run.endswith(".venv/bin/monitor demo")
    assert test.endswith(".venv/bin/pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r'^TEST_COMMAND="(.*)"$', ci, re.MULTILINE)
    assert match is not None
    assert match.group(1) == quickstart_commands()[1]


def test_every_command_is_documented() -> None:
    script = Path(sys.executable).with_name("monitor")
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    )
    commands = re.findall(r"^│ (\w+)\s{2,}", result.stdout, re.MULTILINE)
    assert commands
    for command in commands:
        assert f"`monitor {command}" in README, command


def test_documented_validate_output_is_what_validate_prints(tmp_path: Path) -> None:
    shutil.copy(ROOT / "tests" / "data" / "five_mistakes.yaml", tmp_path / "probes.yaml")
    documented = README.split("$ monitor validate probes.yaml\n", 1)[1].split("```", 1)[0]
    env = {k: v for k, v in os.environ.items() if k != "API_BASE"}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "validate", "probes.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "COLUMNS": "500"},
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == documented


def test_documented_retention_and_self_blocks_are_valid_config() -> None:
    blocks = re.findall(r"```yaml\n((?:retention|self):.*?)```", README, re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        text = block.replace("${HEARTBEAT_URL}", "https://hc-ping.example/uuid")
        data = yaml.safe_load(text)
        config = MonitorConfig.model_validate(data)
        assert config.retention.raw.days == 14
    assert config.watch_self.min_free_disk_mb == 500


def test_documented_locations_block_is_valid_config() -> None:
    section = README.split("### Several instances", 1)[1]
    [block] = re.findall(r"```yaml\n(probes:.*?)```", section.split("\n### ", 1)[0], re.DOTALL)
    [login] = MonitorConfig.model_validate(yaml.safe_load(block)).probes
    assert (login.locations, login.alert.quorum) == (["eu-west", "us-east"], 2)
