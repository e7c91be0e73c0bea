"""`FusedBatchNormalization` under its former name, in code and in files."""

import json
import zipfile

import keras
import numpy as np

import bnorder_tf
from bnorder_tf.layers import (
    FusedBatchNormalization,
    ReplicaMeanBatchNormalization,
)

#: The layer as `keras.saving.serialize_keras_object` wrote it before the
#: rename (bnorder_tf 0.2.0), initializers and dtype left to their defaults.
OLD_CONFIG = {
    "module": "bnorder_tf.layers.batch_normalization",
    "class_name": "ReplicaMeanBatchNormalization",
    "config": {
        "name": "bn",
        "trainable": True,
        "axis": -1,
        "momentum": 0.9,
        "epsilon": 1e-05,
        "center": True,
        "scale": True,
        "beta_regularizer": None,
        "gamma_regularizer": None,
        "beta_constraint": None,
        "gamma_constraint": None,
        "synchronized": False,
        "renorm": False,
        "renorm_clipping": None,
        "renorm_momentum": 0.99,
    },
    "registered_name": "bnorder_tf>ReplicaMeanBatchNormalization",
}


def test_the_former_name_is_the_same_class():
    assert ReplicaMeanBatchNormalization is FusedBatchNormalization
    assert bnorder_tf.ReplicaMeanBatchNormalization is FusedBatchNormalization
    # importable, but not listed as a public name of its own
    assert "ReplicaMeanBatchNormalization" not in bnorder_tf.__all__
    assert "ReplicaMeanBatchNormalization" not in bnorder_tf.layers.__all__
    assert (
        keras.saving.get_registered_name(FusedBatchNormalization)
        == OLD_CONFIG["registered_name"]
    )


def test_a_config_saved_under_the_former_name_loads():
    layer = keras.saving.deserialize_keras_object(OLD_CONFIG)
    assert type(layer) is FusedBatchNormalization
    assert (layer.name, layer.momentum) == ("bn", 0.9)


def test_a_keras_file_naming_the_former_class_loads(tmp_path, rng):
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), FusedBatchNormalization(name="bn")]
    )
    x = rng.normal(size=(8, 4, 4, 3)).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(path) as new, zipfile.ZipFile(old, "w") as out:
        for item in new.infolist():
            data = new.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                layer = config["config"]["layers"][-1]
                assert layer["class_name"] == "FusedBatchNormalization"
                layer["class_name"] = "ReplicaMeanBatchNormalization"
                data = json.dumps(config).encode()
            out.writestr(item, data)
    again = keras.saving.load_model(old)
    assert type(again.get_layer("bn")) is FusedBatchNormalization
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), again.predict(x, verbose=0)
    )
