"""The devices a strategy is built on."""

import pytest

from bnorder_tf.errors import (
    ConfigError,
)


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
