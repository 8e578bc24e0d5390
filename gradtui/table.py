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

from gradtui.result import Entry, ProbeResult, TensorStats

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
    cell: Callable[[Entry], Cell]
    keep: int
    """Rank in which columns are kept when space runs out: 0 is dropped last."""
    left: bool = False

    def align(self, text: str, width: int) -> str:
        """`text` padded to `width`: names to the left, numbers to the right."""
        return text.ljust(width) if self.left else text.rjust(width)


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


def _share(stats: TensorStats, key: str, tag: str | None = None) -> Cell:
    if not _finite(stats):
        return Cell("-")
    value = getattr(stats, key)
    return Cell(percent(value), tag if value > 0 else None)


def _signs(noun: str, keep: int) -> list[Column]:
    def one_signed(entry: Entry) -> str | None:
        return "strong" if entry.stats.one_signed else None

    return [
        Column("+", f"% of {noun} > 0", lambda e: _share(e.stats, "pos", one_signed(e)), keep),
        Column("-", f"% of {noun} < 0", lambda e: _share(e.stats, "neg", one_signed(e)), keep),
        Column("0", f"% of {noun} == 0", lambda e: _share(e.stats, "zero"), keep + 4),
    ]


def _figure(key: str) -> Callable[[Entry], Cell]:
    def cell(entry: Entry) -> Cell:
        return Cell(number(getattr(entry.stats, key) if _finite(entry.stats) else None))

    return cell


def _norm(entry: Entry) -> Cell:
    if entry.stats.nonfinite:
        return Cell(f"{entry.stats.nonfinite} NaN/Inf", "error")
    return Cell(number(entry.stats.norm))


def _coherence(entry: Entry) -> Cell:
    coherence = entry.stats.row_coherence
    return Cell(percent(coherence), "strong" if coherence == 1.0 else None)


def _input_signs(entry: Entry) -> Cell:
    share = entry.input_non_negative
    return Cell(percent(share), "strong" if share == 1.0 else None)


def _flat_units(entry: Entry) -> Cell:
    out = entry.stats
    if not _finite(out):
        return Cell("-")
    if out.saturated is not None:
        return Cell(percent(out.saturated) + " sat", "warn" if out.saturated >= 0.5 else None)
    if out.dead is not None:
        return Cell(percent(out.dead) + " dead", "warn" if out.dead >= 0.5 else None)
    return Cell("-")


def _step(entry: Entry) -> Cell:
    return Cell(number(entry.grad_to_param) if _finite(entry.stats) else "-")


def _shape(entry: Entry) -> Cell:
    return Cell("x".join(str(n) for n in entry.shape))


NAME_WIDTH = 28
"""The widest a name gets in a table or a title: longer ones lose their middle."""


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """`name`, its middle replaced by `~` when longer than `width`: a third of the room
    for the start (`blocks.0.`), the rest for the end, which tells most
    (`in_proj_weight` and `out_proj.weight` stay apart)."""
    if len(name) <= width:
        return name
    if width < 3:  # no room for a start, a `~` and an end
        return name[len(name) - width :] if width > 0 else ""
    head = (width - 1) // 3
    return name[:head] + "~" + name[len(name) - (width - 1 - head) :]


def _common(view: str, builtin: bool) -> list[Column]:
    if builtin:
        return [
            Column("layer", "layer, from the input", lambda e: Cell(e.label), 0),
            Column("shape", _SHAPE_MEANING[view], _shape, 6, left=True),
            Column(
                "act",
                "activation after the layer",
                lambda e: Cell(e.activation or "-"),
                7,
                left=True,
            ),
        ]
    noun = "module" if view == "activation" else "parameter"
    return [
        Column(
            "name", f"the {noun}'s qualified name", lambda e: Cell(short_name(e.name)), 0, left=True
        ),
        Column("shape", _SHAPE_MEANING[view], _shape, 6, left=True),
        Column("module", "the module's class", lambda e: Cell(e.kind), 7, left=True),
    ]


_SHAPE_MEANING = {
    "weight": "shape of dL/dW (out x in)",
    "bias": "shape of dL/db (out)",
    "activation": "shape of the output (batch x out)",
    "flow": "shape of dL/dW (out x in)",
}

_IN = Column(
    "in>=0",
    "% of the layer's input entries >= 0: at 100%, one sample's rows are one-signed",
    _input_signs,
    4,
)


def columns(view: str, builtin: bool = True) -> list[Column]:
    """The columns of `view`, in display order; `builtin`: the built-in MLP's, whose
    rows are its layers, else a user's model's, whose rows are named parameters."""
    common = _common(view, builtin)
    if view == "bias":
        return [
            *common,
            *_signs("bias gradients", 1),
            Column("mean", "mean bias gradient", _figure("mean"), 3),
            Column("std", "std of the bias gradients", _figure("std"), 3),
            Column("|g|", "norm of the bias gradient", _norm, 2),
        ]
    if view == "activation":
        return [
            *common,
            *_signs("outputs", 1),
            Column("mean", "mean output", _figure("mean"), 2),
            Column("std", "std of the outputs", _figure("std"), 2),
            Column("|a|", "norm of the output", _norm, 3),
            Column(
                "sat/dead", "% of outputs saturated (sigmoid, tanh) or 0 (ReLU)", _flat_units, 1
            ),
        ]
    if view == "flow":
        return [
            *common,
            Column("|g|", "norm of the weight gradient", _norm, 0),
            Column("|g|/|w|", "gradient norm over weight norm: a plain SGD step's size", _step, 0),
            Column(
                "row coh", "% of neurons whose incoming gradients share one sign", _coherence, 1
            ),
            _IN,
        ]
    return [
        *common,
        *_signs("weight gradients", 1),
        Column("row coh", "% of neurons whose incoming gradients share one sign", _coherence, 0),
        _IN,
        Column("mean", "mean weight gradient", _figure("mean"), 7),
        Column("std", "std of the weight gradients", _figure("std"), 7),
        Column("|g|", "norm of the weight gradient", _norm, 3),
        Column("|g|/|w|", "gradient norm over weight norm: a plain SGD step's size", _step, 2),
    ]


VIEW_COLUMNS: dict[str, list[Column]] = {
    view: columns(view) for view in ("weight", "bias", "activation", "flow")
}
"""The built-in MLP's columns of each view, in display order."""

VIEW_TITLES = {
    "weight": "weight gradients per layer",
    "bias": "bias gradients per layer",
    "activation": "layer outputs (after the activation)",
    "flow": "gradient flow per layer",
}

MODEL_TITLES = {
    "weight": "weight gradients per parameter",
    "bias": "gradients of 1-D parameters (biases, norms)",
    "activation": "outputs of the leaf modules",
    "flow": "gradient flow per parameter",
}


def title(result: ProbeResult, view: str) -> str:
    return (VIEW_TITLES if result.spec.builtin else MODEL_TITLES)[view]


def result_columns(result: ProbeResult, view: str) -> list[Column]:
    return columns(view, result.spec.builtin)


def rows(
    result: ProbeResult, view: str = "weight", entries: list[Entry] | None = None
) -> list[list[Cell]]:
    """One row of cells per entry `view` shows (or per one of `entries`), one cell per
    column of `view`."""
    shown = result_columns(result, view)
    entries = result.entries(view) if entries is None else entries
    return [[column.cell(entry) for column in shown] for entry in entries]


def fit(
    columns: list[Column],
    cells: list[list[Cell]],
    width: int,
    *,
    padding: int = 0,
    gap: int = GAP,
) -> list[int]:
    """Indexes of `columns` that fit in `width` characters, in display order; the least
    telling are dropped first. Each column takes its width and `padding`, with `gap`
    spaces between two columns."""
    needed = [w + padding for w in widths(columns, cells)]

    def total(shown: list[int]) -> int:
        return sum(needed[i] for i in shown) + gap * (len(shown) - 1)

    shown = list(range(len(columns)))
    by_rank = sorted(shown, key=lambda i: (columns[i].keep, i))
    while len(shown) > 1 and total(shown) > width:
        shown.remove(by_rank.pop())
    return shown


def widths(columns: list[Column], cells: list[list[Cell]]) -> list[int]:
    """The width of each column: its header or its widest cell."""
    return [
        max([len(column.header), *(len(row[i].text) for row in cells)])
        for i, column in enumerate(columns)
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
