"""The stories package keeps one door: every public name of its modules is reachable as
`handlers.stories.X`, and no module in it grows past the layout rule's size."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import handlers.stories as stories

MODULES = sorted(info.name for info in pkgutil.iter_modules(stories.__path__))


def test_the_package_holds_one_module_per_idea() -> None:
    assert MODULES == [
        "card", "lifecycle", "listing", "moves", "pitching", "publishing", "reviewers",
        "scheduling", "zone",
    ]


def defined_in(path: Path) -> list[str]:
    """The public names a module defines itself (not those it imports)."""
    names = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [name for name in names if not name.startswith("_")]


def test_every_public_name_of_a_module_is_reexported_as_the_same_object() -> None:
    missing = []
    for name in MODULES:
        module = importlib.import_module(f"handlers.stories.{name}")
        assert module.__file__ is not None
        own = defined_in(Path(module.__file__))
        assert own, name
        for attr in own:
            if attr not in stories.__all__ or getattr(stories, attr, None) is not getattr(
                module, attr
            ):
                missing.append(f"{name}.{attr}")
    assert missing == []


def test_all_names_only_what_exists() -> None:
    assert sorted(set(stories.__all__)) == sorted(stories.__all__)
    assert [name for name in stories.__all__ if not hasattr(stories, name)] == []


def test_no_module_is_over_500_lines_without_saying_why() -> None:
    long = []
    for path in Path(stories.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 500 and "Over 500 lines, on purpose" not in text:
            long.append(path.name)
    assert long == []
