"""Helpers the test modules share: configs, the CLI, a daemon subprocess, a controlled clock, polling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from fixtures.config import config_text, write_config
from fixtures.procs import carrying
from fixtures.receiver import PushReceiver
from fixtures.run import run_monitor, start_monitor
from monitor import config as configmod
from monitor.coordinator import Coordinator
from monitor.fetch import PlaywrightFetcher
from monitor.files import SessionFiles
from monitor.models import Reading, Status
from monitor.notify import Notifier
from monitor.store import Store
from tests.fakes import Clock

__all__ = [
    "PASSWORDS",
    "PNG",
    "AsyncRunner",
    "Clock",
    "Daemon",
    "Env",
    "Rig",
    "account_entry",
    "config_text",
    "make_config",
    "plain_profile",
    "run_monitor",
    "start_monitor",
    "wait_until",
    "write_config",
]

T = TypeVar("T")

# The mock retailer's seeded accounts: key -> (email, password).
PASSWORDS = {
    "alice": ("alice@example.com", "correct-horse"),
    "hanako": ("hanako@example.jp", "sakura-2021"),
    "otp": ("otp@example.com", "otp-pass-1"),
}

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def wait_until(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def account_entry(name: str, monkeypatch: Any, **extra: Any) -> dict[str, Any]:
    """A config [[accounts]] entry for a seeded retailer account, its password in the environment."""
    email, password = PASSWORDS[name]
    env = f"TEST_PW_{name.upper()}"
    monkeypatch.setenv(env, password)
    return {"name": name, "profile": "mock-retailer", "username": email, "password": {"env": env}, **extra}


def make_config(
    tmp_path: Path,
    channels: Sequence[Mapping[str, Any]],
    locale: str = "en",
    extra: str = "",
    account: Mapping[str, Any] | None = None,
    web: Mapping[str, Any] | None = None,
) -> Path:
    """A config of one account "shop" on an address nothing answers (no check runs), with `channels`.

    `web`: the [web] keys of a test that wants the console (else it is off).
    """
    shop = {
        "name": "shop",
        "profile": "mock-retailer",
        "base_url": "http://127.0.0.1:9",
        "username": "hanako@example.jp" if locale == "ja" else "alice@example.com",
        "locale": "ja-JP" if locale == "ja" else "en-US",
        **(account or {}),
    }
    return write_config(tmp_path, [shop], channels, extra, web=web)


# A profile for the mock retailer that gives no advice but marks where the page's own instruction is.
PLAIN_PROFILE = """
name = "plain-shop"
pages = ["/account"]
[regions]
main = ["main", "[role=main]"]
{instructions}
[signin]
url = "/signin?return=/account"
username = "input[name=email]"
password = "input[name=password]"
submit = "form#signin button[type=submit]"
[[rules]]
name = "signin-form"
problem = "logged_out"
selector = "form#signin"
[[rules]]
name = "locked"
status = "locked"
region = "main"
text = ["Your account has been locked", "アカウントがロックされています"]
[[rules]]
name = "home"
status = "ok"
region = "main"
text = ["Gift card balance", "ギフトカード残高"]
"""


def plain_profile(tmp_path: Path, instructions: bool = True) -> str:
    """Write PLAIN_PROFILE next to the config; returns its name relative to the config."""
    region = 'instructions = [".alert-lock p", ".nt-box div"]' if instructions else ""
    (tmp_path / "plain-shop.toml").write_text(PLAIN_PROFILE.replace("{instructions}", region), encoding="utf-8")
    return "plain-shop.toml"


class Env:
    """Config, store, coordinator and notifier sharing one controlled clock."""

    def __init__(self, path: Path) -> None:
        self.config = configmod.load(path)
        self.store = Store.open(self.config.data_dir)
        self.clock = Clock()
        self.coordinator = Coordinator(self.config, self.store, clock=self.clock)
        self.notifier = Notifier(self.config, self.store, clock=self.clock)

    def lock(self, status: Status = Status.LOCKED, screenshot: bool = True) -> None:
        """Commit a lock reading of "shop" (or `status`), with a screenshot file unless told not to."""
        shot = None
        if screenshot:
            shot = self.config.data_dir / "shot.png"
            shot.write_bytes(PNG)
        self.coordinator.commit(
            Reading(
                account="shop",
                status=status,
                rule="locked",
                at=self.clock(),
                matched="Your account has been locked",
                url="http://127.0.0.1:9/account",
                screenshot=str(shot) if shot else None,
            )
        )

    def deliver(self, aio: AsyncRunner) -> None:
        aio.run(self.notifier.drain(timeout=30))

    def rows(self, *states: str) -> list[Any]:
        return self.store.outbox(states or ("pending", "given_up", "sent"))


class AsyncRunner:
    """One event loop in a thread for the whole session, so async Playwright objects can be shared."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        """Run `coro` on the shared loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Rig:
    """A config, a store and a coordinator wired to the shared browser, for one test."""

    def __init__(self, aio: AsyncRunner, manager: Any, config_path: Path, timeout_s: float = 15) -> None:
        self.aio = aio
        self.config = configmod.load(config_path)
        self.config.browser.timeout_s = timeout_s
        self.store = Store.open(self.config.data_dir)
        fetcher = PlaywrightFetcher(self.config.browser, SessionFiles(self.config.data_dir / "sessions"), manager)
        self.coordinator = Coordinator(self.config, self.store, fetcher)

    def check(self, name: str) -> Any:
        """One real check of `name`."""
        return self.aio.run(self.coordinator.check(name))


class Daemon:
    """A `monitor run` subprocess with its config, log file and receiver."""

    def __init__(self, tmp_path: Path, shop_url: str, receiver: PushReceiver) -> None:
        self.tmp_path = tmp_path
        self.shop_url = shop_url
        self.receiver = receiver
        self.config = tmp_path / "monitor.toml"
        self.data = tmp_path / "data"
        self.marker = f"MONITOR_TEST_MARKER={uuid.uuid4().hex}"
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = tmp_path / "daemon.log"
        self.runs = 0

    def write(self, accounts: list[tuple[str, str]], extra: str = "", web: Mapping[str, Any] | None = None) -> None:
        """accounts: (name, seeded account key) pairs; 1-2 s intervals; `extra` adds [schedule] keys.

        `web`: the [web] keys when the test wants the console (e.g. {"listen": "127.0.0.1:0"}); else it is off.
        """
        schedule = '[schedule]\ninterval = "1.5s"\ninterval_while_locked = "1.5s"\nretry_min = "1s"\nretry_max = "2s"'
        entries = []
        for name, key in accounts:
            email = PASSWORDS[key][0]
            entries.append(
                {
                    "name": name,
                    "profile": "mock-retailer",
                    "base_url": self.shop_url,
                    "username": email,
                    "password": {"env": f"PW_{key.upper()}"},
                    "locale": "ja-JP" if email.endswith(".jp") else "en-US",
                }
            )
        channels = [{"name": "phone", "url": self.receiver.json_url()}]
        text = config_text(self.data, entries, channels, f"{schedule}\n{extra}", web=web)
        self.config.write_text(text, encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, **extra}
        key, value = self.marker.split("=")
        env[key] = value
        for k, (_email, pw) in PASSWORDS.items():
            env[f"PW_{k.upper()}"] = pw
        return env

    def start(self, *args: str, wait: bool = True, **env: str) -> subprocess.Popen[str]:
        """Start `monitor run ARGS` in its own process group; wait for its start line unless told not to."""
        self.runs += 1
        log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 (the daemon writes it)
        self.proc = start_monitor(
            self.config,
            "run",
            *args,
            env=self.env(**env),
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group, as under systemd or in a terminal
        )
        if wait:
            wait_until(lambda: self.log().count("started: watching") >= self.runs, 30, "the daemon to start")
        return self.proc

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another command on the daemon's config and environment, run to its end."""
        return run_monitor(self.config, *args, env=self.env())

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20, group: bool = False) -> int:
        """SIGTERM the daemon, or its whole process group (systemd's default KillMode, or Ctrl-C)."""
        assert self.proc is not None
        if group:
            os.killpg(self.proc.pid, signal.SIGTERM)
        else:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def outcomes(self, account: str) -> list[str]:
        """The account's stored readings as status or problem words, oldest first."""
        if not (self.data / "monitor.db").exists():
            return []
        with contextlib.closing(sqlite3.connect(self.data / "monitor.db")) as db:
            query = "SELECT COALESCE(problem, status) FROM readings WHERE account = ? ORDER BY id"
            return [row[0] for row in db.execute(query, (account,))]

    def titles(self) -> list[str]:
        return [(p.json or {}).get("title", "") for p in self.receiver.received]

    def cleanup(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in carrying(self.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
