"""The console: server time of the overview and a case page on a big store, and the daemon's memory with it on.

Render: 200 accounts with 10,000 transitions (a reading each) written into a real Store file through
its Tx API; the real app on aiohttp's test server; a middleware outside the app's own times each
request from its arrival to its response (auth, the store's queries, the case, the template).
Memory: PSS of a real `monitor run` and all its processes with the console on minus off, the same
accounts, rounds interleaved, measured after the first checks (and after the console served its pages),
compared kind by kind of process (the daemon, Playwright's driver, Chromium).
"""

from __future__ import annotations

import asyncio
import os
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
from fixtures.procs import descendants, processes
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
SETTLE_S = 5.0  # after the first checks, before memory is sampled
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
    cpu: dict[str, list[float]] = {}

    @web.middleware
    async def timed(request: web.Request, handler: Any) -> web.StreamResponse:
        started, cpu_started = time.perf_counter(), time.thread_time()
        response = await handler(request)
        spent.setdefault(request.path, []).append((time.perf_counter() - started) * 1000)
        # The loop's CPU for the request alone (the client waits meanwhile): what the load cannot inflate.
        cpu.setdefault(request.path, []).append((time.thread_time() - cpu_started) * 1000)
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
        cpu_times = cpu[path][1:]
        result[page] = {
            "first_ms": first,
            "p50_ms": statistics.median(times),
            "p95_ms": percentile(times, 95),
            "max_ms": max(times),
            "cpu_p50_ms": statistics.median(cpu_times),
            "cpu_p95_ms": percentile(cpu_times, 95),
        }
    return result


def render(folder: Path, rounds: int, accounts: int = 200, transitions: int = 10_000) -> dict[str, Any]:
    """Seed a store and time the overview and the case page on it."""
    started = time.monotonic()
    config_path, case_account = seed(folder / "render", accounts, transitions, time.time())
    seeded = time.monotonic() - started
    before = os.getloadavg()[0]
    result = asyncio.run(_render_times(config_path, case_account, rounds))
    # The machine's 1-minute load before and after: server time on a shared machine depends on it.
    load = [round(before, 2), round(os.getloadavg()[0], 2)]
    return {"accounts": accounts, "transitions": transitions, "seed_s": seeded, "load_avg": load, **result}


def _get(url: str) -> None:
    """GET a console page (its body read, its status 200)."""
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        assert response.status == 200, url


KINDS = ("python", "driver", "chromium")  # the daemon itself, Playwright's Node driver, the browser's processes


def _kinds(root: int) -> dict[str, list[int]]:
    """The daemon's process tree by kind."""
    by_comm = {p.pid: p.comm for p in processes()}
    tree: dict[str, list[int]] = {"python": [root], "driver": [], "chromium": []}
    for pid in descendants(root):
        tree["driver" if by_comm.get(pid, "").startswith("node") else "chromium"].append(pid)  # "node-MainThread"
    return tree


def _settled_pss(tree: dict[str, list[int]], samples: int = 8) -> dict[str, float]:
    """Each kind's median PSS (MB) over two seconds."""
    values: dict[str, list[float]] = {kind: [] for kind in tree}
    for _ in range(samples):
        for kind, pids in tree.items():
            values[kind].append(memory_mb(pids)[0])
        time.sleep(0.25)
    return {kind: statistics.median(v) for kind, v in values.items()}


def memory_delta(url: str, folder: Path, rounds: int, accounts: int = 10) -> dict[str, Any]:
    """PSS of `monitor run` (all its processes) with the console on and off, `rounds` each, interleaved.

    Each kind of process is compared by its median over the rounds; the console's cost is the sum of
    the three differences. The daemon's own process carries the console; the driver's and Chromium's
    figures move by tens of MB from one run to the next whatever the console does (garbage collection),
    and the median of each over several rounds keeps that out of the sum as far as it can.
    """
    emails = [user(i) for i in range(21, 21 + accounts)]
    schedule = '[schedule]\ninterval = "1h"\ninterval_while_locked = "1h"'
    measured: dict[str, dict[str, list[float]]] = {m: {k: [] for k in KINDS} for m in ("on", "off")}
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
                checked = time.monotonic()
                if mode == "on":
                    console_url = _console_url(work / "data" / "console.url")
                    for page in ("", f"accounts/u{emails[0][4:8]}", "deliveries", "health", "api/v1/accounts"):
                        _get(console_url + page)
                # The same pause in both modes: the last checks' contexts close and their renderers exit.
                time.sleep(max(0.0, checked + SETTLE_S - time.monotonic()))
                for kind, mb in _settled_pss(_kinds(proc.pid)).items():
                    measured[mode][kind].append(mb)
            finally:
                stop_daemon(proc)
    delta = {k: statistics.median(measured["on"][k]) - statistics.median(measured["off"][k]) for k in KINDS}
    return {
        "accounts": accounts,
        "rounds": rounds,
        "pss_mb": {m: {k: [round(v, 1) for v in measured[m][k]] for k in KINDS} for m in ("on", "off")},
        "delta_by_kind_mb": delta,
        "delta_mb": sum(delta.values()),
        "python_delta_mb": delta["python"],
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
    mem = memory_delta(url, folder, 1 if quick else 6, accounts=4 if quick else 10)
    return {"render": times, "memory": mem}
