"""Hyperparameter search as in the paper: each trial trains once per seed.

`SeedAveragingTuner` is a keras-tuner `Tuner` whose trial is a set of
`TrainConfig` overrides (learning rate, weight decay, BN decays,
activation, order); it trains one full run per seed with `run_training`
and reports the mean accuracy over seeds as the objective, with each
seed's accuracy and the mean model-level statistics as further metrics.
Runs go to
`<tuning_dir>/<project>/runs/trial_<id>_seed<k>`: after an interruption,
re-running the same command makes keras-tuner retry the interrupted
trial, whose finished seeds are read back, not trained again.

Any keras-tuner oracle works (grid, random, Bayesian, Hyperband), and so
does keras-tuner's chief/worker mode (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`), where a lost chief
ends its workers in one line and a lost worker's trial goes to the next
worker (`bnorder_tf.tuning.distributed`).
"""

import csv
import dataclasses
import json
import os
import shutil
import statistics

import keras_tuner as kt

from bnorder_tf import choices
from bnorder_tf._compat import ResumableGridSearchOracle, serve_oracle
from bnorder_tf._strict_json import dumps_strict
from bnorder_tf.errors import (
    ConfigError,
    TrainingDivergedError,
    UserError,
    lookup,
)
from bnorder_tf.stats.results import MODEL_KEYS
from bnorder_tf.training.config import TrainConfig
from bnorder_tf.training.run_dir import (
    DIVERGED,
    DirectoryLock,
    check_directory_flag,
    check_inside,
    final_accuracy,
    read_summary,
    write_atomically,
)
from bnorder_tf.training.runner import run_training
from bnorder_tf.tuning import distributed
from bnorder_tf.tuning.search_space import parse_search_values, trial_config

SEARCHABLE = choices.SEARCHABLE
TUNERS = choices.TUNERS
OBJECTIVE = "val_accuracy"
STATS = MODEL_KEYS
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
BEST_FLAGS = "best.flags"
FINAL_FLAGS = "final.flags"
#: The settings of a search's protocol, which `final.flags` leaves out: the
#: run's length and learning-rate milestones (absolute epochs), its early
#: stopping, evaluation split and step limits, and how densely the
#: statistics are recorded (searches record them sparsely, for speed).
SEARCH_PROTOCOL = (
    "epochs",
    "lr_milestones",
    "early_stopping",
    "validation_examples",
    "steps_per_epoch",
    "eval_steps",
    "stats_every",
    "histogram_bins",
    "histogram_every",
    "gradient_batches",
)
#: What a project was started with; a rerun must agree with it.
PROJECT_FILE = "project.json"
#: `status` of a trial in the results.
COMPLETED, FAILED = "completed", "failed"


class TrialInputError(UserError, kt.errors.FatalError):
    """A user error inside a trial (a run in use, missing data).

    It stops the search instead of being recorded as a failed trial.
    """


def project_identity(base, space, seeds, tuner):
    """What defines a search, as a dict of JSON values.

    The base settings that no search flag overrides, the seeds, the search
    space and the algorithm. Two commands with the same identity continue
    one project.

    Args:
        base: the `TrainConfig` every trial starts from.
        space: dict from a searched name to its list of values.
        seeds: int, runs per trial.
        tuner: the search algorithm's name (`TUNERS`).
    """
    searched = set(space)
    if "bn_affine_decay" in searched:
        searched |= {"bn_gamma_decay", "bn_beta_decay"}
    if "depth" in searched:
        searched.add("model")
    settings = {k: v for k, v in base.settings().items() if k not in searched}
    if "order" in searched:
        settings.pop("order", None)
    return {
        "settings": settings,
        "seed": base.seed,
        "seeds": int(seeds),
        "space": {k: [str(v) for v in values] for k, values in space.items()},
        "tuner": tuner,
    }


def open_project(
    tuning_dir, project, identity, overwrite=False, tuner_id="chief"
):
    """Checks and locks `<tuning_dir>/<project>` for this process.

    A new project records `identity` in `project.json`; an existing one
    must have been started with the same identity, unless `overwrite`
    deletes it first (only the chief may).

    Args:
        tuning_dir: the `--tuning_dir` flag, the directory of all projects.
        project: the `--project` flag, the project's directory name.
        identity: `project_identity(...)` of this command.
        overwrite: bool, start the project over.
        tuner_id: keras-tuner's `KERASTUNER_TUNER_ID` ("chief" alone).

    Returns:
        The held `DirectoryLock`; release it when the search ends.

    Raises:
        ConfigError: a bad project name, a tuning_dir that is a file, or
            a project started with other settings.
        RunInUseError: another process searches this project (as the
            same tuner id).
    """
    check_directory_flag("tuning_dir", tuning_dir, writable=True)
    check_inside("project", project, "tuning_dir")
    project_dir = os.path.join(tuning_dir, project)
    check_directory_flag("project", project_dir)
    path = os.path.join(project_dir, PROJECT_FILE)
    before = _read_identity(path)
    if before is not None:
        before = _with_new_settings(before, identity)
    if before is not None and before != identity and not overwrite:
        changed = sorted(_differences(before, identity))
        raise ConfigError(
            f"{project_dir} was started with other settings "
            f"({', '.join(changed)}): rerun it with its own flags, pass "
            "another --project, or --overwrite to start it over (its "
            "trials are deleted)."
        )
    lock = DirectoryLock(
        tuning_dir, "tuning project", name=f".{project}.{tuner_id}.lock"
    ).acquire()
    try:
        if overwrite and tuner_id == "chief" and os.path.isdir(project_dir):
            shutil.rmtree(project_dir)
        os.makedirs(project_dir, exist_ok=True)
        if _read_identity(path) is None:
            write_atomically(path, dumps_strict(identity, indent=2))
    except BaseException:
        lock.release()
        raise
    return lock


def _with_new_settings(before, identity):
    """`before` with the settings added to `TrainConfig` since it was written.

    Those settings get their default values (what the project ran with),
    as `flags.txt` is read.
    """
    defaults = TrainConfig().settings()
    settings = dict(before.get("settings", {}))
    for name in identity.get("settings", {}):
        if name not in settings and name in defaults:
            settings[name] = defaults[name]
    return dict(before, settings=settings)


def _read_identity(path):
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError:
        return None  # cut short by a kill before its rename: rewritten


def _differences(before, after):
    names = set()
    for key in set(before) | set(after):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            names |= {n for n in set(a) | set(b) if a.get(n) != b.get(n)}
        elif a != b:
            names.add(key)
    return names


def hyperparameters(space):
    """A `kt.HyperParameters` with one `Choice` per searched field.

    Args:
        space: dict from a `SEARCHABLE` name to its list of values.
    """
    hp = kt.HyperParameters()
    for name, values in space.items():
        hp.Choice(name, list(values), ordered=False)
    return hp


class SeedAveragingTuner(kt.Tuner):
    """Runs each trial once per seed; the objective is the mean accuracy.

    Args:
        oracle: a keras-tuner oracle over `hyperparameters(space)`.
        base_config: the `TrainConfig` every trial starts from.
        seeds: int, runs per trial (seeds `base_config.seed + k`).
        strategy: optional `tf.distribute.Strategy` every run trains under.
        lost_after: seconds, in keras-tuner's chief/worker mode: a worker
            whose chief has not answered for this long ends its process
            (`distributed.exit_chief_lost`, exit status 75), and the chief
            gives the trial of a worker silent for twice as long to the
            next worker that asks.
        **kwargs: `kt.Tuner` arguments (`directory`, `project_name`,
            `overwrite`, ...).

    Example:
    >>> import tempfile
    >>> config = TrainConfig(dataset="synthetic", model="vgg11", epochs=1)
    >>> hp = hyperparameters({"learning_rate": [0.1, 0.01]})
    >>> oracle = kt.oracles.GridSearchOracle(
    ...     objective=kt.Objective("val_accuracy", "max"),
    ...     hyperparameters=hp)
    >>> tuning_dir = tempfile.TemporaryDirectory()
    >>> tuner = SeedAveragingTuner(oracle, base_config=config, seeds=3,
    ...                            directory=tuning_dir.name,
    ...                            project_name="search")

    The search trains every seed of every trial, a full run each, which
    takes longer than a test may, so it is shown, not run:

    >>> tuner.search()  # doctest: +SKIP
    >>> tuning_dir.cleanup()
    """

    def __init__(
        self,
        oracle,
        base_config,
        seeds=3,
        strategy=None,
        lost_after=distributed.DEFAULT_LOST_AFTER,
        **kwargs,
    ):
        self.base_config = base_config
        self.seeds = int(seeds)
        self.strategy = strategy
        self.lost_after = float(lost_after)
        self._watch = None
        super().__init__(oracle, hypermodel=None, **kwargs)

    def search(self, *args, **kwargs):
        """Runs the search, or this process's part of a distributed one.

        The chief serves the oracle until no trial runs or waits; a worker
        trains the trials the chief gives it, while a `ChiefWatch` ends it
        should the chief stop answering.

        Raises:
            ConfigError: the chief cannot listen on its address.
        """
        role = distributed.search_role()
        if role.chief:
            self.save()
            try:
                serve_oracle(
                    self.oracle,
                    role.address,
                    2 * self.lost_after,
                    self.on_worker_lost,
                )
            except OSError as e:
                raise ConfigError(
                    f"the chief cannot serve the search at {role.address} "
                    f"({distributed.ORACLE_IP}:{distributed.ORACLE_PORT}): "
                    f"{e}; give a free port and this machine's address."
                ) from None
            return
        if not role.worker:
            return super().search(*args, **kwargs)
        self._watch = distributed.ChiefWatch(
            role.address, self.lost_after
        ).start()
        try:
            return super().search(*args, **kwargs)
        finally:
            self._watch.stop()
            self._watch = None

    def on_worker_lost(self, tuner_id, trial_id):
        """Called on the chief when a worker stopped answering.

        Its trial (`trial_id`, `None` if it ran none) is back in the queue
        already. Prints `distributed.worker_lost_message` on stderr.
        """
        distributed.say_worker_lost(
            distributed.worker_lost_message(
                tuner_id, trial_id, 2 * self.lost_after
            )
        )

    def on_trial_begin(self, trial):
        if self._watch is not None:
            self._watch.trial_begins(trial.trial_id)
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self._watch is not None:
            self._watch.trial_ends()

    @property
    def runs_dir(self):
        return os.path.join(self.project_dir, "runs")

    def seed_config(self, trial, k):
        values = dict(trial.hyperparameters.values)
        epochs = values.pop("tuner/epochs", None)  # set by Hyperband
        for key in [k for k in values if k.startswith("tuner/")]:
            values.pop(key)
        config = trial_config(
            self.base_config, values, self.base_config.seed + k
        )
        return dataclasses.replace(
            config,
            epochs=epochs or config.epochs,
            model_dir=self.runs_dir,
            run_name=f"trial_{trial.trial_id}_seed{k}",
            export_dir=os.path.join(self.project_dir, "savedmodels"),
        )

    def _run_seed(self, config):
        """The seed's summary: read back if it finished before, else trained.

        A seed that finished before an interruption is read back. A
        diverged seed fails the trial (keras-tuner's `FailedTrialError`:
        recorded, not retried); a user error stops the search; anything
        else is a bug and propagates.
        """
        run_dir = os.path.join(config.model_dir, config.run_name)
        try:
            summary = read_summary(run_dir)
            if summary is None:
                summary = run_training(
                    config, strategy_override=self.strategy, verbose=0
                ).summary
        except TrainingDivergedError as e:
            raise kt.errors.FailedTrialError(str(e)) from e
        except UserError as e:
            raise TrialInputError(str(e)) from e
        except Exception as e:
            raise kt.errors.FatalError(
                f"{type(e).__name__} in {run_dir}: {e}"
            ) from e
        if summary.get("status") == DIVERGED:
            raise kt.errors.FailedTrialError(
                f"{run_dir} diverged in epoch {summary.get('diverged_epoch')}."
            )
        return summary

    def run_trial(self, trial, *args, **kwargs):
        summaries = [
            self._run_seed(self.seed_config(trial, k))
            for k in range(self.seeds)
        ]
        accuracies = [final_accuracy(s) for s in summaries]
        metrics = {
            OBJECTIVE: statistics.fmean(accuracies),
            "val_accuracy_std": (
                statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
            ),
        }
        for k, accuracy in enumerate(accuracies):
            metrics[f"seed{k}_val_accuracy"] = accuracy
        for name in STATS:
            values = [
                s["stats"][name]
                for s in summaries
                if s.get("stats") and s["stats"].get(name) is not None
            ]
            if values:
                metrics[name] = statistics.fmean(values)
        return metrics

    # keras-tuner saves a model per trial; the runs hold ours already
    def save_model(self, trial_id, model, step=0):
        pass

    def load_model(self, trial):
        raise NotImplementedError(
            "Trial models are the runs under <tuning_dir>/<project>/runs."
        )


def make_oracle(tuner, space, max_trials=None, seed=None, max_epochs=None):
    """The keras-tuner oracle for a tuner name (`TUNERS`).

    Raises:
        UnknownNameError: a name not in `TUNERS`.
    """
    lookup(TUNERS, tuner, "tuner")
    objective = kt.Objective(OBJECTIVE, direction="max")
    hp = hyperparameters(space)
    # a diverged trial is a result of the grid, not a reason to stop it
    common = dict(
        objective=objective,
        hyperparameters=hp,
        seed=seed,
        tune_new_entries=False,
        max_consecutive_failed_trials=2**31 - 1,
    )
    if tuner == "grid":
        return ResumableGridSearchOracle(max_trials=max_trials, **common)
    if tuner == "random":
        return kt.oracles.RandomSearchOracle(
            max_trials=max_trials or 10, **common
        )
    if tuner == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(
            max_trials=max_trials or 10, **common
        )
    return kt.oracles.HyperbandOracle(  # "hyperband", the last of TUNERS
        max_epochs=max_epochs, **common
    )


def results_rows(oracle, space, seeds):
    """One dict per ended trial, completed trials first, best first.

    Each has the trial's hyperparameters, `status` (`completed`, or
    `failed` for a trial with a diverged seed), accuracy mean and std, each
    seed's accuracy and the mean statistics. Failed trials have no
    accuracy.

    Args:
        oracle: the search's keras-tuner oracle.
        space: dict from a searched name to its list of values.
        seeds: int, runs per trial.
    """
    ended = {
        kt.engine.trial.TrialStatus.COMPLETED: COMPLETED,
        kt.engine.trial.TrialStatus.FAILED: FAILED,
    }
    rows = []
    for trial in oracle.trials.values():
        if trial.status not in ended:
            continue
        metrics = {
            name: trial.metrics.get_last_value(name)
            for name in trial.metrics.metrics
        }
        row = {"trial": trial.trial_id, "status": ended[trial.status]}
        row.update({name: trial.hyperparameters.get(name) for name in space})
        row["accuracy_mean"] = metrics.get(OBJECTIVE)
        row["accuracy_std"] = metrics.get("val_accuracy_std")
        for k in range(seeds):
            row[f"seed{k}_accuracy"] = metrics.get(f"seed{k}_val_accuracy")
        for name in STATS:
            row[name] = metrics.get(name)
        rows.append(row)
    rows.sort(
        key=lambda r: (
            r["status"] != COMPLETED,
            -(r["accuracy_mean"] or 0.0),
            r["trial"],
        )
    )
    return rows


def best_row(rows):
    """The best completed trial's row, or `None` (no trial completed)."""
    return next((r for r in rows if r["status"] == COMPLETED), None)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def final_flags_text(best_config, row=None, path=FINAL_FLAGS):
    """`final.flags`: the best point to retrain, without the search's protocol.

    Every setting of `best_config` (the searched values, the model and the
    data, the optimizer, the machine's settings) except
    `SEARCH_PROTOCOL`'s, which the trainer then takes from its defaults
    (the paper's schedule) or from the flags given with the file. A
    retrain with `--flagfile=final.flags --epochs=N` so cannot keep the
    search's milestones, nor its validation split. Comment lines at the
    top say where the point comes from and what is left out.

    Args:
        best_config: the best trial's `TrainConfig`.
        row: its row of `results_rows(...)` (for the comment), or `None`.
        path: the file's path, as the comment's command names it.

    Returns:
        The file's text.

    Example:
    >>> from bnorder_tf.training.config import TrainConfig
    >>> point = TrainConfig(epochs=4, lr_milestones=(2, 3),
    ...                     validation_examples=5000, learning_rate=0.01)
    >>> text = final_flags_text(point)
    >>> "--learning_rate=0.01" in text, "--epochs=" in text
    (True, False)
    """
    defaults = TrainConfig()
    header = ["# The best point of a bnorder-tune search"]
    if row is not None:
        header[0] += (
            f": trial {row['trial']}, mean accuracy "
            f"{row['accuracy_mean']:.4f} over the search's seeds"
        )
    header += [
        "# Left out, so that the trainer's defaults (the paper's schedule: "
        f"{defaults.epochs} epochs, learning rate x{defaults.lr_decay:g} at "
        f"epochs {', '.join(map(str, defaults.lr_milestones))}, evaluated on "
        "the test split) or the flags given with this file (--epochs with "
        "--lr_milestones) apply: the search's "
        + ", ".join(SEARCH_PROTOCOL)
        + ".",
        f"# Train it: bnorder-train --flagfile={path} --seed=0",
    ]
    kept = [
        line
        for line in best_config.to_flags().splitlines()
        if line[2:].partition("=")[0] not in SEARCH_PROTOCOL
    ]
    return "\n".join(header + kept) + "\n"


def write_results(directory, rows, best_config):
    """Writes `results.csv`, `results.md`, `best.flags` and `final.flags`.

    `results.csv` lists the trials by trial id, whatever order they ended
    in (a resumed search ends them out of order), so that the same search
    gives the same file; `results.md` ranks them, best first.
    `best.flags` is the best trial's whole configuration, the search's
    protocol included; `final.flags` is the same point without it
    (`final_flags_text`), to retrain with the full schedule.

    Args:
        directory: where the files go (created if missing).
        rows: `results_rows(...)`.
        best_config: the best trial's `TrainConfig`, written as
            `best.flags` and `final.flags`, or `None` (then neither is
            written).

    Returns:
        The path of `best.flags`.
    """
    os.makedirs(directory, exist_ok=True)
    columns = list(rows[0]) if rows else ["trial"]
    with open(os.path.join(directory, RESULTS_CSV), "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["trial"]))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows
    ]
    with open(os.path.join(directory, RESULTS_MD), "w") as f:
        f.write("\n".join(lines) + "\n")
    best_path = os.path.join(directory, BEST_FLAGS)
    if best_config is not None:
        with open(best_path, "w") as f:
            f.write(best_config.to_flags())
        final_path = os.path.join(directory, FINAL_FLAGS)
        write_atomically(
            final_path,
            final_flags_text(best_config, best_row(rows), final_path),
        )
    return best_path


__all__ = [
    "SeedAveragingTuner",
    "best_row",
    "final_flags_text",
    "hyperparameters",
    "make_oracle",
    "open_project",
    "parse_search_values",
    "project_identity",
    "results_rows",
    "trial_config",
    "write_results",
]
