"""Training tasks, generated from the seed (never downloaded).

The 2-D classification sets follow TensorFlow Playground (circle, xor, gauss, spiral, each
with noise), scaled to about [-1, 1]; "teacher" is regression onto the outputs of a fixed
random network. A task fixes the network's input and output sizes and its loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gradtui.spec import TASKS

PLAYGROUND_RADIUS = 5.0
"""Playground draws its points in [-5, 5]^2 (6 with noise); gradtui divides by 6."""
TEACHER_INPUTS = 8
TEACHER_HIDDEN = 16


@dataclass(frozen=True)
class Task:
    name: str
    x: Tensor
    """Inputs, one row per sample."""
    y: Tensor
    """Class labels (int64) for classification, targets (float) for regression."""
    classification: bool

    @property
    def inputs(self) -> int:
        return self.x.shape[1]

    @property
    def outputs(self) -> int:
        return 2 if self.classification else self.y.shape[1]

    @property
    def loss(self) -> str:
        return "cross-entropy" if self.classification else "mse"


def make_task(name: str, *, samples: int, noise: float, seed: int, dtype=torch.float32) -> Task:
    """The task's data set, the same for a seed whatever the network or activation."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}")
    g = torch.Generator().manual_seed(seed)
    if name == "teacher":
        x, y = _teacher(samples, noise, g)
        return Task(name, x.to(dtype), y.to(dtype), classification=False)
    x, y = _PLAYGROUND[name](samples, g)
    x = x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)
    return Task(name, (x / (PLAYGROUND_RADIUS + 1)).to(dtype), y, classification=True)


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)


def _circle(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Class 0 inside radius 2.5, class 1 in the ring from 3.5 to 5."""
    half = n // 2
    r = torch.cat([_uniform(half, 0, 0.5, g), _uniform(n - half, 0.7, 1.0, g)]) * PLAYGROUND_RADIUS
    angle = _uniform(n, 0, 2 * math.pi, g)
    x = torch.stack([r * torch.sin(angle), r * torch.cos(angle)], dim=1)
    y = torch.cat([torch.zeros(half), torch.ones(n - half)]).long()
    return x, y


def _xor(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Uniform in the square, class = whether x and y have the same sign."""
    x = _uniform(2 * n, -5, 5, g).reshape(n, 2)
    x = x + torch.sign(x) * 0.3  # Playground's padding away from the axes
    y = (x[:, 0] * x[:, 1] < 0).long()
    return x, y


def _gauss(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two Gaussian blobs around (2, 2) and (-2, -2)."""
    half = n // 2
    centres = torch.cat([torch.full((half, 2), 2.0), torch.full((n - half, 2), -2.0)]).double()
    x = centres + torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.cat([torch.zeros(half), torch.ones(n - half)]).long()
    return x, y


def _spiral(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two interleaved spirals, one class each."""
    half = n // 2
    xs, ys = [], []
    for label, count, delta in ((0, half, 0.0), (1, n - half, math.pi)):
        i = torch.arange(count, dtype=torch.float64)
        r = i / count * PLAYGROUND_RADIUS
        t = 1.75 * i / count * 2 * math.pi + delta
        xs.append(torch.stack([r * torch.sin(t), r * torch.cos(t)], dim=1))
        ys.append(torch.full((count,), label))
    return torch.cat(xs), torch.cat(ys).long()


def _teacher(n: int, noise: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Targets from a fixed random tanh network on normal inputs, plus noise."""
    w1 = torch.randn(TEACHER_HIDDEN, TEACHER_INPUTS, generator=g, dtype=torch.float64)
    w2 = torch.randn(1, TEACHER_HIDDEN, generator=g, dtype=torch.float64)
    x = torch.randn(n, TEACHER_INPUTS, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ w1.T / math.sqrt(TEACHER_INPUTS)) @ w2.T / math.sqrt(TEACHER_HIDDEN)
    return x, y + noise * torch.randn(y.shape, generator=g, dtype=torch.float64)


_PLAYGROUND = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral}
