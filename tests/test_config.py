"""Config loading: defaults, secrets, and one exact line for each kind of mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.config import load
from monitor.errors import ConfigError
from monitor.models import AlertKind, Language, Severity
from tests.helpers import make_config, run_monitor

GOOD = """
data_dir = "data"
[[accounts]]
name = "shop"
profile = "mock-retailer"
base_url = "http://127.0.0.1:8600/"
username = "alice@example.com"
password = { env = "SHOP_PW" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_with_defaults(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "s3cret-value")
    cfg = load(write(tmp_path, GOOD))
    acct = cfg.account("shop")
    assert acct.base_url == "http://127.0.0.1:8600"
    assert acct.password is not None and acct.password.reveal() == "s3cret-value"
    assert cfg.data_dir == (tmp_path / "data").resolve()
    assert cfg.schedule.interval_s == 900 and cfg.browser.screenshots == "changes"
    assert "s3cret-value" not in repr(cfg) and "s3cret-value" not in str(acct.password)


def test_severities_kinds_and_languages_are_read_as_their_enums(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    advice = '[accounts.advice]\nlocked = "Call us."\n'
    text = GOOD + advice + '[[channels]]\nurl = "json://127.0.0.1:9/"\nmin_severity = "warning"\n'
    cfg = load(write(tmp_path, text))
    assert cfg.channels[0].min_severity is Severity.WARNING
    ((kind, texts),) = cfg.account("shop").advice.items()
    assert kind is AlertKind.LOCKED and texts == {Language.EN: "Call us."} and type(next(iter(texts))) is Language


def test_secret_from_file_and_command(tmp_path, monkeypatch) -> None:
    (tmp_path / "pw.txt").write_text("from-file\n")
    text = GOOD.replace('{ env = "SHOP_PW" }', '{ file = "pw.txt" }')
    text += 'totp_secret = { command = "echo JBSWY3DPEHPK3PXP; echo second line" }\n'
    acct = load(write(tmp_path, text)).account("shop")
    assert acct.password.reveal() == "from-file"
    assert acct.totp_secret.reveal() == "JBSWY3DPEHPK3PXP"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('username = "alice@example.com"\n', ""),
            "accounts[0] (shop).username: missing required key",
        ),
        (
            lambda t: t.replace('"mock-retailer"', '"nosuch-shop"'),
            "accounts[0] (shop).profile: unknown profile 'nosuch-shop' (shipped: mock-retailer;",
        ),
        (
            lambda t: t.replace('name = "shop"', 'name = "shop\\n"'),  # a TOML escape: a newline in the name
            "accounts[0].name: 'shop\\n' must be letters, digits, '.', '_' or '-' (up to 64)",
        ),
        (
            lambda t: t.replace("SHOP_PW", "UNSET_PW_VAR"),
            "accounts[0] (shop).password.env: environment variable UNSET_PW_VAR is not set",
        ),
        (
            lambda t: t.replace('{ env = "SHOP_PW" }', '{ file = "missing.txt" }'),
            "accounts[0] (shop).password.file: cannot read",
        ),
        (
            lambda t: t.replace('{ env = "SHOP_PW" }', '"inline-password"'),
            "accounts[0] (shop).password: write secrets as",
        ),
        (lambda t: t + "colour = 3\n", "accounts[0].colour: unknown key"),
        (lambda t: t.replace("http://127.0.0.1:8600/", "ftp://x"), "base_url: 'ftp://x' is not an http(s) URL"),
        (lambda t: t + '[browser]\nscreenshots = "sometimes"\n', "browser.screenshots: must be changes"),
        (lambda t: t + '[schedule]\ninterval = "soon"\n', "schedule.interval: not a duration"),
        (
            lambda t: t + '[[channels]]\nurl = "nosuchscheme://x"\n',
            "channels[0] (channel-1).url: Apprise cannot parse this URL",
        ),
        (lambda t: "[[accounts\n", "not valid TOML"),
        (
            lambda t: t + '[[channels]]\nname = "phone"\nurl = "json://127.0.0.1:9/"\nmin_severity = "loud"\n',
            "channels[0] (phone).min_severity: must be one of info, success, warning, urgent, not 'loud'",
        ),
        (
            lambda t: t + '[accounts.advice]\nrestored = "Celebrate."\n',
            "accounts[0] (shop).advice.restored: unknown alert kind"
            " (advice exists for: locked, under_review, still_locked, review_overdue)",
        ),
        (
            lambda t: t + '[accounts.advice.locked]\nfr = "Appelez-nous."\n',
            "accounts[0] (shop).advice.locked.fr: unknown language (known: en, ja)",
        ),
    ],
    ids=[
        "missing-key",
        "unknown-profile",
        "name-with-a-newline",
        "missing-env",
        "unreadable-secret-file",
        "inline-secret",
        "unknown-key",
        "bad-url",
        "bad-screenshots",
        "bad-duration",
        "bad-channel",
        "bad-toml",
        "bad-min-severity",
        "advice-for-an-unknown-kind",
        "advice-in-an-unknown-language",
    ],
)
def test_bad_configs_give_one_exact_line(tmp_path, monkeypatch, edit, message) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as err:
        load(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text


def test_unreadable_config_file(tmp_path) -> None:
    path = write(tmp_path, GOOD)
    os.chmod(path, 0)
    if os.access(path, os.R_OK):  # root reads anything: use a directory instead
        path = tmp_path / "dir.toml"
        path.mkdir()
    with pytest.raises(ConfigError, match=r"cannot read config file"):
        load(path)


def test_missing_config_file_names_init(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found \(create one with `monitor init`\)"):
        load(tmp_path / "nope.toml")


def test_cli_exits_2_with_one_line(tmp_path) -> None:
    path = write(tmp_path, GOOD.replace("SHOP_PW", "UNSET_PW_VAR"))
    env = {k: v for k, v in os.environ.items() if k != "UNSET_PW_VAR"}
    done = run_monitor(path, "check", env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"monitor: {path}: accounts[0] (shop).password.env: environment variable UNSET_PW_VAR is not set"
    ]
    assert done.stdout == ""


def test_init_writes_a_config_that_loads(tmp_path, monkeypatch) -> None:
    path = tmp_path / "new.toml"
    done = run_monitor(path, "init")
    assert done.returncode == 0 and path.exists()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("SHOP_PASSWORD", "x")
    cfg = load(path)
    assert cfg.accounts[0].name == "shop" and cfg.channels[0].name == "phone"


def without(*names: str) -> dict[str, str]:
    """This process's environment without `names`."""
    return {k: v for k, v in os.environ.items() if k not in names}


# --- 9.5 / 10.9: secrets resolve where they are used -------------------------------------------


def test_a_secret_resolves_on_first_use_and_names_its_key(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SHOP_PW", raising=False)
    path = write(tmp_path, GOOD)
    password = load(path, resolve_secrets=False).account("shop").password
    assert password is not None
    assert password.problem() == (f"{path}: accounts[0] (shop).password.env: environment variable SHOP_PW is not set")
    with pytest.raises(ConfigError, match="SHOP_PW is not set"):
        password.reveal()
    monkeypatch.setenv("SHOP_PW", "late-value")
    assert password.reveal() == "late-value" and password.problem() is None
    monkeypatch.setenv("SHOP_PW", "changed")
    assert password.reveal() == "late-value"  # resolved once, then cached


CHANNEL_FROM_ENV = '[[channels]]\nname = "hook"\nurl = { env = "HOOK_URL" }\n'


@pytest.mark.parametrize("command", [["status"], ["history", "shop"], ["outbox"], ["resume", "shop"]])
def test_read_only_commands_need_no_secret_and_accept_channel_urls_from_env(tmp_path, command) -> None:
    path = write(tmp_path, GOOD + CHANNEL_FROM_ENV)
    done = run_monitor(path, *command, env=without("SHOP_PW") | {"HOOK_URL": "json://127.0.0.1:9/hook"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    done = run_monitor(path, *command, env=without("SHOP_PW", "HOOK_URL"))
    assert done.returncode == 0, done.stderr


def test_notify_test_needs_only_the_channel(tmp_path) -> None:
    from tests.receivers import PushReceiver

    push = PushReceiver().start()
    try:
        path = write(tmp_path, GOOD + CHANNEL_FROM_ENV)
        done = run_monitor(path, "notify-test", env=without("SHOP_PW") | {"HOOK_URL": push.json_url()})
    finally:
        push.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hook: delivered" and len(push.received) == 1


def test_a_failed_notify_test_is_our_one_line_per_channel(tmp_path) -> None:
    """Apprise's own warning (which can name the endpoint) stays out; our masked result says it."""
    path = write(tmp_path, GOOD + CHANNEL_FROM_ENV)
    done = run_monitor(path, "notify-test", env=without("SHOP_PW") | {"HOOK_URL": "json://127.0.0.1:9/hook"})
    assert done.returncode == 1
    assert done.stdout.startswith("hook: FAILED") and done.stderr == "", (done.stdout, done.stderr)


def test_an_empty_environment_variable_is_called_empty(tmp_path) -> None:
    path = write(tmp_path, GOOD)
    done = run_monitor(path, "check", env=without("SHOP_PW") | {"SHOP_PW": ""})
    assert done.returncode == 2
    assert done.stderr.strip().endswith("password.env: environment variable SHOP_PW is empty"), done.stderr


def test_outbox_send_and_check_name_a_missing_channel_secret(tmp_path) -> None:
    path = write(tmp_path, GOOD + CHANNEL_FROM_ENV)
    for command in (["outbox", "--send"], ["check"]):
        done = run_monitor(path, *command, env=without("HOOK_URL") | {"SHOP_PW": "pw"})
        assert done.returncode == 2
        assert done.stderr.splitlines() == [
            f"monitor: {path}: channels[0] (hook).url.env: environment variable HOOK_URL is not set"
        ]
    assert not (tmp_path / "data").exists()  # check stopped before anything started


def test_a_channel_url_from_env_is_checked_when_resolved(tmp_path) -> None:
    path = write(tmp_path, GOOD + CHANNEL_FROM_ENV)
    done = run_monitor(path, "notify-test", env=without("SHOP_PW") | {"HOOK_URL": "ntfy://"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"monitor: {path}: channels[0] (hook).url: the ntfy:// URL names no target (e.g. the ntfy topic after the host)"
    ]


def test_doctor_reports_each_part_and_goes_on_after_a_failure(tmp_path) -> None:
    text = GOOD + CHANNEL_FROM_ENV + '[[channels]]\nname = "mail"\nurl = "json://127.0.0.1:9/x"\n'
    path = write(tmp_path, text)
    done = run_monitor(path, "doctor", env=without("SHOP_PW") | {"HOOK_URL": "json://127.0.0.1:9/hook"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"monitor: {path}: accounts[0] (shop).password.env: environment variable SHOP_PW is not set"
    ]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"config: {path} ok (1 account(s), 2 channel(s))")
    assert lines[1].startswith("browser: ")
    assert "channel hook: ok" in lines and "channel mail: ok" in lines
    done = run_monitor(path, "doctor", env=without("HOOK_URL") | {"SHOP_PW": "pw"})
    assert done.returncode == 2
    assert "account shop: secrets ok (password from env SHOP_PW)" in done.stdout.splitlines()
    assert done.stderr.splitlines() == [
        f"monitor: {path}: channels[0] (hook).url.env: environment variable HOOK_URL is not set"
    ]


# --- 9.4: bad profile content is found at load -------------------------------------------------


def bad_profile(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped mock-retailer profile with one edit, saved next to the config."""
    from monitor.profiles import SHIPPED

    text = (SHIPPED / "mock-retailer.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "shop.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('selector = "form#signin"', 'selector = "form#signin["', "rule 'signin-form'.selector"),
        ('main = ["main", "[role=main]"]', 'main = ["main", "[role=main"]', "regions.main"),
        ('orders = "main tr.order', 'orders = "main tr..order', "orders"),
        ('username = "input[name=email]"', 'username = "input[name=email"', "signin.username"),
        ('field = "input[name=otp]"', 'field = "input::name"', "signin.otp.field"),
        ('timezone = "America/New_York"', 'timezone = "Mars/Olympus"', "timezone"),
        ('locale = "en-US"', 'locale = "en_US"', "locale"),
    ],
    ids=["rule-selector", "region", "orders", "signin-field", "otp-field", "timezone", "locale"],
)
def test_bad_profile_content_is_refused_at_load(tmp_path, old, new, where) -> None:
    profile = bad_profile(tmp_path, old, new)
    path = write(tmp_path, GOOD.replace('"mock-retailer"', '"./shop.toml"'))
    done = run_monitor(path, "check", env=os.environ | {"SHOP_PW": "pw"})
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"monitor: {path}: accounts[0] (shop).profile: profile {profile}: {where}: ")
    assert done.stdout == "" and not (tmp_path / "data").exists()
    done = run_monitor(path, "try-profile", str(profile), str(Path(__file__).parent / "pages" / "ok_en.html"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"monitor: profile {profile}: {where}: {line.split(f'{where}: ', 1)[1]}"]


def test_playwright_pseudo_classes_are_allowed_in_signin_fields(tmp_path) -> None:
    from monitor.profiles import load_profile

    profile = bad_profile(
        tmp_path, 'submit = "form#signin button[type=submit]"', "submit = 'button:has-text(\"Sign in\"):visible'"
    )
    assert load_profile(str(profile)).signin.submit == 'button:has-text("Sign in"):visible'


@pytest.mark.parametrize("command", ["check", "doctor"])
def test_a_malformed_totp_secret_is_refused_before_any_sign_in(tmp_path, command) -> None:
    path = write(tmp_path, GOOD + 'totp_secret = { env = "SHOP_TOTP" }\n')
    done = run_monitor(path, command, env=os.environ | {"SHOP_PW": "pw", "SHOP_TOTP": "not base32 at all!"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"monitor: {path}: accounts[0] (shop).totp_secret: not a valid base32 TOTP secret "
        "(e.g. JBSW Y3DP EHPK 3PXP, as the site shows it)"
    ]
    assert "not base32 at all" not in done.stdout + done.stderr


# --- 9.10: every key is documented; alert_interval has a name that says what it is ---------------


def test_every_key_the_parser_accepts_is_documented() -> None:
    from monitor.config import KEYS

    doc = (Path(__file__).parents[1] / "docs" / "config.md").read_text(encoding="utf-8")
    sections = {part.split("\n", 1)[0]: part for part in doc.split("\n## ")[1:]}

    def section(table: str) -> str:
        titles = {"": "Top level", "secret": "Secrets", "accounts": "`[[accounts]]`", "channels": "`[[channels]]`"}
        title = titles.get(table, f"`[{table}]`")
        return next((body for heading, body in sections.items() if heading.startswith(title)), "")

    missing = [
        f"{table or 'top level'}.{key}"
        for table, keys in KEYS.items()
        for key in sorted(keys)
        if f"`{key}`" not in section(table)
    ]
    assert not missing, f"docs/config.md does not document: {', '.join(missing)}"


def test_alert_interval_is_still_read_with_a_deprecation_line(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    cfg = load(write(tmp_path, GOOD + '[schedule]\nalert_interval = "2m"\n'))
    assert cfg.schedule.interval_while_locked_s == 120
    (record,) = [r for r in caplog.records if "alert_interval" in r.getMessage()]
    assert record.levelname == "WARNING" and "rename it to interval_while_locked" in record.getMessage()
    cfg = load(write(tmp_path, GOOD + '[schedule]\ninterval_while_locked = "3m"\n'))
    assert cfg.schedule.interval_while_locked_s == 180


# --- 9.11: a reload cannot see a new environment variable -------------------------------------


def test_reload_with_a_new_env_secret_says_to_restart(tmp_path, monkeypatch, caplog) -> None:
    from monitor.daemon import Daemon

    monkeypatch.setenv("SHOP_PW", "pw")
    path = write(tmp_path, GOOD)
    daemon = Daemon(load(path), path)
    try:
        path.write_text(GOOD.replace("SHOP_PW", "NEW_SHOP_PW"), encoding="utf-8")
        monkeypatch.delenv("NEW_SHOP_PW", raising=False)
        daemon.reload()
    finally:
        daemon.store.close()
    (message,) = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert "environment variable NEW_SHOP_PW is not set" in message
    assert "restart it, or give this secret as { file = ... } or { command = ... }" in message
    assert daemon.config.accounts[0].password is not None and daemon.config.accounts[0].password.reveal() == "pw"


# --- 10.10: data_dir -------------------------------------------------------------------------


def test_a_foreign_non_empty_directory_is_refused_and_left_alone(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    (home / "notes.txt").write_text("mine")
    path = write(tmp_path, GOOD.replace('data_dir = "data"', f'data_dir = "{home}"'))
    done = run_monitor(path, "status")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"monitor: {path}: data_dir: {home} already holds other files and is not a monitor data directory; "
        "give a new or empty directory (e.g. ~/.local/share/account-monitor)"
    ]
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]
    assert home.stat().st_mode & 0o777 == 0o755


def test_a_new_data_dir_is_private_and_marked_an_existing_one_keeps_its_mode(tmp_path) -> None:
    path = write(tmp_path, GOOD)  # `resume` opens the store; `status` creates nothing
    assert run_monitor(path, "resume", "shop").returncode == 0
    data = tmp_path / "data"
    assert data.stat().st_mode & 0o777 == 0o700 and (data / ".account-monitor").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    os.chmod(empty, 0o750)
    path = write(tmp_path, GOOD.replace('data_dir = "data"', 'data_dir = "empty"'))
    assert run_monitor(path, "resume", "shop").returncode == 0
    assert empty.stat().st_mode & 0o777 == 0o750  # not created by the monitor: its mode is the owner's
    assert (empty / ".account-monitor").exists()


def test_a_data_dir_of_the_previous_version_keeps_working(tmp_path) -> None:
    from monitor.coordinator import Coordinator
    from monitor.models import Reading, Status
    from monitor.store import Store

    path = write(tmp_path, GOOD)
    cfg = load(path, resolve_secrets=False)
    store = Store.open(cfg.data_dir)
    Coordinator(cfg, store).commit(Reading(account="shop", status=Status.LOCKED, at=1_800_000_000))
    store.close()
    (cfg.data_dir / ".account-monitor").unlink(missing_ok=True)  # as the previous version left it
    (cfg.data_dir / "sessions").mkdir()
    (cfg.data_dir / "notes").write_text("x")
    done = run_monitor(path, "status")
    assert done.returncode == 0, done.stderr
    assert "locked" in done.stdout


# --- 9.13: doctor sees another running monitor that watches the same account ---------------------


def test_doctor_warns_about_a_running_monitor_on_the_default_data_dir(tmp_path) -> None:
    import fcntl

    from monitor.models import AccountState
    from monitor.store import Store

    default = tmp_path / "xdg" / "account-monitor"  # platformdirs' user data dir under XDG_DATA_HOME
    store = Store.open(default)
    with store.transaction() as tx:
        tx.put_state(AccountState("shop", created_at=0))
    store.close()
    path = write(tmp_path, GOOD)
    env = os.environ | {"XDG_DATA_HOME": str(tmp_path / "xdg"), "SHOP_PW": "pw"}
    warning = (
        f"warning: another monitor is running on {default} and watches shop too; two monitors on one account "
        "double its sign-ins (stop one, or give them different accounts)"
    )
    with open(default / "monitor.lock", "a+") as held:  # what a running daemon holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = run_monitor(path, "doctor", env=env)
    assert done.returncode == 0, done.stderr
    assert warning in done.stdout.splitlines()
    done = run_monitor(path, "doctor", env=env)  # the lock is free again: nobody runs there
    assert done.returncode == 0 and "another monitor" not in done.stdout


def test_a_plain_web_address_as_channel_gets_a_webhook_hint(tmp_path) -> None:
    path = write(tmp_path, GOOD + '[[channels]]\nname = "hook"\nurl = "https://hooks.example/abc"\n')
    with pytest.raises(ConfigError, match=r"channels\[0\] \(hook\)\.url: .*jsons://HOST/PATH .*forms://HOST/PATH"):
        load(path, resolve_secrets=False).resolve([], ["hook"])


def test_template_typo_is_refused_at_load_with_one_line(tmp_path) -> None:
    """A typo in [templates] stops every command with exit 2 and one line naming the file and key."""
    for extra, account, key in (
        ('[templates.locked]\nbody = "{acount} is locked"', {}, "templates.locked.body"),
        ('[templates.locked]\ntitle_ja = "{account ロック"', {}, "templates.locked.title_ja"),
        ('[templates.restored]\nbody = "{hours:.1f}"', {}, "templates.restored.body"),
        ("", {"advice": {"locked": "Sign in at {base}"}}, "accounts[0] (shop).advice.locked.en"),
    ):
        path = make_config(tmp_path, [], extra=extra, account=account)
        done = run_monitor(path, "outbox")
        assert done.returncode == 2, done.stdout
        (line,) = done.stderr.strip().splitlines()
        assert str(path) in line and key in line


def test_web_defaults_to_loopback_without_a_password(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    web = load(write(tmp_path, GOOD)).web
    assert (web.enabled, web.host, web.port, web.password, web.public_url) == (True, "127.0.0.1", 8765, None, None)


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [("127.0.0.1:0", "127.0.0.1", 0), ("[::1]:8765", "::1", 8765), ("localhost:9000", "localhost", 9000),
     ("127.0.0.2:8765", "127.0.0.2", 8765)],
)  # fmt: skip
def test_web_listen_on_loopback_needs_no_password(tmp_path, monkeypatch, listen, host, port) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    web = load(write(tmp_path, GOOD + f'[web]\nlisten = "{listen}"\npublic_url = "https://m.example.net/mon/"\n')).web
    assert (web.host, web.port, web.listen) == (host, port, listen)
    assert web.public_url == "https://m.example.net/mon"


def test_web_password_is_a_secret_resolved_by_the_daemon(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    monkeypatch.setenv("WEB_PW", "console-secret-1")
    path = write(tmp_path, GOOD + '[web]\nlisten = "0.0.0.0:8765"\npassword = { env = "WEB_PW" }\n')
    cfg = load(path)
    assert cfg.web.password is not None and cfg.web.password.reveal() == "console-secret-1"
    assert "console-secret-1" not in repr(cfg)
    monkeypatch.delenv("WEB_PW")
    load(path, resolve_secrets=False)  # commands that do not serve the console do not need it
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value) == f"{path}: web.password.env: environment variable WEB_PW is not set"


@pytest.mark.parametrize(
    ("web", "message"),
    [
        (
            'listen = "0.0.0.0:8765"',
            "web.listen: '0.0.0.0:8765' is not a loopback address: anyone who reaches it could use the console;"
            ' set [web] password (e.g. password = { env = "MONITOR_WEB_PASSWORD" }) or listen on 127.0.0.1',
        ),
        ('listen = "[::]:8765"', "web.listen: '[::]:8765' is not a loopback address"),
        ('listen = "192.168.1.5:80"', "web.listen: '192.168.1.5:80' is not a loopback address"),
        ('listen = "8765"', "web.listen: must look like \"127.0.0.1:8765\" or \"[::1]:8765\" (host:port), not '8765'"),
        ('listen = "127.0.0.1:70000"', "web.listen: must look like"),
        ('listen = "::1:8765"', "web.listen: must look like"),
        ('listen = "[nope]:8765"', "web.listen: must look like"),
        ("listen = 8765", "web.listen: must be a string, not int"),
        ('password = "inline"', "web.password: write secrets as"),
        ('public_url = "monitor.example.net"', "web.public_url: 'monitor.example.net' is not an http(s) URL"),
        ("enabled = 1", "web.enabled: must be true or false, not int"),
        ("port = 8765", "web.port: unknown key (known: enabled, listen, password, public_url)"),
    ],
    ids=[
        "any-address-without-password", "ipv6-any", "lan-address", "no-host", "port-too-big", "ipv6-without-brackets",
        "bad-ipv6", "not-a-string", "inline-password", "bad-public-url", "enabled-not-bool", "unknown-key",
    ],
)  # fmt: skip
def test_bad_web_options_give_one_line(tmp_path, monkeypatch, web, message) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    path = write(tmp_path, GOOD + f"[web]\n{web}\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value).startswith(f"{path}: {message}") and "\n" not in str(err.value)


def test_reload_keeps_the_console_as_it_started_and_says_so(tmp_path, monkeypatch, caplog) -> None:
    from monitor.daemon import Daemon

    monkeypatch.setenv("SHOP_PW", "pw")
    monkeypatch.setenv("WEB_PW", "console-pw")
    web = '[web]\nlisten = "127.0.0.1:0"\npassword = { env = "WEB_PW" }\n'
    path = write(tmp_path, GOOD + web)
    daemon = Daemon(load(path), path)
    try:
        daemon.reload()  # the same [web] (a new Secret object from the same variable): nothing to say
        assert not [r for r in caplog.records if "[web]" in r.getMessage()]
        path.write_text(GOOD + web.replace("127.0.0.1:0", "127.0.0.1:9999"), encoding="utf-8")
        daemon.reload()
    finally:
        daemon.store.close()
    assert [r.getMessage() for r in caplog.records if "[web]" in r.getMessage()] == [
        "config reload: [web] changes take effect after a restart"
    ]
    assert daemon.config.web.port == 0 and daemon.actions.config is daemon.config


def test_keep_warm_is_a_duration_where_zero_means_close_after_every_check(tmp_path, monkeypatch) -> None:
    from monitor.daemon import keep_warm_rule

    monkeypatch.setenv("SHOP_PW", "pw")
    assert load(write(tmp_path, GOOD)).browser.keep_warm_s is None  # unset: the daemon's rule
    for given, seconds in [('"0s"', 0.0), ("0", 0.0), ('"10m"', 600.0), ('"30d"', 30 * 86400.0)]:
        assert load(write(tmp_path, GOOD + f"[browser]\nkeep_warm = {given}\n")).browser.keep_warm_s == seconds
    for given, message in [("-1", "browser.keep_warm: must be zero or more"), ('"soon"', "not a duration")]:
        with pytest.raises(ConfigError, match=message):
            load(write(tmp_path, GOOD + f"[browser]\nkeep_warm = {given}\n"))
    # The rule: warm through the default 5-minute fast interval (with its 10% jitter) while an account is
    # locked or under review, never through the next check of a 10-minute interval; briefly otherwise.
    assert 5 * 60 * 1.1 < keep_warm_rule([300.0], 0.1) < 10 * 60 * 0.9
    assert keep_warm_rule([], 0.1) < 30  # the bench's idle_mb is measured 30 s after the last check


def test_retention_counts_are_read_and_a_bad_one_is_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHOP_PW", "pw")
    default = load(write(tmp_path, GOOD)).schedule
    assert (default.keep_transitions, default.keep_deliveries) == (1000, 1000)
    cfg = load(write(tmp_path, GOOD + "[schedule]\nkeep_transitions = 200\nkeep_deliveries = 50\n"))
    assert (cfg.schedule.keep_transitions, cfg.schedule.keep_deliveries) == (200, 50)
    with pytest.raises(ConfigError) as bad:
        load(write(tmp_path, GOOD + "[schedule]\nkeep_transitions = 0\n"))
    assert str(bad.value).endswith("monitor.toml: schedule.keep_transitions: must be between 1 and 10000, not 0")
