"""Shared fixtures: the mock retailer over real HTTP and its control API, receivers, Chromium, a daemon."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fixtures.control import Control
from fixtures.retailer import RetailerServer
from tests.helpers import AsyncRunner, Daemon, Rig, write_config
from tests.receivers import PushReceiver, SmtpReceiver


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


@pytest.fixture(scope="session")
def browser_manager(aio: AsyncRunner) -> Iterator[Any]:
    """One browser shared by the check-engine tests (each check still gets a fresh context)."""
    from monitor.browser import BrowserManager

    manager = BrowserManager(recycle_after=10_000)
    yield manager
    aio.run(manager.close())


@pytest.fixture
def rig(
    aio: AsyncRunner, browser_manager: Any, retailer: RetailerServer, tmp_path: Any, monkeypatch: Any
) -> Iterator[Callable[..., Rig]]:
    """Build a Rig for the given account entries: rig(entries, timeout_s=...)."""
    made: list[Rig] = []

    def build(entries: list[dict[str, Any]], timeout_s: float = 15, extra: str = "") -> Rig:
        config = write_config(tmp_path, entries, extra=extra, base_url=retailer.url)
        made.append(Rig(aio, browser_manager, config, timeout_s))
        return made[-1]

    yield build
    for r in made:
        r.store.close()


@pytest.fixture
def daemon(tmp_path: Any, retailer: RetailerServer, push: PushReceiver) -> Iterator[Daemon]:
    """A `monitor run` subprocess to be, on this test's retailer, alerting the `push` receiver."""
    d = Daemon(tmp_path, retailer.url, push)
    yield d
    d.cleanup()
