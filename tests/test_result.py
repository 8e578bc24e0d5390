"""The plain-data results: steps to a threshold and mean coherence, on made-up steps."""

from __future__ import annotations

import json

import numpy as np
from builders import mlp_result

from gradtui.plots import VIEWS
from gradtui.result import (
    Histogram,
    LayerResult,
    LayerStep,
    ProbeResult,
    SignMap,
    TensorStats,
    TrainResult,
    TrainStep,
    comparison_json,
    stats_path_text,
)
from gradtui.spec import Spec


def run_of(losses: list[float | None], coherence: list[list[float | None]]) -> TrainResult:
    steps = [
        TrainStep(
            step=i,
            loss=loss,
            batch_loss=loss,
            accuracy=None,
            layers=[LayerStep(grad_norm=1.0, update_ratio=-3.0, update_coherence=c) for c in row],
            trajectory=(0.0, 0.0),
        )
        for i, (loss, row) in enumerate(zip(losses, coherence), start=1)
    ]
    return TrainResult(
        spec=Spec(sizes=(2, 3, 2)),
        task="xor",
        optimizer="sgd",
        lr=0.1,
        steps_planned=len(steps),
        start=(0.0, 0.0),
        traced="layer 2, neuron 0, weights 0 and 1",
        traced_layer=1,
        steps=steps,
    )


def test_steps_to_counts_a_loss_equal_to_the_threshold():
    run = run_of([0.9, None, 0.5, 0.2, 0.1], [[1.0]] * 5)
    assert run.steps_to(0.2) == 4  # "at or below"
    assert run.steps_to(0.5) == 3
    assert run.steps_to(0.05) is None
    assert run.final_loss == 0.1


def test_mean_coherence_skips_steps_without_a_figure_and_is_none_without_any():
    run = run_of([1.0, 1.0, 1.0], [[0.5, None], [None, None], [1.0, None]])
    assert run.mean_coherence() == [0.75, None]
    assert run_of([], []).mean_coherence() == [] and run_of([], []).final_loss is None


# -- the probe's plain data, on hand-built figures ----------------------------------------


def stats(pos=0.5, neg=0.25, nonfinite=0, norm=2.0, **extra) -> TensorStats:
    return TensorStats(
        numel=4,
        pos=pos,
        neg=neg,
        zero=1.0 - pos - neg,
        nonfinite=nonfinite,
        mean=0.1,
        std=0.2,
        min=-0.3,
        max=0.4,
        norm=norm,
        hist=Histogram(edges=[0.0, 0.5, 1.0], counts=[1, 3]),
        **extra,
    )


def test_one_signed_needs_one_sign_and_an_entry():
    assert stats(pos=0.5, neg=0.0).one_signed
    assert stats(pos=0.0, neg=0.5).one_signed
    assert not stats(pos=0.5, neg=0.25).one_signed
    assert not stats(pos=0.0, neg=0.0).one_signed


def test_figures_are_written_in_the_contracts_order_per_kind():
    s = stats(row_coherence=0.5, saturated=0.25, dead=0.125)
    common = {
        "numel": 4,
        "pos": 0.5,
        "neg": 0.25,
        "zero": 0.25,
        "nonfinite": 0,
        "mean": 0.1,
        "std": 0.2,
        "min": -0.3,
        "max": 0.4,
        "norm": 2.0,
    }
    hist = {"edges": [0.0, 0.5, 1.0], "counts": [1, 3]}
    weight = s.to_dict("weight_grad")
    assert list(weight) == [
        "numel", "pos", "neg", "zero", "nonfinite", "row_coherence",
        "mean", "std", "min", "max", "norm", "hist",
    ]  # fmt: skip
    assert weight == {**common, "row_coherence": 0.5, "hist": hist}
    assert s.to_dict("bias_grad") == {**common, "hist": hist}
    assert list(s.to_dict("bias_grad")) == [*common, "hist"]
    activation = s.to_dict("activation")
    assert list(activation) == [*common, "saturated", "dead", "hist"]
    assert activation == {**common, "saturated": 0.25, "dead": 0.125, "hist": hist}


def layer(weight_norm=4.0, weight=None, bias=None, activation=None) -> LayerResult:
    return LayerResult(
        index=2,
        in_features=3,
        out_features=5,
        activation_name="tanh",
        weight_grad=weight or stats(),
        bias_grad=bias,
        activation_stats=activation or stats(),
        weight_norm=weight_norm,
    )


def test_grad_to_weight_and_shape():
    assert layer().grad_to_weight == 0.5
    assert layer(weight_norm=0.0).grad_to_weight is None
    assert layer(weight=stats(norm=float("inf"))).grad_to_weight is None
    assert layer(weight=stats(norm=float("nan"))).grad_to_weight is None
    assert layer().shape == (5, 3)
    data = layer(bias=stats()).to_dict()
    assert data["bias_grad"] == stats().to_dict("bias_grad")
    assert layer().to_dict()["bias_grad"] is None
    assert data["grad_to_weight"] == 0.5 and data["weight_norm"] == 4.0
    assert (data["index"], data["in_features"], data["out_features"]) == (2, 3, 5)
    assert data["activation_name"] == "tanh"
    assert data["activation"] == stats().to_dict("activation")


def test_a_result_is_finite_only_without_a_non_finite_figure():
    def probe(loss=1.0, **parts) -> ProbeResult:
        return mlp_result([layer(**parts)], Spec(sizes=(3, 5, 5)), loss=loss)

    bad = stats(nonfinite=1)
    assert probe().finite and probe(bias=stats()).finite
    assert not probe(loss=None).finite
    assert not probe(weight=bad).finite
    assert not probe(bias=bad).finite
    assert not probe(activation=bad).finite
    odd = probe(weight=stats(norm=float("inf")), bias=stats(norm=float("nan")))
    data = json.loads(odd.to_json(indent=None))
    assert data["layers"][0]["weight_grad"]["norm"] is None
    assert data["layers"][0]["bias_grad"]["norm"] is None
    assert data["layers"][0]["grad_to_weight"] is None
    assert data["finite"] is True and data["warnings"] == [] and data["device"] == "cpu"


def test_sign_map_blocks_and_row_order():
    signs = SignMap(
        rows=5,
        cols=2,
        row_edges=[0, 5],
        col_edges=[0, 2],
        pos=[[1]],
        neg=[[2]],
        sorted_pos=[[3]],
        sorted_neg=[[4]],
        row_signs=[0, -1, 1, -1, 1],
    )
    assert signs.blocks() == ([[1]], [[2]])
    assert signs.blocks(sorted_rows=True) == ([[3]], [[4]])
    assert signs.row_order() == [2, 4, 1, 3, 0]


def test_a_sign_map_of_arrays_reads_as_lists_only_when_read_and_equals_one_of_lists():
    counts = [np.array([[1, 0], [2, 3]]), np.array([[0, 4], [1, 0]])] * 2 + [np.array([1, -1])]
    lists = [c.tolist() for c in counts]
    of_arrays = SignMap(2, 4, [0, 1, 2], [0, 2, 4], *counts)
    of_lists = SignMap(2, 4, [0, 1, 2], [0, 2, 4], *lists)
    assert all(a is c for a, c in zip(of_arrays.arrays(), counts))  # nothing turned yet
    assert of_arrays == of_lists and of_arrays != SignMap(
        2, 4, [0, 1, 2], [0, 2, 4], *lists[:4], [1, 1]
    )
    assert of_arrays.pos == [[1, 0], [2, 3]] and type(of_arrays.pos[0][0]) is int
    assert of_arrays.arrays()[0] is of_arrays.pos  # turned once, then kept
    assert of_arrays.row_signs == [1, -1] and of_arrays.row_order() == [0, 1]
    assert repr(of_arrays) == "SignMap(rows=2, cols=4, blocks=2x2)"


def test_a_comparison_is_the_runs_with_the_threshold():
    runs = [run_of([0.5, 0.1], [[1.0], [0.5]]), run_of([float("nan")], [[None]])]
    data = json.loads(comparison_json(runs, 0.3))
    assert data["threshold"] == 0.3
    assert [run["steps_to_threshold"] for run in data["runs"]] == [2, None]
    assert data["runs"][1]["steps"][0]["loss"] is None
    assert data["runs"][0]["mean_update_coherence"] == [0.75]
    assert runs[0].label == "sigmoid"


def test_the_statistics_path_is_named_in_words_with_its_reason():
    """What the status line and `probe --verbose` say measured a probe."""
    fused = mlp_result([], Spec(), stats_path="fused", stats_note="")
    eager = mlp_result([], Spec(), stats_path="torch", stats_note="")
    why = mlp_result([], Spec(), stats_path="torch", stats_note="kernels still compiling")
    assert stats_path_text(fused) == "fused numba kernels"
    assert stats_path_text(eager) == "plain torch"
    assert stats_path_text(why) == "plain torch, kernels still compiling"


def test_each_view_shows_its_own_entries():
    """weight, flow and map show the weights; bias the 1-D parameters; activation the
    outputs (the seed's MLP: 4 weights, 4 biases, 4 activations)."""
    from gradtui.lab import run_probe
    from gradtui.spec import preset

    result = run_probe(preset("seed-v2.0").replace(device="cpu"))
    names = {view: [e.name for e in result.entries(view)] for view in VIEWS}
    for view in ("weight", "flow", "map"):
        assert names[view] == [f"linears.{i}.weight" for i in range(4)]
    assert names["bias"] == [f"linears.{i}.bias" for i in range(4)]
    assert names["activation"] == [f"activations.{i}" for i in range(4)]
