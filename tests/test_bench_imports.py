"""Every benchmark still imports: `make bench` runs rarely, so a renamed function or module
it uses would otherwise be found only then. Nothing is run, only imported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(BENCH.glob("*.py"))


def test_there_are_benchmarks_to_import() -> None:
    assert {path.stem for path in SCRIPTS} >= {"benchlib", "fanout", "slack_answer"}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.stem)
def test_the_benchmark_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `python bench/<name>.py` puts bench/ first on sys.path; the scripts add the project
    # root themselves. Both are undone afterwards, as is the module's entry.
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    if path.stem != "benchlib":
        assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
