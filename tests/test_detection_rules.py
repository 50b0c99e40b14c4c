"""The rules as pure functions of a location's runs: exact figures, exact thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.models import AlertConfig
from monitor.detection.rules import (
    DEFAULT_RULES,
    BurnRateRule,
    BurnWindowRule,
    ConsecutiveFailures,
    FailureRatioRule,
    LatencyRule,
    first_finding,
    nearest_rank,
    percent,
    rules_of,
)
from monitor.detection.samples import Sample
from monitor.detection.status import component_status, group_statuses

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def runs(
    pattern: str, *, every: float = 30.0, start: datetime = T0, ms: float = 50.0
) -> list[Sample]:
    """'..x.' -> runs every `every` seconds, x failed."""
    return [
        Sample(at=start + timedelta(seconds=every * i), ok=c == ".", duration_ms=ms)
        for i, c in enumerate(pattern)
    ]


def last(samples: list[Sample]) -> datetime:
    return samples[-1].at


@pytest.mark.parametrize(
    ("pattern", "fires"),
    [("...xxx", True), ("xx.xx", False), ("xx", False), ("xxxx", True), ("", False)],
)
def test_consecutive_failures(pattern: str, fires: bool) -> None:
    samples = runs(pattern)
    now = last(samples) if samples else T0
    finding = ConsecutiveFailures(3).evaluate(samples, now)
    assert (finding is not None) is fires
    if finding:
        assert finding.figures == "the last 3 runs failed"
        assert finding.kind == "availability"


RATIO = FailureRatioRule(above=0.2, window=timedelta(minutes=5), min_samples=10)


def test_failure_ratio_counts_from_the_first_failure_in_the_window() -> None:
    # Ten passing runs, then a failure and nine confirmation runs (5 s apart) with two more
    # failures: 3 of 10 since the trouble started, though only 3 of 20 in the whole window.
    samples = runs("." * 9, start=T0) + runs(
        "x.x..x....", every=5, start=T0 + timedelta(seconds=270)
    )
    finding = RATIO.evaluate(samples, last(samples))
    assert finding is not None
    assert finding.figures == "30% of 10 runs failed in 5m"
    assert finding.rule == "failure_ratio above 20% over 5m"


def test_failure_ratio_two_failures_in_ten_is_not_above_twenty_percent() -> None:
    samples = runs("x.x.......", every=5)
    assert RATIO.evaluate(samples, last(samples)) is None


def test_failure_ratio_needs_min_samples_since_the_first_failure() -> None:
    samples = runs(".......xxx", every=5)  # 100% but only 3 runs since the first failure
    assert RATIO.evaluate(samples, last(samples)) is None


def test_failure_ratio_forgets_runs_older_than_the_window() -> None:
    samples = runs("xxxxxxxxxx", every=30)  # 10 failures over 4.5 minutes
    assert RATIO.evaluate(samples, last(samples)) is not None
    later = last(samples) + timedelta(minutes=5)
    assert RATIO.evaluate(samples, later) is None


def test_failure_ratio_ignores_runs_after_now() -> None:
    samples = runs("xxxxxxxxxx", every=5)
    assert RATIO.evaluate(samples, samples[5].at) is None  # only 6 runs by then


def test_latency_nearest_rank_percentile() -> None:
    rule = LatencyRule(
        percentile=95, above=timedelta(milliseconds=800), window=timedelta(minutes=5), min_samples=6
    )
    fast = [Sample(at=T0 + timedelta(seconds=30 * i), ok=True, duration_ms=100) for i in range(19)]
    slow = Sample(at=T0 + timedelta(seconds=30 * 19), ok=True, duration_ms=2000)
    # 20 runs within... the window is 5m: only the last 10 count; p95 of 10 is the 10th value.
    finding = rule.evaluate([*fast, slow], slow.at)
    assert finding is not None
    assert finding.kind == "latency"
    assert finding.figures == "p95 2s over 10 runs in 5m"
    assert rule.evaluate(fast, fast[-1].at) is None


def test_nearest_rank() -> None:
    assert nearest_rank([5, 1, 3, 2, 4], 50) == 3
    assert nearest_rank([5, 1, 3, 2, 4], 100) == 5
    assert nearest_rank([5, 1, 3, 2, 4], 1) == 1


BURN = BurnRateRule(
    slo=99.9,
    windows=(
        BurnWindowRule(long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),
        BurnWindowRule(long=timedelta(hours=6), short=timedelta(minutes=30), factor=6),
    ),
    min_samples=20,
)


def test_burn_rate_needs_both_windows() -> None:
    # One hour at 30 s: 120 runs, 2 failures (1.7% > 14.4 x 0.1%), the last one in the last
    # 5 minutes -> fires; the same with the failures long ago in the hour -> the short window
    # is clean -> no page.
    hour = ["."] * 120
    hour[30] = "x"
    hour[118] = "x"
    samples = runs("".join(hour))
    finding = BURN.evaluate(samples, last(samples))
    assert finding is not None
    assert finding.figures == "error rate 1.7% over 1h and 10% over 5m, 14.4x the 0.1% budget"
    hour[118] = "."
    hour[31] = "x"
    samples = runs("".join(hour))
    assert BURN.evaluate(samples, last(samples)) is None


def test_burn_rate_needs_min_samples_in_the_long_window() -> None:
    samples = runs("..x")  # 33% error rate, but three runs are no evidence
    assert BURN.evaluate(samples, last(samples)) is None


def test_defaults_and_config_order() -> None:
    assert rules_of(AlertConfig()) == DEFAULT_RULES
    alert = AlertConfig.model_validate(
        {"trigger": [{"latency": {"above": "1s", "min_samples": 1}}, {"consecutive_failures": 2}]}
    )
    rules = rules_of(alert)
    assert [rule.description for rule in rules] == [
        "latency p95 above 1s over 5m",
        "consecutive_failures 2",
    ]
    # Slow and failing: the availability finding wins even though latency comes first.
    samples = runs("xx", ms=5000)
    finding = first_finding(rules, samples, last(samples))
    assert finding is not None and finding.kind == "availability"
    samples = runs(".x", ms=5000)
    finding = first_finding(rules, samples, last(samples))
    assert finding is not None and finding.kind == "latency"


@pytest.mark.parametrize(
    ("ratio", "text"), [(0.35, "35%"), (0.001, "0.1%"), (0.0, "0%"), (0.017, "1.7%"), (1.0, "100%")]
)
def test_percent(ratio: float, text: str) -> None:
    assert percent(ratio) == text


def test_a_component_shows_its_worst_open_incident() -> None:
    statuses = group_statuses(
        ["api", "web", "billing", "search"],
        [("api", "degraded"), ("api", "partial"), ("web", "degraded"), ("billing", "major")],
    )
    assert statuses == {
        "api": "partial_outage",
        "web": "degraded",
        "billing": "major_outage",
        "search": "operational",
    }
    # The worst wins whatever the order; no incident at all is operational.
    assert component_status(["major", "degraded", "partial"]) == "major_outage"
    assert component_status([]) == "operational"


def test_an_open_incident_of_a_group_not_listed_still_shows() -> None:
    # A group renamed in the config while its incident is open must not vanish from the page.
    assert group_statuses([], [("old-name", "major")]) == {"old-name": "major_outage"}
