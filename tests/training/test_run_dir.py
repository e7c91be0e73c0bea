"""The run directory's guards: locks, paths, damaged files, strict JSON."""

import json
import os

import numpy as np
import pytest

from bnorder_tf.errors import (
    ConfigError,
    MalformedFileError,
    RunInUseError,
)
from bnorder_tf.training import run_dir
from bnorder_tf.training.config import TrainConfig


def test_second_lock_on_a_directory_names_the_holder(tmp_path):
    with run_dir.DirectoryLock(str(tmp_path), "run"):
        with pytest.raises(RunInUseError, match=f"process {os.getpid()}"):
            run_dir.DirectoryLock(str(tmp_path), "run").acquire()
    run_dir.DirectoryLock(str(tmp_path), "run").acquire().release()


@pytest.mark.parametrize("flag", ["model_dir", "export_dir"])
def test_directory_flags_that_are_files_are_refused_first(tmp_path, flag):
    (tmp_path / "file").write_text("x")
    config = TrainConfig(**{flag: str(tmp_path / "file")})
    with pytest.raises(ConfigError, match=f"--{flag}=.* is a file"):
        run_dir.check_run_paths(config)


def test_missing_data_dir_is_refused_first(tmp_path):
    config = TrainConfig(data_dir=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="--data_dir=.* does not exist"):
        run_dir.check_run_paths(config)


@pytest.mark.parametrize(
    "text", ["", "{}", "not json", '{"run_name": "x"}', "[1, 2]"]
)
def test_damaged_summaries_are_named(tmp_path, text):
    (tmp_path / "summary.json").write_text(text)
    with pytest.raises(MalformedFileError, match="summary.json"):
        run_dir.read_summary(str(tmp_path))


def test_summary_of_an_earlier_version_reads_as_finished(tmp_path):
    (tmp_path / "summary.json").write_text(
        '{"run_name": "r", "epochs": 3, "final_test_accuracy": 0.5}'
    )
    assert run_dir.read_summary(str(tmp_path))["status"] == "finished"


def test_history_rows_must_match_the_header(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.5\n1,1.2,0.3,0.4\n")
    with pytest.raises(MalformedFileError, match="line 3 has 4 fields"):
        run_dir.read_history(str(path))


def test_summary_json_is_strict():
    text = run_dir.dumps_strict(
        {"a": float("nan"), "b": [np.inf, 1.0], "c": np.float32(2.5)}
    )
    assert json.loads(text) == {"a": None, "b": [None, 1.0], "c": 2.5}
