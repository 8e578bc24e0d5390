"""The base of every plotext chart in the app: drawn from data kept on the widget, its
text cached until the data, the size or the theme change, and never able to take the
app down."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from gradtui.spec import describe

MIN_WIDTH = 16
MIN_HEIGHT = 6
"""Smaller than this, plotext has no room for axes and labels (it raises): a one-line
note stands in for the chart."""


class Chart(PlotextPlot):
    """Subclasses keep their data, call `changed()` when it changes, and `draw(plt)`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._version = 0
        self._drawn: tuple[object, RenderResult] | None = None
        """(what was drawn, its text): plotext takes milliseconds a build and the ANSI
        text is parsed again each time, so a render with nothing new reuses the last."""

    def changed(self) -> None:
        """The data changed: draw again at the next refresh."""
        self._version += 1
        self.refresh()

    def draw(self, plt: Any) -> None:
        raise NotImplementedError

    def render(self) -> RenderResult:
        key = (self._version, self.size, self.app.theme)
        if self._drawn is not None and self._drawn[0] == key:
            return self._drawn[1]
        width, height = self.size
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            text: RenderResult = Text("(too small for a chart)", style="dim", no_wrap=True)
        else:
            try:
                self.draw(self.plt)
                text = super().render()
            except Exception as error:  # a chart that cannot be drawn says so; the app lives on
                text = Text(f"(chart not drawn: {describe(error)})", style="dim")
        self._drawn = (key, text)
        return text
