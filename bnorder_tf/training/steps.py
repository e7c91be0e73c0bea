"""The step engine: compiled train and evaluation steps under any strategy.

`Trainer` runs one replica step per device through `strategy.run`, one
or several global batches per compiled call; `StepMetrics` accumulates
the epoch's loss and accuracy in Keras metrics inside those steps, read
back only when shown or logged. Training epochs and evaluation share
both. `make_optimizer` is the paper's SGD with its step schedule.
The runner (`bnorder_tf.training.runner`) drives them with callbacks and
the run directory.

Example:
>>> import numpy as np
>>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
>>> with strategy.scope():
...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
...     optimizer = keras.optimizers.SGD(0.1)
...     optimizer.build(model.trainable_variables)
>>> images = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
>>> batches = tf.data.Dataset.from_tensor_slices((images, np.arange(8) % 3))
>>> batches = batches.batch(4)
>>> iterator = iter(distribute_dataset(strategy, batches.repeat()))
>>> trainer = Trainer(model, optimizer, strategy, global_batch_size=4)
>>> logs = trainer.train_step(iterator)       # one global batch
>>> trainer.evaluate(trainer.distribute_eval(batches))
{'loss': ..., 'accuracy': ...}
"""

import keras
import tensorflow as tf

from bnorder_tf.data.replicas import (
    distribute_dataset,
    iterate_once,
    pad_for_replicas,
)
from bnorder_tf.losses import (
    correct_predictions,
    example_cross_entropy,
    regularization_loss,
)


class StepMetrics:
    """The exact loss and accuracy of the examples of many steps, on device.

    Three float64 `keras.metrics.Mean`s, updated inside the compiled
    replica step as Keras's `fit` updates its metrics: the cross-entropy
    and the accuracy per example (a padding row has weight 0), and the
    regularization weighted by the step's examples. Their variables are
    per replica and summed when read, so the result is the mean over
    every example, whatever the batch sizes and the replica count, and
    nothing is read back to the host until `result()` is.

    Create it under the strategy's scope.

    Example:
    >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> with strategy.scope():
    ...     metrics = StepMetrics()
    >>> labels = tf.constant([0, 1])
    >>> logits = tf.constant([[2.0, 0.0], [3.0, 0.0]])  # right, then wrong
    >>> per_example = example_cross_entropy(labels, logits)
    >>> weights = tf.constant([1.0, 1.0])
    >>> metrics.update_state(labels, logits, per_example, weights, 0.1)
    >>> result = metrics.result()    # float64 tensors
    >>> {k: round(float(v), 4) for k, v in result.items()}
    {'loss': 1.6878, 'accuracy': 0.5}
    """

    def __init__(self):
        self.cross_entropy = keras.metrics.Mean("cross_entropy", "float64")
        self.accuracy = keras.metrics.Mean("accuracy", "float64")
        self.regularization = keras.metrics.Mean("regularization", "float64")

    def update_state(
        self, labels, logits, per_example, weights, regularization
    ):
        """Adds one replica's examples.

        Args:
            labels: int `[batch]`.
            logits: float `[batch, classes]`.
            per_example: float `[batch]`, the cross-entropy of each example.
            weights: float `[batch]`, 1 for an example, 0 for padding; or
                `None` (all 1).
            regularization: scalar, the model's whole regularization loss.
        """
        correct = correct_predictions(labels, logits)
        if weights is None:
            weights = tf.ones_like(per_example)
        weights = tf.cast(weights, tf.float64)
        self.cross_entropy.update_state(
            tf.cast(per_example, tf.float64), sample_weight=weights
        )
        self.accuracy.update_state(
            tf.cast(correct, tf.float64), sample_weight=weights
        )
        self.regularization.update_state(
            tf.cast(regularization, tf.float64),
            sample_weight=tf.reduce_sum(weights),
        )

    def reset_state(self):
        for metric in self.metrics:
            metric.reset_state()

    @property
    def metrics(self):
        return [self.cross_entropy, self.accuracy, self.regularization]

    def result(self):
        """The epoch's `{"loss": ..., "accuracy": ...}` as float64 tensors.

        The loss is the mean cross-entropy plus the mean regularization, as
        Keras's `fit` reports it (its loss is the per-step total averaged
        over the examples).
        """
        return {
            "loss": self.cross_entropy.result() + self.regularization.result(),
            "accuracy": self.accuracy.result(),
        }


def make_optimizer(config, steps_per_epoch):
    """SGD with momentum and a step schedule over epochs.

    The learning rate is `learning_rate * lr_decay ** k` after the k-th
    milestone epoch.

    Args:
        config: the run's `TrainConfig` (`learning_rate`, `lr_milestones`,
            `lr_decay`, `momentum`, `mixed_precision`).
        steps_per_epoch: int, the optimizer steps of one epoch.

    Returns:
        A `keras.optimizers.SGD`, wrapped in a `LossScaleOptimizer` under
        `mixed_precision="float16"`.

    Example:
    With 100 steps an epoch, the rate drops tenfold after epochs 2 and 3
    (read here in the middle of the first four epochs):

    >>> from bnorder_tf.training import TrainConfig
    >>> config = TrainConfig(dataset="synthetic", learning_rate=0.1,
    ...                      lr_milestones=(2, 3), lr_decay=0.1)
    >>> optimizer = make_optimizer(config, steps_per_epoch=100)
    >>> type(optimizer).__name__, optimizer.momentum
    ('SGD', 0.9)
    >>> rates = []
    >>> for step in (50, 150, 250, 350):
    ...     _ = optimizer.iterations.assign(step)
    ...     rates.append(round(float(optimizer.learning_rate), 4))
    >>> rates
    [0.1, 0.1, 0.01, 0.001]
    """
    boundaries = [m * steps_per_epoch for m in config.lr_milestones]
    if boundaries:
        values = [
            config.learning_rate * config.lr_decay**k
            for k in range(len(boundaries) + 1)
        ]
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            boundaries, values
        )
    else:
        rate = config.learning_rate
    optimizer = keras.optimizers.SGD(rate, momentum=config.momentum)
    if config.mixed_precision == "float16":
        # bfloat16 has float32's exponent range: no loss scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class Trainer:
    """Compiled train and evaluation steps for a model under a strategy.

    The per-replica loss is the cross-entropy summed over the replica's
    examples divided by the global batch (`tf.nn.compute_average_loss`)
    plus the regularization losses divided by the number of replicas, so
    the gradients summed over replicas equal one device's. Loss and
    accuracy accumulate in `train_metrics` and `eval_metrics`
    (`StepMetrics`) inside the compiled steps.

    Args:
        model: a built Keras model returning logits.
        optimizer: a Keras optimizer, built on the model's variables.
        strategy: the `tf.distribute.Strategy` the model was built under.
        global_batch_size: int.
        jit_compile: bool, compile each replica's step with XLA.

    Example:
    >>> import numpy as np
    >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> with strategy.scope():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    ...     optimizer = keras.optimizers.SGD(0.1)
    ...     optimizer.build(model.trainable_variables)
    >>> images = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    >>> batches = tf.data.Dataset.from_tensor_slices((images, np.arange(8) % 3))
    >>> iterator = iter(distribute_dataset(strategy, batches.batch(4).repeat()))
    >>> trainer = Trainer(model, optimizer, strategy, global_batch_size=4)
    >>> trainer.train_metrics.reset_state()
    >>> logs = trainer.train_steps(iterator, tf.constant(10))  # 10 steps
    >>> {k: float(v) for k, v in logs.items()}    # read only when shown
    {'loss': ..., 'accuracy': ...}
    """

    def __init__(
        self, model, optimizer, strategy, global_batch_size, jit_compile=False
    ):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.global_batch_size = global_batch_size
        with strategy.scope():
            self.train_metrics = StepMetrics()
            self.eval_metrics = StepMetrics()
        self._replica_step = self._replica_train_step
        if jit_compile:
            self._replica_step = tf.function(
                self._replica_train_step, jit_compile=True, autograph=False
            )
        # No AutoGraph (as Keras's own steps): the steps have no Python
        # control flow on tensors, and converting them would slow every
        # program's start-up.
        self.train_step = tf.function(self._train_step, autograph=False)
        self.train_steps = tf.function(self._train_steps, autograph=False)
        self._compiled_eval_steps = {}

    def _replica_train_step(self, images, labels):
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(images, training=True), tf.float32)
            per_example = example_cross_entropy(labels, logits)
            regularization = regularization_loss(self.model)
            loss = (
                tf.nn.compute_average_loss(
                    per_example, global_batch_size=self.global_batch_size
                )
                + regularization / replicas
            )
            scaled = self.optimizer.scale_loss(loss)
        variables = self.model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return logits, per_example, regularization

    def _replica_train_and_count(self, images, labels):
        # the metrics are updated outside the (optionally XLA) step
        logits, per_example, regularization = self._replica_step(images, labels)
        self.train_metrics.update_state(
            labels, logits, per_example, None, regularization
        )

    def _one_train_step(self, iterator):
        images, labels = next(iterator)
        self.strategy.run(self._replica_train_and_count, args=(images, labels))

    def _train_step(self, iterator):
        """One global batch; returns `train_metrics`' result (tensors)."""
        self._one_train_step(iterator)
        return self.train_metrics.result()

    def _train_steps(self, iterator, steps):
        """`steps` global batches in one call; returns `train_metrics`' result.

        Keras's `steps_per_execution` does the same.
        """

        def one_more(step):
            self._one_train_step(iterator)
            return (step + 1,)

        tf.while_loop(lambda step: step < steps, one_more, [tf.constant(0)])
        return self.train_metrics.result()

    def _replica_eval_step(self, images, labels, weights):
        logits = tf.cast(self.model(images, training=False), tf.float32)
        self.eval_metrics.update_state(
            labels,
            logits,
            example_cross_entropy(labels, logits),
            weights,
            regularization_loss(self.model),
        )

    def _eval_step(self, batch):
        images, labels, weights = batch
        self.strategy.run(
            self._replica_eval_step, args=(images, labels, weights)
        )

    def distribute_eval(self, dataset):
        """Pads and distributes `(images, labels)` batches for `evaluate`."""
        padded = pad_for_replicas(dataset, self.strategy.num_replicas_in_sync)
        return distribute_dataset(self.strategy, padded)

    def evaluate(self, distributed):
        """Returns `{"loss", "accuracy"}` over every example exactly once.

        Both are Python floats. `loss` is the mean cross-entropy plus the
        regularization losses, as Keras reports it.

        Args:
            distributed: batches from `distribute_eval`.
        """
        self.eval_metrics.reset_state()
        eval_step = self._compiled_eval_step(distributed)
        for batch in iterate_once(distributed):
            eval_step(batch)
        return {k: float(v) for k, v in self.eval_metrics.result().items()}

    def _compiled_eval_step(self, distributed):
        """One compiled step per evaluation set, traced once for its spec.

        Its element spec has a batch dimension of any size (the last batch
        is smaller), as tf.distribute's custom-loop guide does.
        """
        if id(distributed) not in self._compiled_eval_steps:
            self._compiled_eval_steps[id(distributed)] = (
                distributed,  # kept alive, so that its id stays its own
                tf.function(
                    self._eval_step,
                    input_signature=[distributed.element_spec],
                    autograph=False,
                ),
            )
        return self._compiled_eval_steps[id(distributed)][1]


__all__ = ["StepMetrics", "Trainer", "make_optimizer"]
