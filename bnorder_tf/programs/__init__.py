"""The command-line programs: flags in, one line out on a user's error.

| program           | module                         | library it drives      |
|-------------------|--------------------------------|------------------------|
| `bnorder-train`   | `bnorder_tf.programs.train`    | `bnorder_tf.training`  |
| `bnorder-tune`    | `bnorder_tf.programs.tune`     | `bnorder_tf.tuning`    |
| `bnorder-report`  | `bnorder_tf.programs.report`   | `bnorder_tf.report`    |
| `bnorder-predict` | `bnorder_tf.programs.predict`  | `bnorder_tf.serving`   |

Each has a `main(argv)` and the console entry point `console_main`; its
flags come from `define_flags` (tune, predict), from the settings' schema
(train: `config_flags.define_flags`, one flag per `TrainConfig` field) or
from argparse inside `main` (report). `cli` holds what they share:
flagfiles found by bare name in the package's `configs/`, and a
`UserError` reported as one line with a non-zero exit.
"""
