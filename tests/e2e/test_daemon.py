"""`monitor run` as a real subprocess against the mock retailer, with a real push receiver."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.control import Control
from fixtures.procs import carrying, descendants, read
from fixtures.receiver import PushReceiver
from tests.helpers import PASSWORDS, Daemon, start_monitor, wait_until

pytestmark = pytest.mark.browser


# For tests that count every title: on a loaded machine a first check (browser launch, sign-in) can
# outlast the default 4 x 1.5 s, and the "no successful check" self-alert would then be one title more.
PATIENT = "stale_after_intervals = 20"


def wait_views(control: Control, email: str, at_least: int = 1) -> None:
    wait_until(lambda: control.account(email)["page_views"] >= at_least, 30, f"a check of {email}")


@pytest.mark.parametrize(
    ("key", "titles"),
    [
        (
            "alice",
            ["🔒 shop: account locked", "📄 shop: documents received, under review", "✅ shop: account restored"],
        ),
        (
            "hanako",
            [
                "🔒 shop: アカウントがロックされました",
                "📄 shop: 書類を受け付けました（確認中）",
                "✅ shop: アカウントが復旧しました",
            ],
        ),
    ],
    ids=["en", "ja"],
)
def test_whole_story_each_alert_exactly_once(daemon: Daemon, control: Control, key: str, titles: list[str]) -> None:
    email = PASSWORDS[key][0]
    daemon.write([("shop", key)], extra=PATIENT)
    daemon.start()
    wait_views(control, email)
    for step, title in zip(["lock", "submit_documents", "approve"], titles, strict=True):
        before = control.account(email)["page_views"]
        control.event(email, step)
        wait_until(lambda t=title: t in daemon.titles(), 20, title)
        wait_views(control, email, before + 2)
    time.sleep(3)  # more checks happen; nothing may arrive twice
    assert daemon.titles() == titles
    assert "ギフトカード" in daemon.receiver.received[-1].json["message"] or key == "alice"
    assert control.account(email)["signin_count"] == 1
    assert daemon.stop() == 0
    log = daemon.log()
    assert PASSWORDS[key][1] not in log and "Traceback" not in log


def test_sigterm_during_a_check_exits_cleanly(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")])
    daemon.start()
    wait_views(control, "alice@example.com")
    control.site(slow_ms=5000)  # the next check hangs in the middle of a page load
    time.sleep(2.5)
    start = time.monotonic()
    assert daemon.stop(timeout=20) == 0
    assert time.monotonic() - start < 15
    wait_until(lambda: not carrying(daemon.marker), 5, "every Chromium process to be gone")
    db = sqlite3.connect(daemon.data / "monitor.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT status FROM account_state WHERE account = 'shop'").fetchone()[0] == "ok"
    db.close()


def test_second_instance_is_refused(daemon: Daemon) -> None:
    daemon.write([("shop", "alice")])
    daemon.start()
    second = daemon.cli("run")
    assert second.returncode == 2
    assert "another monitor is already running on" in second.stderr and str(daemon.data) in second.stderr
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_kill_9_with_a_pending_alert_delivers_once_after_restart(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")], extra=PATIENT)
    daemon.receiver.stop()
    daemon.start()
    wait_views(control, "alice@example.com")
    control.event("alice@example.com", "lock")
    db_path = daemon.data / "monitor.db"

    def pending_tried() -> bool:
        with sqlite3.connect(db_path) as db:
            row = db.execute("SELECT state, attempts FROM outbox").fetchone()
        return bool(row and row[0] == "pending" and row[1] >= 1)

    wait_until(pending_tried, 30, "a pending alert with a failed attempt")
    assert daemon.proc is not None
    daemon.proc.kill()
    daemon.proc.wait(10)
    daemon.cleanup()
    daemon.receiver.start()
    daemon.start()
    wait_until(lambda: daemon.titles(), 30, "the alert after the restart")
    time.sleep(3)
    assert daemon.titles() == ["🔒 shop: account locked"]
    assert daemon.stop() == 0


def test_sighup_adds_an_account_and_refuses_a_bad_config(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")])
    daemon.start()
    wait_views(control, "alice@example.com")
    good = daemon.config.read_text()
    daemon.config.write_text(good + "\n[[accounts]]\nname = broken\n")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "config reload refused" in daemon.log(), 10, "the refusal")
    assert daemon.proc.poll() is None
    control.event("hanako@example.jp", "lock")
    daemon.write([("shop", "alice"), ("shop-jp", "hanako")])
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "🔒 shop-jp: アカウントがロックされました" in daemon.titles(), 30, "the new account's alert")
    assert "added ['shop-jp']" in daemon.log()
    assert daemon.stop() == 0


def test_receiver_down_for_a_while(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")], extra=PATIENT)  # a slow check on a busy machine is not this test's alert
    daemon.receiver.stop()
    daemon.start()
    wait_views(control, "alice@example.com")
    control.event("alice@example.com", "lock")
    wait_until(lambda: "delivery failed" in daemon.log(), 30, "a failed delivery")
    time.sleep(3)
    control.event("alice@example.com", "submit_documents")
    time.sleep(3)
    daemon.receiver.start()
    wait_until(lambda: len(daemon.titles()) >= 2, 30, "both alerts after the receiver came back")
    time.sleep(2)
    assert daemon.titles() == ["🔒 shop: account locked", "📄 shop: documents received, under review"]
    assert daemon.stop() == 0


def test_systemd_notify_ready_watchdog_stopping(daemon: Daemon, tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    try:
        daemon.write([("shop", "alice")])
        daemon.start(NOTIFY_SOCKET=path, WATCHDOG_USEC="1500000")
        seen: list[str] = []
        while not any("WATCHDOG=1" in m for m in seen):
            seen.append(sock.recv(4096).decode())
        assert seen[0].startswith("READY=1")
        daemon.stop()
        while not any("STOPPING=1" in m for m in seen):
            seen.append(sock.recv(4096).decode())
    finally:
        sock.close()


def test_log_json_lines(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")])
    daemon.start("--log-json")
    wait_views(control, "alice@example.com")
    wait_until(lambda: "(first reading) -> ok" in daemon.log(), 20, "the first reading in the log")
    assert daemon.stop() == 0
    records = [json.loads(line) for line in daemon.log().splitlines() if line.strip()]
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
    assert any(r["msg"] == "shop: (first reading) -> ok" for r in records)


def test_heartbeat_and_no_success_self_alert(daemon: Daemon, control: Control) -> None:
    hb = PushReceiver().start()
    try:
        daemon.write(
            [("shop", "alice")],
            # No account alert of its own for a long while: the monitor-wide one must speak first. Its limit
            # (6 s) is well past a first check with a browser launch and a sign-in on a busy machine.
            extra=f'heartbeat_url = "http://127.0.0.1:{hb.port}/ping"\n'
            "stale_after_intervals = 4\nproblem_confirm = 100",
        )
        daemon.start()
        wait_until(lambda: any(p.path == "/ping" for p in hb.received), 30, "a heartbeat ping")
        control.site(error=503)
        wait_until(lambda: any("no successful check" in t for t in daemon.titles()), 30, "the self-alert")
        control.site(error=None)
        wait_until(lambda: "👍 account-monitor: checks succeed again" in daemon.titles(), 30, "its all-clear")
        assert daemon.stop() == 0
        assert "cannot check: unreachable" in daemon.log() and "checks succeed again" in daemon.log()
        assert daemon.titles().count("👍 account-monitor: checks succeed again") == 1
    finally:
        hb.stop()


def renderer_running(root: int) -> bool:
    """A Chromium renderer below `root` exists: a page is open."""
    return any(b"--type=renderer" in read(pid, "cmdline") for pid in descendants(root))


def readings(data: Path) -> list[tuple[Any, ...]]:
    if not (data / "monitor.db").exists():
        return []
    with contextlib.closing(sqlite3.connect(data / "monitor.db")) as db:
        return db.execute("SELECT account, status, problem, detail FROM readings").fetchall()


def test_ctrl_c_during_check_records_nothing(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")])
    control.site(slow_ms=60_000)
    proc = start_monitor(
        daemon.config,
        "check",
        env=daemon.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until(lambda: renderer_running(proc.pid), 30, "the check to open its page")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole foreground group
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err and "never retrieved" not in err, err
    assert readings(daemon.data) == []


def test_sigterm_mid_check_records_no_reading_for_it(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")])
    control.site(slow_ms=60_000)  # the first check hangs on its page until the daemon is stopped
    proc = daemon.start()
    wait_until(lambda: renderer_running(proc.pid), 30, "the check to open its page")
    assert daemon.stop(timeout=20, group=True) == 0  # Chromium gets it too: its page fails at once
    assert readings(daemon.data) == []
    assert "Traceback" not in daemon.log() and "never retrieved" not in daemon.log()


def test_the_browser_and_driver_close_between_checks_and_start_again(daemon: Daemon, control: Control) -> None:
    # keep_warm = "1s" and a 15 s interval: between checks the daemon holds neither Chromium nor the driver.
    daemon.write([("shop", "alice")], extra='[browser]\nkeep_warm = "1s"')
    daemon.config.write_text(daemon.config.read_text().replace('interval = "1.5s"\n', 'interval = "15s"\n', 1))
    proc = daemon.start()
    wait_views(control, "alice@example.com")
    wait_until(lambda: not descendants(proc.pid), 20, "Chromium and the driver to close after the check")
    status = daemon.cli("status", "--json")
    assert json.loads(status.stdout)["daemon"]["browser"] is None, status.stderr
    assert daemon.outcomes("shop") == ["ok"]

    control.site(slow_ms=3000)  # the next check holds its page open long enough to ask status during it
    wait_until(lambda: renderer_running(proc.pid), 40, "the next check to start the browser again")
    up = daemon.cli("status").stdout
    control.site(slow_ms=0)
    assert "browser: up (" in up and "Chromium " in up
    wait_until(lambda: len(daemon.outcomes("shop")) == 2, 30, "the second check to be stored")
    assert daemon.outcomes("shop") == ["ok", "ok"]  # the cold-started browser read the account again
    assert control.account("alice@example.com")["signin_count"] == 1  # with the saved session
    wait_until(lambda: not descendants(proc.pid), 20, "Chromium and the driver to close again")
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.log()
