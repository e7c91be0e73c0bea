"""The training program: trains one model of the paper.

    python -m bnorder_tf.programs.train --flagfile=vgg_swap.flags

(also `bnorder-train` and `python trainers/train.py`). Flags after the
flagfile override it, e.g. the offline smoke run

    python -m bnorder_tf.programs.train --flagfile=vgg_swap.flags \
        --dataset=fashion_mnist --epochs=2 --width=0.25

Every flag is a `TrainConfig` field (`bnorder_tf/training/config.py`),
defined by `config_flags`; see `--helpfull`. Re-running the same command
after an interruption resumes. Importing this module defines no flags:
`console_main` does.
"""

from absl import logging

from bnorder_tf.programs import cli, config_flags
from bnorder_tf.training import run_dir


def main(argv):
    """Trains the model the parsed flags describe."""
    del argv
    logging.set_verbosity(logging.WARNING)
    run_config = config_flags.config_from_flags()
    # the paths and the run directory (finished, or started with other
    # flags) are checked again by `run_training`; here they answer
    # before TensorFlow's start-up
    run_dir.check_run_paths(run_config)
    run_dir.check_resumable(run_config)
    if run_config.strategy == "multi_worker":
        # a lost peer's C++ errors would come before the one line
        cli.hide_native_errors_unless_asked()
    # TensorFlow and Keras only now that the flags are checked
    cli.import_tensorflow()
    from bnorder_tf.training import distribute
    from bnorder_tf.training.runner import run_training

    distribute.split_cpu(run_config.logical_cpus)
    run_training(run_config)


def console_main():
    """The `bnorder-train` entry point."""
    config_flags.define_flags()
    cli.run_program(main, cli.FLAGFILE_DIRS)


if __name__ == "__main__":
    console_main()
