"""`run_training(config, data=...)` on the Python tf.data pair of the tests.

    python tests/scripts/train_user_data.py FLAGS...

FLAGS are `--name=value` settings of `TrainConfig`; the data is
`tests.data.user_data.datasets()`.
"""

import os
import sys

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
sys.path.insert(0, ROOT)

from bnorder_tf.training import TrainConfig, run_training  # noqa: E402
from tests.data import user_data  # noqa: E402

config = TrainConfig.from_flags_text("\n".join(sys.argv[1:]), source="argv")
run_training(config, data=user_data.datasets(), verbose=0)
