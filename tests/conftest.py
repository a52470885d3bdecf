"""Shared fixtures: the mock retailer over real HTTP, and its control API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import requests

from fixtures.retailer import RetailerServer

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
