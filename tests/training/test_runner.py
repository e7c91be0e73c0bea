"""The training loop: what a run writes, how it stops, where it trains.

In-process tests use the synthetic dataset at tiny widths; the large ones
run in subprocesses (several workers, the real Fashion-MNIST).
"""

import contextlib
import gzip
import json
import os
import re
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from bnorder_tf.data import get_source
from bnorder_tf.errors import TrainingDivergedError
from bnorder_tf.models import build_model
from bnorder_tf.training import progress, runner
from bnorder_tf.training.config import TrainConfig
from bnorder_tf.training.run_dir import RunDirectoryError
from tests.helpers import (
    ROOT,
    TRAIN,
    FakeTerminal,
    read_csv,
    run_program,
    start_local_workers,
)

TINY = dict(
    dataset="synthetic",
    model="vgg16_8",  # the shallowest VGG: these tests are about the loop
    width=0.0625,
    batch_size=32,
    learning_rate=0.05,
    lr_milestones=(1,),
    steps_per_epoch=4,
)


def history_epochs(run_dir):
    rows = read_csv(os.path.join(run_dir, "history.csv"))
    return [int(row["epoch"]) for row in rows]


def exported_accuracy(version_dir, images, labels):
    served = tf.saved_model.load(version_dir)
    probabilities = served.signatures["serving_default"](
        images=tf.constant(images)
    )["probabilities"].numpy()
    return float(np.mean(np.argmax(probabilities, -1) == labels))


def split_arrays(name, split, **kwargs):
    raw, _ = get_source(name, **kwargs).load_split(split)
    images, labels = zip(*raw.as_numpy_iterator(), strict=True)
    return np.stack(images), np.asarray(labels)


def test_run_writes_a_complete_run_directory(tmp_path):
    config = TrainConfig(
        **TINY,
        epochs=2,
        seed=3,
        model_dir=str(tmp_path / "runs"),
        export_dir=str(tmp_path / "savedmodels"),
    )
    summary = runner.run_training(config, verbose=0).summary
    run_dir = tmp_path / "runs" / config.resolved_run_name
    assert history_epochs(run_dir) == [0, 1]
    with open(run_dir / "stats.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["epoch"] for r in records] == [0, 1]
    assert summary["stats"] == records[-1]["model"]
    assert sorted(summary["layer_stats"]) == sorted(records[-1]["layers"])
    comment, flags = (run_dir / "flags.txt").read_text().split("\n", 1)
    assert comment.startswith("# written by bnorder_tf ")
    assert flags == config.to_flags()
    assert not (run_dir / "checkpoints").exists()

    # the summary's accuracy is that of the exported model on the raw
    # test split, computed here from scratch
    images, labels = split_arrays("synthetic", "test")
    accuracy = exported_accuracy(summary["export_path"], images, labels)
    assert summary["final_test_accuracy"] == pytest.approx(
        accuracy, abs=1.5 / 256
    )
    assert summary["export_path"].endswith(
        os.path.join(config.resolved_run_name, "1")
    )
    assert summary["train_images_per_second"] > 0
    assert summary["status"] == "finished"
    assert summary["data_source"] == "synthetic"

    # a finished run is never silently overwritten
    with pytest.raises(RunDirectoryError, match="finished run"):
        runner.run_training(config, verbose=0)


@pytest.mark.large
def test_steps_per_execution_gives_the_same_history(tmp_path, monkeypatch):
    # stdout is a terminal that gets the bar redrawn after every call
    monkeypatch.setattr(progress, "REDRAW_INTERVAL", 0.0)
    histories, drawn = [], []
    for k in (1, 3):  # 4 steps per epoch: calls of 3 and 1 steps
        config = TrainConfig(
            **TINY,
            epochs=1,
            stats_every=0,
            steps_per_execution=k,
            model_dir=str(tmp_path / f"runs{k}"),
            export_dir=str(tmp_path / f"savedmodels{k}"),
        )
        terminal = FakeTerminal()
        with contextlib.redirect_stdout(terminal):
            runner.run_training(config, verbose=1)  # with the progress bar
        bar = terminal.getvalue()
        drawn.append([int(s) for s in re.findall(r"(\d+)/4\b", bar)])
        histories.append(
            read_csv(
                tmp_path / f"runs{k}" / config.resolved_run_name / "history.csv"
            )  # fmt: skip
        )
        # the epoch's end shows what history.csv holds
        row = histories[-1][0]
        shown = " - ".join(
            f"{key}: {float(row[key]):.4f}"
            for key in ("val_accuracy", "val_loss")
        )
        assert bar.endswith(shown + "\n")
    # the bar after each compiled call (steps 1, 2, 3, 4; then 3, 4),
    # and at the epoch's end
    assert drawn == [[1, 2, 3, 4, 4], [3, 4, 4]]
    one, three = histories
    assert len(one) == len(three) == 1
    for a, b in zip(one, three, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(b[key]) == pytest.approx(float(a[key]), rel=1e-6)


def test_the_last_epoch_is_measured_and_a_log_gets_a_line_per_epoch(
    tmp_path, capsys
):
    config = TrainConfig(
        **TINY,
        epochs=4,
        stats_every=3,
        histogram_bins=0,
        model_dir=str(tmp_path / "runs"),
        export_dir=str(tmp_path / "savedmodels"),
    )
    summary = runner.run_training(config, verbose=1).summary
    run_dir = tmp_path / "runs" / config.resolved_run_name
    with open(run_dir / "stats.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["epoch"] for r in records] == [2, 3]
    assert summary["stats_epoch"] == 3
    assert summary["stats"] == records[-1]["model"]
    rows = read_csv(run_dir / "history.csv")
    measured = [r["epoch"] for r in rows if r["skewness"]]
    assert measured == ["2", "3"]
    # stdout is not a terminal here: one line per epoch, no bar redraws
    lines = capsys.readouterr().out.splitlines()
    epoch_lines = [line for line in lines if line.startswith("Epoch ")]
    assert [line.split(" - ")[0] for line in epoch_lines] == [
        f"Epoch {e}/4" for e in (1, 2, 3, 4)
    ]
    assert (
        f"val_accuracy: {float(rows[3]['val_accuracy']):.4f}"
        in (epoch_lines[3])
    )
    assert f"skewness: {float(rows[3]['skewness']):.4f}" in epoch_lines[3]
    assert len(lines) == 5  # and the start line


@pytest.mark.large
def test_bfloat16_trains(tmp_path):
    config = TrainConfig(
        **TINY,
        epochs=1,
        mixed_precision="bfloat16",
        histogram_bins=0,
        model_dir=str(tmp_path / "runs"),
        export_dir=str(tmp_path / "savedmodels"),
    )
    try:
        result = runner.run_training(config, verbose=0)
        model, summary = result.model, result.summary
    finally:  # the run set Keras's global policy
        keras.mixed_precision.set_global_policy("float32")
    assert summary["status"] == "finished"
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert 0 < summary["stats"]["saturation"] < 1


def test_old_runs_mixed_precision_flags_still_read():
    # before bfloat16 the flag was a bool: a run's flags.txt said so
    old = TrainConfig.from_flags_text("--mixed_precision=true\n")
    assert old.mixed_precision == "float16"
    assert (
        TrainConfig.from_flags_text("--nomixed_precision\n").mixed_precision
        == "none"
    )


def test_diverging_run_stops_is_recorded_and_not_exported(tmp_path):
    config = TrainConfig(
        **{**TINY, "learning_rate": 1e8},
        epochs=3,
        model_dir=str(tmp_path / "runs"),
        export_dir=str(tmp_path / "savedmodels"),
    )
    with pytest.raises(TrainingDivergedError, match="diverged in epoch 0"):
        runner.run_training(config, verbose=0)
    run_dir = tmp_path / "runs" / config.resolved_run_name
    text = (run_dir / "summary.json").read_text()
    assert "NaN" not in text
    summary = json.loads(text)
    assert summary["status"] == "diverged" and summary["diverged_epoch"] == 0
    assert summary["epochs"] == 0 and summary["final_test_accuracy"] is None
    assert summary["stats"] is None
    assert not (tmp_path / "savedmodels").exists()
    assert not (run_dir / "model.keras").exists()
    assert read_csv(run_dir / "history.csv") == []
    # the diverged run is a result: it is not trained again
    with pytest.raises(RunDirectoryError, match="finished run"):
        runner.run_training(config, verbose=0)


def test_unfinished_run_with_other_flags_is_refused(tmp_path):
    config = TrainConfig(**TINY, model_dir=str(tmp_path))
    run_dir = tmp_path / config.resolved_run_name
    run_dir.mkdir()
    other = TrainConfig(
        **{**TINY, "learning_rate": 0.5}, run_name=None, model_dir=str(tmp_path)
    )
    (run_dir / "flags.txt").write_text(other.to_flags())
    with pytest.raises(RunDirectoryError, match="learning_rate"):
        runner.run_training(config, verbose=0)
    assert sorted(os.listdir(run_dir)) == ["flags.txt"]


def test_global_batch_must_divide_over_replicas(tmp_path, mirrored):
    config = TrainConfig(**{**TINY, "batch_size": 33}, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="does not divide over 2 replicas"):
        runner.run_training(config, strategy_override=mirrored, verbose=0)
    assert os.listdir(tmp_path) == []


@pytest.mark.large
def test_multi_worker_trains_on_two_local_workers(tmp_path):
    script = os.path.join(ROOT, "tests", "scripts", "multi_worker_train.py")
    workers = start_local_workers(
        lambda index: [
            script,
            str(tmp_path / "runs"),
            str(tmp_path / "savedmodels"),
            str(tmp_path / f"w{index}.npz"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    logs = [w.communicate(timeout=400)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs[0][-3000:]
    chief, other = (np.load(tmp_path / f"w{i}.npz") for i in range(2))
    # the workers saw different shards of the data: only synchronised
    # gradients leave them with the same weights
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key])
    initial = build_model(
        "vgg16_11",
        order="swap",
        activation="tanh",
        num_classes=10,
        input_shape=(32, 32, 3),
        width=0.0625,
    ).weights
    assert len(initial) == len(chief.files)
    # only the chief wrote the run directory and the export
    assert history_epochs(tmp_path / "runs" / "mw") == [0, 1]
    assert os.listdir(tmp_path / "savedmodels" / "mw") == ["1"]


def _fashion_mnist_test_arrays(directory, count):
    """The first `count` test images and labels, read with gzip + NumPy."""
    with gzip.open(os.path.join(directory, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(os.path.join(directory, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images.reshape(-1, 28, 28, 1)[:count], labels[:count]


@pytest.mark.large
def test_one_short_epoch_on_real_fashion_mnist(tmp_path):
    from bnorder_tf.data.sources import DEBIAN_FASHION_MNIST

    args = [
        TRAIN,
        "--flagfile=vgg_swap.flags",
        "--dataset=fashion_mnist",
        "--epochs=1",
        "--width=0.125",
        "--batch_size=64",
        "--steps_per_epoch=40",
        "--eval_steps=10",
        # gentle: at 0.05, 40 steps left BN's moving statistics so far from
        # the batches' that the test accuracy was 0.25 with oneDNN's
        # AVX512-FP16/AMX kernels and 0.54-0.62 with AVX2 or AVX512; at
        # 0.01 it is 0.69-0.70 with each
        "--learning_rate=0.01",
        f"--model_dir={tmp_path}/runs",
        f"--export_dir={tmp_path}/savedmodels",
        "--run_name=fmnist",
    ]
    out = run_program(args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "fashion_mnist" in out.stdout and "1 replica(s)" in out.stdout
    summary = json.loads(
        (tmp_path / "runs" / "fmnist" / "summary.json").read_text()
    )
    images, labels = _fashion_mnist_test_arrays(DEBIAN_FASHION_MNIST, 640)
    accuracy = exported_accuracy(summary["export_path"], images, labels)
    assert summary["final_test_accuracy"] == pytest.approx(
        accuracy, abs=1.5 / 640
    )
    assert accuracy > 0.4  # 40 steps learn well beyond chance (0.1)
    # and beyond a uniform guess's cross-entropy, ln(10), on every CPU
    assert summary["final_test_loss"] < np.log(10)
    assert summary["data_source"] == DEBIAN_FASHION_MNIST
    assert 0 < summary["stats"]["saturation"] < 1


def test_early_stopping_stops_when_accuracy_stalls(tmp_path):
    config = TrainConfig(
        **{**TINY, "learning_rate": 1e-7},
        epochs=6,
        early_stopping=1,
        stats_every=0,
        model_dir=str(tmp_path / "runs"),
        export_dir=str(tmp_path / "savedmodels"),
    )
    summary = runner.run_training(config, verbose=0).summary
    rows = read_csv(
        tmp_path / "runs" / config.resolved_run_name / "history.csv"
    )
    accuracies = [float(r["val_accuracy"]) for r in rows]
    assert summary["epochs"] == len(accuracies) < 6
    # stopped at the first epoch that did not beat the best before it
    stop = len(accuracies) - 1
    assert accuracies[stop] <= max(accuracies[:stop])
    assert all(accuracies[e] > max(accuracies[:e]) for e in range(1, stop))
