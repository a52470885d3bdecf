"""Shared fixtures: the mock retailer over real HTTP, and its control API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import requests

from fixtures.retailer import RetailerServer
from tests.receivers import PushReceiver, SmtpReceiver

T = TypeVar("T")


class Control:
    """A thin client for the retailer's /__control API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = requests.request(method, f"{self.url}/__control{path}", json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def reset(self) -> None:
        """Back to the seeded world."""
        self._call("POST", "/reset")

    def account(self, email: str) -> dict[str, Any]:
        """The account as the control API reports it."""
        return self._call("GET", f"/accounts/{email}")

    def patch(self, email: str, **body: Any) -> dict[str, Any]:
        """Change state, locale or misbehaviour."""
        return self._call("PATCH", f"/accounts/{email}", body)

    def misbehave(self, email: str, **fields: Any) -> dict[str, Any]:
        """Set misbehaviour fields on one account."""
        return self.patch(email, misbehaviour=fields)

    def site(self, **fields: Any) -> dict[str, Any]:
        """Set site-wide misbehaviour fields."""
        return self._call("PATCH", "/site", {"misbehaviour": fields})

    def event(self, email: str, name: str) -> dict[str, Any]:
        """Play a story step: lock, submit_documents or approve."""
        return self._call("POST", f"/accounts/{email}/events/{name}")


@pytest.fixture(scope="session")
def retailer_server() -> Iterator[RetailerServer]:
    """One mock retailer for the whole session, on a free loopback port."""
    with RetailerServer(port=0) as server:
        yield server


@pytest.fixture
def retailer(retailer_server: RetailerServer) -> Iterator[RetailerServer]:
    """The shared retailer, reset to its seeded state for this test."""
    Control(retailer_server.url).reset()
    yield retailer_server


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    """A real SMTP server (aiosmtpd) on loopback for this test."""
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def push() -> Iterator[PushReceiver]:
    """A real HTTP push receiver (ntfy, json, form) on loopback for this test."""
    receiver = PushReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def control(retailer: RetailerServer) -> Control:
    """Control API client of the freshly reset retailer."""
    return Control(retailer.url)


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


@pytest.fixture(scope="session")
def aio() -> Iterator[AsyncRunner]:
    """The shared event loop runner."""
    runner = AsyncRunner()
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def playwright(aio: AsyncRunner) -> Iterator[Any]:
    """An async Playwright instance on the shared loop."""
    from playwright.async_api import async_playwright

    manager = async_playwright()
    pw = aio.run(manager.start())
    yield pw
    aio.run(manager.__aexit__(None, None, None))


@pytest.fixture(scope="session")
def chromium(aio: AsyncRunner, playwright: Any) -> Iterator[Any]:
    """A real Chromium found the way the monitor finds it."""
    from monitor.browser import launch

    browser, _ = aio.run(launch(playwright))
    yield browser
    aio.run(browser.close())


PASSWORDS = {
    "alice": ("alice@example.com", "correct-horse"),
    "hanako": ("hanako@example.jp", "sakura-2021"),
    "otp": ("otp@example.com", "otp-pass-1"),
}


def write_config(tmp_path: Any, url: str, accounts: list[dict[str, Any]], extra: str = "") -> Any:
    """Write a monitor.toml for `accounts` against the retailer at `url`; returns its path."""
    lines = [f'data_dir = "{tmp_path / "data"}"', extra]
    for acct in accounts:
        lines.append("[[accounts]]")
        for key, value in acct.items():
            if isinstance(value, dict):
                inner = ", ".join(f'{k} = "{v}"' for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            elif isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            else:
                lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
        if "base_url" not in acct:
            lines.append(f'base_url = "{url}"')
    path = tmp_path / "monitor.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def account_entry(name: str, monkeypatch: Any, **extra: Any) -> dict[str, Any]:
    """A config [[accounts]] entry for a seeded retailer account, its password in the environment."""
    email, password = PASSWORDS[name]
    env = f"TEST_PW_{name.upper()}"
    monkeypatch.setenv(env, password)
    return {"name": name, "profile": "mock-retailer", "username": email, "password": {"env": env}, **extra}


@pytest.fixture(scope="session")
def browser_manager(aio: AsyncRunner) -> Iterator[Any]:
    """One browser shared by the check-engine tests (each check still gets a fresh context)."""
    from monitor.browser import BrowserManager

    manager = BrowserManager(recycle_after=10_000)
    yield manager
    aio.run(manager.close())


class Rig:
    """A config, a store and a coordinator wired to the shared browser, for one test."""

    def __init__(self, aio: AsyncRunner, manager: Any, config_path: Any, timeout_s: float = 15) -> None:
        from monitor import config as configmod
        from monitor.coordinator import Coordinator
        from monitor.fetch import PlaywrightFetcher
        from monitor.files import SessionFiles
        from monitor.store import Store

        self.aio = aio
        self.config = configmod.load(config_path)
        self.config.browser.timeout_s = timeout_s
        self.store = Store.open(self.config.data_dir)
        fetcher = PlaywrightFetcher(self.config.browser, SessionFiles(self.config.data_dir / "sessions"), manager)
        self.coordinator = Coordinator(self.config, self.store, fetcher)

    def check(self, name: str) -> Any:
        """One real check of `name`."""
        return self.aio.run(self.coordinator.check(name))


@pytest.fixture
def rig(aio: AsyncRunner, browser_manager: Any, retailer: RetailerServer, tmp_path: Any, monkeypatch: Any):
    """Build a Rig for the given account entries: rig(entries, timeout_s=...)."""
    made: list[Rig] = []

    def build(entries: list[dict[str, Any]], timeout_s: float = 15, extra: str = "") -> Rig:
        made.append(Rig(aio, browser_manager, write_config(tmp_path, retailer.url, entries, extra), timeout_s))
        return made[-1]

    yield build
    for r in made:
        r.store.close()
