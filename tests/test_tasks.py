"""The generated tasks point by point: each set drawn again here from its definition
(TensorFlow Playground's, scaled by 1/6), from the same random stream."""

from __future__ import annotations

import math

import pytest
import torch

from gradtui.lab.tasks import Task, make_task

SCALE = 6.0  # Playground's [-5, 5] (6 with noise) to about [-1, 1]


def stream(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g, dtype=torch.float64) * (high - low) + low


def noisy(points: torch.Tensor, noise: float, g: torch.Generator) -> torch.Tensor:
    return (points + noise * torch.randn(points.shape, generator=g, dtype=torch.float64)) / SCALE


def test_circle_point_by_point():
    n, noise = 9, 0.25
    task = make_task("circle", samples=n, noise=noise, seed=5, dtype=torch.float64)
    g = stream(5)
    radius = torch.cat([uniform(4, 0.0, 2.5, g), uniform(5, 3.5, 5.0, g)])
    angle = uniform(n, 0.0, 2 * math.pi, g)
    points = torch.stack([radius * angle.sin(), radius * angle.cos()], dim=1)
    assert torch.allclose(task.x, noisy(points, noise, g), rtol=1e-12, atol=1e-14)
    assert task.y.tolist() == [0] * 4 + [1] * 5 and task.y.dtype == torch.int64
    assert (task.name, task.classification, task.inputs, task.outputs, task.loss) == (
        "circle",
        True,
        2,
        2,
        "cross-entropy",
    )


def test_xor_point_by_point():
    n, noise = 7, 0.5
    task = make_task("xor", samples=n, noise=noise, seed=2, dtype=torch.float64)
    g = stream(2)
    raw = uniform(2 * n, -5.0, 5.0, g).reshape(n, 2)
    padded = torch.where(raw > 0, raw + 0.3, raw - 0.3)
    assert torch.allclose(task.x, noisy(padded, noise, g), rtol=1e-12, atol=1e-14)
    labels = [int(a * b < 0) for a, b in padded.tolist()]
    assert task.y.tolist() == labels and 0 < sum(labels) < n


def test_gauss_point_by_point():
    n, noise = 5, 0.1
    task = make_task("gauss", samples=n, noise=noise, seed=8, dtype=torch.float64)
    g = stream(8)
    centres = torch.tensor([[2.0, 2.0]] * 2 + [[-2.0, -2.0]] * 3, dtype=torch.float64)
    points = centres + torch.randn(n, 2, generator=g, dtype=torch.float64)
    assert torch.allclose(task.x, noisy(points, noise, g), rtol=1e-12, atol=1e-14)
    assert task.y.tolist() == [0, 0, 1, 1, 1]


def test_spiral_point_by_point():
    # No randomness but the noise: with none, every point is known in closed form.
    n = 9
    task = make_task("spiral", samples=n, noise=0.0, seed=0, dtype=torch.float64)
    expected, labels = [], []
    for label, count, turn in ((0, 4, 0.0), (1, 5, math.pi)):
        for i in range(count):
            r = 5.0 * i / count
            t = 1.75 * 2 * math.pi * i / count + turn
            expected.append([r * math.sin(t) / SCALE, r * math.cos(t) / SCALE])
            labels.append(label)
    assert torch.allclose(task.x, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-14)
    assert task.y.tolist() == labels and task.y.dtype == torch.int64
    # The noise is normal, drawn from the seed.
    shaken = make_task("spiral", samples=n, noise=0.3, seed=4, dtype=torch.float64)
    g = stream(4)
    shift = 0.3 * torch.randn((n, 2), generator=g, dtype=torch.float64) / SCALE
    assert torch.allclose(shaken.x - task.x, shift, rtol=0, atol=1e-14)


def test_teacher_point_by_point():
    n, noise = 6, 0.2
    task = make_task("teacher", samples=n, noise=noise, seed=3, dtype=torch.float64)
    g = stream(3)
    w1 = torch.randn(16, 8, generator=g, dtype=torch.float64)
    w2 = torch.randn(1, 16, generator=g, dtype=torch.float64)
    x = torch.randn(n, 8, generator=g, dtype=torch.float64)
    hidden = torch.tanh(x @ w1.T / math.sqrt(8))
    y = hidden @ w2.T / 4.0 + noise * torch.randn((n, 1), generator=g, dtype=torch.float64)
    assert torch.allclose(task.x, x, rtol=0, atol=0)
    assert torch.allclose(task.y, y, rtol=1e-12, atol=1e-14)
    assert (task.name, task.classification, task.inputs, task.outputs, task.loss) == (
        "teacher",
        False,
        8,
        1,
        "mse",
    )


@pytest.mark.parametrize("name", ["circle", "teacher"])
def test_the_dtype_is_the_networks(name):
    task = make_task(name, samples=8, noise=0.1, seed=0)
    assert task.x.dtype == torch.float32
    wide = make_task(name, samples=8, noise=0.1, seed=0, dtype=torch.float64)
    assert torch.equal(task.x, wide.x.float())
    if name == "teacher":
        assert task.y.dtype == torch.float32 and torch.equal(task.y, wide.y.float())


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="^unknown task 'moons'$"):
        make_task("moons", samples=8, noise=0.0, seed=0)


def test_a_regression_task_with_several_outputs_counts_them():
    task = Task("made-up", torch.zeros(3, 4), torch.zeros(3, 5), classification=False)
    assert (task.inputs, task.outputs, task.loss) == (4, 5, "mse")
