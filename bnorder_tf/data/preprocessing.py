"""Turning raw images into model inputs, the same way in training and serving.

`Preprocessing` is what the model expects of an image: uint8 pixels scaled
to [0, 1], zero-padded to a square size if the dataset's images are
smaller (Fashion-MNIST's 28x28 to 32x32), normalised per channel. The
training pipeline and the exported SavedModel call the same `apply`.
"""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Per-channel normalisation and optional padding of raw images.

    Args:
        mean: per-channel mean of the [0, 1] pixels.
        std: per-channel standard deviation of the [0, 1] pixels.
        raw_shape: `(H, W, C)` of the raw images.
        pad_to: optional int: zero-pad (before normalising) to
            `pad_to x pad_to`, centred.

    Example:
    Fashion-MNIST's 28x28 images, padded to 32x32: a white pixel becomes
    (1 - 0.5) / 0.25 = 2, the black padding (0 - 0.5) / 0.25 = -2:

    >>> preprocessing = Preprocessing(mean=(0.5,), std=(0.25,),
    ...                               raw_shape=(28, 28, 1), pad_to=32)
    >>> preprocessing.input_shape
    (32, 32, 1)
    >>> white = tf.fill((1, 28, 28, 1), tf.constant(255, tf.uint8))
    >>> x = preprocessing.apply(white)
    >>> tuple(x.shape), float(x[0, 16, 16, 0]), float(x[0, 0, 0, 0])
    ((1, 32, 32, 1), 2.0, -2.0)
    >>> Preprocessing.from_config(preprocessing.to_config()) == preprocessing
    True
    """

    mean: tuple
    std: tuple
    raw_shape: tuple
    pad_to: int | None = None

    @property
    def input_shape(self):
        """`(H, W, C)` of the model's input."""
        h, w, c = self.raw_shape
        if self.pad_to:
            return (self.pad_to, self.pad_to, c)
        return (h, w, c)

    def apply(self, images):
        """Raw uint8 `[..., H, W, C]` -> normalised float32 model input."""
        x = tf.cast(images, tf.float32) / 255.0
        if self.pad_to:
            h, w = self.raw_shape[:2]
            top, left = (self.pad_to - h) // 2, (self.pad_to - w) // 2
            paddings = [[0, 0]] * (x.shape.rank - 3) + [
                [top, self.pad_to - h - top],
                [left, self.pad_to - w - left],
                [0, 0],
            ]
            x = tf.pad(x, paddings)
        mean = tf.constant(self.mean, tf.float32)
        std = tf.constant(self.std, tf.float32)
        return (x - mean) / std

    def to_config(self):
        """Plain JSON values."""
        return {
            "mean": list(self.mean),
            "std": list(self.std),
            "raw_shape": list(self.raw_shape),
            "pad_to": self.pad_to,
        }

    @classmethod
    def from_config(cls, config):
        return cls(
            mean=tuple(config["mean"]),
            std=tuple(config["std"]),
            raw_shape=tuple(config["raw_shape"]),
            pad_to=config.get("pad_to"),
        )


def _random_flips(images, seed):
    """Each image of a batch mirrored left-right with probability 1/2."""
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, [2]), images)


def augment_small(images, seed, pad=4):
    """CIFAR-style augmentation of a whole batch: random crops and flips.

    Each image is randomly cropped after `pad`-pixel zero padding and
    randomly flipped horizontally, with vectorized ops (two gathers and a
    select) rather than one image at a time.

    The padding is applied after normalisation, so it fills with each
    channel's mean (0), as TensorFlow's official CIFAR models do.

    Args:
        images: float `[batch, H, W, C]`.
        seed: int32 `[2]` stateless seed: the batch's crops and flips are
            a function of it.
        pad: int, padding on each side before cropping back.

    Returns:
        The augmented batch, of the same shape.

    Example:
    >>> images = tf.random.uniform([8, 32, 32, 3])
    >>> batch = augment_small(images, tf.constant([1, 2]))
    >>> tuple(batch.shape)
    (8, 32, 32, 3)
    >>> again = augment_small(images, tf.constant([1, 2]))
    >>> bool(tf.reduce_all(batch == again))  # the seed decides
    True
    """
    h, w = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2)
    )
    offsets = tf.random.stateless_uniform(
        [2, batch], crop_seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    rows = offsets[0][:, None] + tf.range(h)[None]  # [batch, H]
    columns = offsets[1][:, None] + tf.range(w)[None]  # [batch, W]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, columns, axis=2, batch_dims=1)
    return _random_flips(cropped, flip_seed)


def augment_large(images, seed):
    """ImageNet-style augmentation of a whole batch, for inputs above 64x64.

    Each image is a random crop of seven eighths of its side, resized back
    (bilinear, `tf.image.crop_and_resize`), and a random horizontal flip.

    Args:
        images: float `[batch, H, W, C]`.
        seed: int32 `[2]` stateless seed.

    Returns:
        The augmented batch, of the same shape.
    """
    h, w = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2)
    )
    crop_h, crop_w = int(h * 0.875), int(w * 0.875)
    offsets = tf.random.stateless_uniform([2, batch], crop_seed)
    top = tf.floor(offsets[0] * (h - crop_h + 1))
    left = tf.floor(offsets[1] * (w - crop_w + 1))
    # normalised corner coordinates of crop_and_resize: pixel i is i/(h-1)
    boxes = tf.stack(
        [
            top / (h - 1),
            left / (w - 1),
            (top + crop_h - 1) / (h - 1),
            (left + crop_w - 1) / (w - 1),
        ],
        axis=1,
    )
    resized = tf.image.crop_and_resize(images, boxes, tf.range(batch), [h, w])
    return _random_flips(resized, flip_seed)
