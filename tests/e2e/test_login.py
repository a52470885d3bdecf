"""`monitor login`: a person signs in by hand in a real window (Xvfb), and checks reuse that session."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from fixtures.control import Control
from monitor.models import Status
from tests.helpers import Rig, account_entry, run_monitor, start_monitor, write_config

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="needs Xvfb and xdotool"),
]


def _x(display: str, *args: str) -> str:
    done = subprocess.run(
        ["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


def test_login_by_hand_then_checks_reuse_the_session(
    aio, browser_manager, retailer, control: Control, tmp_path, monkeypatch
) -> None:
    display = ":87"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    entry = account_entry("alice", monkeypatch)
    config = write_config(tmp_path, [entry], base_url=retailer.url)
    proc = None
    try:
        time.sleep(0.5)
        proc = start_monitor(
            config,
            "login",
            "alice",
            "--wait",
            "60",
            env={**os.environ, "DISPLAY": display},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert "Sign in to alice" in proc.stdout.readline()
        window = ""
        for _ in range(100):
            window = _x(display, "search", "--onlyvisible", "--name", "Sign in").split("\n")[0]
            if window:
                break
            time.sleep(0.1)
        assert window, "no browser window showed the sign-in page"
        out = ""
        for _attempt in range(3):  # a loaded machine may take a moment before the field has focus
            time.sleep(1)
            _x(display, "windowfocus", "--sync", window)
            _x(display, "key", "ctrl+a")
            _x(display, "type", "--delay", "15", "alice@example.com")
            _x(display, "key", "Tab")
            _x(display, "type", "--delay", "15", "correct-horse")
            _x(display, "key", "Return")
            try:
                out, _ = proc.communicate(timeout=20)
                break
            except subprocess.TimeoutExpired:
                continue
        assert proc.returncode == 0, out
        assert "session saved" in out and "correct-horse" not in out
    finally:
        if proc and proc.poll() is None:
            proc.kill()
        xvfb.terminate()
        xvfb.wait(10)
    assert control.account("alice@example.com")["signin_count"] == 1
    rig = Rig(aio, browser_manager, config)
    reading = rig.check("alice")
    assert reading.status == Status.OK and reading.signed_in is False
    assert control.account("alice@example.com")["signin_count"] == 1
    rig.store.close()


def test_login_without_display_says_why(tmp_path, retailer, monkeypatch) -> None:
    config = write_config(tmp_path, [account_entry("alice", monkeypatch)], base_url=retailer.url)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = run_monitor(config, "login", "alice", env=env)
    assert done.returncode == 2 and "needs a display (DISPLAY is not set)" in done.stderr
