"""Settings and accounts from a TOML file: validated up front; secrets resolved where used, never shown."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from monitor.errors import ConfigError
from monitor.files import data_dir_problem
from monitor.models import AlertKind, ScreenshotMode, Severity
from monitor.schema import Reader, locale_problem, read_toml, timezone_problem
from monitor.text import Advice, parse_advice, template_problem

log = logging.getLogger("monitor.config")

DEFAULT_NAME = "monitor.toml"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch it: with match and $, "shop\n" got through
# Written into a data_dir the monitor creates: only such a directory (or one holding monitor.db,
# made by an older version) is used, so that a data_dir of "~" or "/tmp" is refused.
# Every key the parser accepts, by table: the parser reads these sets, docs/config.md documents them.
TOP_KEYS = {"data_dir", "browser", "accounts", "channels", "schedule", "templates", "web"}
BROWSER_KEYS = {
    "executable_path", "headless", "timeout_s", "check_timeout_s", "recycle_after", "screenshots", "max_page_mb",
    "keep_warm", "connect",
}  # fmt: skip
ACCOUNT_KEYS = {
    "name",
    "profile",
    "base_url",
    "username",
    "password",
    "totp_secret",
    "locale",
    "timezone",
    "signin_budget",
    "interval",
    "enabled",
    "advice",
}
CHANNEL_KEYS = {"name", "url", "config_file", "tags", "min_severity", "accounts"}
SCHEDULE_KEYS = {
    "interval",
    "interval_while_locked",
    "jitter",
    "max_concurrency",
    "active_hours",
    "unknown_confirm",
    "problem_confirm",
    "review_reminder",
    "locked_reminder",
    "reminder_every",
    "stale_after_intervals",
    "heartbeat_url",
    "retention_days",
    "keep_transitions",
    "keep_deliveries",
    "outbox_max_age",
    "retry_min",
    "retry_max",
}
REMOTE_SCHEMES = ("ws", "wss", "http", "https")  # [browser] connect: a Playwright server's, a DevTools endpoint's
DEPRECATED_KEYS = {"schedule.alert_interval": "schedule.interval_while_locked"}
TEMPLATE_KEYS = {"title", "body", "title_ja", "body_ja"}
WEB_KEYS = {"enabled", "listen", "password", "public_url"}
SECRET_KEYS = {"env", "file", "command"}
KEYS: dict[str, set[str]] = {
    "": TOP_KEYS,
    "browser": BROWSER_KEYS,
    "accounts": ACCOUNT_KEYS,
    "channels": CHANNEL_KEYS,
    "schedule": SCHEDULE_KEYS,
    "templates.KIND": TEMPLATE_KEYS,
    "web": WEB_KEYS,
    "secret": SECRET_KEYS,
}


class Secret:
    """A secret given as { env | file | command }: resolved on first use, then cached; never shown.

    `where` prefixes every error ("monitor.toml: accounts[0] (shop).password"); `check` validates
    the value once resolved (a TOTP seed, an Apprise URL) and returns why it is unusable, or None.
    """

    __slots__ = ("_base", "_check", "_value", "how", "ref", "reloading", "where")

    def __init__(
        self,
        how: str,
        ref: str,
        where: str = "",
        base: Path | None = None,
        check: Callable[[str], str | None] | None = None,
        reloading: bool = False,
    ) -> None:
        self.how = how  # env | file | command | inline
        self.ref = ref  # the variable name, the file path or the command; the value itself when inline
        self.where = where
        self.reloading = reloading  # resolved by a running daemon's reload, whose environment is fixed
        self._base = base or Path.cwd()
        self._check = check
        self._value: str | None = None

    @classmethod
    def inline(cls, value: str, where: str = "", check: Callable[[str], str | None] | None = None) -> Secret:
        """A value written in the config itself (e.g. an Apprise URL): known already, still masked."""
        return cls("inline", value, where, check=check)

    @property
    def source(self) -> str:
        """Where the secret comes from, safe to show: "env SHOP_PASSWORD", "file /path", "command", "url"."""
        return {"env": f"env {self.ref}", "file": f"file {self.ref}", "command": "command"}.get(self.how, "url")

    def reveal(self) -> str:
        """The secret itself, resolved now if needed; a ConfigError names the file, key and cause."""
        if self._value is None:
            value = self.ref if self.how == "inline" else self._resolve()
            problem = self._check(value) if self._check else None
            if problem:
                raise ConfigError(f"{self.where}: {problem}")
            self._value = value
        return self._value

    def problem(self) -> str | None:
        """Why this secret cannot be used (the ConfigError's line), or None when it resolves."""
        try:
            self.reveal()
        except ConfigError as exc:
            return str(exc)
        return None

    def _resolve(self) -> str:
        fail = f"{self.where}.{self.how}"
        if self.how == "env":
            value = os.environ.get(self.ref)
            if not value:
                hint = (
                    "; a running daemon's environment is fixed when it starts: restart it, or give this secret "
                    "as { file = ... } or { command = ... }"
                    if self.reloading
                    else ""
                )
                state = "is empty" if self.ref in os.environ else "is not set"
                raise ConfigError(f"{fail}: environment variable {self.ref} {state}{hint}")
            return value
        if self.how == "file":
            file = (self._base / os.path.expanduser(self.ref)).resolve()
            try:
                value = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{fail}: cannot read {file}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ConfigError(f"{fail}: {file} is not UTF-8 text") from None
            if not value:
                raise ConfigError(f"{fail}: {file} is empty")
            return value
        try:
            done = subprocess.run(self.ref, shell=True, capture_output=True, text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            raise ConfigError(f"{fail}: command timed out after 30 s") from None
        if done.returncode != 0 or not done.stdout.strip():
            raise ConfigError(f"{fail}: command exited {done.returncode} with no secret on stdout")
        # Only the command's first line: password managers often print metadata after it.
        return done.stdout.strip().splitlines()[0]

    def __repr__(self) -> str:
        return f"Secret(<{self.source}>)"

    __str__ = __repr__


@dataclass
class BrowserOptions:
    """How Chromium is found and driven."""

    executable_path: str | None = None
    headless: bool = True
    timeout_s: float = 30.0  # per navigation or action
    check_timeout_s: float = 120.0  # a whole check, sign-in included
    recycle_after: int = 200  # relaunch the browser every N checks (memory)
    screenshots: ScreenshotMode = ScreenshotMode.CHANGES
    max_page_mb: float = 10.0  # the most one check may download (pages and resources); bounds memory
    keep_warm_s: float | None = None  # idle seconds before Chromium and the driver close; None: the daemon's rule
    # A remote browser's address (it may hold a token): connected to, not launched. Compared by where it
    # comes from, so that a reload of the same config finds the same browser options (a Secret has no ==).
    connect: Secret | None = field(default=None, compare=False)
    _connect_from: tuple[str, str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._connect_from = (self.connect.how, self.connect.ref) if self.connect is not None else None


@dataclass
class Account:
    """One watched account."""

    name: str
    profile: str
    base_url: str
    username: str
    password: Secret | None = None
    totp_secret: Secret | None = None
    locale: str | None = None  # browser locale; default from the profile
    timezone: str | None = None
    signin_budget: int = 3  # automated sign-ins per 24 h
    interval_s: float | None = None  # overrides [schedule] interval
    enabled: bool = True
    advice: Advice = field(default_factory=dict)  # overrides the profile's advice per alert kind

    @property
    def binding(self) -> str:
        """What a session or a state is for: a digest of profile, base_url and username (no plain username)."""
        made_for = "\0".join((self.profile, self.base_url, self.username))
        return hashlib.sha256(made_for.encode()).hexdigest()[:32]

    def secrets(self) -> dict[str, Secret]:
        """The account's secrets by key (password, totp_secret), for resolving and for doctor."""
        named = {"password": self.password, "totp_secret": self.totp_secret}
        return {key: secret for key, secret in named.items() if secret is not None}


@dataclass
class Channel:
    """One notification channel (an Apprise URL or Apprise config file)."""

    name: str
    url: Secret | None = None
    config_file: str | None = None
    tags: list[str] = field(default_factory=list)
    min_severity: Severity = Severity.INFO
    accounts: list[str] = field(default_factory=list)  # empty: every account

    def problem(self) -> str | None:
        """Why this channel cannot be used (its URL secret does not resolve or Apprise cannot use it)."""
        return self.url.problem() if self.url is not None else None


@dataclass
class Schedule:
    """How often checks run and alerts repeat."""

    interval_s: float = 900.0
    interval_while_locked_s: float = 300.0  # check interval while locked or under review
    jitter: float = 0.1  # +- fraction of the interval
    max_concurrency: int = 2
    active_hours: tuple[int, int] | None = None  # (start, end) local hours, end exclusive
    unknown_confirm: int = 2
    problem_confirm: int = 3
    review_reminder_h: float = 24.0
    locked_reminder_h: float = 12.0
    reminder_every_h: float = 12.0
    stale_after_intervals: int = 4  # self-alert when no check succeeded for this many intervals
    heartbeat_url: Secret | None = None
    retention_days: float = 30.0
    keep_transitions: int = 1000  # per account, beyond retention_days (the last case and the strip's days stay)
    keep_deliveries: int = 1000  # sent or given-up outbox rows per channel, beyond retention_days
    outbox_max_age_h: float = 48.0
    retry_min_s: float = 10.0  # first delivery retry; doubles each time
    retry_max_s: float = 3600.0


@dataclass
class WebOptions:
    """The console: where it listens, who may use it, and the address alerts link to."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port (the daemon logs the one it got)
    password: Secret | None = None  # required for any address other than loopback
    public_url: str | None = None  # e.g. "https://monitor.example.net": alerts link to {public_url}/accounts/NAME

    @property
    def listen(self) -> str:
        """The address as written in the config: "127.0.0.1:8765", "[::1]:8765"."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def same(self, other: WebOptions) -> bool:
        """Whether `other` asks for the same console (a password compared by where it comes from)."""

        def key(web: WebOptions) -> tuple[object, ...]:
            source = (web.password.how, web.password.ref) if web.password else None
            return (web.enabled, web.host, web.port, web.public_url, source)

        return key(self) == key(other)


@dataclass
class Config:
    """The whole configuration."""

    path: Path
    data_dir: Path
    browser: BrowserOptions
    accounts: list[Account]
    channels: list[Channel] = field(default_factory=list)
    schedule: Schedule = field(default_factory=Schedule)
    templates: dict[str, dict[str, str]] = field(default_factory=dict)
    web: WebOptions = field(default_factory=WebOptions)

    def account(self, name: str) -> Account:
        """The account called `name`, or a ConfigError naming the known ones."""
        for acct in self.accounts:
            if acct.name == name:
                return acct
        known = ", ".join(a.name for a in self.accounts) or "none"
        raise ConfigError(f"{self.path}: no account named {name!r} (configured: {known})")

    def resolve(self, accounts: Iterable[str] | None = None, channels: Iterable[str] | None = None) -> None:
        """Resolve, up front, the secrets a command will use; the first that fails is a ConfigError.

        None means every enabled account (every channel, and the heartbeat URL).
        """
        wanted = [a for a in self.accounts if a.enabled] if accounts is None else [self.account(n) for n in accounts]
        if self.browser.connect is not None and (wanted if accounts is not None else channels is None):
            self.browser.connect.reveal()  # the accounts' checks go through it
        for account in wanted:
            for secret in account.secrets().values():
                secret.reveal()
        for channel in self.channels:
            if (channels is None or channel.name in channels) and channel.url is not None:
                channel.url.reveal()
        if channels is None and self.schedule.heartbeat_url is not None:
            self.schedule.heartbeat_url.reveal()
        if accounts is None and channels is None and self.web.enabled and self.web.password is not None:
            self.web.password.reveal()


def default_path() -> Path:
    """--config, else $MONITOR_CONFIG, else ./monitor.toml."""
    return Path(os.environ.get("MONITOR_CONFIG") or DEFAULT_NAME)


def default_data_dir() -> Path:
    """The platform's user data directory for account-monitor."""
    return Path(platformdirs.user_data_dir("account-monitor"))


class _Reader(Reader):
    """The shared schema Reader, plus the config file's own secrets ({ env | file | command })."""

    def __init__(self, path: Path, reloading: bool = False) -> None:
        super().__init__(str(path))
        self.path = path
        self.reloading = reloading

    def secret(
        self,
        data: dict[str, Any],
        key: str,
        where: str,
        required: bool,
        check: Callable[[str], str | None] | None = None,
    ) -> Secret | None:
        """A lazy Secret from { env | file | command }: the spec is checked now, the value on first use."""
        path = f"{where}.{key}"
        if key not in data:
            if required:
                raise self.fail(path, "missing required key")
            return None
        spec = data[key]
        if isinstance(spec, str):
            raise self.fail(
                path, 'write secrets as { env = "VAR" }, { file = "path" } or { command = "..." }, not inline'
            )
        spec = self.table(spec, path, SECRET_KEYS)
        if len(spec) != 1:
            raise self.fail(path, "give exactly one of env, file, command")
        ((how, ref),) = spec.items()
        if not isinstance(ref, str) or not ref:
            raise self.fail(f"{path}.{how}", "must be a non-empty string")
        return Secret(how, ref, f"{self.path}: {path}", self.path.parent, check, self.reloading)


def load(path: Path | None = None, resolve_secrets: bool = True, reloading: bool = False) -> Config:
    """Read and validate the config file; any problem is one ConfigError line.

    Secrets resolve on first use. With resolve_secrets (the daemon), those of every enabled account
    and channel resolve now, so that a bad secret stops the start instead of a check later; commands
    pass False and resolve only what they use (Config.resolve). `reloading` words a missing
    environment variable for a running daemon.
    """
    path = (path or default_path()).expanduser()
    missing = f"{path}: config file not found (create one with `monitor init`)"
    data = read_toml(path, str(path), missing, f"{path}: cannot read config file: ")
    config = parse(data, path, reloading)
    if resolve_secrets:
        config.resolve()
    return config


def parse(data: dict[str, Any], path: Path, reloading: bool = False) -> Config:
    """Validate an already parsed TOML document (secrets stay unresolved)."""
    from monitor.profiles import load_profile  # profiles read config errors the same way

    r = _Reader(path, reloading)
    r.table(data, "", TOP_KEYS)
    data_dir_raw = r.get(data, "data_dir", "", str, "")
    data_dir = (path.parent / os.path.expanduser(data_dir_raw)).resolve() if data_dir_raw else default_data_dir()
    problem = data_dir_problem(data_dir)
    if problem:
        raise r.fail("data_dir", problem)

    b = r.table(data.get("browser", {}), "browser", BROWSER_KEYS)
    screenshots = r.get(b, "screenshots", "browser", str, "changes")
    if screenshots not in {m.value for m in ScreenshotMode}:
        raise r.fail("browser.screenshots", f"must be changes, always or never, not {screenshots!r}")
    exe = r.get(b, "executable_path", "browser", str, "") or None
    if exe:
        exe = str((path.parent / os.path.expanduser(exe)).resolve())
        if not os.path.isfile(exe):
            raise r.fail("browser.executable_path", f"{exe} does not exist or is not a file")
        if not os.access(exe, os.X_OK):
            raise r.fail("browser.executable_path", f"{exe} is not executable")
    connect = _connect(r, b)
    if connect is not None and exe:
        raise r.fail(
            "browser.connect", "give either connect (a remote browser) or executable_path (a local one), not both"
        )
    browser = BrowserOptions(
        connect=connect,
        executable_path=exe,
        headless=r.get(b, "headless", "browser", bool, True),
        timeout_s=r.number(b, "timeout_s", "browser", 30.0, 1, 600),
        check_timeout_s=r.number(b, "check_timeout_s", "browser", 120.0, 5, 3600),
        recycle_after=int(r.number(b, "recycle_after", "browser", 200, 1, 1_000_000)),
        max_page_mb=r.number(b, "max_page_mb", "browser", 10.0, 0.1, 1024),
        screenshots=ScreenshotMode(screenshots),
        keep_warm_s=r.duration(b, "keep_warm", "browser", 0, zero=True) if "keep_warm" in b else None,
    )

    raw_accounts = r.get(data, "accounts", "", list, [])
    accounts: list[Account] = []
    for i, item in enumerate(raw_accounts):
        where = f"accounts[{i}]"
        a = r.table(item, where, ACCOUNT_KEYS)
        name = r.get(a, "name", where, str)
        if not NAME_RE.fullmatch(name):
            raise r.fail(f"{where}.name", f"{name!r} must be letters, digits, '.', '_' or '-' (up to 64)")
        if any(x.name == name for x in accounts):
            raise r.fail(f"{where}.name", f"duplicate account name {name!r}")
        where = f"accounts[{i}] ({name})"
        profile = r.get(a, "profile", where, str)
        try:
            load_profile(profile, path.parent)
        except ConfigError as exc:
            raise r.fail(f"{where}.profile", str(exc)) from None
        base_url = r.get(a, "base_url", where, str).rstrip("/")
        if not re.match(r"^https?://[^/\s]+", base_url):
            raise r.fail(f"{where}.base_url", f"{base_url!r} is not an http(s) URL")
        locale = r.get(a, "locale", where, str, None)
        problem = locale_problem(locale) if locale is not None else None
        if problem:
            raise r.fail(f"{where}.locale", problem)
        timezone = r.get(a, "timezone", where, str, None)
        problem = timezone_problem(timezone) if timezone is not None else None
        if problem:
            raise r.fail(f"{where}.timezone", problem)
        accounts.append(
            Account(
                name=name,
                profile=profile,
                base_url=base_url,
                username=r.get(a, "username", where, str),
                password=r.secret(a, "password", where, required=False),
                totp_secret=r.secret(a, "totp_secret", where, required=False, check=totp_problem),
                locale=locale,
                timezone=timezone,
                signin_budget=int(r.number(a, "signin_budget", where, 3, 0, 100)),
                interval_s=r.duration(a, "interval", where, 0) if "interval" in a else None,
                enabled=r.get(a, "enabled", where, bool, True),
                advice=parse_advice(a["advice"], r.fail, f"{where}.advice") if "advice" in a else {},
            )
        )
    return Config(
        path=path,
        data_dir=data_dir,
        browser=browser,
        accounts=accounts,
        channels=_channels(r, data),
        schedule=_schedule(r, data),
        templates=_templates(r, data),
        web=_web(r, data),
    )


def _connect(r: _Reader, b: dict[str, Any]) -> Secret | None:
    """[browser] connect: written in the file (checked now) or a { env | file | command } secret."""
    raw = b.get("connect")
    if raw is None:
        return None
    if isinstance(raw, str):
        # The address may carry a token (a server's --path, a query): masked wherever it is shown.
        url = Secret.inline(os.path.expandvars(raw), f"{r.path}: browser.connect", check=connect_problem)
        url.reveal()
        return url
    if not isinstance(raw, dict):
        raise r.fail(
            "browser.connect", 'must be a URL string or { env = "..." }, { file = "..." } or { command = "..." }'
        )
    return r.secret(b, "connect", "browser", required=True, check=connect_problem)


def connect_problem(url: str) -> str | None:
    """Why `url` is no remote browser's address (said without the address, which may hold a token), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        return "is not a valid URL (check the host and port)"
    if parts.scheme not in REMOTE_SCHEMES:
        scheme = f"{parts.scheme}:" if parts.scheme else "an address without one"
        return (
            "must be ws:// or wss:// (a Playwright browser server) or http:// or https:// "
            f"(a Chromium DevTools endpoint), not {scheme}"
        )
    if not parts.hostname:
        return "has no host (e.g. ws://127.0.0.1:3000/)"
    return None


def _channels(r: _Reader, data: dict[str, Any]) -> list[Channel]:
    channels: list[Channel] = []
    for i, item in enumerate(r.get(data, "channels", "", list, [])):
        where = f"channels[{i}]"
        c = r.table(item, where, CHANNEL_KEYS)
        name = r.get(c, "name", where, str, f"channel-{i + 1}")
        where = f"channels[{i}] ({name})"
        if ("url" in c) == ("config_file" in c):
            raise r.fail(where, "give exactly one of url, config_file")
        url: Secret | None = None
        if "url" in c:
            raw = c["url"]
            if isinstance(raw, str):
                # An Apprise URL often carries a token; it is masked wherever it is shown.
                url = Secret.inline(os.path.expandvars(raw), f"{r.path}: {where}.url", check=apprise_url_problem)
                url.reveal()  # written in the file: check it now
            else:
                # From env/file/command: checked when resolved, by the commands that send.
                url = r.secret(c, "url", where, required=True, check=apprise_url_problem)
        config_file = r.get(c, "config_file", where, str, None)
        min_sev = r.get(c, "min_severity", where, str, "info")
        if min_sev not in Severity.__members__.values():
            raise r.fail(f"{where}.min_severity", f"must be one of {', '.join(Severity)}, not {min_sev!r}")
        channel = Channel(
            name=name,
            url=url,
            config_file=str((r.path.parent / config_file).resolve()) if config_file else None,
            tags=[str(t) for t in r.get(c, "tags", where, list, [])],
            min_severity=Severity(min_sev),
            accounts=[str(t) for t in r.get(c, "accounts", where, list, [])],
        )
        problem = check_channel(channel)
        if problem:
            raise r.fail(where, problem)
        if any(x.name == name for x in channels):
            raise r.fail(f"{where}.name", f"duplicate channel name {name!r}")
        channels.append(channel)
    return channels


def _schedule(r: _Reader, data: dict[str, Any]) -> Schedule:
    s = r.table(data.get("schedule", {}), "schedule", SCHEDULE_KEYS | {k.split(".")[1] for k in DEPRECATED_KEYS})
    w = "schedule"
    if "alert_interval" in s:
        if "interval_while_locked" in s:
            raise r.fail("schedule.alert_interval", "is the old name of interval_while_locked: give only one")
        log.warning(
            "%s: schedule.alert_interval is deprecated; rename it to interval_while_locked (same meaning)", r.path
        )
        s = {("interval_while_locked" if k == "alert_interval" else k): v for k, v in s.items()}
    hours = None
    if "active_hours" in s:
        spec = r.get(s, "active_hours", w, str)
        m = re.fullmatch(r"(\d{1,2})-(\d{1,2})", spec.strip())
        if not m or not (0 <= int(m.group(1)) <= 23 and 1 <= int(m.group(2)) <= 24):
            raise r.fail("schedule.active_hours", f'must look like "7-23" (start-end hours), not {spec!r}')
        hours = (int(m.group(1)), int(m.group(2)))
    heartbeat = None
    if "heartbeat_url" in s:
        raw = s["heartbeat_url"]
        if isinstance(raw, str):
            heartbeat = Secret.inline(raw, f"{r.path}: {w}.heartbeat_url", check=http_url_problem)
            heartbeat.reveal()  # written in the file: check it now
        else:
            heartbeat = r.secret(s, "heartbeat_url", w, required=True, check=http_url_problem)
    return Schedule(
        interval_s=r.duration(s, "interval", w, 900),
        interval_while_locked_s=r.duration(s, "interval_while_locked", w, 300),
        jitter=r.number(s, "jitter", w, 0.1, 0, 0.5),
        max_concurrency=int(r.number(s, "max_concurrency", w, 2, 1, 64)),
        active_hours=hours,
        unknown_confirm=int(r.number(s, "unknown_confirm", w, 2, 1, 100)),
        problem_confirm=int(r.number(s, "problem_confirm", w, 3, 1, 100)),
        review_reminder_h=r.duration(s, "review_reminder", w, 24 * 3600) / 3600,
        locked_reminder_h=r.duration(s, "locked_reminder", w, 12 * 3600) / 3600,
        reminder_every_h=r.duration(s, "reminder_every", w, 12 * 3600) / 3600,
        stale_after_intervals=int(r.number(s, "stale_after_intervals", w, 4, 1, 1000)),
        heartbeat_url=heartbeat,
        retention_days=r.number(s, "retention_days", w, 30, 1, 3650),
        keep_transitions=int(r.number(s, "keep_transitions", w, 1000, 1, 10_000)),
        keep_deliveries=int(r.number(s, "keep_deliveries", w, 1000, 1, 1_000_000)),
        outbox_max_age_h=r.duration(s, "outbox_max_age", w, 48 * 3600) / 3600,
        retry_min_s=r.duration(s, "retry_min", w, 10),
        retry_max_s=r.duration(s, "retry_max", w, 3600),
    )


def _web(r: _Reader, data: dict[str, Any]) -> WebOptions:
    w = r.table(data.get("web", {}), "web", WEB_KEYS)
    listen = r.get(w, "listen", "web", str, "127.0.0.1:8765")
    m = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]|([^\s:\[\]]+)):(\d{1,5})", listen.strip())
    if not m or int(m.group(3)) > 65535:
        raise r.fail("web.listen", f'must look like "127.0.0.1:8765" or "[::1]:8765" (host:port), not {listen!r}')
    host, port = m.group(1) or m.group(2), int(m.group(3))
    if m.group(1):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise r.fail("web.listen", f"{host!r} is not an IPv6 address") from None
    password = r.secret(w, "password", "web", required=False)
    enabled = r.get(w, "enabled", "web", bool, True)
    if password is None and not is_loopback(host):  # `monitor web` serves it even with enabled = false
        raise r.fail(
            "web.listen",
            f"{listen!r} is not a loopback address: anyone who reaches it could use the console; set [web] password"
            ' (e.g. password = { env = "MONITOR_WEB_PASSWORD" }) or listen on 127.0.0.1',
        )
    public_url = r.get(w, "public_url", "web", str, None)
    if public_url is not None:
        public_url = public_url.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^/\s?#]+(?:/[^\s?#]*)?", public_url):
            raise r.fail("web.public_url", f"{public_url!r} is not an http(s) URL (e.g. https://monitor.example.net)")
    return WebOptions(enabled=enabled, host=host, port=port, password=password, public_url=public_url)


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only: 127.0.0.0/8, ::1 or localhost."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _templates(r: _Reader, data: dict[str, Any]) -> dict[str, dict[str, str]]:
    t = r.table(data.get("templates", {}), "templates", {str(k) for k in AlertKind})
    out: dict[str, dict[str, str]] = {}
    for kind, spec in t.items():
        where = f"templates.{kind}"
        spec = r.table(spec, where, TEMPLATE_KEYS)
        out[kind] = {k: r.get(spec, k, where, str) for k in spec}
        for key, text in out[kind].items():
            problem = template_problem(text)
            if problem:
                raise r.fail(f"{where}.{key}", problem)
    return out


# --- value checks: each says why a value is unusable, or None; never repeats a secret ------------


def totp_problem(value: str) -> str | None:
    """Why a TOTP seed is unusable (it must be the base32 text an authenticator app shows)."""
    from monitor.totp import decode_secret

    try:
        key = decode_secret(value)
    except ValueError:
        key = b""
    return None if key else "not a valid base32 TOTP secret (e.g. JBSW Y3DP EHPK 3PXP, as the site shows it)"


def http_url_problem(value: str) -> str | None:
    """Why a URL the monitor fetches itself (the heartbeat) is not an http(s) URL."""
    return None if re.match(r"^https?://[^/\s?#]+(?:[/?#]\S*)?$", value) else "not an http(s) URL"


def tame_apprise_log() -> None:
    """Keep Apprise's own log lines (they can name endpoints) out of ours; each send's result carries them."""
    # Apprise still hands them to the result of each notify(), which the notifier reads and masks.
    logger = logging.getLogger("apprise")
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    logger.handlers[:] = [logging.NullHandler()]


@contextlib.contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Apprise logs its own line (with a partly masked token) about a bad URL; ours is the only one."""
    logger = logging.getLogger("apprise")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def apprise_url_problem(url: str) -> str | None:
    """Why Apprise cannot send to this URL; the message names the scheme, never the URL itself."""
    import apprise

    scheme = url.split("://", 1)[0] if "://" in url else "?"
    with _quiet_apprise():
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            if scheme in ("http", "https"):  # a webhook written as a web address
                secure = "s" if scheme == "https" else ""
                return (
                    f"Apprise cannot parse this URL (scheme {scheme}://); for a webhook write json{secure}://HOST/PATH"
                    f" (a JSON POST) or form{secure}://HOST/PATH (a form POST)"
                )
            return f"Apprise cannot parse this URL (scheme {scheme}://)"
        # A plugin that needs a target (an ntfy topic, ...) but got none accepts the URL and then
        # fails every send: refuse it now.
        targets = type(plugin).template_tokens.get("targets", {})
        parsed = type(plugin).parse_url(url) or {}
        if targets.get("required") and not [t for t in parsed.get("targets") or [] if t]:
            return f"the {scheme}:// URL names no target (e.g. the ntfy topic after the host)"
    return None


def check_channel(channel: Channel) -> str | None:
    """Why Apprise cannot use this channel's config file, or None (its URL is checked when resolved)."""
    import apprise

    if not channel.config_file:
        return None
    if not os.access(channel.config_file, os.R_OK):
        return f"config_file {channel.config_file} is not readable"
    with _quiet_apprise():
        cfg = apprise.AppriseConfig()
        if not cfg.add(channel.config_file) or not apprise.Apprise().add(cfg):
            return f"config_file {channel.config_file} is not an Apprise config Apprise can read"
    return None
