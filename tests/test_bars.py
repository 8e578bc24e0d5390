"""The text histograms (gradtui.bars), read back from the text they write: each column's
bar height in eighths of a row, the y labels beside their rows, the x tick labels."""

from __future__ import annotations

import math

import pytest

from gradtui.bars import histogram_chart, render, round_ticks, tick_labels
from gradtui.result import Histogram

GLYPHS = " ▁▂▃▄▅▆▇█"


def read(text: str) -> tuple[list[str], list[int], dict[int, str], str, list[str]]:
    """(lines, each column's bar height in eighths, y label by row from the bottom, the x
    tick line, the lines of the plot) of a rendered histogram."""
    lines = text.split("\n")
    axis = next(i for i, line in enumerate(lines) if "└" in line)
    left = lines[axis].index("└")
    width = lines[axis].index("┘") - left - 1
    assert lines[1] == " " * left + "┌" + "─" * width + "┐"  # the frame's top
    plot = lines[2:axis]
    assert all(line[left + 1 + width] == "│" for line in plot)  # and its right edge
    heights = [0] * width
    labels: dict[int, str] = {}
    for depth, line in enumerate(reversed(plot)):
        if line[left] == "┤":
            labels[depth] = line[:left].strip()
        else:
            assert line[left] == "│" and not line[:left].strip()
        for c in range(width):
            glyph = line[left + 1 + c] if left + 1 + c < len(line) else " "
            if glyph in GLYPHS:
                heights[c] += GLYPHS.index(glyph)
    return lines, heights, labels, lines[axis + 1], plot


def hist(counts: list[int], lo: float = 0.0, hi: float = 1.0) -> Histogram:
    bins = len(counts)
    return Histogram([lo + (hi - lo) * i / bins for i in range(bins + 1)], counts)


def drawn(counts: list[int], width: int = 60, height: int = 14, log: bool = False):
    chart = histogram_chart(hist(counts), "t", width=width, log=log)
    return chart, read(render(chart, width, height).plain)


def test_bars_stand_over_their_bins_as_tall_as_their_share():
    chart, (lines, heights, labels, _, plot) = drawn([0, 0, 10, 0, 0, 0, 0, 0, 0, 5])
    rows = len(plot)
    assert len(lines) == 14 and rows == 14 - 4
    columns = len(heights)
    for c, h in enumerate(heights):  # each column shows the bin its centre falls in
        bin_ = int((c + 0.5) * 10 / columns)
        assert (h > 0) == (bin_ in (2, 9)), (c, bin_)
    bin2 = {h for c, h in enumerate(heights) if int((c + 0.5) * 10 / columns) == 2}
    bin9 = {h for c, h in enumerate(heights) if int((c + 0.5) * 10 / columns) == 9}
    # 10 of 15 entries (66.7%) and 5 of 15 (33.3%); the plot tops out 5% above the
    # tallest bar: in eighths of a row, rounded.
    assert bin2 == {round(rows * 8 / 1.05)}
    assert bin9 == {round(rows * 8 / 1.05 / 2)}
    assert chart.top == pytest.approx(100 * 10 / 15 * 1.05)


def test_y_labels_sit_on_the_row_their_value_reaches():
    chart, (_, _, labels, _, plot) = drawn([1, 2, 3, 4, 10])  # 50% tallest
    rows = len(plot)
    assert list(labels.values()) == [label for _, label in chart.yticks]
    assert [label for _, label in chart.yticks] == ["20", "40"]
    for depth, label in labels.items():
        value = float(label)
        # the row holds the top of a bar of that height
        assert depth / rows < value / chart.top <= (depth + 1) / rows


def test_an_even_histogram_is_a_flat_block_and_an_empty_one_says_so():
    _, (_, heights, _, _, plot) = drawn([3] * 10)
    assert set(heights) == {round(len(plot) * 8 / 1.05)}
    chart, (lines, heights, labels, _, _) = drawn([0] * 10)
    assert not any(heights) and not labels
    assert chart.message == "no finite entries"
    assert any("no finite entries" in line for line in lines)


def test_one_entry_among_a_million_still_shows():
    _, (_, heights, _, _, _) = drawn([1, 0, 0, 0, 999_999], width=40)
    assert heights[0] == 1 and heights[-1] > 8


def test_a_column_over_several_bins_shows_the_tallest_of_them_each_bin_once():
    counts = [(i * 7) % 11 + 1 for i in range(50)]
    width = 30  # fewer columns than bins
    chart, (_, heights, _, _, plot) = drawn(counts, width=width)
    columns = len(heights)
    assert columns < 50
    owners: dict[int, list[int]] = {}
    for i in range(50):
        owners.setdefault(int((i + 0.5) * columns / 50), []).append(i)
    assert sorted(i for group in owners.values() for i in group) == list(range(50))
    rows = len(plot)
    total = sum(counts)
    for c, h in enumerate(heights):
        share = max(100 * counts[i] / total for i in owners[c])
        assert h == max(1, round(share / chart.top * rows * 8)), c


@pytest.mark.parametrize("width", [16, 24, 38, 44, 60, 80, 100, 160])
@pytest.mark.parametrize("lo,hi", [(-3e-2, 3e-2), (-1.4e-3, 1.4e-3), (0.0, 12345.0), (-1e9, -1e8)])
def test_x_ticks_are_round_values_marked_under_their_columns_and_never_cut(width, lo, hi):
    counts = [(i * 37) % 50 for i in range(50)]
    h = hist(counts, lo, hi)
    chart = histogram_chart(h, "a title longer than some of the widths", width=width)
    lines = render(chart, width, 12).plain.split("\n")
    assert len(lines) == 12
    assert all(len(line) <= width for line in lines)
    axis = lines[-2]
    left, right = axis.index("└"), axis.index("┘")
    marks = [c for c in range(left + 1, right) if axis[c] == "┬"]
    assert len(marks) == len(chart.xticks)
    columns = right - left - 1
    for (value, _label), mark in zip(chart.xticks, marks):
        assert lo <= value <= hi
        # the mark stands in the column whose x range holds the value
        step = (hi - lo) / columns
        centre = lo + (mark - left - 1 + 0.5) * step
        assert abs(centre - value) <= step / 2 * (1 + 1e-9)
    words = lines[-1].split()
    expected = [label for _, label in chart.xticks]
    assert all(word in expected for word in words)  # whole labels only, none cut
    assert words == [w for w in expected if w in words]  # in order, never overlapping
    if width >= 38:
        assert len(words) >= 2  # a readable axis at the app's narrowest plot
    if lo < 0 < hi and width >= 38:
        assert "0" in words  # zero is where the signs split


def test_round_ticks_are_multiples_of_one_two_or_five():
    assert round_ticks(-0.03, 0.03, 5) == pytest.approx([-0.02, 0.0, 0.02])
    assert round_ticks(0.115, 0.16, 5) == pytest.approx([0.12, 0.13, 0.14, 0.15, 0.16])
    assert round_ticks(-1.8e-3, 1.8e-3, 3) == pytest.approx([-1e-3, 0.0, 1e-3])
    assert round_ticks(1.0, 1.0, 3) == [] and round_ticks(0.0, math.inf, 3) == []
    assert tick_labels([-0.02, 0.0, 0.02]) == ["-0.02", "0", "0.02"]
    assert tick_labels([0.12, 0.13]) == ["0.12", "0.13"]
    assert tick_labels([-0.001, 0.0, 0.001]) == ["-1e-03", "0", "1e-03"]
    assert tick_labels([-0.001, -0.0005, 0.0]) == ["-1.0e-03", "-5.0e-04", "0"]
    assert tick_labels([20000.0, 40000.0]) == ["2e+04", "4e+04"]


def test_the_same_chart_writes_the_same_text_every_time():
    chart = histogram_chart(hist([5, 1, 0, 7]), "t", width=50)
    assert render(chart, 50, 10).plain == render(chart, 50, 10).plain


def test_log_bars_put_ticks_at_whole_decades_and_keep_one_entry_above_zero():
    h = Histogram(edges=[float(i) for i in range(11)], counts=[1, 0, 9, 90, 900, 0, 0, 0, 0, 0])
    chart = histogram_chart(h, "t", width=60, log=True)
    assert chart.title == "t, log %"
    # percent of 1000 entries: 0.1% (one entry), 1%, 10%
    assert [label for _, label in chart.yticks] == ["0.1", "1", "10"]
    assert [value for value, _ in chart.yticks] == pytest.approx([0.1, 1.1, 2.1])
    assert all(0 < value <= chart.top for value, _ in chart.yticks)
    assert chart.heights[0] == pytest.approx(0.1) and chart.heights[1] == 0
    assert chart.heights[4] == pytest.approx(math.log10(90) + 1 + 0.1)
    lines, heights, labels, _, _ = read(render(chart, 60, 20).plain)
    assert sorted(labels.values(), key=float) == ["0.1", "1", "10"]
    assert "0└" not in "\n".join(lines)  # the log axis is not at 0 %
    assert heights[0] >= 1


def test_a_note_goes_under_the_ticks():
    chart = histogram_chart(hist([1, 2, 3]), "t", width=40, note="clip: 3 out")
    lines = render(chart, 40, 10).plain.split("\n")
    assert len(lines) == 10 and lines[-1].strip() == "clip: 3 out"
    blank = render(histogram_chart(hist([1, 2, 3]), "t", width=40, note=""), 40, 10)
    assert blank.plain.split("\n")[-1] == ""  # the line is kept, empty
