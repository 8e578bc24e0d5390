"""Training: watch the zig-zag happen, step by step.

A `Trainer` trains a Spec's network on a generated task and measures every step: the
loss on the whole data set, and per layer the gradient norm, the update:data ratio and
the row coherence of the update actually applied. `train` yields those steps one by one,
checking a cancel Event between them, so a view can draw a run while it goes.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from gradtui.lab.device import check_fits, resolve_device
from gradtui.lab.model import DTYPES, build_model, compute_loss
from gradtui.lab.stats import row_coherence
from gradtui.lab.tasks import make_task
from gradtui.result import LayerStep, TrainResult, TrainStep
from gradtui.spec import Spec, SpecError, TrainSpec

MOMENTUM = 0.9


class Trainer:
    """One network on one task with one optimizer; `step()` takes and measures a step."""

    def __init__(self, spec: Spec, train_spec: TrainSpec) -> None:
        self.task = make_task(
            train_spec.task,
            samples=train_spec.samples,
            noise=train_spec.noise,
            seed=spec.seed,
            dtype=DTYPES[spec.dtype],
        )
        # The task fixes the input and output sizes and the loss; the output is linear
        # (logits or regression values). Hidden sizes, activation, init and the rest stay.
        self.spec = spec.replace(
            sizes=(self.task.inputs, *spec.sizes[1:-1], self.task.outputs),
            final_activation="none",
            loss=self.task.loss,
        )
        self.train_spec = train_spec
        self.device = resolve_device(spec.device)
        check_fits(self.spec, self.device)
        torch.manual_seed(spec.seed)
        self.model = build_model(self.spec).to(self.device)
        self.x = self.task.x.to(self.device)
        self.y = self.task.y.to(self.device)
        self.batches = torch.Generator().manual_seed(spec.seed + 1)
        self.optimizer = _optimizer(train_spec.optimizer, self.model.parameters(), train_spec.lr)
        self.steps_taken = 0
        self.traced_layer, self.traced_neuron, self.traced_columns = self._trace(train_spec)

    def _trace(self, train_spec: TrainSpec) -> tuple[int, int, tuple[int, int]]:
        """(layer, neuron, (a, b)), 0-based, of the weights whose trajectory is drawn."""
        linears = self.model.linears
        chosen = train_spec.trace_indexes()
        if chosen is None:
            # The first two incoming weights of neuron 0 in the layer after the first
            # activation: the first layer fed by activation outputs.
            layer = 1 if len(linears) > 1 else 0
            return layer, 0, ((0, 1) if linears[layer].in_features > 1 else (0, 0))
        layer, neuron, a, b = chosen
        if layer > len(linears):
            raise SpecError(
                "trace", f"layer {layer} does not exist; the network has {len(linears)} layers"
            )
        linear = linears[layer - 1]
        if neuron >= linear.out_features:
            raise SpecError(
                "trace", f"layer {layer} has neurons 0 to {linear.out_features - 1}, got {neuron}"
            )
        if max(a, b) >= linear.in_features:
            raise SpecError(
                "trace", f"layer {layer} has weights 0 to {linear.in_features - 1}, got {a},{b}"
            )
        return layer - 1, neuron, (a, b)

    @property
    def traced(self) -> str:
        a, b = self.traced_columns
        return f"layer {self.traced_layer + 1}, neuron {self.traced_neuron}, weights {a} and {b}"

    def trajectory(self) -> tuple[float, float]:
        weight = self.model.linears[self.traced_layer].weight
        a, b = self.traced_columns
        n = self.traced_neuron
        pair = torch.stack([weight[n, a], weight[n, b]]).tolist()
        return (pair[0], pair[1])

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return compute_loss(self.spec, output, target)

    def step(self) -> TrainStep:
        linears = self.model.linears
        index = torch.randint(0, self.x.shape[0], (self.spec.batch_size,), generator=self.batches)
        index = index.to(self.device)
        before = [linear.weight.detach().clone() for linear in linears]
        self.optimizer.zero_grad(set_to_none=True)
        batch_loss = self.loss(self.model(self.x[index]), self.y[index])
        batch_loss.backward()
        grad_norms = [linear.weight.grad.norm() for linear in linears]
        self.optimizer.step()
        figures: list[Tensor] = []
        for linear, old, grad_norm in zip(linears, before, grad_norms):
            update = linear.weight.detach() - old
            figures += [grad_norm, _std(update), _std(old), row_coherence(update)]
        with torch.no_grad():
            output = self.model(self.x)
            loss = self.loss(output, self.y)
            accuracy = (
                (output.argmax(dim=1) == self.y).double().mean()
                if self.task.classification
                else torch.tensor(math.nan)
            )
        traced = linears[self.traced_layer].weight.detach()
        a, b = self.traced_columns
        n = self.traced_neuron
        head = [loss, batch_loss.detach(), accuracy, traced[n, a], traced[n, b]]
        # One transfer per step: every figure of the step in one tensor.
        values = torch.stack(
            [v.to(torch.float64).cpu().reshape(()) for v in head + figures]
        ).tolist()
        self.steps_taken += 1
        layers = []
        for i in range(len(linears)):
            grad_norm, update_std, weight_std, coherence = values[5 + 4 * i : 9 + 4 * i]
            ratio = (
                math.log10(update_std / weight_std)
                if update_std > 0 and weight_std > 0 and math.isfinite(update_std / weight_std)
                else None
            )
            layers.append(
                LayerStep(
                    grad_norm=grad_norm,
                    update_ratio=ratio,
                    update_coherence=None if math.isnan(coherence) else coherence,
                )
            )
        return TrainStep(
            step=self.steps_taken,
            loss=_finite(values[0]),
            batch_loss=_finite(values[1]),
            accuracy=None if math.isnan(values[2]) else values[2],
            layers=layers,
            trajectory=(values[3], values[4]),
        )


def train(
    trainer: Trainer, steps: int, cancel: threading.Event | None = None
) -> Iterator[TrainStep]:
    """Yield `steps` measured steps; stop early, between steps, when `cancel` is set."""
    for _ in range(steps):
        if cancel is not None and cancel.is_set():
            return
        yield trainer.step()


def run_training(
    spec: Spec,
    train_spec: TrainSpec,
    cancel: threading.Event | None = None,
    on_step: Callable[[TrainResult], None] | None = None,
) -> TrainResult:
    """Train to the end (or the cancel) and return every step; `on_step` sees the run
    after each step (the same object, growing: copy what you keep)."""
    trainer = Trainer(spec, train_spec)
    result = TrainResult(
        spec=trainer.spec,
        task=train_spec.task,
        optimizer=train_spec.optimizer,
        lr=train_spec.lr,
        steps_planned=train_spec.steps,
        start=trainer.trajectory(),
        traced=trainer.traced,
        traced_layer=trainer.traced_layer,
    )
    for step in train(trainer, train_spec.steps, cancel):
        result.steps.append(step)
        if on_step is not None:
            on_step(result)
    cancelled = len(result.steps) < train_spec.steps
    return dataclasses.replace(result, cancelled=cancelled) if cancelled else result


def compare(
    spec: Spec,
    train_spec: TrainSpec,
    activations: tuple[str, ...],
    cancel: threading.Event | None = None,
    on_step: Callable[[int, TrainResult], None] | None = None,
) -> list[TrainResult]:
    """The same task, data, seed and init under each activation, one after another."""
    runs = []
    for i, activation in enumerate(activations):
        if cancel is not None and cancel.is_set():
            break
        callback = None if on_step is None else (lambda result, i=i: on_step(i, result))
        runs.append(run_training(spec.replace(activation=activation), train_spec, cancel, callback))
    return runs


def _optimizer(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(parameters, lr=lr, momentum=MOMENTUM)
    return torch.optim.Adam(parameters, lr=lr)


def _std(t: Tensor) -> Tensor:
    return t.double().std() if t.numel() > 1 else torch.tensor(math.nan, dtype=torch.float64)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
