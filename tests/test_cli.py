"""The CLI: every command has help with an example; status reads the database without secrets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.cli import COMMANDS, main
from monitor.coordinator import Coordinator
from monitor.models import Reading, Status
from tests.test_notify import make_config


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name: str, capsys) -> None:
    func, _ = COMMANDS[name]
    assert func.__doc__ and "Example: monitor" in func.__doc__
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert func.__doc__.splitlines()[0] in capsys.readouterr().out


def test_status_and_history_need_no_secrets(tmp_path, monkeypatch) -> None:
    path = make_config(tmp_path, [])
    text = path.read_text() + 'password = { env = "NOT_SET_HERE" }\n'
    path.write_text(text)
    monkeypatch.setenv("NOT_SET_HERE", "x")
    from monitor import config as configmod
    from monitor.store import Store

    cfg = configmod.load(path)
    store = Store.open(cfg.data_dir)
    Coordinator(cfg, store).commit(Reading(account="shop", status=Status.LOCKED, at=1_800_000_000))
    store.close()
    monkeypatch.delenv("NOT_SET_HERE")
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(path), "status"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "shop" in out.stdout and "locked" in out.stdout


def test_run_with_a_bad_config_exits_2_before_starting(tmp_path) -> None:
    path = make_config(tmp_path, [])
    path.write_text(path.read_text() + "[schedule]\ninterval = -5\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(path), "run"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"{path}: schedule.interval: must be positive" in line
    assert not (tmp_path / "data" / "monitor.lock").exists()  # nothing of a daemon was started


def test_retention_keeps_readings_of_transitions(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.store import Store

    cfg = configmod.load(make_config(tmp_path, []))
    store = Store.open(cfg.data_dir)
    coordinator = Coordinator(cfg, store)
    for at, status in [(1000.0, Status.OK), (2000.0, Status.OK), (3000.0, Status.LOCKED), (9000.0, Status.LOCKED)]:
        coordinator.commit(Reading(account="shop", status=status, at=at))
    assert store.prune(before=5000.0) == 1  # the second ok reading; the first and the lock made transitions
    assert [r["at"] for r in store.readings("shop")] == [9000.0, 3000.0, 1000.0]
    assert len(store.transitions("shop")) == 2
