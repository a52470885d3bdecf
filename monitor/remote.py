"""Remote sign-in: the monitor's own headless browser, streamed to the owner's console page, driven by their taps.

The console holds one `RemoteSignins` registry; each account has at most one `RemoteSession`: a
Playwright driver and a headless Chromium of its own (not the checks' browser), showing the account's
site as checks see it (locale, time zone, an ordinary Chrome). Frames go out as JPEG through a
`Client` (the console's WebSocket); input comes back through `RemoteSession.handle`. When the page
reads as a status page the session is saved as an automated sign-in saves it, the pause is lifted and
a check is asked for. Nothing here counts against the sign-in budget: a person signs in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, CDPSession, Page, Playwright, Route
from playwright.async_api import Error as PlaywrightError

from monitor.browser import launch, open_context, present_as_ordinary_chrome, start_driver
from monitor.config import Account, Config
from monitor.detect import detect, is_status, snapshot
from monitor.errors import MonitorError
from monitor.fetch import on_site
from monitor.files import SessionFiles
from monitor.profiles import load_profile, origin
from monitor.text import one_line
from monitor.totp import totp

log = logging.getLogger("monitor.remote")

IDLE_S = 300.0  # a remote sign-in with no input for 5 minutes closes: a forgotten tab holds no browser
MAX_OPEN = 2  # remote browsers at once across all accounts: each is a Chromium (~150 MB) on a small box
VIEWPORT = {"width": 600, "height": 900}  # narrow enough to read on a phone, wide enough for a desktop site
WATCH_EVERY_S = 1.0  # how often the page is read for a status page (and the idle time checked)
JPEG_QUALITY = 60
MAX_TEXT = 256  # characters in one typed-text message
KEYS = ("Enter", "Backspace", "Tab")
MODES = ("screencast", "screenshots")


class Busy(MonitorError):
    """A remote sign-in cannot open now (one is open for the account, or too many are open)."""


class BadInput(MonitorError):
    """A client message that is not one of the input messages: the socket is closed."""


class Owner(Protocol):
    """What a finished sign-in asks of the owner's actions (monitor.actions.Actions: the console's own)."""

    request_check: Callable[[str], None] | None  # None under `monitor web`: nothing checks there

    def resume(self, account: str) -> str: ...

    def check_now(self, account: str) -> str: ...


class Client(Protocol):
    """Where frames and messages go (aiohttp's WebSocketResponse is one)."""

    async def send_bytes(self, data: bytes) -> None: ...

    async def send_str(self, data: str) -> None: ...

    async def close(self) -> bool: ...


def _int(msg: dict[str, Any], key: str, low: int, high: int) -> int:
    """msg[key] as an int within [low, high]; BadInput otherwise (bool is not a number here)."""
    value = msg.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadInput(f"{key} out of range")
    return int(value)


def validate(msg: Any) -> dict[str, Any]:
    """An input message reduced to its checked fields; BadInput for anything else."""
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise BadInput("not an input message")
    kind = msg["type"]
    if kind == "tap":
        return {
            "type": kind,
            "x": _int(msg, "x", 0, VIEWPORT["width"] - 1),
            "y": _int(msg, "y", 0, VIEWPORT["height"] - 1),
        }
    if kind == "text":
        text = msg.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT or not text.isprintable():
            raise BadInput("text must be 1 to 256 printable characters")
        return {"type": kind, "text": text}
    if kind == "key":
        if msg.get("key") not in KEYS:
            raise BadInput("unknown key")
        return {"type": kind, "key": str(msg["key"])}
    if kind == "scroll":
        return {"type": kind, "dx": _int(msg, "dx", -2000, 2000), "dy": _int(msg, "dy", -2000, 2000)}
    if kind == "fill":
        if msg.get("what") not in ("password", "code"):
            raise BadInput("fill what?")
        return {"type": kind, "what": msg["what"]}
    raise BadInput("unknown message type")


class RemoteSession:
    """One account's remote browser: starts it, streams frames, takes input, notices the sign-in is done."""

    def __init__(
        self,
        config: Config,
        account: Account,
        actions: Owner,
        client: Client,
        idle_s: float = IDLE_S,
        mode: str = "screencast",
    ) -> None:
        self.config = config
        self.account = account
        self.actions = actions
        self.client = client
        self.idle_s = idle_s
        self.mode = mode
        self.opened_at = time.time()
        self.last_input = time.monotonic()
        self.outcome: str | None = None  # why it ended: signed-in, idle, left, shutdown, failed
        self.profile = load_profile(account.profile, config.path.parent)
        self.pw: Playwright | None = None
        self.browser: Browser | None = None
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.cdp: CDPSession | None = None
        self._latest: bytes | None = None  # the newest frame not sent yet: a slow phone skips frames
        self._fresh = asyncio.Event()
        self._poked = asyncio.Event()  # input arrived: screenshots mode looks again soon
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        self._closing = asyncio.Lock()
        self._ending: asyncio.Future[None] | None = None  # the close started by a lost browser

    # --- life -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start a driver and Chromium, open the profile's first page, and start the frames."""
        locale = self.account.locale or self.profile.locale
        self.pw = await start_driver()
        self.browser, _ = await launch(self.pw, self.config.browser.executable_path)
        self.browser.on("disconnected", lambda _: self._lost("the remote browser stopped"))
        sessions = SessionFiles(self.config.data_dir / "sessions")
        self.context = await open_context(
            self.browser,
            locale,
            self.account.timezone or self.profile.timezone,
            sessions.load(self.account.name, self.account.binding),
            timeout_ms=30_000,
        )
        await self.context.route("**/*", self._guard)
        self.page = await self.context.new_page()
        self.page.on("crash", lambda _: self._lost("the remote page crashed"))
        self.cdp = await present_as_ordinary_chrome(self.context, self.page, locale)
        await self.page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]
        await self.send({"type": "viewport", **VIEWPORT})
        self._tasks.append(asyncio.create_task(self._pump()))
        if self.mode == "screencast":
            self.cdp.on("Page.screencastFrame", self._on_frame)
            size = {"maxWidth": VIEWPORT["width"], "maxHeight": VIEWPORT["height"]}
            await self.cdp.send("Page.startScreencast", {"format": "jpeg", "quality": JPEG_QUALITY, **size})
        else:
            self._tasks.append(asyncio.create_task(self._shoot()))
        try:
            await self.page.goto(self.account.base_url + self.profile.pages[0], wait_until="domcontentloaded")
        except PlaywrightError as exc:
            await self.say(f"the site did not load: {one_line(str(exc), 120)}: reload this page to try again")

    async def watch(self) -> None:
        """Every second: end after `idle_s` without input, or finish when the page shows a signed-in account."""
        while not self._closed.is_set():
            await asyncio.sleep(WATCH_EVERY_S)
            if time.monotonic() - self.last_input > self.idle_s:
                minutes = self.idle_s / 60
                await self.close("idle", f"Closed after {minutes:g} minutes without input: reload to start again")
                return
            if self.page is None:
                continue
            try:
                snap = await asyncio.wait_for(snapshot(self.page, self.profile), 10)
            except (PlaywrightError, TimeoutError):
                continue  # mid-navigation or busy: read it next time
            if is_status(detect(self.profile, snap)):
                try:
                    await self._signed_in()
                except Exception as exc:  # the data dir or the browser failed: the owner hears it, the console lives
                    log.warning("remote sign-in for %s: saving failed: %s", self.account.name, type(exc).__name__)
                    await self.close("failed", f"Signed in, but saving the session failed ({type(exc).__name__})")
                return

    async def _signed_in(self) -> None:
        """The owner got through: save the session as a sign-in does, lift the pause, ask for a check."""
        assert self.context is not None
        name = self.account.name
        sessions = SessionFiles(self.config.data_dir / "sessions")
        sessions.save(name, await self.context.storage_state(), bound=self.account.binding)
        self.actions.resume(name)
        if self.actions.request_check is not None:
            try:
                self.actions.check_now(name)
                said = "Signed in: session saved, checking now"
            except MonitorError as exc:  # ActionRefused: e.g. the account has enabled = false
                said = f"Signed in: session saved; {exc}"
        else:
            said = (
                "Signed in: session saved and sign-ins resumed; no check runs here (`monitor web`):"
                " the next `monitor run` checks it"
            )
        log.info("remote sign-in for %s: signed in by hand; session saved, sign-ins resumed", name)
        await self.send({"type": "done", "text": said, "href": f"/accounts/{name}"})
        await self.close("signed-in")

    async def close(self, outcome: str, message: str | None = None) -> None:
        """End it once: tell the page why, stop the frames, close Chromium and the driver."""
        async with self._closing:
            if self._closed.is_set():
                return
            self._closed.set()
            self.outcome = outcome
            if message:
                await self.send({"type": "end", "text": message})
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                if self.browser is not None:
                    await asyncio.wait_for(self.browser.close(), 10)
            with contextlib.suppress(Exception):
                if self.pw is not None:
                    await asyncio.wait_for(self.pw.stop(), 10)
            log.info("remote sign-in for %s: closed (%s)", self.account.name, outcome)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 5)  # ends the console's receive loop too

    def _lost(self, what: str) -> None:
        """Chromium or its page died under the session (killed, out of memory): end it and tell the page."""
        if self._closed.is_set():
            return  # close() itself stops the browser
        log.warning("remote sign-in for %s: %s", self.account.name, what)
        # Without this the picture froze and every tap said "busy" until the idle close, 5 minutes on.
        message = f"Closed: {what}; reload this page to start again"
        self._ending = asyncio.ensure_future(self.close("failed", message))  # kept: an unreferenced task may vanish

    def may_visit(self, url: str) -> bool:
        """Whether the remote browser may show `url`: the account's site (same scheme and port) or an allowed origin."""
        base = self.account.base_url
        if origin(url) in {origin(base), *self.profile.allowed_origins}:
            return True
        here, home = urlsplit(url), urlsplit(base)
        try:
            same_port = here.port == home.port
        except ValueError:
            return False
        return here.scheme == home.scheme and same_port and on_site(url, base, self.profile.allowed_origins)

    async def _guard(self, route: Route) -> None:
        """Let a page go anywhere off the account's site only for what it loads, never as a page shown."""
        # The owner steers this browser and sees what it shows: following a link (or a hostile page's
        # redirect) to another origin would make it a browser into the server's own network (a router's
        # page, another service on 127.0.0.1). Frames and resources of other origins still load: sites
        # use CDNs and CAPTCHA providers, and nothing of them is navigated to by the owner.
        request = route.request
        off_site = (
            request.is_navigation_request() and request.frame.parent_frame is None and not self.may_visit(request.url)
        )
        with contextlib.suppress(PlaywrightError):  # the page may close while a request waits here
            if not off_site:
                await route.continue_()
                return
            await route.fulfill(
                status=204
            )  # "no content": the browser stays on the page it shows (an abort shows an error page)
        log.info("remote sign-in for %s: kept from leaving the site for %s", self.account.name, origin(request.url))
        await self.say(f"not opened: {one_line(origin(request.url), 120)} is not this account's site")

    @property
    def closed(self) -> bool:
        """Whether it has ended."""
        return self._closed.is_set()

    # --- frames -----------------------------------------------------------------------

    def _on_frame(self, params: dict[str, Any]) -> None:
        """A screencast frame: keep the newest, ack it so Chromium sends the next."""
        self._latest = base64.b64decode(params["data"])
        self._fresh.set()
        if self.cdp is not None and not self._closed.is_set():
            ack = self.cdp.send("Page.screencastFrameAck", {"sessionId": params["sessionId"]})
            task = asyncio.ensure_future(ack)
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a closed page's ack fails: fine

    async def _shoot(self) -> None:
        """Screenshots mode: a JPEG every second, every 100 ms for a second after input; sent when it changed."""
        last = b""
        quick_until = 0.0
        while self.page is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), 0.1 if time.monotonic() < quick_until else 1.0)
            if self._poked.is_set():
                self._poked.clear()
                quick_until = time.monotonic() + 1.0
            try:
                shot = await self.page.screenshot(type="jpeg", quality=JPEG_QUALITY, timeout=5_000)
            except PlaywrightError:
                continue
            if shot != last:
                last, self._latest = shot, shot
                self._fresh.set()

    async def _pump(self) -> None:
        """Send the newest frame whenever there is one (frames that came meanwhile are skipped)."""
        while True:
            await self._fresh.wait()
            self._fresh.clear()
            frame, self._latest = self._latest, None
            if frame is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.client.send_bytes(frame)

    async def send(self, message: dict[str, Any]) -> None:
        """A JSON message to the page (it shows text with textContent only)."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.client.send_str(json.dumps(message))

    async def say(self, text: str) -> None:
        """A status line on the page."""
        await self.send({"type": "say", "text": text})

    # --- input ----------------------------------------------------------------------

    async def handle(self, msg: Any) -> None:
        """One input message, validated; BadInput for anything that is not one (never logs typed text)."""
        act = validate(msg)
        page = self.page
        if page is None or self._closed.is_set():
            return
        self.last_input = time.monotonic()
        kind = act["type"]
        try:
            if kind == "tap":
                await page.mouse.click(act["x"], act["y"])
            elif kind == "text":
                await page.keyboard.insert_text(act["text"])
            elif kind == "key":
                await page.keyboard.press(act["key"])
            elif kind == "scroll":
                await page.mouse.wheel(act["dx"], act["dy"])
            elif kind == "fill":
                await self._fill(page, act["what"])
        except PlaywrightError:
            await self.say("the page is busy (loading?): try again")
        self._poked.set()

    async def _fill(self, page: Page, what: object) -> None:
        """Type the configured password (into a focused password field only) or the current TOTP code."""
        focused = await page.evaluate(
            "() => { const e = document.activeElement;"
            " return e instanceof HTMLInputElement || e instanceof HTMLTextAreaElement ? (e.type || 'text') : null }"
        )
        if what == "password":
            if self.account.password is None:
                await self.say("no password is configured for this account: type it yourself")
            elif focused != "password":
                await self.say("tap into the password field first (the password is typed only into a password field)")
            else:
                await page.keyboard.insert_text(self.account.password.reveal())
                await self.say("password filled")
        elif what == "code":
            if self.account.totp_secret is None:
                await self.say("no one-time-code seed (totp_secret) is configured: type the code yourself")
            elif focused is None or focused == "hidden":
                await self.say("tap into the one-time-code field first")
            else:
                await page.keyboard.insert_text(totp(self.account.totp_secret.reveal()))
                await self.say("one-time code filled")


class RemoteSignins:
    """The open remote sign-ins: at most one per account and `limit` overall."""

    def __init__(self, limit: int = MAX_OPEN, idle_s: float = IDLE_S, mode: str = "screencast") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.limit = limit
        self.idle_s = idle_s
        self.mode = mode
        self.open: dict[str, RemoteSession] = {}

    def claim(self, config: Config, account: Account, actions: Owner, client: Client) -> RemoteSession:
        """A new session for `account`, registered; Busy when one is open for it or too many are open."""
        for name, session in list(self.open.items()):
            if session.closed:
                del self.open[name]
        held = self.open.get(account.name)
        if held is not None:
            since = time.strftime("%H:%M", time.localtime(held.opened_at))
            raise Busy(f"a sign-in for {account.name} is already open (since {since})")
        if len(self.open) >= self.limit:
            raise Busy(f"{len(self.open)} remote sign-ins are open already (the most at once): finish one first")
        session = RemoteSession(config, account, actions, client, self.idle_s, self.mode)
        self.open[account.name] = session
        log.info("remote sign-in for %s: opened", account.name)
        return session

    async def end(self, session: RemoteSession, outcome: str, message: str | None = None) -> None:
        """Close `session` and forget it."""
        await session.close(outcome, message)
        if self.open.get(session.account.name) is session:
            del self.open[session.account.name]

    async def close_all(self, message: str = "The monitor is stopping: this sign-in is closed") -> None:
        """Close every open session (the console is stopping)."""
        await asyncio.gather(*(self.end(s, "shutdown", message) for s in list(self.open.values())))
