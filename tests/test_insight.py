"""The findings under the table say what the figures show, and nothing they do not."""

from __future__ import annotations

import math

from builders import mlp_result

from gradtui.insight import _all_zero, _layers, findings
from gradtui.lab import run_probe
from gradtui.result import Histogram, LayerResult, ProbeResult, TensorStats
from gradtui.spec import Spec, preset


def notes_for(spec: Spec) -> str:
    return "\n".join(findings(run_probe(spec.replace(device="cpu"))))


def test_sigmoid_names_the_coherent_layers_and_the_hidden_ones():
    notes = notes_for(preset("seed-v2.0"))
    assert "Row coherence 100% in layers 2-4" in notes
    assert "Layers 2, 3 only look mixed" in notes
    assert "Layer 4: all weight gradients one sign." in notes
    assert "No layer's rows are one-signed" not in notes


def test_tanh_says_no_row_is_one_signed():
    notes = notes_for(preset("seed-v3.0"))
    assert "No layer's rows are one-signed: the activation's outputs have both signs" in notes
    assert "Row coherence 100%" not in notes


def test_relu_over_a_batch_blames_the_batch_not_the_inputs():
    notes = notes_for(
        Spec(
            sizes=(100, 100, 100),
            activation="relu",
            final_activation="none",
            loss="mse",
            batch_size=8,
        )
    )
    assert "Batch 8: layer 2 takes only non-negative inputs" in notes
    assert "both signs" not in notes


def test_a_batch_note_only_where_coherence_fell():
    # NOTES.md's case: rows one-signed 84% / 99% / 100% in layers 2-4 at batch 64.
    spec = Spec(sizes=(100,) * 5, final_activation="none", loss="mse", batch_size=64)
    notes = notes_for(spec)
    assert "Row coherence 100% in layer 4:" in notes
    assert "Batch 64: layers 2, 3 take only non-negative inputs" in notes
    # Sum loss with a sigmoid output keeps every row one-signed at batch 32: no batch note.
    assert "Batch" not in notes_for(preset("seed-v2.0").replace(batch_size=32))


def test_saturation_and_non_finite_values_are_reported():
    saturated = notes_for(Spec(sizes=(10, 10, 10), activation="tanh", init="normal:10"))
    assert "half or more of the units are saturated" in saturated
    broken = notes_for(Spec(sizes=(4, 4, 2), init="normal:1e30", activation="identity"))
    assert "non-finite" in broken


# -- the rules one by one, on hand-built results ------------------------------------------


def figures(
    *,
    numel: int = 4,
    pos: float = 0.5,
    neg: float = 0.5,
    zero: float = 0.0,
    nonfinite: int = 0,
    norm: float = 1.0,
    row_coherence: float | None = 0.0,
    saturated: float | None = None,
    dead: float | None = None,
) -> TensorStats:
    return TensorStats(
        numel=numel,
        pos=pos,
        neg=neg,
        zero=zero,
        nonfinite=nonfinite,
        mean=0.0,
        std=1.0,
        min=-1.0,
        max=1.0,
        norm=norm,
        hist=Histogram(edges=[-1.0, 1.0], counts=[numel - nonfinite]),
        row_coherence=row_coherence,
        saturated=saturated,
        dead=dead,
    )


MIXED = figures()
POSITIVE = figures(pos=1.0, neg=0.0)


def layer(index: int, weight=MIXED, activation=MIXED, bias=MIXED) -> LayerResult:
    return LayerResult(
        index=index,
        in_features=2,
        out_features=2,
        activation_name="tanh",
        weight_grad=weight,
        bias_grad=bias,
        activation_stats=activation,
        weight_norm=1.0,
    )


def result(layers: list[LayerResult], batch_size: int = 1, warnings=()) -> ProbeResult:
    spec = Spec(sizes=(2,) * (len(layers) + 1), batch_size=batch_size)
    return mlp_result(layers, spec, warnings=list(warnings))


NO_ROW = (
    "No layer's rows are one-signed: the activation's outputs have both signs, so a "
    "neuron's weights can move in different directions in one step."
)


def test_layer_lists_read_as_words():
    assert _layers([3]) == "layer 3"
    assert _layers([2, 3]) == "layers 2, 3"
    assert _layers([2, 3, 4]) == "layers 2-4"
    assert _layers([1, 3, 4]) == "layers 1, 3, 4"
    assert _layers([2, 3, 5]) == "layers 2, 3, 5"


def test_all_zero_needs_an_entry_and_every_entry_zero():
    assert _all_zero(figures(zero=1.0, pos=0.0, neg=0.0))
    assert _all_zero(figures(numel=1, zero=1.0, pos=0.0, neg=0.0))
    assert not _all_zero(figures(zero=0.75, pos=0.25, neg=0.0))
    assert not _all_zero(figures(numel=0, zero=1.0, pos=0.0, neg=0.0))
    assert not _all_zero(None)


def test_weight_notes_word_for_word():
    coherent = figures(row_coherence=1.0)
    one_signed = figures(pos=1.0, neg=0.0, row_coherence=1.0)
    res = result(
        [
            layer(1),
            layer(2, weight=coherent),
            layer(3, weight=coherent, activation=POSITIVE),
            layer(4, weight=one_signed),
        ],
        warnings=["a warning"],
    )
    assert findings(res) == [
        "Row coherence 100% in layers 2-4: each neuron's incoming gradients share one sign, "
        "so its weights all move one way (zig-zag).",
        # layer 3's outputs are all positive: layer 4 takes only inputs >= 0
        "Layer 4 takes only inputs >= 0 (in>=0 100%): row j of dL/dW is delta_j times those "
        "inputs, so it has delta_j's sign.",
        "Layers 2, 3 only look mixed: neurons differ in sign, but within each neuron the "
        "sign is one.",
        "Layer 4: all weight gradients one sign.",
        "a warning",
    ]
    # An unknown view falls back to the weight view.
    assert findings(res, "no such view") == findings(res, "weight")


def test_the_batch_note_counts_layers_and_needs_a_batch():
    fed = [layer(1, activation=POSITIVE), layer(2, activation=POSITIVE), layer(3)]
    assert findings(result(fed, batch_size=2)) == [
        "Batch 2: layers 2, 3 take only non-negative inputs, yet rows mix signs where "
        "samples' deltas disagree: the batch averages the restriction away, the activation "
        "does not."
    ]
    assert findings(result(fed, batch_size=1)) == []
    # One fed layer: "takes"; a layer without any row figure (None) counts as averaged.
    one = [layer(1, activation=POSITIVE), layer(2, weight=figures(row_coherence=None))]
    assert findings(result(one, batch_size=3)) == [
        "Batch 3: layer 2 takes only non-negative inputs, yet rows mix signs where "
        "samples' deltas disagree: the batch averages the restriction away, the activation "
        "does not."
    ]
    # A layer fed by an all-non-finite output is not known to be fed non-negative inputs.
    nan_fed = [layer(1, activation=figures(numel=4, nonfinite=4, pos=0.0, neg=0.0)), layer(2)]
    assert findings(result(nan_fed, batch_size=2)) == [NO_ROW]


def test_no_row_one_signed_only_below_five_percent_after_the_first_layer():
    assert findings(result([layer(1), layer(2)])) == [NO_ROW]
    assert findings(result([layer(1), layer(2, weight=figures(row_coherence=None))])) == [NO_ROW]
    assert findings(result([layer(1), layer(2, weight=figures(row_coherence=0.05))])) == []
    # The first layer's rows do not count (its inputs are the data), nor does a lone layer.
    assert findings(result([layer(1, weight=figures(row_coherence=0.5)), layer(2)])) == [NO_ROW]
    assert findings(result([layer(1)])) == []


def test_bias_notes_word_for_word():
    zero = figures(zero=1.0, pos=0.0, neg=0.0)
    layers = [layer(1, bias=POSITIVE), layer(2, bias=zero), layer(3, bias=POSITIVE)]
    delta = (
        "A bias gradient is the neuron's delta (dL/dz): row j of dL/dW is delta_j times the "
        "layer's input, so these signs are the rows' signs where inputs are positive."
    )
    assert findings(result(layers), "bias") == [
        delta,
        "Layers 1, 3: every neuron's bias gradient has one sign.",
        "Layer 2: every bias gradient is exactly 0.",
    ]
    assert findings(result(layers, batch_size=2), "bias") == [
        "Layers 1, 3: every neuron's bias gradient has one sign.",
        "Layer 2: every bias gradient is exactly 0.",
    ]
    unbiased = [layer(1, bias=None), layer(2, bias=None)]
    assert findings(result(unbiased), "bias") == [
        "The layers have no bias (--no-bias): nothing to show in this view."
    ]
    # Layers without a bias are left out of the notes of those with one.
    assert findings(result([layer(1, bias=None), layer(2, bias=POSITIVE)], 2), "bias") == [
        "Layer 2: every neuron's bias gradient has one sign."
    ]


def test_activation_notes_name_the_fed_layers_but_not_past_the_last():
    layers = [layer(1, activation=POSITIVE), layer(2), layer(3, activation=POSITIVE)]
    assert findings(result(layers), "activation") == [
        "Layers 1, 3 output no negative value: layer 2 takes only non-negative inputs."
    ]
    assert findings(result([layer(1), layer(2, activation=POSITIVE)]), "activation") == [
        "Layer 2 output no negative value."
    ]
    two = [layer(1, activation=POSITIVE), layer(2, activation=POSITIVE), layer(3)]
    assert findings(result(two), "activation") == [
        "Layers 1, 2 output no negative value: layers 2, 3 take only non-negative inputs."
    ]
    nan = figures(numel=4, nonfinite=4, pos=0.0, neg=0.0)
    assert findings(result([layer(1, activation=nan), layer(2)]), "activation") == []
    assert findings(result([layer(1), layer(2)]), "activation") == []


def test_unit_notes_from_half_the_units_on():
    half = figures(saturated=0.5, dead=0.5)
    under = figures(saturated=0.49, dead=0.49)
    layers = [layer(1, activation=half), layer(2, activation=under), layer(3)]
    units = [
        "Layer 1: half or more of the units are saturated; their gradients vanish.",
        "Layer 1: half or more of the ReLU outputs are 0.",
    ]
    assert findings(result(layers), "activation") == units
    assert findings(result(layers), "flow") == units


def test_flow_notes_tell_vanishing_and_growing_gradients_past_a_factor_of_1e3():
    steady = "Gradient norms stay within 1e3 of each other."
    small, large = figures(norm=1e-3), figures(norm=2.0)
    assert findings(result([layer(1, weight=small), layer(2, weight=large)]), "flow") == [
        "Gradients vanish toward the input: |g| is 2000x smaller in layer 1 (0.001) than in "
        "layer 2 (2)."
    ]
    assert findings(result([layer(1, weight=large), layer(2, weight=small)]), "flow") == [
        "Gradients grow toward the input: |g| is 2000x smaller in layer 2 (0.001) than in "
        "layer 1 (2)."
    ]
    # The smallest and the largest, wherever they are.
    three = [layer(1, weight=figures(norm=1.0)), layer(2, weight=small), layer(3, weight=large)]
    assert findings(result(three), "flow") == [
        "Gradients vanish toward the input: |g| is 2000x smaller in layer 2 (0.001) than in "
        "layer 3 (2)."
    ]
    exactly = [layer(1, weight=figures(norm=1e-3)), layer(2, weight=figures(norm=1.0))]
    assert findings(result(exactly), "flow") == [steady]
    # Norms that are 0, not finite, or of a tensor with non-finite entries are not compared.
    for odd in (
        figures(norm=0.0, zero=0.5, pos=0.25, neg=0.25),
        figures(norm=math.inf),
        figures(norm=1e-9, nonfinite=1),
    ):
        assert findings(result([layer(1, weight=odd), layer(2, weight=large)]), "flow") == [steady]
    assert findings(result([layer(1, weight=small)]), "flow") == [steady]


def test_a_layer_no_gradient_reaches_is_named_in_the_weight_and_flow_views():
    zero = figures(zero=1.0, pos=0.0, neg=0.0, norm=0.0)
    res = result([layer(1, weight=zero), layer(2, weight=zero), layer(3)])
    note = (
        "No gradient reaches layers 1, 2: every weight gradient is exactly 0, so those "
        "weights do not learn."
    )
    assert findings(res, "flow") == [note]
    assert note in findings(res)


def test_a_factor_is_written_whole_below_1e5_and_in_exponent_form_from_1e5():
    from gradtui.insight import _times

    assert _times(99999.4) == "99999x"
    assert _times(1e5) == "1.0e5x"
    assert _times(100000.5) == "1.0e5x"
    assert _times(2.04e12) == "2.0e12x"


def _module_findings(tmp_path, layers: str, batch: int, loss: str = "") -> list[str]:
    path = tmp_path / "net.py"
    path.write_text(
        "import torch\nfrom torch import nn\n\n\ndef model():\n"
        f"    return nn.Sequential({layers})\n\n\ndef batch():\n"
        f"    return torch.randn({batch}, 4)\n" + loss
    )
    return findings(run_probe(Spec(model=str(path), device="cpu")))


def test_notes_name_one_layer_in_the_singular_and_several_in_the_plural():
    """Batch 1 after sigmoids: one fed layer `takes`, two `take`; one mixed-looking layer
    `looks`, two `look` (the built-in MLP of 3 and 4 layers)."""
    two = findings(run_probe(preset("seed-v2.0").replace(device="cpu", sizes=(100,) * 3)))
    three = findings(run_probe(preset("seed-v2.0").replace(device="cpu", sizes=(100,) * 4)))
    assert "Layer 2 takes only inputs >= 0 (in>=0 100%): row j of dL/dW is delta_j " in "\n".join(
        two
    )
    assert "Layers 2, 3 take only inputs >= 0" in "\n".join(three)
    assert "Layer 2 only looks mixed: neurons differ in sign" in "\n".join(three)
    four = findings(run_probe(preset("seed-v2.0").replace(device="cpu")))
    assert "Layers 2, 3 only look mixed: neurons differ in sign" in "\n".join(four)


def test_a_users_weights_are_named_up_to_three_then_counted(tmp_path):
    """A module's weights by name: three named in full, a fourth as `and 1 more`."""
    linear = "nn.Linear(5, 5), nn.Sigmoid(), "
    three = _module_findings(
        tmp_path, "nn.Linear(4, 5), nn.Sigmoid(), " + linear * 2 + "nn.Linear(5, 3)", 1
    )
    assert three[0].startswith("Row coherence 100% in 2.weight, 4.weight, 6.weight: each")
    four = _module_findings(
        tmp_path, "nn.Linear(4, 5), nn.Sigmoid(), " + linear * 3 + "nn.Linear(5, 3)", 1
    )
    assert four[0].startswith("Row coherence 100% in 2.weight, 4.weight, 6.weight and 1 more:")


def test_a_users_model_with_no_input_all_non_negative_is_told_so(tmp_path):
    notes = _module_findings(
        tmp_path,
        "nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)",
        8,
        "\n\ndef loss(output, batch):\n    return (output**2).sum()\n",
    )
    assert notes[0] == (
        "No weight's rows are one-signed: no Linear or Conv input is all non-negative "
        "(in>=0 under 100%), so a neuron's weights can move in different directions in "
        "one step."
    )
