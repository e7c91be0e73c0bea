"""An image folder of PNG files written with NumPy, for the data tests."""

import numpy as np
import tensorflow as tf

FOLDER_CLASSES = ("cat", "dog", "fox")


def write_folder(root, counts=(("train", 8), ("test", 3)), shape=(12, 12, 3)):
    """PNGs in `root/<split>/<class>/`: class k's pixels near 40 + 80 k."""
    rng = np.random.default_rng(0)
    for split, count in counts:
        for k, name in enumerate(FOLDER_CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                image = 40 + 80 * k + rng.integers(0, 40, shape)
                png = tf.io.encode_png(image.astype(np.uint8))
                tf.io.write_file(str(root / split / name / f"{i}.png"), png)
    return root
