"""What the measurements share: the seeded accounts, their config, the daemon, summaries."""

from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fixtures.config import write_config
from fixtures.run import start_monitor
from monitor import config as configmod
from monitor.browser import BrowserManager
from monitor.coordinator import Coordinator
from monitor.fetch import PlaywrightFetcher
from monitor.files import SessionFiles
from monitor.store import Store

HERE = Path(__file__).parent


def summary(values: list[float]) -> dict[str, float]:
    """Median with min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def user(i: int) -> str:
    """The i-th seeded benchmark account."""
    return f"user{i:04d}@example.test"


def bench_config(folder: Path, url: str, emails: list[str], schedule: str = "", channel: str = "") -> Path:
    """A config for seeded accounts (userNNNN@example.test have password password-NNNN)."""
    accounts = []
    for email in emails:
        n = email[4:8]
        accounts.append(
            {
                "name": f"u{n}",
                "profile": "mock-retailer",
                "base_url": url,
                "username": email,
                "password": {"env": f"BENCH_PW_{n}"},
                "signin_budget": 10,
            }
        )
        os.environ[f"BENCH_PW_{n}"] = f"password-{n}"
    channels = [{"name": "phone", "url": channel}] if channel else []
    return write_config(folder, accounts, channels, f'[browser]\nscreenshots = "changes"\n{schedule}')


@dataclass
class InProcess:
    """What `monitor run` uses for a check, built in this process for a bench config (no daemon around it)."""

    config: configmod.Config
    store: Store
    manager: BrowserManager
    fetcher: PlaywrightFetcher
    coordinator: Coordinator


def in_process(
    folder: Path,
    url: str,
    emails: list[str],
    schedule: str = "",
    channel: str = "",
    recycle_after: int = 100_000,
    clock: Callable[[], float] = time.time,
) -> InProcess:
    """A coordinator with its own store, browser manager (never recycled unless asked: not measured) and fetcher."""
    cfg = configmod.load(bench_config(folder, url, emails, schedule, channel))
    store = Store.open(cfg.data_dir)
    manager = BrowserManager(recycle_after=recycle_after)
    fetcher = PlaywrightFetcher(cfg.browser, SessionFiles(cfg.data_dir / "sessions"), manager)
    return InProcess(cfg, store, manager, fetcher, Coordinator(cfg, store, fetcher, clock=clock))


def svg(width: int, height: int, title: str, body: list[str], note: str) -> str:
    """An SVG picture: white ground, a bold title at the top, `body`'s elements, a grey note at the bottom."""
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
            ' font-family="sans-serif" font-size="13">',
            f'<rect width="{width}" height="{height}" fill="#fff"/>',
            f'<text x="{width // 2}" y="20" font-weight="bold" text-anchor="middle">{title}</text>',
            *body,
            f'<text x="10" y="{height - 12}" fill="#555" font-size="11">{note}</text>',
            "</svg>",
            "",
        ]
    )


def write_svg(path: Path, text: str) -> None:
    """Write a picture made by `svg` (docs/img is created if missing)."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")


def start_daemon(config: Path, log: Path) -> subprocess.Popen[str]:
    """`monitor run` as a subprocess, as a user runs it."""
    with open(log, "ab") as fh:
        return start_monitor(config, "run", stdout=fh, stderr=fh)


def stop_daemon(proc: subprocess.Popen[str]) -> None:
    """SIGTERM and wait."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def readings(db: Path) -> int:
    """Checks the daemon has recorded."""
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
    except sqlite3.Error:
        return 0


def wait_for_readings(db: Path, count: int, timeout: float = 30) -> None:
    """Until the daemon has recorded `count` checks (its first cycle), or `timeout` s."""
    deadline = time.monotonic() + timeout
    while readings(db) < count and time.monotonic() < deadline:
        time.sleep(0.2)
