"""The shared plotting and table code."""

from __future__ import annotations

import pytest

from gradtui import table
from gradtui.lab import run_probe
from gradtui.plots import spaced_ticks
from gradtui.spec import preset


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
