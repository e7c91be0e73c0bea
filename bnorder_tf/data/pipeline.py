"""`load`: a dataset name and split -> a preprocessed `tf.data` pipeline.

The pipeline is batched, and comes with what the model builder needs to
know about it.
"""

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from bnorder_tf.data.preprocessing import (
    Preprocessing,
    augment_large,
    augment_small,
)
from bnorder_tf.data.sources import SPLITS, Source, get_source
from bnorder_tf.errors import ConfigError, lookup

#: Inputs up to this side get CIFAR-style augmentation (crop + flip).
SMALL_INPUT_SIDE = 64
#: The splits `load` serves: a source's, and the validation split cut
#: from the end of its training split.
LOAD_SPLITS = (*SPLITS, "validation")


@dataclasses.dataclass
class LoadedData:
    """A pipeline and its description.

    Attributes:
        dataset: batched `tf.data.Dataset` of `(float32 images, int64
            labels)`, preprocessed (and augmented when training).
        num_classes: int.
        input_shape: `(H, W, C)` of the model's input.
        class_names: tuple of str, or `None`.
        preprocessing: the `Preprocessing` applied (the export reuses it).
        num_examples: int, examples in the split.
        raw_dataset: unbatched `(uint8 image, label)` of the split.
        location: where the data was read from (a directory, or
            `tensorflow-datasets`), as runs record it.
        for_epoch: function `epoch -> dataset` for training splits: the
            pipeline whose shuffle and augmentation order is a function
            of (seed, epoch) alone, so a resumed run sees the batches an
            uninterrupted one would. `dataset` is `for_epoch(0)`.
    """

    dataset: tf.data.Dataset
    num_classes: int
    input_shape: tuple
    class_names: tuple | None
    preprocessing: Preprocessing
    num_examples: int
    raw_dataset: tf.data.Dataset
    location: str | None = None
    for_epoch: Callable[[int], tf.data.Dataset] | None = None


def load(
    name: str | Source,
    split: str,
    *,
    batch_size: int,
    data_dir: str | None = None,
    seed: int | None = None,
    training: bool | None = None,
    drop_remainder: bool | None = None,
    shuffle_buffer: int = 10000,
    validation_examples: int = 0,
    image_size: int | None = None,
) -> LoadedData:
    """Loads a dataset split as a `tf.data` pipeline.

    Args:
        name: one of `bnorder_tf.data.DATASETS` (`cifar10`, `cifar100`,
            `fashion_mnist`, `tiny_imagenet`, `imagenet2012`,
            `imagenet_resized/32x32`, `imagenet_resized/64x64`,
            `synthetic`), `tfds:<name>[/<config>]`, `folder:<path>`, or a
            `Source` already made (`get_source`): load both splits of a
            `tfds:` or `folder:` dataset from one `Source`, so that its
            normalisation is measured once.
        split: `"train"`, `"test"`, or `"validation"`: the last
            `validation_examples` examples of the source's training split,
            which `"train"` then leaves out.
        batch_size: int, the global batch size.
        data_dir: optional directory to look for the data in first.
        seed: optional int: shuffling and augmentation order; epoch `e`
            of a training split is shuffled and augmented with seeds
            drawn from `(seed, e)` (`LoadedData.for_epoch`).
        training: bool, shuffle and augment; default: `split == "train"`.
        drop_remainder: bool, default: same as `training` (replicas then
            always get full batches).
        shuffle_buffer: int, shuffle buffer size.
        validation_examples: int, examples held out of the training split
            as the `"validation"` split (0: none).
        image_size: optional int: resize the images of a `tfds:` or
            `folder:` dataset to `image_size x image_size`.

    Returns:
        A `LoadedData`.

    Raises:
        UnknownNameError: unknown dataset or split (a `ValueError`).
        DatasetNotAvailableError: the data is not on this machine; the
            message says how to get it.

    Example:
    >>> train = load("synthetic", "train", batch_size=32, seed=0)
    >>> train.input_shape, train.num_classes, train.num_examples
    ((32, 32, 3), 10, 512)
    >>> images, labels = next(iter(train.dataset))
    >>> tuple(images.shape), images.dtype.name, labels.dtype.name
    ((32, 32, 32, 3), 'float32', 'int64')
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if isinstance(name, Source):
        source = name
    else:
        source = get_source(name, data_dir, image_size=image_size)
    raw, num_examples = _split(source, split, validation_examples)
    training = split == "train" if training is None else training
    return _pipeline(
        source,
        raw,
        num_examples,
        training=training,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        batch_size=batch_size,
        drop_remainder=training if drop_remainder is None else drop_remainder,
    )


def _pipeline(
    source,
    raw,
    num_examples,
    *,
    training,
    seed,
    shuffle_buffer,
    batch_size,
    drop_remainder,
):
    """The `LoadedData` of a split's `num_examples` raw examples.

    A split of at most 100,000 examples is cached after its first pass,
    unless its source holds it in memory already. A training split is
    shuffled and augmented anew each epoch (`_augmented_epoch`).
    """
    preprocessing = source.preprocessing
    examples = raw
    if num_examples <= 100_000 and not source.in_memory:
        examples = examples.cache()
    batching = dict(batch_size=batch_size, drop_remainder=drop_remainder)
    if training:
        for_epoch = functools.partial(
            _augmented_epoch,
            examples,
            preprocessing,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            **batching,
        )
        dataset = for_epoch(0)
    else:
        for_epoch = None
        dataset = _preprocessed_epoch(examples, preprocessing, **batching)
    return LoadedData(
        dataset=dataset,
        num_classes=source.num_classes,
        input_shape=preprocessing.input_shape,
        class_names=source.class_names,
        preprocessing=preprocessing,
        num_examples=num_examples,
        raw_dataset=raw,
        location=source.location,
        for_epoch=for_epoch,
    )


def _batched(dataset, batch_size, drop_remainder):
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _preprocessed_epoch(examples, preprocessing, batch_size, drop_remainder):
    """An epoch of a split not trained on: in order, preprocessed, batched."""
    return _batched(
        examples.map(
            tf.autograph.experimental.do_not_convert(
                lambda image, label: (preprocessing.apply(image), label)
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        ),
        batch_size,
        drop_remainder,
    )


def _augmented_epoch(
    examples,
    preprocessing,
    epoch,
    *,
    seed,
    shuffle_buffer,
    batch_size,
    drop_remainder,
):
    """A training epoch: `examples` shuffled, preprocessed, augmented, batched.

    The order depends on `(seed, epoch)` only.
    """
    side = max(preprocessing.input_shape[:2])
    augment = augment_small if side <= SMALL_INPUT_SIDE else augment_large
    shuffle_seed, augment_seed = epoch_seeds(seed, epoch)
    shuffled = examples.shuffle(
        shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False
    )
    # One stateless seed pair per batch, drawn from the epoch's seed; the
    # batch is augmented at once, with vectorized ops.
    augment_seeds = tf.data.Dataset.random(seed=augment_seed).batch(2)

    # not converted by AutoGraph (tf.data's default): no Python control
    # flow on tensors, and converting costs start-up
    @tf.autograph.experimental.do_not_convert
    def preprocess_and_augment(batch, batch_seed):
        images, labels = batch
        x = preprocessing.apply(images)
        return augment(x, tf.cast(batch_seed, tf.int32)), labels

    batches = shuffled.batch(batch_size, drop_remainder=drop_remainder)
    augmented = tf.data.Dataset.zip((batches, augment_seeds)).map(
        preprocess_and_augment, num_parallel_calls=tf.data.AUTOTUNE
    )
    return augmented.prefetch(tf.data.AUTOTUNE)


def _split(source, split, validation_examples):
    """`(raw dataset, examples)` of a split.

    The validation split is cut from the end of the training split.
    """
    lookup(LOAD_SPLITS, split, "split")
    if split == "validation" and not validation_examples:
        raise ValueError("The validation split needs validation_examples > 0.")
    if split == "test" or not validation_examples:
        return source.load_split(split)
    raw, total = source.load_split("train")
    kept = total - validation_examples
    if kept < 1:
        raise ConfigError(
            f"--validation_examples={validation_examples} leaves no training "
            f"example of the {total} in {source.name}'s training split."
        )
    if split == "train":
        return raw.take(kept), kept
    return raw.skip(kept), validation_examples


def epoch_seeds(seed, epoch):
    """The (shuffle, augmentation) seeds of one epoch.

    A function of `(seed, epoch)` only (`numpy.random.SeedSequence`).
    """
    state = np.random.SeedSequence([seed or 0, epoch]).generate_state(2)
    return int(state[0] >> 1), int(state[1] >> 1)
