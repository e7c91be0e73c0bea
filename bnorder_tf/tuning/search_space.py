"""A search's space, checked without TensorFlow.

The `--search_*` values and the config of each trial. The tuning program
checks them before it imports TensorFlow, Keras and keras-tuner, so that
a bad search flag is answered at once.

Example:
>>> parse_search_values("search_learning_rate", ["0.1", "0.01"],
...                     positive=True)
[0.1, 0.01]
>>> from bnorder_tf.training.config import TrainConfig
>>> base = TrainConfig(dataset="synthetic")
>>> trial_config(base, {"depth": 9}, seed=0).model
'vgg16_9'
"""

import dataclasses
import math

from bnorder_tf.errors import ConfigError, lookup


def parse_search_values(flag, values, names=None, positive=False):
    """A `--search_*` flag's distinct values, checked.

    Names out of `names`, or else finite numbers (> 0 with `positive`,
    else >= 0).

    Args:
        flag: the flag's name, for the messages (`"search_learning_rate"`).
        values: the flag's values, as strings.
        names: optional sequence of the valid names; without it the values
            must be numbers.
        positive: bool, numbers must be > 0 rather than >= 0.

    Returns:
        A list of the values: the names as given, or floats.

    Raises:
        ConfigError: naming the flag and the bad value.

    Example:
    >>> parse_search_values("search_weight_decay", ["5e-4", "0"])
    [0.0005, 0.0]
    >>> parse_search_values("search_order", ["convention", "swap"],
    ...                     names=("convention", "swap", "nobn"))
    ['convention', 'swap']
    >>> try:
    ...     parse_search_values("search_learning_rate", ["0.1", "0"],
    ...                         positive=True)
    ... except ConfigError as error:
    ...     print(error)
    --search_learning_rate: '0' is not a finite number > 0; give a
    comma-separated list such as 0.1,0.01.
    """
    if len(set(values)) != len(values):
        raise ConfigError(f"--{flag} repeats a value: {','.join(values)}.")
    if names is not None:
        for value in values:
            lookup(names, value, f"--{flag} value")
        return list(values)
    numbers = []
    for text in values:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if (
            not math.isfinite(number)
            or number < 0
            or (positive and number == 0)
        ):
            bound = "> 0" if positive else ">= 0"
            raise ConfigError(
                f"--{flag}: {text!r} is not a finite number {bound}; give "
                "a comma-separated list such as 0.1,0.01."
            )
        numbers.append(number)
    if len(set(numbers)) != len(numbers):
        raise ConfigError(f"--{flag} repeats a value: {','.join(values)}.")
    return numbers


def trial_config(base, values, seed):
    """The `TrainConfig` of one seed of one trial.

    `bn_affine_decay` sets both `bn_gamma_decay` and `bn_beta_decay` (the
    paper's sweep of the decay on BN's affine parameters); `depth` n sets
    `model` to `vgg16_<n>` (the depth search of appendix A.6).

    Args:
        base: the `TrainConfig` every trial starts from.
        values: dict from a searched name to the trial's value; names that
            are not `TrainConfig` fields (keras-tuner's own) are ignored.
        seed: int, the run's seed.

    Returns:
        A `TrainConfig`: `base` with the trial's values and `seed`.

    Example:
    >>> from bnorder_tf.training import TrainConfig
    >>> base = TrainConfig(dataset="cifar100", order="convention")
    >>> values = {"bn_affine_decay": 0.0, "depth": 9, "tuner/epochs": 3}
    >>> config = trial_config(base, values, seed=2)
    >>> config.model, config.bn_gamma_decay, config.bn_beta_decay
    ('vgg16_9', 0.0, 0.0)
    >>> config.seed, config.order
    (2, 'convention')
    """
    values = dict(values)
    depth = values.pop("depth", None)
    if depth is not None:
        values["model"] = f"vgg16_{int(depth)}"
    affine = values.pop("bn_affine_decay", None)
    if affine is not None:
        values["bn_gamma_decay"] = values["bn_beta_decay"] = affine
    fields = {f.name for f in dataclasses.fields(base)}
    values = {k: v for k, v in values.items() if k in fields}
    return dataclasses.replace(base, **values, seed=seed)
