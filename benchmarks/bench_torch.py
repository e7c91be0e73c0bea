"""Benchmark: bnorder_tf against the same network in PyTorch, side by side.

VGG16_11, Swap order with tanh, width 0.25, 32x32x1, 10 classes, batch
128, SGD momentum 0.9, weight decay 5e-4 (parameter counts checked
equal). Each measurement runs in a process of its own, the two sides
alternating round by round:

- `step`: the bare training step on one fixed batch: bnorder_tf's
  `Trainer.train_step` against PyTorch's forward, backward and
  `optimizer.step()`, in both of PyTorch's memory formats
  (`channels_last` and `contiguous_format`); the ratio is taken against
  the faster.
- `epoch`: a whole Fashion-MNIST training epoch with the real input
  pipeline: `run_training` (the `trainers/train.py` path: tf.data with
  the vectorized crop and flip, the loop, its callbacks; statistics off;
  one epoch's training time, the difference of a 2-epoch and a 1-epoch
  run) against a PyTorch `DataLoader` with the same crop-with-padding and
  flip (the second of two epochs), PyTorch in its faster format.
- with `--bf16`, also both steps in bfloat16: Keras's `mixed_bfloat16`
  against PyTorch's bf16 autocast.

bnorder_tf's rows are measured in each oneDNN mode asked for
(`--onednn=both`: `TF_ENABLE_ONEDNN_OPTS=1` and `=0`, the kernels
TensorFlow runs where it leaves oneDNN off). Each row records the
oneDNN state (TensorFlow's `IsMklEnabled`) and the instruction set its
kernels ran: oneDNN's own report (`ONEDNN_VERBOSE`; TensorFlow's x86
build runs oneDNN's matrix-product kernels inside Eigen's contractions
even with oneDNN off, so both modes report one) or PyTorch's
`get_cpu_capability()`. `--max_isa=avx2` limits both libraries to AVX2
(`ONEDNN_MAX_CPU_ISA`, `ATEN_CPU_CAPABILITY`), to emulate an AVX2 CPU on
an AVX-512 one.

PyTorch lives in an environment of its own (`make torch-env`, which
installs it into `.venv-torch`), never a dependency of the package. In
the record, each row's baseline is PyTorch's faster format for the same
kind of measurement (step or epoch, bf16 or not), and PyTorch's version
is the one its worker ran.

Usage: python benchmarks/bench_torch.py [--rounds 2] [--bf16]
    [--onednn both|on|off|default] [--max_isa avx2]
    [--torch_python .venv-torch/bin/python] [--epoch_steps N]
    [--workers N] [--no_step | --no_epoch] [--no_record]
    [--results_dir DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import record

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 128
#: `--mixed_precision` for each Keras policy measured.
POLICY_FLAGS = {"": "none", "mixed_bfloat16": "bfloat16"}
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


# --- the bnorder_tf side (run in its own process) --------------------------


#: `TF_ENABLE_ONEDNN_OPTS` of each `--onednn` mode; `None`: TensorFlow's
#: default for this CPU.
ONEDNN_MODES = {"on": "1", "off": "0", "default": None}
#: A tiny convolution: oneDNN reports its instruction set when it runs.
ISA_PROBE = (
    "import tensorflow as tf; "
    "tf.nn.conv2d(tf.ones([1, 8, 8, 4]), tf.ones([3, 3, 4, 4]), 1, 'SAME')"
)


def onednn_env(mode, max_isa):
    """The environment of bnorder_tf's rows in a oneDNN mode."""
    env = {}
    if ONEDNN_MODES[mode] is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = ONEDNN_MODES[mode]
    if max_isa:
        env["ONEDNN_MAX_CPU_ISA"] = max_isa.upper()
    return env


def kernels_isa(env):
    """The instruction set TensorFlow's kernels run with `env`.

    Returns:
        oneDNN's own words (e.g. "Intel AVX2"), or "Eigen" when no oneDNN
        kernel reported itself.
    """
    out = subprocess.run(
        [sys.executable, "-c", ISA_PROBE],
        capture_output=True,
        text=True,
        env=dict(
            os.environ, TF_CPP_MIN_LOG_LEVEL="2", ONEDNN_VERBOSE="1", **env
        ),  # fmt: skip
    )
    for line in out.stdout.splitlines():
        if ",isa:" in line:
            return line.split(",isa:", 1)[1].strip()
    return "Eigen"


def tf_step(steps, mixed):
    import keras
    import numpy as np
    import tensorflow as tf
    from network import build

    from bnorder_tf.training.steps import Trainer

    model = build(mixed or "float32")
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    if mixed == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    strategy = tf.distribute.get_strategy()
    trainer = Trainer(model, optimizer, strategy, BATCH)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(BATCH, 32, 32, 1)).astype("float32")
    labels = rng.integers(0, 10, BATCH)
    fixed = tf.data.Dataset.from_tensors((images, labels)).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(fixed))
    for _ in range(3):
        trainer.train_step(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        logs = trainer.train_step(iterator)
    float(logs["loss"])
    parameters = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    return steps * BATCH / (time.perf_counter() - start), parameters


def tf_epoch(epoch_steps, mixed):
    from bnorder_tf.training import runner
    from bnorder_tf.training.config import TrainConfig

    seconds = {}
    for epochs in (1, 2):
        with tempfile.TemporaryDirectory() as directory:
            config = TrainConfig(
                dataset="fashion_mnist",
                model="vgg16_11",
                order="swap",
                activation="tanh",
                width=0.25,
                batch_size=BATCH,
                learning_rate=0.01,
                weight_decay=5e-4,
                lr_milestones=(),
                epochs=epochs,
                steps_per_epoch=epoch_steps or None,
                eval_steps=1,
                stats_every=0,
                mixed_precision=POLICY_FLAGS[mixed],
                model_dir=os.path.join(directory, "runs"),
                export_dir=os.path.join(directory, "savedmodels"),
            )
            summary = runner.run_training(config, verbose=0).summary
        steps = epoch_steps or 60000 // BATCH
        images = steps * BATCH * epochs
        seconds[epochs] = images / summary["train_images_per_second"]
    return steps * BATCH / (seconds[2] - seconds[1]), None


# --- the driver ---------------------------------------------------------------


def measure(command, env=None):
    out = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {})),
    )
    if out.returncode:
        raise RuntimeError(f"{command} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def tf_command(what, args, mixed=""):
    return [
        sys.executable,
        __file__,
        "--worker",
        what,
        f"--steps={args.steps}",
        f"--epoch_steps={args.epoch_steps}",
        f"--mixed={mixed}",
    ]


def torch_command(what, args, memory_format="channels_last", bf16=False):
    command = [
        args.torch_python,
        os.path.join(HERE, "torch_vgg.py"),
        what,
        f"--memory_format={memory_format}",
        f"--steps={args.steps}",
        f"--data_dir={args.data_dir}",
        f"--workers={args.workers}",
    ]
    if args.epoch_steps:
        command.append(f"--epoch_steps={args.epoch_steps}")
    return command + (["--bf16"] if bf16 else [])


def _in_bf16(name):
    return "bf16" in name or "bfloat16" in name


def _kind(name):
    """`step` or `epoch`: the word after the side's name."""
    return " ".join(name.split(",")[0].split()[1:])


def faster_torch(medians, name):
    """PyTorch's fastest row of the same kind and precision as `name`.

    Args:
        medians: images/s by row name.
        name: a row's name.

    Returns:
        The name of the PyTorch row, or None if there is none.
    """
    same = [
        n
        for n in medians
        if n.startswith("PyTorch")
        and _kind(n) == _kind(name)
        and _in_bf16(n) == _in_bf16(name)
    ]
    return max(same, key=medians.get) if same else None


def record_rows(medians, extras=None):
    """The record's rows and baseline, each row against `faster_torch`.

    Args:
        medians: images/s by row name, in the table's order.
        extras: optional keys to add to each row, by row name.

    Returns:
        `(rows, baseline)`: the rows, each with its own baseline where
        it differs from the record's; the record's baseline is the first
        row's, None if no row has a PyTorch counterpart.
    """
    rows = [
        dict(
            measurement=name,
            value=rate,
            unit="images/s",
            baseline=faster_torch(medians, name),
            **(extras or {}).get(name, {}),
        )
        for name, rate in medians.items()
    ]
    baselines = [row["baseline"] for row in rows if row["baseline"]]
    return rows, (baselines[0] if baselines else None)


def run_worker(args):
    if args.worker == "step":
        rate, parameters = tf_step(args.steps, args.mixed)
    else:
        rate, parameters = tf_epoch(args.epoch_steps, args.mixed)
    from bnorder_tf._compat import onednn_enabled

    print(
        json.dumps(
            {
                "images_per_second": rate,
                "parameters": parameters,
                "onednn": onednn_enabled(),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument(
        "--epoch_steps",
        type=int,
        default=0,
        help="steps per epoch (0: the whole epoch, 468)",
    )
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument(
        "--torch_python",
        default=os.path.join(ROOT, ".venv-torch", "bin", "python"),
    )
    parser.add_argument("--data_dir", default=FASHION_MNIST)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="PyTorch DataLoader workers (0, PyTorch's fastest here: 1619 "
        "img/s against 1550 with 1 or 2)",
    )
    parser.add_argument(
        "--onednn",
        choices=["both", *ONEDNN_MODES],
        default="both",
        help="bnorder_tf's oneDNN mode(s): both (on and off), on, off, or "
        "TensorFlow's default for this CPU",
    )
    parser.add_argument(
        "--max_isa",
        default="",
        help="limit oneDNN and PyTorch to this instruction set (avx2)",
    )
    parser.add_argument("--no_step", action="store_true")
    parser.add_argument("--no_epoch", action="store_true")
    parser.add_argument("--worker", choices=["step", "epoch"])
    parser.add_argument("--mixed", default="")
    record.add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)

    modes = ["on", "off"] if args.onednn == "both" else [args.onednn]
    torch_env = (
        {"ATEN_CPU_CAPABILITY": args.max_isa.lower()} if args.max_isa else {}
    )

    def tf_rows(kind, mixed="", suffix=""):
        return {
            f"bnorder_tf {kind}{suffix}, oneDNN {mode}": (
                tf_command(kind, args, mixed),
                onednn_env(mode, args.max_isa),
            )
            for mode in modes
        }

    def torch_rows(kind):
        return {
            f"PyTorch {kind}, {memory_format}": (
                torch_command(kind, args, memory_format),
                torch_env,
            )
            for memory_format in ("channels_last", "contiguous_format")
        }

    rows = {}
    if not args.no_step:
        rows.update(tf_rows("step"))
        rows.update(torch_rows("step"))
    if args.bf16 and not args.no_step:
        rows.update(tf_rows("step", "mixed_bfloat16", ", mixed_bfloat16"))
        rows["PyTorch step, channels_last, bf16 autocast"] = (
            torch_command("step", args, bf16=True),
            torch_env,
        )
    if not args.no_epoch:
        rows.update(tf_rows("epoch"))
        rows.update(torch_rows("epoch"))
    rates = {name: [] for name in rows}
    parameters, versions = {}, {}
    extras = {
        name: {"isa": kernels_isa(env)}
        for name, (_, env) in rows.items()
        if name.startswith("bnorder_tf")
    }
    for _ in range(args.rounds):
        for name, (command, env) in rows.items():
            result = measure(command, env)
            rates[name].append(result["images_per_second"])
            if result.get("parameters"):
                parameters[name.split()[0]] = result["parameters"]
            if "onednn" in result:
                extras[name]["onednn"] = result["onednn"]
            if "torch" in result:
                versions["torch"] = result["torch"]
                extras[name] = {
                    "threads": result.get("threads"),
                    "isa": result.get("isa"),
                }
            print(f"  {name}: {result['images_per_second']:.0f} img/s",
                  flush=True)  # fmt: skip
    if len(set(parameters.values())) != 1:
        raise SystemExit(f"the networks differ: {parameters} parameters")
    print(f"\nparameters: {parameters}; medians of {args.rounds} rounds")
    print("| measurement | images/s | bnorder_tf / PyTorch's faster |")
    print("|---|---|---|")
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, rate in medians.items():
        faster = faster_torch(medians, name)
        ratio = ""
        if name.startswith("bnorder_tf") and faster:
            ratio = f"{rate / medians[faster]:.2f}x"
        print(f"| {name} | {rate:.0f} | {ratio} |")
    table, baseline = record_rows(medians, extras)
    if baseline:
        record.save(
            args,
            "bench_torch",
            table,
            baseline=baseline,
            versions=versions,
            internal=("worker", "mixed"),
        )


if __name__ == "__main__":
    main()
