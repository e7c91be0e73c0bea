"""A benchmark run's results as data: one JSON record per run.

Each benchmark builds its rows, `{"measurement", "value", "unit"}` plus
optional keys of its own, names the row the ratios are against and calls
`write_record` (or `save`, which also handles the `--no_record` and
`--results_dir` flags that `add_arguments` defines). The record lands in
`benchmarks/results/<benchmark>/<UTC timestamp>.json` with the command,
the commit, the machine and the versions that produced it;
`performance_page.py` turns the newest record of each benchmark into
`docs/performance.md`.

A row's `ratio` is its value divided by its baseline row's value: for a
time, above 1 is slower than the baseline; for a rate (images/s), above 1
is faster. A row may name a baseline of its own (`"baseline": "<row>"`,
e.g. the bare step of the same network) or none (`"baseline": None`, for
a quantity nothing compares with).
"""

import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
#: The CPU flags that decide how fast the kernels are (`amx_*` as well).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "fma")
#: Distributions each version may come from, first found wins.
DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tf-nightly"),
    "keras": ("keras", "keras-nightly"),
    "numpy": ("numpy",),
}
#: Environment variables that choose the CPU kernels a run measures.
KERNEL_VARIABLES = (
    "TF_ENABLE_ONEDNN_OPTS",
    "ONEDNN_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
)
#: Flags `add_arguments` defines: how to record, not what was measured.
RECORD_FLAGS = ("no_record", "results_dir")


def add_arguments(parser):
    """Adds `--no_record` and `--results_dir` to a benchmark's parser.

    Args:
        parser: the benchmark's `argparse.ArgumentParser`.
    """
    parser.add_argument(
        "--no_record",
        action="store_true",
        help="print the results only; write no record",
    )
    parser.add_argument(
        "--results_dir",
        default=RESULTS_DIR,
        help="where records go (default: benchmarks/results)",
    )


def save(args, benchmark, rows, *, baseline, versions=None, internal=()):
    """Writes the run's record unless `--no_record`, and prints its path.

    Args:
        args: the parsed arguments, with `add_arguments`'s flags; the
            others are the record's settings.
        benchmark: the benchmark's name, e.g. `"bench_loop"`.
        rows: the rows, as for `write_record`.
        baseline: the baseline row's measurement.
        versions: versions to add, as for `write_record`.
        internal: arguments to leave out of the settings (those of the
            benchmark's own worker processes).

    Returns:
        The record's path, or None with `--no_record`.
    """
    if args.no_record:
        return None
    settings = {
        k: v
        for k, v in sorted(vars(args).items())
        if k not in RECORD_FLAGS and k not in internal
    }
    # the variables that choose TensorFlow's and PyTorch's CPU kernels
    settings["environment"] = {
        k: os.environ.get(k) for k in KERNEL_VARIABLES if k in os.environ
    }
    path = write_record(
        benchmark,
        rows,
        baseline=baseline,
        settings=settings,
        versions=versions,
        results_dir=args.results_dir,
    )
    shown = os.path.relpath(path)
    print(f"record: {path if shown.startswith('..') else shown}")
    return path


def write_record(
    benchmark,
    rows,
    *,
    baseline,
    settings,
    versions=None,
    results_dir=RESULTS_DIR,
    now=None,
):
    """Writes one run's record, atomically, and returns its path.

    Args:
        benchmark: the benchmark's name, e.g. `"bench_loop"`: the record
            goes into `results_dir/benchmark/`.
        rows: dicts with `measurement` (unique), `value`, `unit` and
            optional keys of the benchmark's own; `baseline` in a row
            names its own baseline row (None: no ratio).
        baseline: the measurement of the row the ratios are against.
        settings: the benchmark's arguments (JSON-serializable).
        versions: versions to add to those read here (e.g. `{"torch":
            ...}` from the process that ran PyTorch).
        results_dir: the directory of all benchmarks' records.
        now: the run's time (an aware `datetime`); default: now.

    Returns:
        The path of the record written.

    Raises:
        ValueError: on a repeated measurement, a baseline that names no
            row, or a row whose unit differs from its baseline's.
        TypeError: if a row or the settings hold what JSON cannot.
    """
    now = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    record = {
        "benchmark": benchmark,
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command_line(),
        "commit": commit(),
        "machine": machine(),
        "versions": {**read_versions(), **(versions or {})},
        "settings": settings,
        "baseline": baseline,
        "rows": with_ratios(rows, baseline),
    }
    directory = os.path.join(results_dir, benchmark)
    os.makedirs(directory, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(directory, f"{stamp}.json")
    suffix = 0
    while os.path.exists(path):  # two runs in one second
        suffix += 1
        path = os.path.join(directory, f"{stamp}_{suffix}.json")
    # Readers skip dot-files, and os.replace is atomic: a record is
    # either whole or absent.
    temporary = os.path.join(
        directory, f".{os.path.basename(path)}.{os.getpid()}.tmp"
    )
    try:
        with open(temporary, "x") as f:
            json.dump(record, f, indent=2, default=_plain)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def _plain(value):
    """A NumPy or TensorFlow scalar as the Python number it holds."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def with_ratios(rows, baseline):
    """The rows, each with `ratio`: its value / its baseline row's value.

    Args:
        rows: dicts with `measurement`, `value` and `unit`; a `baseline`
            key overrides the record's (None: the row has no ratio).
        baseline: the record's baseline measurement.

    Returns:
        New dicts in the same order, keys `measurement`, `value`, `unit`,
        `ratio`, then the row's own; `ratio` is None where the row has no
        baseline or the baseline's value is 0.

    Raises:
        ValueError: on a repeated measurement, a baseline that names no
            row, or a row whose unit differs from its baseline's.
    """
    by_name = {}
    for row in rows:
        if row["measurement"] in by_name:
            raise ValueError(f"repeated measurement {row['measurement']!r}")
        by_name[row["measurement"]] = row
    if baseline not in by_name:
        raise ValueError(f"the baseline {baseline!r} is not a row")
    out = []
    for row in rows:
        base_name = row.get("baseline", baseline)
        ratio = None
        if base_name is not None:
            if base_name not in by_name:
                raise ValueError(
                    f"{row['measurement']!r}: baseline {base_name!r} is not "
                    "a row"
                )
            base = by_name[base_name]
            if base["unit"] != row["unit"]:
                raise ValueError(
                    f"{row['measurement']!r} is in {row['unit']}, its "
                    f"baseline {base_name!r} in {base['unit']}"
                )
            if base["value"]:
                ratio = row["value"] / base["value"]
        extra = {
            k: v
            for k, v in row.items()
            if k not in ("measurement", "value", "unit", "baseline")
        }
        if base_name != baseline:
            extra["baseline"] = base_name
        out.append(
            dict(
                measurement=row["measurement"],
                value=row["value"],
                unit=row["unit"],
                ratio=ratio,
                **extra,
            )
        )
    return out


def command_line():
    """The command that ran the benchmark, as one would type it again."""
    script = os.path.basename(sys.argv[0])
    return shlex.join(["python", f"benchmarks/{script}", *sys.argv[1:]])


def commit():
    """The checkout's commit and whether the code measured has changes.

    Returns:
        `{"sha": ..., "dirty": bool}`, where dirty means uncommitted
        changes in `bnorder_tf` or `benchmarks` (records aside); None
        outside a git checkout.
    """

    def git(*args):
        return subprocess.run(
            ["git", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        status = git(
            "status",
            "--porcelain",
            "--",
            "bnorder_tf",
            "benchmarks",
            ":(exclude)benchmarks/results",
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"sha": sha, "dirty": bool(status)}


def machine(cpuinfo="/proc/cpuinfo"):
    """The CPU's model, its speed-relevant flags and the cores available.

    Args:
        cpuinfo: the file to read the CPU's model and flags from.

    Returns:
        `{"cpu": model, "flags": [...], "cpu_count": os.cpu_count(),
        "usable_cpus": cores this process may run on}`.
    """
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        text = ""
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    if found:
        model = found.group(1).strip()
    found = re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE)
    if found:
        present = found.group(1).split()
        flags = [f for f in present if f in SPEED_FLAGS or f.startswith("amx")]
    if hasattr(os, "sched_getaffinity"):
        usable = len(os.sched_getaffinity(0))
    else:
        usable = os.cpu_count()
    return {
        "cpu": model,
        "flags": flags,
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
    }


def read_versions():
    """Python's version and TensorFlow's, Keras's and NumPy's.

    A module the benchmark imported gives its own `__version__`; the
    others come from the installed distributions' metadata, so that
    nothing is imported here.

    Returns:
        `{"python": ..., "tensorflow": ..., "keras": ..., "numpy": ...}`,
        None for what is not installed.
    """
    versions = {"python": platform.python_version()}
    for module, distributions in DISTRIBUTIONS.items():
        version = getattr(sys.modules.get(module), "__version__", None)
        for name in distributions:
            if version is not None:
                break
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                pass
        versions[module] = version
    return versions
