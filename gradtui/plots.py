"""How a result and a training are drawn as plotext charts (the gradient flow, loss,
update coherence, trajectories), shared by the headless report and the app. Histograms
are drawn without plotext: gradtui.bars.

Every function takes a plotext figure-like object (`plt`: a `plotext` figure or a
textual-plotext widget's `plt`) and only draws on it; none touches plotext's global state.

Bars are drawn as a percentage with explicit y limits: plotext builds a bar chart in time
that grows with the bars' height in raw counts (counts of 100 took 1.7 s, 1000 hung);
normalised bars with set limits take a few ms.
"""

from __future__ import annotations

import math
from typing import Any

from gradtui.result import Entry

VIEWS = ("weight", "bias", "activation", "flow", "map")
"""What the histogram panes show: weight gradients, bias gradients, layer outputs, the
gradient flow (||g|| per layer), or one layer's sign map (drawn by gradtui.sign_map)."""

VIEW_TITLES = {
    "weight": "weight gradients",
    "bias": "bias gradients",
    "activation": "activations",
    "flow": "gradient flow",
    "map": "sign map",
}

SHORT_TITLES = {"weight": "dL/dW", "bias": "dL/db", "activation": "output", "flow": "flow"}
"""What a histogram of each view shows, short enough for a 38-column plot's title."""


def draw_flow(plt: Any, layers: list[Entry], *, width: int, log: bool = True) -> None:
    """Bars of ||dL/dW|| per weight on a log10 scale: vanishing or exploding gradients.
    A weight whose gradient is 0 (or not finite) has no bar: zero is drawn as zero.
    The built-in MLP's bars are its layers' numbers, a user's model's their positions
    among the weights, in module order (the table beside names them)."""
    plt.clear_figure()
    plt.title("gradient flow: log10 ||dL/dW|| per layer" if log else "||dL/dW|| per layer")
    norms = [layer.stats.norm for layer in layers]
    measured = [n for n in norms if n is not None and math.isfinite(n) and n > 0]
    positions = list(range(len(layers)))
    plt.xlabel("layer" if all(layer.label.isdigit() for layer in layers) else "weight")
    if not measured:
        plt.xlim(-0.5, len(layers) - 0.5)
        plt.ylim(0, 1)
        plt.yticks([], [])
        plt.text(
            "every gradient is 0 (or not finite)", (len(layers) - 1) / 2, 0.5, alignment="center"
        )
        _layer_ticks(plt, layers, width)
        return
    if log:
        # Bars rise from one decade below the smallest norm; ticks at whole decades.
        bottom = math.floor(math.log10(min(measured))) - 1
        heights = [
            math.log10(n) - bottom if n is not None and math.isfinite(n) and n > 0 else 0.0
            for n in norms
        ]
        plt.bar(positions, heights, marker="sd")
        plt.ylim(0, max(heights) * 1.05)
        decades = range(bottom, math.floor(math.log10(max(measured))) + 1)
        step = max(1, len(decades) // 5)
        marks = list(decades)[::step]
        plt.yticks([t - bottom for t in marks], [f"1e{t}" for t in marks])
    else:
        plt.bar(positions, [n if n in measured else 0.0 for n in norms], marker="sd")
        plt.ylim(0, max(measured) * 1.05)
    _layer_ticks(plt, layers, width)  # after the bars, which set ticks of their own


def spaced_ticks(count: int, width: int, *, label_width: int) -> list[int]:
    """Up to 5 evenly spread positions out of `count` whose labels cannot overlap in a
    chart `width` characters wide (the flow chart's layer ticks)."""
    room = max(1, width - 10)  # the y axis and its labels take the rest
    most = max(1, min(5, count, room // (label_width + 3)))
    if most == 1:
        return [0]
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


def _layer_ticks(plt: Any, layers: list[Entry], width: int) -> None:
    ticks = spaced_ticks(len(layers), width, label_width=len(str(len(layers))))
    numbered = all(layer.label.isdigit() for layer in layers)
    plt.xticks(ticks, [layers[t].label if numbered else str(t + 1) for t in ticks])


# -- training ---------------------------------------------------------------------------

MAX_POINTS = 400
"""Points drawn per series: plotext's time grows with them, the terminal shows fewer."""

UPDATE_RATIO_REFERENCE = -3.0
"""log10 update:data ratio that Karpathy's makemore lectures call healthy."""


def _thin(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """Every k-th point (and the last), so a long run draws as fast as a short one."""
    if len(xs) <= MAX_POINTS:
        return xs, ys
    k = math.ceil(len(xs) / MAX_POINTS)
    keep = list(range(0, len(xs), k))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


SMOOTH_POINTS = 60
"""Smoothed series average windows of len/SMOOTH_POINTS steps: a batch-1 run's per-step
figures jump between 0 and 1 every step and would fill the chart solid."""


def smooth(
    points: list[tuple[float, float | None]], window: int
) -> list[tuple[float, float | None]]:
    """Trailing mean over `window` steps of the finite values (None where there is none)."""
    if window <= 1:
        return points
    out: list[tuple[float, float | None]] = []
    total, count = 0.0, 0
    values = [y if y is not None and math.isfinite(y) else None for _, y in points]
    for i, (x, _) in enumerate(points):
        if values[i] is not None:
            total, count = total + values[i], count + 1
        if i >= window and values[i - window] is not None:
            total, count = total - values[i - window], count - 1
        out.append((x, total / count if count else None))
    return out


MARKERS = ("•", "+", "x", "o", "*", "#", "=", "%")
"""One glyph per line, so lines differ without colour (NO_COLOR, 16-colour terminals)."""


def legend(labels: list[str]) -> str:
    """The lines' glyphs and labels, for under the chart (plotext draws its own legend
    inside the data, where it hides the lines)."""
    return "  ".join(f"{MARKERS[i % len(MARKERS)]} {label}" for i, label in enumerate(labels))


def step_ticks(last: float) -> list[int]:
    """Up to five whole steps from 1 to `last`."""
    last = max(1, int(last))
    return sorted({round(1 + i * (last - 1) / 4) for i in range(5)})


def draw_series(
    plt: Any,
    series: list[tuple[str, list[tuple[float, float | None]]]],
    title: str,
    *,
    reference: float | None = None,
    ylim: tuple[float, float] | None = None,
    smoothed: bool = False,
    percent: bool = False,
) -> None:
    """Lines of (x, y) points, one per label, each with its own glyph (the legend is under
    the chart); None values are gaps left out. `smoothed` draws trailing means over a
    window that grows with the run, said in the title. `percent` labels 0..1 as %."""
    plt.clear_figure()
    window = max((len(points) for _, points in series), default=0) // SMOOTH_POINTS
    if smoothed and window > 1:
        series = [(label, smooth(points, window)) for label, points in series]
        title = f"{title}, mean of {window} steps"
    plt.title(title)
    drawn = []
    last = 1.0
    for i, (label, points) in enumerate(series):
        kept = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
        if not kept:
            continue
        xs, ys = _thin([p[0] for p in kept], [p[1] for p in kept])
        plt.plot(xs, ys, marker=MARKERS[i % len(MARKERS)])
        drawn.append(label)
        last = max(last, xs[-1])
    if not drawn:
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.text("no steps yet", 0.35, 0.5)
        return
    if reference is not None:
        plt.hline(reference, "gray")
    if ylim is not None:
        plt.ylim(*ylim)
    if percent:
        plt.yticks([0, 0.5, 1], ["0%", "50%", "100%"])
    ticks = step_ticks(last)
    plt.xticks(ticks, [str(t) for t in ticks])
    plt.xlabel(legend(drawn) if len(series) > 1 else "step")


def loss_series(runs: list) -> list[tuple[str, list[tuple[float, float | None]]]]:
    return [(run.label, [(s.step, s.loss) for s in run.steps]) for run in runs]


def layer_series(run, key: str) -> list[tuple[str, list[tuple[float, float | None]]]]:
    """One line per layer of `key` (update_ratio or update_coherence) over the steps."""
    if not run.steps:
        return []
    count = len(run.steps[0].layers)
    return [
        (f"L{i + 1}", [(s.step, getattr(s.layers[i], key)) for s in run.steps])
        for i in range(count)
    ]


def traced_series(
    runs: list, layer: int, key: str
) -> list[tuple[str, list[tuple[float, float | None]]]]:
    """One line per run of `key` in one layer (0-based): the compare overlay."""
    return [
        (run.label, [(s.step, getattr(s.layers[layer], key)) for s in run.steps])
        for run in runs
        if run.steps and layer < len(run.steps[0].layers)
    ]


def draw_trajectory(plt: Any, runs: list) -> None:
    """The path of the two traced weights: a zig-zag where an update cannot split them."""
    plt.clear_figure()
    plt.title(f"trajectory: {runs[0].traced}" if runs else "trajectory of two weights")
    drawn = []
    for i, run in enumerate(runs):
        points = [run.start, *(s.trajectory for s in run.steps)]
        points = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
        xs, ys = _thin([p[0] for p in points], [p[1] for p in points])
        if len(xs) > 1:
            plt.plot(xs, ys, marker=MARKERS[i % len(MARKERS)])
            plt.scatter([xs[0]], [ys[0]], marker="@")
            drawn.append(run.label)
    if not drawn:
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.text("no finite steps yet", 0.3, 0.5)
        return
    plt.xlabel(f"weight A vs weight B, @ start  {legend(drawn) if len(drawn) > 1 else ''}")


def traced_layer(runs: list) -> int:
    """The layer (0-based) whose figures the compare overlays follow: the one whose
    weights the trajectory traces (by default the first fed by activation outputs)."""
    return runs[0].traced_layer if runs else 0


def _per_layer_or_traced(runs: list, key: str, name: str) -> tuple[list, str]:
    if len(runs) <= 1:
        return (layer_series(runs[0], key) if runs else []), f"{name} per layer"
    layer = traced_layer(runs)
    return traced_series(runs, layer, key), f"{name}, layer {layer + 1}"


def draw_loss(plt: Any, runs: list) -> None:
    draw_series(plt, loss_series(runs), "loss on the whole data set")


def draw_update_ratio(plt: Any, runs: list) -> None:
    """log10 update:data per layer (one run) or of the traced layer per run, ref -3."""
    series, title = _per_layer_or_traced(runs, "update_ratio", "log10 update:data")
    draw_series(plt, series, title + " (ref -3)", reference=UPDATE_RATIO_REFERENCE, smoothed=True)


def draw_update_coherence(plt: Any, runs: list) -> None:
    """Update row coherence per layer (one run) or of the traced layer per run."""
    series, title = _per_layer_or_traced(runs, "update_coherence", "update row coherence")
    draw_series(plt, series, title, ylim=(-0.02, 1.02), smoothed=True, percent=True)


TRAINING_CHARTS = (draw_loss, draw_update_ratio, draw_update_coherence, draw_trajectory)
"""The four charts of a training run, as the Train view lays them out."""
