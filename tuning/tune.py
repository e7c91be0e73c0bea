"""Grid (or random, Bayesian, Hyperband) search over trainer settings,
each trial trained once per seed, as in the paper:

    python tuning/tune.py --flagfile=vgg_swap.flags \
        --search_learning_rate=0.1,0.01 \
        --search_weight_decay=5e-3,1e-3,5e-4,1e-4 --seeds=3

Takes every flag of trainers/train.py (the same definitions) plus the
search flags below. Writes `results.csv`, `results.md` and `best.flags`
(a flagfile for trainers/train.py) to `<tuning_dir>/<project>/`.
Re-running the same command continues an interrupted search.
"""

import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from absl import flags, logging  # noqa: E402

from bnorder_tf import cli, config, data, tuning  # noqa: E402
from bnorder_tf.activations import NAMES as ACTIVATIONS  # noqa: E402
from bnorder_tf.blocks import ORDERS  # noqa: E402
from bnorder_tf.distribute import get_strategy  # noqa: E402

config.define_flags()


def _floats(name, positive):
    def check(values):
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            return False
        return all(n > 0 if positive else n >= 0 for n in numbers) and len(
            set(numbers)) == len(numbers)  # fmt: skip

    bound = "> 0" if positive else ">= 0"
    flags.register_validator(
        name, lambda v: v is None or (len(v) > 0 and check(v)),
        f"--{name} must be a comma-separated list of distinct numbers "
        f"{bound}, e.g. 0.1,0.01.",
    )  # fmt: skip


def _names(name, valid):
    flags.register_validator(
        name, lambda v: v is None or (len(v) > 0 and set(v) <= set(valid)),
        f"--{name} must be a comma-separated list of: {', '.join(valid)}.",
    )  # fmt: skip


SEARCH_HELP = {
    "learning_rate": "Learning rates to search.",
    "weight_decay": "Weight decays (kernels, biases) to search.",
    "bn_gamma_decay": "Weight decays of BN gamma to search.",
    "bn_beta_decay": "Weight decays of BN beta to search.",
    "bn_affine_decay": "Weight decays of BN gamma and beta together.",
    "activation": "Activations to search.",
    "order": "Block orders to search.",
}
for field in tuning.SEARCHABLE:
    flags.DEFINE_list(f"search_{field}", None, SEARCH_HELP[field])
for field in ("learning_rate",):
    _floats(f"search_{field}", positive=True)
for field in ("weight_decay", "bn_gamma_decay", "bn_beta_decay",
              "bn_affine_decay"):  # fmt: skip
    _floats(f"search_{field}", positive=False)
_names("search_activation", ACTIVATIONS)
_names("search_order", list(ORDERS))
flags.DEFINE_enum("tuner", "grid", tuning.TUNERS, "Search algorithm.")
flags.DEFINE_integer("max_trials", None, "Most trials (default: the whole "
                     "grid; 10 for random and bayesian).", lower_bound=1)
flags.DEFINE_integer("seeds", 3, "Runs per trial, each with its own seed.",
                     lower_bound=1)  # fmt: skip
flags.DEFINE_string("tuning_dir", "tuning_runs", "Where searches go.")
flags.DEFINE_string("project", "search", "Name of this search under "
                    "--tuning_dir.")
FLAGS = flags.FLAGS


def search_space():
    space = {}
    for field in tuning.SEARCHABLE:
        values = FLAGS[f"search_{field}"].value
        if values:
            numeric = field not in ("activation", "order")
            space[field] = [float(v) for v in values] if numeric else values
    if not space:
        raise ValueError("No --search_* flag given: nothing to search (e.g. "
                         "--search_learning_rate=0.1,0.01).")
    return space


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    base = config.config_from_flags()
    space = search_space()
    # fail on a missing dataset now, in one line, not in every trial
    data.get_source(base.dataset, base.data_dir).load_split("test")
    strategy = get_strategy(base.strategy, devices=list(base.devices) or None)
    oracle = tuning.make_oracle(FLAGS.tuner, space, FLAGS.max_trials,
                                seed=base.seed,
                                max_epochs=base.epochs)  # fmt: skip
    tuner = tuning.SeedAveragingTuner(
        oracle, base_config=base, seeds=FLAGS.seeds, strategy=strategy,
        directory=FLAGS.tuning_dir, project_name=FLAGS.project,
        overwrite=False,
    )  # fmt: skip
    tuner.search()
    from keras_tuner.src.distribute import utils as dist_utils

    if dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle():
        return  # workers leave the tables to the chief
    rows = tuning.results_rows(tuner.oracle, space, FLAGS.seeds)
    best = None
    if rows:
        values = {k: rows[0][k] for k in space}
        best = dataclasses.replace(
            tuning.trial_config(base, values, base.seed), run_name=None)
    best_path = tuning.write_results(tuner.project_dir, rows, best)
    with open(os.path.join(tuner.project_dir, tuning.RESULTS_MD)) as f:
        print(f.read())
    if rows:
        print(f"Best: {rows[0]['accuracy_mean']:.4f} mean accuracy over "
              f"{FLAGS.seeds} seed(s) with "
              + ", ".join(f"{k}={rows[0][k]}" for k in space))
        print(f"Train it: python trainers/train.py --flagfile={best_path}")


if __name__ == "__main__":
    cli.run_program(main, [HERE, os.path.join(ROOT, "trainers")])
