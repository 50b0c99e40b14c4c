"""Incidents, silences, result replay and the 0002 migration, on SQLite and on PostgreSQL (the
`database` fixture runs each test on both). "One open incident per probe" is shown to be the
database's doing: raw SQL that bypasses the functions is refused too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import bindparam, event, text
from sqlalchemy.exc import IntegrityError

from monitor.storage import (
    Database,
    IncidentEvent,
    ResultRecord,
    StoredResult,
    UnknownIncident,
    acknowledge_incident,
    active_silences,
    add_note,
    add_silence,
    end_silence,
    get_incident,
    insert_results,
    latest_incident,
    latest_incidents,
    list_incidents,
    list_silences,
    open_incident,
    open_incidents,
    raise_severity,
    recent_results,
    reopen_incident,
    replay_results,
    resolve_incident,
    sync_probes,
    update_peak,
)
from monitor.storage.incidents import Opened
from monitor.storage.migrations import alembic_config, current_revision, head_revision
from monitor.storage.types import Timestamp

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULE = "failure_ratio above 20% over 5m"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


async def open_one(
    db: Database,
    probe: str = "login",
    *,
    at: datetime = T0,
    severity: Any = "partial",
    figures: str = "35% of 20 runs failed in 5m",
    cause: str | None = "sign in: [STATUS] (503) == 200",
) -> Opened:
    return await open_incident(
        db, probe=probe, severity=severity, rule=RULE, figures=figures, cause=cause, at=at
    )


async def timeline(db: Database, incident_id: int) -> list[tuple[str, str]]:
    found = await get_incident(db, incident_id)
    assert found is not None
    return [(e.kind, e.detail) for e in found[1]]


async def count(db: Database, sql: str) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


async def insert_raw_incident(db: Database, *, probe_id: int, state: str) -> None:
    statement = text(
        "INSERT INTO incidents (probe_id, severity, state, opened_at, rule, figures) "
        "VALUES (:probe_id, 'major', :state, :at, 'r', 'f')"
    ).bindparams(bindparam("at", type_=Timestamp()))
    async with db.engine.begin() as conn:
        await conn.execute(statement, {"probe_id": probe_id, "state": state, "at": T0})


# --- opening: one open incident per probe --------------------------------------------------------


async def test_open_incident_writes_the_incident_and_its_opened_event(database: Database) -> None:
    opened = await open_one(database, "adhoc", at=T0, severity="major")
    assert opened.created
    incident = opened.incident
    assert (incident.probe, incident.group) == ("adhoc", "adhoc")  # probes row made for it
    assert (incident.severity, incident.state, incident.open) == ("major", "triggered", True)
    assert incident.opened_at == T0 and incident.opened_at.tzinfo is UTC
    assert (incident.acknowledged_at, incident.acknowledged_by, incident.resolved_at) == (
        None,
        None,
        None,
    )
    assert (incident.rule, incident.figures, incident.cause) == (
        RULE,
        "35% of 20 runs failed in 5m",
        "sign in: [STATUS] (503) == 200",
    )
    assert (incident.reopen_count, incident.peak_failure_ratio) == (0, None)

    found = await get_incident(database, incident.id)
    assert found is not None
    assert found[0] == incident
    assert found[1] == [
        IncidentEvent(
            at=T0,
            kind="opened",
            detail="major: 35% of 20 runs failed in 5m; cause: sign in: [STATUS] (503) == 200",
        )
    ]


async def test_open_uses_a_configured_probe_and_keeps_its_group(database: Database) -> None:
    await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    opened = await open_incident(
        database,
        probe="login",
        severity="degraded",
        rule=RULE,
        figures="f",
        cause=None,
        at=minutes(1),
        peak_failure_ratio=0.25,
    )
    assert (opened.incident.group, opened.incident.peak_failure_ratio) == ("accounts", 0.25)
    assert await timeline(database, opened.incident.id) == [("opened", "degraded: f")]


async def test_a_second_open_returns_the_open_one(database: Database) -> None:
    first = await open_one(database, at=T0)
    second = await open_one(database, at=minutes(1), severity="major", figures="other")
    assert (first.created, second.created) == (True, False)
    assert second.incident == first.incident  # unchanged by the refused attempt
    assert await count(database, "SELECT count(*) FROM incidents") == 1
    assert await count(database, "SELECT count(*) FROM incident_events") == 1

    # Once resolved, the probe may have a new one; resolved incidents do not count.
    assert await resolve_incident(database, incident_id=first.incident.id, at=minutes(2), detail="")
    third = await open_one(database, at=minutes(3))
    assert third.created and third.incident.id != first.incident.id
    assert [i.id for i in await open_incidents(database)] == [third.incident.id]


async def test_the_database_itself_refuses_a_second_open_incident(database: Database) -> None:
    opened = await open_one(database)
    probe_id = await count(database, "SELECT probe_id FROM incidents")
    for state in ("triggered", "acknowledged"):
        with pytest.raises(IntegrityError):
            await insert_raw_incident(database, probe_id=probe_id, state=state)
    # Resolved ones are outside the partial index: any number of them.
    await insert_raw_incident(database, probe_id=probe_id, state="resolved")
    await insert_raw_incident(database, probe_id=probe_id, state="resolved")
    # A state the index would not know is refused as well (it would slip past the index).
    with pytest.raises(IntegrityError):
        await insert_raw_incident(database, probe_id=probe_id, state="Resolved")
    assert await count(database, "SELECT count(*) FROM incidents") == 3
    assert [i.id for i in await open_incidents(database)] == [opened.incident.id]


async def test_two_detectors_opening_at_once_create_one_incident(
    database: Database, database_url: str
) -> None:
    # Two Database objects: two connections, as two monitor processes would have.
    other = Database.connect(database_url)
    try:
        for round_ in range(5):
            probe = f"probe-{round_}"
            if round_ == 4:  # also with a resolved incident of that probe already there
                probe = "probe-0"
                [resolved] = await list_incidents(database, probe=probe)
                assert await resolve_incident(
                    database, incident_id=resolved.id, at=minutes(round_), detail="ok"
                )
            one, two = await asyncio.gather(
                open_one(database, probe, at=minutes(round_)),
                open_one(other, probe, at=minutes(round_)),
            )
            assert sorted([one.created, two.created]) == [False, True], probe
            assert one.incident.id == two.incident.id
            assert one.incident.state == "triggered"
            assert len(await list_incidents(database, probe=probe, open_only=True)) == 1
    finally:
        await other.dispose()
    assert await count(database, "SELECT count(*) FROM incidents") == 5
    assert await count(database, "SELECT count(*) FROM incident_events WHERE kind = 'opened'") == 5


async def test_unknown_severity_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="unknown severity"):
        await open_one(database, severity="critical")
    assert await count(database, "SELECT count(*) FROM incidents") == 0


# --- changes -------------------------------------------------------------------------------------


async def test_reopen_a_resolved_incident(database: Database) -> None:
    opened = (await open_one(database, at=T0)).incident
    assert await acknowledge_incident(database, incident_id=opened.id, at=minutes(1), by="alice")
    assert await resolve_incident(database, incident_id=opened.id, at=minutes(2), detail="ok")

    again = await reopen_incident(
        database, incident_id=opened.id, at=minutes(3), figures="40% of 20 runs failed in 5m"
    )
    assert again.created
    incident = again.incident
    assert incident.id == opened.id
    assert (incident.state, incident.resolved_at, incident.reopen_count) == ("triggered", None, 1)
    assert (incident.acknowledged_at, incident.acknowledged_by) == (None, None)
    assert incident.figures == "40% of 20 runs failed in 5m"
    assert incident.opened_at == T0  # still the same incident, opened when it first was

    # Open already: returned as it is.
    twice = await reopen_incident(database, incident_id=opened.id, at=minutes(4), figures="x")
    assert (twice.created, twice.incident) == (False, incident)
    assert [kind for kind, _ in await timeline(database, opened.id)] == [
        "opened",
        "acknowledged",
        "resolved",
        "reopened",
    ]

    with pytest.raises(UnknownIncident):
        await reopen_incident(database, incident_id=opened.id + 100, at=minutes(5), figures="x")


async def test_reopen_yields_to_another_open_incident_of_the_probe(database: Database) -> None:
    old = (await open_one(database, at=T0)).incident
    assert await resolve_incident(database, incident_id=old.id, at=minutes(1), detail="ok")
    new = (await open_one(database, at=minutes(2))).incident

    result = await reopen_incident(database, incident_id=old.id, at=minutes(3), figures="x")
    assert (result.created, result.incident) == (False, new)
    found = await get_incident(database, old.id)
    assert found is not None
    assert (found[0].state, found[0].reopen_count) == ("resolved", 0)
    assert [kind for kind, _ in await timeline(database, old.id)] == ["opened", "resolved"]


async def test_severity_only_goes_up_and_only_while_open(database: Database) -> None:
    incident = (await open_one(database, severity="degraded", figures="f0")).incident

    async def raise_to(severity: Any, figures: str) -> bool:
        return await raise_severity(
            database, incident_id=incident.id, severity=severity, at=minutes(1), figures=figures
        )

    assert await raise_to("partial", "f1")
    assert not await raise_to("partial", "f2")  # no change: no event
    assert not await raise_to("degraded", "f3")
    assert await raise_to("major", "f4")
    assert not await raise_to("partial", "f5")
    found = await get_incident(database, incident.id)
    assert found is not None
    assert (found[0].severity, found[0].figures) == ("major", "f4")
    assert [(e.kind, e.detail) for e in found[1][1:]] == [
        ("severity", "degraded -> partial: f1"),
        ("severity", "partial -> major: f4"),
    ]

    other = (await open_one(database, "signup", severity="degraded")).incident
    assert await resolve_incident(database, incident_id=other.id, at=minutes(2), detail="")
    assert not await raise_severity(
        database, incident_id=other.id, severity="major", at=minutes(3), figures="x"
    )
    assert not await raise_severity(
        database, incident_id=other.id + 100, severity="major", at=minutes(3), figures="x"
    )
    with pytest.raises(ValueError, match="unknown severity"):
        await raise_to("critical", "x")


async def test_peak_only_rises(database: Database) -> None:
    incident = (await open_one(database)).incident
    for ratio in (0.3, 0.5, 0.4):
        await update_peak(database, incident_id=incident.id, peak_failure_ratio=ratio)
    found = await get_incident(database, incident.id)
    assert found is not None
    assert found[0].peak_failure_ratio == 0.5
    assert len(found[1]) == 1  # the peak is a figure, not an event


async def test_resolve_is_compare_and_swap(database: Database, database_url: str) -> None:
    incident = (await open_one(database)).incident
    assert await resolve_incident(database, incident_id=incident.id, at=minutes(5), detail="ok")
    assert not await resolve_incident(
        database, incident_id=incident.id, at=minutes(6), detail="again"
    )
    found = await get_incident(database, incident.id)
    assert found is not None
    assert (found[0].state, found[0].resolved_at, found[0].open) == ("resolved", minutes(5), False)
    assert [(e.kind, e.detail) for e in found[1]][1:] == [("resolved", "ok")]
    assert not await resolve_incident(database, incident_id=incident.id + 1, at=T0, detail="")

    # Two resolvers at once (the detector and an SMS reply): one wins, one event.
    racing = (await open_one(database, "signup")).incident
    other = Database.connect(database_url)
    try:
        results = await asyncio.gather(
            resolve_incident(database, incident_id=racing.id, at=minutes(7), detail="detector"),
            resolve_incident(other, incident_id=racing.id, at=minutes(7), detail="sms"),
        )
    finally:
        await other.dispose()
    assert sorted(results) == [False, True]
    assert [kind for kind, _ in await timeline(database, racing.id)] == ["opened", "resolved"]


async def test_acknowledge_only_a_triggered_incident(database: Database) -> None:
    incident = (await open_one(database)).incident
    assert await acknowledge_incident(database, incident_id=incident.id, at=minutes(1), by="alice")
    assert not await acknowledge_incident(
        database, incident_id=incident.id, at=minutes(2), by="bob"
    )
    found = await get_incident(database, incident.id)
    assert found is not None
    assert (found[0].state, found[0].acknowledged_at, found[0].acknowledged_by) == (
        "acknowledged",
        minutes(1),
        "alice",
    )
    assert found[0].open
    assert [(e.kind, e.detail) for e in found[1]][1:] == [("acknowledged", "by alice")]

    assert await resolve_incident(database, incident_id=incident.id, at=minutes(3), detail="")
    assert not await acknowledge_incident(
        database, incident_id=incident.id, at=minutes(4), by="bob"
    )


async def test_timeline_is_oldest_first(database: Database) -> None:
    incident = (await open_one(database, at=T0, severity="degraded", cause=None)).incident
    # Notes given out of time order, and two changes in the same millisecond.
    await add_note(database, incident_id=incident.id, at=minutes(4), detail="deploy rolled back")
    await add_note(database, incident_id=incident.id, at=minutes(1), detail="looking")
    await raise_severity(
        database, incident_id=incident.id, severity="major", at=minutes(2), figures="all down"
    )
    await acknowledge_incident(database, incident_id=incident.id, at=minutes(2), by="alice")
    await resolve_incident(database, incident_id=incident.id, at=minutes(5), detail="recovered")
    await reopen_incident(database, incident_id=incident.id, at=minutes(6), figures="down again")

    found = await get_incident(database, incident.id)
    assert found is not None
    assert [(e.at, e.kind, e.detail) for e in found[1]] == [
        (T0, "opened", "degraded: 35% of 20 runs failed in 5m"),
        (minutes(1), "note", "looking"),
        (minutes(2), "severity", "degraded -> major: all down"),
        (minutes(2), "acknowledged", "by alice"),
        (minutes(4), "note", "deploy rolled back"),
        (minutes(5), "resolved", "recovered"),
        (minutes(6), "reopened", "down again"),
    ]

    with pytest.raises(UnknownIncident):
        await add_note(database, incident_id=incident.id + 100, at=T0, detail="x")
    assert await get_incident(database, incident.id + 100) is None


async def test_listing_incidents(database: Database) -> None:
    # login: one open 0..10, then a new one open since 30. billing: open since 15, acknowledged.
    # signup: open 20..25.
    login_old = (await open_one(database, "login", at=minutes(0))).incident
    await resolve_incident(database, incident_id=login_old.id, at=minutes(10), detail="")
    billing = (await open_one(database, "billing", at=minutes(15))).incident
    await acknowledge_incident(database, incident_id=billing.id, at=minutes(16), by="alice")
    signup = (await open_one(database, "signup", at=minutes(20))).incident
    await resolve_incident(database, incident_id=signup.id, at=minutes(25), detail="")
    login_new = (await open_one(database, "login", at=minutes(30))).incident

    def ids(rows: list[Any]) -> list[int]:
        return [row.id for row in rows]

    assert ids(await open_incidents(database)) == [billing.id, login_new.id]  # oldest first
    assert ids(await list_incidents(database)) == [
        login_new.id,
        signup.id,
        billing.id,
        login_old.id,
    ]
    assert ids(await list_incidents(database, open_only=True)) == [login_new.id, billing.id]
    assert ids(await list_incidents(database, probe="login")) == [login_new.id, login_old.id]
    assert ids(await list_incidents(database, probe="login", open_only=True)) == [login_new.id]
    # Open at some moment since 12: login_old was over by then.
    assert ids(await list_incidents(database, since=minutes(12))) == [
        login_new.id,
        signup.id,
        billing.id,
    ]
    assert ids(await list_incidents(database, since=minutes(26))) == [login_new.id, billing.id]
    assert ids(await list_incidents(database, limit=2)) == [login_new.id, signup.id]
    assert await list_incidents(database, probe="nobody") == []

    latest = await latest_incident(database, probe="login")
    assert latest is not None and latest.id == login_new.id
    latest_signup = await latest_incident(database, probe="signup")
    assert latest_signup is not None and latest_signup.state == "resolved"
    assert await latest_incident(database, probe="nobody") is None
    # One per probe, the newest of each, oldest first.
    assert ids(await latest_incidents(database)) == [billing.id, signup.id, login_new.id]


# --- silences ------------------------------------------------------------------------------------


async def test_silence_covers_its_probes_while_active(database: Database) -> None:
    silence = await add_silence(
        database,
        probes=["login", "signup", "login"],
        starts_at=minutes(10),
        ends_at=minutes(70),
        reason=" database upgrade ",
        created_by="alice",
        at=T0,
    )
    assert silence.probes == ("login", "signup")
    assert (silence.reason, silence.created_by, silence.created_at, silence.ended_at) == (
        "database upgrade",
        "alice",
        T0,
        None,
    )
    assert not silence.covers("login", minutes(9))
    assert silence.covers("login", minutes(10))
    assert silence.covers("signup", minutes(69))
    assert not silence.covers("login", minutes(70))  # the end is not included
    assert not silence.covers("billing", minutes(30))

    everything = await add_silence(
        database,
        probes=None,
        starts_at=minutes(60),
        ends_at=minutes(90),
        reason="maintenance window",
        created_by=None,
        at=T0,
    )
    assert everything.probes is None
    # SQL NULL, not the JSON text 'null': "every probe" must be findable as such.
    assert await count(database, "SELECT count(*) FROM silences WHERE probes IS NULL") == 1
    assert everything.covers("anything", minutes(80))

    def ids(rows: list[Any]) -> list[int]:
        return [row.id for row in rows]

    assert await active_silences(database, at=minutes(5)) == []
    assert await active_silences(database, at=minutes(10)) == [silence]  # read back as stored
    assert ids(await active_silences(database, at=minutes(65))) == [silence.id, everything.id]
    assert ids(await active_silences(database, at=minutes(75))) == [everything.id]
    assert await active_silences(database, at=minutes(90)) == []

    assert ids(await list_silences(database, at=minutes(5))) == [silence.id, everything.id]
    assert ids(await list_silences(database, at=minutes(75))) == [everything.id]
    assert await list_silences(database, at=minutes(95)) == []
    assert ids(await list_silences(database, at=minutes(95), include_expired=True)) == [
        silence.id,
        everything.id,
    ]


async def test_ending_a_silence_early(database: Database) -> None:
    silence = await add_silence(
        database,
        probes=["login"],
        starts_at=T0,
        ends_at=minutes(60),
        reason="deploy",
        created_by="alice",
        at=T0,
    )
    ended = await end_silence(database, silence_id=silence.id, at=minutes(20))
    assert ended is not None and ended.ended_at == minutes(20)
    assert ended.effective_end == minutes(20)
    assert ended.covers("login", minutes(19)) and not ended.covers("login", minutes(20))
    assert await active_silences(database, at=minutes(30)) == []
    assert await list_silences(database, at=minutes(30)) == []
    assert await list_silences(database, at=minutes(30), include_expired=True) == [ended]

    # Over already (ended, or expired): returned unchanged.
    assert await end_silence(database, silence_id=silence.id, at=minutes(25)) == ended
    expired = await add_silence(
        database,
        probes=None,
        starts_at=T0,
        ends_at=minutes(10),
        reason="r",
        created_by=None,
        at=T0,
    )
    assert await end_silence(database, silence_id=expired.id, at=minutes(30)) == expired
    assert await end_silence(database, silence_id=expired.id + 100, at=minutes(30)) is None

    # Not started yet: cancelled, never active.
    planned = await add_silence(
        database,
        probes=None,
        starts_at=minutes(100),
        ends_at=minutes(200),
        reason="r",
        created_by=None,
        at=T0,
    )
    cancelled = await end_silence(database, silence_id=planned.id, at=minutes(50))
    assert cancelled is not None and not cancelled.covers("login", minutes(150))
    assert await active_silences(database, at=minutes(150)) == []


async def test_silences_that_make_no_sense_are_refused(database: Database) -> None:
    def add(**changes: Any) -> Any:
        values: dict[str, Any] = {
            "probes": ["login"],
            "starts_at": T0,
            "ends_at": minutes(10),
            "reason": "deploy",
            "created_by": None,
            "at": T0,
            **changes,
        }
        return add_silence(database, **values)

    with pytest.raises(ValueError, match="end after it starts"):
        await add(ends_at=T0)
    with pytest.raises(ValueError, match="needs a reason"):
        await add(reason="  ")
    with pytest.raises(ValueError, match="no probe"):
        await add(probes=[])
    with pytest.raises(TypeError, match="not one string"):
        await add(probes="login")
    assert await list_silences(database, at=T0, include_expired=True) == []


# --- results: the confirmation flag and replay ---------------------------------------------------


def record(
    probe: str, at: datetime, *, ok: bool = True, confirmation: bool = False
) -> ResultRecord:
    return ResultRecord(
        probe=probe,
        location="local",
        due_at=at,
        started_at=at,
        duration_ms=10,
        ok=ok,
        status=200 if ok else 503,
        confirmation=confirmation,
    )


async def test_confirmation_round_trip(database: Database) -> None:
    ids = await sync_probes(database, [("login", "accounts", "h1")], now=T0)
    await insert_results(
        database,
        [record("login", T0), record("login", minutes(1), ok=False, confirmation=True)],
        ids,
    )
    newest, oldest = await recent_results(database)
    assert (newest.confirmation, oldest.confirmation) == (True, False)
    assert [r.confirmation async for r in replay_results(database, since=T0)] == [False, True]


async def collect(results: AsyncIterator[StoredResult]) -> list[tuple[str, int]]:
    return [(r.probe, int((r.started_at - T0).total_seconds())) async for r in results]


async def test_replay_is_oldest_first_in_chunks(database: Database) -> None:
    ids = await sync_probes(database, [("login", "a", "h"), ("signup", "a", "h")], now=T0)
    # Three runs share each second: chunk boundaries fall inside groups of equal started_at,
    # which only the id tie-break can page through without skipping or repeating a row.
    seconds = [s for s in range(10) for _ in range(3)]
    records = [
        record("login" if i % 2 == 0 else "signup", T0 + timedelta(seconds=s))
        for i, s in enumerate(seconds)
    ]
    # Inserted newest first: ids run against time, so the order must come from started_at.
    await insert_results(database, list(reversed(records)), ids)

    selects: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def on_execute(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM results" in statement:
            selects.append(statement)

    everything = await collect(replay_results(database, since=T0, chunk=4))
    assert [s for _, s in everything] == seconds
    assert sorted(everything) == sorted((r.probe, s) for r, s in zip(records, seconds, strict=True))
    assert len(selects) == 8  # 30 rows in chunks of 4; the last, short chunk ends it
    # Keyset paging: each later chunk starts after the last (started_at, id) seen. (SQLite
    # always renders an OFFSET, so its absence proves nothing.)
    assert all("results.id >" in statement for statement in selects[1:])

    selects.clear()
    assert len(await collect(replay_results(database, since=T0, chunk=5))) == 30
    assert len(selects) == 7  # 6 full chunks, then an empty one to find the end

    assert len(await collect(replay_results(database, since=T0, until=minutes(1), chunk=1))) == 30

    window = await collect(
        replay_results(
            database, since=T0 + timedelta(seconds=3), until=T0 + timedelta(seconds=5), chunk=2
        )
    )
    assert [s for _, s in window] == [3, 3, 3, 4, 4, 4]  # since included, until not
    login = await collect(replay_results(database, since=T0, probes=["login"], chunk=3))
    assert {p for p, _ in login} == {"login"} and len(login) == 15
    assert [s for _, s in login] == sorted(s for _, s in login)
    assert await collect(replay_results(database, since=T0, probes=[])) == []
    assert await collect(replay_results(database, since=T0, probes=["nobody"])) == []
    assert await collect(replay_results(database, since=minutes(1))) == []
    with pytest.raises(ValueError, match="chunk"):
        await collect(replay_results(database, since=T0, chunk=0))
    with pytest.raises(TypeError, match="not one string"):
        await collect(replay_results(database, since=T0, probes="login"))


async def test_replay_returns_the_stored_results(database: Database) -> None:
    ids = await sync_probes(database, [("login", "a", "h")], now=T0)
    failed = replace(
        record("login", T0, ok=False),
        error_kind="condition",
        error_message="sign in: [STATUS] (503) == 200",
        failed_step="sign in",
        details=[{"name": "sign in", "ok": False}],
    )
    await insert_results(database, [failed], ids)
    [replayed] = [r async for r in replay_results(database, since=T0)]
    assert [replayed] == await recent_results(database)
    assert replayed.details == [{"name": "sign in", "ok": False}]


# --- migration 0001 -> 0002 ----------------------------------------------------------------------


async def test_upgrade_to_0002_keeps_results_as_scheduled_runs(database_url: str) -> None:
    config = alembic_config(database_url)
    await asyncio.to_thread(command.upgrade, config, "0001")
    db = Database.connect(database_url)
    try:
        ids = await sync_probes(db, [("login", "accounts", "h1")], now=T0)
        # Raw SQL: the models (and insert_results) already have the column 0001 lacks.
        statement = text(
            "INSERT INTO results (probe_id, location, due_at, started_at, duration_ms, ok) "
            "VALUES (:probe_id, 'local', :at, :at, 5, :ok)"
        ).bindparams(bindparam("at", type_=Timestamp()))
        async with db.engine.begin() as conn:
            await conn.execute(
                statement,
                [{"probe_id": ids["login"], "at": minutes(i), "ok": i != 1} for i in range(3)],
            )
        await db.dispose()  # the old schema's connections go; 0002 alters the table

        await asyncio.to_thread(command.upgrade, config, "head")
        assert await asyncio.to_thread(current_revision, database_url) == head_revision()
        rows = await recent_results(db)
        assert [(r.started_at, r.ok, r.confirmation) for r in rows] == [
            (minutes(2), True, False),
            (minutes(1), False, False),
            (T0, True, False),
        ]
        # Written after the upgrade without naming the column: the server default fills it.
        async with db.engine.begin() as conn:
            await conn.execute(statement, {"probe_id": ids["login"], "at": minutes(3), "ok": True})
        assert (await recent_results(db, limit=1))[0].confirmation is False
        await db.dispose()

        # And back: the new tables go, the results stay.
        await asyncio.to_thread(command.downgrade, config, "0001")
        assert await count(db, "SELECT count(*) FROM results") == 4
        with pytest.raises(Exception, match="incidents"):
            await count(db, "SELECT count(*) FROM incidents")
    finally:
        await db.dispose()
