"""One forward and backward pass, measured layer by layer."""

from __future__ import annotations

import threading

import torch
from torch import Tensor

from gradtui.fields import ACTIVATIONS
from gradtui.lab import kernels, sign_map, stats
from gradtui.lab.device import check_fits, resolve_device
from gradtui.lab.model import MLP, build_model, compute_loss, draw_input, draw_target
from gradtui.result import LayerResult, ProbeResult
from gradtui.spec import Spec


class Cancelled(Exception):
    """The probe was cancelled through its Event before it finished."""


def prepare(spec: Spec) -> tuple[MLP, Tensor, Tensor | None]:
    """Model, input and target on the CPU, drawn in the seed script's order."""
    torch.manual_seed(spec.seed)
    model = build_model(spec)
    x = draw_input(spec)
    target = draw_target(spec)
    return model, x, target


def run_probe(spec: Spec, cancel: threading.Event | None = None) -> ProbeResult:
    """Build the Spec's network, run one forward and backward pass, measure every layer.

    Everything is computed on the Spec's device; the host waits for it once, at the end.
    Raises SpecError when the device is missing or the spec cannot fit, Cancelled when
    `cancel` is set between stages.
    """

    def checkpoint() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled

    kernels.warm_up()  # in the background; this probe uses them only if already compiled
    device = resolve_device(spec.device)
    check_fits(spec, device)
    model, x, target = prepare(spec)
    checkpoint()
    model.to(device)
    x = x.to(device)
    target = None if target is None else target.to(device)

    outputs: list[Tensor] = []
    handles = [
        activation.register_forward_hook(lambda _module, _inputs, output: outputs.append(output))
        for activation in model.activations
    ]
    try:
        loss = compute_loss(spec, model(x), target)
    finally:
        for handle in handles:
            handle.remove()
    checkpoint()
    loss.backward()
    checkpoint()
    return measure(spec, model, outputs, loss, device)


def measure(
    spec: Spec, model: MLP, outputs: list[Tensor], loss: Tensor, device: torch.device
) -> ProbeResult:
    """The statistics of every layer after backward, moved to the host in one transfer."""
    summaries = []
    weight_norms = []
    maps = []
    for index, (linear, output) in enumerate(zip(model.linears, outputs), start=1):
        activation = ACTIVATIONS[spec.layer_activation(index)]
        summaries.append(stats.summarize(linear.weight.grad, spec.bins, rows=True))
        maps.append(sign_map.queue(linear.weight.grad))
        if linear.bias is not None:
            summaries.append(stats.summarize(linear.bias.grad, spec.bins))
        summaries.append(
            stats.summarize(
                output,
                spec.bins,
                saturation=activation.saturation,
                dead=activation.dead_at_zero,
            )
        )
        weight_norms.append(stats.norm(linear.weight))
    stats_path, stats_note = stats.measured_by(summaries)
    figures, extras = stats.collect(summaries, [loss.detach(), *weight_norms])
    loss_value, norms = extras[0], extras[1:]
    sign_maps = sign_map.collect(maps)  # already computed: the wait above covered them

    layers = []
    it = iter(figures)
    for index, linear in enumerate(model.linears, start=1):
        weight_grad = next(it)
        bias_grad = next(it) if linear.bias is not None else None
        layers.append(
            LayerResult(
                index=index,
                in_features=linear.in_features,
                out_features=linear.out_features,
                activation_name=spec.layer_activation(index),
                weight_grad=weight_grad,
                bias_grad=bias_grad,
                activation_stats=next(it),
                weight_norm=norms[index - 1],
                sign_map=sign_maps[index - 1],
            )
        )
    finite_loss = (
        loss_value if loss_value == loss_value and abs(loss_value) != float("inf") else None
    )
    return ProbeResult(
        spec=spec,
        device=str(device) if device.type == "cpu" else f"{device.type}:{device.index or 0}",
        loss=finite_loss,
        layers=layers,
        warnings=_warnings(finite_loss, layers),
        stats_path=stats_path,
        stats_note=stats_note,
    )


def _warnings(loss: float | None, layers: list[LayerResult]) -> list[str]:
    notes = []
    if loss is None:
        notes.append("the loss is not finite (NaN or Inf)")
    for layer in layers:
        for name, figures in (
            ("weight gradient", layer.weight_grad),
            ("bias gradient", layer.bias_grad),
            ("activation", layer.activation_stats),
        ):
            if figures is not None and figures.nonfinite:
                notes.append(
                    f"layer {layer.index}: {figures.nonfinite} non-finite {name} entries "
                    "(NaN/Inf), left out of the other figures"
                )
    return notes
