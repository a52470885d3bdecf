"""Site profiles: the shipped one loads; a broken one names the file and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.models import Problem, Status
from monitor.profiles import load_profile, shipped
from tests.helpers import PLAIN_PROFILE

SHIPPED = (Path(__file__).parents[1] / "monitor" / "profiles" / "mock-retailer.toml").read_text(encoding="utf-8")


def test_shipped_profile_loads() -> None:
    assert "mock-retailer" in shipped()
    profile = load_profile("mock-retailer")
    assert profile.pages == ("/account",)
    outcomes = {r.status or r.problem for r in profile.rules}
    assert {Status.OK, Status.LOCKED, Status.UNDER_REVIEW, Problem.LOGGED_OUT, Problem.CHALLENGE} <= outcomes


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('status = "locked"', 'status = "frozen"', "rule 'locked'.status: must be one of ok, locked, under_review"),
        (
            'name = "locked"\nstatus = "locked"',
            'name = "locked"\nstatus = "locked"\nproblem = "challenge"',
            "rule 'locked': give exactly one of status, problem",
        ),
        (
            'text = ["Your account has been locked"',
            'text = ["Your account (has been"',
            "rule 'locked'.text: bad regular expression",
        ),
        (
            'region = "main"\ntext = ["Your account has been locked"',
            'region = "sidebar"\ntext = ["Your account has been locked"',
            "rule 'locked'.region: unknown region 'sidebar'",
        ),
        (
            'name = "locked"\nstatus = "locked"',
            'name = "locked"\nstatus = "locked"\ncolour = "red"',
            "rule 'locked'.colour: unknown key",
        ),
        ('pages = ["/account"]', 'pages = ["account"]', "pages: must be a list of paths"),
        ('username = "input[name=email]"\n', "", "signin.username: missing"),
        (
            'region = "main"\ntext = ["Your account has been locked"',
            'region = ["main"]\ntext = ["Your account has been locked"',
            "rule 'locked'.region: unknown region ['main'] (defined: body, main, instructions)",
        ),
    ],
    ids=[
        "bad-status",
        "status-and-problem",
        "bad-regex",
        "unknown-region",
        "unknown-key",
        "bad-pages",
        "no-username",
        "region-not-a-name",
    ],
)
def test_broken_profile_names_file_and_rule(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in SHIPPED
    path = tmp_path / "broken.toml"
    path.write_text(SHIPPED.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(str(path))
    assert str(err.value).startswith(f"profile {path}: ")
    assert message in str(err.value)


def test_rule_without_matchers(tmp_path: Path) -> None:
    path = tmp_path / "empty-rule.toml"
    path.write_text(SHIPPED + '\n[[rules]]\nname = "nothing"\nstatus = "ok"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rule 'nothing': needs at least one matcher \(text, selector, url\)"):
        load_profile(str(path))


def test_regions_that_are_not_a_table_are_one_line() -> None:
    import tomllib

    from monitor.profiles import parse_profile

    data = tomllib.loads(SHIPPED) | {"regions": 5}
    with pytest.raises(ConfigError) as err:
        parse_profile(data, Path("shop.toml"))
    assert str(err.value) == "profile shop.toml: regions: must be a table"


def test_the_matcher_table_in_the_docs_is_each_kinds_own_help() -> None:
    from monitor.detect import Matcher

    doc = (Path(__file__).parents[1] / "docs" / "profiles.md").read_text(encoding="utf-8")
    table = doc.split("| matcher | matches when |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    documented = [line for line in table.splitlines() if line.startswith("| `")]
    expected = [f"| `{kind}` | {(cls.__doc__ or '').strip()} |" for kind, cls in Matcher.registry.items()]
    assert documented == expected, "docs/profiles.md's matcher table must repeat each Matcher kind's docstring"


def test_a_region_in_a_profile_without_regions_names_body_alone(tmp_path: Path) -> None:
    path = tmp_path / "bare.toml"
    bare = PLAIN_PROFILE.replace('[regions]\nmain = ["main", "[role=main]"]\n{instructions}\n', "")
    path.write_text(bare, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(str(path))
    assert str(err.value).endswith("rule 'locked'.region: unknown region 'main' (defined: body)")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"https://cdn.example.com"', 'allow: must be a list of origins, e.g. ["https://login.example.com"]'),
        ('["https://cdn.example.com/js/app.js"]', "allow: 'https://cdn.example.com/js/app.js' is not an origin"),
        ('["cdn.example.com"]', "allow: 'cdn.example.com' is not an origin"),
        ('["ftp://cdn.example.com"]', "allow: 'ftp://cdn.example.com' is not an origin"),
        ('["https://cdn.example.com:http"]', "allow: 'https://cdn.example.com:http' is not an origin"),
        ('["https://user@cdn.example.com"]', "allow: 'https://user@cdn.example.com' is not an origin"),
    ],
    ids=["not-a-list", "a-path", "no-scheme", "other-scheme", "bad-port", "with-user"],
)
def test_a_bad_allow_entry_is_one_line_naming_it(tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(f"allow = {value}\n" + SHIPPED, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(str(path))
    assert str(err.value).startswith(f"profile {path}: {message}")
    assert "\n" not in str(err.value)


def test_allow_is_kept_as_normalised_origins(tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text('allow = ["HTTPS://Widgets.Example.com:443/", "http://127.0.0.1:8601"]\n' + SHIPPED, "utf-8")
    assert load_profile(str(path)).allow == ("https://widgets.example.com", "http://127.0.0.1:8601")
    assert load_profile("mock-retailer").allow == ()


FORM = """[signin]
url = "/signin?return=/account"
username = "input[name=email]"
password = "input[name=password]"
submit = "form#signin button[type=submit]"
"""
STEPS = """[signin]
url = "/signin"

[[signin.steps]]
fill = "input[name=email]"
value = "username"

[[signin.steps]]
click = "#signin-continue"

[[signin.steps]]
wait_for = "input[type=password]"

[[signin.steps]]
fill = "input[type=password]"
value = "password"

[[signin.steps]]
click = "form#signin button[type=submit]"
"""


def _with_signin(tmp_path: Path, signin: str) -> Path:
    assert FORM in SHIPPED
    path = tmp_path / "shop.toml"
    path.write_text(SHIPPED.replace(FORM, signin, 1), encoding="utf-8")
    return path


def test_signin_steps_and_auto_load(tmp_path: Path) -> None:
    from monitor.profiles import Step

    steps = load_profile(str(_with_signin(tmp_path, STEPS))).signin
    assert steps.steps[0] == Step("fill", "input[name=email]", "username") and steps.steps[2].action == "wait_for"
    assert steps.username_field == "input[name=email]" and not steps.auto
    assert steps.steps[1].describe(1) == "signin.steps[1] (click: #signin-continue)"
    import tomllib

    from monitor.profiles import parse_profile

    auto = parse_profile(tomllib.loads(SHIPPED) | {"signin": "auto"}, Path("shop.toml")).signin
    assert auto.auto and auto.url == "" and auto.username_field is None
    with pytest.raises(ConfigError, match=r'^profile shop.toml: signin: must be a table .* or "auto"$'):
        parse_profile(tomllib.loads(SHIPPED) | {"signin": "guess"}, Path("shop.toml"))
    with_url = load_profile(str(_with_signin(tmp_path / "..", '[signin]\nurl = "/signin"\nauto = true\n'))).signin
    assert with_url.auto and with_url.url == "/signin" and with_url.otp is not None
    # The short form is unchanged: no steps, its own fields.
    assert load_profile("mock-retailer").signin.steps == ()


@pytest.mark.parametrize(
    ("signin", "message"),
    [
        (STEPS.replace('value = "password"', 'value = "hunter2"'), "signin.steps[3].value: must be one of username, "),
        (STEPS.replace('value = "password"', 'value = "username"'), "signin.steps: no step fills the password"),
        (STEPS.replace('click = "#signin-continue"', 'tap = "#x"'), "signin.steps[1].tap: unknown key"),
        (
            STEPS.replace('wait_for = "input[type=password]"', 'wait_for = "input[["'),
            "signin.steps[2].wait_for: bad CSS",
        ),
        (STEPS.replace('click = "#signin-continue"', 'click = "#c"\nfill = "#d"'), "signin.steps[1]: give exactly one"),
        (
            STEPS.replace('url = "/signin"', 'url = "/signin"\nusername = "#u"'),
            "signin.username: give either steps or ",
        ),
        ('[signin]\nurl = "/signin"\nauto = "yes"\n', "signin.auto: must be true or false"),
    ],
    ids=["literal-secret", "no-password", "unknown-action", "bad-css", "two-actions", "mixed", "auto-type"],
)
def test_bad_signin_steps_are_one_line_naming_file_and_key(tmp_path: Path, signin: str, message: str) -> None:
    path = _with_signin(tmp_path, signin)
    with pytest.raises(ConfigError) as err:
        load_profile(str(path))
    assert str(err.value).startswith(f"profile {path}: "), err.value
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "hunter2" not in str(err.value)
