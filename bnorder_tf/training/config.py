"""`TrainConfig`: every setting of a run, each defined once with metadata.

What is derived from the settings lives here too.

Each field of `TrainConfig` carries a `Setting` in its metadata: its help,
its value type, its choices or bounds, its role and whether it may change
when a run is resumed. From that one definition come

- validation: a `TrainConfig` checks every value when it is made, so a bad
  value is refused before anything is written (`ConfigError`);
- `flags.txt` in the run directory (`to_flags`) and reading it back
  (`from_flags_text`), used by resume, the tuner and the report;
- the resume check (`resume_differences`), the tuner's and the report's
  notion of a setting (`settings`);
- the absl flags of `bnorder-train` and `bnorder-tune`, which the programs
  define from it (`bnorder_tf.programs.config_flags`).

Roles:

- `EXPERIMENT`: defines what the run measures (dataset, model, learning
  rate, ...). Runs that agree on these are seeds of one setting.
- `REPLICATE`: the seed: another sample of the same setting.
- `OPERATIONAL`: how and where the run is done (paths, devices, how often
  statistics are logged); it does not change the trained model.
"""

import contextlib
import dataclasses
import math
import os
import re

from bnorder_tf.choices import (
    ACTIVATIONS,
    DATASETS,
    DEFAULT_HISTOGRAM_BINS,
    DEFAULT_HISTOGRAM_EVERY,
    DEFAULT_STATS_PRECISION,
    INITIALIZERS,
    MODELS,
    ORDERS,
    STATS_PRECISIONS,
    STRATEGIES,
    VGG_MODELS,
)
from bnorder_tf.errors import ConfigError, UserError, lookup

EXPERIMENT, REPLICATE, OPERATIONAL = "experiment", "replicate", "operational"
#: Largest seed: NumPy and TensorFlow take seeds below 2**31 everywhere.
MAX_SEED = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Setting:
    """What a `TrainConfig` field is.

    Attributes:
        help: the flag's help text.
        value_type: `str`, `int`, `float`, `bool`, or `(int,)` / `(str,)`
            for a comma-separated list (a tuple in the config).
        role: `EXPERIMENT`, `REPLICATE` or `OPERATIONAL`.
        choices: the values a `str` setting accepts, or `None`.
        lower, upper: inclusive bounds of a number, or `None`.
        lower_open: whether `lower` itself is refused (`> lower`).
        resumable: whether the value may change when a run is resumed.
        check: optional function `value -> error text or None` for rules
            that bounds cannot say.
        aliases: optional dict from an older spelling of a value to the
            value (the flag accepts both; a config holds the value), so
            that the flags.txt of older runs still read.
    """

    help: str
    value_type: object
    role: str = EXPERIMENT
    choices: tuple | None = None
    lower: float | None = None
    upper: float | None = None
    lower_open: bool = False
    resumable: bool = False
    check: object = None
    aliases: dict | None = None


def _setting(default, help, value_type, **metadata):
    return dataclasses.field(
        default=default,
        metadata={"setting": Setting(help, value_type, **metadata)},
    )


def _milestones_error(values):
    if any(v < 1 for v in values) or list(values) != sorted(set(values)):
        return "must be increasing positive integers, e.g. 100,150"
    return None


def _run_name_error(value):
    if value is None:
        return None
    if not re.fullmatch(r"[\w.+-]+", value) or set(value) == {"."}:
        return (
            "must be one directory name of letters, digits and _.+- "
            "(not '.' or '..'), e.g. vgg_swap_s0"
        )
    return None


def _directory_error(value):
    # an empty path would put the runs or exports in the working directory
    if not value.strip():
        return "is empty: pass a directory"
    return None


#: The spelling of each form of dataset besides the built-in names.
_DATASET_FORMS = {
    "tfds": re.compile(r"[a-z0-9_]+(/[\w.-]+)?(:[\w.*]+)?"),
    "folder": re.compile(r".+"),
    "user": re.compile(r"[\w.+-]+"),
}


def _dataset_error(value):
    form, colon, rest = value.partition(":")
    if not colon and value in DATASETS:
        return None
    if colon and form in _DATASET_FORMS:
        if _DATASET_FORMS[form].fullmatch(rest):
            return None
        return {
            "tfds": "is not a tensorflow-datasets name: pass "
            "tfds:<name> or tfds:<name>/<config>, e.g. tfds:svhn_cropped",
            "folder": "names no folder: pass folder:<path>",
            "user": "is not a name: pass user:<letters, digits, _.+->",
        }[form]
    return (
        f"is not a dataset: pass one of {', '.join(DATASETS)}, "
        "tfds:<name>[/<config>] (any image-classification dataset of "
        "tensorflow-datasets) or folder:<path> (<path>/train/<class>/* "
        "and <path>/test/<class>/*)"
    )


def _devices_error(values):
    if len(set(values)) != len(values):
        return "names a device twice"
    return None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs.

    Defaults are the paper's CIFAR protocol (SGD momentum 0.9, batch 128,
    200 epochs, learning rate x0.1 at epochs 100 and 150).

    Every value is checked when the config is made (also by
    `dataclasses.replace`).

    Raises:
        ConfigError: a value out of range or of the wrong type, naming the
            flag.

    Example:
    >>> config = TrainConfig(dataset="fashion_mnist", order="swap",
    ...                      width=0.25, epochs=3)
    >>> config.settings()["order"]
    'swap'
    """

    dataset: str = _setting(
        "cifar100",
        f"Dataset: {', '.join(DATASETS)}; tfds:<name>[/<config>], any "
        "image-classification dataset of tensorflow-datasets; or "
        "folder:<path>, images in <path>/train/<class>/ and "
        "<path>/test/<class>/.",
        str,
        check=_dataset_error,
    )
    image_size: int | None = _setting(
        None,
        "Resize the images of a tfds: or folder: dataset to NxN pixels "
        "(needed when its images differ in size; the export then takes NxN "
        "images).",
        int,
        lower=1,
        upper=4096,
    )
    data_dir: str | None = _setting(
        None,
        "Directory holding the dataset. When given, the data must be there "
        "(no fallback); when not, fashion_mnist is looked for in Debian's "
        "package, then tensorflow-datasets.",
        str,
        role=OPERATIONAL,
        resumable=True,
    )
    model: str = _setting("vgg16_11", "Architecture name.", str, choices=MODELS)
    order: str = _setting(
        "swap",
        "Block order: convention (W-BN-f), swap (W-f-BN), nobn (W-f).",
        str,
        choices=tuple(ORDERS),
    )
    activation: str = _setting(
        "tanh", "Activation function.", str, choices=tuple(ACTIVATIONS)
    )
    width: float = _setting(
        1.0,
        "Channel width multiplier (MobileNet's alpha).",
        float,
        lower=0.0,
        lower_open=True,
        upper=16.0,
    )
    fc_bn: str = _setting(
        "auto",
        "BN in VGG's hidden FC blocks: auto (only for <=32x32 inputs, as "
        "in the paper), true or false.",
        str,
        choices=("auto", "true", "false"),
    )
    kernel_initializer: str = _setting(
        "torch",
        "Initialisation of kernels and biases: torch (PyTorch's default for "
        "Conv2d/Linear, as the paper's models had: U(+-1/sqrt(fan_in)) for "
        "both), glorot_uniform (Keras's default, zero bias) or he_normal.",
        str,
        choices=INITIALIZERS,
    )
    epochs: int = _setting(
        200,
        "Training epochs (may be raised when resuming).",
        int,
        lower=1,
        resumable=True,
    )
    batch_size: int = _setting(
        128, "Global batch size, split over the replicas.", int, lower=1
    )
    learning_rate: float = _setting(
        0.1, "Initial SGD learning rate.", float, lower=0.0, lower_open=True
    )
    lr_milestones: tuple = _setting(
        (100, 150),
        "Epochs at which the learning rate is multiplied by --lr_decay, "
        "increasing.",
        (int,),
        check=_milestones_error,
    )
    lr_decay: float = _setting(
        0.1,
        "Learning-rate factor at each milestone.",
        float,
        lower=0.0,
        lower_open=True,
    )
    momentum: float = _setting(
        0.9, "SGD momentum.", float, lower=0.0, upper=1.0
    )
    weight_decay: float = _setting(
        5e-4,
        "PyTorch-style weight decay (loss 0.5*wd*||w||^2) of kernels and "
        "biases. Do not also set an optimizer weight decay.",
        float,
        lower=0.0,
    )
    bn_gamma_decay: float | None = _setting(
        None,
        "Weight decay of BN gamma; unset = --weight_decay, 0 = none (NWDBN).",
        float,
        lower=0.0,
    )
    bn_beta_decay: float | None = _setting(
        None,
        "Weight decay of BN beta; unset = --weight_decay, 0 = none (NWDBN).",
        float,
        lower=0.0,
    )
    seed: int = _setting(
        0,
        "Random seed (initialisation, shuffling, augmentation).",
        int,
        role=REPLICATE,
        lower=0,
        upper=MAX_SEED,
    )
    strategy: str = _setting(
        "one_device",
        "Distribution strategy.",
        str,
        role=OPERATIONAL,
        choices=STRATEGIES,
        resumable=True,
    )
    devices: tuple = _setting(
        (),
        "Devices for one_device/mirrored, e.g. /gpu:0,/gpu:1 (default: all "
        "GPUs, else every logical CPU).",
        (str,),
        role=OPERATIONAL,
        resumable=True,
        check=_devices_error,
    )
    logical_cpus: int = _setting(
        0,
        "Split the host CPU into N logical devices /cpu:0../cpu:N-1 (0: "
        "don't), e.g. to try --strategy=mirrored without GPUs.",
        int,
        role=OPERATIONAL,
        lower=0,
        upper=64,
        resumable=True,
    )
    sync_bn: bool = _setting(
        True,
        "With several replicas, BN normalises with the statistics of the "
        "global batch, so results do not depend on the replica count "
        "(--nosync_bn: per-replica statistics, PyTorch DDP's default).",
        bool,
        role=OPERATIONAL,
    )
    model_dir: str = _setting(
        "runs",
        "Directory holding the run directories.",
        str,
        role=OPERATIONAL,
        resumable=True,
        check=_directory_error,
    )
    run_name: str | None = _setting(
        None,
        "Run directory name under --model_dir (default: made from model, "
        "order, activation, dataset, lr, wd and seed).",
        str,
        role=OPERATIONAL,
        resumable=True,
        check=_run_name_error,
    )
    export_dir: str = _setting(
        "savedmodels",
        "Where the SavedModel is exported at the end.",
        str,
        role=OPERATIONAL,
        resumable=True,
        check=_directory_error,
    )
    stats_every: int = _setting(
        1,
        "Measure activation statistics every N epochs (0: never).",
        int,
        role=OPERATIONAL,
        lower=0,
    )
    gradient_batches: int = _setting(
        0,
        "Also measure gradient scale per layer over N training batches "
        "(0: never).",
        int,
        role=OPERATIONAL,
        lower=0,
    )
    histogram_bins: int = _setting(
        DEFAULT_HISTOGRAM_BINS,
        "Bins of the per-channel activation histograms in stats.jsonl and "
        "TensorBoard (0: none, and the report draws no histogram figure).",
        int,
        role=OPERATIONAL,
        lower=0,
        resumable=True,
    )
    model_stats_blocks: str = _setting(
        "auto",
        "Blocks the model-level statistics average: all, conv, or auto (the "
        "paper's choice: conv blocks only for tiny_imagenet and imagenet*, "
        "whose VGG FC layers have no BN; all blocks otherwise).",
        str,
        role=OPERATIONAL,
        choices=("auto", "all", "conv"),
    )
    histogram_every: int = _setting(
        DEFAULT_HISTOGRAM_EVERY,
        "Compute the histograms only in every N-th measured epoch and the "
        "last one, where the report reads them (1: in every measured epoch; "
        "counting every value into its bin is the costliest part of the "
        "statistics pass). The other statistics are exact in every measured "
        "epoch.",
        int,
        role=OPERATIONAL,
        lower=1,
        resumable=True,
    )
    mixed_precision: str = _setting(
        "none",
        "Compute in 16 bits, keeping float32 weights: Keras's mixed_float16 "
        "(with loss scaling) or mixed_bfloat16 policy (recent GPUs and "
        "CPUs with AMX or AVX512-BF16); none: float32. The statistics are "
        "measured on a float32 pass unless --stats_precision=compute.",
        str,
        role=OPERATIONAL,
        choices=("none", "float16", "bfloat16"),
        # before bfloat16, a bool: true meant mixed_float16
        aliases={"false": "none", "true": "float16"},
    )
    stats_precision: str = _setting(
        DEFAULT_STATS_PRECISION,
        "Precision of the forward pass the statistics measure under "
        "--mixed_precision: float32, a pass in float32 from the model's "
        "float32 weights (the statistics of the model, equal to the same "
        "weights' in a float32 model); compute, the activations as the "
        "16-bit network computes them, whose statistics also measure its "
        "rounding. Training is the same either way; without mixed "
        "precision both are the same pass.",
        str,
        role=OPERATIONAL,
        choices=STATS_PRECISIONS,
        resumable=True,
    )
    jit_compile: bool = _setting(
        False,
        "Compile the training step with XLA (often faster on GPUs; slower "
        "on CPUs).",
        bool,
        role=OPERATIONAL,
        resumable=True,
    )
    steps_per_execution: int = _setting(
        1,
        "Training steps per compiled call, as Keras's compile argument: "
        "fewer returns to Python (faster on GPUs and TPUs for small "
        "models); the progress bar and callbacks see every N-th step.",
        int,
        role=OPERATIONAL,
        lower=1,
        resumable=True,
    )
    early_stopping: int = _setting(
        0,
        "Stop when the evaluation accuracy has not improved for N epochs "
        "(0: never), as the paper's ImageNet runs.",
        int,
        lower=0,
    )
    validation_examples: int = _setting(
        0,
        "Hold out the last N examples of the training split: train on the "
        "rest and evaluate (val_* columns, statistics, the summary's "
        "accuracy) on them, leaving the test split unseen, as for "
        "choosing hyperparameters (0: evaluate on the test split).",
        int,
        lower=0,
    )
    steps_per_epoch: int | None = _setting(
        None, "Limit training steps per epoch (smoke runs).", int, lower=1
    )
    eval_steps: int | None = _setting(
        None, "Limit evaluation batches (smoke runs).", int, lower=1
    )

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = _checked(field, getattr(self, field.name))
            object.__setattr__(self, field.name, value)
        if self.fc_bn != "auto" and self.model not in VGG_MODELS:
            raise ConfigError(
                f"--fc_bn={self.fc_bn} applies to VGG's hidden FC blocks, "
                f"and --model={self.model} has none: leave --fc_bn=auto."
            )

    @property
    def resolved_run_name(self):
        """`run_name`, or one made from the settings that define the run."""
        if self.run_name:
            return self.run_name
        name = (
            f"{self.model}_{self.order}_{self.activation}_{self.dataset}"
            f"_lr{self.learning_rate:g}_wd{self.weight_decay:g}"
        )
        if self.bn_gamma_decay is not None:
            name += f"_gd{self.bn_gamma_decay:g}"
        if self.bn_beta_decay is not None:
            name += f"_bd{self.bn_beta_decay:g}"
        if self.width != 1.0:
            name += f"_w{self.width:g}"
        return re.sub(r"[^A-Za-z0-9_.+-]", "-", f"{name}_s{self.seed}")

    @property
    def run_dir(self):
        """`<model_dir>/<run name>`."""
        return os.path.join(self.model_dir, self.resolved_run_name)

    @property
    def fc_bn_value(self):
        """`fc_bn` as `build_model` takes it: `None` (auto), True, False."""
        return {"auto": None, "true": True, "false": False}[self.fc_bn]

    @property
    def averaged_blocks(self):
        """`model_stats_blocks` with `auto` resolved per dataset."""
        if self.model_stats_blocks != "auto":
            return self.model_stats_blocks
        conv_only = self.dataset == "tiny_imagenet" or self.dataset.startswith(
            "imagenet"
        )
        return "conv" if conv_only else "all"

    @property
    def variant(self):
        """The order, with NWDBN told apart.

        NWDBN is Convention whose BN gamma and beta get no weight decay.
        """
        if (
            self.order == "convention"
            and self.bn_gamma_decay == 0
            and self.bn_beta_decay == 0
        ):
            return "nwdbn"
        return self.order

    def settings(self):
        """The experiment's settings as `{name: flag text}`.

        Every `EXPERIMENT` field (not the seed, paths or devices), with the
        variant as `order`. Runs with equal settings are seeds of one
        setting.
        """
        values = {
            f.name: _flag_text(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if setting_of(f).role == EXPERIMENT
        }
        values["order"] = self.variant
        return values

    def to_flags(self):
        """The config as flagfile lines (`--name=value`), re-runnable."""
        lines = [
            f"--{f.name}={_flag_text(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_flags_text(cls, text, source="flags.txt"):
        """Reads `to_flags` output back into a `TrainConfig`.

        Any flagfile of plain `--name=value` lines reads too, and
        `--noname` for a false bool.

        Args:
            text: the flagfile's lines.
            source: where they come from, for the messages.

        Raises:
            ConfigError: a line that is not `--name=value`, an unknown
                setting or a bad value, naming `source`.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "//")):
                continue
            if not line.startswith("--"):
                raise ConfigError(
                    f"{source}: {line!r} is not a --name=value line."
                )
            name, equals, value = line.lstrip("-").partition("=")
            if not equals and name.startswith("no") and name[2:] in fields:
                name, value = name[2:], "false"
            with _naming(source):
                field = lookup(fields, name, "setting")
            values[name] = parse_value(field, value, source)
        with _naming(source):
            return cls(**values)

    def resume_differences(self, other):
        """Names of the settings that differ from `other` and may not change.

        Those whose `Setting.resumable` is false: a resume must keep them.
        """
        return [
            f.name
            for f in dataclasses.fields(self)
            if not setting_of(f).resumable
            and getattr(self, f.name) != getattr(other, f.name)
        ]


def setting_of(field):
    """The `Setting` of a `TrainConfig` field."""
    return field.metadata["setting"]


def _flag_text(value):
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse_value(field, text, source):
    """A flag's text as the value of a `TrainConfig` field.

    A list setting's text is comma-separated; a bool's is `true`, `false`,
    `1` or `0`. The value is not checked against the setting yet: making
    the `TrainConfig` does that.

    Args:
        field: the `dataclasses.Field` of `TrainConfig`.
        text: the flag's value as written.
        source: where the text comes from, for the message.

    Raises:
        ConfigError: text that is not of the setting's type.
    """
    value_type = setting_of(field).value_type
    try:
        if isinstance(value_type, tuple):
            items = [t for t in text.split(",") if t.strip()]
            return tuple(value_type[0](t.strip()) for t in items)
        if value_type is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        return value_type(text)
    except ValueError:
        raise ConfigError(
            f"{source}: --{field.name}={text} is not a valid "
            f"{getattr(value_type, '__name__', 'list')}."
        ) from None


@contextlib.contextmanager
def _naming(source):
    """Puts `<source>: ` before the message of a `UserError` raised inside."""
    try:
        yield
    except UserError as e:
        raise type(e)(f"{source}: {e}") from None


def _checked(field, value):
    """`value` checked against the field's `Setting`.

    Ints are accepted for floats and lists for tuples.

    Raises:
        ConfigError: a value the setting refuses.
    """
    setting = setting_of(field)
    name = f"--{field.name}"
    if value is None:
        if field.default is None:
            return None
        raise ConfigError(f"{name} needs a value.")
    value_type = setting.value_type
    if setting.aliases and isinstance(value, (str, bool)):
        value = setting.aliases.get(str(value).lower(), value)
    if isinstance(value_type, tuple):
        if isinstance(value, str) or not isinstance(value, (tuple, list)):
            raise ConfigError(f"{name}={value!r} must be a list.")
        value = tuple(_checked_scalar(name, value_type[0], v) for v in value)
        for item in value:
            _check_range(name, setting, item)
    else:
        value = _checked_scalar(name, value_type, value)
        _check_range(name, setting, value)
    if setting.choices is not None:
        lookup(setting.choices, value, f"{name} value")
    problem = setting.check(value) if setting.check else None
    if problem:
        raise ConfigError(f"{name}={_flag_text(value)} {problem}.")
    return value


def _checked_scalar(name, value_type, value):
    if (
        value_type is float
        and isinstance(value, int)
        and not isinstance(value, bool)
    ):
        value = float(value)
    if value_type is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not value_type and not (
        value_type is float and hasattr(value, "dtype")
    ):
        raise ConfigError(f"{name}={value!r} must be a {value_type.__name__}.")
    if value_type is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name}={value} must be a finite number.")
    return value


def _check_range(name, setting, value):
    if setting.lower is not None:
        if value < setting.lower or (
            setting.lower_open and value == setting.lower
        ):
            relation = ">" if setting.lower_open else ">="
            raise ConfigError(
                f"{name}={value} must be {relation} {setting.lower:g}."
            )
    if setting.upper is not None and value > setting.upper:
        raise ConfigError(f"{name}={value} must be <= {setting.upper:g}.")


__all__ = [
    "EXPERIMENT",
    "OPERATIONAL",
    "REPLICATE",
    "Setting",
    "TrainConfig",
    "parse_value",
    "setting_of",
]
