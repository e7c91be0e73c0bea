"""The paper's claims, checked one by one against a set of runs.

Most claims compare model variants by a per-run value averaged over
seeds. A variant is (architecture, order, activation), with NWDBN told
apart from Convention; "vgg" is VGG16_11. Such a claim
holds when the means are ordered as the paper says; `margin` gives the
smallest gap between neighbours in units of the larger of their standard
deviations, so a gap within the noise of the seeds is visible as such. A
`CorrelationClaim` instead holds when two per-run values rise together.
"""

import dataclasses
import itertools
import math

from bnorder_tf import choices
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
        """The claim on runs grouped by `variant_of`: a `ClaimResult`."""
        values = {}
        for variant in self.order:
            numbers = [self.value(r) for r in by_variant.get(variant, [])]
            values[variant] = mean_std(
                [v * self.scale for v in numbers if v is not None]
            )
        digits = 2 if self.scale != 1.0 else 3
        ours = "; ".join(
            f"{label(v)} {mean_std_cell(values[v], digits, missing='no run')}"
            for v in self.order
        )
        if any(v is None for v in values.values()):
            return ClaimResult(self, None, ours, values=values)
        means = [values[v][0] for v in self.order]
        stds = [values[v][1] for v in self.order]
        margins = [
            (b - a) / max(sa, sb) if max(sa, sb) > 0 else math.inf
            for (a, b), (sa, sb) in zip(
                itertools.pairwise(means), itertools.pairwise(stds), strict=True
            )
        ]
        return ClaimResult(
            self,
            all(a < b for a, b in itertools.pairwise(means)),
            ours,
            "within the seeds' noise" if min(margins) < 1 else "",
            values=values,
            margin=min(margins),
        )


def is_bounded(run):
    """Whether a run's activation is bounded.

    `choices.UNBOUNDED_ACTIVATIONS` lists those that are not.

    Args:
        run: a `runs.Run`.

    Returns:
        bool.
    """
    return run.config.activation not in choices.UNBOUNDED_ACTIVATIONS


#: The settings within which `CorrelationClaim` also correlates.
STRATUM_SETTINGS = ("dataset", "model", "activation")


@dataclasses.dataclass(frozen=True)
class CorrelationClaim:
    """A claim that `y` rises with `x` over the runs `select` keeps.

    Pooling runs of different activations or models can make a
    correlation out of their differences alone, so the claim also gives
    the correlation within each (dataset, model, activation), their means
    removed (`significance.pearson` with strata).

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
        """Pooled and within-setting correlations over the selected `runs`.

        Only the runs that `select` keeps and that have both values count.

        Args:
            runs: `runs.Run`s.

        Returns:
            `(pooled, within, settings)`: two `significance.Correlation`s
            and the number of (dataset, model, activation) settings;
            `None` with fewer than 3 runs.
        """
        points = [
            (
                self.x(run),
                self.y(run),
                tuple(getattr(run.config, k) for k in STRATUM_SETTINGS),
            )
            for run in runs
            if self.select(run)
        ]
        points = [p for p in points if p[0] is not None and p[1] is not None]
        if len(points) < 3:
            return None
        x, y, strata = zip(*points, strict=True)
        return pearson(x, y), pearson(x, y, strata), len(set(strata))

    def check(self, by_variant):
        """The claim on runs grouped by `variant_of`: a `ClaimResult`."""
        runs = [run for _, group in sorted(by_variant.items()) for run in group]
        found = self.correlations(runs)
        if found is None:
            selected = [run for run in runs if self.select(run)]
            return ClaimResult(self, None, f"{len(selected)} run(s)")
        pooled, within, settings = found
        ours = f"r = {pooled.r:.2f} (p = {pooled.p:.2g}, n = {pooled.n})"
        if settings > 1:
            ours += (
                f"; within each (dataset, model, activation), {settings} of "
                f"them: r = {within.r:.2f} (p = {within.p:.2g})"
            )
        if math.isnan(pooled.r):
            return ClaimResult(self, None, ours)
        caveats = []
        if not pooled.p < 0.05:
            caveats.append("not significant at p < 0.05")
        if settings > 1 and not within.r > 0:
            caveats.append("not within activations: pooling makes it")
        elif settings > 1 and not within.p < 0.05:
            caveats.append("within activations not significant at p < 0.05")
        return ClaimResult(self, pooled.r > 0, ours, "; ".join(caveats))


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
        "Swap does not beat Convention with ReLU",
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
        claim: the `Claim` or `CorrelationClaim`.
        holds: True, False, or `None` when it could not be checked (a
            variant has no run).
        ours: our numbers, as the table shows them.
        caveat: why a verdict is weak ("within the seeds' noise"), or "".
        values: for a `Claim`, per variant `(mean, std, seeds)` or `None`.
        margin: for a `Claim`, the smallest gap between neighbouring means
            divided by the larger of their standard deviations (`inf` with
            one seed).
    """

    claim: object
    holds: object
    ours: str
    caveat: str = ""
    values: dict = None
    margin: float = math.nan


def check_claims(runs, claims=CLAIMS):
    """Checks each claim on the runs.

    Args:
        runs: finished `runs.Run`s only: pass no diverged run.
        claims: the `Claim`s and `CorrelationClaim`s to check.

    Returns:
        A list of `ClaimResult`, one per claim.
    """
    by_variant = {}
    for run in runs:
        by_variant.setdefault(variant_of(run), []).append(run)
    return [claim.check(by_variant) for claim in claims]


def claims_table(results):
    """The claims table, a `document.Table`."""
    rows = []
    for result in results:
        if result.holds is None:
            verdict = "not measured"
        elif result.holds:
            verdict = f"yes ({result.caveat})" if result.caveat else "yes"
        else:
            verdict = "**no**"
        rows.append(
            [result.claim.text, result.claim.paper, result.ours, verdict]
        )
    return Table(
        ["claim", "paper", "ours (mean ± std over seeds)", "holds"], rows
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
]
