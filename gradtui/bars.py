"""Histograms drawn as text, without plotext: what a chart shows (`HistogramChart`, plain
data that tests read) and how it is written in a width and height (`render`).

One renderer serves the app, the headless report and the run view. Drawing directly is
about a hundred times cheaper than a plotext build (which lays out a character matrix
through several passes and is then parsed back from ANSI), and it gives bars eighths of
a row: a bar of one entry among a million still shows.

Columns and bins: a column that spans several bins shows the tallest of the bins whose
centres fall in it, so the y axis still reads "share of entries in one bin"; a bin
wider than a column is drawn over every column whose centre it holds. The x ticks are
round values (multiples of 1, 2 or 5 x 10^k, zero among them when in range), each marked
`┬` on the axis under the column that holds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text

from gradtui.result import Histogram
from gradtui.table import short_name

EIGHTHS = " ▁▂▃▄▅▆▇█"
"""A bar's top: 0 to 8 eighths of a row."""

FRAME = 2
"""Columns the frame takes beside the plot: the y axis and the right edge."""


def format_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-2:
        return f"{value:.1e}"
    return f"{value:.3g}"


def round_ticks(lo: float, hi: float, most: int) -> list[float]:
    """At most `most` (and at least one where the range allows) multiples of the
    smallest step of 1, 2 or 5 x 10^k that fits them in [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo or most < 1:
        return []
    raw = (hi - lo) / most
    power = 10.0 ** math.floor(math.log10(raw))
    for step in (m * power for m in (1, 2, 5, 10, 20)):
        first, last = math.ceil(lo / step), math.floor(hi / step)
        if last - first + 1 <= most:
            return [k * step for k in range(first, last + 1)]
    return []


def tick_labels(ticks: list[float]) -> list[str]:
    """One notation for every tick of an axis, with the digits their step needs."""
    if not ticks:
        return []
    step = ticks[1] - ticks[0] if len(ticks) > 1 else abs(ticks[0]) or 1.0
    largest = max(abs(t) for t in ticks)
    if step >= 1e-2 and largest < 1e4:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        return ["0" if t == 0 else f"{t:.{decimals}f}" for t in ticks]
    digits = max(0, math.floor(math.log10(largest) + 1e-9) - math.floor(math.log10(step) + 1e-9))
    return ["0" if t == 0 else f"{t:.{digits}e}" for t in ticks]


def titled(name: str, rest: str, width: int) -> str:
    """`name rest` in `width` characters. What gives way first: the words of `rest`
    after its first (the shape stays, the view is named elsewhere), then the name's
    middle."""
    words = rest.split()
    for kept in range(len(words), 0, -1):
        about = " ".join(words[:kept])
        if len(name) + 1 + len(about) <= width:
            return f"{name} {about}"
    about = " ".join(words[:1])
    return f"{short_name(name, width - len(about) - 1)} {about}".strip()


@dataclass(frozen=True)
class HistogramChart:
    """What a histogram chart shows, independent of how it is written."""

    title: str
    heights: list[float]
    """Each bin's bar in y units: the percentage of entries, or log10 of it shifted so
    that one entry still stands above zero."""
    top: float
    """The y value at the top of the plot."""
    yticks: list[tuple[float, str]]
    """(y value, label) of each y tick; 0 is at the axis."""
    xticks: list[tuple[float, str]]
    """(x value, label) of each x tick: round values inside the range."""
    lo: float = 0.0
    hi: float = 1.0
    """The x range the bins cover: the first and last edge."""
    log: bool = False
    """Heights on a log scale: the axis is below one entry, not at 0 %."""
    message: str | None = None
    """Said inside the plot instead of bars (a histogram with no finite entry)."""
    note: str | None = None
    """A line under the x ticks (what a clipped histogram left out); "" keeps the line
    blank, so the chart lines up with charts that have a legend there."""


def histogram_chart(
    hist: Histogram,
    title: str,
    *,
    width: int,
    log: bool = False,
    note: str | None = None,
) -> HistogramChart:
    """The bars of the share of entries per bin, with round x ticks that fit `width`
    characters; `log`: log10 of the share, ticks at whole decades."""
    title = title + (", log %" if log else ", %")
    total = sum(hist.counts)
    bins = len(hist.counts)
    lo, hi = hist.edges[0], hist.edges[-1]
    if total == 0:
        return HistogramChart(
            title, [0.0] * bins, 1.0, [], [], lo, hi, log, "no finite entries", note
        )
    shares = [100.0 * c / total for c in hist.counts]
    if log:
        floor = math.log10(100.0 / total)  # the share of one entry
        heights = [math.log10(s) - floor + 0.1 if s > 0 else 0.0 for s in shares]
        decades = range(math.ceil(floor), math.floor(math.log10(max(shares))) + 1)
        yticks = [(d - floor + 0.1, format_tick(10.0**d)) for d in decades]
    else:
        heights = shares
        yticks = _linear_ticks(max(shares))
    top = max(heights) * 1.05
    label_width = max(len(label) for _, label in yticks) if yticks else 1
    return HistogramChart(
        title, heights, top, yticks, _x_ticks(lo, hi, width - label_width - FRAME),
        lo, hi, log, None, note,
    )  # fmt: skip


def _x_ticks(lo: float, hi: float, plot_width: int) -> list[tuple[float, str]]:
    """As many round ticks as have room for their labels, two cells apart: marks as
    far apart as the widest label and two more, and every label inside the chart."""
    for most in range(6, 0, -1):
        ticks = round_ticks(lo, hi, most)
        labels = tick_labels(ticks)
        if not labels:
            continue
        widest = max(len(label) for label in labels)
        apart = plot_width * (ticks[1] - ticks[0]) / (hi - lo) if len(ticks) > 1 else plot_width
        if apart >= widest + 2 and widest <= plot_width:
            return list(zip(ticks, labels))
    return []


def _linear_ticks(high: float) -> list[tuple[float, str]]:
    """Ticks at multiples of the largest 1, 2 or 5 x 10^k that gives two or more up to
    `high`: two to five of them."""
    half = high / 2
    power = 10.0 ** math.floor(math.log10(half))
    step = max(m * power for m in (1, 2, 5) if m * power <= half * (1 + 1e-12))
    count = int(high / step + 1e-9)
    return [(k * step, format_tick(k * step)) for k in range(1, count + 1)]


def column_bins(bins: int, columns: int) -> list[list[int]]:
    """The bins each of `columns` columns shows (see the module's note)."""
    if columns >= bins:
        return [[min(bins - 1, int((c + 0.5) * bins / columns))] for c in range(columns)]
    shown: list[list[int]] = [[] for _ in range(columns)]
    for i in range(bins):
        shown[min(columns - 1, int((i + 0.5) * columns / bins))].append(i)
    return shown


def column_heights(chart: HistogramChart, columns: int) -> list[float]:
    """The y value drawn in each of `columns` columns."""
    groups = column_bins(len(chart.heights), columns)
    return [max(chart.heights[i] for i in group) for group in groups]


def tick_column(chart: HistogramChart, value: float, columns: int) -> int:
    """The column of `columns` whose x range holds `value`."""
    span = chart.hi - chart.lo
    if span <= 0:
        return columns // 2
    return max(0, min(columns - 1, math.floor((value - chart.lo) / span * columns)))


def render(
    chart: HistogramChart,
    width: int,
    height: int,
    *,
    bar_style: str = "",
    axis_style: str = "dim",
    title_style: str = "",
) -> Text:
    """The chart in `width` x `height` cells: a title, the framed plot with its y axis,
    the x tick labels (and the note). Needs height >= 5 and width >= 8."""
    rows = height - 4 - (chart.note is not None)
    labels = {_row(value, chart.top, rows): label for value, label in chart.yticks}
    label_width = max([1, *(len(label) for label in labels.values())])
    plot_width = width - label_width - FRAME
    heights = column_heights(chart, plot_width)
    eighths = [_eighths(h, chart.top, rows) for h in heights]
    marks = {tick_column(chart, value, plot_width): label for value, label in chart.xticks}
    pad = " " * label_width

    text = Text(no_wrap=True, overflow="crop", end="")
    text.append(fit(chart.title, width).center(width).rstrip(), style=title_style)
    text.append("\n" + pad + "┌" + "─" * plot_width + "┐", style=axis_style)
    for row in range(rows - 1, -1, -1):  # the top row first
        label = labels.get(row)
        text.append("\n")
        text.append(label.rjust(label_width) + "┤" if label else pad + "│", style=axis_style)
        if chart.message is not None:
            line = chart.message.center(plot_width) if row == rows // 2 else ""
            text.append(fit(line, plot_width).ljust(plot_width))
        else:
            cells = "".join(EIGHTHS[max(0, min(8, e - 8 * row))] for e in eighths)
            text.append(cells, style=bar_style)
        text.append("│", style=axis_style)
    axis = "".join("┬" if c in marks else "─" for c in range(plot_width))
    zero = "" if chart.log else "0"
    text.append("\n" + zero.rjust(label_width) + "└" + axis + "┘", style=axis_style)
    text.append("\n")
    text.append(_tick_line(marks, width, label_width + 1), style=axis_style)
    if chart.note is not None:
        text.append("\n")
        text.append(fit(chart.note, width).center(width).rstrip(), style=axis_style)
    return text


def _row(value: float, top: float, rows: int) -> int:
    """The row (0 at the bottom) that holds the height `value`."""
    return max(0, min(rows - 1, math.ceil(value / top * rows) - 1))


def _eighths(value: float, top: float, rows: int) -> int:
    """A bar's height in eighths of a row; a bar above zero shows at least one eighth."""
    if value <= 0:
        return 0
    return max(1, round(value / top * rows * 8))


def _tick_line(marks: dict[int, str], width: int, left: int) -> str:
    """Each tick's label centred under its mark, none overlapping or cut."""
    line = [" "] * width
    end = 0  # first free cell
    for column, label in sorted(marks.items()):
        centre = left + column
        start = max(0, min(width - len(label), centre - len(label) // 2))
        if start < end or len(label) > width:
            continue
        line[start : start + len(label)] = label
        end = start + len(label) + 1
    return "".join(line).rstrip()


def fit(text: str, width: int) -> str:
    """`text` in `width` columns, its end cut with an ellipsis where it is longer."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
