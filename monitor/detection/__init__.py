"""Detection: from probe runs to incidents.

Public names:
- `Sample`: one run as detection sees it.
- `rules_of(alert)`, `Finding`, and the rules `ConsecutiveFailures`, `FailureRatioRule`,
  `LatencyRule`, `BurnRateRule` (pure functions of a location's recent runs).
- `ProbeTracker`, `DetectionPolicy`: one probe's state machine (`up -> failing -> up`) and the
  decisions it returns (`Open`, `RaiseSeverity`, `Resolve`, `Confirm`, `Suppressed`).
- `Detector`: runs the trackers and writes their decisions to an `IncidentStore`
  (`DatabaseIncidents`, or `MemoryIncidents` for a backtest).
- `MaintenanceWindow`, `in_maintenance`: recurring windows from the config.
- `component_status`, `group_statuses`: what the status page shows for a group.
- `backtest`: replay stored runs through a config's rules.
"""

from monitor.detection.backtest import BacktestIncident, BacktestReport, backtest
from monitor.detection.detector import Detector, DetectorStats
from monitor.detection.maintenance import MaintenanceWindow, in_maintenance
from monitor.detection.rules import (
    BurnRateRule,
    ConsecutiveFailures,
    FailureRatioRule,
    Finding,
    LatencyRule,
    rules_of,
)
from monitor.detection.samples import Sample
from monitor.detection.status import ComponentStatus, component_status, group_statuses
from monitor.detection.store import DatabaseIncidents, IncidentStore, MemoryIncidents
from monitor.detection.tracker import (
    Confirm,
    DetectionPolicy,
    Open,
    ProbeTracker,
    RaiseSeverity,
    Resolve,
    Suppressed,
)

__all__ = [
    "BacktestIncident",
    "BacktestReport",
    "BurnRateRule",
    "ComponentStatus",
    "Confirm",
    "ConsecutiveFailures",
    "DatabaseIncidents",
    "DetectionPolicy",
    "Detector",
    "DetectorStats",
    "FailureRatioRule",
    "Finding",
    "IncidentStore",
    "LatencyRule",
    "MaintenanceWindow",
    "MemoryIncidents",
    "Open",
    "ProbeTracker",
    "RaiseSeverity",
    "Resolve",
    "Sample",
    "Suppressed",
    "backtest",
    "component_status",
    "group_statuses",
    "in_maintenance",
    "rules_of",
]
