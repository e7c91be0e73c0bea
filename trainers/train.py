"""Trains one model of the paper: `bnorder-train` as a script.

    python trainers/train.py --flagfile=vgg_swap.flags

The same program as `bnorder-train` and `python -m bnorder_tf.train`
(`bnorder_tf.programs.train`); the package must be installed (`make
install` does it). Bare flagfile names are found in the package's
`bnorder_tf/configs/`.
"""

from bnorder_tf.programs.train import console_main

if __name__ == "__main__":
    console_main()
