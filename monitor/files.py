"""Private files in the data directory: 0700 folders, atomic 0600 writes, sessions and screenshots."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from monitor.errors import ConfigError, MonitorError

if TYPE_CHECKING:
    from playwright.async_api import StorageState

BOUND_KEY = "monitor_bound_to"  # our key inside a session file; Playwright never sees it
log = logging.getLogger("monitor")

DATA_DIR_MARKER = ".account-monitor"
DATA_DIR_FILES = {  # what a data directory may hold before its marker exists
    DATA_DIR_MARKER,
    "monitor.db",
    "monitor.db-wal",
    "monitor.db-shm",
    "monitor.lock",
    "sessions",
    "screenshots",
}


def data_dir_problem(data_dir: Path) -> str | None:
    """Why `data_dir` cannot be the monitor's data directory, checked before anything is written."""
    if data_dir.exists():
        if not data_dir.is_dir():
            return f"{data_dir} is a file, not a directory"
        if not os.access(data_dir, os.W_OK | os.X_OK):
            return f"{data_dir} is not writable"
        names = {p.name for p in data_dir.iterdir()}
        if names and DATA_DIR_MARKER not in names and "monitor.db" not in names and not names <= DATA_DIR_FILES:
            return (
                f"{data_dir} already holds other files and is not a monitor data directory; "
                "give a new or empty directory (e.g. ~/.local/share/account-monitor)"
            )
        return None
    parent = data_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{data_dir} is under {parent}, which is a file"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{data_dir} cannot be created: {parent} is not writable"
    return None


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) 0700: it holds sessions and screenshots.

    A directory that already exists keeps its mode: it may not be the monitor's to change.
    """
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode passes through the umask
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a 0600 file atomically: temp file, fsync, rename, fsync the directory."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_screenshot(data_dir: Path, account: str, at: float, outcome: str, png: bytes) -> Path:
    """Keep a check's screenshot as <data_dir>/screenshots/ACCOUNT/<UTC time>-<outcome>.png; returns its path."""
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%S")
    folder = ensure_private_dir(ensure_private_dir(data_dir / "screenshots") / account)
    path = folder / f"{stamp}-{outcome or 'check'}.png"
    write_private(path, png)
    return path


class SessionFiles:
    """Playwright storage state per account: 0600, atomic, the previous good one kept.

    Each file is bound to the profile, base_url and username it was made with; a file made for
    anything else is discarded on load. A file without a binding (written before bindings
    existed, or by `monitor login` before it bound its sessions) is used as is and bound at its next save.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, account: str) -> Path:
        """Where `account`'s session lives."""
        return self.directory / f"{account}.json"

    def load(self, account: str, bound: str | None = None) -> StorageState | None:
        """The saved session, falling back to the previous one if the newest is unreadable."""
        for candidate in (self.path(account), self.path(account).with_suffix(".json.prev")):
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not (isinstance(data, dict) and "cookies" in data):
                continue
            made_for = data.pop(BOUND_KEY, None)
            if bound is not None and made_for is not None and made_for != bound:
                log.warning("%s: the saved session was made for another user or site; discarded", account)
                self.forget(account)
                return None
            return cast("StorageState", data)
        return None

    def age(self, account: str) -> float:
        """Seconds since the session was last written (infinite when there is none)."""
        try:
            return time.time() - self.path(account).stat().st_mtime
        except OSError:
            return float("inf")

    def save(self, account: str, state: StorageState, bound: str | None = None) -> bool:
        """Write the session if it changed; returns True when written."""
        path = self.path(account)
        data = json.dumps({**state, BOUND_KEY: bound} if bound else state, sort_keys=True).encode()
        with contextlib.suppress(OSError):
            if path.read_bytes() == data:
                os.utime(path)  # checked just now: counts as fresh
                return False
        if path.exists():
            write_private(path.with_suffix(".json.prev"), path.read_bytes())
        write_private(path, data)
        return True

    def forget(self, account: str) -> None:
        """Remove a session (e.g. the site rejected it)."""
        for p in (self.path(account), self.path(account).with_suffix(".json.prev")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


# --- moving a session between machines (`monitor session export` / `import`) ---------------------

MAX_SESSION_FILE = 5 * 1024 * 1024  # a real storage state is a few KB; anything this big is not one


def cookie_belongs(domain: str, host: str) -> bool:
    """Whether a cookie for `domain` is the site's at `host`: the host itself, a subdomain or a parent domain."""
    domain, host = domain.lstrip(".").lower(), host.lower()
    if domain == host:
        return True
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return False  # an address has no subdomains or parents
    if domain.endswith("." + host):
        return True
    return "." in domain and host.endswith("." + domain)  # a parent domain, never a bare top-level one


def export_session(sessions: SessionFiles, account: str, bound: str, dest: Path, force: bool) -> None:
    """Write `account`'s saved session to `dest` (0600) bound to `bound`; never over a file unless `force`."""
    if str(dest) == "-":
        raise ConfigError("a session signs anyone in as you: give a file to write it to, not - (the terminal)")
    if dest.is_dir():
        raise ConfigError(f"{dest} is a directory; give a file name")
    if dest.exists() and not force:
        raise ConfigError(f"{dest} exists; add --force to overwrite it")
    if not dest.parent.is_dir():
        raise ConfigError(f"{dest}: the directory {dest.parent} does not exist")
    state = sessions.load(account, bound)  # what a check would use: a session made for another user is not
    if state is None:
        raise MonitorError(
            f"{account} has no saved session; sign in first (`monitor login {account}` or `monitor check {account}`)"
        )
    try:
        write_private(dest, json.dumps({**state, BOUND_KEY: bound}, sort_keys=True).encode())
    except OSError as exc:
        raise ConfigError(f"cannot write {dest}: {exc.strerror or exc}") from None


def read_session_file(path: Path, bound: str, host: str) -> StorageState:
    """A session file checked to be a storage state for this account (`bound`) and site (`host`)."""
    try:
        size = path.stat().st_size
        if size > MAX_SESSION_FILE:
            raise ConfigError(f"{path}: {size / 1048576:.1f} MB is too large for a session file (at most 5 MB)")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not a session file: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cookies"), list):
        raise ConfigError(
            f"{path} is not a session file: no list of cookies (export one with `monitor session export`)"
        )
    made_for = data.pop(BOUND_KEY, None)
    if made_for is not None and made_for != bound:
        raise ConfigError(f"{path} was exported for another account/site/user; not imported")
    origins = data.get("origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, dict) for o in origins):
        raise ConfigError(f"{path} is not a session file: origins is not a list of objects")
    for i, cookie in enumerate(data["cookies"]):
        if not isinstance(cookie, dict) or not all(isinstance(cookie.get(k), str) for k in ("name", "value", "domain")):
            raise ConfigError(f"{path} is not a session file: cookie {i + 1} lacks a name, value or domain")
        if cookie.get("sameSite", "Lax") not in ("Strict", "Lax", "None") or not isinstance(
            cookie.get("expires", -1), int | float
        ):
            raise ConfigError(f"{path} is not a session file: cookie {i + 1} has a bad sameSite or expires")
        if not cookie_belongs(cookie["domain"], host):
            raise ConfigError(
                f"{path} has a cookie for {cookie['domain']!r}, not this account's site {host}; not imported"
            )
        cookie.setdefault("path", "/")  # Playwright needs a path with a domain
    return cast("StorageState", {"cookies": data["cookies"], "origins": origins})
