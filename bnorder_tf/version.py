"""The package's version: the one place it is defined."""

__version__ = "0.2.0"
