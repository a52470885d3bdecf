"""The console: server time of the overview and a case page on a big store, and the daemon's memory with it on.

Render: 200 accounts with 10,000 transitions (a reading each) written into a real Store file through
its Tx API; the real app on aiohttp's test server; a middleware outside the app's own times each
request from its arrival to its response (auth, the store's queries, the case, the template).
Memory: PSS of a real `monitor run` and all its processes with the console on minus off, the same
accounts, rounds interleaved, measured after the first checks (and after the console served its pages).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bench.common import bench_config, percentile, start_daemon, stop_daemon, user, wait_for_readings
from bench.memory import memory_mb
from fixtures.config import write_config
from fixtures.procs import descendants
from monitor import __version__
from monitor import config as configmod
from monitor.actions import Actions, Health
from monitor.models import AccountState, Reading, Status, Transition, TransitionKind
from monitor.notify import Notifier
from monitor.store import Store
from monitor.web import make_app

DAY = 86400.0
# The story's cycle: each status, the edge that enters it, and what its page said.
CYCLE = [
    (Status.LOCKED, TransitionKind.LOCKED, "Your account has been locked. Attach a supporting document."),
    (
        Status.UNDER_REVIEW,
        TransitionKind.UNDER_REVIEW,
        "We are reviewing the information you provided. We will contact you within 24 hours.",
    ),
    (Status.OK, TransitionKind.RESTORED, "Gift card balance $525.00"),
]
ORDERS = ["#112-4471 Gift card $500.00 On hold", "#112-3980 Coffee beans $18.00 Delivered"]


def seed(folder: Path, accounts: int, transitions: int, now: float) -> tuple[Path, str]:
    """A config and a store with `transitions` spread over `accounts` and the last 30 days.

    Returns the config's path and an account whose case is open (under review, with the promise).
    """
    names = [f"u{i:04d}" for i in range(accounts)]
    entries = [
        {"name": n, "profile": "mock-retailer", "base_url": "http://127.0.0.1:9", "username": f"{n}@example.test"}
        for n in names
    ]
    path = write_config(folder, entries)
    store = Store.open(folder / "data")
    per = transitions // accounts
    step = 30 * DAY / per
    open_case = ""
    try:
        for k, name in enumerate(names):
            with store.transaction() as tx:
                previous: Status | None = None
                for i in range(per):
                    at = now - 30 * DAY + i * step
                    status, kind, said = CYCLE[(k + i) % len(CYCLE)]
                    kind = TransitionKind.STATUS if previous is None else kind
                    reading = Reading(
                        name,
                        status,
                        rule=str(status),
                        matched=said,
                        title="Your account - Riverside Market",
                        url="http://127.0.0.1:9/account",
                        orders=ORDERS if status != Status.OK else [],
                        instructions=said if status != Status.OK else None,
                        at=at,
                    )
                    edge = Transition(kind, None if previous is None else str(previous), status)
                    tx.add_transitions(name, at, [edge], tx.insert_reading(reading))
                    previous = status
                assert previous is not None
                since = now - 30 * DAY + (per - 1) * step
                tx.put_state(
                    AccountState(
                        name,
                        previous,
                        status_since=since,
                        last_check_at=now - 60,
                        last_success_at=now - 60,
                        last_outcome=previous,
                        known_status=previous,
                        created_at=now - 30 * DAY,
                    )
                )
                tx.record_signin(name, "ok", now - 3600)
                if previous == Status.UNDER_REVIEW and not open_case:
                    open_case = name
    finally:
        store.close()
    return path, open_case


async def _render_times(config_path: Path, case_account: str, rounds: int) -> dict[str, Any]:
    """Server milliseconds of `rounds` renders of each page (interleaved), after one warm-up of each."""
    config = configmod.load(config_path)
    store = Store.open(config.data_dir)
    now = time.time()
    health = Health(
        version=__version__,
        scheduling=True,
        healthy=True,
        started_at=now - 3600,
        next_check={a.name: now + 600 for a in config.accounts},
        data_dir=str(config.data_dir),
    )
    app = make_app(config, store, Actions(config, store, Notifier(config, store)), lambda: health, None)
    spent: dict[str, list[float]] = {}

    @web.middleware
    async def timed(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        spent.setdefault(request.path, []).append((time.perf_counter() - started) * 1000)
        return response

    app.middlewares.insert(0, timed)  # outside the app's own guard: the whole server-side time
    pages = {"overview": "/", "case": f"/accounts/{case_account}"}
    try:
        async with TestClient(TestServer(app)) as client:
            for _ in range(rounds + 1):
                for path in pages.values():
                    response = await client.get(path)
                    body = await response.text()
                    assert response.status == 200, body[:300]
            assert 'id="contact-by"' in body, "the case page shows no contact deadline: the seed is wrong"
    finally:
        store.close()
    result: dict[str, Any] = {"rounds": rounds}
    for page, path in pages.items():
        first, *times = spent[path]  # the first render compiles the templates and fills the day strips
        result[page] = {
            "first_ms": first,
            "p50_ms": statistics.median(times),
            "p95_ms": percentile(times, 95),
            "max_ms": max(times),
        }
    return result


def render(folder: Path, rounds: int, accounts: int = 200, transitions: int = 10_000) -> dict[str, Any]:
    """Seed a store and time the overview and the case page on it."""
    started = time.monotonic()
    config_path, case_account = seed(folder / "render", accounts, transitions, time.time())
    seeded = time.monotonic() - started
    result = asyncio.run(_render_times(config_path, case_account, rounds))
    return {"accounts": accounts, "transitions": transitions, "seed_s": seeded, **result}


def _get(url: str) -> None:
    """GET a console page (its body read, its status 200)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        assert response.status == 200, url


def _settled_pss(pids: list[int], samples: int = 8) -> float:
    """The median PSS (MB) of these processes over a few seconds."""
    values = []
    for _ in range(samples):
        values.append(memory_mb(pids)[0])
        time.sleep(0.25)
    return statistics.median(values)


def memory_delta(url: str, folder: Path, rounds: int, accounts: int = 10) -> dict[str, Any]:
    """PSS of `monitor run` (all its processes) with the console on and off, `rounds` each, interleaved."""
    emails = [user(i) for i in range(21, 21 + accounts)]
    schedule = '[schedule]\ninterval = "1h"\ninterval_while_locked = "1h"'
    measured: dict[str, list[float]] = {"on": [], "off": []}
    python_only: dict[str, list[float]] = {"on": [], "off": []}
    order = [("off", "on") if r % 2 == 0 else ("on", "off") for r in range(rounds)]
    for r, pair in enumerate(order):
        for mode in pair:
            work = folder / f"mem-{mode}-{r}"
            path = bench_config(work, url, emails, schedule)
            web = '\n[web]\nlisten = "127.0.0.1:0"\n' if mode == "on" else "\n[web]\nenabled = false\n"
            text = path.read_text(encoding="utf-8").replace("\n[web]\nenabled = false\n", web)
            path.write_text(text, encoding="utf-8")
            proc = start_daemon(path, work / "daemon.log")
            try:
                wait_for_readings(work / "data" / "monitor.db", accounts, timeout=120)
                if mode == "on":
                    console_url = _console_url(work / "data" / "console.url")
                    for page in ("", f"accounts/u{emails[0][4:8]}", "deliveries", "health", "api/v1/accounts"):
                        _get(console_url + page)
                time.sleep(1)  # let the last check's context close
                measured[mode].append(_settled_pss([proc.pid, *descendants(proc.pid)]))
                python_only[mode].append(_settled_pss([proc.pid], 4))
            finally:
                stop_daemon(proc)
    on, off = statistics.median(measured["on"]), statistics.median(measured["off"])
    py_on, py_off = statistics.median(python_only["on"]), statistics.median(python_only["off"])
    return {
        "accounts": accounts,
        "rounds": rounds,
        "pss_on_mb": measured["on"],
        "pss_off_mb": measured["off"],
        "delta_mb": on - off,
        "python_pss_on_mb": python_only["on"],
        "python_pss_off_mb": python_only["off"],
        "python_delta_mb": py_on - py_off,
    }


def _console_url(path: Path, timeout: float = 30) -> str:
    """The console's address the daemon wrote (it binds port 0), ending in "/"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text(encoding="utf-8").strip()):
            return text if text.endswith("/") else text + "/"
        time.sleep(0.1)
    raise RuntimeError(f"the daemon wrote no {path}")


def console(url: str, folder: Path, quick: bool) -> dict[str, Any]:
    """Both console measurements."""
    times = render(folder, 20 if quick else 300, transitions=2_000 if quick else 10_000)
    mem = memory_delta(url, folder, 1 if quick else 4, accounts=4 if quick else 10)
    return {"render": times, "memory": mem}
