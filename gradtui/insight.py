"""What a result says, in plain words: the conclusions a user should draw from it.

The original post (DongHyun Ko, "Problem of non zero-centered activation function",
2023) read whole-layer histograms and concluded that only the last sigmoid layer's
gradients were one-signed. Per-neuron (row) sign coherence shows the truth: every layer
fed by sigmoid outputs has each neuron's incoming gradient one-signed. These notes put
that, and the other stories a result tells, into words for the report and the app.

Each view has its own notes, about the tensor it names. Causes are read from measured
figures, not from activation names: a layer is "fed by non-negative inputs" when the
previous layer's outputs measured no negative entry.
"""

from __future__ import annotations

import math

from gradtui.result import LayerResult, ProbeResult

VANISHING_FACTOR = 1e3
"""A gradient norm that falls (or grows) by more than this across the layers is told."""


def findings(result: ProbeResult, view: str = "weight") -> list[str]:
    """The notes for `view`: weight, bias, activation or flow."""
    notes = _VIEWS.get(view, _weight_notes)(result)
    return notes + list(result.warnings)


def _weight_notes(result: ProbeResult) -> list[str]:
    notes: list[str] = []
    layers = result.layers
    coherent = [layer.index for layer in layers if layer.weight_grad.row_coherence == 1.0]
    one_signed = [layer.index for layer in layers if layer.weight_grad.one_signed]
    mixed_but_coherent = [i for i in coherent if i not in one_signed]
    if coherent:
        notes.append(
            f"Row coherence 100% in {_layers(coherent)}: each neuron's incoming gradients "
            "share one sign, so its weights all move one way (zig-zag)."
        )
    if mixed_but_coherent:
        notes.append(
            f"{_layers(mixed_but_coherent).capitalize()} only "
            f"look{'' if len(mixed_but_coherent) > 1 else 's'} mixed: neurons differ in "
            "sign, but within each neuron the sign is one."
        )
    if one_signed:
        notes.append(f"{_layers(one_signed).capitalize()}: all weight gradients one sign.")
    fed_positive = _fed_non_negative(layers)
    averaged = [
        layer.index for layer in fed_positive if (layer.weight_grad.row_coherence or 0.0) < 1.0
    ]
    if averaged and result.spec.batch_size > 1:
        notes.append(
            f"Batch {result.spec.batch_size}: {_layers(averaged)} "
            f"take{'' if len(averaged) > 1 else 's'} only non-negative inputs, yet rows mix "
            "signs where samples' deltas disagree: the batch averages the restriction away, "
            "the activation does not."
        )
    if (
        len(layers) > 1
        and not fed_positive
        and all((layer.weight_grad.row_coherence or 0.0) < 0.05 for layer in layers[1:])
    ):
        notes.append(
            "No layer's rows are one-signed: the activation's outputs have both signs, so a "
            "neuron's weights can move in different directions in one step."
        )
    return notes + _health_notes(result)


def _bias_notes(result: ProbeResult) -> list[str]:
    layers = [layer for layer in result.layers if layer.bias_grad is not None]
    if not layers:
        return ["The layers have no bias (--no-bias): nothing to show in this view."]
    notes = []
    if result.spec.batch_size == 1:
        notes.append(
            "A bias gradient is the neuron's delta (dL/dz): row j of dL/dW is delta_j times "
            "the layer's input, so these signs are the rows' signs where inputs are positive."
        )
    one_signed = [layer.index for layer in layers if layer.bias_grad.one_signed]
    if one_signed:
        notes.append(
            f"{_layers(one_signed).capitalize()}: every neuron's bias gradient has one sign."
        )
    zero = [layer.index for layer in layers if _all_zero(layer.bias_grad)]
    if zero:
        notes.append(f"{_layers(zero).capitalize()}: every bias gradient is exactly 0.")
    return notes


def _activation_notes(result: ProbeResult) -> list[str]:
    notes = []
    layers = result.layers
    non_negative = [
        layer.index
        for layer in layers
        if layer.activation_stats.has_finite and layer.activation_stats.neg == 0
    ]
    if non_negative:
        fed = [i + 1 for i in non_negative if i < len(layers)]
        takes = "take" if len(fed) > 1 else "takes"
        then = f": {_layers(fed)} {takes} only non-negative inputs" if fed else ""
        notes.append(f"{_layers(non_negative).capitalize()} output no negative value{then}.")
    return notes + _unit_notes(layers)


def _flow_notes(result: ProbeResult) -> list[str]:
    return _health_notes(result) or ["Gradient norms stay within 1e3 of each other."]


def _health_notes(result: ProbeResult) -> list[str]:
    """Vanishing or exploding gradients, layers no gradient reaches, flat units."""
    notes = []
    layers = result.layers
    zero = [layer.index for layer in layers if _all_zero(layer.weight_grad)]
    if zero:
        notes.append(
            f"No gradient reaches {_layers(zero)}: every weight gradient is exactly 0, so "
            "those weights do not learn."
        )
    measured = [
        layer
        for layer in layers
        if math.isfinite(layer.weight_grad.norm)
        and layer.weight_grad.norm > 0
        and layer.weight_grad.nonfinite == 0
    ]
    if len(measured) > 1:
        small = min(measured, key=lambda layer: layer.weight_grad.norm)
        large = max(measured, key=lambda layer: layer.weight_grad.norm)
        factor = large.weight_grad.norm / small.weight_grad.norm
        if factor > VANISHING_FACTOR:
            what = (
                "vanish toward the input" if small.index < large.index else "grow toward the input"
            )
            notes.append(
                f"Gradients {what}: |g| is {_times(factor)} smaller in layer {small.index} "
                f"({small.weight_grad.norm:.2g}) than in layer {large.index} "
                f"({large.weight_grad.norm:.2g})."
            )
    return notes + _unit_notes(layers)


def _unit_notes(layers: list[LayerResult]) -> list[str]:
    notes = []
    saturated = [
        layer.index for layer in layers if (layer.activation_stats.saturated or 0.0) >= 0.5
    ]
    if saturated:
        notes.append(
            f"{_layers(saturated).capitalize()}: half or more of the units are saturated; "
            "their gradients vanish."
        )
    dead = [layer.index for layer in layers if (layer.activation_stats.dead or 0.0) >= 0.5]
    if dead:
        notes.append(f"{_layers(dead).capitalize()}: half or more of the ReLU outputs are 0.")
    return notes


_VIEWS = {
    "weight": _weight_notes,
    "bias": _bias_notes,
    "activation": _activation_notes,
    "flow": _flow_notes,
}


def _fed_non_negative(layers: list[LayerResult]) -> list[LayerResult]:
    """The layers whose inputs, the previous layer's outputs, measured no negative entry."""
    return [
        layer
        for layer, previous in zip(layers[1:], layers)
        if previous.activation_stats.has_finite and previous.activation_stats.neg == 0
    ]


def _all_zero(stats) -> bool:
    return stats is not None and stats.numel > 0 and stats.zero == 1.0


def _times(factor: float) -> str:
    """`2.0e12x`, `3400x`: a factor in a few characters."""
    return f"{factor:.0f}x" if factor < 1e5 else f"{factor:.1e}x".replace("e+", "e")


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
