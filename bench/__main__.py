"""python -m bench [--quick] [--only console]: what a check costs, how it scales, how fast an alert arrives.

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
from bench.heavy import heavy
from bench.heavy import keys as heavy_keys
from bench.heavy import plot as heavy_plot
from bench.heavy import table_rows as heavy_rows
from bench.memory import memory
from bench.scale import scale
from bench.warm_cold import warm_cold

PAGE = os.sysconf("SC_PAGE_SIZE")


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
        "--only", choices=["console"], help="run this measurement alone and merge its keys into the results file"
    )
    args = parser.parse_args()
    out = Path(args.out)
    if args.show:
        print(table(json.loads(out.read_text(encoding="utf-8"))))
        return 0
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
    try:
        print(f"retailer at {url}; work dir {folder}", file=sys.stderr)
        if args.only:
            merged = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
            merged.update(console_keys(console(url, folder, quick)))
            merged.setdefault("detail", {})
            merged["detail"]["console"] = merged.pop("console_detail")
            out.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            print(markdown(console_rows(merged)) + f"\n\n{merged['console_date']}; written into {out}.")
            return 0
        wc = asyncio.run(warm_cold(url, folder, 6 if quick else 30))
        print(f"warm/floor {wc['warm_over_floor']:.2f}, cold/warm {wc['cold_over_warm']:.1f}", file=sys.stderr)
        sc = asyncio.run(scale(url, folder, n_accounts, [1, 2, 4]))
        print(f"scale c4 {sc['c4']['wall_s']:.1f} s for {n_accounts}", file=sys.stderr)
        mem = memory(url, folder, 60 if quick else 1000)
        print(f"memory peak {mem['rss_peak_mb']:.0f} MB growth {mem['rss_growth_pct']:.1f}%", file=sys.stderr)
        alert = time_to_alert(url, folder, 4 if quick else 40)
        hv = asyncio.run(heavy(url, folder, *((2, 2) if quick else (8, 6)), retailer.pid))
        print(f"heavy page CPU blocking off/on {hv['heavy_block_ratio']:.1f}x", file=sys.stderr)
        cons = console(url, folder, quick)
        print(f"console p95 {console_keys(cons)['console_p95_ms']:.0f} ms", file=sys.stderr)
    finally:
        retailer.send_signal(signal.SIGTERM)
        retailer.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": quick,
        "duration_s": round(time.time() - started, 1),
        "warm_over_floor": wc["warm_over_floor"],
        "cold_over_warm": wc["cold_over_warm"],
        "scale_accounts": n_accounts,
        "scale_200_c4_s": sc["c4"]["wall_s"] * 200 / n_accounts,
        "rss_growth_pct": mem["rss_growth_pct"],
        "rss_peak_mb": mem["rss_peak_mb"],
        "alert_p50_s": alert["alert_p50_s"],
        "alert_p95_s": alert["alert_p95_s"],
        "alert_interval_s": alert["alert_interval_s"],
        "signins_per_1000": mem["signins_per_1000"],
        **heavy_keys(hv),
        **console_keys(cons),
        "detail": {"warm_cold": wc, "scale": sc, "memory": mem, "alert": alert, "heavy": hv},
    }
    results["detail"]["console"] = results.pop("console_detail")
    if not quick:
        heavy_plot(hv)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    return 0


def console_keys(cons: dict[str, Any]) -> dict[str, Any]:
    """The console's top-level keys: the worse page's p95, the memory it adds, when they were taken."""
    render = cons["render"]
    return {
        "console_p95_ms": max(render["overview"]["p95_ms"], render["case"]["p95_ms"]),
        "console_mem_mb": cons["memory"]["delta_mb"],
        "console_date": datetime.now(UTC).isoformat(timespec="seconds"),
        "console_detail": cons,
    }


def table(r: dict[str, Any]) -> str:
    """The results as a Markdown table with targets."""
    d = r["detail"]
    wc, sc = d["warm_cold"], d["scale"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def ms(x: dict[str, float]) -> str:
        return f"{x['median'] * 1000:.0f} ms [{x['min'] * 1000:.0f}-{x['max'] * 1000:.0f}]"

    rows = [
        (
            "warm check / bare navigation+read",
            f"{r['warm_over_floor']:.2f}x (warm {ms(wc['warm_s'])}, floor {ms(wc['floor_s'])}, n={wc['warm_s']['n']})",
            "<= 1.3x",
            verdict(r["warm_over_floor"] <= 1.3),
        ),
        (
            "cold check / warm check",
            f"{r['cold_over_warm']:.1f}x (cold {ms(wc['cold_s'])})",
            ">= 5x",
            verdict(r["cold_over_warm"] >= 5),
        ),
    ]
    for level in (1, 2, 4):
        s = sc[f"c{level}"]
        cost = f"{s['wall_s']:.1f} s, {s['checks_per_s']:.1f} checks/s, {s['cpu_s_per_check'] * 1000:.0f} ms CPU/check"
        rows.append((f"{r['scale_accounts']} accounts, concurrency {level}", cost, "", ""))
    rows += [
        (
            "200 accounts at concurrency 4",
            f"{r['scale_200_c4_s']:.1f} s" + ("" if r["scale_accounts"] == 200 else " (extrapolated)"),
            "<= 30 s",
            verdict(r["scale_200_c4_s"] <= 30),
        ),
        (
            "memory growth, first to last tenth (PSS)",
            f"{r['rss_growth_pct']:.1f}% over {d['memory']['checks']} checks",
            "<= 10%",
            verdict(r["rss_growth_pct"] <= 10),
        ),
        (
            "memory peak, daemon + Chromium (PSS)",
            f"{r['rss_peak_mb']:.0f} MB (summed RSS {d['memory']['summed_rss_peak_mb']:.0f} MB)",
            "<= 400 MB",
            verdict(r["rss_peak_mb"] <= 400),
        ),
        (
            "time to alert p50 / p95",
            f"{r['alert_p50_s']:.2f} s / {r['alert_p95_s']:.2f} s "
            f"({d['alert']['trials']} flips, {r['alert_interval_s']:g} s interval)",
            f"p95 <= {r['alert_interval_s'] + 1:g} s",
            verdict(r["alert_p95_s"] <= r["alert_interval_s"] + 1),
        ),
        (
            "sign-ins per 1,000 checks (valid session)",
            f"{r['signins_per_1000']:.1f}",
            "0",
            verdict(r["signins_per_1000"] == 0),
        ),
    ]
    rows += heavy_rows(r)
    rows += console_rows(r)
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
