"""The reproduction study on Fashion-MNIST, with the package's own programs.

    python reproduction/fashion_mnist/study.py            # run or resume
    python reproduction/fashion_mnist/study.py --dry_run  # list the runs
    python reproduction/fashion_mnist/study.py --collect  # tables only
    python reproduction/fashion_mnist/study.py --sync_from=OTHER_CLONE

Protocol (README.md in this folder says why):

1. Search: each model is tuned on its own by `tuning/tune.py` over the
   paper's grid, learning rate {0.1, 0.01} x weight decay {5e-3, 1e-3,
   5e-4, 1e-4}, one seed per point, `SEARCH_EPOCHS` epochs, trained on
   55,000 training images and evaluated on the 5,000 held out
   (`--validation_examples`): the test set stays unseen.
2. Final: each model's best point (`best.flags`) is trained by
   `trainers/train.py` on all 60,000 training images for `FINAL_EPOCHS`
   epochs with 3 seeds and evaluated on the test set.
3. `results.csv` (one row per run) and `README.md` (the report tool's
   tables, figures and claims) are rebuilt from the run directories.

Every step resumes: a finished run is read back, an interrupted one
continues from its last committed epoch, and the tuner continues its
grid. Commit `work/` (the .gitignore there keeps checkpoints, models and
TensorBoard events out): a fresh machine then picks the study up where it
stopped.

Each model's runs use one version of the code: the commit that ran its
first step is recorded in `work/code_versions.json`, and a later step on
other code is refused. To go on developing while a study runs, run it in
a worktree at that commit and copy its state back:

    git worktree add ../study COMMIT
    (cd ../study && python reproduction/fashion_mnist/study.py \
        --sync_from=$OLDPWD && python reproduction/fashion_mnist/study.py)
    python reproduction/fashion_mnist/study.py --sync_from=../study
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# this clone's package, not an editable install of another clone's
sys.path.insert(0, ROOT)
#: Paths as the commands see them: relative to the repository root (their
#: working directory), so that the run directories move with the clone.
WORK = os.path.join("reproduction", "fashion_mnist", "work")
TUNING_DIR = os.path.join(WORK, "tuning")
FINAL_DIR = os.path.join(WORK, "final")
#: What the tables do not say: what surprised us, written by hand.
NOTES = os.path.join(HERE, "notes.md")

#: The depth study (issue 32): VGG16_n with tanh for n in `DEPTHS` (VGG16_11
#: is the tanh study's `convention` and `swap`). Its finals also record the
#: gradient scale per block (the paper's figure 15) over this many batches.
DEPTHS = (8, 13, 16)
DEPTH_GRADIENT_BATCHES = 10
#: The paper's figure 15 on its own model (issue 37): VGG16_11 with tanh,
#: the tanh study's best points (`convention`, `swap`) trained again with
#: the gradient scale recorded, into a directory of their own so that the
#: tanh study's finals stay as they ran.
FIGURE15_SEARCH = {"figure15_convention": "convention", "figure15_swap": "swap"}
FIGURE15_DIR = os.path.join(WORK, "figure15")
#: One depth-study final (depth8_swap, seed 0) trained again on the code
#: of the new runs: the same accuracy shows that the code change left
#: training as it was.
RECHECK_MODEL, RECHECK_SEED = "depth8_swap_recheck", 0
RECHECK_DIR = os.path.join(WORK, "recheck")
#: Finals trained at another model's best point: model -> searched model.
SEARCH_OF = {**FIGURE15_SEARCH, RECHECK_MODEL: "depth8_swap"}
#: The oneDNN mode of every step (TensorFlow turns it on only on CPUs with
#: AVX512-VNNI, AVX512-BF16 or AMX; the earlier runs had it on). Each
#: run's machine is recorded in `MACHINES`.
ONEDNN = "1"
#: The models compared: name -> (flagfile, flags that follow it). The
#: first four are the tanh study; the rest, Convention and Swap each, are
#: the bounded-activations study (issue 21): the ReLU control, softsign,
#: LeCun tanh and MobileNet v1 with tanh.
MODELS = {
    "convention": ("vgg_convention.flags", ()),
    "swap": ("vgg_swap.flags", ()),
    "nwdbn": ("vgg_nwdbn.flags", ()),
    "swap_shifted_tanh": ("vgg_swap_shifted_tanh.flags", ()),
    "relu_convention": ("vgg_convention.flags", ("--activation=relu",)),
    "relu_swap": ("vgg_swap.flags", ("--activation=relu",)),
    "softsign_convention": ("vgg_convention.flags", ("--activation=softsign",)),
    "softsign_swap": ("vgg_swap.flags", ("--activation=softsign",)),
    "mobilenet_convention": ("mobilenet_convention.flags", ()),
    "mobilenet_swap": ("mobilenet_swap.flags", ()),
    "lecun_tanh_convention": (
        "vgg_convention.flags",
        ("--activation=lecun_tanh",),
    ),
    "lecun_tanh_swap": ("vgg_swap.flags", ("--activation=lecun_tanh",)),
    **{
        f"depth{depth}_{order}": (
            f"vgg_{order}.flags",
            (f"--model=vgg16_{depth}",),
        )
        for depth in DEPTHS
        for order in ("convention", "swap")
    },
}
LEARNING_RATES = ("0.1", "0.01")
WEIGHT_DECAYS = ("5e-3", "1e-3", "5e-4", "1e-4")
WIDTH = 0.25
SEARCH_EPOCHS = 4
FINAL_EPOCHS = 12
FINAL_SEEDS = (0, 1, 2)
VALIDATION_EXAMPLES = 5000
#: The same for every run: data, width, batch, schedule at 50% and 75%.
COMMON = [
    "--dataset=fashion_mnist",
    f"--width={WIDTH:g}",
    "--batch_size=128",
    "--lr_decay=0.1",
]
#: Histogram bins of the final runs, at their last epoch only: the figures
#: need them; at 25 bins a run's stats.jsonl stays near 0.25 MB. (The
#: convention search ran with 50 bins before search runs dropped them.)
FINAL_HISTOGRAM_BINS = 25
RESULT_COLUMNS = (
    "model",
    "order",
    "activation",
    "learning_rate",
    "weight_decay",
    "seed",
    "role",
    "val_accuracy",
    "test_accuracy",
    "saturation",
    "skewness",
    "sparsity",
    "max_layer_saturation",
    "status",
    "run",
)


#: The study README's title and opening paragraph (the report tool adds
#: the tables, figures and claims).
TITLE = "Reproduction on Fashion-MNIST"
INTRO = (
    f"VGG16_11 at width {WIDTH:g} with tanh in Convention, NWDBN and Swap "
    "order (and the shifted tanh in Swap order); then, with the same "
    "protocol, the bounded-activations study: VGG16_11 with ReLU (the "
    "control, where the paper finds Swap worse), softsign and LeCun tanh, "
    f"and MobileNet v1 (width {WIDTH:g}) with tanh, each in Convention and "
    "Swap order; then the depth study: VGG16_8, VGG16_13 and VGG16_16 with "
    "tanh in both orders (VGG16_11's are the tanh study's), their finals "
    "also recording the gradient scale per block over "
    f"{DEPTH_GRADIENT_BATCHES} training batches. Each model is tuned on its "
    "own over the paper's grid, "
    "learning rate {0.1, 0.01} x weight decay {5e-3, 1e-3, 5e-4, 1e-4}, one "
    f"seed and {SEARCH_EPOCHS} epochs per point, picked on "
    f"{VALIDATION_EXAMPLES:,} training images held out; then "
    f"{len(FINAL_SEEDS)} seeds (0, 1, 2) at each best point for "
    f"{FINAL_EPOCHS} epochs on the whole training set, evaluated on the test "
    "set, which the search never saw. Batch 128, learning rate x0.1 at 50% "
    "and 75% of training, float32. The paper's numbers for softsign, LeCun "
    "tanh, ReLU and MobileNet come from its ICLR version (full VGG16 or "
    "MobileNet on CIFAR-100), not from VGG16_11. Made by study.py in this "
    "folder; results.csv has one row per run, and each search's validation "
    "accuracy per grid point is in work/tuning/<model>/results.md. A "
    "search's tie goes to the earlier grid point (the lower trial number, "
    "as bnorder-tune ranks them): softsign Swap's search tied at 89.78 % "
    "between weight decay 5e-3 (trial 4) and 1e-3 (trial 5) and took 5e-3. "
    "Issue 37 added, on one new code version: VGG16_11's tanh finals "
    "trained again to record the gradient scale (work/figure15: they count "
    "for figure 15 and the gradient ratio only; every accuracy of VGG16_11 "
    "is the tanh study's), one depth-study final trained again to check "
    "that training did not change (work/recheck), and VGG16_13; a table "
    "lists a depth once both orders have two finished seeds."
)


def code_versions_text():
    """Which commit ran which models, from `CODE_VERSIONS`."""
    by_commit = {}
    for model, commit in sorted(read_code_versions().items()):
        by_commit.setdefault(commit or "unknown", []).append(model)
    recorded = "; ".join(
        f"the runs of {', '.join(models)} use commit {commit[:12]}"
        for commit, models in by_commit.items()
    )
    return (
        "Code versions: the tanh study's runs (convention, nwdbn, swap, "
        "swap_shifted_tanh) ran before versions were recorded, on the "
        "commits of 2026-12-01 that touch work/ (git log -- work/)"
        + (f"; {recorded} (work/code_versions.json)." if recorded else ".")
    )


def milestones(epochs):
    """Learning rate x0.1 at 50% and 75% of training, as the paper."""
    return f"--lr_milestones={epochs // 2},{(3 * epochs) // 4}"


def search_command(model):
    flagfile, flags = MODELS[model]
    return [
        sys.executable,
        os.path.join("tuning", "tune.py"),
        f"--flagfile={flagfile}",
        *flags,
        *COMMON,
        f"--epochs={SEARCH_EPOCHS}",
        milestones(SEARCH_EPOCHS),
        f"--validation_examples={VALIDATION_EXAMPLES}",
        f"--stats_every={SEARCH_EPOCHS}",
        "--histogram_bins=0",
        f"--search_learning_rate={','.join(LEARNING_RATES)}",
        f"--search_weight_decay={','.join(WEIGHT_DECAYS)}",
        "--seeds=1",
        f"--tuning_dir={TUNING_DIR}",
        f"--project={model}",
    ]


def best_flags(model):
    return os.path.join(TUNING_DIR, SEARCH_OF.get(model, model), "best.flags")


def final_dir(model, seed):
    """Where a final run's directory goes (`--model_dir`)."""
    if model == RECHECK_MODEL:
        return RECHECK_DIR
    return FIGURE15_DIR if model in FIGURE15_SEARCH else FINAL_DIR


def final_command(model, seed):
    extra = (
        [f"--gradient_batches={DEPTH_GRADIENT_BATCHES}"]
        if model.startswith("depth") or model in FIGURE15_SEARCH
        else []
    )
    return [
        sys.executable,
        os.path.join("trainers", "train.py"),
        f"--flagfile={best_flags(model)}",
        *COMMON,
        f"--epochs={FINAL_EPOCHS}",
        milestones(FINAL_EPOCHS),
        "--validation_examples=0",
        "--stats_every=1",
        f"--histogram_bins={FINAL_HISTOGRAM_BINS}",
        f"--histogram_every={FINAL_EPOCHS}",
        f"--seed={seed}",
        f"--model_dir={final_dir(model, seed)}",
        f"--run_name={model}_s{seed}",
        f"--export_dir={os.path.join(WORK, 'savedmodels')}",
        *extra,
    ]


def final_run_dir(model, seed):
    return os.path.join(final_dir(model, seed), f"{model}_s{seed}")


#: Convention and Swap first: the paper's headline comparison is then the
#: first result a partial study has. Of the bounded-activations pairs the
#: ReLU control comes first and LeCun tanh last (the issue's order of
#: what to cut if the budget shrinks).
STEP_ORDER = (
    ("search", "convention"),
    ("search", "swap"),
    ("final", "convention"),
    ("final", "swap"),
    ("search", "nwdbn"),
    ("final", "nwdbn"),
    ("search", "swap_shifted_tanh"),
    ("final", "swap_shifted_tanh"),
    *(
        (role, f"{pair}_{order}")
        for pair in ("relu", "softsign", "mobilenet", "lecun_tanh")
        for role in ("search", "final")
        for order in ("convention", "swap")
    ),
    # the depth study: the shallowest and the deepest first, VGG16_13 last
    # (the order of what to cut if the budget shrinks)
    *(
        (role, f"depth{depth}_{order}")
        for depth in (8, 16)
        for role in ("search", "final")
        for order in ("convention", "swap")
    ),
    # issue 37, on one new code version: figure 15 on VGG16_11, the
    # recheck of the code change, then VGG16_13
    ("final", "figure15_convention"),
    ("final", "figure15_swap"),
    ("recheck", RECHECK_MODEL),
    *(
        (role, f"depth13_{order}")
        for role in ("search", "final")
        for order in ("convention", "swap")
    ),
)


def steps():
    """`(model, description, command, done)` of every step, in order."""
    for role, model in STEP_ORDER:
        if role == "search":
            yield (
                model,
                f"search {model}: "
                f"{len(LEARNING_RATES) * len(WEIGHT_DECAYS)} grid points "
                f"x 1 seed x {SEARCH_EPOCHS} epochs",
                search_command(model),
                os.path.exists(os.path.join(ROOT, best_flags(model))),
            )
            continue
        seeds = (RECHECK_SEED,) if role == "recheck" else FINAL_SEEDS
        for seed in seeds:
            done = os.path.exists(
                os.path.join(ROOT, final_run_dir(model, seed), "summary.json")
            )
            yield (
                model,
                f"{role} {model} seed {seed}: {FINAL_EPOCHS} epochs",
                final_command(model, seed),
                done,
            )


#: Per model, the commit whose code ran its steps, recorded when its first
#: step starts (the four tanh models ran before this record existed).
CODE_VERSIONS = os.path.join(WORK, "code_versions.json")
#: What a run's numbers depend on: the commit must describe these exactly.
CODE_PATHS = ("bnorder_tf", "trainers", "tuning", "pyproject.toml")


class StudyError(Exception):
    """A step that must not run here (one line, exit 2)."""


def code_version():
    """This clone's commit, or `None` outside a git checkout.

    Raises:
        StudyError: the code differs from the commit, which would then not
            say what ran.
    """
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", *CODE_PATHS],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    if changed:
        raise StudyError(
            f"{', '.join(CODE_PATHS)} differ from commit {head[:12]}, so the "
            "record would not say what ran: commit them, or run the study "
            "from a clean worktree (git worktree add ../study HEAD)."
        )
    return head


def read_code_versions():
    path = os.path.join(ROOT, CODE_VERSIONS)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def check_code_version(model):
    """Records the commit that runs `model`'s first step.

    A later step on another commit is refused, so that each model's runs
    share one version.

    Raises:
        StudyError: this clone is at another commit than the model's runs.
    """
    versions = read_code_versions()
    head = code_version()
    recorded = versions.get(model)
    if recorded is None:
        from bnorder_tf.training.run_dir import write_atomically

        versions[model] = head
        write_atomically(
            os.path.join(ROOT, CODE_VERSIONS),
            json.dumps(versions, indent=1, sort_keys=True) + "\n",
        )
    elif head is not None and recorded != head:
        raise StudyError(
            f"{model}'s runs used commit {recorded[:12]} and this clone is "
            f"at {head[:12]}: run the study from a worktree at that commit "
            f"(git worktree add ../study {recorded[:12]}; then, there, "
            "study.py --sync_from=THIS_CLONE; study.py), and copy its results "
            "back with study.py --sync_from=../study."
        )


#: Per step, the machines that ran it (a step resumed elsewhere has two).
MACHINES = os.path.join(WORK, "machines.json")


def this_machine():
    """The CPU model, its AVX2/AVX-512 features and the oneDNN mode."""
    from bnorder_tf._tf_start import cpu_features

    return {**cpu_features(), "tf_enable_onednn_opts": ONEDNN}


def record_machine(step):
    """Adds this machine to `step`'s entry in `MACHINES`."""
    from bnorder_tf.training.run_dir import write_atomically

    path = os.path.join(ROOT, MACHINES)
    machines = {}
    if os.path.exists(path):
        with open(path) as f:
            machines = json.load(f)
    seen = machines.setdefault(step, [])
    if this_machine() not in seen:
        seen.append(this_machine())
        write_atomically(
            path, json.dumps(machines, indent=1, sort_keys=True) + "\n"
        )


def run_step(command):
    """Runs a step's command in this clone, with this clone's package.

    An editable install of another clone would otherwise be imported.
    oneDNN is set to `ONEDNN`, whatever this CPU's default.
    """
    print("+", " ".join(command[1:]), flush=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (ROOT, env.get("PYTHONPATH")) if p
    )
    env["TF_ENABLE_ONEDNN_OPTS"] = ONEDNN
    return subprocess.call(command, cwd=ROOT, env=env)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry_run",
        action="store_true",
        help="List the steps and whether each is done.",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="Only rebuild results.csv and README.md.",
    )
    parser.add_argument(
        "--sync_from",
        metavar="CLONE",
        help="Copy the study's committable state (no "
        "checkpoints or models) from another clone, e.g. "
        "a git worktree that runs the study.",
    )
    args = parser.parse_args(argv)
    if args.sync_from:
        sync_from(args.sync_from)
        return 0
    if args.dry_run:
        for _, description, command, done in steps():
            print(f"[{'done' if done else 'todo'}] {description}")
            print("    " + " ".join(command[1:]))
        return 0
    if not args.collect:
        for model, description, command, done in steps():
            if done:
                continue
            try:
                check_code_version(model)
            except StudyError as e:
                print(f"study.py: error: {e}", file=sys.stderr)
                return 2
            print(f"== {description}", flush=True)
            record_machine(description.partition(":")[0])
            status = run_step(command)
            if status == 1 and not description.startswith("search"):
                continue  # a diverged final run is recorded, not retried
            if status:
                return status
    collect()
    return 0


#: What `work/.gitignore` keeps out of git, and so out of a sync.
NOT_COMMITTED = (
    "checkpoints",
    "tensorboard",
    "model.keras",
    "savedmodels",
    ".lock",
    ".*.lock",
    "*.tmp",
)


def sync_from(clone):
    """Copies `<clone>/<WORK>` here, without `NOT_COMMITTED` files."""
    shutil.copytree(
        os.path.join(clone, WORK),
        os.path.join(ROOT, WORK),
        ignore=shutil.ignore_patterns(*NOT_COMMITTED),
        dirs_exist_ok=True,
    )


#: Files outside this folder that show the study's tables: each holds
#: `generated_block` blocks that `collect` rewrites from results.csv.
SUMMARY_FILES = ("README.md", os.path.join("docs", "reproduction.md"))
BLOCK_START = "<!-- study.py --collect: {} -->"
BLOCK_END = "<!-- end of study.py --collect: {} -->"


def final_rows(rows):
    """`{(model, activation, order): [test accuracy, ...]}` of the finals."""
    found = {}
    for row in rows:
        if row["role"] == "final" and row["test_accuracy"] not in ("", None):
            key = (row["model"], row["activation"], row["order"])
            found.setdefault(key, []).append(float(row["test_accuracy"]))
    return found


def _gain_cells(conv, swap):
    from bnorder_tf.report.document import mean_std_cell
    from bnorder_tf.report.significance import mean_std
    from bnorder_tf.report.verdicts import estimate_cell, welch_test

    test = welch_test(conv, swap)
    return [
        mean_std_cell(mean_std(conv), scale=100.0),
        mean_std_cell(mean_std(swap), scale=100.0),
        estimate_cell(test, 2, 100.0),
        f"{test.p:.2g}",
    ]


def pairs_markdown(rows):
    """The Convention/Swap pair table of the finals, as Markdown."""
    from bnorder_tf.report.document import Table, markdown_table

    finals = final_rows(rows)
    table = []
    for model, activation, order in sorted(finals):
        if (
            order != "convention"
            or model.startswith("vgg16_")
            and model != "vgg16_11"
        ):
            continue
        swap = finals.get((model, activation, "swap"))
        if swap:
            conv = finals[(model, activation, order)]
            table.append([model, activation, *_gain_cells(conv, swap)])
    header = [
        "model",
        "activation",
        "Convention (%)",
        "Swap (%)",
        "Swap − Convention (points) [95% interval]",
        "p (Welch)",
    ]
    return markdown_table(Table(header, table))


def depth_markdown(rows):
    """The depth table of the finals (VGG16_n with tanh), as Markdown."""
    from bnorder_tf.report.document import Table, markdown_table

    finals = final_rows(rows)
    depths = sorted(
        int(model.split("_")[1])
        for model, activation, order in finals
        if model.startswith("vgg16_")
        and activation == "tanh"
        and order == "convention"
        and (model, activation, "swap") in finals
    )
    table = [
        [
            f"VGG16_{depth}",
            *_gain_cells(
                finals[(f"vgg16_{depth}", "tanh", "convention")],
                finals[(f"vgg16_{depth}", "tanh", "swap")],
            ),
        ]
        for depth in depths
    ]
    header = [
        "model",
        "Convention (%)",
        "Swap (%)",
        "Swap − Convention (points) [95% interval]",
        "p (Welch)",
    ]
    return markdown_table(Table(header, table))


def generated_blocks(rows):
    """`{block name: Markdown}` of the tables the summaries show."""
    return {"pairs": pairs_markdown(rows), "depth": depth_markdown(rows)}


def fill_blocks(text, blocks):
    """`text` with each block between its markers replaced.

    A block whose two markers are both absent is left out (a file shows
    the tables it chooses).

    Raises:
        StudyError: a block has one marker without the other, or they are
            in the wrong order.
    """
    for name, body in blocks.items():
        start, end = BLOCK_START.format(name), BLOCK_END.format(name)
        if start not in text and end not in text:
            continue
        if start not in text or end not in text.split(start, 1)[1]:
            raise StudyError(f"no {start} ... {end} block to fill.")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body.rstrip()}\n{end}{tail}"
    return text


def read_results():
    """The rows of results.csv."""
    with open(os.path.join(HERE, "results.csv"), newline="") as f:
        return list(csv.DictReader(f))


def collect():
    """Writes results.csv, README.md and the summaries' tables from the runs."""
    from bnorder_tf.report.runs import NotARunError, find_runs

    rows = []
    for role, top in (
        ("search", TUNING_DIR),
        ("final", FINAL_DIR),
        ("figure15", FIGURE15_DIR),
        ("recheck", RECHECK_DIR),
    ):
        top = os.path.join(ROOT, top)
        if os.path.isdir(top) and any(os.scandir(top)):
            try:
                runs = find_runs([top])
            except NotARunError:  # no finished run yet
                runs = []
            rows += [result_row(run, role) for run in runs]
    rows.sort(
        key=lambda r: (
            r["role"],
            r["model"],
            r["order"],
            r["activation"],
            r["run"],
        )
    )
    with open(os.path.join(HERE, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    finals = [r for r in rows if r["role"] == "final"]
    if finals:
        gradient_runs = (
            ["--gradient_runs", FIGURE15_DIR]
            if os.path.isdir(os.path.join(ROOT, FIGURE15_DIR))
            else []
        )
        subprocess.check_call(
            [
                sys.executable,
                "-m",
                "bnorder_tf.report",
                FINAL_DIR,
                "--out",
                HERE,
                "--markdown_name",
                "README.md",
                "--claims",
                "--title",
                TITLE,
                "--intro",
                f"{INTRO}\n\n{code_versions_text()}",
                "--notes",
                NOTES,
                *gradient_runs,
            ],
            cwd=ROOT,
        )
        blocks = generated_blocks(read_results())
        # every file filled before any is written: a missing marker
        # leaves them all as they were
        filled = {}
        for name in SUMMARY_FILES:
            path = os.path.join(ROOT, name)
            with open(path) as f:
                filled[path] = fill_blocks(f.read(), blocks)
        for path, text in filled.items():
            with open(path, "w") as f:
                f.write(text)
    print(f"{len(rows)} run(s) in results.csv, {len(finals)} final.")


def result_row(run, role):
    from bnorder_tf.training.run_dir import final_accuracy

    config, summary = run.config, run.summary
    stats = summary.get("stats") or {}
    layers = (summary.get("layer_stats") or {}).values()
    saturations = [
        layer["saturation"]
        for layer in layers
        if layer.get("saturation") is not None
    ]
    accuracy = final_accuracy(summary)
    split = summary.get("evaluation_split", "test")
    return {
        "model": config.model,
        "order": config.variant,
        "activation": config.activation,
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "role": role,
        "val_accuracy": accuracy if split == "validation" else "",
        "test_accuracy": accuracy if split == "test" else "",
        "saturation": stats.get("saturation", ""),
        "skewness": stats.get("skewness", ""),
        "sparsity": stats.get("sparsity", ""),
        "max_layer_saturation": max(saturations) if saturations else "",
        "status": summary.get("status", "finished"),
        "run": os.path.relpath(run.path, os.path.join(ROOT, WORK)),
    }


if __name__ == "__main__":
    sys.exit(main())
