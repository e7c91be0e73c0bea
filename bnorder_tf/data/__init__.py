"""Datasets as preprocessed, batched `tf.data` pipelines.

The images come from tensorflow-datasets, local files or synthetic data.

Example:
>>> from bnorder_tf import data
>>> train = data.load("synthetic", "train", batch_size=32, seed=0)
>>> train.input_shape, train.num_classes
((32, 32, 3), 10)

CIFAR-100 comes from tensorflow-datasets, which downloads it on first use
(so the line is not run as a test):

>>> train = data.load("cifar100", "train",  # doctest: +SKIP
...                   batch_size=128, seed=0)
"""

from bnorder_tf.data.idx import MalformedFileError, read_idx
from bnorder_tf.data.pipeline import LoadedData, load
from bnorder_tf.data.preprocessing import Preprocessing
from bnorder_tf.data.sources import (
    DATASETS,
    DatasetNotAvailableError,
    get_source,
)

__all__ = [
    "DATASETS",
    "DatasetNotAvailableError",
    "LoadedData",
    "MalformedFileError",
    "Preprocessing",
    "get_source",
    "load",
    "read_idx",
]
