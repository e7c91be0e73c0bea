"""The benchmarks' records and the page made of them: no TensorFlow needed.

`benchmarks/record.py` writes the records, `benchmarks/performance_page.py`
the page.
"""

import argparse
import datetime
import importlib
import json
import os
import sys

import pytest

BENCHMARKS = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "benchmarks"
)


def _import(name):
    # the benchmarks are scripts that import each other from their folder
    sys.path.insert(0, BENCHMARKS)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(BENCHMARKS)


record = _import("record")
performance_page = _import("performance_page")
bench_torch = _import("bench_torch")

NOW = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
ROWS = [
    dict(measurement="bare step", value=0.5, unit="s/step"),
    dict(measurement="real epoch", value=0.6, unit="s/step", note="loop"),
    dict(measurement="Keras fit", value=0.25, unit="s/step"),
    dict(measurement="tiny bare step", value=0.1, unit="s/step"),
    dict(
        measurement="tiny real epoch",
        value=0.3,
        unit="s/step",
        baseline="tiny bare step",
    ),
    dict(measurement="memory", value=12.0, unit="MiB", baseline=None),
]


def write(tmp_path, rows=ROWS, now=NOW, **kwargs):
    return record.write_record(
        "bench_x",
        rows,
        baseline="bare step",
        settings={"steps": 2},
        results_dir=str(tmp_path),
        now=now,
        **kwargs,
    )


def test_record_holds_the_run_and_ratios_to_the_baseline(tmp_path):
    path = write(tmp_path, versions={"torch": "2.13.0"})
    assert path == str(tmp_path / "bench_x" / "20250102T030405Z.json")
    with open(path) as f:
        written = json.load(f)
    assert written["benchmark"] == "bench_x"
    assert written["date"] == "2025-01-02T03:04:05Z"
    assert written["command"].startswith("python benchmarks/")
    assert written["settings"] == {"steps": 2}
    assert written["baseline"] == "bare step"
    versions = written["versions"]
    assert versions["torch"] == "2.13.0"
    assert set(versions) >= {"python", "tensorflow", "keras", "numpy"}
    assert set(written["machine"]) == {
        "cpu",
        "flags",
        "cpu_count",
        "usable_cpus",
    }
    commit = written["commit"]
    assert commit is None or set(commit) == {"sha", "dirty"}
    rows = {row["measurement"]: row for row in written["rows"]}
    assert [row["measurement"] for row in written["rows"]] == [
        row["measurement"] for row in ROWS
    ]
    assert rows["bare step"]["ratio"] == 1.0
    assert rows["real epoch"]["ratio"] == pytest.approx(1.2)  # 0.6 / 0.5
    assert rows["real epoch"]["note"] == "loop"
    assert rows["Keras fit"]["ratio"] == pytest.approx(0.5)  # 0.25 / 0.5
    # a row with a baseline of its own keeps its name
    assert rows["tiny real epoch"]["ratio"] == pytest.approx(3.0)
    assert rows["tiny real epoch"]["baseline"] == "tiny bare step"
    assert rows["memory"]["ratio"] is None
    assert "baseline" not in rows["bare step"]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([dict(measurement="other", value=1.0, unit="s")], "not a row"),
        (
            [
                dict(measurement="bare step", value=1.0, unit="s"),
                dict(measurement="rate", value=9.0, unit="images/s"),
            ],
            "images/s",
        ),
        (
            [
                dict(measurement="bare step", value=1.0, unit="s"),
                dict(measurement="x", value=1.0, unit="s", baseline="y"),
            ],
            "'y' is not a row",
        ),
        (
            [
                dict(measurement="bare step", value=1.0, unit="s"),
                dict(measurement="bare step", value=2.0, unit="s"),
            ],
            "repeated",
        ),
    ],
)
def test_bad_baselines_are_refused(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        write(tmp_path, rows=rows)
    assert not os.listdir(tmp_path)


def test_a_record_is_never_seen_half_written(tmp_path, monkeypatch):
    replace = os.replace

    def checked_replace(source, destination):
        # the whole record is in a file readers skip, under another name
        assert os.path.basename(source).startswith(".")
        assert not os.path.exists(destination)
        assert performance_page.newest_record(str(tmp_path), "bench_x") is None
        with open(source) as f:
            assert json.load(f)["benchmark"] == "bench_x"
        replace(source, destination)

    monkeypatch.setattr(record.os, "replace", checked_replace)
    path = write(tmp_path)
    assert os.listdir(tmp_path / "bench_x") == [os.path.basename(path)]


def test_a_failed_write_leaves_nothing(tmp_path):
    rows = [dict(measurement="bare step", value=1.0, unit="s", x=object())]
    with pytest.raises(TypeError, match="not JSON serializable"):
        write(tmp_path, rows=rows)
    assert os.listdir(tmp_path / "bench_x") == []


def test_runs_in_one_second_keep_both_records(tmp_path):
    first = write(tmp_path)
    second = write(tmp_path, rows=ROWS[:1])
    assert first != second
    assert os.path.basename(second) == "20250102T030405Z_1.json"
    path, newest = performance_page.newest_record(str(tmp_path), "bench_x")
    assert path == second
    assert len(newest["rows"]) == 1


def test_save_honours_no_record_and_leaves_its_flags_out(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--worker", default=None)
    record.add_arguments(parser)
    args = parser.parse_args(["--no_record", "--results_dir", str(tmp_path)])
    assert record.save(args, "bench_x", ROWS, baseline="bare step") is None
    assert not os.listdir(tmp_path)

    args.no_record = False
    path = record.save(
        args, "bench_x", ROWS, baseline="bare step", internal=("worker",)
    )
    with open(path) as f:
        # the settings, and the variables that chose the kernels
        assert json.load(f)["settings"] == {
            "steps": 2,
            "environment": {"TF_ENABLE_ONEDNN_OPTS": "0"},
        }
    assert path in capsys.readouterr().out


def test_machine_keeps_the_flags_that_matter_to_speed(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\n"
        "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16 amx_tile "
        "avx512_vnni amx_bf16\n\nprocessor\t: 1\n"
    )
    found = record.machine(str(cpuinfo))
    assert found["cpu"] == "Some CPU @ 2.0GHz"
    assert found["flags"] == [
        "avx2",
        "fma",
        "avx512f",
        "avx512_bf16",
        "amx_tile",
        "avx512_vnni",
        "amx_bf16",
    ]
    assert found["cpu_count"] == os.cpu_count()
    assert 1 <= found["usable_cpus"] <= os.cpu_count()


def test_no_commit_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "ROOT", str(tmp_path))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert record.commit() is None


def test_command_is_the_benchmark_with_its_arguments(monkeypatch):
    monkeypatch.setattr(
        sys, "argv", ["/somewhere/benchmarks/bench_x.py", "--steps", "2 3"]
    )
    assert record.command_line() == (
        "python benchmarks/bench_x.py --steps '2 3'"
    )


def hand_made(results, name, stamp, rows, baseline, **fields):
    directory = results / name
    directory.mkdir(parents=True, exist_ok=True)
    content = dict(
        benchmark=name,
        date=stamp,
        command=f"python benchmarks/{name}.py --steps 9",
        commit={"sha": "0123456789abcdef0123", "dirty": True},
        machine={
            "cpu": "Some CPU",
            "flags": ["avx2", "fma"],
            "cpu_count": 4,
            "usable_cpus": 2,
        },
        versions={"python": "3.11.7", "tensorflow": "2.21.0", "torch": None},
        settings={"steps": 9},
        baseline=baseline,
        rows=rows,
    )
    content.update(fields)
    path = directory / (stamp.replace("-", "").replace(":", "") + ".json")
    path.write_text(json.dumps(content))
    return path


def test_page_shows_each_benchmarks_newest_record(tmp_path):
    benchmarks, results = tmp_path / "benchmarks", tmp_path / "results"
    benchmarks.mkdir()
    (benchmarks / "bench_a.py").write_text(
        '"""Benchmark: what A costs\nagainst B.\n\nMore detail."""\n'
    )
    (benchmarks / "bench_b.py").write_text('"""Benchmark: B."""\n')
    (benchmarks / "helper.py").write_text('"""Not a benchmark."""\n')
    old_rows = [
        dict(measurement="b", value=9.0, unit="s", ratio=1.0),
    ]
    hand_made(results, "bench_a", "2025-01-01T00:00:00Z", old_rows, "b")
    rows = [
        dict(measurement="b", value=0.5, unit="s", ratio=1.0),
        dict(measurement="a|1", value=0.75, unit="s", ratio=1.5),
        dict(measurement="e", value=0.0, unit="s", ratio=0.00123),
        dict(
            measurement="c",
            value=2000.4,
            unit="images/s",
            ratio=None,
            baseline=None,
        ),
        dict(
            measurement="d",
            value=100.0,
            unit="images/s",
            ratio=0.04998,
            baseline="c",
        ),
    ]
    newest = hand_made(results, "bench_a", "2025-02-01T00:00:00Z", rows, "b")
    (results / "bench_a" / ".20250301T000000Z.json.1.tmp").write_text("{")

    page = performance_page.render(
        str(benchmarks), str(results), root=str(tmp_path)
    )

    assert page.startswith(performance_page.HEADER)
    a = page[page.index("## bench_a") : page.index("## bench_b")]
    assert "Benchmark: what A costs against B.\n" in a
    assert "More detail" not in a
    assert "| measurement | value | unit | × baseline |" in a
    assert "| b | 0.5 | s | 1.00x |" in a
    assert "| e | 0 | s | 0.0012x |" in a
    assert "| a\\|1 | 0.75 | s | 1.50x |" in a
    assert "| c | 2000 | images/s | – |" in a
    assert "| d | 100 | images/s | 0.05x of `c` |" in a
    assert "| b | 9 |" not in a  # the older record
    assert "Baseline: `b`; a row with a baseline of its own names it." in a
    assert "- Command: `python benchmarks/bench_a.py --steps 9`" in a
    assert "- Date: 2025-02-01T00:00:00Z" in a
    assert "- Commit: `0123456789ab` with uncommitted changes" in a
    assert "- Machine: Some CPU; flags avx2, fma; 4 CPUs, 2 usable" in a
    assert "- Versions: python 3.11.7, tensorflow 2.21.0\n" in a
    assert f"- Record: `{os.path.relpath(newest, tmp_path)}`" in a
    b = page[page.index("## bench_b") :]
    assert "Benchmark: B.\n\nNot recorded yet: run " in b
    assert "`python benchmarks/bench_b.py`." in b
    assert "helper" not in page


def test_page_of_a_written_record(tmp_path):
    write(tmp_path)
    page = performance_page.render(BENCHMARKS, str(tmp_path))
    x = page[page.index("## bench_x") :]
    assert "Baseline: `bare step`; a row with a baseline of its own" in x
    assert "| real epoch | 0.6 | s/step | 1.20x |" in x
    assert "| tiny real epoch | 0.3 | s/step | 3.00x of `tiny bare step` |" in x
    assert "| memory | 12 | MiB | – |" in x


def test_rows_without_ratio_name_no_baseline(tmp_path):
    rows = [
        dict(measurement="b", value=1.0, unit="s", ratio=1.0),
        dict(measurement="m", value=3.0, unit="MiB", ratio=None, baseline=None),
    ]
    path = hand_made(tmp_path, "bench_y", "2025-01-01T00:00:00Z", rows, "b")
    with open(path) as f:
        found = (str(path), json.load(f))
    text = performance_page.section("bench_y", None, found, str(tmp_path))
    assert "| m | 3 | MiB | – |" in text
    assert "Baseline: `b`.\n" in text


def test_check_fails_on_a_stale_page(tmp_path, capsys):
    page, results = tmp_path / "performance.md", tmp_path / "results"
    flags = ["--output", str(page), "--results_dir", str(results)]
    assert performance_page.main(["--check", *flags]) == 1  # no page yet
    assert performance_page.main(flags) == 0
    assert performance_page.main(["--check", *flags]) == 0
    write(results)
    assert performance_page.main(["--check", *flags]) == 1
    assert "is stale" in capsys.readouterr().err


def test_the_repository_page_is_current():
    # python benchmarks/performance_page.py regenerates it
    assert performance_page.main(["--check"]) == 0


def test_torch_rows_are_against_pytorchs_faster_format():
    medians = {
        "bnorder_tf step": 1000.0,
        "PyTorch step, channels_last": 800.0,
        "PyTorch step, contiguous_format": 500.0,
        "bnorder_tf step, mixed_bfloat16": 600.0,
        "PyTorch step, channels_last, bf16 autocast": 1200.0,
        "bnorder_tf epoch": 900.0,
        "PyTorch epoch, channels_last": 700.0,
        "PyTorch epoch, contiguous_format": 1000.0,
    }
    extras = {"PyTorch step, channels_last": {"threads": 2}}
    rows, baseline = bench_torch.record_rows(medians, extras)
    assert baseline == "PyTorch step, channels_last"
    ratios = {
        row["measurement"]: (row["ratio"], row.get("baseline", baseline))
        for row in record.with_ratios(rows, baseline)
    }
    assert ratios["bnorder_tf step"] == (1.25, baseline)
    assert ratios["PyTorch step, contiguous_format"] == (0.625, baseline)
    assert ratios["bnorder_tf step, mixed_bfloat16"] == (
        0.5,
        "PyTorch step, channels_last, bf16 autocast",
    )
    assert ratios["bnorder_tf epoch"] == (
        0.9,
        "PyTorch epoch, contiguous_format",
    )
    assert rows[1]["threads"] == 2
