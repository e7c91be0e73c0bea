"""TensorFlow's start-up: quiet unless asked, oneDNN on unless told.

Shared by the programs and by the library functions that import
TensorFlow late (`serving.predict`).
"""

import os
import platform
import sys

#: TensorFlow's switch for its oneDNN kernels. Unset, TensorFlow turns
#: them on only where the CPU has AVX512-VNNI, AVX512-BF16 or AMX; on
#: other x86 CPUs (AVX2 ones) it runs Eigen's kernels, slower per
#: training step (docs/performance.md has the measurement).
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
#: Who chose the oneDNN mode: `"user"` (the variable was set),
#: `"bnorder_tf"` (a program set it), or `"tensorflow"` (its default).
_onednn_chosen_by = {"who": "tensorflow"}

#: Whether `import_tensorflow` hides TensorFlow's start-up lines: unless
#: the user set TF_CPP_MIN_LOG_LEVEL (`run_program` decides).
_quiet_start = {"quiet": False}


def import_tensorflow():
    """Imports TensorFlow and finds its devices.

    A program calls it once its flags are checked, before anything else
    imports TensorFlow.

    TensorFlow's C++ start-up lines (absl's "All log messages before
    absl::InitializeLog()", oneDNN, CUDA and CPU-feature notices) are
    written before `TF_CPP_MIN_LOG_LEVEL` applies, some of them twice.
    Unless the user set that variable, they are hidden by pointing file
    descriptor 2 at /dev/null meanwhile; a Python error is raised as
    usual, after stderr is restored.
    """
    if "tensorflow" in sys.modules or not _quiet_start["quiet"]:
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def use_onednn_unless_told():
    """Turns oneDNN on, on x86, unless the user set `TF_ENABLE_ONEDNN_OPTS`.

    The programs call it before anything imports TensorFlow; it is a
    no-op on CPUs where TensorFlow already enables oneDNN, and outside
    x86 (oneDNN's Arm build is another code path, not measured here).
    """
    if ONEDNN_VARIABLE in os.environ:
        _onednn_chosen_by["who"] = "user"
    elif platform.machine().lower() in ("x86_64", "amd64"):
        os.environ[ONEDNN_VARIABLE] = "1"
        _onednn_chosen_by["who"] = "bnorder_tf"


def cpu_features():
    """The CPU's model and its AVX2, AVX-512 and AMX features.

    Returns:
        `{"cpu": str, "avx2": bool, "avx512": [str, ...]}`; the features
        are read from /proc/cpuinfo, so they are empty outside Linux.
    """
    model, features = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    features = set(value.split())
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "avx2": "avx2" in features,
        "avx512": sorted(
            f for f in features if f.startswith(("avx512", "amx"))
        ),
    }


def backend():
    """What a run records of the kernels that ran it.

    Returns:
        `{"onednn": bool, "onednn_chosen_by": "user" | "bnorder_tf" |
        "tensorflow", "tf_enable_onednn_opts": str or None, "cpu": ...,
        "avx2": ..., "avx512": [...]}`.
    """
    from bnorder_tf._compat import onednn_enabled

    return {
        "onednn": onednn_enabled(),
        "onednn_chosen_by": _onednn_chosen_by["who"],
        "tf_enable_onednn_opts": os.environ.get(ONEDNN_VARIABLE),
        **cpu_features(),
    }


def hide_native_errors_unless_asked():
    """Also hides TensorFlow's C++ ERROR lines, unless the user set a level.

    For a multi-worker run: when a peer dies, TensorFlow's collectives log
    multi-line C++ errors ("The tasks have crashed ...") before the
    exception that the program turns into its one line. The exception
    itself still names what failed, and a bug keeps its traceback. Call
    it after `hide_tensorflow_start_up_unless_asked`, before anything
    imports TensorFlow.
    """
    if _quiet_start["quiet"]:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


def hide_tensorflow_start_up_unless_asked():
    """Hides TensorFlow's start-up and INFO lines unless the user asked.

    Unless the user set `TF_CPP_MIN_LOG_LEVEL`: `import_tensorflow` will
    hide TensorFlow's start-up lines, and its INFO lines are hidden
    (level 1). Call it before anything imports TensorFlow.
    """
    _quiet_start["quiet"] = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
