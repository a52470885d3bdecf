"""Remote sign-in end to end: a phone-size Chromium drives the console page, the monitor's own Chromium the site."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fixtures.control import Control
from fixtures.procs import carrying, processes, tree
from monitor.actions import Actions, Health
from monitor.files import BOUND_KEY, SessionFiles
from monitor.models import Problem, Status
from monitor.notify import Notifier
from monitor.remote import RemoteSession, RemoteSignins
from monitor.totp import totp
from monitor.web import make_app, serve
from monitor.web.app import CONSOLE
from tests.e2e.test_console_daemon import console_of
from tests.helpers import PASSWORDS, AsyncRunner, Daemon, Rig, account_entry, wait_until
from tests.web_helpers import console as web_console

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
WS = "/accounts/shop/signin/ws"
OTP_SEED = "JBSWY3DPEHPK3PXP"  # the mock retailer's seed for otp@example.com (fixtures/README.md)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children() -> set[int]:
    """This test process's direct children (Playwright drivers)."""
    return {p.pid for p in processes() if p.ppid == os.getpid()}


@dataclass
class Served:
    """The console on a real port over a Rig's config and store, with a phone-size page to drive it."""

    aio: AsyncRunner
    rig: Rig
    url: str
    signins: RemoteSignins
    phone: Any
    requested: list[str] = field(default_factory=list)
    frames_text: list[str] = field(default_factory=list)  # every text WebSocket message, both ways
    bodies: list[str] = field(default_factory=list)  # every HTTP response body the phone got
    console_errors: list[str] = field(default_factory=list)

    def session(self, name: str) -> RemoteSession:
        """The open remote session of `name`."""
        return wait_until(lambda: self.signins.open.get(name), 30, f"a remote session for {name}")

    def open_signin(self, name: str, page: Any = None) -> Any:
        """Open /accounts/NAME/signin on the phone (or `page`)."""
        page = page or self.phone
        self.aio.run(page.goto(f"{self.url}accounts/{name}/signin"))
        return page

    def status(self, page: Any = None) -> str:
        """The page's status line."""
        return str(self.aio.run((page or self.phone).inner_text("#remote-status")))

    def frames(self) -> int:
        """Frames drawn so far on the phone."""
        return int(self.aio.run(self.phone.get_attribute("#screen", "data-frames")) or 0)

    def remote_at(self, name: str, path: str) -> RemoteSession:
        """Wait until the remote browser shows `path` (and a frame is drawn) and return its session."""
        remote = self.session(name)
        wait_until(lambda: remote.page is not None and path in remote.page.url, 30, f"the remote page at {path}")
        wait_until(lambda: self.frames() > 0, 30, "a frame drawn on the phone")
        return remote

    def tap_field(self, remote: RemoteSession, selector: str) -> None:
        """Tap, on the phone's picture, where the remote page shows `selector` (as the owner would)."""

        async def tap() -> None:
            assert remote.page is not None
            await remote.page.locator(selector).wait_for(state="visible")
            box = await remote.page.locator(selector).bounding_box()
            await self.phone.locator("#screen").evaluate("e => e.scrollIntoView()")  # as a finger scrolls to it
            canvas = await self.phone.locator("#screen").bounding_box()
            assert box is not None and canvas is not None
            scale = canvas["width"] / 600
            x = canvas["x"] + (box["x"] + box["width"] / 2) * scale
            y = canvas["y"] + (box["y"] + box["height"] / 2) * scale
            await self.phone.touchscreen.tap(x, y)
            await remote.page.wait_for_function(
                "s => document.activeElement === document.querySelector(s)", arg=selector, timeout=15_000
            )

        self.aio.run(tap())

    def type(self, text: str) -> None:
        """Type `text` in the page's box and send it."""
        self.aio.run(self.phone.fill("#typed", text))
        self.aio.run(self.phone.tap("#type"))

    def button(self, label: str) -> None:
        """Tap one of the page's buttons by its label."""
        self.aio.run(self.phone.get_by_role("button", name=label, exact=True).tap())


@pytest.fixture
def served(rig: Callable[..., Rig], aio: AsyncRunner, chromium: Any) -> Iterator[Callable[..., Served]]:
    """served(entries, idle_s=...): the console with remote sign-in over a Rig, and a phone page on it."""
    made: list[tuple[Any, Any]] = []

    def build(entries: list[dict[str, Any]], idle_s: float = 300) -> Served:
        r = rig(entries)
        requested: list[str] = []
        actions = Actions(r.config, r.store, Notifier(r.config, r.store), request_check=requested.append)
        signins = RemoteSignins(idle_s=idle_s)
        app = make_app(r.config, r.store, actions, lambda: Health("t", True, True), None, remote=signins)
        runner, port = aio.run(serve(app, "127.0.0.1", 0))
        context = aio.run(chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True))
        phone = aio.run(context.new_page())
        s = Served(aio, r, f"http://127.0.0.1:{port}/", signins, phone, requested)

        def on_socket(ws: Any) -> None:
            for event in ("framereceived", "framesent"):
                ws.on(event, lambda payload: isinstance(payload, str) and s.frames_text.append(payload))

        async def on_response(response: Any) -> None:
            with contextlib.suppress(Exception):  # a redirect has no body
                s.bodies.append((await response.body()).decode("utf-8", "replace"))

        phone.on("websocket", on_socket)
        phone.on("response", on_response)
        phone.on("console", lambda m: m.type == "error" and s.console_errors.append(m.text))
        made.append((runner, context))
        return s

    yield build
    for runner, context in made:
        aio.run(context.close())
        aio.run(runner.cleanup())


def paused_by(r: Rig, name: str) -> int:
    """A real check meets the challenge and pauses the account's sign-ins; returns the budget used."""
    reading = r.check(name)
    assert reading.problem == Problem.CHALLENGE
    assert r.store.state(name).paused_reason
    return r.store.budget(name, r.config.account(name).signin_budget).used


def sign_in_form(s: Served, name: str, fill_password: bool) -> RemoteSession:
    """On the remote sign-in form: email typed by hand, password filled by the server (or typed), submitted."""
    email, password = PASSWORDS[name]
    remote = s.remote_at(name, "/signin")
    s.tap_field(remote, "input[name=email]")
    s.type(email)
    s.tap_field(remote, "input[name=password]")
    if fill_password:
        s.button("Fill my password")
        wait_until(lambda: "password filled" in s.status(), 15, "the password filled")
    else:
        s.type(password)
    s.button("Enter")
    return remote


def assert_signed_in_by_hand(s: Served, control: Control, name: str, used_before: int) -> None:
    """The page says so; session saved and bound; pause lifted; check asked; budget untouched; browser gone."""
    wait_until(lambda: "Signed in: session saved, checking now" in s.status(), 60, "the page to say signed in")
    r, account = s.rig, s.rig.config.account(name)
    assert s.aio.run(s.phone.get_attribute("#remote-done", "href")) == f"/accounts/{name}"
    raw = json.loads(SessionFiles(r.config.data_dir / "sessions").path(name).read_text())
    assert raw[BOUND_KEY] == account.binding and raw["cookies"]
    assert r.store.state(name).paused_reason is None
    assert s.requested == [name]
    assert r.store.budget(name, account.signin_budget).used == used_before  # the owner's sign-in is not counted
    assert control.account(account.username)["signin_count"] == 1
    wait_until(lambda: not s.signins.open, 30, "the remote session to end")
    reading = r.check(name)  # what the daemon's requested check does: the saved session is used as is
    assert reading.status == Status.OK and not reading.signed_in
    assert control.account(account.username)["signin_count"] == 1
    assert not [e for e in s.console_errors if "Content Security Policy" in e]


def test_a_captcha_is_solved_from_the_phone_and_the_password_never_reaches_it(
    served: Callable[..., Served], control: Control, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    email, password = PASSWORDS["alice"]
    control.misbehave(email, captcha=True)
    s = served([account_entry("alice", monkeypatch)])
    used = paused_by(s.rig, "alice")
    drivers = children()
    s.open_signin("alice")
    remote = sign_in_form(s, "alice", fill_password=True)
    (driver,) = wait_until(lambda: children() - drivers, 30, "the remote browser's driver")
    mine = tree(driver)
    assert len(mine) > 1  # the driver and its Chromium
    s.remote_at("alice", "/signin/captcha")
    answer = control.captcha_answer(email)  # the characters the picture shows (an image: not in the DOM)
    assert answer
    s.tap_field(remote, "input[name=characters]")
    s.type(answer)
    s.button("Enter")
    assert_signed_in_by_hand(s, control, "alice", used_before=used)
    wait_until(lambda: not any(alive(p) for p in mine), 30, "the remote Chromium and driver to exit")
    s.bodies.append(s.aio.run(s.phone.content()))
    for text in (*s.frames_text, *s.bodies, caplog.text):
        assert password not in text
    assert any("fill" in t and "password" in t for t in s.frames_text)  # the button asked; the server typed
    assert "remote sign-in for alice: signed in by hand" in caplog.text
    assert email not in caplog.text and answer not in caplog.text  # typed text is never logged


def test_a_one_time_code_is_typed_by_hand(
    served: Callable[..., Served], control: Control, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = served([account_entry("otp", monkeypatch)])  # no totp_secret configured: a person must type the code
    used = paused_by(s.rig, "otp")
    s.open_signin("otp")
    assert s.aio.run(s.phone.get_by_role("button", name="Fill my one-time code").count()) == 0
    sign_in_form(s, "otp", fill_password=False)
    remote = s.remote_at("otp", "/signin/otp")
    s.tap_field(remote, "input[name=otp]")
    s.type(totp(OTP_SEED))
    s.button("Enter")
    assert_signed_in_by_hand(s, control, "otp", used_before=used)


def test_a_device_approval_is_waited_for_and_then_the_session_saved(
    served: Callable[..., Served], control: Control, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = PASSWORDS["alice"][0]
    control.misbehave(email, device_approval=True)
    s = served([account_entry("alice", monkeypatch)])
    used = paused_by(s.rig, "alice")
    s.open_signin("alice")
    sign_in_form(s, "alice", fill_password=True)
    s.remote_at("alice", "/signin/device")
    assert s.signins.open and "Signed in" not in s.status()  # the device page is no account page
    control.approve_device(email)  # the owner approves in the retailer's app; the page goes on by itself
    assert_signed_in_by_hand(s, control, "alice", used_before=used)


def test_an_idle_remote_sign_in_closes_its_browser(
    served: Callable[..., Served], control: Control, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = served([account_entry("alice", monkeypatch)], idle_s=3)
    drivers = children()
    s.open_signin("alice")
    s.remote_at("alice", "/signin")
    (driver,) = wait_until(lambda: children() - drivers, 30, "the remote browser's driver")
    mine = tree(driver)
    assert len(mine) > 1
    wait_until(lambda: "without input" in s.status(), 30, "the idle message")
    wait_until(lambda: not s.signins.open, 30, "the session to be forgotten")
    wait_until(lambda: not any(alive(p) for p in mine), 30, "the remote Chromium and driver to exit")
    assert control.account("alice@example.com")["signin_attempts"] == 0


def test_a_second_tab_is_told_the_sign_in_is_in_use_and_gets_no_browser(
    served: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = served([account_entry("alice", monkeypatch)])
    s.open_signin("alice")
    first = s.remote_at("alice", "/signin")
    drivers = children()
    second = s.aio.run(s.phone.context.new_page())
    s.open_signin("alice", second)
    wait_until(lambda: "a sign-in for alice is already open (since" in s.status(second), 30, "the in-use message")
    assert children() == drivers and s.signins.open == {"alice": first}
    assert "Ready" in s.status() or "Opening" in s.status()  # the first tab goes on


def test_stopping_the_daemon_closes_an_open_remote_sign_in(
    daemon: Daemon, control: Control, aio: AsyncRunner, chromium: Any
) -> None:
    control.misbehave("alice@example.com", captcha=True)
    daemon.write([("shop", "alice")], web={"listen": "127.0.0.1:0"})
    daemon.start()
    url = console_of(daemon)
    wait_until(lambda: "shop: cannot check: challenge" in daemon.log(), 60, "the check to meet the CAPTCHA")
    context = aio.run(chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True))
    try:
        phone = aio.run(context.new_page())
        aio.run(phone.goto(f"{url}accounts/shop/signin"))
        aio.run(phone.wait_for_selector("#screen:not([data-frames='0'])", timeout=60_000))  # a frame drawn
        assert "remote sign-in for shop: opened" in daemon.log()
        assert daemon.stop() == 0
        wait_until(lambda: not carrying(daemon.marker), 10, "the remote Chromium and driver to exit")
        status = aio.run(phone.inner_text("#remote-status"))
        assert status.startswith(("The monitor is stopping", "The connection closed")), status
        assert "remote sign-in for shop: closed (shutdown)" in daemon.log()
    finally:
        aio.run(context.close())


HOSTILE_SOCKET = """<!doctype html><title>win a prize</title><script>
window.result = "pending";
const ws = new WebSocket("{ws}");
ws.onopen = () => ws.send(JSON.stringify({{type: "hello", csrf: ""}}));
ws.onmessage = (e) => {{ window.result = "message: " + e.data; }};
ws.onclose = (e) => {{ if (window.result === "pending") window.result = "closed " + e.code; }};
</script>"""


def test_a_page_of_another_port_or_site_cannot_open_the_remote_browser(
    tmp_path: Path, aio: AsyncRunner, chromium: Any
) -> None:
    # Another port of 127.0.0.1 is the same site (the SameSite=Strict cookie rides along); localhost is
    # another site (it does not). The browser sets Origin itself: both are refused before any browser starts.
    c = web_console(tmp_path, password="a-long-console-password")
    app = c.app()
    runner, port = aio.run(serve(app, "127.0.0.1", 0))

    async def hostile(request: web.Request) -> web.Response:
        return web.Response(text=HOSTILE_SOCKET.format(ws=f"ws://127.0.0.1:{port}{WS}"), content_type="text/html")

    evil = web.Application()
    evil.router.add_get("/", hostile)
    evil_runner, evil_port = aio.run(serve(evil, "127.0.0.1", 0))
    drivers = children()

    async def attack() -> dict[str, str]:
        context = await chromium.new_context()
        page = await context.new_page()
        seen = {}
        try:
            await page.goto(f"http://127.0.0.1:{port}/login")  # the owner signs in, as every day
            await page.fill("input[name=password]", "a-long-console-password")
            async with page.expect_navigation():
                await page.click("button[type=submit]")
            for where in (f"http://127.0.0.1:{evil_port}/", f"http://localhost:{evil_port}/"):
                await page.goto(where)
                await page.wait_for_function("window.result !== 'pending'", timeout=15_000)
                seen[where] = await page.evaluate("window.result")
        finally:
            await context.close()
        return seen

    try:
        seen = aio.run(attack())
    finally:
        aio.run(evil_runner.cleanup())
        aio.run(runner.cleanup())
    assert set(seen.values()) == {"closed 1006"}, seen  # the handshake was refused (403): no socket, no message
    assert not app[CONSOLE].remote.open and children() == drivers


def test_the_remote_browser_is_kept_on_the_account_s_site(
    served: Callable[..., Served], aio: AsyncRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The owner steers it and sees what it shows: a link or redirect to another port of 127.0.0.1 (or
    # anywhere off the site) would make it a browser into the server's own network.
    hits: list[str] = []

    async def inside(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="<title>router admin</title>internal", content_type="text/html")

    other = web.Application()
    other.router.add_get("/{tail:.*}", inside)
    other_runner, other_port = aio.run(serve(other, "127.0.0.1", 0))
    try:
        s = served([account_entry("alice", monkeypatch)])
        s.open_signin("alice")
        remote = s.remote_at("alice", "/signin")
        assert remote.page is not None
        page = remote.page

        def settled() -> bool:
            """The page has finished loading (on a busy machine the sign-in form may still be loading)."""
            return bool(aio.run(page.evaluate("() => document.readyState")) == "complete")

        wait_until(settled, 30, "the sign-in page loaded")
        site = page.url
        for away in (f"http://127.0.0.1:{other_port}/admin", f"http://localhost:{other_port}/", "file:///etc/passwd"):
            assert remote.page is not None
            with contextlib.suppress(Exception):  # the page is replaced by the navigation it starts
                aio.run(remote.page.evaluate("u => { location.href = u }", away))  # as a hostile page's script
            if away.startswith("http"):
                wait_until(lambda: "is not this account's site" in s.status(), 15, "the page to say it stayed")
                aio.run(s.phone.evaluate("() => { document.querySelector('#remote-status').textContent = '' }"))
            wait_until(settled, 15, "the page to stay loaded")  # no error page
            assert remote.page.url == site, away
        assert hits == []
        assert not remote.closed
        aio.run(remote.page.evaluate("() => { location.href = '/' }"))  # its own site still opens
        home = s.rig.config.account("alice").base_url.rstrip("/") + "/"
        wait_until(lambda: remote.page is not None and remote.page.url == home, 15, "the site's own home page")
    finally:
        aio.run(other_runner.cleanup())


def test_a_remote_chromium_killed_mid_sign_in_is_reported_and_a_new_one_starts(
    served: Callable[..., Served], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    s = served([account_entry("alice", monkeypatch)])
    drivers = children()
    s.open_signin("alice")
    first = s.remote_at("alice", "/signin")
    (driver,) = wait_until(lambda: children() - drivers, 30, "the remote browser's driver")
    browsers = tree(driver) - {driver}  # Chromium (its launcher, browser, zygotes, renderers); the driver lives
    assert browsers
    for pid in browsers:
        with contextlib.suppress(ProcessLookupError):  # a renderer may go first with its browser
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: "the remote browser stopped" in s.status(), 30, "the page to say the browser is gone")
    assert "reload this page" in s.status()
    wait_until(lambda: first.closed and first.outcome == "failed", 30, "the session to end")
    assert "remote sign-in for alice: the remote browser stopped" in caplog.text
    s.aio.run(s.phone.reload())  # the owner starts again: not "already open"
    second = s.remote_at("alice", "/signin")
    assert second is not first and not second.closed


def test_a_longer_status_line_does_not_move_the_picture_under_the_finger(
    served: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The owner taps where the picture showed a field; a status line that grew from one line to three
    # pushed the picture down first, and the tap landed between the fields.
    s = served([account_entry("alice", monkeypatch)])
    s.open_signin("alice")
    s.remote_at("alice", "/signin")
    top = "e => e.getBoundingClientRect().top + window.scrollY"  # in the document: tapping a button scrolls
    before = s.aio.run(s.phone.locator("#screen").evaluate(top))
    s.button("Fill my password")  # nothing focused: the longest line the page says
    wait_until(lambda: "tap into the password field first" in s.status(), 15, "the refusal")
    assert s.aio.run(s.phone.locator("#screen").evaluate(top)) == before
    bottom = "e => e.getBoundingClientRect().bottom + window.scrollY"
    assert s.aio.run(s.phone.locator("#remote-status").evaluate(bottom)) <= before  # the whole line still shows
