"""SQLite in the data directory: account state, readings, transitions, sign-ins, the outbox."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError, MonitorError
from monitor.models import Problem, Reading, Status

RECOVERY = (
    "stop the monitor, then restore monitor.db from a backup, or move monitor.db (with monitor.db-wal and"
    " monitor.db-shm) aside and start again with a fresh one; sessions/ stays, so no new sign-in is needed"
)

MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial",
        """
        CREATE TABLE account_state (
            account TEXT PRIMARY KEY,
            status TEXT,                 -- ok | locked | under_review | unknown; NULL before the first reading
            status_since REAL,
            last_check_at REAL,
            last_success_at REAL,        -- last check that read a status
            last_outcome TEXT,           -- status or problem of the last check
            problem TEXT,                -- current problem, NULL when the last check read a status
            problem_count INTEGER NOT NULL DEFAULT 0,
            problem_since REAL,
            problem_alerted INTEGER NOT NULL DEFAULT 0,
            unknown_count INTEGER NOT NULL DEFAULT 0,
            known_status TEXT,           -- last status other than unknown
            last_reminder_at REAL,
            paused_reason TEXT,          -- automated sign-ins paused until `monitor resume`
            paused_at REAL,
            created_at REAL NOT NULL
        );
        CREATE TABLE signins (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            at REAL NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX signins_account_at ON signins (account, at);
        CREATE TABLE readings (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            at REAL NOT NULL,
            status TEXT,
            problem TEXT,
            rule TEXT,
            matched TEXT,
            detail TEXT,
            url TEXT,
            title TEXT,
            signed_in INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            screenshot TEXT
        );
        CREATE INDEX readings_account_at ON readings (account, at);
        CREATE TABLE transitions (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            at REAL NOT NULL,
            kind TEXT NOT NULL,          -- the alert kind, or "status" for a silent change
            from_status TEXT,
            to_status TEXT,
            reading_id INTEGER REFERENCES readings (id)
        );
        CREATE INDEX transitions_account_at ON transitions (account, at);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            account TEXT,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            channel TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            attachment TEXT,
            created_at REAL NOT NULL,
            next_attempt_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | given_up
            sent_at REAL,
            last_error TEXT
        );
        CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
        CREATE TABLE delivery_attempts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox (id),
            at REAL NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT
        );
        """,
    ),
    (
        "budget_reset",
        """
        -- `monitor resume` restarts the sign-in budget; the sign-in rows stay as history.
        ALTER TABLE account_state ADD COLUMN signins_reset_at REAL;
        """,
    ),
    (
        "account_binding",
        """
        -- What the state row was made for (a digest of profile, base_url and username): an account
        -- entry that now points at another user or site starts afresh instead of inheriting it.
        ALTER TABLE account_state ADD COLUMN bound_to TEXT;
        """,
    ),
]


class DatabaseDamaged(MonitorError):
    """The database file is damaged or not a database: no retry helps; restore it or start afresh."""


def damaged(exc: BaseException) -> bool:
    """Whether `exc` says the database file itself is damaged (as opposed to full or busy)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return isinstance(exc, sqlite3.DatabaseError) and code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def integrity_problems(path: Path) -> list[str]:
    """`PRAGMA integrity_check` of a database file, read-only: [] when it is sound or does not exist yet."""
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


@dataclass
class AccountState:
    """What the store remembers about one account between checks."""

    account: str
    status: Status | None = None
    status_since: float | None = None
    last_check_at: float | None = None
    last_success_at: float | None = None
    last_outcome: str | None = None
    problem: Problem | None = None
    problem_count: int = 0
    problem_since: float | None = None
    problem_alerted: bool = False
    unknown_count: int = 0
    known_status: Status | None = None
    last_reminder_at: float | None = None
    paused_reason: str | None = None
    paused_at: float | None = None
    created_at: float = field(default_factory=time.time)
    signins_reset_at: float | None = None  # sign-ins before this do not count against the budget
    bound_to: str | None = None  # see fetch.binding; NULL for rows from before bindings existed


@dataclass
class Budget:
    """Automated sign-ins counted against an account's budget in the last 24 h (or since a reset)."""

    used: int
    limit: int
    next_at: float | None  # when the next sign-in is allowed, if not now

    @property
    def spent(self) -> bool:
        """No automated sign-in is allowed now."""
        return self.used >= self.limit


@dataclass
class OutboxRow:
    """One alert for one channel, as queued."""

    id: int
    account: str | None
    kind: str
    severity: str
    channel: str
    title: str
    body: str
    attachment: str | None
    created_at: float
    next_attempt_at: float
    attempts: int
    state: str
    sent_at: float | None
    last_error: str | None


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


class Store:
    """The database; every write is one transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if path != ":memory:" else None
        if self.path is not None:
            ensure_private_dir(self.path.parent)
            # Create the file 0600 before SQLite does, so it never exists with wider rights.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA foreign_keys = ON")
            if self.path is not None:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if damaged(exc):
                raise DatabaseDamaged(f"{path}: the database is damaged ({exc}); {RECOVERY}") from None
            raise
        if self.path is not None:
            for suffix in ("-wal", "-shm"):
                side = Path(f"{self.path}{suffix}")
                if side.exists():
                    os.chmod(side, 0o600)

    @classmethod
    def open(cls, data_dir: Path, check: bool = False) -> Store:
        """The store of a data directory; a directory that is not (and cannot become) one is refused.

        With `check`, a damaged file is refused too (PRAGMA quick_check): commands whose own queries
        might not touch the damaged page would otherwise answer as if all were well.
        """
        from monitor.config import DATA_DIR_MARKER, data_dir_problem

        problem = data_dir_problem(data_dir)
        if problem:
            raise ConfigError(f"data_dir: {problem}")
        ensure_private_dir(data_dir)
        marker = data_dir / DATA_DIR_MARKER
        if not marker.exists():
            write_private(marker, b"account-monitor data directory: sessions, screenshots and the database\n")
        store = cls(data_dir / "monitor.db")
        if check:
            try:
                store.check_sound()
            except DatabaseDamaged:
                store.close()
                raise
        return store

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def check_sound(self) -> None:
        """Raise DatabaseDamaged unless `PRAGMA quick_check` finds the file sound (a daemon checks at start)."""
        try:
            rows = [str(r[0]) for r in self.conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            if not damaged(exc):
                raise
            rows = [str(exc)]
        if rows != ["ok"]:
            raise DatabaseDamaged(f"{self.path}: the database is damaged ({rows[0]}); {RECOVERY}")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE so concurrent writers queue instead of failing)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself failed (disk full): an open transaction would block every later one.
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise

    def migrate(self) -> None:
        """Apply pending migrations, each in its own transaction."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for number, (_name, sql) in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            with self.tx() as conn:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    # --- account state -----------------------------------------------------------

    def state(self, account: str) -> AccountState:
        """The stored state of `account` (a fresh one if never seen)."""
        row = self.conn.execute("SELECT * FROM account_state WHERE account = ?", (account,)).fetchone()
        if row is None:
            return AccountState(account)
        data = dict(row)
        data["status"] = Status(data["status"]) if data["status"] else None
        data["known_status"] = Status(data["known_status"]) if data["known_status"] else None
        data["problem"] = Problem(data["problem"]) if data["problem"] else None
        data["problem_alerted"] = bool(data["problem_alerted"])
        return AccountState(**data)

    def states(self) -> list[AccountState]:
        """Every account the store knows, by name."""
        names = [r[0] for r in self.conn.execute("SELECT account FROM account_state ORDER BY account")]
        return [self.state(n) for n in names]

    def put_state(self, conn: sqlite3.Connection, state: AccountState) -> None:
        """Insert or replace an account's state inside a transaction."""
        names = [f.name for f in fields(AccountState)]
        values = [getattr(state, n) for n in names]
        values = [str(v) if isinstance(v, Status | Problem) else v for v in values]
        conn.execute(
            f"INSERT OR REPLACE INTO account_state ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            values,
        )

    def forget_state(self, account: str) -> None:
        """Drop an account's state row (status, problem counts, pause): it starts as never read."""
        with self.tx() as conn:
            conn.execute("DELETE FROM account_state WHERE account = ?", (account,))

    def pause(self, account: str, reason: str, now: float | None = None) -> None:
        """Stop automated sign-ins for `account` until resumed."""
        with self.tx() as conn:
            state = self.state(account)
            state.paused_reason, state.paused_at = reason, now or time.time()
            self.put_state(conn, state)

    def resume(self, account: str) -> bool:
        """Allow automated sign-ins again; False when they were not paused."""
        with self.tx() as conn:
            state = self.state(account)
            was = state.paused_reason is not None
            state.paused_reason = state.paused_at = None
            self.put_state(conn, state)
        return was

    # --- sign-ins ------------------------------------------------------------------

    def record_signin(self, account: str, outcome: str, now: float | None = None) -> None:
        """Remember one automated sign-in attempt (counts against the budget)."""
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO signins (account, at, outcome) VALUES (?, ?, ?)", (account, now or time.time(), outcome)
            )

    def budget(self, account: str, limit: int, now: float | None = None, window: float = 86400.0) -> Budget:
        """Sign-ins counted since the later of `window` ago and the last reset, and when the next is allowed."""
        now = time.time() if now is None else now
        since = max(now - window, self.state(account).signins_reset_at or 0.0)
        times = [
            float(r[0])
            for r in self.conn.execute(
                "SELECT at FROM signins WHERE account = ? AND at >= ? ORDER BY at", (account, since)
            )
        ]
        used = len(times)
        # The budget frees up when enough of the counted sign-ins have left the window.
        next_at = times[used - limit] + window if 0 < limit <= used else None
        return Budget(used, limit, next_at)

    def reset_budget(self, account: str, now: float | None = None) -> None:
        """Start the sign-in budget afresh (the owner's decision); earlier sign-ins stay as history."""
        with self.tx() as conn:
            state = self.state(account)
            state.signins_reset_at = time.time() if now is None else now
            self.put_state(conn, state)

    # --- readings ------------------------------------------------------------------

    def insert_reading(self, conn: sqlite3.Connection, reading: Reading) -> int:
        """Append a reading inside a transaction; returns its id."""
        cur = conn.execute(
            "INSERT INTO readings (account, at, status, problem, rule, matched, detail, url, title, signed_in,"
            " duration_ms, screenshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                reading.account,
                reading.at,
                reading.status and str(reading.status),
                reading.problem and str(reading.problem),
                reading.rule,
                reading.matched,
                reading.detail,
                reading.url,
                reading.title,
                int(reading.signed_in),
                reading.duration_ms,
                reading.screenshot,
            ),
        )
        return int(cur.lastrowid or 0)

    def readings(self, account: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest readings of `account`, newest first."""
        rows = self.conn.execute(
            "SELECT * FROM readings WHERE account = ? ORDER BY at DESC, id DESC LIMIT ?", (account, limit)
        )
        return [dict(r) for r in rows]

    def transitions(self, account: str, limit: int = 50) -> list[dict[str, Any]]:
        """Transitions of `account`, newest first, with the evidence of their reading."""
        rows = self.conn.execute(
            "SELECT t.*, r.rule, r.matched, r.url, r.detail, r.screenshot FROM transitions t"
            " LEFT JOIN readings r ON r.id = t.reading_id WHERE t.account = ?"
            " ORDER BY t.at DESC, t.id DESC LIMIT ?",
            (account, limit),
        )
        return [dict(r) for r in rows]

    def prune(self, before: float) -> int:
        """Drop readings older than `before` that no transition refers to; returns how many."""
        with self.tx() as conn:
            cur = conn.execute(
                "DELETE FROM readings WHERE at < ? AND id NOT IN"
                " (SELECT reading_id FROM transitions WHERE reading_id IS NOT NULL)",
                (before,),
            )
            conn.execute("DELETE FROM signins WHERE at < ?", (before,))
        return cur.rowcount

    # --- outbox --------------------------------------------------------------------

    def enqueue(self, conn: sqlite3.Connection, row: dict[str, Any]) -> int:
        """Queue one alert for one channel inside a transaction."""
        cur = conn.execute(
            "INSERT INTO outbox (account, kind, severity, channel, title, body, attachment, created_at,"
            " next_attempt_at) VALUES (:account, :kind, :severity, :channel, :title, :body, :attachment,"
            " :created_at, :created_at)",
            row,
        )
        return int(cur.lastrowid or 0)

    def outbox(self, states: tuple[str, ...] = ("pending", "given_up"), limit: int = 200) -> list[OutboxRow]:
        """Outbox rows in the given states, oldest first."""
        marks = ", ".join("?" * len(states))
        rows = self.conn.execute(
            f"SELECT * FROM outbox WHERE state IN ({marks}) ORDER BY created_at, id LIMIT ?", (*states, limit)
        )
        return [OutboxRow(**dict(r)) for r in rows]

    def head(self, channel: str) -> OutboxRow | None:
        """The oldest pending row of a channel: a channel delivers in order, so only it may go next."""
        row = self.conn.execute(
            "SELECT * FROM outbox WHERE state = 'pending' AND channel = ? ORDER BY id LIMIT 1", (channel,)
        ).fetchone()
        return OutboxRow(**dict(row)) if row else None

    def due(self, now: float) -> list[OutboxRow]:
        """The head row of each channel, where its next attempt is due."""
        rows = self.conn.execute(
            "SELECT * FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox WHERE state = 'pending' GROUP BY channel)"
            " AND next_attempt_at <= ? ORDER BY id",
            (now,),
        )
        return [OutboxRow(**dict(r)) for r in rows]

    def claim(self, row_id: int, now: float, lease_s: float = 120.0) -> bool:
        """Take a due row for sending; another process (or a crash) cannot send it again within the lease."""
        with self.tx() as conn:
            cur = conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND state = 'pending' AND next_attempt_at <= ?",
                (now + lease_s, row_id, now),
            )
        return cur.rowcount == 1

    def record_attempt(
        self, row_id: int, ok: bool, error: str | None, now: float, next_at: float | None = None, give_up: bool = False
    ) -> None:
        """Record one delivery attempt and move the row on (sent, retry later, or given up)."""
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO delivery_attempts (outbox_id, at, ok, error) VALUES (?, ?, ?, ?)",
                (row_id, now, int(ok), error),
            )
            if ok:
                conn.execute(
                    "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
                    " last_error = NULL WHERE id = ?",
                    (now, row_id),
                )
            elif give_up:
                conn.execute(
                    "UPDATE outbox SET state = 'given_up', attempts = attempts + 1, last_error = ? WHERE id = ?",
                    (error, row_id),
                )
            else:
                conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                    (error, next_at, row_id),
                )

    def attempts(self, row_id: int) -> list[dict[str, Any]]:
        """Delivery attempts of one outbox row, oldest first."""
        rows = self.conn.execute("SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY id", (row_id,))
        return [dict(r) for r in rows]


def _statements(sql: str) -> Iterator[str]:
    """Split a migration into statements (semicolons inside comments do not end one)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        yield pending
