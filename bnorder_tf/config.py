"""`TrainConfig` and the absl flags that fill it, defined once.

`trainers/train.py` and `tuning/tune.py` both call `define_flags()`, so
the two programs share every definition. Values are validated when flags
are parsed: a bad value fails before any work starts, with one line
naming the flag and what it accepts.
"""

import dataclasses
import re

from absl import flags

from bnorder_tf.activations import NAMES as ACTIVATIONS
from bnorder_tf.blocks import ORDERS
from bnorder_tf.data.sources import DATASETS
from bnorder_tf.distribute import STRATEGIES
from bnorder_tf.models import MODEL_NAMES


@dataclasses.dataclass
class TrainConfig:
    """Everything one training run needs. Defaults are the paper's CIFAR
    protocol (SGD momentum 0.9, batch 128, 200 epochs, learning rate x0.1
    at epochs 100 and 150)."""

    dataset: str = "cifar100"
    data_dir: str = None
    model: str = "vgg16_11"
    order: str = "swap"
    activation: str = "tanh"
    width: float = 1.0
    fc_bn: str = "auto"
    epochs: int = 200
    batch_size: int = 128
    learning_rate: float = 0.1
    lr_milestones: tuple = (100, 150)
    lr_decay: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    bn_gamma_decay: float = None
    bn_beta_decay: float = None
    seed: int = 0
    strategy: str = "one_device"
    devices: tuple = ()
    sync_bn: bool = True
    model_dir: str = "runs"
    run_name: str = None
    export_dir: str = "savedmodels"
    stats_every: int = 1
    gradient_batches: int = 0
    histogram_bins: int = 50
    mixed_precision: bool = False
    jit_compile: bool = False
    steps_per_epoch: int = None
    eval_steps: int = None

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
    def fc_bn_value(self):
        """`fc_bn` as `build_model` takes it: `None` (auto), True, False."""
        return {"auto": None, "true": True, "false": False}[self.fc_bn]

    def to_flags(self):
        """The config as flagfile lines (`--name=value`), re-runnable."""
        lines = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if isinstance(value, (tuple, list)):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = str(value).lower()
            lines.append(f"--{field.name}={value}")
        return "\n".join(lines) + "\n"


_FLAG_HELP = {
    "dataset": "Dataset name.",
    "data_dir": "Directory to look for the dataset in first.",
    "model": "Architecture name.",
    "order": "Block order: convention (W-BN-f), swap (W-f-BN), nobn (W-f).",
    "activation": "Activation function.",
    "width": "Channel width multiplier (MobileNet's alpha).",
    "fc_bn": "BN in VGG's hidden FC blocks: auto (only for <=32x32 inputs, "
    "as in the paper), true or false.",
    "epochs": "Training epochs.",
    "batch_size": "Global batch size, split over the replicas.",
    "learning_rate": "Initial SGD learning rate.",
    "lr_milestones": "Epochs at which the learning rate is multiplied by "
    "--lr_decay, increasing.",
    "lr_decay": "Learning-rate factor at each milestone.",
    "momentum": "SGD momentum.",
    "weight_decay": "PyTorch-style weight decay (loss 0.5*wd*||w||^2) of "
    "kernels and biases. Do not also set an optimizer weight decay.",
    "bn_gamma_decay": "Weight decay of BN gamma; unset = --weight_decay, "
    "0 = none (NWDBN).",
    "bn_beta_decay": "Weight decay of BN beta; unset = --weight_decay, "
    "0 = none (NWDBN).",
    "seed": "Random seed (initialisation, shuffling, augmentation).",
    "strategy": "Distribution strategy.",
    "devices": "Devices for one_device/mirrored, e.g. /gpu:0,/gpu:1 "
    "(default: all GPUs, else the CPU).",
    "sync_bn": "With several replicas, BN normalises with the statistics "
    "of the global batch, so results do not depend on the replica count "
    "(--nosync_bn: per-replica statistics, PyTorch DDP's default).",
    "model_dir": "Directory holding the run directories.",
    "run_name": "Run directory name under --model_dir (default: made from "
    "model, order, activation, dataset, lr, wd and seed).",
    "export_dir": "Where the SavedModel is exported at the end.",
    "stats_every": "Measure activation statistics every N epochs (0: never).",
    "gradient_batches": "Also measure gradient scale per layer over N "
    "training batches (0: never).",
    "histogram_bins": "Bins of the per-channel activation histograms in "
    "stats.jsonl and TensorBoard (0: none; the statistics pass is then "
    "about 15% faster on a CPU and the report draws no histogram figure).",
    "mixed_precision": "Train with the mixed_float16 policy.",
    "jit_compile": "Compile the training step with XLA (often faster on "
    "GPUs; slower on CPUs).",
    "steps_per_epoch": "Limit training steps per epoch (smoke runs).",
    "eval_steps": "Limit evaluation batches (smoke runs).",
}


def define_flags():
    """Defines one absl flag per `TrainConfig` field (once per process)."""
    if "dataset" in flags.FLAGS:
        return
    d = TrainConfig()
    h = _FLAG_HELP
    flags.DEFINE_enum("dataset", d.dataset, DATASETS, h["dataset"])
    flags.DEFINE_string("data_dir", d.data_dir, h["data_dir"])
    flags.DEFINE_enum("model", d.model, MODEL_NAMES, h["model"])
    flags.DEFINE_enum("order", d.order, list(ORDERS), h["order"])
    flags.DEFINE_enum("activation", d.activation, ACTIVATIONS,
                      h["activation"])  # fmt: skip
    flags.DEFINE_float("width", d.width, h["width"], lower_bound=1e-3)
    flags.DEFINE_enum("fc_bn", d.fc_bn, ["auto", "true", "false"], h["fc_bn"])
    flags.DEFINE_integer("epochs", d.epochs, h["epochs"], lower_bound=1)
    flags.DEFINE_integer("batch_size", d.batch_size, h["batch_size"],
                         lower_bound=1)  # fmt: skip
    flags.DEFINE_float("learning_rate", d.learning_rate, h["learning_rate"])
    flags.DEFINE_list("lr_milestones", list(map(str, d.lr_milestones)),
                      h["lr_milestones"])  # fmt: skip
    flags.DEFINE_float("lr_decay", d.lr_decay, h["lr_decay"], lower_bound=0)
    flags.DEFINE_float("momentum", d.momentum, h["momentum"], lower_bound=0)
    flags.DEFINE_float("weight_decay", d.weight_decay, h["weight_decay"],
                       lower_bound=0)  # fmt: skip
    flags.DEFINE_float("bn_gamma_decay", None, h["bn_gamma_decay"],
                       lower_bound=0)  # fmt: skip
    flags.DEFINE_float("bn_beta_decay", None, h["bn_beta_decay"],
                       lower_bound=0)  # fmt: skip
    flags.DEFINE_integer("seed", d.seed, h["seed"])
    flags.DEFINE_enum("strategy", d.strategy, STRATEGIES, h["strategy"])
    flags.DEFINE_list("devices", [], h["devices"])
    flags.DEFINE_bool("sync_bn", d.sync_bn, h["sync_bn"])
    flags.DEFINE_string("model_dir", d.model_dir, h["model_dir"])
    flags.DEFINE_string("run_name", None, h["run_name"])
    flags.DEFINE_string("export_dir", d.export_dir, h["export_dir"])
    flags.DEFINE_integer("stats_every", d.stats_every, h["stats_every"],
                         lower_bound=0)  # fmt: skip
    flags.DEFINE_integer("gradient_batches", d.gradient_batches,
                         h["gradient_batches"], lower_bound=0)  # fmt: skip
    flags.DEFINE_integer("histogram_bins", d.histogram_bins,
                         h["histogram_bins"], lower_bound=0)  # fmt: skip
    flags.DEFINE_bool("mixed_precision", d.mixed_precision,
                      h["mixed_precision"])  # fmt: skip
    flags.DEFINE_bool("jit_compile", d.jit_compile, h["jit_compile"])
    flags.DEFINE_integer("steps_per_epoch", None, h["steps_per_epoch"],
                         lower_bound=1)  # fmt: skip
    flags.DEFINE_integer("eval_steps", None, h["eval_steps"], lower_bound=1)

    flags.register_validator(
        "learning_rate", lambda v: v > 0,
        "--learning_rate must be > 0 (e.g. 0.1).",
    )  # fmt: skip
    flags.register_validator(
        "lr_milestones", _milestones_ok,
        "--lr_milestones must be increasing positive integers, e.g. 100,150.",
    )  # fmt: skip
    flags.register_validator(
        "run_name", lambda v: v is None or re.fullmatch(r"[\w.+-]+", v),
        "--run_name may hold letters, digits and _.+- only.",
    )  # fmt: skip


def _milestones_ok(values):
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        return False
    return all(n > 0 for n in numbers) and numbers == sorted(set(numbers))


def config_from_flags(flag_values=None):
    """Builds a `TrainConfig` from parsed flags (never mutating them)."""
    fv = flag_values or flags.FLAGS
    values = {f.name: fv[f.name].value for f in dataclasses.fields(TrainConfig)}
    values["lr_milestones"] = tuple(int(v) for v in values["lr_milestones"])
    values["devices"] = tuple(values["devices"] or ())
    return TrainConfig(**values)
