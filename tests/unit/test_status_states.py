from __future__ import annotations

from serve_app.status.states import Outcome, State, Thresholds, model_state, overall_state

THRESHOLDS = Thresholds(window=3, outage_probes=2, degraded_ttfb_ms=1000, degraded_tokens_per_second=5)
OK = Outcome(True, ttfb_ms=100, throughput=40)
FAIL = Outcome(False)


def state(*recent: Outcome, generative: bool = True, maintenance: bool = False) -> State:
    return model_state(recent, THRESHOLDS, generative=generative, in_maintenance=maintenance)


def test_no_probe_yet_is_unknown() -> None:
    assert state() is State.UNKNOWN


def test_healthy_probes_are_operational() -> None:
    assert state(OK, OK, OK) is State.OPERATIONAL


def test_consecutive_failures_make_a_major_outage_and_a_single_one_a_partial_outage() -> None:
    assert state(FAIL, FAIL, OK) is State.MAJOR_OUTAGE
    assert state(FAIL, OK, OK) is State.PARTIAL_OUTAGE
    assert state(FAIL) is State.PARTIAL_OUTAGE  # one probe is not enough to call a major outage


def test_recovery_is_confirmed_before_operational() -> None:
    assert state(OK, FAIL, FAIL) is State.PARTIAL_OUTAGE
    assert state(OK, OK, FAIL) is State.PARTIAL_OUTAGE
    assert state(OK, OK, OK, FAIL) is State.OPERATIONAL  # the failure left the window


def test_slow_first_byte_or_slow_generation_is_degraded() -> None:
    slow = Outcome(True, ttfb_ms=1500, throughput=40)
    assert state(slow, slow, OK) is State.DEGRADED_PERFORMANCE  # the median is slow
    assert state(slow, OK, OK) is State.OPERATIONAL  # one slow probe is not
    crawling = Outcome(True, ttfb_ms=100, throughput=2)
    assert state(crawling, crawling, crawling) is State.DEGRADED_PERFORMANCE
    assert state(crawling, crawling, crawling, generative=False) is State.OPERATIONAL  # inputs/s, not tokens/s


def test_maintenance_wins_over_probes() -> None:
    assert state(FAIL, FAIL, maintenance=True) is State.UNDER_MAINTENANCE


def test_overall_state_is_the_worst_but_a_single_models_outage_is_partial_for_the_platform() -> None:
    assert overall_state([State.OPERATIONAL, State.OPERATIONAL]) is State.OPERATIONAL
    assert overall_state([State.OPERATIONAL, State.DEGRADED_PERFORMANCE]) is State.DEGRADED_PERFORMANCE
    assert overall_state([State.OPERATIONAL, State.MAJOR_OUTAGE]) is State.PARTIAL_OUTAGE
    assert overall_state([State.MAJOR_OUTAGE, State.MAJOR_OUTAGE]) is State.MAJOR_OUTAGE
    assert overall_state([State.OPERATIONAL, State.UNDER_MAINTENANCE]) is State.UNDER_MAINTENANCE
    assert overall_state([State.UNKNOWN, State.OPERATIONAL]) is State.OPERATIONAL
    assert overall_state([]) is State.UNKNOWN
