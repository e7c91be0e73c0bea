"""SavedModel export, its signatures, and the predict command."""

import json
import os
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bnorder_tf.data import Preprocessing
from bnorder_tf.models import build_model
from bnorder_tf.serving.export import export_savedmodel, versions
from bnorder_tf.stats import tap_outputs
from tests.helpers import error_lines, run_program

MEAN, STD = 0.3, 0.25
PREPROCESSING = Preprocessing(
    mean=(MEAN,), std=(STD,), raw_shape=(28, 28, 1), pad_to=32
)
CLASSES = tuple(f"item{i}" for i in range(5))


def numpy_preprocess(images):
    """Independent preprocessing: [0, 1], zero-pad 28 -> 32, normalise."""
    x = images.astype("float64") / 255.0
    x = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
    return ((x - MEAN) / STD).astype("float32")


def softmax(logits):
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(2)
    model = build_model(
        "vgg16_11",
        order="convention",
        activation="tanh",
        num_classes=5,
        input_shape=(32, 32, 1),
        width=0.0625,
    )
    # move BN's moving statistics away from (0, 1), as training would
    x = np.random.default_rng(0).normal(1.0, 2.0, (64, 32, 32, 1))
    for _ in range(3):
        model(x.astype("float32"), training=True)
    export_dir = tmp_path_factory.mktemp("savedmodels")
    path = export_savedmodel(
        model,
        str(export_dir),
        "tiny",
        preprocessing=PREPROCESSING,
        class_names=CLASSES,
        metadata={"test_accuracy": 0.5},
    )
    return model, export_dir, path


@pytest.fixture
def images():
    return np.random.default_rng(5).integers(
        0, 256, (6, 28, 28, 1), dtype=np.uint8
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


# --- the predict command ------------------------------------------------------


def test_predict_prints_top_k_of_png_files(exported, images, tmp_path):
    model, export_dir, _ = exported
    paths = []
    for i, image in enumerate(images[:3]):
        paths.append(str(tmp_path / f"image{i}.png"))
        Image.fromarray(image[..., 0]).save(paths[-1])
    out = run_program(
        [
            "-m",
            "bnorder_tf.predict",
            str(export_dir / "tiny"),
            *paths,
            "--json",
            "--top_k=2",
        ]
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    expected = softmax(model.predict(numpy_preprocess(images[:3]), verbose=0))
    assert result["model"].endswith(os.path.join("tiny", "1"))
    for row, probabilities in zip(result["predictions"], expected, strict=True):
        best = np.argsort(-probabilities)[:2]
        assert [p["class"] for p in row["top_k"]] == best.tolist()
        assert [p["name"] for p in row["top_k"]] == [CLASSES[i] for i in best]
        assert [p["probability"] for p in row["top_k"]] == pytest.approx(
            probabilities[best], rel=1e-5
        )


def test_predict_reads_a_npy_batch_as_text(exported, images, tmp_path):
    model, export_dir, _ = exported
    np.save(tmp_path / "batch.npy", images)
    out = run_program(
        [
            "-m",
            "bnorder_tf.predict",
            str(export_dir / "tiny"),
            str(tmp_path / "batch.npy"),
            "--top_k=1",
        ]
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    expected = softmax(model.predict(numpy_preprocess(images), verbose=0))
    assert len(lines) == len(images)
    for line, probabilities in zip(lines, expected, strict=True):
        assert line.split(": ")[1].split()[0] == CLASSES[probabilities.argmax()]


@pytest.mark.parametrize(
    "case, message, needs_tensorflow",
    [
        ("not_an_image", "is not a PNG or JPEG image", True),
        ("wrong_size", "the model takes 28x28", True),
        # found before TensorFlow is imported: answered at once
        ("wrong_dtype", "holds float32 values", False),
        ("missing_model", "No exported model", False),
        ("missing_version", "Version 9 not found", False),
        ("empty_npy", "empty or truncated", False),
        ("truncated_npy", "as a .npy array", False),
    ],
)
def test_predict_bad_input_is_one_clear_line(
    exported, tmp_path, case, message, needs_tensorflow
):
    _, export_dir, _ = exported
    model_path, extra = str(export_dir / "tiny"), []
    if case == "not_an_image":
        path = tmp_path / "notes.png"
        path.write_text("hello")
    elif case == "wrong_size":
        path = tmp_path / "big.png"
        Image.fromarray(np.zeros((30, 30), np.uint8)).save(path)
    elif case == "wrong_dtype":
        path = tmp_path / "floats.npy"
        np.save(path, np.zeros((2, 28, 28, 1), np.float32))
    elif case == "empty_npy":
        path = tmp_path / "empty.npy"
        path.write_bytes(b"")  # a 0-byte file: NumPy raises EOFError
    elif case == "truncated_npy":
        path = tmp_path / "cut.npy"
        np.save(path, np.zeros((2, 28, 28, 1), np.uint8))
        path.write_bytes(path.read_bytes()[:100])
    else:
        path = tmp_path / "ok.png"
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(path)
        if case == "missing_model":
            model_path = str(export_dir / "nothing_here")
        else:
            extra = ["--version=9"]
    out = run_program(
        ["-X", "importtime", "-m", "bnorder_tf.predict", model_path]
        + [str(path), *extra]
    )
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and message in lines[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()}
    assert ("tensorflow" in imported) == needs_tensorflow


def _copy_version(path, tmp_path):
    import shutil

    copy = tmp_path / "model" / "1"
    shutil.copytree(path, copy)
    return copy


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncated_pb", "holds no readable SavedModel"),
        ("missing_metadata", "metadata.json is missing"),
        ("empty_metadata", "is not valid JSON"),
        ("metadata_without_shape", "lacks input_shape"),
    ],
)
def test_damaged_exports_are_named_errors(exported, tmp_path, damage, message):
    from bnorder_tf.serving import predict

    version = _copy_version(exported[2], tmp_path)
    if damage == "truncated_pb":
        pb = version / "saved_model.pb"
        pb.write_bytes(pb.read_bytes()[:200])
    elif damage == "missing_metadata":
        (version / "metadata.json").unlink()
    elif damage == "empty_metadata":
        (version / "metadata.json").write_text("")
    else:
        (version / "metadata.json").write_text("{}")
    with pytest.raises(predict.PredictError, match=message):
        predict.read_metadata(str(version))
        predict.load_serving(str(version))


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((0, 28, 28, 1), np.uint8), "has shape"),
        (np.zeros((2, 28, 28), np.uint8), "has shape"),
    ],
)
def test_empty_or_misshapen_npy_is_a_named_error(tmp_path, array, message):
    from bnorder_tf.serving import predict

    path = tmp_path / "batch.npy"
    np.save(path, array)
    with pytest.raises(predict.PredictError, match=message):
        predict.read_images([str(path)], (28, 28, 1))


def test_directory_without_versions_is_a_named_error(tmp_path):
    from bnorder_tf.serving import predict

    (tmp_path / "model").mkdir()
    with pytest.raises(predict.PredictError, match="no numbered version"):
        predict.resolve_version(str(tmp_path / "model"))


def test_truncated_savedmodel_is_one_line_from_the_program(exported, tmp_path):
    version = _copy_version(exported[2], tmp_path)
    pb = version / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:200])
    image = tmp_path / "ok.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    out = run_program(
        ["-m", "bnorder_tf.predict", str(version.parent), str(image)]
    )
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and "no readable SavedModel" in lines[0], out.stderr[
        -2000:
    ]


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
