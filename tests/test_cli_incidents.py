"""`monitor incidents`, `incident show`, `silence add|list|end` and `backtest` run as a user runs
them (typer's CliRunner, and a real process for the backtest), against data written with the
storage functions, on SQLite and on PostgreSQL (the `database` fixture runs each test on both).

Times are relative to the real clock: the commands read "now" from SystemClock, as they do for a
user. Seeded times are whole seconds, so they compare equal after SQLite's millisecond storage.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from monitor.cli import app
from monitor.clock import SystemClock
from monitor.storage import (
    Database,
    ResultRecord,
    acknowledge_incident,
    add_note,
    add_silence,
    ensure_probes,
    insert_results,
    open_incident,
    resolve_incident,
)
from monitor.storage.database import display_url
from monitor.storage.retention import apply_retention
from monitor.storage.rollups import roll_up

ROOT = Path(__file__).resolve().parents[1]
RULE = "consecutive_failures 3"
REQUIRED_KEYS = {
    "id",
    "probe",
    "severity",
    "state",
    "opened_at",
    "acknowledged_at",
    "resolved_at",
    "rule",
}


def now_s() -> datetime:
    """The real clock's now, to the second."""
    return SystemClock().now().replace(microsecond=0)


async def cli(database_url: str, *args: str) -> Result:
    """`monitor ARGS` with MONITOR_DATABASE_URL set. In a thread: the command runs its own event
    loop (asyncio.run), which cannot start inside the test's."""
    env = {"MONITOR_DATABASE_URL": database_url, "COLUMNS": "200"}

    def invoke() -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    return await asyncio.to_thread(invoke)


def monitor_process(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("monitor")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MONITOR_DATABASE_URL": database_url, "COLUMNS": "200"},
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# --- incidents ------------------------------------------------------------------------------------


async def seed_incidents(db: Database) -> tuple[int, int, datetime]:
    """An open `login` incident opened 2h ago, and a `signup` one opened 5h ago, acknowledged,
    annotated and resolved. Returns (open id, resolved id, now)."""
    now = now_s()
    login = await open_incident(
        db,
        probe="login",
        severity="major",
        rule=RULE,
        figures="the last 3 runs failed",
        cause="sign in: [STATUS] (503) == 200",
        at=now - timedelta(hours=2),
        peak_failure_ratio=1.0,
    )
    opened = now - timedelta(hours=5)
    signup = await open_incident(
        db,
        probe="signup",
        severity="partial",
        rule="failure_ratio above 20% over 5m",
        figures="35% of 20 runs failed in 5m",
        cause=None,
        at=opened,
    )
    signup_id = signup.incident.id
    assert await acknowledge_incident(
        db, incident_id=signup_id, at=opened + timedelta(minutes=4), by="alice"
    )
    await add_note(db, incident_id=signup_id, at=opened + timedelta(minutes=9), detail="LB drained")
    assert await resolve_incident(
        db, incident_id=signup_id, at=opened + timedelta(minutes=25), detail="3 runs passed"
    )
    return login.incident.id, signup_id, now


async def test_incidents_table_lists_open_and_resolved(
    database: Database, database_url: str
) -> None:
    open_id, resolved_id, now = await seed_incidents(database)

    listed = await cli(database_url, "incidents")
    assert listed.exit_code == 0, listed.output
    lines = [line.rstrip() for line in listed.stdout.splitlines()]
    header = next(line for line in lines if "opened (UTC)" in line)
    assert re.search(
        r"#\s+probe\s+severity\s+state\s+opened \(UTC\)\s+lasted\s+rule\s+figures", header
    )
    login = next(line for line in lines if " login " in line)
    signup = next(line for line in lines if " signup " in line)
    assert lines.index(login) < lines.index(signup)  # newest first
    assert re.search(
        rf"^\s*{open_id}\s+login\s+major\s+triggered\s+{now - timedelta(hours=2):%Y-%m-%d %H:%M:%S}"
        rf"\s+2h so far\s+{RULE}\s+the last 3 runs failed$",
        login,
    )
    assert re.search(
        rf"^\s*{resolved_id}\s+signup\s+partial\s+resolved\s+{now - timedelta(hours=5):%Y-%m-%d %H:%M:%S}"
        r"\s+25m\s+failure_ratio above 20% over 5m\s+35% of 20 runs failed in 5m$",
        signup,
    )
    assert lines[-1] == "2 incidents, 1 open"

    only_open = await cli(database_url, "incidents", "--open")
    assert only_open.exit_code == 0, only_open.output
    assert " login " in only_open.stdout and "signup" not in only_open.stdout
    assert only_open.stdout.splitlines()[-1] == "1 incident, 1 open"

    of_signup = await cli(database_url, "incidents", "--probe", "signup")
    assert "signup" in of_signup.stdout and " login " not in of_signup.stdout

    # --since: the resolved one ended 4.5 hours ago, the open one is open now.
    recent = await cli(database_url, "incidents", "--since", "1h")
    assert " login " in recent.stdout and "signup" not in recent.stdout


async def test_incidents_json_has_the_fields(database: Database, database_url: str) -> None:
    open_id, resolved_id, now = await seed_incidents(database)

    listed = await cli(database_url, "incidents", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json_lines(listed.stdout)
    assert [row["id"] for row in rows] == [open_id, resolved_id]
    for row in rows:
        assert REQUIRED_KEYS | {
            "figures",
            "cause",
            "group",
            "reopen_count",
            "peak_failure_ratio",
        } <= set(row)
    login, signup = rows
    opened = now - timedelta(hours=5)
    assert login == {
        "id": open_id,
        "probe": "login",
        "group": "login",
        "severity": "major",
        "state": "triggered",
        "opened_at": (now - timedelta(hours=2)).isoformat(),
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "rule": RULE,
        "figures": "the last 3 runs failed",
        "cause": "sign in: [STATUS] (503) == 200",
        "reopen_count": 0,
        "peak_failure_ratio": 1.0,
    }
    assert (signup["state"], signup["severity"]) == ("resolved", "partial")
    assert signup["opened_at"] == opened.isoformat()
    assert signup["acknowledged_at"] == (opened + timedelta(minutes=4)).isoformat()
    assert signup["acknowledged_by"] == "alice"
    assert signup["resolved_at"] == (opened + timedelta(minutes=25)).isoformat()

    only_open = await cli(database_url, "incidents", "--open", "--json")
    assert [row["id"] for row in json_lines(only_open.stdout)] == [open_id]
    limited = await cli(database_url, "incidents", "--limit", "1", "--json")
    assert [row["id"] for row in json_lines(limited.stdout)] == [open_id]


async def test_no_incidents_is_a_clear_line(database: Database, database_url: str) -> None:
    listed = await cli(database_url, "incidents")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.strip() == "no incidents in the last 7d"
    only_open = await cli(database_url, "incidents", "--open", "--probe", "login", "--since", "1d")
    assert only_open.stdout.strip() == "no open incidents of login in the last 1d"
    as_json = await cli(database_url, "incidents", "--json")
    assert (as_json.exit_code, as_json.stdout) == (0, "")


async def test_incident_show_prints_fields_and_timeline_in_order(
    database: Database, database_url: str
) -> None:
    _, resolved_id, now = await seed_incidents(database)
    opened = now - timedelta(hours=5)

    shown = await cli(database_url, "incident", "show", str(resolved_id))
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.splitlines()[0] == f"incident #{resolved_id}  signup"
    assert re.search(r"^  severity\s+partial$", out, re.MULTILINE)
    assert re.search(r"^  state\s+resolved$", out, re.MULTILINE)
    assert re.search(
        rf"^  acknowledged\s+{(opened + timedelta(minutes=4)):%Y-%m-%dT%H:%M:%S}Z by alice$",
        out,
        re.MULTILINE,
    )
    assert re.search(r"^  resolved\s+\S+Z, after 25m$", out, re.MULTILINE)
    assert re.search(r"^  rule\s+failure_ratio above 20% over 5m$", out, re.MULTILINE)
    timeline = [
        line.split()[2]
        for line in out.splitlines()
        if re.match(r"^\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s", line)
    ]
    assert timeline == ["opened", "acknowledged", "note", "resolved"]
    assert f"{opened:%Y-%m-%d %H:%M:%S}   opened" in out
    assert "LB drained" in out

    as_json = await cli(database_url, "incident", "show", str(resolved_id), "--json")
    assert as_json.exit_code == 0, as_json.output
    (found,) = json_lines(as_json.stdout)
    assert set(found) >= REQUIRED_KEYS and found["id"] == resolved_id
    assert [(e["kind"], e["at"]) for e in found["events"]] == [
        ("opened", opened.isoformat()),
        ("acknowledged", (opened + timedelta(minutes=4)).isoformat()),
        ("note", (opened + timedelta(minutes=9)).isoformat()),
        ("resolved", (opened + timedelta(minutes=25)).isoformat()),
    ]
    assert found["events"][2]["detail"] == "LB drained"


async def test_incident_show_of_an_unknown_id(database: Database, database_url: str) -> None:
    missing = await cli(database_url, "incident", "show", "999")
    assert missing.exit_code == 1
    assert missing.stdout == ""
    assert missing.stderr.strip() == f"error: no incident #999 in {display_url(database_url)}"


async def test_incidents_on_a_database_never_created(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'typo.db'}"
    listed = await cli(url, "incidents")
    assert listed.exit_code == 2
    assert f"no database at {tmp_path / 'typo.db'}" in listed.stderr
    assert not (tmp_path / "typo.db").exists()


# --- silences -------------------------------------------------------------------------------------

ADDED = re.compile(r"^silence #(\d+): (.+?)(?: from (\S+Z))? until (\S+Z) \((.*)\)$")


def added(result: Result) -> tuple[int, str, str | None, datetime, str]:
    assert result.exit_code == 0, result.output
    match = ADDED.match(result.stdout.strip())
    assert match, result.stdout
    until = datetime.strptime(match.group(4), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(match.group(1)), match.group(2), match.group(3), until, match.group(5)


async def test_silence_add_list_end_round_trip(database: Database, database_url: str) -> None:
    now = now_s()
    await ensure_probes(database, ["login", "signup"], now=now)
    expired = await add_silence(
        database,
        probes=["signup"],
        starts_at=now - timedelta(hours=3),
        ends_at=now - timedelta(hours=2),
        reason="old deploy",
        created_by=None,
        at=now - timedelta(hours=3),
    )

    first = added(
        await cli(
            database_url,
            "silence",
            "add",
            "--probe",
            "login",
            "--for",
            "2h",
            "--reason",
            "LB swap",
            "--by",
            "alice",
        )
    )
    login_id, what, starts, until, reason = first
    assert (what, starts, reason) == ("login", None, "LB swap")
    assert now + timedelta(hours=2) <= until <= now_s() + timedelta(hours=2)

    later = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%MZ")
    planned_id, what, starts, until, reason = added(
        await cli(
            database_url,
            "silence",
            "add",
            "--all",
            "--for",
            "1h",
            "--starts",
            later,
            "--reason",
            "maintenance",
        )
    )
    assert (what, reason) == ("all probes", "maintenance")
    assert starts == later.replace("Z", ":00Z")
    assert until == datetime.fromisoformat(later) + timedelta(hours=1)

    both_id, what, *_ = added(
        await cli(
            database_url,
            "silence",
            "add",
            "-p",
            "login",
            "-p",
            "signup",
            "--for",
            "30m",
            "--reason",
            "x",
        )
    )
    assert what == "login, signup"

    # The default list: active and planned, not the expired one.
    listed = await cli(database_url, "silence", "list")
    assert listed.exit_code == 0, listed.output
    rows = {
        int(line.split()[0]): line.rstrip()
        for line in listed.stdout.splitlines()
        if re.match(r"^\s*\d+\s", line)
    }
    assert set(rows) == {login_id, planned_id, both_id}
    assert re.search(r"login\s+\S+ \S+\s+\S+ \S+\s+active\s+LB swap\s+alice$", rows[login_id])
    assert re.search(r"all probes\s+.*\s+planned\s+maintenance$", rows[planned_id])
    as_json = json_lines((await cli(database_url, "silence", "list", "--json")).stdout)
    assert [(row["id"], row["state"]) for row in as_json] == [
        (login_id, "active"),
        (both_id, "active"),
        (planned_id, "planned"),
    ]
    assert as_json[0]["probes"] == ["login"] and as_json[2]["probes"] is None
    assert as_json[0]["created_by"] == "alice" and as_json[0]["ended_at"] is None

    ended = await cli(database_url, "silence", "end", str(login_id))
    assert ended.exit_code == 0, ended.output
    assert ended.stdout.strip() == f"silence #{login_id} ended: login (LB swap)"
    cancelled = await cli(database_url, "silence", "end", str(planned_id))
    assert (
        cancelled.stdout.strip()
        == f"silence #{planned_id} cancelled before it started: all probes (maintenance)"
    )
    again = await cli(database_url, "silence", "end", str(login_id))
    assert again.exit_code == 0
    assert again.stdout.startswith(f"silence #{login_id} was already over at ")

    remaining = json_lines((await cli(database_url, "silence", "list", "--json")).stdout)
    assert [row["id"] for row in remaining] == [both_id]
    everything = json_lines((await cli(database_url, "silence", "list", "--all", "--json")).stdout)
    assert {row["id"]: row["state"] for row in everything} == {
        expired.id: "expired",
        login_id: "ended",
        both_id: "active",
        planned_id: "cancelled",
    }
    table = await cli(database_url, "silence", "list", "--all")
    assert re.search(r"signup\s+.*\s+expired\s+old deploy", table.stdout)

    unknown = await cli(database_url, "silence", "end", "999")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == f"error: no silence #999 in {display_url(database_url)}"


async def test_silence_of_an_unknown_probe_is_refused(
    database: Database, database_url: str
) -> None:
    await ensure_probes(database, ["login", "signup"], now=now_s())
    typo = await cli(
        database_url,
        "silence",
        "add",
        "-p",
        "login",
        "-p",
        "logn",
        "--for",
        "1h",
        "--reason",
        "LB swap",
    )
    assert typo.exit_code == 2
    assert "error: no probe named 'logn' in " in typo.stderr
    assert "(known: login, signup)" in typo.stderr
    assert (
        await cli(database_url, "silence", "list")
    ).stdout.strip() == "no active or planned silences"


async def test_silence_add_refuses_bad_input(database: Database, database_url: str) -> None:
    await ensure_probes(database, ["login"], now=now_s())
    cases: list[tuple[list[str], str]] = [
        (["--for", "1h", "--reason", "r"], "--probe NAME (repeatable) or --all"),
        (["--all", "-p", "login", "--for", "1h", "--reason", "r"], "not both"),
        (["--all", "--for", "2", "--reason", "r"], "--for: duration 2 has no unit"),
        (["--all", "--for", "0s", "--reason", "r"], "--for: a silence of 0s silences nothing"),
        (["--all", "--for", "1h", "--reason", "  "], "a silence needs a reason"),
        (
            ["--all", "--for", "1h", "--reason", "r", "--starts", "2026-12-01T02:00"],
            "add Z for UTC",
        ),
        (["--all", "--for", "1h", "--reason", "r", "--starts", "tomorrow"], "is not a time"),
        (["--all", "--for", "1h", "--reason", "r", "--starts", "2020-01-01T00:00Z"], "before now"),
    ]
    for args, message in cases:
        result = await cli(database_url, "silence", "add", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    no_reason = await cli(database_url, "silence", "add", "--all", "--for", "1h")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    assert (await cli(database_url, "silence", "list", "--all")).stdout.strip() == "no silences"


# --- backtest -------------------------------------------------------------------------------------

CONFIG = """\
probes:
  - name: login
    request: {url: "http://127.0.0.1:9/login"}
  - name: quiet
    request: {url: "http://127.0.0.1:9/quiet"}
"""


async def seed_history(db: Database) -> tuple[datetime, datetime]:
    """One hour of `login` at 30 s ending about 5 minutes ago: 30 minutes healthy, 10 minutes of
    every run failing, 20 minutes healthy. Plus runs of a probe the config does not have.
    Returns (the first failure, the last failure)."""
    start = now_s() - timedelta(minutes=65)
    ids = await ensure_probes(db, ["login", "elsewhere"], now=start)
    records = []
    for index in range(120):
        at = start + timedelta(seconds=30 * index)
        failing = 60 <= index < 80
        records.append(
            ResultRecord(
                probe="login",
                location="local",
                due_at=at,
                started_at=at,
                duration_ms=120,
                ok=not failing,
                status=503 if failing else 200,
                error_kind="condition" if failing else None,
                error_message="login: [STATUS] (503) == 200" if failing else None,
                failed_step="login" if failing else None,
            )
        )
        if index % 10 == 0:  # not in the config: not replayed, not counted
            records.append(
                ResultRecord(
                    probe="elsewhere",
                    location="local",
                    due_at=at,
                    started_at=at,
                    duration_ms=50,
                    ok=False,
                    status=500,
                )
            )
    await insert_results(db, records, ids)
    return start + timedelta(seconds=30 * 60), start + timedelta(seconds=30 * 79)


async def test_backtest_finds_the_outage(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    first_failure, last_failure = await seed_history(database)
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)

    done = await asyncio.to_thread(
        monitor_process, database_url, "backtest", str(config), "--since", "2h", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["runs"] == 120
    assert report["per_probe"] == {"login": 1, "quiet": 0}
    (incident,) = report["incidents"]
    # Default rules: 3 consecutive failures open it, at the third failed run...
    assert incident["start"] == (first_failure + timedelta(seconds=60)).isoformat()
    assert (incident["probe"], incident["severity"], incident["rule"]) == ("login", "major", RULE)
    assert incident["figures"] == "the last 3 runs failed"
    # ...and it clears at the first run 3 passes and 10 minutes after the last failure; the
    # recovery is then confirmed by 5 more runs, which a replay only has as scheduled runs.
    resolved_at = last_failure + timedelta(minutes=10) + 5 * timedelta(seconds=30)
    assert incident["end"] == resolved_at.isoformat()
    assert incident["peak_failure_ratio"] == 1.0
    assert incident["reopened"] == 0

    human = await asyncio.to_thread(
        monitor_process, database_url, "backtest", str(config), "--since", "2h"
    )
    assert human.returncode == 0, human.stdout + human.stderr
    out = human.stdout
    assert re.search(
        rf"^\s*login\s+{first_failure + timedelta(seconds=60):%Y-%m-%d %H:%M:%S}\s+"
        rf"{resolved_at:%Y-%m-%d %H:%M:%S}\s+21m\s+major\s+{RULE}\s+"
        r"the last 3 runs failed\s+100%$",
        out,
        re.MULTILINE,
    )
    assert re.search(r"^\s*login\s+1$", out, re.MULTILINE)
    assert re.search(r"^\s*quiet\s+0$", out, re.MULTILINE)
    assert re.search(
        r"^1 incident would have opened in 120 runs replayed from \S+Z to \S+Z$", out, re.MULTILINE
    )


async def test_backtest_says_what_retention_left_only_rollups_of(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    first_failure, _ = await seed_history(database)
    # Ten days ago, a day of runs that retention has since rolled up and deleted.
    old_day = now_s().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    ids = await ensure_probes(database, ["login"], now=old_day)
    old = [
        ResultRecord(
            probe="login",
            location="local",
            due_at=old_day + timedelta(minutes=m),
            started_at=old_day + timedelta(minutes=m),
            duration_ms=90,
            ok=m % 48 != 0,
            status=200,
        )
        for m in range(0, 24 * 60, 2)
    ]
    await insert_results(database, old, ids)
    while await roll_up(database, now=first_failure - timedelta(hours=1)):
        pass
    await apply_retention(database, now=now_s(), raw=timedelta(days=2), rollups=timedelta(days=400))
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)

    done = await asyncio.to_thread(
        monitor_process, database_url, "backtest", str(config), "--since", "12d", "--json"
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["runs"] == 120  # the raw hour only
    note = done.stderr.replace("\n", " ")
    assert "retention kept only hourly rollups (720 runs, 30 failed, 95.83% up)" in note
    assert "the rules replay raw runs, from" in note


async def test_backtest_honours_stored_silences(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    first_failure, last_failure = await seed_history(database)
    # Over by now (and ended early): a backtest still applies it to the history it covered.
    silence = await add_silence(
        database,
        probes=["login"],
        starts_at=first_failure - timedelta(minutes=1),
        ends_at=last_failure + timedelta(hours=1),
        reason="LB swap",
        created_by=None,
        at=first_failure,
    )
    ended = await cli(database_url, "silence", "end", str(silence.id))
    assert ended.exit_code == 0, ended.output
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)

    done = await cli(database_url, "backtest", str(config), "--since", "2h", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert (report["incidents"], report["per_probe"]) == ([], {"login": 0, "quiet": 0})

    human = await cli(database_url, "backtest", str(config), "--since", "2h")
    assert human.stdout.splitlines()[0] == "no incident would have opened"
    assert human.stdout.splitlines()[-1].startswith("0 incidents would have opened in 120 runs")


async def test_backtest_window_and_errors(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    await seed_history(database)
    config = tmp_path / "probes.yaml"
    config.write_text(CONFIG)

    # Nothing in the window: a warning, since that usually means the wrong database or window.
    early = await cli(
        database_url, "backtest", str(config), "--since", "1d", "--until", "12h", "--json"
    )
    assert early.exit_code == 0, early.output
    assert json.loads(early.stdout)["runs"] == 0
    assert "warning: no results of the probes in" in early.stderr

    backwards = await cli(database_url, "backtest", str(config), "--since", "1h", "--until", "2h")
    assert backwards.exit_code == 2 and "must be before --until" in backwards.stderr
    nonsense = await cli(database_url, "backtest", str(config), "--since", "lately")
    assert nonsense.exit_code == 2
    assert "neither a duration back from now (30d, 12h) nor a time" in nonsense.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
            probes:
              - name: login
                intervall: 30s
                request: {url: "http://127.0.0.1:9/"}
            """
        )
    )
    refused = await cli(database_url, "backtest", str(bad), "--since", "2h")
    assert refused.exit_code == 2
    assert f"{bad}:3:5: probes[0].intervall: unknown field" in refused.stderr
    assert refused.stderr.strip().endswith(f"1 error in {bad}")
    assert refused.stdout == ""
