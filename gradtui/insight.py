"""What a result says, in plain words: the conclusions a user should draw from it.

The original post read whole-layer histograms and concluded that only the last sigmoid
layer's gradients were one-signed. Per-neuron (row) sign coherence shows the truth: every
layer fed by sigmoid outputs has each neuron's incoming gradient one-signed. These notes
put that, and the other stories a result tells, into words for the report and the app.
"""

from __future__ import annotations

from gradtui.fields import ACTIVATIONS
from gradtui.result import ProbeResult


def findings(result: ProbeResult) -> list[str]:
    notes: list[str] = []
    layers = result.layers
    coherent = [layer.index for layer in layers if layer.weight_grad.row_coherence == 1.0]
    one_signed = [layer.index for layer in layers if layer.weight_grad.one_signed]
    mixed_but_coherent = [i for i in coherent if i not in one_signed]
    if coherent:
        notes.append(
            f"Row coherence 100% in layer{_plural(coherent)} {_list(coherent)}: each neuron's "
            "incoming gradients share one sign, so its weights all move one way (zig-zag)."
        )
    if mixed_but_coherent:
        notes.append(
            f"Layer{_plural(mixed_but_coherent)} {_list(mixed_but_coherent)} only look mixed: "
            "neurons differ in sign, but within each neuron the sign is one."
        )
    if one_signed:
        notes.append(
            f"Layer{_plural(one_signed)} {_list(one_signed)}: all weight gradients one sign."
        )
    by_index = {layer.index: layer for layer in layers}
    fed_positive = [
        layer.index
        for layer, previous in zip(layers[1:], layers)
        if ACTIVATIONS[previous.activation_name].non_negative
    ]
    averaged = [i for i in fed_positive if (by_index[i].weight_grad.row_coherence or 0.0) < 1.0]
    if averaged and result.spec.batch_size > 1:
        notes.append(
            f"Batch {result.spec.batch_size}: layer{_plural(averaged)} {_list(averaged)} "
            f"take{'' if len(averaged) > 1 else 's'} only non-negative inputs, yet rows mix "
            "signs where samples' deltas "
            "disagree: the batch averages the restriction away, the activation does not."
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
    saturated = [
        layer.index for layer in layers if (layer.activation_stats.saturated or 0.0) >= 0.5
    ]
    if saturated:
        notes.append(
            f"Layer{_plural(saturated)} {_list(saturated)}: half or more of the units are "
            "saturated; their gradients vanish."
        )
    dead = [layer.index for layer in layers if (layer.activation_stats.dead or 0.0) >= 0.5]
    if dead:
        notes.append(f"Layer{_plural(dead)} {_list(dead)}: half or more of the ReLU outputs are 0.")
    notes.extend(result.warnings)
    return notes


def _plural(items: list[int]) -> str:
    return "s" if len(items) > 1 else ""


def _list(items: list[int]) -> str:
    if len(items) > 2 and items == list(range(items[0], items[-1] + 1)):
        return f"{items[0]}-{items[-1]}"
    return ", ".join(str(i) for i in items)
