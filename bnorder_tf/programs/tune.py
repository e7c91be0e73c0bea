"""The tuning program: a search over trainer settings, as in the paper.

A grid (or random, Bayesian, Hyperband) search, each trial trained once
per seed:

    python -m bnorder_tf.programs.tune --flagfile=vgg_swap.flags \
        --search_learning_rate=0.1,0.01 \
        --search_weight_decay=5e-3,1e-3,5e-4,1e-4 --seeds=3

(also `bnorder-tune` and `python tuning/tune.py`). Takes every flag of the
trainer (the same definitions) plus the search flags below. Writes
`results.csv`, `results.md`, `best.flags` (the best trial's flags) and
`final.flags` (the same point without the search's schedule, to retrain
it) to `<tuning_dir>/<project>/`. Re-running the same command continues an
interrupted search. Importing this module defines no flags:
`console_main` does.
"""

import dataclasses
import os

from absl import flags, logging

from bnorder_tf import choices
from bnorder_tf.errors import ConfigError
from bnorder_tf.programs import cli, config_flags
from bnorder_tf.tuning.distributed import (
    DEFAULT_LOST_AFTER,
    check_chief_address,
    search_role,
)
from bnorder_tf.tuning.search_space import parse_search_values, trial_config

SEARCH_HELP = {
    "learning_rate": "Learning rates to search.",
    "weight_decay": "Weight decays (kernels, biases) to search.",
    "bn_gamma_decay": "Weight decays of BN gamma to search.",
    "bn_beta_decay": "Weight decays of BN beta to search.",
    "bn_affine_decay": "Weight decays of BN gamma and beta together.",
    "activation": "Activations to search.",
    "order": "Block orders to search.",
    "depth": "VGG16_n depths n to search (8..16; sets --model=vgg16_<n>), "
    "as in the paper's appendix A.6.",
}
#: The names a non-numeric search flag accepts.
SEARCH_NAMES = {
    "activation": choices.ACTIVATIONS,
    "order": list(choices.ORDERS),
    "depth": [str(n) for n in choices.VGG16_DEPTHS],
}


def define_flags(fv=None):
    """Defines the trainer's flags plus the search flags.

    Args:
        fv: the `flags.FlagValues` to define them on (default
            `flags.FLAGS`).
    """
    fv = flags.FLAGS if fv is None else fv
    config_flags.define_flags(fv)
    for field in choices.SEARCHABLE:
        flags.DEFINE_list(
            f"search_{field}", None, SEARCH_HELP[field], flag_values=fv
        )
    flags.DEFINE_enum(
        "tuner", "grid", choices.TUNERS, "Search algorithm.", flag_values=fv
    )
    flags.DEFINE_integer(
        "max_trials",
        None,
        "Most trials (default: the whole grid; 10 for random and bayesian).",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "seeds",
        3,
        "Runs per trial, each with its own seed.",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_string(
        "tuning_dir", "tuning_runs", "Where searches go.", flag_values=fv
    )
    flags.DEFINE_string(
        "project",
        "search",
        "Name of this search under --tuning_dir (one directory name).",
        flag_values=fv,
    )
    flags.DEFINE_bool(
        "overwrite",
        False,
        "Start the project over: delete its "
        "trials (needed to rerun it with other settings).",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "lost_after",
        DEFAULT_LOST_AFTER,
        "Seconds, in a search shared by a chief and workers "
        "(KERASTUNER_* variables): a worker whose chief has not answered "
        "for this long exits (status 75); the chief gives the trial of a "
        "worker silent for twice as long to the next worker.",
        lower_bound=1,
        flag_values=fv,
    )


FLAGS = flags.FLAGS


def search_space():
    """The `--search_*` flags as `{field: values}`.

    Raises:
        ConfigError: a bad value, or no `--search_*` flag given.
    """
    space = {}
    for field in choices.SEARCHABLE:
        values = FLAGS[f"search_{field}"].value
        if values:
            space[field] = parse_search_values(
                f"search_{field}",
                values,
                names=SEARCH_NAMES.get(field),
                positive=field == "learning_rate",
            )
            if field == "depth":
                space[field] = [int(v) for v in space[field]]
    if not space:
        raise ConfigError(
            "No --search_* flag given: nothing to search (e.g. "
            "--search_learning_rate=0.1,0.01)."
        )
    return space


def main(argv):
    """Runs the search the parsed flags describe and writes its results."""
    del argv
    logging.set_verbosity(logging.WARNING)
    base = config_flags.config_from_flags()
    space = search_space()
    for field, values in space.items():  # every trial's config is valid
        for value in values:
            trial_config(base, {field: value}, base.seed)
    role = search_role()
    check_chief_address(role)
    # TensorFlow, Keras and keras-tuner only now that the flags are checked
    cli.import_tensorflow()
    from bnorder_tf import data
    from bnorder_tf.training import distribute
    from bnorder_tf.tuning import search as tuning

    distribute.split_cpu(base.logical_cpus)
    # fail on a missing dataset now, in one line, not in every trial
    data.get_source(
        base.dataset, base.data_dir, image_size=base.image_size
    ).load_split("test")
    strategy = distribute.get_strategy(
        base.strategy, devices=list(base.devices) or None
    )
    identity = tuning.project_identity(base, space, FLAGS.seeds, FLAGS.tuner)
    lock = tuning.open_project(
        FLAGS.tuning_dir,
        FLAGS.project,
        identity,
        FLAGS.overwrite,
        role.tuner_id,
    )
    try:
        _search(base, space, strategy, role)
    finally:
        lock.release()


def _search(base, space, strategy, role):
    from bnorder_tf.tuning import search as tuning

    oracle = tuning.make_oracle(
        FLAGS.tuner,
        space,
        FLAGS.max_trials,
        seed=base.seed,
        max_epochs=base.epochs,
    )
    tuner = tuning.SeedAveragingTuner(
        oracle,
        base_config=base,
        seeds=FLAGS.seeds,
        strategy=strategy,
        lost_after=FLAGS.lost_after,
        directory=FLAGS.tuning_dir,
        project_name=FLAGS.project,
        overwrite=False,
    )
    tuner.search()
    if role.worker:
        return  # workers leave the tables to the chief
    rows = tuning.results_rows(tuner.oracle, space, FLAGS.seeds)
    best_row = tuning.best_row(rows)
    best = None
    if best_row:
        values = {k: best_row[k] for k in space}
        best = dataclasses.replace(
            trial_config(base, values, base.seed), run_name=None
        )
    tuning.write_results(tuner.project_dir, rows, best)
    with open(os.path.join(tuner.project_dir, tuning.RESULTS_MD)) as f:
        print(f.read())
    failed = [r["trial"] for r in rows if r["status"] == tuning.FAILED]
    if failed:
        print(
            f"Failed (a seed diverged), left out of the best: trial(s) "
            f"{', '.join(failed)}."
        )
    if best_row:
        print(
            f"Best: {best_row['accuracy_mean']:.4f} mean accuracy over "
            f"{FLAGS.seeds} seed(s) with "
            + ", ".join(f"{k}={best_row[k]}" for k in space)
        )
        final_path = os.path.join(tuner.project_dir, tuning.FINAL_FLAGS)
        print(
            "Train it with the trainer's schedule, not the search's: "
            f"python trainers/train.py --flagfile={final_path} --seed=0"
        )


def console_main():
    """The `bnorder-tune` entry point."""
    define_flags()
    cli.run_program(main, cli.FLAGFILE_DIRS)


if __name__ == "__main__":
    console_main()
