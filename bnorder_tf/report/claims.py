"""The paper's claims, checked one by one against a set of runs.

Most claims compare model variants by a per-run value over seeds. A
variant is (architecture, order, activation), with NWDBN told apart from
Convention; "vgg" is VGG16_11. Such a claim is directional: each
neighbouring pair of its variants is compared by Welch's test, and
`check_claims` Holm-corrects every such comparison of the table as one
family (`verdicts.RULES` says the rules). A `CorrelationClaim` is decided
by the correlation between seeds within each (dataset, model,
activation, order), so that the orders' own difference cannot make it.
"""

import dataclasses
import itertools
import math

from bnorder_tf import choices
from bnorder_tf.report import verdicts
from bnorder_tf.report.document import Table, markdown_table, mean_std_cell
from bnorder_tf.report.significance import mean_std, pearson
from bnorder_tf.training.run_dir import final_accuracy

#: The VGG of the paper's claims (all but the depth study's): VGG16_11.
CLAIMS_VGG = "vgg16_11"


def architecture(model):
    """The architecture a claim names: "mobilenet", "vgg" or the model.

    "vgg" is VGG16_11, the VGG of every claim but the depth study's
    (`report.depth`); other VGGs keep their names, so that their runs
    never join a claim about VGG16_11.
    """
    if model == "mobilenet":
        return "mobilenet"
    return "vgg" if model == CLAIMS_VGG else model


def variant_of(run):
    """A run's `(architecture, order, activation)`."""
    return (
        architecture(run.config.model),
        run.config.variant,
        run.config.activation,
    )


def _pair(activation, family="vgg"):
    return (family, "convention", activation), (family, "swap", activation)


#: The variants the claims name.
CONVENTION, SWAP = _pair("tanh")
NWDBN = ("vgg", "nwdbn", "tanh")
SWAP_SHIFTED = ("vgg", "swap", "shifted_tanh")
RELU = _pair("relu")
SOFTSIGN = _pair("softsign")
LECUN_TANH = _pair("lecun_tanh")
MOBILENET = _pair("tanh", "mobilenet")

ORDER_LABELS = {"convention": "Convention", "nwdbn": "NWDBN", "swap": "Swap"}
ACTIVATION_LABELS = {
    "relu": "ReLU",
    "softsign": "softsign",
    "lecun_tanh": "LeCun tanh",
    "shifted_tanh": "shifted tanh",
}


def label(variant):
    """A variant as the claims table names it.

    Tanh and VGG go without saying.

    Args:
        variant: `(architecture, order, activation)`, as `variant_of`
            returns it.

    Returns:
        The label, such as "Swap", "Convention, softsign" or "MobileNet
        Swap".

    Example:
    >>> label(("vgg", "convention", "softsign"))
    'Convention, softsign'
    >>> label(("mobilenet", "swap", "tanh"))
    'MobileNet Swap'
    """
    family, order, activation = variant
    text = ORDER_LABELS[order]
    if family == "mobilenet":
        text = f"MobileNet {text}"
    if activation != "tanh":
        text += f", {ACTIVATION_LABELS.get(activation, activation)}"
    return text


def accuracy(run):
    return final_accuracy(run.summary)


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

    def check(self, by_variant):
        """The claim on runs grouped by `variant_of`: a `ClaimResult`.

        Its verdict is decided by Welch's test of each neighbouring pair,
        uncorrected; `check_claims` corrects them across its claims.
        """
        samples, values = {}, {}
        for variant in self.order:
            numbers = [self.value(r) for r in by_variant.get(variant, [])]
            samples[variant] = [
                v * self.scale for v in numbers if v is not None
            ]
            values[variant] = mean_std(samples[variant])
        digits = 2 if self.scale != 1.0 else 3
        ours = "; ".join(
            f"{label(v)} {mean_std_cell(values[v], digits, missing='no run')}"
            for v in self.order
        )
        if any(v is None for v in values.values()):
            return ClaimResult(
                self, verdicts.Verdict(verdicts.NOT_MEASURED), ours
            )
        tests = [
            verdicts.welch_test(
                samples[a], samples[b], f"Welch's t, {label(b)} − {label(a)}"
            )
            for a, b in itertools.pairwise(self.order)
        ]
        return ClaimResult(self, _all_directional(tests), ours, digits=digits)


def _all_directional(tests):
    """Every test's difference above zero: one `verdicts.Verdict`."""
    return verdicts.all_of([verdicts.directional(t) for t in tests])


def is_bounded(run):
    """Whether a run's activation is bounded.

    `choices.UNBOUNDED_ACTIVATIONS` lists those that are not.

    Args:
        run: a `runs.Run`.

    Returns:
        bool.
    """
    return run.config.activation not in choices.UNBOUNDED_ACTIVATIONS


#: The settings of a `CorrelationClaim`'s strata: the seeds of one setting.
STRATUM_SETTINGS = ("dataset", "model", "activation", "variant")
#: The same without the order: what the orders' contrast adds.
PAIR_STRATUM_SETTINGS = ("dataset", "model", "activation")


@dataclasses.dataclass(frozen=True)
class CorrelationClaim:
    """A claim that `y` rises with `x` over the runs `select` keeps.

    Pooling runs of different activations, models or orders can make a
    correlation out of their differences alone. The verdict is decided by
    the correlation between the seeds of each setting (dataset, model,
    activation, order), their means removed (`significance.pearson` with
    strata); beside it the report gives the pooled correlation and the one
    within (dataset, model, activation), which the Convention/Swap
    contrast makes.

    Attributes:
        text: the claim as the paper makes it.
        paper: what the paper reports, as text.
        x, y: functions `run -> float or None`.
        select: function `run -> bool`, the runs the claim is about.
    """

    text: str
    paper: str
    x: object
    y: object
    select: object

    def correlations(self, runs):
        """Pooled, between-order and seed-level correlations of `runs`.

        Only the runs that `select` keeps and that have both values count.

        Args:
            runs: `runs.Run`s.

        Returns:
            `(pooled, orders, seeds)`: `significance.Correlation`s over all
            the runs, within each (dataset, model, activation) (the
            orders' contrast), and within each (dataset, model,
            activation, order) (seed against seed); `None` with fewer than
            3 runs.
        """
        points = [
            (self.x(run), self.y(run), run) for run in runs if self.select(run)
        ]
        points = [p for p in points if p[0] is not None and p[1] is not None]
        if len(points) < 3:
            return None
        x, y, chosen = zip(*points, strict=True)

        def strata(settings):
            return [
                tuple(
                    run.variant if k == "variant" else getattr(run.config, k)
                    for k in settings
                )
                for run in chosen
            ]

        return (
            pearson(x, y),
            pearson(x, y, strata(PAIR_STRATUM_SETTINGS)),
            pearson(x, y, strata(STRATUM_SETTINGS)),
        )

    def check(self, by_variant):
        """The claim on runs grouped by `variant_of`: a `ClaimResult`."""
        runs = [run for _, group in sorted(by_variant.items()) for run in group]
        found = self.correlations(runs)
        if found is None:
            selected = [run for run in runs if self.select(run)]
            return ClaimResult(
                self,
                verdicts.Verdict(verdicts.NOT_MEASURED),
                f"{len(selected)} run(s)",
            )
        pooled, orders, seeds = found
        ours = (
            f"pooled r = {pooled.r:.2f} (p = {pooled.p:.2g}, n = {pooled.n}); "
            f"between orders, within (dataset, model, activation): r = "
            f"{orders.r:.2f} (p = {orders.p:.2g}); seed against seed, within "
            f"(dataset, model, activation, order): r = {seeds.r:.2f} "
            f"(p = {seeds.p:.2g}, {seeds.df} df)"
        )
        low, high = _r_interval(seeds)
        evidence = verdicts.Evidence(
            "Pearson's r, seed against seed within each setting",
            seeds.r,
            low,
            high,
            seeds.p,
        )
        return ClaimResult(self, verdicts.directional(evidence), ours)


def _r_interval(correlation):
    """Fisher's 95% interval of r, or NaNs with too few degrees of freedom."""
    # Fisher's z has standard error 1 / sqrt(n - 3) for a plain r; a
    # partial r loses one more per stratum, as its df does
    if (
        math.isnan(correlation.r)
        or correlation.df < 2
        or abs(correlation.r) == 1
    ):
        return math.nan, math.nan
    z, se = math.atanh(correlation.r), 1.0 / math.sqrt(correlation.df - 1)
    return math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se)


#: Skewness against accuracy over the runs with a bounded activation (the
#: report's figure of it gives the same correlations).
SKEWNESS_ACCURACY = CorrelationClaim(
    "Accuracy rises with skewness, over the runs with a bounded activation",
    "accuracy and asymmetric saturation highly correlated (section 4.2)",
    model_stat("skewness"),
    accuracy,
    is_bounded,
)


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
    # the bounded-activations study: other activations, another
    # architecture, and the ReLU control (the paper's ICLR version, full
    # VGG16 on CIFAR-100; paper-facts.md)
    Claim(
        "Swap beats Convention with softsign",
        "66.15 vs 71.98 % (CIFAR-100, VGG16)",
        SOFTSIGN,
        accuracy,
        100.0,
    ),
    Claim(
        "Swap beats Convention with LeCun tanh",
        "63.52 vs 71.72 % (CIFAR-100, VGG16)",
        LECUN_TANH,
        accuracy,
        100.0,
    ),
    Claim(
        "Swap beats Convention in MobileNet with tanh",
        "64.47 vs 70.63 % (CIFAR-100, MobileNet)",
        MOBILENET,
        accuracy,
        100.0,
    ),
    Claim(
        "Convention beats Swap with ReLU (the control)",
        "71.79 (Swap) vs 73.68 % (Convention) (CIFAR-100, VGG16)",
        RELU[::-1],
        accuracy,
        100.0,
    ),
    Claim(
        "Swap's mean absolute channel skewness is higher with softsign",
        "higher, by the least of the bounded activations (figure 13)",
        SOFTSIGN,
        model_stat("skewness"),
    ),
    Claim(
        "Swap's mean absolute channel skewness is higher with LeCun tanh",
        "higher (figure 13)",
        LECUN_TANH,
        model_stat("skewness"),
    ),
    Claim(
        "Swap's mean absolute channel skewness is higher in MobileNet",
        "not shown (the thesis predicts higher)",
        MOBILENET,
        model_stat("skewness"),
    ),
    SKEWNESS_ACCURACY,
)


@dataclasses.dataclass
class ClaimResult:
    """A claim checked on runs.

    Attributes:
        claim: the claim checked.
        verdict: a `verdicts.Verdict`: its state and the tests behind it.
        ours: our numbers, as the table shows them.
        digits: decimals of the tests' estimates in the table.
        scale: factor of the tests' estimates in the table.
        ratio: whether the tests' estimates are ratios.
    """

    claim: object
    verdict: object
    ours: str
    digits: int = 3
    scale: float = 1.0
    ratio: bool = False

    @property
    def state(self):
        """`verdicts.HOLDS`, `CONTRADICTED`, `UNRESOLVED` or `NOT_MEASURED`."""
        return self.verdict.state


def correct_family(results, how):
    """`results` with their Welch tests Holm-corrected as one family.

    Every `Evidence` of every result is a member; each result's verdict
    is decided again from the corrected p-values.

    Args:
        results: `ClaimResult`s of directional claims.
        how: the family's name, as the report prints it.

    Returns:
        New `ClaimResult`s, in order.
    """
    members = [
        (i, j)
        for i, r in enumerate(results)
        for j in range(len(r.verdict.tests))
    ]
    adjusted = verdicts.holm(
        [results[i].verdict.tests[j].p for i, j in members]
    )
    tests = {
        member: results[member[0]].verdict.tests[member[1]].corrected(p, how)
        for member, p in zip(members, adjusted, strict=True)
    }
    out = []
    for i, result in enumerate(results):
        if result.state == verdicts.NOT_MEASURED:
            out.append(result)
            continue
        corrected = [tests[(i, j)] for j in range(len(result.verdict.tests))]
        out.append(
            dataclasses.replace(result, verdict=_all_directional(corrected))
        )
    return out


def check_claims(runs, claims=CLAIMS):
    """Checks each claim on the runs.

    The `Claim`s' pairwise tests are Holm-corrected as one family (the
    `CorrelationClaim`s stand apart).

    Args:
        runs: finished `runs.Run`s only: pass no diverged run.
        claims: the `Claim`s and `CorrelationClaim`s to check.

    Returns:
        A list of `ClaimResult`, one per claim.
    """
    by_variant = {}
    for run in runs:
        by_variant.setdefault(variant_of(run), []).append(run)
    results = [claim.check(by_variant) for claim in claims]
    ordered = [i for i, c in enumerate(claims) if isinstance(c, Claim)]
    family = [results[i] for i in ordered]
    size = sum(len(r.verdict.tests) for r in family)
    corrected = correct_family(
        family, f"Holm over the table's {size} pairwise comparisons"
    )
    for i, result in zip(ordered, corrected, strict=True):
        results[i] = result
    return results


def claims_table(results):
    """The claims table, a `document.Table`.

    One row per claim; a claim decided by several tests has one line per
    test in the test, estimate and p cells.
    """
    rows = []
    for result in results:
        tests = result.verdict.tests
        rows.append(
            [
                result.claim.text,
                result.claim.paper,
                result.ours,
                "; ".join(t.name for t in tests) or "—",
                "; ".join(
                    verdicts.estimate_cell(
                        t, result.digits, result.scale, result.ratio
                    )
                    for t in tests
                )
                or "—",
                "; ".join(verdicts.p_cell(t) for t in tests) or "—",
                f"**{result.state}**"
                if result.state == verdicts.CONTRADICTED
                else result.state,
            ]
        )
    return Table(
        [
            "claim",
            "paper",
            "ours (mean ± std over seeds)",
            "test",
            "estimate [95% interval]",
            "p",
            "verdict",
        ],
        rows,
    )


def claims_markdown(results):
    """The claims table as Markdown."""
    return markdown_table(claims_table(results))


__all__ = [
    "CLAIMS",
    "Claim",
    "ClaimResult",
    "CorrelationClaim",
    "SKEWNESS_ACCURACY",
    "check_claims",
    "claims_markdown",
    "claims_table",
    "correct_family",
]
