"""The paper's claims, checked one by one against a set of runs.

Each claim compares the model variants of the paper (Convention, NWDBN,
Swap with tanh; Swap with the shifted tanh) by a per-run value averaged
over seeds. A claim holds when the means are ordered as the paper says;
`margin` gives the smallest gap between neighbours in units of the larger
of their standard deviations, so a gap within the noise of the seeds is
visible as such.
"""

import dataclasses
import statistics

from bnorder_tf.report.document import Table, markdown_table

#: The variants the claims name: (order as the report names it, activation).
CONVENTION = ("convention", "tanh")
NWDBN = ("nwdbn", "tanh")
SWAP = ("swap", "tanh")
SWAP_SHIFTED = ("swap", "shifted_tanh")
LABELS = {
    CONVENTION: "Convention",
    NWDBN: "NWDBN",
    SWAP: "Swap",
    SWAP_SHIFTED: "Swap, shifted tanh",
}


def accuracy(run):
    return run.summary.get("final_test_accuracy")


def max_layer_saturation(run):
    values = [
        layer.get("saturation")
        for layer in (run.summary.get("layer_stats") or {}).values()
    ]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def model_stat(key):
    def value(run):
        return (run.summary.get("stats") or {}).get(key)

    return value


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim: `order` lists the variants from lowest to highest value.

    Attributes:
        text: the claim as the paper makes it.
        paper: the paper's numbers, as text.
        order: variants, the paper's lowest value first.
        value: function `run -> float or None`.
        scale: factor for display (100 for accuracy in %).
    """

    text: str
    paper: str
    order: tuple
    value: object
    scale: float = 1.0


CLAIMS = (
    Claim(
        "Swap beats Convention in accuracy",
        "69.50 vs about 74.1 % (CIFAR-100, VGG16_11)",
        (CONVENTION, SWAP),
        accuracy,
        100.0,
    ),
    Claim(
        "NWDBN lies between Convention and Swap in accuracy",
        "69.50 < 72.27 < about 74.1 %",
        (CONVENTION, NWDBN, SWAP),
        accuracy,
        100.0,
    ),
    Claim(
        "Swap's maximum layer saturation is higher",
        "0.45 (Convention) vs 0.86 (Swap)",
        (CONVENTION, SWAP),
        max_layer_saturation,
    ),
    Claim(
        "Swap's mean absolute channel skewness is higher",
        "Convention below 1 in every layer, Swap above (figure 4)",
        (CONVENTION, SWAP),
        model_stat("skewness"),
    ),
    Claim(
        "Sparsity orders Swap > Convention > NWDBN",
        "0.288 (NWDBN) < 0.718 (Convention) < 0.849 (Swap)",
        (NWDBN, CONVENTION, SWAP),
        model_stat("sparsity"),
    ),
    Claim(
        "Shifted tanh beats tanh in Swap order",
        "better (NeurIPS version; its number is not in our copy)",
        (SWAP, SWAP_SHIFTED),
        accuracy,
        100.0,
    ),
)


@dataclasses.dataclass
class ClaimResult:
    """A claim checked on runs.

    Attributes:
        claim: the `Claim`.
        values: per variant, `(mean, std, seeds)` or `None` if no run.
        holds: True, False, or `None` when a variant has no run.
        margin: the smallest gap between neighbouring means divided by the
            larger of their standard deviations (`inf` with one seed).
    """

    claim: Claim
    values: dict
    holds: object
    margin: float


def _variant(run):
    return (run.config.variant, run.config.activation)


def check_claims(runs, claims=CLAIMS):
    """Checks each claim on the runs (finished runs only: pass no
    diverged run).

    Returns:
        A list of `ClaimResult`, one per claim.
    """
    by_variant = {}
    for run in runs:
        by_variant.setdefault(_variant(run), []).append(run)
    results = []
    for claim in claims:
        values = {}
        for variant in claim.order:
            numbers = [claim.value(r) for r in by_variant.get(variant, [])]
            numbers = [v * claim.scale for v in numbers if v is not None]
            values[variant] = (
                (
                    statistics.fmean(numbers),
                    statistics.stdev(numbers) if len(numbers) > 1 else 0.0,
                    len(numbers),
                )
                if numbers
                else None
            )
        if any(v is None for v in values.values()):
            results.append(ClaimResult(claim, values, None, float("nan")))
            continue
        means = [values[v][0] for v in claim.order]
        stds = [values[v][1] for v in claim.order]
        holds = all(a < b for a, b in zip(means, means[1:]))
        margins = [
            (b - a) / max(sa, sb) if max(sa, sb) > 0 else float("inf")
            for a, b, sa, sb in zip(means, means[1:], stds, stds[1:])
        ]
        results.append(ClaimResult(claim, values, holds, min(margins)))
    return results


def claims_table(results):
    """The claims table, a `document.Table`."""
    rows = []
    for result in results:
        ours = "; ".join(
            f"{LABELS[v]} "
            + (
                "no run"
                if result.values[v] is None
                else f"{result.values[v][0]:.{_digits(result)}f} ± "
                f"{result.values[v][1]:.{_digits(result)}f} "
                f"(n={result.values[v][2]})"
            )
            for v in result.claim.order
        )
        if result.holds is None:
            verdict = "not measured"
        elif result.holds:
            verdict = "yes" + (
                " (within the seeds' noise)" if result.margin < 1 else ""
            )
        else:
            verdict = "**no**"
        rows.append([result.claim.text, result.claim.paper, ours, verdict])
    return Table(
        ["claim", "paper", "ours (mean ± std over seeds)", "holds"], rows
    )


def claims_markdown(results):
    """The claims table as Markdown."""
    return markdown_table(claims_table(results))


def _digits(result):
    return 2 if result.claim.scale != 1.0 else 3


__all__ = [
    "CLAIMS",
    "Claim",
    "ClaimResult",
    "check_claims",
    "claims_markdown",
    "claims_table",
]
