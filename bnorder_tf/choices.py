"""The names every setting accepts, importable without TensorFlow.

The settings (`bnorder_tf.training.config`) and the flags made from them
(`bnorder_tf.programs.config_flags`) list and check these names before any
heavy module is imported, so that `--help` and a bad flag answer at once.
Each registry keyed by them (the activations, block orders, datasets,
strategies, initializers and models) is checked against its tuple here
when its module is imported (`check_registry`): a name added in one place
only fails at once.
"""

#: `bnorder_tf.layers.activations`.
ACTIVATIONS = ("relu", "tanh", "lecun_tanh", "softsign", "shifted_tanh")
#: Those of `ACTIVATIONS` without a bound (their `bound` is `None`): the
#: report leaves them out of what it says of bounded activations.
UNBOUNDED_ACTIVATIONS = ("relu",)
#: `bnorder_tf.layers.blocks.ORDERS`: Convention (W-BN-f), Swap (W-f-BN), NoBN.
ORDERS = ("convention", "swap", "nobn")
#: `bnorder_tf.data.sources.SOURCES`.
DATASETS = (
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "tiny_imagenet",
    "imagenet2012",
    "imagenet_resized/32x32",
    "imagenet_resized/64x64",
    "synthetic",
)
#: `bnorder_tf.training.distribute.get_strategy`.
STRATEGIES = ("one_device", "mirrored", "multi_worker", "tpu")
#: `bnorder_tf.layers.initializers`.
INITIALIZERS = ("torch", "glorot_uniform", "he_normal")
#: VGG16_n: the first n weight layers of VGG16 (the paper's appendix A.6).
VGG16_DEPTHS = tuple(range(8, 17))
#: The VGG models of `bnorder_tf.models.BUILDERS` (`models.vgg.build_vgg`):
#: the models with hidden FC blocks (`--fc_bn`, `--fc_units`).
VGG_MODELS = (
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    *(f"vgg16_{n}" for n in VGG16_DEPTHS),
)
#: `bnorder_tf.models.BUILDERS`.
MODELS = (*VGG_MODELS, "mobilenet")

#: Searchable `TrainConfig` fields, and the search-flag suffix of each
#: (`bnorder_tf.programs.tune`).
SEARCHABLE = (
    "learning_rate",
    "weight_decay",
    "bn_gamma_decay",
    "bn_beta_decay",
    "bn_affine_decay",
    "activation",
    "order",
    "depth",
)
#: keras-tuner's search algorithms (`bnorder_tf.tuning.search.make_oracle`).
TUNERS = ("grid", "random", "bayesian", "hyperband")

#: Bins of the per-channel activation histograms.
DEFAULT_HISTOGRAM_BINS = 50
#: By default the histograms are computed in every 10th measured epoch and
#: the last one only: counting every value into its bin is the costliest
#: part of the statistics pass, and the report draws the last epoch's.
DEFAULT_HISTOGRAM_EVERY = 10

#: The precisions the statistics can be computed in
#: (`bnorder_tf.stats.ActivationStatsPass`): `float32`, the forward pass in
#: float32 from the model's float32 weights whatever its dtype policy (the
#: statistics of the model); `compute`, the activations as the model
#: computes them under its policy (16-bit values under mixed precision).
STATS_PRECISIONS = ("float32", "compute")
#: Mixed precision rounds each activation to 8 (bfloat16) or 11 (float16)
#: significant bits, and which ops round where depends on how the graph
#: was compiled: statistics of channels whose spread is a few 16-bit steps
#: would then measure the rounding, not the model.
DEFAULT_STATS_PRECISION = "float32"


def check_registry(registry, names, what):
    """Raises `AssertionError` unless `registry`'s keys are `names`, in order.

    A mismatch is a bug: the registry and this module disagree.
    """
    keys = tuple(registry)
    if keys != tuple(names):
        raise AssertionError(
            f"The {what} registry has {keys}, bnorder_tf.choices lists "
            f"{tuple(names)}: add the name to both."
        )
