"""Scheduling arithmetic of the daemon: jitter keeps the mean, active hours, shorter interval while locked."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

from monitor.daemon import Daemon, _in_hours, clock_step, next_check_at
from monitor.models import Reading, Status
from tests.helpers import make_config


def test_in_hours_plain_and_over_midnight() -> None:
    assert _in_hours(7, (7, 23)) and not _in_hours(23, (7, 23)) and not _in_hours(3, (7, 23))
    assert _in_hours(23, (22, 6)) and _in_hours(2, (22, 6)) and not _in_hours(12, (22, 6))


def test_jitter_keeps_the_mean_and_locked_is_checked_more_often(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.coordinator import Coordinator
    from monitor.store import Store

    cfg = configmod.load(make_config(tmp_path, [], extra='[schedule]\ninterval = "15m"\ninterval_while_locked = "5m"'))
    daemon = Daemon.__new__(Daemon)
    daemon.config = cfg
    daemon.store = Store.open(cfg.data_dir)
    account = cfg.accounts[0]
    random.seed(7)
    now = datetime.now().astimezone()
    delays = [(daemon.next_run(account) - now).total_seconds() for _ in range(2000)]
    assert abs(statistics.mean(delays) - 900) < 10
    assert min(delays) >= 900 * 0.9 - 1 and max(delays) <= 900 * 1.1 + 1
    Coordinator(cfg, daemon.store).commit(Reading(account="shop", status=Status.LOCKED, at=1_800_000_000))
    assert daemon.interval(account) == 300


def test_outside_active_hours_waits_for_the_start(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.store import Store

    now = datetime.now().astimezone()
    start = (now.hour + 3) % 24
    end = (start + 2) % 24 or 24
    cfg = configmod.load(
        make_config(tmp_path, [], extra=f'[schedule]\ninterval = "1m"\nactive_hours = "{start}-{end}"')
    )
    daemon = Daemon.__new__(Daemon)
    daemon.config = cfg
    daemon.store = Store.open(cfg.data_dir)
    when = daemon.next_run(cfg.accounts[0])
    assert when.hour == start and (when - now).total_seconds() > 3600


def test_next_check_at_is_a_pure_function_of_its_inputs() -> None:
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert next_check_at(noon, 900, 0.1, None, uniform=lambda a, b: b) == noon + timedelta(seconds=990)
    assert next_check_at(noon, 900, 0.1, None, first=True, uniform=lambda a, b: b) == noon + timedelta(seconds=5)
    morning = next_check_at(noon, 900, 0.1, (7, 10), uniform=lambda a, b: b)
    assert morning == datetime(2026, 3, 2, 7, 5, tzinfo=UTC)


def test_clock_step_is_the_wall_clock_against_the_monotonic_one() -> None:
    assert clock_step(1000.0, 50.0, 1001.0, 51.0) == 0
    assert clock_step(1000.0, 50.0, 8201.0, 51.0) == 7200  # set forward by two hours
    assert clock_step(1000.0, 50.0, 1001.0, 3651.0) == -3600  # set back by an hour
