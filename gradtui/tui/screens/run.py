"""The run view (`gradtui open RUN`): a recorded run, live while it grows.

One parameter at a time over the run (the distribution of its gradient as percentile
bands, |g|, row coherence, update:data, the loss), and every parameter at one step (the
table, the shown one's histogram and sign map). The step scrubber moves the step; follow
mode (on at start, off once you scrub back, on again with `end`) keeps the newest step
shown. The reader is polled every POLL_SECONDS; queries over the whole run (bands,
series) run in a worker, those of one step (a few ms) on the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from gradtui.insight import run_findings
from gradtui.run_plots import Marks
from gradtui.run_view import (
    StepRefused,
    band_clip_text,
    band_range,
    clip_histogram,
    entry,
    moved,
    parameters,
    parse_step,
    rows,
)
from gradtui.runfile import PARAM, Recorded, RunFileError, RunReader, open_run
from gradtui.table import number, short_name
from gradtui.tui.commands import Command, ScreenCommands
from gradtui.tui.keys import ScreenKeysInOrder
from gradtui.tui.restyle import StyledAsMounted
from gradtui.tui.scrolling import ScrollKeys, scroll_bindings
from gradtui.tui.widgets.form import TypedInput
from gradtui.tui.widgets.results import ResultsPane
from gradtui.tui.widgets.run_view import (
    BandChart,
    RunCharts,
    RunTable,
    ScrubBar,
    StepHistogram,
    StepSignMap,
    TimeChart,
)
from gradtui.tui.widgets.status import StatusLine

POLL_SECONDS = 0.5
"""How often the run file is asked for new steps (one indexed query)."""
CHROME_ROWS = 4
"""The header, the scrubber's line, the status line and the footer."""
PAGE_MIN = 4
"""Table rows on a page at least; the page takes a third of the pane, so a large
terminal shows more parameters at once."""
HINT = "←→ step  end follow  g go to  [ ] parameter  x clip  m sign map"
"""The status line until something happens."""


@dataclass(frozen=True)
class OverTime:
    """One parameter's figures over the run, as a worker read them."""

    name: str | None
    bands: list = field(default_factory=list)
    norm: list = field(default_factory=list)
    coherence: list = field(default_factory=list)
    update: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    first_nonfinite: tuple[int, str] | None = None


class RunScreen(StyledAsMounted, ScreenKeysInOrder, ScrollKeys, Screen[None]):
    """A run file, step by step and over time."""

    AUTO_FOCUS = ""
    COMMANDS = {ScreenCommands}
    SCROLLS = "ResultsPane"

    BINDINGS = [
        Binding(
            "left,h",
            "step(-1)",
            "Step",
            key_display="←→",
            id="run.step.previous",
            tooltip="the previous recorded step (follow turns off)",
        ),
        Binding(
            "right,l",
            "step(1)",
            "Next step",
            show=False,
            id="run.step.next",
            tooltip="the next recorded step",
        ),
        Binding(
            "shift+left",
            "step(-10)",
            "Back 10 steps",
            show=False,
            id="run.step.back10",
            tooltip="10 recorded steps back",
        ),
        Binding(
            "shift+right",
            "step(10)",
            "On 10 steps",
            show=False,
            id="run.step.on10",
            tooltip="10 recorded steps on",
        ),
        Binding(
            "home",
            "first",
            "First step",
            show=False,
            id="run.first",
            tooltip="the first recorded step (follow turns off)",
        ),
        Binding(
            "end",
            "last",
            "Follow",
            id="run.last",
            tooltip="the last recorded step, and follow the new ones as they come",
        ),
        Binding("g", "goto", "Go to", id="run.goto", tooltip="type a recorded step to show"),
        Binding(
            "f",
            "toggle_follow",
            "Follow on/off",
            show=False,
            id="run.follow",
            tooltip="follow the newest step, or stay on the shown one",
        ),
        Binding(
            "right_square_bracket",
            "param(1)",
            "Param",
            key_display="[ ]",
            id="run.param.next",
            tooltip="the next parameter (charts, histogram, sign map)",
        ),
        Binding(
            "left_square_bracket",
            "param(-1)",
            "Previous parameter",
            show=False,
            id="run.param.previous",
            tooltip="the previous parameter",
        ),
        Binding(
            "n",
            "page(1)",
            "Next page",
            show=False,
            id="run.page.next",
            tooltip="the next page of the table (and its first parameter)",
        ),
        Binding(
            "p",
            "page(-1)",
            "Previous page",
            show=False,
            id="run.page.previous",
            tooltip="the previous page of the table",
        ),
        Binding(
            "x",
            "toggle_clip",
            "Clip",
            id="run.clip",
            tooltip="clip the histogram to its 1st-99th percentile and the distribution to "
            "its 6.68th-93.32th percentile, so outliers do not squash them (what is cut is "
            "counted under each chart)",
        ),
        Binding(
            "m",
            "toggle_map",
            "Map",
            id="run.map",
            tooltip="the shown parameter's sign map at the step, or back to the charts",
        ),
        Binding(
            "o",
            "toggle_sort",
            "Sort rows",
            show=False,
            id="run.map.sort",
            tooltip="sign map rows sorted by sign (all +, all -, mixed) or in neuron order",
        ),
        *[b for b in scroll_bindings("the run", "run.") if b.key not in ("home", "end")],
        Binding(
            "escape",
            "leave_field",
            "Leave field",
            id="run.leave-field",
            tooltip="leave the step field",
        ),
    ]

    class Loaded(Message):
        """A worker read one parameter's figures over the run."""

        def __init__(self, token: int, data: OverTime | None, error: str = "") -> None:
            super().__init__()
            self.token, self.data, self.error = token, data, error

    def __init__(self, path: str) -> None:
        super().__init__(id="run-screen")
        self.path = str(path)
        self.reader: RunReader | None = None
        self.param_names: list[tuple] = []
        """(name, shape) of the recorded parameters."""
        self.steps: list[int] = []
        self.step: int | None = None
        """The shown step; None before the first is recorded."""
        self.follow = True
        """Show each new step as it is recorded."""
        self.param = 0
        """The shown parameter, an index into `param_names`."""
        self.clip = False
        self.map_shown = False
        self.at_step: dict[str, Recorded] = {}
        """Every tensor at the shown step (RunReader.stats)."""
        self.over_time = OverTime(None)
        self.first_nonfinite: tuple[int, str] | None = None
        self._token = 0
        self._worker_reader: RunReader | None = None
        self._worker_lock = threading.Lock()

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield ScrubBar(id="scrub")
        yield StatusLine(HINT)
        yield TypedInput(
            placeholder="go to step (enter: go, escape: leave)",
            type="integer",
            compact=True,
            id="goto",
        )
        with ResultsPane():
            yield RunTable()
            yield Static("", id="run-notes")
            yield RunCharts()
            yield StepSignMap()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = "gradtui open"
        self.sub_title = Path(self.path).name
        try:
            self.reader = open_run(self.path)
            self.first_nonfinite = self.reader.first_nonfinite()
        except RunFileError as error:
            self.status(f"Cannot read the run: {error}", error=True)
            return
        meta = self.reader.meta
        every = f", every {meta.every}" if meta.every > 1 else ""
        self.sub_title = f"{Path(self.path).name}: {meta.model}{every}"
        self.param_names = parameters(self.reader.params)
        self.steps = self.reader.steps()
        if self.steps:
            self.show_step(self.steps[-1])
        else:
            self.show_step(None)
            self.status("No step recorded yet: waiting for the first one (follow is on).")
        if not self.param_names:
            self.status(
                "This run records no parameter gradients; gradtui history shows its outputs.",
                error=True,
            )
        self.load()
        self.set_interval(POLL_SECONDS, self.poll)

    def on_unmount(self) -> None:
        if self.reader is not None:
            self.reader.close()

    # -- what is shown -----------------------------------------------------------------

    @property
    def param_name(self) -> str | None:
        """The shown parameter's name."""
        return self.param_names[self.param][0] if self.param_names else None

    @property
    def page_size(self) -> int:
        return max(PAGE_MIN, (self.app.size.height - CHROME_ROWS) // 3)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.param_names) // self.page_size))

    def show_step(self, step: int | None) -> None:
        """Show `step` (a recorded one) everywhere: the table, the histogram, the map,
        the marks on the charts over time, the scrubber."""
        self.step = step
        self.at_step = {}
        if step is not None and self.reader is not None:
            try:
                self.at_step = self.reader.stats(step)
            except (RunFileError, ValueError) as error:
                self.status(f"Cannot read step {step}: {error}", error=True)
        with self.app.batch_update():
            self._show_table()
            self._show_histogram()
            self._show_marks()
            self._show_map()
            self._show_scrub()
        self.call_after_refresh(self.query_one(ResultsPane).fit_plots)

    def _show_table(self) -> None:
        size = self.page_size
        page = self.param // size
        shown = rows(self.param_names[page * size : (page + 1) * size], self.at_step)
        self.query_one(RunTable).show(shown, self.param - page * size)
        notes = []
        if self.pages > 1:
            last = min(len(self.param_names), (page + 1) * size)
            notes.append(
                f"parameters {page * size + 1}-{last} of {len(self.param_names)}: n, p pages"
            )
        if self.step is not None and self.steps and self.step == self.steps[-1]:
            recorded = [rec for rec in self.at_step.values() if rec.kind == PARAM]
            if recorded and all(rec.update_ratio is None for rec in recorded):
                notes.append(f"upd:data of step {self.step} comes with the next step")
        notes += ["* " + note for note in run_findings(self.first_nonfinite)]
        shown = self.query_one("#run-notes", Static)
        shown.update("\n".join(notes))
        shown.set_class(not notes, "-empty")

    def _show_histogram(self) -> None:
        name = self.param_name
        rec = self.at_step.get(name) if name else None
        hist = rec.stats.hist if rec is not None and rec.stats is not None else None
        where = "(no step yet)" if self.step is None else f"at step {self.step}"
        title = f"{short_name(name or '-', 20)} {where}"
        clipped = clip_histogram(hist) if self.clip and hist is not None else None
        self.query_one(StepHistogram).show(hist, title, clipped)

    def _marks(self) -> Marks:
        first = self.first_nonfinite
        return Marks(self.step, None if first is None else first[0])

    def _show_marks(self) -> None:
        marks = self._marks()
        for chart in self.query(TimeChart):
            chart.mark(marks)
        self.query_one(BandChart).mark(marks)

    def _show_over_time(self) -> None:
        data, marks = self.over_time, self._marks()
        label = short_name(data.name or "-", 18)
        clip = band_range(data.bands) if self.clip else None
        empty = "no finite entries recorded" if self.steps else "no step recorded yet"
        self.query_one(BandChart).show(
            data.bands, f"{short_name(data.name or '-', 24)} distribution", marks, clip, empty
        )
        self.query_one("#chart-norm", TimeChart).show(data.norm, f"{label} |g|, log", marks)
        self.query_one("#chart-coherence", TimeChart).show(
            data.coherence, f"{label} row coherence", marks
        )
        self.query_one("#chart-update", TimeChart).show(
            data.update, f"{label} log10 upd:data", marks
        )
        self.query_one("#chart-loss", TimeChart).show(data.losses, "loss", marks)
        logged = any(loss is not None for _, loss in data.losses)
        self.query_one(RunCharts).show_loss(logged)

    def _show_map(self) -> None:
        self.set_class(self.map_shown, "-map")
        if not self.map_shown:
            return
        sign_map = self.query_one(StepSignMap)
        name = self.param_name
        if name is None or self.step is None or self.reader is None:
            sign_map.show(None, "No step recorded yet.")
            return
        shape = self.param_names[self.param][1] or ()
        position = f" ({self.param + 1}/{len(self.param_names)})"
        if len(shape) < 2:
            sign_map.show(
                None,
                f"{name} has {len(shape)} dim{'s' if len(shape) != 1 else ''}: sign maps are"
                " of parameters of 2 or more dims ([ ] picks another).",
            )
            return
        row = rows([self.param_names[self.param]], self.at_step)[0]
        try:
            recorded = self.reader.sign_map(name, self.step)
        except (RunFileError, ValueError) as error:
            sign_map.show(None, f"Cannot read the sign map: {error}")
            return
        if recorded is None:
            why = (
                "this run file's schema holds none (written by an older gradtui)"
                if not self.reader.has_sign_maps
                else "record with gradtui.watch(..., sign_maps=True); gradtui train --save"
                " records them"
            )
            sign_map.show(None, f"No sign map of {name} at step {self.step}: {why}.")
            return
        sign_map.show(entry(row, recorded), "", position)

    def _show_scrub(self) -> None:
        last = self.steps[-1] if self.steps else None
        mode = "follow" if self.follow else "paused, end follows"
        where = f"step {'-' if self.step is None else self.step}/{last or '-'} ({mode})"
        losses = dict(self.over_time.losses)
        loss = losses.get(self.step) if self.step is not None else None
        loss_text = f"loss {number(loss)}" if loss is not None else ""
        name = self.param_name
        count = len(self.param_names)
        param = "" if name is None else f"{short_name(name, 28)} {self.param + 1}/{count}"
        position = None
        if self.step is not None and len(self.steps) > 1:
            position = self.steps.index(self.step) / (len(self.steps) - 1)
        elif self.step is not None:
            position = 1.0
        self.query_one(ScrubBar).show(where, loss_text, param, position)

    def status(self, text: str, *, error: bool = False) -> None:
        self.query_one(StatusLine).show(text, error=error)

    # -- reading -------------------------------------------------------------------------

    def load(self) -> None:
        """Read the shown parameter's figures over the run in a worker."""
        self._token += 1
        self._load(self.param_name, self._token)

    @work(thread=True, exclusive=True, group="run-load", exit_on_error=False)
    def _load(self, name: str | None, token: int) -> None:
        try:
            with self._worker_lock:  # an older load cancelled may still be reading
                if self._worker_reader is None:
                    self._worker_reader = open_run(self.path)
                run = self._worker_reader
                data = OverTime(
                    name,
                    bands=run.bands(name) if name else [],
                    norm=run.series(name, "grad_norm") if name else [],
                    coherence=run.series(name, "row_coherence") if name else [],
                    update=run.series(name, "update_ratio") if name else [],
                    losses=run.losses(),
                    first_nonfinite=run.first_nonfinite(),
                )
        except (RunFileError, ValueError) as error:
            self.post_message(self.Loaded(token, None, str(error)))
            return
        self.post_message(self.Loaded(token, data))

    def on_run_screen_loaded(self, message: Loaded) -> None:
        if message.token != self._token:
            return  # for a parameter no longer shown
        if message.data is None:
            self.status(f"Cannot read the run: {message.error}", error=True)
            return
        self.over_time = message.data
        if message.data.first_nonfinite != self.first_nonfinite:
            self.first_nonfinite = message.data.first_nonfinite
            self._show_table()
            self._show_marks()
        with self.app.batch_update():
            self._show_over_time()
            self._show_scrub()
        self.call_after_refresh(self.query_one(ResultsPane).fit_plots)

    def poll(self) -> None:
        """New steps since the last poll: the newest is shown when following; the
        charts over time are read again."""
        if self.reader is None:
            return
        try:
            new = self.reader.refresh()
            if new:
                self.first_nonfinite = self.reader.first_nonfinite()
        except RunFileError as error:
            self.status(f"Cannot read the run: {error}", error=True)
            return
        if not new:
            return
        self.steps.extend(new)
        if self.follow or self.step is None:
            if self.step is None:
                self.status(HINT)
            self.show_step(self.steps[-1])
        else:
            self.show_step(self.step)  # its update:data is written by the next step
        self.load()

    def on_resize(self) -> None:
        if self.reader is not None:
            self._show_table()

    # -- actions -------------------------------------------------------------------------

    def action_step(self, by: int) -> None:
        target = moved(self.steps, self.step, by)
        self.follow = False
        if target is not None:
            self.show_step(target)

    def action_first(self) -> None:
        self.follow = False
        if self.steps:
            self.show_step(self.steps[0])
        else:
            self._show_scrub()

    def action_last(self) -> None:
        self.follow = True
        if self.steps:
            self.show_step(self.steps[-1])
        else:
            self._show_scrub()

    def action_toggle_follow(self) -> None:
        if self.follow:
            self.follow = False
            self._show_scrub()
        else:
            self.action_last()

    def action_goto(self) -> None:
        self.add_class("-goto")
        field = self.query_one("#goto", Input)
        field.value = ""
        self.set_focus(field)  # now: the keys typed right after go to it

    @on(Input.Submitted, "#goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            step = parse_step(event.value, self.steps)
        except StepRefused as error:
            self.status(f"Not shown: {error}", error=True)
            return
        self.action_leave_field()
        self.follow = False
        self.status(f"Step {step}.")
        self.show_step(step)

    def action_leave_field(self) -> None:
        self.remove_class("-goto")
        self.set_focus(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_field":
            return self.query_one("#goto").has_focus
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def action_param(self, by: int) -> None:
        if not self.param_names:
            return
        self.select(self.param + by)

    def select(self, index: int) -> None:
        """Show parameter `index` (wrapping around)."""
        self.param = index % len(self.param_names)
        self.over_time = OverTime(self.param_name, losses=self.over_time.losses)
        self.show_step(self.step)
        self._show_over_time()
        self.load()

    def action_page(self, by: int) -> None:
        if not self.param_names:
            return
        size = self.page_size
        page = (self.param // size + by) % self.pages
        self.select(page * size)

    def action_toggle_clip(self) -> None:
        self.clip = not self.clip
        self._show_histogram()
        self._show_over_time()
        self.status(
            "Clipped: the histogram to its 1st-99th percentile, the distribution to the"
            f" {band_clip_text()} over the run (x again: whole ranges)."
            if self.clip
            else "Whole ranges (x clips)."
        )

    def action_toggle_map(self) -> None:
        self.map_shown = not self.map_shown
        self._show_map()
        self.call_after_refresh(self.query_one(ResultsPane).fit_plots)

    def action_toggle_sort(self) -> None:
        self.map_shown = True
        sign_map = self.query_one(StepSignMap)
        sign_map.sorted_rows = not sign_map.sorted_rows
        self._show_map()
        sign_map.refresh()

    def commands(self) -> Iterable[Command]:
        """What the command palette offers on this screen."""
        yield Command("Follow", "Show the last step and each new one (end)", self.action_last)
        yield Command("First step", "Show the first recorded step (home)", self.action_first)
        yield Command("Go to step", "Type a recorded step (g)", self.action_goto)
        yield Command("Toggle clip", "Clip outliers off the histogram (x)", self.action_toggle_clip)
        yield Command("Toggle sign map", "Sign map or charts (m)", self.action_toggle_map)
        for i, (name, _) in enumerate(self.param_names):
            yield Command(f"Parameter: {name}", f"Show {name}", partial(self.select, i))
