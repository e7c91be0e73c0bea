"""Predicting with an exported model: the library and the program."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT, error_lines, run_program
from tests.serving.reference import (
    CLASSES,
    numpy_preprocess,
    softmax,
)

#: The program as a script: it runs warm (`tests/warm.py`); the tests
#: that watch its imports run `python -m bnorder_tf.predict` fresh.
PREDICT = os.path.join(ROOT, "bnorder_tf", "predict.py")


def test_predict_prints_top_k_of_png_files(exported, images, tmp_path):
    model, export_dir, _ = exported
    paths = []
    for i, image in enumerate(images[:3]):
        paths.append(str(tmp_path / f"image{i}.png"))
        Image.fromarray(image[..., 0]).save(paths[-1])
    out = run_program(
        [
            PREDICT,
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
            PREDICT,
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
    # an error found before TensorFlow is imported: watched in a fresh
    # interpreter that lists its imports
    program = (
        [PREDICT]
        if needs_tensorflow
        else ["-X", "importtime", "-m", "bnorder_tf.predict"]
    )
    out = run_program([*program, model_path, str(path), *extra])
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and message in lines[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    if not needs_tensorflow:
        imported = {
            line.split("|")[-1].strip() for line in out.stderr.splitlines()
        }
        assert "tensorflow" not in imported


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
    out = run_program([PREDICT, str(version.parent), str(image)])
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and "no readable SavedModel" in lines[0], out.stderr[
        -2000:
    ]
