"""decide(): the alert table as a table of cases, with a controlled clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from monitor.config import Schedule
from monitor.decide import decide
from monitor.models import AccountState, AlertKind, Problem, Reading, Status

H = 3600.0
T0 = 1_700_000_000.0
RULES = Schedule()  # unknown after 2, problems after 3, review 24 h, locked 12 h, every 12 h

OK, LOCKED, REVIEW, UNKNOWN = Status.OK, Status.LOCKED, Status.UNDER_REVIEW, Status.UNKNOWN
OUT, REJECTED, CHALLENGE, DOWN = Problem.LOGGED_OUT, Problem.LOGIN_REJECTED, Problem.CHALLENGE, Problem.UNREACHABLE


@dataclass
class Case:
    """A sequence of (hours after T0, status or problem) and the alerts each step must produce."""

    id: str
    steps: list[tuple[float, Status | Problem]]
    alerts: list[list[AlertKind]]
    final: Status | None = field(default=None)


A = AlertKind
CASES = [
    Case("first-reading-ok-is-silent", [(0, OK)], [[]], OK),
    Case("first-reading-locked-alerts", [(0, LOCKED)], [[A.LOCKED]], LOCKED),
    Case("first-reading-review-alerts", [(0, REVIEW)], [[A.UNDER_REVIEW]], REVIEW),
    Case("ok-stays-ok-silent", [(0, OK), (1, OK), (2, OK)], [[], [], []], OK),
    Case("ok-to-locked", [(0, OK), (1, LOCKED)], [[], [A.LOCKED]], LOCKED),
    Case("locked-repeats-silent", [(0, OK), (1, LOCKED), (2, LOCKED)], [[], [A.LOCKED], []], LOCKED),
    Case("locked-to-review", [(0, LOCKED), (1, REVIEW)], [[A.LOCKED], [A.UNDER_REVIEW]], REVIEW),
    Case("review-to-ok-restored", [(0, REVIEW), (1, OK)], [[A.UNDER_REVIEW], [A.RESTORED]], OK),
    Case("locked-to-ok-restored", [(0, OK), (1, LOCKED), (2, OK)], [[], [A.LOCKED], [A.RESTORED]], OK),
    Case("review-back-to-locked", [(0, REVIEW), (1, LOCKED)], [[A.UNDER_REVIEW], [A.LOCKED]], LOCKED),
    Case(
        "whole-story",
        [(0, OK), (1, LOCKED), (2, REVIEW), (20, OK)],
        [[], [A.LOCKED], [A.UNDER_REVIEW], [A.RESTORED]],
        OK,
    ),
    Case("unknown-once-is-silent", [(0, OK), (1, UNKNOWN), (2, OK)], [[], [], []], OK),
    Case(
        "unknown-confirmed-alerts-once",
        [(0, OK), (1, UNKNOWN), (2, UNKNOWN), (3, UNKNOWN)],
        [[], [], [A.UNKNOWN_PAGE], []],
        UNKNOWN,
    ),
    Case("unknown-first-reading-confirmed", [(0, UNKNOWN), (1, UNKNOWN)], [[], [A.UNKNOWN_PAGE]], UNKNOWN),
    Case(
        "unknown-then-same-status-is-silent",
        [(0, OK), (1, UNKNOWN), (2, UNKNOWN), (3, OK)],
        [[], [], [A.UNKNOWN_PAGE], []],
        OK,
    ),
    Case(
        "unknown-then-locked-alerts-lock",
        [(0, OK), (1, UNKNOWN), (2, UNKNOWN), (3, LOCKED)],
        [[], [], [A.UNKNOWN_PAGE], [A.LOCKED]],
        LOCKED,
    ),
    Case(
        "locked-unknown-ok-is-restored",
        [(0, LOCKED), (1, UNKNOWN), (2, UNKNOWN), (3, OK)],
        [[A.LOCKED], [], [A.UNKNOWN_PAGE], [A.RESTORED]],
        OK,
    ),
    Case("problem-twice-is-silent", [(0, OK), (1, DOWN), (2, DOWN)], [[], [], []], OK),
    Case(
        "problem-three-times-alerts-once",
        [(0, OK), (1, DOWN), (2, DOWN), (3, DOWN), (4, DOWN)],
        [[], [], [], [A.CHECKS_FAILING], []],
        OK,
    ),
    Case(
        "problem-recovery-alerts-once",
        [(0, OK), (1, DOWN), (2, DOWN), (3, DOWN), (4, OK), (5, OK)],
        [[], [], [], [A.CHECKS_FAILING], [A.CHECKS_RECOVERED], []],
        OK,
    ),
    Case("short-problem-recovers-silently", [(0, OK), (1, DOWN), (2, OK)], [[], [], []], OK),
    Case(
        "mixed-problems-count-together", [(0, OK), (1, DOWN), (2, OUT), (3, DOWN)], [[], [], [], [A.CHECKS_FAILING]], OK
    ),
    Case(
        "problem-never-changes-status",
        [(0, LOCKED), (1, DOWN), (2, DOWN), (3, DOWN)],
        [[A.LOCKED], [], [], [A.CHECKS_FAILING]],
        LOCKED,
    ),
    Case(
        "problem-then-lock-alerts-both",
        [(0, OK), (1, DOWN), (2, DOWN), (3, DOWN), (4, LOCKED)],
        [[], [], [], [A.CHECKS_FAILING], [A.CHECKS_RECOVERED, A.LOCKED]],
        LOCKED,
    ),
    Case("challenge-alerts-at-once", [(0, OK), (1, CHALLENGE)], [[], [A.NEEDS_HUMAN]], OK),
    Case(
        "challenge-repeats-silent",
        [(0, OK), (1, CHALLENGE), (2, CHALLENGE), (3, OUT), (4, OUT)],
        [[], [A.NEEDS_HUMAN], [], [], []],
        OK,
    ),
    Case("login-rejected-alerts-at-once", [(0, OK), (1, REJECTED)], [[], [A.NEEDS_HUMAN]], OK),
    Case(
        "challenge-after-failing-still-alerts",
        [(0, OK), (1, DOWN), (2, DOWN), (3, DOWN), (4, CHALLENGE)],
        [[], [], [], [A.CHECKS_FAILING], [A.NEEDS_HUMAN]],
        OK,
    ),
    Case("needs-human-recovery", [(0, OK), (1, CHALLENGE), (2, OK)], [[], [A.NEEDS_HUMAN], [A.CHECKS_RECOVERED]], OK),
    Case(
        "review-reminder-after-24h",
        [(0, LOCKED), (1, REVIEW), (24.5, REVIEW), (25.5, REVIEW), (26, REVIEW)],
        [[A.LOCKED], [A.UNDER_REVIEW], [], [A.REVIEW_OVERDUE], []],
        REVIEW,
    ),
    Case("review-reminder-not-before-24h", [(0, REVIEW), (23.9, REVIEW)], [[A.UNDER_REVIEW], []], REVIEW),
    Case(
        "review-reminder-repeats-every-12h",
        [(0, REVIEW), (24, REVIEW), (30, REVIEW), (36, REVIEW)],
        [[A.UNDER_REVIEW], [A.REVIEW_OVERDUE], [], [A.REVIEW_OVERDUE]],
        REVIEW,
    ),
    Case(
        "locked-reminder-after-12h",
        [(0, LOCKED), (11, LOCKED), (12, LOCKED), (13, LOCKED)],
        [[A.LOCKED], [], [A.STILL_LOCKED], []],
        LOCKED,
    ),
    Case(
        "reminder-clock-resets-on-change",
        [(0, LOCKED), (11, REVIEW), (13, REVIEW)],
        [[A.LOCKED], [A.UNDER_REVIEW], []],
        REVIEW,
    ),
    Case("reminder-while-checks-fail", [(0, REVIEW), (24, DOWN)], [[A.UNDER_REVIEW], [A.REVIEW_OVERDUE]], REVIEW),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_alert_table(case: Case) -> None:
    state = AccountState("shop")
    assert len(case.steps) == len(case.alerts)
    for (hours, outcome), expected in zip(case.steps, case.alerts, strict=True):
        now = T0 + hours * H
        if isinstance(outcome, Problem):
            reading = Reading(account="shop", at=now, problem=outcome)
        else:
            reading = Reading(account="shop", at=now, status=outcome)
        decision = decide(state, reading, now, RULES)
        got = [a.kind for a in decision.alerts]
        assert got == expected, f"at +{hours} h after {outcome}: {got} != {expected}"
        state = decision.state
    assert state.status == case.final


def test_decide_does_not_mutate_previous() -> None:
    before = AccountState("shop", status=OK, status_since=T0)
    decide(before, Reading(account="shop", status=LOCKED, at=T0 + 60), T0 + 60, RULES)
    assert before.status == OK and before.last_check_at is None


def test_thresholds_are_configurable() -> None:
    rules = Schedule(problem_confirm=1, unknown_confirm=1)
    state = AccountState("shop", status=OK)
    assert [a.kind for a in decide(state, Reading("shop", problem=DOWN), T0, rules).alerts] == [A.CHECKS_FAILING]
    assert [a.kind for a in decide(state, Reading("shop", status=UNKNOWN), T0, rules).alerts] == [A.UNKNOWN_PAGE]


def test_transitions_record_status_edges() -> None:
    state = AccountState("shop")
    d1 = decide(state, Reading("shop", status=OK), T0, RULES)
    d2 = decide(d1.state, Reading("shop", status=LOCKED), T0 + 1, RULES)
    assert [(t.kind, t.from_status, t.to_status) for t in d1.transitions] == [("status", None, "ok")]
    assert [(t.kind, t.from_status, t.to_status) for t in d2.transitions] == [(A.LOCKED, "ok", "locked")]
    assert d2.state.status_since == T0 + 1


def test_lock_and_review_alerts_carry_the_pages_instruction() -> None:
    """The page's own "what to do" travels with the alert, so the message can quote it."""
    state = AccountState("shop", status=OK)
    for status in (LOCKED, REVIEW):
        reading = Reading("shop", status=status, instructions="Upload a photo ID.")
        decision = decide(state, reading, T0, RULES)
        assert [a.facts["instructions"] for a in decision.alerts] == ["Upload a photo ID."]
        state = decision.state


def run(state: AccountState, steps: list[tuple[float, Status]]) -> tuple[AccountState, list[list[AlertKind]]]:
    """Feed readings at (hours after T0, status); the final state and the alerts of each step."""
    alerts = []
    for hours, status in steps:
        decision = decide(state, Reading("shop", status=status, at=T0 + hours * H), T0 + hours * H, RULES)
        alerts.append([a.kind for a in decision.alerts])
        state = decision.state
    return state, alerts


def test_an_acknowledged_case_sends_no_reminders_until_its_status_changes() -> None:
    state, _ = run(AccountState("shop"), [(0, OK), (1, LOCKED)])
    acked = replace(state, acked_at=T0 + 2 * H, ack_until=None, acked_status=LOCKED)
    state, alerts = run(acked, [(13, LOCKED), (30, LOCKED), (60, LOCKED)])
    assert alerts == [[], [], []]  # unacknowledged, 13 h locked would remind (locked-reminder-after-12h)
    assert state.acked_status == LOCKED
    state, alerts = run(state, [(61, REVIEW), (86, REVIEW)])
    assert alerts == [[A.UNDER_REVIEW], [A.REVIEW_OVERDUE]]  # a new status: the acknowledgement is over
    assert (state.acked_at, state.ack_until, state.acked_status) == (None, None, None)


def test_an_acknowledgement_until_a_time_ends_then() -> None:
    state, _ = run(AccountState("shop"), [(0, REVIEW)])
    acked = replace(state, acked_at=T0 + H, ack_until=T0 + 40 * H, acked_status=REVIEW)
    _, alerts = run(acked, [(24, REVIEW), (39.9, REVIEW), (40, REVIEW), (41, REVIEW)])
    assert alerts == [[], [], [A.REVIEW_OVERDUE], []]


def test_an_acknowledgement_of_another_status_does_not_silence_this_one() -> None:
    state, _ = run(AccountState("shop"), [(0, LOCKED)])
    stale = replace(state, acked_at=T0, ack_until=None, acked_status=REVIEW)  # e.g. written just as it changed
    _, alerts = run(stale, [(13, LOCKED)])
    assert alerts == [[A.STILL_LOCKED]]


def test_a_confirmed_unknown_page_ends_the_acknowledgement() -> None:
    state, _ = run(AccountState("shop"), [(0, LOCKED)])
    acked = replace(state, acked_at=T0, ack_until=None, acked_status=LOCKED)
    state, alerts = run(acked, [(1, UNKNOWN), (2, UNKNOWN)])
    assert alerts == [[], [A.UNKNOWN_PAGE]] and state.acked_at is None
