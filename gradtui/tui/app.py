"""The gradtui app: what the views share, and the one factory for the CLI and the tests.

Each view is a screen with its own bindings and commands: the probe view (the default
screen), the Train view, the help, and the run view (the first screen of `gradtui
open`). The App holds what they share: the configured Spec, the device, the last result.
torch is imported only inside workers, so the first screen paints at once.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive, var
from textual.screen import Screen

from gradtui.files import free_path, write_atomic
from gradtui.result import ProbeResult
from gradtui.spec import Spec
from gradtui.tui.screens.probe import ProbeScreen
from gradtui.tui.widgets.status import StatusLine

WARM_UP_DELAY = 0.3
"""Seconds from mounting to loading torch and compiling the kernels in the background."""


class GradApp(App[None]):
    """Keyboard-driven exploration of back-propagated gradients."""

    CSS_PATH = "app.tcss"
    TITLE = "gradtui"

    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help", tooltip="this help"),
        Binding(
            "s", "screenshot", "SVG", show=False, id="screenshot", tooltip="save an SVG screenshot"
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="quit"),
    ]

    spec: reactive[Spec | None] = var(None)
    """The configured Spec, None while a field of the form is invalid."""
    result: reactive[ProbeResult | None] = var(None, always_update=True)
    """The last good result: stays on screen when a run fails or is refused."""
    device: reactive[str | None] = var(None, init=False)
    """The device `auto` resolves to, once torch is loaded."""

    def __init__(
        self, spec: Spec, *, output_dir: Path | None = None, run: str | None = None
    ) -> None:
        super().__init__()
        self.set_reactive(GradApp.spec, spec)
        self.output_dir = output_dir or Path.cwd()
        """Where `e` and `s` write their files."""
        self.run_path = run
        """A run file to open (`gradtui open`): the run view is the first screen."""

    def get_default_screen(self) -> Screen:
        if self.run_path is not None:
            from gradtui.tui.screens.run import RunScreen

            return RunScreen(self.run_path)
        return ProbeScreen(self.spec or Spec())

    def on_mount(self) -> None:
        if self.run_path is None:  # a recorded run needs no torch
            # Not at once: importing torch holds the GIL for long stretches, and the
            # writer thread that sends the first frame to the terminal would wait on it
            # (about 80 ms of a 0.5 s start). A probe asked for sooner loads torch itself.
            self.set_timer(WARM_UP_DELAY, self.warm_up)

    @work(thread=True, group="warm-up", exit_on_error=False)
    def warm_up(self) -> None:
        """Load torch after the first paint, learn the default device, then compile the
        fused statistics kernels (the probes use plain torch until they are ready)."""
        from gradtui.lab import kernels, resolve_device

        device = str(resolve_device("auto"))
        self.call_from_thread(setattr, self, "device", device)
        kernels.warm_up()

    def watch_device(self, device: str | None) -> None:
        if self.return_code is not None:
            return  # exiting (q before torch loaded): the header is being taken down
        self.title = "gradtui" if device is None else f"gradtui [{device}]"

    # -- actions --------------------------------------------------------------------

    def action_train(self) -> None:
        from gradtui.tui.screens.train import TrainScreen  # off the start-up path

        if self.spec is not None and not self.spec.builtin:
            self.notify(
                "The Train view trains the built-in MLP on a task. Clear the model field to "
                "use it; record your own model's training with gradtui.watch (README).",
                title="Not for your own model",
                severity="warning",
            )
            return
        if not self.is_screen_installed("train"):
            self.install_screen(TrainScreen(), name="train")
        if not isinstance(self.screen, TrainScreen):
            self.push_screen("train")

    def action_help(self) -> None:
        from gradtui.tui.screens.help import HelpScreen  # Markdown: kept off the start-up path

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_screenshot(self) -> None:
        path = self.write_output("gradtui-screen", "svg", self.export_screenshot())
        if path is not None:
            self.notify(str(path), title="Saved SVG")
            self.say(f"Saved SVG to {path}")

    def say(self, text: str, *, error: bool = False) -> None:
        """Show `text` in the current screen's status line (if it has one)."""
        for status in self.screen.query(StatusLine):
            status.show(text, error=error)

    def write_output(self, stem: str, suffix: str, text: str) -> Path | None:
        """Write `text` whole to the first free `stem-N.suffix` in the output folder and
        return its absolute path; on failure say why and return None (no partial file
        stays, an earlier file is never overwritten)."""
        path = free_path(self.output_dir, stem, suffix).absolute()
        try:
            write_atomic(path, text)
        except OSError as error:
            reason = f"cannot write {path}: {error.strerror or error}"
            self.notify(reason, title="Not saved", severity="error")
            self.say(f"Not saved: {reason}", error=True)
            return None
        return path


def make_app(spec: Spec | None = None, **options) -> GradApp:
    """The one factory for the CLI and the tests; `run=PATH` opens a run file."""
    return GradApp(spec or Spec(), **options)
