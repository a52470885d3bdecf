"""python -m bench [--quick]: what a check costs, how it scales, how fast an alert arrives.

Starts the mock retailer itself (a subprocess, so it does not share our CPU accounting), runs each
measurement side by side in one run, prints a table and writes bench/results.json. Nothing here is
asserted: the figures are reported against their targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.alert import time_to_alert
from bench.common import HERE
from bench.console import console
from bench.generic import generic
from bench.generic import keys as generic_keys
from bench.generic import table_rows as generic_rows
from bench.heavy import heavy
from bench.heavy import keys as heavy_keys
from bench.heavy import plot as heavy_plot
from bench.heavy import table_rows as heavy_rows
from bench.idle import cold_rounds, idle
from bench.memory import memory
from bench.remote import keys as remote_keys
from bench.remote import remote
from bench.remote import rows as remote_rows
from bench.remote_browser import keys as remote_browser_keys
from bench.remote_browser import remote_browser
from bench.remote_browser import table_rows as remote_browser_rows
from bench.scale import scale
from bench.soak import PLOT as SOAK_PLOT
from bench.soak import keys as soak_keys
from bench.soak import plot as soak_plot
from bench.soak import soak
from bench.soak import table_rows as soak_rows
from bench.warm_cold import warm_cold

PAGE = os.sysconf("SC_PAGE_SIZE")
MEASURES = (
    "warm_cold", "scale", "memory", "idle", "alert", "heavy", "console", "remote", "remote_browser", "generic", "soak",
)  # fmt: skip
SOAK_CHECKS, SOAK_QUICK = 10_000, 200  # --soak alone: the record; with --quick: CI keeps it working


def machine() -> str:
    """One line about this machine."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    mem = os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30
    cores = f"{os.cpu_count()} cores ({model})"
    return f"{platform.system()} {platform.machine()}, {cores}, {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> int:
    """Run every measurement and write bench/results.json."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few iterations of each (CI: keeps them working)")
    parser.add_argument("--out", default=str(HERE / "results.json"), help="where to write the results")
    parser.add_argument("--show", action="store_true", help="only print the table of an existing results file")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=f"run only these, comma-separated ({', '.join(MEASURES)}); their keys are merged into --out",
    )
    parser.add_argument(
        "--soak",
        metavar="N",
        type=int,
        nargs="?",
        const=0,
        help=f"run only the soak: N checks (default {SOAK_CHECKS:,}; {SOAK_QUICK} with --quick), merged into --out",
    )
    args = parser.parse_args()
    if args.show:
        print(table(json.loads(Path(args.out).read_text(encoding="utf-8"))))
        return 0
    if args.soak is not None and args.soak < 0:
        parser.error(f"--soak: N must be a positive number of checks, not {args.soak}")
    if args.soak is not None:
        args.only = "soak"
    # The soak is long: a run without --soak or --only leaves it out.
    only = set(args.only.split(",")) if args.only else set(MEASURES) - {"soak"}
    if only - set(MEASURES):
        parser.error(f"--only: unknown {', '.join(sorted(only - set(MEASURES)))} (known: {', '.join(MEASURES)})")
    quick = args.quick
    n_accounts = 20 if quick else 200
    retailer = subprocess.Popen(
        [sys.executable, "-m", "fixtures.retailer", "--port", "0", "--accounts", str(max(n_accounts, 30))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert retailer.stdout is not None
    url = retailer.stdout.readline().strip()
    folder = Path(tempfile.mkdtemp(prefix="account-monitor-bench-"))
    started = time.time()
    results: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    try:
        print(f"retailer at {url}; work dir {folder}", file=sys.stderr)
        if "warm_cold" in only:
            wc = detail["warm_cold"] = asyncio.run(warm_cold(url, folder, 6 if quick else 30))
            results |= {"warm_over_floor": wc["warm_over_floor"], "cold_over_warm": wc["cold_over_warm"]}
            print(f"warm/floor {wc['warm_over_floor']:.2f}, cold/warm {wc['cold_over_warm']:.1f}", file=sys.stderr)
        if "scale" in only:
            sc = detail["scale"] = asyncio.run(scale(url, folder, n_accounts, [1, 2, 4]))
            results |= {"scale_accounts": n_accounts, "scale_200_c4_s": sc["c4"]["wall_s"] * 200 / n_accounts}
            print(f"scale c4 {sc['c4']['wall_s']:.1f} s for {n_accounts}", file=sys.stderr)
        if "memory" in only:
            mem = detail["memory"] = memory(url, folder, 60 if quick else 1000)
            results |= {
                "rss_growth_pct": mem["rss_growth_pct"],
                "rss_peak_mb": mem["rss_peak_mb"],
                "rss_peak_by_kind_mb": mem["peak_by_kind_mb"],
                "signins_per_1000": mem["signins_per_1000"],
            }
            print(f"memory peak {mem['rss_peak_mb']:.0f} MB growth {mem['rss_growth_pct']:.1f}%", file=sys.stderr)
        if "idle" in only:
            held = idle(url, folder)
            held["cold"] = asyncio.run(cold_rounds(url, folder, 2 if quick else 10))
            detail["idle"] = held
            results |= {"idle_mb": held["idle_mb"], "cold_start_s": held["cold"]["cold_start_wall_s"]}
            print(f"idle {held['idle_mb']:.0f} MB, cold start {results['cold_start_s']:.2f} s", file=sys.stderr)
        if "alert" in only:
            alert = detail["alert"] = time_to_alert(url, folder, 4 if quick else 40)
            results |= {k: alert[k] for k in ("alert_p50_s", "alert_p95_s", "alert_interval_s")}
        if "heavy" in only:
            hv = detail["heavy"] = asyncio.run(heavy(url, folder, *((2, 2) if quick else (8, 6)), retailer.pid))
            results |= heavy_keys(hv)
            print(f"heavy page CPU blocking off/on {hv['heavy_block_ratio']:.1f}x", file=sys.stderr)
            if not quick:
                heavy_plot(hv)
        if "console" in only:
            cons = detail["console"] = console(url, folder, quick)
            results |= console_keys(cons)
            print(f"console p95 {results['console_p95_ms']:.0f} ms", file=sys.stderr)
        if "remote" in only:
            rem = detail["remote"] = remote(url, folder, quick)
            results |= remote_keys(rem)
            print(f"remote sign-in frame p95 {results['remote_frame_p95_ms']:.0f} ms", file=sys.stderr)
        if "remote_browser" in only:
            rb = asyncio.run(remote_browser(url, folder, *((2, 2) if quick else (10, 5)), retailer.pid))
            detail["remote_browser"] = rb
            results |= remote_browser_keys(rb)
            print(f"remote browser / local, CPU per check {rb['remote_browser_over_local']:.2f}x", file=sys.stderr)
        if "soak" in only:
            checks = args.soak or (SOAK_QUICK if quick else SOAK_CHECKS)
            every = 50 if quick or checks < 5000 else 500
            sk = detail["soak"] = asyncio.run(soak(url, folder, checks, every, retailer.pid))
            results |= soak_keys(sk)
            soak_plot(sk, folder / "soak.svg" if quick else SOAK_PLOT)  # quick: drawn, to keep it working, not kept
            print(f"soak drift {sk['soak_drift_pct']:+.1f}% over {checks} checks", file=sys.stderr)
        if "remote_browser" in only:
            rb = asyncio.run(remote_browser(url, folder, *((2, 2) if quick else (10, 5)), retailer.pid))
            detail["remote_browser"] = rb
            results |= remote_browser_keys(rb)
            print(f"remote browser / local, CPU per check {rb['remote_browser_over_local']:.2f}x", file=sys.stderr)
        if "generic" in only:
            gen = detail["generic"] = asyncio.run(generic(url, folder, 6 if quick else 30))
            results |= generic_keys(gen)
            print(f"generic/profile {gen['generic_over_profile']:.2f}x", file=sys.stderr)
    finally:
        retailer.send_signal(signal.SIGTERM)
        retailer.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    out = Path(args.out)
    # --only merges: the keys of what it did not run (and others' keys) stay as they were, with their dates.
    merged: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if args.only and out.exists() else {}
    earlier = merged.get("dates") or dict.fromkeys(merged.get("detail", {}), merged.get("date"))
    # "date" and "duration_s" are of the last full (or first) run; "dates" says when each was taken.
    run = {"date": now, "machine": machine(), "quick": quick, "duration_s": round(time.time() - started, 1)}
    merged = merged | run if not merged else run | merged
    merged |= results
    merged["detail"] = merged.get("detail", {}) | detail
    merged["dates"] = earlier | dict.fromkeys(detail, now)
    results = merged
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    return 0


def console_keys(cons: dict[str, Any]) -> dict[str, Any]:
    """The console's top-level keys: the worse page's p95, the memory it adds, when they were taken."""
    render = cons["render"]
    return {
        "console_p95_ms": max(render["overview"]["p95_ms"], render["case"]["p95_ms"]),
        "console_mem_mb": cons["memory"]["delta_mb"],
    }


def table(r: dict[str, Any]) -> str:
    """The results as a Markdown table with targets (rows of measurements the file holds)."""
    d = r["detail"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def ms(x: dict[str, float]) -> str:
        return f"{x['median'] * 1000:.0f} ms [{x['min'] * 1000:.0f}-{x['max'] * 1000:.0f}]"

    def kinds(mb: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.0f}" for k, v in sorted(mb.items(), key=lambda kv: -kv[1]) if v >= 0.5)

    rows: list[tuple[str, str, str, str]] = []
    if "warm_cold" in d:
        wc = d["warm_cold"]
        warm = f"warm {ms(wc['warm_s'])}, floor {ms(wc['floor_s'])}, n={wc['warm_s']['n']}"
        rows.append(
            (
                "warm check / bare navigation+read",
                f"{r['warm_over_floor']:.2f}x ({warm})",
                "<= 1.3x",
                verdict(r["warm_over_floor"] <= 1.3),
            )
        )
        cold = f"{r['cold_over_warm']:.1f}x (cold {ms(wc['cold_s'])})"
        rows.append(("cold check / warm check", cold, ">= 5x", verdict(r["cold_over_warm"] >= 5)))
    if "scale" in d:
        for level in (1, 2, 4):
            s = d["scale"][f"c{level}"]
            cpu = s["cpu_s_per_check"] * 1000
            cost = f"{s['wall_s']:.1f} s, {s['checks_per_s']:.1f} checks/s, {cpu:.0f} ms CPU/check"
            rows.append((f"{r['scale_accounts']} accounts, concurrency {level}", cost, "", ""))
        extrapolated = "" if r["scale_accounts"] == 200 else " (extrapolated)"
        c4 = r["scale_200_c4_s"]
        rows.append(("200 accounts at concurrency 4", f"{c4:.1f} s{extrapolated}", "<= 30 s", verdict(c4 <= 30)))
    if "memory" in d:
        m = d["memory"]
        growth = f"{r['rss_growth_pct']:.1f}% over {m['checks']} checks"
        rows.append(("memory growth, first to last tenth (PSS)", growth, "<= 10%", verdict(r["rss_growth_pct"] <= 10)))
        peak = f"{r['rss_peak_mb']:.0f} MB (summed RSS {m['summed_rss_peak_mb']:.0f} MB)"
        rows.append(
            ("memory peak, 10 accounts at concurrency 2 (PSS)", peak, "<= 350 MB", verdict(r["rss_peak_mb"] <= 350))
        )
        if "peak_by_kind_mb" in m:
            rows.append(("  where the peak goes (MB PSS)", kinds(m["peak_by_kind_mb"]), "", ""))
    if "idle" in d:
        i = d["idle"]
        held = f"{r['idle_mb']:.0f} MB ({kinds(i['idle_by_kind_mb'])}; {i['warm_mb']:.0f} MB with the browser up)"
        rows.append(("daemon 30 s after the last check, defaults (PSS)", held, "<= 60 MB", verdict(r["idle_mb"] <= 60)))
        c = i["cold"]
        cold = f"{c['cold_start_wall_s']:.2f} s wall, {c['cold_start_cpu_s']:.2f} s CPU ({len(c['rounds'])} rounds)"
        rows.append(("cold start paid by each round after an idle close", cold, "reported", ""))
    if "alert" in d:
        a = d["alert"]
        flips = f"{a['trials']} flips, {r['alert_interval_s']:g} s interval"
        when = f"{r['alert_p50_s']:.2f} s / {r['alert_p95_s']:.2f} s ({flips})"
        ok = r["alert_p95_s"] <= r["alert_interval_s"] + 1
        rows.append(("time to alert p50 / p95", when, f"p95 <= {r['alert_interval_s'] + 1:g} s", verdict(ok)))
    if "memory" in d:
        signins = r["signins_per_1000"]
        rows.append(("sign-ins per 1,000 checks (valid session)", f"{signins:.1f}", "0", verdict(signins == 0)))
    if "heavy" in d:
        rows += heavy_rows(r)
    if "console" in d:
        rows += console_rows(r)
    if "remote" in d:
        rows += remote_rows(r)
    if "remote_browser" in d:
        rows += remote_browser_rows(r)
    if "soak" in d:
        rows += soak_rows(r)
    if "remote_browser" in d:
        rows += remote_browser_rows(r)
    if "generic" in d:
        rows += generic_rows(r)
    mode = "quick mode" if r["quick"] else "full run"
    return markdown(rows) + f"\n\nMachine: {r['machine']}; {r['date']}; {mode}."


def markdown(rows: list[tuple[str, str, str, str]]) -> str:
    """Rows as a Markdown table of measure, result, target and verdict."""
    lines = ["| measure | result | target | verdict |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows])


def console_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The console's rows (none in a results file written before it was measured)."""
    if "console_p95_ms" not in r:
        return []
    c = r["detail"]["console"]
    render, mem = c["render"], c["memory"]
    kinds = mem["delta_by_kind_mb"]

    def page(p: dict[str, float]) -> str:
        cpu = f" (CPU {p['cpu_p50_ms']:.0f} / {p['cpu_p95_ms']:.0f})" if "cpu_p50_ms" in p else ""
        return f"p50 {p['p50_ms']:.0f} / p95 {p['p95_ms']:.0f} ms{cpu}"

    return [
        (
            f"console render, {render['accounts']} accounts, {render['transitions']:,} transitions",
            f"overview {page(render['overview'])}; case page {page(render['case'])} (n={render['rounds']}"
            + (f", load {render['load_avg'][0]:g}-{render['load_avg'][1]:g})" if "load_avg" in render else ")"),
            "p95 <= 50 ms",
            "met" if r["console_p95_ms"] <= 50 else "**missed**",
        ),
        (
            "daemon memory, console on - off (PSS)",
            f"{r['console_mem_mb']:+.1f} MB (daemon {kinds['python']:+.1f}, driver {kinds['driver']:+.1f},"
            f" Chromium {kinds['chromium']:+.1f}; {mem['accounts']} accounts, {mem['rounds']} rounds each)",
            "<= +20 MB",
            "met" if r["console_mem_mb"] <= 20 else "**missed**",
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
