"""Scheduling arithmetic at explicit times: jitter keeps the mean, active hours, faster while locked, pauses."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Account, Schedule
from monitor.models import Status
from monitor.schedule import (
    Quiet,
    clock_step,
    healthy,
    in_hours,
    interval_for,
    next_check_at,
    next_delay,
    not_running,
    shortest_span,
)

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def account(name: str = "shop", **extra: Any) -> Account:
    return Account(name=name, profile="mock-retailer", base_url="http://127.0.0.1:9", username="a@b.c", **extra)


def highest(low: float, high: float) -> float:
    return high


def lowest(low: float, high: float) -> float:
    return low


def test_in_hours_plain_and_over_midnight() -> None:
    assert in_hours(7, (7, 23)) and not in_hours(23, (7, 23)) and not in_hours(3, (7, 23))
    assert in_hours(23, (22, 6)) and in_hours(2, (22, 6)) and not in_hours(12, (22, 6))


def test_jitter_keeps_the_mean_within_its_bounds() -> None:
    rules = Schedule(interval_s=900, jitter=0.1)
    draw = random.Random(7).uniform
    delays = [next_delay(NOON, 900, rules, uniform=draw) for _ in range(2000)]
    assert abs(statistics.mean(delays) - 900) < 10
    assert min(delays) >= 810 and max(delays) <= 990
    assert next_delay(NOON, 900, rules, uniform=lowest) == 810
    assert next_delay(NOON, 900, rules, uniform=highest) == 990


def test_first_checks_are_spread_over_a_few_seconds() -> None:
    rules = Schedule(interval_s=900)
    assert next_delay(NOON, 900, rules, first=True, uniform=highest) == 5
    assert next_delay(NOON, 2, rules, first=True, uniform=highest) == 2  # never later than one interval
    assert next_delay(NOON, 900, rules, first=True, uniform=lowest) == 0


def test_locked_or_under_review_is_checked_more_often() -> None:
    rules = Schedule(interval_s=900, interval_while_locked_s=300)
    assert interval_for(account(), rules, Status.LOCKED) == 300
    assert interval_for(account(), rules, Status.UNDER_REVIEW) == 300
    assert interval_for(account(), rules, Status.OK) == 900
    assert interval_for(account(), rules, None) == 900
    assert interval_for(account(interval_s=120.0), rules, Status.LOCKED) == 120  # already faster: kept
    assert interval_for(account(interval_s=1800.0), rules, Status.OK) == 1800


def test_outside_active_hours_waits_for_the_start() -> None:
    rules = Schedule(interval_s=60, active_hours=(15, 17))
    when = NOON + timedelta(seconds=next_delay(NOON, 60, rules, uniform=highest))
    assert when == datetime(2026, 3, 1, 15, 1, tzinfo=UTC)  # the start, plus up to one interval
    inside = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert next_delay(inside, 60, rules, uniform=highest) == 66  # inside: the plain jittered interval


def test_next_check_at_is_a_pure_function_of_its_inputs() -> None:
    assert next_check_at(NOON, 900, 0.1, None, uniform=highest) == NOON + timedelta(seconds=990)
    assert next_check_at(NOON, 900, 0.1, None, first=True, uniform=highest) == NOON + timedelta(seconds=5)
    morning = next_check_at(NOON, 900, 0.1, (7, 10), uniform=highest)
    assert morning == datetime(2026, 3, 2, 7, 5, tzinfo=UTC)  # past today's hours: tomorrow's start
    night = next_check_at(NOON, 900, 0.1, (22, 6), uniform=lowest)
    assert night == datetime(2026, 3, 1, 22, 0, tzinfo=UTC)  # hours over midnight start the same day


def test_clock_step_is_the_wall_clock_against_the_monotonic_one() -> None:
    assert clock_step(1000.0, 50.0, 1001.0, 51.0) == 0
    assert clock_step(1000.0, 50.0, 8201.0, 51.0) == 7200  # set forward by two hours
    assert clock_step(1000.0, 50.0, 1001.0, 3651.0) == -3600  # set back by an hour


def test_a_process_that_did_not_run_is_noticed_a_late_tick_is_not() -> None:
    assert not_running(100.0, 101.0, 1.0) == 0
    assert not_running(100.0, 105.5, 1.0) == 0  # a busy machine: a few seconds late
    assert not_running(100.0, 137.0, 1.0) == 36  # SIGSTOP, a paused VM, a suspend


def test_watchdog_health_is_twice_the_longest_interval_plus_the_timeout() -> None:
    rules = Schedule(interval_s=60)
    accounts = [account(), account("slow", interval_s=300.0), account("off", interval_s=9000.0, enabled=False)]
    limit = 2 * 300 + 30 + 60
    assert healthy(1000.0 + limit - 1, 1000.0, accounts, rules, 30)
    assert not healthy(1000.0 + limit, 1000.0, accounts, rules, 30)
    assert healthy(1000.0 + 2 * 60 + 30 + 59, 1000.0, [], rules, 30)  # no account: the schedule's interval


def test_reminder_period_follows_the_shortest_interval() -> None:
    rules = Schedule(interval_s=900)
    assert shortest_span([account(), account("fast", interval_s=20.0)], rules) == 20
    assert shortest_span([], rules) == 30


def test_no_success_is_due_past_the_limit_once_and_the_all_clear_counts_minutes() -> None:
    rules = Schedule(interval_s=60, stale_after_intervals=4)
    accounts = [account(), account("slow", interval_s=120.0)]
    quiet = Quiet(last_success=1000.0)
    assert quiet.overdue(1000.0 + 480, accounts, rules) is None  # 4 x the longest interval: not yet
    assert quiet.overdue(1000.0 + 481, accounts, rules) == 8
    quiet.alert()
    assert quiet.overdue(1000.0 + 9999, accounts, rules) is None  # said once
    assert quiet.succeeded(1000.0 + 1500) == 25  # minutes since the last success
    assert quiet.succeeded(1000.0 + 1600) is None and not quiet.alerted
    assert quiet.overdue(1600.0 + 10_000, [account(enabled=False)], rules) is None  # nothing to check


def test_time_the_process_did_not_run_is_not_time_without_success() -> None:
    rules = Schedule(interval_s=60, stale_after_intervals=2)
    quiet = Quiet(last_success=1000.0)
    quiet.skip(500.0)
    assert quiet.overdue(1000.0 + 500 + 120, [account()], rules) is None
    assert quiet.overdue(1000.0 + 500 + 121, [account()], rules) == 2
    assert quiet.succeeded(1000.0 + 500 + 121) is None  # no alert went out: no all-clear either
