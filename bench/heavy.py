"""Heavy pages: a warm check of the retailer's heavy variant with blocking on and off, and of the light page.

python -m bench.heavy [--quick] runs it alone (its own retailer) and merges its keys into
bench/results.json; python -m bench runs it with the rest. Rounds are interleaved (each round runs
every mode, in a rotating order) so drift on a shared machine falls on all of them alike. Per mode:
bytes the retailer sent (its request log), CPU of the monitor's whole process tree (Python, driver,
Chromium and its renderers; not the retailer) and wall time, per check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import HERE, in_process, svg, user, write_svg
from bench.scale import cpu_seconds
from fixtures.control import Control
from fixtures.procs import descendants

MODES = ("light", "heavy_blocked", "heavy_unblocked")
PLOT = HERE.parent / "docs" / "img" / "heavy-cpu.svg"


async def heavy(url: str, folder: Path, rounds: int, per_round: int, retailer_pid: int | None) -> dict[str, Any]:
    """Per-check bytes, CPU and wall for each mode, `rounds` interleaved rounds of `per_round` checks."""
    control = Control(url)
    email = user(1)
    rig = in_process(folder / "heavy", url, [email])
    store, manager, fetcher, coordinator = rig.store, rig.manager, rig.fetcher, rig.coordinator
    # fetcher.block_unread is the bench's seam (not a setting): off only to measure what blocking saves.
    me = os.getpid()

    def tree() -> list[int]:
        # The monitor's processes only: the retailer may be our child too, and its serving is not ours.
        mine = [me, *descendants(me)]
        if retailer_pid is None:
            return mine
        theirs = {retailer_pid, *descendants(retailer_pid)}
        return [p for p in mine if p not in theirs]

    def switch(mode: str) -> None:
        control.misbehave(email, heavy=mode != "light")
        fetcher.block_unread = mode != "heavy_unblocked"

    samples: dict[str, dict[str, list[float]]] = {m: {"cpu_s": [], "wall_s": [], "kb": []} for m in MODES}
    problems = 0
    try:
        assert (await coordinator.check(user_name(email))).signed_in  # sign in once, then warm checks only
        for mode in MODES:  # warm up each path
            switch(mode)
            await coordinator.check(user_name(email))
        for r in range(rounds):
            for mode in MODES[r % 3 :] + MODES[: r % 3]:
                switch(mode)
                control.clear_requests()
                walls = []
                cpu0 = cpu_seconds(tree())
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    reading = await coordinator.check(user_name(email))
                    walls.append(time.perf_counter() - t0)
                    problems += reading.problem is not None or reading.signed_in
                cpu = cpu_seconds(tree()) - cpu0
                sent = sum(e["bytes"] for e in control.requests())
                samples[mode]["cpu_s"].append(cpu / per_round)
                samples[mode]["wall_s"].append(statistics.median(walls))
                samples[mode]["kb"].append(sent / per_round / 1024)
    finally:
        control.misbehave(email, heavy=False)
        await coordinator.close()
        await manager.close()
        store.close()
    med = {m: {k: statistics.median(v) for k, v in s.items()} for m, s in samples.items()}
    on, off = med["heavy_blocked"], med["heavy_unblocked"]
    return {
        "rounds": rounds,
        "checks_per_round": per_round,
        "problems": problems,
        "median": med,
        "samples": samples,
        "heavy_block_ratio": off["cpu_s"] / on["cpu_s"],
        "heavy_wall_ratio": off["wall_s"] / on["wall_s"],
        "heavy_bytes_ratio": off["kb"] / on["kb"],
    }


def user_name(email: str) -> str:
    """The config's account name for a seeded bench account (bench_config names user0001 "u0001")."""
    return f"u{email[4:8]}"


def keys(result: dict[str, Any]) -> dict[str, Any]:
    """The top-level results.json keys of this measurement."""
    med = result["median"]
    return {
        "heavy_block_ratio": result["heavy_block_ratio"],
        "heavy_cpu_on_s": med["heavy_blocked"]["cpu_s"],
        "heavy_cpu_off_s": med["heavy_unblocked"]["cpu_s"],
        "heavy_kb_on": med["heavy_blocked"]["kb"],
        "heavy_kb_off": med["heavy_unblocked"]["kb"],
    }


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows for bench's Markdown table (none when the results have no heavy run)."""
    if "heavy_block_ratio" not in r:
        return []
    med = r["detail"]["heavy"]["median"]
    on, off, light = med["heavy_blocked"], med["heavy_unblocked"], med["light"]

    def cost(m: dict[str, float]) -> str:
        return f"{m['cpu_s'] * 1000:.0f} ms CPU, {m['wall_s'] * 1000:.0f} ms wall, {m['kb']:,.0f} KB"

    ratio = r["heavy_block_ratio"]
    return [
        ("heavy page, warm check, blocking off", cost(off), "", ""),
        ("heavy page, warm check, blocking on", cost(on), "", ""),
        ("light page, warm check", cost(light), "", ""),
        ("heavy page CPU, blocking off / on", f"{ratio:.1f}x", ">= 3x", "met" if ratio >= 3 else "**missed**"),
    ]


def plot(result: dict[str, Any], path: Path = PLOT) -> None:
    """A bar chart (SVG) of the median CPU per check of each mode, with each round's value as a dot."""
    labels = {"light": "light page", "heavy_blocked": "heavy, blocking on", "heavy_unblocked": "heavy, blocking off"}
    top = max(max(result["samples"][m]["cpu_s"]) for m in MODES) * 1.15
    w, h, left, base, bar = 560, 260, 150, 230, 40
    scale = (w - left - 40) / top
    out = []
    for i, mode in enumerate(MODES):
        y = 40 + i * 60
        value = result["median"][mode]["cpu_s"]
        out.append(f'<text x="{left - 8}" y="{y + 25}" text-anchor="end">{labels[mode]}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{value * scale:.1f}" height="{bar}" fill="#4a7bb7"/>')
        out.append(f'<text x="{left + value * scale + 6:.1f}" y="{y + 25}">{value * 1000:.0f}</text>')
        for v in result["samples"][mode]["cpu_s"]:
            out.append(f'<circle cx="{left + v * scale:.1f}" cy="{y + bar / 2}" r="3" fill="#222" opacity="0.6"/>')
    out.append(f'<line x1="{left}" y1="34" x2="{left}" y2="{base}" stroke="#444"/>')
    note = f"median of {result['rounds']} interleaved rounds (dots) of {result['checks_per_round']} checks"
    write_svg(path, svg(w, h, "CPU per warm check (all processes), ms", out, note))


def merge(out: Path, result: dict[str, Any], date: str) -> None:
    """Put this measurement's keys into `out`, keeping every other key there."""
    data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    data.update(keys(result))
    data["heavy_date"] = date
    data.setdefault("detail", {})["heavy"] = result
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    """Run the heavy-page measurement alone against its own retailer."""
    from datetime import UTC, datetime

    parser = argparse.ArgumentParser(prog="python -m bench.heavy", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="two short rounds (CI: keeps it working)")
    parser.add_argument("--out", default=str(HERE / "results.json"), help="results file to merge into")
    args = parser.parse_args()
    retailer = subprocess.Popen(
        [sys.executable, "-m", "fixtures.retailer", "--port", "0", "--accounts", "2"], stdout=subprocess.PIPE, text=True
    )
    assert retailer.stdout is not None
    url = retailer.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory(prefix="account-monitor-bench-") as folder:
            rounds, per_round = (2, 2) if args.quick else (8, 6)
            result = asyncio.run(heavy(url, Path(folder), rounds, per_round, retailer.pid))
    finally:
        retailer.send_signal(signal.SIGTERM)
        retailer.wait(10)
    merge(Path(args.out), result, datetime.now(UTC).isoformat(timespec="seconds"))
    if not args.quick:
        plot(result)
    for row in table_rows({**keys(result), "detail": {"heavy": result}}):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
