"""Grid (or random, Bayesian, Hyperband) search over trainer settings:
`bnorder_tf.tune` as a script.

    python tuning/tune.py --flagfile=vgg_swap.flags \
        --search_learning_rate=0.1,0.01 \
        --search_weight_decay=5e-3,1e-3,5e-4,1e-4 --seeds=3

The same program as `python -m bnorder_tf.tune` and `bnorder-tune` (the
package must be installed: `make install` does it).
"""

from bnorder_tf.tune import run

if __name__ == "__main__":
    run()
