"""The gradtui app: configure on the left, run with `r`, see every layer on the right.

torch is imported only inside workers, so the first screen paints at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from gradtui.insight import findings
from gradtui.plots import VIEW_TITLES, VIEWS
from gradtui.result import ProbeResult
from gradtui.spec import PRESETS, Spec, describe
from gradtui.table import number
from gradtui.tui.commands import gradtui_commands
from gradtui.tui.messages import DeviceKnown, ProbeFailed, ProbeFinished
from gradtui.tui.widgets.config import LABELS, ConfigPane
from gradtui.tui.widgets.plots import HistogramGrid
from gradtui.tui.widgets.sign_table import SignTable

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

LOADING_DELAY = 0.2
"""Seconds a run may take before the loading indicator shows."""


class GradApp(App[None]):
    """Keyboard-driven exploration of back-propagated gradients."""

    CSS_PATH = "app.tcss"
    TITLE = "gradtui"
    AUTO_FOCUS = None
    """Nothing focused at start, so `r` runs at once; tab moves into the form."""

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
            "view",
            "View",
            id="view.next",
            tooltip="next view: weight gradients, bias gradients, activations, flow",
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
            "s", "screenshot", "SVG", show=False, id="screenshot", tooltip="save an SVG screenshot"
        ),
        Binding(
            "t",
            "train",
            "Train",
            id="train",
            tooltip="the Train view: train this network on a task, compare activations",
        ),
        Binding("question_mark", "help", "Help", id="help", tooltip="this help"),
        Binding(
            "escape",
            "leave_field",
            "Leave field",
            show=False,
            id="leave-field",
            tooltip="leave the field being edited, so letter keys act again",
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="quit"),
    ]

    def __init__(
        self, spec: Spec, *, output_dir: Path | None = None, deterministic: bool = False
    ) -> None:
        super().__init__()
        self.initial_spec = spec
        self.output_dir = output_dir or Path.cwd()
        """Where `e` and `s` write their files."""
        self.deterministic = deterministic
        """Draw nothing that varies between runs or machines (device, timings, blinking
        cursor, animation): for snapshots and the screenshots in README."""
        if deterministic:
            self.animation_level = "none"
        self.result: ProbeResult | None = None
        """The last good result: stays on screen when a run fails or is refused."""
        self.view = "weight"
        self.log_counts = False
        self.runs_started = 0
        self.running: int | None = None
        """The number of the run in flight, None when none is."""

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        with Horizontal(id="body"):
            yield ConfigPane(self.initial_spec, id="config")
            with Vertical(id="results"):
                yield Static("Press r to run the probe.", id="status")
                yield Static(WELCOME, id="welcome")
                yield SignTable(id="sign-table")
                yield Static("", id="findings")
                yield HistogramGrid(id="histograms")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self._spec_summary(self.initial_spec)
        self.query_one("#findings").display = False
        self.query_one(SignTable).display = False
        if self.deterministic:
            for field in self.query(Input):
                field.cursor_blink = False
        self.call_after_refresh(self.warm_up)

    # -- workers --------------------------------------------------------------------

    @work(thread=True, group="warm-up", exit_on_error=False)
    def warm_up(self) -> None:
        """Load torch after the first paint, learn the default device, then compile the
        fused statistics kernels (the probes use plain torch until they are ready)."""
        from gradtui.lab import kernels, resolve_device

        self.post_message(DeviceKnown(str(resolve_device("auto"))))
        kernels.warm_up()

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def probe(self, spec: Spec, started: float) -> None:
        """One probe; a newer run cancels this one, whose result is then dropped."""
        worker = get_current_worker()
        from gradtui.lab import Cancelled, run_probe

        try:
            result = run_probe(spec, cancel=worker.cancelled_event)
        except Cancelled:
            return
        except Exception as error:  # anything at all: the app reports it and lives on
            self.post_message(ProbeFailed(describe(error)))
            return
        if not worker.is_cancelled:
            self.post_message(ProbeFinished(result, time.perf_counter() - started))

    # -- messages -------------------------------------------------------------------

    def on_device_known(self, message: DeviceKnown) -> None:
        if not self.deterministic:
            self.title = f"gradtui [{message.device}]"

    async def on_probe_finished(self, message: ProbeFinished) -> None:
        self.running = None
        self.result = message.result
        with self.batch_update():
            self.query_one("#welcome").display = False
            table = self.query_one(SignTable)
            table.display = True
            table.show(message.result)
            await self._show_plots()
            notes = findings(message.result)
            panel = self.query_one("#findings", Static)
            panel.update("\n".join("* " + note for note in notes))
            panel.display = bool(notes)
            timing = "" if self.deterministic else f" in {message.elapsed * 1000:.0f} ms"
            where = "" if self.deterministic else f" on {message.result.device}"
            self._status(f"Ran{timing}{where}: {self._result_summary(message.result)}")
            self.query_one(HistogramGrid).loading = False
        if not message.result.finite:
            self.notify(message.result.warnings[0], title="Non-finite values", severity="warning")

    def on_probe_failed(self, message: ProbeFailed) -> None:
        self.running = None
        self.query_one(HistogramGrid).loading = False
        kept = "; the last result stays on screen" if self.result else ""
        self._status(f"Probe failed: {message.reason}{kept}", error=True)
        self.notify(message.reason, title="Probe failed", severity="error")

    @on(ConfigPane.SpecChanged)
    def _spec_changed(self, event: ConfigPane.SpecChanged) -> None:
        if event.error is not None:
            label = LABELS.get(event.error.field, event.error.field)
            self._status(f"Invalid {label}: {event.error.reason}", error=True)
        elif event.spec is not None:
            self.sub_title = self._spec_summary(event.spec)
            self._status("Press r to run" + (" again." if self.result else " the probe."))

    @on(ConfigPane.RunRequested)
    def _run_requested(self) -> None:
        self.action_run()

    # -- actions --------------------------------------------------------------------

    def action_run(self) -> None:
        pane = self.query_one(ConfigPane)
        if pane.errors:
            name, reason = next(iter(pane.errors.items()))
            message = f"{LABELS.get(name, name)}: {reason}"
            self._status(f"Not run, invalid {message}", error=True)
            self.notify(message, title="Not run: invalid configuration", severity="error")
            return
        self.runs_started += 1
        self.running = self.runs_started
        self._status("Running...")
        self.probe(pane.spec, time.perf_counter())
        # The loading indicator only for runs long enough to notice: drawn for every
        # run, it would cost a quick one a second layout and make the panes flicker.
        run = self.runs_started
        self.set_timer(LOADING_DELAY, lambda: self._show_loading(run))

    def _show_loading(self, run: int) -> None:
        if self.running == run:
            self.query_one(HistogramGrid).loading = True

    async def action_view(self, view: str | None = None) -> None:
        self.view = view or VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        await self._show_plots()
        if self.result is not None:
            self._status(self._result_summary(self.result))

    async def action_toggle_log(self) -> None:
        self.log_counts = not self.log_counts
        await self._show_plots()

    def action_toggle_config(self) -> None:
        pane = self.query_one(ConfigPane)
        pane.display = not pane.display
        if not pane.display and pane.has_focus_within:
            self.set_focus(None)

    def action_leave_field(self) -> None:
        self.set_focus(None)

    def action_train(self) -> None:
        from gradtui.tui.screens.train import TrainScreen  # off the start-up path

        if not self.is_screen_installed("train"):
            self.install_screen(TrainScreen(), name="train")
        if not isinstance(self.screen, TrainScreen):
            self.push_screen("train")

    def valid_spec(self) -> Spec | None:
        """The configuration pane's spec, or None while any field is invalid."""
        pane = self.screen_stack[0].query_one(ConfigPane)
        return None if pane.errors else pane.spec

    def action_help(self) -> None:
        from gradtui.tui.screens.help import HelpScreen  # Markdown: kept off the start-up path

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_export(self) -> None:
        if self.result is None:
            self.notify("Nothing to export yet: press r to run.", severity="warning")
            return
        path = self._free_path("gradtui-result", "json")
        try:
            path.write_text(self.result.to_json() + "\n", encoding="utf-8")
        except OSError as error:
            self.notify(f"Cannot write {path}: {error.strerror}", severity="error")
            return
        self._status(f"Exported JSON to {path}")
        self.notify(str(path), title="Exported JSON")

    def action_screenshot(self) -> None:
        path = self._free_path("gradtui-screen", "svg")
        self.save_screenshot(filename=path.name, path=str(path.parent))
        self._status(f"Saved screenshot to {path}")
        self.notify(str(path), title="Saved SVG")

    def load_preset(self, name: str) -> None:
        pane = self.query_one(ConfigPane)
        pane.load(PRESETS[name].spec.replace(device=pane.spec.device))

    def set_field_and_run(self, name: str, text: str) -> None:
        self.query_one(ConfigPane).set_field(name, text)
        self.action_run()

    PROBE_ACTIONS = {"run", "view", "toggle_log", "toggle_config", "export", "leave_field"}
    """Actions on the probe view's panes: off (and out of the footer) on other screens."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action not in self.PROBE_ACTIONS or self.screen is self.screen_stack[0]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from gradtui_commands(self)

    # -- helpers --------------------------------------------------------------------

    async def _show_plots(self) -> None:
        if self.result is not None:
            await self.query_one(HistogramGrid).show(
                self.result.layers, self.view, log=self.log_counts
            )

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def _result_summary(self, result: ProbeResult) -> str:
        log = ", log" if self.log_counts and self.view != "flow" else ""
        return f"{VIEW_TITLES[self.view]}{log} | {result.spec.loss} loss {number(result.loss)}"

    @staticmethod
    def _spec_summary(spec: Spec) -> str:
        return (
            f"{spec.field_text('sizes')} {spec.activation} | {spec.loss} | batch {spec.batch_size}"
            f" | seed {spec.seed}"
        )

    def _free_path(self, stem: str, suffix: str) -> Path:
        n = 1
        while (path := self.output_dir / f"{stem}-{n}.{suffix}").exists():
            n += 1
        return path


def make_app(spec: Spec | None = None, **options) -> GradApp:
    """The one factory for the CLI and the tests."""
    return GradApp(spec or Spec(), **options)
