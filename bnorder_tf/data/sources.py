"""Where images come from: tensorflow-datasets, local files, synthetic.

Each source gives raw uint8 images with integer labels for a split
(`train` or `test`), and describes itself: number of classes, class
names, raw shape and the normalisation the models expect.
"""

import dataclasses
import os
import socket
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from bnorder_tf import choices
from bnorder_tf.data.folder import (
    FOLDER_PREFIX,
    FolderDatasetError,
    list_folder,
)
from bnorder_tf.data.idx import MalformedFileError, read_idx
from bnorder_tf.data.preprocessing import Preprocessing
from bnorder_tf.errors import ConfigError, UserError, lookup

#: Where Debian's `dataset-fashion-mnist` package installs its files.
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

SPLITS = ("train", "test")

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class DatasetNotAvailableError(UserError, FileNotFoundError):
    """The dataset is not on this machine and cannot be fetched now."""


@dataclasses.dataclass
class Source:
    """A dataset's raw splits and its description.

    Attributes:
        name: the dataset's name.
        num_classes: int.
        class_names: tuple of str, or `None`.
        preprocessing: the `Preprocessing` its models expect.
        load_split: function `split -> (dataset of (uint8 image, label),
            number of examples)`.
        in_memory: bool, whether the splits are NumPy arrays already in
            memory (then the pipeline does not cache them again).
        location: where the data comes from: a directory, or
            `tensorflow-datasets:<directory>`.
    """

    name: str
    num_classes: int
    class_names: tuple | None
    preprocessing: Preprocessing
    load_split: Callable[[str], tuple[tf.data.Dataset, int]]
    in_memory: bool = False
    location: str | None = None


def _in_memory(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels.astype("int64")))


# --- synthetic ------------------------------------------------------------


def synthetic(
    num_classes=10,
    image_size=32,
    channels=3,
    train_examples=512,
    test_examples=256,
    seed=0,
):
    """A small learnable dataset for tests and smoke runs.

    Each class is a fixed random pattern; images are that pattern plus
    noise, so a model can learn it in a few steps.
    """
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(
        40, 215, (num_classes, image_size, image_size, channels)
    )

    def load_split(split):
        lookup(SPLITS, split, "split")
        n = train_examples if split == "train" else test_examples
        split_rng = np.random.default_rng([seed, SPLITS.index(split)])
        labels = split_rng.integers(0, num_classes, n)
        noise = split_rng.normal(0, 40, (n, image_size, image_size, channels))
        images = np.clip(patterns[labels] + noise, 0, 255).astype("uint8")
        return _in_memory(images, labels), n

    return Source(
        name="synthetic",
        num_classes=num_classes,
        class_names=tuple(f"class_{i}" for i in range(num_classes)),
        preprocessing=Preprocessing(
            mean=(0.5,) * channels,
            std=(0.25,) * channels,
            raw_shape=(image_size, image_size, channels),
        ),
        load_split=load_split,
        in_memory=True,
    )


# --- Fashion-MNIST from IDX files -------------------------------------------

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def fashion_mnist(data_dir=None):
    """Fashion-MNIST, 28x28 grayscale padded to 32x32, from local IDX files.

    With `data_dir`, the IDX files must be in `data_dir` (or
    `data_dir/fashion-mnist`): there is no fallback. Without it, looks in
    Debian's `/usr/share/datasets/fashion-mnist`, then falls back to
    tensorflow-datasets.

    Args:
        data_dir: optional directory holding the IDX files.

    Returns:
        A `Source`.

    Raises:
        DatasetNotAvailableError: `data_dir` lacks the files, or (without
            `data_dir`) no copy is on this machine and none can be fetched.

    Example:
    The files must be on the machine (Debian's `dataset-fashion-mnist`
    package, or tensorflow-datasets' prepared copy), so the example is not
    run as a test:

    >>> source = fashion_mnist()  # doctest: +SKIP
    >>> source.num_classes, source.preprocessing.input_shape  # doctest: +SKIP
    (10, (32, 32, 1))
    """
    preprocessing = Preprocessing(
        mean=(0.2860,), std=(0.3530,), raw_shape=(28, 28, 1), pad_to=32
    )
    directory = _fashion_mnist_directory(data_dir)
    if directory is None:
        return _tfds_source(
            "fashion_mnist",
            data_dir,
            10,
            FASHION_MNIST_CLASSES,
            preprocessing,
            hint="or install Debian's dataset-fashion-mnist package "
            f"(files in {DEBIAN_FASHION_MNIST}), or pass --data_dir=DIR "
            "holding the IDX files (train-images-idx3-ubyte.gz, ...)",
        )

    def load_split(split):
        lookup(SPLITS, split, "split")
        images, labels = _read_fashion_mnist(directory, split)
        return _in_memory(images[..., None], labels), len(images)

    return Source(
        "fashion_mnist",
        10,
        FASHION_MNIST_CLASSES,
        preprocessing,
        load_split,
        in_memory=True,
        location=os.path.abspath(directory),
    )


def _fashion_mnist_directory(data_dir):
    """The directory holding the IDX files, or `None`.

    In `data_dir` when given (an error if they are not there), else
    Debian's, else `None`.
    """
    if data_dir:
        _check_data_dir(data_dir)
        candidates = [data_dir, os.path.join(data_dir, "fashion-mnist")]
    else:
        candidates = [DEBIAN_FASHION_MNIST]
    directory = next(
        (d for d in candidates if _find_idx(d, _IDX_FILES["test"][0])), None
    )
    if directory is None and data_dir:
        raise DatasetNotAvailableError(
            f"fashion_mnist: --data_dir={data_dir} holds no Fashion-MNIST IDX "
            "files (t10k-images-idx3-ubyte.gz, ...): pass the directory "
            "that holds them, or leave --data_dir out to use Debian's "
            "package or tensorflow-datasets."
        )
    return directory


def _read_fashion_mnist(directory, split):
    """`(images (N, 28, 28) uint8, labels (N,))` of a split, checked."""
    image_stem, label_stem = _IDX_FILES[split]
    paths = [_find_idx(directory, s) for s in (image_stem, label_stem)]
    if None in paths:
        raise DatasetNotAvailableError(
            f"fashion_mnist: {directory} lacks {image_stem}(.gz) or "
            f"{label_stem}(.gz)."
        )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MalformedFileError(
            f"{paths[0]}: expected 28x28 images, got shape {images.shape}."
        )
    if len(images) != len(labels):
        raise MalformedFileError(
            f"{paths[0]} has {len(images)} images but {paths[1]} has "
            f"{len(labels)} labels."
        )
    return images, labels


def _check_data_dir(data_dir):
    if not os.path.isdir(data_dir):
        raise DatasetNotAvailableError(
            f"--data_dir={data_dir} is not a directory: pass the directory "
            "holding the dataset, or leave --data_dir out."
        )


# --- tensorflow-datasets -----------------------------------------------------


def _online(host="storage.googleapis.com", timeout=3.0):
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _prepare(builder, name, data_dir, hint=""):
    """Downloads and prepares a tfds dataset that is not prepared yet.

    Raises:
        DatasetNotAvailableError: it is not prepared and this machine is
            offline.
    """
    if builder.is_prepared():
        return
    if not _online():
        where = data_dir or "~/tensorflow_datasets"
        raise DatasetNotAvailableError(
            f"{name} is not prepared under {where} and this machine is "
            f"offline: run `tfds build {name}` on a machine with "
            "internet and copy the folder here, then pass "
            f"--data_dir=DIR{'; ' + hint if hint else ''}."
        )
    builder.download_and_prepare()


def _tfds_source(
    name,
    data_dir,
    num_classes,
    class_names,
    preprocessing,
    hint="",
    split_names=None,
):
    import tensorflow_datasets as tfds

    split_names = split_names or {"train": "train", "test": "test"}
    if data_dir:
        _check_data_dir(data_dir)
    builder = tfds.builder(name, data_dir=data_dir)
    _prepare(builder, name, data_dir, hint)
    if class_names is None:
        names = builder.info.features["label"].names
        class_names = tuple(names) if names else None

    def load_split(split):
        lookup(SPLITS, split, "split")
        tfds_split = split_names[split]
        ds = builder.as_dataset(split=tfds_split, as_supervised=True)
        return ds, builder.info.splits[tfds_split].num_examples

    return Source(
        name,
        num_classes,
        class_names,
        preprocessing,
        load_split,
        location=f"tensorflow-datasets:{builder.data_dir}",
    )


def cifar(name, data_dir=None):
    """CIFAR-10 or CIFAR-100 through tensorflow-datasets."""
    if name == "cifar10":
        mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
        return _tfds_source(
            name,
            data_dir,
            10,
            CIFAR10_CLASSES,
            Preprocessing(mean, std, (32, 32, 3)),
        )
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    return _tfds_source(
        name, data_dir, 100, None, Preprocessing(mean, std, (32, 32, 3))
    )


def imagenet(name, data_dir=None):
    """ImageNet through tensorflow-datasets.

    `imagenet2012` (images resized to 224x224 by the pipeline) or
    `imagenet_resized/32x32` / `64x64`.
    """
    if name == "imagenet2012":
        size = 224
        hint = (
            "imagenet2012 needs the manual download of ILSVRC2012 "
            "tarballs into DIR/downloads/manual"
        )
    else:
        size = int(name.split("/")[1].split("x")[0])
        hint = ""
    return _tfds_source(
        name,
        data_dir,
        1000,
        None,
        Preprocessing(IMAGENET_MEAN, IMAGENET_STD, (size, size, 3)),
        hint=hint,
        split_names={"train": "train", "test": "validation"},
    )


# --- Tiny ImageNet from its extracted folder ----------------------------------


def tiny_imagenet(data_dir):
    """Tiny ImageNet (200 classes, 64x64) from its extracted folder.

    Expects `data_dir` (or `data_dir/tiny-imagenet-200`) to hold
    `wnids.txt`, `train/<wnid>/images/*.JPEG`, `val/images/*.JPEG` and
    `val/val_annotations.txt`; the val split serves as `test`.

    Args:
        data_dir: the extracted folder, or the folder holding it.

    Returns:
        A `Source` whose splits decode the JPEG files lazily.

    Raises:
        DatasetNotAvailableError: no `wnids.txt`, or a split has no images.
        MalformedFileError: `val_annotations.txt` has a bad line.

    Example:
    The folder must be on the machine (Tiny ImageNet is a download), so
    the example is not run as a test:

    >>> source = tiny_imagenet("/data/tiny-imagenet-200")  # doctest: +SKIP
    >>> source.num_classes  # doctest: +SKIP
    200
    """
    root = _tiny_imagenet_root(data_dir)
    with open(os.path.join(root, "wnids.txt")) as f:
        wnids = [line.strip() for line in f if line.strip()]
    class_of = {wnid: i for i, wnid in enumerate(wnids)}

    def load_split(split):
        lookup(SPLITS, split, "split")
        if split == "train":
            files, labels = _tiny_imagenet_train(root, wnids, class_of)
        else:
            files, labels = _tiny_imagenet_val(root, class_of)
        if not files:
            raise DatasetNotAvailableError(
                f"tiny_imagenet: no {split} images under {root}."
            )
        ds = tf.data.Dataset.from_tensor_slices(
            (files, np.asarray(labels, "int64"))
        )
        ds = ds.map(_decode_64x64_rgb, num_parallel_calls=tf.data.AUTOTUNE)
        return ds, len(files)

    return Source(
        "tiny_imagenet",
        len(wnids),
        tuple(wnids),
        Preprocessing(IMAGENET_MEAN, IMAGENET_STD, (64, 64, 3)),
        load_split,
        location=os.path.abspath(root),
    )


def _tiny_imagenet_root(data_dir):
    """`data_dir` or `data_dir/tiny-imagenet-200`, whichever has `wnids.txt`.

    The latter when both do.
    """
    candidates = [data_dir, os.path.join(data_dir, "tiny-imagenet-200")]
    found = [
        c
        for c in (candidates if data_dir else [])
        if os.path.exists(os.path.join(c, "wnids.txt"))
    ]
    if not found:
        raise DatasetNotAvailableError(
            f"tiny_imagenet: no wnids.txt under {data_dir!r}: download "
            "tiny-imagenet-200.zip, extract it and pass "
            "--data_dir=DIR/tiny-imagenet-200."
        )
    return found[-1]


def _tiny_imagenet_train(root, wnids, class_of):
    """`(files, labels)` of `train/<wnid>/images/*`, in a fixed order."""
    files, labels = [], []
    for wnid in wnids:
        folder = os.path.join(root, "train", wnid, "images")
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        files += [os.path.join(folder, n) for n in names]
        labels += [class_of[wnid]] * len(names)
    return files, labels


def _tiny_imagenet_val(root, class_of):
    """`(files, labels)` of the validation images.

    The files are `val/images/*`, labelled by `val/val_annotations.txt`.
    """
    annotations = os.path.join(root, "val", "val_annotations.txt")
    if not os.path.exists(annotations):
        raise DatasetNotAvailableError(
            f"tiny_imagenet: {annotations} is missing."
        )
    files, labels = [], []
    with open(annotations) as f:
        for line in f:
            fields = line.split("\t")
            if len(fields) < 2 or fields[1] not in class_of:
                raise MalformedFileError(
                    f"{annotations}: bad line {line.strip()!r} (expected "
                    "'<file>\\t<wnid>\\t...' with a wnid of wnids.txt)."
                )
            files.append(os.path.join(root, "val", "images", fields[0]))
            labels.append(class_of[fields[1]])
    return files, labels


def _decode_64x64_rgb(path, label):
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=3, expand_animations=False
    )
    return tf.ensure_shape(image, [64, 64, 3]), label


# --- any dataset: normalisation measured on its training split ---------------

#: Examples per batch of the pass that measures the normalisation.
_MEASURE_BATCH = 256


def measure_preprocessing(raw_train, raw_shape):
    """The `Preprocessing` of a dataset, measured on its training split.

    One pass over the split: the mean and standard deviation of each
    channel of the [0, 1] pixels, over every pixel of every image (as the
    built-in datasets' constants are), in float64.

    Args:
        raw_train: unbatched dataset of `(uint8 image, label)` of the
            shape `raw_shape`.
        raw_shape: `(H, W, C)`.

    Returns:
        A `Preprocessing` (`std` is 1 for a channel that never varies).

    Example:
    >>> images = np.stack([np.full((2, 2, 1), v, np.uint8) for v in (0, 255)])
    >>> raw = tf.data.Dataset.from_tensor_slices((images, [0, 1]))
    >>> measure_preprocessing(raw, (2, 2, 1))
    Preprocessing(mean=(0.5,), std=(0.5,), raw_shape=(2, 2, 1), pad_to=None)
    """
    channels = raw_shape[-1]

    @tf.autograph.experimental.do_not_convert
    def moments(images, labels):
        x = tf.reshape(tf.cast(images, tf.float64) / 255.0, [-1, channels])
        count = tf.cast(tf.shape(x)[0], tf.float64)
        return tf.reduce_sum(x, 0), tf.reduce_sum(x * x, 0), count

    zeros = tf.zeros([channels], tf.float64)
    total, squares, count = (
        raw_train.batch(_MEASURE_BATCH)
        .map(moments, num_parallel_calls=tf.data.AUTOTUNE)
        .reduce(
            (zeros, zeros, tf.constant(0.0, tf.float64)),
            lambda a, b: tuple(x + y for x, y in zip(a, b, strict=True)),
        )
    )
    count = max(float(count), 1.0)
    mean = total.numpy() / count
    std = np.sqrt(np.maximum(squares.numpy() / count - mean**2, 0.0))
    std = np.where(std > 0, std, 1.0)
    return Preprocessing(
        mean=tuple(round(float(m), 6) for m in mean),
        std=tuple(round(float(v), 6) for v in std),
        raw_shape=tuple(int(d) for d in raw_shape),
    )


def _resized(images, size):
    """uint8 images resized to `size x size` (area-averaged when shrinking)."""
    resized = tf.image.resize(images, [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def _mixed_sizes_error(spec, sizes):
    return ConfigError(
        f"--dataset={spec} has images of different sizes ({sizes}): pass "
        "--image_size=N to resize every image to NxN, e.g. --image_size=64."
    )


# --- any image-classification builder of tensorflow-datasets -----------------

TFDS_PREFIX = "tfds:"
#: The percentage of a tfds training split that becomes the test split of
#: a dataset that has none: its last `CARVED_TEST_PERCENT` percent.
CARVED_TEST_PERCENT = 10


def _tfds_builder(spec, data_dir):
    import tensorflow_datasets as tfds

    name = spec[len(TFDS_PREFIX) :]
    try:
        return tfds.builder(name, data_dir=data_dir)
    except (ValueError, AssertionError) as e:
        # unknown name, config or version: tfds's first line says which
        reason = str(e).strip().splitlines()[0]
        raise DatasetNotAvailableError(
            f"--dataset={spec}: {reason} See "
            "https://www.tensorflow.org/datasets/catalog for the names "
            "(tfds:<name> or tfds:<name>/<config>)."
        ) from None


def _image_and_label_keys(builder, spec):
    """The feature keys of the image and the class label.

    The builder's supervised keys when they are an image and a class
    label, else features named `image` and `label`.
    """
    import tensorflow_datasets as tfds

    features = dict(builder.info.features.items())
    keys = builder.info.supervised_keys
    candidates = [tuple(keys)] if keys and len(keys) == 2 else []
    candidates.append(("image", "label"))
    for image_key, label_key in candidates:
        if (
            isinstance(image_key, str)
            and isinstance(label_key, str)
            and isinstance(features.get(image_key), tfds.features.Image)
            and isinstance(features.get(label_key), tfds.features.ClassLabel)
        ):
            return image_key, label_key
    raise ConfigError(
        f"--dataset={spec}: {builder.name} has no image and class label to "
        f"train on (its features: {', '.join(features.keys())}); the "
        "trainer takes image-classification datasets."
    )


def _tfds_splits(builder, spec):
    """`{"train": tfds split, "test": tfds split}` of a builder.

    The test split is `test`, else `validation`, else the last
    `CARVED_TEST_PERCENT` percent of `train` (which `train` then leaves
    out).
    """
    names = set(builder.info.splits.keys())
    if "train" not in names:
        raise ConfigError(
            f"--dataset={spec} has no train split (its splits: "
            f"{', '.join(sorted(names)) or 'none'}); the trainer needs one."
        )
    for test in ("test", "validation"):
        if test in names:
            return {"train": "train", "test": test}
    kept = 100 - CARVED_TEST_PERCENT
    return {"train": f"train[:{kept}%]", "test": f"train[{kept}%:]"}


def _tfds_raw_shape(spec, image_feature, image_size):
    """`(raw_shape, resize)` of a tfds image feature.

    `raw_shape` is the `(H, W, C)` of the images the source yields (each
    `image_size x image_size` when it is given); `resize` says whether the
    stored images need resizing to it.

    Raises:
        ConfigError: the images are not uint8, have no fixed number of
            channels, or have different sizes and `image_size` is `None`.
    """
    if np.dtype(image_feature.np_dtype) != np.uint8:
        raise ConfigError(
            f"--dataset={spec}: its images are {image_feature.np_dtype} "
            "values; the trainer takes uint8 images."
        )
    height, width, channels = image_feature.shape
    if channels is None:
        raise ConfigError(
            f"--dataset={spec}: its images have no fixed number of "
            "channels; the trainer needs one."
        )
    if image_size is None and (height is None or width is None):
        raise _mixed_sizes_error(spec, f"shape {image_feature.shape}")
    raw_shape = (image_size or height, image_size or width, channels)
    resize = bool(image_size) and (height, width) != (image_size, image_size)
    return raw_shape, resize


def tfds_dataset(spec, data_dir=None, image_size=None, preprocessing=None):
    """Any image-classification dataset of tensorflow-datasets.

    `spec` is `tfds:<name>`, `tfds:<name>/<config>` or with a version,
    `tfds:<name>/<config>:<version>`. The classes, their names and the
    image shape come from the builder's info; the image and label are
    its supervised keys (or its `image` and `label` features).

    - The test split is the builder's `test` split, else its `validation`
      split, else the last `CARVED_TEST_PERCENT` percent of `train`
      (tfds's `train[90%:]`, the same examples every time), which the
      training split then leaves out.
    - Images of different sizes (a shape like `(None, None, 3)`) need
      `image_size`: each is resized to `image_size x image_size`
      (antialiased bilinear, then rounded back to uint8), so the model
      and the export take that size.
    - The normalisation is measured on the training split
      (`measure_preprocessing`) unless `preprocessing` is given (a
      resumed run passes the one it recorded).

    Args:
        spec: `tfds:<name>[/<config>][:<version>]`.
        data_dir: optional tensorflow-datasets data directory.
        image_size: optional int: resize every image to this square size.
        preprocessing: optional `Preprocessing` to use instead of
            measuring one.

    Returns:
        A `Source`.

    Raises:
        DatasetNotAvailableError: no such builder, or the data is not
            prepared and this machine is offline.
        ConfigError: not an image-classification dataset, no train split,
            or images of different sizes without `image_size`.

    Example:
    tensorflow-datasets downloads SVHN on first use, so the example is not
    run as a test:

    >>> source = tfds_dataset("tfds:svhn_cropped")  # doctest: +SKIP
    >>> source.num_classes, source.preprocessing.raw_shape  # doctest: +SKIP
    (10, (32, 32, 3))
    """
    if data_dir:
        _check_data_dir(data_dir)
    builder = _tfds_builder(spec, data_dir)
    image_key, label_key = _image_and_label_keys(builder, spec)
    features = builder.info.features
    image_feature, label_feature = features[image_key], features[label_key]
    raw_shape, resize = _tfds_raw_shape(spec, image_feature, image_size)
    _prepare(builder, spec[len(TFDS_PREFIX) :], data_dir)
    split_names = _tfds_splits(builder, spec)

    @tf.autograph.experimental.do_not_convert
    def example(features):
        image = features[image_key]
        if resize:
            image = _resized(image, image_size)
        return tf.ensure_shape(image, raw_shape), tf.cast(
            features[label_key], tf.int64
        )

    def load_split(split):
        lookup(SPLITS, split, "split")
        tfds_split = split_names[split]
        ds = builder.as_dataset(split=tfds_split, shuffle_files=False)
        ds = ds.map(example, num_parallel_calls=tf.data.AUTOTUNE)
        return ds, builder.info.splits[tfds_split].num_examples

    if preprocessing is None:
        preprocessing = measure_preprocessing(load_split("train")[0], raw_shape)
    return Source(
        spec,
        label_feature.num_classes,
        tuple(label_feature.names),
        preprocessing,
        load_split,
        location=f"tensorflow-datasets:{builder.data_dir}",
    )


# --- a folder of images: <path>/train/<class>/*, <path>/test/<class>/* -----


def _decoded(path, channels):
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=channels, expand_animations=False
    )
    return image


def _image_shapes(spec, files):
    """`(H, W, C)` of each file, read with tf.data; one line for a bad one.

    Raises:
        FolderDatasetError: a file that cannot be read or decoded, named
            (with how many others cannot).
    """
    paths = tf.data.Dataset.from_tensor_slices(list(files))
    shapes = paths.map(
        tf.autograph.experimental.do_not_convert(
            lambda path: (path, tf.shape(_decoded(path, 0)))
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).ignore_errors()
    found = {
        path.decode(): tuple(int(d) for d in shape)
        for path, shape in shapes.as_numpy_iterator()
    }
    bad = [f for f in files if f not in found]
    if bad:
        others = f" (and {len(bad) - 1} other files)" if len(bad) > 1 else ""
        raise FolderDatasetError(
            f"--dataset={spec}: {bad[0]}{others} is not an image "
            "TensorFlow can read (PNG, JPEG, BMP or GIF); fix or remove it."
        )
    return [found[f] for f in files]


def folder_dataset(spec, image_size=None, preprocessing=None):
    """Images in `<path>/train/<class>/*` and `<path>/test/<class>/*`.

    The class names are the folder names, sorted (`list_folder`). Every
    file is decoded once when the source is made, so that an unreadable
    one is refused before training; the images are read lazily after.

    - Grayscale images stay one channel when every image is grayscale;
      otherwise every image is read as RGB (an alpha channel is dropped).
    - Images of different sizes need `image_size`: each is resized to
      `image_size x image_size`.
    - The normalisation is measured on the training images unless
      `preprocessing` is given.

    Args:
        spec: `folder:<path>`.
        image_size: optional int: resize every image to this square size.
        preprocessing: optional `Preprocessing` to use instead of
            measuring one.

    Returns:
        A `Source`.

    Raises:
        FolderDatasetError: a bad layout (`list_folder`) or an unreadable
            image.
        ConfigError: images of different sizes without `image_size`.
    """
    layout = list_folder(spec[len(FOLDER_PREFIX) :])
    all_files = layout.files["train"] + layout.files["test"]
    shapes = _image_shapes(spec, all_files)
    channels = 1 if all(c == 1 for _, _, c in shapes) else 3
    sizes = sorted({(h, w) for h, w, _ in shapes})
    if image_size is None and len(sizes) > 1:
        listed = ", ".join(f"{w}x{h}" for h, w in sizes[:3])
        raise _mixed_sizes_error(
            spec, listed + (", ..." if len(sizes) > 3 else "")
        )
    height, width = (image_size, image_size) if image_size else sizes[0]
    raw_shape = (height, width, channels)

    @tf.autograph.experimental.do_not_convert
    def example(path, label):
        image = _decoded(path, channels)
        if image_size and sizes != [(image_size, image_size)]:
            image = _resized(image, image_size)
        return tf.ensure_shape(image, raw_shape), label

    def load_split(split):
        lookup(SPLITS, split, "split")
        files, labels = layout.files[split], layout.labels[split]
        ds = tf.data.Dataset.from_tensor_slices(
            (list(files), np.asarray(labels, "int64"))
        )
        return ds.map(example, num_parallel_calls=tf.data.AUTOTUNE), len(files)

    if preprocessing is None:
        preprocessing = measure_preprocessing(load_split("train")[0], raw_shape)
    return Source(
        spec,
        len(layout.class_names),
        layout.class_names,
        preprocessing,
        load_split,
        location=layout.path,
    )


def _synthetic(name, data_dir):
    return dataclasses.replace(synthetic(), location="synthetic")


def _by_directory(factory):
    return lambda name, data_dir: factory(data_dir)


#: Every dataset by name: `(name, data_dir) -> Source`.
SOURCES = {
    "cifar10": cifar,
    "cifar100": cifar,
    "fashion_mnist": _by_directory(fashion_mnist),
    "tiny_imagenet": _by_directory(tiny_imagenet),
    "imagenet2012": imagenet,
    "imagenet_resized/32x32": imagenet,
    "imagenet_resized/64x64": imagenet,
    "synthetic": _synthetic,
}
#: The names `get_source` accepts.
DATASETS = choices.DATASETS
choices.check_registry(SOURCES, DATASETS, "dataset")


#: The prefix of data given from Python (`run_training(config, data=...)`).
USER_PREFIX = "user:"


def get_source(name, data_dir=None, *, image_size=None, preprocessing=None):
    """Returns the `Source` for a dataset name.

    Args:
        name: a built-in name (`DATASETS`), `tfds:<name>[/<config>]`
            (`tfds_dataset`) or `folder:<path>` (`folder_dataset`).
        data_dir: optional directory to look for the data in first.
        image_size: optional int: resize the images of a `tfds:` or
            `folder:` dataset to `image_size x image_size`.
        preprocessing: optional `Preprocessing` of a `tfds:` or `folder:`
            dataset, instead of measuring it on the training split (a
            resumed run passes the one it recorded).

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        DatasetNotAvailableError: when the data is not on this machine and
            cannot be fetched, saying how to get it.
        ConfigError, FolderDatasetError: a dataset the trainer cannot use
            as it is, saying what to do.

    Example:
    >>> source = get_source("synthetic")
    >>> source.num_classes, source.preprocessing.input_shape
    (10, (32, 32, 3))
    >>> images, count = source.load_split("test")
    >>> count, images.element_spec[0]
    (256, TensorSpec(shape=(32, 32, 3), dtype=tf.uint8, name=None))

    A folder of images, one subfolder per class, here two black and two
    white 4x4 grayscale PNG files; the normalisation is measured on the
    training images:

    >>> import tempfile
    >>> root = tempfile.TemporaryDirectory()
    >>> for split in ("train", "test"):
    ...     for name, value in (("black", 0), ("white", 255)):
    ...         os.makedirs(os.path.join(root.name, split, name))
    ...         png = tf.io.encode_png(np.full((4, 4, 1), value, np.uint8))
    ...         path = os.path.join(root.name, split, name, "1.png")
    ...         tf.io.write_file(path, png)
    >>> source = get_source("folder:" + root.name)
    >>> source.class_names
    ('black', 'white')
    >>> source.preprocessing
    Preprocessing(mean=(0.5,), std=(0.5,), raw_shape=(4, 4, 1), pad_to=None)
    >>> root.cleanup()
    """
    if name.startswith(TFDS_PREFIX):
        return tfds_dataset(name, data_dir, image_size, preprocessing)
    if name.startswith(FOLDER_PREFIX):
        return folder_dataset(name, image_size, preprocessing)
    if name.startswith(USER_PREFIX):
        raise ConfigError(
            f"--dataset={name} names data given from Python: train it with "
            "run_training(config, data=(train, test)); the command line "
            "takes a built-in name, tfds:<name> or folder:<path>."
        )
    if image_size is not None:
        raise ConfigError(
            f"--image_size={image_size} resizes the images of tfds: and "
            f"folder: datasets; leave it out for {name}, whose size is fixed."
        )
    return lookup(SOURCES, name, "dataset")(name, data_dir)
