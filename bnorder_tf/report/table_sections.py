"""The report's tables, each a `document.Section` with its caption."""

from bnorder_tf.report import verdicts
from bnorder_tf.report.accuracy import accuracy_rows, accuracy_table
from bnorder_tf.report.claims import check_claims, claims_table
from bnorder_tf.report.depth import (
    PAPER_BEST_DEPTH,
    check_depth_claims,
    depth_table,
)
from bnorder_tf.report.document import Section
from bnorder_tf.report.figure15 import check_figure15_claims, figure15_table
from bnorder_tf.report.pairs import gap_table


def table_sections(groups, pairs, runs, diverged, claims, study):
    """The report's tables as `Section`s.

    The accuracy table, the pairs, the depth study (with two depths or
    more), the claims tables when asked, and the list of diverged runs.
    """
    sections = _result_sections(groups, pairs, study)
    if claims:
        sections += _claim_sections(runs, study)
    if diverged:
        sections.append(_diverged_section(diverged))
    return sections


def _result_sections(groups, pairs, study):
    """The accuracy table, the pairs and the depth study's tables."""
    sections = [
        Section(
            "Test accuracy",
            "Final test accuracy, mean ± standard deviation "
            "over seeds, with the model-level statistics of the last epoch "
            "(means over seeds).",
            table=accuracy_table(accuracy_rows(groups)),
        )
    ]
    if pairs:
        sections.append(
            Section(
                "Convention and Swap, pair by pair",
                "Each dataset, model and activation trained in both orders, "
                "each order with its own tuned learning rate and decay: test "
                "accuracy (mean ± std over seeds), Swap's gain with its "
                "standard error and Welch's two-sided p-value, and the mean "
                "absolute channel skewness of each order.",
                table=gap_table(pairs),
            )
        )
    if len(study.depths) >= 2:
        sections.append(
            Section(
                "Depth",
                f"VGG16_n with tanh on {study.dataset}, each depth and order "
                "tuned on its own: test accuracy (mean ± std over seeds), "
                "Swap's gain with its 95% interval and Welch's p-value, "
                "and the ratio of conv1's mean |kernel gradient| (decay "
                "included) to the last conv block's at the last epoch, over "
                "the runs that recorded it (paper appendix A.6).",
                table=depth_table(study),
            )
        )
    if PAPER_BEST_DEPTH in study.gradient_depths():
        sections.append(
            Section(
                "Figure 15, per block",
                f"VGG16_{PAPER_BEST_DEPTH} with tanh: per conv block, mean "
                "|x| (the convolution's input), mean |gradient at tanh's "
                "input| and mean |gradient of the kernel| from the loss "
                "alone (no decay term), each the mean over the seeds that "
                "recorded them, at the last epoch.",
                table=figure15_table(study, PAPER_BEST_DEPTH),
            )
        )
    return sections


def _claim_sections(runs, study):
    """The tables of the paper's claims, checked on the runs."""
    sections = [
        Section(
            "The paper's claims",
            "Each claim checked on the finished runs. " + verdicts.RULES,
            table=claims_table(check_claims(runs)),
        )
    ]
    if len(study.depths) >= 2:
        sections.append(
            Section(
                "The depth claims",
                "The paper's appendix A.6 on depth, and two "
                "extrapolations of the project's own, each decided by "
                "the rule stated above for its kind.",
                table=claims_table(check_depth_claims(study)),
            )
        )
    figure15 = check_figure15_claims(study)
    if figure15:
        sections.append(
            Section(
                "Figure 15's claims, at each depth",
                "The paper's explanation (appendix A.6) checked on the "
                "runs that recorded the gradient scale: per run, the "
                "geometric mean over the conv blocks named; the kernel "
                "gradient is the loss's alone.",
                table=claims_table(figure15),
            )
        )
    return sections


def _diverged_section(diverged):
    """The runs left out: their loss became NaN or infinite."""
    return Section(
        "Diverged runs",
        "Left out of every table and figure: their "
        "loss became NaN or infinite (summary.json status "
        '"diverged"): '
        + ", ".join(
            f"{run.path} (epoch {run.summary.get('diverged_epoch')})"
            for run in diverged
        )
        + ".",
    )
