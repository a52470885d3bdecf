"""What the daemon holds between checks at default settings, and the cold start each round pays for it."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import bench_config, in_process, readings, start_daemon, stop_daemon, user, wait_for_readings
from bench.memory import by_kind
from bench.scale import cpu_seconds
from fixtures.procs import descendants

IDLE_AFTER_S = 30.0  # idle_mb is the daemon's PSS this long after its last check
ACCOUNTS = 3  # a small box: a few accounts every 15 minutes (the default interval)


def idle(url: str, folder: Path) -> dict[str, Any]:
    """PSS of a daemon's process tree (default [schedule] and [browser]) each second after its first round."""
    emails = [user(i) for i in range(21, 21 + ACCOUNTS)]
    cfg_path = bench_config(folder / "idle", url, emails)  # default interval and keep_warm
    db = folder / "idle" / "data" / "monitor.db"
    proc = start_daemon(cfg_path, folder / "idle" / "daemon.log")
    timeline: list[tuple[float, float]] = []
    try:
        wait_for_readings(db, ACCOUNTS, timeout=120)  # first checks fall within 5 s of the start
        assert readings(db) >= ACCOUNTS, "the daemon did not check every account"
        last = time.monotonic()  # within 0.2 s of the last check's end; the next round is 15 minutes away
        warm = by_kind(proc.pid)
        while (since := time.monotonic() - last) < IDLE_AFTER_S:
            timeline.append((round(since, 1), round(sum(by_kind(proc.pid).values()), 1)))
            time.sleep(1.0)
        at_idle = by_kind(proc.pid)
        left = len(descendants(proc.pid))
    finally:
        stop_daemon(proc)
    return {
        "accounts": ACCOUNTS,
        "idle_mb": round(sum(at_idle.values()), 1),
        "idle_by_kind_mb": at_idle,
        "processes_at_idle": 1 + left,
        "warm_mb": round(sum(warm.values()), 1),  # just after the last check, the browser still up
        "warm_by_kind_mb": warm,
        "pss_after_last_check": timeline,  # (seconds since the last check, MB): the drop is keep_warm closing
    }


async def cold_rounds(url: str, folder: Path, rounds: int) -> dict[str, Any]:
    """Per round: a check that starts the driver and Chromium, a warm one, then close_idle (as keep_warm does)."""
    rig = in_process(folder / "rounds", url, [user(24)])
    store, manager, fetcher, coordinator = rig.store, rig.manager, rig.fetcher, rig.coordinator
    me = os.getpid()
    first = await coordinator.check("u0024")  # signs in once; every round below reuses the session
    assert first.status is not None, first
    await manager.close_idle()
    per_round: list[dict[str, float]] = []
    try:
        for _ in range(rounds):
            cpu0, t0 = cpu_seconds([me, *descendants(me)]), time.perf_counter()
            cold = await coordinator.check("u0024")
            cpu1, t1 = cpu_seconds([me, *descendants(me)]), time.perf_counter()
            warm = await coordinator.check("u0024")
            cpu2, t2 = cpu_seconds([me, *descendants(me)]), time.perf_counter()
            await manager.close_idle()
            cpu3, t3 = cpu_seconds([me, *descendants(me)]), time.perf_counter()  # the closed ones reaped: counted
            assert cold.status is not None and warm.status is not None and not cold.signed_in, (cold, warm)
            per_round.append(
                {
                    "cold_check_s": round(t1 - t0, 3),
                    "warm_check_s": round(t2 - t1, 3),
                    "close_s": round(t3 - t2, 3),
                    "cold_start_wall_s": round((t1 - t0) - (t2 - t1) + (t3 - t2), 3),
                    "cold_start_cpu_s": round((cpu1 - cpu0) - (cpu2 - cpu1) + (cpu3 - cpu2), 3),
                }
            )
    finally:
        await fetcher.close()
        store.close()
    return {
        "rounds": per_round,
        "cold_start_wall_s": statistics.median(r["cold_start_wall_s"] for r in per_round),
        "cold_start_cpu_s": statistics.median(r["cold_start_cpu_s"] for r in per_round),
        "cold_starts": manager.cold_starts,
    }
