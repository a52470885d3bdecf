"""Memory of a running daemon and its Chromium over many checks (growth and peak), and sign-ins per check."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import bench_config, readings, start_daemon, stop_daemon, user, wait_for_readings
from fixtures.control import Control
from fixtures.procs import descendants, read


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(PSS, RSS) of these processes in MB. PSS shares each shared page among its users, so the sum is
    the tree's real footprint; summed RSS counts Chromium's shared libraries once per process."""
    pss = rss = 0
    for pid in pids:
        for line in read(pid, "smaps_rollup").decode().splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1]) * 1024
            elif line.startswith("Rss:"):
                rss += int(line.split()[1]) * 1024
    return pss / 1e6, rss / 1e6


def anonymous_mb(pids: list[int]) -> float:
    """Anonymous memory (MB) of these processes (heaps, stacks, JIT): what they allocated."""
    # PSS and USS also move when other programs on the machine map the same binaries (their pages become
    # shared, or stop being shared); this does not, so a leak shows here and the machine's other work does not.
    anon = 0
    for pid in pids:
        for line in read(pid, "smaps_rollup").decode().splitlines():
            if line.startswith("Anonymous:"):
                anon += int(line.split()[1]) * 1024
    return anon / 1e6


KINDS = ("python", "driver", "browser_main", "renderer", "zygote", "gpu", "utility", "other")
CHROMIUM_TYPES = {"renderer": "renderer", "zygote": "zygote", "gpu-process": "gpu", "utility": "utility"}


def kind(pid: int, daemon: int) -> str:
    """What a process of the daemon's tree is: the daemon, Playwright's node driver, or which Chromium process."""
    if pid == daemon:
        return "python"
    cmdline = read(pid, "cmdline")
    if cmdline.split(b"\0")[0].endswith(b"node") or b"run-driver" in cmdline:
        return "driver"
    # Chromium's zygote children rewrite their command line into one space-separated string: search it.
    found = re.search(rb"--type=([a-z-]+)", cmdline)
    if found is None:
        return "browser_main" if b"chrom" in cmdline.split(b"\0")[0] else "other"
    return CHROMIUM_TYPES.get(found.group(1).decode(), "other")


def by_kind(daemon: int, pids: list[int] | None = None) -> dict[str, float]:
    """PSS (MB) of the daemon's tree (or of these processes of it) by kind of process."""
    out = dict.fromkeys(KINDS, 0.0)
    for pid in [daemon, *descendants(daemon)] if pids is None else pids:
        out[kind(pid, daemon)] += memory_mb([pid])[0]
    return {k: round(v, 1) for k, v in out.items()}


def memory(url: str, folder: Path, checks: int) -> dict[str, Any]:
    """Memory of the daemon and its browser processes across `checks` checks of 10 accounts; sign-ins counted."""
    emails = [user(i) for i in range(11, 21)]
    schedule = '[schedule]\ninterval = "0.5s"\ninterval_while_locked = "0.5s"\njitter = 0.1\nmax_concurrency = 2'
    cfg_path = bench_config(folder / "memory", url, emails, schedule)
    db = folder / "memory" / "data" / "monitor.db"
    control = Control(url, timeout=30)
    proc = start_daemon(cfg_path, folder / "memory" / "daemon.log")
    samples: list[tuple[int, float, float]] = []
    kinds: list[dict[str, float]] = []  # PSS by kind of process, one per sample
    try:
        wait_for_readings(db, len(emails))  # first cycle: the sign-ins
        base_checks, base_signins = readings(db), control.signins()
        deadline = time.monotonic() + max(120, checks * 0.6)
        while time.monotonic() < deadline:
            done = readings(db) - base_checks
            pss, rss = memory_mb([proc.pid, *descendants(proc.pid)])
            samples.append((done, pss, rss))
            kinds.append(by_kind(proc.pid))
            if done >= checks:
                break
            time.sleep(0.25)
        total = readings(db) - base_checks
        extra_signins = control.signins() - base_signins
    finally:
        stop_daemon(proc)
    tenth = max(1, len(samples) // 10)
    peak = max(range(len(samples)), key=lambda i: samples[i][1])
    first = statistics.median(s[1] for s in samples[:tenth])
    last = statistics.median(s[1] for s in samples[-tenth:])
    return {
        "checks": total,
        "samples": len(samples),
        "pss_first_tenth_mb": first,
        "pss_last_tenth_mb": last,
        "rss_growth_pct": (last - first) / first * 100,
        "rss_peak_mb": max(s[1] for s in samples),
        "summed_rss_peak_mb": max(s[2] for s in samples),
        # Where the memory goes: by kind of process at the peak sample (measured apart, so the sum can
        # differ a little from rss_peak_mb), the median of each kind over the run, and each kind's own peak
        "peak_by_kind_mb": kinds[peak],
        "median_by_kind_mb": {k: round(statistics.median(s[k] for s in kinds), 1) for k in KINDS},
        "max_by_kind_mb": {k: max(s[k] for s in kinds) for k in KINDS},
        # PSS (MB) by checks done, every tenth of the run: shows a leak as a slope, a recycle as a dip
        "pss_by_checks": [[samples[i][0], round(samples[i][1])] for i in range(0, len(samples), tenth)],
        "signins_per_1000": extra_signins / max(total, 1) * 1000,
    }
