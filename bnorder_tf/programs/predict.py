"""The prediction program: classifies images with an exported model.

    bnorder-predict savedmodels/<name> cat.png dog.jpg
    bnorder-predict savedmodels/<name> batch.npy --json

(also `python -m bnorder_tf.predict`). Loads the newest version under the
directory (or `--version`), feeds the images to its `serving_default`
signature in batches and prints the top-k classes with their
probabilities, or one JSON object with `--json`. Images are PNG or JPEG
files of the model's input size, or a single `.npy` array of uint8 images
`[batch, H, W, C]`. The work is `bnorder_tf.serving.predict`'s.
"""

import json
import sys

from absl import app, flags

from bnorder_tf.errors import UserError
from bnorder_tf.programs import cli
from bnorder_tf.programs.cli import fail_on_user_error
from bnorder_tf.serving.predict import (
    predict,
    read_images,
    read_metadata,
    resolve_version,
    top_k,
)

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
    """Defines the program's flags: `console_main` calls it, no import does."""
    flags.DEFINE_integer(
        "version",
        None,
        "Version to load (default: newest).",
        lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "top_k",
        3,
        "Classes printed per image.",
        lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "json",
        False,
        "Print one JSON object instead of text.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "batch_size",
        256,
        "Images per call of the model.",
        lower_bound=1,
        flag_values=flag_values,
    )


def main(argv):
    """Prints the top classes of the images the command line names.

    Args:
        argv: the program's name, the model's `<export_dir>/<name>`, then
            the image files (or one `.npy` batch).

    Returns:
        0, the exit status.
    """
    if len(argv) < 3:
        raise app.UsageError(
            "usage: bnorder-predict <export_dir>/<name> "
            "IMAGE... [--version=N] [--top_k=K] [--json]"
        )
    model_path, paths = argv[1], argv[2:]
    # TensorFlow (`cli.import_tensorflow`, which hides its start-up lines)
    # only once the paths, the version and a .npy batch are checked, so
    # that their errors answer at once
    try:
        version_dir = resolve_version(model_path, FLAGS.version)
        metadata = read_metadata(version_dir)
        images = read_images(paths, metadata["input_shape"])
        probabilities = predict(
            version_dir,
            images,
            FLAGS.batch_size,
            progress=len(images) > FLAGS.batch_size and not FLAGS.json,
        )
    except UserError as e:
        fail_on_user_error("predict", e)
    names = metadata.get("class_names")
    ranked = top_k(probabilities, FLAGS.top_k, names)
    labels = (
        paths
        if len(paths) == len(images)
        else [f"{paths[0]}[{i}]" for i in range(len(images))]
    )
    if FLAGS.json:
        print(
            json.dumps(
                {
                    "model": version_dir,
                    "predictions": [
                        {
                            "input": label,
                            "top_k": [
                                {"class": i, "name": n, "probability": p}
                                for i, n, p in row
                            ],
                        }
                        for label, row in zip(labels, ranked, strict=True)
                    ],
                }
            )
        )
    else:
        for label, row in zip(labels, ranked, strict=True):
            best = ", ".join(f"{n} {p:.3f}" for _, n, p in row)
            print(f"{label}: {best}")
    return 0


def console_main():
    """The `bnorder-predict` entry point."""
    define_flags()
    cli.hide_tensorflow_start_up_unless_asked()
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    console_main()
