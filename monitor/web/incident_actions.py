"""Acknowledge, resolve, escalate from the web: one place for the admin buttons and the API.

A change from the web wakes the engine, so it cancels or sends pages now instead of at its
next tick. The refusals say which state forbids the action, in the CLI's words.
"""

from __future__ import annotations

from typing import Literal

from monitor.storage.incidents import acknowledge_incident, escalate_incident, resolve_incident
from monitor.web.context import WebContext

Action = Literal["acknowledge", "resolve", "escalate"]

DONE: dict[Action, str] = {
    "acknowledge": "acknowledged",
    "resolve": "resolved",
    "escalate": "escalated",
}
REFUSED: dict[Action, str] = {
    "acknowledge": "only a triggered incident can be acknowledged",
    "resolve": "it is resolved already",
    "escalate": "a resolved incident cannot be escalated",
}


async def change_incident(web: WebContext, action: Action, incident_id: int, *, by: str) -> bool:
    """Do `action`; False when the incident's state does not allow it (nothing changed)."""
    at = web.clock.now()
    if action == "acknowledge":
        changed = await acknowledge_incident(web.db, incident_id=incident_id, at=at, by=by)
    elif action == "resolve":
        changed = await resolve_incident(web.db, incident_id=incident_id, at=at, detail=f"by {by}")
    else:
        changed = await escalate_incident(web.db, incident_id=incident_id, at=at, by=by)
    if changed:
        web.wake()
    return changed
