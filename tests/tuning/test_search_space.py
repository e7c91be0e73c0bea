"""The search values the tuner accepts."""

import pytest

from bnorder_tf.errors import (
    ConfigError,
)
from bnorder_tf.tuning import search_space


@pytest.mark.parametrize(
    "values", [["nan"], ["0.1", "inf"], ["-1"], ["0.1", "0.1"]]
)
def test_search_values_must_be_finite_and_distinct(values):
    with pytest.raises(ConfigError, match="--search_weight_decay"):
        search_space.parse_search_values("search_weight_decay", values)
