"""The absl flags of `TrainConfig`: one flag per field, from its `Setting`.

`bnorder-train` defines them, and `bnorder-tune` defines them beside its
search flags; each program calls `define_flags` in its `console_main`, so
importing a program defines no flag. After parsing, `config_from_flags`
builds the `TrainConfig`, which checks every value before TensorFlow is
imported. The settings themselves (types, choices, bounds, help) are
`bnorder_tf.training.config`'s: nothing here adds to them.

Example:
>>> from absl import flags
>>> flag_values = flags.FlagValues()
>>> define_flags(flag_values)
>>> flag_values(["train", "--order=convention", "--lr_milestones=3,7"])
['train']
>>> config = config_from_flags(flag_values)
>>> config.order, config.lr_milestones
('convention', (3, 7))
"""

import dataclasses

from absl import flags

from bnorder_tf.training.config import TrainConfig, parse_value, setting_of


def define_flags(flag_values=None):
    """Defines one absl flag per `TrainConfig` field, once per `FlagValues`.

    Types, choices and bounds come from the fields' `Setting`; the whole
    config is checked again by `config_from_flags`. A flag the
    `FlagValues` already holds is left as it is.

    Args:
        flag_values: an `absl.flags.FlagValues`, default `flags.FLAGS`.
    """
    fv = flags.FLAGS if flag_values is None else flag_values
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        if field.name in fv:
            continue
        setting = setting_of(field)
        default = getattr(defaults, field.name)
        common = dict(name=field.name, help=setting.help, flag_values=fv)
        bounds = dict(lower_bound=setting.lower, upper_bound=setting.upper)
        if isinstance(setting.value_type, tuple):
            flags.DEFINE_list(
                default=[str(v) for v in default] if default else [],
                **common,
            )
        elif setting.choices is not None:
            flags.DEFINE_enum(
                default=default,
                enum_values=[*setting.choices, *(setting.aliases or {})],
                **common,
            )
        elif setting.value_type is bool:
            flags.DEFINE_bool(default=default, **common)
        elif setting.value_type is int:
            flags.DEFINE_integer(default=default, **bounds, **common)
        elif setting.value_type is float:
            flags.DEFINE_float(default=default, **bounds, **common)
        else:
            flags.DEFINE_string(default=default, **common)


def config_from_flags(flag_values=None):
    """Builds a `TrainConfig` from parsed flags (never mutating them).

    Args:
        flag_values: the parsed `absl.flags.FlagValues`, default
            `flags.FLAGS`, on which `define_flags` defined the flags.

    Returns:
        The `TrainConfig`, every value checked.

    Raises:
        ConfigError: a bad value or combination, naming the flag.
    """
    fv = flags.FLAGS if flag_values is None else flag_values
    values = {}
    for field in dataclasses.fields(TrainConfig):
        value = fv[field.name].value
        if isinstance(setting_of(field).value_type, tuple):
            # absl splits the list; each item is read as the field's type
            value = tuple(
                item
                for text in value or ()
                for item in parse_value(field, str(text), "flags")
            )
        values[field.name] = value
    return TrainConfig(**values)


__all__ = ["config_from_flags", "define_flags"]
