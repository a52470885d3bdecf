"""Bad configs through the real CLI: exit 2, one stderr line naming the file and key, nothing written."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.profiles import SHIPPED
from tests.helpers import config_text, run_monitor

SHOP = {
    "name": "shop",
    "profile": "mock-retailer",
    "base_url": "http://127.0.0.1:9",
    "username": "alice@example.com",
    "password": {"env": "FAULT_PW"},
}
GOOD = config_text("data", [SHOP])


@dataclass
class Bad:
    """One bad config: how to make it from GOOD in a folder, and what its one line must say."""

    make: Callable[[Path], str]
    says: str  # the key (and what is wrong), after the file name


def edit(old: str, new: str) -> Callable[[Path], str]:
    """GOOD with one replacement."""
    return lambda folder: GOOD.replace(old, new, 1)


def append(text: str) -> Callable[[Path], str]:
    """GOOD with more lines (a [schedule] table, a channel, ...)."""
    return lambda folder: GOOD + text


def profile_with(old: str, new: str) -> Callable[[Path], str]:
    """GOOD using the shipped profile with one edit, saved as shop.toml next to the config."""

    def make(folder: Path) -> str:
        text = (SHIPPED / "mock-retailer.toml").read_text(encoding="utf-8")
        (folder / "shop.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
        return GOOD.replace('"mock-retailer"', '"./shop.toml"')

    return make


def data_dir(setup: Callable[[Path], Path]) -> Callable[[Path], str]:
    """GOOD with data_dir pointed at what `setup` prepares."""
    return lambda folder: GOOD.replace('data_dir = "data"', f'data_dir = "{setup(folder)}"')


def a_file(folder: Path) -> Path:
    (folder / "plain").write_text("x")
    return folder / "plain"


def under_a_file(folder: Path) -> Path:
    return a_file(folder) / "data"


def foreign(folder: Path) -> Path:
    (folder / "home").mkdir()
    (folder / "home" / "notes.txt").write_text("mine")
    return folder / "home"


def read_only(folder: Path) -> Path:
    (folder / "ro").mkdir()
    os.chmod(folder / "ro", 0o500)
    return folder / "ro" / "data"


def not_executable(folder: Path) -> str:
    (folder / "chrome").write_text("#!/bin/sh\n")
    os.chmod(folder / "chrome", 0o644)
    return GOOD + f'[browser]\nexecutable_path = "{folder / "chrome"}"\n'


def totp(value: str) -> Callable[[Path], str]:
    """GOOD with a TOTP seed in a file next to the config."""

    def make(folder: Path) -> str:
        (folder / "seed").write_text(value)
        return GOOD + 'totp_secret = { file = "seed" }\n'

    return make


CASES = {
    "interval-nan": Bad(append("[schedule]\ninterval = nan\n"), "schedule.interval: must be a finite number, not nan"),
    "interval-inf": Bad(append("[schedule]\ninterval = inf\n"), "schedule.interval: must be a finite number, not inf"),
    "retry-min-inf": Bad(append("[schedule]\nretry_min = inf\n"), "schedule.retry_min: must be a finite number"),
    "jitter-nan": Bad(append("[schedule]\njitter = nan\n"), "schedule.jitter: must be a finite number, not nan"),
    "account-interval-nan": Bad(append("interval = nan\n"), "accounts[0] (shop).interval: must be a finite number"),
    "heartbeat-not-a-url": Bad(
        append('[schedule]\nheartbeat_url = "ping me"\n'), "schedule.heartbeat_url: not an http(s) URL"
    ),
    "heartbeat-ftp": Bad(
        append('[schedule]\nheartbeat_url = "ftp://127.0.0.1/x"\n'), "schedule.heartbeat_url: not an http(s) URL"
    ),
    "ntfy-without-topic": Bad(
        append('[[channels]]\nurl = "ntfy://"\n'), "channels[0] (channel-1).url: the ntfy:// URL names no target"
    ),
    "apprise-unparseable": Bad(
        append('[[channels]]\nurl = "tgram://not-a-token/"\n'),
        "channels[0] (channel-1).url: Apprise cannot parse this URL (scheme tgram://)",
    ),
    "unknown-timezone": Bad(append('timezone = "Mars/Olympus"\n'), "accounts[0] (shop).timezone: unknown time zone"),
    "malformed-locale": Bad(append('locale = "en_US"\n'), "accounts[0] (shop).locale: 'en_US' is not a locale tag"),
    "executable-missing": Bad(
        append('[browser]\nexecutable_path = "/nonexistent/chrome"\n'),
        "browser.executable_path: /nonexistent/chrome does not exist",
    ),
    "executable-not-executable": Bad(not_executable, "browser.executable_path: "),
    "deeply-nested": Bad(lambda folder: "x = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML: nested too deeply"),
    "data-dir-is-a-file": Bad(data_dir(a_file), "data_dir: "),
    "data-dir-under-a-file": Bad(data_dir(under_a_file), "data_dir: "),
    "data-dir-foreign": Bad(data_dir(foreign), "data_dir: "),
    "data-dir-read-only": Bad(data_dir(read_only), "data_dir: "),
    "bad-rule-selector": Bad(
        profile_with('selector = "form#signin"', 'selector = "form#signin["'),
        "accounts[0] (shop).profile: profile ",
    ),
    "bad-signin-selector": Bad(
        profile_with('submit = "form#signin button[type=submit]"', 'submit = "form##signin"'),
        "accounts[0] (shop).profile: profile ",
    ),
    "console-on-any-address-without-password": Bad(
        lambda folder: config_text("data", [SHOP], web={"listen": "0.0.0.0:8765"}),
        "web.listen: '0.0.0.0:8765' is not a loopback address: anyone who reaches it could use the console;",
    ),
    "totp-not-base32": Bad(totp("this is not base32!"), "accounts[0] (shop).totp_secret: not a valid base32"),
    "missing-env-secret": Bad(
        edit("FAULT_PW", "FAULT_UNSET"), "accounts[0] (shop).password.env: environment variable FAULT_UNSET is not set"
    ),
}

# Keys in the one line that are not in `says` (the profile file's own part).
ALSO = {"bad-rule-selector": "rule 'signin-form'.selector: bad CSS selector", "bad-signin-selector": "signin.submit:"}


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with its size and mode."""
    return {str(p): (p.stat().st_size if p.is_file() else 0, p.stat().st_mode) for p in folder.rglob("*")}


@pytest.mark.parametrize("command", ["check", "run", "doctor"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, case: str, command: str) -> None:
    bad = CASES[case]
    config = tmp_path / "monitor.toml"
    config.write_text(bad.make(tmp_path), encoding="utf-8")
    if case == "data-dir-read-only" and os.access(tmp_path / "ro", os.W_OK):
        pytest.skip("running as root: a 0500 directory is writable anyway")
    before = files(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAULT_")} | {"FAULT_PW": "pw"}
    done = run_monitor(config, command, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{config}: {bad.says}" in lines[0]
    assert ALSO.get(case, "") in lines[0]
    if command != "doctor":
        assert done.stdout == ""
    assert files(tmp_path) == before  # nothing written, no data_dir made, no mode changed
