"""Scheduling arithmetic as pure functions of explicit times: next check, jitter, active hours, pauses."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import Account, Schedule
from monitor.models import Status

# Never steps, and keeps counting through a system suspend (CLOCK_MONOTONIC stops there), so checks
# that became due while asleep run at once on waking. Linux has it; elsewhere the monotonic clock.
CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
NOTICED_S = 5.0  # a clock step or a stretch of not running shorter than this goes unremarked


def steady() -> float:
    """Seconds on CLOCK: what the schedule, the watchdog and the no-success alert are timed with."""
    return time.clock_gettime(CLOCK)


def in_hours(hour: int, hours: tuple[int, int]) -> bool:
    """Whether `hour` lies in the active hours (start, end), end exclusive, possibly over midnight."""
    start, end = hours
    return start <= hour < end if start < end else hour >= start or hour < end


def next_check_at(
    now: datetime,
    span: float,
    jitter: float,
    hours: tuple[int, int] | None,
    first: bool = False,
    uniform: Callable[[float, float], float] = random.uniform,
) -> datetime:
    """When to check next: `span` jittered symmetrically (mean stays put), inside active hours."""
    # First checks are spread over a short window so that many accounts do not start at once.
    delay = uniform(0, min(span, 5.0)) if first else span * uniform(1 - jitter, 1 + jitter)
    when = now + timedelta(seconds=delay)
    if hours and not in_hours(when.hour, hours):
        start = when.replace(hour=hours[0], minute=0, second=0, microsecond=0)
        if start <= when:
            start += timedelta(days=1)
        when = start + timedelta(seconds=uniform(0, min(span, 300)))
    return when


def next_delay(
    now: datetime,
    span: float,
    rules: Schedule,
    first: bool = False,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds from `now` until the next check (never negative)."""
    when = next_check_at(now, span, rules.jitter, rules.active_hours, first, uniform)
    return max(0.0, (when - now).total_seconds())


def interval_for(account: Account, rules: Schedule, status: Status | None) -> float:
    """The account's check interval: its own or the schedule's, shorter while locked or under review."""
    base = account.interval_s or rules.interval_s
    if status in (Status.LOCKED, Status.UNDER_REVIEW):
        return min(base, rules.interval_while_locked_s)
    return base


def spans(accounts: Sequence[Account], rules: Schedule) -> list[float]:
    """Each enabled account's own check interval (none while locked)."""
    return [a.interval_s or rules.interval_s for a in accounts if a.enabled]


def shortest_span(accounts: Sequence[Account], rules: Schedule) -> float:
    """The shortest interval of any configured account (30 s when there is none)."""
    return min([a.interval_s or rules.interval_s for a in accounts] or [30.0])


def healthy(now: float, last_done: float, accounts: Sequence[Account], rules: Schedule, timeout_s: float) -> bool:
    """Checks really complete: the last one finished within the longest interval twice over, plus its timeout."""
    limit = 2 * max(spans(accounts, rules) or [rules.interval_s]) + timeout_s + 60
    return now - last_done < limit


def clock_step(wall_before: float, mono_before: float, wall_now: float, mono_now: float) -> float:
    """Seconds the wall clock jumped against the steady clock between two observations."""
    return (wall_now - wall_before) - (mono_now - mono_before)


def not_running(previous: float, now: float, tick: float) -> float:
    """Seconds the process did not run between two supervisor rounds meant to be `tick` apart (0: it ran)."""
    asleep = now - previous - tick
    return asleep if asleep > NOTICED_S else 0.0


def minutes(seconds: float) -> int:
    """A stretch of time in whole minutes for the owner, at least one."""
    return max(1, round(seconds / 60))


@dataclass
class Quiet:
    """The monitor-wide "no check succeeded for a while" watch, on the steady clock."""

    last_success: float
    alerted: bool = False
    since: float = 0.0  # the last success when the no_success alert went out

    def overdue(self, now: float, accounts: Sequence[Account], rules: Schedule) -> int | None:
        """Minutes without a successful check once past stale_after_intervals of the longest interval, else None."""
        longest = spans(accounts, rules)
        if not longest or self.alerted:
            return None
        quiet = now - self.last_success
        return minutes(quiet) if quiet > max(longest) * rules.stale_after_intervals else None

    def alert(self) -> None:
        """The no_success alert went out: say nothing more until a check succeeds."""
        self.alerted = True
        self.since = self.last_success

    def succeeded(self, now: float) -> int | None:
        """A check read a status: minutes since the last success when the no_success alert had gone out, else None."""
        self.last_success = now
        if not self.alerted:
            return None
        self.alerted = False
        return minutes(now - self.since)

    def skip(self, seconds: float) -> None:
        """The process did not run for `seconds`: that was no stretch of failed checks."""
        self.last_success += seconds
