"""Trains one model of the paper: `bnorder_tf.train` as a script.

    python trainers/train.py --flagfile=vgg_swap.flags

The same program as `python -m bnorder_tf.train` and `bnorder-train`
(the package must be installed: `make install` does it).
"""

import os

# before TensorFlow is imported: hide its C++ INFO lines
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from bnorder_tf.train import run  # noqa: E402

if __name__ == "__main__":
    run()
