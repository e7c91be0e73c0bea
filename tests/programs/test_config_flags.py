"""The absl flags made from `TrainConfig`'s schema, and back to a config."""

import ast
import dataclasses
import os

import pytest
from absl import flags

from bnorder_tf.errors import ConfigError
from bnorder_tf.programs import config_flags
from bnorder_tf.training import config
from bnorder_tf.training.config import TrainConfig
from tests.helpers import ROOT

FIELDS = dataclasses.fields(TrainConfig)


def _parsed(*argv):
    fv = flags.FlagValues()
    config_flags.define_flags(fv)
    fv(["prog", *argv])
    return fv


def test_every_field_defines_its_flag_with_help_choices_and_bounds():
    fv = flags.FlagValues()
    config_flags.define_flags(fv)
    assert sorted(fv) == sorted(f.name for f in FIELDS)
    for field in FIELDS:
        setting = config.setting_of(field)
        flag = fv[field.name]
        assert flag.help.endswith(setting.help)
        if setting.choices:
            # the older spellings a setting still reads come last
            assert list(flag.parser.enum_values) == [
                *setting.choices,
                *(setting.aliases or {}),
            ]
    assert fv["seed"].parser.lower_bound == 0
    assert fv["width"].parser.lower_bound == 0.0


def test_defining_twice_keeps_the_flags_defined_first():
    fv = flags.FlagValues()
    config_flags.define_flags(fv)
    config_flags.define_flags(fv)
    assert sorted(fv) == sorted(f.name for f in FIELDS)


def test_the_defaults_make_the_default_config():
    assert config_flags.config_from_flags(_parsed()) == TrainConfig()


def test_lists_bools_and_old_spellings_read_as_the_config_holds_them():
    fv = _parsed(
        "--lr_milestones=3,7",
        "--devices=/cpu:0,/cpu:1",
        "--nosync_bn",
        "--mixed_precision=true",
    )
    parsed = config_flags.config_from_flags(fv)
    assert parsed == TrainConfig(
        lr_milestones=(3, 7),
        devices=("/cpu:0", "/cpu:1"),
        sync_bn=False,
        mixed_precision="float16",
    )
    assert fv["lr_milestones"].value == ["3", "7"]  # the flags stay as given


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--lr_milestones=3,x", "--lr_milestones=x is not a valid list"),
        ("--lr_milestones=7,3", "--lr_milestones=7,3 must be increasing"),
        ("--width=nan", "--width=nan must be a finite number"),
    ],
)
def test_values_absl_accepts_are_refused_by_the_config(flag, message):
    with pytest.raises(ConfigError, match=message):
        config_flags.config_from_flags(_parsed(flag))


def test_the_schema_imports_no_absl():
    path = os.path.join(ROOT, "bnorder_tf", "training", "config.py")
    with open(path) as f:
        tree = ast.parse(f.read())
    imported = [
        name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    ]
    assert imported and not [n for n in imported if n.startswith("absl")]
