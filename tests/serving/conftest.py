"""A tiny exported model, shared by the export and predict tests."""

import keras
import numpy as np
import pytest

from bnorder_tf.models import build_model
from bnorder_tf.serving.export import export_savedmodel
from tests.serving.reference import CLASSES, PREPROCESSING


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(2)
    model = build_model(
        "vgg16_11",
        order="convention",
        activation="tanh",
        num_classes=5,
        input_shape=(32, 32, 1),
        width=0.0625,
    )
    # move BN's moving statistics away from (0, 1), as training would
    x = np.random.default_rng(0).normal(1.0, 2.0, (64, 32, 32, 1))
    for _ in range(3):
        model(x.astype("float32"), training=True)
    export_dir = tmp_path_factory.mktemp("savedmodels")
    path = export_savedmodel(
        model,
        str(export_dir),
        "tiny",
        preprocessing=PREPROCESSING,
        class_names=CLASSES,
        metadata={"test_accuracy": 0.5},
    )
    return model, export_dir, path


@pytest.fixture
def images():
    return np.random.default_rng(5).integers(
        0, 256, (6, 28, 28, 1), dtype=np.uint8
    )
