"""The histogram panes: one plotext histogram per layer, and the gradient-flow chart."""

from __future__ import annotations

from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual_plotext import PlotextPlot

from gradtui.plots import SHORT_TITLES, draw_flow, draw_histogram, stats_for
from gradtui.result import Histogram, LayerResult

PLOT_WIDTH = 38
"""Narrowest a histogram gets before the grid drops a column."""
MAX_COLUMNS = 4
PLOT_HEIGHT = 12
"""Rows of a histogram when the layers do not all fit: the pane scrolls."""
MAX_PLOT_HEIGHT = 30


class LayerPlot(PlotextPlot):
    """A histogram of one layer's tensor; keeps its data and redraws from it."""

    DEFAULT_CSS = """
    LayerPlot { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._hist: Histogram | None = None
        self._title = ""
        self._log = False
        self._drawn: tuple[object, RenderResult] | None = None
        """(what was drawn, its text): plotext takes ~5 ms a build, so a render with
        nothing new to draw reuses the last one."""

    def show(self, hist: Histogram | None, title: str, *, log: bool) -> None:
        self._hist, self._title, self._log = hist, title, log
        self.replot()

    def replot(self) -> None:
        self.refresh()

    def render(self) -> RenderResult:
        # Drawn afresh at every render: plotext keeps layout state from earlier builds,
        # so a figure drawn once and rebuilt after a resize can differ from a fresh one.
        if self._hist is None:
            self.plt.clear_figure()
            self.plt.title(self._title + " - none")
        else:
            draw_histogram(self.plt, self._hist, self._title, width=self.size.width, log=self._log)
        return super().render()


class FlowPlot(PlotextPlot):
    """||dL/dW|| per layer on a log scale: where gradients vanish or explode."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._layers: list[LayerResult] = []

    def show(self, layers: list[LayerResult]) -> None:
        self._layers = layers
        self.replot()

    def replot(self) -> None:
        self.refresh()

    def render(self) -> RenderResult:
        self.plt.clear_figure()
        if self._layers:
            draw_flow(self.plt, self._layers, width=self.size.width)
        return super().render()


class HistogramGrid(VerticalScroll):
    """Layer histograms in a grid of 1 to 4 columns that follows the width, scrolling."""

    DEFAULT_CSS = """
    HistogramGrid { scrollbar-size-vertical: 1; }
    HistogramGrid > Grid { height: auto; grid-gutter: 0 1; }
    HistogramGrid > FlowPlot { display: none; height: 1fr; min-height: 12; }
    HistogramGrid.-flow > Grid { display: none; }
    HistogramGrid.-flow > FlowPlot { display: block; }
    """

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Grid()
        yield FlowPlot()

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Columns from the width; rows share the height when all fit (a large terminal),
        else keep PLOT_HEIGHT and the pane scrolls."""
        grid = self.query_one(Grid)
        columns = max(1, min(MAX_COLUMNS, self.size.width // PLOT_WIDTH))
        rows = max(1, -(-len(grid.children) // columns))
        height = max(PLOT_HEIGHT, min(MAX_PLOT_HEIGHT, self.size.height // rows))
        grid.styles.grid_size_columns = columns
        grid.styles.grid_rows = str(height)

    async def show(self, layers: list[LayerResult], view: str, *, log: bool) -> None:
        grid = self.query_one(Grid)
        flow = self.query_one(FlowPlot)
        self.set_class(view == "flow", "-flow")
        if view == "flow":
            flow.show(layers)
            return
        plots = list(grid.query(LayerPlot))
        if len(plots) != len(layers):
            await grid.remove_children()
            plots = [LayerPlot(id=f"plot-{layer.index}") for layer in layers]
            await grid.mount_all(plots)
        for plot, layer in zip(plots, layers):
            stats = stats_for(layer, view)
            title = f"L{layer.index} {layer.out_features}x{layer.in_features} {SHORT_TITLES[view]}"
            plot.show(None if stats is None else stats.hist, title, log=log)
        self._fit_columns()
