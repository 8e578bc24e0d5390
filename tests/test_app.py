"""Pilot tests: the app's behaviour, driven by keys as a user would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import pytest
import torch
from textual import events
from textual.containers import Grid
from textual.widgets import Input, Select

import gradtui.lab
from gradtui.lab import Cancelled
from gradtui.spec import preset
from gradtui.tui.app import make_app
from gradtui.tui.screens.help import HelpScreen
from gradtui.tui.screens.probe import Findings
from gradtui.tui.widgets.config import ConfigPane
from gradtui.tui.widgets.flow import FlowPlot
from gradtui.tui.widgets.histograms import HistogramGrid, LayerPlot
from gradtui.tui.widgets.sign_table import SignTable
from gradtui.tui.widgets.status import StatusLine

real_run_probe = gradtui.lab.run_probe


def app_for(name: str = "seed-v2.0", tmp_path=None, **changes):
    spec = preset(name).replace(device="cpu", **changes)
    return make_app(spec, output_dir=tmp_path)


async def run_and_wait(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def status_text(app) -> str:
    return str(app.screen.query_one(StatusLine).render())


def test_app_module_does_not_import_torch():
    code = "import sys, gradtui.__main__, gradtui.tui.app; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


async def test_r_runs_and_the_table_shows_the_correction():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.result is None
        await run_and_wait(pilot, "escape", "r")
        assert app.result is not None
        table = app.query_one(SignTable)
        cells = table.cells
        assert len(cells) == 4
        column = table.shown_headers.index("row coh")
        assert [row[column] for row in cells] == ["0.0%", "100.0%", "100.0%", "100.0%"]
        assert cells[3][table.shown_headers.index("+")] == "100.0%"
        assert len(app.query(LayerPlot)) == 4
        findings = str(app.screen.query_one(Findings).render())
        assert "Row coherence 100% in layers 2-4" in findings


async def test_editing_a_field_changes_the_spec_and_tanh_removes_coherence():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ConfigPane)
        app.query_one("#field-activation", Select).value = "tanh"
        await pilot.pause()
        assert pane.spec.activation == "tanh"
        assert pane.query_one("#field-preset", Select).value == "seed-v3.0"
        sizes = app.query_one("#field-sizes", Input)
        sizes.focus()
        sizes.value = ""
        await pilot.press(*"100,50,50,10")
        await pilot.pause()
        assert pane.spec.sizes == (100, 50, 50, 10)
        assert pane.query_one("#field-preset", Select).value is Select.NULL
        await run_and_wait(pilot, "enter")  # enter in a field runs
        assert [layer.out_features for layer in app.result.layers] == [50, 50, 10]
        assert all(layer.weight_grad.row_coherence < 0.1 for layer in app.result.layers)


async def test_invalid_field_is_marked_and_a_run_is_refused_keeping_the_last_result():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "escape", "r")
        good = app.result
        sizes = app.query_one("#field-sizes", Input)
        sizes.focus()
        await pilot.press("end", "backspace", "backspace", "backspace", "0")
        await pilot.pause()
        error = app.query_one("#row-sizes .field-error")
        assert error.display
        assert "every size must be a positive integer, got 0" in str(error.render())
        assert app.query_one("#row-sizes").has_class("-invalid")
        assert "Invalid sizes" in status_text(app)
        # The header says so, not the last valid network ("100,100,100,100,10" while typing).
        assert app.screen.sub_title == "sizes not valid"
        await run_and_wait(pilot, "ctrl+r")
        assert app.result is good
        assert "Not run, invalid sizes" in status_text(app)
        assert sizes.value == "100,100,100,100,0"  # what the user typed is kept
        await pilot.press("backspace", "7")
        await pilot.pause()
        assert not error.display
        assert app.query_one(ConfigPane).spec.sizes[-1] == 7
        assert app.screen.sub_title.startswith("100,100,100,100,7 sigmoid")


async def test_batch_of_zero_and_unknown_init_are_marked():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(ConfigPane)
        pane.set_field("batch_size", "0")
        pane.set_field("init", "he")
        await pilot.pause()
        assert set(pane.errors) == {"batch_size", "init"}
        assert "allowed: default, xavier-uniform" in pane.errors["init"]


async def test_a_second_run_cancels_the_first_and_keys_answer_meanwhile(monkeypatch):
    started = threading.Event()
    calls = []

    def slow_probe(spec, cancel=None):
        calls.append(spec)
        if len(calls) == 1:
            started.set()
            for _ in range(500):  # up to 5 s unless cancelled
                if cancel.is_set():
                    raise Cancelled
                time.sleep(0.01)
        return real_run_probe(spec, cancel)

    monkeypatch.setattr(gradtui.lab, "run_probe", slow_probe)
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("escape", "r")
        assert started.wait(5)
        await pilot.press("f")  # handled while the slow probe runs
        assert app.screen.view == "flow"
        await pilot.press("c")
        assert not app.query_one(ConfigPane).display
        assert app.result is None  # the slow probe is still running
        first = next(iter(app.workers))
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert first.is_cancelled
        assert len(calls) == 2
        assert app.result is not None and app.result.spec is calls[1]
        assert "Ran" in status_text(app)


async def test_views_switch_by_key():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "escape", "r")
        grid = app.query_one(HistogramGrid).query_one(Grid)
        assert not app.query(FlowPlot)  # made the first time the flow view shows
        for key, view in [("b", "bias"), ("a", "activation"), ("f", "flow"), ("w", "weight")]:
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.view == view
            assert [flow.display for flow in app.query(FlowPlot)] == (
                [view == "flow"] if view in ("flow", "weight") else []
            )
            assert grid.display == (view != "flow")
        await pilot.press("v")
        assert app.screen.view == "bias"
        titles = [plot.title(plot.size.width) for plot in app.query(LayerPlot)]
        assert titles[0] == "L1 100 dL/db"  # the bias gradient has 100 entries
        await pilot.press("l")
        assert app.screen.log_counts and app.query(LayerPlot).first()._log


async def test_export_and_screenshot_write_named_files(tmp_path):
    app = app_for(tmp_path=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("escape", "e")
        assert not list(tmp_path.iterdir())  # nothing to export yet
        await run_and_wait(pilot, "r")
        await pilot.press("e")
        path = tmp_path / "gradtui-result-1.json"
        assert json.loads(path.read_text()) == json.loads(app.result.to_json())
        assert str(path) in status_text(app)
        await pilot.press("e")
        assert (tmp_path / "gradtui-result-2.json").exists()
        await pilot.press("s")
        svg = tmp_path / "gradtui-screen-1.svg"
        assert svg.read_text().startswith("<svg")


async def test_errors_in_the_worker_are_reported_and_the_app_lives(monkeypatch):
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "escape", "r")
        good = app.result

        def out_of_memory(spec, cancel=None):
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB\ndetails")

        monkeypatch.setattr(gradtui.lab, "run_probe", out_of_memory)
        await run_and_wait(pilot, "r")
        assert app.is_running
        assert app.result is good and not app.screen.stale
        app.screen.query_one("#field-seed", Input).focus()
        await pilot.pause()
        for key, character in (("backspace", "\x7f"), ("3", "3"), ("ctrl+r", None)):
            app.post_message(events.Key(key, character))  # together: run as the form changes
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.spec.seed == 3 and app.result is good
        assert app.screen.stale  # the run failed: the last result is marked as another's
        text = status_text(app)
        assert "Probe failed: RuntimeError: CUDA out of memory. Tried to allocate 20.00 GiB" in text
        assert any("CUDA out of memory" in n.message for n in app._notifications)


async def test_a_spec_too_big_for_memory_is_refused_by_the_worker():
    app = app_for(sizes=(100000, 100000, 100000), batch_size=1000000)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "escape", "r")
        assert app.result is None
        assert "Probe failed: sizes: this spec needs about" in status_text(app)


async def test_help_explains_row_coherence_and_closes():
    app = app_for()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        markdown = app.screen.query_one("Markdown")
        source = markdown.source
        assert "Why sigmoid makes it 100%" in source
        assert "`r`: run the probe" in source and "`q`: quit" in source
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_loads_a_preset():
    app = app_for("seed-v2.0")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"seed-v3.0")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(ConfigPane).spec.activation == "tanh"


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_layout_uses_the_width(size):
    app = app_for()
    async with app.run_test(size=size) as pilot:
        await run_and_wait(pilot, "escape", "r")
        grid = app.query_one(HistogramGrid).query_one(Grid)
        columns = grid.styles.grid_size_columns
        assert columns == (1 if size[0] == 80 else 4)


async def test_the_run_button_runs_from_the_keyboard():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one("#run-button").focus()
        await run_and_wait(pilot, "enter")
        assert app.result is not None and app.result.spec.activation == "sigmoid"


async def test_rapid_runs_never_hold_two_probes_at_once(monkeypatch):
    """Each r cancels the run in flight; the next builds only once the cancelled one has
    let go, so memory for one probe is all that is ever held."""
    active, most, calls = 0, 0, []
    lock = threading.Lock()

    def slow_probe(spec, cancel=None):
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        try:
            for _ in range(100):  # a probe's checkpoints, 10 ms apart: 1 s in all
                time.sleep(0.01)
                if cancel is not None and cancel.is_set():
                    raise Cancelled
            calls.append(spec)
            return real_run_probe(spec)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(gradtui.lab, "run_probe", slow_probe)
    app = app_for(sizes=(10, 10, 10))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(6):
            await pilot.press("r")
            await asyncio.sleep(0.03)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert most == 1
        assert calls and app.result is not None


async def test_the_preset_list_loads_the_preset_into_the_form_and_the_header():
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#field-preset", Select).value = "seed-v3.0"
        await pilot.pause()
        await pilot.pause()
        assert app.spec == preset("seed-v3.0").replace(device="cpu")
        assert app.screen.sub_title.startswith("100,100,100,100,100 tanh")
        await run_and_wait(pilot, "r")
        assert app.result.spec == app.spec and not app.screen.stale


async def test_e_and_s_into_a_missing_folder_say_so_and_the_app_lives_on(tmp_path):
    missing = tmp_path / "gone"
    app = make_app(preset("seed-v2.0").replace(device="cpu", sizes=(6, 5, 4)), output_dir=missing)
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "r")
        for key in ("e", "s"):
            await pilot.press(key)
            await pilot.pause()
            assert app.is_running
            assert status_text(app).startswith(f"Not saved: cannot write {missing}/")
        assert not missing.exists() and list(tmp_path.iterdir()) == []


async def test_the_forms_network_is_drawn_while_it_rests_and_r_runs_on_those_weights(
    monkeypatch,
):
    from gradtui.lab import probe
    from gradtui.lab.model import Draws
    from gradtui.tui.screens.probe import _PROBE_THREAD, DRAW_AHEAD_DELAY

    monkeypatch.setattr(probe, "DRAWS", draws := Draws())
    cpu = torch.device("cpu")
    app = app_for(sizes=(30, 20, 10))
    async with app.run_test(size=(120, 40)) as pilot:
        seed = app.screen.query_one("#field-seed", Input)
        seed.value = "8"  # before any run: nothing drawn (the first run loads torch)
        await asyncio.sleep(DRAW_AHEAD_DELAY * 2)
        await asyncio.to_thread(_PROBE_THREAD.call, lambda: None)  # what was queued, done
        assert not draws.holds(app.spec, cpu)
        await run_and_wait(pilot, "escape", "r")
        seed.value = "9"
        await pilot.pause()
        seed.value = "10"  # the form rests here: only this one is drawn
        await asyncio.sleep(DRAW_AHEAD_DELAY * 2)
        await asyncio.to_thread(_PROBE_THREAD.call, lambda: None)
        assert draws.holds(app.spec, cpu) and app.spec.seed == 10
        await run_and_wait(pilot, "escape", "r")
        assert app.result.spec.seed == 10 and not app.screen.stale
    monkeypatch.setattr(probe, "DRAWS", Draws())
    assert app.result.to_dict() == real_run_probe(app.spec).to_dict()


async def test_the_filter_matches_the_layer_numbers_the_rows_show():
    """`3` keeps layer 3 of the built-in network (its parameter is `linears.2.weight`),
    not layer 4 (`linears.3.weight`)."""
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_and_wait(pilot, "escape", "r")
        await pilot.press("slash", "3", "enter")
        await pilot.pause()
        table = app.query_one(SignTable)
        assert [row[table.shown_headers.index("layer")] for row in table.cells] == ["3"]
        coherence = table.cells[0][table.shown_headers.index("row coh")]
        assert coherence == f"{100 * app.result.layers[2].weight_grad.row_coherence:.1f}%"
        plots = list(app.query(LayerPlot))
        assert len(plots) == 1 and plots[0].title(60).startswith("L3 ")
        assert "1/4 match '3'" in status_text(app)
