"""Heavy pages in a real Chromium: a check downloads only what it reads (the retailer's request log shows it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures.control import Control
from monitor.models import Status
from tests.helpers import account_entry

pytestmark = pytest.mark.browser

SHIPPED = Path(__file__).parents[2] / "monitor" / "profiles" / "mock-retailer.toml"
DOCS_PICTURE = Path(__file__).parents[2] / "docs" / "img" / "heavy-page-blocked.png"
UNREAD = {"image", "font", "media"}


def served(control: Control) -> list[dict[str, Any]]:
    """The requests the retailer answered since the log was last emptied."""
    return control.requests()


@pytest.mark.parametrize(("state", "status"), [("locked", Status.LOCKED), ("active", Status.OK)])
def test_a_check_downloads_no_images_fonts_media_or_other_origins(
    rig, control: Control, monkeypatch, state: str, status: Status
) -> None:
    control.patch("alice@example.com", state=state, misbehaviour={"heavy": True})
    control.site(heavy=True)  # the sign-in pages carry the trackers too
    control.clear_requests()
    r = rig([account_entry("alice", monkeypatch)])
    reading = r.check("alice")
    assert reading.problem is None, reading.detail
    assert reading.status == status and reading.signed_in  # signed in through the heavy sign-in page
    log = served(control)
    assert [e for e in log if e["kind"] in UNREAD or e["origin"] != "site"] == []
    assert {"/signin", "/account"} <= {e["path"] for e in log}
    if state == "locked":
        # The screenshot on change shows the page without what was blocked (docs/profiles.md shows it).
        assert reading.screenshot
        shot = Path(reading.screenshot)
        assert shot.read_bytes()[:4] == b"\x89PNG"
        if os.environ.get("UPDATE_DOCS_PICTURES"):
            DOCS_PICTURE.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, DOCS_PICTURE)


def test_without_blocking_the_same_check_downloads_it_all(rig, control: Control, monkeypatch) -> None:
    # The bench's "off" seam; also proves the heavy page really asks for what the test above misses.
    control.patch("alice@example.com", state="locked", misbehaviour={"heavy": True})
    r = rig([account_entry("alice", monkeypatch)])
    r.coordinator.fetcher.block_unread = False  # type: ignore[attr-defined]
    assert r.check("alice").status == Status.LOCKED
    log = served(control)
    assert {e["kind"] for e in log} >= UNREAD
    assert {"script", "frame"} <= {e["kind"] for e in log if e["origin"] == "third_party"}


def test_an_allowed_origin_loads_and_nothing_else_does(rig, control: Control, monkeypatch, tmp_path: Path) -> None:
    third_party = control.clear_requests()
    profile = tmp_path / "shop-with-widgets.toml"
    profile.write_text(f"allow = [{third_party!r}]\n" + SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    control.patch("alice@example.com", state="locked", misbehaviour={"heavy": True})
    r = rig([account_entry("alice", monkeypatch, profile=str(profile))])
    assert r.check("alice").status == Status.LOCKED
    log = served(control)
    from_third = {e["path"] for e in log if e["origin"] == "third_party"}
    assert {"/analytics.js", "/chat"} <= from_third  # its script and its chat frame
    assert [e for e in log if e["kind"] in UNREAD] == []  # the pixel is an image: still blocked
