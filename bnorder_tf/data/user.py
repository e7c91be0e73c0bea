"""Your own `tf.data` datasets as a source of the trainer.

`UserData` holds a training and a test dataset of `(image, label)` and
what is known of them; `user_source` turns it into a `Source`, inferring
what was not given, so that `run_training(config, data=...)` trains on it
as on any built-in dataset: the same shuffling, augmentation, resume,
statistics and export.
"""

import dataclasses

import tensorflow as tf

from bnorder_tf.data.preprocessing import Preprocessing
from bnorder_tf.data.sources import (
    SPLITS,
    USER_PREFIX,
    Source,
    measure_preprocessing,
)
from bnorder_tf.errors import ConfigError, lookup


@dataclasses.dataclass
class UserData:
    """Your own training and test datasets, for `run_training(data=...)`.

    Each dataset yields `(image, label)`: uint8 pixels `[H, W, C]` (0-255,
    as image files and tensorflow-datasets give them) and an integer class
    label, one example at a time or in batches of any size (they are
    unbatched). Don't normalise, shuffle or augment them yourself: the
    trainer measures the per-channel normalisation on `train` once,
    shuffles with `--seed` and the epoch, augments as for the built-in
    datasets, and exports a model that takes the same uint8 images.

    Resume: a resumed run sees the batches an uninterrupted one would if
    each dataset yields the same examples in the same order every time it
    is iterated (no unseeded shuffle or random map of its own). Otherwise
    the model, optimizer and epoch still resume exactly; only the order
    of the remaining batches differs.

    Args:
        train: `tf.data.Dataset` of `(image, label)` to train on.
        test: `tf.data.Dataset` of `(image, label)` to evaluate and
            measure on.
        num_classes: optional int; default: the largest training label
            plus one.
        input_shape: optional `(H, W, C)`; default: from the datasets'
            `element_spec` (give it when that shape is not fully known).
        class_names: optional sequence of str, one per class; they reach
            the export's `metadata.json` and `bnorder-predict`.
        name: str, the run's dataset name is `user:<name>`.

    Example:
    >>> images = tf.zeros((8, 8, 8, 3), tf.uint8)
    >>> labels = tf.range(8) % 2
    >>> ds = tf.data.Dataset.from_tensor_slices((images, labels))
    >>> data = UserData(ds, ds, class_names=["even", "odd"], name="toy")
    >>> source = user_source(data)
    >>> source.name, source.num_classes, source.preprocessing.raw_shape
    ('user:toy', 2, (8, 8, 3))
    """

    train: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int | None = None
    input_shape: tuple | None = None
    class_names: tuple | None = None
    name: str = "user"


def _check_elements(dataset, which):
    """Raises `ConfigError` unless `dataset` yields `(tensor, tensor)`."""
    spec = dataset.element_spec
    if not (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(isinstance(s, tf.TensorSpec) for s in spec)
    ):
        raise ConfigError(
            f"data: the {which} dataset yields {spec}; give a dataset of "
            "(image, label) tensors, e.g. "
            "tf.data.Dataset.from_tensor_slices((images, labels))."
        )


def _examples(dataset, which, input_shape):
    """`dataset` as unbatched `(uint8 image, int64 label)` of `input_shape`.

    Raises:
        ConfigError: elements that are not an image and a label, images
            that are not uint8, or labels that are not integers.
    """
    _check_elements(dataset, which)
    image, label = dataset.element_spec
    if image.dtype != tf.uint8:
        raise ConfigError(
            f"data: the {which} images are {image.dtype.name}; give raw "
            "uint8 pixels (0-255): the trainer normalises them itself "
            "(e.g. tf.image.convert_image_dtype(image, tf.uint8, "
            "saturate=True) for floats in [0, 1])."
        )
    if not label.dtype.is_integer:
        raise ConfigError(
            f"data: the {which} labels are {label.dtype.name}; give integer "
            "class indices (not one-hot vectors)."
        )
    if image.shape.rank == 4 and label.shape.rank == 1:
        dataset = dataset.unbatch()
    elif image.shape.rank != 3 or label.shape.rank != 0:
        raise ConfigError(
            f"data: the {which} dataset yields images of shape "
            f"{image.shape} with labels of shape {label.shape}; give "
            "images [H, W, C] with scalar labels, or batches of them."
        )
    return dataset.map(
        tf.autograph.experimental.do_not_convert(
            lambda x, y: (tf.ensure_shape(x, input_shape), tf.cast(y, tf.int64))
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _input_shape(data):
    image = data.train.element_spec
    shape = image[0].shape if isinstance(image, tuple) else None
    if data.input_shape is not None:
        given = tuple(int(d) for d in data.input_shape)
        if len(given) != 3 or min(given) < 1:
            raise ConfigError(
                f"data: input_shape={data.input_shape}; give (H, W, C)."
            )
        return given
    dims = None if shape is None else shape.as_list()[-3:]
    if shape is None or shape.rank not in (3, 4) or None in dims:
        raise ConfigError(
            f"data: the training images' shape is not fully known ({shape}); "
            "give UserData(..., input_shape=(H, W, C))."
        )
    return tuple(dims)


def _count_and_max_label(examples):
    """`(examples, largest label)` of a dataset, in one pass."""
    count, largest = examples.map(
        lambda x, y: (tf.constant(1, tf.int64), y)
    ).reduce(
        (tf.constant(0, tf.int64), tf.constant(-1, tf.int64)),
        lambda a, b: (a[0] + b[0], tf.maximum(a[1], b[1])),
    )
    return int(count), int(largest)


def user_source(data, preprocessing=None):
    """A `Source` of `UserData`, with what was not given inferred.

    The training set is read once here (to count it, find the number of
    classes and measure the normalisation, unless `preprocessing` is
    given), and the test set once (to count it and check its labels).

    Args:
        data: a `UserData`.
        preprocessing: optional `Preprocessing` to use instead of
            measuring one (a resumed run passes the one it recorded).

    Returns:
        A `Source` named `user:<name>`.

    Raises:
        ConfigError: data the trainer cannot use, saying what to give.

    Example:
    Four 2x2 grayscale images, two black and two white; the number of
    classes and the normalisation are inferred:

    >>> import numpy as np
    >>> images = np.repeat([0, 255, 0, 255], 4).astype("uint8")
    >>> images = images.reshape((4, 2, 2, 1))
    >>> labels = np.array([0, 1, 0, 1])
    >>> ds = tf.data.Dataset.from_tensor_slices((images, labels))
    >>> source = user_source(UserData(ds, ds.batch(2)))
    >>> source.name, source.num_classes, source.load_split("test")[1]
    ('user:user', 2, 4)
    >>> source.preprocessing
    Preprocessing(mean=(0.5,), std=(0.5,), raw_shape=(2, 2, 1), pad_to=None)
    """
    _check_elements(data.train, "training")
    _check_elements(data.test, "test")
    input_shape = _input_shape(data)
    splits = {
        "train": _examples(data.train, "training", input_shape),
        "test": _examples(data.test, "test", input_shape),
    }
    counts = {}
    largest = -1
    for split, examples in splits.items():
        counts[split], split_largest = _count_and_max_label(examples)
        largest = max(largest, split_largest)
        if not counts[split]:
            raise ConfigError(f"data: the {split} dataset is empty.")
    num_classes = data.num_classes or largest + 1
    if largest >= num_classes:
        raise ConfigError(
            f"data: a label is {largest} but num_classes={num_classes}; "
            "labels are class indices from 0 to num_classes - 1."
        )
    class_names = tuple(data.class_names) if data.class_names else None
    if class_names is not None and len(class_names) != num_classes:
        raise ConfigError(
            f"data: {len(class_names)} class_names for {num_classes} "
            "classes; give one name per class."
        )
    if preprocessing is None:
        preprocessing = measure_preprocessing(splits["train"], input_shape)
    elif isinstance(preprocessing, dict):
        preprocessing = Preprocessing.from_config(preprocessing)

    def load_split(split):
        lookup(SPLITS, split, "split")
        return splits[split], counts[split]

    return Source(
        f"{USER_PREFIX}{data.name}",
        int(num_classes),
        class_names,
        preprocessing,
        load_split,
        location="python",
    )


def as_user_data(data):
    """`data` as `UserData`: a `UserData`, or a `(train, test)` pair.

    Raises:
        TypeError: anything else.
    """
    if isinstance(data, UserData):
        return data
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(d, tf.data.Dataset) for d in data)
    ):
        return UserData(*data)
    raise TypeError(
        "data must be a (train, test) pair of tf.data.Dataset or a "
        f"bnorder_tf.data.UserData, got {type(data).__name__}."
    )


__all__ = ["UserData", "as_user_data", "user_source"]
