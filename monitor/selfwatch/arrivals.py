"""When the leader last heard from each probe at each of its locations.

A probe instance that dies (or was never started) writes nothing, and nothing else notices: its
probes simply stop reporting, and a quorum of 2 locations is never reached again. The leader
reads every instance's results, so it is the one that can tell a location has gone quiet.

Arrival is measured on the leader's clock when the result reaches it, not by the result's own
timestamp, so a probe host whose clock is a few minutes off is not taken for a silent one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.models import ProbeConfig

# Between a run's end and its arrival here: the recorder's flush, the tail's poll, a slow commit.
ARRIVAL_GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class Silence:
    location: str
    probes: tuple[str, ...]  # sorted
    quiet_for: timedelta  # the longest of its probes'


def allowed_quiet(probe: ProbeConfig, missed_runs: int) -> timedelta:
    return missed_runs * probe.interval + probe.timeout + ARRIVAL_GRACE


class ResultArrivals:
    def __init__(self, *, since: datetime) -> None:
        self._since = since  # when this instance began to lead: older results were replayed
        self._heard: dict[tuple[str, str], datetime] = {}
        self._checked = False

    def heard(self, probe: str, location: str, *, at: datetime) -> None:
        self._heard[(probe, location)] = at

    def last_heard(self, probe: str, location: str) -> datetime | None:
        return self._heard.get((probe, location))

    def silences(
        self, probes: Iterable[ProbeConfig], *, now: datetime, missed_runs: int
    ) -> list[Silence]:
        """The locations with at least one probe quiet for longer than it may be, one entry
        per location (a dead instance silences all its probes at once: one line, not twenty)."""
        quiet: dict[str, list[tuple[str, timedelta]]] = {}
        probes = list(probes)
        expected = {(probe.name, location) for probe in probes for location in probe.locations}
        # A probe disabled (or a location dropped) and brought back later must not count the
        # time it was away as silence: what is no longer expected is forgotten.
        for key in self._heard.keys() - expected:
            del self._heard[key]
        for probe in probes:
            for location in probe.locations:
                # A probe first seen after the first check was added by a reload: its clock
                # starts now, not when this instance began to lead.
                last = self._heard.setdefault(
                    (probe.name, location), self._since if not self._checked else now
                )
                span = now - last
                if span > allowed_quiet(probe, missed_runs):
                    quiet.setdefault(location, []).append((probe.name, span))
        self._checked = True
        return [
            Silence(
                location=location,
                probes=tuple(sorted(name for name, _ in entries)),
                quiet_for=max(span for _, span in entries),
            )
            for location, entries in sorted(quiet.items())
        ]
