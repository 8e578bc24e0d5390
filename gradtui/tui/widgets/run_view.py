"""The widgets of the run view (`gradtui open`): the step scrubber's line, the table of
every parameter at the shown step, the charts of one parameter over time and at the
step, and its sign map at the step."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widget import Widget

from gradtui import bars, run_plots, table
from gradtui.plots import UPDATE_RATIO_REFERENCE
from gradtui.result import Entry, Histogram
from gradtui.run_plots import Marks
from gradtui.run_view import COLUMNS, BandRange, ClippedHistogram, Row, cells
from gradtui.sign_map import sign_map_lines
from gradtui.tui.widgets.chart import TextChart
from gradtui.tui.widgets.histograms import MAX_COLUMNS, MAX_PLOT_HEIGHT, PLOT_HEIGHT, PLOT_WIDTH
from gradtui.tui.widgets.lines import TextLines
from gradtui.tui.widgets.plotext_chart import Chart
from gradtui.tui.widgets.sign_map import MIN_HEIGHT, THEME_STYLES
from gradtui.tui.widgets.sign_table import tag_style

SELECTED = ">"
"""Marks the shown parameter's row in the table."""


class ScrubBar(Widget):
    """`step 412/10000 (follow)`, a track with the step's place in the run, and the
    shown parameter: always one line, the least important parts left out first."""

    DEFAULT_CSS = """
    ScrubBar { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.parts: tuple[str, str, str] = ("step -", "", "")
        """(where: `step 412/10000 (follow)`, loss, the parameter)."""
        self.position: float | None = None
        """The shown step's place in the run, 0 to 1."""

    def show(self, where: str, loss: str, param: str, position: float | None) -> None:
        self.parts, self.position = (where, loss, param), position
        self.refresh()

    @property
    def text(self) -> str:
        return self.render().plain

    def render(self) -> Text:
        where, loss, param = self.parts
        width = self.size.width - 2 if self.size.width > 2 else 78
        fixed = [where, param, loss]
        shown = []
        for part in fixed:  # in order of importance
            if part and len("  ".join([*shown, part])) <= width:
                shown.append(part)
        order = [p for p in (where, loss, param) if p in shown]
        left = "  ".join(order[:1])
        right = "  ".join(order[1:])
        room = width - len(left) - len(right) - 4
        track = ""
        if room >= 10 and self.position is not None:
            at = round(self.position * (room - 1))
            track = "─" * at + "●" + "─" * (room - 1 - at)
        line = f"{left}  {track}  {right}" if track else f"{left}  {right}".rstrip()
        return Text(line, no_wrap=True, overflow="crop")


class RunTable(Widget):
    """Every parameter at the shown step, a page at a time; the shown one marked with
    SELECTED. Columns that do not fit are dropped whole, least telling first. Drawn as
    one text (a DataTable took tens of milliseconds to redraw at each scrub)."""

    DEFAULT_CSS = """
    RunTable { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[Row] = []
        self._selected: int | None = None

    def show(self, rows: list[Row], selected: int | None) -> None:
        """`rows` (a page), the one at index `selected` marked."""
        self._rows, self._selected = rows, selected
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._rows) + 1

    def _fitted(self) -> tuple[list[list[table.Cell]], list[int], list[int]]:
        """Every cell, the width of each column, and the columns that fit."""
        rows = cells(self._rows)
        widths = table.widths(COLUMNS, rows)
        shown = table.fit(COLUMNS, rows, self.content_size.width - 2, padding=0, gap=2)
        return rows, widths, shown

    @property
    def shown_headers(self) -> list[str]:
        """The headers on screen, in order (after the mark's column)."""
        return [COLUMNS[i].header for i in self._fitted()[2]]

    @property
    def cells(self) -> list[list[str]]:
        """The texts on screen, row by row, of the columns shown."""
        rows, _, shown = self._fitted()
        return [[row[i].text for i in shown] for row in rows]

    def render(self) -> Text:
        rows, widths, shown = self._fitted()
        colours = self.app.theme_variables
        out = Text(no_wrap=True, overflow="crop")
        out.append("  ")
        out.append(
            "  ".join(COLUMNS[i].align(COLUMNS[i].header, widths[i]) for i in shown), style="bold"
        )
        for index, row in enumerate(rows):
            selected = index == self._selected
            out.append("\n")
            out.append(SELECTED + " " if selected else "  ", style="bold")
            for n, i in enumerate(shown):
                if n:
                    out.append("  ")
                cell = row[i]
                style = tag_style(cell, colours)
                if selected and i == 0:  # no bold: it would widen the name in an SVG
                    style = colours["accent"]
                out.append(COLUMNS[i].align(cell.text, widths[i]), style=style)
        return out


class OverTime(Chart):
    """A chart over the run's steps, with the scrubbed step (and the first non-finite one)
    marked; a scrub moves only the marks."""

    marks: Marks
    _prepared: Any
    """What run_plots prepared from the data: its `first` and `last` steps."""

    def mark(self, marks: Marks) -> None:
        """Only the marks changed (a scrub): drawn again only if they look different."""
        prepared, width = self._prepared, self.size.width
        old = run_plots.mark_key(self.marks, prepared.first, prepared.last, width)
        self.marks = marks
        if run_plots.mark_key(marks, prepared.first, prepared.last, width) != old:
            self.changed()


class BandChart(OverTime):
    """The distribution of one parameter's gradient over the run (RunReader.bands)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.bands: list[tuple[int, tuple[float, ...]]] = []
        """RunReader.bands of the parameter shown."""
        self.title = ""
        self.marks = Marks()
        self.clip: BandRange | None = None
        self.empty = "no step recorded yet"
        """What the chart says without bands."""
        self._prepared = run_plots.prepare_bands([])

    def show(self, bands, title: str, marks: Marks, clip: BandRange | None, empty: str) -> None:
        if bands is not self.bands:
            self._prepared = run_plots.prepare_bands(bands)
        self.bands, self.title, self.marks, self.clip = bands, title, marks, clip
        self.empty = empty
        self.changed()

    def draw(self, plt: Any) -> None:
        run_plots.draw_bands(
            plt,
            self._prepared,
            self.title,
            width=self.size.width,
            marks=self.marks,
            clip=self.clip,
            empty=self.empty,
        )


class TimeChart(OverTime):
    """One figure of one parameter (or the loss) over the run."""

    def __init__(self, *, id: str | None = None, **options: Any) -> None:
        super().__init__(id=id)
        self.options = options
        """draw_over_time's: reference, percent, log10."""
        self.points: list[tuple[int, float | None]] = []
        """(step, value) as RunReader.series (or losses) gives them."""
        self.title = ""
        self.marks = Marks()
        self._prepared = run_plots.prepare_series([])

    def show(self, points, title: str, marks: Marks) -> None:
        if points is not self.points:
            log10 = self.options.get("log10", False)
            self._prepared = run_plots.prepare_series(points, log10=log10)
        self.points, self.title, self.marks = points, title, marks
        self.changed()

    def draw(self, plt: Any) -> None:
        run_plots.draw_over_time(
            plt, self._prepared, self.title, width=self.size.width, marks=self.marks, **self.options
        )


class StepHistogram(TextChart):
    """The exact histogram of one parameter's gradient at the shown step."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hist: Histogram | None = None
        self.title = ""
        self.clipped: ClippedHistogram | None = None

    def show(self, hist: Histogram | None, title: str, clipped: ClippedHistogram | None) -> None:
        self.hist, self.title, self.clipped = hist, title, clipped
        self.changed()

    def text(self, width: int, height: int) -> Text:
        chart = run_plots.step_histogram_chart(
            self.hist, self.title, width=width, clipped=self.clipped
        )
        return bars.render(chart, width, height, bar_style=self.bar_style())


class RunCharts(Vertical):
    """The charts of the shown parameter in a grid of 1 to 4 columns that follows the
    width; they share the height the pane leaves, at least PLOT_HEIGHT rows each."""

    DEFAULT_CSS = """
    RunCharts { height: auto; }
    RunCharts > Grid { height: auto; grid-gutter: 0 1; }
    RunCharts .-hidden { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._available = PLOT_HEIGHT
        self._layout: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        with Grid():
            yield BandChart(id="chart-bands")
            yield StepHistogram(id="chart-hist")
            yield TimeChart(id="chart-norm", log10=True)
            yield TimeChart(id="chart-coherence", percent=True)
            yield TimeChart(id="chart-update", reference=UPDATE_RATIO_REFERENCE)
            yield TimeChart(id="chart-loss")

    def show_loss(self, shown: bool) -> None:
        self.query_one("#chart-loss").set_class(not shown, "-hidden")
        self._layout = None
        self.fit(self._available)

    def fit(self, available: int) -> None:
        self._available = available
        grid = self.query_one(Grid)
        charts = [c for c in grid.children if not c.has_class("-hidden")]
        columns = max(1, min(MAX_COLUMNS, self.size.width // PLOT_WIDTH))
        rows = max(1, -(-len(charts) // columns))
        columns = max(1, -(-len(charts) // rows))  # 6 charts: 3 + 3, not 4 + 2
        height = max(PLOT_HEIGHT, min(MAX_PLOT_HEIGHT, available // rows))
        if (columns, height) == self._layout:
            return
        self._layout = (columns, height)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_rows = str(height)

    def on_resize(self) -> None:
        self.fit(self._available)


class StepSignMap(TextLines):
    """The sign map of the shown parameter at the shown step, or why there is none."""

    DEFAULT_CSS = """
    StepSignMap { height: 16; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entry: Entry | None = None
        self.note = ""
        self.sorted_rows = True
        self.position = ""
        self._lines: list[Text] = []
        self._drawn: tuple | None = None

    def show(self, entry: Entry | None, note: str, position: str = "") -> None:
        """`entry` with its sign map, or `note` saying why there is none."""
        self.entry, self.note, self.position = entry, note, position
        self._drawn = None
        self.refresh()

    def fit(self, available: int) -> None:
        height = max(MIN_HEIGHT, available)
        if self.styles.height is None or self.styles.height.value != height:
            self.styles.height = height

    def lines(self) -> list[Text]:
        key = (self.sorted_rows, self.size, self.app.theme)  # and what show() was given
        if key != self._drawn:
            self._drawn = key
            self._lines = self._draw()
        return self._lines

    def _draw(self) -> list[Text]:
        if self.entry is None or self.entry.sign_map is None:
            return [Text(self.note)]
        colours = self.app.theme_variables
        return sign_map_lines(
            self.entry,
            self.size.width,
            self.size.height,
            sorted_rows=self.sorted_rows,
            position=self.position,
            styles={kind: colours[name] for kind, name in THEME_STYLES.items()},
            hint="[ ] parameter  o sort  ←→ step",
        )
