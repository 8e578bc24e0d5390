"""Charts drawn with plotext: lines over time (the Train and run views) and the
gradient flow. Imported only by the views that show one: plotext is not on the first
screen's start-up path."""

from __future__ import annotations

from typing import Any

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from gradtui import bars
from gradtui.tui.widgets.chart import Cached


class Chart(Cached, PlotextPlot):
    """A plotext chart: subclasses keep their data, call `changed()` when it changes,
    and `draw(plt)`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._start_cache()

    def draw(self, plt: Any) -> None:
        raise NotImplementedError

    def _build(self) -> RenderResult:
        self.draw(self.plt)
        # plotext leaves out a title wider than the chart: shorten it instead.
        title = self.plt.monitor.title
        if title and len(title) > self.size.width:
            self.plt.title(fit_title(title, self.size.width))
        return PlotextPlot.render(self)


def fit_title(title: str, width: int) -> str:
    """`title` in `width` columns: its last ", ..." clauses dropped first (`loss, mean of
    5 steps` -> `loss`), then the end cut with an ellipsis."""
    while len(title) > width and ", " in title:
        title = title.rsplit(", ", 1)[0]
    return bars.fit(title, width)
