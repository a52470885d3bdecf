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
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fixtures.receiver import PushReceiver
from monitor import config as configmod
from monitor.browser import BrowserManager, ordinary_user_agent
from monitor.coordinator import Coordinator
from monitor.fetch import PlaywrightFetcher
from monitor.files import SessionFiles
from monitor.store import Store

HERE = Path(__file__).parent
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- helpers -----------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    """Median with min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(pid))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of these processes, including their reaped children."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        except (OSError, IndexError, ValueError):
            continue
    return total / TICK


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(PSS, RSS) of these processes in MB. PSS shares each shared page among its users, so the sum is
    the tree's real footprint; summed RSS counts Chromium's shared libraries once per process."""
    pss = rss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return pss / 1e6, rss / 1e6


def control(url: str, path: str, method: str = "POST", body: Any = None) -> Any:
    """The retailer's control API."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{url}/__control{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def signins(url: str) -> int:
    """Completed sign-ins across every account."""
    return sum(a["signin_count"] for a in control(url, "/accounts", "GET"))


def write_config(folder: Path, url: str, emails: list[str], schedule: str = "", channel: str = "") -> Path:
    """A config for seeded accounts (userNNNN@example.test have password password-NNNN)."""
    lines = [f'data_dir = "{folder / "data"}"', '[browser]\nscreenshots = "changes"', schedule]
    for email in emails:
        n = email[4:8]
        lines.append(
            f'[[accounts]]\nname = "u{n}"\nprofile = "mock-retailer"\nbase_url = "{url}"\n'
            f'username = "{email}"\npassword = {{ env = "BENCH_PW_{n}" }}\nsignin_budget = 10'
        )
        os.environ[f"BENCH_PW_{n}"] = f"password-{n}"
    if channel:
        lines.append(f'[[channels]]\nname = "phone"\nurl = "{channel}"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def user(i: int) -> str:
    """The i-th seeded benchmark account."""
    return f"user{i:04d}@example.test"


# --- measurements --------------------------------------------------------------------


async def warm_cold(url: str, folder: Path, iterations: int) -> dict[str, Any]:
    """Warm check vs a bare navigation + text read (interleaved), and cold vs warm."""
    cfg = configmod.load(write_config(folder / "warm", url, [user(1)]))
    store = Store.open(cfg.data_dir)
    manager = BrowserManager(recycle_after=10_000)
    fetcher = PlaywrightFetcher(cfg.browser, SessionFiles(cfg.data_dir / "sessions"), manager)
    coordinator = Coordinator(cfg, store, fetcher)
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
        browser = await manager.acquire()
        t0 = time.perf_counter()
        context = await browser.new_context(storage_state=session, user_agent=ordinary_user_agent(browser))
        page = await context.new_page()
        await page.goto(f"{url}/account", wait_until="domcontentloaded", timeout=30_000)
        await page.inner_text("body", timeout=30_000)
        await context.close()
        floor.append(time.perf_counter() - t0)
        await manager.release(browser)
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
        store.conn.execute("DELETE FROM signins")  # the budget is not what is measured here
    store.close()
    w, f, c = summary(warm), summary(floor), summary(cold)
    return {
        "warm_s": w,
        "floor_s": f,
        "cold_s": c,
        "warm_over_floor": w["median"] / f["median"],
        "cold_over_warm": c["median"] / w["median"],
    }


async def scale(url: str, folder: Path, accounts: int, levels: list[int]) -> dict[str, Any]:
    """One full cycle of `accounts` warm checks at each concurrency level."""
    emails = [user(i) for i in range(1, accounts + 1)]
    cfg = configmod.load(write_config(folder / "scale", url, emails))
    store = Store.open(cfg.data_dir)
    manager = BrowserManager(recycle_after=100_000)
    coordinator = Coordinator(
        cfg, store, PlaywrightFetcher(cfg.browser, SessionFiles(cfg.data_dir / "sessions"), manager)
    )
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
        cpu0 = cpu_seconds(tree(me))
        wall = await cycle(level)
        cpu = cpu_seconds(tree(me)) - cpu0
        out[f"c{level}"] = {"wall_s": wall, "checks_per_s": accounts / wall, "cpu_s_per_check": cpu / accounts}
    problems = store.conn.execute("SELECT COUNT(*) FROM readings WHERE problem IS NOT NULL").fetchone()[0]
    out["problems"] = problems
    await coordinator.close()
    await manager.close()
    store.close()
    return out


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`monitor run` as a subprocess, as a user runs it."""
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"], stdout=fh, stderr=fh)


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
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


def memory(url: str, folder: Path, checks: int) -> dict[str, Any]:
    """Memory of the daemon and its browser processes across `checks` checks of 10 accounts; sign-ins counted."""
    emails = [user(i) for i in range(11, 21)]
    schedule = '[schedule]\ninterval = "0.5s"\ninterval_while_locked = "0.5s"\njitter = 0.1\nmax_concurrency = 2'
    cfg_path = write_config(folder / "memory", url, emails, schedule)
    db = folder / "memory" / "data" / "monitor.db"
    proc = start_daemon(cfg_path, folder / "memory" / "daemon.log")
    samples: list[tuple[int, float]] = []
    try:
        deadline = time.monotonic() + 30
        while readings(db) < len(emails) and time.monotonic() < deadline:  # first cycle: the sign-ins
            time.sleep(0.2)
        base_checks, base_signins = readings(db), signins(url)
        deadline = time.monotonic() + max(120, checks * 0.6)
        while time.monotonic() < deadline:
            done = readings(db) - base_checks
            pss, rss = memory_mb(tree(proc.pid))
            samples.append((done, pss, rss))
            if done >= checks:
                break
            time.sleep(0.25)
        total = readings(db) - base_checks
        extra_signins = signins(url) - base_signins
    finally:
        stop_daemon(proc)
    tenth = max(1, len(samples) // 10)
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
        # PSS (MB) by checks done, every tenth of the run: shows a leak as a slope, a recycle as a dip
        "pss_by_checks": [[samples[i][0], round(samples[i][1])] for i in range(0, len(samples), tenth)],
        "signins_per_1000": extra_signins / max(total, 1) * 1000,
    }


def time_to_alert(url: str, folder: Path, trials: int, interval: float = 2.0) -> dict[str, Any]:
    """Flip accounts to locked at random moments; time from the flip to the push at a local receiver."""
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    def on_push(push: Any) -> None:
        title = (push.json or {}).get("title", "")
        with lock:
            arrivals[title] = time.monotonic()

    receiver = PushReceiver(on_push=on_push).start()
    accounts = [user(i) for i in range(21, 25)]
    schedule = f'[schedule]\ninterval = "{interval}s"\ninterval_while_locked = "{interval}s"\nmax_concurrency = 4'
    cfg_path = write_config(folder / "alert", url, accounts, schedule, receiver.json_url("bench"))
    db = folder / "alert" / "data" / "monitor.db"
    proc = start_daemon(cfg_path, folder / "alert" / "daemon.log")
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while readings(db) < len(accounts) and time.monotonic() < deadline:
            time.sleep(0.2)
        rounds = max(1, trials // len(accounts))
        for _ in range(rounds):
            flips: dict[str, float] = {}
            for email in random.sample(accounts, len(accounts)):
                time.sleep(random.uniform(0, interval / len(accounts)))
                control(url, f"/accounts/{email}", "PATCH", {"state": "locked"})
                flips[f"🔒 u{email[4:8]}: account locked"] = time.monotonic()
            end = time.monotonic() + interval * 5
            while time.monotonic() < end and not all(t in arrivals for t in flips):
                time.sleep(0.02)
            with lock:
                latencies += [arrivals[t] - flips[t] for t in flips if t in arrivals]
                missing = [t for t in flips if t not in arrivals]
            for email in accounts:
                control(url, f"/accounts/{email}", "PATCH", {"state": "active"})
            end = time.monotonic() + interval * 5
            while time.monotonic() < end and not all(
                t.replace("🔒", "✅").replace("locked", "restored") in arrivals for t in flips
            ):
                time.sleep(0.05)
            with lock:
                arrivals.clear()
            if missing:
                print(f"  alerts missing in a round: {missing}", file=sys.stderr)
    finally:
        stop_daemon(proc)
        receiver.stop()
    return {
        "trials": len(latencies),
        "alert_p50_s": percentile(latencies, 50),
        "alert_p95_s": percentile(latencies, 95),
        "alert_max_s": max(latencies),
        "alert_interval_s": interval,
    }


# --- driver ---------------------------------------------------------------------------


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
    args = parser.parse_args()
    if args.show:
        print(table(json.loads(Path(args.out).read_text(encoding="utf-8"))))
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
        wc = asyncio.run(warm_cold(url, folder, 6 if quick else 30))
        print(f"warm/floor {wc['warm_over_floor']:.2f}, cold/warm {wc['cold_over_warm']:.1f}", file=sys.stderr)
        sc = asyncio.run(scale(url, folder, n_accounts, [1, 2, 4]))
        print(f"scale c4 {sc['c4']['wall_s']:.1f} s for {n_accounts}", file=sys.stderr)
        mem = memory(url, folder, 60 if quick else 1000)
        print(f"memory peak {mem['rss_peak_mb']:.0f} MB growth {mem['rss_growth_pct']:.1f}%", file=sys.stderr)
        alert = time_to_alert(url, folder, 4 if quick else 40)
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
        "detail": {"warm_cold": wc, "scale": sc, "memory": mem, "alert": alert},
    }
    Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    return 0


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
    lines = ["| measure | result | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d_} |" for a, b, c, d_ in rows]
    return "\n".join(lines) + f"\n\nMachine: {r['machine']}; {r['date']}; {'quick mode' if r['quick'] else 'full run'}."


if __name__ == "__main__":
    sys.exit(main())
