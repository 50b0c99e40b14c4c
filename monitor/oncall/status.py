"""What `monitor oncall` shows of a schedule: who is on call at an instant and the next handoffs,
as data (the CLI prints it as a table or JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.config.oncall import ScheduleConfig
from monitor.oncall.localtime import require_aware
from monitor.oncall.schedule import Handoff, handoffs, on_call_source


@dataclass(frozen=True, kw_only=True)
class ScheduleStatus:
    schedule: str
    timezone: str
    at: datetime
    person: str | None  # None: nobody is on call
    source: str | None  # "layer N" or "override"
    handoffs: tuple[Handoff, ...]

    def to_json(self, names: Mapping[str, str]) -> dict[str, Any]:
        """As `monitor oncall --json` prints it; `names` maps person ids to names."""

        def person(person_id: str | None) -> dict[str, str] | None:
            if person_id is None:
                return None
            return {"id": person_id, "name": names.get(person_id, person_id)}

        return {
            "schedule": self.schedule,
            "timezone": self.timezone,
            "at": self.at.isoformat(),
            "on_call": person(self.person),
            "source": self.source,
            "handoffs": [
                {"at": h.at.isoformat(), "from": person(h.from_person), "to": person(h.to_person)}
                for h in self.handoffs
            ],
        }


def schedule_status(schedule: ScheduleConfig, *, at: datetime, count: int = 3) -> ScheduleStatus:
    moment = require_aware(at, "at")
    person, source = on_call_source(schedule, moment)
    return ScheduleStatus(
        schedule=schedule.name,
        timezone=schedule.timezone,
        at=moment,
        person=person,
        source=source,
        handoffs=tuple(handoffs(schedule, after=moment, count=count)),
    )
