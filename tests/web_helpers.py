"""The console under test: a real Store file seeded through its Tx API, the app, and small fakes at its seams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar, web
from aiohttp.test_utils import TestClient, TestServer
from bs4 import BeautifulSoup

from fixtures.config import write_config
from monitor import config as configmod
from monitor.actions import ActionRefused, Actions, Health
from monitor.case import Case, current_case
from monitor.config import Config, Secret
from monitor.models import AccountState, OutboxState, Problem, Reading, Status, Transition, TransitionKind
from monitor.notify import Notifier, SendResult
from monitor.store import Store
from monitor.web import make_app

NOW = 1_800_000_000.0  # a fixed "now" the pages are rendered at
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
TOKEN = "tok3nS3cretValue9"  # inside the channel URL: must never appear in a response
CHANNEL_URL = f"json://127.0.0.1:9/hook/{TOKEN}?key={TOKEN}x"
HOSTILE = 'Locked <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> \x1b[31mred\x07 \u202eevil'

# The JSON routes (and /healthz) of an account called shop: what the security tests and the crawl visit.
API = [
    "/api/v1/accounts",
    "/api/v1/accounts/shop",
    "/api/v1/accounts/shop/transitions",
    "/api/v1/deliveries",
    "/api/v1/health",
    "/healthz",
]


class FakeActions(Actions):
    """The owner's actions at the seam: records calls, changes the store as the real ones would."""

    def __init__(self, config: Config, store: Store) -> None:
        super().__init__(config, store, Notifier(config, store), clock=lambda: NOW)
        self.calls: list[tuple[str, Any]] = []
        self.refuse: str | None = None

    def _call(self, what: str, arg: Any) -> None:
        self.calls.append((what, arg))
        if self.refuse:
            raise ActionRefused(self.refuse)

    def check_now(self, account: str) -> str:
        """Record the request."""
        self._call("check", account)
        return f"{account}: a check runs now"

    def resume(self, account: str) -> str:
        """Lift the pause in the real store."""
        self._call("resume", account)
        self.store.resume(account)
        return f"{account}: automated sign-ins resume"

    def acknowledge(self, account: str, until: float | None) -> str:
        """Record the acknowledgement."""
        self._call("ack", until)
        return f"{account}: reminders stop until the status changes"

    def send_test(self, channel: str | None = None) -> list[tuple[str, SendResult]]:
        """Every configured channel (or one) answers: the first delivered, others failed."""
        self._call("test", channel)
        names = [c.name for c in self.config.channels if channel in (None, c.name)]
        return [(n, SendResult(i == 0, None if i == 0 else "HTTP 500")) for i, n in enumerate(names)]

    def send_pending(self) -> str:
        """Record the request."""
        self._call("send", None)
        return "2 pending alerts sent"


@dataclass
class Console:
    """A seeded data directory and the console app on it."""

    config: Config
    store: Store
    actions: FakeActions
    health: Health
    case: Case | None = None
    real_case: bool = False  # monitor.case.current_case instead of `case`
    metrics: Any = None
    readings: dict[str, int] = field(default_factory=dict)

    def app(self) -> web.Application:
        """A fresh app (fresh sessions) on this data."""
        return make_app(
            self.config,
            self.store,
            self.actions,
            lambda: self.health,
            self.metrics,
            clock=lambda: NOW,
            case_of=current_case if self.real_case else lambda config, store, name, now: self.case,
        )

    def run(self, scenario: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
        """Run `scenario(client)` against a real server on 127.0.0.1 in a fresh loop."""

        async def main() -> None:
            async with TestClient(TestServer(self.app())) as client:
                await scenario(client)

        asyncio.run(main())


def console(tmp_path: Path, password: str | None = None, public_url: str | None = None) -> Console:
    """Three accounts (shop locked with hostile evidence and a screenshot, home ok, new never checked), one channel."""
    accounts = [
        {"name": n, "profile": "mock-retailer", "base_url": "http://127.0.0.1:9", "username": f"{n}@example.com"}
        for n in ("shop", "home", "new")
    ]
    channels = [{"name": "phone", "url": CHANNEL_URL}, {"name": "mail", "url": "json://127.0.0.1:9/mail"}]
    path = write_config(tmp_path, accounts, channels)
    config = configmod.load(path)
    config.web = replace(config.web, password=Secret.inline(password) if password else None, public_url=public_url)
    store = Store.open(config.data_dir)
    shot = config.data_dir / "screenshots" / "shop" / "lock.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(PNG)
    readings: dict[str, int] = {}
    day = 86400.0
    with store.transaction() as tx:
        ok = tx.insert_reading(Reading("shop", Status.OK, rule="home", matched="Gift card balance", at=NOW - 3 * day))
        tx.add_transitions("shop", NOW - 3 * day, [Transition(TransitionKind.STATUS, None, "ok")], ok)
        lock = tx.insert_reading(
            Reading("shop", Status.LOCKED, rule="locked", matched=HOSTILE, screenshot=str(shot), at=NOW - 2 * 3600)
        )
        tx.add_transitions("shop", NOW - 2 * 3600, [Transition(TransitionKind.LOCKED, "ok", "locked")], lock)
        readings["ok"], readings["lock"] = ok, lock
        tx.put_state(
            AccountState(
                "shop",
                Status.LOCKED,
                status_since=NOW - 2 * 3600,
                last_check_at=NOW - 120,
                last_success_at=NOW - 120,
                last_outcome=Status.LOCKED,
                known_status=Status.LOCKED,
                paused_reason="challenge: <b>captcha</b>",
                paused_at=NOW - 600,
                created_at=NOW - 3 * day,
            )
        )
        tx.record_signin("shop", "ok", NOW - 3600)
        home = tx.insert_reading(Reading("home", Status.OK, rule="home", at=NOW - 5 * day))
        tx.add_transitions("home", NOW - 5 * day, [Transition(TransitionKind.STATUS, None, "ok")], home)
        tx.put_state(
            AccountState(
                "home",
                Status.OK,
                status_since=NOW - 5 * day,
                last_check_at=NOW - 60,
                last_success_at=NOW - 600,
                last_outcome=Problem.UNREACHABLE,
                problem=Problem.UNREACHABLE,
                problem_count=2,
                problem_since=NOW - 600,
                known_status=Status.OK,
                created_at=NOW - 5 * day,
            )
        )
        row = {
            "account": "shop",
            "kind": "locked",
            "severity": "urgent",
            "title": f"shop: {HOSTILE}",
            "body": HOSTILE,
            "attachment": None,
            "created_at": NOW - 2 * 3600,
        }
        sent = tx.enqueue({**row, "channel": "phone"})
        tx.record_attempt(sent, True, None, NOW - 2 * 3600 + 5, None, False)
        failed = tx.enqueue({**row, "channel": "mail"})
        tx.record_attempt(failed, False, "HTTP 500 <from> the server", NOW - 3000, NOW + 600, False)
        gone = tx.enqueue({**row, "channel": "mail", "kind": "restored", "title": "old one"})
        tx.record_attempt(gone, False, "gave up", NOW - 2000, None, True)
    assert store.outbox_counts()[OutboxState.PENDING] == 1
    health = Health(
        version="0.1.0",
        scheduling=True,
        healthy=True,
        started_at=NOW - 3700,
        checks_run=12,
        checks_failed=1,
        jobs_run=30,
        jobs_failed=0,
        browser="chromium-headless-shell 156",
        memory_mb=88.4,
        next_check={"shop": NOW + 300, "home": NOW + 840},
        data_dir=str(config.data_dir),
    )
    return Console(config, store, FakeActions(config, store), health, readings=readings)


def soup(html: str) -> BeautifulSoup:
    """Parsed HTML, to assert what a reader sees rather than grep markup."""
    return BeautifulSoup(html, "html.parser")


def other_browser(client: TestClient[Any, Any]) -> ClientSession:
    """Another browser (its own cookies) on the same server: `async with other_browser(client) as b`."""
    root = client.make_url("/")
    return ClientSession(base_url=f"{root.scheme}://{root.host}:{root.port}", cookie_jar=CookieJar(unsafe=True))


async def csrf(client: TestClient[Any, Any] | ClientSession, path: str) -> str:
    """The CSRF token of the form on the page at `path` (fetching it also sets the session cookie)."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    field_ = soup(await response.text()).find("input", attrs={"name": "csrf"})
    assert field_ is not None
    return str(field_["value"])


def wall(at: float) -> str:
    """`at` as the pages print it (server local time)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def iso(at: float) -> str:
    """`at` as a <time datetime> attribute: local time with its offset."""
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


def hhmm(at: float) -> str:
    """`at` as the overview prints a time of NOW's day."""
    assert time.localtime(at).tm_yday == time.localtime(NOW).tm_yday, "pick times of NOW's day"
    return time.strftime("%H:%M", time.localtime(at))
