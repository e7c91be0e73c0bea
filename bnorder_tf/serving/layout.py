"""Where an export lives on disk and what it holds, without TensorFlow.

    <export_dir>/<name>/<version>/
        saved_model.pb, variables/   the SavedModel
        metadata.json                class names, input, preprocessing, ...

`bnorder_tf.serving.export` writes this layout; `serving.predict` reads it and
checks a user's paths here before it imports TensorFlow, so that a wrong
path or version is answered at once.
"""

import os

METADATA_FILE = "metadata.json"
SERVING_SIGNATURE = "serving_default"
ACTIVATIONS_SIGNATURE = "activations"
#: The tensors of each tap in the `activations` signature, as
#: `<tap>_<tensor>`.
TAP_TENSORS = ("activation", "output")


def versions(model_path):
    """The integer versions under `<export_dir>/<name>`, ascending.

    Args:
        model_path: `<export_dir>/<name>`.

    Returns:
        A sorted list of ints (empty when the directory does not exist).

    Example:
    >>> import tempfile
    >>> export_dir = tempfile.TemporaryDirectory()
    >>> model_path = os.path.join(export_dir.name, "vgg_swap")
    >>> for entry in ("1", "2", "10", ".tmp-export-host-7-x"):
    ...     os.makedirs(os.path.join(model_path, entry))
    >>> versions(model_path)
    [1, 2, 10]
    >>> export_dir.cleanup()
    """
    if not os.path.isdir(model_path):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(model_path)
        if entry.isdigit() and os.path.isdir(os.path.join(model_path, entry))
    )
