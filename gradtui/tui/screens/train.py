"""The Train view: train the configured network on a task and watch the zig-zag happen.

Four live charts: the loss, the update:data ratio per layer (with the -3 reference), the
update row coherence per layer, and the trajectory of two weights of one neuron. In
compare mode (activations typed in the `compare` field) the runs are overlaid, one line
per activation, the per-layer charts following the traced layer.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select
from textual.worker import get_current_worker

from gradtui import table
from gradtui.plots import TRAINING_CHARTS
from gradtui.result import TrainResult
from gradtui.spec import (
    Spec,
    SpecError,
    TrainSpec,
    describe,
    parse_activations,
)
from gradtui.tui.commands import Command, ScreenCommands
from gradtui.tui.keys import ScreenKeysInOrder
from gradtui.tui.messages import TrainFailed, TrainProgress
from gradtui.tui.restyle import StyledAsMounted
from gradtui.tui.scrolling import ScrollKeys, scroll_bindings
from gradtui.tui.widgets.form import FieldForm, FieldRow, TypedInput
from gradtui.tui.widgets.plotext_chart import Chart
from gradtui.tui.widgets.status import StatusLine

PROGRESS_INTERVAL = 0.05
"""Seconds between progress messages from the training thread."""


class RunsPlot(Chart):
    """One chart of the runs, drawn by a function of (plt, runs)."""

    def __init__(self, draw: Callable[[Any, list[TrainResult]], None], *, id: str) -> None:
        super().__init__(id=id)
        self._draw = draw
        self._runs: list[TrainResult] = []

    def show(self, runs: list[TrainResult]) -> None:
        self._runs = runs
        self.changed()

    def draw(self, plt: Any) -> None:
        self._draw(plt, self._runs)


class TrainScreen(StyledAsMounted, ScreenKeysInOrder, ScrollKeys, Screen[None]):
    """Training of the configured network, live; `escape` cancels a run in flight."""

    AUTO_FOCUS = ""
    """Nothing focused at start, so `r` trains at once and `escape` goes back."""
    COMMANDS = {ScreenCommands}
    SCROLLS = "#train-body"
    BINDINGS = [
        Binding("r", "train", "Train", id="train.run", tooltip="train (or compare) now"),
        Binding("ctrl+r", "train", "Train", show=False, priority=True, id="train.run.anywhere"),
        Binding(
            "escape",
            "escape",
            "Cancel/back",
            id="train.escape",
            tooltip="leave a field; cancel a run in flight; else back to the probe",
        ),
        Binding("t", "back", "Probe", id="train.back", tooltip="back to the probe view"),
        *scroll_bindings("the runs and charts", "train."),
    ]

    def __init__(self) -> None:
        super().__init__(id="train-screen")
        self.runs: list[TrainResult] = []
        """The runs on screen: kept when a run is cancelled or fails."""
        self.run_id = 0
        self.running = False
        self._threshold = TrainSpec().threshold
        """The threshold of the runs on screen, for their steps to threshold."""

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        compare = FieldRow(
            "compare",
            "compare",
            TypedInput(placeholder="off", compact=True, id="field-compare"),
            help="2 to 4 activations to train side by side",
        )
        yield FieldForm(TrainSpec(), extra=(compare,), id="train-form")
        yield StatusLine("Press r to train the configured network.")
        with VerticalScroll(id="train-body", can_focus=False):
            yield RunsTable()
            with Grid(id="train-grid"):
                for draw, name in zip(
                    TRAINING_CHARTS, ("loss", "ratio", "coherence", "trajectory")
                ):
                    yield RunsPlot(draw, id=f"train-{name}")
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        spec: Spec | None = self.app.spec
        if not self.runs and spec is not None:
            hidden = ",".join(str(n) for n in spec.sizes[1:-1]) or "none"
            block = f", {spec.block_text()}" if spec.block_text() else ""
            self.sub_title = f"hidden {hidden} {spec.activation}{block}; in/out set by the task"

    # -- the train spec -------------------------------------------------------------

    def train_spec(self) -> tuple[TrainSpec, tuple[str, ...] | None]:
        """The form as a TrainSpec and the activations to compare; SpecError if invalid."""
        form = self.query_one(FieldForm)
        if form.errors:
            name, reason = next(iter(form.errors.items()))
            raise SpecError(name, reason)
        text = self.query_one("#field-compare", Input).value.strip()
        return form.value, (parse_activations(text) if text else None)

    def commands(self) -> Iterable[Command]:
        """What the command palette offers on this screen."""
        yield Command("Train", "Train (or compare) with the form's settings (r)", self.action_train)
        yield Command("Cancel", "Cancel the run in flight (escape)", self.action_cancel)
        yield Command("Probe view", "Back to the probe view (t)", self.action_back)

    # -- actions --------------------------------------------------------------------

    def action_train(self) -> None:
        self.query_one(FieldForm).when_typed(self._train)

    def _train(self) -> None:
        spec: Spec | None = self.app.spec
        if spec is None:
            self._status(
                "Not trained: the configuration has an invalid field (see the probe view)",
                error=True,
            )
            return
        try:
            train_spec, activations = self.train_spec()
        except SpecError as error:
            self._status(f"Not trained, invalid {error.field}: {error.reason}", error=True)
            self.notify(f"{error.field}: {error.reason}", title="Not trained", severity="error")
            return
        self.run_id += 1
        self.running = True
        self._threshold = train_spec.threshold
        what = (
            f"comparing {', '.join(activations)}"
            if activations
            else f"training ({spec.activation})"
        )
        self._status(f"{what} on {train_spec.task}... (escape cancels)")
        self.train(spec, train_spec, activations, self.run_id)

    def action_escape(self) -> None:
        """Cancel a run in flight (whatever has focus); else leave a field; else back."""
        if self.running:
            self.action_cancel()
            self.set_focus(None)
        elif isinstance(self.focused, Input | Select):
            self.set_focus(None)
        else:
            self.app.pop_screen()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "train")

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Input.Changed, "#field-compare")
    def _compare_edited(self, event: Input.Changed) -> None:
        """The compare field is checked as typed, like the others."""
        text = event.value.strip()
        try:
            parse_activations(text) if text else None
        except SpecError as error:
            self.query_one("#row-compare", FieldRow).show_error(error.reason)
        else:
            self.query_one("#row-compare", FieldRow).show_error(None)

    @on(FieldForm.Submitted)
    @on(Input.Submitted, "#field-compare")
    def _submitted(self) -> None:
        self.action_train()

    # -- the worker -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def train(
        self, spec: Spec, train_spec: TrainSpec, activations: tuple[str, ...] | None, run_id: int
    ) -> None:
        worker = get_current_worker()
        from gradtui.lab.train import compare, run_training

        current: dict[int, TrainResult] = {}
        last_post = 0.0

        def on_step(index: int, result: TrainResult) -> None:
            nonlocal last_post
            current[index] = result
            now = time.monotonic()
            if now - last_post >= PROGRESS_INTERVAL:
                last_post = now
                self.post_message(
                    TrainProgress(run_id, _snapshot([current[i] for i in sorted(current)]))
                )

        try:
            if activations is None:
                runs = [
                    run_training(spec, train_spec, worker.cancelled_event, lambda r: on_step(0, r))
                ]
            else:
                runs = compare(spec, train_spec, activations, worker.cancelled_event, on_step)
        except Exception as error:  # the screen reports it and lives on
            self.post_message(TrainFailed(run_id, describe(error)))
            return
        if worker.is_cancelled and runs:
            runs[-1] = dataclasses.replace(runs[-1], cancelled=True)
        self.post_message(TrainProgress(run_id, runs, done=True))

    def on_train_progress(self, message: TrainProgress) -> None:
        if message.run_id != self.run_id:
            return  # a run that a newer one replaced
        self.runs = message.runs
        for plot in self.query(RunsPlot):
            plot.show(self.runs)
        self.query_one(RunsTable).show(self.runs, self._threshold)
        if self.runs:
            self.sub_title = trained_summary(self.runs[0])
        current = self.runs[-1] if self.runs else None
        if current is None:
            return
        step = len(current.steps)
        loss = "-" if current.final_loss is None else f"{current.final_loss:.3g}"
        label = f"{current.label}: step {step}/{current.steps_planned}, loss {loss}"
        if message.done:
            self.running = False
            cancelled = any(run.cancelled for run in self.runs)
            state = "Cancelled; the partial curves stay" if cancelled else "Done"
            run = self.runs[0]
            self._status(f"{state}: {len(current.steps)} steps of {run.task}.")
        else:
            self._status(f"{label} (escape cancels)")

    def on_train_failed(self, message: TrainFailed) -> None:
        if message.run_id != self.run_id:
            return
        self.running = False
        self._status(f"Training failed: {message.reason}", error=True)
        self.notify(message.reason, title="Training failed", severity="error")

    # -- helpers --------------------------------------------------------------------

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one(StatusLine).show(text, error=error)


class RunsTable(DataTable):
    """One row per run: final loss, accuracy, steps to threshold, update coherence per
    layer (as the headless compare report prints)."""

    DEFAULT_CSS = """
    RunsTable { height: auto; max-height: 6; }
    """

    can_focus = False

    def __init__(self) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, show_cursor=False)

    def show(self, runs: list[TrainResult], threshold: float) -> None:
        headers, rows = table.comparison(runs, threshold)
        headers[3] = f"steps to {threshold:g}"
        self.clear(columns=True)
        self.add_columns(*headers)
        colours = self.app.theme_variables
        for cells in rows:
            self.add_row(
                *(
                    Text(cell.text, style=f"bold {colours['accent']}" if cell.tag else "")
                    for cell in cells
                )
            )


def trained_summary(run: TrainResult) -> str:
    """What is trained: the task's network, not the probe's."""
    spec = run.spec
    block = f" | {spec.block_text()}" if spec.block_text() else ""
    return (
        f"{run.task}: {spec.field_text('sizes')} {spec.activation}{block} | {spec.loss} | "
        f"{run.optimizer} lr {run.lr:g} | batch {spec.batch_size}"
    )


def _snapshot(runs: list[TrainResult]) -> list[TrainResult]:
    """Copies whose step lists stop growing, safe to hand to the UI thread."""
    return [dataclasses.replace(run, steps=list(run.steps)) for run in runs]
