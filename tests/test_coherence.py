"""Row coherence where entries are exactly zero: a zero is neither sign.

A row whose nonzero entries share one sign is coherent whatever zeros it holds; a row of
zeros only did not move and is left out; zero must never be taken for negative (or
positive). ReLU networks make such zeros everywhere: a dead input is a zero column of the
weight gradient, a dead unit a zero row.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from reference import one_signed_share, reference_stats

from gradtui.lab import run_probe
from gradtui.lab.stats import row_coherence
from gradtui.lab.train import Trainer, run_training
from gradtui.spec import Spec, TrainSpec


def coherence(rows) -> float:
    return float(row_coherence(torch.tensor(rows, dtype=torch.float64)))


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[0.0, 2.0, 3.0]], 1.0),  # positive with a zero: one sign
        ([[0.0, -1.0, -2.0]], 1.0),  # negative with a zero: one sign
        ([[-1.0, 0.0, 1.0]], 0.0),  # both signs
        ([[0.0, 0.0, 5.0], [0.0, 0.0, 0.0]], 1.0),  # the zero row is left out, not coherent
        ([[0.0, 0.0, -5.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], 0.5),
        ([[0.0, 2.0, 3.0], [0.0, -1.0, -2.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]], 2 / 3),
        ([[-0.0, 1.0], [0.0, -1.0]], 1.0),  # negative zero is zero too
    ],
)
def test_row_coherence_with_zero_entries(rows, expected):
    assert coherence(rows) == expected == one_signed_share(rows)


def test_row_coherence_of_zero_rows_only_is_undefined():
    assert math.isnan(coherence([[0.0, 0.0], [0.0, -0.0]]))
    assert one_signed_share([[0.0, 0.0]]) is None


def test_row_coherence_is_a_float64_scalar_on_the_matrix_device():
    value = row_coherence(torch.tensor([[1.0, 0.0], [1.0, -1.0]]))
    assert value.dtype == torch.float64 and value.shape == () and float(value) == 0.5


@pytest.mark.parametrize("seed", range(4))
def test_row_coherence_of_sparse_random_matrices_matches_the_reference(seed):
    g = np.random.default_rng(seed)
    signs = g.choice([-1.0, 0.0, 1.0], size=(40, 6), p=[0.2, 0.6, 0.2])
    matrix = signs * g.uniform(0.5, 2.0, signs.shape)
    expected = one_signed_share(matrix)
    assert 0 < expected < 1  # rows of each kind: coherent, mixed (and some all-zero)
    assert coherence(matrix) == expected


def test_probe_row_coherence_on_a_relu_network_counts_zeros_as_neither_sign():
    spec = Spec(
        sizes=(10, 24, 24, 24),
        activation="relu",
        final_activation="none",
        loss="mse",
        batch_size=1,
        dtype="float64",
        seed=4,
    )
    result = run_probe(spec.replace(device="cpu"))
    # The same gradients by hand (README's draw order), under autograd.
    torch.manual_seed(spec.seed)
    # Drawn in float32, then converted.
    linears = [torch.nn.Linear(a, b).double() for a, b in ((10, 24), (24, 24), (24, 24))]
    x = torch.randn(1, 10).double()
    target = torch.randn(1, 24).double()
    h = x
    for i, linear in enumerate(linears):
        h = linear(h) if i == 2 else torch.relu(linear(h))
    torch.nn.functional.mse_loss(h, target).backward()
    for layer, linear in zip(result.layers[1:], linears[1:]):
        grad = linear.weight.grad.numpy()
        assert (grad == 0).any()
        expected = reference_stats(grad, 8, rows=True)["row_coherence"]
        assert expected == one_signed_share(grad) == 1.0  # ReLU outputs are >= 0
        assert layer.weight_grad.row_coherence == expected
    # Layer 2 is fed by ReLU outputs with dead units: zero columns in its gradient.
    assert (linears[1].weight.grad == 0).all(dim=0).any()


def test_training_update_coherence_on_a_relu_network():
    """Plain SGD at batch 1: every ReLU-fed row moves one way, dead inputs left still."""
    spec = Spec(sizes=(2, 16, 16, 16, 2), activation="relu", device="cpu", seed=1)
    plan = TrainSpec(task="circle", lr=0.1, steps=15)
    trainer = Trainer(spec, plan)
    zeros_seen = 0
    for _ in range(plan.steps):
        before = [
            linear.weight.detach().double().numpy().copy() for linear in trainer.model.linears
        ]
        step = trainer.step()
        for layer, linear, old in zip(step.layers[1:], trainer.model.linears[1:], before[1:]):
            delta = linear.weight.detach().double().numpy() - old
            zeros_seen += int((delta == 0).sum())
            expected = one_signed_share(delta)
            assert layer.update_coherence == expected
            assert expected in (1.0, None)
    assert zeros_seen > 100  # the zeros were really there to be miscounted
    run = run_training(spec, plan)
    assert run.mean_coherence()[1:] == [1.0, 1.0, 1.0]
    assert run.mean_coherence()[0] < 1.0  # layer 1 is fed by the signed task inputs
