"""Every benchmark still imports: `make bench` runs rarely, so a renamed function or module
it uses would otherwise be found only then. Nothing is run, only imported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import BENCH, load_bench

SCRIPTS = sorted(BENCH.glob("*.py"))


def test_there_are_benchmarks_to_import() -> None:
    assert {path.stem for path in SCRIPTS} >= {"benchlib", "fanout", "slack_answer"}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.stem)
def test_the_benchmark_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `python bench/<name>.py` puts bench/ first on sys.path; the scripts add the project
    # root themselves. Both are undone afterwards, as is the module's entry.
    module = load_bench(path.stem, monkeypatch)
    if path.stem != "benchlib":
        assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
