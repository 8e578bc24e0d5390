"""The plain-data results: steps to a threshold and mean coherence, on made-up steps."""

from __future__ import annotations

from gradtui.result import LayerStep, TrainResult, TrainStep
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
