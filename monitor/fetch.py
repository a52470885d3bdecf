"""Reading an account in the browser: saved session, sign-in when needed, status pages."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from monitor.browser import BrowserManager, open_context, present_as_ordinary_chrome
from monitor.browser_errors import playwright_errors
from monitor.config import Account, BrowserOptions
from monitor.detect import is_status, read_page, shorten
from monitor.errors import ChallengeRequired, CheckFailed, LoginRejected, SignedOut, Unreachable
from monitor.files import SessionFiles
from monitor.models import Match, Problem, Snapshot, Status
from monitor.profiles import Profile, origin
from monitor.totp import totp


@dataclass
class PageResult:
    """What the browser saw: the deciding match, its page, and whether a sign-in happened."""

    match: Match
    snap: Snapshot
    signed_in: bool
    screenshot: bytes | None = None


@dataclass
class Gate:
    """What the coordinator allows and wants for one check."""

    may_sign_in: Callable[[], str | None]  # None: allowed; else the reason it is not
    record_signin: Callable[[str], None]
    want_screenshot: Callable[[Match], bool]


class Fetcher(Protocol):
    """Reads one account; raises CheckFailed subclasses when it cannot."""

    async def read(self, account: Account, profile: Profile, gate: Gate) -> PageResult:
        """Read the account's status pages."""
        ...

    async def close(self) -> None:
        """Release the browser."""
        ...


SESSION_REFRESH_S = 600.0
log = logging.getLogger("monitor")


class PlaywrightFetcher:
    """The real Fetcher: one browser shared by all checks, a fresh context per check."""

    def __init__(self, options: BrowserOptions, sessions: SessionFiles, manager: BrowserManager | None = None) -> None:
        self.options = options
        self.sessions = sessions
        self.owns_manager = manager is None
        self.manager = manager or BrowserManager(
            options.executable_path,
            options.headless,
            options.recycle_after,
            options.timeout_s * 1000,
            connect=options.connect.reveal() if options.connect is not None else None,
        )
        self.timeout_ms = options.timeout_s * 1000
        # Images, media, fonts and other origins are not downloaded during a check (block_unread). Not
        # a setting: nothing a check reads needs them (a site's other origins go in the profile's
        # `allow`); the bench turns it off to measure what it saves.
        self.block_unread = True

    async def close(self) -> None:
        """Close the browser (unless it was lent by the caller)."""
        if self.owns_manager:
            await self.manager.close()

    async def read(self, account: Account, profile: Profile, gate: Gate) -> PageResult:
        """Open the status pages with the saved session, signing in only when signed out."""
        browser = await self.manager.acquire()
        context: BrowserContext | None = None
        timed_out = False
        closing: list[asyncio.Future[None]] = []

        def on_watchdog() -> None:
            # A check that overruns is stopped by closing its context (the in-flight call then
            # fails by itself) and the browser is relaunched next time, in case it hung.
            nonlocal timed_out
            timed_out = True
            self.manager.mark_broken(browser)
            if context is not None:
                closing.append(asyncio.ensure_future(context.close()))

        too_big = False

        def on_too_big() -> None:
            # Stopped like a check that overruns: the browser itself is fine and stays in service.
            nonlocal too_big
            if not too_big and context is not None:
                too_big = True
                closing.append(asyncio.ensure_future(context.close()))

        def stop_reason() -> str | None:
            # When the check closed its own context, Playwright's message is only that it was closed.
            if too_big:
                return f"page larger than {self.options.max_page_mb:g} MB (stopped reading)"
            if timed_out:
                return f"check timed out after {self.options.check_timeout_s:g} s"
            return None

        watchdog = asyncio.get_running_loop().call_later(self.options.check_timeout_s, on_watchdog)
        page: Page | None = None
        try:
            with playwright_errors(stop_reason, lambda: self.manager.mark_broken(browser)):
                try:
                    locale = account.locale or profile.locale
                    context = await open_context(
                        browser,
                        locale,
                        account.timezone or profile.timezone,
                        self.sessions.load(account.name, account.binding),
                        timeout_ms=self.timeout_ms,
                        only_origins=read_origins(account, profile) if self.block_unread else None,
                    )
                    page = await context.new_page()
                    cdp = await present_as_ordinary_chrome(context, page, locale)
                    await self._limit_size(cdp, on_too_big)
                    result = await self._read(page, context, account, profile, gate)
                    if too_big:
                        raise PlaywrightError("stopped reading")  # the limit was crossed as the read ended
                    return result
                except CheckFailed as exc:
                    if page is not None and gate.want_screenshot(Match("", None, exc_problem(exc), "")):
                        exc.screenshot = await self._screenshot(page)
                    raise
        finally:
            watchdog.cancel()
            if context is not None:
                with contextlib.suppress(Exception):
                    await context.close()
            # Their outcome does not matter, but it is collected (else asyncio logs it on exit).
            await asyncio.gather(*closing, return_exceptions=True)
            await self.manager.release(browser)

    async def _limit_size(self, cdp: CDPSession, on_too_big: Callable[[], None]) -> None:
        """Call `on_too_big` once the page's responses together exceed max_page_mb (or one says it will)."""
        # Counted as the bytes arrive (decoded), so a page streamed without a Content-Length is stopped
        # too; the renderer's memory grows with what it is given, and this bounds it per check.
        limit = self.options.max_page_mb * 1024 * 1024
        received = 0

        def on_data(params: dict[str, Any]) -> None:
            nonlocal received
            received += int(params.get("dataLength", 0))
            if received > limit:
                on_too_big()

        def on_response(params: dict[str, Any]) -> None:
            headers = params.get("response", {}).get("headers", {})
            length = next((v for k, v in headers.items() if k.lower() == "content-length"), "0")
            if str(length).isdigit() and received + int(length) > limit:
                on_too_big()

        cdp.on("Network.dataReceived", on_data)
        cdp.on("Network.responseReceived", on_response)
        await cdp.send("Network.enable")

    async def _read(
        self, page: Page, context: BrowserContext, account: Account, profile: Profile, gate: Gate
    ) -> PageResult:
        signed_in = strayed = False
        result: PageResult | None = None
        for path in profile.pages:
            match, snap = await self._open(page, account, path, profile)
            if match.problem == Problem.LOGGED_OUT and not signed_in:
                reason = gate.may_sign_in()
                if reason:
                    raise SignedOut(reason)
                match, snap = await self._sign_in(page, account, profile, gate)
                signed_in = True
                if urlsplit(page.url).path != urlsplit(path).path:
                    # The site did not land on this page after signing in: open it. Landing on it is
                    # enough even when no rule matches (a profile still being written): already read.
                    match, snap = await self._open(page, account, path, profile)
                if match.problem == Problem.LOGGED_OUT:
                    raise SignedOut("still signed out right after signing in")
            raise_for(match)
            strayed = strayed or not on_site(snap.url, account.base_url, profile.allowed_origins)
            if result is None or (result.match.status == Status.OK and match.status != Status.OK):
                # Across several pages the first that is not ok decides.
                result = PageResult(match, snap, signed_in)
        assert result is not None
        result.signed_in = signed_in
        refresh = is_status(result.match) and self.sessions.age(account.name) > SESSION_REFRESH_S
        if not strayed and (signed_in or refresh):
            # After a sign-in that did not end on a sign-in, challenge or rejection page (those raise before
            # this), whatever the page says: else a page no rule matches yet means a sign-in every check.
            # Between sign-ins only from a page that proves the account is signed in, and only now and
            # then, to keep cookies the site rolls forward without paying for it on every check. Never
            # from a check that left the site.
            self.sessions.save(account.name, await context.storage_state(), account.binding)
        if gate.want_screenshot(result.match):
            result.screenshot = await self._screenshot(page)
        return result

    async def _open(self, page: Page, account: Account, path: str, profile: Profile) -> tuple[Match, Snapshot]:
        response = await page.goto(account.base_url + path, wait_until="domcontentloaded", timeout=self.timeout_ms)
        return await self._settle(page, account, profile, response.status if response else None)

    async def _settle(
        self, page: Page, account: Account, profile: Profile, http_status: int | None
    ) -> tuple[Match, Snapshot]:
        """Read the page; while no rule matches, re-read until the profile's settle time is spent."""
        if http_status is not None and (http_status >= 500 or http_status == 429):
            raise Unreachable(f"HTTP {http_status} from {page.url}")
        match, snap = await read_page(page, profile, http_status)
        if not on_site(snap.url, account.base_url, profile.allowed_origins):
            # Whatever another site shows says nothing about this account (and may imitate it).
            return Match(OFF_SITE, Status.UNKNOWN, None, f"the page left the site for {snap.url}"), snap
        return match, snap

    async def _sign_in(self, page: Page, account: Account, profile: Profile, gate: Gate) -> tuple[Match, Snapshot]:
        if account.password is None:
            raise SignedOut("signed out and no password configured; sign in with `monitor login`")
        gate.record_signin("attempt")
        s = profile.signin
        await page.goto(account.base_url + s.url, wait_until="domcontentloaded", timeout=self.timeout_ms)
        await _refuse_off_site(page, s.password, account, profile)
        await page.fill(s.username, account.username, timeout=self.timeout_ms)
        await page.fill(s.password, account.password.reveal(), timeout=self.timeout_ms)
        async with page.expect_navigation(wait_until="domcontentloaded", timeout=self.timeout_ms):
            await page.click(s.submit, timeout=self.timeout_ms)
        if s.otp is not None and re.search(s.otp.url, page.url):
            if account.totp_secret is None:
                raise ChallengeRequired("the site asks for a one-time code and no totp_secret is configured")
            await _refuse_off_site(page, s.otp.field, account, profile)
            await page.fill(s.otp.field, totp(account.totp_secret.reveal()), timeout=self.timeout_ms)
            async with page.expect_navigation(wait_until="domcontentloaded", timeout=self.timeout_ms):
                await page.click(s.otp.submit, timeout=self.timeout_ms)
        match, snap = await self._settle(page, account, profile, None)
        if match.problem == Problem.LOGGED_OUT:
            raise LoginRejected("the sign-in form came back after submitting the password")
        raise_for(match)
        return match, snap

    async def _screenshot(self, page: Page) -> bytes | None:
        try:
            return await page.screenshot(timeout=min(self.timeout_ms, 10_000))
        except PlaywrightError:
            return None


OFF_SITE = "(left the site)"  # the rule name of a reading whose page ended on another site


async def _refuse_off_site(page: Page, field: str, account: Account, profile: Profile) -> None:
    """Never type a secret into a page, or a form that posts, off the account's site (a redirect, a phish)."""
    # The form's action counts too: a look-alike form on the site itself could post elsewhere.
    action = await page.eval_on_selector(field, "el => (el.form && el.form.action) || location.href")
    for url in (page.url, str(action)):
        if not on_site(url, account.base_url, profile.allowed_origins):
            raise ChallengeRequired(
                f"the sign-in page sends the password to {origin(url)}, not to {origin(account.base_url)}: nothing "
                "was typed; sign in by hand, or list that origin in the profile's allowed_origins if it is the "
                "site's own"
            )


def read_origins(account: Account, profile: Profile) -> frozenset[str]:
    """The origins a check downloads from: the account's own, the profile's allowed_origins and its `allow`."""
    return frozenset({origin(account.base_url), *profile.allowed_origins, *profile.allow})


def on_site(url: str, base_url: str, allowed: tuple[str, ...] = ()) -> bool:
    """True when `url` is on the account's site: base_url's host, its subdomains, or an allowed origin."""
    if origin(url) in allowed:
        return True
    host, home = urlsplit(url).hostname or "", urlsplit(base_url).hostname or ""
    if host == home:
        return True
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(home)
        return False  # an address is its own site: 127.0.0.1 is not localhost
    # Without a public-suffix list the registrable domain is not known for sure, so the site is the
    # host and what lies under it (and under the domain of a www. host); any other origin the site
    # uses, e.g. a sign-in provider or a sibling subdomain, is listed in the profile's allowed_origins.
    site = home.removeprefix("www.")
    return "." in site and (host == site or host.endswith("." + site))


def exc_problem(exc: CheckFailed) -> Problem:
    """The Problem a CheckFailed stands for."""
    return Problem(exc.problem)


def raise_for(match: Match) -> None:
    """Turn a page that shows a problem into the matching exception."""
    if match.problem == Problem.LOGIN_REJECTED:
        raise LoginRejected(f"the site rejected the sign-in ({match.rule}: {shorten(match.evidence, 80)})")
    if match.problem == Problem.CHALLENGE:
        raise ChallengeRequired(f"the site asks for a human check ({match.rule}: {shorten(match.evidence, 80)})")
