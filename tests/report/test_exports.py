"""`bnorder_tf.report` is an index: the names it had stay importable.

The package's `__init__` used to hold the report's code; it now imports
each name from the module that does the job. Every public name it had,
defined or imported, still imports from the package, as the same object
as in its module.
"""

import ast
import importlib

import pytest

import bnorder_tf.report

#: `{name: module}` of every public name `bnorder_tf.report` had.
NAMES = {
    "ConfigError": "bnorder_tf.errors",
    "DEFAULT_TITLE": "bnorder_tf.report.build",
    "REPORT_HTML": "bnorder_tf.report.build",
    "REPORT_MD": "bnorder_tf.report.build",
    "build_report": "bnorder_tf.report.build",
    "accuracy_rows": "bnorder_tf.report.accuracy",
    "accuracy_table": "bnorder_tf.report.accuracy",
    "tanh_skewness_grid": "bnorder_tf.report.analytic",
    "PER_LAYER_FIGURES": "bnorder_tf.report.figure_sections",
    "SKEWNESS_ACCURACY": "bnorder_tf.report.claims",
    "check_claims": "bnorder_tf.report.claims",
    "claims_table": "bnorder_tf.report.claims",
    "is_bounded": "bnorder_tf.report.claims",
    "PAPER_BEST_DEPTH": "bnorder_tf.report.depth",
    "DepthStudy": "bnorder_tf.report.depth",
    "check_depth_claims": "bnorder_tf.report.depth",
    "depth_table": "bnorder_tf.report.depth",
    "Document": "bnorder_tf.report.document",
    "Section": "bnorder_tf.report.document",
    "Table": "bnorder_tf.report.document",
    "read_notes": "bnorder_tf.report.document",
    "to_html": "bnorder_tf.report.document",
    "to_markdown": "bnorder_tf.report.document",
    "check_figure15_claims": "bnorder_tf.report.figure15",
    "figure15_figure": "bnorder_tf.report.figure15",
    "figure15_table": "bnorder_tf.report.figure15",
    "gap_table": "bnorder_tf.report.pairs",
    "order_pairs": "bnorder_tf.report.pairs",
    "MAIN_SETTINGS": "bnorder_tf.report.runs",
    "NotARunError": "bnorder_tf.report.runs",
    "find_runs": "bnorder_tf.report.runs",
    "group_runs": "bnorder_tf.report.runs",
    "varying_settings": "bnorder_tf.report.runs",
    "MODEL_KEYS": "bnorder_tf.stats.results",
    "final_accuracy": "bnorder_tf.training.run_dir",
}
MODULES = (
    "analytic",
    "claims",
    "depth",
    "document",
    "figure15",
    "figures",
    "pairs",
    "runs",
    "significance",
    "verdicts",
)


@pytest.mark.parametrize("name, module", sorted(NAMES.items()))
def test_a_name_the_package_had_still_imports(name, module):
    assert getattr(bnorder_tf.report, name) is getattr(
        importlib.import_module(module), name
    )


def test_the_modules_are_attributes_of_the_package():
    for module in MODULES:
        assert getattr(bnorder_tf.report, module).__name__ == (
            f"bnorder_tf.report.{module}"
        )


def test_the_index_holds_no_logic():
    """Imports and `__all__` only, in at most about 80 lines."""
    with open(bnorder_tf.report.__file__) as f:
        source = f.read()
    tree = ast.parse(source)
    assert len(source.splitlines()) <= 80
    for statement in tree.body[1:]:  # after the docstring
        assert isinstance(
            statement, (ast.Import, ast.ImportFrom, ast.Assign)
        ), ast.dump(statement)[:80]
