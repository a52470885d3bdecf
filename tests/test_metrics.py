"""/metrics as Prometheus reads it: render() parsed by prometheus_client's own parser, over a real Store file."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import Metrics
from monitor.models import Reading, Status
from tests.helpers import Env, make_config


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the rendered text, by name and labels, as a scraper parses it."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def labels(**kv: str) -> frozenset[tuple[str, str]]:
    return frozenset(kv.items())


def test_counted_events_and_the_store_s_gauges_are_exposed(tmp_path: Path) -> None:
    env = Env(make_config(tmp_path, [{"name": "phone", "url": "json://127.0.0.1:9/x"}]))
    metrics = Metrics(env.config, env.store)
    before = samples(metrics)
    assert before[("monitor_outbox", labels(state="pending"))] == 0
    assert not [key for key in before if key[0] == "monitor_last_success_timestamp_seconds"]  # never read yet

    env.coordinator.commit(Reading(account="shop", status=Status.OK, rule="home", at=env.clock()))
    env.lock(screenshot=False)  # queues the "locked" alert for the channel
    metrics.check_done("shop", "ok", 1.5)
    metrics.check_done("shop", "locked", 40)
    metrics.signin("shop", "ok")
    metrics.delivery("locked", "phone", ok=False)
    metrics.delivery("locked", "phone", ok=True)
    metrics.relaunch()

    got = samples(metrics)
    assert got[("monitor_checks_total", labels(account="shop", result="ok"))] == 1
    assert got[("monitor_checks_total", labels(account="shop", result="locked"))] == 1
    assert got[("monitor_check_duration_seconds_count", labels())] == 2
    assert got[("monitor_check_duration_seconds_sum", labels())] == 41.5
    assert got[("monitor_check_duration_seconds_bucket", labels(le="2.0"))] == 1
    assert got[("monitor_signins_total", labels(account="shop", outcome="ok"))] == 1
    assert got[("monitor_alerts_total", labels(kind="locked", channel="phone", result="failed"))] == 1
    assert got[("monitor_alerts_total", labels(kind="locked", channel="phone", result="delivered"))] == 1
    assert got[("monitor_browser_relaunches_total", labels())] == 1
    assert got[("monitor_outbox", labels(state="pending"))] == 1
    assert got[("monitor_outbox", labels(state="sent"))] == 0
    last = env.store.state("shop").last_success_at
    assert last is not None and got[("monitor_last_success_timestamp_seconds", labels(account="shop"))] == last


def test_each_monitor_has_its_own_registry(tmp_path: Path) -> None:
    env = Env(make_config(tmp_path, []))
    one, two = Metrics(env.config, env.store), Metrics(env.config, env.store)
    one.check_done("shop", "ok", 1)
    assert ("monitor_checks_total", labels(account="shop", result="ok")) not in samples(two)


def test_a_store_that_fails_at_scrape_time_leaves_the_counters(tmp_path: Path) -> None:
    env = Env(make_config(tmp_path, []))
    metrics = Metrics(env.config, env.store)
    metrics.relaunch()
    env.store.close()  # every read now fails
    got = samples(metrics)
    assert got[("monitor_browser_relaunches_total", labels())] == 1
    assert not [key for key in got if key[0] == "monitor_outbox"]
