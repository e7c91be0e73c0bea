"""Hyperparameter search with keras-tuner over `TrainConfig` fields.

A grid (or random, Bayesian, Hyperband) search, each point trained with
several seeds.

`search_space` parses the `--search_<field>` values into a space;
`search` holds the keras-tuner tuner, its oracle and the results table.

Example:
>>> from bnorder_tf.tuning import parse_search_values
>>> parse_search_values("search_learning_rate", ["0.1", "0.01"],
...                     positive=True)
[0.1, 0.01]
"""

from bnorder_tf._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "SeedAveragingTuner": "search",
        "parse_search_values": "search_space",
        "trial_config": "search_space",
    },
)
