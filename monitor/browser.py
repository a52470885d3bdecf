"""Playwright lifecycle: find a Chromium, launch it, open contexts that present it as an ordinary browser."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Route,
    StorageState,
    ViewportSize,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from monitor.browser_errors import first_line
from monitor.errors import BrowserNotFound

# Without these, Chromium phones home at start; on a closed network that means refused
# connections and DNS failures on every launch.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium's headless shell (Debian: chromium-headless-shell) is what Playwright itself runs for
# headless work: measured here at a third of the CPU of the full browser per check (docs/benchmarks.md).
HEADLESS_SHELLS = ("chromium-headless-shell",)
FIX_HINT = (
    "install one: `playwright install chromium`, or on Debian/Ubuntu "
    "`sudo apt-get install -y chromium chromium-headless-shell`, "
    "or set [browser] executable_path in the config"
)


@dataclass(frozen=True)
class Candidate:
    """A Chromium to try: where it came from and its executable (None = Playwright's own)."""

    source: str
    path: str | None


def candidates(pw: Playwright, configured: str | None = None, headless: bool = True) -> list[Candidate]:
    """Where to look, in order: configured path, Playwright's bundled Chromium, system Chromium."""
    found: list[Candidate] = []
    if configured:
        found.append(Candidate("configured executable_path", configured))
        return found  # an explicit choice is never silently replaced by another browser
    bundled = pw.chromium.executable_path
    if bundled and os.access(bundled, os.X_OK):
        found.append(Candidate("Playwright's bundled Chromium", None))
    for name in (HEADLESS_SHELLS if headless else ()) + SYSTEM_CHROMIUMS:
        path = shutil.which(name)
        if path:
            found.append(Candidate(f"system {name}", path))
    return found


async def launch(
    pw: Playwright, configured: str | None = None, headless: bool = True, timeout_ms: float = 30_000
) -> tuple[Browser, Candidate]:
    """Launch the first Chromium that starts, or raise BrowserNotFound naming every attempt."""
    tried: list[str] = []
    for cand in candidates(pw, configured, headless):
        if cand.path is not None and not os.access(cand.path, os.X_OK):
            tried.append(f"{cand.source} {cand.path} (not an executable file)")
            continue
        try:
            browser = await pw.chromium.launch(
                executable_path=cand.path, headless=headless, args=CHROMIUM_ARGS, timeout=timeout_ms
            )
        except PlaywrightError as exc:
            tried.append(f"{cand.source} {cand.path or pw.chromium.executable_path} ({first_line(exc, 160)})")
            continue
        return browser, cand
    if not tried:
        names = (HEADLESS_SHELLS if headless else ()) + SYSTEM_CHROMIUMS
        tried.append(f"Playwright's bundled Chromium (not installed), {', '.join(names)} (not on PATH)")
    raise BrowserNotFound(f"no usable Chromium: tried {'; '.join(tried)}; {FIX_HINT}")


def is_cdp(endpoint: str) -> bool:
    """Whether `endpoint` is a Chromium DevTools (CDP) address rather than a Playwright server's."""
    # An http(s):// address is a DevTools endpoint, and so is a ws(s):// one under /devtools/ (what
    # Chromium prints as "DevTools listening on ws://..."); any other ws(s):// is a Playwright server.
    parts = urlsplit(endpoint)
    return parts.scheme in ("http", "https") or parts.path.startswith("/devtools/")


def endpoint_display(endpoint: str) -> str:
    """scheme://host:port of a remote browser's address: what may be shown (a token rides in the rest)."""
    parts = urlsplit(endpoint)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def mask_endpoint(text: str, endpoint: str) -> str:
    """`text` with the address's secret parts (user, password, path, query) replaced by ***."""
    parts = urlsplit(endpoint)
    text = text.replace(endpoint, endpoint_display(endpoint) + ("/***" if parts.path.strip("/") or parts.query else ""))
    pieces = [parts.username or "", parts.password or "", parts.path.strip("/"), parts.query]
    pieces += [p for p in parts.path.split("/") if p] + [v for _k, v in parse_qsl(parts.query)]
    # Longest first, so that a piece inside a longer one does not leave the rest of it behind.
    for piece in sorted({p for p in pieces if len(p) >= 4}, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


async def connect(
    pw: Playwright, endpoint: str, headless: bool = True, timeout_ms: float = 30_000
) -> tuple[Browser, str]:
    """Connect to a remote browser and name it for status; BrowserNotFound (the address masked) if it cannot."""
    shown = endpoint_display(endpoint)
    try:
        if is_cdp(endpoint):
            browser = await pw.chromium.connect_over_cdp(endpoint, timeout=timeout_ms)
        else:
            # A Playwright server launches a browser for each connection, with the options this header
            # gives; it takes `headless` from any client and `args` only when started with --unsafe.
            options = json.dumps({"headless": headless, "args": CHROMIUM_ARGS})
            browser = await pw.chromium.connect(
                endpoint, timeout=timeout_ms, headers={"x-playwright-launch-options": options}
            )
    except PlaywrightError as exc:
        # Playwright starts its message with the call ("BrowserType.connect: "): the owner needs the cause.
        reason = mask_endpoint(re.sub(r"^BrowserType\.\w+: ", "", first_line(exc, 200)), endpoint)
        raise BrowserNotFound(f"cannot connect to the remote browser {shown}: {reason}") from None
    return browser, f"remote {shown} (Chromium {browser.version})"


def ordinary_user_agent(browser: Browser) -> str:
    """The user agent a normal desktop Chromium of this version sends (no "HeadlessChrome")."""
    major = re.match(r"\d+", browser.version)
    version = f"{major.group(0)}.0.0.0" if major else "130.0.0.0"
    return f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version} Safari/537.36"


# Only in a secure context does a page get navigator.userAgentData; a loopback URL is one, and here it is
# answered by Playwright's router inside the browser, so nothing goes out on the network.
_HINTS_URL = "http://127.0.0.1/"
_HINTS_JS = """
() => navigator.userAgentData.getHighEntropyValues(
  ["architecture", "bitness", "fullVersionList", "model", "platformVersion", "wow64"])
"""
_hints: weakref.WeakKeyDictionary[Browser, dict[str, Any]] = weakref.WeakKeyDictionary()


async def ordinary_client_hints(browser: Browser) -> dict[str, Any]:
    """CDP userAgentMetadata of an ordinary desktop Chrome of this version: Chromium's own, brand renamed."""
    if browser in _hints:
        return _hints[browser]
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.route("**/*", lambda route: route.fulfill(body="", content_type="text/html"))
        await page.goto(_HINTS_URL)
        raw = await page.evaluate(_HINTS_JS)
    finally:
        with contextlib.suppress(PlaywrightError):
            await context.close()

    def ordinary(brands: list[dict[str, str]]) -> list[dict[str, str]]:
        # The headless browser's brand list with its tell renamed: the GREASE brand and the order that
        # Chromium derives from the version stay as they are, as in a Chrome of the same version.
        return [{"brand": "Google Chrome" if b["brand"] == "HeadlessChrome" else b["brand"], "version": b["version"]}
                for b in brands]  # fmt: skip

    _hints[browser] = {
        "brands": ordinary(raw["brands"]),
        "fullVersionList": ordinary(raw["fullVersionList"]),
        "platform": raw["platform"],
        "platformVersion": raw["platformVersion"],
        "architecture": raw["architecture"],
        "bitness": raw["bitness"],
        "model": raw["model"],
        "mobile": raw["mobile"],
        "wow64": raw["wow64"],
    }
    return _hints[browser]


async def present_as_ordinary_chrome(context: BrowserContext, page: Page, locale: str) -> CDPSession:
    """Make `page` send and show the client hints of an ordinary Chrome; returns its CDP session."""
    # The context's user_agent option cleans the User-Agent string only; Sec-CH-UA and
    # navigator.userAgentData come from this metadata, which Playwright has no option for.
    cdp = await context.new_cdp_session(page)
    browser = context.browser
    assert browser is not None
    await cdp.send(
        "Emulation.setUserAgentOverride",
        {
            "userAgent": ordinary_user_agent(browser),
            "acceptLanguage": locale,
            "userAgentMetadata": await ordinary_client_hints(browser),
        },
    )
    return cdp


VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


async def open_context(
    browser: Browser,
    locale: str,
    timezone: str | None = None,
    storage_state: StorageState | str | Path | None = None,
    window: bool = False,
    timeout_ms: float | None = None,
    only_origins: Collection[str] | None = None,
) -> BrowserContext:
    """A context that looks like an ordinary desktop Chrome; every caller opens its contexts here.

    With `only_origins`, the context downloads nothing the check does not read (block_unread).
    """
    # One place, so the daemon, `monitor login` and `monitor try-profile` show a site the same browser.
    # A window a person uses is sized by its window manager; a headless page gets one fixed size.
    context = await browser.new_context(
        # A service worker fetches on its own, past the context's routing: none while requests are routed.
        service_workers="block" if only_origins is not None else "allow",
        storage_state=storage_state,
        locale=locale,
        timezone_id=timezone,
        user_agent=ordinary_user_agent(browser),
        viewport=None if window else VIEWPORT,
        no_viewport=window,
        accept_downloads=False,  # a page that starts a download gets nothing on disk
    )
    if timeout_ms is not None:
        context.set_default_timeout(timeout_ms)
        context.set_default_navigation_timeout(timeout_ms)
    if only_origins is not None:
        await block_unread(context, only_origins)
    return context


UNREAD_TYPES = frozenset({"image", "media", "font"})  # a check reads text: these only cost bytes and CPU


async def block_unread(context: BrowserContext, origins: Collection[str]) -> None:
    """Abort requests for images, media and fonts, and for any origin not in `origins` (scheme://host[:port])."""
    # Every request of the context passes through this one handler (a round trip to this process), so
    # it does only a set lookup and one startswith over the URL as Chromium gives it (normalised).
    # A main-frame navigation to another origin goes on: where the page lands is the check's to judge
    # (it reports a page that left the site); a frame, script or pixel of another origin is not that.
    prefixes = tuple(o.rstrip("/") + "/" for o in origins)

    async def handle(route: Route) -> None:
        request = route.request
        unread = request.resource_type in UNREAD_TYPES or (
            not request.url.startswith(prefixes)
            and not (request.is_navigation_request() and request.frame.parent_frame is None)
        )
        # The page may close while a request waits here (a check stopped); then there is nothing to do.
        with contextlib.suppress(PlaywrightError):
            if unread:
                await route.abort("blockedbyclient")  # as an ad blocker does: the page sees a failed load
            else:
                await route.continue_()

    await context.route("**/*", handle)


# Playwright's Node driver grows a large young generation between garbage collections; a 1 MB
# semi-space keeps it smaller and steadier (measured: median 152 -> 131 MB PSS, peak 184 -> 133 MB).
DRIVER_NODE_OPTIONS = "--max-semi-space-size=1"


# What Playwright's driver (and the Chromium it starts, which inherits its environment) may see: the
# monitor's own environment can hold secrets (passwords as `{ env = ... }`, notification tokens) that a
# renderer has no business with, and /proc/PID/environ of those processes is readable by the user.
# Kept: finding programs and the home directory; the display (headed sign-in with `monitor login`);
# language, time zone and fonts (pages render as for the owner); temporary and XDG directories;
# Playwright's (PLAYWRIGHT_*, and the PW_* it sets itself) and Node's own settings; proxies and CA
# bundles (a site reached through a proxy); and MONITOR_TEST_* (the daemon tests find their processes
# by a marker variable).
DRIVER_ENV_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY",
        "DBUS_SESSION_BUS_ADDRESS", "LANG", "LANGUAGE", "TZ", "TMPDIR", "FONTCONFIG_FILE",
        "FONTCONFIG_PATH", "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "DEBUG", "PWDEBUG", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    }
)  # fmt: skip
DRIVER_ENV_PREFIXES = ("LC_", "XDG_", "PLAYWRIGHT_", "PW_", "MONITOR_TEST_")


def driver_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of `environ` the driver and Chromium need, with DRIVER_NODE_OPTIONS by default."""
    env = {k: v for k, v in environ.items() if k in DRIVER_ENV_NAMES or k.startswith(DRIVER_ENV_PREFIXES)}
    env.setdefault("NODE_OPTIONS", DRIVER_NODE_OPTIONS)
    return env


def _filter_driver_env() -> None:
    """Make every Playwright driver this process starts get driver_environment() only."""
    # Playwright builds the driver's environment from os.environ in a private function and has no
    # parameter for it. Wrapping that function (rather than emptying os.environ while the driver
    # starts) leaves the monitor's own environment alone: secrets given as { env = ... } are read when
    # used, possibly while a driver is starting. The test of secrets in /proc/PID/environ guards this.
    from playwright._impl import transport

    original = transport.get_driver_env
    if getattr(original, "monitor_filtered", False):
        return

    def filtered() -> dict[str, str]:
        return driver_environment(original())

    filtered.monitor_filtered = True  # type: ignore[attr-defined]
    transport.get_driver_env = filtered


_filter_driver_env()  # at import: `monitor doctor` and `monitor login` start drivers of their own


async def start_driver() -> Playwright:
    """Start Playwright's driver (its environment reduced by _filter_driver_env)."""
    return await async_playwright().start()


class BrowserManager:
    """One Playwright and one Chromium per process; relaunched after a crash and every N checks.

    With `connect`, the Chromium is a remote one (a Playwright server or a CDP endpoint): connected to
    instead of launched, under the same rules (a lost connection is a crash; every N checks, a new one).

    close_idle() stops both between checks (the daemon's [browser] keep_warm); the next acquire()
    starts them again, so the manager stays usable after it.
    """

    def __init__(
        self,
        executable_path: str | None = None,
        headless: bool = True,
        recycle_after: int = 200,
        launch_timeout_ms: float = 30_000,
        connect: str | None = None,
    ) -> None:
        self.executable_path = executable_path
        self.connect = connect  # a remote browser's address ([browser] connect): connected to, not launched
        self.headless = headless
        self.recycle_after = recycle_after
        self.launch_timeout_ms = launch_timeout_ms
        self.launches = 0
        self.on_relaunch: Callable[[], object] | None = None  # told of each launch after the first (metrics)
        self.in_use: str | None = None  # the Chromium running now, as the console's health page names it
        self.on_state: Callable[[str | None], object] | None = None  # told in_use after each launch and close
        self.cold_starts = 0  # launches after close_idle(): the price of an idle footprint
        self._rested = False  # close_idle() closed everything; the next launch is a cold start, not a relaunch
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._uses = 0
        self._broken = False
        self._lock = asyncio.Lock()
        # Checks running on each browser: the current one and any retired one still in use, which is
        # closed when its last check releases it (never under a running check of another account).
        self._users: dict[Browser, int] = {}

    async def acquire(self) -> Browser:
        """A connected browser for one check (launch or relaunch as needed); pair with release()."""
        async with self._lock:
            if self._pw is None:
                self._pw = await start_driver()
            current = self._browser
            stale = current is not None and (
                self._broken
                or not current.is_connected()
                or (self._uses >= self.recycle_after and not self._users.get(current))
            )
            if stale:
                await self._retire()
            if self._browser is None:
                try:
                    browser, self.in_use = await self._start(self._pw)
                except BrowserNotFound:
                    if not self.launches:
                        raise  # it never worked: a set-up problem, reported as such
                    # It worked before, so Playwright's driver itself may be gone (e.g. killed for memory);
                    # a browser it launched still looks connected. Start a new driver and try once more.
                    await self._stop_driver()
                    self._pw = await start_driver()
                    browser, self.in_use = await self._start(self._pw)
                browser.on("disconnected", self.mark_broken)
                self._browser = browser
                self.launches += 1
                if self._rested:
                    self.cold_starts += 1
                elif self.launches > 1 and self.on_relaunch is not None:
                    self.on_relaunch()
                self._rested = False
                self._uses = 0
                self._broken = False
                self._tell()
            self._uses += 1
            self._users[self._browser] = self._users.get(self._browser, 0) + 1
            return self._browser

    async def _start(self, pw: Playwright) -> tuple[Browser, str]:
        """Launch Chromium, or connect to the remote one; the browser and how status names it."""
        if self.connect:
            return await connect(pw, self.connect, self.headless, self.launch_timeout_ms)
        browser, cand = await launch(pw, self.executable_path, self.headless, self.launch_timeout_ms)
        return browser, f"{cand.source} {cand.path or pw.chromium.executable_path} (Chromium {browser.version})"

    async def release(self, browser: Browser) -> None:
        """The check that acquired `browser` is done with it; a retired browser closes with its last check."""
        left = self._users.get(browser, 1) - 1
        if left:
            self._users[browser] = left
            return
        self._users.pop(browser, None)
        if browser is not self._browser:
            await self._close(browser)

    @property
    def busy(self) -> bool:
        """A check holds a browser (the current one or a retired one), or one is being launched."""
        return bool(self._users) or self._lock.locked()

    @property
    def up(self) -> bool:
        """Playwright's driver (and, unless it was closed, Chromium) is running."""
        return self._pw is not None

    async def close_idle(self) -> bool:
        """Close Chromium and stop the driver if no check uses them; True when it did (acquire() starts them again)."""
        async with self._lock:
            if self._users or self._pw is None:
                return False  # never under a running check, and nothing to close
            await self._shut()
            self._rested = True
            return True

    def _tell(self) -> None:
        if self.on_state is not None:
            with contextlib.suppress(Exception):  # a listener (the daemon's status file) must not break a check
                self.on_state(self.in_use)

    def mark_broken(self, browser: Browser) -> None:
        """`browser` crashed, disconnected or hung: the next acquire() launches another."""
        if browser is self._browser:
            self._broken = True

    async def _retire(self) -> None:
        browser, self._browser = self._browser, None
        self.in_use = None
        self._tell()
        if browser is not None and not self._users.get(browser):
            await self._close(browser)

    @staticmethod
    async def _close(browser: Browser) -> None:
        if browser.is_connected():
            # Bounded: a hung browser must not hang the daemon. On timeout the close goes on in the
            # background and stopping Playwright (the driver) takes the process down.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(browser.close()), timeout=10)

    async def _stop_driver(self) -> None:
        pw, self._pw = self._pw, None
        if pw is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(pw.stop()), timeout=10)

    async def close(self) -> None:
        """Close the browser and stop Playwright (which ends any browser process left over)."""
        async with self._lock:
            await self._shut()

    async def _shut(self) -> None:
        browser, self._browser = self._browser, None
        if self.in_use is not None:
            self.in_use = None
            self._tell()
        if browser is not None:
            await self._close(browser)
        await self._stop_driver()
