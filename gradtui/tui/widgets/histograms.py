"""The histogram panes: one histogram per tensor of the view (a layer of the built-in
MLP, a parameter or module of a user's model), and the gradient-flow chart (made the
first time the flow view shows: gradtui.tui.widgets.flow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical

from gradtui import bars
from gradtui.plots import SHORT_TITLES
from gradtui.result import Entry, Histogram
from gradtui.tui.widgets.chart import TextChart

if TYPE_CHECKING:
    from gradtui.tui.widgets.flow import FlowPlot

PLOT_WIDTH = 38
"""Narrowest a histogram gets before the grid drops a column."""
MAX_COLUMNS = 4
PLOT_HEIGHT = 12
"""Rows of a histogram when the layers do not all fit: the pane scrolls."""
MAX_PLOT_HEIGHT = 30


class LayerPlot(TextChart):
    """A histogram of one tensor; keeps its data and redraws from it."""

    DEFAULT_CSS = """
    LayerPlot { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._hist: Histogram | None = None
        self._name = ""
        self._about = ""
        self._log = False

    def show(self, hist: Histogram | None, name: str, about: str, *, log: bool) -> None:
        """The histogram `hist` of the tensor `name`; `about`: its shape and what it is."""
        self._hist, self._name, self._about, self._log = hist, name, about, log
        self.changed()

    def title(self, width: int) -> str:
        """`name shape what` in `width` columns (with the chart's ", %"): the name gives
        up its middle first."""
        return bars.titled(self._name, self._about, width - len(", log %" if self._log else ", %"))

    def chart(self, width: int) -> bars.HistogramChart | None:
        """What the plot draws at `width` columns (None: no tensor)."""
        if self._hist is None:
            return None
        return bars.histogram_chart(self._hist, self.title(width), width=width, log=self._log)

    def text(self, width: int, height: int) -> Text:
        chart = self.chart(width)
        if chart is None:
            return Text(f"{self.title(width)} - none", style="dim")
        return bars.render(chart, width, height, bar_style=self.bar_style())


def plot_name(entry: Entry, view: str) -> tuple[str, str]:
    """(`L2`, `100x100 dL/dW`) for a layer of the built-in MLP, else the entry's whole
    name and the same shape and short title (the plot shortens the name to its width)."""
    shape = "x".join(str(n) for n in entry.shape)
    name = f"L{entry.label}" if entry.label.isdigit() else entry.label
    return name, f"{shape} {SHORT_TITLES[view]}"


class HistogramGrid(Vertical):
    """Layer histograms in a grid of 1 to 4 columns that follows the width, or the
    gradient-flow chart. It sits in a scrolling pane and takes the height it is given."""

    DEFAULT_CSS = """
    HistogramGrid { height: auto; }
    HistogramGrid > Grid { height: auto; grid-gutter: 0 2; }
    HistogramGrid > FlowPlot { display: none; }
    HistogramGrid.-flow > Grid { display: none; }
    HistogramGrid.-flow > FlowPlot { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._available = PLOT_HEIGHT
        self._layout: tuple[int, int, int] | None = None
        """(columns, plot height, flow height) last set."""

    def compose(self) -> ComposeResult:
        yield Grid()

    async def _flow(self) -> FlowPlot:
        """The flow chart, made the first time it shows (plotext loads then)."""
        from gradtui.tui.widgets.flow import FlowPlot

        if not self.query(FlowPlot):
            await self.mount(FlowPlot())
            self._layout = None  # the new chart takes its height at the next fit
            self.fit(self._available)
        return self.query_one(FlowPlot)

    def fit(self, available: int) -> None:
        """Size the plots for `available` rows of the pane: they share them when all fit
        (a large terminal), else each keeps PLOT_HEIGHT and the pane scrolls."""
        self._available = available
        grid = self.query_one(Grid)
        columns = max(1, min(MAX_COLUMNS, self.size.width // PLOT_WIDTH))
        rows = max(1, -(-len(grid.children) // columns))
        height = max(PLOT_HEIGHT, min(MAX_PLOT_HEIGHT, available // rows))
        layout = (columns, height, max(PLOT_HEIGHT, available))
        if layout == self._layout:
            return  # unchanged: no new layout pass
        self._layout = layout
        grid.styles.grid_size_columns = columns
        grid.styles.grid_rows = str(height)
        for flow in self.query("FlowPlot"):  # by name: its module loads with it
            flow.styles.height = layout[2]

    def on_resize(self) -> None:
        self.fit(self._available)

    async def show(self, entries: list[Entry], view: str, *, log: bool) -> None:
        grid = self.query_one(Grid)
        self.set_class(view == "flow", "-flow")
        if view == "flow":
            (await self._flow()).show(entries)
            return
        plots = list(grid.query(LayerPlot))
        if len(plots) != len(entries):
            await grid.remove_children()
            plots = [LayerPlot(id=f"plot-{i + 1}") for i in range(len(entries))]
            await grid.mount_all(plots)
        for plot, entry in zip(plots, entries):
            plot.show(entry.stats.hist, *plot_name(entry, view), log=log)
        self.fit(self._available)
