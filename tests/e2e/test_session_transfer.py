"""`monitor session export` / `import`: sign in on one machine, check on another (two data dirs, real checks)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from fixtures.control import Control
from tests.helpers import account_entry, run_monitor, write_config

pytestmark = pytest.mark.browser


def _machine(folder: Path, retailer: Any, monkeypatch: Any, name: str = "alice", **web: Any) -> Path:
    """A config and data dir of its own, as on another machine."""
    return write_config(folder, [account_entry(name, monkeypatch)], base_url=retailer.url, web=web or None)


def _check(config: Path, account: str = "alice") -> dict[str, Any]:
    done = run_monitor(config, "check", account, "--json")
    assert "correct-horse" not in done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def test_session_exported_on_one_machine_is_used_by_checks_on_another(
    tmp_path, retailer, control: Control, monkeypatch
) -> None:
    laptop, server = (
        _machine(tmp_path / "laptop", retailer, monkeypatch),
        _machine(tmp_path / "server", retailer, monkeypatch),
    )
    control.misbehave("alice@example.com", captcha=True)
    assert _check(server)["problem"] == "challenge"  # the server met a CAPTCHA: sign-ins paused
    control.misbehave("alice@example.com", captcha=False)
    assert _check(laptop)["status"] == "ok"  # the laptop signs in (by hand, or as here by a check)
    control.misbehave("alice@example.com", captcha=True)  # any sign-in from here on would stop at the CAPTCHA
    signins = control.account("alice@example.com")["signin_count"]

    file = tmp_path / "alice-session.json"
    exported = run_monitor(laptop, "session", "export", "alice", str(file))
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert "correct-horse" not in exported.stdout + exported.stderr + file.read_text()
    assert "monitor_bound_to" in json.loads(file.read_text())  # bound to the account's site and user

    imported = run_monitor(server, "session", "import", "alice", str(file))
    assert imported.returncode == 0, imported.stderr
    assert "lifted the pause (challenge)" in imported.stdout and "monitor check alice" in imported.stdout
    assert "correct-horse" not in imported.stdout + imported.stderr
    saved = tmp_path / "server" / "data" / "sessions" / "alice.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    reading = _check(server)
    assert reading["status"] == "ok" and not reading.get("problem")
    assert control.account("alice@example.com")["signin_count"] == signins  # no sign-in: the copied session


def test_session_of_another_account_is_refused(tmp_path, retailer, control: Control, monkeypatch) -> None:
    laptop = _machine(tmp_path / "laptop", retailer, monkeypatch)
    assert _check(laptop)["status"] == "ok"
    file = tmp_path / "alice-session.json"
    assert run_monitor(laptop, "session", "export", "alice", str(file)).returncode == 0
    # Same account name on the server, but another user of the site.
    server = write_config(
        tmp_path / "server", [account_entry("hanako", monkeypatch) | {"name": "alice"}], base_url=retailer.url
    )
    done = run_monitor(server, "session", "import", "alice", str(file))
    assert done.returncode == 2
    assert done.stderr.strip() == f"monitor: {file} was exported for another account/site/user; not imported"
    assert not (tmp_path / "server" / "data" / "sessions" / "alice.json").exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not json at all", "is not a session file: not JSON"),
        (b"[1, 2]", "is not a session file: no list of cookies"),
        (b'{"cookies": [{"name": "sid"}]}', "is not a session file: cookie 1 lacks a name, value or domain"),
        (b'{"cookies": [], "origins": "x"}', "is not a session file: origins is not a list of objects"),
        (
            b'{"cookies": [{"name": "sid", "value": "v", "domain": "evil.example"}]}',
            "has a cookie for 'evil.example', not this account's site 127.0.0.1; not imported",
        ),
        (b"{" + b" " * (5 * 1024 * 1024) + b"}", "too large for a session file (at most 5 MB)"),
        (None, "cannot read"),
    ],
    ids=["not-json", "no-cookies", "bad-cookie", "bad-origins", "other-site", "too-large", "missing"],
)
def test_bad_session_file_is_one_line_naming_it(
    tmp_path, retailer, monkeypatch, content: bytes | None, says: str
) -> None:
    server = _machine(tmp_path, retailer, monkeypatch)
    file = tmp_path / "session.json"
    if content is not None:
        file.write_bytes(content)
    done = run_monitor(server, "session", "import", "alice", str(file))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert str(file) in line and says in line, line
    assert not (tmp_path / "data" / "sessions" / "alice.json").exists()


def test_export_refuses_the_terminal_an_existing_file_and_a_missing_session(
    tmp_path, retailer, control: Control, monkeypatch
) -> None:
    laptop = _machine(tmp_path, retailer, monkeypatch)
    file = tmp_path / "out.json"
    none = run_monitor(laptop, "session", "export", "alice", str(file))
    assert none.returncode == 1 and "alice has no saved session" in none.stderr and not file.exists()
    assert _check(laptop)["status"] == "ok"
    dash = run_monitor(laptop, "session", "export", "alice", "-")
    assert dash.returncode == 2 and "not - (the terminal)" in dash.stderr and "sid" not in dash.stdout
    file.write_text("keep me")
    kept = run_monitor(laptop, "session", "export", "alice", str(file))
    assert kept.returncode == 2 and f"{file} exists; add --force" in kept.stderr
    assert file.read_text() == "keep me"
    os.chmod(file, 0o644)
    forced = run_monitor(laptop, "session", "export", "alice", str(file), "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(file.read_text())["cookies"] and stat.S_IMODE(file.stat().st_mode) == 0o600


@pytest.mark.parametrize("public_url", [None, "https://monitor.example.net"])
def test_login_without_a_display_explains_the_two_ways(tmp_path, retailer, monkeypatch, public_url) -> None:
    config = _machine(tmp_path, retailer, monkeypatch, **({"public_url": public_url} if public_url else {}))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = run_monitor(config, "login", "alice", env=env)
    assert done.returncode == 2 and "needs a display (DISPLAY is not set)" in done.stderr
    if public_url:
        assert "open https://monitor.example.net/accounts/alice/signin (the console)" in done.stderr
    else:
        assert "enable the console ([web] in the config" in done.stderr and "/accounts/alice/signin" in done.stderr
    assert "monitor session export alice alice-session.json" in done.stderr
    assert "monitor session import alice alice-session.json" in done.stderr
    assert "correct-horse" not in done.stderr + done.stdout
