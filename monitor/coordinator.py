"""One check end to end: gate sign-ins, read the page, decide, and commit state with its alerts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from monitor.browser_errors import is_driver_gone
from monitor.config import Account, Config
from monitor.decide import decide, reminders
from monitor.errors import CheckFailed, MonitorError, NeedsHuman
from monitor.fetch import OFF_SITE, Fetcher, Gate, PageResult, PlaywrightFetcher
from monitor.files import SessionFiles, save_screenshot
from monitor.models import (
    PROBLEM_EDGES,
    AccountState,
    Alert,
    AlertKind,
    Decision,
    Match,
    Problem,
    Reading,
    ScreenshotMode,
    Status,
)
from monitor.notify import outbox_rows
from monitor.profiles import load_profile
from monitor.schedule import Quiet, interval_for, steady
from monitor.store import Store, StoreError

log = logging.getLogger("monitor")
DAY = 86400.0
STRIP_DAYS = 31  # what retention keeps for the console's status strip (30 local days, with a day to spare)


class _QuietDeadDriver:
    """A loop exception handler that drops a dead Playwright driver's unretrieved error, passes on the rest."""

    def __init__(self, previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None) -> None:
        self.previous = previous

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Handle one exception context."""
        if is_driver_gone(context.get("exception")):
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def quiet_dead_driver(loop: asyncio.AbstractEventLoop) -> None:
    """Keep a dead driver's pipe error from being printed as "Future exception was never retrieved".

    A driver that died (Ctrl-C reaches it too, or it was killed) is dealt with where it matters: the
    check that met it, the relaunch, or the stop. Its pipe's error also sits in a future nobody
    awaits, and asyncio would print that as a traceback when it is collected, often at exit.
    """
    previous = loop.get_exception_handler()
    if not isinstance(previous, _QuietDeadDriver):
        loop.set_exception_handler(_QuietDeadDriver(previous))


class Coordinator:
    """Owns the check cycle and what follows from it (self-alerts, reminders, retention); the daemon only says when."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
        steady: Callable[[], float] = steady,
    ) -> None:
        self.config = config
        self.store = store
        self.sessions = SessionFiles(config.data_dir / "sessions")
        self.fetcher: Fetcher = fetcher or PlaywrightFetcher(config.browser, self.sessions)
        self.clock = clock  # wall time: what readings, budgets and the outbox record
        self.steady = steady  # never steps: what the no-success watch measures
        self.quiet = Quiet(last_success=steady())
        self._locks: dict[str, asyncio.Lock] = {}
        self.aborting = False
        self.on_signin: Callable[[str, str], object] | None = None  # (account, outcome): the daemon's metrics

    def abort(self) -> None:
        """We are stopping: a check that fails from now on was cut short by the stop and records nothing."""
        self.aborting = True
        quiet_dead_driver(asyncio.get_running_loop())

    def abort_on_signals(self) -> None:
        """SIGINT or SIGTERM abort the calling task's checks (it ends cancelled); nothing they saw is recorded."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def stop() -> None:
            self.abort()
            if task is not None:
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)

    async def close(self) -> None:
        """Release the browser."""
        await self.fetcher.close()

    def gate(self, account: Account, previous: AccountState) -> Gate:
        """Sign-in budget, pause, and screenshot policy for one check of `account`."""

        def may_sign_in() -> str | None:
            state = self.store.state(account.name)
            if state.paused_reason:
                return (
                    f"signed out, and automated sign-ins are paused ({state.paused_reason});"
                    f" sign in with `monitor login {account.name}` or run `monitor resume {account.name}`"
                )
            budget = self.store.budget(account.name, account.signin_budget, self.clock(), DAY)
            if budget.spent:
                when = f"next one allowed {_local(budget.next_at)}; " if budget.next_at else ""
                return (
                    f"signed out, and the sign-in budget is used up ({budget.used} of {budget.limit} in 24 h);"
                    f" {when}`monitor resume {account.name}` resets it"
                )
            return None

        def want_screenshot(match: Match) -> bool:
            mode = self.config.browser.screenshots
            if mode != ScreenshotMode.CHANGES:
                return mode == ScreenshotMode.ALWAYS
            outcome = str(match.problem or match.status or "")
            return match.problem is not None or match.status == Status.UNKNOWN or outcome != previous.last_outcome

        def record_signin(outcome: str) -> None:
            self.store.record_signin(account.name, outcome, self.clock())
            if self.on_signin is not None:
                self.on_signin(account.name, outcome)

        return Gate(
            may_sign_in=may_sign_in,
            record_signin=record_signin,
            want_screenshot=want_screenshot,
        )

    async def check(self, name: str) -> Reading:
        """Check one account now (one at a time per account) and commit what changed."""
        account = self.config.account(name)
        quiet_dead_driver(asyncio.get_running_loop())
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            reading = await self._check(account)
        if reading.status is not None:
            self._succeeded()
        return reading

    def rebind(self, account: Account) -> None:
        """Start afresh when the entry now names another user or site: old session and state are not theirs."""
        state = self.store.state(account.name)
        if state.bound_to is not None and state.bound_to != account.binding:
            log.warning(
                "%s: username, base_url or profile changed; the old session and state are discarded", account.name
            )
            self.sessions.forget(account.name)
            self.store.forget_state(account.name)

    async def _check(self, account: Account) -> Reading:
        self.rebind(account)
        previous = self.store.state(account.name)
        started = self.clock()
        t0 = time.monotonic()
        # Frozen Reading: its fields are gathered here and it is built once, at the end.
        found: dict[str, Any] = {}
        screenshot: bytes | None = None
        try:
            profile = load_profile(account.profile, self.config.path.parent)
            result: PageResult = await self.fetcher.read(account, profile, self.gate(account, previous))
        except CheckFailed as exc:
            # The one place where "could not check" becomes a problem reading.
            found.update(problem=Problem(exc.problem), detail=str(exc))
            screenshot = exc.screenshot
            if isinstance(exc, NeedsHuman):
                self.store.pause(account.name, str(exc.problem), self.clock())
        except MonitorError as exc:  # e.g. no browser: the daemon keeps running and says so
            found.update(problem=Problem.BROWSER_ERROR, detail=str(exc))
        except Exception as exc:  # a page, the site or the browser must never kill the daemon
            log.exception("%s: unexpected error during check", account.name)
            found.update(problem=Problem.BROWSER_ERROR, detail=f"{type(exc).__name__}: {exc}"[:200])
        else:
            found.update(
                status=result.match.status,
                rule=result.match.rule or None,
                matched=result.match.evidence[:300],
                url=result.snap.url,
                title=result.snap.title,
                signed_in=result.signed_in,
                orders=result.snap.orders,
                instructions=result.snap.regions.get("instructions") or None,
            )
            if result.match.rule == OFF_SITE:
                # Said without a link: an alert must never send the owner to a page that may be a phish.
                host = urlsplit(result.snap.url).netloc or result.snap.url[:80]
                found.update(detail=f"the page left the account's site for {host}; do not sign in there", url=None)
            elif result.match.status == Status.UNKNOWN:
                code = f"HTTP {result.snap.http_status}, " if result.snap.http_status else ""
                found.update(detail=f"{code}no rule matched (profile {profile.name})")
            screenshot = result.screenshot
        if self.aborting and found.get("problem") is not None:
            # Ctrl-C reaches Chromium too, so the page fails: that says nothing about the account.
            log.info("%s: check interrupted; nothing recorded", account.name)
            raise asyncio.CancelledError
        reading = Reading(account=account.name, at=started, duration_ms=int((time.monotonic() - t0) * 1000), **found)
        if screenshot:
            saved = save_screenshot(self.config.data_dir, account.name, reading.at, reading.outcome, screenshot)
            reading = replace(reading, screenshot=str(saved))
        self.commit(reading)
        return reading

    def commit(self, reading: Reading) -> Decision:
        """Store the reading, the new state, its transitions and its outbox rows in one transaction."""
        now = reading.at
        with self.store.transaction() as tx:
            previous = tx.state(reading.account)
            decision = decide(previous, reading, now, self.config.schedule)
            account = next((a for a in self.config.accounts if a.name == reading.account), None)
            if account is not None:
                decision = replace(decision, state=replace(decision.state, bound_to=account.binding))
            tx.record_check(reading, decision, self.outbox_rows(decision.alerts, reading.screenshot, now))
        self._log_edges(previous, decision, reading)
        return decision

    def remind(self) -> list[Alert]:
        """Queue reminders that are due even when no check ran (e.g. checks keep failing)."""
        now = self.clock()
        queued: list[Alert] = []
        for account in self.config.accounts:
            with self.store.transaction() as tx:
                state, alerts = reminders(tx.state(account.name), now, self.config.schedule)
                if alerts:
                    tx.put_state(state)
                    for row in self.outbox_rows(alerts, None, now):
                        tx.enqueue(row)
                    queued += alerts
        return queued

    def queue(self, alerts: list[Alert], screenshot: str | None, now: float) -> None:
        """Add one outbox row per alert and interested channel, in a transaction of their own."""
        with self.store.transaction() as tx:
            for row in self.outbox_rows(alerts, screenshot, now):
                tx.enqueue(row)

    def outbox_rows(self, alerts: list[Alert], screenshot: str | None, now: float) -> list[dict[str, Any]]:
        """The outbox rows of some alerts: one per alert and interested channel."""
        rows: list[dict[str, Any]] = []
        for alert in alerts:
            account = self.config.account(alert.account) if alert.account else None
            rows += outbox_rows(self.config, alert, account, screenshot, now)
        return rows

    def interval(self, account: Account) -> float:
        """The account's check interval as of its stored status: shorter while locked or under review."""
        try:
            status = self.store.state(account.name).status
        except StoreError:
            status = None  # reported where it happened; the schedule must go on
        return interval_for(account, self.config.schedule, status)

    def _succeeded(self) -> None:
        """A check read a status: after a no_success alert, tell the owner checks succeed again."""
        minutes = self.quiet.succeeded(self.steady())
        if minutes is not None:
            log.info("checks succeed again")
            self.queue([Alert(AlertKind.SUCCESS_AGAIN, "", {"minutes": minutes})], None, self.clock())

    def check_quiet(self) -> None:
        """Tell the owner once when no check succeeded for stale_after_intervals of the longest interval."""
        minutes = self.quiet.overdue(self.steady(), self.config.accounts, self.config.schedule)
        enabled = [a for a in self.config.accounts if a.enabled]
        # (When every account's own "cannot check" alert went out, the owner knows already.)
        if minutes is not None and not all(self.store.state(a.name).problem_alerted for a in enabled):
            self.quiet.alert()
            log.error("no successful check for %d min", minutes)
            self.queue([Alert(AlertKind.NO_SUCCESS, "", {"minutes": minutes})], None, self.clock())

    def retention(self) -> None:
        """Drop readings, screenshots, transitions and sent alerts past retention (see `Store.retain`)."""
        now, sched = self.clock(), self.config.schedule
        before = now - sched.retention_days * DAY
        # The console's 30-day strip reads transitions from the start of a local day 29 days back.
        removed = self.store.retain(before, now - STRIP_DAYS * DAY, sched.keep_transitions, sched.keep_deliveries)
        kept = {t.screenshot for a in self.config.accounts for t in self.store.transitions(a.name, 10_000)}
        for shot in (self.config.data_dir / "screenshots").glob("*/*.png"):
            with contextlib.suppress(OSError):
                if shot.stat().st_mtime < before and str(shot) not in kept:
                    shot.unlink()
        if removed.readings:
            log.info("retention: removed %d old readings", removed.readings)
        if removed.transitions or removed.deliveries:
            log.info(
                "retention: removed %d old transitions, %d delivered alerts", removed.transitions, removed.deliveries
            )

    def _log_edges(self, previous: AccountState, decision: Decision, reading: Reading) -> None:
        """Log on edges only: a change, a problem starting, a recovery; never every poll."""
        name = reading.account
        if reading.problem and previous.problem is None:
            log.warning("%s: cannot check: %s (%s)", name, reading.problem, reading.detail)
        elif reading.status and previous.problem is not None:
            log.info("%s: checks recovered after %d failure(s)", name, previous.problem_count)
        for t in decision.transitions:
            if t.kind not in PROBLEM_EDGES:
                log.info("%s: %s -> %s", name, t.from_status or "(first reading)", t.to_status)
        for alert in decision.alerts:
            log.info("%s: alert %s (%s) queued", name, alert.kind, alert.severity)


def _local(ts: float) -> str:
    """A time in the local zone, for messages the owner reads."""
    return datetime.fromtimestamp(ts, UTC).astimezone().strftime("%Y-%m-%d %H:%M")
