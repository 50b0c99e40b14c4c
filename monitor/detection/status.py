"""What the status page says of a component (a probe group), derived from its open incidents,
never stored: the worst open incident decides."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

ComponentStatus = Literal["operational", "degraded", "partial_outage", "major_outage"]

_BY_SEVERITY: dict[str, ComponentStatus] = {
    "degraded": "degraded",
    "partial": "partial_outage",
    "major": "major_outage",
}
_ORDER: tuple[ComponentStatus, ...] = ("operational", "degraded", "partial_outage", "major_outage")


def component_status(severities: Iterable[str]) -> ComponentStatus:
    """The status for the severities of a component's open incidents."""
    worst: ComponentStatus = "operational"
    for severity in severities:
        status = _BY_SEVERITY.get(severity, "partial_outage")
        if _ORDER.index(status) > _ORDER.index(worst):
            worst = status
    return worst


def group_statuses(
    groups: Iterable[str], open_incidents: Iterable[tuple[str, str]]
) -> dict[str, ComponentStatus]:
    """Every group's status, given (group, severity) of each open incident; a group with no
    open incident is operational."""
    severities: dict[str, list[str]] = {group: [] for group in groups}
    for group, severity in open_incidents:
        severities.setdefault(group, []).append(severity)
    return {group: component_status(found) for group, found in severities.items()}
