"""`monitor run`: APScheduler on one event loop, signals, the single-instance lock, systemd and health."""

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
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from monitor import config as configmod
from monitor.config import Account, Config
from monitor.coordinator import Coordinator
from monitor.decide import Alert
from monitor.errors import ConfigError
from monitor.models import AlertKind, Status
from monitor.notify import Notifier
from monitor.store import Store, ensure_private_dir

log = logging.getLogger("monitor")
STOP_BUDGET_S = 15.0


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
    # APScheduler logs every job run at INFO: that is per poll, not per edge. Its warnings still come through.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Apprise's own messages can name endpoints: they stay inside each send's result (which our
    # notifier reads and masks) instead of reaching our log.
    apprise_log = logging.getLogger("apprise")
    apprise_log.setLevel(logging.WARNING)
    apprise_log.propagate = False
    apprise_log.handlers[:] = [logging.NullHandler()]
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
    """What the scheduler did: for the watchdog and the log."""

    executed: int = 0
    errors: int = 0
    missed: int = 0
    last_progress: float = 0.0


class Daemon:
    """Owns the scheduler, the coordinator and the notifier for one data directory."""

    def __init__(self, config: Config, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.store = Store.open(config.data_dir)
        self.coordinator = Coordinator(config, self.store)
        self.notifier = Notifier(config, self.store)
        self.scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self.counters = Counters(last_progress=time.monotonic())
        self.systemd = SystemdNotifier()
        self.stopping = asyncio.Event()
        self.semaphore = asyncio.Semaphore(config.schedule.max_concurrency)
        self.running: set[asyncio.Task[Any]] = set()
        self.started = time.time()
        self.stale_alerted = False
        self.last_heartbeat = 0.0

    # --- scheduling ----------------------------------------------------------------

    def interval(self, account: Account) -> float:
        """Seconds until the next check: shorter while locked or under review."""
        base = account.interval_s or self.config.schedule.interval_s
        status = self.store.state(account.name).status
        if status in (Status.LOCKED, Status.UNDER_REVIEW):
            return min(base, self.config.schedule.interval_while_locked_s)
        return base

    def next_run(self, account: Account, first: bool = False) -> datetime:
        """When to check next: the interval jittered symmetrically (mean stays put), inside active hours."""
        span = self.interval(account)
        jitter = self.config.schedule.jitter
        # First checks are spread over a short window so that many accounts do not start at once.
        delay = random.uniform(0, min(span, 5.0)) if first else span * random.uniform(1 - jitter, 1 + jitter)
        when = datetime.now().astimezone() + timedelta(seconds=delay)
        hours = self.config.schedule.active_hours
        if hours and not _in_hours(when.hour, hours):
            start = when.replace(hour=hours[0], minute=0, second=0, microsecond=0)
            if start <= when:
                start += timedelta(days=1)
            when = start + timedelta(seconds=random.uniform(0, min(span, 300)))
        return when

    def schedule(self, account: Account, first: bool = False) -> None:
        """(Re)schedule the account's next check."""
        self.scheduler.add_job(
            self.run_check,
            DateTrigger(self.next_run(account, first)),
            args=[account.name],
            id=f"check:{account.name}",
            name=f"check {account.name}",
            replace_existing=True,
            # The configured interval, not the state-dependent one: no database read just for the grace.
            misfire_grace_time=max(30, int(account.interval_s or self.config.schedule.interval_s)),
        )

    async def run_check(self, name: str) -> None:
        """One scheduled check: bounded by the global cap, always rescheduled."""
        task = asyncio.current_task()
        if task:
            self.running.add(task)
        try:
            if self.stopping.is_set():
                return
            async with self.semaphore:
                reading = await self.coordinator.check(name)
            self.notifier.kick()  # send what this check queued without waiting for the next tick
            if reading.status is not None:
                self._on_success()
        finally:
            if task:
                self.running.discard(task)
            if not self.stopping.is_set() and any(a.name == name and a.enabled for a in self.config.accounts):
                self.schedule(self.config.account(name))

    def _on_success(self) -> None:
        if self.stale_alerted:
            self.stale_alerted = False
            log.info("checks succeed again")
        url = self.config.schedule.heartbeat_url
        if url and time.monotonic() - self.last_heartbeat > 60:
            self.last_heartbeat = time.monotonic()
            task = asyncio.ensure_future(asyncio.to_thread(_ping, url.reveal()))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    async def deliver(self) -> None:
        """Start delivery of due outbox rows (each channel on its own)."""
        self.notifier.kick()

    async def housekeeping(self) -> None:
        """Reminders, the no-success self-alert and retention."""
        self.coordinator.remind()
        self._check_stale()

    def _check_stale(self) -> None:
        accounts = [a for a in self.config.accounts if a.enabled]
        if not accounts or self.stale_alerted:
            return
        longest = max(a.interval_s or self.config.schedule.interval_s for a in accounts)
        limit = longest * self.config.schedule.stale_after_intervals
        last = max([self.started] + [self.store.state(a.name).last_success_at or 0 for a in accounts])
        if time.time() - last > limit:
            self.stale_alerted = True
            minutes = int((time.time() - last) / 60)
            log.error("no successful check for %d min", minutes)
            with self.store.tx() as conn:
                self.coordinator.queue(conn, [Alert(AlertKind.NO_SUCCESS, "", {"minutes": minutes})], None, time.time())

    async def retention(self) -> None:
        """Drop readings and screenshots older than the retention period (those of transitions stay)."""
        before = time.time() - self.config.schedule.retention_days * 86400
        removed = self.store.prune(before)
        kept = {t["screenshot"] for a in self.config.accounts for t in self.store.transitions(a.name, 10_000)}
        for shot in (self.config.data_dir / "screenshots").glob("*/*.png"):
            with contextlib.suppress(OSError):
                if shot.stat().st_mtime < before and str(shot) not in kept:
                    shot.unlink()
        if removed:
            log.info("retention: removed %d old readings", removed)

    async def watchdog(self) -> None:
        """Tell systemd we are alive, but only while the scheduler makes progress."""
        if self.systemd.watchdog_s and time.monotonic() - self.counters.last_progress < self.systemd.watchdog_s:
            self.systemd.send("WATCHDOG=1")

    def _on_event(self, event: JobExecutionEvent) -> None:
        self.counters.last_progress = time.monotonic()
        if event.code == EVENT_JOB_EXECUTED:
            self.counters.executed += 1
        elif event.code == EVENT_JOB_ERROR:
            self.counters.errors += 1
            log.error("job %s failed: %r", event.job_id, event.exception)
        else:
            self.counters.missed += 1
            log.warning("job %s missed or skipped (%d so far)", event.job_id, self.counters.missed)

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
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(f"check:{name}")
        for name, account in fresh.items():
            if not account.enabled:
                with contextlib.suppress(Exception):
                    self.scheduler.remove_job(f"check:{name}")
            elif name not in old or old[name] != account or not self.scheduler.get_job(f"check:{name}"):
                self.schedule(account, first=True)
        added, removed = sorted(fresh.keys() - old.keys()), sorted(old.keys() - fresh.keys())
        log.info("config reloaded: %d account(s); added %s; removed %s", len(fresh), added or "none", removed or "none")

    async def main(self) -> None:
        """Run until SIGTERM or SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.scheduler.add_listener(
            self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )
        self.scheduler.start()
        for account in self.config.accounts:
            if account.enabled:
                self.schedule(account, first=True)
        self.scheduler.add_job(self.deliver, "interval", seconds=2, id="deliver", name="deliver outbox")
        shortest = min([a.interval_s or self.config.schedule.interval_s for a in self.config.accounts] or [30.0])
        self.scheduler.add_job(
            self.housekeeping, "interval", seconds=max(1.0, min(30.0, shortest)), id="housekeeping", name="reminders"
        )
        self.scheduler.add_job(
            self.retention,
            "interval",
            hours=6,
            id="retention",
            name="retention",
            next_run_time=datetime.now().astimezone() + timedelta(minutes=5),
        )
        if self.systemd.watchdog_s:
            self.scheduler.add_job(
                self.watchdog,
                "interval",
                seconds=max(1.0, self.systemd.watchdog_s / 3),
                id="watchdog",
                name="systemd watchdog",
            )
        enabled = [a.name for a in self.config.accounts if a.enabled]
        log.info(
            "started: watching %d account(s) %s; data in %s", len(enabled), ", ".join(enabled), self.config.data_dir
        )
        self.systemd.send("READY=1\nSTATUS=watching " + ", ".join(enabled))
        await self.stopping.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop starting checks, wait a bounded time, close the browser, try the outbox once more."""
        deadline = time.monotonic() + STOP_BUDGET_S - 2
        self.systemd.send("STOPPING=1")
        log.info("stopping")
        self.scheduler.pause()  # no new jobs; the scheduler's own shutdown would cancel running ones
        running = [t for t in self.running if not t.done()]
        if running:
            await asyncio.wait(running, timeout=max(0.5, min(7.0, deadline - time.monotonic() - 5)))
            for task in running:
                if not task.done():
                    task.cancel()  # an unfinished check commits nothing: the database stays consistent
            await asyncio.wait(running, timeout=1)
        self.scheduler.shutdown(wait=False)
        await asyncio.wait(
            [asyncio.ensure_future(self.coordinator.close())], timeout=max(0.5, deadline - time.monotonic() - 2)
        )
        await asyncio.wait([asyncio.ensure_future(self.notifier.drain(timeout=2))], timeout=2)
        self.store.close()
        log.info(
            "stopped (%d jobs run, %d errors, %d missed)",
            self.counters.executed,
            self.counters.errors,
            self.counters.missed,
        )


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
    """Load the config, take the lock and run; exit 2 on a bad config or a second instance."""
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
        asyncio.run(Daemon(config, config_path).main())
    finally:
        lock.release()
    return 0
