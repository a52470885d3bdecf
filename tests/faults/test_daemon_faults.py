"""Fault probes against a real `monitor run`: a stopped process, clock steps, a full disk, a corrupt database."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.control import Control
from tests.helpers import Daemon, wait_until

pytestmark = pytest.mark.browser

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def views(control: Control, *emails: str) -> list[int]:
    return [control.account(e)["page_views"] for e in emails]


def wait_more_checks(control: Control, emails: tuple[str, ...], checks: int, what: str) -> None:
    """Every account gets `checks` more page views than now (each check opens one page)."""
    before = views(control, *emails)
    wait_until(lambda: all(v >= b + checks for v, b in zip(views(control, *emails), before, strict=True)), 60, what)


def count_readings(daemon: Daemon, account: str) -> int:
    with contextlib.closing(sqlite3.connect(daemon.data / "monitor.db")) as db:
        return int(db.execute("SELECT COUNT(*) FROM readings WHERE account = ?", (account,)).fetchone()[0])


def wait_idle(daemon: Daemon, account: str) -> None:
    """Return right after `account` commits a reading: its next check is then a whole interval away."""
    before = count_readings(daemon, account) if (daemon.data / "monitor.db").exists() else 0
    wait_until(
        lambda: (daemon.data / "monitor.db").exists() and count_readings(daemon, account) > before, 60, "a reading"
    )


def test_checks_resume_for_every_account_after_sigstop(daemon: Daemon, control: Control) -> None:
    emails = ("alice@example.com", "hanako@example.jp")
    daemon.write([("shop", "alice"), ("shop-jp", "hanako")])
    daemon.config.write_text(daemon.config.read_text().replace('interval = "1.5s"', 'interval = "3s"', 1))
    proc = daemon.start()
    wait_idle(daemon, "shop")
    proc.send_signal(signal.SIGSTOP)  # "shop" waits for its next check, as after a suspend
    # Longer than the no-success limit (4 x 3 s): checks must resume, and the pause is not their failure.
    time.sleep(16)
    proc.send_signal(signal.SIGCONT)
    wait_more_checks(control, emails, 2, "two more checks of every account after SIGCONT")
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()
    # The pause was the monitor's own, not 16 s of failed checks: no false "no successful check".
    assert "no successful check" not in daemon.log()
    assert not any("no successful check" in t for t in daemon.titles())


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="libfaketime missing: apt-get install faketime (./dev test does)")
def test_checks_continue_across_wall_clock_steps(daemon: Daemon, control: Control, tmp_path: Path) -> None:
    emails = ("alice@example.com",)
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    daemon.write([("shop", "alice")])
    # The daemon's own process only: Chromium and its driver hang under libfaketime.
    (tmp_path / "sitecustomize.py").write_text('import os\nos.environ.pop("LD_PRELOAD", None)\n')
    # Only the wall clock moves, as with a real step (settimeofday); the monotonic clock does not.
    daemon.start(
        PYTHONPATH=str(tmp_path),
        LD_PRELOAD=str(LIBFAKETIME),
        FAKETIME_TIMESTAMP_FILE=str(offset),
        FAKETIME_NO_CACHE="1",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    wait_idle(daemon, "shop")  # the step lands while the next check waits for its time
    offset.write_text("+2h\n")
    wait_until(lambda: "wall clock jumped +72" in daemon.log(), 30, "the forward step to be noticed")
    wait_more_checks(control, emails, 2, "checks after a forward step of 2 h")
    wait_idle(daemon, "shop")
    offset.write_text("-1h\n")
    wait_until(lambda: "wall clock jumped -108" in daemon.log(), 30, "the backward step to be noticed")
    wait_more_checks(control, emails, 2, "checks after a backward step of 3 h")
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()
    assert "no successful check" not in daemon.log()  # a step forward is not two hours of failures


def test_damaged_database_one_line_distinct_status_and_the_owner_hears(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")])
    daemon.start()
    wait_idle(daemon, "shop")
    assert daemon.stop() == 0
    db = daemon.data / "monitor.db"
    with db.open("r+b") as fh:  # every page after the first (the schema header stays readable)
        fh.seek(4096)
        fh.write(os.urandom(db.stat().st_size - 4096))
    proc = daemon.start(wait=False)
    assert proc.wait(60) == 3
    log = daemon.log().split("stopped (", 1)[1]  # this run's lines only
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "database is damaged" in errors[0] and "move monitor.db" in errors[0]
    assert "Traceback" not in log
    wait_until(lambda: "🛑 monitor: database damaged, not started" in daemon.titles(), 30, "the self-alert")
    for command in (["status"], ["history", "shop"], ["outbox"], ["resume", "shop"], ["check", "--no-send"]):
        result = daemon.cli(*command)
        assert result.returncode != 0, command
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "database" in result.stderr
    doctor = daemon.cli("doctor")
    assert doctor.returncode == 1
    assert "DAMAGED" in doctor.stderr and "sessions/ stays" in doctor.stderr


def test_database_damaged_while_running_stops_with_one_line_and_an_alert(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")])
    proc = daemon.start()
    wait_idle(daemon, "shop")
    # Another process damages the schema the way a stray tool could (and bumps the schema cookie so
    # that the daemon's connection reads it again).
    with contextlib.closing(sqlite3.connect(daemon.data / "monitor.db")) as db:
        version = db.execute("PRAGMA schema_version").fetchone()[0]
        db.execute("PRAGMA writable_schema = ON")
        db.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE account_state (' WHERE name = 'account_state'")
        db.execute(f"PRAGMA schema_version = {version + 1}")
        db.commit()
    control.event("alice@example.com", "lock")
    assert proc.wait(60) == 3
    errors = [line for line in daemon.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "database is damaged" in errors[0], errors
    assert "Traceback" not in daemon.log()
    wait_until(lambda: "🛑 monitor: database damaged, checks stopped" in daemon.titles(), 30, "the self-alert")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs the test can fill: a real full disk under the data directory."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk up to the last byte."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def test_full_disk_is_a_problem_the_owner_hears_once_and_recovers(
    daemon: Daemon, control: Control, small_disk: Path
) -> None:
    daemon.data = small_disk / "data"
    daemon.write([("shop", "alice")])
    daemon.start()
    wait_idle(daemon, "shop")
    filler = fill(small_disk)
    control.event("alice@example.com", "lock")
    wait_until(lambda: "⚠️ monitor: cannot save its checks" in daemon.titles(), 30, "the disk-full self-alert")
    wait_more_checks(control, ("alice@example.com",), 3, "more checks on the full disk")
    assert daemon.titles() == ["⚠️ monitor: cannot save its checks"]  # once per episode, and no lock alert
    assert daemon.log().count(" ERROR ") == 1
    filler.unlink()
    wait_until(lambda: "🔒 shop: account locked" in daemon.titles(), 30, "the lock alert once there is room")
    wait_until(lambda: "👍 monitor: saving its checks again" in daemon.titles(), 30, "the recovery note")
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()
