"""Fused batch normalization whose moving statistics agree across replicas."""

import keras

#: The smallest epsilon TensorFlow's fused batch-norm kernel takes (it
#: raises a smaller one to this).
FUSED_MIN_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(
    package="bnorder_tf", name="ReplicaMeanBatchNormalization"
)
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Fused `BatchNormalization` whose moving statistics agree across replicas.

    Keras creates BN's moving mean and variance with no aggregation, so
    under `tf.distribute` each replica updates its own copy from its own
    share of the batch and the copies drift apart: a model then predicts
    differently on each replica. Here each update is averaged over the
    replicas (`aggregation="mean"`), so every copy holds the same value.
    Batch statistics in training stay per replica, as in Keras and
    PyTorch's non-synchronized BN, unless `synchronized=True` (the blocks'
    `bn_synchronized`). On one device nothing changes.

    On the TensorFlow backend, BN over the last axis of a 2D or 4D input
    runs as one `FusedBatchNormV3` op forward and one backward
    (oneDNN's kernel on CPUs, cuDNN's on GPUs), as PyTorch's `BatchNorm2d`
    does, where Keras 3 computes the moments and the normalisation as
    separate ops, each a pass over the activations, which made BN a large
    share of a training step on a CPU (`benchmarks/bench_train.py`
    measures the blocks against plain Keras layers). The moving variance
    is then updated with the unbiased batch variance (Bessel's
    correction), as PyTorch and Keras 2's fused BN do, and epsilon is at
    least `FUSED_MIN_EPSILON`. Inference uses the fused kernel too, except
    after a bias-free `Conv2D` (see `call`), where it is the affine map of
    the moving statistics, in float32. Synchronized BN, masks,
    renormalisation and other axes take Keras's own path.

    It is registered under its former name,
    `bnorder_tf>ReplicaMeanBatchNormalization`, so that `.keras` files
    saved before the rename load, and that name still imports.

    Example:
    A drop-in `keras.layers.BatchNormalization`. One training step on a
    batch of two examples normalises each feature with the batch's mean
    and (biased) variance, and moves the moving variance towards the
    unbiased one (here 2 and 200):

    >>> bn = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    >>> x = keras.ops.convert_to_tensor([[0.0, 10.0], [2.0, 30.0]])
    >>> y = bn(x, training=True)
    >>> [[round(float(v), 4) for v in row] for row in y]
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> [round(float(v), 4) for v in bn.moving_mean.numpy()]
    [0.1, 2.0]
    >>> [round(float(v), 4) for v in bn.moving_variance.numpy()]
    [1.1, 20.9]
    >>> keras.saving.get_registered_name(FusedBatchNormalization)
    'bnorder_tf>ReplicaMeanBatchNormalization'
    """

    def add_weight(self, *args, **kwargs):
        if str(kwargs.get("name", "")).startswith("moving_"):
            kwargs.setdefault("aggregation", "mean")
        return super().add_weight(*args, **kwargs)

    def _fusable(self, inputs, mask):
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.synchronized
            and not self.renorm
            and self.center
            and self.scale
            and rank in (2, 4)
            and self.axis in (rank - 1, -1)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        scale = tf.cast(self.gamma, tf.float32)
        offset = tf.cast(self.beta, tf.float32)
        epsilon = max(self.epsilon, FUSED_MIN_EPSILON)
        x = inputs if len(inputs.shape) == 4 else inputs[:, None, None, :]
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, scale, offset, epsilon=epsilon, is_training=True
            )
            momentum = self.momentum
            self.moving_mean.assign(
                self.moving_mean * momentum + mean * (1.0 - momentum)
            )
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )
        elif _is_conv2d_output(inputs):
            # Not the fused kernel: TensorFlow's graph optimizer would fuse
            # the Conv2D, this FusedBatchNormV3 and a following tanh into
            # one _FusedConv2D, which oneDNN does not implement ("Fusion is
            # not implemented: [FusedBatchNorm,Tanh]").
            factor = scale * tf.math.rsqrt(
                tf.cast(self.moving_variance, tf.float32) + epsilon
            )
            shift = offset - tf.cast(self.moving_mean, tf.float32) * factor
            y = tf.cast(x, tf.float32) * factor + shift
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                scale,
                offset,
                mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32),
                epsilon=epsilon,
                is_training=False,
            )
        y = y if len(inputs.shape) == 4 else y[:, 0, 0, :]
        return tf.cast(y, self.compute_dtype)


#: The former name of `FusedBatchNormalization`.
ReplicaMeanBatchNormalization = FusedBatchNormalization


def _is_conv2d_output(tensor):
    """Whether `tensor` is a `Conv2D` op's output in a graph being traced.

    Eager tensors are never: the graph optimizer does not run eagerly.
    """
    import tensorflow as tf

    return not tf.executing_eagerly() and tensor.op.type == "Conv2D"
