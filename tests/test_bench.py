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
    "console_p95_ms",
    "console_mem_mb",
    "remote_frame_p95_ms",
    "heavy_block_ratio",
    "remote_browser_over_local",
    "idle_mb",
    "cold_start_s",
    "rss_peak_by_kind_mb",
    "generic_over_profile",
    "generic_accuracy",
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
    assert "| daemon memory, console on - off (PSS) |" in done.stdout
    assert "| remote sign-in, input -> frame, screencast (in use) |" in done.stdout


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_only_console_merges_its_keys_into_existing_results(tmp_path) -> None:
    out = tmp_path / "results.json"
    alert = {"alert_p50_s": 1.2, "alert_p95_s": 2.0, "alert_interval_s": 2.0}
    out.write_text(json.dumps({**alert, "warm_over_floor": 0.9, "detail": {"alert": {"trials": 40}}}))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "console", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["warm_over_floor"] == 0.9 and results["detail"]["alert"] == {"trials": 40}  # the rest kept
    assert results["alert_p95_s"] == 2.0 and "| time to alert p50 / p95 |" in done.stdout
    assert results["console_p95_ms"] > 0 and "console_mem_mb" in results
    assert results["detail"]["console"]["memory"]["rounds"] == 1
    assert "| console render, 200 accounts, 2,000 transitions |" in done.stdout


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_heavy_bench_alone_merges_its_keys_and_keeps_the_others(tmp_path) -> None:
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"rss_peak_mb": 419.0, "detail": {"memory": {"checks": 1001}}}))
    done = subprocess.run(
        [sys.executable, "-m", "bench.heavy", "--quick", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["rss_peak_mb"] == 419.0 and results["detail"]["memory"] == {"checks": 1001}
    heavy = results["detail"]["heavy"]
    assert heavy["problems"] == 0  # every check read a status from its saved session
    assert results["heavy_kb_off"] > 5 * 1024 > results["heavy_kb_on"]  # blocking kept the MBs away
    assert results["heavy_block_ratio"] > 0


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_quick_soak_samples_memory_and_disk_and_merges_its_keys(tmp_path) -> None:
    out = tmp_path / "results.json"
    alert = {"alert_p50_s": 1.2, "alert_p95_s": 2.0, "alert_interval_s": 2.0}
    out.write_text(json.dumps({**alert, "detail": {"alert": {"trials": 40}}}))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--soak", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["alert_p95_s"] == 2.0 and results["detail"]["alert"] == {"trials": 40}  # the rest kept
    soak = results["detail"]["soak"]
    assert results["soak_checks"] == 200 and [s[0] for s in results["soak_samples"]] == [50, 100, 150, 200]
    assert soak["problems"] == 0 and soak["signins"] == 1  # one sign-in, then warm checks from the saved session
    # the simulated days passed retention_days: old readings went, transitions of each flip stayed
    assert soak["simulated_days"] > soak["retention_days"] and soak["rows_at_end"]["readings"] < 200
    assert soak["rows_at_end"]["transitions"] >= 3 and soak["rows_at_end"]["outbox_given_up"] > 0
    assert soak["children"][1] >= 3  # the driver and Chromium were up and counted
    kinds = soak["samples"][-1]["pss_by_kind_mb"]  # each sample says which process holds the memory
    assert kinds["python"] > 0 and kinds["driver"] > 0 and kinds["browser_main"] > 0
    assert set(soak["pss_late_by_kind_mb"]) == set(kinds)
    assert soak["samples"][-1]["anon_mb"] > 0 and soak["anon_late_mb"] > 0  # what the processes allocated
    assert "|   by kind of process (MB PSS, early -> late" in done.stdout
    assert "soak_drift_pct" in results and "| soak: memory drift after warm-up (PSS) |" in done.stdout


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_only_generic_merges_its_keys_and_reads_every_saved_page(tmp_path) -> None:
    out = tmp_path / "results.json"
    alert = {"alert_p50_s": 1.2, "alert_p95_s": 2.0, "alert_interval_s": 2.0}
    out.write_text(json.dumps({**alert, "detail": {"alert": {"trials": 40}}, "dates": {"alert": "then"}}))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "generic", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["alert_p95_s"] == 2.0 and results["dates"]["alert"] == "then"  # the rest kept
    assert results["generic_over_profile"] > 0 and "generic" in results["dates"]
    assert sorted(results["generic_accuracy"]) == sorted(["en", "ja", "de", "fr", "es", "it", "pt", "zh", "ko"])
    assert results["detail"]["generic"]["false_locks"] == 0
    assert "| warm check, generic rules / hand-written profile |" in done.stdout
