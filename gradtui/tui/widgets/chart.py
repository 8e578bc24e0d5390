"""The base of every chart in the app: drawn from data kept on the widget, its text
cached until the data, the size or the theme change, and never able to take the app
down. `TextChart` writes its text itself (the histograms: gradtui.bars);
`plotext_chart.Chart` draws with plotext (lines over time, the gradient flow), in a
module of its own so that the first screen, which has no plotext chart, never imports
plotext."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from gradtui.spec import describe

MIN_WIDTH = 16
MIN_HEIGHT = 6
"""Smaller than this, a chart has no room for axes and labels (plotext raises): a
one-line note stands in for it."""


class Cached:
    """What both kinds of chart share: `changed()` and a render that draws only when
    something it depends on changed."""

    def _start_cache(self) -> None:
        self._version = 0
        self._drawn: tuple[object, RenderResult] | None = None
        """(what was drawn, its text): a render with nothing new reuses the last."""

    def changed(self) -> None:
        """The data changed: draw again at the next refresh."""
        self._version += 1
        self.refresh()  # type: ignore[attr-defined]

    def _build(self) -> RenderResult:
        raise NotImplementedError

    def render(self) -> RenderResult:
        key = (self._version, self.size, self.app.theme)  # type: ignore[attr-defined]
        if self._drawn is not None and self._drawn[0] == key:
            return self._drawn[1]
        width, height = self.size  # type: ignore[attr-defined]
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            text: RenderResult = Text("(too small for a chart)", style="dim", no_wrap=True)
        else:
            try:
                text = self._build()
            except Exception as error:  # a chart that cannot be drawn says so; the app lives on
                text = Text(f"(chart not drawn: {describe(error)})", style="dim")
        self._drawn = (key, text)
        return text


class TextChart(Cached, Widget):
    """A chart that writes its own text: subclasses keep their data, call `changed()`
    when it changes, and return the text for a size from `text(width, height)`."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._start_cache()

    def text(self, width: int, height: int) -> Text:
        raise NotImplementedError

    def bar_style(self) -> str:
        """The theme's colour for bars."""
        return self.app.theme_variables.get("primary", "")

    def _build(self) -> RenderResult:
        return self.text(*self.size)
