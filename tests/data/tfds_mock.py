"""tensorflow-datasets builders mocked offline, as tfds's own tests do.

`write_metadata` writes a builder's real `dataset_info.json` (its real
features and class names, from the builder's code) with the split sizes
given, where `tfds.testing.mock_data(policy=USE_FILES, data_dir=...)`
finds it; `mocked(data_dir)` is that context, with `as_dataset` yielding
deterministic examples of each split (its real size, slices such as
`train[90%:]` honoured): label `i % classes`, pixels a class level plus
noise, the size of example `i` varying when the builder's images do.
"""

import contextlib
import os

import tensorflow as tf
import tensorflow_datasets as tfds

#: The builders the tests mock, none of them built in, and their splits.
BUILDERS = {
    # train and test, 32x32x3, 10 classes
    "svhn_cropped": {"train": 64, "test": 32},
    # train only (the test split is carved from it), 64x64x3
    "eurosat/rgb": {"train": 40},
    # images of different sizes; train, validation and test
    "oxford_flowers102": {"train": 48, "validation": 8, "test": 24},
}


def write_metadata(data_dir, name, splits):
    """Writes `name`'s dataset_info.json with `splits` ({split: size})."""
    builder = tfds.builder(name, data_dir=data_dir)
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_dir,
        dataset_name=builder.name,
        split="train",
        filetype_suffix="tfrecord",
    )
    builder.info.set_splits(
        tfds.core.SplitDict(
            [
                tfds.core.SplitInfo(
                    name=split,
                    shard_lengths=[size],
                    num_bytes=0,
                    filename_template=template.replace(split=split),
                )
                for split, size in splits.items()
            ]
        )
    )
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    return builder.data_dir


def write_all(data_dir):
    for name, splits in BUILDERS.items():
        write_metadata(data_dir, name, splits)
    return data_dir


def _examples(self, split, decoders=None, read_config=None, **kwargs):
    """The mocked `_as_dataset`: deterministic examples of `split`."""
    info = self.info
    (instruction,) = info.splits[split].file_instructions
    base = split.split("[")[0]
    first = instruction.skip
    height, width, channels = info.features["image"].shape
    classes = info.features["label"].num_classes
    stream = {"train": 0, "validation": 1, "test": 2}[base]

    def example(i):
        size_h = height or 12 + 4 * (i % 3)
        size_w = width or 12 + 4 * ((i + 1) % 3)
        label = i % classes
        noise = tf.random.stateless_uniform(
            [size_h, size_w, channels], [stream, i], 0, 80, tf.int64
        )
        level = (label * 160) // max(classes - 1, 1)
        image = tf.cast(tf.clip_by_value(level + noise, 0, 255), tf.uint8)
        return {"image": image, "label": label}

    return tf.data.Dataset.range(first, first + instruction.take).map(example)


@contextlib.contextmanager
def mocked(data_dir):
    """Mocks tensorflow-datasets with the metadata under `data_dir`."""
    with tfds.testing.mock_data(
        policy=tfds.testing.MockPolicy.USE_FILES,
        data_dir=str(data_dir),
        as_dataset_fn=_examples,
    ):
        yield
