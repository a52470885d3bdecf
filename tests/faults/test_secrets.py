"""A secrets sweep: every command run for real with known secret values; none may show up anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Control
from tests.receivers import PushReceiver

PASSWORD = "otp-pass-1"  # the seeded otp@example.com account of the mock retailer
TOTP_SEED = "JBSWY3DPEHPK3PXP"
TOKEN = "chan-tok-5f1e9a7c"  # the channel's credential, carried in its URL


@pytest.fixture
def push() -> Iterator[PushReceiver]:
    receiver = PushReceiver().start()
    yield receiver
    receiver.stop()


def leaks(data: bytes | str) -> list[str]:
    """Which of the known secrets appear in `data`."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [s for s in (PASSWORD, TOTP_SEED, TOKEN) if s in text or s.lower() in text.lower()]


@pytest.mark.browser
def test_no_secret_reaches_output_database_files_or_notifications(tmp_path: Path, retailer, push) -> None:
    (tmp_path / "seed.txt").write_text(TOTP_SEED + "\n")
    config = tmp_path / "monitor.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[[accounts]]\n"
        'name = "shop"\n'
        'profile = "mock-retailer"\n'
        f'base_url = "{retailer.url}"\n'
        'username = "otp@example.com"\n'
        'password = { env = "SWEEP_PW" }\n'
        'totp_secret = { file = "seed.txt" }\n'
        "[[channels]]\n"
        'name = "hook"\n'
        'url = { env = "SWEEP_HOOK" }\n',
        encoding="utf-8",
    )
    env = os.environ | {"SWEEP_PW": PASSWORD, "SWEEP_HOOK": f"json://sweep:{TOKEN}@127.0.0.1:{push.port}/hook"}
    control = Control(retailer.url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", "-v", "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )

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
