"""What the views show, read from the widgets and compared with the result they claim to
show: the table's cells, the plots' titles and ticks, the findings, the status line, the
footer, the palette. Each test guards a defect that once shipped."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import threading
import time
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.geometry import Region
from textual.widgets import Footer, Input, Select
from textual.widgets._footer import FooterKey

import gradtui.lab
from gradtui import plots, table
from gradtui.insight import findings
from gradtui.lab.train import compare
from gradtui.plots import MARKERS, draw_flow, draw_update_coherence, step_ticks
from gradtui.result import ProbeResult, TensorStats
from gradtui.spec import Spec, TrainSpec, preset
from gradtui.table import number, percent
from gradtui.tui.app import make_app
from gradtui.tui.screens.help import HelpScreen
from gradtui.tui.screens.probe import LOADING_DELAY, PAGE_SIZE, Findings
from gradtui.tui.screens.train import RunsTable, TrainScreen
from gradtui.tui.widgets.flow import FlowPlot
from gradtui.tui.widgets.histograms import LayerPlot
from gradtui.tui.widgets.results import ResultsPane
from gradtui.tui.widgets.sign_table import SignTable
from gradtui.tui.widgets.status import StatusLine

ROOT = Path(__file__).resolve().parent.parent
real_run_probe = gradtui.lab.run_probe


def plotext_figure():
    from plotext._figure import _figure_class

    return _figure_class()


# -- helpers ------------------------------------------------------------------------------


def app_for(tmp_path: Path | None = None, **fields):
    spec = Spec(**fields).replace(device="cpu")
    return make_app(spec, output_dir=tmp_path)


async def run_and_wait(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    # A table resized by the keys (c hides the form) fits its columns when its Resize
    # event comes, which may be after the pause: wait for it, a few pauses at most.
    for _ in range(20):
        tables = pilot.app.screen.query(SignTable)
        if all(t.size.width == t.fitted_width for t in tables):
            break
        await pilot.pause()


def text_of(widget) -> str:
    """The lines a widget draws, as plain text: what the user sees of it."""
    size = widget.outer_size
    strips = widget.render_lines(Region(0, 0, size.width, size.height))
    return "\n".join(strip.text for strip in strips)


def screen_lines(app) -> list[str]:
    """The whole screen as plain text lines."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def squeeze(text: str) -> str:
    return " ".join(text.split())


def status_of(screen) -> str:
    return str(screen.query_one(StatusLine).render())


def table_headers(sign_table: SignTable) -> list[str]:
    """The headers drawn, read from the text on screen and checked against the widget's."""
    drawn = text_of(sign_table).splitlines()[0].split()
    assert drawn == [w for h in sign_table.shown_headers for w in h.split()]
    return sign_table.shown_headers


def table_cells(sign_table: SignTable) -> list[list[str]]:
    """The cells drawn, checked against the text on screen line by line."""
    cells = sign_table.cells
    lines = text_of(sign_table).splitlines()[1:]
    assert len(lines) == len(cells)
    for line, row in zip(lines, cells):
        assert line.split() == [w for cell in row for w in cell.split()]
    return cells


def _finite(stats: TensorStats | None) -> bool:
    return stats is not None and stats.numel > stats.nonfinite


def _flat(stats) -> str:
    if not _finite(stats):
        return "-"
    if stats.saturated is not None:
        return percent(stats.saturated) + " sat"
    if stats.dead is not None:
        return percent(stats.dead) + " dead"
    return "-"


def expected_cell(layer, entry, view: str, header: str) -> str:
    """The figure a cell of `view` claims to show, from the result (not from the table's
    own cell code): each view reads its own tensor. `layer` is the MLP's layer the row
    belongs to, `entry` the tensor the view shows for it."""
    stats = entry.stats
    own = {
        "weight": layer.weight_grad,
        "flow": layer.weight_grad,
        "bias": layer.bias_grad,
        "activation": layer.activation_stats,
    }[view]
    assert stats is own  # the row's tensor is the one the view names
    batch = layer.activation_stats.numel // layer.out_features
    shape = {
        "weight": f"{layer.out_features}x{layer.in_features}",
        "flow": f"{layer.out_features}x{layer.in_features}",
        "bias": f"{layer.out_features}",
        "activation": f"{batch}x{layer.out_features}",
    }[view]
    finite = _finite(stats)
    cells = {
        "layer": str(layer.index),
        "shape": shape,
        "act": layer.activation_name,
        "+": percent(stats.pos) if finite else "-",
        "-": percent(stats.neg) if finite else "-",
        "0": percent(stats.zero) if finite else "-",
        "mean": number(stats.mean) if finite else "-",
        "std": number(stats.std) if finite else "-",
        "|g|": number(stats.norm) if not stats.nonfinite else f"{stats.nonfinite} NaN/Inf",
        "|a|": number(stats.norm) if not stats.nonfinite else f"{stats.nonfinite} NaN/Inf",
        "row coh": percent(layer.weight_grad.row_coherence),
        "in>=0": percent(entry.input_non_negative),
        "|g|/|w|": number(layer.weight_grad.norm / layer.weight_norm) if finite else "-",
        "sat/dead": _flat(layer.activation_stats),
    }
    return cells[header]


def shown_pairs(result, view: str) -> list[tuple]:
    """(layer, entry) of each row the view shows for the built-in MLP."""
    entries = result.entries(view)
    layers = [layer for layer in result.layers if view != "bias" or layer.bias_grad is not None]
    assert len(entries) == len(layers)
    return list(zip(layers, entries))


def assert_table_shows(app, view: str) -> list[str]:
    """The SignTable's headers are the view's (in order, those that fit) and every cell is
    the view's figure of the result; returns the headers shown."""
    sign_table = app.screen.query_one(SignTable)
    headers = table_headers(sign_table)
    all_headers = [column.header for column in table.VIEW_COLUMNS[view]]
    assert headers == [h for h in all_headers if h in headers], (view, headers)
    assert headers[0] == "layer"
    cells = table_cells(sign_table)
    pairs = shown_pairs(app.result, view)[:PAGE_SIZE]
    assert len(cells) == len(pairs)
    for (layer, entry), row in zip(pairs, cells):
        for header, text in zip(headers, row):
            assert text == expected_cell(layer, entry, view, header), (view, layer.index, header)
    return headers


def findings_text(app) -> str:
    return str(app.screen.query_one(Findings).render())


def plot_titles(app) -> list[str]:
    return [plot.chart(plot.size.width).title for plot in app.screen.query(LayerPlot)]


# -- 1, 7. the table, the plots and the findings follow the view; log ----------------------


async def test_table_plots_findings_and_log_follow_the_view():
    app = app_for(sizes=(100, 100, 100))
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "r")
        result = app.result
        expected_titles = {
            "weight": ["L1 100x100 dL/dW, %", "L2 100x100 dL/dW, %"],
            "bias": ["L1 100 dL/db, %", "L2 100 dL/db, %"],
            "activation": ["L1 1x100 output, %", "L2 1x100 output, %"],
        }
        for key, view in [("b", "bias"), ("a", "activation"), ("f", "flow"), ("w", "weight")]:
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.view == view
            headers = assert_table_shows(app, view)
            if view != "weight":  # at 120 columns every column of these views fits
                assert headers == [column.header for column in table.VIEW_COLUMNS[view]]
            if view == "bias":
                assert "|g|" in headers and "row coh" not in headers
            if view == "activation":
                assert "|a|" in headers and "|g|" not in headers
            notes = findings(result, view)
            assert findings_text(app) == "\n".join("* " + note for note in notes)
            if view in expected_titles:
                assert plot_titles(app) == expected_titles[view]
        # the notes differ by view: the table and the words never disagree
        assert findings(result, "bias") != findings(result, "weight")
        # 7. l: the status says so and the plots draw y tick labels, at whole decades
        assert ", log" not in status_of(app.screen)
        await run_and_wait(pilot, "l")
        assert app.screen.log_counts
        assert re.match(r"weight gradients, log \| sum loss ", status_of(app.screen))
        for plot in app.screen.query(LayerPlot):
            drawn = text_of(plot)  # renders it
            chart = plot.chart(plot.size.width)
            assert chart.title.endswith(", log %") and chart.log
            labels = [label for _, label in chart.yticks]
            assert labels, "no y tick labels on a log plot"
            for label in labels:
                assert re.search(rf"{re.escape(label)}┤", drawn), label
            assert all(0 <= tick <= chart.top for tick, _ in chart.yticks)


# -- 2, 6. keys scroll without Tab; help scrolls at once; vanishing gradients ------------


async def test_sixteen_layers_scroll_without_tab_and_name_the_vanishing_factor():
    app = app_for(sizes=(20,) * 17)
    async with app.run_test(size=(100, 30)) as pilot:
        await run_and_wait(pilot, "r")  # no escape, no tab: nothing has focus
        assert app.result is not None and len(app.result.layers) == 16
        pane = app.screen.query_one(ResultsPane)
        assert pane.max_scroll_y > pane.size.height  # more than a page to scroll
        assert pane.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        page = pane.scroll_y
        assert page >= pane.size.height // 2
        await pilot.press("end")
        await pilot.pause()
        assert pane.scroll_y == pane.max_scroll_y
        await pilot.press("home")
        await pilot.pause()
        assert pane.scroll_y == 0
        await pilot.press("j")
        await pilot.pause()
        assert pane.scroll_y == 1
        await pilot.press("j", "j")
        await pilot.pause()
        assert pane.scroll_y == 3
        await pilot.press("k")
        await pilot.pause()
        assert pane.scroll_y == 2
        await pilot.press("home")
        await pilot.pause()
        # with a field focused, pagedown still scrolls the results
        field = app.screen.query_one("#field-sizes", Input)
        field.focus()
        await pilot.pause()
        assert app.screen.focused is field
        await pilot.press("pagedown")
        await pilot.pause()
        assert pane.scroll_y == page
        assert field.value == ",".join(["20"] * 17)  # the field kept its text
        # ? opens the help with its text focused: pagedown scrolls it at once
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        body = app.screen.query_one("#help-body")
        assert app.screen.focused is body
        assert body.scroll_y == 0 and body.max_scroll_y > 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert body.scroll_y > 0
        assert pane.scroll_y == page  # the results underneath did not move
        await pilot.press("home", "j", "j")
        await pilot.pause()
        assert body.scroll_y == 2
        await pilot.press("k")
        await pilot.pause()
        assert body.scroll_y == 1
        # 6. sixteen sigmoid layers of 100: a finding names the factor and the two layers
        await pilot.press("escape")
        app.screen.pane.set_field("sizes", ",".join(["100"] * 17))
        await run_and_wait(pilot, "r")
        assert app.result.spec.sizes == (100,) * 17
        norms = {layer.index: layer.weight_grad.norm for layer in app.result.layers}
        small = min(norms, key=norms.get)
        large = max(norms, key=norms.get)
        assert (small, large) == (1, 16)
        factor = norms[large] / norms[small]
        assert factor > 1e3
        times = f"{factor:.1e}x".replace("e+", "e")  # 2.0e12x
        expected = (
            f"Gradients vanish toward the input: |g| is {times} smaller in layer "
            f"{small} ({norms[small]:.2g}) than in layer {large} ({norms[large]:.2g})."
        )
        assert expected in findings_text(app)
        await run_and_wait(pilot, "f")
        assert expected in findings_text(app)


# -- 3. nothing cut ----------------------------------------------------------------------


async def test_every_finding_is_shown_whole():
    app = app_for(sizes=(100, 100, 100, 100, 100), activation="relu", batch_size=8)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "r")
        notes = findings(app.result)
        assert len(notes) >= 3
        widget = app.screen.query_one(Findings)
        source = findings_text(app)
        drawn = squeeze(text_of(widget))
        for note in notes:
            assert note in source
            assert squeeze(note) in drawn, note
        # the outputs of a batch of 8 are 8x100 (plots and table)
        await run_and_wait(pilot, "a")
        assert plot_titles(app) == [f"L{i} 8x100 output, %" for i in range(1, 5)]
        assert_table_shows(app, "activation")
        sign_table = app.screen.query_one(SignTable)
        shape = table_headers(sign_table).index("shape")
        assert {row[shape] for row in table_cells(sign_table)} == {"8x100"}


async def test_small_terminals_cut_no_number_and_keep_quit_in_the_footer():
    app = app_for(sizes=(100, 100, 100, 100, 100))
    async with app.run_test(size=(80, 24)) as pilot:
        await run_and_wait(pilot, "r")
        await run_and_wait(pilot, "c")
        assert not app.screen.config_shown
        sign_table = app.screen.query_one(SignTable)
        assert sign_table.virtual_size.width <= sign_table.size.width
        assert sign_table.max_scroll_x == 0
        headers = assert_table_shows(app, "weight")
        assert "row coh" in headers and "|g|" in headers
        drawn = text_of(sign_table).splitlines()
        assert squeeze(drawn[0]) == " ".join(headers)
        for (layer, entry), line in zip(shown_pairs(app.result, "weight"), drawn[1:]):
            expected = [expected_cell(layer, entry, "weight", header) for header in headers]
            assert squeeze(line) == " ".join(expected), line
        # at 70x20 the footer still lists q Quit, on screen
        await pilot.resize_terminal(70, 20)
        await pilot.pause()
        footer = app.screen.query_one(Footer)
        keys = {key.key: key for key in footer.query(FooterKey)}
        assert "q" in keys and keys["q"].description == "Quit"
        region = keys["q"].region
        assert region.width >= len("q Quit") and region.right <= app.screen.region.right
        assert "q Quit" in screen_lines(app)[-1]


async def test_train_view_palette_runs_table_and_sub_title():
    app = app_for(sizes=(10, 10, 10))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        assert "hidden 10 sigmoid" in screen.sub_title
        # 10. the palette offers the Train view's commands, none of the probe's
        own = [command.name for command in screen.commands()]
        assert own == ["Train", "Cancel", "Probe view"]
        probes = {command.name for command in app.screen_stack[0].commands()}
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, CommandPalette)
        commands = app.screen.query_one(CommandList)
        shown = [str(option.hit.text) for option in commands.options]
        for name in own:
            assert name in shown
        assert not any(name.startswith("Preset:") for name in shown)
        assert "Export JSON" not in shown
        assert not (probes - set(own)) & set(shown)
        await pilot.press(*"Preset")
        await pilot.pause(0.2)
        assert not [o for o in commands.options if "Preset" in str(o.hit.text)]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        # 3. a compare run: the runs table holds each run's figures
        screen.query_one("#field-steps", Input).value = "5"
        screen.query_one("#field-compare", Input).value = "sigmoid,tanh"
        await pilot.pause()
        await run_and_wait(pilot, "r")
        runs = screen.runs
        assert [run.label for run in runs] == ["sigmoid", "tanh"]
        assert all(run.task == "xor" and len(run.steps) == 5 for run in runs)
        runs_table = screen.query_one(RunsTable)
        headers = [str(column.label) for column in runs_table.columns.values()]
        layers = len(runs[0].spec.sizes) - 1
        assert headers == [
            "activation",
            "final loss",
            "accuracy",
            "steps to 0.2",
            *(f"L{i + 1} coh" for i in range(layers)),
        ]
        rows = [[str(cell) for cell in runs_table.get_row_at(i)] for i in range(2)]
        for run, row in zip(runs, rows):
            reached = next((s.step for s in run.steps if s.loss <= 0.2), None)
            coherence = []
            for i in range(layers):
                values = [s.layers[i].update_coherence for s in run.steps]
                values = [v for v in values if v is not None]
                coherence.append(sum(values) / len(values) if values else None)
            assert row == [
                run.label,
                number(run.steps[-1].loss),
                percent(run.steps[-1].accuracy),
                "-" if reached is None else str(reached),
                *(percent(c) for c in coherence),
            ]
        assert rows[0][headers.index("L2 coh")] == "100.0%"  # sigmoid feeds layer 2
        # the sub-title names the network trained: the task's sizes, not the probe's
        assert runs[0].spec.sizes == (2, 10, 2)
        assert screen.sub_title.startswith("xor: 2,10,2 sigmoid")
        assert "10,10,10" not in screen.sub_title


# -- 4. escape cancels a run at once, whatever has focus ----------------------------------


async def test_escape_in_a_field_cancels_the_run_at_once():
    app = app_for(sizes=(10, 10, 10))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        steps = screen.query_one("#field-steps", Input)
        steps.value = "100000"
        await pilot.pause()
        steps.focus()
        await pilot.press("ctrl+r")
        for _ in range(500):  # until the first progress message arrives
            await asyncio.sleep(0.01)
            if screen.runs:
                break
        assert screen.runs and screen.running
        assert screen.focused is steps
        started = time.monotonic()
        await pilot.press("escape")
        try:
            for _ in range(300):  # a step takes milliseconds: the run ends at once
                if not screen.running:
                    break
                await asyncio.sleep(0.01)
            assert not screen.running, "escape in a field did not cancel the run"
            assert time.monotonic() - started < 3
        finally:  # never leave a 100000-step run behind
            app.workers.cancel_all()
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.runs[-1].cancelled
        assert 0 < len(screen.runs[-1].steps) < 100000
        assert status_of(screen).startswith("Cancelled")
        assert app.screen is screen  # cancelled, not gone back


# -- 5. zero gradients, zero bars; NaN layers show no figure ------------------------------


async def test_no_gradient_finding_lists_exactly_the_zero_layers():
    spec = Spec(sizes=(2, 8, 8, 1), activation="relu", seed=0, device="cpu")
    result = real_run_probe(spec)
    zero = [layer.index for layer in result.layers if layer.weight_grad.zero == 1.0]
    assert zero == [1, 2, 3]  # every gradient is exactly 0 for this spec and seed
    assert all(layer.weight_grad.norm == 0 for layer in result.layers)
    app = make_app(spec, output_dir=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "r")
        await run_and_wait(pilot, "f")
        notes = [n for n in findings(app.result, "flow") if n.startswith("No gradient reaches")]
        assert notes == [
            "No gradient reaches layers 1-3: every weight gradient is exactly 0, so those "
            "weights do not learn."
        ]
        assert notes[0] in findings_text(app)
        flow = app.screen.query_one(FlowPlot)
        text_of(flow)  # renders it
        assert flow.plt.monitor.y == []  # no bar at all
        assert flow.plt.monitor.text == ["every gradient is 0 (or not finite)"]
        # a result with one zero layer among others: that layer alone, with no bar
        app.result = _partly_zero_result()
        await pilot.pause()
        text = findings_text(app)
        assert "No gradient reaches layer 2: every weight gradient is exactly 0" in text
        text_of(flow)
        assert bar_heights(flow.plt.monitor)[1] == 0
        assert all(h > 0 for i, h in enumerate(bar_heights(flow.plt.monitor)) if i != 1)
        assert_table_shows(app, "flow")


def bar_heights(monitor) -> list[float]:
    """The height of each bar plotext drew (one rectangle per bar)."""
    return [max(y) for y in monitor.y]


def test_flow_chart_labels_the_layers_from_1():
    result = real_run_probe(preset("seed-v2.0").replace(device="cpu"))
    fig = plotext_figure()
    draw_flow(fig, result.weights, width=80)
    labels = dict(zip(fig.monitor.xticks[0], fig.monitor.xlabels[0]))
    assert [labels[position] for position in sorted(labels)] == ["1", "2", "3", "4"]


def _zeroed(stats: TensorStats) -> TensorStats:
    return dataclasses.replace(
        stats, pos=0.0, neg=0.0, zero=1.0, mean=0.0, std=0.0, min=0.0, max=0.0, norm=0.0
    )


def _partly_zero_result() -> ProbeResult:
    """seed-v2.0's result with layer 2's weight gradient all zeros."""
    result = real_run_probe(preset("seed-v2.0").replace(device="cpu"))
    parameters = [
        dataclasses.replace(p, stats=_zeroed(p.stats)) if p.name == "linears.1.weight" else p
        for p in result.parameters
    ]
    return dataclasses.replace(result, parameters=parameters)


@pytest.mark.parametrize("log", [True, False])
def test_flow_chart_draws_zero_as_zero(log):
    result = _partly_zero_result()
    fig = plotext_figure()
    draw_flow(fig, result.weights, width=80, log=log)
    monitor = fig.monitor
    heights = bar_heights(monitor)
    assert len(heights) == 4 and heights[1] == 0
    assert [m[0] for m in monitor.marker][1] == " "  # nothing drawn for it
    norms = [layer.weight_grad.norm for layer in result.layers]
    others = [h for i, h in enumerate(heights) if i != 1]
    assert all(h > 0 for h in others)
    if log:  # bars rise from one decade under the smallest nonzero norm
        bottom = math.floor(math.log10(min(n for n in norms if n > 0))) - 1
        expected = [math.log10(n) - bottom for i, n in enumerate(norms) if i != 1]
    else:
        expected = [n for i, n in enumerate(norms) if i != 1]
    assert others == pytest.approx(expected)
    assert monitor.ylim[0][0] == 0


NAN_SPEC = dict(sizes=(10, 10, 10, 10), activation="relu", init="normal:1e30", dtype="float32")
"""Weights of 1e30: layer 2's outputs overflow, and layer 3's weight gradient and every
output of layers 2 and 3 are NaN/Inf."""


_nan_views: dict[str, tuple[ProbeResult, list[str], list[list[str]]]] = {}


async def _nan_layer_rows(view: str) -> tuple[ProbeResult, list[str], list[list[str]]]:
    """The result of NAN_SPEC and the table's headers and cells in the weight and the flow
    views (one app for the tests that read them)."""
    if not _nan_views:
        app = app_for(**NAN_SPEC)
        async with app.run_test(size=(160, 40)) as pilot:
            await run_and_wait(pilot, "r")
            for key, name in (("w", "weight"), ("f", "flow")):
                await run_and_wait(pilot, key)
                sign_table = app.screen.query_one(SignTable)
                _nan_views[name] = app.result, table_headers(sign_table), table_cells(sign_table)
    return _nan_views[view]


@pytest.mark.parametrize("view", ["weight", "flow"])
async def test_a_layer_of_only_nan_shows_no_figure_for_its_units(view):
    result, headers, rows = await _nan_layer_rows(view)
    layer = result.layers[2]
    assert layer.weight_grad.nonfinite == layer.weight_grad.numel  # only NaN/Inf
    assert layer.activation_stats.nonfinite == layer.activation_stats.numel
    row = dict(zip(headers, rows[2]))
    assert row["in>=0"] == "-"  # its inputs, layer 2's outputs, are all NaN/Inf
    assert row["|g|"] == f"{layer.weight_grad.numel} NaN/Inf"
    for header in ("+", "-", "0", "mean", "std"):
        if header in row:
            assert row[header] == "-"


@pytest.mark.parametrize("view", ["weight", "flow"])
async def test_a_layer_of_only_nan_shows_no_step_size(view):
    result, headers, rows = await _nan_layer_rows(view)
    assert dict(zip(headers, rows[2]))["|g|/|w|"] == "-"


# -- 7. log-scale histograms: y ticks at whole decades -------------------------------------


# -- 9. a stale result says whose it is ----------------------------------------------------


def opacity(screen) -> float:
    return screen.query_one(ResultsPane).styles.opacity


async def test_a_stale_result_says_whose_it_is_until_a_run_lands(monkeypatch):
    gate = threading.Event()

    def gated(spec, cancel=None):  # the preset's run waits for the test
        if spec.sizes == (100,) * 5:
            gate.wait(10)
        return real_run_probe(spec, cancel)

    monkeypatch.setattr(gradtui.lab, "run_probe", gated)
    app = app_for(sizes=(10, 10, 10))
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "r")
        screen = app.screen
        note = screen.query_one("#stale")
        assert not screen.stale and note.region.height == 0 and opacity(screen) == 1
        screen.query_one("#field-activation", Select).value = "tanh"
        await pilot.pause()
        assert screen.stale and opacity(screen) == 0.6
        assert note.display and note.region.height > 0
        text = str(note.render())
        assert "10, 10, 10 sigmoid" in text and "tanh" not in text
        assert app.result.spec.activation == "sigmoid"
        await run_and_wait(pilot, "r")
        assert app.result.spec.activation == "tanh"
        assert not screen.stale and note.region.height == 0 and opacity(screen) == 1
        # the palette's 'Preset: seed-v3.0' loads the preset and runs it
        screen.load_preset("seed-v3.0")
        await pilot.pause()
        # The run of the form's own network marks the last result only once it has
        # taken as long as the loading indicator waits: a quick one never flashes it.
        assert not screen.stale and opacity(screen) == 1
        await asyncio.sleep(LOADING_DELAY + 0.1)
        assert screen.stale and opacity(screen) == 0.6
        assert "10, 10, 10 tanh" in str(note.render())
        gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.result.spec == preset("seed-v3.0").replace(device="cpu")
        assert app.result.spec.activation == "tanh"
        assert not screen.stale and note.region.height == 0 and opacity(screen) == 1


async def test_a_stale_note_of_a_long_network_breaks_its_lines_between_sizes():
    """At 80x24, 17 sizes of 1024 take three lines of the note; each line ends or starts
    at a whole size, never inside one (`1024,1` over `024`)."""
    app = app_for(sizes=(1024,) * 17, seed=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await run_and_wait(pilot, "r")
        app.screen.query_one("#field-seed", Input).value = "4"
        await pilot.pause()
        note = app.screen.query_one("#stale")
        region = note.content_region
        lines = [strip.text.strip() for strip in note.render_lines(region.reset_offset)]
        assert len([line for line in lines if line]) >= 2  # wrapped
        words = " ".join(lines).split()
        sizes = [w.rstrip(",") for w in words if w.rstrip(",").isdigit()]
        assert sizes[:17] == ["1024"] * 17, lines
        assert "seed 3" in " ".join(lines)


# -- 12. compare charts: the legend under the chart, whole steps ---------------------------


def test_update_coherence_compare_has_its_legend_under_the_chart_and_whole_steps():
    spec = Spec(sizes=(10, 10, 10), device="cpu")
    runs = compare(spec, TrainSpec(steps=7), ("sigmoid", "tanh", "relu"))
    fig = plotext_figure()
    draw_update_coherence(fig, runs)
    monitor = fig.monitor
    xlabel = monitor.xlabel[0]
    for i, run in enumerate(runs):
        assert f"{MARKERS[i]} {run.label}" in xlabel
    assert len(set(MARKERS[: len(runs)])) == len(runs)
    assert [m[0] for m in monitor.marker] == list(MARKERS[: len(runs)])  # one glyph a line
    assert not any(monitor.label)  # no plotext legend inside the data
    ticks = sorted(zip(monitor.xticks[0], monitor.xlabels[0]))
    assert [tick for tick, _ in ticks] == step_ticks(7) == [1, 2, 4, 6, 7]
    assert [label for _, label in ticks] == ["1", "2", "4", "6", "7"]
    assert all(float(tick).is_integer() for tick, _ in ticks)
    assert plots.step_ticks(300) == [1, 76, 150, 225, 300]


# -- 13. float64 builds the same network ---------------------------------------------------


def test_float64_builds_the_same_network_as_float32():
    spec = preset("seed-v2.0").replace(device="cpu")
    single = real_run_probe(spec.replace(dtype="float32"))
    double = real_run_probe(spec.replace(dtype="float64"))
    assert number(single.layers[0].weight_grad.norm) == "0.0612"
    assert number(double.layers[0].weight_grad.norm) == "0.0612"
    assert double.loss == pytest.approx(single.loss, rel=1e-5)
    for a, b in zip(single.layers, double.layers):
        assert b.weight_norm == pytest.approx(a.weight_norm, rel=1e-5)
        for name in ("weight_grad", "bias_grad", "activation_stats"):
            x, y = getattr(a, name), getattr(b, name)
            assert y.norm == pytest.approx(x.norm, rel=1e-5), (a.index, name)
            assert y.std == pytest.approx(x.std, rel=1e-5), (a.index, name)
            assert (y.pos, y.neg, y.zero) == pytest.approx((x.pos, x.neg, x.zero), abs=0.011)
        assert b.weight_grad.row_coherence == a.weight_grad.row_coherence


# -- 8, 14. letter keys stay in a focused Select; e and s say where the file went ------


def _footer_keys(app) -> set[str]:
    return {key.key for key in app.screen.query_one(Footer).query(FooterKey)}


async def test_letter_keys_stay_in_a_select_and_e_and_s_say_the_absolute_path(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    app = make_app(Spec(sizes=(10, 10, 10), device="cpu"), output_dir=Path("."))
    async with app.run_test(size=(160, 40)) as pilot:
        await run_and_wait(pilot, "r")
        screen = app.screen
        status = screen.query_one(StatusLine)
        assert "escape" not in _footer_keys(app)
        select = screen.query_one("#field-activation", Select)
        select.focus()
        await pilot.pause()
        assert screen.focused is select
        assert "escape" in _footer_keys(app)  # leave field, only while a field has focus
        before = str(status.render())
        for key in ("a", "b", "c", "s", "v", "f", "l", "e"):
            await pilot.press(key)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.view == "weight" and not screen.log_counts
        assert screen.config_shown and select.region.height > 0
        assert list(tmp_path.iterdir()) == []
        assert select.value == "sigmoid" and screen.focused is select
        assert str(status.render()) == before
        await pilot.press("escape")
        await pilot.pause()
        assert screen.focused is None
        assert "escape" not in _footer_keys(app)
        # 14. e and s write whole files and say their absolute paths
        await pilot.press("e")
        await pilot.pause()
        path = (tmp_path / "gradtui-result-1.json").resolve()
        assert path.is_absolute()
        assert str(status.render()) == f"Exported JSON to {path}"
        assert str(path).replace(" ", "") in text_of(status).replace(" ", "").replace("\n", "")
        assert json.loads(path.read_text()) == json.loads(app.result.to_json())
        assert path.read_text().endswith("}\n")
        await pilot.press("s")
        await pilot.pause()
        svg = (tmp_path / "gradtui-screen-1.svg").resolve()
        assert str(status.render()) == f"Saved SVG to {svg}"
        assert str(svg).replace(" ", "") in text_of(status).replace(" ", "").replace("\n", "")
        text = svg.read_text()
        assert text.startswith("<svg") and text.rstrip().endswith("</svg>")
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "gradtui-result-1.json",
            "gradtui-screen-1.svg",
        ]


def test_gitignore_ignores_the_outputs_of_e_and_s():
    lines = (ROOT / ".gitignore").read_text().splitlines()
    assert "gradtui-result-*.json" in lines
    assert "gradtui-screen-*.svg" in lines


# -- 15. README --------------------------------------------------------------------------


def test_readme_cites_the_post_by_author_and_title():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme  # a path outside the repository
    words = squeeze(readme)
    assert 'DongHyun Ko, "Problem of non zero-centered activation function"' in words
