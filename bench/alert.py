"""Alert latency: time from a lock at a random moment to the push at a local receiver, through `monitor run`."""

from __future__ import annotations

import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import bench_config, percentile, start_daemon, stop_daemon, user, wait_for_readings
from fixtures.control import Control
from fixtures.receiver import PushReceiver


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
    cfg_path = bench_config(folder / "alert", url, accounts, schedule, receiver.json_url("bench"))
    db = folder / "alert" / "data" / "monitor.db"
    control = Control(url, timeout=30)
    proc = start_daemon(cfg_path, folder / "alert" / "daemon.log")
    latencies: list[float] = []
    try:
        wait_for_readings(db, len(accounts))
        rounds = max(1, trials // len(accounts))
        for _ in range(rounds):
            flips: dict[str, float] = {}
            for email in random.sample(accounts, len(accounts)):
                time.sleep(random.uniform(0, interval / len(accounts)))
                control.patch(email, state="locked")
                flips[f"🔒 u{email[4:8]}: account locked"] = time.monotonic()
            end = time.monotonic() + interval * 5
            while time.monotonic() < end and not all(t in arrivals for t in flips):
                time.sleep(0.02)
            with lock:
                latencies += [arrivals[t] - flips[t] for t in flips if t in arrivals]
                missing = [t for t in flips if t not in arrivals]
            for email in accounts:
                control.patch(email, state="active")
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
