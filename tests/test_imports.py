"""Imports run one way (STYLE.md): each module imports only from layers below its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"

# Higher imports lower; never the same layer (sideways) and never a higher one.
LAYERS: list[set[str]] = [
    {"models"},
    {"errors"},  # its exceptions carry Problem codes
    {"text", "totp", "files"},  # small helpers without a place in the cycle
    {"browser", "profiles", "config"},
    {"fetch", "detect", "decide", "notify", "store"},
    {"coordinator"},
    {"daemon", "login"},
    {"cli"},
    {"__main__"},
]
LAYER = {name: rank for rank, names in enumerate(LAYERS) for name in names}

# Edges the issue 11 refactor is still removing (each owned elsewhere); delete an entry when it goes.
# The test fails on any edge not listed here, so the list can only shrink.
KNOWN: set[tuple[str, str]] = {
    ("config", "profiles"),  # config validates profiles by loading them, profiles reuse config's
    ("profiles", "config"),  # TOML and locale checks: a config <-> profiles loop
    ("profiles", "detect"),  # the loader builds detect's matchers: a detect <-> profiles loop
    ("fetch", "detect"),  # the page reader lives in detect
    ("notify", "store"),  # the notifier delivers from the outbox
}


def module_name(path: Path) -> str:
    """`monitor/profiles/__init__.py` -> `profiles`, `monitor/store.py` -> `store`."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported(tree: ast.AST) -> set[str]:
    """The monitor modules (first level) one file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "monitor":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("monitor."):
                found.add(node.module.split(".")[1])
            elif node.module.split(".")[0] == "fixtures":
                found.add("fixtures")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")
                if top[0] == "monitor" and len(top) > 1:
                    found.add(top[1])
                elif top[0] == "fixtures":
                    found.add("fixtures")
    return found


def edges() -> set[tuple[str, str]]:
    """Every (importer, imported) pair between modules of the package."""
    pairs: set[tuple[str, str]] = set()
    for path in PACKAGE.rglob("*.py"):
        source = module_name(path)
        for target in imported(ast.parse(path.read_text(encoding="utf-8"))):
            if target != source:
                pairs.add((source, target))
    return pairs


def test_every_module_has_a_layer() -> None:
    names = {module_name(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert names - LAYER.keys() == set(), "place the new module in LAYERS"


def test_imports_run_one_way() -> None:
    wrong = {
        (source, target)
        for source, target in edges()
        if source in LAYER and (target not in LAYER or LAYER[target] >= LAYER[source])
    }
    assert wrong - KNOWN == set(), "an import up, sideways or into fixtures/ (see STYLE.md, 'Imports run one way')"


def test_the_vocabulary_imports_nothing_of_the_package() -> None:
    assert {target for source, target in edges() if source == "models"} == set()
