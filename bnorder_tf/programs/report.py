"""The report program: the paper's tables and figures from run directories.

    bnorder-report RUN_OR_TUNING_DIR... --out DIR [--claims]

(also `python -m bnorder_tf.report`). The work is `bnorder_tf.report`'s.
"""

import argparse
import sys

from bnorder_tf.errors import UserError
from bnorder_tf.programs.cli import fail_on_user_error
from bnorder_tf.report import DEFAULT_TITLE, build_report


def main(argv=None):
    """Writes the report that the command line asks for; returns 0.

    Args:
        argv: the arguments after the program's name (default:
            `sys.argv[1:]`).
    """
    parser = argparse.ArgumentParser(
        prog="bnorder-report",
        description="The paper's tables and figures from run directories.",
    )
    parser.add_argument("paths", nargs="+", metavar="RUN_OR_TUNING_DIR")
    parser.add_argument("--out", required=True, help="Output directory.")
    parser.add_argument(
        "--layer",
        help="Block of the histogram figure (default: the middle one).",
    )
    parser.add_argument(
        "--channels",
        type=int,
        default=4,
        help="Channels in the histogram figure.",
    )
    parser.add_argument(
        "--claims",
        action="store_true",
        help="Add the table of the paper's claims.",
    )
    parser.add_argument(
        "--gradient_runs",
        nargs="+",
        default=(),
        metavar="DIR",
        help="Run directories counted for their gradient scales alone "
        "(figure 15), e.g. seeds trained again with --gradient_batches: "
        "they join no accuracy table or claim.",
    )
    parser.add_argument(
        "--markdown_name",
        default="report.md",
        help="File name of the Markdown report.",
    )
    parser.add_argument(
        "--title", default=DEFAULT_TITLE, help="The report's title."
    )
    parser.add_argument(
        "--intro", help="A paragraph put at the top of the report."
    )
    parser.add_argument(
        "--notes",
        metavar="FILE",
        help="A Markdown file of '## Title' sections of prose, put after "
        "the tables.",
    )
    args = parser.parse_args(argv)
    try:
        path = build_report(
            args.paths,
            args.out,
            args.layer,
            args.channels,
            claims=args.claims,
            gradient_paths=args.gradient_runs,
            markdown_name=args.markdown_name,
            title=args.title,
            intro=args.intro,
            notes=args.notes,
        )
    except UserError as e:
        fail_on_user_error("report", e)
    print(f"Wrote {path} and report.html")
    return 0


def console_main():
    """The `bnorder-report` entry point."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
