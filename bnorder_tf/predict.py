"""`python -m bnorder_tf.predict`: the program `bnorder_tf.programs.predict`."""

from bnorder_tf.programs.predict import console_main

if __name__ == "__main__":
    console_main()
