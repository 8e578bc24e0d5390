"""The probe view: configure on the left, run with `r`, see every layer on the right."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import partial
from time import perf_counter as clock

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from gradtui.fields import ACTIVATIONS
from gradtui.insight import findings
from gradtui.plots import VIEW_TITLES, VIEWS
from gradtui.result import Entry, ProbeResult, stats_path_text
from gradtui.spec import PRESETS, Spec, describe
from gradtui.table import number
from gradtui.tui.commands import Command, ScreenCommands
from gradtui.tui.keys import ScreenKeysInOrder
from gradtui.tui.messages import ProbeFailed, ProbeFinished
from gradtui.tui.restyle import StyledAsMounted
from gradtui.tui.same_thread import SameThread
from gradtui.tui.scrolling import ScrollKeys, scroll_bindings
from gradtui.tui.widgets.config import ConfigPane
from gradtui.tui.widgets.form import FieldForm, TypedInput
from gradtui.tui.widgets.histograms import HistogramGrid
from gradtui.tui.widgets.results import ResultsPane
from gradtui.tui.widgets.sign_map import SignMapView
from gradtui.tui.widgets.sign_table import SignTable
from gradtui.tui.widgets.status import StatusLine

WELCOME = (
    "Edit the network on the left (tab moves between fields), then press r: gradtui runs "
    "one forward and backward pass and shows, for every layer, the signs of its weight "
    "gradients and their histogram.\n\n"
    "The lesson: after a sigmoid every input is positive, so each neuron's incoming "
    "gradients share one sign (row coherence 100%) and its weights zig-zag. Try the presets "
    "seed-v2.0 (sigmoid) and seed-v3.0 (tanh); t trains the network and compares "
    "activations.\n\n"
    "? explains every figure and key."
)
"""The first screen's text, until the first result replaces it."""

_PROBING = threading.Lock()
"""Held by the probe that is building or measuring."""

_PROBE_THREAD = SameThread("gradtui-probe")
"""Where every probe runs (see gradtui.tui.same_thread)."""

DRAW_AHEAD_DELAY = 0.25
"""Seconds the form must rest on a new network before its weights are drawn ahead of r
(gradtui.lab.probe.draw_ahead): not at each key of a size being typed."""

LOADING_DELAY = 0.4
"""Seconds a run may take before the loading indicator shows."""

PAGE_SIZE = 10
"""Rows of the table (and histograms) on one page: a transformer's 20+ parameters page
with n and p, and the table's header stays on top."""


class Findings(Static):
    """What the result says, in words: every finding, never cut (the pane scrolls)."""

    DEFAULT_CSS = """
    Findings { height: auto; padding: 0 1; color: $text-accent; }
    """


class ProbeScreen(StyledAsMounted, ScreenKeysInOrder, ScrollKeys, Screen[None]):
    """One forward and backward pass of the configured network, measured layer by layer."""

    AUTO_FOCUS = ""
    """Nothing focused at start, so `r` runs at once; tab moves into the form."""
    COMMANDS = {ScreenCommands}
    SCROLLS = "ResultsPane"

    BINDINGS = [
        Binding("r", "run", "Run", id="run", tooltip="run the probe (forward + backward)"),
        Binding(
            "ctrl+r",
            "run",
            "Run",
            show=False,
            priority=True,
            id="run.anywhere",
            tooltip="run the probe, even while typing in a field",
        ),
        Binding(
            "v",
            "next_view",
            "View",
            id="view.next",
            tooltip="next view: weight gradients, bias gradients, activations, flow, sign map",
        ),
        Binding(
            "w",
            "view('weight')",
            "Weight gradients",
            show=False,
            id="view.weight",
            tooltip="histograms of dL/dW per layer",
        ),
        Binding(
            "b",
            "view('bias')",
            "Bias gradients",
            show=False,
            id="view.bias",
            tooltip="histograms of dL/db per layer",
        ),
        Binding(
            "a",
            "view('activation')",
            "Activations",
            show=False,
            id="view.activation",
            tooltip="histograms of each layer's output after its activation",
        ),
        Binding(
            "f",
            "view('flow')",
            "Gradient flow",
            show=False,
            id="view.flow",
            tooltip="||dL/dW|| per layer on a log scale: vanishing or exploding",
        ),
        Binding(
            "m",
            "view('map')",
            "Sign map",
            show=False,
            id="view.map",
            tooltip="sign map: where one layer's dL/dW is + and -, a character per block",
        ),
        Binding(
            "[",
            "map_layer(-1)",
            "Previous layer",
            show=False,
            id="map.previous",
            tooltip="sign map of the previous layer",
        ),
        Binding(
            "]",
            "map_layer(1)",
            "Next layer",
            show=False,
            id="map.next",
            tooltip="sign map of the next layer",
        ),
        Binding(
            "o",
            "toggle_sort",
            "Sort rows",
            show=False,
            id="map.sort",
            tooltip="sign map rows sorted by sign (all +, all -, mixed) or in neuron order",
        ),
        Binding(
            "n",
            "page(1)",
            "Next page",
            show=False,
            id="page.next",
            tooltip=f"the next {PAGE_SIZE} rows of the table and their histograms",
        ),
        Binding(
            "p",
            "page(-1)",
            "Previous page",
            show=False,
            id="page.previous",
            tooltip=f"the previous {PAGE_SIZE} rows of the table and their histograms",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            show=False,
            id="filter",
            tooltip="narrow the table and the histograms to names that contain a text",
        ),
        Binding(
            "l",
            "toggle_log",
            "Log",
            id="toggle.log",
            tooltip="histogram bars on a log scale, to see rare values",
        ),
        Binding(
            "c",
            "toggle_config",
            "Config",
            id="toggle.config",
            tooltip="show or hide the configuration pane",
        ),
        Binding(
            "e",
            "export",
            "Export",
            id="export",
            tooltip="write the result as JSON (the probe's JSON contract)",
        ),
        Binding(
            "t",
            "app.train",
            "Train",
            id="train",
            tooltip="the Train view: train this network on a task, compare activations",
        ),
        *scroll_bindings("the results"),
        Binding(
            "escape",
            "leave_field",
            "Leave field",
            id="leave-field",
            tooltip="leave the field being edited, so letter keys act again",
        ),
    ]

    view: reactive[str] = var("weight", init=False)
    """What the histogram panes show: one of plots.VIEWS."""
    log_counts: reactive[bool] = var(False, init=False)
    """Histogram bars on a log scale."""
    config_shown: reactive[bool] = var(True)
    """The configuration pane is shown."""
    page: reactive[int] = var(0, init=False)
    """The page of rows shown, 0-based."""
    name_filter: reactive[str] = var("", init=False)
    """Only the rows whose name, as they show it, contains this text (any case) are
    shown."""
    stale: reactive[bool] = var(False, init=False)
    """The result on screen is of another configuration than the form's: dimmed, with a
    line saying whose it is."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self._initial = spec
        self.runs_started = 0
        self.running: int | None = None
        """The number of the run in flight, None when none is."""
        self._running_spec: Spec | None = None
        """The network of the run in flight."""
        self._draw_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        with Horizontal(id="body"):
            yield ConfigPane(self._initial)
            with Vertical(id="results"):
                yield StatusLine("Press r to run the probe.")
                yield TypedInput(
                    placeholder="filter by name (enter: keep, escape: leave)",
                    compact=True,
                    id="filter",
                )
                yield Static("", id="stale")
                with ResultsPane():
                    yield Static(WELCOME, id="welcome")
                    yield SignTable()
                    yield Findings()
                    yield HistogramGrid()
                    yield SignMapView()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = spec_summary(self._initial)
        self.watch(self.app, "result", self._show_result, init=False)

    @property
    def pane(self) -> ConfigPane:
        return self.query_one(ConfigPane)

    @property
    def result(self) -> ProbeResult | None:
        return self.app.result

    # -- the worker -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def probe(self, spec: Spec, started: float) -> None:
        """One probe; a newer run cancels this one, whose result is then dropped."""
        worker = get_current_worker()
        from gradtui.lab import Cancelled, run_probe

        # One probe holds memory at a time: a cancelled one releases its tensors (at its
        # next checkpoint) before this one builds, so rapid runs never stack up.
        while not _PROBING.acquire(timeout=0.02):
            if worker.is_cancelled:
                return
        try:
            result = _PROBE_THREAD.call(run_probe, spec, cancel=worker.cancelled_event)
        except Cancelled:
            return
        except Exception as error:  # anything at all: the screen reports it and lives on
            self.post_message(ProbeFailed(describe(error)))
            return
        finally:
            _PROBING.release()
        if not worker.is_cancelled:
            self.post_message(ProbeFinished(result, clock() - started))

    def on_probe_finished(self, message: ProbeFinished) -> None:
        self.running = None
        self.query_one(HistogramGrid).loading = False
        self.app.result = message.result
        self.pane.describe_model(message.result.model)
        elapsed = message.elapsed * 1000
        # Why a run is slow, when it is: the plain torch path measured, not the kernels.
        path = (
            "" if message.result.stats_path == "fused" else f" on {stats_path_text(message.result)}"
        )
        self.status(f"Ran in {elapsed:.0f} ms{path}: {self._result_summary(message.result)}")
        if not message.result.finite:
            self.notify(message.result.warnings[0], title="Non-finite values", severity="warning")

    def on_probe_failed(self, message: ProbeFailed) -> None:
        self.running = None
        self._mark_stale()  # the form's network did not run after all
        self.query_one(HistogramGrid).loading = False
        kept = "; the last result stays on screen" if self.result else ""
        self.status(f"Probe failed: {message.reason}{kept}", error=True)
        self.notify(message.reason, title="Probe failed", severity="error")

    # -- showing --------------------------------------------------------------------

    async def _show_result(self, result: ProbeResult | None) -> None:
        self.set_class(result is not None, "-has-result")
        self._mark_stale()
        if result is None:
            return
        with self.app.batch_update():
            await self._show_view()

    async def _show_view(self) -> None:
        """The table, the findings and the plots of the view, for the result on screen."""
        if self.result is not None:
            notes = findings(self.result, self.view)
            self.query_one(Findings).update("\n".join("* " + note for note in notes))
            self.query_one(SignTable).show(self.result, self.view, self.page_entries())
            await self._show_plots()

    async def _show_plots(self) -> None:
        self.set_class(self.view == "map", "-map")
        if self.view == "map":
            self.query_one(SignMapView).show(self.result)
        elif self.result is not None:
            entries = self.matching() if self.view == "flow" else self.page_entries()
            await self.query_one(HistogramGrid).show(entries, self.view, log=self.log_counts)
        self.call_after_refresh(self.query_one(ResultsPane).fit_plots)

    def matching(self) -> list[Entry]:
        """The entries of the view whose name, as the rows show it, contains the filter's
        text (the built-in network's layer number, not its 0-based `linears.2`)."""
        if self.result is None:
            return []
        entries = self.result.entries("weight" if self.view == "map" else self.view)
        text = self.name_filter.lower()
        return [e for e in entries if text in e.label.lower()] if text else entries

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.matching()) // PAGE_SIZE))

    def page_entries(self) -> list[Entry]:
        """The rows of the page shown."""
        start = min(self.page, self.pages - 1) * PAGE_SIZE
        return self.matching()[start : start + PAGE_SIZE]

    async def watch_page(self) -> None:
        await self._show_view()
        if self.result is not None:
            self.status(self._result_summary(self.result))

    async def watch_name_filter(self) -> None:
        self.page = 0
        await self._show_view()
        if self.result is not None:
            self.status(self._result_summary(self.result))

    async def watch_view(self) -> None:
        self.page = 0
        await self._show_view()
        if self.result is not None:
            self.status(self._result_summary(self.result))

    async def watch_log_counts(self) -> None:
        await self._show_plots()
        if self.result is not None:
            self.status(self._result_summary(self.result))

    def watch_stale(self, stale: bool) -> None:
        # Classes on the two widgets, not on the screen: a class on the screen restyles
        # every widget on it, the form's too (30-40 ms of each new result).
        self.query_one("#stale").set_class(stale, "-shown")
        self.query_one(ResultsPane).set_class(stale, "-stale")

    def watch_config_shown(self, shown: bool) -> None:
        self.set_class(not shown, "-config-hidden")
        if not shown and self.pane.has_focus_within:
            self.set_focus(None)
        # The results take the width the form leaves: fit the table's columns and the
        # plots' grid once the new layout is done. Their own Resize events were seen to
        # be missed about one time in three, leaving a table fitted to the old width.
        self.call_after_refresh(self.query_one(ResultsPane).fit_plots)

    def status(self, text: str, *, error: bool = False, hold: bool = False) -> None:
        self.query_one(StatusLine).show(text, error=error, hold=hold)

    def _result_summary(self, result: ProbeResult) -> str:
        log = ", log" if self.log_counts and self.view not in ("flow", "map") else ""
        loss = f"{result.spec.loss} loss" if result.spec.builtin else "loss"
        rows = ""
        matching = len(self.matching())
        total = len(result.entries("weight" if self.view == "map" else self.view))
        if self.name_filter:
            rows += f" | {matching}/{total} match {self.name_filter!r}"
        if self.view not in ("flow", "map") and self.pages > 1:
            first = min(self.page, self.pages - 1) * PAGE_SIZE
            last = min(first + PAGE_SIZE, matching)
            rows += f" | rows {first + 1}-{last}/{matching} (n, p)"
        return f"{VIEW_TITLES[self.view]}{log} | {loss} {number(result.loss)}{rows}"

    # -- the form -------------------------------------------------------------------

    def _mark_stale(self, *, waited: bool = False) -> None:
        """Dim a result computed for another configuration than the form's, and say which.
        Not while the form's own network runs (ctrl+r right after an edit) unless the run
        has `waited` as long as the loading indicator does: its result is on the way, and
        dimming the last one meanwhile redrew every plot for a flash (70-100 ms of a
        16x1024 run, taken from the probe's thread)."""
        result, spec = self.result, self.app.spec
        coming = self.running is not None and spec == self._running_spec and not waited
        stale = result is not None and spec != result.spec and not coming
        self.stale = stale
        if stale:
            self.query_one("#stale", Static).update(
                f"Result of {spec_summary(result.spec, wraps=True)}, not of the form:"
                " r runs the form."
            )

    @on(FieldForm.Changed)
    def _spec_changed(self, event: FieldForm.Changed) -> None:
        self.app.spec = event.value
        self._mark_stale()
        error = self.pane.form.first_error()
        if error is not None:
            label, reason = error
            self.status(f"Invalid {label}: {reason}", error=True)
            self.sub_title = f"{label} not valid"  # not the last valid network's summary
        elif event.value is not None:
            self.sub_title = spec_summary(event.value)
            if self.running is None:  # else "Running...", which a run from a field (ctrl+r
                # right after a key) wrote before the form's change arrived, stays
                self.status("Press r to run" + (" again." if self.result else " the probe."))
            self._draw_ahead_soon(event.value)

    def _draw_ahead_soon(self, spec: Spec) -> None:
        """Draw the weights of the form's network while the user is still at the form,
        once it has rested DRAW_AHEAD_DELAY (16 weights of 1024 x 1024 take 50 ms to
        draw; a new seed or size then runs as fast as r again). Only once a probe has
        run: the first one loads torch, which is not for a background thread to do
        while the user types."""
        if self._draw_timer is not None:
            self._draw_timer.stop()
        if self.result is not None:
            self._draw_timer = self.set_timer(DRAW_AHEAD_DELAY, partial(self._draw_ahead, spec))

    def _draw_ahead(self, spec: Spec) -> None:
        if self.running is None and spec == self.app.spec:
            from gradtui.lab.probe import draw_ahead

            # Queued on the probes' thread, so a run asked for meanwhile waits for it and
            # then takes what it drew. Its outcome is not awaited: a draw that fails
            # costs nothing but the probe drawing again, and saying why, if one comes.
            _PROBE_THREAD.submit(draw_ahead, spec)

    @on(ConfigPane.RunRequested)
    def _run_requested(self) -> None:
        self.action_run()

    # -- actions --------------------------------------------------------------------

    def action_run(self) -> None:
        self.pane.form.when_typed(self._run)

    def _run(self) -> None:
        error = self.pane.form.first_error()
        if error is not None:
            label, reason = error
            self.status(f"Not run, invalid {label}: {reason}", error=True)
            self.notify(
                f"{label}: {reason}", title="Not run: invalid configuration", severity="error"
            )
            return
        self.runs_started += 1
        self.running = run = self.runs_started
        self._running_spec = self.pane.spec
        self.status("Running...", hold=True)
        self.probe(self.pane.spec, clock())
        # The loading indicator only for runs long enough to notice: drawn for every
        # run, it would cost a quick one a second layout and make the panes flicker.
        self.set_timer(LOADING_DELAY, partial(self._show_loading, run))

    def _show_loading(self, run: int) -> None:
        if self.running == run:
            self.query_one(HistogramGrid).loading = True
            self._mark_stale(waited=True)

    def action_view(self, view: str) -> None:
        self.view = view

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]

    def action_map_layer(self, step: int) -> None:
        self.view = "map"
        self.query_one(SignMapView).step_layer(step)

    def action_toggle_sort(self) -> None:
        self.view = "map"
        sign_map = self.query_one(SignMapView)
        sign_map.sorted_rows = not sign_map.sorted_rows

    def action_page(self, step: int) -> None:
        self.page = (min(self.page, self.pages - 1) + step) % self.pages

    def action_filter(self) -> None:
        self.add_class("-filtering")
        # Focused now, not after the screen's turn (Widget.focus): the keys typed right
        # after this one go to the filter (gradtui.tui.keys).
        self.set_focus(self.query_one("#filter", Input))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.name_filter = event.value.strip()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_leave_field()

    def action_toggle_log(self) -> None:
        self.log_counts = not self.log_counts

    def action_toggle_config(self) -> None:
        self.config_shown = not self.config_shown

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_field":  # in the footer only while a field has focus
            return self.pane.has_focus_within or self.query_one("#filter").has_focus
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def action_leave_field(self) -> None:
        self.set_focus(None)
        self.set_class(bool(self.name_filter), "-filtering")

    def action_export(self) -> None:
        if self.result is None:
            self.notify("Nothing to export yet: press r to run.", severity="warning")
            return
        path = self.app.write_output("gradtui-result", "json", self.result.to_json() + "\n")
        if path is not None:
            self.status(f"Exported JSON to {path}")

    def load_preset(self, name: str) -> None:
        """Load a preset into the form and run it."""
        self.pane.load(PRESETS[name].spec.replace(device=self.pane.spec.device))
        self.action_run()

    def set_field_and_run(self, name: str, text: str) -> None:
        self.pane.set_field(name, text)
        self.action_run()

    def commands(self) -> Iterable[Command]:
        """What the command palette offers on this screen."""
        yield Command("Run", "Run the probe with the current configuration (r)", self.action_run)
        for preset in PRESETS.values():
            yield Command(
                f"Preset: {preset.name}",
                f"Load and run: {preset.description}",
                partial(self.load_preset, preset.name),
            )
        for view, title in VIEW_TITLES.items():
            yield Command(f"View: {title}", f"Show {title}", partial(self.action_view, view))
        builtin = self.app.spec is None or self.app.spec.builtin
        for activation in ACTIVATIONS if builtin else ():  # a model file has its own
            yield Command(
                f"Activation: {activation}",
                f"Use {activation} after every layer and run",
                partial(self.set_field_and_run, "activation", activation),
            )
        yield Command(
            "Toggle log counts", "Histogram bars on a log scale (l)", self.action_toggle_log
        )
        yield Command(
            "Toggle configuration pane", "Show or hide the form (c)", self.action_toggle_config
        )
        yield Command("Export JSON", "Write the current result as JSON (e)", self.action_export)
        yield Command("Train view", "Train this network on a task (t)", self.app.action_train)


def spec_summary(spec: Spec, *, wraps: bool = False) -> str:
    """The network in one line. `wraps`: the sizes with a space after each comma, so
    that text wrapped over lines breaks between two sizes, never inside one."""
    if not spec.builtin:
        kept = f" | layers {spec.layers}" if spec.layers else ""
        return f"model {spec.model}{kept} | seed {spec.seed}"
    block = f" | {spec.block_text()}" if spec.block_text() else ""
    sizes = ", ".join(map(str, spec.sizes)) if wraps else spec.field_text("sizes")
    return (
        f"{sizes} {spec.activation}{block} | {spec.loss}"
        f" | batch {spec.batch_size} | seed {spec.seed}"
    )
