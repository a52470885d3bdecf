"""The daemon's own view of itself (Health) and the owner's "check now", without a browser or a loop running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import monitor
from monitor import config as configmod
from monitor.daemon import Daemon, console_url, memory_mb
from monitor.schedule import steady
from tests.helpers import make_config


def daemon_for(tmp_path: Path) -> Daemon:
    path = make_config(tmp_path, [], extra='[schedule]\ninterval = "15m"')
    return Daemon(configmod.load(path), path)


def test_health_reports_progress_counters_and_next_checks_in_wall_time(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path)
    try:
        daemon.due["shop"] = steady() + 600
        before = time.time()
        health = daemon.health()
        assert health.version == monitor.__version__ and health.scheduling and health.healthy
        assert health.browser is None  # no check has launched one
        assert health.memory_mb is not None and health.memory_mb > 10  # this Python process at least
        assert before + 590 < health.next_check["shop"] < time.time() + 610
        assert health.data_dir == str(daemon.config.data_dir)

        daemon.counters.last_done -= 3 * 3600  # no check finished for hours: the scheduler makes no progress
        assert not daemon.health().healthy
        daemon.counters.last_done = steady()
        daemon.last_tick -= 120  # the supervisor itself stopped ticking
        assert not daemon.health().healthy
    finally:
        daemon.store.close()


def test_check_now_makes_the_account_due_at_the_next_tick(tmp_path: Path) -> None:
    daemon = daemon_for(tmp_path)
    try:
        daemon.due["shop"] = steady() + 900
        assert daemon.actions.check_now("shop") == "check now requested for shop"
        assert daemon.due["shop"] <= steady()
    finally:
        daemon.store.close()


def test_console_url_is_what_a_browser_here_opens() -> None:
    assert console_url("127.0.0.1", 8765) == "http://127.0.0.1:8765/"
    assert console_url("::1", 8765) == "http://[::1]:8765/"
    assert console_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert console_url("::", 80) == "http://[::1]:80/"


def test_memory_counts_children_too() -> None:
    alone = memory_mb() or 0.0
    holder = "b = bytearray(60 << 20)\nb[::4096] = b'x' * len(b[::4096])\nprint('ready', flush=True)\ninput()"
    child = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        assert (memory_mb() or 0.0) > alone + 40  # its 60 MB (touched pages) count as ours
    finally:
        child.kill()
        child.wait(10)


def test_keep_warm_follows_the_fast_interval_only_while_an_account_is_locked(tmp_path: Path) -> None:
    from monitor.models import AccountState, Status

    daemon = daemon_for(tmp_path)
    try:
        assert daemon.keep_warm() == 15  # every account ok (or never read): close soon after the checks
        with daemon.store.transaction() as tx:
            tx.put_state(AccountState("shop", status=Status.LOCKED))
        assert daemon.keep_warm() == 5 * 60 * 1.1 + 30  # warm through the 5-minute fast interval and its jitter
        with daemon.store.transaction() as tx:
            tx.put_state(AccountState("shop", status=Status.OK))
        assert daemon.keep_warm() == 15
        daemon.config.browser.keep_warm_s = 0.0  # "0s" in the config: after every check
        assert daemon.keep_warm() == 0
    finally:
        daemon.store.close()
