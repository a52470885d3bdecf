"""Soak: many warm checks of one account in one process, with retention running, and what it holds over time.

The in-process rig (real Chromium, real SQLite, the real coordinator and notifier) checks one account
against the mock retailer. A simulated clock moves one scheduled interval per check (15 minutes, 5
while the account is locked or under review), so `retention_days` and the 6-hourly retention the daemon
runs really remove old readings, screenshots, transitions and alerts during the run. Every 100 checks
the account is locked, then put under review, then restored (fixtures.control), so each cycle writes
transitions, screenshots and three alerts. The alerts go to a channel that refuses them (nothing
listens on 127.0.0.1:9): they retry with backoff until `outbox_max_age` gives them up, so pending,
given-up rows and delivery attempts keep being written. The browser is recycled every 200 checks as
in the daemon (`recycle_after`), and the relaunches are counted.

Every `every` checks a sample: PSS of every process (Python, the driver, Chromium and its children),
open file descriptors and OS threads of this process, child processes, database and WAL size, the
screenshot directory's size; the PSS also by kind of process (bench.memory.by_kind: Python, the
driver, Chromium's browser, renderer, GPU, utility and zygote processes) and their anonymous
memory (what they allocated, which other programs mapping the same binaries do not move).
`soak_drift_pct` compares the PSS median of the last 20% of the samples with that of the first 10%
(taken after the first `every` checks, so sign-in and first launch are warm-up), in percent.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import HERE, in_process, svg, user, write_svg
from bench.heavy import user_name
from bench.memory import KINDS, anonymous_mb, by_kind, memory_mb
from fixtures.control import Control
from fixtures.procs import descendants, read
from monitor.notify import Notifier

PLOT = HERE.parent / "docs" / "img" / "soak-memory.svg"
START = 1_800_000_000.0  # the simulated clock's start (2027-01-15)
RETENTION_EVERY_S = 6 * 3600.0  # as the daemon's periodic retention
CYCLE = (("locked", 60), ("under_review", 75), ("active", 90))  # (state, at this check of every 100)
REFUSED = "json://127.0.0.1:9/soak"  # nothing listens: every delivery fails and is retried


class SimClock:
    """Wall time the soak moves by hand: one scheduled interval per check."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def status_line(pid: int, key: str) -> int:
    """A number from /proc/PID/status (e.g. "Threads")."""
    for line in read(pid, "status").decode().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


async def soak(url: str, folder: Path, checks: int, every: int, retailer_pid: int | None) -> dict[str, Any]:
    """`checks` warm checks with the state flipping and retention running; a sample every `every` checks."""
    email = user(25)
    name = user_name(email)
    control = Control(url)
    clock = SimClock(START)
    # The quick run covers under two simulated days: shorter periods let retention and give-up happen there too.
    days, max_age = (7, "48h") if checks > 1000 else (1, "12h")
    schedule = f'[schedule]\nretention_days = {days}\noutbox_max_age = "{max_age}"\n'
    schedule += "keep_transitions = 50\nkeep_deliveries = 50\n"
    rig = in_process(folder / "soak", url, [email], schedule, REFUSED, recycle_after=200, clock=clock)
    store, manager, coordinator = rig.store, rig.manager, rig.coordinator
    notifier = Notifier(rig.config, store, clock=clock)
    account = rig.config.accounts[0]
    shots = rig.config.data_dir / "screenshots"
    me = os.getpid()
    theirs = {retailer_pid, *descendants(retailer_pid)} if retailer_pid else set()
    samples: list[dict[str, Any]] = []
    problems = signins = 0
    next_retention = START + 300  # the daemon's first retention is 5 minutes after its start
    started = time.monotonic()
    try:
        for done in range(1, checks + 1):
            for state, at in CYCLE:
                if done % 100 == at:
                    control.patch(email, state=state)
            reading = await coordinator.check(name)
            problems += reading.problem is not None
            signins += reading.signed_in
            if reading.screenshot:  # written now, but by the simulated clock it is as old as its reading
                os.utime(reading.screenshot, (clock.now, clock.now))
            await notifier.drain(timeout=30)
            clock.now += coordinator.interval(account)
            if clock.now >= next_retention:
                coordinator.retention()
                next_retention += RETENTION_EVERY_S
            if done % every == 0:
                tree = [p for p in [me, *descendants(me)] if p not in theirs]
                db, wal, free = store.file_sizes()
                samples.append(
                    {
                        "checks": done,
                        "pss_mb": round(memory_mb(tree)[0], 1),
                        "pss_by_kind_mb": by_kind(me, tree),  # which process grows, if one does
                        "anon_mb": round(anonymous_mb(tree), 1),  # allocated: not moved by other programs
                        "fds": len(os.listdir("/proc/self/fd")),
                        "threads": status_line(me, "Threads"),
                        "children": len(tree) - 1,
                        "db_kb": round(db / 1024),
                        "wal_kb": round(wal / 1024),
                        "db_free_kb": round(free / 1024),
                        "screenshots_kb": round(folder_bytes(shots) / 1024),
                        "relaunches": max(manager.launches - 1, 0),
                        "elapsed_s": round(time.monotonic() - started, 1),
                    }
                )
                print(f"soak {samples[-1]}", file=sys.stderr, flush=True)
        rows = {"readings": len(store.readings(name, 1_000_000))}
        rows["transitions"] = len(store.transitions(name, 1_000_000))
        rows |= {f"outbox_{k}": v for k, v in store.outbox_counts().items()}
    finally:
        control.patch(email, state="active")
        await coordinator.close()
        await manager.close()
        store.close()
    return summarise(samples, checks, every) | {
        "problems": problems,
        "signins": signins,
        "retention_days": days,
        "simulated_days": round((clock.now - START) / 86400, 1),
        "rows_at_end": rows,
        "wall_s": round(time.monotonic() - started, 1),
    }


def summarise(samples: list[dict[str, Any]], checks: int, every: int) -> dict[str, Any]:
    """The drift and the first/last/max figures of the samples."""
    early = samples[: max(1, len(samples) // 10)]
    late = samples[-max(1, len(samples) // 5) :]
    first = statistics.median(s["pss_mb"] for s in early)
    last = statistics.median(s["pss_mb"] for s in late)
    return {
        "checks": checks,
        "every": every,
        "soak_drift_pct": round((last - first) / first * 100, 1),
        "pss_early_mb": first,
        "pss_late_mb": last,
        "pss_max_mb": max(s["pss_mb"] for s in samples),
        "anon_early_mb": statistics.median(s["anon_mb"] for s in early),
        "anon_late_mb": statistics.median(s["anon_mb"] for s in late),
        "fds": [samples[0]["fds"], samples[-1]["fds"]],
        "threads": [samples[0]["threads"], samples[-1]["threads"]],
        "children": [samples[0]["children"], samples[-1]["children"]],
        "db_max_kb": max(s["db_kb"] + s["wal_kb"] for s in samples),  # the file and its WAL
        "screenshots_max_kb": max(s["screenshots_kb"] for s in samples),
        "relaunches": samples[-1]["relaunches"],
        # The same medians by kind of process: where a drift is
        "pss_early_by_kind_mb": {k: statistics.median(s["pss_by_kind_mb"][k] for s in early) for k in KINDS},
        "pss_late_by_kind_mb": {k: statistics.median(s["pss_by_kind_mb"][k] for s in late) for k in KINDS},
        "samples": samples,
    }


def keys(result: dict[str, Any]) -> dict[str, Any]:
    """The top-level results.json keys of the soak."""
    return {
        "soak_drift_pct": result["soak_drift_pct"],
        "soak_checks": result["checks"],
        # [checks, PSS MB, database + WAL KB] per sample
        "soak_samples": [[s["checks"], s["pss_mb"], s["db_kb"] + s["wal_kb"]] for s in result["samples"]],
    }


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows for bench's Markdown table (none when the results have no soak)."""
    if "soak_drift_pct" not in r:
        return []
    s = r["detail"]["soak"]
    drift = r["soak_drift_pct"]
    pss = f"{drift:+.1f}% ({s['pss_early_mb']:.0f} -> {s['pss_late_mb']:.0f} MB PSS over {s['checks']:,} checks)"
    flat = (
        f"fds {s['fds'][0]} -> {s['fds'][1]}, threads {s['threads'][0]} -> {s['threads'][1]},"
        f" child processes {s['children'][0]} -> {s['children'][1]}"
    )
    size = (
        f"database {s['db_max_kb'] / 1024:.1f} MB max, screenshots {s['screenshots_max_kb'] / 1024:.1f} MB max"
        f" ({s['simulated_days']:g} simulated days, retention {s['retention_days']:g} days)"
    )
    rows = [("soak: memory drift after warm-up (PSS)", pss, "<= 5%", "met" if drift <= 5 else "**missed**")]
    if "pss_early_by_kind_mb" in s:  # runs before the breakdown have only the total
        early, late = s["pss_early_by_kind_mb"], s["pss_late_by_kind_mb"]
        order = sorted(KINDS, key=lambda k: -abs(late[k] - early[k]))
        change = ", ".join(f"{k} {early[k]:.0f} -> {late[k]:.0f}" for k in order if max(early[k], late[k]) >= 0.5)
        rows.append(("  by kind of process (MB PSS, early -> late, biggest change first)", change, "", ""))
    return [
        *rows,
        ("soak: open files, threads, processes (first -> last)", flat, "flat", ""),
        ("soak: disk", size, "bounded", ""),
        ("soak: browser relaunches (recycle every 200 checks)", str(s["relaunches"]), "reported", ""),
    ]


def plot(result: dict[str, Any], path: Path = PLOT) -> None:
    """Two line charts (SVG): PSS of all processes and by kind by checks done, and the database and screenshot sizes."""
    samples = result["samples"]
    w, left, width = 640, 70, 550
    top_checks = samples[-1]["checks"]

    def x(checks: int) -> float:
        return left + checks / top_checks * width

    def panel(y0: int, h: int, label: str, lines: list[tuple[str, str, list[float]]]) -> list[str]:
        high = max(max(v) for _, _, v in lines) * 1.1 or 1
        out = [
            f'<line x1="{left}" y1="{y0}" x2="{left}" y2="{y0 + h}" stroke="#444"/>',
            f'<line x1="{left}" y1="{y0 + h}" x2="{left + width}" y2="{y0 + h}" stroke="#444"/>',
            f'<text x="{left - 6}" y="{y0 + 4}" text-anchor="end" font-size="11">{high:.0f}</text>',
            f'<text x="{left - 6}" y="{y0 + h}" text-anchor="end" font-size="11">0</text>',
            f'<text x="{left + 6}" y="{y0 + 12}" font-size="12">{label}</text>',
        ]
        for i, (name, colour, values) in enumerate(lines):
            points = " ".join(
                f"{x(s['checks']):.1f},{y0 + h - v / high * h:.1f}" for s, v in zip(samples, values, strict=True)
            )
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
            out.append(f'<text x="{left + width - 4}" y="{y0 + 14 + 14 * i}" text-anchor="end" fill="{colour}"'
                       f' font-size="12">{name}</text>')  # fmt: skip
        return out

    lines = [("all", "#4a7bb7", [s["pss_mb"] for s in samples])]
    if "pss_by_kind_mb" in samples[0]:  # each kind that holds 5 MB or more at some sample
        colours = iter(("#b7614a", "#5a9e5a", "#9b59b6", "#c9a227", "#4aa3b7", "#888888", "#d35f9a", "#333333"))
        for k in KINDS:
            values = [s["pss_by_kind_mb"][k] for s in samples]
            if max(values) >= 5:
                lines.append((k, next(colours), values))
    if "anon_mb" in samples[0]:
        lines.insert(1, ("all, anonymous", "#7fa7d9", [s["anon_mb"] for s in samples]))
    body = panel(40, 200, "PSS by kind of process (MB)", lines)
    body += panel(
        280,
        110,
        "disk (MB)",
        [
            ("database + WAL", "#b7614a", [(s["db_kb"] + s["wal_kb"]) / 1024 for s in samples]),
            ("screenshots", "#5a9e5a", [s["screenshots_kb"] / 1024 for s in samples]),
        ],
    )
    body += [
        f'<text x="{x(c):.1f}" y="406" text-anchor="middle" font-size="11">{c:,}</text>'
        for c in (0, top_checks // 2, top_checks)
    ]
    body.append(f'<text x="{left + width / 2}" y="422" text-anchor="middle" font-size="12">checks</text>')
    note = (
        f"one account, a sample every {result['every']} checks; browser recycled every 200 checks;"
        f" drift {result['soak_drift_pct']:+.1f}% (last 20% vs first 10% of samples)"
    )
    write_svg(path, svg(w, 460, "Soak: memory and disk over the checks", body, note))
