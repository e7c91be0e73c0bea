"""What a run prepares before its first step: its data, its trainer.

`user_data` names the user's own datasets in the config, `load_data`
reads the training and the evaluation split from one source,
`steps_per_epoch` sizes an epoch, and `build_trainer` makes the model
and its built optimizer under the strategy's scope, and the `Trainer`
that steps them. The runner (`bnorder_tf.training.runner`) calls them
in this order.
"""

import dataclasses

import keras

from bnorder_tf import data as data_lib
from bnorder_tf.choices import DATASETS
from bnorder_tf.data.sources import USER_PREFIX
from bnorder_tf.data.user import as_user_data, user_source
from bnorder_tf.errors import ConfigError
from bnorder_tf.models import build_model
from bnorder_tf.training.run_dir import evaluation_split, read_data_record
from bnorder_tf.training.steps import Trainer, make_optimizer

#: Keras's dtype policy for each `--mixed_precision`.
_POLICIES = {
    "none": "float32",
    "float16": "mixed_float16",
    "bfloat16": "mixed_bfloat16",
}


def user_data(config, data):
    """The run's config and `UserData`, when it trains on the user's data.

    Args:
        config: the run's `TrainConfig`.
        data: `(train, test)` `tf.data.Dataset`s, a `UserData`, or `None`.

    Returns:
        `(config, user)`: the config whose dataset is `user:<name>`
        (`UserData.name`) and the `UserData`; `(config, None)` without
        `data`.
    """
    if data is None:
        return config, None
    user = as_user_data(data)
    if not config.dataset.startswith(USER_PREFIX):
        config = dataclasses.replace(
            config, dataset=f"{USER_PREFIX}{user.name}"
        )
    return config, user


def load_data(config, user=None):
    """The training split and the evaluation split (`evaluation_split`).

    Both come from one source, so that the normalisation of a `tfds:`,
    `folder:` or user dataset is measured once; a resumed run reuses the
    one its `data.json` recorded.

    Args:
        config: the run's `TrainConfig`.
        user: optional `UserData`, the user's datasets in place of
            `config.dataset`.

    Returns:
        `(train, test)`, two `LoadedData`.
    """
    preprocessing = None
    record = read_data_record(config.run_dir)
    if (
        record is not None
        and record.get("dataset") == config.dataset
        and config.dataset not in DATASETS
    ):
        preprocessing = data_lib.Preprocessing.from_config(
            record["preprocessing"]
        )
    if user is not None:
        source = user_source(user, preprocessing)
    else:
        source = data_lib.get_source(
            config.dataset,
            config.data_dir,
            image_size=config.image_size,
            preprocessing=preprocessing,
        )
    load = dict(
        batch_size=config.batch_size,
        seed=config.seed,
        validation_examples=config.validation_examples,
    )
    return (
        data_lib.load(source, "train", **load),
        data_lib.load(source, evaluation_split(config), **load),
    )


def steps_per_epoch(config, train_data):
    """Training steps per epoch: the full batches, at most `--steps_per_epoch`.

    Raises:
        ConfigError: fewer training examples than one batch.
    """
    steps = train_data.num_examples // config.batch_size
    if config.steps_per_epoch:
        steps = min(steps, config.steps_per_epoch)
    if steps < 1:
        raise ConfigError(
            f"{config.dataset} has {train_data.num_examples} training "
            f"examples, fewer than one batch of {config.batch_size}: lower "
            "--batch_size."
        )
    return steps


def build_trainer(config, strategy, train_data, steps_per_epoch):
    """The run's `Trainer`: its model and built optimizer, and their steps.

    Seeds Keras with `config.seed` and sets the dtype policy of
    `--mixed_precision`, then builds the model and the optimizer under
    the strategy's scope (the optimizer is also `model.optimizer`).
    """
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(_POLICIES[config.mixed_precision])
    with strategy.scope():
        model = build_model(
            config.model,
            order=config.order,
            activation=config.activation,
            num_classes=train_data.num_classes,
            input_shape=train_data.input_shape,
            width=config.width,
            weight_decay=config.weight_decay,
            bn_gamma_decay=config.bn_gamma_decay,
            bn_beta_decay=config.bn_beta_decay,
            fc_bn=config.fc_bn_value,
            kernel_initializer=config.kernel_initializer,
            bn_synchronized=(
                config.sync_bn and strategy.num_replicas_in_sync > 1
            ),
        )
        optimizer = make_optimizer(config, steps_per_epoch)
        optimizer.build(model.trainable_variables)
        model.optimizer = optimizer
    return Trainer(
        model,
        optimizer,
        strategy,
        config.batch_size,
        jit_compile=config.jit_compile,
    )


def averaged_blocks(config, train_data):
    """`config.averaged_blocks`, with `auto` decided by the input size.

    For a dataset that is not built in, as the paper's choice for the
    built-in ones: conv blocks only above 32x32 inputs (where VGG's FC
    blocks have no BN), all blocks otherwise.
    """
    if config.model_stats_blocks != "auto" or config.dataset in DATASETS:
        return config.averaged_blocks
    return "conv" if max(train_data.input_shape[:2]) > 32 else "all"
