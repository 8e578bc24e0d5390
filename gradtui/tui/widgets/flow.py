"""The gradient-flow chart: ||dL/dW|| per layer on a log scale."""

from __future__ import annotations

from typing import Any

from gradtui.plots import draw_flow
from gradtui.result import Entry
from gradtui.tui.widgets.plotext_chart import Chart


class FlowPlot(Chart):
    """||dL/dW|| per layer on a log scale: where gradients vanish or explode."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._layers: list[Entry] = []

    def show(self, layers: list[Entry]) -> None:
        self._layers = layers
        self.changed()

    def draw(self, plt: Any) -> None:
        plt.clear_figure()
        if self._layers:
            draw_flow(plt, self._layers, width=self.size.width)
