"""Config loading: defaults, secrets, and one exact line for each kind of mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load
from monitor.errors import ConfigError

GOOD = """
data_dir = "data"
[[accounts]]
name = "shop"
profile = "mock-retailer"
base_url = "http://127.0.0.1:8600/"
username = "alice@example.com"
password = { env = "SHOP_PW" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_with_defaults(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "s3cret-value")
    cfg = load(write(tmp_path, GOOD))
    acct = cfg.account("shop")
    assert acct.base_url == "http://127.0.0.1:8600"
    assert acct.password is not None and acct.password.reveal() == "s3cret-value"
    assert cfg.data_dir == (tmp_path / "data").resolve()
    assert cfg.schedule.interval_s == 900 and cfg.browser.screenshots == "changes"
    assert "s3cret-value" not in repr(cfg) and "s3cret-value" not in str(acct.password)


def test_secret_from_file_and_command(tmp_path, monkeypatch) -> None:
    (tmp_path / "pw.txt").write_text("from-file\n")
    text = GOOD.replace('{ env = "SHOP_PW" }', '{ file = "pw.txt" }')
    text += 'totp_secret = { command = "echo JBSWY3DPEHPK3PXP; echo second line" }\n'
    acct = load(write(tmp_path, text)).account("shop")
    assert acct.password.reveal() == "from-file"
    assert acct.totp_secret.reveal() == "JBSWY3DPEHPK3PXP"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('username = "alice@example.com"\n', ""),
            "accounts[0] (shop).username: missing required key",
        ),
        (
            lambda t: t.replace('"mock-retailer"', '"nosuch-shop"'),
            "accounts[0] (shop).profile: unknown profile 'nosuch-shop' (shipped: mock-retailer;",
        ),
        (
            lambda t: t.replace("SHOP_PW", "UNSET_PW_VAR"),
            "accounts[0] (shop).password.env: environment variable UNSET_PW_VAR is not set",
        ),
        (
            lambda t: t.replace('{ env = "SHOP_PW" }', '{ file = "missing.txt" }'),
            "accounts[0] (shop).password.file: cannot read",
        ),
        (
            lambda t: t.replace('{ env = "SHOP_PW" }', '"inline-password"'),
            "accounts[0] (shop).password: write secrets as",
        ),
        (lambda t: t + "colour = 3\n", "accounts[0].colour: unknown key"),
        (lambda t: t.replace("http://127.0.0.1:8600/", "ftp://x"), "base_url: 'ftp://x' is not an http(s) URL"),
        (lambda t: t + '[browser]\nscreenshots = "sometimes"\n', "browser.screenshots: must be changes"),
        (lambda t: t + '[schedule]\ninterval = "soon"\n', "schedule.interval: not a duration"),
        (
            lambda t: t + '[[channels]]\nurl = "nosuchscheme://x"\n',
            "channels[0] (channel-1): url: Apprise cannot parse this URL",
        ),
        (lambda t: "[[accounts\n", "not valid TOML"),
    ],
    ids=[
        "missing-key",
        "unknown-profile",
        "missing-env",
        "unreadable-secret-file",
        "inline-secret",
        "unknown-key",
        "bad-url",
        "bad-screenshots",
        "bad-duration",
        "bad-channel",
        "bad-toml",
    ],
)
def test_bad_configs_give_one_exact_line(tmp_path, monkeypatch, edit, message) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as err:
        load(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text


def test_unreadable_config_file(tmp_path) -> None:
    path = write(tmp_path, GOOD)
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads anything: use a directory instead
        path = tmp_path / "dir.toml"
        path.mkdir()
    with pytest.raises(ConfigError, match=r"cannot read config file"):
        load(path)


def test_missing_config_file_names_init(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found \(create one with `monitor init`\)"):
        load(tmp_path / "nope.toml")


def test_cli_exits_2_with_one_line(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("SHOP_PW", "UNSET_PW_VAR"))
    env = {k: v for k, v in os.environ.items() if k != "UNSET_PW_VAR"}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"monitor: {path}: accounts[0] (shop).password.env: environment variable UNSET_PW_VAR is not set"
    ]
    assert done.stdout == ""


def test_init_writes_a_config_that_loads(tmp_path, monkeypatch) -> None:
    path = tmp_path / "new.toml"
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(path), "init"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and path.exists()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("SHOP_PASSWORD", "x")
    cfg = load(path)
    assert cfg.accounts[0].name == "shop" and cfg.channels[0].name == "phone"
