"""Generic rules: a warm check's cost against the hand-written profile's (interleaved), and accuracy on saved pages."""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path
from typing import Any

from bench.common import InProcess, summary, user
from fixtures.config import write_config
from monitor import config as configmod
from monitor.browser import BrowserManager
from monitor.coordinator import Coordinator
from monitor.detect import read_page
from monitor.fetch import PlaywrightFetcher
from monitor.files import SessionFiles
from monitor.phrases import LANGUAGES
from monitor.profiles import load_profile
from monitor.store import Store

PAGES = Path(__file__).parent.parent / "tests" / "pages" / "generic"
PROFILES = {"u0001": "mock-retailer", "u0002": str(PAGES / "retailer.toml")}  # hand-written, generic


def rig(folder: Path, url: str) -> InProcess:
    """Two warm accounts of the same retailer: one read by the hand-written profile, one by generic rules."""
    accounts = []
    for i, (name, profile) in enumerate(PROFILES.items(), start=1):
        n = f"{i:04d}"
        os.environ[f"BENCH_PW_{n}"] = f"password-{n}"
        accounts.append(
            {
                "name": name,
                "profile": profile,
                "base_url": url,
                "username": user(i),
                "password": {"env": f"BENCH_PW_{n}"},
            }
        )
    cfg = configmod.load(write_config(folder, accounts, extra='[browser]\nscreenshots = "never"\n'))
    store = Store.open(cfg.data_dir)
    manager = BrowserManager(recycle_after=100_000)
    fetcher = PlaywrightFetcher(cfg.browser, SessionFiles(cfg.data_dir / "sessions"), manager)
    return InProcess(cfg, store, manager, fetcher, Coordinator(cfg, store, fetcher))


async def generic(url: str, folder: Path, rounds: int) -> dict[str, Any]:
    """Warm check cost, generic over hand-written (rounds alternate which goes first), and saved-page accuracy."""
    r = rig(folder / "generic", url)
    times: dict[str, list[float]] = {name: [] for name in PROFILES}
    try:
        for name in PROFILES:  # sign in and warm up both
            for _ in range(3):
                reading = await r.coordinator.check(name)
                assert reading.status is not None, reading
        for i in range(rounds):
            for name in list(PROFILES)[:: 1 if i % 2 == 0 else -1]:
                t0 = time.perf_counter()
                reading = await r.coordinator.check(name)
                times[name].append(time.perf_counter() - t0)
                assert reading.status is not None and not reading.signed_in, reading
        accuracy = await saved_pages(r.manager)
    finally:
        await r.coordinator.close()
        await r.manager.close()
        r.store.close()
    hand, gen = summary(times["u0001"]), summary(times["u0002"])
    return {"profile_s": hand, "generic_s": gen, "generic_over_profile": gen["median"] / hand["median"], **accuracy}


async def saved_pages(manager: BrowserManager) -> dict[str, Any]:
    """Each saved page of tests/pages/generic/ read by generic rules: right readings per language, false locks."""
    table = tomllib.loads((PAGES / "readings.toml").read_text(encoding="utf-8"))["page"]
    profile = load_profile(str(PAGES / "saved.toml"))
    right: dict[str, list[bool]] = {lang: [] for lang in LANGUAGES}
    false_locks = ok_pages = 0
    wrong: list[str] = []
    browser = await manager.acquire()
    try:
        context = await browser.new_context()
        page = await context.new_page()
        for case in table:
            await page.goto((PAGES / case["file"]).as_uri(), wait_until="domcontentloaded")
            match, _ = await read_page(page, profile)
            outcome = str(match.problem or match.status)
            right[case["file"].split("/")[0]].append(outcome == case["outcome"])
            if outcome != case["outcome"]:
                wrong.append(f"{case['file']}: {outcome} (expected {case['outcome']})")
            if case["outcome"] in ("ok", "unknown"):
                ok_pages += 1
                false_locks += outcome in ("locked", "under_review")
        await context.close()
    finally:
        await manager.release(browser)
    return {
        "generic_accuracy": {lang: sum(v) / len(v) for lang, v in right.items() if v},
        "pages": {lang: len(v) for lang, v in right.items() if v},
        "false_locks": false_locks,
        "ok_pages": ok_pages,
        "wrong": wrong,
    }


def keys(result: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys results.json gets."""
    return {"generic_over_profile": result["generic_over_profile"], "generic_accuracy": result["generic_accuracy"]}


def table_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The benchmark table's rows (none in a results file written before generic rules were measured)."""
    if "generic_over_profile" not in r:
        return []
    g = r["detail"]["generic"]

    def ms(x: dict[str, float]) -> str:
        return f"{x['median'] * 1000:.0f} ms [{x['min'] * 1000:.0f}-{x['max'] * 1000:.0f}]"

    ratio = r["generic_over_profile"]
    cost = f"{ratio:.2f}x (generic {ms(g['generic_s'])}, profile {ms(g['profile_s'])}, n={g['generic_s']['n']})"
    acc = r["generic_accuracy"]
    worst = min(acc.values())
    langs = ", ".join(f"{lang} {v:.0%}" for lang, v in acc.items())
    pages = sum(g["pages"].values())
    return [
        ("warm check, generic rules / hand-written profile", cost, "<= 1.2x", "met" if ratio <= 1.2 else "**missed**"),
        (f"generic rules on {pages} saved pages, right per language", langs, "reported", ""),
        (
            "false locks on the saved ok pages (generic rules)",
            f"{g['false_locks']} of {g['ok_pages']}",
            "0",
            "met" if g["false_locks"] == 0 else "**missed**",
        ),
    ] + ([("  worst language", f"{worst:.0%}", "", "")] if worst < 1 else [])
