"""The shared plotting and table code."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gradtui import table
from gradtui.lab import run_probe
from gradtui.plots import spaced_ticks
from gradtui.spec import preset

DRAW = """
import hashlib
from textual_plotext.plot import Plot
from gradtui.plots import draw_histogram
from gradtui.result import Histogram
edges = [1.4e-3 * (i - 25) / 25 for i in range(51)]
counts = [(i * 37) % 50 for i in range(50)]
out = []
for width in (30, 38, 44, 60, 80, 100):
    plot = Plot()
    draw_histogram(plot, Histogram(edges, counts), "t", width=width)
    plot.plotsize(width, 12)
    plot._set_size(width, 12)
    out.append(hashlib.md5(plot.build().encode()).hexdigest())
print(" ".join(out))
"""


def test_histograms_draw_the_same_whatever_the_hash_seed():
    """plotext drops overlapping tick labels in hash order; ours never overlap."""
    outputs = set()
    for seed in ("1", "2", "3"):
        run = subprocess.run(
            [sys.executable, "-c", DRAW],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1


def test_spaced_ticks_leave_room_for_their_labels():
    assert spaced_ticks(50, 100, label_width=9) == [0, 12, 24, 37, 49]
    assert spaced_ticks(50, 40, label_width=9) == [0, 49]
    assert spaced_ticks(3, 100, label_width=1) == [0, 1, 2]
    assert spaced_ticks(50, 5, label_width=9) == [0]


def test_table_columns_fit_the_width_whole_and_never_cut_a_number():
    result = run_probe(preset("seed-v2.0").replace(device="cpu"))
    for view, columns in table.VIEW_COLUMNS.items():
        rows = table.rows(result, view)
        widths = table.widths(columns, rows)
        headers = [c.header for c in columns]
        assert table.fit(columns, rows, 400) == list(range(len(columns)))
        for width in (120, 80, 60, 40, 20):
            shown = table.fit(columns, rows, width, gap=1)
            needed = sum(widths[i] for i in shown) + len(shown) - 1
            assert needed <= width or len(shown) == 1, (view, width)
            assert shown == sorted(shown)  # display order kept
            assert 0 in shown  # the layer number stays
        # What is dropped first is the least telling: the story's columns stay longest.
        narrow = [headers[i] for i in table.fit(columns, rows, 40, gap=1)]
        story = {"weight": "row coh", "bias": "+", "activation": "sat/dead", "flow": "|g|"}
        assert story[view] in narrow, (view, narrow)
    weight = table.VIEW_COLUMNS["weight"]
    at_80 = [weight[i].header for i in table.fit(weight, table.rows(result), 80, gap=1)]
    assert at_80 == [
        "layer",
        "shape",
        "act",
        "+",
        "-",
        "0",
        "row coh",
        "in>=0",
        "mean",
        "|g|",
        "|g|/|w|",
    ]


def test_percentages_have_one_decimal():
    assert table.percent(1.0) == "100.0%"
    assert table.percent(0.0) == "0.0%"
    assert table.percent(0.84) == "84.0%"
    assert table.percent(None) == "-"
    assert table.number(6.12e-4) == "6.12e-04"
    assert table.number(0.275) == "0.275"


def test_smooth_is_a_trailing_mean_that_skips_missing_values():
    from gradtui.plots import smooth

    points = [(1, 1.0), (2, 0.0), (3, None), (4, 1.0), (5, 1.0)]
    assert smooth(points, 1) == points
    assert smooth(points, 2) == [(1, 1.0), (2, 0.5), (3, 0.0), (4, 1.0), (5, 1.0)]


def drawn(counts: list[int], width: int = 60, height: int = 14, log: bool = False):
    """The histogram as plotext draws it: (y-axis labels, bar height of each column)."""
    import re

    from textual_plotext.plot import Plot

    from gradtui.plots import draw_histogram
    from gradtui.result import Histogram

    edges = [i / len(counts) for i in range(len(counts) + 1)]
    plot = Plot()
    draw_histogram(plot, Histogram(edges, counts), "t", width=width, log=log)
    plot.plotsize(width, height)
    plot._set_size(width, height)
    lines = re.sub(r"\x1b\[[0-9;]*m", "", plot.build()).splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    left = lines[top].index("┌")
    right = lines[top].index("┐")
    inner = [line[left + 1 : right] for line in lines[top + 1 : bottom]]
    labels = [line[:left].strip() for line in lines[top + 1 : bottom]]
    heights = [sum(row[c] == "█" for row in inner) for c in range(right - left - 1)]
    return labels, heights, "\n".join(lines)


def test_a_histogram_draws_bars_as_tall_as_their_share():
    labels, heights, _ = drawn([0, 0, 10, 0, 0, 0, 0, 0, 0, 5])
    columns = len(heights)
    per_bin = columns / 10
    # Bars stand only over bins 2 and 9, and fill them.
    for c, h in enumerate(heights):
        if h:
            assert int(c / per_bin) in (2, 9) or abs(c / per_bin - round(c / per_bin)) < 0.2
    bin2 = [heights[c] for c in range(columns) if int(c / per_bin) == 2]
    bin9 = [heights[c] for c in range(columns) if int(c / per_bin) == 9]
    assert min(bin2[1:-1]) > 0 and min(bin9[1:-1]) > 0
    assert sum(h > 0 for h in heights) <= 2 * per_bin + 2
    # 10 of 15 entries is 66.7%, 5 of 15 is 33.3%: the second bar half as tall, and the
    # axis tops out 5% above the tallest.
    assert max(bin2) == len(labels)
    assert abs(max(bin9) - max(bin2) / 2) <= 1
    assert float(labels[0]) == pytest.approx(100 * 10 / 15 * 1.05, abs=0.05)


def test_an_even_histogram_is_a_flat_block_and_an_empty_one_says_so():
    labels, heights, _ = drawn([3] * 10)
    assert set(heights) == {len(labels)}
    assert float(labels[0]) == pytest.approx(10 * 1.05, abs=0.05)
    _, heights, text = drawn([0] * 10)
    assert not any(heights) and "no finite entries" in text


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_the_report_table_never_cuts_a_cell(width, activation):
    import io

    from rich.console import Console

    from gradtui.report import sign_table

    result = run_probe(preset("seed-v2.0").replace(device="cpu", activation=activation))
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(sign_table(result, width))
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for layer in result.layers:  # the row coherence of each layer is there, whole
        assert table.percent(layer.weight_grad.row_coherence) in text
