"""Trains one model of the paper: `bnorder_tf.train` as a script.

    python trainers/train.py --flagfile=vgg_swap.flags

The same program as `python -m bnorder_tf.train` and `bnorder-train`
(the package must be installed: `make install` does it).
"""

from bnorder_tf.train import run

if __name__ == "__main__":
    run()
