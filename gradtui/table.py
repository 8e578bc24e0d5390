"""The per-layer sign table as text cells, shared by the headless report and the app.

Each cell carries a tag saying whether it tells part of the story, so each view can
colour it its own way (rich styles in the report, theme variables in the app).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gradtui.result import LayerResult, ProbeResult

COLUMNS = (
    ("layer", "layer"),
    ("shape", "shape (out x in)"),
    ("act", "activation after the layer"),
    ("+", "% of weight gradients > 0"),
    ("-", "% of weight gradients < 0"),
    ("0", "% of weight gradients == 0"),
    ("row coh", "% of neurons whose incoming gradients share one sign"),
    ("mean", "mean weight gradient"),
    ("std", "std of the weight gradients"),
    ("|g|", "norm of the weight gradient"),
    ("|g|/|w|", "gradient norm over weight norm: the relative size of a plain SGD step"),
    ("sat/dead", "% of outputs saturated (sigmoid, tanh) or exactly 0 (ReLU)"),
)
"""(header, meaning) of each column, in order."""

WIDE_ONLY = {"mean", "std"}
"""Columns left out where the space is narrower than WIDE_WIDTH."""
WIDE_WIDTH = 110
NARROW_WIDTH = 72
STORY_ORDER = ("layer", "+", "-", "row coh", "sat/dead", "|g|/|w|", "|g|", "0", "shape", "act")
"""Column order where even the short table does not fit: the story's columns first, so
they stay in view and the rest scroll."""
LEFT_ALIGNED = {"shape", "act"}


def columns(width: int) -> list[int]:
    """Indexes of the columns to show in a space `width` characters wide, in order."""
    headers = [header for header, _ in COLUMNS]
    if width >= WIDE_WIDTH:
        return list(range(len(COLUMNS)))
    if width >= NARROW_WIDTH:
        return [i for i, header in enumerate(headers) if header not in WIDE_ONLY]
    return [headers.index(header) for header in STORY_ORDER]


@dataclass(frozen=True)
class Cell:
    text: str
    tag: str | None = None
    """`strong`: a headline figure (100% coherence, one-signed layer); `warn`: saturated
    or dead units; `error`: non-finite entries; None: ordinary."""


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def layer_cells(layer: LayerResult) -> list[Cell]:
    g = layer.weight_grad
    one_signed = "strong" if g.one_signed else None
    coherence = "strong" if g.row_coherence == 1.0 else None
    act = layer.activation_stats
    if act.saturated is not None:
        extra = Cell(percent(act.saturated) + " sat", "warn" if act.saturated >= 0.5 else None)
    elif act.dead is not None:
        extra = Cell(percent(act.dead) + " dead", "warn" if act.dead >= 0.5 else None)
    else:
        extra = Cell("-")
    norm = Cell(number(g.norm), "error" if g.nonfinite else None)
    if g.nonfinite:
        norm = Cell(f"{g.nonfinite} NaN/Inf", "error")
    return [
        Cell(str(layer.index)),
        Cell(f"{layer.out_features}x{layer.in_features}"),
        Cell(layer.activation_name),
        Cell(percent(g.pos), one_signed if g.pos > 0 else None),
        Cell(percent(g.neg), one_signed if g.neg > 0 else None),
        Cell(percent(g.zero)),
        Cell(percent(g.row_coherence), coherence),
        Cell(number(g.mean)),
        Cell(number(g.std)),
        norm,
        Cell(number(layer.grad_to_weight)),
        extra,
    ]


def rows(result: ProbeResult) -> list[list[Cell]]:
    return [layer_cells(layer) for layer in result.layers]
