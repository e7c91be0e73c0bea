"""Lazy public names for a package's `__init__`.

A package lists its public names and the modules they come from; each
module is imported when one of its names is first used. This keeps
`import bnorder_tf` free of TensorFlow, so that the programs answer
`--help` and a bad flag before TensorFlow starts.
"""

import importlib
import sys


def attach(package, attributes):
    """Returns `__getattr__`, `__dir__` and `__all__` for a package.

    Args:
        package: the package's `__name__`.
        attributes: a dict from each public name to the module, relative to
            the package, that defines it (`"blocks"`, `"..models"`), or to
            `None` for a subpackage or module of the package itself.

    Returns:
        A tuple `(__getattr__, __dir__, __all__)` to assign in the package.

    Example:
    >>> getattr_, dir_, all_ = attach("bnorder_tf.stats", {"Tap": "taps"})
    >>> all_
    ['Tap']
    """
    names = sorted(attributes)

    def __getattr__(name):
        if name not in attributes:
            raise AttributeError(
                f"module {package!r} has no attribute {name!r}"
            )
        source = attributes[name]
        if source is None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            module = importlib.import_module(f".{source}", package)
            value = getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__, names
