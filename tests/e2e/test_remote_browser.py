"""[browser] connect: checks through a real `playwright run-server` and a real Chromium DevTools endpoint."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.browser_server import DevToolsChromium, PlaywrightServer
from fixtures.control import Control
from tests.helpers import PASSWORDS, Daemon, wait_until

pytestmark = pytest.mark.browser

TOKEN = "s3cr3t-server-token-4711"  # the server's --path: whoever knows it may use the server
PATIENT = "stale_after_intervals = 40"  # no monitor-wide self-alert in the titles while the server is down
ALICE = PASSWORDS["alice"][0]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PlaywrightServer]:
    """A real `playwright run-server` on 127.0.0.1 whose browsers are the system Chromium."""
    srv = PlaywrightServer(tmp_path, f"/{TOKEN}").start()
    yield srv
    srv.kill()


def headers_seen(control: Control) -> tuple[str, str]:
    acct = control.account(ALICE)
    return acct["last_user_agent"], acct["last_sec_ch_ua"]


def stored_text(data: Path) -> str:
    """Every reading and outbox row the daemon stored, as one text to search."""
    with contextlib.closing(sqlite3.connect(data / "monitor.db")) as db:
        rows = db.execute("SELECT * FROM readings").fetchall() + db.execute("SELECT * FROM outbox").fetchall()
    return json.dumps(rows, default=str)


def test_the_story_through_a_playwright_server_that_goes_away_and_comes_back(
    daemon: Daemon, control: Control, server: PlaywrightServer
) -> None:
    # As a local Chromium presents itself to the retailer ...
    daemon.write([("shop", "alice")])
    local = daemon.cli("check", "--no-send")
    assert local.returncode == 0, local.stderr
    local_headers = headers_seen(control)

    # ... so does the server's: the same User-Agent and client hints, nothing headless about them.
    daemon.write([("shop", "alice")], extra=f'{PATIENT}\n[browser]\nconnect = "{server.url}"')
    daemon.start()
    before = control.account(ALICE)["page_views"]
    wait_until(lambda: control.account(ALICE)["page_views"] > before, 30, "a check through the server")
    assert headers_seen(control) == local_headers
    assert "HeadlessChrome" not in local_headers[0] and "HeadlessChrome" not in local_headers[1]
    up = f"browser: remote ws://127.0.0.1:{server.port} (up)"
    wait_until(lambda: up in daemon.cli("status").stdout, 30, up)
    named = json.loads(daemon.cli("status", "--json").stdout)["daemon"]["browser"]
    assert named.startswith(f"remote ws://127.0.0.1:{server.port} (Chromium ") and TOKEN not in named

    control.event(ALICE, "lock")
    wait_until(lambda: "🔒 shop: account locked" in daemon.titles(), 30, "the lock alert")

    # The server dies mid-run: the daemon goes on, and the owner hears that checks fail and why.
    server.kill()
    wait_until(lambda: "⚠️ shop: cannot check the account" in daemon.titles(), 60, "the checks-failing alert")
    assert daemon.proc is not None and daemon.proc.poll() is None
    failing = next(p.json for p in daemon.receiver.received if "cannot check" in (p.json or {}).get("title", ""))
    assert f"cannot connect to the remote browser ws://127.0.0.1:{server.port}" in failing["message"]
    down = daemon.cli("status").stdout
    assert f"browser: remote ws://127.0.0.1:{server.port} (not connected now)" in down

    # Back on the same port: the next check connects again and reads the account.
    server.start()
    wait_until(lambda: "👍 shop: checks recovered" in daemon.titles(), 60, "the recovery")
    assert daemon.outcomes("shop")[-1] == "locked"
    assert daemon.titles().count("🔒 shop: account locked") == 1  # the lock was not forgotten meanwhile
    assert daemon.stop() == 0
    everything = daemon.log() + json.dumps([p.json for p in daemon.receiver.received]) + stored_text(daemon.data)
    assert TOKEN not in everything and "Traceback" not in daemon.log()


def test_one_check_through_a_chromium_devtools_endpoint(daemon: Daemon, control: Control, tmp_path: Path) -> None:
    chromium = DevToolsChromium(tmp_path).start()
    try:
        daemon.write([("shop", "alice")], extra=f'[browser]\nconnect = "{chromium.url}"')
        done = daemon.cli("check", "--json", "--no-send")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["status"] == "ok"
        user_agent, hints = headers_seen(control)
        assert "HeadlessChrome" not in user_agent and "Chrome/" in user_agent
        # The full Chromium names itself "Chromium" (not HeadlessChrome), of the version its User-Agent gives.
        major = user_agent.split("Chrome/")[1].split(".")[0]
        assert f'"Chromium";v="{major}"' in hints and "HeadlessChrome" not in hints
        assert chromium.proc is not None and chromium.proc.poll() is None  # disconnected from, not closed
    finally:
        chromium.stop()


def test_doctor_connects_once_and_never_shows_the_token(daemon: Daemon, server: PlaywrightServer) -> None:
    daemon.write([("shop", "alice")], extra=f'[browser]\nconnect = "{server.url}"')
    up = daemon.cli("doctor")
    assert f"browser: remote ws://127.0.0.1:{server.port} ok (Chromium " in up.stdout, up.stderr
    server.kill()
    down = daemon.cli("doctor")
    assert down.returncode == 1
    line = f"monitor: cannot connect to the remote browser ws://127.0.0.1:{server.port}: "
    assert next(x for x in down.stderr.splitlines() if "remote browser" in x).startswith(line)
    assert TOKEN not in up.stdout + up.stderr + down.stdout + down.stderr
