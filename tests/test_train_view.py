"""The Train view: live training in the app, compare mode, cancel, refusal."""

from __future__ import annotations

import asyncio

from gradtui.spec import preset
from gradtui.table import number, percent
from gradtui.tui.app import make_app
from gradtui.tui.screens.train import RunsPlot, RunsTable, TrainScreen


def app_for(**changes):
    return make_app(preset("seed-v2.0").replace(device="cpu", **changes))


async def open_train(pilot, steps: str, compare: str = "") -> TrainScreen:
    await pilot.press("escape", "t")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, TrainScreen)
    screen.query_one("#field-steps").value = steps
    screen.query_one("#field-compare").value = compare
    screen.set_focus(None)
    await pilot.pause()
    return screen


def status(screen) -> str:
    return str(screen.query_one("StatusLine").render())


async def test_t_opens_the_train_view_and_r_trains_the_configured_network():
    app = app_for(activation="tanh")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_train(pilot, "40")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(screen.runs) == 1
        run = screen.runs[0]
        assert run.label == "tanh" and len(run.steps) == 40 and not run.cancelled
        assert run.spec.sizes == (2, 100, 100, 100, 2)
        assert status(screen) == "Done: 40 steps of xor."
        assert all(plot._runs is screen.runs for plot in screen.query(RunsPlot))
        await pilot.press("t")
        assert not isinstance(app.screen, TrainScreen)
        await pilot.press("t")
        assert app.screen is screen and screen.runs  # the curves are still there


async def test_compare_overlays_activations_and_shows_the_coherence_gap():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_train(pilot, "30", "sigmoid,tanh")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [run.label for run in screen.runs] == ["sigmoid", "tanh"]
        sigmoid, tanh = (run.mean_coherence()[1] for run in screen.runs)
        assert sigmoid == 1.0 and tanh < 0.1
        # The runs table shows each run's figures, read from the widget.
        table = screen.query_one(RunsTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        headers = [str(column.label) for column in table.columns.values()]
        assert headers[:4] == ["activation", "final loss", "accuracy", "steps to 0.2"]
        assert [row[0] for row in rows] == ["sigmoid", "tanh"]
        l2 = headers.index("L2 coh")
        assert rows[0][l2] == "100.0%" and rows[1][l2] == percent(tanh)
        assert rows[1][1] == number(screen.runs[1].final_loss)


async def test_escape_cancels_within_a_step_and_keeps_the_partial_curves():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_train(pilot, "100000")
        await pilot.press("r")
        for _ in range(400):  # until the first progress message arrives
            await asyncio.sleep(0.01)
            if screen.runs:
                break
        assert screen.runs and screen.running
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not screen.running
        run = screen.runs[0]
        assert run.cancelled and 0 < len(run.steps) < 100000
        assert status(screen).startswith("Cancelled; the partial curves stay")
        assert isinstance(app.screen, TrainScreen)
        await pilot.press("escape")  # nothing running: back to the probe view
        assert not isinstance(app.screen, TrainScreen)


async def test_invalid_plan_is_refused_with_the_reason():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_train(pilot, "many", "sigmoid")
        await pilot.press("r")
        await pilot.pause()
        assert "Not trained, invalid steps: expected a whole number like 42, got 'many'" in status(
            screen
        )
        screen.query_one("#field-steps").value = "10"
        await pilot.press("r")
        await pilot.pause()
        assert "invalid activations: give 2 to 4 different activations" in status(screen)
        assert not screen.runs


async def test_probe_keys_are_off_in_the_train_view():
    app = app_for()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_train(pilot, "5")
        for key in ("v", "l", "c", "e", "f"):
            await pilot.press(key)
        assert app.is_running and app.screen is screen
        probe = app.screen_stack[0]
        assert probe.view == "weight" and not probe.log_counts


async def test_every_chart_keeps_a_title_that_fits_at_80x24():
    """plotext leaves out a title wider than its chart: after a run at 80 columns three
    of the four titles were gone. They are shortened instead, by clauses first."""
    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(pilot, "12")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        plots = list(screen.query(RunsPlot))
        assert len(plots) == 4
        for plot in plots:
            lines = [line.rstrip() for line in str(plot.render()).splitlines()]
            title = plot.plt.monitor.title
            assert title and len(title) <= plot.size.width, title
            assert lines[0].strip() == title  # drawn, on the chart's first line
        titles = [plot.plt.monitor.title for plot in plots]
        assert "log10 update:data per layer (ref -3)" in titles  # ", mean of 3 steps" off


def test_a_title_loses_its_last_clauses_then_its_end():
    from gradtui.tui.widgets.plotext_chart import fit_title

    assert fit_title("loss, mean of 5 steps", 30) == "loss, mean of 5 steps"
    assert fit_title("a, b c, d e f", 7) == "a, b c"
    assert fit_title("a, b c, d e f", 5) == "a"
    assert fit_title("trajectory of two weights", 10) == "trajector…"
