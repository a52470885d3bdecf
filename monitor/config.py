"""Settings and accounts from a TOML file: validated up front, secrets resolved and masked."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from monitor.errors import ConfigError
from monitor.models import AlertKind, Severity

DEFAULT_NAME = "monitor.toml"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Secret:
    """A resolved secret that never shows itself in a repr, str or f-string."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source  # e.g. "env SHOP_PASSWORD": safe to show

    def reveal(self) -> str:
        """The secret itself; call only where it is typed into the site."""
        return self._value

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
    screenshots: str = "changes"  # changes | always | never
    max_page_mb: float = 10.0  # the most one check may download (pages and resources); bounds memory


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


@dataclass
class Channel:
    """One notification channel (an Apprise URL or Apprise config file)."""

    name: str
    url: Secret | None = None
    config_file: str | None = None
    tags: list[str] = field(default_factory=list)
    min_severity: str = "info"
    accounts: list[str] = field(default_factory=list)  # empty: every account


@dataclass
class Schedule:
    """How often checks run and alerts repeat."""

    interval_s: float = 900.0
    alert_interval_s: float = 300.0  # while locked or under review
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
    outbox_max_age_h: float = 48.0
    retry_min_s: float = 10.0  # first delivery retry; doubles each time
    retry_max_s: float = 3600.0


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

    def account(self, name: str) -> Account:
        """The account called `name`, or a ConfigError naming the known ones."""
        for acct in self.accounts:
            if acct.name == name:
                return acct
        known = ", ".join(a.name for a in self.accounts) or "none"
        raise ConfigError(f"{self.path}: no account named {name!r} (configured: {known})")


def default_path() -> Path:
    """--config, else $MONITOR_CONFIG, else ./monitor.toml."""
    return Path(os.environ.get("MONITOR_CONFIG") or DEFAULT_NAME)


def default_data_dir() -> Path:
    """The platform's user data directory for account-monitor."""
    return Path(platformdirs.user_data_dir("account-monitor"))


class _Reader:
    """Walks a parsed TOML table, naming the exact key path in every error."""

    def __init__(self, path: Path, resolve: bool = True) -> None:
        self.path = path
        self.resolve = resolve

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {message}")

    def table(self, data: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, "must be a table")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.fail(
                f"{key}.{unknown[0]}" if key else unknown[0], f"unknown key (known: {', '.join(sorted(allowed))})"
            )
        return data

    def get(self, data: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        path = f"{where}.{key}" if where else key
        if key not in data:
            if default is ...:
                raise self.fail(path, "missing required key")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(path, f"must be {_kind_name(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise self.fail(path, f"must be {_kind_name(kinds)}, not {type(value).__name__}")
        return value

    def number(self, data: dict[str, Any], key: str, where: str, default: float, low: float, high: float) -> float:
        value = float(self.get(data, key, where, (int, float), default))
        if not low <= value <= high:
            raise self.fail(f"{where}.{key}" if where else key, f"must be between {low:g} and {high:g}, not {value:g}")
        return value

    def duration(self, data: dict[str, Any], key: str, where: str, default: float) -> float:
        """Seconds, from a number or a string like "90s", "15m", "2h"."""
        path = f"{where}.{key}"
        raw = self.get(data, key, where, (int, float, str), default)
        if isinstance(raw, str):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", raw)
            if not m:
                raise self.fail(path, f'not a duration: {raw!r} (e.g. 90, "90s", "15m", "2h")')
            unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[m.group(2)]
            raw = float(m.group(1)) * unit
        if raw <= 0:
            raise self.fail(path, "must be positive")
        return float(raw)

    def secret(self, data: dict[str, Any], key: str, where: str, required: bool) -> Secret | None:
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
        spec = self.table(spec, path, {"env", "file", "command"})
        if len(spec) != 1:
            raise self.fail(path, "give exactly one of env, file, command")
        ((how, ref),) = spec.items()
        if not isinstance(ref, str) or not ref:
            raise self.fail(f"{path}.{how}", "must be a non-empty string")
        if not self.resolve:
            return Secret("", f"{how} (not resolved)")
        return resolve_secret(how, ref, lambda msg: self.fail(f"{path}.{how}", msg), self.path.parent)


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        int: "a number",
        float: "a number",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def resolve_secret(how: str, ref: str, fail: Any, base: Path) -> Secret:
    """Read a secret from an environment variable, a file, or a command's stdout."""
    if how == "env":
        value = os.environ.get(ref)
        if value is None or value == "":
            raise fail(f"environment variable {ref} is not set")
        return Secret(value, f"env {ref}")
    if how == "file":
        file = (base / os.path.expanduser(ref)).resolve()
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc.strerror}") from None
        if not value:
            raise fail(f"{file} is empty")
        return Secret(value, f"file {file}")
    try:
        done = subprocess.run(ref, shell=True, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise fail("command timed out after 30 s") from None
    if done.returncode != 0 or not done.stdout.strip():
        raise fail(f"command exited {done.returncode} with no secret on stdout")
    # Only the command's first line: password managers often print metadata after it.
    return Secret(done.stdout.strip().splitlines()[0], "command")


def load(path: Path | None = None, resolve_secrets: bool = True) -> Config:
    """Read and validate the config file; any problem is one ConfigError line.

    Commands that only read the database pass resolve_secrets=False, so that they work
    without the passwords in the environment.
    """
    path = (path or default_path()).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (create one with `monitor init`)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, path, resolve_secrets)


def parse(data: dict[str, Any], path: Path, resolve_secrets: bool = True) -> Config:
    """Validate an already parsed TOML document."""
    from monitor.profiles import load_profile  # profiles read config errors the same way

    r = _Reader(path, resolve_secrets)
    r.table(data, "", {"data_dir", "browser", "accounts", "channels", "schedule", "templates"})
    data_dir_raw = r.get(data, "data_dir", "", str, "")
    data_dir = (path.parent / os.path.expanduser(data_dir_raw)).resolve() if data_dir_raw else default_data_dir()

    b = r.table(data.get("browser", {}), "browser", set(BrowserOptions.__dataclass_fields__))
    screenshots = r.get(b, "screenshots", "browser", str, "changes")
    if screenshots not in ("changes", "always", "never"):
        raise r.fail("browser.screenshots", f"must be changes, always or never, not {screenshots!r}")
    exe = r.get(b, "executable_path", "browser", str, "") or None
    browser = BrowserOptions(
        executable_path=os.path.expanduser(exe) if exe else None,
        headless=r.get(b, "headless", "browser", bool, True),
        timeout_s=r.number(b, "timeout_s", "browser", 30.0, 1, 600),
        check_timeout_s=r.number(b, "check_timeout_s", "browser", 120.0, 5, 3600),
        recycle_after=int(r.number(b, "recycle_after", "browser", 200, 1, 1_000_000)),
        max_page_mb=r.number(b, "max_page_mb", "browser", 10.0, 0.1, 1024),
        screenshots=screenshots,
    )

    raw_accounts = r.get(data, "accounts", "", list, [])
    accounts: list[Account] = []
    for i, item in enumerate(raw_accounts):
        where = f"accounts[{i}]"
        a = r.table(
            item,
            where,
            {
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
            },
        )
        name = r.get(a, "name", where, str)
        if not NAME_RE.match(name):
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
        accounts.append(
            Account(
                name=name,
                profile=profile,
                base_url=base_url,
                username=r.get(a, "username", where, str),
                password=r.secret(a, "password", where, required=False),
                totp_secret=r.secret(a, "totp_secret", where, required=False),
                locale=r.get(a, "locale", where, str, None),
                timezone=r.get(a, "timezone", where, str, None),
                signin_budget=int(r.number(a, "signin_budget", where, 3, 0, 100)),
                interval_s=r.duration(a, "interval", where, 0) if "interval" in a else None,
                enabled=r.get(a, "enabled", where, bool, True),
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
    )


def _channels(r: _Reader, data: dict[str, Any]) -> list[Channel]:
    channels: list[Channel] = []
    for i, item in enumerate(r.get(data, "channels", "", list, [])):
        where = f"channels[{i}]"
        c = r.table(item, where, {"name", "url", "config_file", "tags", "min_severity", "accounts"})
        name = r.get(c, "name", where, str, f"channel-{i + 1}")
        where = f"channels[{i}] ({name})"
        if ("url" in c) == ("config_file" in c):
            raise r.fail(where, "give exactly one of url, config_file")
        url: Secret | None = None
        if "url" in c:
            raw = c["url"]
            if isinstance(raw, str):
                # An Apprise URL often carries a token; it is masked wherever it is shown.
                url = Secret(os.path.expandvars(raw), "url")
            else:
                url = r.secret(c, "url", where, required=True)
        config_file = r.get(c, "config_file", where, str, None)
        min_sev = r.get(c, "min_severity", where, str, "info")
        if min_sev not in Severity.__members__.values():
            raise r.fail(f"{where}.min_severity", f"must be one of {', '.join(Severity)}, not {min_sev!r}")
        channel = Channel(
            name=name,
            url=url,
            config_file=str((r.path.parent / config_file).resolve()) if config_file else None,
            tags=[str(t) for t in r.get(c, "tags", where, list, [])],
            min_severity=min_sev,
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
    s = r.table(
        data.get("schedule", {}),
        "schedule",
        {
            "interval",
            "alert_interval",
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
            "outbox_max_age",
            "retry_min",
            "retry_max",
        },
    )
    w = "schedule"
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
        heartbeat = Secret(raw, "url") if isinstance(raw, str) else r.secret(s, "heartbeat_url", w, required=True)
    return Schedule(
        interval_s=r.duration(s, "interval", w, 900),
        alert_interval_s=r.duration(s, "alert_interval", w, 300),
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
        outbox_max_age_h=r.duration(s, "outbox_max_age", w, 48 * 3600) / 3600,
        retry_min_s=r.duration(s, "retry_min", w, 10),
        retry_max_s=r.duration(s, "retry_max", w, 3600),
    )


def _templates(r: _Reader, data: dict[str, Any]) -> dict[str, dict[str, str]]:
    t = r.table(data.get("templates", {}), "templates", {str(k) for k in AlertKind})
    out: dict[str, dict[str, str]] = {}
    for kind, spec in t.items():
        where = f"templates.{kind}"
        spec = r.table(spec, where, {"title", "body", "title_ja", "body_ja"})
        out[kind] = {k: r.get(spec, k, where, str) for k in spec}
    return out


def check_channel(channel: Channel) -> str | None:
    """Why Apprise cannot use this channel, or None; the message never contains the URL itself."""
    import apprise

    if channel.config_file:
        if not os.access(channel.config_file, os.R_OK):
            return f"config_file {channel.config_file} is not readable"
        cfg = apprise.AppriseConfig()
        if not cfg.add(channel.config_file) or not apprise.Apprise().add(cfg):
            return f"config_file {channel.config_file} is not an Apprise config Apprise can read"
        return None
    assert channel.url is not None
    if apprise.Apprise.instantiate(channel.url.reveal()) is None:
        scheme = channel.url.reveal().split("://", 1)[0] if "://" in channel.url.reveal() else "?"
        return f"url: Apprise cannot parse this URL (scheme {scheme}://)"
    return None
