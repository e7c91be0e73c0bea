"""What the training callbacks save and restore."""

import keras
import pytest

from bnorder_tf.training import run_dir


def test_truncated_checkpoint_is_a_run_directory_error(tmp_path):
    from bnorder_tf.training.callbacks import EpochCheckpoint

    def make():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
        optimizer.build(model.trainable_variables)
        return EpochCheckpoint(model, optimizer, str(tmp_path / "ck"))

    saved = make()
    saved.on_epoch_end(4)
    assert make().restore() == 5
    data = [p for p in (tmp_path / "ck").iterdir() if ".data-" in p.name][0]
    data.write_bytes(data.read_bytes()[:10])
    with pytest.raises(
        run_dir.RunDirectoryError, match="damaged.*start the run over"
    ):
        make().restore()
