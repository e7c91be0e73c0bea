"""`TrainConfig`: one definition per setting, from which the rest derives.

Validation, flags.txt, the resume check and the settings (the flags made
from it: `tests/programs/test_config_flags.py`).
"""

import dataclasses
import math

import pytest

from bnorder_tf.errors import ConfigError
from bnorder_tf.training import config
from bnorder_tf.training.config import TrainConfig
from tests.helpers import TRAIN, error_lines, run_program

FIELDS = dataclasses.fields(TrainConfig)


def test_flags_txt_reads_back_into_the_same_config():
    config = TrainConfig(
        dataset="synthetic",
        order="convention",
        bn_gamma_decay=0.0,
        bn_beta_decay=0.0,
        width=0.25,
        lr_milestones=(3, 7),
        devices=("/cpu:0",),
        sync_bn=False,
        run_name="x",
        seed=4,
    )
    assert TrainConfig.from_flags_text(config.to_flags()) == config
    assert (
        TrainConfig.from_flags_text(TrainConfig().to_flags()) == TrainConfig()
    )


@pytest.mark.parametrize(
    "field",
    [f.name for f in FIELDS if config.setting_of(f).value_type is float],
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_refused_for_every_float_setting(field, value):
    with pytest.raises(ConfigError, match=f"--{field}="):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(
    "values, named",
    [
        (dict(seed=-5), "--seed"),
        (dict(seed=2**31), "--seed"),
        (dict(width=0.0), "--width"),
        (dict(momentum=1.5), "--momentum"),
        (dict(lr_milestones=(150, 100)), "--lr_milestones"),
        (dict(run_name=".."), "--run_name"),
        (dict(run_name="."), "--run_name"),
        (dict(run_name="a/b"), "--run_name"),
        (dict(model_dir=""), "--model_dir"),
        (dict(export_dir=" "), "--export_dir"),
        (dict(devices=("/cpu:0", "/cpu:0")), "--devices"),
        (dict(order="sideways"), "--order"),
        (dict(epochs=2.5), "--epochs"),
    ],
)
def test_bad_values_are_refused_naming_the_flag(values, named):
    with pytest.raises(ConfigError, match=named):
        TrainConfig(**values)


def test_only_resumable_settings_may_change_on_resume():
    before = TrainConfig(epochs=10)
    assert (
        TrainConfig(epochs=20, export_dir="x").resume_differences(before) == []
    )
    assert TrainConfig(
        epochs=10, learning_rate=0.01, stats_every=2
    ).resume_differences(before) == ["learning_rate", "stats_every"]


def test_settings_are_the_experiment_fields_with_nwdbn_told_apart():
    settings = TrainConfig(
        order="convention", bn_gamma_decay=0, bn_beta_decay=0
    ).settings()
    assert settings["order"] == "nwdbn"
    assert settings["learning_rate"] == "0.1"
    for operational in (
        "seed",
        "model_dir",
        "histogram_bins",
        "devices",
        "stats_every",
        "data_dir",
    ):
        assert operational not in settings
    assert TrainConfig(order="convention").settings()["order"] == "convention"


@pytest.mark.parametrize("flag", ["--seed=-5", "--width=nan"])
def test_values_refused_late_before_now_write_nothing(tmp_path, flag):
    out = run_program(
        [TRAIN, "--dataset=synthetic", f"--model_dir={tmp_path}/runs", flag]
    )
    assert out.returncode == 2, out.stderr[-2000:]
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and flag.split("=")[0] in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "text, named",
    [
        ("--nosuch=1\n", r"flags.txt: .*'nosuch'.*dataset, image_size"),
        ("--order=sideways\n", r"flags.txt: .*--order.*'sideways'"),
    ],
)
def test_unknown_names_in_flags_txt_list_the_valid_ones(text, named):
    with pytest.raises(LookupError, match=named):
        TrainConfig.from_flags_text(text)


def test_a_line_that_is_no_flag_is_refused():
    with pytest.raises(ConfigError, match="'order=swap' is not a --name"):
        TrainConfig.from_flags_text("order=swap\n")


def test_fc_bn_for_a_model_without_hidden_fc_blocks_is_refused():
    with pytest.raises(ConfigError, match=r"--fc_bn=true .*--model=mobilenet"):
        TrainConfig(model="mobilenet", fc_bn="true")
    assert TrainConfig(model="mobilenet").fc_bn == "auto"
