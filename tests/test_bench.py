"""The benchmarks keep working: a quick run writes every key (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KEYS = [
    "warm_over_floor",
    "cold_over_warm",
    "scale_200_c4_s",
    "rss_growth_pct",
    "rss_peak_mb",
    "alert_p50_s",
    "alert_p95_s",
    "alert_interval_s",
    "signins_per_1000",
    "idle_mb",
    "cold_start_s",
    "rss_peak_by_kind_mb",
    "machine",
    "date",
]


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_quick_bench_writes_results(tmp_path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert all(key in results for key in KEYS)
    assert results["detail"]["scale"]["problems"] == 0  # every check of the cycle read a status
    assert results["detail"]["alert"]["trials"] >= 1
    assert results["detail"]["idle"]["processes_at_idle"] == 1  # Chromium and the driver closed between rounds
    assert "| warm check / bare navigation+read |" in done.stdout
