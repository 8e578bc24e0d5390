"""How `gradtui open` draws a recorded run: the distribution of a parameter's gradient
over time (TensorBoard's distribution view, as nested bands), figures over time, and the
histogram at the shown step. Like plots.py, every function over time only draws on the
plotext figure it is given; the histogram is a gradtui.bars chart.

Every chart over time marks the shown step (`│`) and the first non-finite step (`!`).
A chart narrower than the run draws a column per group of steps: the lowest and the
highest value of the group (the outer bands' widest), so a spike is never thinned away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradtui.bars import HistogramChart, format_tick, histogram_chart
from gradtui.result import Histogram
from gradtui.run_view import BandRange, ClippedHistogram
from gradtui.runfile import BAND_PERCENTILES

STEP_MARK = "│"
NONFINITE_MARK = "!"
MEDIAN_MARK = "•"
SERIES_MARK = "•"
BAND_GLYPHS = ("░", "▒", "▓")
"""Outer (0-6.68 and 93.32-100th percentile), middle (6.68-15.87, 84.13-93.32) and
inner (15.87-84.13) bands, darker inward, as TensorBoard shades them."""
BAND_COLOR = "blue+"
"""One hue for every band: the glyphs' density tells them apart, as TensorBoard's shades."""
MEDIAN_COLOR = "orange"
Y_AXIS = 10
"""Columns the y axis and its labels take."""


@dataclass(frozen=True)
class Marks:
    """What every chart over time marks."""

    step: int | None = None
    """The shown step."""
    nonfinite: int | None = None
    """The first recorded step with a non-finite gradient or loss."""


@dataclass(frozen=True)
class Prepared:
    """Figures over time as arrays, made once per read (a run of 10,000 steps takes
    milliseconds to convert), drawn at any width and step mark."""

    steps: list[int]
    """Steps with a value."""
    values: np.ndarray
    """(steps, k): 9 percentiles per step for bands, 1 value for a series."""
    first: int
    """The first and last step of the run (the x range), with a value or not."""
    last: int

    @property
    def empty(self) -> bool:
        return not self.steps


def prepare_bands(bands: list[tuple[int, tuple[float, ...]]]) -> Prepared:
    steps = [step for step, _ in bands]
    values = np.array([v for _, v in bands], dtype=np.float64).reshape(
        len(bands), len(BAND_PERCENTILES)
    )
    return Prepared(steps, values, steps[0] if steps else 0, steps[-1] if steps else 0)


def prepare_series(points: list[tuple[int, float | None]], *, log10: bool = False) -> Prepared:
    """A series' finite values (with `log10`, the log10 of its positive ones)."""
    if not points:
        return Prepared([], np.zeros((0, 1)), 0, 0)
    steps_all = np.array([x for x, _ in points], dtype=np.int64)
    values = np.array([np.nan if y is None else y for _, y in points], dtype=np.float64)
    keep = np.isfinite(values)
    if log10:
        keep &= values > 0
        values = np.log10(values, where=keep, out=np.full_like(values, np.nan))
    return Prepared(
        steps_all[keep].tolist(), values[keep].reshape(-1, 1), points[0][0], points[-1][0]
    )


def columns(width: int) -> int:
    """Data columns of a chart `width` characters wide."""
    return max(4, width - Y_AXIS)


def time_ticks(first: int, last: int, width: int) -> list[int]:
    """Up to 5 steps from `first` to `last` whose labels cannot overlap."""
    if last <= first:
        return [first]
    label = len(str(last)) + 3
    most = max(2, min(5, columns(width) // label))
    return sorted({round(first + i * (last - first) / (most - 1)) for i in range(most)})


def envelope(steps: list[int], values: np.ndarray, buckets: int) -> tuple[list, np.ndarray]:
    """Steps and values (n, k) cut into at most `buckets` groups of equal size: per group,
    its first step, and per column the group's lowest value (`values[:, :k//2]`, the
    lower bands) or highest (the rest, upper bands and the median's upper half).
    For one series (k=1) the group gives two points, its lowest and its highest."""
    n = len(steps)
    if n <= buckets:
        return steps, values
    size = math.ceil(n / buckets)
    starts = np.arange(0, n, size)
    xs = [steps[i] for i in starts]
    if values.shape[1] == 1:
        low = np.fmin.reduceat(values[:, 0], starts)
        high = np.fmax.reduceat(values[:, 0], starts)
        pairs = np.stack([low, high], axis=1).reshape(-1, 1)
        return [x for x in xs for _ in (0, 1)], pairs
    half = values.shape[1] // 2
    low = np.fmin.reduceat(values[:, :half], starts, axis=0)
    middle = values[starts, half : half + 1]
    high = np.fmax.reduceat(values[:, half + 1 :], starts, axis=0)
    return xs, np.concatenate([low, middle, high], axis=1)


def _legend(items: list[str], width: int) -> str:
    """Items two spaces apart, in order of importance, as many as fit `width`."""
    out = ""
    for item in items:
        candidate = f"{out}  {item}" if out else item
        if len(candidate) <= width:
            out = candidate
    return out


def _first_fitting(texts: tuple[str, ...], width: int) -> str:
    return next((t for t in texts if len(t) <= width), texts[-1])


def snapped(step: int, first: int, last: int, width: int) -> float:
    """Where the shown step's mark is drawn: the middle of the chart's column holding
    `step`. The steps of one column draw the same chart, so a scrub within a column
    redraws nothing (a run of 10,000 steps has hundreds per column)."""
    if last <= first:
        return float(step)
    cols = columns(width)
    column = round((step - first) / (last - first) * (cols - 1))
    return first + column * (last - first) / (cols - 1)


def mark_key(marks: Marks, first: int, last: int, width: int) -> tuple:
    """What a chart's marks look like at `width`: equal keys, equal charts."""
    step = None if marks.step is None else snapped(marks.step, first, last, width)
    return (step, marks.nonfinite, width)


def _mark_items(marks: Marks, first: int, last: int) -> list[str]:
    items = []
    if marks.nonfinite is not None and first <= marks.nonfinite <= last:
        items.append(f"{NONFINITE_MARK} NaN/Inf {marks.nonfinite}")
    if marks.step is not None:
        items.append(f"{STEP_MARK} shown step")
    return items


def _draw_marks(
    plt: Any, marks: Marks, low: float, high: float, first: int, last: int, width: int
) -> None:
    if marks.step is not None and first <= marks.step <= last:
        at = snapped(marks.step, first, last, width)
        plt.plot([at, at], [low, high], marker=STEP_MARK, color="gray")
    if marks.nonfinite is not None and first <= marks.nonfinite <= last:
        at = marks.nonfinite
        plt.plot([at, at], [low, high], marker=NONFINITE_MARK, color="red")


def _yticks(plt: Any, ticks: list[float], labels: list[str]) -> int:
    """Set the y ticks; the room left for the legend under the chart (plotext leaves out
    an x label wider than the plot less its y labels)."""
    plt.yticks(ticks, labels)
    return max((len(label) for label in labels), default=0) + 1


def _value_ticks(plt: Any, low: float, high: float, count: int = 3) -> int:
    ticks = [low + i * (high - low) / (count - 1) for i in range(count)]
    return _yticks(plt, ticks, [format_tick(t) for t in ticks])


def _axes(plt: Any, first: int, last: int, width: int) -> None:
    if last > first:
        plt.xlim(first, last)
    else:
        plt.xlim(first - 1, first + 1)
    ticks = time_ticks(first, last, width)
    plt.xticks(ticks, [str(t) for t in ticks])


def _empty(plt: Any, title: str, text: str) -> None:
    plt.title(title)
    plt.xlim(0, 1)
    plt.ylim(0, 1)
    plt.xticks([], [])
    plt.yticks([], [])
    plt.text(text, 0.5, 0.5, alignment="center")


def _padded(low: float, high: float) -> tuple[float, float]:
    """Some room around the values; none below 0 for values that are not negative (a
    loss, a norm), whose axis would otherwise start at a negative tick."""
    pad = 0.05 * (high - low) if high > low else abs(low) * 0.1 or 1.0
    bottom = low - pad
    return (0.0 if low >= 0 > bottom else bottom), high + pad


def draw_bands(
    plt: Any,
    bands: Prepared,
    title: str,
    *,
    width: int,
    marks: Marks = Marks(),
    clip: BandRange | None = None,
    empty: str = "no finite entries recorded",
) -> None:
    """The percentile bands (RunReader.bands, prepare_bands) over the steps: nested
    shades from the outer (min to max) to the inner (15.87th to 84.13th percentile) band,
    the median as a line. `clip`: the value range cut to the inner bands
    (run_view.band_range), with the number of steps whose min or max it cuts said under
    the chart."""
    plt.clear_figure()
    if bands.empty:
        _empty(plt, title, empty)
        return
    steps, values, first, last = bands.steps, bands.values, bands.first, bands.last
    if clip is not None:
        low, high = clip.low, clip.high
        values = np.clip(values, low, high)
    else:
        low, high = _padded(float(values[:, 0].min()), float(values[:, -1].max()))
    xs, shown = envelope(steps, values, columns(width))
    plt.title(title)
    # Painted from the top band down, each filled to the bottom: the next paints over it.
    fills = ((8, 0), (7, 1), (6, 2), (2, 1), (1, 0))
    for column, shade in fills:
        glyph = BAND_GLYPHS[shade]
        plt.plot(xs, shown[:, column].tolist(), marker=glyph, color=BAND_COLOR, fillx=low)
    plt.plot(xs, shown[:, 0].tolist(), marker=" ", fillx=low)  # below the minimum: blank
    plt.plot(xs, shown[:, 4].tolist(), marker=MEDIAN_MARK, color=MEDIAN_COLOR)
    _draw_marks(plt, marks, low, high, first, last, width)
    plt.ylim(low, high)
    labels = _value_ticks(plt, low, high)
    _axes(plt, first, last, width)
    items = _mark_items(marks, first, last)
    if clip is not None:
        items.insert(0, f"clipped at {clip.clipped_steps}/{clip.steps} steps")
    items.append(f"{MEDIAN_MARK} median")
    plt.xlabel(_legend(items, width - labels))


def draw_over_time(
    plt: Any,
    series: Prepared,
    title: str,
    *,
    width: int,
    marks: Marks = Marks(),
    reference: float | None = None,
    percent: bool = False,
    log10: bool = False,
) -> None:
    """One figure over the steps (prepare_series: None, non-finite values and, with
    `log10`, values <= 0 left out; the axis is then log10 of the value, ticks in
    decades)."""
    plt.clear_figure()
    if series.empty:
        _empty(plt, title, "no values recorded yet" if not series.last else "no finite values")
        return
    first, last = series.first, series.last
    xs, shown = envelope(series.steps, series.values, columns(width))
    ys = shown[:, 0].tolist()
    low, high = min(ys), max(ys)
    if reference is not None:
        low, high = min(low, reference), max(high, reference)
    if percent:
        low, high = -0.02, 1.02
    else:
        low, high = _padded(low, high)
    plt.title(title)
    plt.plot(xs, ys, marker=SERIES_MARK)
    if reference is not None:
        plt.hline(reference, "gray")
    _draw_marks(plt, marks, low, high, first, last, width)
    plt.ylim(low, high)
    if percent:
        labels = _yticks(plt, [0, 0.5, 1], ["0%", "50%", "100%"])
    elif log10:
        decades = list(range(math.ceil(low), math.floor(high) + 1))
        if decades:
            step = max(1, len(decades) // 3)
            marks_at = decades[::step]
            labels = _yticks(plt, marks_at, [f"1e{d}" for d in marks_at])
        else:  # within one decade
            labels = _yticks(plt, [low, high], [format_tick(10**low), format_tick(10**high)])
    else:
        labels = _value_ticks(plt, low, high)
    _axes(plt, first, last, width)
    items = _mark_items(marks, first, last)
    if reference is not None:
        items.insert(1 if marks.nonfinite is not None else 0, f"ref {reference:g}")
    plt.xlabel(_legend(items, width - labels))


def step_histogram_chart(
    hist: Histogram | None,
    title: str,
    *,
    width: int,
    clipped: ClippedHistogram | None = None,
) -> HistogramChart:
    """The exact histogram at the shown step; `clipped`: only its bins between the
    1st and 99th percentile, the entries left out counted under the chart."""
    if hist is None:
        return HistogramChart(
            title, [0.0], 1.0, [], [], message="no gradient at this step", note=""
        )
    note = ""  # a blank line where the charts beside it have their legend
    if clipped is not None:
        below, above, total = clipped.below, clipped.above, clipped.total
        texts = (
            f"clip 1-99%: {below:,} left, {above:,} right of {total:,}",
            f"clip 1-99%: {below:,} left, {above:,} right",
            f"clip: {below + above:,} out",
        )
        note = _first_fitting(texts, width)
    shown = clipped.hist if clipped is not None else hist
    return histogram_chart(shown, title, width=width, note=note)
