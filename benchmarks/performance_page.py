"""Writes `docs/performance.md` from the benchmarks' newest records.

For each benchmark (`benchmarks/bench_*.py`, and any benchmark with
records), the page shows what it measures (the first paragraph of its
docstring), the table of its newest record in `benchmarks/results/` and
the command, commit, machine and versions that produced it; a benchmark
without a record gets the command to make one. With `--check`, it writes
nothing and exits with 1 if the page on disk is not what it would write.

Usage: python benchmarks/performance_page.py [--check]
    [--output docs/performance.md] [--results_dir benchmarks/results]
"""

import argparse
import ast
import difflib
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
PAGE = os.path.join(ROOT, "docs", "performance.md")

HEADER = """\
# Performance

Every figure on this page was produced by the command shown with it, and
is written by `python benchmarks/performance_page.py` from the newest
record of each benchmark: do not edit the page by hand. Machines of the
kind these ran on (shared cloud CPUs) differ by up to 2x from one day to
the next, so compare figures only within one record, through their ratios,
never across records. The `× baseline` column is a row's value divided by
its baseline row's: for a time, above 1 is slower than the baseline; for
a rate (images/s), above 1 is faster; a dash where the row has nothing to
compare with. The dated history of every run is in `benchmarks/results/`,
one JSON record per run.

## The CPU's kernels: oneDNN on by default

TensorFlow runs its convolutions and matrix products on oneDNN only where
the CPU has AVX512-VNNI, AVX512-BF16 or AMX; on other x86 CPUs (those
with AVX2 but no AVX-512, as many cloud machines) it falls back to
Eigen's kernels, built without AVX2, which `bench_torch` measures at a
third of oneDNN's speed. The programs (`bnorder-train`, `bnorder-tune`,
`bnorder-predict`, `make demo`) therefore set `TF_ENABLE_ONEDNN_OPTS=1`
on x86 unless you set it yourself, and record the choice in the run's
`summary.json` (`backend`: `onednn`, `onednn_chosen_by`, the CPU's
features). Set `TF_ENABLE_ONEDNN_OPTS=0` to get TensorFlow's Eigen
kernels. If you use the library from your own Python, which imports
TensorFlow itself, set the variable before the first
`import tensorflow`:

    TF_ENABLE_ONEDNN_OPTS=1 python my_training.py

Both modes give the same statistics and the same resumed runs up to
float32 rounding: the test suite runs its numerics in both
(`.ci/run`). Where a benchmark has records from several kinds of CPU,
its section shows the newest on each kind, and its rows name the
instruction set the kernels ran (oneDNN's own report, or Eigen).
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with 1 if the page differs from what would be written",
    )
    parser.add_argument("--output", default=PAGE)
    parser.add_argument("--results_dir", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    page = render(results_dir=args.results_dir)
    if not args.check:
        with open(args.output, "w") as f:
            f.write(page)
        print(f"wrote {os.path.relpath(args.output)}")
        return 0
    try:
        with open(args.output) as f:
            current = f.read()
    except FileNotFoundError:
        current = ""
    if current == page:
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            page.splitlines(keepends=True),
            "on disk",
            "generated",
        )
    )
    print(
        f"{os.path.relpath(args.output)} is stale: run python "
        "benchmarks/performance_page.py",
        file=sys.stderr,
    )
    return 1


def render(benchmarks_dir=HERE, results_dir=RESULTS_DIR, root=ROOT):
    """The page's text.

    Args:
        benchmarks_dir: where the benchmarks' modules are.
        results_dir: where their records are, a directory per benchmark.
        root: the repository, which the paths shown are relative to.

    Returns:
        The Markdown page.
    """
    sections = [HEADER]
    for name in benchmark_names(benchmarks_dir, results_dir):
        description = summary(os.path.join(benchmarks_dir, f"{name}.py"))
        found = newest_per_cpu_kind(results_dir, name)
        if len(found) < 2:
            only = next(iter(found.values()), None)
            sections.append(section(name, description, only, root))
            continue
        # one table per kind of CPU: their kernels differ
        sections.append(f"## {name}\n\n{description or ''}\n")
        for kind, record in found.items():
            sections.append(
                section(name, None, record, root, heading=f"### {kind}")
            )
    return "\n".join(sections)


def cpu_kind(machine):
    """The kind of CPU a record ran on: its widest vector instructions."""
    flags = set(machine.get("flags") or [])
    if "avx512f" in flags:
        return "AVX-512 CPU"
    if "avx2" in flags:
        return "AVX2 CPU (no AVX-512)"
    return "CPU without AVX2"


def newest_per_cpu_kind(results_dir, name):
    """The newest record of benchmark `name` on each kind of CPU.

    Returns:
        A dict from `cpu_kind` to `(path, record)`, AVX-512 first.
    """
    found = {}
    for path in reversed(_record_paths(results_dir, name)):
        with open(path) as f:
            record = json.load(f)
        found.setdefault(cpu_kind(record["machine"]), (path, record))
    return dict(sorted(found.items()))


def benchmark_names(benchmarks_dir, results_dir):
    """The benchmarks' names: their modules' and those with records."""
    names = {
        os.path.basename(p)[: -len(".py")]
        for p in glob.glob(os.path.join(benchmarks_dir, "bench_*.py"))
    }
    if os.path.isdir(results_dir):
        names.update(
            entry
            for entry in os.listdir(results_dir)
            if os.path.isdir(os.path.join(results_dir, entry))
        )
    return sorted(names)


def newest_record(results_dir, name):
    """The newest record of benchmark `name`.

    Records are named by their UTC time, so the newest sorts last; files
    that do not end in `.json` or start with a dot (a record being
    written) are not records.

    Returns:
        `(path, record)`, or None if the benchmark has no record.
    """
    paths = _record_paths(results_dir, name)
    if not paths:
        return None
    with open(paths[-1]) as f:
        return paths[-1], json.load(f)


def _record_paths(results_dir, name):
    """The paths of benchmark `name`'s records, oldest first."""
    return sorted(
        p
        for p in glob.glob(os.path.join(results_dir, name, "*.json"))
        if not os.path.basename(p).startswith(".")
    )


def summary(module_path):
    """The first paragraph of a module's docstring, on one line.

    The module is parsed, not imported (benchmarks import TensorFlow).

    Returns:
        The paragraph, or None if there is no such module or docstring.
    """
    try:
        with open(module_path) as f:
            docstring = ast.get_docstring(ast.parse(f.read()))
    except FileNotFoundError:
        return None
    if not docstring:
        return None
    return " ".join(docstring.split("\n\n")[0].split())


def section(name, description, found, root, heading=None):
    """One benchmark's section of the page.

    Args:
        name: the benchmark's name.
        description: what it measures, or None.
        found: `(path, record)` of its newest record, or None.
        root: the directory the record's path is shown relative to.
        heading: the section's heading (default: `## <name>`).

    Returns:
        The section's Markdown.
    """
    lines = [heading or f"## {name}", ""]
    if description:
        lines += [description, ""]
    if found is None:
        lines += [
            f"Not recorded yet: run `python benchmarks/{name}.py`.",
            "",
        ]
        return "\n".join(lines)
    path, record = found
    baseline = record["baseline"]
    # the kernels' instruction set, where the benchmark recorded it
    kernels = any("isa" in row for row in record["rows"])
    lines += [
        "| measurement | value | unit | × baseline |"
        + (" kernels |" if kernels else ""),
        "|---|---:|---|---:|" + ("---|" if kernels else ""),
    ]
    for row in record["rows"]:
        cells = [
            _cell(row["measurement"]),
            _number(row["value"]),
            _cell(row["unit"]),
            _ratio(row, baseline),
        ]
        if kernels:
            cells.append(_cell(row.get("isa") or ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Baseline: `{baseline}`"
        + (
            "; a row with a baseline of its own names it."
            if any(
                row.get("baseline", baseline) not in (baseline, None)
                for row in record["rows"]
            )
            else "."
        ),
        "",
        f"- Command: `{record['command']}`",
        f"- Date: {record['date']}",
        f"- Commit: {_commit(record.get('commit'))}",
        f"- Machine: {_machine(record['machine'])}",
        f"- Versions: {_versions(record['versions'])}",
        f"- Record: `{os.path.relpath(path, root)}`",
        "",
    ]
    return "\n".join(lines)


def _cell(text):
    return str(text).replace("|", "\\|")


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _cell(value)
    if value == 0:
        return "0"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def _ratio(row, baseline):
    if row.get("ratio") is None:
        return "–"
    ratio = row["ratio"]
    # two decimals would show a large gain as 0.00x
    text = f"{ratio:.2f}x" if abs(ratio) >= 0.1 else f"{ratio:.2g}x"
    own = row.get("baseline", baseline)
    if own != baseline:
        text += f" of `{_cell(own)}`"
    return text


def _commit(commit):
    if not commit:
        return "not in a git checkout"
    text = f"`{commit['sha'][:12]}`"
    if commit.get("dirty"):
        text += " with uncommitted changes"
    return text


def _machine(machine):
    flags = ", ".join(machine.get("flags") or []) or "none of note"
    return (
        f"{machine['cpu']}; flags {flags}; {machine['cpu_count']} CPUs, "
        f"{machine['usable_cpus']} usable"
    )


def _versions(versions):
    return ", ".join(
        f"{name} {version}"
        for name, version in versions.items()
        if version is not None
    )


if __name__ == "__main__":
    sys.exit(main())
