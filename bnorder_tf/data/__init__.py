"""Datasets: tensorflow-datasets, local files and synthetic data, as
preprocessed `tf.data` pipelines.

Example:

>>> from bnorder_tf import data
>>> train = data.load("cifar100", "train", batch_size=128, seed=0)
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
