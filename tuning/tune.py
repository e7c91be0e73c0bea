"""Searches trainer settings with keras-tuner: `bnorder-tune` as a script.

    python tuning/tune.py --flagfile=vgg_swap.flags \
        --search_learning_rate=0.1,0.01 \
        --search_weight_decay=5e-3,1e-3,5e-4,1e-4 --seeds=3

The same program as `bnorder-tune` and `python -m bnorder_tf.tune`
(`bnorder_tf.programs.tune`); the package must be installed (`make
install` does it). Bare flagfile names are found in the package's
`bnorder_tf/configs/`.
"""

from bnorder_tf.programs.tune import console_main

if __name__ == "__main__":
    console_main()
