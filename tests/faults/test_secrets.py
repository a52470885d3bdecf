"""A secrets sweep: every command run for real with known secret values; none may show up anywhere."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fixtures.control import Control
from tests.helpers import run_monitor, write_config

PASSWORD = "otp-pass-1"  # the seeded otp@example.com account of the mock retailer
TOTP_SEED = "JBSWY3DPEHPK3PXP"
TOKEN = "chan-tok-5f1e9a7c"  # the channel's credential, carried in its URL


def leaks(data: bytes | str) -> list[str]:
    """Which of the known secrets appear in `data`."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [s for s in (PASSWORD, TOTP_SEED, TOKEN) if s in text or s.lower() in text.lower()]


@pytest.mark.browser
def test_no_secret_reaches_output_database_files_or_notifications(tmp_path: Path, retailer, push) -> None:
    (tmp_path / "seed.txt").write_text(TOTP_SEED + "\n")
    account = {
        "name": "shop",
        "profile": "mock-retailer",
        "base_url": retailer.url,
        "username": "otp@example.com",
        "password": {"env": "SWEEP_PW"},
        "totp_secret": {"file": "seed.txt"},
    }
    config = write_config(tmp_path, [account], [{"name": "hook", "url": {"env": "SWEEP_HOOK"}}])
    env = os.environ | {"SWEEP_PW": PASSWORD, "SWEEP_HOOK": f"json://sweep:{TOKEN}@127.0.0.1:{push.port}/hook"}
    control = Control(retailer.url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_monitor(config, "-v", *args, env=env, timeout=180)

    steps: list[tuple[list[str], subprocess.CompletedProcess[str]]] = []
    for args in (["status"], ["check"], ["check", "--json"]):
        steps.append((args, run(*args)))
    control.event("otp@example.com", "lock")
    for args in (
        ["check"],
        ["notify-test"],
        ["history", "shop"],
        ["outbox", "--all"],
        ["outbox", "--send"],
        ["status"],
        ["doctor"],
    ):
        steps.append((args, run(*args)))

    for args, done in steps:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert not leaks(done.stdout + done.stderr), (args, leaks(done.stdout + done.stderr))
    assert control.account("otp@example.com")["signin_count"] >= 1  # it really signed in, with TOTP
    assert "locked" in steps[-2][1].stdout  # status after the lock

    pushes = push.received
    assert any("lock" in p.body.decode("utf-8", "replace").lower() for p in pushes)
    assert len(pushes) >= 2  # the lock alert and the test message
    for p in pushes:
        assert not leaks(p.body), leaks(p.body)

    data = tmp_path / "data"
    session_dir = data / "sessions"
    written = [p for p in data.rglob("*") if p.is_file() and session_dir not in p.parents]
    assert any(p.name == "monitor.db" for p in written)
    for path in written:
        assert not leaks(path.read_bytes()), (path, leaks(path.read_bytes()))
