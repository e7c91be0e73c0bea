"""Trains one model of the paper.

    python trainers/train.py --flagfile=vgg_swap.flags

Flags after the flagfile override it, e.g. the offline smoke run

    python trainers/train.py --flagfile=vgg_swap.flags \
        --dataset=fashion_mnist --epochs=2 --width=0.25

Every flag is a `TrainConfig` field (`bnorder_tf/config.py`); see
`--helpfull`. Re-running the same command after an interruption resumes.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # hide C++ INFO lines

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import logging  # noqa: E402

from bnorder_tf import cli, config, distribute, training  # noqa: E402

config.define_flags()


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    run_config = config.config_from_flags()
    distribute.split_cpu(run_config.logical_cpus)
    training.run(run_config)


if __name__ == "__main__":
    cli.run_program(main, [os.path.dirname(os.path.abspath(__file__))])
