"""Training on any data, end to end: a kill, a resume, an export, a prediction.

Three ways in, each trained by the program or `run_training` and killed
once epoch 0 is committed (tests/scripts/train_with_fault.py), then
resumed by the same settings in this process:

- `--dataset=tfds:svhn_cropped`, a tensorflow-datasets builder that is
  not built in, mocked offline (tests/data/tfds_mock.py), evaluated on a
  held-out `--validation_examples` split;
- `--dataset=folder:<path>`, PNG files written here;
- `run_training(config, data=(train, test))`, a Python tf.data pair.

Each run is trained once (module fixtures) and checked by several tests;
the report reads the three together.
"""

import concurrent.futures
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import bnorder_tf.programs.predict
import bnorder_tf.programs.report
from bnorder_tf.serving import predict
from bnorder_tf.training import run_training
from bnorder_tf.training.run_dir import read_config
from bnorder_tf.version import __version__
from tests.data import tfds_mock, user_data
from tests.data.image_folder import write_folder
from tests.helpers import ROOT, kill, read_csv, start_paused

pytestmark = pytest.mark.large

SCRIPTS = os.path.join(ROOT, "tests", "scripts")
TINY = [
    "--model=vgg16_8",
    "--width=0.0625",
    "--batch_size=16",
    "--epochs=2",
    "--lr_milestones=1",
    "--learning_rate=0.05",
    "--histogram_bins=0",
]


def _args(tmp, dataset_flags):
    return [
        *TINY,
        *dataset_flags,
        f"--model_dir={tmp}/runs",
        f"--export_dir={tmp}/savedmodels",
        "--run_name=run",
    ]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, folder):
    """The three runs, each SIGKILLed after epoch 0, then resumed.

    The three programs start side by side (each spends its first seconds
    importing TensorFlow); the resumes run here, one after the other.

    Returns:
        dict from `tfds`, `folder`, `user` to `(run_dir, export model
        path, data.json before the kill, RunResult)`.
    """
    tmp = {k: tmp_path_factory.mktemp(k) for k in ("tfds", "folder", "user")}
    metadata = tfds_mock.write_all(str(tmp["tfds"] / "metadata"))
    flags = {
        "tfds": ["--dataset=tfds:svhn_cropped", "--validation_examples=16"],
        "folder": [f"--dataset=folder:{folder}"],
        "user": ["--dataset=user:compass"],
    }
    env = {
        "tfds": dict(
            FAULT_PROGRAM=os.path.join(SCRIPTS, "train_mock_tfds.py"),
            TFDS_MOCK_DIR=metadata,
        ),
        "folder": {},
        "user": dict(FAULT_PROGRAM=os.path.join(SCRIPTS, "train_user_data.py")),
    }

    def paused(key):
        args = _args(tmp[key], flags[key])
        return start_paused(
            args, "after_commit:0", tmp[key] / "paused", **env[key]
        )

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        processes = list(pool.map(paused, tmp))
    for process in processes:
        kill(process)

    def resume(key, config):
        if key == "tfds":
            with tfds_mock.mocked(metadata):
                return run_training(config, verbose=0)
        if key == "user":
            data = user_data.datasets(batched=True)
            return run_training(config, data=data, verbose=0)
        return run_training(config, verbose=0)

    results = {}
    for key, directory in tmp.items():
        run_dir = directory / "runs" / "run"
        history = read_csv(run_dir / "history.csv")
        assert [r["epoch"] for r in history] == ["0"]
        assert not (run_dir / "summary.json").exists()
        recorded = json.loads((run_dir / "data.json").read_text())
        result = resume(key, read_config(str(run_dir)))
        results[key] = (
            run_dir,
            directory / "savedmodels" / "run",
            recorded,
            result,
        )
    return results


@pytest.fixture(scope="module")
def tfds_run(runs):
    return runs["tfds"]


@pytest.fixture(scope="module")
def folder_run(runs):
    return runs["folder"]


@pytest.fixture(scope="module")
def user_run(runs):
    return runs["user"]


def _check_resumed_run(run, num_classes, class_names, split, examples):
    run_dir, model_path, recorded, result = run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary == result.summary
    assert summary["status"] == "finished" and summary["epochs"] == 2
    rows = read_csv(run_dir / "history.csv")
    assert [r["epoch"] for r in rows] == ["0", "1"]  # epoch 0 kept, once
    assert [r["sparsity"] != "" for r in rows] == [True, True]  # statistics
    assert summary["evaluation_split"] == split
    assert summary[f"final_{split}_accuracy"] == float(rows[-1]["val_accuracy"])
    assert summary["stats"] is not None and summary["layer_stats"]
    # the normalisation was measured once, before the kill, and reused
    assert json.loads((run_dir / "data.json").read_text()) == recorded
    assert summary["preprocessing"] == recorded["preprocessing"]
    assert recorded["num_classes"] == summary["num_classes"] == num_classes
    assert recorded["class_names"] == class_names
    assert recorded["evaluation_examples"] == examples
    # the version in every artefact
    assert summary["bnorder_tf_version"] == __version__
    assert isinstance(summary["backend"]["onednn"], bool)
    flags = (run_dir / "flags.txt").read_text().splitlines()
    assert flags[0] == f"# written by bnorder_tf {__version__}"
    metadata = json.loads((model_path / "1" / "metadata.json").read_text())
    assert metadata["bnorder_tf_version"] == __version__
    assert metadata["class_names"] == class_names
    assert metadata["preprocessing"] == recorded["preprocessing"]
    return summary, metadata


def _predictions_match_the_model(run, images):
    """The export's probabilities are the trained model's, on raw images."""
    _, model_path, recorded, result = run
    version_dir = predict.resolve_version(str(model_path))
    served = predict.predict(version_dir, images)
    from bnorder_tf.data import Preprocessing

    preprocessing = Preprocessing.from_config(recorded["preprocessing"])
    logits = result.model(preprocessing.apply(images), training=False)
    np.testing.assert_allclose(
        served, tf.nn.softmax(logits).numpy(), rtol=1e-4, atol=1e-5
    )
    return served


def test_a_mocked_tfds_dataset_trains_resumes_exports_and_predicts(tfds_run):
    svhn_classes = [str(i) for i in range(10)]
    summary, metadata = _check_resumed_run(
        tfds_run, 10, svhn_classes, "validation", 16
    )
    assert summary["dataset"] == "tfds:svhn_cropped"
    assert summary["data_source"].startswith("tensorflow-datasets:")
    assert metadata["input_shape"] == [32, 32, 3]
    # 64 training examples, 16 held out: 48 trained on, 3 batches of 16
    assert (
        json.loads((tfds_run[0] / "data.json").read_text())["train_examples"]
        == 48
    )
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3))
    served = _predictions_match_the_model(tfds_run, images.astype(np.uint8))
    assert served.shape == (5, 10)


def test_an_image_folder_trains_resumes_exports_and_predicts_by_name(
    folder_run, folder, capsys
):
    summary, metadata = _check_resumed_run(
        folder_run, 3, ["cat", "dog", "fox"], "test", 9
    )
    assert summary["dataset"] == f"folder:{folder}"
    assert summary["data_source"] == str(folder)
    files = sorted((folder / "test" / "fox").glob("*.png"))
    images = predict.read_images([str(f) for f in files], (12, 12, 3))
    _predictions_match_the_model(folder_run, images)
    # bnorder-predict names the classes by their folders
    from absl import flags

    fv = flags.FlagValues()
    bnorder_tf.programs.predict.define_flags(fv)
    fv(["bnorder-predict", "--top_k=3"])
    saved = bnorder_tf.programs.predict.FLAGS
    bnorder_tf.programs.predict.FLAGS = fv
    try:
        bnorder_tf.programs.predict.main(
            ["bnorder-predict", str(folder_run[1]), *map(str, files)]
        )
    finally:
        bnorder_tf.programs.predict.FLAGS = saved
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(files)
    for line, path in zip(lines, files, strict=True):
        named, ranked = line.split(": ", 1)
        assert named == str(path)
        assert sorted(p.split()[0] for p in ranked.split(", ")) == [
            "cat",
            "dog",
            "fox",
        ]


def test_a_python_tf_data_pair_trains_resumes_exports_and_predicts(user_run):
    summary, _ = _check_resumed_run(user_run, 4, None, "test", 32)
    assert summary["dataset"] == "user:compass"
    assert summary["data_source"] == "python"
    images, _ = user_data.arrays(6, seed=7)
    _predictions_match_the_model(user_run, images)


def test_the_report_reads_runs_of_every_kind(
    tfds_run, folder_run, user_run, tmp_path
):
    runs = [str(run[0]) for run in (tfds_run, folder_run, user_run)]
    assert bnorder_tf.programs.report.main([*runs, "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    for dataset in ("tfds:svhn_cropped", "user:compass"):
        assert dataset in text
