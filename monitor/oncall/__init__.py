"""On-call schedules: who is on call when, as pure functions of the config and an instant
(rotations, layers, overrides, IANA time zones and their clock changes)."""

from monitor.oncall.advice import config_warnings, sms_opt_out_warnings
from monitor.oncall.localtime import local_instant
from monitor.oncall.rotation import Rotation
from monitor.oncall.schedule import (
    Handoff,
    Shift,
    gaps,
    handoffs,
    on_call,
    on_call_source,
    shifts,
)
from monitor.oncall.status import ScheduleStatus, schedule_status

__all__ = [
    "Handoff",
    "Rotation",
    "ScheduleStatus",
    "Shift",
    "config_warnings",
    "gaps",
    "handoffs",
    "local_instant",
    "on_call",
    "on_call_source",
    "schedule_status",
    "shifts",
    "sms_opt_out_warnings",
]
