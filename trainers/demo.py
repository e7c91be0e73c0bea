"""`make demo`: Convention against Swap on Fashion-MNIST, on a CPU.

Trains two tanh VGG16_11 models at width 0.25 (Convention: weight -> BN ->
tanh; Swap: weight -> tanh -> BN) for a few epochs, each at the learning
rate and weight decay the reproduction study tuned for it
(`reproduction/fashion_mnist/work/tuning/<order>/best.flags`; the
flagfile defaults where that search has not finished), and prints their
test accuracy and activation statistics side by side, the paper's claims
a short run can check, and where the short run disagrees with the full
study. Runs land in `runs/demo/`; a finished demo run is read back, not
trained again (delete the directory to start over).

    python trainers/demo.py [--epochs=3] [--model_dir=runs/demo]
"""

import csv
import os
import statistics

from absl import flags, logging

from bnorder_tf.programs import cli
from bnorder_tf.training.config import TrainConfig
from bnorder_tf.training.run_dir import read_summary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_integer("epochs", 3, "Epochs per model.", lower_bound=1)
flags.DEFINE_string(
    "model_dir", os.path.join("runs", "demo"), "Where the two runs go."
)
flags.DEFINE_string(
    "data_dir",
    None,
    "Directory with Fashion-MNIST's IDX "
    "files (default: Debian's package, then tfds).",
)
FLAGS = flags.FLAGS

ORDERS = ("convention", "swap")
STUDY = os.path.join(ROOT, "reproduction", "fashion_mnist")
ROWS = (
    ("test accuracy", "final_test_accuracy"),
    ("saturation", "saturation"),
    ("skewness", "skewness"),
    ("sparsity", "sparsity"),
)
#: Claims a few epochs can check: (text, summary value, study column).
CLAIMS = (
    ("Swap is more accurate", "final_test_accuracy", "test_accuracy"),
    (
        "Swap saturates more (max layer)",
        "max_layer_saturation",
        "max_layer_saturation",
    ),
    ("Swap is more skewed", "skewness", "skewness"),
    ("Swap is sparser", "sparsity", "sparsity"),
)


def tuned_point(order):
    """`(learning_rate, weight_decay, source)` of the study's search.

    The search for `order`, or the flagfiles' defaults when it has not
    finished; `source` says which (`"tuned"` or `"default"`).
    """
    path = os.path.join(STUDY, "work", "tuning", order, "best.flags")
    if not os.path.exists(path):
        default = TrainConfig()
        return default.learning_rate, default.weight_decay, "default"
    with open(path) as f:
        tuned = TrainConfig.from_flags_text(f.read(), source=path)
    return tuned.learning_rate, tuned.weight_decay, "tuned"


def demo_config(order):
    """The `TrainConfig` of the demo's run of `order`, at its tuned point."""
    learning_rate, weight_decay, _ = tuned_point(order)
    first = max(FLAGS.epochs // 2, 1)  # x0.1 at 50% and 75%, as the study
    return TrainConfig(
        dataset="fashion_mnist",
        data_dir=FLAGS.data_dir,
        model="vgg16_11",
        order=order,
        activation="tanh",
        width=0.25,
        epochs=FLAGS.epochs,
        batch_size=128,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        lr_milestones=(first, max((3 * FLAGS.epochs) // 4, first + 1)),
        seed=0,
        histogram_bins=0,
        model_dir=FLAGS.model_dir,
        run_name=f"vgg16_11_{order}_tanh",
        export_dir=os.path.join(FLAGS.model_dir, "savedmodels"),
    )


def train_or_read(config):
    """The run's summary: read back if it finished earlier, else trained."""
    summary = read_summary(config.run_dir)
    if summary is not None:
        print(f"{config.order}: finished earlier, reading {config.run_dir}")
        return summary
    # imported once `cli.run_program` has set TensorFlow's start-up up
    from bnorder_tf.training.runner import run_training

    return run_training(config).summary


def value(summary, key):
    """A row's value in a run's summary: a summary key or a statistic.

    `max_layer_saturation` is the largest saturation of the run's blocks.
    """
    if key == "max_layer_saturation":
        values = [
            layer["saturation"]
            for layer in (summary.get("layer_stats") or {}).values()
            if layer.get("saturation") is not None
        ]
        return max(values) if values else None
    if key in summary:
        return summary[key]
    return (summary.get("stats") or {}).get(key)


def table(summaries):
    """The rows of `ROWS`, one column per order, as text."""
    lines = [f"{'':16}" + "".join(f"{order:>12}" for order in summaries)]
    for label, key in ROWS:
        cells = [f"{value(s, key):12.4f}" for s in summaries.values()]
        lines.append(f"{label:16}" + "".join(cells))
    return "\n".join(lines)


def study_means(column):
    """The full study's final-run means of a column per order, or None."""
    path = os.path.join(STUDY, "results.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if r["role"] == "final"
            and r["activation"] == "tanh"
            and r["status"] == "finished"
            and r[column] != ""
        ]
    means = {}
    for order in ORDERS:
        values = [float(r[column]) for r in rows if r["order"] == order]
        if values:
            means[order] = statistics.fmean(values)
    return means if len(means) == len(ORDERS) else None


def claims(summaries):
    """One line per claim: whether this run shows it, and the study's verdict.

    The study's verdict is given where the study has finished.
    """
    lines = []
    for text, key, column in CLAIMS:
        holds = value(summaries["swap"], key) > value(
            summaries["convention"], key
        )
        line = f"  {text}: {'yes' if holds else 'no'} here"
        study = study_means(column)
        if study is not None:
            agrees = (study["swap"] > study["convention"]) == holds
            line += (
                "; the full study agrees"
                if agrees
                else "; the full study finds the opposite "
                "(reproduction/fashion_mnist/README.md)"
            )
        lines.append(line)
    return "\n".join(lines)


def main(argv):
    """Trains (or reads back) both runs and prints their comparison."""
    del argv
    logging.set_verbosity(logging.WARNING)
    cli.import_tensorflow()
    summaries = {order: train_or_read(demo_config(order)) for order in ORDERS}
    print()
    print(
        f"VGG16_11 tanh, width 0.25, Fashion-MNIST, {FLAGS.epochs} epochs, "
        "each order at its own point:"
    )
    for order in ORDERS:
        learning_rate, weight_decay, source = tuned_point(order)
        print(
            f"  {order}: learning rate {learning_rate:g}, weight decay "
            f"{weight_decay:g} ({source})"
        )
    print(table(summaries))
    print("\nThe paper's claims (CIFAR-100, 200 epochs) on this short run:")
    print(claims(summaries))
    if study_means("test_accuracy") is None:
        print(
            "The full study (make reproduce) has not finished: compare "
            "with reproduction/fashion_mnist/README.md when it has."
        )


if __name__ == "__main__":
    cli.run_program(main, [])
