"""The per-layer table as text cells, shared by the headless report and the app.

Each view has its own columns, describing the tensor the view names: weight gradients,
bias gradients, layer outputs, or the gradient flow. Each cell carries a tag saying
whether it tells part of the story, so each view can colour it its own way (rich styles
in the report, theme variables in the app). Where the space is narrow, whole columns are
dropped, least telling first: a number is never cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gradtui.result import LayerResult, ProbeResult, TensorStats

GAP = 2
"""Spaces between two columns."""


@dataclass(frozen=True)
class Cell:
    text: str
    tag: str | None = None
    """`strong`: a headline figure (100% coherence, one-signed layer); `warn`: saturated
    or dead units; `error`: non-finite entries; None: ordinary."""


@dataclass(frozen=True)
class Column:
    header: str
    meaning: str
    cell: Callable[[LayerResult], Cell]
    keep: int
    """Rank in which columns are kept when space runs out: 0 is dropped last."""
    left: bool = False


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def _finite(stats: TensorStats | None) -> bool:
    return stats is not None and stats.has_finite


def _share(stats: TensorStats | None, key: str, tag: str | None = None) -> Cell:
    if not _finite(stats):
        return Cell("-")
    value = getattr(stats, key)
    return Cell(percent(value), tag if value > 0 else None)


def _signs(get: Callable[[LayerResult], TensorStats | None], noun: str, keep: int) -> list[Column]:
    def one_signed(layer: LayerResult) -> str | None:
        stats = get(layer)
        return "strong" if stats is not None and stats.one_signed else None

    return [
        Column(
            "+",
            f"% of {noun} > 0",
            lambda layer: _share(get(layer), "pos", one_signed(layer)),
            keep,
        ),
        Column(
            "-",
            f"% of {noun} < 0",
            lambda layer: _share(get(layer), "neg", one_signed(layer)),
            keep,
        ),
        Column("0", f"% of {noun} == 0", lambda layer: _share(get(layer), "zero"), keep + 4),
    ]


def _figure(get: Callable[[LayerResult], TensorStats | None], key: str) -> Callable:
    def cell(layer: LayerResult) -> Cell:
        stats = get(layer)
        return Cell(number(getattr(stats, key) if _finite(stats) else None))

    return cell


def _norm(get: Callable[[LayerResult], TensorStats | None]) -> Callable:
    def cell(layer: LayerResult) -> Cell:
        stats = get(layer)
        if stats is None:
            return Cell("-")
        if stats.nonfinite:
            return Cell(f"{stats.nonfinite} NaN/Inf", "error")
        return Cell(number(stats.norm))

    return cell


def _coherence(layer: LayerResult) -> Cell:
    g = layer.weight_grad
    return Cell(percent(g.row_coherence), "strong" if g.row_coherence == 1.0 else None)


def _flat_units(layer: LayerResult) -> Cell:
    act = layer.activation_stats
    if not _finite(act):
        return Cell("-")
    if act.saturated is not None:
        return Cell(percent(act.saturated) + " sat", "warn" if act.saturated >= 0.5 else None)
    if act.dead is not None:
        return Cell(percent(act.dead) + " dead", "warn" if act.dead >= 0.5 else None)
    return Cell("-")


def _step(layer: LayerResult) -> Cell:
    return Cell(number(layer.grad_to_weight) if _finite(layer.weight_grad) else "-")


def _weight(layer: LayerResult) -> TensorStats:
    return layer.weight_grad


def _bias(layer: LayerResult) -> TensorStats | None:
    return layer.bias_grad


def _output(layer: LayerResult) -> TensorStats:
    return layer.activation_stats


def _shape(view: str) -> Callable[[LayerResult], Cell]:
    def cell(layer: LayerResult) -> Cell:
        return Cell("x".join(str(n) for n in shape_of(layer, view)))

    return cell


def shape_of(layer: LayerResult, view: str) -> tuple[int, ...]:
    """The shape of the tensor `view` shows for `layer`: (out, in) for weight gradients,
    (out,) for bias gradients, (batch, out) for outputs."""
    if view == "bias":
        return (layer.out_features,)
    if view == "activation":
        return (layer.activation_stats.numel // layer.out_features, layer.out_features)
    return (layer.out_features, layer.in_features)


def _common(view: str) -> list[Column]:
    return [
        Column("layer", "layer, from the input", lambda layer: Cell(str(layer.index)), 0),
        Column("shape", _SHAPE_MEANING[view], _shape(view), 6, left=True),
        Column(
            "act",
            "activation after the layer",
            lambda layer: Cell(layer.activation_name),
            7,
            left=True,
        ),
    ]


_SHAPE_MEANING = {
    "weight": "shape of dL/dW (out x in)",
    "bias": "shape of dL/db (out)",
    "activation": "shape of the output (batch x out)",
    "flow": "shape of dL/dW (out x in)",
}

VIEW_COLUMNS: dict[str, list[Column]] = {
    "weight": [
        *_common("weight"),
        *_signs(_weight, "weight gradients", 1),
        Column("row coh", "% of neurons whose incoming gradients share one sign", _coherence, 0),
        Column("mean", "mean weight gradient", _figure(_weight, "mean"), 7),
        Column("std", "std of the weight gradients", _figure(_weight, "std"), 7),
        Column("|g|", "norm of the weight gradient", _norm(_weight), 3),
        Column("|g|/|w|", "gradient norm over weight norm: a plain SGD step's size", _step, 2),
        Column("sat/dead", "% of outputs saturated (sigmoid, tanh) or 0 (ReLU)", _flat_units, 2),
    ],
    "bias": [
        *_common("bias"),
        *_signs(_bias, "bias gradients", 1),
        Column("mean", "mean bias gradient", _figure(_bias, "mean"), 3),
        Column("std", "std of the bias gradients", _figure(_bias, "std"), 3),
        Column("|g|", "norm of the bias gradient", _norm(_bias), 2),
    ],
    "activation": [
        *_common("activation"),
        *_signs(_output, "outputs", 1),
        Column("mean", "mean output", _figure(_output, "mean"), 2),
        Column("std", "std of the outputs", _figure(_output, "std"), 2),
        Column("|a|", "norm of the output", _norm(_output), 3),
        Column("sat/dead", "% of outputs saturated (sigmoid, tanh) or 0 (ReLU)", _flat_units, 1),
    ],
    "flow": [
        *_common("flow"),
        Column("|g|", "norm of the weight gradient", _norm(_weight), 0),
        Column("|g|/|w|", "gradient norm over weight norm: a plain SGD step's size", _step, 0),
        Column("row coh", "% of neurons whose incoming gradients share one sign", _coherence, 1),
        Column("sat/dead", "% of outputs saturated (sigmoid, tanh) or 0 (ReLU)", _flat_units, 1),
    ],
}
"""The columns of each view, in display order."""

VIEW_TITLES = {
    "weight": "weight gradients per layer",
    "bias": "bias gradients per layer",
    "activation": "layer outputs (after the activation)",
    "flow": "gradient flow per layer",
}


def rows(result: ProbeResult, view: str = "weight") -> list[list[Cell]]:
    """One row of cells per layer, one cell per column of `view`."""
    return [[column.cell(layer) for column in VIEW_COLUMNS[view]] for layer in result.layers]


def fit(
    view: str, cells: list[list[Cell]], width: int, *, padding: int = 0, gap: int = GAP
) -> list[int]:
    """Indexes of the columns of `view` that fit in `width` characters, in display order;
    the least telling are dropped first. Each column takes its width and `padding`, with
    `gap` spaces between two columns."""
    columns = VIEW_COLUMNS[view]
    needed = [w + padding for w in widths(view, cells)]

    def total(shown: list[int]) -> int:
        return sum(needed[i] for i in shown) + gap * (len(shown) - 1)

    shown = list(range(len(columns)))
    by_rank = sorted(shown, key=lambda i: (columns[i].keep, i))
    while len(shown) > 1 and total(shown) > width:
        shown.remove(by_rank.pop())
    return shown


def widths(view: str, cells: list[list[Cell]]) -> list[int]:
    """The width of each column of `view`: its header or its widest cell."""
    return [
        max([len(column.header), *(len(row[i].text) for row in cells)])
        for i, column in enumerate(VIEW_COLUMNS[view])
    ]


def comparison(runs: list, threshold: float) -> tuple[list[str], list[list[Cell]]]:
    """Headers and one row per training run: final loss, accuracy, steps to `threshold`
    and the mean update row coherence of each layer (the compare report and the Train
    view)."""
    layers = len(runs[0].spec.sizes) - 1 if runs else 0
    headers = [
        "activation",
        "final loss",
        "accuracy",
        "steps to",
        *(f"L{i + 1} coh" for i in range(layers)),
    ]
    rows = []
    for run in runs:
        last = run.steps[-1] if run.steps else None
        reached = run.steps_to(threshold)
        coherence = run.mean_coherence()
        rows.append(
            [
                Cell(run.label + (" (cancelled)" if run.cancelled else "")),
                Cell(number(run.final_loss)),
                Cell(percent(last.accuracy if last else None)),
                Cell("-" if reached is None else str(reached)),
                *(Cell(percent(c), "strong" if c == 1.0 else None) for c in coherence),
            ]
        )
    return headers, rows
