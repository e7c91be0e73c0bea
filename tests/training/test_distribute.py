"""The devices a strategy is built on."""

import pytest

from bnorder_tf import choices
from bnorder_tf.errors import (
    ConfigError,
)
from bnorder_tf.training import distribute


def test_every_strategy_name_of_the_flags_makes_a_strategy():
    assert tuple(distribute._MAKERS) == choices.STRATEGIES


def test_an_unknown_strategy_lists_the_valid_ones():
    # errors.lookup's message: the name asked for and the valid ones
    with pytest.raises(ConfigError, match="strategy 'horovod'") as raised:
        distribute.get_strategy("horovod")
    assert ", ".join(choices.STRATEGIES) in str(raised.value)


@pytest.mark.parametrize(
    "devices, message",
    [
        (["/cpu:0", "/cpu:0"], "twice"),
        (["/gpu:3"], "does not exist"),
        (["/cpu:7"], "does not exist"),
    ],
)
def test_devices_are_checked_before_any_work(devices, message):
    from bnorder_tf.training.distribute import get_strategy

    with pytest.raises(ConfigError, match=message):
        get_strategy("mirrored", devices=devices)
