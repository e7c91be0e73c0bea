"""`python -m bnorder_tf.train`: the program `bnorder_tf.programs.train`."""

from bnorder_tf.programs.train import console_main

if __name__ == "__main__":
    console_main()
