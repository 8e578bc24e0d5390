"""What a result says, in plain words: the conclusions a user should draw from it.

The original post (DongHyun Ko, "Problem of non zero-centered activation function",
2023) read whole-layer histograms and concluded that only the last sigmoid layer's
gradients were one-signed. Per-neuron (row) sign coherence shows the truth: every layer
fed by sigmoid outputs has each neuron's incoming gradient one-signed. These notes put
that, and the other stories a result tells, into words for the report and the app.

Each view has its own notes, about the tensor it names. Causes are read from measured
figures, not from activation names, so they hold for any network: a weight is "fed by
non-negative inputs" when every entry of its Linear or Conv module's input measured >= 0,
and such a weight's rows mix signs only where its gradient sums over several samples or
positions.
"""

from __future__ import annotations

import math

from gradtui.result import Entry, ProbeResult

VANISHING_FACTOR = 1e3
"""A gradient norm that falls (or grows) by more than this across the layers is told."""

MOST_NAMES = 3
"""Names listed in one note before the rest are counted."""


def findings(result: ProbeResult, view: str = "weight") -> list[str]:
    """The notes for `view`: weight, bias, activation or flow."""
    notes = _VIEWS.get(view, _weight_notes)(result)
    return notes + list(result.warnings)


def _weight_notes(result: ProbeResult) -> list[str]:
    notes: list[str] = []
    weights = result.weights
    coherent = [w for w in weights if w.stats.row_coherence == 1.0]
    one_signed = [w for w in weights if w.stats.one_signed]
    mixed_but_coherent = [w for w in coherent if not w.stats.one_signed]
    if coherent:
        notes.append(
            f"Row coherence 100% in {_which(coherent)}: each neuron's incoming gradients "
            "share one sign, so its weights all move one way (zig-zag)."
        )
    caused = [w for w in coherent if w.input_non_negative == 1.0]
    if caused:
        takes = "take" if len(caused) > 1 else "takes"
        notes.append(
            f"{_start(_which(caused))} {takes} only inputs >= 0 (in>=0 100%): row j of "
            "dL/dW is delta_j times those inputs, so it has delta_j's sign."
        )
    if mixed_but_coherent:
        notes.append(
            f"{_start(_which(mixed_but_coherent))} only "
            f"look{'' if len(mixed_but_coherent) > 1 else 's'} mixed: neurons differ in "
            "sign, but within each neuron the sign is one."
        )
    if one_signed:
        notes.append(f"{_start(_which(one_signed))}: all weight gradients one sign.")
    fed = [w for w in weights if w.input_non_negative == 1.0]
    averaged = [
        w for w in fed if (w.stats.row_coherence or 0.0) < 1.0 and (w.summed_over or 0) > 1
    ]
    if averaged:
        notes.append(_averaged_note(result, averaged))
    if (
        len(weights) > 1
        and not fed
        and all((w.stats.row_coherence or 0.0) < 0.05 for w in weights[1:])
    ):
        if result.spec.builtin:
            notes.append(
                "No layer's rows are one-signed: the activation's outputs have both signs, "
                "so a neuron's weights can move in different directions in one step."
            )
        else:
            notes.append(
                "No weight's rows are one-signed: no Linear or Conv input is all "
                "non-negative (in>=0 under 100%), so a neuron's weights can move in "
                "different directions in one step."
            )
    return notes + _health_notes(result)


def _averaged_note(result: ProbeResult, averaged: list[Entry]) -> str:
    """Why weights fed only non-negative inputs still have rows of both signs: each
    gradient entry sums delta x input over samples (and positions), whose deltas differ."""
    takes = "take" if len(averaged) > 1 else "takes"
    batch = result.spec.batch_size
    if result.spec.builtin:
        return (
            f"Batch {batch}: {_which(averaged)} {takes} only non-negative inputs, yet rows "
            "mix signs where samples' deltas disagree: the batch averages the restriction "
            "away, the activation does not."
        )
    sums = sorted({w.summed_over or 0 for w in averaged})
    over = f"{sums[0]}" if len(sums) == 1 else f"{sums[0]} to {sums[-1]}"
    return (
        f"{_start(_which(averaged))} {takes} only non-negative inputs, yet rows mix signs: "
        f"each gradient entry sums delta x input over {over} samples and positions "
        "(batch, sequence, space), whose deltas disagree in sign. Non-negative inputs make "
        "a row one-signed only for one sample at one position."
    )


def _bias_notes(result: ProbeResult) -> list[str]:
    vectors = result.vectors
    if not vectors:
        if result.spec.builtin:
            return ["The layers have no bias (--no-bias): nothing to show in this view."]
        return ["No 1-D parameter (bias, norm scale) received a gradient."]
    notes = []
    if result.spec.builtin and result.spec.batch_size == 1:
        notes.append(
            "A bias gradient is the neuron's delta (dL/dz): row j of dL/dW is delta_j times "
            "the layer's input, so these signs are the rows' signs where inputs are positive."
        )
    one_signed = [v for v in vectors if v.stats.one_signed]
    if one_signed:
        what = "every neuron's bias gradient" if result.spec.builtin else "every entry"
        notes.append(f"{_start(_which(one_signed))}: {what} has one sign.")
    zero = [v for v in vectors if _all_zero(v.stats)]
    if zero:
        what = "every bias gradient" if result.spec.builtin else "every gradient entry"
        notes.append(f"{_start(_which(zero))}: {what} is exactly 0.")
    return notes


def _activation_notes(result: ProbeResult) -> list[str]:
    notes = []
    non_negative = [o for o in result.outputs if o.stats.has_finite and o.stats.neg == 0]
    if non_negative:
        fed = [w for w in result.weights if w.input_non_negative == 1.0]
        takes = "take" if len(fed) > 1 else "takes"
        then = f": {_which(fed)} {takes} only non-negative inputs" if fed else ""
        notes.append(f"{_start(_which(non_negative))} output no negative value{then}.")
    return notes + _unit_notes(result.outputs)


def _flow_notes(result: ProbeResult) -> list[str]:
    return _health_notes(result) or ["Gradient norms stay within 1e3 of each other."]


def _health_notes(result: ProbeResult) -> list[str]:
    """Vanishing or exploding gradients, weights no gradient reaches, flat units."""
    notes = []
    weights = result.weights
    zero = [w for w in weights if _all_zero(w.stats)]
    if zero:
        notes.append(
            f"No gradient reaches {_which(zero)}: every weight gradient is exactly 0, so "
            "those weights do not learn."
        )
    measured = [
        (position, w)
        for position, w in enumerate(weights)
        if math.isfinite(w.stats.norm) and w.stats.norm > 0 and w.stats.nonfinite == 0
    ]
    if len(measured) > 1:
        small = min(measured, key=lambda pair: pair[1].stats.norm)
        large = max(measured, key=lambda pair: pair[1].stats.norm)
        factor = large[1].stats.norm / small[1].stats.norm
        if factor > VANISHING_FACTOR:
            what = "vanish toward the input" if small[0] < large[0] else "grow toward the input"
            notes.append(
                f"Gradients {what}: |g| is {_times(factor)} smaller in {_which([small[1]])} "
                f"({small[1].stats.norm:.2g}) than in {_which([large[1]])} "
                f"({large[1].stats.norm:.2g})."
            )
    return notes + _unit_notes(result.outputs)


def _unit_notes(outputs: list[Entry]) -> list[str]:
    notes = []
    saturated = [o for o in outputs if (o.stats.saturated or 0.0) >= 0.5]
    if saturated:
        notes.append(
            f"{_start(_which(saturated))}: half or more of the units are saturated; "
            "their gradients vanish."
        )
    dead = [o for o in outputs if (o.stats.dead or 0.0) >= 0.5]
    if dead:
        notes.append(f"{_start(_which(dead))}: half or more of the ReLU outputs are 0.")
    return notes


_VIEWS = {
    "weight": _weight_notes,
    "bias": _bias_notes,
    "activation": _activation_notes,
    "flow": _flow_notes,
}


def _all_zero(stats) -> bool:
    return stats is not None and stats.numel > 0 and stats.zero == 1.0


def _times(factor: float) -> str:
    """`2.0e12x`, `1.0e5x`, `3400x`: a factor in a few characters."""
    if factor < 1e5:
        return f"{factor:.0f}x"
    mantissa, exponent = f"{factor:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}x"  # e5, not Python's e+05


def _which(entries: list[Entry]) -> str:
    """The built-in MLP's layers by number (`layers 2-4`), else the names (at most
    MOST_NAMES, then how many more)."""
    labels = list(dict.fromkeys(entry.label for entry in entries))
    if all(label.isdigit() for label in labels):
        return _layers([int(label) for label in labels])
    shown = ", ".join(labels[:MOST_NAMES])
    more = len(labels) - MOST_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def _start(text: str) -> str:
    """`text` at the start of a sentence: `Layers 2, 3`; a name keeps its case."""
    return text[:1].upper() + text[1:] if text.startswith("layer") else text


def _layers(items: list[int]) -> str:
    """`layer 3`, `layers 2, 3`, `layers 2-4`."""
    word = "layers" if len(items) > 1 else "layer"
    if len(items) > 2 and items == list(range(items[0], items[-1] + 1)):
        return f"{word} {items[0]}-{items[-1]}"
    return f"{word} {', '.join(str(i) for i in items)}"


def run_findings(first_nonfinite: tuple[int, str] | None) -> list[str]:
    """What a recorded run (gradtui.watch) says, in words: where it first went non-finite
    (RunReader.first_nonfinite: a parameter's name, or 'loss')."""
    if first_nonfinite is None:
        return []
    return ["first " + nonfinite_text(*first_nonfinite)]


def nonfinite_text(step: int, name: str) -> str:
    """`non-finite gradient at step 412 in encoder.layers.3.linear2.weight`, or
    `non-finite loss at step 412` where `name` is 'loss'."""
    if name == "loss":
        return f"non-finite loss at step {step}"
    return f"non-finite gradient at step {step} in {name}"
