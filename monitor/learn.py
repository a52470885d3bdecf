"""`monitor learn ACCOUNT`: draft a generic profile from the owner's own account page (docs/profiles.md, "Learn")."""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.browser import open_context, present_as_ordinary_chrome
from monitor.config import Account, Config
from monitor.detect import flat, normalise, read_page
from monitor.errors import MonitorError
from monitor.fetch import PlaywrightFetcher
from monitor.files import write_private
from monitor.models import Status
from monitor.phrases import LANGUAGES, GenericRules, language
from monitor.profiles import AUTO, Profile, SignIn, load_profile, parse_profile, resolve
from monitor.text import clean

MAX_MARKERS = 5
MARKER_CHARS = (2, 60)
MONEY = re.compile(r"[$€£¥￥₩₹]|\b(USD|EUR|GBP|JPY|CNY|KRW)\b")
BLOCKED = (Status.LOCKED, Status.UNDER_REVIEW)

# Runs in the page: the main content as generic rules choose it (<main> or role=main, else the body),
# and its visible headings and labels outside header, footer, nav, aside and links.
_HEADINGS_JS = """
() => {
  const visible = (el) => el.checkVisibility ? el.checkVisibility({checkVisibilityCSS: true})
                                             : el.getClientRects().length > 0;
  const main = [...document.querySelectorAll("main, [role=main]")].find(visible);
  const root = main || document.body;
  const where = main ? (main.matches("main") ? "main" : "[role=main]") : "body";
  const OUT = "header, footer, nav, aside, a[href], dialog, [role=dialog], [role=navigation], [role=complementary]";
  const found = [];
  for (const el of root.querySelectorAll("h1, h2, h3, h4, [role=heading], legend, caption, th, dt")) {
    const out = el.closest(OUT);  // left out as generic rules leave it out (a page-level region, a link)
    if (!visible(el) || (out && out !== root && root.contains(out))) continue;
    found.push({tag: el.tagName.toLowerCase(), text: el.innerText});
  }
  return {where, found, lang: document.documentElement.lang || ""};
}
"""


class LearnRefused(MonitorError):
    """The page cannot be learned from (a lock, review or challenge page; nothing stable on it)."""


@dataclass(frozen=True)
class Candidate:
    """A heading seen on the owner's page, and why it was kept or left out."""

    text: str
    tag: str
    why_not: str = ""  # empty: kept as an ok marker


@dataclass
class Learned:
    """What `learn` found and wrote."""

    path: Path
    url: str
    region: str
    candidates: list[Candidate]
    markers: list[str]
    old_markers: list[str] | None  # None: no draft there before
    active: bool  # the path is the profile the account uses now
    storage_state: Path


async def learn(cfg: Config, account: Account, out: Path | None = None) -> Learned:
    """Sign in as a check does (or use the saved session), read the account pages twice, write the draft."""
    from monitor.coordinator import Coordinator
    from monitor.store import Store

    profile = load_profile(account.profile, cfg.path.parent)
    path = out or cfg.path.parent / "profiles" / f"{account.name}-learned.toml"
    store = Store.open(cfg.data_dir, check=True)
    coordinator = Coordinator(cfg, store)
    fetcher = coordinator.fetcher
    assert isinstance(fetcher, PlaywrightFetcher)
    try:
        coordinator.rebind(account)
        # As a check: the saved session (from a check, `monitor login`, session import or the console's
        # remote sign-in), else a sign-in within the budget; a challenge or rejection raises here.
        result = await fetcher.read(account, profile, coordinator.gate(account, store.state(account.name)))
        if result.match.status in BLOCKED:
            raise LearnRefused(_refusal(result.snap.url, str(result.match.status), result.match.rule))
        reads = [await _read_pages(fetcher, account, profile) for _ in range(2)]
    finally:
        await coordinator.close()
        store.close()
    (url, region, lang, first), (_, _, _, second) = reads
    candidates = _choose(first, second, account.username)
    markers = [c.text for c in candidates if not c.why_not][:MAX_MARKERS]
    if not markers:
        raise LearnRefused(
            f"learn: no stable heading on {url} to recognise the account page by (left out: "
            + "; ".join(f"{c.text!r} {c.why_not}" for c in candidates[:5])
            + "); nothing written"
        )
    old = _old_markers(path)
    text = draft(account, profile, region, markers, url, lang)
    parse_profile(tomllib.loads(text), path)  # never write a draft that would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text.encode())
    path.chmod(0o644)  # a profile holds no secret; other tools may read it
    active = resolve(account.profile, cfg.path.parent) == path.resolve()
    return Learned(path, url, region, candidates, markers, old, active, fetcher.sessions.path(account.name))


async def _read_pages(
    fetcher: PlaywrightFetcher, account: Account, profile: Profile
) -> tuple[str, str, str, list[Any]]:
    """The first status page's URL, main region, language and headings, read with the saved session."""
    # The library alone (no ok markers, no rules of the profile): a lock or review page must not be learned.
    probe = dataclasses.replace(profile, rules=(), generic=GenericRules())
    browser = await fetcher.manager.acquire()
    try:
        session = fetcher.sessions.load(account.name, account.binding)
        context = await open_context(browser, account.locale or profile.locale, profile.timezone, session)
        try:
            page = await context.new_page()
            await present_as_ordinary_chrome(context, page, account.locale or profile.locale)
            headings: list[Any] = []
            url = region = lang = ""
            for i, path in enumerate(profile.pages):
                await page.goto(account.base_url + path, wait_until="domcontentloaded", timeout=fetcher.timeout_ms)
                match, snap = await read_page(page, probe)
                if match.status in BLOCKED or match.problem is not None:
                    raise LearnRefused(_refusal(snap.url, str(match.problem or match.status), match.rule))
                raw = await page.evaluate(_HEADINGS_JS)
                headings += raw["found"]
                if i == 0:
                    url, region, lang = snap.url, raw["where"], clean(raw["lang"])[:35]
        finally:
            await context.close()
    finally:
        await fetcher.manager.release(browser)
    return url, region, lang, headings


def _refusal(url: str, reading: str, rule: str) -> str:
    return (
        f"learn: {url} reads as {reading} ({rule}); a lock, review or challenge page would make such a page "
        "look ok: learn from the normal account page once the account is active; nothing written"
    )


def _choose(first: list[Any], second: list[Any], username: str) -> list[Candidate]:
    """Every heading of the first read, kept or with the reason it is left out (in order, once each)."""
    # Flat (line breaks as spaces): ok markers are matched against the flattened main content.
    again = {flat(normalise(h["text"])).strip() for h in second}
    user = username.lower()
    local = user.split("@")[0]
    seen: set[str] = set()
    out: list[Candidate] = []
    for h in first:
        text = flat(normalise(h["text"])).strip()
        if not text or text in seen:
            continue
        seen.add(text)
        low = text.lower()
        why = ""
        if re.search(r"\d", text):
            why = "has digits (amounts, dates, order numbers)"
        elif MONEY.search(text):
            why = "has a currency"
        elif "@" in text or user in low or (len(local) >= 3 and local in low):
            why = "has the username"
        elif not MARKER_CHARS[0] <= len(text) <= MARKER_CHARS[1]:
            why = f"not {MARKER_CHARS[0]}-{MARKER_CHARS[1]} characters"
        elif text not in again:
            why = "differs between two reads"
        elif _library_phrase(text):
            why = f"the phrase library reads it ({_library_phrase(text)})"
        out.append(Candidate(text, h["tag"], why))
    return out


def _library_phrase(text: str) -> str:
    """The library phrase a candidate matches (a marker must never be a lock, review or sign-in word)."""
    for lang in LANGUAGES:
        lib = language(lang)
        for phrase in lib.phrases:
            if lib.find(phrase, flat(text)) is not None:
                return f"{lang}: {phrase.kind}"
    return ""


def _old_markers(path: Path) -> list[str] | None:
    """The ok markers of the draft already at `path` (None when there is none, or it cannot be read)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = data.get("ok", {})
    markers = ok.get("markers", []) if isinstance(ok, dict) else []
    return [str(m) for m in markers] if isinstance(markers, list) else None


def _q(value: str) -> str:
    """A TOML string (JSON's escaping is TOML's for basic strings)."""
    return json.dumps(value, ensure_ascii=False)


def _signin_toml(s: SignIn) -> tuple[str, str]:
    """The profile's sign-in as TOML: (a top-level line, tables)."""
    if s.auto and not s.url and s.otp is None:
        return f"signin = {_q(AUTO)}\n", ""
    lines = ["[signin]"] + ([f"url = {_q(s.url)}"] if s.url else [])
    if s.auto:
        lines.append("auto = true")
    elif not s.steps:
        lines += [f"username = {_q(s.username)}", f"password = {_q(s.password)}", f"submit = {_q(s.submit)}"]
    for step in s.steps:
        lines += ["", "[[signin.steps]]", f"{step.action} = {_q(step.selector)}"]
        if step.value:
            lines.append(f"value = {_q(step.value)}")
    if s.otp is not None:
        lines += ["", "[signin.otp]", f"url = {_q(s.otp.url)}", f"field = {_q(s.otp.field)}"]
        lines.append(f"submit = {_q(s.otp.submit)}")
    return "", "\n".join(lines) + "\n"


def draft(account: Account, profile: Profile, region: str, markers: list[str], url: str, lang: str) -> str:
    """The draft profile: the account profile's sign-in and pages, generic rules, the learned ok markers."""
    top, signin = _signin_toml(profile.signin)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Drafted by `monitor learn {account.name}` on {when} from {url} (page language: {lang or 'not said'}).",
        "# The ok markers are stable headings of the account's own page; everything else is read by the",
        '# phrase library (rules = "generic"). Check it, then point the account\'s profile at this file.',
        f"name = {_q(account.name + '-learned')}",
        f"description = {_q('Learned from ' + url)}",
        f"timezone = {_q(profile.timezone)}",
        f"settle_ms = {profile.settle_ms}",
        f"pages = [{', '.join(_q(p) for p in profile.pages)}]",
        'rules = "generic"',
    ]
    if profile.locale != "en-US":
        lines.append(f"locale = {_q(profile.locale)}")
    for key in ("allowed_origins", "allow"):
        if getattr(profile, key):
            lines.append(f"{key} = [{', '.join(_q(o) for o in getattr(profile, key))}]")
    lines += [top.rstrip("\n")] if top else []
    lines += [
        "",
        "[regions]",
        "# Where the markers were found (the main content generic rules read).",
        f"main = [{_q(region)}]",
    ]
    lines += ["", "[ok]", f"markers = [{', '.join(_q(m) for m in markers)}]"]
    return "\n".join(lines) + "\n" + ("\n" + signin if signin else "")


def report(learned: Learned) -> str:
    """What learn chose and why, and the markers' diff against the previous draft."""
    lines = [f"read {learned.url} (main content: {learned.region})"]
    for c in learned.candidates:
        if not c.why_not and c.text in learned.markers:
            lines.append(f"  ok marker {c.text!r} ({c.tag}): a heading of the main content, the same in two reads")
        elif c.why_not:
            lines.append(f"  left out {c.text!r} ({c.tag}): {c.why_not}")
    if learned.old_markers is not None:
        # As sets (sorted): a redesign that only reorders the headings changes nothing the rules read.
        before, now = sorted(learned.old_markers), sorted(learned.markers)
        diff = list(difflib.unified_diff(before, now, "ok markers before", "ok markers now", lineterm=""))
        lines += ["ok markers changed:", *diff] if diff else ["ok markers unchanged"]
    note = " (the profile this account uses now: rewritten)" if learned.active else ""
    lines.append(f"wrote {learned.path}{note}")
    return "\n".join(lines)
