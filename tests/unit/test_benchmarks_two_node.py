"""The two-node benchmark's checks: answers by phase, and the ledger against what clients were told."""

from __future__ import annotations

from typing import Any

from benchmarks.two_node import Answer, exactness, phases, recovery


def row(request_id: str, prompt: int, completion: int) -> dict[str, Any]:
    return {"request_id": request_id, "prompt_tokens": prompt, "completion_tokens": completion, "outcome": "completed"}


ANSWERS = [
    Answer("limited", 1.0, 1.5, 200, "req_a", 30, 8),
    Answer("limited", 2.0, 2.5, 200, "req_b", 30, 8),
    Answer("limited", 9.0, 12.0, 0, None),
    Answer("limited", 11.0, 11.2, 429, "req_c"),
    Answer("limited", 11.0, 14.0, 200, "req_d", 31, 8),
    Answer("load", 9.5, 10.5, 500, "req_e"),
]


def test_phases_count_each_request_by_when_it_was_sent() -> None:
    assert phases(ANSWERS, killed_at=10.0) == {
        "limited before": {"ok": 2, "refused": 0, "failed": 1},
        "limited after": {"ok": 1, "refused": 1, "failed": 0},
        "load before": {"ok": 0, "refused": 0, "failed": 1},
    }


def test_recovery_is_the_first_success_of_a_request_sent_after_the_kill() -> None:
    found = recovery(ANSWERS, killed_at=10.0)
    assert found["first_ok_sent_after_kill_s"] == 4.0
    assert found["failed_statuses"] == {"0": 1, "500": 1}
    assert (found["failures_from_s"], found["failures_until_s"]) == (10.5, 12.0)


def test_an_exact_ledger_matches_every_ok_answer_and_nothing_else() -> None:
    rows = [row("req_a", 30, 8), row("req_b", 30, 8), row("req_d", 31, 8)]
    found = exactness("limited", ANSWERS, rows, limit=100)
    assert (found["ok_not_in_ledger"], found["ledger_rows_without_an_ok_answer"], found["rows_billed_twice"]) == (
        0, 0, 0)
    assert found["tokens_told"] == found["tokens_in_ledger"] == 115
    assert found["tokens_match_where_both"] and found["within_limit_plus_one_request"]


def test_missing_rows_extra_rows_and_a_crossed_limit_are_reported() -> None:
    rows = [row("req_a", 30, 9), row("req_c", 30, 8), row("req_c", 30, 8)]
    found = exactness("limited", ANSWERS, rows, limit=40)
    assert found["ok_not_in_ledger"] == 2  # req_b and req_d
    assert found["ledger_rows_without_an_ok_answer"] == found["of_which_refused_or_failed_with_an_id"] == 1
    assert found["rows_billed_twice"] == 1
    assert not found["tokens_match_where_both"]
    assert not found["within_limit_plus_one_request"]  # 117 > 40 + 39
