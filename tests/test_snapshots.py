"""Snapshots of the rendered screens: fixed seeds and sizes, no clocks, no device names."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable

from gradtui.spec import PRESETS, Spec, preset
from gradtui.tui.app import make_app
from gradtui.tui.widgets.sign_table import SignTable


def app_for(name: str = "seed-v2.0", **changes):
    return make_app(preset(name).replace(device="cpu", **changes))


async def settle(pilot) -> None:
    """Wait until the screen is done with the last keys: every table fitted to its width
    (a DataTable sizes its columns when it is next idle: under load, a frame taken
    before that cut the runs table's "sigmoid (cancelled)" to its header's width), and
    two frames in a row the same (a layout change settles over a few refreshes)."""
    screen = pilot.app.screen
    for _ in range(20):
        if all(t.size.width == t.fitted_width for t in screen.query(SignTable)) and not any(
            t._require_update_dimensions for t in screen.query(DataTable)
        ):
            break
        await pilot.pause()
    shown = None
    for _ in range(20):
        frame = pilot.app.export_screenshot()
        if frame == shown:
            break
        shown = frame
        await pilot.pause(0.05)


def after(*keys: str):
    """A run_before that presses `keys` and waits until every worker is done."""

    async def run_before(pilot) -> None:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_first_screen(snap_compare, size):
    assert snap_compare(app_for(), terminal_size=size, run_before=after())


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_after_a_run(snap_compare, name):
    assert snap_compare(app_for(name), terminal_size=(120, 40), run_before=after("escape", "r"))


def test_80x24_after_a_run(snap_compare):
    assert snap_compare(app_for(), terminal_size=(80, 24), run_before=after("escape", "r"))


@pytest.mark.parametrize("key", ["b", "a", "f", "l"])
def test_views(snap_compare, key):
    assert snap_compare(app_for(), terminal_size=(120, 40), run_before=after("escape", "r", key))


@pytest.mark.parametrize("name", ["seed-v2.0", "seed-v3.0"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_sign_map(snap_compare, name, size):
    """Layer 2's sign map, rows sorted by sign: two bands under sigmoid, mixed under tanh."""
    keys = ("escape", "r", "m", "right_square_bracket", "o")
    assert snap_compare(app_for(name), terminal_size=size, run_before=after(*keys))


def test_help_screen(snap_compare):
    assert snap_compare(
        app_for(), terminal_size=(100, 34), run_before=after("escape", "question_mark")
    )


def test_invalid_field(snap_compare):
    async def run_before(pilot) -> None:
        await after("escape", "r")(pilot)
        pilot.app.query_one("#field-sizes").value = "100,0,abc"
        await pilot.pause()

    assert snap_compare(app_for(), terminal_size=(120, 40), run_before=run_before)


def train_after(steps: str, compare: str = ""):
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press("escape", "t")
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#field-steps").value = steps
        screen.query_one("#field-compare").value = compare
        screen.set_focus(None)
        await pilot.press("r")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await settle(pilot)

    return run_before


def test_train_view(snap_compare):
    app = app_for(batch_size=8)
    assert snap_compare(app, terminal_size=(120, 40), run_before=train_after("60"))


def test_compare_view(snap_compare):
    app = app_for()
    assert snap_compare(app, terminal_size=(120, 40), run_before=train_after("40", "sigmoid,tanh"))


def test_a_second_run_replaces_the_first(snap_compare):
    async def run_before(pilot) -> None:
        await after("r")(pilot)
        pilot.app.screen.query_one("#field-activation").value = "tanh"
        await pilot.pause()
        await after("r")(pilot)

    assert snap_compare(app_for(), terminal_size=(120, 40), run_before=run_before)


def test_a_result_for_another_configuration_is_dimmed(snap_compare):
    async def run_before(pilot) -> None:
        await after("r")(pilot)
        pilot.app.screen.query_one("#field-sizes").value = "100,50,10"
        await pilot.pause()

    assert snap_compare(app_for(), terminal_size=(120, 40), run_before=run_before)


def test_relu_with_dead_units(snap_compare):
    app = app_for(activation="relu", batch_size=8)
    assert snap_compare(app, terminal_size=(120, 40), run_before=after("r"))


def test_non_finite_cells(snap_compare):
    app = make_app(
        preset("seed-v2.0").replace(
            device="cpu", sizes=(4, 4, 2), init="normal:1e30", activation="identity"
        )
    )
    assert snap_compare(app, terminal_size=(120, 40), run_before=after("r"))


def test_config_hidden_at_80x24(snap_compare):
    assert snap_compare(app_for(), terminal_size=(80, 24), run_before=after("r", "c"))


def test_a_failed_probe_keeps_the_last_result(snap_compare, monkeypatch):
    import gradtui.lab

    real = gradtui.lab.run_probe

    async def run_before(pilot) -> None:
        await after("r")(pilot)

        def out_of_memory(spec, cancel=None):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

        monkeypatch.setattr(gradtui.lab, "run_probe", out_of_memory)
        await after("r")(pilot)
        monkeypatch.setattr(gradtui.lab, "run_probe", real)

    assert snap_compare(app_for(), terminal_size=(120, 40), run_before=run_before)


def test_a_cancelled_training_keeps_its_curves(snap_compare, monkeypatch):
    from gradtui.lab.train import Trainer

    step = Trainer.step

    def step_then_cancel_at_25(self):
        result = step(self)
        if self.steps_taken == 25:  # cancel exactly here, from the UI thread, and wait
            app = pilot_app[0]
            app.call_from_thread(app.screen.action_escape)
        return result

    monkeypatch.setattr(Trainer, "step", step_then_cancel_at_25)
    pilot_app = []

    async def run_before(pilot) -> None:
        pilot_app.append(pilot.app)
        await pilot.press("t")
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#field-steps").value = "100000"
        await pilot.press("r")
        while screen.running:
            await asyncio.sleep(0.05)
        await pilot.pause()
        await settle(pilot)

    assert snap_compare(app_for(), terminal_size=(120, 40), run_before=run_before)


def test_200x60_after_a_run(snap_compare):
    assert snap_compare(app_for(), terminal_size=(200, 60), run_before=after("r"))


TRANSFORMER = Spec(model="examples/transformer_block.py", device="cpu")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_a_transformer_block_after_a_run(snap_compare, size):
    """A user's model: named parameters, its size in the config pane, no MLP fields."""
    app = make_app(TRANSFORMER)
    assert snap_compare(app, terminal_size=size, run_before=after("r"))


def test_a_deep_model_filters_and_pages(snap_compare):
    """20 residual blocks: the activation view's outputs filtered by name (/act, enter),
    then the second page of the 20 that match."""
    app = make_app(TRANSFORMER.replace(model="examples/residual_mlp.py"))
    keys = ("r", "a", "slash", "a", "c", "t", "enter", "n")
    assert snap_compare(app, terminal_size=(120, 40), run_before=after(*keys))
