"""The package's shape: layers, import direction and function lengths.

Folders import only downward, never in a cycle, and no function runs
longer than `MAX_FUNCTION_LINES`. Each module's imports of `bnorder_tf`
(at module level and inside functions) are read from its source with
`ast`, so the check sees the lazy imports too.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "bnorder_tf")

#: Each part of the package and its layer: a module may import from its
#: own layer or a lower one, never from a higher one.
LAYERS = {
    # the vocabulary every part shares, and private helpers
    "bnorder_tf": 0,
    "bnorder_tf.version": 0,
    "bnorder_tf.errors": 0,
    "bnorder_tf.choices": 0,
    "bnorder_tf.losses": 0,
    "bnorder_tf._lazy": 0,
    "bnorder_tf._compat": 0,
    "bnorder_tf._strict_json": 0,
    "bnorder_tf._tf_start": 0,
    # the library, bottom up
    "bnorder_tf.layers": 1,
    "bnorder_tf.models": 2,
    "bnorder_tf.data": 2,
    "bnorder_tf.stats": 2,
    "bnorder_tf.serving": 3,
    "bnorder_tf.training": 4,
    "bnorder_tf.tuning": 5,
    "bnorder_tf.report": 5,
    # the programs, and their `python -m` names
    "bnorder_tf.programs": 6,
    "bnorder_tf.train": 6,
    "bnorder_tf.tune": 6,
    "bnorder_tf.predict": 6,
    "bnorder_tf.report.__main__": 6,
}


def _module_name(path):
    relative = os.path.relpath(path, ROOT)[: -len(".py")]
    name = relative.replace(os.sep, ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _modules():
    for directory, _, files in os.walk(PACKAGE):
        for file in sorted(files):
            if file.endswith(".py"):
                path = os.path.join(directory, file)
                yield _module_name(path), path


MODULES = {name for name, _ in _modules()}


def _imports(name, path):
    """The `bnorder_tf` modules `name` imports.

    `from X import y` counts as `X.y` when that is a module, else `X`.
    """
    with open(path) as f:
        tree = ast.parse(f.read())
    is_package = path.endswith("__init__.py")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names}
            submodules &= MODULES
            # `from package import module` runs the package's __init__,
            # as any import of its modules does: the edge is the module's
            found |= submodules if submodules else {base}
    return {m for m in found if m in MODULES and m != name}


def _layer(name):
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{name} belongs to no layer of LAYERS")


GRAPH = {name: _imports(name, path) for name, path in _modules()}


def test_every_module_has_a_layer():
    for name in GRAPH:
        _layer(name)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_module_imports_from_a_layer_above(name):
    part, layer = _layer(name)
    upward = [
        target for target in sorted(GRAPH[name]) if _layer(target)[1] > layer
    ]
    assert not upward, f"{name} ({part}, layer {layer}) imports {upward}"


def test_layers_and_stats_know_nothing_of_training():
    for name, imported in GRAPH.items():
        if name.startswith(("bnorder_tf.layers", "bnorder_tf.stats")):
            training = [
                m
                for m in imported
                if m.startswith(("bnorder_tf.training", "bnorder_tf.tuning"))
            ]
            assert not training, f"{name} imports {training}"


def test_no_import_cycles():
    """Depth-first search over the module graph.

    A package's `__init__` and its modules count as separate nodes.
    """
    state = {}

    def visit(name, path):
        state[name] = "open"
        for target in GRAPH[name]:
            if state.get(target) == "open":
                cycle = path[path.index(target) :] + [target]
                raise AssertionError(" -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_the_graph_sees_known_edges():
    """A sanity check of the parser itself, on edges that must exist."""
    assert "bnorder_tf.layers.blocks" in GRAPH["bnorder_tf.models.common"]
    assert "bnorder_tf.stats.engine" in GRAPH["bnorder_tf.stats.callback"]
    assert "bnorder_tf.training.runner" in GRAPH["bnorder_tf.tuning.search"]


def test_the_public_api_lists_the_headline_names():
    import inspect

    import bnorder_tf

    for name in (
        "SwapBlock",
        "ConventionBlock",
        "NoBNBlock",
        "build_model",
        "WeightDecay",
        "Tanh",
        "LeCunTanh",
        "Softsign",
        "activation_stats",
        "ActivationStatsCallback",
        "ModelTaps",
        "run_training",
        "TrainConfig",
        "RunResult",
        "__version__",
    ):
        assert name in bnorder_tf.__all__, name
    parameters = inspect.signature(bnorder_tf.activation_stats).parameters
    assert all(p.kind != p.VAR_KEYWORD for p in parameters.values())


#: The longest a function may be, its docstring included: a longer one
#: holds more than one job (a docstring's long example can go in the
#: module's docstring instead).
MAX_FUNCTION_LINES = 80


def _functions():
    """`(module:function, lines)` of every function of the package."""
    for name, path in _modules():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{name}:{node.name}", node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_the_limit():
    long = [(f, n) for f, n in _functions() if n > MAX_FUNCTION_LINES]
    assert not long, long


def test_the_length_check_sees_the_longest_functions():
    lengths = dict(_functions())
    assert len(lengths) > 300
    assert lengths["bnorder_tf.report.build:build_report"] > 40
