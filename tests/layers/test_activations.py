import numpy as np
import pytest

from bnorder_tf.layers import activations
from bnorder_tf.training.config import TrainConfig

X = np.linspace(-6.0, 6.0, 101).astype("float32")


@pytest.mark.parametrize(
    "name, formula, bound",
    [
        ("relu", lambda x: np.maximum(x, 0.0), None),
        ("tanh", np.tanh, 1.0),
        ("lecun_tanh", lambda x: 1.7159 * np.tanh(2.0 * x / 3.0), 1.7159),
        ("softsign", lambda x: x / (1.0 + np.abs(x)), 1.0),
        ("shifted_tanh", lambda x: np.tanh(x - 1.0), 1.0),
    ],
)
def test_activation_matches_formula_and_bound(name, formula, bound):
    f = activations.get(name)
    np.testing.assert_allclose(np.asarray(f(X)), formula(X), atol=1e-6)
    assert f.bound == bound
    if bound is not None:
        far = np.asarray(f(np.float32([-1e8, 1e8])))
        assert np.max(np.abs(far)) == pytest.approx(bound, rel=1e-6)


def test_shifted_tanh_parameters_and_round_trip():
    f = activations.ShiftedTanh(input_shift=0.5, output_shift=-0.25)
    np.testing.assert_allclose(
        np.asarray(f(X)), np.tanh(X - 0.5) - 0.25, atol=1e-6
    )
    assert f.bound == 1.25
    again = activations.get(activations.serialize(f))
    assert again == f and again.bound == 1.25


def test_unknown_name_lists_valid_names():
    with pytest.raises(LookupError, match="valid values are: relu, tanh"):
        activations.get("sigmoid")


@pytest.mark.parametrize("name", activations.NAMES)
def test_any_keras_layer_uses_them_by_registered_name(tmp_path, name):
    import keras

    expected = np.asarray(activations.get(name)(X))
    inputs = keras.Input((101,))
    outputs = keras.layers.Activation(f"bnorder_tf>{name}", name="act")(inputs)
    model = keras.Model(inputs, outputs)
    np.testing.assert_allclose(
        np.asarray(model(X[None]))[0], expected, atol=1e-6
    )
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("act").activation == activations.get(name)
    np.testing.assert_allclose(
        np.asarray(loaded(X[None]))[0], expected, atol=1e-6
    )
    dense = keras.layers.Dense(3, activation=f"bnorder_tf>{name}")
    assert dense.activation.bound == activations.get(name).bound


def test_one_serialization_path_and_the_old_format_still_loads():
    f = activations.ShiftedTanh(input_shift=0.5, output_shift=-0.25)
    config = activations.serialize(f)
    assert config["registered_name"] == "bnorder_tf>shifted_tanh"
    old = {"name": "shifted_tanh", "config": f.get_config()}
    assert activations.get(old) == f == activations.get(config)


def test_the_unbounded_names_are_the_activations_without_a_bound():
    """`choices.UNBOUNDED_ACTIVATIONS` is checked at import against `bound`.

    It is what the report leaves out of its bounded-activation claims.
    """
    from bnorder_tf import choices
    from bnorder_tf.layers import activations
    from bnorder_tf.report.claims import is_bounded

    unbounded = tuple(
        n for n in choices.ACTIVATIONS if activations.get(n).bound is None
    )
    assert unbounded == choices.UNBOUNDED_ACTIVATIONS == ("relu",)
    with pytest.raises(AssertionError, match="unbounded activation"):
        choices.check_registry(
            {"relu": None, "gelu": None},
            choices.UNBOUNDED_ACTIVATIONS,
            "unbounded activation",
        )

    class Run:
        def __init__(self, activation):
            self.config = TrainConfig(activation=activation)

    assert [is_bounded(Run(n)) for n in choices.ACTIVATIONS] == [
        n != "relu" for n in choices.ACTIVATIONS
    ]
