"""The console attacked as the network, a hostile page and a careless owner would: real servers, real Chromium."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import resource
import signal
import socket
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, CookieJar, web
from aiohttp.test_utils import TestClient

from fixtures.config import config_text
from fixtures.control import Control
from fixtures.procs import descendants
from fixtures.retailer import RetailerServer
from monitor.web import serve
from monitor.web.app import IDLE_S, MAX_CONNECTIONS
from monitor.web.auth import LoginLimiter, client_of
from tests.e2e.test_console_daemon import ALICE, ANY_PORT, Browser, console_of
from tests.helpers import PASSWORDS, AsyncRunner, Daemon, wait_until
from tests.web_helpers import NOW, console, csrf, other_browser, soup

Client = TestClient[Any, Any]

PASSWORD = "c0nsole-Pa55word"


@pytest.mark.browser
def test_sign_in_never_leads_to_another_site_whatever_next_holds(
    tmp_path: Path, aio: AsyncRunner, chromium: Any, retailer: RetailerServer
) -> None:
    # A link the owner is sent (".../login?next=...") lands them on the console once signed in: browsers drop
    # tabs inside a URL, so "/\t/host" is "//host", another origin (only CSP form-action stopped that, with a
    # failed sign-in), and a new line made the console break the answer off: the right password, no page.
    c = console(tmp_path, password=PASSWORD)
    runner, port = aio.run(serve(c.app(), "127.0.0.1", 0))
    other = retailer.url.split("://", 1)[1]  # 127.0.0.1:PORT of another server: a different origin

    async def sign_in_via(next_: str) -> str:
        context = await chromium.new_context()
        page = await context.new_page()
        try:
            await page.goto(f"http://127.0.0.1:{port}/login?next={next_}", timeout=15_000)
            await page.fill("input[name=password]", PASSWORD)
            try:
                async with page.expect_navigation(timeout=15_000):
                    await page.click("button[type=submit]")
            except Exception as exc:  # the console broke the answer off (as it did for a new line)
                return f"no page: {str(exc).splitlines()[0]}"
            return str(page.url)
        finally:
            await context.close()

    landed = {}
    try:
        for next_ in (f"/%09/{other}/evil", f"/%0A/{other}/evil", f"/%0D%0A/{other}/evil", f"/%5C{other}/evil"):
            landed[next_] = aio.run(sign_in_via(next_))
    finally:
        aio.run(runner.cleanup())
    assert landed == dict.fromkeys(landed, f"http://127.0.0.1:{port}/"), landed


def test_next_with_control_characters_or_spaces_goes_home_and_a_real_path_round_trips(tmp_path: Path) -> None:
    # What the header says, whatever a browser's CSP (form-action) would still catch: never another site,
    # never a 500 for a new line; the path the sign-in form was sent from comes back as it was.
    c = console(tmp_path, password=PASSWORD)

    async def scenario(client: Client) -> None:
        for target in ("/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example", "/ /evil.example", "/\x0b/x"):
            async with other_browser(client) as fresh:
                token = await csrf(fresh, "/login")
                data = {"csrf": token, "password": PASSWORD, "next": target}
                response = await fresh.post("/login", data=data, allow_redirects=False)
                assert (response.status, response.headers["Location"]) == (303, "/"), repr(target)
        async with other_browser(client) as fresh:
            asked = await fresh.get("/accounts/sh%C3%B6p?x=1", allow_redirects=False)
            form = soup(await (await fresh.get(asked.headers["Location"])).text())
            data = {"csrf": form.find("input", attrs={"name": "csrf"})["value"], "password": PASSWORD}
            data["next"] = form.find("input", attrs={"name": "next"})["value"]
            response = await fresh.post("/login", data=data, allow_redirects=False)
            assert response.headers["Location"] == "/accounts/sh%C3%B6p?x=1"

    c.run(scenario)


def test_a_screenshot_id_beyond_what_sqlite_holds_is_404_not_a_server_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = console(tmp_path)

    async def scenario(client: Client) -> None:
        for reading_id in ("9" * 30, str(2**63), "٣", "1.0", f"{c.readings['lock']}%20"):
            response = await client.get(f"/screenshots/{reading_id}")
            assert response.status == 404, reading_id
        assert (await client.get(f"/screenshots/{c.readings['lock']}")).status == 200

    c.run(scenario)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.browser
def test_a_page_that_cannot_render_a_burst_and_a_stalled_client_leave_the_checks_running(
    daemon: Daemon, control: Control
) -> None:
    daemon.write([("shop", "alice")], web=ANY_PORT)
    daemon.start()
    url = console_of(daemon)
    control.event(ALICE, "lock")
    wait_until(lambda: "locked" in daemon.outcomes("shop"), 60, "the lock read")
    with contextlib.closing(sqlite3.connect(daemon.data / "monitor.db")) as db:  # a row the page cannot read
        db.execute("UPDATE readings SET orders = '{not json' WHERE status = 'locked'")
        db.commit()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port)) as stalled:  # never finishes its request
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        pages = ["/", "/accounts/shop", "/api/v1/accounts/shop", "/deliveries", "/metrics"] * 40
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda path: (path, Browser(url).get(path)), pages))
        checks = len(daemon.outcomes("shop"))
        wait_until(lambda: len(daemon.outcomes("shop")) >= checks + 2, 60, "two more checks after the burst")
        assert Browser(url).get("/healthz") == (200, "ok\n")
    assert {(path, status) for path, (status, _body) in answers} == {
        ("/", 200),
        ("/accounts/shop", 500),
        ("/api/v1/accounts/shop", 500),
        ("/deliveries", 200),
        ("/metrics", 200),
    }
    broken = next(body for path, (status, body) in answers if status == 500)
    assert "Traceback" not in broken and "not json" not in broken and "checks go on" in broken
    assert daemon.stop() == 0
    log = daemon.log()
    # The owner's log says it once per page and cause (with the details), not once per request or poll.
    assert log.count("Traceback") == 2 and log.count("console: GET /accounts/{name} failed: JSONDecodeError") == 1


HOSTILE_FORM = """<!doctype html><title>win a prize</title>
<form id="f" method="post" action="{action}" enctype="{enctype}">{fields}</form>
<script>document.getElementById("f").submit()</script>"""


@pytest.mark.browser
def test_a_same_site_page_on_another_port_cannot_act_for_a_signed_in_owner(
    tmp_path: Path, aio: AsyncRunner, chromium: Any
) -> None:
    # Another port of 127.0.0.1 is the same site: the SameSite=Strict cookie rides along, so only the
    # per-session CSRF token stands between that page and the owner's actions (a token of another session,
    # fetched by the attacker itself, does not do).
    c = console(tmp_path, password=PASSWORD)
    runner, port = aio.run(serve(c.app(), "127.0.0.1", 0))
    console_url = f"http://127.0.0.1:{port}"
    forms: dict[str, str] = {}

    async def hostile(request: web.Request) -> web.Response:
        return web.Response(text=forms[request.match_info["which"]], content_type="text/html")

    evil = web.Application()
    evil.router.add_get("/{which}", hostile)
    evil_runner, evil_port = aio.run(serve(evil, "127.0.0.1", 0))

    async def attack() -> dict[str, str]:
        async with ClientSession(console_url, cookie_jar=CookieJar(unsafe=True)) as attacker:  # its own session
            foreign = await csrf(attacker, "/login")
        for what, enctype, fields in (
            ("none", "application/x-www-form-urlencoded", ""),
            ("empty", "application/x-www-form-urlencoded", '<input name="csrf" value="">'),
            ("foreign", "application/x-www-form-urlencoded", f'<input name="csrf" value="{foreign}">'),
            ("plain", "text/plain", f'<input name="csrf" value="{foreign}">'),
            ("multipart", "multipart/form-data", f'<input name="csrf" value="{foreign}">'),
        ):
            action = f"{console_url}/accounts/shop/resume"
            forms[what] = HOSTILE_FORM.format(action=action, enctype=enctype, fields=fields)
        context = await chromium.new_context()
        page = await context.new_page()
        seen = {}
        try:
            await page.goto(f"{console_url}/login", timeout=15_000)  # the owner signs in, as every day
            await page.fill("input[name=password]", PASSWORD)
            async with page.expect_navigation():
                await page.click("button[type=submit]")
            for what in forms:
                await page.goto(f"http://127.0.0.1:{evil_port}/{what}")
                await page.wait_for_url(lambda u: u.startswith(console_url), timeout=15_000)  # the form went
                seen[what] = (await page.inner_text("body")).strip()[:100]
            await page.goto(f"http://127.0.0.1:{evil_port}/none")  # and a script's fetch, JSON in text/plain
            await page.evaluate(
                """url => fetch(url, {method: "POST", mode: "no-cors", credentials: "include",
                       headers: {"Content-Type": "text/plain"}, body: '{"csrf": ""}'}).catch(() => null)""",
                action,
            )
            await page.goto(f"{console_url}/accounts/shop")
            seen["still signed in"] = str("/login" not in page.url)
        finally:
            await context.close()
        return seen

    try:
        seen = aio.run(attack())
    finally:
        aio.run(evil_runner.cleanup())
        aio.run(runner.cleanup())
    refused = "Forbidden: the form's CSRF token is missing or wrong: reload"  # the cookie came: a session was found
    assert {k: v for k, v in seen.items() if k in forms} == dict.fromkeys(forms, refused)
    assert seen["still signed in"] == "True"
    assert c.actions.calls == [] and c.store.state("shop").paused_reason == "challenge: <b>captcha</b>"


@pytest.mark.browser
def test_no_configured_secret_in_any_console_answer_log_or_file_of_a_real_daemon(
    daemon: Daemon, control: Control, tmp_path: Path
) -> None:
    # Every kind of secret, with a channel that fails with its token in the URL (its error is on the
    # deliveries page and in the flash of "send a test") and a heartbeat URL with a token.
    secrets = {
        "PW_OTP": PASSWORDS["otp"][1],
        "SWEEP_TOTP": "JBSWY3DPEHPK3PXP",
        "SWEEP_WEB": "W3b-console-Secret",
        "SWEEP_HOOK_TOKEN": "H00kTokenSecret77",
        "SWEEP_HOOK_PASS": "H00kPassSecret88",
        "SWEEP_BEAT_TOKEN": "Be4tTokenSecret99",
    }
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens here once the socket closes
    env = {
        "SWEEP_TOTP": secrets["SWEEP_TOTP"],
        "SWEEP_WEB": secrets["SWEEP_WEB"],
        "SWEEP_HOOK": f"json://sweep:{secrets['SWEEP_HOOK_PASS']}@127.0.0.1:{closed}/hook/{secrets['SWEEP_HOOK_TOKEN']}",
        "SWEEP_BEAT": f"http://127.0.0.1:{closed}/ping/{secrets['SWEEP_BEAT_TOKEN']}",
    }
    account = {
        "name": "shop",
        "profile": "mock-retailer",
        "base_url": daemon.shop_url,
        "username": PASSWORDS["otp"][0],
        "password": {"env": "PW_OTP"},
        "totp_secret": {"env": "SWEEP_TOTP"},
    }
    channels = [{"name": "phone", "url": daemon.receiver.json_url()}, {"name": "hook", "url": {"env": "SWEEP_HOOK"}}]
    schedule = '[schedule]\ninterval = "1.5s"\ninterval_while_locked = "1.5s"\nretry_min = "1s"\nretry_max = "2s"\n'
    schedule += 'heartbeat_url = { env = "SWEEP_BEAT" }'
    web_keys = {"listen": "127.0.0.1:0", "password": {"env": "SWEEP_WEB"}}
    daemon.config.write_text(config_text(daemon.data, [account], channels, schedule, web=web_keys), encoding="utf-8")
    daemon.start(**env)
    url = console_of(daemon)
    control.event(PASSWORDS["otp"][0], "lock")
    wait_until(lambda: any(t.startswith("🔒 shop") for t in daemon.titles()), 60, "the lock alert delivered")

    owner = Browser(url)
    answers = [("/login", *owner.get("/login"))]
    token = re.search(r'name="csrf" value="([^"]+)"', answers[0][2])
    assert token is not None
    assert owner.post("/login", {"csrf": token[1], "password": secrets["SWEEP_WEB"]})[0] == 200
    wait_until(lambda: "Connection error" in owner.get("/deliveries")[1], 60, "the hook's failure on the page")
    token = re.search(r'name="csrf" value="([^"]+)"', owner.get("/deliveries/test")[1])
    assert token is not None
    answers.append(("send a test", *owner.post("/deliveries/test", {"csrf": token[1], "channel": ""})))
    assert "hook: FAILED" in answers[-1][2]
    for path in (
        "/",
        "/accounts/shop",
        "/deliveries",
        "/health",
        "/accounts/shop/ack",
        "/deliveries/test",
        "/api/v1/accounts",
        "/api/v1/accounts/shop",
        "/api/v1/accounts/shop/transitions",
        "/api/v1/deliveries",
        "/api/v1/health",
        "/metrics",
        "/healthz",
        "/nowhere",
    ):
        answers.append((path, *owner.get(path)))
    assert daemon.stop() == 0
    answers.append(("log", 0, daemon.log()))
    answers += [(str(p), 0, p.read_bytes().decode("utf-8", "replace")) for p in daemon.data.glob("*") if p.is_file()]
    leaked = {(where, name) for where, _status, text in answers for name, secret in secrets.items() if secret in text}
    assert leaked == set()
    assert "heartbeat ping failed" in daemon.log()  # the heartbeat URL was used, and failed, as planned


def test_the_login_limit_counts_an_ipv6_client_by_its_64_so_rotating_addresses_gains_nothing() -> None:
    # Listening on [::] with a password: one subscriber holds a whole /64, 2^64 addresses to guess from.
    limiter = LoginLimiter(clock=lambda: NOW)
    for i in range(limiter.failures):
        limiter.failed(client_of(f"2001:db8:1:2::{i + 1:x}"))
    assert limiter.blocked(client_of("2001:db8:1:2:ffff:ffff:ffff:9"))
    assert not limiter.blocked(client_of("2001:db8:1:3::1"))  # the next /64 is someone else
    for _ in range(limiter.failures):  # IPv4 peers of a dual-stack socket arrive as ::ffff:a.b.c.d
        limiter.failed(client_of("::ffff:192.0.2.7"))
    assert limiter.blocked(client_of("192.0.2.7")) and not limiter.blocked(client_of("::ffff:192.0.2.8"))
    assert [client_of(a) for a in ("127.0.0.1", "::1", None)] == ["127.0.0.1", "::1", "?"]


def test_a_form_the_console_cannot_read_is_a_400_for_anyone_not_an_error_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before signing in anyone who reaches the console may post to /login: bodies that do not parse are
    # the sender's mistake, not the monitor's (no ERROR line, no traceback for a stranger to produce).
    c = console(tmp_path, password=PASSWORD)

    bodies = (
        ("multipart/form-data; boundary=x", b"--x\r\nbroken"),
        ("multipart/form-data", b"--x\r\n\r\n"),
        ("application/x-www-form-urlencoded; charset=no-such-codec", b"csrf=x"),
        ("application/x-www-form-urlencoded; charset=utf-16", b"\xff\xfe\x00"),
    )

    async def post_each(client: Client, paths: tuple[str, ...]) -> None:
        for content_type, body in bodies:
            for path in paths:
                response = await client.post(path, data=body, headers={"Content-Type": content_type})
                assert response.status == 400, (content_type, path, response.status)
                assert "form" in await response.text()

    async def scenario(client: Client) -> None:
        token = await csrf(client, "/login")  # a session, as a browser has
        await post_each(client, ("/login",))  # a stranger's
        await client.post("/login", data={"csrf": token, "password": PASSWORD})
        await post_each(client, ("/accounts/shop/resume", "/deliveries/test", "/logout"))  # the owner's browser
        assert (await client.get("/api/v1/accounts")).status == 200  # still signed in

    c.run(scenario)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert c.actions.calls == []


def test_a_planted_session_cookie_is_not_signed_in_by_the_owner_signing_in(tmp_path: Path) -> None:
    # Session fixation: another port of 127.0.0.1 can set cookies for 127.0.0.1 (cookies ignore ports).
    c = console(tmp_path, password=PASSWORD)

    async def scenario(client: Client) -> None:
        async with other_browser(client) as attacker:
            await csrf(attacker, "/login")
            planted = next(m.value for m in attacker.cookie_jar if m.key == "monitor_session")
        client.session.cookie_jar.update_cookies({"monitor_session": planted})
        token = await csrf(client, "/login")  # the owner's browser, carrying the planted cookie
        await client.post("/login", data={"csrf": token, "password": PASSWORD})
        assert (await client.get("/api/v1/accounts")).status == 200
        async with other_browser(client) as attacker:
            attacker.cookie_jar.update_cookies({"monitor_session": planted})
            assert (await attacker.get("/api/v1/accounts")).status == 401

    c.run(scenario)


@pytest.mark.browser
def test_clients_that_hold_connections_open_cannot_starve_the_checks_of_file_descriptors(
    daemon: Daemon, control: Control
) -> None:
    # Each connection is a file descriptor of the daemon; the checks need theirs (Chromium, SQLite). A
    # soft limit of 512 here stands for systemd's 1024: anyone who reaches the port opens 600 and waits.
    daemon.write([("shop", "alice")], web=ANY_PORT)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    try:
        daemon.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    url = console_of(daemon)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    wait_until(lambda: daemon.outcomes("shop")[-1:] == ["ok"], 60, "the first check")
    with contextlib.ExitStack() as held:
        for _ in range(600):
            held.enter_context(socket.create_connection(("127.0.0.1", port)))
        checks = len(daemon.outcomes("shop"))
        control.event(ALICE, "lock")
        wait_until(lambda: "locked" in daemon.outcomes("shop")[checks:], 60, "the lock read while they hold on")
        assert set(daemon.outcomes("shop")[checks:]) <= {"ok", "locked"}

    def healthz() -> int | None:
        try:
            return Browser(url).get("/healthz")[0]
        except OSError:  # turned away while the server still counts the connections just closed
            return None

    assert wait_until(lambda: healthz() == 200, 30, "the console answering again")
    assert daemon.stop() == 0
    assert "Too many open files" not in daemon.log() and "Traceback" not in daemon.log()  # turned away quietly


@pytest.mark.browser
def test_healthz_turns_503_while_a_hung_browser_stops_the_checks_and_200_when_they_go_on(
    daemon: Daemon, control: Control
) -> None:
    # The daemon's loop keeps answering, but no check completes: Chromium is stopped (SIGSTOP of the
    # browser, not of the daemon, which could not answer at all). An uptime monitor must hear about it.
    daemon.write([("shop", "alice")], extra="[browser]\ncheck_timeout_s = 5", web=ANY_PORT)
    daemon.start()
    url = console_of(daemon)
    wait_until(lambda: daemon.outcomes("shop")[-1:] == ["ok"], 60, "the first check")
    assert Browser(url).get("/healthz") == (200, "ok\n")
    browser = descendants(daemon.proc.pid) if daemon.proc else []
    assert browser, "no Chromium under the daemon"
    try:
        for pid in browser:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        status = wait_until(lambda: (a := Browser(url).get("/healthz"))[0] == 503 and a, 150, "/healthz 503")
        assert status == (503, "not making progress\n")
    finally:
        for pid in browser:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    wait_until(lambda: Browser(url).get("/healthz")[0] == 200, 120, "/healthz 200 once checks complete again")
    assert daemon.stop() == 0


def test_stalled_form_posts_to_login_do_not_lock_the_owner_out_for_good(
    tmp_path: Path, aio: AsyncRunner, caplog: pytest.LogCaptureFixture
) -> None:
    # Anyone who reaches a console with a password may post to /login. Each post that sends its headers and
    # then stops mid-body holds a connection for as long as it likes, unless the console gives up on it.
    c = console(tmp_path, password=PASSWORD)
    runner, port = aio.run(serve(c.app(), "127.0.0.1", 0))
    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 100\r\n\r\np"
    )

    def owner_gets_in() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    try:
        with contextlib.ExitStack() as held:
            for _ in range(MAX_CONNECTIONS + 10):
                held.enter_context(socket.create_connection(("127.0.0.1", port))).sendall(head)
            wait_until(owner_gets_in, IDLE_S * 3, "the owner let in again")
    finally:
        aio.run(runner.cleanup())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
