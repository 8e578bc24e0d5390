"""Results of the lab as plain data: what every view draws and what JSON carries.

No torch here: the lab builds these on the host once per probe, and the views,
the report and the tests read them without touching a tensor.
"""

from __future__ import annotations

import functools
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


class SignMap:
    """Where a weight gradient (out x in) is positive and where negative, by blocks.

    Rows (output neurons) and columns (inputs) are cut into blocks of equal size, the
    last one shorter, at most 64 x 128 of them (1 x 1 blocks for a small layer).
    Non-finite entries count as neither sign. Not part of the JSON contract.

    The counts may be given as nested lists or as arrays (anything with `tolist`, as
    the lab gives them): an array becomes lists when first read. Turning a probe's maps
    into Python ints took 10 ms of a 16-layer 1024-wide probe, whose maps are drawn one
    at a time, if at all; `arrays` hands them to numpy as they are. Read-only.
    """

    __slots__ = ("rows", "cols", "row_edges", "col_edges", "_counts")

    def __init__(
        self,
        rows: int,
        cols: int,
        row_edges: list[int],
        col_edges: list[int],
        pos: Any,
        neg: Any,
        sorted_pos: Any,
        sorted_neg: Any,
        row_signs: Any,
    ) -> None:
        self.rows = rows
        self.cols = cols
        self.row_edges = row_edges
        """Block row i covers rows row_edges[i]:row_edges[i + 1]."""
        self.col_edges = col_edges
        self._counts = [pos, neg, sorted_pos, sorted_neg, row_signs]

    def _read(self, index: int) -> Any:
        counts = self._counts[index]
        if not isinstance(counts, list):
            counts = self._counts[index] = counts.tolist()
        return counts

    @property
    def pos(self) -> list[list[int]]:
        """pos[i][j]: count of entries > 0 in block (i, j)."""
        return self._read(0)

    @property
    def neg(self) -> list[list[int]]:
        return self._read(1)

    @property
    def sorted_pos(self) -> list[list[int]]:
        """The same with rows ordered by sign class (`row_order`) before cutting into
        blocks."""
        return self._read(2)

    @property
    def sorted_neg(self) -> list[list[int]]:
        return self._read(3)

    @property
    def row_signs(self) -> list[int]:
        """Per row: +1 if all its nonzero entries are positive, -1 if all negative, 0 if
        mixed or all zero."""
        return self._read(4)

    def arrays(self) -> tuple[Any, Any, Any, Any, Any]:
        """(pos, neg, sorted_pos, sorted_neg, row_signs) as given or last read: arrays or
        lists, for np.asarray."""
        return tuple(self._counts)  # type: ignore[return-value]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SignMap):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside, as a dataclass's

    def _key(self) -> tuple:
        lists = tuple(self._read(i) for i in range(5))
        return (self.rows, self.cols, self.row_edges, self.col_edges, *lists)

    def __repr__(self) -> str:
        blocks = f"{len(self.row_edges) - 1}x{len(self.col_edges) - 1}"
        return f"SignMap(rows={self.rows}, cols={self.cols}, blocks={blocks})"

    def blocks(self, sorted_rows: bool = False) -> tuple[list[list[int]], list[list[int]]]:
        return (self.sorted_pos, self.sorted_neg) if sorted_rows else (self.pos, self.neg)

    def row_order(self) -> list[int]:
        """Rows by sign class: positive rows, then negative, then mixed or zero; stable."""
        return sorted(range(self.rows), key=lambda row: SIGN_ORDER[self.row_signs[row]])


SIGN_ORDER = {1: 0, -1: 1, 0: 2}
"""Where each row sign class goes when rows are sorted."""


@dataclass(frozen=True)
class Entry:
    """One tensor a view shows: a parameter's gradient, or a module's output.

    Parameters and modules are named by their qualified names in the network
    (`encoder.layers.0.linear1.weight`); the built-in MLP's are `linears.0.weight`,
    `activations.0` and so on, and their `label` is the layer's number.
    """

    name: str
    """Qualified name of the parameter, or of the module whose output this is."""
    kind: str
    """Class of the module that owns the parameter or produced the output: Linear,
    Conv2d, LayerNorm, Sigmoid."""
    label: str
    """How the views name it: the layer's number for the built-in MLP, else `name`."""
    shape: tuple[int, ...]
    stats: TensorStats
    """A parameter's gradient (row coherence for 2 or more dims), or an output's values."""
    activation: str | None = None
    """The catalogue's activation: the one after the MLP layer this parameter belongs to,
    or the one that produced this output; None for anything else."""
    param_norm: float | None = None
    """Parameters only: ||p||."""
    input_non_negative: float | None = None
    """Weights of Linear and Conv modules: the share of the module input's entries that
    are >= 0 (non-finite ones left out). At 1.0, one sample's gradient rows are one-signed
    (delta_j times non-negative inputs): the cause of row coherence."""
    summed_over: int | None = None
    """Weights of Linear and Conv modules: how many (delta, input) products each entry of
    the gradient sums, one per sample and position (batch x sequence x space)."""
    sign_map: SignMap | None = None
    """Gradients of 2 or more dims: their signs block by block (the map view); not in JSON."""

    @property
    def is_matrix(self) -> bool:
        """A parameter of 2 or more dims: rows are output units (weights, kernels)."""
        return len(self.shape) >= 2

    @property
    def rows_cols(self) -> tuple[int, int]:
        """The shape as (dim 0, the rest flattened): how row coherence reads it."""
        rows = self.shape[0] if self.shape else 1
        return rows, (math.prod(self.shape) // rows if rows else 0)

    @property
    def grad_to_param(self) -> float | None:
        """||G|| / ||p||: the relative step a plain SGD step of lr 1 would take."""
        if not self.param_norm or not math.isfinite(self.stats.norm):
            return None
        return self.stats.norm / self.param_norm

    def to_dict(self) -> dict[str, Any]:
        if self.param_norm is None:  # an output
            return {
                "name": self.name,
                "kind": self.kind,
                "shape": list(self.shape),
                "activation": self.activation,
                "stats": self.stats.to_dict("activation"),
            }
        return {
            "name": self.name,
            "kind": self.kind,
            "shape": list(self.shape),
            "grad": self.stats.to_dict("weight_grad" if self.is_matrix else "bias_grad"),
            "norm": self.param_norm,
            "grad_to_param": self.grad_to_param,
            "input_non_negative": self.input_non_negative,
            "summed_over": self.summed_over,
        }


@dataclass(frozen=True)
class LayerResult:
    """One layer of the built-in MLP: its Linear's gradients and its activation's output."""

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
    name: str = ""
    """The Linear's qualified name, e.g. `linears.0`."""

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
            "name": self.name,
            "kind": "Linear",
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
class ModelInfo:
    """A user's own network (`--model`), as the config pane and the report describe it."""

    source: str
    """As the user gave it: a file path or a module name."""
    parameters: int
    """Number of parameter entries (every parameter, with a gradient or not)."""
    tensors: int
    """Number of parameter tensors."""
    modules: int
    """Number of leaf modules."""
    loss: str
    """Which loss: `loss()` of the file, or the sum of the output."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "parameters": self.parameters,
            "tensors": self.tensors,
            "modules": self.modules,
            "loss": self.loss,
        }


JSON_FORMAT = 2
"""The JSON contract's version: 2 added `format`, `model`, `parameters` and `outputs`,
and `name` and `kind` to each of the built-in MLP's `layers`."""


@dataclass(frozen=True)
class ProbeResult:
    """One forward and backward pass, measured parameter by parameter."""

    spec: Spec
    device: str
    """Where it ran, e.g. `cpu` or `cuda:0`."""
    loss: float | None
    """None when the loss is not finite."""
    parameters: list[Entry]
    """Every parameter that received a gradient (and matched `layers`), in module order."""
    outputs: list[Entry]
    """The outputs of the modules the activation view shows: the built-in MLP's
    activations, every leaf module of a user's model."""
    warnings: list[str] = field(default_factory=list)
    """Plain-words notes for the user, e.g. about non-finite gradients."""
    stats_path: str = "torch"
    """Which statistics path measured: "fused" (the numba kernels) or "torch"."""
    stats_note: str = ""
    """Why that path, e.g. "CUDA tensors" or "numba kernels still compiling"."""
    model: ModelInfo | None = None
    """A user's own network; None for the built-in MLP."""

    @property
    def weights(self) -> list[Entry]:
        """Parameters of 2 or more dims (weights, kernels, embeddings)."""
        return [p for p in self.parameters if p.is_matrix]

    @property
    def vectors(self) -> list[Entry]:
        """Parameters of fewer dims (biases, norm scales)."""
        return [p for p in self.parameters if not p.is_matrix]

    def entries(self, view: str) -> list[Entry]:
        """What `view` shows: weights (weight, flow, map), vectors (bias), outputs."""
        if view == "bias":
            return self.vectors
        if view == "activation":
            return self.outputs
        return self.weights

    @functools.cached_property
    def layers(self) -> list[LayerResult]:
        """The built-in MLP's layers as the JSON contract's `layers` holds them; empty for
        a user's model."""
        if self.model is not None:
            return []
        by_name = {entry.name: entry for entry in self.parameters}
        outputs = {entry.name: entry for entry in self.outputs}
        layers = []
        for index in range(1, self.spec.num_layers + 1):
            weight = by_name.get(f"linears.{index - 1}.weight")
            output = outputs.get(f"activations.{index - 1}")
            if weight is None or output is None:
                continue  # left out by `layers`
            bias = by_name.get(f"linears.{index - 1}.bias")
            layers.append(
                LayerResult(
                    index=index,
                    in_features=weight.shape[1],
                    out_features=weight.shape[0],
                    activation_name=self.spec.layer_activation(index),
                    weight_grad=weight.stats,
                    bias_grad=None if bias is None else bias.stats,
                    activation_stats=output.stats,
                    weight_norm=weight.param_norm or 0.0,
                    sign_map=weight.sign_map,
                    name=f"linears.{index - 1}",
                )
            )
        return layers

    @property
    def finite(self) -> bool:
        return self.loss is not None and all(
            entry.stats.nonfinite == 0 for entry in (*self.parameters, *self.outputs)
        )

    def to_dict(self) -> dict[str, Any]:
        data = {
            "gradtui": __version__,
            "format": JSON_FORMAT,
            "spec": self.spec.to_dict(),
            "model": None if self.model is None else self.model.to_dict(),
            "device": self.device,
            "loss": self.loss,
            "finite": self.finite,
            "warnings": list(self.warnings),
            "stats_path": self.stats_path,
            "stats_note": self.stats_note,
            "parameters": [entry.to_dict() for entry in self.parameters],
            "outputs": [entry.to_dict() for entry in self.outputs],
        }
        if self.model is None:
            data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON contract of README: strict JSON, non-finite figures as null."""
        return strict_json(self.to_dict(), indent=indent)


def strict_json(data: Any, indent: int | None = 2) -> str:
    """`data` as strict JSON: every non-finite float written as null."""
    return json.dumps(_finite_or_none(data), indent=indent, allow_nan=False)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):  # json writes a tuple as a list
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
        return strict_json(self.to_dict(threshold))


def comparison_json(runs: list[TrainResult], threshold: float) -> str:
    data = {
        "gradtui": __version__,
        "threshold": threshold,
        "runs": [run.to_dict(threshold) for run in runs],
    }
    return strict_json(data)


def stats_path_text(result: ProbeResult) -> str:
    """Which statistics path measured a probe, and why, in words."""
    name = "fused numba kernels" if result.stats_path == "fused" else "plain torch"
    return name + (f", {result.stats_note}" if result.stats_note else "")
