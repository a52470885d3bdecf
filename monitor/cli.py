"""monitor: watch retailer accounts for lock and review states and alert the owner.

Every command reads the config from --config, else $MONITOR_CONFIG, else ./monitor.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from monitor import config as configmod
from monitor.errors import ConfigError, MonitorError

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], object]]] = {}


def command(setup: Callable[[argparse.ArgumentParser], object] = lambda p: None) -> Callable[[Command], Command]:
    """Register a CLI command; its docstring is its help text."""

    def register(func: Command) -> Command:
        COMMANDS[func.__name__.removeprefix("cmd_").replace("_", "-")] = (func, setup)
        return func

    return register


def _config(args: argparse.Namespace, secrets: bool = True) -> configmod.Config:
    return configmod.load(Path(args.config) if args.config else None, resolve_secrets=secrets)


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


# --- init and doctor -------------------------------------------------------------

EXAMPLE = """\
# account-monitor configuration. Secrets are never written here in clear: each comes from an
# environment variable ({ env = "VAR" }), a file ({ file = "path" }) or a command ({ command = "..." }).

# Where the database, sessions and screenshots live (0700). Default: the platform's user data dir.
# data_dir = "~/.local/share/account-monitor"

[browser]
# executable_path = "/usr/bin/chromium"   # default: Playwright's Chromium, then chromium on PATH
headless = true
timeout_s = 30          # per navigation or action
screenshots = "changes" # changes | always | never

[schedule]
interval = "15m"        # between checks of one account (jittered)
alert_interval = "5m"   # while locked or under review
# active_hours = "7-23" # only check between these local hours

[[accounts]]
name = "shop"
profile = "mock-retailer"             # a shipped profile, or a path to your own .toml
base_url = "http://127.0.0.1:8600"
username = "alice@example.com"
password = { env = "SHOP_PASSWORD" }
# totp_secret = { file = "~/.config/account-monitor/shop.totp" }

[[channels]]
name = "phone"
url = "ntfy://ntfy.sh/my-secret-topic"   # any Apprise URL; see docs/notifications.md
# min_severity = "warning"
"""


@command(lambda p: p.add_argument("--force", action="store_true", help="overwrite an existing file"))
def cmd_init(args: argparse.Namespace) -> int:
    """Write a commented example config.

    Example: monitor init --config ~/.config/account-monitor/monitor.toml
    """
    path = Path(args.config) if args.config else configmod.default_path()
    if path.exists() and not args.force:
        print(f"monitor: {path} already exists (use --force to overwrite)", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(EXAMPLE)
    print(f"wrote {path}; edit it, then run `monitor check`")
    return 0


async def _doctor_browser(executable_path: str | None) -> str:
    from playwright.async_api import async_playwright

    from monitor.browser import launch

    async with async_playwright() as pw:
        browser, cand = await launch(pw, executable_path)
        version = browser.version
        await browser.close()
    return f"{cand.source} {cand.path or ''} (Chromium {version})".replace("  ", " ")


@command(lambda p: p.add_argument("--executable-path", help="try this Chromium instead of searching"))
def cmd_doctor(args: argparse.Namespace) -> int:
    """Check that a Chromium can be launched (and the config, if there is one).

    Example: monitor doctor
    """
    exe = args.executable_path
    path = Path(args.config) if args.config else configmod.default_path()
    db_problems: list[str] = []
    if path.exists():
        try:
            cfg = configmod.load(path)
        except ConfigError as exc:
            print(f"monitor: {exc}", file=sys.stderr)
            return 2
        exe = exe or cfg.browser.executable_path
        print(
            f"config: {path} ok ({len(cfg.accounts)} account(s), {len(cfg.channels)} channel(s)); "
            f"data dir {cfg.data_dir}"
        )
        # The database: a damaged one is named here with the way out, instead of failing every command.
        from monitor.store import RECOVERY, integrity_problems

        db = cfg.data_dir / "monitor.db"
        db_problems = integrity_problems(db)
        print(
            f"database: {db} DAMAGED ({db_problems[0]}); to recover: {RECOVERY}"
            if db_problems
            else f"database: {db} ok"
        )
    try:
        found = asyncio.run(_doctor_browser(exe))
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 1
    print(f"browser: {found}")
    if shutil.which("fc-list"):
        ja = subprocess.run(["fc-list", ":lang=ja"], capture_output=True, text=True, timeout=30).stdout.strip()
        if not ja:
            print(
                "fonts: no Japanese font installed; screenshots of Japanese pages will show empty boxes "
                "(Debian: sudo apt-get install -y fonts-ipafont-gothic)"
            )
    return 1 if db_problems else 0


# --- checks ------------------------------------------------------------------------


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("accounts", nargs="*", metavar="ACCOUNT", help="accounts to check (default: all enabled)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--no-send", action="store_true", help="queue alerts but do not try to send them now")


async def _run_checks(cfg: configmod.Config, names: list[str], send: bool) -> list:
    from monitor.coordinator import Coordinator
    from monitor.notify import Notifier
    from monitor.store import Store

    store = Store.open(cfg.data_dir)
    coordinator = Coordinator(cfg, store)
    coordinator.abort_on_signals()  # Ctrl-C or SIGTERM: the check under way records nothing
    try:
        readings = [await coordinator.check(name) for name in names]
        if send:
            await Notifier(cfg, store).drain(timeout=60)
        return readings
    finally:
        await coordinator.close()
        store.close()


@command(_check_args)
def cmd_check(args: argparse.Namespace) -> int:
    """Check accounts once, now, without the daemon; record readings and queue alerts.

    Exit status: 0 every account was read, 1 any had a problem, 2 bad config.
    Example: monitor check shop --json
    """
    cfg = _config(args)
    names = args.accounts or [a.name for a in cfg.accounts if a.enabled]
    for name in names:
        cfg.account(name)
    if not names:
        raise ConfigError(f"{cfg.path}: no accounts configured")
    readings = asyncio.run(_run_checks(cfg, names, not args.no_send))
    if args.json:
        for r in readings:
            print(
                json.dumps(
                    {
                        "account": r.account,
                        "status": str(r.status) if r.status else None,
                        "problem": str(r.problem) if r.problem else None,
                        "evidence": {
                            "rule": r.rule,
                            "matched": r.matched,
                            "url": r.url,
                            "title": r.title,
                            "detail": r.detail,
                            "screenshot": r.screenshot,
                        },
                        "signed_in": r.signed_in,
                        "duration_ms": r.duration_ms,
                    },
                    ensure_ascii=False,
                )
            )
    else:
        rows = [
            [
                r.account,
                str(r.status or "-"),
                str(r.problem or "-"),
                "yes" if r.signed_in else "no",
                f"{r.duration_ms} ms",
                (r.detail or r.rule or "")[:90],
            ]
            for r in readings
        ]
        print(_table(rows, ["ACCOUNT", "STATUS", "PROBLEM", "SIGNED IN", "TOOK", "RULE / DETAIL"]))
    return 1 if any(r.problem for r in readings) else 0


@command(lambda p: p.add_argument("account", metavar="ACCOUNT"))
def cmd_resume(args: argparse.Namespace) -> int:
    """Allow automated sign-ins again after a CAPTCHA, a rejected password or a one-time code.

    Example: monitor resume shop
    """
    from monitor.store import Store

    cfg = _config(args, secrets=False)
    cfg.account(args.account)
    store = Store.open(cfg.data_dir)
    was = store.resume(args.account)
    store.close()
    print(f"{args.account}: automated sign-ins resumed" if was else f"{args.account}: sign-ins were not paused")
    return 0


@command()
def cmd_status(args: argparse.Namespace) -> int:
    """Show each account's status, since when, the last check, any problem and pauses.

    Example: monitor status
    """
    from monitor.store import Store

    cfg = _config(args, secrets=False)
    store = Store.open(cfg.data_dir)
    rows = []
    for account in cfg.accounts:
        s = store.state(account.name)
        problem = f"{s.problem} x{s.problem_count}" if s.problem else "-"
        rows.append(
            [
                account.name,
                str(s.status or "never read"),
                _when(s.status_since),
                _when(s.last_check_at),
                problem,
                f"yes ({s.paused_reason})" if s.paused_reason else "no",
            ]
        )
    store.close()
    print(_table(rows, ["ACCOUNT", "STATUS", "SINCE", "LAST CHECK", "PROBLEM", "SIGN-INS PAUSED"]))
    return 0


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--limit", type=int, default=20, help="how many transitions (default 20)")


@command(_history_args)
def cmd_history(args: argparse.Namespace) -> int:
    """List an account's transitions, newest first, with their evidence.

    Example: monitor history shop --limit 5
    """
    from monitor.store import Store

    cfg = _config(args, secrets=False)
    cfg.account(args.account)
    store = Store.open(cfg.data_dir)
    rows = [
        [
            _when(t["at"]),
            t["kind"],
            f"{t['from_status'] or '-'} -> {t['to_status'] or '-'}",
            (t["matched"] or t["detail"] or "")[:70],
            t["screenshot"] or "",
        ]
        for t in store.transitions(args.account, args.limit)
    ]
    store.close()
    print(_table(rows, ["WHEN", "KIND", "CHANGE", "EVIDENCE", "SCREENSHOT"]) if rows else "no transitions yet")
    return 0


@command(lambda p: p.add_argument("--channel", help="only this channel"))
def cmd_notify_test(args: argparse.Namespace) -> int:
    """Send a test message to each channel and report each one's real result.

    Exit status: 0 all delivered, 1 any failed.
    Example: monitor notify-test --channel phone
    """
    from monitor.models import AlertKind, Severity
    from monitor.notify import Notifier, render
    from monitor.store import Store

    cfg = _config(args)
    channels = [c for c in cfg.channels if not args.channel or c.name == args.channel]
    if not channels:
        raise ConfigError(f"{cfg.path}: no channel {args.channel!r}" if args.channel else f"{cfg.path}: no channels")
    store = Store.open(cfg.data_dir)
    notifier = Notifier(cfg, store)
    failed = 0
    for channel in channels:
        title, body = render(AlertKind.TEST, {"channel": channel.name}, None, cfg, "en")
        result = notifier.send_now(channel, title, body, Severity.INFO)
        print(f"{channel.name}: {'delivered' if result.ok else 'FAILED: ' + (result.error or '')}")
        failed += not result.ok
    store.close()
    return 1 if failed else 0


def _outbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="include sent rows")
    p.add_argument("--send", action="store_true", help="try to deliver due rows now, then list")


@command(_outbox_args)
def cmd_outbox(args: argparse.Namespace) -> int:
    """List pending and given-up alerts (with --all, sent ones too); --send delivers due ones now.

    Example: monitor outbox --send
    """
    from monitor.notify import Notifier, describe
    from monitor.store import Store

    cfg = _config(args, secrets=args.send)  # sending needs channel URLs that may be secrets
    store = Store.open(cfg.data_dir)
    if args.send:
        asyncio.run(Notifier(cfg, store).drain(timeout=120))
    states = ("pending", "given_up", "sent") if args.all else ("pending", "given_up")
    rows = store.outbox(states)
    store.close()
    for row in rows:
        print(describe(row))
    if not rows:
        print("outbox is empty")
    return 0


def _try_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", help="a shipped profile name or a path to a .toml file")
    p.add_argument("target", help="a URL, or a saved page (.html file)")
    p.add_argument("--storage-state", help="a Playwright storage-state JSON to open the URL signed in")


@command(_try_args)
def cmd_try_profile(args: argparse.Namespace) -> int:
    """Show how a profile reads a URL or a saved page: the regions' text and the deciding rule.

    Example: monitor try-profile ./mysite.toml saved-account-page.html
    """
    from monitor.profiles import load_profile

    profile = load_profile(args.profile, Path.cwd())
    result = asyncio.run(_try_profile(profile, args.target, args.storage_state))
    print(result)
    return 0


async def _try_profile(profile, target: str, storage_state: str | None) -> str:  # type: ignore[no-untyped-def]
    from playwright.async_api import async_playwright

    from monitor.browser import launch, ordinary_user_agent
    from monitor.detect import read_page

    async with async_playwright() as pw:
        browser, _ = await launch(pw)
        context = await browser.new_context(
            storage_state=storage_state, locale=profile.locale, user_agent=ordinary_user_agent(browser)
        )
        page = await context.new_page()
        if target.startswith(("http://", "https://")):
            await page.goto(target, wait_until="domcontentloaded", timeout=30_000)
        else:
            html = Path(target).read_text(encoding="utf-8")
            await page.set_content(html, wait_until="domcontentloaded", timeout=30_000)
        match, snap = await read_page(page, profile)
        await browser.close()
    lines = [f"url: {snap.url}", f"title: {snap.title}"]
    lines += [f"region {name}: {text[:300]}" for name, text in snap.regions.items()]
    lines += [f"selector {k}: {'visible' if v is not None else 'not visible'}" for k, v in snap.selectors.items()]
    outcome = match.problem or match.status
    lines.append(f"reading: {outcome} (rule {match.rule or '-'}; evidence: {match.evidence[:120]})")
    return "\n".join(lines)


def _login_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--wait", type=float, default=600, help="seconds to wait for you to sign in (default 600)")


@command(_login_args)
def cmd_login(args: argparse.Namespace) -> int:
    """Open a browser window to sign in by hand (CAPTCHA, SMS code), then save the session.

    Needs a display. Saving the session also resumes automated sign-ins for the account.
    Example: monitor login shop
    """
    from monitor.login import login

    cfg = _config(args)
    account = cfg.account(args.account)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print(
            "monitor: login opens a browser window and needs a display (DISPLAY is not set); run it on a "
            "desktop, over `ssh -X`, or copy a session file from a machine that has one",
            file=sys.stderr,
        )
        return 2
    ok = asyncio.run(login(cfg, account, args.wait))
    return 0 if ok else 1


# --- the daemon ------------------------------------------------------------------


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-json", action="store_true", help="log one JSON object per line")


@command(_run_args)
def cmd_run(args: argparse.Namespace) -> int:
    """Run the monitor as a daemon: scheduled checks, alerts and their delivery.

    SIGTERM/SIGINT stop it, SIGHUP reloads the config. Example: monitor run --config /etc/account-monitor.toml
    """
    from monitor.daemon import run

    path = Path(args.config) if args.config else configmod.default_path()
    return run(path, log_json=args.log_json)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each command's docstring is its help."""
    parser = argparse.ArgumentParser(
        prog="monitor", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", help="config file (default: $MONITOR_CONFIG, else ./monitor.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (func, setup) in COMMANDS.items():
        doc = func.__doc__ or ""
        p = sub.add_parser(
            name, help=doc.splitlines()[0], description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        setup(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `monitor` console script."""
    args = build_parser().parse_args(argv)
    if args.command != "run":
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # e.g. a damaged page met mid-command
        print(
            f"monitor: the database failed ({exc}); `monitor doctor` checks it and says how to recover", file=sys.stderr
        )
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("monitor: interrupted", file=sys.stderr)
        return 130
