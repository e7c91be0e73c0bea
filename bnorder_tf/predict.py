"""Classifies images with an exported model.

    python -m bnorder_tf.predict savedmodels/<name> cat.png dog.jpg
    python -m bnorder_tf.predict savedmodels/<name> batch.npy --json

Loads the newest version under the directory (or `--version`), feeds the
images to its `serving_default` signature in batches and prints the top-k
classes with their probabilities, or one JSON object with `--json`.
Images are PNG or JPEG files of the model's input size, or a single `.npy`
array of uint8 images `[batch, H, W, C]`.
"""

import json
import os
import sys

import numpy as np
from absl import app, flags

from bnorder_tf import cli
from bnorder_tf.cli import fail_on_user_error
from bnorder_tf.errors import UserError

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
    """The program's flags (defined by `run`, never at import)."""
    flags.DEFINE_integer(
        "version",
        None,
        "Version to load (default: newest).",
        lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "top_k",
        3,
        "Classes printed per image.",
        lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "json",
        False,
        "Print one JSON object instead of text.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "batch_size",
        256,
        "Images per call of the model.",
        lower_bound=1,
        flag_values=flag_values,
    )


class PredictError(UserError):
    """Bad input to the predict command; the message says what to do."""


def read_metadata(version_dir):
    """The version's `metadata.json` as a dict.

    Raises:
        PredictError: missing, empty, not JSON, or without `input_shape`.
    """
    from bnorder_tf.export_layout import METADATA_FILE

    path = os.path.join(version_dir, METADATA_FILE)
    try:
        with open(path) as f:
            metadata = json.load(f)
    except FileNotFoundError:
        raise PredictError(
            f"{path} is missing: {version_dir} is not a bnorder_tf export; "
            "export it again."
        ) from None
    except (OSError, ValueError) as e:
        raise PredictError(
            f"{path} is not valid JSON ({e}); export the model again."
        ) from None
    if not isinstance(metadata, dict) or not isinstance(
        metadata.get("input_shape"), list
    ):
        raise PredictError(f"{path} lacks input_shape; export the model again.")
    return metadata


def load_serving(version_dir):
    """The SavedModel's serving signature.

    Raises:
        PredictError: a missing, truncated or foreign SavedModel.
    """
    cli.import_tensorflow()
    import tensorflow as tf

    from bnorder_tf.export_layout import SERVING_SIGNATURE

    try:
        loaded = tf.saved_model.load(version_dir)
    except (OSError, ValueError, tf.errors.OpError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:150]
        raise PredictError(
            f"{version_dir} holds no readable SavedModel "
            f"({type(e).__name__}: {first}); export the model again."
        ) from None
    if SERVING_SIGNATURE not in loaded.signatures:
        raise PredictError(
            f"{version_dir} has no {SERVING_SIGNATURE} signature; export it "
            "with bnorder_tf."
        )
    return loaded.signatures[SERVING_SIGNATURE]


def resolve_version(model_path, version=None):
    """The version directory to load: `version`, or the newest one."""
    if not os.path.isdir(model_path):
        raise PredictError(
            f"No exported model at {model_path}: pass "
            "<export_dir>/<name>, e.g. savedmodels/<run_name>."
        )
    from bnorder_tf.export_layout import versions

    available = versions(model_path)
    if not available:
        raise PredictError(
            f"{model_path} holds no numbered version directory; export a "
            "model there first (trainers/train.py does at the end)."
        )
    if version is None:
        version = available[-1]
    elif version not in available:
        raise PredictError(
            f"Version {version} not found under {model_path}; available: "
            f"{', '.join(map(str, available))}."
        )
    return os.path.join(model_path, str(version))


def read_images(paths, input_shape):
    """Reads PNG/JPEG files, or one `.npy` batch, into uint8 `[N, H, W, C]`.

    Raises:
        PredictError: a missing or undecodable file, or images whose
            shape or dtype the model does not take.
    """
    input_shape = tuple(input_shape)
    if len(paths) == 1 and paths[0].endswith(".npy"):
        path = paths[0]
        try:
            batch = np.load(path, allow_pickle=False)
        except EOFError:  # NumPy's word for a 0-byte or cut header
            raise PredictError(
                f"Cannot read {path} as a .npy array: the file is empty or "
                "truncated; save the batch again with numpy.save."
            ) from None
        except (OSError, ValueError) as e:
            raise PredictError(f"Cannot read {path} as a .npy array: {e}")
        if batch.dtype != np.uint8:
            raise PredictError(
                f"{path} holds {batch.dtype} values; the model takes uint8 "
                "pixels (0-255) as the dataset provides them."
            )
        if batch.ndim != 4 or batch.shape[1:] != input_shape or not len(batch):
            raise PredictError(
                f"{path} has shape {batch.shape}; the model takes "
                f"[batch, {', '.join(map(str, input_shape))}]."
            )
        return batch
    for path in paths:
        if path.endswith(".npy"):
            raise PredictError(
                f"{path}: give a .npy batch alone, not mixed with other files."
            )
    cli.import_tensorflow()
    import tensorflow as tf

    images = []
    for path in paths:
        try:
            data = tf.io.read_file(path)
            image = tf.io.decode_image(
                data, channels=input_shape[-1], expand_animations=False
            ).numpy()
        except tf.errors.NotFoundError:
            raise PredictError(f"{path} does not exist.")
        except tf.errors.InvalidArgumentError:
            raise PredictError(
                f"{path} is not a PNG or JPEG image this model can read."
            )
        if image.shape != input_shape:
            raise PredictError(
                f"{path} is {image.shape[1]}x{image.shape[0]} pixels; the "
                f"model takes {input_shape[1]}x{input_shape[0]} "
                f"({input_shape[2]} channel(s))."
            )
        images.append(image.astype(np.uint8))
    return np.stack(images)


def predict(version_dir, images, batch_size=256, progress=False):
    """Probabilities `[N, classes]` from the SavedModel's serving signature.

    Raises:
        PredictError: the directory holds no readable SavedModel.
    """
    cli.import_tensorflow()
    import keras
    import tensorflow as tf

    serve = load_serving(version_dir)
    bar = keras.utils.Progbar(len(images)) if progress else None
    parts = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        parts.append(serve(images=tf.constant(chunk))["probabilities"].numpy())
        if bar:
            bar.add(len(chunk))
    return np.concatenate(parts)


def top_k(probabilities, k, class_names=None):
    """Per image, the `k` most probable `(class index, name, probability)`."""
    results = []
    for row in probabilities:
        order = np.argsort(-row, kind="stable")[:k]
        results.append(
            [
                (
                    int(i),
                    class_names[i] if class_names else str(i),
                    float(row[i]),
                )
                for i in order
            ]
        )
    return results


def main(argv):
    if len(argv) < 3:
        raise app.UsageError(
            "usage: python -m bnorder_tf.predict <export_dir>/<name> "
            "IMAGE... [--version=N] [--top_k=K] [--json]"
        )
    model_path, paths = argv[1], argv[2:]
    # TensorFlow (`cli.import_tensorflow`, which hides its start-up lines)
    # only once the paths, the version and a .npy batch are checked, so
    # that their errors answer at once
    try:
        version_dir = resolve_version(model_path, FLAGS.version)
        metadata = read_metadata(version_dir)
        images = read_images(paths, metadata["input_shape"])
        probabilities = predict(
            version_dir,
            images,
            FLAGS.batch_size,
            progress=len(images) > FLAGS.batch_size and not FLAGS.json,
        )
    except UserError as e:
        fail_on_user_error("predict", e)
    names = metadata.get("class_names")
    ranked = top_k(probabilities, FLAGS.top_k, names)
    labels = (
        paths
        if len(paths) == len(images)
        else [f"{paths[0]}[{i}]" for i in range(len(images))]
    )
    if FLAGS.json:
        print(
            json.dumps(
                {
                    "model": version_dir,
                    "predictions": [
                        {
                            "input": label,
                            "top_k": [
                                {"class": i, "name": n, "probability": p}
                                for i, n, p in row
                            ],
                        }
                        for label, row in zip(labels, ranked)
                    ],
                }
            )
        )
    else:
        for label, row in zip(labels, ranked):
            best = ", ".join(f"{n} {p:.3f}" for _, n, p in row)
            print(f"{label}: {best}")
    return 0


def run():
    define_flags()
    cli.hide_tensorflow_start_up_unless_asked()
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
