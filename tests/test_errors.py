"""Every unknown name raises one error, with one message, from one place.

`bnorder_tf.errors.lookup` checks a name against the names a registry
knows; each case below asks one registry of the package for a name it
lacks and expects `UnknownNameError` with the message

    Unknown <what> '<name>'; valid values are: <name>, <name>, ...

(after the context some programs put first, such as a flagfile's name).
A scan of the package's source then finds no such message written
anywhere else.
"""

import ast
import os
import re

import pytest

from bnorder_tf.errors import ConfigError, UnknownNameError, lookup

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "bnorder_tf")

#: The one message, after an optional `<context>: `.
SHAPE = re.compile(
    r"(?:.*: )?Unknown (?P<what>.+?) (?P<name>'[^']*'); "
    r"valid values are: (?P<valid>.+)\."
)
#: What an "unknown name" message says, in a string of the source.
MESSAGE = re.compile(r"\bunknown\s|\bvalid (?:values|names)\b", re.IGNORECASE)

#: Messages that say "unknown" of something that is not a name.
NOT_NAMES = {
    "bnorder_tf/data/idx.py": "a damaged file's header (MalformedFileError)",
}


def _model(name="vgg11", order="swap"):
    from bnorder_tf import build_model

    return build_model(
        name,
        order=order,
        activation="tanh",
        num_classes=10,
        input_shape=(32, 32, 3),
        width=0.125,
    )


def _activation():
    from bnorder_tf.layers import activations

    return activations.get("sigmoidal")


def _block(**kwargs):
    from bnorder_tf.layers import blocks

    return blocks.Block(3, **kwargs)


def _initializer():
    from bnorder_tf.layers.initializers import initializers_for

    return initializers_for("xavier", 9)


def _strategy():
    from bnorder_tf.training.distribute import get_strategy

    return get_strategy("gpus")


def _source(name="mnist"):
    from bnorder_tf.data.sources import get_source

    return get_source(name)


def _source_split():
    return _source("synthetic").load_split("valid")


def _pipeline_split():
    from bnorder_tf.data.pipeline import load

    return load("synthetic", "valid", batch_size=8)


def _tuner():
    from bnorder_tf.tuning.search import make_oracle

    return make_oracle("annealing", space={})


def _search_value():
    from bnorder_tf.tuning.search_space import parse_search_values

    return parse_search_values(
        "search_order", ["after"], names=("convention", "swap")
    )


def _precision():
    from bnorder_tf.stats.taps import check_precision

    return check_precision("float64")


def _tap():
    from bnorder_tf.stats import ModelTaps

    return ModelTaps(_model(), taps=["conv99"])


def _report_layer():
    from types import SimpleNamespace

    from bnorder_tf.report.build import _choose_layer

    run = SimpleNamespace(last_stats={"layers": {"conv1": {}, "conv2": {}}})
    return _choose_layer([SimpleNamespace(runs=[run])], "conv9")


def _setting_choice():
    from bnorder_tf.training.config import TrainConfig

    return TrainConfig(order="after")


def _setting_name():
    from bnorder_tf.training.config import TrainConfig

    return TrainConfig.from_flags_text("--learning_rat=0.1", "f.flags")


#: (case, call, the unknown name, one valid name, the file that checks it)
CASES = [
    ("model", lambda: _model(name="vgg99"), "vgg99", "vgg11", None),
    ("order", lambda: _model(order="after"), "after", "swap", None),
    ("activation", _activation, "sigmoidal", "tanh", None),
    (
        "block order",
        lambda: _block(order="after"),
        "after",
        "swap",
        "bnorder_tf/layers/blocks.py",
    ),
    (
        "block kind",
        lambda: _block(order="swap", kind="lstm"),
        "lstm",
        "conv",
        "bnorder_tf/layers/blocks.py",
    ),
    (
        "kernel initializer",
        _initializer,
        "xavier",
        "torch",
        "bnorder_tf/layers/initializers.py",
    ),
    (
        "strategy",
        _strategy,
        "gpus",
        "mirrored",
        "bnorder_tf/training/distribute.py",
    ),
    ("dataset", _source, "mnist", "cifar10", None),
    ("source split", _source_split, "valid", "test", None),
    ("pipeline split", _pipeline_split, "valid", "validation", None),
    ("tuner", _tuner, "annealing", "grid", None),
    (
        "search value",
        _search_value,
        "after",
        "swap",
        "bnorder_tf/tuning/search_space.py",
    ),
    ("precision", _precision, "float64", "float32", None),
    ("tap", _tap, "conv99", "conv1", None),
    ("report layer", _report_layer, "conv9", "conv2", None),
    (
        "setting choice",
        _setting_choice,
        "after",
        "swap",
        "bnorder_tf/training/config.py",
    ),
    (
        "setting name",
        _setting_name,
        "learning_rat",
        "learning_rate",
        "bnorder_tf/training/config.py",
    ),
]


@pytest.mark.parametrize(
    "call, name, valid",
    [
        pytest.param(call, name, valid, id=case)
        for case, call, name, valid, _site in CASES
    ],
)
def test_an_unknown_name_raises_the_one_error(call, name, valid):
    with pytest.raises(UnknownNameError) as raised:
        call()
    assert isinstance(raised.value, ConfigError)  # a one-line exit
    assert isinstance(raised.value, LookupError)
    assert isinstance(raised.value, ValueError)
    found = SHAPE.fullmatch(str(raised.value))
    assert found, str(raised.value)
    assert name in found["name"]
    assert valid in found["valid"].split(", ")


def test_lookup_returns_an_entry_or_the_name():
    assert lookup({"a": 1, "b": 2}, "b", "letter") == 2
    assert lookup(("a", "b"), "b", "letter") == "b"
    for registry in ({"a": 1, "b": 2}, ("a", "b"), ["a", "b"]):
        for name in ("c", None, ["a"]):
            with pytest.raises(UnknownNameError) as raised:
                lookup(registry, name, "letter")
            assert str(raised.value) == (
                f"Unknown letter {name!r}; valid values are: a, b."
            )


def _docstrings(tree):
    nodes = [tree] + [
        node
        for node in ast.walk(tree)
        if isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        )
    ]
    return {
        id(node.body[0].value)
        for node in nodes
        if node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _unknown_messages():
    """`{path: [line, ...]}` of the strings that say "unknown" of a name.

    Docstrings and comments aside; `errors.py` aside.
    """
    found = {}
    for directory, _, files in os.walk(PACKAGE):
        for file in sorted(files):
            path = os.path.join(directory, file)
            relative = os.path.relpath(path, ROOT).replace(os.sep, "/")
            if not file.endswith(".py") or relative == "bnorder_tf/errors.py":
                continue
            with open(path) as f:
                tree = ast.parse(f.read())
            docstrings = _docstrings(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                    and MESSAGE.search(node.value)
                ):
                    found.setdefault(relative, []).append(node.lineno)
    return found


def test_no_unknown_name_message_outside_errors():
    found = {
        path: lines
        for path, lines in _unknown_messages().items()
        if path not in NOT_NAMES
    }
    assert not found, f"write them with errors.lookup: {found}"


def test_the_scan_sees_a_message():
    """A sanity check of the scan itself, on the exceptions it allows."""
    assert set(NOT_NAMES) <= set(_unknown_messages())
