"""Every docstring example of the package (and of tools/) runs and prints what it shows.

``make test`` runs the suite, so this is where the doctests run: one test per module that has
examples, none skipped (a ``+SKIP`` directive fails the inventory test below).
"""

from __future__ import annotations

import doctest
import importlib
import io
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _module_names() -> list[str]:
    names = []
    for path in sorted((ROOT / "icefall_lite").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _tools_module(name: str):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "tools"))


def _tests_of(module) -> list[doctest.DocTest]:
    return [t for t in doctest.DocTestFinder().find(module) if t.examples]


def _run(module) -> tuple[int, int, str]:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = io.StringIO()
    for test in _tests_of(module):
        runner.run(test, out=out.write)
    return runner.failures, runner.tries, out.getvalue()


def _modules_with_examples() -> list[str]:
    return [n for n in _module_names() if "    >>> " in _source(n)]


def _source(name: str) -> str:
    path = ROOT / pathlib.Path(*name.split("."))
    return (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()


# examples that build and export or train models (several seconds each)
SLOW = {"icefall_lite.models.export", "icefall_lite.training.optim"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in _modules_with_examples()],
)
def test_docstring_examples_pass(name):
    failures, tries, report = _run(importlib.import_module(name))
    assert tries > 0, f"{name}: its '>>>' lines were not found as doctests"
    assert failures == 0, report


def test_tools_examples_pass():
    failures, tries, report = _run(_tools_module("install_k2_wheel"))
    assert tries > 0 and failures == 0, report


def test_no_example_is_skipped_and_most_modules_have_one():
    skipping = [n for n in _module_names() if "doctest: +SKIP" in _source(n)]
    assert skipping == []
    assert len(_modules_with_examples()) >= 55
