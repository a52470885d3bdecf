"""A warm check through `playwright run-server` on loopback against one with a locally launched Chromium.

Both run the same system Chromium on this machine, in interleaved rounds (each round runs both, in a
rotating order) so that drift on a shared machine falls on both alike. Per check: wall time, CPU of
the monitor's own processes (Python and Playwright's driver, plus Chromium when it is local) and CPU
of the server's processes (its Node process and the Chromium it launched); the sum is what the check
costs in all, the monitor's part what its host pays once the browsers run elsewhere. Also the
monitor's memory (PSS) with its browser up, local or remote.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import bench_config, in_process, summary, user
from bench.heavy import user_name
from bench.memory import memory_mb
from bench.scale import cpu_seconds
from fixtures.browser_server import PlaywrightServer
from fixtures.procs import descendants
from monitor import config as configmod
from monitor.browser import BrowserManager
from monitor.coordinator import Coordinator
from monitor.fetch import PlaywrightFetcher
from monitor.files import SessionFiles
from monitor.store import Store

MODES = ("local", "remote")


async def remote_browser(
    url: str, folder: Path, rounds: int, per_round: int, retailer_pid: int | None
) -> dict[str, Any]:
    """Per-check wall and CPU (monitor, server) for a local and a remote browser, `rounds` x `per_round` each."""
    server = PlaywrightServer(folder / "server", "/bench").start()
    rig = in_process(folder / "local", url, [user(1)])
    local = rig.coordinator
    cfg = configmod.load(bench_config(folder / "remote", url, [user(2)]))
    remote_store = Store.open(cfg.data_dir)
    manager = BrowserManager(recycle_after=100_000, connect=server.url)
    fetcher = PlaywrightFetcher(cfg.browser, SessionFiles(cfg.data_dir / "sessions"), manager)
    remote = Coordinator(cfg, remote_store, fetcher)
    coordinators = {"local": (local, user_name(user(1))), "remote": (remote, user_name(user(2)))}
    me = os.getpid()

    def trees() -> tuple[list[int], list[int]]:
        # The monitor's processes and the server's: both are our children here, the retailer too.
        assert server.proc is not None
        theirs = {server.proc.pid, *descendants(server.proc.pid)}
        skip = theirs | ({retailer_pid, *descendants(retailer_pid)} if retailer_pid else set())
        return [p for p in [me, *descendants(me)] if p not in skip], sorted(theirs)

    samples: dict[str, dict[str, list[float]]] = {
        m: {"wall_s": [], "monitor_cpu_s": [], "server_cpu_s": []} for m in MODES
    }
    memory: dict[str, float] = {}
    try:
        for mode in MODES:  # sign in once, then warm up each path
            coordinator, name = coordinators[mode]
            first = await coordinator.check(name)
            assert first.status is not None, first  # signed in here, or by the rig already
            for _ in range(3):
                await coordinator.check(name)
        for r in range(rounds):
            for mode in MODES[r % 2 :] + MODES[: r % 2]:
                coordinator, name = coordinators[mode]
                mine, theirs = trees()
                cpu0, server0, t0 = cpu_seconds(mine), cpu_seconds(theirs), time.perf_counter()
                for _ in range(per_round):
                    reading = await coordinator.check(name)
                    assert reading.status is not None and not reading.signed_in, reading
                wall = time.perf_counter() - t0
                mine, theirs = trees()
                s = samples[mode]
                s["wall_s"].append(wall / per_round)
                s["monitor_cpu_s"].append((cpu_seconds(mine) - cpu0) / per_round)
                s["server_cpu_s"].append((cpu_seconds(theirs) - server0) / per_round)
        # The monitor's footprint with its browser up: a local one holds Chromium, a remote one only the driver.
        await manager.close()
        memory["local_mb"] = memory_mb(trees()[0])[0]
        await rig.manager.close()
        await remote.check(coordinators["remote"][1])
        memory["remote_mb"] = memory_mb(trees()[0])[0]
    finally:
        await rig.manager.close()
        await manager.close()
        rig.store.close()
        remote_store.close()
        server.kill()
    result: dict[str, Any] = {"rounds": rounds, "per_round": per_round, "memory_mb": memory}
    for mode in MODES:
        s = samples[mode]
        total = [a + b for a, b in zip(s["monitor_cpu_s"], s["server_cpu_s"], strict=True)]
        result[mode] = {key: summary(values) for key, values in s.items()} | {"cpu_s": summary(total)}
    med = {m: result[m]["cpu_s"]["median"] for m in MODES}
    result["remote_browser_over_local"] = med["remote"] / med["local"]
    result["remote_wall_over_local"] = result["remote"]["wall_s"]["median"] / result["local"]["wall_s"]["median"]
    result["monitor_cpu_share_remote"] = statistics.median(samples["remote"]["monitor_cpu_s"]) / med["remote"]
    return result


def keys(result: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys of results.json."""
    return {
        "remote_browser_over_local": result["remote_browser_over_local"],
        "remote_browser_monitor_cpu_s": result["remote"]["monitor_cpu_s"]["median"],
    }


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The remote browser's rows for the results table."""
    d = r["detail"]["remote_browser"]

    def ms(x: dict[str, float]) -> str:
        return f"{x['median'] * 1000:.0f} ms"

    loc, rem = d["local"], d["remote"]
    n = d["rounds"] * d["per_round"]
    return [
        (
            "warm check through playwright run-server (loopback) / local Chromium, CPU",
            f"{r['remote_browser_over_local']:.2f}x (remote {ms(rem['cpu_s'])} = monitor {ms(rem['monitor_cpu_s'])}"
            f" + server {ms(rem['server_cpu_s'])}; local {ms(loc['cpu_s'])}; wall {ms(rem['wall_s'])} vs"
            f" {ms(loc['wall_s'])}; n={n} each)",
            "reported",
            "",
        ),
        (
            "monitor PSS with its browser up: local Chromium vs remote",
            f"{d['memory_mb']['local_mb']:.0f} MB vs {d['memory_mb']['remote_mb']:.0f} MB",
            "reported",
            "",
        ),
    ]
