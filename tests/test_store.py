"""The store and what it remembers per account: bound to the user and site it was made for."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fixtures.control import Control
from monitor.models import Status
from monitor.store import MIGRATIONS, DatabaseDamaged, Store, integrity_problems
from tests.helpers import account_entry, run_monitor

CHANNEL = '[[channels]]\nname = "phone"\nurl = "json://127.0.0.1:9/"'


def pending_alerts(store: Store) -> list[str]:
    return [f"{row.account} {row.kind}" for row in store.outbox(("pending",))]


@pytest.mark.browser
def test_changed_username_keeps_nothing_of_the_old_user(rig: Any, control: Control, monkeypatch: Any) -> None:
    control.event("alice@example.com", "lock")
    first = rig([{**account_entry("alice", monkeypatch), "name": "shop"}], extra=CHANNEL)
    assert first.check("shop").status == Status.LOCKED
    assert pending_alerts(first.store) == ["shop locked"]
    alice_views = control.account("alice@example.com")["page_views"]
    # The owner edits the entry: same name, another user (who is fine).
    edited = rig([{**account_entry("hanako", monkeypatch), "name": "shop", "locale": "ja-JP"}], extra=CHANNEL)
    reading = edited.check("shop")
    assert reading.status == Status.OK and reading.signed_in
    assert pending_alerts(edited.store) == ["shop locked"]  # nothing new: no "restored", no lock
    assert control.account("hanako@example.jp")["page_views"] > 0
    assert control.account("alice@example.com")["page_views"] == alice_views
    state = edited.store.state("shop")
    assert state.status == Status.OK and state.paused_reason is None and state.problem_count == 0
    assert edited.store.transitions("shop", 1)[0]["from_status"] is None  # a first reading, not locked -> ok


def test_migrations_reach_a_database_of_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0][1] + "PRAGMA user_version = 1;")
    old.execute("INSERT INTO account_state (account, status, created_at) VALUES ('shop', 'locked', 1)")
    old.commit()
    old.close()
    store = Store(path)
    state = store.state("shop")
    assert state.status == Status.LOCKED and state.bound_to is None  # adopted, bound at its next reading
    store.close()


def test_a_failed_commit_leaves_no_transaction_open(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    with pytest.raises(sqlite3.IntegrityError), store.tx() as conn:
        conn.execute("PRAGMA defer_foreign_keys = ON")  # the violation surfaces at COMMIT, as a full disk would
        conn.execute("INSERT INTO transitions (account, at, kind, reading_id) VALUES ('shop', 1, 'status', 999)")
    assert not store.conn.in_transaction
    store.pause("shop", "challenge")  # the next write works
    assert store.state("shop").paused_reason == "challenge"
    store.close()


def test_a_damaged_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    store.pause("shop", "challenge")
    store.close()
    db = tmp_path / "data" / "monitor.db"
    assert integrity_problems(db) == []
    db.write_bytes(b"not a database at all" * 300)
    assert integrity_problems(db)
    with pytest.raises(DatabaseDamaged, match=r"monitor\.db: the database is damaged.*sessions/ stays"):
        Store.open(tmp_path / "data")


def test_damage_that_a_query_does_not_touch_is_found_when_checked(tmp_path: Path) -> None:
    """A damaged readings table: listing the outbox alone would not notice, a checked open does."""
    store = Store.open(tmp_path / "data")
    with store.tx() as conn:  # enough readings for the table to have pages of its own
        conn.executemany(
            "INSERT INTO readings (account, at, status, signed_in, duration_ms) VALUES ('shop', ?, 'ok', 0, 1)",
            [(float(i),) for i in range(2000)],
        )
    root = store.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'readings'").fetchone()[0]
    page_size = store.conn.execute("PRAGMA page_size").fetchone()[0]
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    db = tmp_path / "data" / "monitor.db"
    with db.open("r+b") as fh:  # the root page of readings: an interior page, overwritten
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)
    unchecked = Store.open(tmp_path / "data")
    assert unchecked.outbox() == []  # the outbox's own pages are fine: nothing looks wrong from here
    unchecked.close()
    with pytest.raises(DatabaseDamaged, match="the database is damaged"):
        Store.open(tmp_path / "data", check=True)
    config = tmp_path / "monitor.toml"
    config.write_text(  # no secret needed to list the outbox
        'data_dir = "data"\n[[accounts]]\nname = "shop"\nprofile = "mock-retailer"\n'
        'base_url = "http://127.0.0.1:9"\nusername = "a@example.com"\npassword = { env = "UNSET_PW" }\n',
        encoding="utf-8",
    )
    done = run_monitor(config, "outbox")
    assert done.returncode == 1 and "outbox is empty" not in done.stdout
    assert len(done.stderr.splitlines()) == 1 and "the database is damaged" in done.stderr, done.stderr
