"""`python -m bnorder_tf.tune`: the program `bnorder_tf.programs.tune`."""

from bnorder_tf.programs.tune import console_main

if __name__ == "__main__":
    console_main()
