"""`monitor run`: a steady-clock supervisor, signals, the single-instance lock, systemd and health."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import monitor
from monitor import config as configmod
from monitor import schedule as sched
from monitor.actions import Actions, Health
from monitor.config import Account, Config
from monitor.coordinator import Coordinator
from monitor.errors import ConfigError, MonitorError
from monitor.fetch import PlaywrightFetcher
from monitor.files import ensure_private_dir, write_private
from monitor.metrics import Metrics
from monitor.models import Severity, Status
from monitor.notify import Notifier, wants
from monitor.schedule import steady
from monitor.store import RECOVERY, DatabaseDamaged, Store, StoreError, damaged

log = logging.getLogger("monitor")
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # listening on every address, and the loopback one of them
MIN_PASSWORD = 12  # shorter, on an address other machines reach, is warned about at start
T = TypeVar("T")
STOP_BUDGET_S = 15.0
TICK_S = 1.0  # how often the supervisor looks for due checks
EXIT_DAMAGED = 3  # the database is damaged: a restart cannot help (the unit's RestartPreventExitStatus)
CONSOLE_URL = "console.url"  # in the data dir while a daemon serves the console: `monitor status` reads it
BROWSER_UP = "browser.up"  # in the data dir while the daemon's Chromium runs (names it): `monitor status` reads it
# [browser] keep_warm left unset: how long Chromium and Playwright's driver stay up after the last check.
# With every account ok, briefly (checks that fall due together share one launch); while an account is
# locked or under review, through its fast interval and its jitter plus a margin for the check itself.
KEEP_WARM_BRIEF_S = 15.0
KEEP_WARM_MARGIN_S = 30.0
MEMORY_EVERY_S = 15.0  # walking /proc costs milliseconds; the console asks on every page and poll
STALLED_S = 30.0  # the supervisor has not ticked for this long: not healthy, whatever the checks did


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
    failed: int = 0  # checks that ended in a problem or an error
    jobs_run: int = 0  # housekeeping jobs
    jobs_failed: int = 0


@dataclass
class Periodic:
    """A housekeeping job run by the supervisor on the steady clock."""

    name: str
    every_s: float
    run: Callable[[], object]
    due: float


class Daemon:
    """Owns the supervisor, the coordinator and the notifier for one data directory.

    Checks are timed on the steady clock, so a suspend, a stopped process, a paused VM or a wall-clock
    step delays them but never drops them: whatever is due when the supervisor runs again runs then.
    """

    def __init__(self, config: Config, config_path: Path) -> None:
        self.config = config
        self.config_path = config_path
        self.store = Store.open(config.data_dir)
        self.coordinator = Coordinator(config, self.store, steady=steady)
        self.notifier = Notifier(config, self.store)
        self.counters = Counters(last_done=steady())
        self.systemd = SystemdNotifier()
        self.stopping = asyncio.Event()
        self.semaphore = asyncio.Semaphore(config.schedule.max_concurrency)
        self.running: set[asyncio.Task[Any]] = set()
        self.due: dict[str, float] = {}  # account -> steady time of its next check
        self.checks: dict[str, asyncio.Task[None]] = {}
        self.jobs: list[Periodic] = []
        self.last_heartbeat = 0.0
        self._clocks = (time.time(), steady())
        self.store_trouble: str | None = None  # why the data dir cannot be written, during such an episode
        self.exit_status = 0
        self.started_at = time.time()
        self.last_tick = steady()
        self.metrics = Metrics(config, self.store)
        self.coordinator.on_signin = self.metrics.signin
        self.notifier.on_attempt = self.metrics.delivery
        if isinstance(self.coordinator.fetcher, PlaywrightFetcher):
            self.coordinator.fetcher.manager.on_relaunch = self.metrics.relaunch
            self.coordinator.fetcher.manager.on_state = self.browser_state
        self.actions = Actions(config, self.store, self.notifier, self.request_check)
        self.console: Any = None  # the console's aiohttp runner while it serves
        self._memory: tuple[float, float | None] = (-MEMORY_EVERY_S, None)  # (steady time measured, MB)
        self._resting = False  # an idle close of the browser is under way

    # --- the supervisor --------------------------------------------------------------

    def schedule(self, account: Account, first: bool = False) -> None:
        """(Re)schedule the account's next check on the steady clock (the wall clock places active hours)."""
        span = self.coordinator.interval(account)
        delay = sched.next_delay(datetime.now().astimezone(), span, self.config.schedule, first)
        self.due[account.name] = steady() + delay

    def tick(self) -> None:
        """One supervisor round: notice clock steps, start due checks, run due housekeeping."""
        now = steady()
        wall = time.time()
        self.last_tick = now
        step = sched.clock_step(*self._clocks, wall, now)
        if abs(step) > sched.NOTICED_S:
            log.warning("the wall clock jumped %+.0f s; checks keep their schedule", step)
        asleep = sched.not_running(self._clocks[1], now, TICK_S)
        if asleep:
            # The process itself did not run (SIGSTOP, a paused VM, a suspend): that time is not a stretch
            # of failed checks, and what fell due runs now, before anyone is told checks stopped.
            log.info("the monitor did not run for %.0f s; checks that fell due run now", asleep)
            self.coordinator.quiet.skip(asleep)
            self.counters.last_done += asleep
        self._clocks = (wall, now)
        for account in self.config.accounts:
            name = account.name
            if not account.enabled or name in self.checks:
                continue
            if name not in self.due:
                self.schedule(account, first=True)  # a missing schedule is repaired, never lost
            elif now >= self.due[name]:
                self.checks[name] = self.spawn(self.run_check(name))
        for job in self.jobs:
            if now >= job.due:
                job.due = now + job.every_s
                self.counters.jobs_run += 1
                try:
                    job.run()
                except (StoreError, OSError) as exc:
                    self.counters.jobs_failed += 1
                    self.store_failed(exc)
                except Exception:  # housekeeping must never stop the supervisor
                    self.counters.jobs_failed += 1
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
        began = steady()
        try:
            if self.stopping.is_set():
                return
            async with self.semaphore:
                began = steady()
                reading = await self.coordinator.check(name)
            self.counters.executed += 1
            self.counters.failed += reading.problem is not None
            self.metrics.check_done(name, str(reading.problem or reading.status), reading.duration_ms / 1000)
            self.store_ok()
            self.notifier.kick()  # send what this check queued without waiting for the next tick
            if reading.status is not None:
                self.heartbeat()
        except (StoreError, OSError) as exc:
            self.store_failed(exc)
        except Exception:
            self.counters.errors += 1
            self.counters.failed += 1
            self.metrics.check_done(name, "error", steady() - began)
            log.exception("%s: check failed", name)
        finally:
            # A check that ran counts for the watchdog even when its result could not be stored:
            # that failure is reported on its own, and a restart would not fix a full disk.
            self.counters.last_done = steady()
            self.checks.pop(name, None)
            if not self.stopping.is_set() and any(a.name == name and a.enabled for a in self.config.accounts):
                self.schedule(self.config.account(name))
            self.rest_browser()  # keep_warm = 0: closed as the last check ends

    def keep_warm(self) -> float:
        """Seconds the browser stays up after the last check: [browser] keep_warm, else the rule above."""
        if self.config.browser.keep_warm_s is not None:
            return self.config.browser.keep_warm_s
        enabled = [a for a in self.config.accounts if a.enabled]
        try:
            states = self.store.states_of([a.name for a in enabled])
        except StoreError:
            states = {}  # reported where it happened; without statuses the browser rests as if all were ok
        fast = [
            sched.interval_for(a, self.config.schedule, states[a.name].status)
            for a in enabled
            if a.name in states and states[a.name].status in (Status.LOCKED, Status.UNDER_REVIEW)
        ]
        return keep_warm_rule(fast, self.config.schedule.jitter)

    def rest_browser(self) -> None:
        """Close Chromium and Playwright's driver once no check has run for keep_warm; the next check starts them."""
        fetcher = self.coordinator.fetcher
        if not isinstance(fetcher, PlaywrightFetcher) or self._resting or self.stopping.is_set():
            return
        manager = fetcher.manager
        if not manager.up or manager.busy or self.checks:
            return
        idle = steady() - self.counters.last_done
        if idle < self.keep_warm():
            return
        self._resting = True

        async def rest() -> None:
            try:
                if await manager.close_idle():  # checks again under the manager's lock: never under a check
                    log.debug("browser closed after %.0f s without a check; the next check starts it again", idle)
            finally:
                self._resting = False

        self.spawn(rest())

    def browser_state(self, in_use: str | None) -> None:
        """The browser started (`in_use` names it) or closed: keep BROWSER_UP for `monitor status`."""
        path = self.config.data_dir / BROWSER_UP
        try:
            if in_use is None:
                path.unlink(missing_ok=True)
            else:
                write_private(path, f"{in_use}\n".encode())
        except OSError as exc:  # status then shows less; checks go on
            log.debug("cannot update %s: %s", path, exc)

    def request_check(self, name: str) -> None:
        """The owner's "check now": due at the next tick (a check of it already running is that check)."""
        self.due[name] = steady()

    def health(self) -> Health:
        """How this daemon is doing, for the console, /healthz and the API."""
        cfg, now, wall = self.config, steady(), time.time()
        checks_complete = sched.healthy(
            now, self.counters.last_done, cfg.accounts, cfg.schedule, cfg.browser.check_timeout_s
        )
        fetcher = self.coordinator.fetcher
        return Health(
            version=monitor.__version__,
            scheduling=True,
            healthy=checks_complete and now - self.last_tick < STALLED_S and not self.stopping.is_set(),
            started_at=self.started_at,
            checks_run=self.counters.executed + self.counters.errors,
            checks_failed=self.counters.failed,
            jobs_run=self.counters.jobs_run,
            jobs_failed=self.counters.jobs_failed,
            browser=fetcher.manager.in_use if isinstance(fetcher, PlaywrightFetcher) else None,
            memory_mb=self.memory(now),
            next_check={name: wall + max(0.0, due - now) for name, due in self.due.items()},
            data_dir=str(cfg.data_dir),
        )

    def memory(self, now: float) -> float | None:
        """This daemon's memory (PSS of it and its children), measured at most every MEMORY_EVERY_S."""
        if now - self._memory[0] >= MEMORY_EVERY_S:
            self._memory = (now, memory_mb())
        return self._memory[1]

    async def start_console(self) -> bool:
        """Serve the console on [web] listen; False (one line logged) when that address cannot be used."""
        url_file = self.config.data_dir / CONSOLE_URL
        url_file.unlink(missing_ok=True)  # left by a daemon that was killed: it serves nothing now
        (self.config.data_dir / BROWSER_UP).unlink(missing_ok=True)  # likewise: no browser of ours runs yet
        web = self.config.web
        if not web.enabled:
            return True
        from monitor.web import make_app, serve

        app = make_app(self.config, self.store, self.actions, self.health, self.metrics)
        try:
            self.console, port = await serve(app, web.host, web.port)
        except MonitorError as exc:  # the address is taken or not this machine's ("[web] listen: ...")
            log.error("%s: %s", self.config.path, exc)
            return False
        except OSError as exc:
            log.error("%s: [web] listen = %r: cannot listen there (%s)", self.config.path, web.listen, exc.strerror)
            return False
        url = console_url(web.host, port)
        write_private(url_file, f"{url}\n".encode())
        log.info("console at %s%s", url, console_reach(web.host))
        if warning := short_password(web):
            log.warning("%s: %s", self.config.path, warning)
        return True

    async def stop_console(self) -> None:
        """Stop serving the console and remove its address file."""
        if self.console is not None:
            runner, self.console = self.console, None
            with contextlib.suppress(Exception):  # stopping must go on whatever the web server does
                await asyncio.wait_for(runner.cleanup(), timeout=3)
        (self.config.data_dir / CONSOLE_URL).unlink(missing_ok=True)

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
        self.spawn(asyncio.to_thread(send_straight, self.notifier, title, body, severity))

    def heartbeat(self) -> None:
        """A check succeeded: ping the heartbeat URL, at most once a minute."""
        url = self.config.schedule.heartbeat_url
        if url and time.monotonic() - self.last_heartbeat > 60:
            self.last_heartbeat = time.monotonic()
            self.spawn(asyncio.to_thread(_ping, url.reveal()))

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `work` in the background; shutdown waits for it a bounded time."""
        task = asyncio.ensure_future(work)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return task

    def housekeeping(self) -> None:
        """Reminders and the no-success self-alert."""
        self.coordinator.remind()
        if not self.store_trouble:  # with the data dir failing, the owner has been told why nothing is recorded
            self.coordinator.check_quiet()

    def integrity(self) -> None:
        """PRAGMA quick_check of the database; damage stops the daemon as a failed query would."""
        try:
            self.store.check_sound()
        except DatabaseDamaged as exc:
            self.store_failed(exc)

    def watchdog(self) -> None:
        """Tell systemd we are alive, only while the supervisor runs and checks complete."""
        cfg = self.config
        if sched.healthy(steady(), self.counters.last_done, cfg.accounts, cfg.schedule, cfg.browser.check_timeout_s):
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
        if not new.web.same(self.config.web):
            log.warning("config reload: [web] changes take effect after a restart")
            new.web = self.config.web
        self.config = new
        self.coordinator.config = new
        self.notifier.config = new
        self.metrics.config = new
        self.actions.config = new
        if self.console is not None:  # the console shows the new accounts and channels; [web] waits (above)
            from monitor.web import reconfigure

            reconfigure(self.console.app, new)
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
        """Run until SIGTERM or SIGINT (exit status 2, before any check, when the console cannot listen)."""
        if not await self.start_console():
            self.exit_status = 2
            await self.coordinator.close()
            self.store.close()
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        for account in self.config.accounts:
            if account.enabled:
                self.schedule(account, first=True)
        now = steady()
        shortest = sched.shortest_span(self.config.accounts, self.config.schedule)
        self.jobs = [
            # Delivery of due outbox rows, each channel on its own.
            Periodic("deliver outbox", 2.0, self.notifier.kick, now),
            Periodic("reminders", max(1.0, min(30.0, shortest)), self.housekeeping, now),
            Periodic("retention", 6 * 3600.0, self.coordinator.retention, now + 300),
            # Damage in pages no check reads (e.g. the outbox) is found within the hour, not at the next start.
            Periodic("integrity", 3600.0, self.integrity, now + 3600),
            # Between checks the browser and the driver hold most of the daemon's memory ([browser] keep_warm).
            Periodic("browser keep_warm", TICK_S, self.rest_browser, now),
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
        await self.stop_console()  # first: no action starts while checks wind down
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


def keep_warm_rule(fast_intervals: list[float], jitter: float) -> float:
    """Default keep_warm: through the longest fast interval in effect (with jitter and a margin), else briefly."""
    if not fast_intervals:
        return KEEP_WARM_BRIEF_S
    return max(fast_intervals) * (1 + jitter) + KEEP_WARM_MARGIN_S


def console_url(host: str, port: int) -> str:
    """The console's address for a browser on this machine (a wildcard address is reached on loopback)."""
    host = WILDCARDS.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def console_reach(host: str) -> str:
    """What the console's address leaves out when others can reach it: "" on loopback."""
    if configmod.is_loopback(host):
        return ""
    everywhere = "listening on all addresses: " if host in WILDCARDS else ""
    return f" ({everywhere}reachable from other machines; password required)"


def short_password(web: configmod.WebOptions) -> str | None:
    """A warning when a console other machines can reach has a short password (a guessable one is no guard)."""
    if web.password is None or configmod.is_loopback(web.host):
        return None
    try:
        length = len(web.password.reveal())
    except MonitorError:
        return None  # an unreadable password is said where it is used, with its cause
    if length >= MIN_PASSWORD:
        return None
    return (
        f"[web] password is shorter than {MIN_PASSWORD} characters and the console is reachable from other"
        f" machines ({web.listen}): use a longer one"
    )


def memory_mb() -> float | None:
    """Memory of this process and its descendants (Chromium, Playwright's driver): PSS, else RSS; None without /proc."""
    me = os.getpid()
    children: dict[int, list[int]] = {}
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for pid in entries:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])  # the name before ")" may hold spaces
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(pid)
    total_kb, todo = 0, [me]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        total_kb += _field_kb(f"/proc/{pid}/smaps_rollup", "Pss:") or _field_kb(f"/proc/{pid}/status", "VmRSS:") or 0
    return round(total_kb / 1024, 1) if total_kb else None


def _field_kb(path: str, name: str) -> int | None:
    """The kB value of the line starting with `name` in a /proc file, or None."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(name):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return None


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
        except StoreError as exc:
            log.error("%s: cannot open the database: %s", config.data_dir / "monitor.db", exc)
            return 1
        asyncio.run(daemon.main())
        return daemon.exit_status
    finally:
        lock.release()
