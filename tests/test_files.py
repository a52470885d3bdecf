"""Private files: modes, atomic writes, session files bound to their account, screenshots."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.async_api import StorageState

from monitor.errors import ConfigError
from monitor.files import (
    SessionFiles,
    cookie_belongs,
    ensure_private_dir,
    read_session_file,
    save_screenshot,
    write_private,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def session(cookie: str) -> StorageState:
    return cast(StorageState, {"cookies": [{"name": "sid", "value": cookie}], "origins": []})


def test_private_files_are_0600_in_0700_folders_and_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "data" / "sessions" / "shop.json"
    write_private(target, b"first")
    write_private(target, b"second")
    assert target.read_bytes() == b"second" and mode(target) == 0o600
    assert mode(tmp_path / "data" / "sessions") == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["shop.json"]  # no temp file left behind
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    ensure_private_dir(shared)
    assert mode(shared) == 0o755  # a folder that exists is not the monitor's to change


def test_a_session_is_bound_to_the_account_it_was_made_for(tmp_path: Path) -> None:
    files = SessionFiles(tmp_path / "sessions")
    assert files.load("shop") is None and files.age("shop") == float("inf")
    assert files.save("shop", session("a"), bound="alice")
    assert not files.save("shop", session("a"), bound="alice")  # unchanged: not written again
    loaded = cast(dict[str, Any], files.load("shop", "alice"))
    assert loaded["cookies"][0]["value"] == "a" and "monitor_bound_to" not in loaded
    assert files.save("shop", session("b"), bound="alice")
    files.path("shop").write_text("{not json", encoding="utf-8")  # e.g. a crash mid-copy by hand
    assert cast(dict[str, Any], files.load("shop", "alice"))["cookies"][0]["value"] == "a"  # the previous one
    assert files.load("shop", "hanako") is None  # made for someone else: discarded, files and all
    assert not files.path("shop").with_suffix(".json.prev").exists()


def test_a_screenshot_is_named_by_its_time_and_outcome(tmp_path: Path) -> None:
    path = save_screenshot(tmp_path, "shop", 1_800_000_000.0, "locked", b"\x89PNG")
    assert path == tmp_path / "screenshots" / "shop" / "20270115T080000-locked.png"
    assert path.read_bytes() == b"\x89PNG" and mode(path) == 0o600 and mode(path.parent) == 0o700
    assert save_screenshot(tmp_path, "shop", 1_800_000_001.0, "", b"").name == "20270115T080001-check.png"


@pytest.mark.parametrize(
    ("domain", "host", "belongs"),
    [
        ("shop.example", "shop.example", True),
        (".shop.example", "www.shop.example", True),  # a parent domain's cookie
        ("smile.shop.example", "shop.example", True),  # a subdomain's
        ("other.example", "shop.example", False),
        ("evilshop.example", "shop.example", False),
        (".example.net", "www.shop.example.net", True),
        ("com", "shop.com", False),  # never a bare top-level domain
        ("127.0.0.1", "127.0.0.1", True),
        ("0.0.1", "127.0.0.1", False),  # an address has no parent domain
    ],
)
def test_cookie_belongs_to_the_accounts_site(domain: str, host: str, belongs: bool) -> None:
    assert cookie_belongs(domain, host) is belongs


def test_session_file_with_a_cookie_playwright_would_refuse_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"cookies": [{"name": "sid", "value": "v", "domain": "127.0.0.1", "sameSite": "Sometimes"}]}')
    with pytest.raises(ConfigError, match=r"s\.json is not a session file: cookie 1 has a bad sameSite"):
        read_session_file(path, "binding", "127.0.0.1")
    path.write_text('{"cookies": [{"name": "sid", "value": "v", "domain": "127.0.0.1"}]}')
    state = read_session_file(path, "binding", "127.0.0.1")
    assert state["cookies"][0]["path"] == "/" and state["origins"] == []
