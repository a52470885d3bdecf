"""The console served by a real `monitor run` (and `monitor web`) subprocess, over real HTTP on loopback."""

from __future__ import annotations

import http.cookiejar
import json
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.control import Control
from tests.helpers import PASSWORDS, Daemon, start_monitor, wait_until

pytestmark = pytest.mark.browser

ANY_PORT = {"listen": "127.0.0.1:0"}
ALICE = PASSWORDS["alice"][0]


class Browser:
    """An HTTP client with a cookie jar, as a phone's browser keeps the console's cookies."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        body = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, method="POST"))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=20) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def console_of(daemon: Daemon) -> str:
    """The address the daemon wrote to its data dir once the console listens."""
    url_file = daemon.data / "console.url"
    return str(wait_until(lambda: url_file.exists() and url_file.read_text().strip(), 30, "console.url"))


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_daemon_serves_healthz_and_metrics_on_the_port_it_got(daemon: Daemon, control: Control) -> None:
    # Patient: on a loaded machine a check can outlast a few 1.5 s intervals, and a "no successful
    # check" self-alert would then come before the lock alert this test counts.
    daemon.write([("shop", "alice")], extra="stale_after_intervals = 20", web=ANY_PORT)
    daemon.start()
    url = console_of(daemon)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and not url.endswith(":0/")
    assert f"console at {url}" in daemon.log()
    assert (daemon.data / "console.url").stat().st_mode & 0o777 == 0o600
    web = Browser(url)
    assert web.get("/healthz") == (200, "ok\n")

    checked = ("monitor_checks_total", frozenset({("account", "shop"), ("result", "ok")}))
    got = wait_until(lambda: (s := samples(web.get("/metrics")[1])).get(checked) and s, 60, "a check counted")
    assert got[("monitor_check_duration_seconds_count", frozenset())] >= 1
    assert got[("monitor_last_success_timestamp_seconds", frozenset({("account", "shop")}))] > 0
    assert ("monitor_outbox", frozenset({("state", "pending")})) in got
    assert got[("monitor_signins_total", frozenset({("account", "shop"), ("outcome", "attempt")}))] == 1

    control.event(ALICE, "lock")
    delivered = ("monitor_alerts_total", frozenset({("kind", "locked"), ("channel", "phone"), ("result", "delivered")}))
    got = wait_until(lambda: (s := samples(web.get("/metrics")[1])).get(delivered) and s, 60, "the alert counted")
    assert got[delivered] == 1 and daemon.titles() == ["🔒 shop: account locked"]
    assert got[("monitor_outbox", frozenset({("state", "sent")}))] == 1
    text = web.get("/metrics")[1]
    assert "Your account has been locked" not in text and PASSWORDS["alice"][1] not in text  # no page text, no secret

    # The port the daemon got (it reads no more).
    daemon.write([("shop", "alice")], extra="stale_after_intervals = 20", web={"listen": url[7:-1]})
    second = daemon.cli("web")  # the daemon has that port
    assert second.returncode == 2 and second.stderr.splitlines() == [
        f"monitor: {daemon.config}: [web] listen: cannot listen on {url[7:-1]}: address already in use;"
        f" `monitor run` (pid {daemon.proc.pid}) serves the console already: {url}"
    ]
    status = daemon.cli("status")
    assert f"console: {url}" in status.stdout.splitlines()
    assert f'"console": "{url}"' in daemon.cli("status", "--json").stdout
    assert daemon.stop() == 0
    assert not (daemon.data / "console.url").exists()
    assert "console: " not in daemon.cli("status").stdout
    log = daemon.log()
    assert PASSWORDS["alice"][1] not in log and "Traceback" not in log


def test_any_address_without_a_password_is_refused_before_anything_starts(daemon: Daemon) -> None:
    daemon.write([("shop", "alice")], web={"listen": "0.0.0.0:0"})
    done = daemon.cli("run")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert f"{daemon.config}: web.listen: '0.0.0.0:0' is not a loopback address" in line
    assert "[web] password" in line
    assert not daemon.data.exists()  # nothing half-started: no data dir, no database


def test_a_port_in_use_stops_the_start_with_one_line_and_no_check(daemon: Daemon, control: Control) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon.write([("shop", "alice")], web={"listen": f"127.0.0.1:{port}"})
        done = daemon.cli("run")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert f"{daemon.config}: [web] listen: cannot listen on 127.0.0.1:{port}: address already in use" in line
    assert control.account(ALICE)["page_views"] == 0  # bound before the first check: none ran
    assert daemon.outcomes("shop") == [] and not (daemon.data / "console.url").exists()


def test_monitor_web_serves_the_console_and_refuses_check_now(daemon: Daemon, tmp_path: Path) -> None:
    daemon.write([("shop", "alice")], web=ANY_PORT)
    opened = tmp_path / "opened.txt"
    browser_cmd = tmp_path / "fake-browser"
    browser_cmd.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser_cmd.chmod(0o755)
    proc = start_monitor(
        daemon.config,
        "web",
        "--open",
        env=daemon.env(BROWSER=str(browser_cmd)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.match(r"console at (http://127\.0\.0\.1:\d+/) ", first)
        assert match, first
        url = match.group(1)
        wait_until(lambda: opened.exists() and opened.read_text().strip() == url, 30, "the browser to be opened")
        web = Browser(url)
        code, overview = web.get("/")
        assert code == 200 and 'data-account="shop"' in overview
        assert web.get("/healthz")[0] == 503  # nothing checks here: an uptime monitor must not see it healthy
        code, form = web.get("/accounts/shop/check")
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert code == 200 and token, form
        code, page = web.post("/accounts/shop/check", {"csrf": token.group(1)})
        assert code == 409  # refused: the confirmation page again, with the reason
        assert "nothing schedules checks here: this is `monitor web`; start `monitor run`" in page
        assert not (daemon.data / "console.url").exists()  # that file is the daemon's
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "console stopped" in out and "Traceback" not in err


def test_ack_stops_the_reminder_and_until_lets_it_come_back(daemon: Daemon, control: Control) -> None:
    still = "🔒 shop: still locked after"
    daemon.write([("shop", "alice")], extra='stale_after_intervals = 20\nlocked_reminder = "1s"\nreminder_every = "1s"')
    daemon.start()
    control.event(ALICE, "lock")
    wait_until(lambda: "🔒 shop: account locked" in daemon.titles(), 60, "the lock alert")
    wait_until(lambda: any(t.startswith(still) for t in daemon.titles()), 60, "a reminder")

    done = daemon.cli("ack", "shop")
    assert done.returncode == 0 and done.stdout == "shop: reminders stop until the status changes\n", done.stderr
    # A reminder already queued may still go out; after that, none while several checks and reminder rounds pass.
    views = control.account(ALICE)["page_views"]
    wait_until(lambda: control.account(ALICE)["page_views"] >= views + 2, 60, "two more checks")
    settled = len(daemon.titles())
    views = control.account(ALICE)["page_views"]
    wait_until(lambda: control.account(ALICE)["page_views"] >= views + 4, 60, "four more checks")
    assert len(daemon.titles()) == settled, daemon.titles()[settled:]

    done = daemon.cli("ack", "shop", "--until", "3s")
    assert done.returncode == 0 and "reminders stop until " in done.stdout
    wait_until(lambda: len(daemon.titles()) > settled, 60, "the reminder after --until ran out")
    assert all(t.startswith(still) for t in daemon.titles()[settled:])
    assert daemon.stop() == 0


def test_the_console_follows_a_reload_new_account_and_channel(daemon: Daemon, control: Control) -> None:
    daemon.write([("shop", "alice")], web=ANY_PORT)
    daemon.start()
    web = Browser(console_of(daemon))
    assert [a["name"] for a in json.loads(web.get("/api/v1/accounts")[1])["accounts"]] == ["shop"]
    assert web.get("/accounts/shop-jp")[0] == 404

    daemon.write([("shop", "alice"), ("shop-jp", "hanako")], web=ANY_PORT)  # [web] unchanged: no restart needed
    pager = daemon.receiver.json_url().rstrip("/") + "/pager"
    daemon.config.write_text(daemon.config.read_text() + f'\n[[channels]]\nname = "pager"\nurl = "{pager}"\n')
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)

    def names() -> list[str]:
        return [a["name"] for a in json.loads(web.get("/api/v1/accounts")[1])["accounts"]]

    wait_until(lambda: names() == ["shop", "shop-jp"], 30, "the new account in /api/v1/accounts")
    code, overview = web.get("/")
    assert code == 200 and 'data-account="shop-jp"' in overview
    assert web.get("/accounts/shop-jp")[0] == 200
    channels = [c["name"] for c in json.loads(web.get("/api/v1/deliveries")[1])["channels"]]
    assert channels == ["phone", "pager"]
    assert "config reloaded" in daemon.log() and "[web] changes take effect after a restart" not in daemon.log()
    assert daemon.stop() == 0
