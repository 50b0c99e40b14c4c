"""The container, without a Docker engine (there is none on these machines): the compose file
parses and references only files and variables that exist, the Dockerfile runs as a non-root
user with a healthcheck and no secret, and the entrypoint script migrates and starts the
monitor when run directly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from test_run import Process

from monitor.settings import Settings, TwilioSettings, WebSettings
from monitor.storage.migrations import current_revision, head_revision

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker-entrypoint.sh"
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


def example_variables() -> set[str]:
    """Names in .env.example, set (`NAME=`) or shown commented (`# NAME=`)."""
    return set(re.findall(r"^(?:# )?([A-Z_][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def compose() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_the_compose_file_runs_the_monitor_after_a_healthy_postgres() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "monitor"}  # type: ignore[arg-type]
    postgres, monitor = services["postgres"], services["monitor"]  # type: ignore[index]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert monitor["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert postgres["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert "pgdata" in compose()["volumes"]  # type: ignore[operator]
    assert monitor["volumes"] == ["./examples:/config:ro"]
    assert monitor["environment"]["MONITOR_CONFIG"] == "/config"
    for service in (postgres, monitor):
        assert service["logging"]["options"] == {"max-size": "10m", "max-file": "3"}


def test_the_compose_file_references_only_files_that_exist() -> None:
    monitor = compose()["services"]["monitor"]  # type: ignore[index]
    assert (ROOT / monitor["build"] / "Dockerfile").is_file()
    for volume in monitor["volumes"]:
        source = volume.split(":", 1)[0]
        assert (ROOT / source).exists(), source


def test_every_variable_is_in_the_env_example() -> None:
    documented = example_variables()
    in_compose = set(VARIABLE.findall(COMPOSE.read_text()))
    in_config = {
        name
        for path in (ROOT / "examples").glob("*.yaml")
        for name in VARIABLE.findall(path.read_text())
    }
    read_by_monitor = {
        (cls.model_config.get("env_prefix") or "").upper() + name.upper()
        for cls in (Settings, WebSettings, TwilioSettings)
        for name, field in cls.model_fields.items()
        if not isinstance(field.validation_alias, str)
    } | {
        field.validation_alias
        for cls in (TwilioSettings,)
        for field in cls.model_fields.values()
        if isinstance(field.validation_alias, str)
    }
    entrypoint = set(re.findall(r"\$\{(MONITOR_[A-Z_]+):-", ENTRYPOINT.read_text()))

    assert in_compose - documented == set()
    assert read_by_monitor - documented == set()
    assert entrypoint - documented == set()
    environment = compose()["services"]["monitor"]["environment"]  # type: ignore[index]
    assert in_config <= set(environment), "the config reads a variable compose does not pass"


def test_the_dockerfile_runs_as_a_user_with_a_healthcheck_and_no_secret() -> None:
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in text
    env_lines = " ".join(re.findall(r"^ENV (.*(?:\\\n.*)*)", text, re.M))
    assert not re.search(r"TOKEN|PASSWORD|SECRET|TWILIO_AUTH", env_lines)
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), name
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def entrypoint_env(database_url: str, config: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_CONFIG": str(config),
        "MONITOR_LISTEN": "127.0.0.1:0",
    }


def test_the_entrypoint_migrates_then_runs_the_monitor(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "probes.yaml").write_text(
        textwrap.dedent(
            """\
            probes:
              - {name: nothing, interval: 1h, request: {url: "http://127.0.0.1:9/"}}
            """
        )
    )
    assert current_revision(database_url) is None

    process = Process(
        ["sh", str(ENTRYPOINT), "--summary-every", "0s"], entrypoint_env(database_url, config)
    )
    try:
        process.wait_for_line("is at revision")
        process.wait_for_line("web: status page at")
        assert current_revision(database_url) == head_revision()
    finally:
        process.popen.send_signal(signal.SIGTERM)
        code = process.popen.wait(timeout=15)
    assert code == 0  # exec: the signal reached `monitor run` itself, which stopped cleanly


def test_the_entrypoint_gives_up_on_a_database_that_never_comes(tmp_path: Path) -> None:
    env = entrypoint_env("postgresql+asyncpg://postgres@127.0.0.1:1/test", tmp_path)
    env["MONITOR_DB_WAIT_SECONDS"] = "2"

    done = subprocess.run(
        ["sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 2
    assert "database not ready; retrying in 2s" in done.stderr
    assert "did not accept the migration within 2s" in done.stderr
