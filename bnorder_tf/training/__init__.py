"""Training: the configuration, the runner and what a run leaves on disk.

`TrainConfig` holds every setting of a run (each one is also a flag of
`bnorder-train`); `run_training(config)` trains, measures and exports one
model under any `tf.distribute` strategy and returns a `RunResult`. Its
data and model (`prepare`), the step engine (`steps`), the epoch's
callbacks (`callbacks`), the run directory and its summary (`run_dir`),
the one-line errors of faults (`faults`), the strategies (`distribute`)
and the progress line (`progress`) are its parts.

Only `config` and `run_dir` load without TensorFlow: the programs check
flags and paths with them before TensorFlow starts.

Example:
>>> from bnorder_tf.training import TrainConfig
>>> config = TrainConfig(dataset="synthetic", model="vgg11", epochs=1)
>>> config.order
'swap'
"""

from bnorder_tf._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "TrainConfig": "config",
        "RunResult": "runner",
        "run_training": "runner",
        "Trainer": "steps",
        "make_optimizer": "steps",
        "get_strategy": "distribute",
    },
)
