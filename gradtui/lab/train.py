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

from gradtui.lab import probe
from gradtui.lab.device import Need, check_fits, resolve_device
from gradtui.lab.model import DTYPES, GLOBAL_RNG, build_model, compute_loss
from gradtui.lab.stats import row_coherence
from gradtui.lab.tasks import make_task
from gradtui.result import LayerStep, TrainResult, TrainStep
from gradtui.spec import Spec, SpecError, TrainSpec

MOMENTUM = 0.9

OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "adam": 3}
"""Parameter-sized tensors an optimizer adds: momentum's buffer; Adam's two moments and
its step's temporary."""
TASK_BYTES_PER_SAMPLE = {"teacher": 42 * 8}
"""Generating a task's data set, at its peak, per sample: the teacher's float64 inputs and
hidden layer (measured 321 bytes); 9 float64 (measured at most 68 bytes) for the others."""
TRAIN_SLACK = 32 * 1024 * 1024
"""The allocator's and the BLAS library's own working memory."""


class Trainer:
    """One network on one task with one optimizer; `step()` takes and measures a step."""

    def __init__(self, spec: Spec, train_spec: TrainSpec) -> None:
        # The task fixes the input and output sizes and the loss; the output is linear
        # (logits or regression values). Hidden sizes, activation, init and the rest stay.
        # A draw of 8 samples tells the sizes, so memory is checked before the data set.
        shape = make_task(train_spec.task, samples=8, noise=0.0, seed=0)
        self.spec = spec.replace(
            sizes=(shape.inputs, *spec.sizes[1:-1], shape.outputs),
            final_activation="none",
            loss=shape.loss,
        )
        self.train_spec = train_spec
        self.device = resolve_device(spec.device)
        needs = memory_needs(self.spec, train_spec)
        try:
            check_fits(self.spec, self.device, needs)
        except SpecError:  # the weights a probe keeps for the next give way first
            probe.DRAWS.release()
            check_fits(self.spec, self.device, needs)
        self.task = make_task(
            train_spec.task,
            samples=train_spec.samples,
            noise=train_spec.noise,
            seed=spec.seed,
            dtype=DTYPES[spec.dtype],
        )
        with GLOBAL_RNG:
            torch.manual_seed(spec.seed)
            self.model = build_model(self.spec).to(self.device)
        self.x = self.task.x.to(self.device)
        self.y = self.task.y.to(self.device)
        self.batches = torch.Generator().manual_seed(spec.seed + 1)
        self.optimizer = _optimizer(train_spec.optimizer, self.model.parameters(), train_spec.lr)
        self.steps_taken = 0
        self.after_backward: Callable[[Tensor], None] | None = None
        """Called with the batch loss after backward, before the optimizer's step (the
        place of gradtui.watch's step: `--save`)."""
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
        if self.after_backward is not None:
            self.after_backward(batch_loss)
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


def memory_needs(spec: Spec, train_spec: TrainSpec) -> list[Need]:
    """Memory training `spec` (its sizes fixed by the task) allocates at its peak, an
    over-estimate, by the field that drives each part.

    sizes: weights, gradients, the step's copy of the weights, the optimizer's state, and
    one layer's update with its float64 copy and sign masks. samples: the data set, and
    the loss measured on all of it every step: the widest layer's input, pre-activation
    and output (and normalised pre-activation, residual sum) for every sample.
    batch_size: the batch's activations, saved for the backward pass, and their
    gradients. Parts that come one after another (the batch's
    pass, the loss on all samples, generating the data set) are added, not overlapped.

    Against the peak RSS of 19 CPU runs (peak minus start; tests/test_cli.py repeats 4),
    the estimate was 1.01 to 2.3 times what training used: close when one part
    dominates, about 2 when a large batch meets a large data set.
    """
    itemsize = 8 if spec.dtype == "float64" else 4
    sizes = spec.sizes
    params = spec.parameter_count()
    widest = max(a * b for a, b in zip(sizes, sizes[1:]))
    model = (
        itemsize * params * (3 + OPTIMIZER_COPIES[train_spec.optimizer])
        + widest * (itemsize + 8 + 2)
        + TRAIN_SLACK
    )
    extra = spec.tensors_per_unit() - 6  # a norm's and a residual's values and gradients
    per_sample = itemsize * (
        sizes[0] + max(a + (2 + extra // 2) * b for a, b in zip(sizes, sizes[1:])) + 2 * sizes[-1]
    ) + 8 * (sizes[-1] + 3)  # targets (or labels), the argmax, the accuracy's float64
    per_sample += TASK_BYTES_PER_SAMPLE.get(train_spec.task, 9 * 8)
    per_batch_item = 8 + itemsize * (4 + extra) * sum(sizes)
    return [
        Need("sizes", model, f"{params:,} parameters"),
        Need("samples", train_spec.samples * per_sample, f"{train_spec.samples:,} samples"),
        Need("batch_size", spec.batch_size * per_batch_item, f"a batch of {spec.batch_size:,}"),
    ]


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
    save: str | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train to the end (or the cancel) and return every step; `on_step` sees the run
    after each step (the same object, growing: copy what you keep). `save`: also record
    every step to a run file there (gradtui.watch, every=1, with sign maps; RunFileError
    if it cannot be created), saying it ran `command`."""
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
    recorder = None
    if save is not None:
        from gradtui.lab.watch import Watch

        recorder = Watch(
            trainer.model,
            save,
            every=1,
            bins=trainer.spec.bins,
            description=f"gradtui train: {_describe_run(trainer)}",
            command=command,
            sign_maps=True,
        )
        trainer.after_backward = lambda loss: recorder.step(loss=loss)
    try:
        for step in train(trainer, train_spec.steps, cancel):
            result.steps.append(step)
            if on_step is not None:
                on_step(result)
    finally:
        if recorder is not None:
            recorder.close()  # the last step's update: its optimizer step is done
    cancelled = len(result.steps) < train_spec.steps
    return dataclasses.replace(result, cancelled=cancelled) if cancelled else result


def _describe_run(trainer: Trainer) -> str:
    spec, train_spec = trainer.spec, trainer.train_spec
    return (
        f"task {train_spec.task}, sizes {spec.field_text('sizes')}, {spec.activation},"
        f" {train_spec.optimizer} lr {train_spec.lr:g}, batch {spec.batch_size}, seed {spec.seed}"
    )


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
