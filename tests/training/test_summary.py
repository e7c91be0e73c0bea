"""summary.json: its keys in their order, and the run's time over sessions.

`run_dir.run_summary` builds the summary once, with everything in it;
the reader (`run_dir.read_summary`) is tested in
`tests/training/test_run_dir.py`.
"""

import keras
import pytest

from bnorder_tf.stats.results import LAYER_COUNT_KEYS, LAYER_VALUE_KEYS
from bnorder_tf.training import run_dir
from bnorder_tf.training.callbacks import EpochCheckpoint, RunSession
from bnorder_tf.training.config import TrainConfig

#: The keys of a finished run's summary.json, in the order written.
KEYS = [
    "bnorder_tf_version",
    "backend",
    "run_name",
    "status",
    "diverged_epoch",
    "dataset",
    "data_source",
    "num_classes",
    "preprocessing",
    "model",
    "order",
    "activation",
    "seed",
    "evaluation_split",
    "epochs",
    "final_{}_accuracy",
    "best_{}_accuracy",
    "final_{}_loss",
    "stats",
    "stats_epoch",
    "layer_stats",
    "gradients",
    "wall_seconds",
    "train_images_per_second",
    "replicas",
    "export_path",
]

HISTORY = {"val_accuracy": [0.1, 0.3, 0.2], "val_loss": [2.0, 1.5, 1.7]}
LAYER = {key: 0.5 for key in LAYER_VALUE_KEYS + LAYER_COUNT_KEYS}
LAST_STATS = {
    "epoch": 2,
    "model": {"saturation": 0.4},
    "layers": {"block1": {**LAYER, "histogram": [1, 2]}},
    "gradients": {"block1": 0.01},
}


class Session:
    def wall_seconds(self):
        return 12.0

    def images_per_second(self):
        return 100.0


def summary(diverged_epoch=None, **config):
    return run_dir.run_summary(
        TrainConfig(dataset="synthetic", run_name="r", **config),
        HISTORY,
        LAST_STATS,
        Session(),
        replicas=2,
        data_location="synthetic",
        diverged_epoch=diverged_epoch,
        export_path="savedmodels/r/1",
    )


@pytest.mark.parametrize("split", ["test", "validation"])
def test_a_finished_run_records_every_key_in_order(split):
    examples = 64 if split == "validation" else 0
    finished = summary(validation_examples=examples)
    assert list(finished) == [key.format(split) for key in KEYS]
    assert finished["status"] == "finished"
    assert run_dir.final_accuracy(finished) == 0.2
    assert finished[f"best_{split}_accuracy"] == 0.3
    assert finished[f"final_{split}_loss"] == 1.7
    assert finished["stats"] == {"saturation": 0.4}
    assert finished["stats_epoch"] == 2
    assert finished["layer_stats"] == {"block1": LAYER}  # no histogram
    assert finished["gradients"] == {"block1": 0.01}
    assert finished["wall_seconds"] == 12.0
    assert finished["export_path"] == "savedmodels/r/1"  # last


def test_a_diverged_run_records_no_export_and_no_statistics():
    diverged = summary(diverged_epoch=3)
    assert list(diverged) == [key.format("test") for key in KEYS[:-1]]
    assert diverged["status"] == "diverged" and diverged["diverged_epoch"] == 3
    assert run_dir.final_accuracy(diverged) is None
    assert diverged["best_test_accuracy"] == 0.3
    assert diverged["stats"] is diverged["stats_epoch"] is None
    assert diverged["layer_stats"] == {} and diverged["gradients"] is None


def test_the_session_totals_cover_every_session_of_a_run(tmp_path):
    def checkpoint(session):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
        directory = str(tmp_path / "checkpoints")
        return EpochCheckpoint(model, optimizer, directory, session=session)

    first = RunSession()
    first.add_training(seconds=2.0, images=64)
    checkpoint(first).on_epoch_end(0)  # committed with epoch 0
    first.add_training(seconds=2.0, images=64)  # lost: never committed
    first.stop()
    wall = first.wall_seconds()

    second = RunSession()
    assert checkpoint(second).restore() == 1
    second.start()
    second.add_training(seconds=6.0, images=64)
    assert second.images_per_second() == 128 / 8.0
    assert 0 < second.variables["wall_seconds"].numpy() <= wall
    assert second.wall_seconds() >= second.variables["wall_seconds"].numpy()
