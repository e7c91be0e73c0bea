"""Versioned SavedModel export for serving and analysis.

`export_savedmodel` writes TensorFlow Serving's layout
(`bnorder_tf.serving.layout`: `<export_dir>/<name>/<version>/` with the
SavedModel and a `metadata.json`),
with two signatures, both taking raw uint8 images `[batch, H, W, C]` as
the dataset provides them (the model's normalisation and padding happen
inside the graph):

- `serving_default` -> `probabilities` `[batch, classes]` (softmax) and
  `classes` `[batch]` (int64 argmax);
- `activations` -> `<tap>_activation` and `<tap>_output` for every tap
  of `bnorder_tf.stats.ModelTaps` (every block of a bnorder_tf model),
  the tensors the statistics engine measures.

The SavedModel is traced functions and variables only: it loads with
`tf.saved_model.load` in a process that never imports bnorder_tf.
"""

import contextlib
import os
import shutil
import socket
import tempfile

import keras
import tensorflow as tf

from bnorder_tf._strict_json import dumps_strict
from bnorder_tf.serving.layout import (
    ACTIVATIONS_SIGNATURE,
    METADATA_FILE,
    SERVING_SIGNATURE,
    TAP_TENSORS,
    versions,
)
from bnorder_tf.stats.taps import ModelTaps
from bnorder_tf.version import __version__


def _archive(model, model_taps, preprocessing):
    raw_shape = tuple(preprocessing.raw_shape)
    if tuple(preprocessing.input_shape) != tuple(model.input_shape[1:]):
        raise ValueError(
            f"The preprocessing makes images of shape "
            f"{tuple(preprocessing.input_shape)} but the model takes "
            f"{tuple(model.input_shape[1:])}: export with the "
            "preprocessing the model was trained with."
        )
    spec = tf.TensorSpec((None,) + raw_shape, tf.uint8, name="images")

    def model_input(images):
        # a signature checks dtypes but not shapes when called
        images = tf.ensure_shape(images, spec.shape)
        return preprocessing.apply(images)

    def serve(images):
        logits = model(model_input(images), training=False)
        logits = tf.cast(logits, tf.float32)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "classes": tf.argmax(logits, axis=-1),
        }

    def activations(images):
        _, tensors = model_taps(model_input(images), training=False)
        return {
            f"{name}_{tap}": tf.cast(tensors[name][tap], tf.float32)
            for name in model_taps.names
            for tap in TAP_TENSORS
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, fn in (
        (SERVING_SIGNATURE, serve),
        (ACTIVATIONS_SIGNATURE, activations),
    ):
        archive.add_endpoint(
            name, tf.function(fn, input_signature=[spec], autograph=False)
        )
    return archive


def export_savedmodel(
    model,
    export_dir,
    name,
    *,
    preprocessing,
    class_names=None,
    version=None,
    metadata=None,
):
    """Exports a trained chain model as `<export_dir>/<name>/<version>/`.

    The version is written to a hidden temporary directory beside its
    final place and renamed into it, so a crash never leaves a partial
    version and a reader polling the directory (TensorFlow Serving) never
    sees one. Temporary directories left by killed exports are removed by
    the next export (`remove_stale_staging`).

    Args:
        model: a model returning logits: a chain of blocks (see
            `bnorder_tf.models.build_model`) or any single-input Keras
            model; the `activations` signature returns its
            `bnorder_tf.stats.ModelTaps`.
        export_dir: str, the directory of all exported models.
        name: str, the model's name (a run name).
        preprocessing: the `bnorder_tf.data.Preprocessing` used in training
            (`LoadedData.preprocessing`).
        class_names: optional sequence of str, one per class.
        version: optional positive int; default: one more than the newest
            version present (1 for the first).
        metadata: optional dict of JSON values added to `metadata.json`
            (the trainer adds its flags and the test accuracy).

    Returns:
        str, the path of the version directory written.

    Raises:
        FileExistsError: `version` is given and already exists.
        ValueError: a bad version, or a preprocessing that does not fit.

    Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from bnorder_tf.data import load
    >>> from bnorder_tf.layers import SwapBlock
    >>> train = load("synthetic", "train", batch_size=32)
    >>> model = keras.Sequential([
    ...     keras.Input(train.input_shape, name="image"),
    ...     SwapBlock(4, activation="tanh", name="conv1"),
    ...     keras.layers.GlobalAveragePooling2D(),
    ...     keras.layers.Dense(train.num_classes, name="logits")])
    >>> export_dir = tempfile.TemporaryDirectory()
    >>> path = export_savedmodel(model, export_dir.name, "vgg_swap",
    ...                          preprocessing=train.preprocessing,
    ...                          class_names=train.class_names)
    >>> os.path.basename(path)
    '1'
    >>> served = tf.saved_model.load(path)
    >>> uint8_batch = np.zeros((2, 32, 32, 3), np.uint8)
    >>> outputs = served.signatures["serving_default"](images=uint8_batch)
    >>> sorted(outputs), tuple(outputs["probabilities"].shape)
    (['classes', 'probabilities'], (2, 10))
    >>> export_dir.cleanup()
    """
    model_path = os.path.join(export_dir, name)
    _check_version(model_path, version)
    model_taps = ModelTaps(model)
    archive = _archive(model, model_taps, preprocessing)
    with _staging(model_path) as staging:
        archive.write_out(staging, verbose=False)
        info = _metadata(
            model, model_taps, name, preprocessing, class_names, metadata
        )
        with open(os.path.join(staging, METADATA_FILE), "w") as f:
            f.write(dumps_strict(info, indent=2))
        return _publish(staging, model_path, version)


def _check_version(model_path, version):
    if version is None:
        return
    if int(version) != version or version < 1:
        raise ValueError(
            f"version must be a positive integer, got {version!r}."
        )
    if os.path.exists(os.path.join(model_path, str(version))):
        raise FileExistsError(
            f"{os.path.join(model_path, str(version))} exists: exported "
            "versions are never overwritten; omit version to write the "
            "next one."
        )


def _metadata(model, model_taps, name, preprocessing, class_names, extra):
    """The contents of `metadata.json`."""
    return {
        "name": name,
        "bnorder_tf_version": __version__,
        "class_names": list(class_names) if class_names else None,
        "num_classes": int(model.output_shape[-1]),
        "input_shape": list(preprocessing.raw_shape),
        "input_dtype": "uint8",
        "model_input_shape": list(model.input_shape[1:]),
        "preprocessing": preprocessing.to_config(),
        "signatures": {
            SERVING_SIGNATURE: ["probabilities", "classes"],
            ACTIVATIONS_SIGNATURE: [
                f"{tap_name}_{tensor}"
                for tap_name in model_taps.names
                for tensor in TAP_TENSORS
            ],
        },
        **(extra or {}),
    }


STAGING_PREFIX = ".tmp-export-"


def _staging_prefix(pid):
    return f"{STAGING_PREFIX}{socket.gethostname()}-{pid}-"


@contextlib.contextmanager
def _staging(model_path):
    """A new hidden staging directory in `model_path`, for one version.

    Creates `model_path` if needed and first removes the staging
    directories killed exports left there (`remove_stale_staging`). The
    directory is removed if the export fails (any exception, interrupts
    too).
    """
    os.makedirs(model_path, exist_ok=True)
    remove_stale_staging(model_path)
    staging = tempfile.mkdtemp(
        prefix=_staging_prefix(os.getpid()), dir=model_path
    )
    try:
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide it from servers
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(model_path):
    """Removes the staging directories that killed exports left behind.

    Those are the hidden staging directories in `model_path` of this
    host's exports whose process is gone (killed before their rename). A
    staging directory of a live export is left alone.

    Args:
        model_path: `<export_dir>/<name>`.

    Returns:
        The list of removed paths.
    """
    removed = []
    prefix = f"{STAGING_PREFIX}{socket.gethostname()}-"
    for entry in os.listdir(model_path):
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(model_path, entry), ignore_errors=True)
            removed.append(os.path.join(model_path, entry))
    return removed


def _publish(staging, model_path, version):
    """Renames the staging directory to its version.

    With no version given, takes the next free one, retrying if another
    writer took it first.
    """
    while True:
        number = version or (max(versions(model_path), default=0) + 1)
        target = os.path.join(model_path, str(number))
        try:
            # os.rename onto an existing non-empty directory fails
            # (atomically) on POSIX, so two writers never share a version
            os.rename(staging, target)
            return target
        except OSError:
            if version is not None or not os.path.exists(target):
                raise


__all__ = ["export_savedmodel", "versions"]
