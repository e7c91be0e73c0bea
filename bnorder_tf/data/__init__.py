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

Any image-classification dataset of tensorflow-datasets
(`load("tfds:svhn_cropped", ...)`), a folder of images
(`load("folder:/data/flowers", ...)`) and your own `tf.data` datasets
(`UserData`, for `run_training(config, data=...)`) load the same way
(the guide "Your data", docs/guides/data.md).

The names load lazily: `bnorder_tf.data.folder` (the layout of an image
folder) is read without TensorFlow, so that the programs check a
`--dataset=folder:<path>` before TensorFlow starts.
"""

from bnorder_tf._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "DATASETS": "sources",
        "DatasetNotAvailableError": "sources",
        "FolderDatasetError": "folder",
        "LoadedData": "pipeline",
        "MalformedFileError": "idx",
        "Preprocessing": "preprocessing",
        "UserData": "user",
        "get_source": "sources",
        "list_folder": "folder",
        "load": "pipeline",
        "measure_preprocessing": "sources",
        "read_idx": "idx",
        "user_source": "user",
    },
)
