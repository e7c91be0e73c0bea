"""The docstrings' examples run: every module's doctests pass.

Each module of `bnorder_tf` that `pkgutil.walk_packages` finds is
imported, and `doctest.DocTestFinder` collects the examples of its
docstrings; a module with examples is one test, which runs them all with
`doctest.DocTestRunner` and fails with the runner's report.
"""

import doctest
import importlib
import io
import pkgutil

import pytest

import bnorder_tf

#: The `python -m` shims: each only calls its program's `console_main`.
SHIMS = {"bnorder_tf.train", "bnorder_tf.tune", "bnorder_tf.predict"}

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _skipped(name):
    return name.rsplit(".", 1)[-1] == "__main__" or name in SHIMS


def _module_names():
    names = [bnorder_tf.__name__]
    for info in pkgutil.walk_packages(
        bnorder_tf.__path__,
        bnorder_tf.__name__ + ".",
        onerror=lambda name: None,
    ):
        names.append(info.name)
    return sorted(name for name in names if not _skipped(name))


def _doctests(module):
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for test in finder.find(module) if test.examples]


def _modules_with_examples():
    names = []
    for name in _module_names():
        if _doctests(importlib.import_module(name)):
            names.append(name)
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report = io.StringIO()
    for test in _doctests(module):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
