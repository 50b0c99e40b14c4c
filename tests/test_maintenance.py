"""Maintenance windows: the config (every error located) and the exact instants a window covers,
across daylight-saving changes. Every instant is asserted in UTC; nothing reads the clock."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from monitor.config import ConfigError, MaintenanceConfig, config_schema, load_config
from monitor.config.errors import ConfigProblem
from monitor.detection.maintenance import MaintenanceWindow, in_maintenance

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
TICK = timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def window(
    every: str | list[str],
    start: str,
    duration: str,
    zone: str = BERLIN,
    probes: list[str] | None = None,
    reason: str | None = None,
) -> MaintenanceWindow:
    config = MaintenanceConfig.model_validate(
        {
            "every": every,
            "start": start,
            "duration": duration,
            "timezone": zone,
            "probes": probes,
            "reason": reason,
        }
    )
    return MaintenanceWindow.from_config(config)


def assert_covers_exactly(w: MaintenanceWindow, start: datetime, end: datetime) -> None:
    """[start, end) and nothing either side of it."""
    assert w.occurrence_at(start - TICK) is None
    assert w.occurrence_at(start) == (start, end)
    assert w.occurrence_at(end - TICK) == (start, end)
    assert w.occurrence_at(end) is None


# --- Occurrences across daylight-saving changes -------------------------------------------------


def test_weekly_start_follows_the_local_clock_across_spring_forward() -> None:
    # Sundays 04:00 Berlin: CET (UTC+1) before 2026-03-29, CEST (UTC+2) from that day on.
    w = window(["sun"], "04:00", "1h")
    assert_covers_exactly(w, utc(2026, 3, 22, 3, 0), utc(2026, 3, 22, 4, 0))
    assert_covers_exactly(w, utc(2026, 3, 29, 2, 0), utc(2026, 3, 29, 3, 0))
    assert_covers_exactly(w, utc(2026, 4, 5, 2, 0), utc(2026, 4, 5, 3, 0))


def test_weekly_start_follows_the_local_clock_across_fall_back() -> None:
    w = window(["sun"], "04:00", "1h")
    assert_covers_exactly(w, utc(2026, 10, 18, 2, 0), utc(2026, 10, 18, 3, 0))
    assert_covers_exactly(w, utc(2026, 10, 25, 3, 0), utc(2026, 10, 25, 4, 0))
    assert_covers_exactly(w, utc(2026, 11, 1, 3, 0), utc(2026, 11, 1, 4, 0))


def test_design_example_is_one_real_hour_on_both_change_nights() -> None:
    w = window(["sun"], "02:00", "1h")
    # 2026-03-29: 02:00 does not exist (02:00 CET jumps to 03:00 CEST at 01:00 UTC): the window
    # starts at the change and lasts one real hour, to 04:00 CEST.
    assert_covers_exactly(w, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))
    # 2026-10-25: the first 02:00 (CEST, 00:00 UTC); one real hour later the clock says 02:00
    # again (CET), and the window is over.
    assert_covers_exactly(w, utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 1, 0))
    assert w.next_occurrence(utc(2026, 10, 25, 0, 0)) == (
        utc(2026, 11, 1, 1, 0),
        utc(2026, 11, 1, 2, 0),
    )


def test_start_inside_the_spring_gap_starts_when_the_clocks_jump() -> None:
    # 02:30 never happens on 2026-03-29 in Berlin. The window starts at the first instant after the
    # gap (03:00 CEST = 01:00 UTC), not at 02:30 read with the old offset (03:30 CEST).
    w = window(["sun"], "02:30", "1h")
    assert_covers_exactly(w, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))
    # The weeks around it are ordinary.
    assert_covers_exactly(w, utc(2026, 3, 22, 1, 30), utc(2026, 3, 22, 2, 30))
    assert_covers_exactly(w, utc(2026, 4, 5, 0, 30), utc(2026, 4, 5, 1, 30))


def test_start_in_the_repeated_hour_is_the_first_one_only() -> None:
    # 02:30 happens twice on 2026-10-25 in Berlin: 00:30 UTC (CEST) and 01:30 UTC (CET).
    w = window(["sun"], "02:30", "1h")
    assert_covers_exactly(w, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    # The second 02:30 starts nothing: the next start is a week later.
    assert w.occurrence_at(utc(2026, 10, 25, 1, 45)) is None
    assert w.next_occurrence(utc(2026, 10, 25, 0, 30)) == (
        utc(2026, 11, 1, 1, 30),
        utc(2026, 11, 1, 2, 30),
    )


def test_window_crossing_midnight_covers_the_next_morning() -> None:
    # Friday 2026-06-05 23:30 CEST for 2h: to Saturday 01:30 CEST.
    w = window(["fri"], "23:30", "2h")
    saturday_half_past_midnight = datetime(2026, 6, 6, 0, 30, tzinfo=ZoneInfo(BERLIN))
    assert w.occurrence_at(saturday_half_past_midnight) == (
        utc(2026, 6, 5, 21, 30),
        utc(2026, 6, 5, 23, 30),
    )
    assert_covers_exactly(w, utc(2026, 6, 5, 21, 30), utc(2026, 6, 5, 23, 30))
    # Saturday night is not a Friday: nothing starts then.
    assert w.occurrence_at(utc(2026, 6, 6, 21, 45)) is None


def test_two_day_window_across_fall_back_lasts_48_real_hours() -> None:
    # Saturday 2026-10-24 22:00 CEST (20:00 UTC) for 2d: ends Monday 20:00 UTC, which the clock
    # in Berlin shows as 21:00 CET since it went back an hour on Sunday.
    w = window(["sat"], "22:00", "2d")
    assert_covers_exactly(w, utc(2026, 10, 24, 20, 0), utc(2026, 10, 26, 20, 0))
    monday_evening = datetime(2026, 10, 26, 20, 59, tzinfo=ZoneInfo(BERLIN))
    assert w.occurrence_at(monday_evening) == (utc(2026, 10, 24, 20, 0), utc(2026, 10, 26, 20, 0))


def test_daily_window_in_new_york() -> None:
    w = window("daily", "12:00", "30m", zone=NEW_YORK)
    # Every day of a summer week: 12:00 EDT = 16:00 UTC.
    for day in range(13, 20):
        assert_covers_exactly(w, utc(2026, 7, day, 16, 0), utc(2026, 7, day, 16, 30))
    # And of a winter one: 12:00 EST = 17:00 UTC.
    assert_covers_exactly(w, utc(2026, 1, 14, 17, 0), utc(2026, 1, 14, 17, 30))


def test_new_york_spring_gap_and_weekday_evenings() -> None:
    # 02:15 on 2026-03-08 does not exist in New York (02:00 EST jumps to 03:00 EDT at 07:00 UTC).
    gap = window("daily", "02:15", "1h", zone=NEW_YORK)
    assert_covers_exactly(gap, utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0))
    assert_covers_exactly(gap, utc(2026, 3, 7, 7, 15), utc(2026, 3, 7, 8, 15))
    assert_covers_exactly(gap, utc(2026, 3, 9, 6, 15), utc(2026, 3, 9, 7, 15))

    weekday = window(["mon", "tue", "wed", "thu", "fri"], "23:30", "2h", zone=NEW_YORK)
    # Friday 23:30 EST, then (after the change) Friday 23:30 EDT.
    assert_covers_exactly(weekday, utc(2026, 3, 7, 4, 30), utc(2026, 3, 7, 6, 30))
    assert_covers_exactly(weekday, utc(2026, 3, 14, 3, 30), utc(2026, 3, 14, 5, 30))
    # No window starts on Saturday night.
    assert weekday.occurrence_at(utc(2026, 3, 15, 4, 0)) is None


def test_overlapping_occurrences_report_the_one_that_ends_last() -> None:
    w = window("daily", "06:00", "2d", zone="UTC")
    assert w.occurrence_at(utc(2026, 5, 10, 7, 0)) == (
        utc(2026, 5, 10, 6, 0),
        utc(2026, 5, 12, 6, 0),
    )
    assert w.occurrence_at(utc(2026, 5, 10, 5, 0)) == (
        utc(2026, 5, 9, 6, 0),
        utc(2026, 5, 11, 6, 0),
    )


def test_any_aware_instant_works_and_naive_ones_are_refused() -> None:
    w = window(["sun"], "04:00", "1h")
    inside = utc(2026, 3, 22, 3, 30)
    tokyo = inside.astimezone(timezone(timedelta(hours=9)))
    assert (
        w.occurrence_at(tokyo)
        == w.occurrence_at(inside)
        == (
            utc(2026, 3, 22, 3, 0),
            utc(2026, 3, 22, 4, 0),
        )
    )
    naive = datetime(2026, 3, 22, 3, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        w.occurrence_at(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        w.next_occurrence(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        in_maintenance([], "login", naive)


def test_next_occurrence() -> None:
    w = window(["sun"], "02:00", "1h", probes=["login"])
    # From a Wednesday: that Sunday, whose 02:00 is in the spring gap.
    assert w.next_occurrence(utc(2026, 3, 25, 12, 0)) == (
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 2, 0),
    )
    # Strictly after: at a start, or during an occurrence, it is the one a week later.
    assert w.next_occurrence(utc(2026, 3, 29, 1, 0)) == (
        utc(2026, 4, 5, 0, 0),
        utc(2026, 4, 5, 1, 0),
    )
    assert w.next_occurrence(utc(2026, 3, 29, 1, 0) - TICK) == (
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 2, 0),
    )
    weekdays = window(["mon", "tue", "wed", "thu", "fri"], "23:30", "2h", zone=NEW_YORK)
    # During Friday's window: next is Monday 23:30 EDT.
    assert weekdays.next_occurrence(utc(2026, 3, 14, 4, 0)) == (
        utc(2026, 3, 17, 3, 30),
        utc(2026, 3, 17, 5, 30),
    )


def test_applies_to_and_in_maintenance() -> None:
    some = window(["sun"], "02:00", "1h", probes=["login", "signup"], reason="weekly DB vacuum")
    every = window(["sun"], "03:30", "1h", zone="UTC")
    assert some.applies_to("login") and some.applies_to("signup")
    assert not some.applies_to("home")
    assert every.applies_to("login") and every.applies_to("anything")

    windows = [some, every]
    during_some = utc(2026, 6, 7, 0, 30)  # Sunday 02:30 CEST
    during_every = utc(2026, 6, 7, 3, 45)
    assert in_maintenance(windows, "login", during_some) is some
    assert in_maintenance(windows, "home", during_some) is None
    assert in_maintenance(windows, "home", during_every) is every
    assert in_maintenance(windows, "login", during_every) is every
    assert in_maintenance(windows, "login", utc(2026, 6, 7, 4, 30)) is None
    assert some.reason == "weekly DB vacuum"


def test_a_window_without_days_or_duration_is_refused() -> None:
    zone = ZoneInfo("UTC")
    with pytest.raises(ValueError, match="weekdays"):
        MaintenanceWindow(None, frozenset(), time(2), timedelta(hours=1), zone)
    with pytest.raises(ValueError, match="weekdays"):
        MaintenanceWindow(None, frozenset({7}), time(2), timedelta(hours=1), zone)
    with pytest.raises(ValueError, match="duration"):
        MaintenanceWindow(None, frozenset({6}), time(2), timedelta(0), zone)


# --- Config ---------------------------------------------------------------------------------------

PROBES = """
probes:
  - {name: login, request: {url: "http://127.0.0.1:9/login"}}
  - {name: signup, request: {url: "http://127.0.0.1:9/signup"}}
"""


def write(directory: Path, text: str, name: str = "p.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def only_problem(path: Path) -> ConfigProblem:
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    problems = raised.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def with_probes(maintenance: str) -> str:
    return textwrap.dedent(PROBES).lstrip("\n") + textwrap.dedent(maintenance).lstrip("\n")


def test_valid_maintenance_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        with_probes(
            """
            maintenance:
              - {probes: [login, signup], every: [sun], start: "02:00", duration: 1h,
                 timezone: Europe/Berlin, reason: "weekly DB vacuum"}
              - {every: [mon, tue, wed, thu, fri], start: "23:30", duration: 2h, timezone: America/New_York}
              - {every: [Sunday, SAT, sat], start: "7:05", duration: 7d, timezone: UTC}
              - {every: daily, start: "00:00", duration: 1m, timezone: Asia/Tokyo}
            """
        ),
    )
    vacuum, evenings, weekend, daily = load_config(path, environ={}).config.maintenance
    assert vacuum.probes == ["login", "signup"]
    assert vacuum.every == ["sun"]
    assert vacuum.start == time(2, 0)
    assert vacuum.duration == timedelta(hours=1)
    assert vacuum.timezone == BERLIN
    assert vacuum.reason == "weekly DB vacuum"
    assert evenings.probes is None and evenings.reason is None
    assert evenings.every == ["mon", "tue", "wed", "thu", "fri"]
    assert weekend.every == ["sat", "sun"]  # week order, each once
    assert weekend.start == time(7, 5)
    assert daily.every == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    # Dumped, it reads as the YAML would.
    assert vacuum.model_dump(exclude_none=True) == {
        "probes": ["login", "signup"],
        "every": ["sun"],
        "start": "02:00",
        "duration": "1h",
        "timezone": BERLIN,
        "reason": "weekly DB vacuum",
    }
    windows = [MaintenanceWindow.from_config(m) for m in (vacuum, evenings)]
    assert windows[0].weekdays == frozenset({6})
    assert windows[0].probes == frozenset({"login", "signup"})
    assert windows[1].weekdays == frozenset(range(5))
    assert in_maintenance(windows, "login", utc(2026, 6, 7, 0, 30)) is windows[0]


# Each case replaces one field of a valid window; that field is written first, on line 4:
#   1 probes:
#   2   - {name: signup, ...}
#   3 maintenance:
#   4   - <field under test>
#   5     <the other fields>
MAINTENANCE_ERRORS = [
    (
        "probes: [signup, signin]",
        "maintenance[0].probes[1]",
        (4, 22),
        "no probe named `signin` (did you mean `signup`?)",
    ),
    (
        "probes: [nothing-like-it]",
        "maintenance[0].probes[0]",
        (4, 14),
        "no probe named `nothing-like-it`",
    ),
    (
        "probes: []",
        "maintenance[0].probes",
        (4, 5),  # a list's problem is shown at its key, as elsewhere
        "an empty list covers no probe; leave `probes` out for every probe",
    ),
    (
        "every: [sun, funday]",
        "maintenance[0].every[1]",
        (4, 18),
        "unknown day 'funday': use mon, tue, wed, thu, fri, sat, sun (or monday ... sunday), or daily",
    ),
    ("every: []", "maintenance[0].every", (4, 5), "list at least one day, e.g. [sun] or [daily]"),
    (
        'start: "25:00"',
        "maintenance[0].start",
        (4, 12),
        "start must be a time of day \"HH:MM\" (24-hour, 00:00 to 23:59), got '25:00'",
    ),
    (
        "start: 23:30",
        "maintenance[0].start",
        (4, 12),
        'start must be quoted text "HH:MM", e.g. start: "23:30" '
        "(YAML reads an unquoted 23:30 as the number 1410)",
    ),
    ("duration: 0s", "maintenance[0].duration", (4, 15), "must be longer than 0s"),
    ("duration: 8d", "maintenance[0].duration", (4, 15), "must be at most 7d (a week), got 8d"),
    (
        "timezone: Europe/Berln",
        "maintenance[0].timezone",
        (4, 15),
        "unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)",
    ),
    (
        "timezone: Mars/Olympus_Mons",
        "maintenance[0].timezone",
        (4, 15),
        "unknown time zone 'Mars/Olympus_Mons': use an IANA name such as Europe/Berlin or America/New_York",
    ),
]


@pytest.mark.parametrize(("line", "path", "position", "message"), MAINTENANCE_ERRORS)
def test_maintenance_errors_are_located(
    tmp_path: Path, line: str, path: str, position: tuple[int, int], message: str
) -> None:
    valid = {
        "probes": "probes: [signup]",
        "every": "every: [sun]",
        "start": 'start: "02:00"',
        "duration": "duration: 1h",
        "timezone": "timezone: Europe/Berlin",
    }
    key = line.split(":")[0]
    rest = "".join(f"    {text}\n" for name, text in valid.items() if name != key)
    config = write(
        tmp_path,
        'probes:\n  - {name: signup, request: {url: "http://127.0.0.1:9/"}}\n'
        f"maintenance:\n  - {line}\n{rest}",
    )
    problem = only_problem(config)
    assert (problem.path, problem.message) == (path, message)
    assert (problem.location.line, problem.location.column) == position
    assert str(problem) == f"{config}:{position[0]}:{position[1]}: {path}: {message}"


def test_names_of_invalid_probes_still_count(tmp_path: Path) -> None:
    # The probe's own error is reported; the window naming it gets no second, misleading one.
    path = write(
        tmp_path,
        """
        probes:
          - {name: login, request: {url: "ftp://example.com"}}
        maintenance:
          - {probes: [login], every: [sun], start: "02:00", duration: 1h, timezone: UTC}
        """,
    )
    assert only_problem(path).path == "probes[0].request.url"


def test_timezone_suggestion_ignores_case(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"did you mean 'Europe/Berlin'\?"):
        MaintenanceConfig.model_validate(
            {"every": "sun", "start": "02:00", "duration": "1h", "timezone": "europe/berlin"}
        )


def test_schema_accepts_what_the_loader_accepts() -> None:
    schema = config_schema()
    good = {
        "maintenance": [
            {
                "probes": ["login"],
                "every": ["sun", "Monday", "SAT"],
                "start": "02:00",
                "duration": "1h",
                "timezone": BERLIN,
                "reason": "weekly DB vacuum",
            },
            {"every": "daily", "start": "7:05", "duration": "7d", "timezone": NEW_YORK},
        ]
    }
    jsonschema.validate(good, schema)
    for bad in (
        {"every": ["funday"], "start": "02:00", "duration": "1h", "timezone": "UTC"},
        {"every": ["sun"], "start": "25:00", "duration": "1h", "timezone": "UTC"},
        {"every": ["sun"], "start": "02:00", "duration": "1h"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"maintenance": [bad]}, schema)
