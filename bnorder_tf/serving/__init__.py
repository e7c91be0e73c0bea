"""Serving: versioned SavedModel export and prediction from it.

`export_savedmodel` writes `<export_dir>/<name>/<version>/` in TF
Serving's layout (`layout`), with a `serving_default` signature and a
`taps` signature for the statistics; `predict` classifies images with
the newest (or a given) version. An `activations` signature serves the
taps the statistics read.

Example:
>>> from bnorder_tf.serving import versions
>>> versions("savedmodels/does-not-exist")
[]
"""

from bnorder_tf._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "export_savedmodel": "export",
        "versions": "layout",
        "load_serving": "predict",
        "resolve_version": "predict",
    },
)
