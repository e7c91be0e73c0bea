"""trainers/train.py with tensorflow-datasets mocked offline.

    TFDS_MOCK_DIR=DIR python tests/scripts/train_mock_tfds.py FLAGS...

DIR holds the builders' metadata (`tests.data.tfds_mock.write_all`).
"""

import os
import runpy
import sys

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
sys.path.insert(0, ROOT)

from tests.data import tfds_mock  # noqa: E402

with tfds_mock.mocked(os.environ["TFDS_MOCK_DIR"]):
    sys.argv = [os.path.join(ROOT, "trainers", "train.py"), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
