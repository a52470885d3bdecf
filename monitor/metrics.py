"""Prometheus metrics of one monitor: counted as checks, sign-ins and deliveries happen; the store read at scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from monitor.config import Config
from monitor.store import Store, StoreError

log = logging.getLogger("monitor.metrics")

# A check takes from under a second (a saved session, a small page) to the check timeout (120 s by default).
CHECK_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class _FromStore(Collector):
    """The gauges the store already knows, read when Prometheus scrapes (nothing to keep in step)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Outbox depth by state and each configured account's last successful check."""
        store, config = self.metrics.store, self.metrics.config
        try:
            counts = store.outbox_counts()
            last = {a.name: store.state(a.name).last_success_at for a in config.accounts}
        except StoreError as exc:  # a scrape never fails for it: the counters are still worth having
            log.warning("metrics: cannot read the store (%s)", exc)
            return
        outbox = GaugeMetricFamily("monitor_outbox", "Alerts in the outbox by delivery state.", labels=["state"])
        for state, count in sorted(counts.items()):
            outbox.add_metric([str(state)], count)
        yield outbox
        success = GaugeMetricFamily(
            "monitor_last_success_timestamp_seconds",
            "When each account was last read successfully (Unix seconds); absent before its first success.",
            labels=["account"],
        )
        for name, at in sorted(last.items()):
            if at is not None:
                success.add_metric([name], at)
        yield success


class Metrics:
    """The monitor's metrics in their own registry (no process-wide state: tests and daemons never share one)."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config  # the daemon replaces it on reload: the accounts listed follow the config
        self.store = store
        self.registry = CollectorRegistry()
        r = self.registry
        self.checks = Counter("monitor_checks", "Checks by account and result.", ["account", "result"], registry=r)
        self.duration = Histogram(
            "monitor_check_duration_seconds", "How long a check took.", buckets=CHECK_BUCKETS, registry=r
        )
        self.signins = Counter(
            "monitor_signins", "Automated sign-ins by account and outcome.", ["account", "outcome"], registry=r
        )
        self.alerts = Counter(
            "monitor_alerts", "Alert deliveries by kind, channel and result.", ["kind", "channel", "result"], registry=r
        )
        self.relaunches = Counter(
            "monitor_browser_relaunches",
            "Browser relaunches (after a crash or hang, or every recycle_after checks).",
            registry=r,
        )
        r.register(_FromStore(self))

    def check_done(self, account: str, outcome: str, seconds: float) -> None:
        """One check ended: `outcome` is its status or problem word (ok, locked, unreachable, ...)."""
        self.checks.labels(account, outcome).inc()
        self.duration.observe(seconds)

    def signin(self, account: str, outcome: str) -> None:
        """One automated sign-in was attempted."""
        self.signins.labels(account, outcome).inc()

    def delivery(self, kind: str, channel: str, ok: bool) -> None:
        """One attempt to deliver an alert of `kind` to `channel`."""
        self.alerts.labels(kind, channel, "delivered" if ok else "failed").inc()

    def relaunch(self) -> None:
        """The browser was launched again."""
        self.relaunches.inc()

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition (format 0.0.4, which every scraper reads) and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4
