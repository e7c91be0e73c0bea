"""SavedModel export: its signatures, metadata and versions."""

import json
import os
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from bnorder_tf.data import Preprocessing
from bnorder_tf.serving.export import export_savedmodel, versions
from bnorder_tf.stats import tap_outputs
from tests.helpers import run_program
from tests.serving.reference import (
    CLASSES,
    MEAN,
    PREPROCESSING,
    numpy_preprocess,
    softmax,
)


def test_loads_without_bnorder_tf_and_predicts_like_the_model(
    exported, images, tmp_path
):
    model, _, path = exported
    np.save(tmp_path / "images.npy", images)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        served = tf.saved_model.load({path!r})
        out = served.signatures["serving_default"](
            images=tf.constant(np.load({str(tmp_path / "images.npy")!r})))
        assert not any(m.startswith("bnorder_tf") for m in sys.modules)
        np.save({str(tmp_path / "probs.npy")!r}, out["probabilities"].numpy())
        np.save({str(tmp_path / "classes.npy")!r}, out["classes"].numpy())
    """)
    out = run_program(["-c", script], PYTHONPATH="")
    assert out.returncode == 0, out.stderr[-3000:]
    expected = softmax(model.predict(numpy_preprocess(images), verbose=0))
    probabilities = np.load(tmp_path / "probs.npy")
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        np.load(tmp_path / "classes.npy"), expected.argmax(-1)
    )


def test_activations_signature_gives_every_block_tap(exported, images):
    model, _, path = exported
    served = tf.saved_model.load(path).signatures["activations"]
    out = served(images=tf.constant(images))
    taps = tap_outputs(model, numpy_preprocess(images))
    assert sorted(out) == sorted(
        f"{name}_{tap}" for name in taps for tap in ("activation", "output")
    )
    for name, block_taps in taps.items():
        for tap, value in block_taps.items():
            np.testing.assert_allclose(
                out[f"{name}_{tap}"].numpy(),
                np.asarray(value),
                rtol=1e-5,
                atol=1e-5,
            )


def test_metadata_describes_the_model(exported):
    _, _, path = exported
    with open(os.path.join(path, "metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["class_names"] == list(CLASSES)
    assert metadata["input_shape"] == [28, 28, 1]
    assert metadata["input_dtype"] == "uint8"
    assert metadata["preprocessing"]["pad_to"] == 32
    assert metadata["preprocessing"]["mean"] == [MEAN]
    assert metadata["test_accuracy"] == 0.5


def test_signature_rejects_wrong_shape_and_dtype(exported):
    _, _, path = exported
    serve = tf.saved_model.load(path).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected shape"):
        serve(images=tf.zeros((2, 32, 32, 1), tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8"):
        serve(images=tf.zeros((2, 28, 28, 1), tf.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected shape"):
        serve(images=tf.zeros((28, 28, 1), tf.uint8))


def test_versions_count_up_and_are_never_overwritten(exported, tmp_path):
    model = exported[0]
    args = dict(preprocessing=PREPROCESSING)
    first = export_savedmodel(model, str(tmp_path), "m", **args)
    second = export_savedmodel(model, str(tmp_path), "m", **args)
    assert [os.path.basename(first), os.path.basename(second)] == ["1", "2"]
    with pytest.raises(FileExistsError, match="never overwritten"):
        export_savedmodel(model, str(tmp_path), "m", version=2, **args)
    seventh = export_savedmodel(model, str(tmp_path), "m", version=7, **args)
    assert os.path.basename(seventh) == "7"
    assert versions(str(tmp_path / "m")) == [1, 2, 7]
    # nothing else is left beside the versions: no staging directories
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2", "7"]


def test_a_failed_export_leaves_no_partial_version(exported, tmp_path):
    model = exported[0]
    wrong = Preprocessing(mean=(0.0,), std=(1.0,), raw_shape=(20, 20, 1))
    with pytest.raises(ValueError, match="preprocessing makes images"):
        export_savedmodel(model, str(tmp_path), "m", preprocessing=wrong)
    assert not (tmp_path / "m").exists() or os.listdir(tmp_path / "m") == []


def test_stale_staging_of_killed_exports_is_removed(exported, tmp_path):
    import subprocess
    import sys

    from bnorder_tf.serving.export import _staging_prefix

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    model_path = tmp_path / "savedmodels" / "tiny"
    model_path.mkdir(parents=True)
    stale = model_path / (_staging_prefix(dead.pid) + "abc")
    live = model_path / (_staging_prefix(os.getpid()) + "def")
    for directory in (stale, live):
        directory.mkdir()
        (directory / "saved_model.pb").write_bytes(b"half")
    model = exported[0]
    path = export_savedmodel(
        model,
        str(tmp_path / "savedmodels"),
        "tiny",
        preprocessing=PREPROCESSING,
    )
    assert path.endswith("1")
    assert not stale.exists()  # its writer is gone
    assert live.exists()  # a live export (this process) is left alone
