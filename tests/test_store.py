"""The store and what it remembers per account: bound to the user and site it was made for."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor import config as configmod
from monitor.case import current_case
from monitor.config import Schedule
from monitor.decide import decide
from monitor.models import (
    AccountState,
    Budget,
    OutboxState,
    Problem,
    Reading,
    ReadingRow,
    Status,
    Transition,
    TransitionKind,
)
from monitor.store import (
    MIGRATIONS,
    DatabaseDamaged,
    Store,
    StoreError,
    integrity_problems,
    migrate,
    watched_accounts,
)
from tests.helpers import make_config, run_monitor


def at_version(path: Path, version: int) -> None:
    """A database file as schema version `version` left it, with one row in every table."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        migrate(conn, upto=version)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version
        conn.executescript(
            """
            INSERT INTO account_state (account, status, status_since, last_check_at, last_outcome, problem,
                problem_count, problem_alerted, known_status, paused_reason, paused_at, created_at)
                VALUES ('shop', 'locked', 10, 20, 'unreachable', 'unreachable', 2, 1, 'locked', 'challenge', 15, 1);
            INSERT INTO readings (id, account, at, status, rule, matched, signed_in, duration_ms, screenshot)
                VALUES (1, 'shop', 10, 'locked', 'locked', 'Your account is locked', 1, 900, 'shot.png');
            INSERT INTO transitions (account, at, kind, from_status, to_status, reading_id)
                VALUES ('shop', 10, 'locked', 'ok', 'locked', 1);
            INSERT INTO signins (account, at, outcome) VALUES ('shop', 9, 'attempt');
            INSERT INTO outbox (id, account, kind, severity, channel, title, body, created_at, next_attempt_at)
                VALUES (1, 'shop', 'locked', 'urgent', 'phone', 'shop: locked', 'body', 10, 10);
            INSERT INTO delivery_attempts (outbox_id, at, ok, error) VALUES (1, 11, 0, 'refused');
            """
        )


def schema(path: Path) -> list[tuple[Any, ...]]:
    """Every table, index and column definition of a database file, and its version."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        return [*rows, ("user_version", conn.execute("PRAGMA user_version").fetchone()[0])]


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)), ids=lambda v: f"v{v}-{MIGRATIONS[v - 1][0]}")
def test_every_past_schema_version_migrates_with_its_data(tmp_path: Path, version: int) -> None:
    at_version(tmp_path / "old.db", version)
    store = Store(tmp_path / "old.db")
    state = store.state("shop")
    assert (state.status, state.known_status, state.problem, state.last_outcome) == (
        Status.LOCKED,
        Status.LOCKED,
        Problem.UNREACHABLE,
        Problem.UNREACHABLE,
    )
    assert (state.problem_count, state.problem_alerted, state.paused_reason) == (2, True, "challenge")
    assert state.bound_to is None and state.signins_reset_at is None  # adopted, bound at its next reading
    assert (state.acked_at, state.ack_until, state.acked_status) == (None, None, None)  # v5: never acknowledged
    assert [(r.status, r.matched, r.signed_in, r.orders, r.instructions) for r in store.readings("shop")] == [
        (Status.LOCKED, "Your account is locked", True, [], None)  # v5: readings from before kept no orders
    ]
    assert store.acknowledge("shop", None, now=100).acked_status == Status.LOCKED  # and the new columns work
    (edge,) = store.transitions("shop")
    assert (edge.kind, edge.from_status, edge.to_status, edge.screenshot) == ("locked", "ok", "locked", "shot.png")
    assert store.budget("shop", 3, now=100).used == 1
    (row,) = store.outbox()
    assert (row.state, row.title, row.leased_until) == (OutboxState.PENDING, "shop: locked", None)
    assert [(a.ok, a.error) for a in store.attempts(row.id)] == [(False, "refused")]
    store.close()
    Store(tmp_path / "fresh.db").close()
    assert schema(tmp_path / "old.db") == schema(tmp_path / "fresh.db")


def test_a_failed_commit_leaves_no_transaction_open(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as tx:
        store.conn.execute("PRAGMA defer_foreign_keys = ON")  # the violation surfaces at COMMIT, as a full disk would
        tx.add_transitions("shop", 1, [Transition(TransitionKind.STATUS, None, "ok")], 999)
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
    with store.transaction() as tx:  # enough readings for the table to have pages of its own
        for i in range(2000):
            tx.insert_reading(Reading("shop", status=Status.OK, at=float(i), duration_ms=1))
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


def queued(account: str = "shop", channel: str = "phone", at: float = 100.0) -> dict[str, Any]:
    """One outbox row as notify.outbox_rows makes them."""
    return {
        "account": account,
        "kind": "locked",
        "severity": "urgent",
        "channel": channel,
        "title": f"{account}: locked",
        "body": "body",
        "attachment": None,
        "created_at": at,
    }


def test_an_error_inside_a_transaction_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    reading = Reading("shop", status=Status.LOCKED, at=100.0)
    decision = decide(AccountState("shop"), reading, 100.0, Schedule())
    with pytest.raises(KeyError), store.transaction() as tx:
        tx.record_check(reading, decision, [queued()])
        tx.record_signin("shop", "attempt", 100.0)
        assert tx.state("shop").status == Status.LOCKED  # the transaction sees its own writes
        raise KeyError("a bug after the writes")
    assert store.states() == [] and store.readings("shop") == [] and store.transitions("shop") == []
    assert store.outbox() == [] and store.budget("shop", 3, now=100.0).used == 0
    store.pause("shop", "challenge")  # and the next transaction works
    assert store.state("shop").paused_reason == "challenge"
    store.close()


def test_transactions_do_not_nest(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    with store.transaction() as tx:
        tx.put_state(AccountState("shop", status=Status.OK))
        with pytest.raises(RuntimeError, match="already open"), store.transaction():
            pass
        with pytest.raises(RuntimeError, match="already open"):
            store.pause("shop", "challenge")  # a writing shorthand opens its own: refused too
    assert store.state("shop").status == Status.OK and store.state("shop").paused_reason is None
    store.close()


def test_a_check_is_recorded_as_typed_frozen_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    reading = Reading("shop", status=Status.LOCKED, at=100.0, rule="locked", matched="locked", signed_in=True)
    decision = decide(AccountState("shop", status=Status.OK), reading, 100.0, Schedule())
    with store.transaction() as tx:
        reading_id = tx.record_check(reading, decision, [queued(), queued(channel="mail")])
    (row,) = store.readings("shop")
    assert row == ReadingRow(reading_id, "shop", 100.0, Status.LOCKED, None, "locked", "locked", None, None, None,
                             True, 0, None)  # fmt: skip
    (edge,) = store.transitions("shop")
    assert (edge.kind, edge.from_status, edge.to_status, edge.reading_id) == (
        TransitionKind.LOCKED,
        "ok",
        "locked",
        reading_id,
    )
    assert isinstance(edge.kind, TransitionKind) and isinstance(store.state("shop").last_outcome, Status)
    assert [(r.channel, r.state) for r in store.outbox()] == [("phone", OutboxState.PENDING), ("mail", "pending")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.status = Status.OK  # type: ignore[misc]
    store.close()


def test_a_column_a_later_version_adds_does_not_break_reading_rows(tmp_path: Path) -> None:
    """A newer CLI may migrate the file under a running older daemon: its rows must still read."""
    store = Store(tmp_path / "monitor.db")
    reading = Reading("shop", status=Status.LOCKED, at=100.0, rule="locked", matched="locked")
    decision = decide(AccountState("shop", status=Status.OK), reading, 100.0, Schedule())
    with store.transaction() as tx:
        row_id = tx.record_check(reading, decision, [queued()])
    store.record_attempt(1, False, "refused", 101.0, next_at=110.0)
    for table in ("account_state", "readings", "transitions", "outbox", "delivery_attempts"):
        store.conn.execute(f"ALTER TABLE {table} ADD COLUMN added_later TEXT DEFAULT 'x'")
    assert store.state("shop").status == Status.LOCKED
    assert [r.id for r in store.readings("shop")] == [row_id]
    assert [t.kind for t in store.transitions("shop")] == [TransitionKind.LOCKED]
    assert [r.attempts for r in store.outbox()] == [1]
    assert [a.error for a in store.attempts(1)] == ["refused"]
    store.close()


def test_a_claimed_row_is_leased_to_one_sender(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store, other = Store(path), Store(path)  # two processes on one file: a daemon and `monitor outbox --send`
    with store.transaction() as tx:
        first, second = tx.enqueue(queued(at=100.0)), tx.enqueue(queued(at=101.0))
    assert [r.id for r in store.due(100.0)] == [first]  # a channel delivers in order: only its head is due
    assert store.claim(first, 100.0, lease_s=120.0)
    assert not other.claim(first, 150.0, lease_s=120.0)  # leased: nobody sends it twice
    assert store.due(150.0) == [] and store.head("phone").id == first  # type: ignore[union-attr]
    assert other.claim(first, 220.0, lease_s=120.0)  # the lease ran out (its sender crashed): taken over
    other.record_attempt(first, False, "refused", 221.0, next_at=300.0)
    assert not store.claim(first, 299.0) and store.claim(first, 300.0)  # retried when its next attempt is due
    store.record_attempt(first, True, None, 301.0)
    assert not other.claim(first, 1000.0)  # sent: never again
    (sent,) = store.outbox((OutboxState.SENT,))
    assert (sent.id, sent.attempts, sent.sent_at, sent.last_error) == (first, 2, 301.0, None)
    assert [(a.ok, a.error) for a in store.attempts(first)] == [(False, "refused"), (True, None)]
    assert store.head("phone").id == second  # type: ignore[union-attr]
    assert store.claim(second, 400.0)
    store.record_attempt(second, False, "rejected", 400.0, give_up=True)
    assert store.head("phone") is None and [r.state for r in store.outbox()] == [OutboxState.GIVEN_UP]
    store.close()
    other.close()


def test_a_forced_claim_skips_the_backoff_but_never_a_live_lease(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    with store.transaction() as tx:
        row = tx.enqueue(queued(at=100.0))
    assert store.claim(row, 100.0, lease_s=120.0)
    store.record_attempt(row, False, "refused", 101.0, next_at=250.0)  # waits out its backoff till 250
    assert store.due(200.0) == [] and not store.claim(row, 200.0)
    assert store.claim(row, 200.0, lease_s=120.0, force=True)  # `monitor outbox --send`: now
    assert not store.claim(row, 210.0, force=True)  # another forced sender: the lease holds
    assert store.due(300.0) == [] and not store.claim(row, 300.0)  # so does a due retry, until 320
    assert store.claim(row, 320.0)  # the lease ran out (its sender died): taken over
    store.close()


def test_watched_accounts_reads_without_writing(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    store.pause("shop", "challenge")
    store.close()
    before = (tmp_path / "monitor.db").read_bytes()
    assert watched_accounts(tmp_path / "monitor.db") == {"shop"}
    assert (tmp_path / "monitor.db").read_bytes() == before
    with pytest.raises(StoreError):
        watched_accounts(tmp_path / "missing.db")  # read-only: never creates a file


def test_a_reading_keeps_the_orders_and_instructions_the_page_showed(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    orders = ["#1001 Gift card ¥50,000 on hold", "#1002 Book 保留"]
    with store.transaction() as tx:
        held = tx.insert_reading(Reading("shop", status=Status.LOCKED, at=10.0, orders=orders, instructions="Upload."))
        bare = tx.insert_reading(Reading("shop", status=Status.OK, at=20.0))
    assert [(r.orders, r.instructions) for r in store.readings("shop")] == [([], None), (orders, "Upload.")]
    assert store.reading(held) == store.readings("shop")[1] and store.reading(bare) == store.readings("shop")[0]
    assert store.reading(999) is None
    store.close()


def test_an_acknowledgement_holds_the_current_status(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    assert store.acknowledge("shop", None, now=100.0).acked_at is None
    assert store.states() == []  # no state: nothing acknowledged, nothing written
    with store.transaction() as tx:
        tx.put_state(AccountState("shop", status=Status.UNDER_REVIEW, status_since=50.0))
    acked = store.acknowledge("shop", 500.0, now=100.0)
    assert (acked.acked_at, acked.ack_until, acked.acked_status) == (100.0, 500.0, Status.UNDER_REVIEW)
    assert store.state("shop") == acked and isinstance(store.state("shop").acked_status, Status)
    assert acked.acknowledged(499.0) and not acked.acknowledged(500.0)
    forever = store.acknowledge("shop", None, now=200.0)
    assert forever.acknowledged(10**10) and not replace(forever, status=Status.LOCKED).acknowledged(300.0)
    store.close()


def test_bulk_state_and_budget_reads_match_the_per_account_reads_row_for_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    now = 10 * 86400.0
    with store.transaction() as tx:
        tx.put_state(AccountState("shop", status=Status.LOCKED, status_since=now - 7200, created_at=1.0))
        tx.put_state(
            AccountState("home", status=Status.OK, problem=Problem.UNREACHABLE, problem_count=2, created_at=1.0)
        )
        for i in range(4):  # home: a spent budget (limit 3), one sign-in before a reset that does not count
            tx.record_signin("home", "ok", now - 7200 + i * 60)
        tx.record_signin("home", "ok", now - 2 * 86400)  # outside the window
        tx.put_state(replace(tx.state("home"), signins_reset_at=now - 7200 + 30))
        tx.record_signin("shop", "ok", now - 60)
        tx.record_signin("never", "ok", now - 60)  # sign-ins of an account with no state row count too
    store.acknowledge("shop", now + 3600, now)
    names = ["shop", "home", "never", "nobody"]
    states = store.states_of(names)

    def same(state: AccountState) -> AccountState:
        return replace(state, created_at=0.0) if state.status is None else state  # a fresh one's is "now"

    assert list(states) == names
    assert {n: same(s) for n, s in states.items()} == {n: same(store.state(n)) for n in names}
    assert states["shop"].acked_status == Status.LOCKED and states["home"].problem == Problem.UNREACHABLE
    assert store.states() == [states["home"], states["shop"]]
    budgets = store.budgets(dict.fromkeys(names, 3), now)
    assert budgets == {name: store.budget(name, 3, now) for name in names}
    assert budgets["home"] == Budget(3, 3, now - 7200 + 60 + 86400) and budgets["home"].spent
    assert budgets["shop"] == budgets["never"] == Budget(1, 3, None) and budgets["nobody"] == Budget(0, 3, None)
    assert store.budgets({"home": 0}, now)["home"] == Budget(3, 0, None)  # no budget: spent, never frees up
    assert store.states_of([]) == {} and store.budgets({}, now) == {}
    store.close()


def local(day: int, hour: float) -> float:
    """Unix time of `hour` o'clock local time on 2026-11-`day`."""
    return datetime.datetime(2026, 11, day).timestamp() + hour * 3600


def test_status_days_show_each_days_worst_status(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    edges = [  # (day, hour, kind, from, to)
        (20, 9, TransitionKind.STATUS, None, "ok"),
        (22, 10, TransitionKind.LOCKED, "ok", "locked"),
        (23, 8, TransitionKind.CHECKS_FAILING, None, "unreachable"),  # a problem is not a status
        (24, 1, TransitionKind.UNDER_REVIEW, "locked", "under_review"),
        (24, 20, TransitionKind.RESTORED, "under_review", "ok"),
        (26, 12, TransitionKind.UNKNOWN_PAGE, "ok", "unknown"),
        (26, 13, TransitionKind.STATUS, "unknown", "ok"),
        (28, 23.5, TransitionKind.LOCKED, "ok", "locked"),  # after `now`: not seen yet
    ]
    with store.transaction() as tx:
        for day, hour, kind, before, after in edges:
            tx.add_transitions("shop", local(day, hour), [Transition(kind, before, after)], None)
    days = store.status_days("shop", now=local(28, 12), days=10)
    assert days == [None, Status.OK, Status.OK, Status.LOCKED, Status.LOCKED, Status.LOCKED, Status.OK,
                    Status.UNKNOWN, Status.OK, Status.OK]  # 19th .. 28th  # fmt: skip
    assert store.status_days("shop", now=local(28, 12)) == [None] * 21 + days[1:]  # 30 days by default
    assert store.status_days("other", now=local(28, 12), days=3) == [None, None, None]
    assert store.status_days("shop", now=local(29, 1), days=1) == [Status.LOCKED]  # carried into the next day
    store.close()


def test_outbox_counts_and_each_channels_last_result(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    assert store.outbox_counts() == {OutboxState.PENDING: 0, OutboxState.SENT: 0, OutboxState.GIVEN_UP: 0}
    assert store.channel_results() == {}
    with store.transaction() as tx:
        phone1, phone2 = tx.enqueue(queued(at=100.0)), tx.enqueue(queued(at=101.0))
        mail, never = tx.enqueue(queued(channel="mail")), tx.enqueue(queued(channel="pager"))
    store.record_attempt(phone1, False, "refused", 110.0, next_at=120.0)
    store.record_attempt(phone1, True, None, 120.0)
    store.record_attempt(mail, False, "rejected", 115.0, give_up=True)
    store.record_attempt(phone2, False, "timed out", 130.0, next_at=200.0)
    assert store.outbox_counts() == {OutboxState.PENDING: 2, OutboxState.SENT: 1, OutboxState.GIVEN_UP: 1}
    results = store.channel_results()
    assert sorted(results) == ["mail", "phone"]  # the pager never had an attempt
    row, attempt = results["phone"]
    assert (row.id, attempt.outbox_id, attempt.at, attempt.ok, attempt.error) == (phone2, phone2, 130.0, False,
                                                                                   "timed out")  # fmt: skip
    row, attempt = results["mail"]
    assert (row.id, row.state, attempt.ok, attempt.error) == (mail, OutboxState.GIVEN_UP, False, "rejected")
    assert never not in {r.id for r, _ in results.values()}
    store.close()


def test_retention_keeps_the_last_transitions_the_strips_days_and_the_status_they_begin_with(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    day = 86400.0
    now = 200 * day
    with store.transaction() as tx:
        for i in range(100):  # ok / unknown flips, one a day: no case ever opened
            to = "unknown" if i % 2 else "ok"
            tx.add_transitions("shop", i * day, [Transition(TransitionKind.STATUS, None, to)], None)
        tx.add_transitions("shop", 150 * day, [Transition(TransitionKind.CHECKS_FAILING, None, "unreachable")], None)
        for i in range(5):  # inside the strip's days: all stay, however many
            tx.add_transitions("shop", now - (4 - i) * day, [Transition(TransitionKind.STATUS, None, "ok")], None)
    strip = store.status_days("shop", now)
    removed = store.retain(before=now - 30 * day, strip_from=now - 31 * day, keep_transitions=3, keep_deliveries=1)
    left = store.transitions("shop", 1000)
    # the strip's days (more than the last 3), and the last status change before them: what day 1 begins with
    assert [t.at / day for t in left] == [200, 199, 198, 197, 196, 99]
    assert removed.transitions == 100 and store.status_days("shop", now) == strip
    store.close()


def test_retention_drops_finished_outbox_rows_past_the_last_per_channel_never_a_pending_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")
    with store.transaction() as tx:
        phone = [tx.enqueue(queued(at=100.0 + i)) for i in range(4)]
        mail = [tx.enqueue(queued(channel="mail", at=100.0 + i)) for i in range(2)]
        late = tx.enqueue(queued(at=5000.0))  # created after the retention cutoff
    store.record_attempt(phone[0], False, "refused", 110.0, give_up=True)
    for row in (phone[1], phone[2], mail[0], mail[1]):
        store.record_attempt(row, True, None, 120.0)
    store.record_attempt(late, True, None, 5001.0)  # phone[3] stays pending (its head was given up, then sent)
    removed = store.retain(before=1000.0, strip_from=1000.0, keep_transitions=10, keep_deliveries=1)
    left = {r.id: r.state for r in store.outbox(tuple(OutboxState))}
    assert left == {phone[3]: OutboxState.PENDING, mail[1]: OutboxState.SENT, late: OutboxState.SENT}
    assert removed.deliveries == 4 and store.attempts(phone[0]) == []  # its attempts went with it
    assert store.channel_results()["mail"][0].id == mail[1]  # each channel's last result still shown
    store.close()


def test_retention_never_drops_the_open_case_nor_its_readings(tmp_path: Path) -> None:
    config = configmod.load(make_config(tmp_path, []))
    store = Store.open(config.data_dir)
    hour = 3600.0

    def see(at: float, status: Status, matched: str | None = None) -> None:
        reading = Reading("shop", at=at, status=status, matched=matched)
        with store.transaction() as tx:
            tx.record_check(reading, decide(tx.state("shop"), reading, at, Schedule()), [])

    for i in range(20):  # earlier cases, each locked an hour and restored
        see(i * 24 * hour, Status.OK)
        see(i * 24 * hour + hour, Status.LOCKED)
    see(500 * hour, Status.OK)
    see(501 * hour, Status.LOCKED, matched="Your account has been locked")  # the open case: 60 days and counting
    for i in range(20):
        see(502 * hour + i * 72 * hour, Status.UNDER_REVIEW if i % 2 == 0 else Status.LOCKED)
    now = 502 * hour + 20 * 72 * hour
    before = current_case(config, store, "shop", now)
    removed = store.retain(before=now - 86400, strip_from=now - 31 * 86400, keep_transitions=5, keep_deliveries=5)
    after = current_case(config, store, "shop", now)
    assert removed.transitions > 30 and removed.readings > 0  # the earlier cases went
    assert before is not None and after == before and len(after.steps) == 21  # the lock and its 20 changes
    assert after.steps[0].evidence == "Your account has been locked"  # its reading stayed with it
    store.close()


def test_pruned_space_is_reused_so_the_file_stops_growing(tmp_path: Path) -> None:
    store = Store(tmp_path / "monitor.db")

    def fill(start: int) -> int:
        """2,000 readings a minute apart from minute `start`; the file's size once its WAL is written back."""
        with store.transaction() as tx:
            for i in range(start, start + 2000):
                tx.insert_reading(Reading("shop", at=i * 60.0, status=Status.OK, detail="x" * 300))
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return store.file_sizes()[0]

    first = fill(0)
    assert store.retain(before=2000 * 60.0, strip_from=0, keep_transitions=1, keep_deliveries=1).readings == 2000
    freed = store.file_sizes()[2]
    assert freed > first // 2  # the pages went to SQLite's freelist (the file keeps its size) ...
    assert fill(2000) <= first  # ... and the next readings fill them instead of growing the file
    store.close()
