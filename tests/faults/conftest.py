"""The daemon fixtures of tests/test_daemon.py, shared with the fault probes."""

from tests.test_daemon import daemon, receiver

__all__ = ["daemon", "receiver"]
