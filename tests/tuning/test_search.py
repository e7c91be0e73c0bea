"""The search: tuning/tune.py's table, resuming, bad flags; projects.

The table against the trials' own run directories, resuming and bad
search flags; a project's directory and its tie to the base settings.
keras-tuner's chief/worker mode, with a lost chief and a lost worker, is
in `tests/tuning/test_distributed.py`.
"""

import json
import os
import signal
import time

import numpy as np
import pytest

from bnorder_tf.errors import (
    ConfigError,
    RunInUseError,
)
from bnorder_tf.training.config import TrainConfig
from bnorder_tf.tuning import search
from tests.helpers import (
    ROOT,
    error_lines,
    program_env,
    read_csv,
    run_program,
    run_programs_side_by_side,
)
from tests.warm import WarmProcess

TUNE = os.path.join(ROOT, "tuning", "tune.py")
TINY = [
    "--flagfile=vgg_swap.flags",
    "--dataset=synthetic",
    "--model=vgg16_8",
    "--width=0.0625",
    "--epochs=1",
    "--steps_per_epoch=3",
    "--batch_size=32",
    "--lr_milestones=5",
]


def last_epoch(run_dir):
    """The run's final test accuracy and statistics, read from its logs."""
    accuracy = float(
        read_csv(os.path.join(run_dir, "history.csv"))[-1]["val_accuracy"]
    )
    with open(os.path.join(run_dir, "stats.jsonl")) as f:
        stats = [json.loads(line) for line in f][-1]["model"]
    return accuracy, stats


@pytest.mark.large
def test_grid_search_table_matches_the_trials_histories(tmp_path):
    out = run_program(
        [
            TUNE,
            *TINY,
            "--search_learning_rate=0.1",
            "--search_bn_affine_decay=0,1e-3",
            "--seeds=2",
            f"--tuning_dir={tmp_path}",
        ]
    )
    assert out.returncode == 0, out.stderr[-3000:]
    project = tmp_path / "search"
    rows = read_csv(project / "results.csv")
    assert len(rows) == 2  # the whole 1 x 2 grid
    assert {(r["learning_rate"], r["bn_affine_decay"]) for r in rows} == {
        ("0.1", "0.0"),
        ("0.1", "0.001"),
    }
    for row in rows:
        seeds = [
            last_epoch(project / "runs" / f"trial_{row['trial']}_seed{k}")
            for k in range(2)
        ]
        accuracies = [accuracy for accuracy, _ in seeds]
        assert [
            float(row[f"seed{k}_accuracy"]) for k in range(2)
        ] == pytest.approx(accuracies)
        assert float(row["accuracy_mean"]) == pytest.approx(np.mean(accuracies))
        assert float(row["accuracy_std"]) == pytest.approx(
            np.std(accuracies, ddof=1)
        )
        for name in ("saturation", "skewness", "sparsity"):
            assert float(row[name]) == pytest.approx(
                np.mean([stats[name] for _, stats in seeds])
            )
        # each seed trained with its own seed and the trial's settings
        for k in range(2):
            flags_txt = (
                project / "runs" / f"trial_{row['trial']}_seed{k}" / "flags.txt"
            ).read_text()
            assert f"--seed={k}\n" in flags_txt
            assert (
                f"--learning_rate={float(row['learning_rate'])}\n" in flags_txt
            )
            decay = float(row["bn_affine_decay"])
            assert f"--bn_gamma_decay={decay}\n" in flags_txt
            assert f"--bn_beta_decay={decay}\n" in flags_txt
    means = [float(r["accuracy_mean"]) for r in rows]
    assert means == sorted(means, reverse=True)
    best = (project / "best.flags").read_text()
    assert f"--learning_rate={float(rows[0]['learning_rate'])}\n" in best
    assert "--run_name" not in best and "--dataset=synthetic\n" in best
    assert (
        "| trial | status | learning_rate |"
        in (project / "results.md").read_text()
    )
    final = (project / "final.flags").read_text()
    assert f"--learning_rate={float(rows[0]['learning_rate'])}\n" in final
    assert "--epochs=" not in final and "--lr_milestones=" not in final
    assert {r["status"] for r in rows} == {"completed"}


@pytest.mark.large
def test_diverged_trial_is_failed_and_base_flags_tie_the_project(tmp_path):
    args = [
        TUNE,
        *TINY,
        "--steps_per_epoch=2",
        "--stats_every=0",
        "--search_learning_rate=1e30,0.05",
        "--seeds=1",
        f"--tuning_dir={tmp_path}",
    ]
    out = run_program(args)
    assert out.returncode == 0, out.stderr[-3000:]
    project = tmp_path / "search"
    rows = {
        float(r["learning_rate"]): r for r in read_csv(project / "results.csv")
    }
    assert rows[1e30]["status"] == "failed"
    assert rows[1e30]["accuracy_mean"] == "" and rows[1e30]["sparsity"] == ""
    assert rows[0.05]["status"] == "completed"
    best = (project / "best.flags").read_text()
    assert "--learning_rate=0.05\n" in best
    diverged = project / "runs" / f"trial_{rows[1e30]['trial']}_seed0"
    summary = json.loads((diverged / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["epochs"] == 0
    exported = os.listdir(project / "savedmodels")
    assert exported == [f"trial_{rows[0.05]['trial']}_seed0"]

    # other base settings: refused, nothing trained, the results kept
    again = run_program([*args, "--weight_decay=1e-3"])
    assert again.returncode == 2
    lines = error_lines(again.stderr)
    assert len(lines) == 1 and "other settings (weight_decay)" in lines[0]
    assert "--overwrite" in lines[0]
    assert sorted(os.listdir(project / "runs")) == sorted(
        f"trial_{r['trial']}_seed0" for r in rows.values()
    )


def _wait_for(predicate, process, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.large
def test_interrupted_search_resumes_without_repeating_trials(tmp_path):
    args = [
        TUNE,
        *TINY,
        "--search_learning_rate=0.1,0.05,0.01",
        "--seeds=1",
        f"--tuning_dir={tmp_path}",
    ]
    runs = tmp_path / "search" / "runs"
    process = WarmProcess(args, ROOT, program_env())
    first_done = runs / "trial_0000_seed0" / "summary.json"
    # killed while the second trial trains (keras-tuner's own grid search
    # could not continue from there)
    second_started = runs / "trial_0001_seed0" / "flags.txt"
    assert _wait_for(second_started.exists, process)
    assert first_done.exists()
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_at = first_done.stat().st_mtime_ns
    # the oracle's file no longer lists the killed trial as ongoing (its
    # record was saved later, or the file came from elsewhere): the trial
    # must still be retried, not left out of the grid
    oracle_file = tmp_path / "search" / "oracle.json"
    state = json.loads(oracle_file.read_text())
    assert state["ongoing_trials"]
    state["ongoing_trials"] = {}
    oracle_file.write_text(json.dumps(state))

    out = run_program(args)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = read_csv(tmp_path / "search" / "results.csv")
    # by trial, not in the order the trials ended (0000, 0002, 0001)
    assert [r["trial"] for r in rows] == ["0000", "0001", "0002"]
    assert [r["learning_rate"] for r in rows] == ["0.1", "0.05", "0.01"]
    # the trial finished before the kill was neither re-run nor rewritten
    assert first_done.stat().st_mtime_ns == finished_at
    assert sorted(os.listdir(runs)) == [f"trial_000{i}_seed0" for i in range(3)]


BAD_SEARCH_FLAGS = [
    ("--search_learning_rate=0.1,abc", "--search_learning_rate"),
    ("--search_learning_rate=", "--search_learning_rate"),
    ("--search_weight_decay=-1e-4", "--search_weight_decay"),
    ("--search_order=swap,upside_down", "--search_order"),
    ("--tuner=genetic", "--tuner"),
    ("--seeds=0", "--seeds"),
]


@pytest.fixture(scope="module")
def bad_search_runs(tmp_path_factory):
    """`flag -> (completed process, its tuning_dir parent)` of each bad run.

    One run per flag of `BAD_SEARCH_FLAGS`.
    """
    return run_programs_side_by_side(
        tmp_path_factory,
        [flag for flag, _ in BAD_SEARCH_FLAGS],
        lambda flag, directory: [
            TUNE,
            *TINY,
            "--search_learning_rate=0.1",
            flag,
            f"--tuning_dir={directory}/t",
        ],
    )


@pytest.mark.parametrize("flag, named", BAD_SEARCH_FLAGS)
def test_bad_search_flags_give_one_line_and_write_nothing(
    bad_search_runs, flag, named
):
    out, tmp_path = bad_search_runs[flag]
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and named in lines[0], out.stderr[-2000:]
    assert not (tmp_path / "t").exists()


def test_no_search_flag_is_an_error(tmp_path):
    out = run_program([TUNE, *TINY, f"--tuning_dir={tmp_path}/t"])
    assert out.returncode == 2
    assert "No --search_* flag" in error_lines(out.stderr)[0]
    assert not (tmp_path / "t").exists()


def test_depth_search_sets_the_vgg16_n_model():
    from bnorder_tf.training.config import TrainConfig
    from bnorder_tf.tuning import search

    base = TrainConfig(dataset="synthetic")
    assert search.trial_config(base, {"depth": 9}, 0).model == "vgg16_9"
    identity = search.project_identity(base, {"depth": [8, 9]}, 1, "grid")
    assert "model" not in identity["settings"]


@pytest.mark.parametrize(
    "flagfile", ["tiny_imagenet.flags", "imagenet.flags", "depth_search.flags"]
)
def test_protocol_flagfiles_parse(flagfile):
    from absl import flags

    from bnorder_tf.programs import cli, config_flags

    argv = cli.resolve_flagfiles(
        ["prog", "--flagfile=vgg_swap.flags", f"--flagfile={flagfile}"],
        cli.FLAGFILE_DIRS,
    )
    argv = [
        a
        for a in argv
        if not a.startswith(("--search_", "--tuner", "--seeds", "--project"))
    ]
    fv = flags.FlagValues()
    config_flags.define_flags(fv)
    fv(argv)
    parsed = config_flags.config_from_flags(fv)
    if flagfile == "imagenet.flags":
        assert (
            parsed.batch_size,
            parsed.epochs,
            parsed.lr_milestones,
            parsed.early_stopping,
        ) == (256, 100, (30, 60), 10)
        assert parsed.averaged_blocks == "conv"
    elif flagfile == "tiny_imagenet.flags":
        assert parsed.dataset == "tiny_imagenet"
        assert parsed.averaged_blocks == "conv"


def _listening_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@pytest.fixture(scope="module")
def bad_cluster_runs(tmp_path_factory):
    """`name -> (completed process, its directory)` of each bad cluster.

    keras-tuner's variables set wrong, and a chief whose port another
    process listens on.
    """
    import concurrent.futures

    taken = _listening_port()
    port = str(taken.getsockname()[1])
    ip = "127.0.0.1"
    envs = {
        "no port": dict(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP=ip),
        "no ip": dict(
            KERASTUNER_TUNER_ID="tuner0", KERASTUNER_ORACLE_PORT=port
        ),
        "bad port": dict(
            KERASTUNER_TUNER_ID="chief",
            KERASTUNER_ORACLE_IP=ip,
            KERASTUNER_ORACLE_PORT="80a",
        ),
        "no tuner id": dict(
            KERASTUNER_ORACLE_IP=ip, KERASTUNER_ORACLE_PORT=port
        ),
        "port in use": dict(
            KERASTUNER_TUNER_ID="chief",
            KERASTUNER_ORACLE_IP=ip,
            KERASTUNER_ORACLE_PORT=port,
        ),
    }
    directories = {name: tmp_path_factory.mktemp("run") for name in envs}
    with taken, concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(
                run_program,
                [
                    TUNE,
                    *TINY,
                    "--search_learning_rate=0.1",
                    f"--tuning_dir={directories[name]}/t",
                ],
                **env,
            )
            for name, env in envs.items()
        }
        return {
            name: (future.result(), directories[name], port)
            for name, future in futures.items()
        }


@pytest.mark.parametrize(
    "name, says",
    [
        ("no port", "KERASTUNER_ORACLE_IP is set but KERASTUNER_ORACLE_PORT"),
        ("no ip", "KERASTUNER_ORACLE_PORT is set but KERASTUNER_ORACLE_IP"),
        ("bad port", "KERASTUNER_ORACLE_PORT=80a is not a port"),
        ("no tuner id", "set KERASTUNER_TUNER_ID=chief on one process"),
        ("port in use", "the chief cannot listen on 127.0.0.1:{port}"),
    ],
)
def test_a_bad_cluster_is_one_line_before_anything_starts(
    bad_cluster_runs, name, says
):
    out, tmp_path, port = bad_cluster_runs[name]
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    (line,) = error_lines(out.stderr)
    assert says.format(port=port) in line
    assert not (tmp_path / "t").exists()


def _trainer_config(*argv):
    """The `TrainConfig` the trainer's flags make of `argv`."""
    from absl import flags

    from bnorder_tf.programs import cli, config_flags

    fv = flags.FlagValues()
    config_flags.define_flags(fv)
    fv(cli.resolve_flagfiles(["prog", *argv], cli.FLAGFILE_DIRS))
    return config_flags.config_from_flags(fv)


def test_final_flags_retrain_the_point_on_the_trainers_schedule(tmp_path):
    """`final.flags` cannot bring back the search's epochs or milestones.

    The search trained 4 epochs, x0.1 at epochs 2 and 3, on 5,000 images
    held out, without histograms; the retrain gets the paper's schedule,
    or the one it is given, and the searched point.
    """
    from bnorder_tf.training.config import TrainConfig
    from bnorder_tf.tuning import search

    point = TrainConfig(
        dataset="synthetic",
        model="vgg16_9",
        width=0.25,
        activation="softsign",
        learning_rate=0.01,
        weight_decay=1e-3,
        bn_beta_decay=0.0,
        epochs=4,
        lr_milestones=(2, 3),
        early_stopping=1,
        validation_examples=5000,
        steps_per_epoch=7,
        eval_steps=2,
        stats_every=4,
        histogram_bins=0,
        gradient_batches=3,
    )
    row = {"trial": "0003", "status": "completed", "accuracy_mean": 0.5}
    search.write_results(tmp_path, [row], point)
    final_flags = f"--flagfile={tmp_path / 'final.flags'}"

    final = _trainer_config(final_flags)
    # the paper's CIFAR protocol: 200 epochs, x0.1 at 100 and 150, test split
    assert (final.epochs, final.lr_milestones, final.lr_decay) == (
        200,
        (100, 150),
        0.1,
    )
    assert (final.validation_examples, final.early_stopping) == (0, 0)
    assert (final.steps_per_epoch, final.eval_steps) == (None, None)
    defaults = TrainConfig()
    for name in ("stats_every", "histogram_bins", "gradient_batches"):
        assert getattr(final, name) == getattr(defaults, name), name
    assert (final.dataset, final.model, final.width, final.activation) == (
        "synthetic",
        "vgg16_9",
        0.25,
        "softsign",
    )
    assert (
        final.learning_rate,
        final.weight_decay,
        final.bn_beta_decay,
    ) == (0.01, 1e-3, 0.0)

    # the trap: a longer run asked for with --epochs alone
    longer = _trainer_config(final_flags, "--epochs=300")
    assert longer.epochs == 300 and longer.lr_milestones == (100, 150)
    assert longer.validation_examples == 0

    # best.flags is the whole trial still, protocol included
    assert _trainer_config(f"--flagfile={tmp_path / 'best.flags'}") == point


def identity(**changes):
    base = TrainConfig(dataset="synthetic", **changes)
    return search.project_identity(
        base, {"learning_rate": [0.1, 0.01]}, 2, "grid"
    )


@pytest.mark.parametrize("project", ["..", ".", "../../x", "/tmp/x", ""])
def test_project_names_leaving_the_tuning_dir_are_refused(tmp_path, project):
    with pytest.raises(ConfigError, match="--project"):
        search.open_project(str(tmp_path / "t"), project, identity())
    assert not (tmp_path / "t").exists()


def test_tuning_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "t").write_text("x")
    with pytest.raises(ConfigError, match="--tuning_dir"):
        search.open_project(str(tmp_path / "t"), "p", identity())


def test_project_is_tied_to_its_base_settings(tmp_path):
    tuning_dir = str(tmp_path / "t")
    search.open_project(tuning_dir, "p", identity()).release()
    (tmp_path / "t" / "p" / "trial_0").mkdir()
    # the learning rate is searched: its base value does not matter
    search.open_project(tuning_dir, "p", identity(learning_rate=0.5)).release()
    with pytest.raises(ConfigError, match=r"other settings \(weight_decay\)"):
        search.open_project(tuning_dir, "p", identity(weight_decay=1e-3))
    search.open_project(
        tuning_dir, "p", identity(weight_decay=1e-3), overwrite=True
    ).release()
    assert not (tmp_path / "t" / "p" / "trial_0").exists()
    # a project started before a setting existed ran with its default
    path = tmp_path / "t" / "p" / "project.json"
    recorded = json.loads(path.read_text())
    del recorded["settings"]["early_stopping"]
    path.write_text(json.dumps(recorded))
    lock = search.open_project(tuning_dir, "p", identity(weight_decay=1e-3))
    with pytest.raises(RunInUseError):
        search.open_project(tuning_dir, "p", identity(weight_decay=1e-3))
    lock.release()
