"""The shared plotting and table code."""

from __future__ import annotations

import subprocess
import sys

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
        widths = table.widths(view, rows)
        headers = [c.header for c in columns]
        assert table.fit(view, rows, 400) == list(range(len(columns)))
        for width in (120, 80, 60, 40, 20):
            shown = table.fit(view, rows, width, gap=1)
            needed = sum(widths[i] for i in shown) + len(shown) - 1
            assert needed <= width or len(shown) == 1, (view, width)
            assert shown == sorted(shown)  # display order kept
            assert 0 in shown  # the layer number stays
        # What is dropped first is the least telling: the story's columns stay longest.
        narrow = [headers[i] for i in table.fit(view, rows, 40, gap=1)]
        story = {"weight": "row coh", "bias": "+", "activation": "sat/dead", "flow": "|g|"}
        assert story[view] in narrow, (view, narrow)
    weight = [c.header for c in table.VIEW_COLUMNS["weight"]]
    at_80 = [weight[i] for i in table.fit("weight", table.rows(result), 80, gap=1)]
    assert at_80 == [
        "layer",
        "shape",
        "act",
        "+",
        "-",
        "0",
        "row coh",
        "|g|",
        "|g|/|w|",
        "sat/dead",
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
