"""Classifies images with an exported model: the library of `bnorder-predict`.

`resolve_version` picks the newest (or a given) version under
`<export_dir>/<name>`, `read_images` reads PNG or JPEG files of the model's
input size or one `.npy` array of uint8 images `[batch, H, W, C]`,
`predict` feeds them to the `serving_default` signature in batches and
`top_k` ranks the classes. Paths, versions and a `.npy` batch are checked
before TensorFlow is imported, so that their errors answer at once.

Example:
A tiny model exported to a temporary directory stands for a trained one:

>>> import tempfile
>>> import keras
>>> from bnorder_tf.data import Preprocessing
>>> from bnorder_tf.layers import SwapBlock
>>> from bnorder_tf.serving import export_savedmodel
>>> model = keras.Sequential([keras.Input((8, 8, 1), name="image"),
...                           SwapBlock(2, name="conv1"),
...                           keras.layers.Flatten(), keras.layers.Dense(3)])
>>> export_dir = tempfile.TemporaryDirectory()
>>> preprocessing = Preprocessing((0.5,), (0.25,), raw_shape=(8, 8, 1))
>>> _ = export_savedmodel(model, export_dir.name, "tiny",
...                       preprocessing=preprocessing)
>>> version_dir = resolve_version(os.path.join(export_dir.name, "tiny"))
>>> batch_file = os.path.join(export_dir.name, "batch.npy")
>>> np.save(batch_file, np.zeros((4, 8, 8, 1), np.uint8))
>>> probabilities = predict(version_dir, read_images([batch_file], (8, 8, 1)))
>>> probabilities.shape
(4, 3)
>>> top_k(probabilities, 2, class_names=["a", "b", "c"])[0][0][1] in "abc"
True
>>> export_dir.cleanup()
"""

import json
import os

import numpy as np

from bnorder_tf import _tf_start
from bnorder_tf.errors import UserError


class PredictError(UserError):
    """Bad input to the predict command; the message says what to do."""


def read_metadata(version_dir):
    """The version's `metadata.json` as a dict.

    Raises:
        PredictError: missing, empty, not JSON, or without `input_shape`.
    """
    from bnorder_tf.serving.layout import METADATA_FILE

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

    Args:
        version_dir: an export's version directory (`resolve_version`).

    Returns:
        The `serving_default` concrete function: it takes uint8 `images`
        `[batch, H, W, C]` and returns `probabilities` and `classes`.

    Raises:
        PredictError: a missing, truncated or foreign SavedModel.

    Example:
    A tiny model exported to a temporary directory; its logits are zero,
    so each of its three classes has probability 1/3:

    >>> import tempfile
    >>> import keras
    >>> from bnorder_tf.data import Preprocessing
    >>> from bnorder_tf.serving import export_savedmodel
    >>> model = keras.Sequential([
    ...     keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...     keras.layers.Dense(4, activation="tanh"),
    ...     keras.layers.Dense(3, kernel_initializer="zeros")])
    >>> export_dir = tempfile.TemporaryDirectory()
    >>> version_dir = export_savedmodel(
    ...     model, export_dir.name, "tiny",
    ...     preprocessing=Preprocessing((0.5,), (0.25,), (2, 2, 1)))
    >>> serve = load_serving(version_dir)
    >>> outputs = serve(images=np.zeros((2, 2, 2, 1), np.uint8))
    >>> [[round(float(p), 4) for p in row] for row in outputs["probabilities"]]
    [[0.3333, 0.3333, 0.3333], [0.3333, 0.3333, 0.3333]]
    >>> outputs["classes"].numpy().tolist()
    [0, 0]
    >>> export_dir.cleanup()
    """
    _tf_start.import_tensorflow()
    import tensorflow as tf

    from bnorder_tf.serving.layout import SERVING_SIGNATURE

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
    """The version directory to load: `version`, or the newest one.

    Args:
        model_path: `<export_dir>/<name>`.
        version: optional int, the version to load.

    Returns:
        The path `<model_path>/<version>`.

    Raises:
        PredictError: `model_path` is not a directory, holds no version,
            or lacks `version`.

    Example:
    >>> import tempfile
    >>> export_dir = tempfile.TemporaryDirectory()
    >>> model_path = os.path.join(export_dir.name, "vgg_swap")
    >>> for version in ("1", "2", "10"):
    ...     os.makedirs(os.path.join(model_path, version))
    >>> os.path.relpath(resolve_version(model_path), export_dir.name)
    'vgg_swap/10'
    >>> os.path.relpath(resolve_version(model_path, 2), export_dir.name)
    'vgg_swap/2'
    >>> try:
    ...     resolve_version(model_path, 3)
    ... except PredictError as error:
    ...     print(error)
    Version 3 not found under ...vgg_swap; available: 1, 2, 10.
    >>> export_dir.cleanup()
    """
    if not os.path.isdir(model_path):
        raise PredictError(
            f"No exported model at {model_path}: pass "
            "<export_dir>/<name>, e.g. savedmodels/<run_name>."
        )
    from bnorder_tf.serving.layout import versions

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
            raise PredictError(
                f"Cannot read {path} as a .npy array: {e}"
            ) from None
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
    _tf_start.import_tensorflow()
    import tensorflow as tf

    images = []
    for path in paths:
        try:
            data = tf.io.read_file(path)
            image = tf.io.decode_image(
                data, channels=input_shape[-1], expand_animations=False
            ).numpy()
        except tf.errors.NotFoundError:
            raise PredictError(f"{path} does not exist.") from None
        except tf.errors.InvalidArgumentError:
            raise PredictError(
                f"{path} is not a PNG or JPEG image this model can read."
            ) from None
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
    _tf_start.import_tensorflow()
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
