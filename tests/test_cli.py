"""The CLI: every command has help with an example; status reads the database without secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from fixtures.control import Control
from fixtures.receiver import PushReceiver
from monitor.cli import COMMANDS, main
from monitor.coordinator import Coordinator
from monitor.models import Problem, Reading, Status, Transition, TransitionKind
from tests.helpers import Env, account_entry, make_config, run_monitor, start_monitor

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name: str, capsys) -> None:
    func, _ = COMMANDS[name]
    assert func.__doc__ and "Example: monitor" in func.__doc__
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert func.__doc__.splitlines()[0] in capsys.readouterr().out


def test_status_and_history_need_no_secrets(tmp_path, monkeypatch) -> None:
    path = make_config(tmp_path, [])
    text = path.read_text() + 'password = { env = "NOT_SET_HERE" }\n'
    path.write_text(text)
    monkeypatch.setenv("NOT_SET_HERE", "x")
    from monitor import config as configmod
    from monitor.store import Store

    cfg = configmod.load(path)
    store = Store.open(cfg.data_dir)
    Coordinator(cfg, store).commit(Reading(account="shop", status=Status.LOCKED, at=1_800_000_000))
    store.close()
    monkeypatch.delenv("NOT_SET_HERE")
    out = run_monitor(path, "status")
    assert out.returncode == 0, out.stderr
    assert "shop" in out.stdout and "locked" in out.stdout


def test_run_with_a_bad_config_exits_2_before_starting(tmp_path) -> None:
    path = make_config(tmp_path, [])
    path.write_text(path.read_text() + "[schedule]\ninterval = -5\n")
    done = run_monitor(path, "run")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"{path}: schedule.interval: must be positive" in line
    assert not (tmp_path / "data" / "monitor.lock").exists()  # nothing of a daemon was started


def test_retention_keeps_readings_of_transitions(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.store import Store

    cfg = configmod.load(make_config(tmp_path, []))
    store = Store.open(cfg.data_dir)
    coordinator = Coordinator(cfg, store)
    for at, status in [(1000.0, Status.OK), (2000.0, Status.OK), (3000.0, Status.LOCKED), (9000.0, Status.LOCKED)]:
        coordinator.commit(Reading(account="shop", status=status, at=at))
    assert store.prune(before=5000.0) == 1  # the second ok reading; the first and the lock made transitions
    assert [r.at for r in store.readings("shop")] == [9000.0, 3000.0, 1000.0]
    assert len(store.transitions("shop")) == 2


@pytest.mark.browser
def test_spent_budget_shows_in_status_and_resume_resets_it(rig, control: Control, monkeypatch) -> None:
    r = rig([account_entry("alice", monkeypatch, signin_budget=1)])
    assert r.check("alice").signed_in
    control.misbehave("alice@example.com", expire_session=True)
    refused = r.check("alice")
    assert refused.problem == Problem.LOGGED_OUT and "`monitor resume alice` resets it" in (refused.detail or "")
    first_signin = r.store.state("alice").last_check_at

    table = run_monitor(r.config.path, "status")
    assert table.returncode == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if line.startswith("alice")]
    assert " 1/1 " in row and "now" not in row  # used up; the next one is allowed only later
    data = json.loads(run_monitor(r.config.path, "status", "--json").stdout)
    (alice,) = data["accounts"]
    assert alice["problem"] == "logged_out" and alice["paused"] is None
    assert alice["signins"]["used"] == 1 and alice["signins"]["limit"] == 1 and not alice["signins"]["allowed_now"]
    assert alice["signins"]["next_allowed"] > first_signin  # 24 h after the sign-in that spent it

    done = run_monitor(r.config.path, "resume", "alice")
    assert done.returncode == 0, done.stderr
    assert "reset the spent sign-in budget (1 of 1 in 24 h)" in done.stdout
    again = json.loads(run_monitor(r.config.path, "status", "--json").stdout)["accounts"][0]
    assert again["signins"] == {"used": 0, "limit": 1, "window_h": 24, "allowed_now": True, "next_allowed": None}
    reading = r.check("alice")
    assert reading.status == Status.OK and reading.signed_in
    assert control.account("alice@example.com")["signin_count"] == 2
    assert len(r.store.conn.execute("SELECT * FROM signins WHERE account = 'alice'").fetchall()) == 2  # history kept


def test_a_database_failing_under_a_command_is_one_line_pointing_at_doctor(tmp_path) -> None:
    """Not damage a check finds (a table gone, a full disk): our one line and exit 1, not a traceback."""
    from monitor import config as configmod
    from monitor.store import Store

    path = make_config(tmp_path, [])
    store = Store.open(configmod.load(path).data_dir)
    store.conn.execute("DROP TABLE outbox")
    store.close()
    done = run_monitor(path, "outbox")
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line == (
        "monitor: the database failed (no such table: outbox); `monitor doctor` checks it and says how to recover"
    )


def test_resume_says_what_it_cleared(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.store import Store

    path = make_config(tmp_path, [])
    path.write_text(path.read_text() + "signin_budget = 2\n")
    nothing = run_monitor(path, "resume", "shop")
    assert "nothing to clear" in nothing.stdout and "(0 of 2 in 24 h)" in nothing.stdout
    store = Store.open(configmod.load(path).data_dir)
    store.pause("shop", "challenge")
    assert "lifted the pause (challenge);" in run_monitor(path, "resume", "shop").stdout
    store.pause("shop", "login_rejected")
    store.record_signin("shop", "attempt")
    store.record_signin("shop", "attempt")
    both = run_monitor(path, "resume", "shop").stdout
    assert "lifted the pause (login_rejected) and reset the spent sign-in budget (2 of 2 in 24 h)" in both
    assert store.state("shop").paused_reason is None and store.budget("shop", 2).used == 0
    store.close()


def test_status_says_whether_a_daemon_runs_and_creates_nothing(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.daemon import InstanceLock

    path = make_config(tmp_path, [])
    data_dir = configmod.load(path).data_dir
    fresh = run_monitor(path, "status")
    assert fresh.returncode == 0, fresh.stderr
    assert "daemon: not running" in fresh.stdout and "never read" in fresh.stdout
    assert not data_dir.exists()  # status only looks

    lock = InstanceLock(data_dir)  # what `monitor run` holds while it runs
    assert lock.acquire()
    try:
        running = run_monitor(path, "status")
        assert f"daemon: running (pid {os.getpid()})" in running.stdout
        assert json.loads(run_monitor(path, "status", "--json").stdout)["daemon"] == {
            "running": True,
            "pid": os.getpid(),
            "console": None,  # this "daemon" serves no console
            "browser": None,  # nor runs a browser
        }
        assert not InstanceLock(data_dir).acquire()  # still held: status took nothing away
    finally:
        lock.release()
    assert json.loads(run_monitor(path, "status", "--json").stdout)["daemon"]["running"] is False


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        (
            "sign in with `monitor login shop` or run `monitor resume shop`",
            30,
            ["sign in with `monitor login", "shop` or run `monitor resume", "shop`"],
        ),
        ("ロックされています お客様の", 10, ["ロックされ", "ています", "お客様の"]),
        ("確認中です。「24時間以内」", 10, ["確認中で", "す。「24時", "間以内」"]),
        ("a https://very.long.example/path b", 10, ["a", "https://ve", "ry.long.ex", "ample/path", "b"]),
        ("", 10, [""]),
    ],
)
def test_wrap_breaks_at_word_and_character_boundaries(text: str, width: int, lines: list[str]) -> None:
    from monitor.cli import wrap

    assert wrap(text, width) == lines


def test_history_wraps_evidence_instead_of_cutting_words(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.store import Store

    path = make_config(tmp_path, [])
    cfg = configmod.load(path)
    store = Store.open(cfg.data_dir)
    evidence = (
        "Your account has been locked. To restore access, attach a supporting document such as a billing"
        " statement that shows the last four digits of the card used for the order."
    )
    shot = str(cfg.data_dir / "screenshots" / "shop" / "20270115T090000-locked.png")
    Coordinator(cfg, store).commit(
        Reading(account="shop", status=Status.LOCKED, at=1_800_000_000, matched=evidence, screenshot=shot)
    )
    store.close()
    out = run_monitor(path, "history", "shop", env=os.environ | {"COLUMNS": "100"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines)
    words = " ".join(lines).split()
    assert all(word in words for word in evidence.split())  # every word whole, none cut
    assert "20270115T090000-locked.png" in out.stdout and str(cfg.data_dir) not in out.stdout


def test_outbox_send_sends_rows_not_yet_due(aio, tmp_path, push: PushReceiver) -> None:
    env = Env(make_config(tmp_path, [{"name": "hook", "url": push.json_url()}], extra='[schedule]\nretry_min = "1h"'))
    push.status = 500
    env.lock(screenshot=False)
    env.deliver(aio)
    (row,) = env.rows()
    assert row.state == "pending" and row.next_attempt_at > time.time() + 600  # next try in about an hour
    push.status = 200
    out = run_monitor(env.config.path, "outbox", "--send")
    assert out.returncode == 0, out.stderr
    assert [p.json["title"] for p in push.received] == ["🔒 shop: account locked"]
    assert "outbox is empty" in out.stdout
    assert [r.state for r in env.rows()] == ["sent"]


def test_history_piped_into_head_ends_quietly(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.store import Store

    path = make_config(tmp_path, [])
    cfg = configmod.load(path)
    store = Store.open(cfg.data_dir)
    edge = [Transition(TransitionKind.STATUS, "ok", "ok")]
    with store.transaction() as tx:  # far more than a pipe holds, so the writer is still writing when head leaves
        for i in range(3000):
            tx.add_transitions("shop", 1_800_000_000 + i, edge, None)
    store.close()
    proc = start_monitor(path, "history", "shop", "--limit", "3000", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("WHEN")
    proc.stdout.close()  # what `| head -1` does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_init_example_readme_and_mock_retailer_agree_on_the_port(tmp_path) -> None:
    path = tmp_path / "monitor.toml"
    assert run_monitor(path, "init").returncode == 0
    (example,) = re.findall(r'base_url = "http://127\.0\.0\.1:(\d+)"', path.read_text())
    helped = subprocess.run(
        [sys.executable, "-m", "fixtures.retailer", "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    ).stdout
    (default,) = re.findall(r"--port PORT port to listen on \(default (\d+)\)", " ".join(helped.split()))
    readme = (ROOT / "README.md").read_text()
    assert re.findall(r"http://127\.0\.0\.1:(\d+)", readme) == [example]
    assert example == default


def test_docs_link_nothing_outside_the_repository() -> None:
    docs = [d for d in ROOT.rglob("*.md") if not {".venv", ".git", ".pytest_cache"} & set(d.parts)]
    assert ROOT / "fixtures" / "README.md" in docs
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        links = re.findall(r"\]\((?!https?://|mailto:|#)([^)\s#]+)", text) + re.findall(r"`((?:\.\./)+[^`\s]*)`", text)
        for target in links:
            resolved = (doc.parent / target).resolve()
            where = f"{doc.relative_to(ROOT)} points at {target}"
            assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{where}, which is not in the repository"


@pytest.mark.browser
def test_check_of_a_page_no_rule_matches_says_so_and_exits_1(rig, control: Control, monkeypatch) -> None:
    r = rig([account_entry("alice", monkeypatch)])
    control.site(maintenance=True)  # HTTP 200, a page no rule of the profile describes
    out = run_monitor(r.config.path, "check", "alice", "--no-send")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "HTTP 200, no rule matched (profile mock-retailer)" in out.stdout
    assert f"monitor try-profile mock-retailer {control.url}/account" in out.stdout


def test_budget_counts_from_the_later_of_24_hours_ago_and_the_reset(tmp_path) -> None:
    from monitor.store import Store

    store = Store.open(tmp_path / "data")
    day, t0 = 86400.0, 1_800_000_000.0
    for at in (t0, t0 + 100, t0 + 200):
        store.record_signin("shop", "attempt", at)
    spent = store.budget("shop", 2, now=t0 + 300)
    assert (spent.used, spent.spent, spent.next_at) == (3, True, t0 + 100 + day)  # two must leave the window
    assert store.budget("shop", 2, now=t0 + day + 150).used == 1  # the first two have left it
    store.reset_budget("shop", now=t0 + 300)
    fresh = store.budget("shop", 2, now=t0 + 400)
    assert (fresh.used, fresh.spent, fresh.next_at) == (0, False, None)
    store.record_signin("shop", "attempt", t0 + 500)
    assert store.budget("shop", 2, now=t0 + 600).used == 1  # only the one after the reset counts
    assert len(store.conn.execute("SELECT * FROM signins").fetchall()) == 4  # kept as history
    store.close()


@pytest.mark.browser
def test_try_profile_shortens_page_text_at_word_boundaries(tmp_path) -> None:
    words = [f"word{i:03d}" for i in range(80)]  # 640 characters: more than a region line shows
    page = tmp_path / "page.html"
    page.write_text(f"<html><body><main><p>{' '.join(words)}</p></main></body></html>", encoding="utf-8")
    out = run_monitor(None, "try-profile", "mock-retailer", str(page))
    assert out.returncode == 0, out.stderr
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("region main: ")]
    shown = line.removeprefix("region main: ")
    assert shown.endswith("…") and len(shown) <= 300
    assert shown.removesuffix("…").split() == words[: len(shown.split())]  # whole words only


def test_status_estimates_the_next_check_only_while_a_daemon_runs(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.cli import _next_check
    from monitor.models import AccountState

    cfg = configmod.load(make_config(tmp_path, [], extra='[schedule]\ninterval = "15m"\ninterval_while_locked = "5m"'))
    account = cfg.accounts[0]
    locked = AccountState(account.name, status=Status.LOCKED, last_check_at=1_000_000.0)
    assert _next_check(cfg, account, locked, running=False) is None
    assert _next_check(cfg, account, locked, running=True) == pytest.approx(1_000_000.0 + 300)
    ok = AccountState(account.name, status=Status.OK, last_check_at=1_000_000.0)
    assert _next_check(cfg, account, ok, running=True) == pytest.approx(1_000_000.0 + 900)


def test_notify_test_reports_each_channels_real_result(tmp_path, smtp, push) -> None:
    refusing = PushReceiver().start()
    refusing.status = 403
    try:
        path = make_config(
            tmp_path,
            [
                {"name": "good", "url": push.json_url()},
                {"name": "forbidden", "url": refusing.json_url()},
                {"name": "mail", "url": smtp.url()},
            ],
        )
        smtp.refuse = True
        done = run_monitor(path, "notify-test")
    finally:
        refusing.stop()
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 1
    assert lines[0] == "good: delivered"
    assert lines[1].startswith("forbidden: FAILED") and "403" in lines[1]
    assert lines[2].startswith("mail: FAILED")
    assert push.received[0].json["title"] == "🔔 account-monitor test"


def test_ack_stops_reminders_and_names_a_bad_time_in_one_line(tmp_path) -> None:
    env = Env(make_config(tmp_path, []))
    refused = run_monitor(env.config.path, "ack", "shop")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (
        "monitor: shop: nothing to acknowledge: the account is not read yet, neither locked nor under review\n"
    )
    env.lock(screenshot=False)
    done = run_monitor(env.config.path, "ack", "shop", "--until", "2030-12-01 18:00")
    assert (done.returncode, done.stdout) == (
        0,
        "shop: reminders stop until 2030-12-01 18:00, or until the status changes\n",
    )
    assert env.store.state("shop").ack_until == datetime(2030, 12, 1, 18, 0).timestamp()
    done = run_monitor(env.config.path, "ack", "shop", "--until", "6h")
    assert done.returncode == 0 and "reminders stop until " in done.stdout
    assert 6 * 3600 - 60 < env.store.state("shop").ack_until - time.time() <= 6 * 3600
    for bad, line in [
        ("soon", 'monitor: --until \'soon\': give a span like "6h" or "2d", or a local time "YYYY-MM-DD HH:MM"\n'),
        ("2020-01-01 00:00", "monitor: --until '2020-01-01 00:00' has already passed\n"),
    ]:
        out = run_monitor(env.config.path, "ack", "shop", "--until", bad)
        assert (out.returncode, out.stdout, out.stderr) == (2, "", line)
    unknown = run_monitor(env.config.path, "ack", "nosuch")
    assert unknown.returncode == 2 and "no account named 'nosuch'" in unknown.stderr


def test_a_console_other_machines_reach_says_so_in_status_and_warns_of_a_short_password(tmp_path, monkeypatch) -> None:
    from dataclasses import replace

    from monitor import config as configmod
    from monitor.config import Secret
    from monitor.daemon import CONSOLE_URL, InstanceLock, console_reach, short_password
    from monitor.store import Store

    note = " (listening on all addresses: reachable from other machines; password required)"
    assert console_reach("0.0.0.0") == console_reach("::") == note
    assert console_reach("127.0.0.1") == console_reach("::1") == console_reach("localhost") == ""
    monkeypatch.setenv("MONITOR_TEST_WEB_PASSWORD", "a-long-enough-password")
    path = make_config(tmp_path, [], web={"listen": "0.0.0.0:8766", "password": {"env": "MONITOR_TEST_WEB_PASSWORD"}})
    cfg = configmod.load(path)
    Store.open(cfg.data_dir).close()
    lock = InstanceLock(cfg.data_dir)  # what `monitor run` holds while it runs (nothing listens in this test)
    assert lock.acquire()
    try:
        (cfg.data_dir / CONSOLE_URL).write_text("http://127.0.0.1:8766/\n")  # what it writes once it serves
        shown = run_monitor(path, "status")
        assert shown.returncode == 0, shown.stderr
        assert f"console: http://127.0.0.1:8766/{note}\n" in shown.stdout
    finally:
        lock.release()
    short = replace(cfg.web, password=Secret.inline("eleven char"))
    warning = short_password(short)
    assert warning is not None and "shorter than 12 characters" in warning and "eleven char" not in warning
    assert (
        short_password(cfg.web) is None
        and short_password(replace(cfg.web, password=Secret.inline("twelve chars"))) is None
    )
    assert short_password(replace(short, host="127.0.0.1")) is None  # on loopback the password guards less


def test_the_daemon_logs_who_can_reach_its_console_and_warns_once_of_a_short_password(
    tmp_path, monkeypatch, caplog
) -> None:
    import asyncio
    import logging

    import monitor.web
    from monitor import config as configmod
    from monitor.daemon import Daemon

    async def no_socket(app: object, host: str, port: int) -> tuple[object, int]:
        return object(), port  # the seam: this test listens on no address at all, least of all 0.0.0.0

    monkeypatch.setattr(monitor.web, "serve", no_socket)
    monkeypatch.setenv("MONITOR_TEST_WEB_PASSWORD", "short1")
    path = make_config(tmp_path, [], web={"listen": "0.0.0.0:8766", "password": {"env": "MONITOR_TEST_WEB_PASSWORD"}})
    daemon = Daemon(configmod.load(path), path)
    try:
        with caplog.at_level(logging.INFO, logger="monitor"):
            assert asyncio.run(daemon.start_console())
    finally:
        daemon.store.close()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    note = "(listening on all addresses: reachable from other machines; password required)"
    assert ("INFO", f"console at http://127.0.0.1:8766/ {note}") in lines
    warnings = [m for level, m in lines if level == "WARNING"]
    assert len(warnings) == 1 and "shorter than 12 characters" in warnings[0] and "short1" not in warnings[0]
    assert all("short1" not in m for _, m in lines)


def test_status_shows_an_acknowledgement_while_it_holds(tmp_path) -> None:
    from monitor import config as configmod
    from monitor.models import AccountState
    from monitor.store import Store

    path = make_config(tmp_path, [])
    store = Store.open(configmod.load(path).data_dir)
    now = time.time()
    with store.transaction() as tx:
        tx.put_state(AccountState("shop", Status.LOCKED, status_since=now - 3600, last_check_at=now - 60))
    assert "acknowledged" not in run_monitor(path, "status").stdout
    store.acknowledge("shop", now + 6 * 3600, now)
    until = datetime.fromtimestamp(now + 6 * 3600).astimezone().strftime("%Y-%m-%d %H:%M")
    shown = run_monitor(path, "status")
    assert shown.returncode == 0, shown.stderr
    assert f"shop: acknowledged {datetime.fromtimestamp(now).astimezone():%Y-%m-%d %H:%M:%S}: " in shown.stdout
    assert f": reminders stop until {until}, or until the status changes\n" in shown.stdout
    data = json.loads(run_monitor(path, "status", "--json").stdout)["accounts"][0]
    assert data["acknowledged"] == {"at": now, "until": now + 6 * 3600}
    store.acknowledge("shop", None, now)
    assert "shop: acknowledged " in run_monitor(path, "status").stdout
    assert ": reminders stop until the status changes\n" in run_monitor(path, "status").stdout
    store.acknowledge("shop", now - 60, now - 3600)  # run out: reminders go on, so status says nothing
    assert "acknowledged" not in run_monitor(path, "status").stdout
    assert json.loads(run_monitor(path, "status", "--json").stdout)["accounts"][0]["acknowledged"] is None
    store.close()
