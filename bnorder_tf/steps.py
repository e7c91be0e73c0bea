"""The step engine: compiled train and evaluation steps under any strategy.

`Trainer` runs one replica step per device through `strategy.run` and
returns the global sums of a batch (cross-entropy, correct predictions,
examples); `StepMetrics` turns the sums of many steps into the epoch's
loss and accuracy with Keras metrics. Training epochs and evaluation
share both. `make_optimizer` is the paper's SGD with its step schedule.
The runner (`bnorder_tf.training`) drives them with callbacks and the run
directory.

Example:

>>> trainer = Trainer(model, optimizer, strategy, global_batch_size=128)
>>> sums = trainer.train_step(iterator)       # one global batch
>>> trainer.evaluate(trainer.distribute_eval(test_batches))
{'loss': ..., 'accuracy': ...}
"""

import keras
import numpy as np
import tensorflow as tf

from bnorder_tf.distribute import pad_for_replicas


class StepMetrics:
    """The loss and accuracy of the examples of many steps, exactly.

    Each step's global sums update two float64 `keras.metrics.Mean`s,
    weighted by the step's number of examples, so the result is the mean
    over every example, whatever the batch sizes.

    Example:

    >>> metrics = StepMetrics()
    >>> metrics.update(trainer.train_step(iterator))
    >>> metrics.result()
    {'loss': ..., 'accuracy': ...}
    """

    def __init__(self):
        self.cross_entropy = keras.metrics.Mean("cross_entropy", "float64")
        self.accuracy = keras.metrics.Mean("accuracy", "float64")
        self.regularization = 0.0
        self.count = 0

    def update(self, sums):
        """Adds one step's global sums (`Trainer.train_step` or
        `evaluate`'s steps)."""
        # NumPy float64: a Python float would pass through float32
        sums = {k: np.float64(v) for k, v in sums.items()}
        count = sums["count"]
        if count:
            self.cross_entropy.update_state(
                sums["loss_sum"] / count, sample_weight=count
            )
            self.accuracy.update_state(
                sums["correct"] / count, sample_weight=count
            )
        self.count += int(count)
        self.regularization = float(sums["regularization"])

    def result(self):
        """`{"loss": mean cross-entropy + the last step's regularization,
        "accuracy": ...}`, as Keras reports them."""
        return {
            "loss": float(self.cross_entropy.result()) + self.regularization,
            "accuracy": float(self.accuracy.result()),
        }


def make_optimizer(config, steps_per_epoch):
    """SGD with momentum and a step schedule over epochs.

    The learning rate is `learning_rate * lr_decay ** k` after the k-th
    milestone epoch.
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
    if config.mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class Trainer:
    """Compiled train and evaluation steps for a model under a strategy.

    The per-replica loss is the cross-entropy summed over the replica's
    examples divided by the global batch (`tf.nn.compute_average_loss`)
    plus the regularization losses divided by the number of replicas, so
    the gradients summed over replicas equal one device's.

    Args:
        model: a built Keras model returning logits.
        optimizer: a Keras optimizer, built on the model's variables.
        strategy: the `tf.distribute.Strategy` the model was built under.
        global_batch_size: int.
        jit_compile: bool, compile each replica's step with XLA.
    """

    def __init__(
        self, model, optimizer, strategy, global_batch_size, jit_compile=False
    ):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.global_batch_size = global_batch_size
        self._replica_step = self._replica_train_step
        if jit_compile:
            self._replica_step = tf.function(
                self._replica_train_step, jit_compile=True
            )
        self.train_step = tf.function(self._train_step)
        self._compiled_eval_steps = {}

    def _regularization(self):
        if not self.model.losses:
            return tf.constant(0.0)
        return tf.add_n([tf.cast(x, tf.float32) for x in self.model.losses])

    def _replica_train_step(self, images, labels):
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(images, training=True), tf.float32)
            per_example = keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True
            )
            regularization = self._regularization() / replicas
            loss = (
                tf.nn.compute_average_loss(
                    per_example, global_batch_size=self.global_batch_size
                )
                + regularization
            )
            scaled = self.optimizer.scale_loss(loss)
        variables = self.model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return self._sums(labels, logits, per_example, None, regularization)

    @staticmethod
    def _sums(labels, logits, per_example, weights, regularization):
        correct = tf.cast(
            tf.equal(tf.argmax(logits, -1), tf.cast(labels, tf.int64)),
            tf.float32,
        )
        if weights is None:
            weights = tf.ones_like(correct)
        return {
            "loss_sum": tf.reduce_sum(per_example * weights),
            "correct": tf.reduce_sum(correct * weights),
            "count": tf.reduce_sum(weights),
            "regularization": regularization,
        }

    def _reduce(self, per_replica):
        return {
            k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()
        }

    def _train_step(self, iterator):
        images, labels = next(iterator)
        return self._reduce(
            self.strategy.run(self._replica_step, args=(images, labels))
        )

    def _replica_eval_step(self, images, labels, weights):
        logits = tf.cast(self.model(images, training=False), tf.float32)
        per_example = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
        regularization = (
            self._regularization() / self.strategy.num_replicas_in_sync
        )
        return self._sums(labels, logits, per_example, weights, regularization)

    def _eval_step(self, batch):
        images, labels, weights = batch
        return self._reduce(
            self.strategy.run(
                self._replica_eval_step, args=(images, labels, weights)
            )
        )

    def distribute_eval(self, dataset):
        """Pads and distributes `(images, labels)` batches for `evaluate`."""
        padded = pad_for_replicas(dataset, self.strategy.num_replicas_in_sync)
        return self.strategy.experimental_distribute_dataset(padded)

    def evaluate(self, distributed):
        """Returns `{"loss", "accuracy"}` over every example exactly once.

        `loss` is the mean cross-entropy plus the regularization losses,
        as Keras reports it.

        Args:
            distributed: batches from `distribute_eval`.
        """
        metrics = StepMetrics()
        eval_step = self._compiled_eval_step(distributed)
        for batch in distributed:
            metrics.update(eval_step(batch))
        return metrics.result()

    def _compiled_eval_step(self, distributed):
        """One compiled step per evaluation set, traced once for its
        element spec (a batch dimension of any size: the last batch is
        smaller), as tf.distribute's custom-loop guide does."""
        if id(distributed) not in self._compiled_eval_steps:
            self._compiled_eval_steps[id(distributed)] = (
                distributed,  # kept alive, so that its id stays its own
                tf.function(
                    self._eval_step, input_signature=[distributed.element_spec]
                ),
            )
        return self._compiled_eval_steps[id(distributed)][1]


__all__ = ["StepMetrics", "Trainer", "make_optimizer"]
