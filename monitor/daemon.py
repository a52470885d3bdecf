"""`monitor run`: a steady-clock supervisor, signals, the single-instance lock, systemd and health."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from monitor import config as configmod
from monitor.config import Account, Config, Schedule
from monitor.coordinator import Coordinator
from monitor.errors import ConfigError
from monitor.files import ensure_private_dir
from monitor.models import Alert, AlertKind, Severity, Status
from monitor.notify import Notifier, wants
from monitor.store import RECOVERY, DatabaseDamaged, Store, damaged

log = logging.getLogger("monitor")
STOP_BUDGET_S = 15.0
TICK_S = 1.0  # how often the supervisor looks for due checks
# Never steps, and keeps counting through a system suspend (CLOCK_MONOTONIC stops there), so checks
# that became due while asleep run at once on waking. Linux has it; elsewhere the monotonic clock.
CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
EXIT_DAMAGED = 3  # the database is damaged: a restart cannot help (the unit's RestartPreventExitStatus)


class JsonFormatter(logging.Formatter):
    """One JSON object per line for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        data = {
            "ts": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(log_json: bool, verbose: bool = False) -> None:
    """Our log to stderr (journald adds timestamps, but plain runs need them too)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    configmod.tame_apprise_log()
    logging.getLogger("asyncio").setLevel(logging.WARNING)


class InstanceLock:
    """flock on the data dir: a second daemon on the same data is refused."""

    def __init__(self, data_dir: Path) -> None:
        self.path = ensure_private_dir(data_dir) / "monitor.lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> bool:
        """True when this process now holds the lock."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fh = os.fdopen(fd, "r+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def holder(self) -> str:
        """The pid written by the holder, if readable."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        """Drop the lock."""
        if self._fh:
            self._fh.close()
            self._fh = None


class SystemdNotifier:
    """sd_notify over $NOTIFY_SOCKET; does nothing when not started by systemd."""

    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "")
        self.addr = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() else None

    def send(self, message: str) -> None:
        """Send one state line (READY=1, WATCHDOG=1, STOPPING=1, STATUS=...)."""
        if not self.addr:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.addr)
                sock.sendall(message.encode())
        except OSError as exc:
            log.debug("sd_notify failed: %s", exc)


@dataclass
class Counters:
    """What the daemon did: for the watchdog and the log."""

    executed: int = 0
    errors: int = 0
    last_done: float = 0.0  # steady time the last check finished
    last_success: float = 0.0  # steady time the last check read a status


@dataclass
class Periodic:
    """A housekeeping job run by the supervisor on the steady clock."""

    name: str
    every_s: float
    run: Callable[[], object]
    due: float


def next_check_at(
    now: datetime,
    span: float,
    jitter: float,
    hours: tuple[int, int] | None,
    first: bool = False,
    uniform: Callable[[float, float], float] = random.uniform,
) -> datetime:
    """When to check next: `span` jittered symmetrically (mean stays put), inside active hours."""
    # First checks are spread over a short window so that many accounts do not start at once.
    delay = uniform(0, min(span, 5.0)) if first else span * uniform(1 - jitter, 1 + jitter)
    when = now + timedelta(seconds=delay)
    if hours and not _in_hours(when.hour, hours):
        start = when.replace(hour=hours[0], minute=0, second=0, microsecond=0)
        if start <= when:
            start += timedelta(days=1)
        when = start + timedelta(seconds=uniform(0, min(span, 300)))
    return when


def interval_for(account: Account, rules: Schedule, status: Status | None) -> float:
    """The account's check interval: its own or the schedule's, shorter while locked or under review."""
    base = account.interval_s or rules.interval_s
    if status in (Status.LOCKED, Status.UNDER_REVIEW):
        return min(base, rules.interval_while_locked_s)
    return base


def steady() -> float:
    """Seconds on CLOCK: what the schedule, the watchdog and the no-success alert are timed with."""
    return time.clock_gettime(CLOCK)


def clock_step(wall_before: float, mono_before: float, wall_now: float, mono_now: float) -> float:
    """Seconds the wall clock jumped against the steady clock between two observations."""
    return (wall_now - wall_before) - (mono_now - mono_before)


class Daemon:
    """Owns the supervisor, the coordinator and the notifier for one data directory.

    Checks are timed on the steady clock, so a suspend, a stopped process, a paused VM or a wall-clock
    step delays them but never drops them: whatever is due when the supervisor runs again runs then.
    """

    def __init__(self, config: Config, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.store = Store.open(config.data_dir)
        self.coordinator = Coordinator(config, self.store)
        self.notifier = Notifier(config, self.store)
        now = steady()
        self.counters = Counters(last_done=now, last_success=now)
        self.systemd = SystemdNotifier()
        self.stopping = asyncio.Event()
        self.semaphore = asyncio.Semaphore(config.schedule.max_concurrency)
        self.running: set[asyncio.Task[Any]] = set()
        self.due: dict[str, float] = {}  # account -> steady time of its next check
        self.checks: dict[str, asyncio.Task[None]] = {}
        self.jobs: list[Periodic] = []
        self.stale_alerted = False
        self.last_heartbeat = 0.0
        self._clocks = (time.time(), steady())
        self.stale_since = 0.0  # steady time of the last success when the no_success alert went out
        self.store_trouble: str | None = None  # why the data dir cannot be written, during such an episode
        self.exit_status = 0

    # --- scheduling ----------------------------------------------------------------

    def interval(self, account: Account) -> float:
        """Seconds until the next check: shorter while locked or under review."""
        try:
            status = self.store.state(account.name).status
        except sqlite3.Error:
            status = None  # reported where it happened; the schedule must go on
        return interval_for(account, self.config.schedule, status)

    def next_run(self, account: Account, first: bool = False) -> datetime:
        """When to check `account` next (wall clock, for active hours and the log)."""
        rules = self.config.schedule
        return next_check_at(
            datetime.now().astimezone(), self.interval(account), rules.jitter, rules.active_hours, first
        )

    def schedule(self, account: Account, first: bool = False) -> None:
        """(Re)schedule the account's next check on the steady clock."""
        delay = (self.next_run(account, first) - datetime.now().astimezone()).total_seconds()
        self.due[account.name] = steady() + max(0.0, delay)

    def tick(self) -> None:
        """One supervisor round: notice clock steps, start due checks, run due housekeeping."""
        now = steady()
        wall = time.time()
        step = clock_step(*self._clocks, wall, now)
        if abs(step) > 5:
            log.warning("the wall clock jumped %+.0f s; checks keep their schedule", step)
        asleep = now - self._clocks[1] - TICK_S
        if asleep > 5:
            # The process itself did not run (SIGSTOP, a paused VM, a suspend): that time is not a stretch
            # of failed checks, and what fell due runs now, before anyone is told checks stopped.
            log.info("the monitor did not run for %.0f s; checks that fell due run now", asleep)
            self.counters.last_success += asleep
            self.counters.last_done += asleep
        self._clocks = (wall, now)
        for account in self.config.accounts:
            name = account.name
            if not account.enabled or name in self.checks:
                continue
            if name not in self.due:
                self.schedule(account, first=True)  # a missing schedule is repaired, never lost
            elif now >= self.due[name]:
                task = asyncio.ensure_future(self.run_check(name))
                self.checks[name] = task
                self.running.add(task)
                task.add_done_callback(self.running.discard)
        for job in self.jobs:
            if now >= job.due:
                job.due = now + job.every_s
                try:
                    job.run()
                except (sqlite3.Error, OSError) as exc:
                    self.store_failed(exc)
                except Exception:  # housekeeping must never stop the supervisor
                    log.exception("%s failed", job.name)

    async def supervise(self) -> None:
        """Run `tick` about once a second until stopping (asyncio's timers never follow wall-clock steps)."""
        self._clocks = (time.time(), steady())  # however long start-up took, it was not a pause
        while not self.stopping.is_set():
            self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), TICK_S)

    async def run_check(self, name: str) -> None:
        """One scheduled check: bounded by the global cap, always rescheduled."""
        try:
            if self.stopping.is_set():
                return
            async with self.semaphore:
                reading = await self.coordinator.check(name)
            self.counters.executed += 1
            self.store_ok()
            self.notifier.kick()  # send what this check queued without waiting for the next tick
            if reading.status is not None:
                self._on_success()
        except (sqlite3.Error, OSError) as exc:
            self.store_failed(exc)
        except Exception:
            self.counters.errors += 1
            log.exception("%s: check failed", name)
        finally:
            # A check that ran counts for the watchdog even when its result could not be stored:
            # that failure is reported on its own, and a restart would not fix a full disk.
            self.counters.last_done = steady()
            self.checks.pop(name, None)
            if not self.stopping.is_set() and any(a.name == name and a.enabled for a in self.config.accounts):
                self.schedule(self.config.account(name))

    # --- the data directory failing ---------------------------------------------------

    def store_failed(self, exc: BaseException) -> None:
        """A read or write of the data dir failed: the owner hears it once, straight from the channels."""
        self.counters.errors += 1
        if isinstance(exc, DatabaseDamaged) or damaged(exc):
            if not self.exit_status:
                self.exit_status = EXIT_DAMAGED
                message = (
                    f"checks stopped: {exc}"
                    if isinstance(exc, DatabaseDamaged)
                    else f"{self.store.path}: the database is damaged ({exc}); stopping. To recover: {RECOVERY}"
                )
                log.error("%s", message)
                self.tell_owner("🛑 monitor: database damaged, checks stopped", message)
                self.stop()
            return
        if self.store_trouble is None:
            self.store_trouble = f"{type(exc).__name__}: {exc}"
            log.error(
                "cannot write to %s (%s): checks are not recorded and no alert is queued until this is fixed",
                self.config.data_dir,
                self.store_trouble,
            )
            self.tell_owner(
                "⚠️ monitor: cannot save its checks",
                f"The monitor cannot write to {self.config.data_dir} ({self.store_trouble}); is the disk full?"
                " Checks go on, but what they see is neither recorded nor alerted until this is fixed.",
            )

    def store_ok(self) -> None:
        """A check was stored: end a failure episode, if there was one, and say so."""
        if self.store_trouble is not None:
            self.store_trouble = None
            log.info("%s is writable again; checks are recorded and alerted again", self.config.data_dir)
            self.tell_owner(
                "👍 monitor: saving its checks again",
                f"The monitor can write to {self.config.data_dir} again; checks are recorded and alerted as before.",
                Severity.SUCCESS,
            )

    def tell_owner(self, title: str, body: str, severity: Severity = Severity.URGENT) -> None:
        """Send to every channel now, without the outbox: it lives in the store that just failed."""
        task = asyncio.ensure_future(asyncio.to_thread(send_straight, self.notifier, title, body, severity))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    def _on_success(self) -> None:
        self.counters.last_success = steady()
        if self.stale_alerted:
            self.stale_alerted = False
            minutes = max(1, round((self.counters.last_success - self.stale_since) / 60))
            log.info("checks succeed again")
            alert = Alert(AlertKind.SUCCESS_AGAIN, "", {"minutes": minutes})
            self.coordinator.queue([alert], None, time.time())
        url = self.config.schedule.heartbeat_url
        if url and time.monotonic() - self.last_heartbeat > 60:
            self.last_heartbeat = time.monotonic()
            task = asyncio.ensure_future(asyncio.to_thread(_ping, url.reveal()))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    def deliver(self) -> None:
        """Start delivery of due outbox rows (each channel on its own)."""
        self.notifier.kick()

    def housekeeping(self) -> None:
        """Reminders, the no-success self-alert and retention."""
        self.coordinator.remind()
        self._check_stale()

    def _check_stale(self) -> None:
        accounts = [a for a in self.config.accounts if a.enabled]
        if not accounts or self.stale_alerted or self.store_trouble:
            return  # with the data dir failing, the owner has been told why nothing is recorded
        longest = max(a.interval_s or self.config.schedule.interval_s for a in accounts)
        limit = longest * self.config.schedule.stale_after_intervals
        # Steady clock: a wall-clock step forward is not a stretch of failed checks.
        quiet = steady() - self.counters.last_success
        if quiet > limit and not all(self.store.state(a.name).problem_alerted for a in accounts):
            # (When every account's own "cannot check" alert went out, the owner knows already.)
            self.stale_alerted = True
            self.stale_since = self.counters.last_success
            minutes = max(1, round(quiet / 60))
            log.error("no successful check for %d min", minutes)
            self.coordinator.queue([Alert(AlertKind.NO_SUCCESS, "", {"minutes": minutes})], None, time.time())

    def integrity(self) -> None:
        """PRAGMA quick_check of the database; damage stops the daemon as a failed query would."""
        try:
            self.store.check_sound()
        except DatabaseDamaged as exc:
            self.store_failed(exc)

    def retention(self) -> None:
        """Drop readings and screenshots older than the retention period (those of transitions stay)."""
        before = time.time() - self.config.schedule.retention_days * 86400
        removed = self.store.prune(before)
        kept = {t.screenshot for a in self.config.accounts for t in self.store.transitions(a.name, 10_000)}
        for shot in (self.config.data_dir / "screenshots").glob("*/*.png"):
            with contextlib.suppress(OSError):
                if shot.stat().st_mtime < before and str(shot) not in kept:
                    shot.unlink()
        if removed:
            log.info("retention: removed %d old readings", removed)

    def healthy(self, now: float) -> bool:
        """Checks really complete: the last one finished within the longest interval twice over, plus its timeout."""
        spans = [a.interval_s or self.config.schedule.interval_s for a in self.config.accounts if a.enabled]
        limit = 2 * max(spans or [self.config.schedule.interval_s]) + self.config.browser.check_timeout_s + 60
        return now - self.counters.last_done < limit

    def watchdog(self) -> None:
        """Tell systemd we are alive, only while the supervisor runs and checks complete."""
        if self.healthy(steady()):
            self.systemd.send("WATCHDOG=1")

    # --- reload and lifecycle --------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: read the config again; a bad one is refused and the old one keeps running."""
        try:
            new = configmod.load(self.config_path, reloading=True)
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config: %s", exc)
            return
        if new.data_dir != self.config.data_dir:
            log.error("config reload refused: data_dir cannot change while running (restart instead)")
            return
        old = {a.name: a for a in self.config.accounts}
        fresh = {a.name: a for a in new.accounts}
        if new.browser != self.config.browser:
            log.warning("config reload: [browser] changes take effect after a restart")
            new.browser = self.config.browser
        self.config = new
        self.coordinator.config = new
        self.notifier.config = new
        self.notifier.forget_channels()
        for name in old.keys() - fresh.keys():
            self.due.pop(name, None)
        for name, account in fresh.items():
            if not account.enabled:
                self.due.pop(name, None)
            elif name not in old or old[name] != account or name not in self.due:
                self.schedule(account, first=True)
        added, removed = sorted(fresh.keys() - old.keys()), sorted(old.keys() - fresh.keys())
        log.info("config reloaded: %d account(s); added %s; removed %s", len(fresh), added or "none", removed or "none")

    def stop(self) -> None:
        """SIGTERM/SIGINT: start no more checks; one that fails from now on was cut short and records nothing."""
        self.stopping.set()
        self.coordinator.abort()

    async def main(self) -> None:
        """Run until SIGTERM or SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        for account in self.config.accounts:
            if account.enabled:
                self.schedule(account, first=True)
        now = steady()
        shortest = min([a.interval_s or self.config.schedule.interval_s for a in self.config.accounts] or [30.0])
        self.jobs = [
            Periodic("deliver outbox", 2.0, self.deliver, now),
            Periodic("reminders", max(1.0, min(30.0, shortest)), self.housekeeping, now),
            Periodic("retention", 6 * 3600.0, self.retention, now + 300),
            # Damage in pages no check reads (e.g. the outbox) is found within the hour, not at the next start.
            Periodic("integrity", 3600.0, self.integrity, now + 3600),
        ]
        if self.systemd.watchdog_s:
            self.jobs.append(Periodic("systemd watchdog", max(1.0, self.systemd.watchdog_s / 3), self.watchdog, now))
        enabled = [a.name for a in self.config.accounts if a.enabled]
        log.info(
            "started: watching %d account(s) %s; data in %s", len(enabled), ", ".join(enabled), self.config.data_dir
        )
        self.systemd.send("READY=1\nSTATUS=watching " + ", ".join(enabled))
        await self.supervise()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop starting checks, wait a bounded time, close the browser, try the outbox once more."""
        deadline = time.monotonic() + STOP_BUDGET_S - 2
        self.systemd.send("STOPPING=1")
        log.info("stopping")
        running = [t for t in self.running if not t.done()]
        if running:
            await asyncio.wait(running, timeout=max(0.5, min(7.0, deadline - time.monotonic() - 5)))
            for task in running:
                if not task.done():
                    task.cancel()  # an unfinished check commits nothing: the database stays consistent
            await asyncio.wait(running, timeout=1)
        await asyncio.wait(
            [asyncio.ensure_future(self.coordinator.close())], timeout=max(0.5, deadline - time.monotonic() - 2)
        )
        if not self.exit_status:  # a damaged store has no outbox to drain
            await asyncio.wait([asyncio.ensure_future(self.notifier.drain(timeout=2))], timeout=2)
        self.store.close()
        log.info("stopped (%d checks run, %d errors)", self.counters.executed, self.counters.errors)


def send_straight(notifier: Notifier, title: str, body: str, severity: Severity = Severity.URGENT) -> None:
    """Send one message to every channel that takes it, now and without the outbox; failures are logged."""
    for channel in notifier.config.channels:
        if wants(channel, severity, None):
            result = notifier.send_now(channel, title, body, severity)
            if not result.ok:
                log.error("channel %s: could not tell the owner (%s)", channel.name, result.error)


def _in_hours(hour: int, hours: tuple[int, int]) -> bool:
    start, end = hours
    return start <= hour < end if start < end else hour >= start or hour < end


def _ping(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            resp.read(256)
    except Exception as exc:  # a dead heartbeat endpoint must not disturb the checks
        log.warning("heartbeat ping failed: %s", type(exc).__name__)


def run(config_path: Path, log_json: bool = False) -> int:
    """Load the config, take the lock and run; exit 2 on a bad config or a second instance, 3 on a damaged database."""
    setup_logging(log_json)
    try:
        config = configmod.load(config_path)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if not config.accounts:
        log.error("%s: no accounts configured", config.path)
        return 2
    lock = InstanceLock(config.data_dir)
    if not lock.acquire():
        log.error(
            "another monitor is already running on %s (pid %s); refusing to start a second one",
            config.data_dir,
            lock.holder(),
        )
        return 2
    try:
        try:
            daemon = Daemon(config, config_path)
            daemon.store.check_sound()
        except DatabaseDamaged as exc:
            # One line and a distinct status (the unit does not restart on it): only a person can fix this.
            log.error("%s", exc)
            # The real outbox is in the damaged file; this notifier's in-memory store is never used.
            send_straight(Notifier(config, Store(":memory:")), "🛑 monitor: database damaged, not started", str(exc))
            return EXIT_DAMAGED
        except sqlite3.Error as exc:
            log.error("%s: cannot open the database: %s", config.data_dir / "monitor.db", exc)
            return 1
        asyncio.run(daemon.main())
        return daemon.exit_status
    finally:
        lock.release()
