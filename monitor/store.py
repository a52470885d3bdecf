"""SQLite in the data directory: account state, readings, transitions, sign-ins, the outbox.

The only module that speaks SQL. One transaction convention:

    with store.transaction() as tx:      # BEGIN IMMEDIATE; COMMIT at the end, ROLLBACK if it raises
        state = tx.state(name)           # reads inside see the transaction's own writes
        tx.record_check(reading, decision, outbox_rows)

Every write is a method of `Tx`; a `Store` method that writes (pause, resume, acknowledge, record_signin,
prune, claim, record_attempt, reset_budget, forget_state) is a shorthand that opens its own transaction around
the `Tx` method of the same name. Transactions do not nest: `transaction()` inside an open one raises
RuntimeError, so call the `Tx` methods there instead. Reads (`state`, `readings`, `outbox`, ...) are
`Store` methods and return the frozen rows of monitor.models. `StoreError` is what a failing database
raises (sqlite3.Error, under a name callers can catch without speaking SQLite).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, NamedTuple

from monitor.errors import ConfigError, MonitorError
from monitor.files import DATA_DIR_MARKER, data_dir_problem, ensure_private_dir, write_private
from monitor.models import (
    PROBLEM_EDGES,
    AccountState,
    AttemptRow,
    Budget,
    Decision,
    OutboxRow,
    OutboxState,
    Problem,
    Reading,
    ReadingRow,
    Status,
    Transition,
    TransitionKind,
    TransitionRow,
    outcome,
)

StoreError = sqlite3.Error  # the database failed: busy beyond the timeout, disk full, damaged

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
    (
        "outbox_lease",
        """
        -- A sender's lease apart from the retry time (next_attempt_at): a forced send skips the
        -- backoff, never a row another process is sending right now.
        ALTER TABLE outbox ADD COLUMN leased_until REAL;
        """,
    ),
    (
        "case",
        """
        -- The owner's acknowledgement of a case (reminders stop while acked_status is the status and
        -- ack_until, if any, has not passed), and what a reading saw of the orders and the page's advice.
        ALTER TABLE account_state ADD COLUMN acked_at REAL;
        ALTER TABLE account_state ADD COLUMN ack_until REAL;
        ALTER TABLE account_state ADD COLUMN acked_status TEXT;
        ALTER TABLE readings ADD COLUMN orders TEXT;          -- JSON list of the order lines the page listed
        ALTER TABLE readings ADD COLUMN instructions TEXT;
        """,
    ),
]


class Retained(NamedTuple):
    """What one retention pass removed."""

    readings: int
    transitions: int
    deliveries: int  # sent or given-up outbox rows (with their delivery attempts)


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


class Tx:
    """The writes of one open transaction; get one from `Store.transaction()`, never build one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def state(self, account: str) -> AccountState:
        """The stored state of `account`, read inside this transaction (a fresh one if never seen)."""
        return _state(self._conn, account)

    def put_state(self, state: AccountState) -> None:
        """Insert or replace an account's state."""
        names = [f.name for f in fields(AccountState)]
        values = [getattr(state, n) for n in names]
        values = [str(v) if isinstance(v, Status | Problem) else v for v in values]
        self._conn.execute(
            f"INSERT OR REPLACE INTO account_state ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            values,
        )

    def forget_state(self, account: str) -> None:
        """Drop an account's state row (status, problem counts, pause): it starts as never read."""
        self._conn.execute("DELETE FROM account_state WHERE account = ?", (account,))

    def acknowledge(self, account: str, until: float | None, now: float) -> AccountState:
        """Acknowledge the account's current status (until `until`, or until it changes); returns the state.

        An account with no status yet is returned unchanged (acked_at None): there is nothing to acknowledge.
        """
        state = self.state(account)
        if state.status is None:
            return state
        state = replace(state, acked_at=now, ack_until=until, acked_status=state.status)
        self.put_state(state)
        return state

    def insert_reading(self, reading: Reading) -> int:
        """Append a reading; returns its id."""
        cur = self._conn.execute(
            "INSERT INTO readings (account, at, status, problem, rule, matched, detail, url, title, signed_in,"
            " duration_ms, screenshot, orders, instructions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                json.dumps(reading.orders, ensure_ascii=False) if reading.orders else None,
                reading.instructions,
            ),
        )
        return int(cur.lastrowid or 0)

    def add_transitions(self, account: str, at: float, transitions: list[Transition], reading_id: int | None) -> None:
        """Remember the edges one reading made."""
        self._conn.executemany(
            "INSERT INTO transitions (account, at, kind, from_status, to_status, reading_id) VALUES (?, ?, ?, ?, ?, ?)",
            [(account, at, str(t.kind), t.from_status, t.to_status, reading_id) for t in transitions],
        )

    def enqueue(self, row: Mapping[str, Any]) -> int:
        """Queue one alert for one channel (a row of `notify.outbox_rows`); returns its id."""
        cur = self._conn.execute(
            "INSERT INTO outbox (account, kind, severity, channel, title, body, attachment, created_at,"
            " next_attempt_at) VALUES (:account, :kind, :severity, :channel, :title, :body, :attachment,"
            " :created_at, :created_at)",
            row,
        )
        return int(cur.lastrowid or 0)

    def record_check(self, reading: Reading, decision: Decision, outbox: Sequence[Mapping[str, Any]]) -> int:
        """Everything one check changes: its reading, the new state, its transitions and its outbox rows."""
        reading_id = self.insert_reading(reading)
        self.put_state(decision.state)
        self.add_transitions(reading.account, reading.at, decision.transitions, reading_id)
        for row in outbox:
            self.enqueue(row)
        return reading_id

    def record_signin(self, account: str, outcome: str, at: float) -> None:
        """Remember one automated sign-in attempt (counts against the budget)."""
        self._conn.execute("INSERT INTO signins (account, at, outcome) VALUES (?, ?, ?)", (account, at, outcome))

    def prune(self, before: float) -> int:
        """Drop readings older than `before` that no transition refers to (and old sign-ins); returns how many."""
        cur = self._conn.execute(
            "DELETE FROM readings WHERE at < ? AND id NOT IN"
            " (SELECT reading_id FROM transitions WHERE reading_id IS NOT NULL)",
            (before,),
        )
        self._conn.execute("DELETE FROM signins WHERE at < ?", (before,))
        return cur.rowcount

    def retain(self, before: float, strip_from: float, keep_transitions: int, keep_deliveries: int) -> Retained:
        """Drop old transitions and finished outbox rows beyond the last few, then old readings (see `Store.retain`)."""
        problem_edges = tuple(str(k) for k in PROBLEM_EDGES)
        marks = ", ".join("?" * len(problem_edges))
        cutoff = min(before, strip_from)
        dropped = 0
        for (account,) in self._conn.execute("SELECT DISTINCT account FROM transitions").fetchall():
            status_edge = f"account = ? AND kind NOT IN ({marks})"
            # The status the strip's first day begins with: the last status edge before the cutoff.
            anchor = self._conn.execute(
                f"SELECT id FROM transitions WHERE {status_edge} AND at < ? ORDER BY at DESC, id DESC LIMIT 1",
                (account, *problem_edges, cutoff),
            ).fetchone()
            keep_from = min(cutoff, self._case_opened(account))  # the window, and the last case from its opening
            cur = self._conn.execute(
                "DELETE FROM transitions WHERE account = ? AND at < ? AND id != ? AND id NOT IN"
                " (SELECT id FROM transitions WHERE account = ? ORDER BY at DESC, id DESC LIMIT ?)",
                (account, keep_from, anchor[0] if anchor else -1, account, keep_transitions),
            )
            dropped += cur.rowcount
        finished = (str(OutboxState.SENT), str(OutboxState.GIVEN_UP))
        doomed = (
            "SELECT id FROM (SELECT id, created_at, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY id DESC) AS n"
            " FROM outbox WHERE state IN (?, ?)) WHERE n > ? AND created_at < ?"
        )
        args = (*finished, keep_deliveries, before)
        self._conn.execute(f"DELETE FROM delivery_attempts WHERE outbox_id IN ({doomed})", args)
        deliveries = self._conn.execute(f"DELETE FROM outbox WHERE id IN ({doomed})", args).rowcount
        return Retained(readings=self.prune(before), transitions=dropped, deliveries=deliveries)

    def _case_opened(self, account: str) -> float:
        """When the account's last case (open or closed) opened: its first lock or review after the ok before it."""
        problem_edges = tuple(str(k) for k in PROBLEM_EDGES)
        marks = ", ".join("?" * len(problem_edges))
        edge = f"account = ? AND kind NOT IN ({marks})"
        blocked = (str(Status.LOCKED), str(Status.UNDER_REVIEW))
        last = self._conn.execute(
            f"SELECT at, id FROM transitions WHERE {edge} AND to_status IN (?, ?) ORDER BY at DESC, id DESC LIMIT 1",
            (account, *problem_edges, *blocked),
        ).fetchone()
        if last is None:
            return float("inf")  # never locked: no case to keep
        ok = self._conn.execute(
            f"SELECT at, id FROM transitions WHERE {edge} AND to_status = ? AND (at < ? OR (at = ? AND id < ?))"
            " ORDER BY at DESC, id DESC LIMIT 1",
            (account, *problem_edges, str(Status.OK), last["at"], last["at"], last["id"]),
        ).fetchone()
        after = (ok["at"], ok["at"], ok["id"]) if ok else (float("-inf"), float("-inf"), -1)
        opened = self._conn.execute(
            f"SELECT MIN(at) FROM transitions WHERE {edge} AND to_status IN (?, ?) AND (at > ? OR (at = ? AND id > ?))",
            (account, *problem_edges, *blocked, *after),
        ).fetchone()[0]
        return float(opened)

    def claim(self, row_id: int, now: float, lease_s: float, force: bool = False) -> bool:
        """Lease a pending row for `lease_s`; False if another sender holds it or (unless `force`) it is not due."""
        cur = self._conn.execute(
            "UPDATE outbox SET leased_until = ? WHERE id = ? AND state = ?"
            " AND (leased_until IS NULL OR leased_until <= ?) AND (? OR next_attempt_at <= ?)",
            (now + lease_s, row_id, OutboxState.PENDING, now, force, now),
        )
        return cur.rowcount == 1

    def record_attempt(
        self, row_id: int, ok: bool, error: str | None, now: float, next_at: float | None, give_up: bool
    ) -> None:
        """Record one delivery attempt and move the row on (sent, retry at `next_at`, or given up)."""
        self._conn.execute(
            "INSERT INTO delivery_attempts (outbox_id, at, ok, error) VALUES (?, ?, ?, ?)",
            (row_id, now, int(ok), error),
        )
        if ok:
            self._conn.execute(
                "UPDATE outbox SET state = ?, sent_at = ?, attempts = attempts + 1, last_error = NULL,"
                " leased_until = NULL WHERE id = ?",
                (OutboxState.SENT, now, row_id),
            )
        elif give_up:
            self._conn.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, leased_until = NULL"
                " WHERE id = ?",
                (OutboxState.GIVEN_UP, error, row_id),
            )
        else:
            self._conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, leased_until = NULL"
                " WHERE id = ?",
                (error, next_at, row_id),
            )


class Store:
    """The database: reads are methods, writes go through one `transaction()` (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if path != ":memory:" else None
        if self.path is not None:
            ensure_private_dir(self.path.parent)
            # Create the file 0600 before SQLite does, so it never exists with wider rights.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self._open: Tx | None = None
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
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: committed when the block ends, rolled back when it raises; never nested."""
        if self._open is not None:
            raise RuntimeError("a store transaction is already open: do the writes through its Tx")
        with self._begin() as conn:
            self._open = Tx(conn)
            try:
                yield self._open
            finally:
                self._open = None

    @contextmanager
    def _begin(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE so that concurrent writers queue instead of failing.
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
        migrate(self.conn)

    # --- account state -----------------------------------------------------------

    def state(self, account: str) -> AccountState:
        """The stored state of `account` (a fresh one if never seen)."""
        return _state(self.conn, account)

    def states(self) -> list[AccountState]:
        """Every account the store knows, by name."""
        return [_state_row(row) for row in self.conn.execute("SELECT * FROM account_state ORDER BY account")]

    def states_of(self, names: Sequence[str]) -> dict[str, AccountState]:
        """The state of each of `names` as `state` returns it, from one query (the overview's 200 accounts)."""
        marks = ", ".join("?" * len(names))
        rows = self.conn.execute(f"SELECT * FROM account_state WHERE account IN ({marks})", names) if names else []
        found = {row["account"]: _state_row(row) for row in rows}
        return {name: found.get(name) or AccountState(name) for name in names}

    def forget_state(self, account: str) -> None:
        """Drop an account's state row (status, problem counts, pause): it starts as never read."""
        with self.transaction() as tx:
            tx.forget_state(account)

    def pause(self, account: str, reason: str, now: float | None = None) -> None:
        """Stop automated sign-ins for `account` until resumed."""
        at = time.time() if now is None else now
        with self.transaction() as tx:
            tx.put_state(replace(tx.state(account), paused_reason=reason, paused_at=at))

    def acknowledge(self, account: str, until: float | None, now: float) -> AccountState:
        """Acknowledge the current status: reminders stop until it changes or `until` passes (see Tx.acknowledge)."""
        with self.transaction() as tx:
            return tx.acknowledge(account, until, now)

    def resume(self, account: str) -> bool:
        """Allow automated sign-ins again; False when they were not paused."""
        with self.transaction() as tx:
            state = tx.state(account)
            tx.put_state(replace(state, paused_reason=None, paused_at=None))
        return state.paused_reason is not None

    # --- sign-ins ------------------------------------------------------------------

    def record_signin(self, account: str, outcome: str, now: float | None = None) -> None:
        """Remember one automated sign-in attempt (counts against the budget)."""
        with self.transaction() as tx:
            tx.record_signin(account, outcome, time.time() if now is None else now)

    def budget(self, account: str, limit: int, now: float | None = None, window: float = 86400.0) -> Budget:
        """Sign-ins counted since the later of `window` ago and the last reset, and when the next is allowed."""
        return self.budgets({account: limit}, time.time() if now is None else now, window)[account]

    def budgets(self, limits: Mapping[str, int], now: float, window: float = 86400.0) -> dict[str, Budget]:
        """Each account's budget (see `budget`) for its limit in `limits`, from one query."""
        names = list(limits)
        times: dict[str, list[float]] = {name: [] for name in names}
        if names:
            marks = ", ".join("?" * len(names))
            rows = self.conn.execute(
                "SELECT s.account, s.at FROM signins s LEFT JOIN account_state a ON a.account = s.account"
                f" WHERE s.account IN ({marks}) AND s.at >= MAX(?, COALESCE(a.signins_reset_at, 0))"
                " ORDER BY s.account, s.at",
                (*names, now - window),
            )
            for account, at in rows:
                times[account].append(float(at))
        return {name: _budget(times[name], limit, window) for name, limit in limits.items()}

    def reset_budget(self, account: str, now: float | None = None) -> None:
        """Start the sign-in budget afresh (the owner's decision); earlier sign-ins stay as history."""
        with self.transaction() as tx:
            tx.put_state(replace(tx.state(account), signins_reset_at=time.time() if now is None else now))

    # --- readings ------------------------------------------------------------------

    def readings(self, account: str, limit: int = 20) -> list[ReadingRow]:
        """The latest readings of `account`, newest first."""
        rows = self.conn.execute(
            "SELECT * FROM readings WHERE account = ? ORDER BY at DESC, id DESC LIMIT ?", (account, limit)
        )
        return [_reading_row(r) for r in rows]

    def readings_between(self, account: str, start: float, end: float) -> list[ReadingRow]:
        """The readings of `account` from `start` to `end`, oldest first, led by the last one before `start`."""
        rows = self.conn.execute(
            "SELECT * FROM (SELECT * FROM readings WHERE account = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1)"
            " UNION ALL SELECT * FROM readings WHERE account = ? AND at >= ? AND at <= ? ORDER BY at, id",
            (account, start, account, start, end),
        )
        return [_reading_row(r) for r in rows]

    def reading(self, reading_id: int) -> ReadingRow | None:
        """One reading by id (None when it is not, or no longer, stored)."""
        row = self.conn.execute("SELECT * FROM readings WHERE id = ?", (reading_id,)).fetchone()
        return _reading_row(row) if row else None

    def status_days(self, account: str, now: float, days: int = 30) -> list[Status | None]:
        """The worst status of each local day up to today, oldest first; None for a day before any status.

        Read from the status transitions (readings are pruned; transitions are kept): a day's entry is the
        worst of the status it began with and every status entered during it (locked > under_review >
        unknown > ok).
        """
        today = datetime.datetime.fromtimestamp(now).date()
        starts = [
            datetime.datetime.combine(today - datetime.timedelta(days=back), datetime.time()).timestamp()
            for back in range(days - 1, -1, -1)
        ]
        problem_edges = tuple(str(k) for k in PROBLEM_EDGES)
        marks = ", ".join("?" * len(problem_edges))
        before = self.conn.execute(
            f"SELECT to_status FROM transitions WHERE account = ? AND at < ? AND kind NOT IN ({marks})"
            " ORDER BY at DESC, id DESC LIMIT 1",
            (account, starts[0], *problem_edges),
        ).fetchone()
        edges = self.conn.execute(
            f"SELECT at, to_status FROM transitions WHERE account = ? AND at >= ? AND at <= ? AND kind NOT IN ({marks})"
            " ORDER BY at, id",
            (account, starts[0], now, *problem_edges),
        ).fetchall()
        current = _status(before[0]) if before else None
        result: list[Status | None] = []
        pending = iter(edges)
        edge = next(pending, None)
        for end in [*starts[1:], now + 1]:
            seen = [current] if current is not None else []
            while edge is not None and edge["at"] < end:
                entered = _status(edge["to_status"])
                if entered is not None:
                    current = entered
                    seen.append(entered)
                edge = next(pending, None)
            result.append(max(seen, key=STATUS_WEIGHT.__getitem__) if seen else None)
        return result

    def transitions(self, account: str, limit: int = 50) -> list[TransitionRow]:
        """Transitions of `account`, newest first, with the evidence of their reading."""
        rows = self.conn.execute(
            "SELECT t.*, r.rule, r.matched, r.url, r.detail, r.screenshot FROM transitions t"
            " LEFT JOIN readings r ON r.id = t.reading_id WHERE t.account = ?"
            " ORDER BY t.at DESC, t.id DESC LIMIT ?",
            (account, limit),
        )
        return [TransitionRow(**{**_known(TransitionRow, r), "kind": TransitionKind(r["kind"])}) for r in rows]

    def prune(self, before: float) -> int:
        """Drop readings older than `before` that no transition refers to (and old sign-ins); returns how many."""
        with self.transaction() as tx:
            return tx.prune(before)

    def retain(self, before: float, strip_from: float, keep_transitions: int, keep_deliveries: int) -> Retained:
        """Retention in one transaction; returns what it removed.

        Transitions: an account's last `keep_transitions` stay, and so does every one since `before` or
        `strip_from` (whichever is older: the console's status strip reads them), every one of the
        account's last case (open or closed) and the last status change before that window (the status
        the strip begins with). Outbox: a channel's last `keep_deliveries` sent or given-up rows stay, and
        every one created since `before`; a pending row always stays. Then readings and sign-ins older
        than `before` go, those of the transitions that stay excepted (as `prune`).
        """
        with self.transaction() as tx:
            return tx.retain(before, strip_from, keep_transitions, keep_deliveries)

    def file_sizes(self) -> tuple[int, int, int]:
        """Bytes of the database file and of its WAL, and bytes on SQLite's freelist (reused before the file grows)."""
        if self.path is None:
            return 0, 0, 0
        db, wal = (p.stat().st_size if p.exists() else 0 for p in (self.path, Path(f"{self.path}-wal")))
        page = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        return db, wal, page * int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])

    # --- outbox --------------------------------------------------------------------

    def outbox(
        self, states: tuple[OutboxState, ...] = (OutboxState.PENDING, OutboxState.GIVEN_UP), limit: int = 200
    ) -> list[OutboxRow]:
        """Outbox rows in the given states, oldest first."""
        marks = ", ".join("?" * len(states))
        rows = self.conn.execute(
            f"SELECT * FROM outbox WHERE state IN ({marks}) ORDER BY created_at, id LIMIT ?",
            (*(str(s) for s in states), limit),
        )
        return [_outbox_row(r) for r in rows]

    def head(self, channel: str) -> OutboxRow | None:
        """The oldest pending row of a channel: a channel delivers in order, so only it may go next."""
        row = self.conn.execute(
            "SELECT * FROM outbox WHERE state = ? AND channel = ? ORDER BY id LIMIT 1", (OutboxState.PENDING, channel)
        ).fetchone()
        return _outbox_row(row) if row else None

    def due(self, now: float) -> list[OutboxRow]:
        """The head row of each channel, where its next attempt is due and no sender holds it."""
        rows = self.conn.execute(
            "SELECT * FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox WHERE state = ? GROUP BY channel)"
            " AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until <= ?) ORDER BY id",
            (OutboxState.PENDING, now, now),
        )
        return [_outbox_row(r) for r in rows]

    def claim(self, row_id: int, now: float, lease_s: float = 120.0, force: bool = False) -> bool:
        """Take a due row (any pending one, with `force`) for sending; nobody else sends it within the lease."""
        with self.transaction() as tx:
            return tx.claim(row_id, now, lease_s, force)

    def record_attempt(
        self, row_id: int, ok: bool, error: str | None, now: float, next_at: float | None = None, give_up: bool = False
    ) -> None:
        """Record one delivery attempt and move the row on (sent, retry later, or given up)."""
        with self.transaction() as tx:
            tx.record_attempt(row_id, ok, error, now, next_at, give_up)

    def outbox_counts(self) -> dict[OutboxState, int]:
        """How many outbox rows are in each state (every state named, 0 for none)."""
        counts = dict.fromkeys(OutboxState, 0)
        for state, count in self.conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
            counts[OutboxState(state)] = int(count)
        return counts

    def channel_results(self) -> dict[str, tuple[OutboxRow, AttemptRow]]:
        """Each channel's last delivery attempt and the row it was for, by channel name."""
        rows = self.conn.execute(
            "SELECT o.*, a.id AS attempt_id, a.at AS attempt_at, a.ok AS attempt_ok, a.error AS attempt_error"
            " FROM delivery_attempts a JOIN outbox o ON o.id = a.outbox_id WHERE a.id IN"
            " (SELECT MAX(a2.id) FROM delivery_attempts a2 JOIN outbox o2 ON o2.id = a2.outbox_id GROUP BY o2.channel)"
            " ORDER BY o.channel"
        )
        return {
            r["channel"]: (
                _outbox_row(r),
                AttemptRow(r["attempt_id"], r["id"], r["attempt_at"], bool(r["attempt_ok"]), r["attempt_error"]),
            )
            for r in rows
        }

    def attempts(self, row_id: int) -> list[AttemptRow]:
        """Delivery attempts of one outbox row, oldest first."""
        rows = self.conn.execute("SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY id", (row_id,))
        return [AttemptRow(**{**_known(AttemptRow, r), "ok": bool(r["ok"])}) for r in rows]


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> None:
    """Apply the migrations `conn`'s file lacks (up to number `upto`), each in its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, (_name, sql) in enumerate(MIGRATIONS[:upto], start=1):
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


def watched_accounts(db_path: Path) -> set[str]:
    """The accounts a database file has state for, read-only (another monitor's file may be open for writing)."""
    with contextlib.closing(sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
        return {row[0] for row in conn.execute("SELECT account FROM account_state")}


def _known(cls: type, row: sqlite3.Row) -> dict[str, Any]:
    """The row's columns that `cls` has fields for: a column a later version added does not break this one."""
    names = set(row.keys())
    return {f.name: row[f.name] for f in fields(cls) if f.name in names}


def _state(conn: sqlite3.Connection, account: str) -> AccountState:
    row = conn.execute("SELECT * FROM account_state WHERE account = ?", (account,)).fetchone()
    return AccountState(account) if row is None else _state_row(row)


def _state_row(row: sqlite3.Row) -> AccountState:
    """An account_state row as the AccountState it stores."""
    data = _known(AccountState, row)
    data["status"] = Status(data["status"]) if data["status"] else None
    data["known_status"] = Status(data["known_status"]) if data["known_status"] else None
    data["problem"] = Problem(data["problem"]) if data["problem"] else None
    data["last_outcome"] = outcome(data["last_outcome"])
    data["problem_alerted"] = bool(data["problem_alerted"])
    if data.get("acked_status"):
        data["acked_status"] = Status(data["acked_status"])
    return AccountState(**data)


def _budget(times: list[float], limit: int, window: float) -> Budget:
    """The budget rule: `times` (oldest first) are the counted sign-ins; it frees up as enough leave the window."""
    used = len(times)
    return Budget(used, limit, times[used - limit] + window if 0 < limit <= used else None)


STATUS_WEIGHT = {Status.OK: 0, Status.UNKNOWN: 1, Status.UNDER_REVIEW: 2, Status.LOCKED: 3}  # worst wins a day


def _status(value: str | None) -> Status | None:
    """A stored status word back as a Status; None for none or a word that is not a status."""
    return Status(value) if value in STATUS_WEIGHT else None


def _reading_row(row: sqlite3.Row) -> ReadingRow:
    data = _known(ReadingRow, row)
    data["status"] = Status(data["status"]) if data["status"] else None
    data["problem"] = Problem(data["problem"]) if data["problem"] else None
    data["signed_in"] = bool(data["signed_in"])
    data["orders"] = [str(o) for o in json.loads(data["orders"])] if data.get("orders") else []
    return ReadingRow(**data)


def _outbox_row(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(**{**_known(OutboxRow, row), "state": OutboxState(row["state"])})


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
