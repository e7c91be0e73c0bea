"""The layout of an image folder, read without TensorFlow.

    <path>/train/<class>/*.png|jpg|jpeg|bmp|gif
    <path>/test/<class>/*.png|jpg|jpeg|bmp|gif

`list_folder` finds the classes (the folder names, sorted) and the image
files of each split, and refuses a layout the trainer cannot use in one
line. The programs call it before TensorFlow starts
(`bnorder_tf.training.run_dir.check_run_paths`); `bnorder_tf.data.sources`
decodes the files.
"""

import dataclasses
import os

from bnorder_tf.errors import UserError

#: The spelling of a folder dataset: `folder:<path>`.
FOLDER_PREFIX = "folder:"
#: The file types read, as `keras.utils.image_dataset_from_directory` does.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
FOLDER_SPLITS = ("train", "test")


class FolderDatasetError(UserError, ValueError):
    """An image folder the trainer cannot use; the message says why."""


@dataclasses.dataclass(frozen=True)
class FolderLayout:
    """What `list_folder` found.

    Attributes:
        path: the folder, absolute.
        class_names: tuple of the class folder names, sorted; the label of
            an image is its class's index here.
        files: dict from split (`train`, `test`) to a tuple of the image
            paths, class by class, each class's files sorted.
        labels: dict from split to a tuple of int labels, one per file.
    """

    path: str
    class_names: tuple
    files: dict
    labels: dict


def _subfolders(path):
    return sorted(
        entry
        for entry in os.listdir(path)
        if not entry.startswith(".")
        and os.path.isdir(os.path.join(path, entry))
    )


def _images(folder):
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_EXTENSIONS)
        and os.path.isfile(os.path.join(folder, name))
    )


def list_folder(path):
    """The classes and image files of `<path>/train` and `<path>/test`.

    Args:
        path: the folder holding `train/<class>/` and `test/<class>/`.

    Returns:
        A `FolderLayout`.

    Raises:
        FolderDatasetError: `path` or a split is missing, the two splits
            have different class folders, or a training class (or the
            whole test split) holds no image file.

    Example:
    >>> import tempfile
    >>> root = tempfile.TemporaryDirectory()
    >>> for split in ("train", "test"):
    ...     for name in ("cat", "dog"):
    ...         os.makedirs(os.path.join(root.name, split, name))
    ...         open(os.path.join(root.name, split, name, "1.png"), "w").close()
    >>> layout = list_folder(root.name)
    >>> layout.class_names, layout.labels["train"]
    (('cat', 'dog'), (0, 1))
    >>> root.cleanup()
    """
    spec = f"--dataset={FOLDER_PREFIX}{path}"
    if not os.path.isdir(path):
        raise FolderDatasetError(
            f"{spec}: {path} is not a directory; pass a folder holding "
            "train/<class>/ and test/<class>/ image folders."
        )
    missing = [
        s for s in FOLDER_SPLITS if not os.path.isdir(os.path.join(path, s))
    ]
    if missing:
        raise FolderDatasetError(
            f"{spec}: {path} has no {' or '.join(m + '/' for m in missing)} "
            "folder; the "
            "layout is <path>/train/<class>/* and <path>/test/<class>/*."
        )
    classes = {s: _subfolders(os.path.join(path, s)) for s in FOLDER_SPLITS}
    if not classes["train"]:
        raise FolderDatasetError(
            f"{spec}: {os.path.join(path, 'train')} has no class folder; "
            "put each class's images in train/<class>/."
        )
    if classes["train"] != classes["test"]:
        train, test = set(classes["train"]), set(classes["test"])
        problems = []
        if train - test:
            problems.append(f"test/ lacks {', '.join(sorted(train - test))}")
        if test - train:
            problems.append(f"train/ lacks {', '.join(sorted(test - train))}")
        raise FolderDatasetError(
            f"{spec}: the class folders of train/ and test/ differ "
            f"({'; '.join(problems)}): give both the same class folders."
        )
    files, labels = {}, {}
    for split in FOLDER_SPLITS:
        split_files, split_labels = [], []
        for label, name in enumerate(classes["train"]):
            found = _images(os.path.join(path, split, name))
            if not found and split == "train":
                raise FolderDatasetError(
                    f"{spec}: {os.path.join(path, split, name)} holds no "
                    f"image ({', '.join(IMAGE_EXTENSIONS)}); add images or "
                    "remove the class folder from train/ and test/."
                )
            split_files += found
            split_labels += [label] * len(found)
        if not split_files:
            raise FolderDatasetError(
                f"{spec}: {os.path.join(path, split)} holds no image "
                f"({', '.join(IMAGE_EXTENSIONS)}) in its class folders."
            )
        files[split], labels[split] = tuple(split_files), tuple(split_labels)
    return FolderLayout(
        os.path.abspath(path), tuple(classes["train"]), files, labels
    )
