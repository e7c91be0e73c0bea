"""A MkDocs hook: the reference tables, generated as the site is built.

Two tables are made from the code that defines them, so they cannot go
stale:

- `TrainConfig`'s fields (type, default, meaning, role, whether a
  resume may change it), from the fields' `Setting`s,
  where `<!-- generated: train-config-fields -->` stands in a page;
- every flag of `bnorder-train`, `bnorder-tune`, `bnorder-report` and
  `bnorder-predict` (type, default, help), from the programs' own flag
  definitions, where `<!-- generated: cli-reference -->` stands.

Loaded by `mkdocs.yml` (`hooks:`); `tests/test_reference_tables.py`
checks that the tables cover every field and flag. Nothing here imports
TensorFlow.
"""

import argparse
import dataclasses

MARKERS = {
    "<!-- generated: train-config-fields -->": "train_config_table",
    "<!-- generated: cli-reference -->": "cli_reference",
}


def _cell(text):
    """Text as one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(value):
    return f"`{value}`" if value not in ("", None) else ""


def _row(*cells):
    return "| " + " | ".join(cells) + " |"


# --- TrainConfig -------------------------------------------------------------


def _number(value):
    """A bound as written: `1`, `0.5`, `2147483647`."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _setting_type(setting, default_is_none, flag=False):
    """A field's type, choices and bounds, as Python or as a flag takes it."""
    value_type = setting.value_type
    if isinstance(value_type, tuple):
        name = value_type[0].__name__
        text = f"comma-separated {name}s" if flag else f"tuple of {name}"
    else:
        text = value_type.__name__
    if setting.choices is not None:
        text += ": " + ", ".join(f"`{c}`" for c in setting.choices)
    bounds = []
    if setting.lower is not None:
        relation = ">" if setting.lower_open else ">="
        bounds.append(f"{relation} {_number(setting.lower)}")
    if setting.upper is not None:
        bounds.append(f"<= {_number(setting.upper)}")
    if bounds:
        text += " " + ", ".join(bounds)
    if default_is_none and not flag:
        text += " or `None`"
    return text


def _python_default(value):
    return "`None`" if value is None else f"`{value!r}`"


def train_config_table():
    """`TrainConfig`'s fields as a Markdown table."""
    from bnorder_tf.training.config import TrainConfig, setting_of

    lines = [
        _row("field", "type", "default", "meaning", "role", "resume"),
        _row(*["---"] * 6),
    ]
    for field in dataclasses.fields(TrainConfig):
        setting = setting_of(field)
        lines.append(
            _row(
                f"`{field.name}`",
                _cell(_setting_type(setting, field.default is None)),
                _cell(_python_default(field.default)),
                _cell(setting.help),
                setting.role,
                "may change" if setting.resumable else "fixed",
            )
        )
    return "\n".join(lines) + "\n"


# --- the programs' flags -----------------------------------------------------


def _absl_type(flag):
    parser = flag.parser
    if hasattr(parser, "enum_values"):
        return "one of " + ", ".join(f"`{v}`" for v in parser.enum_values)
    if type(parser).__name__ == "ListParser":
        return "comma-separated list"
    name = flag.flag_type()
    text = {"string": "str", "integer": "int"}.get(name, name)
    bounds = []
    lower = getattr(parser, "lower_bound", None)
    upper = getattr(parser, "upper_bound", None)
    if lower is not None:
        bounds.append(f">= {_number(lower)}")
    if upper is not None:
        bounds.append(f"<= {_number(upper)}")
    return " ".join([text, ", ".join(bounds)]).strip()


def _absl_default(flag):
    value = flag.default
    if value is None or value == []:
        return "unset"
    if isinstance(value, bool):
        return _code(str(value).lower())
    if isinstance(value, list):
        return _code(",".join(map(str, value)))
    return _code(value)


def _absl_help(flag):
    """The flag's help, without the `<a|b|c>: ` absl puts before an enum's."""
    help_text = flag.help or ""
    if hasattr(flag.parser, "enum_values") and help_text.startswith("<"):
        help_text = help_text.split(">: ", 1)[-1]
    return help_text


def _absl_table(fv, names, resumable=None, types=None):
    header = ["flag", "type", "default", "help"]
    if resumable is not None:
        header.append("on resume")
    lines = [_row(*header), _row(*["---"] * len(header))]
    for name in names:
        flag = fv[name]
        spelled = f"`--{name}`"
        if flag.flag_type() == "bool":
            spelled += f", `--no{name}`"
        type_text = (types or {}).get(name) or _absl_type(flag)
        cells = [
            spelled,
            _cell(type_text),
            _cell(_absl_default(flag)),
            _cell(_absl_help(flag)),
        ]
        if resumable is not None:
            cells.append("may change" if name in resumable else "fixed")
        lines.append(_row(*cells))
    return "\n".join(lines) + "\n"


class _Captured(Exception):
    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def _report_parser():
    """The `argparse` parser `bnorder-report` builds in its `main`.

    `main` builds it and parses at once; this stops it there, before any
    work, and hands the parser back.
    """
    from bnorder_tf.programs import report

    def capture(self, *args, **kwargs):
        raise _Captured(self)

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = capture
    try:
        report.main([])
    except _Captured as captured:
        return captured.parser
    finally:
        argparse.ArgumentParser.parse_args = original
    raise RuntimeError("bnorder-report's main parsed no arguments")


def _argparse_table(parser):
    lines = [_row("argument", "type", "default", "help"), _row(*["---"] * 4)]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            spelled = ", ".join(f"`{s}`" for s in action.option_strings)
        else:
            spelled = f"`{action.metavar or action.dest}`"
            if action.nargs == "+":
                spelled += " (one or more)"
        if isinstance(action, argparse._StoreTrueAction):
            type_text, default = "switch", "off"
        else:
            type_text = getattr(action.type, "__name__", "str")
            default = _code(action.default) if action.default else "unset"
        if action.required:
            default = "required"
        lines.append(
            _row(spelled, type_text, default, _cell(action.help or ""))
        )
    return "\n".join(lines) + "\n"


def program_flags():
    """`{program: flag names}` of the four programs, as they define them.

    `bnorder-tune`'s are its own, beside those it takes from the trainer.
    """
    from absl import flags

    from bnorder_tf.programs import config_flags, predict, tune

    def defined(define):
        fv = flags.FlagValues()
        define(fv)
        return fv

    train = defined(config_flags.define_flags)
    tuned = defined(tune.define_flags)
    predicted = defined(predict.define_flags)
    report = _report_parser()
    return {
        "bnorder-train": (train, list(train)),
        "bnorder-tune": (tuned, [n for n in tuned if n not in train]),
        "bnorder-predict": (predicted, list(predicted)),
        "bnorder-report": (report, None),
    }


def cli_reference():
    """Every flag of the four programs, as Markdown sections."""
    from bnorder_tf.training.config import TrainConfig, setting_of

    programs = program_flags()
    fields = dataclasses.fields(TrainConfig)
    resumable = {f.name for f in fields if setting_of(f).resumable}
    # the config's own types and bounds: absl's enums also list the old
    # spellings a flag accepts, and its bounds are inclusive
    types = {
        f.name: _setting_type(setting_of(f), f.default is None, flag=True)
        for f in fields
    }
    train_fv, train_names = programs["bnorder-train"]
    tune_fv, tune_names = programs["bnorder-tune"]
    predict_fv, predict_names = programs["bnorder-predict"]
    report_parser, _ = programs["bnorder-report"]
    return "\n".join(
        [
            "## bnorder-train",
            "",
            "    bnorder-train [--flagfile=FILE] [--FLAG=VALUE ...]",
            "",
            "Trains one model ([training and distribution]"
            "(../guides/training.md)). Every flag is a field of "
            "`TrainConfig`; *on resume* says whether the flag may change "
            "when a run is resumed.",
            "",
            _absl_table(train_fv, train_names, resumable, types),
            "## bnorder-tune",
            "",
            "    bnorder-tune [--flagfile=FILE] --search_FIELD=V1,V2 "
            "[--FLAG=VALUE ...]",
            "",
            "Every flag of `bnorder-train` (they set what each trial "
            "trains), and these ([hyperparameter search]"
            "(../guides/tuning.md)):",
            "",
            _absl_table(tune_fv, tune_names),
            "## bnorder-report",
            "",
            "    " + " ".join(report_parser.format_usage().split()[1:]),
            "",
            "The paper's tables and figures from finished runs "
            "([reports](../guides/reports.md)).",
            "",
            _argparse_table(report_parser),
            "## bnorder-predict",
            "",
            "    bnorder-predict EXPORT_DIR/NAME IMAGE... [--FLAG=VALUE ...]",
            "",
            "Classifies PNG or JPEG files, or one `.npy` array of uint8 "
            "images `[batch, H, W, C]`, with an exported model "
            "([serving](../guides/serving.md)).",
            "",
            _absl_table(predict_fv, predict_names),
        ]
    )


def generate(name):
    """The Markdown of one generated table, by its function's name."""
    return globals()[name]()


def on_page_markdown(markdown, **kwargs):
    """Replaces each marker of a page by the table it names."""
    for marker, name in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate(name))
    return markdown
