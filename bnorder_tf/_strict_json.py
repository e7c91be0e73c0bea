"""Strict JSON for what runs write: `null`, never a bare `NaN`."""

import json
import math


def json_ready(value):
    """`value` in a form that `json.dumps(..., allow_nan=False)` accepts.

    NaN and infinities become `None`, and NumPy scalars and arrays become
    Python numbers and lists.
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps_strict(value, **kwargs):
    """`json.dumps` of `json_ready(value)`, refusing any NaN left."""
    return json.dumps(json_ready(value), allow_nan=False, **kwargs)
