"""The alert table as a pure function: previous state + reading + time -> new state, transitions, alerts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.config import Schedule
from monitor.models import (
    AccountState,
    Alert,
    AlertKind,
    Decision,
    Problem,
    Reading,
    Status,
    Transition,
    TransitionKind,
)

HUMAN_PROBLEMS = (Problem.CHALLENGE, Problem.LOGIN_REJECTED)
BLOCKED = (Status.LOCKED, Status.UNDER_REVIEW)
UNACKED: dict[str, Any] = {"acked_at": None, "ack_until": None, "acked_status": None}  # a status change ends an ack


def decide(previous: AccountState, reading: Reading, now: float, rules: Schedule) -> Decision:
    """Apply one reading to the previous state; never looks at a clock or a database."""
    state = replace(previous, last_check_at=now, last_outcome=reading.problem or reading.status)
    transitions: list[Transition] = []
    alerts: list[Alert] = []
    name = previous.account

    if reading.problem is not None:
        state = replace(
            state,
            problem=reading.problem,
            problem_count=previous.problem_count + 1,
            problem_since=previous.problem_since if previous.problem else now,
        )
        facts = {
            "problem": str(reading.problem),
            "detail": reading.detail,
            "since": state.problem_since,
            "count": state.problem_count,
        }
        if reading.problem in HUMAN_PROBLEMS and previous.problem != reading.problem:
            alerts.append(Alert(AlertKind.NEEDS_HUMAN, name, facts))
            transitions.append(Transition(TransitionKind.NEEDS_HUMAN, None, str(reading.problem)))
            state = replace(state, problem_alerted=True)
        elif state.problem_count >= rules.problem_confirm and not state.problem_alerted:
            alerts.append(Alert(AlertKind.CHECKS_FAILING, name, facts))
            transitions.append(Transition(TransitionKind.CHECKS_FAILING, None, str(reading.problem)))
            state = replace(state, problem_alerted=True)
        state, due = reminders(state, now, rules)
        return Decision(state, transitions, alerts + due)

    status = reading.status
    assert status is not None, "a reading has a status or a problem"
    state = replace(state, last_success_at=now)
    if previous.problem is not None:
        if previous.problem_alerted:
            facts = {"problem": str(previous.problem), "since": previous.problem_since}
            alerts.append(Alert(AlertKind.CHECKS_RECOVERED, name, facts))
            transitions.append(Transition(TransitionKind.CHECKS_RECOVERED, str(previous.problem), None))
        state = replace(state, problem=None, problem_count=0, problem_since=None, problem_alerted=False)

    if status == Status.UNKNOWN:
        state = replace(state, unknown_count=previous.unknown_count + 1)
        if state.unknown_count == rules.unknown_confirm and previous.status != Status.UNKNOWN:
            alerts.append(Alert(AlertKind.UNKNOWN_PAGE, name, _facts(reading, previous.status)))
            transitions.append(Transition(TransitionKind.UNKNOWN_PAGE, _s(previous.status), Status.UNKNOWN))
            state = replace(
                state,
                known_status=previous.status if previous.status != Status.UNKNOWN else previous.known_status,
                status=Status.UNKNOWN,
                status_since=now,
                last_reminder_at=None,
                **UNACKED,
            )
        return Decision(state, transitions, alerts)

    state = replace(state, unknown_count=0)
    before = previous.known_status if previous.status == Status.UNKNOWN else previous.status
    if previous.status != status:
        kind = _change_alert(before, status)
        if kind is not None:
            alerts.append(Alert(kind, name, _facts(reading, before)))
        edge = TransitionKind(kind) if kind is not None else TransitionKind.STATUS
        transitions.append(Transition(edge, _s(previous.status), str(status)))
        state = replace(state, status=status, status_since=now, last_reminder_at=None, known_status=status, **UNACKED)
    state, due = reminders(state, now, rules)
    return Decision(state, transitions, alerts + due)


def _change_alert(before: Status | None, after: Status) -> AlertKind | None:
    """The alert for a change between two known statuses (None before = first reading)."""
    if before == after:
        return None  # unknown went back to what it was: the unknown alert is answered by silence
    if after == Status.LOCKED:
        return AlertKind.LOCKED
    if after == Status.UNDER_REVIEW:
        return AlertKind.UNDER_REVIEW
    if after == Status.OK and before in BLOCKED:
        return AlertKind.RESTORED
    return None


def reminders(state: AccountState, now: float, rules: Schedule) -> tuple[AccountState, list[Alert]]:
    """Repeated alerts while locked or under review for too long (and not acknowledged), and the state after them."""
    if state.status not in BLOCKED or state.status_since is None or state.acknowledged(now):
        return state, []
    first_h = rules.review_reminder_h if state.status == Status.UNDER_REVIEW else rules.locked_reminder_h
    since = now - state.status_since
    if since < first_h * 3600:
        return state, []
    if state.last_reminder_at is not None and now - state.last_reminder_at < rules.reminder_every_h * 3600:
        return state, []
    kind = AlertKind.REVIEW_OVERDUE if state.status == Status.UNDER_REVIEW else AlertKind.STILL_LOCKED
    facts = {"status": str(state.status), "since": state.status_since, "hours": round(since / 3600, 1)}
    return replace(state, last_reminder_at=now), [Alert(kind, state.account, facts)]


def _facts(reading: Reading, before: Status | None) -> dict[str, Any]:
    return {
        "from": _s(before),
        "to": reading.outcome,
        "rule": reading.rule,
        "matched": reading.matched,
        "url": reading.url,
        "detail": reading.detail,
        "orders": reading.orders,
        "instructions": reading.instructions,
    }


def _s(status: Status | None) -> str | None:
    return str(status) if status is not None else None
