"""`python -m bnorder_tf.report`: the program `bnorder_tf.programs.report`."""

from bnorder_tf.programs.report import console_main

if __name__ == "__main__":
    console_main()
