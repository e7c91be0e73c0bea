"""`build_report`: run directories in, `report.md`, `report.html` out.

Example:
Two finished runs, one per order, written by hand here (a training
run writes its `flags.txt` and `summary.json` itself):

>>> import json, tempfile
>>> from bnorder_tf.training.config import TrainConfig
>>> runs = tempfile.TemporaryDirectory()
>>> for order, accuracy in (("convention", 0.90), ("swap", 0.92)):
...     run_dir = os.path.join(runs.name, order)
...     os.makedirs(run_dir)
...     config = TrainConfig(dataset="cifar10", model="vgg11", order=order)
...     with open(os.path.join(run_dir, "flags.txt"), "w") as f:
...         _ = f.write(config.to_flags())
...     with open(os.path.join(run_dir, "summary.json"), "w") as f:
...         json.dump({"run_name": order, "epochs": 1,
...                    "final_test_accuracy": accuracy}, f)
>>> out = os.path.join(runs.name, "report")
>>> path = build_report([runs.name], out)
>>> os.path.basename(path), sorted(os.listdir(out))
('report.md', ['report.html', 'report.md', 'tanh_skewness.png'])
>>> with open(path) as f:
...     rows = [line.strip() for line in f if line.startswith("| G")]
>>> for row in rows:
...     print(row)
| G1 | cifar10 | vgg11 | tanh | convention | 90.00 ± 0.00 | 1 | ...
| G2 | cifar10 | vgg11 | tanh | swap | 92.00 ± 0.00 | 1 | ...
>>> runs.cleanup()
"""

import os

from bnorder_tf.errors import lookup
from bnorder_tf.report import figures
from bnorder_tf.report.depth import DepthStudy
from bnorder_tf.report.document import (
    Document,
    Section,
    read_notes,
    to_html,
    to_markdown,
)
from bnorder_tf.report.figure_sections import depth_figures, report_figures
from bnorder_tf.report.pairs import order_pairs
from bnorder_tf.report.runs import NotARunError, find_runs, group_runs
from bnorder_tf.report.table_sections import table_sections

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
DEFAULT_TITLE = "bnorder_tf report"


def _choose_layer(groups, layer):
    """The block of the histogram figures: `layer`, or the middle one."""
    for group in groups:
        stats = group.runs[0].last_stats
        if stats:
            layers = list(stats["layers"])
            if layer is None:
                return layers[len(layers) // 2]
            return lookup(layers, layer, "--layer block")
    return layer


def build_report(
    paths,
    out,
    layer=None,
    channels=4,
    claims=False,
    markdown_name=REPORT_MD,
    title=DEFAULT_TITLE,
    intro=None,
    notes=None,
    gradient_paths=(),
):
    """Reads runs, writes `report.md`, `report.html` and PNG figures.

    Args:
        paths: run, model or tuning directories.
        out: output directory (created).
        layer: the block whose channel histograms are drawn (or the middle).
        channels: histogram channels per run.
        claims: bool, add the table of the paper's claims checked on the
            runs (`bnorder_tf.report.claims`).
        markdown_name: file name of the Markdown report in `out`.
        title: the report's title.
        intro: an optional paragraph put before the count of runs.
        notes: an optional Markdown file of `## ` sections of prose (see
            `document.read_notes`), put after the tables.
        gradient_paths: run directories counted for their gradient scales
            alone (figure 15 and the depth study's gradient ratio), e.g.
            seeds trained again with `--gradient_batches`: they join no
            accuracy table or claim.

    Returns:
        The path of `report.md`.

    Raises:
        NotARunError: a path holds no finished run.
        MalformedFileError: a run's files are damaged (named).
        ConfigError: the notes file is missing or has no heading first.

    Example:
    The module's docstring reports two runs written by hand.
    """
    notes = read_notes(notes) if notes else []
    runs = find_runs(paths)
    diverged = [run for run in runs if not run.finished]
    runs = [run for run in runs if run.finished]
    if not runs:
        raise NotARunError(
            "No run finished without diverging: "
            + ", ".join(run.path for run in diverged)
        )
    groups = group_runs(runs)
    pairs = order_pairs(groups)
    gradient_runs = [
        run
        for run in (find_runs(gradient_paths) if gradient_paths else [])
        if run.finished
    ]
    study = DepthStudy.from_runs(runs, gradient_runs)
    layer = _choose_layer(groups, layer)
    sections = (
        table_sections(groups, pairs, runs, diverged, claims, study) + notes
    )
    os.makedirs(out, exist_ok=True)
    drawn = report_figures(groups, pairs, layer, channels)
    sections += _saved_figures(drawn + depth_figures(study), out)
    count = (
        f"{len(runs)} run(s) in {len(groups)} setting(s), grouped by their "
        "flags.txt (runs differing only in the seed and operational flags "
        "are one setting)."
    )
    document = Document(
        title, f"{intro}\n\n{count}" if intro else count, sections
    )
    md_path = os.path.join(out, markdown_name)
    with open(md_path, "w") as f:
        f.write(to_markdown(document))
    with open(os.path.join(out, REPORT_HTML), "w") as f:
        f.write(to_html(document))
    return md_path


def _saved_figures(drawn, out):
    """The figures drawn, saved as PNG files in `out`, as `Section`s.

    A figure of `None` (nothing to draw) is left out.
    """
    sections = []
    for name, heading, caption, fig in drawn:
        if fig is None:
            continue
        path = os.path.join(out, f"{name}.png")
        fig.savefig(path, dpi=110)
        figures.plt.close(fig)
        sections.append(Section(heading, caption, image=path))
    return sections
