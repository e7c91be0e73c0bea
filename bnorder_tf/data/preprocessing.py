"""Turning raw images into model inputs: one definition for training and
serving.

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
    """

    mean: tuple
    std: tuple
    raw_shape: tuple
    pad_to: int = None

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


def augment_small(image, seed, pad=4):
    """CIFAR-style augmentation: random crop after `pad`-pixel zero padding
    and a random horizontal flip, on one preprocessed `[H, W, C]` image.

    The padding is applied after normalisation, so it fills with each
    channel's mean (0), as TensorFlow's official CIFAR models do.

    Args:
        image: float `[H, W, C]`.
        seed: int32 `[2]` stateless seed.
        pad: int, padding on each side before cropping back.
    """
    h, w, c = image.shape
    seeds = tf.random.experimental.stateless_split(seed, 2)
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    cropped = tf.image.stateless_random_crop(padded, [h, w, c], seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(cropped, seed=seeds[1])


def augment_large(image, seed):
    """ImageNet-style augmentation for inputs above 64x64: random crop of
    87.5% of the side, resized back, and a random horizontal flip."""
    h, w, c = image.shape
    seeds = tf.random.experimental.stateless_split(seed, 2)
    crop = [int(h * 0.875), int(w * 0.875), c]
    cropped = tf.image.stateless_random_crop(image, crop, seed=seeds[0])
    resized = tf.image.resize(cropped, [h, w])
    return tf.image.stateless_random_flip_left_right(resized, seed=seeds[1])
