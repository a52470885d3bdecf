"""Imports run one way: every module of `monitor` imports only modules of a lower layer, never sideways."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"

# The layers, top first. A module may import only modules of a later (lower) row: never a module of its
# own row (sideways) nor an earlier one (upwards). STYLE.md's order, with what the code taught us: the
# notifier delivers from the store's outbox, so the store sits below notify; config checks at load that
# each account's profile exists, so profiles sit below config; a profile is made of detect's matchers, so
# detect sits below profiles and the phrase library (a profile's generic rules); schema, files, text, totp
# and the Playwright error map are small helpers below everything that reads config, profiles or pages.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"daemon"},
    {"web"},
    {"learn"},
    {"coordinator", "login", "remote", "actions", "case"},
    {"fetch", "decide", "notify", "schedule", "metrics"},
    {"browser", "signin", "config", "store"},
    {"profiles"},
    {"phrases"},
    {"detect"},
    {"schema", "files", "totp", "text", "browser_errors"},
    {"errors"},
    {"models"},
]
RANK = {name: rank for rank, row in enumerate(LAYERS) for name in row}


def module_name(path: Path) -> str:
    """`monitor/profiles/__init__.py` -> "profiles"; `monitor/cli.py` -> "cli"."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return parts[0] if parts else "__init__"


def imported(path: Path) -> set[str]:
    """Every `monitor.X` this file imports, wherever the import stands (functions, TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: from . import x / from .x import y
                found.add(node.module.split(".")[0])
            elif node.module == "monitor":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("monitor."):
                found.add(node.module.split(".")[1])
            elif node.module.split(".")[0] in ("fixtures", "tests", "bench"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("monitor."):
                    found.add(alias.name.split(".")[1])
                elif alias.name.split(".")[0] in ("fixtures", "tests", "bench"):
                    found.add(alias.name)
    return found


FILES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in LAYERS, so the rule keeps covering the whole package."""
    assert sorted({module_name(p) for p in FILES} - RANK.keys()) == []


def test_the_readme_draws_the_same_layers() -> None:
    """README's "The package, top to bottom" table lists the modules row by row as LAYERS does."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("### The package, top to bottom", 1)[1].split("\n\n")[2]
    rows = [set(re.findall(r"`(\w+)`", line.split("|")[2])) for line in table.splitlines()[2:]]
    assert rows == [row for row in LAYERS if row != {"__main__"}]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path) -> None:
    """No module imports one of its own layer or above it, nor fixtures/tests/bench."""
    me = module_name(path)
    wrong = []
    for target in sorted(imported(path) - {me}):
        if target not in RANK:
            wrong.append(f"{target} (not part of monitor)")
        elif RANK[target] <= RANK[me]:
            side = "sideways" if RANK[target] == RANK[me] else "upwards"
            wrong.append(f"{target} ({side})")
    assert wrong == [], f"monitor/{path.relative_to(PACKAGE)} imports {', '.join(wrong)}"


# Only the store speaks SQL; others catch its StoreError.
SQLITE_IMPORTERS = {"store"}


def imports_sqlite3(path: Path) -> bool:
    """Whether this file imports sqlite3 anywhere (top level or inside a function)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlite3" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "sqlite3":
            return True
    return False


def test_only_the_store_imports_sqlite3() -> None:
    """Everyone else catches the store's StoreError / DatabaseDamaged, never sqlite3's own errors."""
    assert sorted({module_name(p) for p in FILES if imports_sqlite3(p)} - SQLITE_IMPORTERS) == []
