"""Scale: one full cycle of warm checks of many accounts at each concurrency level, wall time and CPU."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.common import in_process, user
from fixtures.procs import descendants, read

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of these processes, including their reaped children."""
    total = 0
    for pid in pids:
        try:
            f = read(pid, "stat").decode().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        except (IndexError, ValueError):
            continue
    return total / TICK


async def scale(url: str, folder: Path, accounts: int, levels: list[int]) -> dict[str, Any]:
    """One full cycle of `accounts` warm checks at each concurrency level."""
    emails = [user(i) for i in range(1, accounts + 1)]
    rig = in_process(folder / "scale", url, emails)
    cfg, store, manager, coordinator = rig.config, rig.store, rig.manager, rig.coordinator
    names = [a.name for a in cfg.accounts]

    async def cycle(concurrency: int) -> float:
        queue = list(names)

        async def worker() -> None:
            while queue:
                await coordinator.check(queue.pop())

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0

    await cycle(4)  # sign every account in once; the measured cycles reuse the sessions
    me = os.getpid()
    out: dict[str, Any] = {}
    for level in levels:
        cpu0 = cpu_seconds([me, *descendants(me)])
        wall = await cycle(level)
        cpu = cpu_seconds([me, *descendants(me)]) - cpu0
        out[f"c{level}"] = {"wall_s": wall, "checks_per_s": accounts / wall, "cpu_s_per_check": cpu / accounts}
    problems = store.conn.execute("SELECT COUNT(*) FROM readings WHERE problem IS NOT NULL").fetchone()[0]
    out["problems"] = problems
    await coordinator.close()
    await manager.close()
    store.close()
    return out
