"""Finding a Chromium: configured path, Playwright's bundled one, then the system's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from monitor.browser import candidates, launch, ordinary_user_agent
from monitor.errors import BrowserNotFound


def fake_pw(bundled: str) -> SimpleNamespace:
    return SimpleNamespace(chromium=SimpleNamespace(executable_path=bundled))


def test_configured_path_wins_and_is_the_only_candidate(tmp_path) -> None:
    found = candidates(fake_pw("/nonexistent/chrome"), "/opt/my/chrome")
    assert [(c.source, c.path) for c in found] == [("configured executable_path", "/opt/my/chrome")]


def test_bundled_before_system(tmp_path, monkeypatch) -> None:
    bundled = tmp_path / "chrome"
    bundled.write_text("#!/bin/sh\n")
    bundled.chmod(0o755)
    system = tmp_path / "bin"
    system.mkdir()
    (system / "chromium").write_text("#!/bin/sh\n")
    (system / "chromium").chmod(0o755)
    monkeypatch.setenv("PATH", str(system))
    found = candidates(fake_pw(str(bundled)), None)
    assert [c.source for c in found] == ["Playwright's bundled Chromium", "system chromium"]
    assert found[0].path is None  # Playwright launches its own without executable_path


def test_missing_bundled_falls_back_to_system(tmp_path, monkeypatch) -> None:
    (tmp_path / "chromium-browser").write_text("#!/bin/sh\n")
    (tmp_path / "chromium-browser").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = candidates(fake_pw(str(tmp_path / "missing")), None)
    assert [(c.source, c.path) for c in found] == [("system chromium-browser", str(tmp_path / "chromium-browser"))]


def test_nothing_found_names_what_was_tried_and_the_fix(aio, playwright, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    bad = tmp_path / "not-a-browser"
    bad.write_text("just text")
    with pytest.raises(BrowserNotFound) as err:
        aio.run(launch(playwright, str(bad)))
    message = str(err.value)
    assert "\n" not in message
    assert str(bad) in message and "apt-get install -y chromium" in message


@pytest.mark.browser
def test_real_launch_presents_an_ordinary_user_agent(aio, chromium) -> None:
    ua = ordinary_user_agent(chromium)
    assert "HeadlessChrome" not in ua and f"Chrome/{chromium.version.split('.')[0]}." in ua
