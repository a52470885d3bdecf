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
