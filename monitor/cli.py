"""monitor: watch retailer accounts for lock and review states and alert the owner.

Every command reads the config from --config, else $MONITOR_CONFIG, else ./monitor.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from monitor import config as configmod
from monitor.errors import ConfigError, MonitorError
from monitor.models import Status
from monitor.store import StoreError

if TYPE_CHECKING:
    from monitor.actions import Actions
    from monitor.models import AccountState, Budget

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], object]]] = {}


def command(setup: Callable[[argparse.ArgumentParser], object] = lambda p: None) -> Callable[[Command], Command]:
    """Register a CLI command; its docstring is its help text."""

    def register(func: Command) -> Command:
        COMMANDS[func.__name__.removeprefix("cmd_").replace("_", "-")] = (func, setup)
        return func

    return register


def _config(args: argparse.Namespace) -> configmod.Config:
    """The validated config; secrets stay unresolved until a command resolves the ones it uses."""
    return configmod.load(Path(args.config) if args.config else None, resolve_secrets=False)


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


# Characters a line may break between even without a space (CJK scripts and full-width forms), except
# that closing punctuation never starts a line and opening brackets never end one.
_WIDE = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_OPEN, _CLOSE = "「『（【〔", "、。，．）」』】〕！？ー・："
_TOKEN = re.compile(rf" |[{_OPEN}]*[{_WIDE}][{_CLOSE}]*|[^ {_WIDE}]+")


def _cols(text: str) -> int:
    """Terminal columns `text` takes (East Asian wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(word: str, width: int) -> int:
    """How many characters of `word` fit in `width` columns (at least one)."""
    used = 0
    for i, ch in enumerate(word):
        used += _cols(ch)
        if used > width:
            return max(i, 1)
    return len(word)


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` columns, broken at spaces or between CJK characters, never mid-word.

    Only a single word longer than a whole line is cut.
    """
    lines: list[str] = []
    line = ""
    for token in _TOKEN.findall(" ".join(text.split())):
        if token == " ":
            line += " " if line else ""
            continue
        if _cols(line + token) > width and line.strip():
            lines.append(line.rstrip())
            line = ""
        while _cols(token) > width:
            n = _cut(token, width)
            lines.append(token[:n])
            token = token[n:]
        line += token
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def shorten(text: str, width: int) -> str:
    """`text` on one line of at most `width` columns, cut at a word boundary and marked with "…"."""
    flat = " ".join(text.split())
    if _cols(flat) <= width:
        return flat
    return wrap(flat, width - 1)[0] + "…"


def _table(rows: list[list[str]], header: list[str]) -> str:
    """Columns padded to the widest cell; the last column wraps at word boundaries to fit the terminal."""
    widths = [max(_cols(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    room = max(shutil.get_terminal_size((120, 24)).columns - sum(w + 2 for w in widths), 30)
    out = []
    for row in [header, *rows]:
        cells = [str(c) + " " * (w - _cols(str(c))) for c, w in zip(row, widths, strict=False)]
        for i, part in enumerate(wrap(str(row[-1]), room)):
            lead = cells if i == 0 else [" " * w for w in widths]
            out.append("  ".join([*lead, part]).rstrip())
    return "\n".join(out)


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
interval_while_locked = "5m"  # check interval while locked or under review
# active_hours = "7-23" # only check between these local hours

[[accounts]]
name = "shop"
profile = "mock-retailer"             # a shipped profile, or a path to your own .toml
base_url = "http://127.0.0.1:8600"    # the mock retailer's default port: python -m fixtures.retailer
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


async def _doctor_remote(endpoint: str, headless: bool) -> str:
    from monitor.browser import connect, start_driver

    pw = await start_driver()
    try:
        browser, shown = await connect(pw, endpoint, headless)
        await browser.close()
    finally:
        await pw.stop()
    return shown.replace(" (", " ok (", 1)


@command(lambda p: p.add_argument("--executable-path", help="try this Chromium instead of searching"))
def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the config, that a Chromium can be launched, each account's secrets and each channel.

    Each check is one line and a failure does not stop the others. Exit status: 0 all fine, 1 the
    browser failed or the database is damaged, 2 the config, a secret or a channel is wrong.
    Example: monitor doctor
    """
    status = 0

    def failed(message: str, code: int) -> None:
        nonlocal status
        print(f"monitor: {message}", file=sys.stderr)
        status = max(status, code)

    exe = args.executable_path
    path = Path(args.config) if args.config else configmod.default_path()
    cfg: configmod.Config | None = None
    if path.exists():
        try:
            cfg = configmod.load(path, resolve_secrets=False)
        except ConfigError as exc:
            failed(str(exc), 2)
        else:
            exe = exe or cfg.browser.executable_path
            print(
                f"config: {path} ok ({len(cfg.accounts)} account(s), {len(cfg.channels)} channel(s)); "
                f"data dir {cfg.data_dir}"
            )
    remote = cfg.browser.connect if cfg is not None and not args.executable_path else None
    headless = cfg.browser.headless if cfg is not None else True
    try:
        if remote is not None:
            # The remote browser's address is a secret of its own (it may carry a token): a bad one is config.
            problem = remote.problem()
            if problem:
                failed(problem, 2)
            else:
                print(f"browser: {asyncio.run(_doctor_remote(remote.reveal(), headless))}")
        else:
            print(f"browser: {asyncio.run(_doctor_browser(exe))}")
    except MonitorError as exc:
        failed(str(exc), 1)
    if cfg is not None:
        # The database: a damaged one is named here with the way out, instead of failing every command.
        from monitor.store import RECOVERY, integrity_problems

        db = cfg.data_dir / "monitor.db"
        db_problems = integrity_problems(db)
        if db_problems:
            failed(f"database: {db} is DAMAGED ({db_problems[0]}); to recover: {RECOVERY}", 1)
        else:
            print(f"database: {db} ok")
        for account in cfg.accounts:
            secrets = account.secrets()
            problems = [p for p in (s.problem() for s in secrets.values()) if p]
            for line in problems:
                failed(line, 2)
            if not problems:
                sources = ", ".join(f"{key} from {secret.source}" for key, secret in secrets.items())
                print(f"account {account.name}: secrets ok ({sources or 'none configured'})")
        for channel in cfg.channels:
            problem = channel.problem()
            if problem:
                failed(problem, 2)
            else:
                print(f"channel {channel.name}: ok")
        heartbeat = cfg.schedule.heartbeat_url
        if heartbeat is not None:
            problem = heartbeat.problem()
            if problem:
                failed(problem, 2)
            else:
                print("heartbeat_url: ok")
        other = _other_instance(cfg)
        if other:
            print(f"warning: {other}")
    if shutil.which("fc-list"):
        ja = subprocess.run(["fc-list", ":lang=ja"], capture_output=True, text=True, timeout=30).stdout.strip()
        if not ja:
            print(
                "fonts: no Japanese font installed; screenshots of Japanese pages will show empty boxes "
                "(Debian: sudo apt-get install -y fonts-ipafont-gothic)"
            )
    return status


def _other_instance(cfg: configmod.Config) -> str | None:
    """A running monitor on the default data dir (not this config's) watching an account of ours."""
    from monitor.store import watched_accounts

    default = configmod.default_data_dir()
    db = default / "monitor.db"
    if cfg.data_dir == default or not db.exists() or _daemon_pid(default) is None:
        return None
    try:
        watched = watched_accounts(db)
    except StoreError:
        return None
    same = sorted(watched & {a.name for a in cfg.accounts})
    if not same:
        return None
    return (
        f"another monitor is running on {default} and watches {', '.join(same)} too; two monitors on one "
        "account double its sign-ins (stop one, or give them different accounts)"
    )


# --- checks ------------------------------------------------------------------------


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("accounts", nargs="*", metavar="ACCOUNT", help="accounts to check (default: all enabled)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--no-send", action="store_true", help="queue alerts but do not try to send them now")


async def _run_checks(cfg: configmod.Config, names: list[str], send: bool) -> list:
    from monitor.coordinator import Coordinator
    from monitor.notify import Notifier
    from monitor.store import Store

    store = Store.open(cfg.data_dir, check=True)
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

    Exit status: 0 every account was read, 1 any had a problem or a page no rule matched, 2 bad config.
    Example: monitor check shop --json
    """
    cfg = _config(args)
    names = args.accounts or [a.name for a in cfg.accounts if a.enabled]
    for name in names:
        cfg.account(name)
    if not names:
        raise ConfigError(f"{cfg.path}: no accounts configured")
    # Every secret the checks and their alerts need, before a browser starts or a row is written.
    cfg.resolve(names, [c.name for c in cfg.channels])
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
                r.detail or r.rule or "",
            ]
            for r in readings
        ]
        print(_table(rows, ["ACCOUNT", "STATUS", "PROBLEM", "SIGNED IN", "TOOK", "RULE / DETAIL"]))
        for r in readings:
            if r.status == Status.UNKNOWN:
                from monitor.profiles import resolve as resolve_profile

                session = cfg.data_dir / "sessions" / f"{r.account}.json"
                signed_in = f" --storage-state {session}" if session.exists() else ""
                profile = cfg.account(r.account).profile
                if "/" in profile or profile.endswith(".toml"):  # relative to the config, not the cwd
                    profile = str(resolve_profile(profile, cfg.path.parent))
                print(
                    f"{r.account}: no rule matched {r.url}; see how the profile reads it:"
                    f" monitor try-profile {profile} {r.url}{signed_in}"
                )
    return 1 if any(r.problem or r.status == Status.UNKNOWN for r in readings) else 0


@command(lambda p: p.add_argument("account", metavar="ACCOUNT"))
def cmd_resume(args: argparse.Namespace) -> int:
    """Allow automated sign-ins again: lift a pause (CAPTCHA, rejected password) and reset a spent budget.

    Example: monitor resume shop
    """
    cfg = _config(args)
    account = cfg.account(args.account)
    with _actions(cfg) as actions:
        print(actions.resume(account.name))
    return 0


def _ack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument(
        "--until",
        metavar="WHEN",
        help='"6h", "2d" or "YYYY-MM-DD HH:MM" (local time); default: until the status changes',
    )


def parse_until(when: str, now: float) -> float:
    """--until as Unix seconds: a span from now ("6h", "2d", "90m", "30s") or a local "YYYY-MM-DD HH:MM"."""
    span = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", when)
    if span and float(span.group(1)) > 0:
        return now + float(span.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[span.group(2)]
    try:
        at = datetime.strptime(when.strip(), "%Y-%m-%d %H:%M").astimezone().timestamp()
    except ValueError:
        raise ConfigError(
            f'--until {when!r}: give a span like "6h" or "2d", or a local time "YYYY-MM-DD HH:MM"'
        ) from None
    if at <= now:
        raise ConfigError(f"--until {when!r} has already passed")
    return at


@command(_ack_args)
def cmd_ack(args: argparse.Namespace) -> int:
    """Acknowledge an account's lock or review: reminders stop until its status changes (or until --until).

    Example: monitor ack shop --until 6h
    """
    cfg = _config(args)
    account = cfg.account(args.account)
    until = parse_until(args.until, time.time()) if args.until else None
    with _actions(cfg) as actions:
        print(actions.acknowledge(account.name, until))
    return 0


@contextlib.contextmanager
def _actions(cfg: configmod.Config) -> Iterator[Actions]:
    """The owner's actions on this data dir, as the console has them (no scheduler: nothing to check now)."""
    from monitor.actions import Actions
    from monitor.notify import Notifier
    from monitor.store import Store

    store = Store.open(cfg.data_dir, check=True)
    try:
        yield Actions(cfg, store, Notifier(cfg, store), via="cli")
    finally:
        store.close()


def _daemon_pid(data_dir: Path) -> str | None:
    """The pid of a `monitor run` holding this data dir's lock, else None; creates and keeps nothing."""
    try:
        fd = os.open(data_dir / "monitor.lock", os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 32).decode(errors="replace").strip() or "?"
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)  # nobody held it: let go at once so a daemon can start
        return None
    finally:
        os.close(fd)


def _console_url(data_dir: Path) -> str | None:
    """The address of the console a running daemon serves (it writes it at start, removes it at stop)."""
    from monitor.daemon import CONSOLE_URL

    try:
        return (data_dir / CONSOLE_URL).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _browser_up(data_dir: Path) -> str | None:
    """The Chromium a running daemon has up now (it writes the file at launch and removes it at close)."""
    from monitor.daemon import BROWSER_UP

    try:
        return (data_dir / BROWSER_UP).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _account_states(cfg: configmod.Config) -> list[tuple[configmod.Account, AccountState, Budget]]:
    """Each account's stored state and sign-in budget; reads the database only if it exists."""
    from monitor.models import AccountState, Budget
    from monitor.store import Store

    if not (cfg.data_dir / "monitor.db").exists():  # status never creates a data dir
        return [(a, AccountState(a.name), Budget(0, a.signin_budget, None)) for a in cfg.accounts]
    store = Store.open(cfg.data_dir, check=True)
    try:
        return [(a, store.state(a.name), store.budget(a.name, a.signin_budget)) for a in cfg.accounts]
    finally:
        store.close()


def _next_signin(state: AccountState, budget: Budget) -> str:
    """When the next automated sign-in is allowed, for the status table."""
    if state.paused_reason:
        return "after `monitor resume`"
    if budget.limit == 0:
        return "never (signin_budget = 0)"
    return _when(budget.next_at) if budget.spent else "now"


def _next_check(cfg: configmod.Config, account: configmod.Account, s: AccountState, running: bool) -> float | None:
    """When a running daemon checks `account` next: its last check plus the interval (its jitter aside)."""
    if not running or not account.enabled or s.last_check_at is None:
        return None
    from monitor.schedule import interval_for, next_check_at

    last = datetime.fromtimestamp(s.last_check_at, UTC).astimezone()
    span = interval_for(account, cfg.schedule, s.status)
    mean = lambda low, high: (low + high) / 2  # noqa: E731  (the middle of the daemon's random choices)
    return next_check_at(last, span, 0.0, cfg.schedule.active_hours, uniform=mean).timestamp()


def _status_json(
    account: configmod.Account, s: AccountState, budget: Budget, next_check: float | None
) -> dict[str, Any]:
    """One account for `status --json`; times are Unix seconds."""
    return {
        "account": account.name,
        "enabled": account.enabled,
        "status": str(s.status) if s.status else None,
        "since": s.status_since,
        "last_check": s.last_check_at,
        "next_check": next_check,  # estimated, while a daemon runs; else null
        "last_success": s.last_success_at,
        "problem": str(s.problem) if s.problem else None,
        "problem_count": s.problem_count,
        "problem_since": s.problem_since,
        "paused": s.paused_reason,
        "paused_at": s.paused_at,
        # While the owner's acknowledgement holds (reminders stop); null otherwise. until null: the status changes.
        "acknowledged": {"at": s.acked_at, "until": s.ack_until} if s.acknowledged(time.time()) else None,
        "signins": {
            "used": budget.used,
            "limit": budget.limit,
            "window_h": 24,
            "allowed_now": not s.paused_reason and not budget.spent,
            "next_allowed": budget.next_at,  # when the budget frees up; null when it is not spent
        },
    }


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object: the daemon and each account")


@command(_status_args)
def cmd_status(args: argparse.Namespace) -> int:
    """Show each account's status, since when, the last check, any problem, pauses and sign-ins used.

    Also says whether a daemon (`monitor run`) is running on this data dir, where its console is, and
    whether its browser is up (it closes between checks after [browser] keep_warm).
    Example: monitor status --json
    """
    cfg = _config(args)
    pid = _daemon_pid(cfg.data_dir)
    console = _console_url(cfg.data_dir) if pid else None
    browser = _browser_up(cfg.data_dir) if pid else None
    states = _account_states(cfg)
    if args.json:
        daemon = {
            "running": pid is not None,
            "pid": int(pid) if pid and pid.isdigit() else None,
            "console": console,
            "browser": browser,  # the Chromium running now; null between checks or without a daemon
        }
        accounts = [_status_json(*entry, _next_check(cfg, entry[0], entry[1], pid is not None)) for entry in states]
        print(json.dumps({"data_dir": str(cfg.data_dir), "daemon": daemon, "accounts": accounts}, ensure_ascii=False))
        return 0
    print(f"daemon: running (pid {pid})" if pid else "daemon: not running", f"on {cfg.data_dir}")
    if console:
        from monitor.daemon import console_reach

        print(f"console: {console}{console_reach(cfg.web.host)}")
    if pid:
        if cfg.browser.connect is not None:
            # The address without its path or query, where a token may be.
            from monitor.browser import endpoint_display

            remote = cfg.browser.connect  # status must not fail where the daemon's environment had the secret
            shown = endpoint_display(remote.reveal()) if remote.problem() is None else f"({remote.source})"
            print(f"browser: remote {shown} (up)" if browser else f"browser: remote {shown} (not connected now)")
        else:
            print(f"browser: up ({browser})" if browser else "browser: down (the next check starts it)")
    rows = []
    for account, s, budget in states:
        rows.append(
            [
                account.name,
                str(s.status or "never read"),
                _when(s.status_since),
                _when(s.last_check_at),
                _when(_next_check(cfg, account, s, pid is not None)),
                f"{s.problem} x{s.problem_count}" if s.problem else "-",
                f"{budget.used}/{budget.limit}",
                _next_signin(s, budget),
                f"yes ({s.paused_reason})" if s.paused_reason else "no",
            ]
        )
    header = [
        "ACCOUNT",
        "STATUS",
        "SINCE",
        "LAST CHECK",
        "NEXT CHECK",
        "PROBLEM",
        "SIGN-INS 24H",
        "NEXT SIGN-IN",
        "PAUSED",
    ]
    print(_table(rows, header))
    now = time.time()
    for account, s, _budget in states:
        if s.acknowledged(now):  # one line each: a column would be empty for nearly every account
            print(f"{account.name}: acknowledged {_when(s.acked_at)}: {_ack_holds(s.ack_until)}")
    return 0


def _ack_holds(until: float | None) -> str:
    """How long an acknowledgement stops reminders, in the words `monitor ack` answers with."""
    if until is None:
        return "reminders stop until the status changes"
    at = datetime.fromtimestamp(until).astimezone().strftime("%Y-%m-%d %H:%M")
    return f"reminders stop until {at}, or until the status changes"


def _history_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--limit", type=int, default=20, help="how many transitions (default 20)")


@command(_history_args)
def cmd_history(args: argparse.Namespace) -> int:
    """List an account's transitions, newest first, with their evidence.

    Example: monitor history shop --limit 5
    """
    from monitor.store import Store

    cfg = _config(args)
    cfg.account(args.account)
    store = Store.open(cfg.data_dir, check=True)
    rows = [
        [
            _when(t.at),
            t.kind,
            f"{t.from_status or '-'} -> {t.to_status or '-'}",
            Path(t.screenshot).name if t.screenshot else "-",  # in <data_dir>/screenshots/ACCOUNT/
            t.matched or t.detail or "",
        ]
        for t in store.transitions(args.account, args.limit)
    ]
    store.close()
    print(_table(rows, ["WHEN", "KIND", "CHANGE", "SCREENSHOT", "EVIDENCE"]) if rows else "no transitions yet")
    return 0


@command(lambda p: p.add_argument("--channel", help="only this channel"))
def cmd_notify_test(args: argparse.Namespace) -> int:
    """Send a test message to each channel and report each one's real result.

    Exit status: 0 all delivered, 1 any failed.
    Example: monitor notify-test --channel phone
    """
    cfg = _config(args)
    channels = [c for c in cfg.channels if not args.channel or c.name == args.channel]
    if not channels:
        raise ConfigError(f"{cfg.path}: no channel {args.channel!r}" if args.channel else f"{cfg.path}: no channels")
    cfg.resolve([], [c.name for c in channels])
    with _actions(cfg) as actions:
        results = actions.send_test(args.channel)
    for name, result in results:
        print(f"{name}: {'delivered' if result.ok else 'FAILED: ' + (result.error or '')}")
    return 1 if any(not result.ok for _, result in results) else 0


def _outbox_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="include sent rows")
    p.add_argument("--send", action="store_true", help="try to deliver every pending row now, then list")


@command(_outbox_args)
def cmd_outbox(args: argparse.Namespace) -> int:
    """List pending and given-up alerts (with --all, sent ones too); --send delivers pending ones now.

    --send does not wait for a row's next retry time: it tries every channel's pending rows, in order.

    Example: monitor outbox --send
    """
    from monitor.models import OutboxState
    from monitor.notify import Notifier, describe
    from monitor.store import Store

    cfg = _config(args)
    if args.send:  # sending needs the channel URLs, which may be secrets
        cfg.resolve([], [c.name for c in cfg.channels])
    store = Store.open(cfg.data_dir, check=True)
    if args.send:
        asyncio.run(Notifier(cfg, store).drain(timeout=120, force=True))
    shown = (OutboxState.PENDING, OutboxState.GIVEN_UP)
    rows = store.outbox((*shown, OutboxState.SENT) if args.all else shown)
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

    from monitor.browser import launch, open_context, present_as_ordinary_chrome
    from monitor.detect import read_page

    async with async_playwright() as pw:
        browser, _ = await launch(pw)
        # As the daemon opens an account with this profile, so the page reads as it would there.
        context = await open_context(browser, profile.locale, profile.timezone, storage_state)
        page = await context.new_page()
        await present_as_ordinary_chrome(context, page, profile.locale)
        if target.startswith(("http://", "https://")):
            await page.goto(target, wait_until="domcontentloaded", timeout=30_000)
        else:
            html = Path(target).read_text(encoding="utf-8")
            await page.set_content(html, wait_until="domcontentloaded", timeout=30_000)
        match, snap = await read_page(page, profile)
        await browser.close()
    lines = [f"url: {snap.url}", f"title: {snap.title}"]
    lines += [f"region {name}: {shorten(text, 300)}" for name, text in snap.regions.items()]
    lines += [f"selector {k}: {'visible' if v is not None else 'not visible'}" for k, v in snap.selectors.items()]
    outcome = match.problem or match.status
    lines.append(f"reading: {outcome} (rule {match.rule or '-'}; evidence: {shorten(match.evidence, 120)})")
    return "\n".join(lines)


def _login_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--wait", type=float, default=600, help="seconds to wait for you to sign in (default 600)")


def _without_display(cfg: configmod.Config, account: str) -> str:
    """What `monitor login` says on a machine without a display: the console page, or copying a session."""
    console = cfg.web.public_url or _console_url(cfg.data_dir)
    page = f"/accounts/{quote(account, safe='')}/signin"
    if console and cfg.web.enabled:
        first = f"open {console.rstrip('/')}{page} (the console) from your phone or any browser and sign in there"
    else:
        first = (
            "enable the console ([web] in the config, docs/console.md), run `monitor run`, then open its "
            f"{page} page from your phone or any browser and sign in there"
        )
    name, file = shlex.quote(account), shlex.quote(f"{account}-session.json")
    return (
        "monitor: login opens a browser window and needs a display (DISPLAY is not set). Two other ways:\n"
        f"  1. {first};\n"
        "  2. sign in on a machine with a display and copy the session here:\n"
        f"       there: monitor login {name} && monitor session export {name} {file}\n"
        f"              scp {file} {socket.gethostname()}:\n"
        f"       here:  monitor session import {name} {file} && rm {file}"
    )


@command(_login_args)
def cmd_login(args: argparse.Namespace) -> int:
    """Open a browser window to sign in by hand (CAPTCHA, SMS code), then save the session.

    Needs a display. Saving the session also resumes automated sign-ins for the account. Without a
    display, sign in on the console's page (/accounts/ACCOUNT/signin) or on another machine and copy the
    session (`monitor session export` there, `monitor session import` here).
    Example: monitor login shop
    """
    from monitor.login import login

    cfg = _config(args)
    account = cfg.account(args.account)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print(_without_display(cfg, account.name), file=sys.stderr)
        return 2
    ok = asyncio.run(login(cfg, account, args.wait))
    return 0 if ok else 1


def _session_args(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write the account's saved session to FILE (0600)")
    export.add_argument("account", metavar="ACCOUNT")
    export.add_argument("file", metavar="FILE", help="where to write it (not -: a session is a secret)")
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    imp = actions.add_parser("import", help="use the session in FILE for the account and resume sign-ins")
    imp.add_argument("account", metavar="ACCOUNT")
    imp.add_argument("file", metavar="FILE", help="a file written by `monitor session export`")


@command(_session_args)
def cmd_session(args: argparse.Namespace) -> int:
    """Copy an account's signed-in session between machines: sign in where there is a display, check here.

    export ACCOUNT FILE writes the saved session to FILE (0600, bound to the account's site and user);
    import ACCOUNT FILE checks it, saves it as the account's session and lifts a sign-in pause. FILE
    signs anyone in as you: copy it with scp and delete it once imported.
    Example: monitor session export shop shop-session.json   (then, on the server:)
             monitor session import shop shop-session.json
    """
    from monitor.files import SessionFiles, export_session, read_session_file

    cfg = _config(args)
    account = cfg.account(args.account)
    sessions = SessionFiles(cfg.data_dir / "sessions")
    path = Path(args.file)
    if args.action == "export":
        export_session(sessions, account.name, account.binding, path, args.force)
        print(
            f"{account.name}: session written to {path} (0600). It signs anyone in as you: copy it to the "
            f"monitor's machine (scp), run `monitor session import {shlex.quote(account.name)} FILE` there, "
            "then delete both copies"
        )
        return 0
    if str(path) == "-":
        raise ConfigError("give the session file's path, not -")
    state = read_session_file(path, account.binding, urlsplit(account.base_url).hostname or "")
    with _actions(cfg) as actions:  # opens (and checks) the data directory before anything is saved
        sessions.save(account.name, state, account.binding)
        resumed = actions.resume(account.name)
    print(f"{account.name}: session imported from {path}")
    print(resumed)
    print(f"Next: `monitor check {shlex.quote(account.name)}` reads the account with it, without signing in.")
    return 0


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


def _web_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--open", action="store_true", help="also open the console in this machine's web browser")


@command(_web_args)
def cmd_web(args: argparse.Namespace) -> int:
    """Serve the console on [web] listen without checking anything (to look at a data dir); Ctrl-C stops it.

    Actions that need the daemon (check now) are refused. Example: monitor web --open
    """
    cfg = _config(args)
    if cfg.web.password is not None:
        cfg.web.password.reveal()
    return asyncio.run(_serve_console(cfg, args.open))


async def _serve_console(cfg: configmod.Config, open_browser: bool) -> int:
    """`monitor web`: the console over the data dir until SIGINT or SIGTERM."""
    import signal
    import webbrowser

    import monitor
    from monitor.actions import Actions, Health
    from monitor.daemon import console_reach, console_url, memory_mb, short_password
    from monitor.metrics import Metrics
    from monitor.notify import Notifier
    from monitor.store import Store
    from monitor.web import make_app, serve

    started = time.time()

    def health() -> Health:
        return Health(monitor.__version__, False, False, started, memory_mb=memory_mb(), data_dir=str(cfg.data_dir))

    store = Store.open(cfg.data_dir, check=True)
    try:
        actions = Actions(cfg, store, Notifier(cfg, store))
        app = make_app(cfg, store, actions, health, Metrics(cfg, store))
        try:
            runner, port = await serve(app, cfg.web.host, cfg.web.port)
        except OSError as exc:
            raise ConfigError(
                f"{cfg.path}: [web] listen = {cfg.web.listen!r}: cannot listen there ({exc.strerror})"
            ) from None
        except MonitorError as exc:  # the address is taken or not this machine's: like a bad config, exit 2
            pid = _daemon_pid(cfg.data_dir)
            served = _console_url(cfg.data_dir) if pid else None
            hint = f"; `monitor run` (pid {pid}) serves the console already: {served}" if served else ""
            raise ConfigError(f"{cfg.path}: {exc}{hint}") from None
        url = console_url(cfg.web.host, port)
        reach = console_reach(cfg.web.host)
        print(f"console at {url}{reach} (not checking: `monitor run` does that); Ctrl-C stops it", flush=True)
        if warning := short_password(cfg.web):
            print(f"monitor: warning: {cfg.path}: {warning}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if open_browser:
            opened = await asyncio.to_thread(webbrowser.open, url)
            if not opened:
                print("no web browser found here: open the address above", flush=True)
        await stop.wait()
        with contextlib.suppress(TimeoutError):  # a browser holding a connection open must not hold the stop
            await asyncio.wait_for(runner.cleanup(), timeout=5)
        print("console stopped")
        return 0
    finally:
        store.close()


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
        configmod.tame_apprise_log()
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # here, so that a reader that went away (`| head`) is handled below
        return code
    except BrokenPipeError:
        # The reader stopped reading: not an error. Point stdout at /dev/null so the flush at exit is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 2
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:  # e.g. a damaged page met mid-command, or a full disk
        print(
            f"monitor: the database failed ({exc}); `monitor doctor` checks it and says how to recover", file=sys.stderr
        )
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("monitor: interrupted", file=sys.stderr)
        return 130
