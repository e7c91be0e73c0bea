"""TensorFlow's start-up, quiet unless asked.

Shared by the programs and by the library functions that import
TensorFlow late (`serving.predict`).
"""

import os
import sys

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


def hide_tensorflow_start_up_unless_asked():
    """Hides TensorFlow's start-up and INFO lines unless the user asked.

    Unless the user set `TF_CPP_MIN_LOG_LEVEL`: `import_tensorflow` will
    hide TensorFlow's start-up lines, and its INFO lines are hidden
    (level 1). Call it before anything imports TensorFlow.
    """
    _quiet_start["quiet"] = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
