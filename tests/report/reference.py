"""Expected values for the report's tests, computed independently."""

import numpy as np


def holm(p_values):
    """Holm's adjusted p: max over j <= i of min(1, (m - j + 1) p_(j)).

    Vectorised from the definition, not as `verdicts.holm` computes it.
    """
    order = np.argsort(p_values)
    m = len(p_values)
    scaled = np.minimum(1.0, (m - np.arange(m)) * np.asarray(p_values)[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return list(adjusted)
