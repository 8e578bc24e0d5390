"""Results of the lab as plain data: what every view draws and what JSON carries.

No torch here: the lab builds these on the host once per probe, and the views,
the report and the tests read them without touching a tensor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from gradtui import __version__
from gradtui.spec import Spec


@dataclass(frozen=True)
class Histogram:
    edges: list[float]
    """`bins + 1` bin edges; the last bin includes its right edge."""
    counts: list[int]
    """Exact count of finite entries per bin."""

    def to_dict(self) -> dict[str, Any]:
        return {"edges": self.edges, "counts": self.counts}


@dataclass(frozen=True)
class TensorStats:
    """Statistics of one tensor; every figure but `nonfinite` covers finite entries only."""

    numel: int
    pos: float
    """Fraction of all entries > 0."""
    neg: float
    """Fraction of all entries < 0."""
    zero: float
    """Fraction of all entries == 0."""
    nonfinite: int
    """Count of NaN and Inf entries."""
    mean: float | None
    std: float | None
    """Unbiased standard deviation; None with fewer than two finite entries."""
    min: float | None
    max: float | None
    norm: float
    """Frobenius norm; NaN (null in JSON) when entries exist but none is finite."""
    hist: Histogram
    row_coherence: float | None = None
    """Weight gradients only: fraction of rows (neurons) whose nonzero entries share one
    sign, rows without a nonzero entry left out; None when no row has one."""
    saturated: float | None = None
    """Activations only: fraction of entries in a saturated region (sigmoid, tanh)."""
    dead: float | None = None
    """Activations only: fraction of entries exactly 0 after a ReLU."""

    @property
    def has_finite(self) -> bool:
        """Whether any entry is finite, so that the other figures mean something."""
        return self.numel > self.nonfinite

    @property
    def one_signed(self) -> bool:
        """True when every nonzero entry has the same sign (and there is one)."""
        return (self.pos == 0) != (self.neg == 0)

    def to_dict(self, kind: str) -> dict[str, Any]:
        keys = _KEYS[kind]
        out: dict[str, Any] = {}
        for key in keys:
            value = self.hist.to_dict() if key == "hist" else getattr(self, key)
            out[key] = value
        return out


_COMMON = ("numel", "pos", "neg", "zero", "nonfinite", "mean", "std", "min", "max", "norm")
_KEYS = {
    "weight_grad": (*_COMMON[:5], "row_coherence", *_COMMON[5:], "hist"),
    "bias_grad": (*_COMMON, "hist"),
    "activation": (*_COMMON, "saturated", "dead", "hist"),
}


@dataclass(frozen=True)
class SignMap:
    """Where a weight gradient (out x in) is positive and where negative, by blocks.

    Rows (output neurons) and columns (inputs) are cut into blocks of equal size, the
    last one shorter, at most 64 x 128 of them (1 x 1 blocks for a small layer).
    Non-finite entries count as neither sign. Not part of the JSON contract.
    """

    rows: int
    cols: int
    row_edges: list[int]
    """Block row i covers rows row_edges[i]:row_edges[i + 1]."""
    col_edges: list[int]
    pos: list[list[int]]
    """pos[i][j]: count of entries > 0 in block (i, j)."""
    neg: list[list[int]]
    sorted_pos: list[list[int]]
    """The same with rows ordered by sign class (`row_order`) before cutting into blocks."""
    sorted_neg: list[list[int]]
    row_signs: list[int]
    """Per row: +1 if all its nonzero entries are positive, -1 if all negative, 0 if mixed
    or all zero."""

    def blocks(self, sorted_rows: bool = False) -> tuple[list[list[int]], list[list[int]]]:
        return (self.sorted_pos, self.sorted_neg) if sorted_rows else (self.pos, self.neg)

    def row_order(self) -> list[int]:
        """Rows by sign class: positive rows, then negative, then mixed or zero; stable."""
        return sorted(range(self.rows), key=lambda row: SIGN_ORDER[self.row_signs[row]])


SIGN_ORDER = {1: 0, -1: 1, 0: 2}
"""Where each row sign class goes when rows are sorted."""


@dataclass(frozen=True)
class LayerResult:
    index: int
    """1-based, as the post numbers its layers."""
    in_features: int
    out_features: int
    activation_name: str
    """The activation applied after this layer (`identity` when none)."""
    weight_grad: TensorStats
    bias_grad: TensorStats | None
    activation_stats: TensorStats
    """The layer's output after its activation."""
    weight_norm: float
    sign_map: SignMap | None = None
    """The weight gradient's signs block by block (the app's map view); not in JSON."""

    @property
    def grad_to_weight(self) -> float | None:
        """||G|| / ||W||: the relative step a plain SGD step of lr 1 would take."""
        if self.weight_norm == 0 or not math.isfinite(self.weight_grad.norm):
            return None
        return self.weight_grad.norm / self.weight_norm

    @property
    def shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "activation_name": self.activation_name,
            "weight_grad": self.weight_grad.to_dict("weight_grad"),
            "bias_grad": None if self.bias_grad is None else self.bias_grad.to_dict("bias_grad"),
            "activation": self.activation_stats.to_dict("activation"),
            "weight_norm": self.weight_norm,
            "grad_to_weight": self.grad_to_weight,
        }


@dataclass(frozen=True)
class ProbeResult:
    """One forward and backward pass, measured layer by layer."""

    spec: Spec
    device: str
    """Where it ran, e.g. `cpu` or `cuda:0`."""
    loss: float | None
    """None when the loss is not finite."""
    layers: list[LayerResult]
    warnings: list[str] = field(default_factory=list)
    """Plain-words notes for the user, e.g. about non-finite gradients."""
    stats_path: str = "torch"
    """Which statistics path measured: "fused" (the numba kernels) or "torch"."""
    stats_note: str = ""
    """Why that path, e.g. "CUDA tensors" or "numba kernels still compiling"."""

    @property
    def finite(self) -> bool:
        return self.loss is not None and all(
            layer.weight_grad.nonfinite == 0
            and layer.activation_stats.nonfinite == 0
            and (layer.bias_grad is None or layer.bias_grad.nonfinite == 0)
            for layer in self.layers
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "gradtui": __version__,
            "spec": self.spec.to_dict(),
            "device": self.device,
            "loss": self.loss,
            "finite": self.finite,
            "warnings": list(self.warnings),
            "stats_path": self.stats_path,
            "stats_note": self.stats_note,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON contract of README: strict JSON, non-finite figures as null."""
        return json.dumps(_finite_or_none(self.to_dict()), indent=indent, allow_nan=False)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


@dataclass(frozen=True)
class LayerStep:
    """One layer in one training step."""

    grad_norm: float
    """||dL/dW|| of the step's batch."""
    update_ratio: float | None
    """log10(std(update) / std(W)): the makemore plot, healthy near -3; None without an
    update."""
    update_coherence: float | None
    """Fraction of neurons whose incoming weights all moved in one direction (rows of the
    applied update with one sign), rows that did not move left out."""


@dataclass(frozen=True)
class TrainStep:
    step: int
    """1-based."""
    loss: float | None
    """Loss on the whole data set after the step (the curve); None if not finite."""
    batch_loss: float | None
    accuracy: float | None
    """Classification only: the share of the data set classified right after the step."""
    layers: list[LayerStep]
    trajectory: tuple[float, float]
    """The two traced weights after the step."""


@dataclass(frozen=True)
class TrainResult:
    """A training run: every step so far, and what it was."""

    spec: Spec
    """The network as trained (the task's input and output sizes, a linear output)."""
    task: str
    optimizer: str
    lr: float
    steps_planned: int
    start: tuple[float, float]
    """The traced weights before the first step."""
    traced: str
    """Which weights the trajectory follows, in words."""
    traced_layer: int
    """The 0-based layer of those weights: the per-layer overlays of a comparison follow it."""
    steps: list[TrainStep] = field(default_factory=list)
    cancelled: bool = False

    @property
    def label(self) -> str:
        return self.spec.activation

    @property
    def final_loss(self) -> float | None:
        return self.steps[-1].loss if self.steps else None

    def steps_to(self, threshold: float) -> int | None:
        """The first step whose loss is at or below `threshold`."""
        for step in self.steps:
            if step.loss is not None and step.loss <= threshold:
                return step.step
        return None

    def mean_coherence(self) -> list[float | None]:
        """Mean update row coherence of each layer over the steps."""
        if not self.steps:
            return []
        means: list[float | None] = []
        for i in range(len(self.steps[0].layers)):
            values = [s.layers[i].update_coherence for s in self.steps]
            values = [v for v in values if v is not None]
            means.append(sum(values) / len(values) if values else None)
        return means

    def to_dict(self, threshold: float | None = None) -> dict[str, Any]:
        out = {
            "gradtui": __version__,
            "spec": self.spec.to_dict(),
            "task": self.task,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "steps_planned": self.steps_planned,
            "cancelled": self.cancelled,
            "traced": self.traced,
            "start": list(self.start),
            "final_loss": self.final_loss,
            "mean_update_coherence": self.mean_coherence(),
            "steps": [
                {
                    "step": s.step,
                    "loss": s.loss,
                    "batch_loss": s.batch_loss,
                    "accuracy": s.accuracy,
                    "trajectory": list(s.trajectory),
                    "layers": [
                        {
                            "grad_norm": layer.grad_norm,
                            "update_ratio": layer.update_ratio,
                            "update_coherence": layer.update_coherence,
                        }
                        for layer in s.layers
                    ],
                }
                for s in self.steps
            ],
        }
        if threshold is not None:
            out["threshold"] = threshold
            out["steps_to_threshold"] = self.steps_to(threshold)
        return out

    def to_json(self, threshold: float | None = None) -> str:
        return json.dumps(_finite_or_none(self.to_dict(threshold)), indent=2, allow_nan=False)


def comparison_json(runs: list[TrainResult], threshold: float) -> str:
    data = {
        "gradtui": __version__,
        "threshold": threshold,
        "runs": [run.to_dict(threshold) for run in runs],
    }
    return json.dumps(_finite_or_none(data), indent=2, allow_nan=False)


def stats_path_text(result: ProbeResult) -> str:
    """Which statistics path measured a probe, and why, in words."""
    name = "fused numba kernels" if result.stats_path == "fused" else "plain torch"
    return f"{name}" + (f" ({result.stats_note})" if result.stats_note else "")
