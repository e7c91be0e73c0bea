"""The generated reference tables cover every field and every flag.

`docs/reference_tables.py`, a MkDocs hook, writes `TrainConfig`'s fields
and the four programs' flags into the site as it is built. These tests
list the fields and flags on their own (the dataclass, each program's
`define_flags`, `bnorder-report --help`) and check that the tables name
each one, with its default.
"""

import contextlib
import dataclasses
import importlib.util
import io
import os
import re

import pytest
from absl import flags

from bnorder_tf.programs import config_flags, predict, report, tune
from bnorder_tf.training import config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOOK = os.path.join(ROOT, "docs", "reference_tables.py")


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("reference_tables", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cli_page(tables):
    return tables.cli_reference()


def _section(page, program):
    start = page.index(f"## {program}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else None]


def _rows(section):
    """`{flag: row}` of a section's table, by the first flag in each row."""
    rows = {}
    for line in section.splitlines():
        found = re.match(r"\| `(--[\w]+|[A-Z_]+)`", line)
        if found:
            rows[found.group(1)] = line
    return rows


def _flags(define):
    fv = flags.FlagValues()
    define(fv)
    return fv


def test_every_trainconfig_field_has_a_row_with_its_default(tables):
    table = tables.train_config_table()
    for field in dataclasses.fields(config.TrainConfig):
        row = next(
            (
                r
                for r in table.splitlines()
                if r.startswith(f"| `{field.name}`")
            ),
            None,
        )
        assert row, f"TrainConfig.{field.name} is missing"
        assert f"`{field.default!r}`" in row or (
            field.default is None and "`None`" in row
        ), row


def test_every_train_flag_has_a_row_with_its_default(cli_page):
    rows = _rows(_section(cli_page, "bnorder-train"))
    fv = _flags(config_flags.define_flags)
    for name in fv:
        assert f"--{name}" in rows, f"bnorder-train --{name} is missing"
        default = fv[name].default
        if default not in (None, []):
            text = (
                ",".join(map(str, default))
                if isinstance(default, list)
                else str(default).lower()
                if isinstance(default, bool)
                else str(default)
            )
            assert f"`{text}`" in rows[f"--{name}"], rows[f"--{name}"]


def test_the_flags_a_user_looks_for_are_there(cli_page):
    rows = _rows(_section(cli_page, "bnorder-train"))
    assert "`swap`" in rows["--order"] and "`convention`" in rows["--order"]
    assert "`softsign`" in rows["--activation"]
    assert "`0.1`" in rows["--learning_rate"]


def test_every_tune_flag_has_a_row(cli_page):
    rows = _rows(_section(cli_page, "bnorder-tune"))
    own = set(_flags(tune.define_flags)) - set(
        _flags(config_flags.define_flags)
    )
    assert own and all(f"--{name}" in rows for name in own), own - set(rows)


def test_every_predict_flag_has_a_row(cli_page):
    rows = _rows(_section(cli_page, "bnorder-predict"))
    for name in _flags(predict.define_flags):
        assert f"--{name}" in rows, f"bnorder-predict --{name} is missing"
    assert "`256`" in rows["--batch_size"]


def test_every_report_option_has_a_row(cli_page):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        report.main(["--help"])
    # the options section: one line per option, starting with it
    options = set(re.findall(r"^  (--\w+)", out.getvalue(), re.M))
    rows = _rows(_section(cli_page, "bnorder-report"))
    assert options and options <= set(rows), options - set(rows)
    assert "RUN_OR_TUNING_DIR" in rows


def test_the_pages_hold_the_markers_and_mkdocs_loads_the_hook(tables):
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        assert "docs/reference_tables.py" in f.read()
    for page, marker in (
        ("cli.md", "<!-- generated: cli-reference -->"),
        ("training.md", "<!-- generated: train-config-fields -->"),
    ):
        path = os.path.join(ROOT, "docs", "reference", page)
        with open(path, encoding="utf-8") as f:
            assert marker in f.read(), page
        assert marker in tables.MARKERS
