"""Warm check against the floor (interleaved), and a cold check (new browser, sign-in) against a warm one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import in_process, summary, user
from bench.floor import bare_read
from monitor.browser import BrowserManager
from monitor.coordinator import Coordinator
from monitor.fetch import PlaywrightFetcher
from monitor.files import SessionFiles


async def warm_cold(url: str, folder: Path, iterations: int) -> dict[str, Any]:
    """Warm check vs a bare navigation + text read (interleaved), and cold vs warm."""
    rig = in_process(folder / "warm", url, [user(1)])
    cfg, store, manager, coordinator = rig.config, rig.store, rig.manager, rig.coordinator
    first = await coordinator.check("u0001")
    assert first.status is not None and first.signed_in, first
    session = SessionFiles(cfg.data_dir / "sessions").load("u0001")
    warm, floor = [], []
    for _ in range(3):  # warm up both paths before measuring
        await coordinator.check("u0001")
    for _ in range(iterations):
        t0 = time.perf_counter()
        reading = await coordinator.check("u0001")
        warm.append(time.perf_counter() - t0)
        assert reading.status is not None and not reading.signed_in, reading
        floor.append(await bare_read(manager, session, url))
    await coordinator.close()
    await manager.close()
    cold = []
    for _ in range(max(3, iterations // 6)):
        SessionFiles(cfg.data_dir / "sessions").forget("u0001")
        fresh = BrowserManager()
        cold_coord = Coordinator(
            cfg, store, PlaywrightFetcher(cfg.browser, SessionFiles(cfg.data_dir / "sessions"), fresh)
        )
        t0 = time.perf_counter()
        reading = await cold_coord.check("u0001")
        cold.append(time.perf_counter() - t0)
        assert reading.signed_in, reading
        await fresh.close()
        store.reset_budget("u0001")  # the budget is not what is measured here
    store.close()
    w, f, c = summary(warm), summary(floor), summary(cold)
    return {
        "warm_s": w,
        "floor_s": f,
        "cold_s": c,
        "warm_over_floor": w["median"] / f["median"],
        "cold_over_warm": c["median"] / w["median"],
    }
