"""[browser] connect without a browser: how the address is read, which kind it is, and that its token stays hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.browser import endpoint_display, is_cdp, mask_endpoint
from monitor.config import load
from monitor.errors import ConfigError
from tests.helpers import run_monitor
from tests.test_config import GOOD, write

TOKEN = "tok-9f8e7d6c5b4a"


def test_the_address_is_a_secret_shown_as_scheme_host_and_port(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    cfg = load(write(tmp_path, GOOD + f'[browser]\nconnect = "wss://user:pass@browsers.internal:3000/{TOKEN}"\n'))
    assert cfg.browser.connect is not None and TOKEN not in repr(cfg.browser)
    assert cfg.browser.connect.reveal().endswith(TOKEN)
    assert endpoint_display(cfg.browser.connect.reveal()) == "wss://browsers.internal:3000"
    monkeypatch.setenv("BROWSER_URL", f"ws://127.0.0.1:3000/{TOKEN}")
    from_env = load(write(tmp_path, GOOD + '[browser]\nconnect = { env = "BROWSER_URL" }\n'))
    assert from_env.browser.connect is not None and from_env.browser.connect.reveal().endswith(TOKEN)


@pytest.mark.parametrize(
    ("url", "cdp"),
    [
        ("ws://127.0.0.1:3000/", False),
        (f"wss://host:443/{TOKEN}", False),
        ("http://127.0.0.1:9222", True),
        ("https://cdp.internal/", True),
        ("ws://127.0.0.1:9222/devtools/browser/0b6c4f4e", True),  # what Chromium prints as it starts
    ],
)
def test_http_and_devtools_addresses_are_cdp_the_rest_a_playwright_server(url: str, cdp: bool) -> None:
    assert is_cdp(url) is cdp


def test_masking_keeps_host_and_port_and_hides_user_path_and_query() -> None:
    url = f"ws://me:{TOKEN}@127.0.0.1:3000/path-{TOKEN}?token={TOKEN}"
    said = f"connect ECONNREFUSED 127.0.0.1:3000 ({url}); token={TOKEN}; path-{TOKEN}"
    masked = mask_endpoint(said, url)
    assert TOKEN not in masked and "me:" not in masked
    assert masked.startswith("connect ECONNREFUSED 127.0.0.1:3000 (ws://127.0.0.1:3000/***)")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f'"ftp://127.0.0.1:3000/{TOKEN}"', "browser.connect: must be ws:// or wss:// (a Playwright browser server)"),
        (f'"127.0.0.1:3000/{TOKEN}"', "browser.connect: must be ws:// or wss://"),
        (f'"ws://127.0.0.1:99999/{TOKEN}"', "browser.connect: is not a valid URL (check the host and port)"),
        (f'"ws:///{TOKEN}"', "browser.connect: has no host"),
        ("3000", "browser.connect: must be a URL string or { env = "),
    ],
    ids=["bad-scheme", "no-scheme", "bad-port", "no-host", "not-a-string"],
)
def test_a_bad_address_is_one_line_without_the_token(tmp_path, monkeypatch, value: str, message: str) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    path = write(tmp_path, GOOD + f"[browser]\nconnect = {value}\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text, text
    assert "\n" not in text and TOKEN not in text


def test_connect_and_executable_path_together_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    exe = tmp_path / "chrome"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    path = write(tmp_path, GOOD + f'[browser]\nconnect = "ws://127.0.0.1:3000/"\nexecutable_path = "{exe}"\n')
    with pytest.raises(ConfigError, match=r"give either connect \(a remote browser\) or executable_path"):
        load(path)


def test_cli_exits_2_with_one_line_before_any_check(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + f'[browser]\nconnect = "htp://127.0.0.1:3000/{TOKEN}"\n')
    done = run_monitor(path, "check", env={"SHOP_PW": "pw"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"monitor: {path}: browser.connect: must be ws:// or wss:// (a Playwright browser server) or http:// or "
        "https:// (a Chromium DevTools endpoint), not htp:"
    ]
    assert done.stdout == "" and not (tmp_path / "data" / "monitor.db").exists()


def test_an_address_from_an_unset_variable_stops_the_daemon_start(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + '[browser]\nconnect = { env = "NO_SUCH_BROWSER_URL" }\n')
    done = run_monitor(path, "run", env={"SHOP_PW": "pw"}, timeout=60)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()  # the daemon's log line: time, level, then the message
    assert line.endswith(f"monitor: {path}: browser.connect.env: environment variable NO_SUCH_BROWSER_URL is not set")


def test_a_reload_with_the_same_address_says_nothing_and_a_new_one_waits_for_a_restart(
    tmp_path, monkeypatch, caplog
) -> None:
    from monitor.daemon import Daemon

    monkeypatch.setenv("SHOP_PW", "pw")
    remote = f'[browser]\nconnect = "ws://127.0.0.1:3000/{TOKEN}"\n'
    path = write(tmp_path, GOOD + remote)
    daemon = Daemon(load(path), path)
    try:
        daemon.reload()  # the same address (a new Secret object): nothing to say
        assert not [r for r in caplog.records if "[browser]" in r.getMessage()]
        path.write_text(GOOD + remote.replace(":3000", ":3001"), encoding="utf-8")
        daemon.reload()
    finally:
        daemon.store.close()
    assert [r.getMessage() for r in caplog.records if "[browser]" in r.getMessage()] == [
        "config reload: [browser] changes take effect after a restart"
    ]
    assert daemon.config.browser.connect is not None and ":3000/" in daemon.config.browser.connect.reveal()
    assert TOKEN not in caplog.text
