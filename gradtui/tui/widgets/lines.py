"""A widget that draws rich Text lines straight into strips (Textual's line API)."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


class TextLines(Widget):
    """Draws `lines()`, a rich Text per line, one segment per span.

    A sign map of a large gradient is thousands of runs of one colour. Through
    `render()`, Textual turned each into its own Content and back into segments: 50 ms
    of a 60 ms redraw at 160x50. Here a span becomes one segment, its style resolved once
    per distinct style. A line wider than the widget wraps, as it would through
    `render()`, unless it is `no_wrap` (then it is cropped). `render()` gives the same
    lines as one Text: what the tests read.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._kept: tuple | None = None
        """(the lines, (width, style), their strips) of the last drawing."""

    def lines(self) -> list[Text]:
        """What to draw, a Text per line; the same list object until it changes (the
        strips drawn from it are kept while it is)."""
        raise NotImplementedError

    def render(self) -> Text:
        return Text("\n").join(self.lines())

    def render_line(self, y: int) -> Strip:
        strips = self._strips()
        if y < len(strips):
            return strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _strips(self) -> list[Strip]:
        lines = self.lines()
        width = self.size.width
        style = self.visual_style
        key = (width, style)
        kept = self._kept
        if kept is not None and kept[0] is lines and kept[1] == key:
            return kept[2]
        strips = text_strips(lines, width, style.rich_style, self.app.console)
        self._kept = (lines, key, strips)
        return strips


def text_strips(lines: list[Text], width: int, base: Style, console: Console) -> list[Strip]:
    """`lines` as strips of `width` cells over `base`, wrapped or cropped to it."""
    combined: dict[tuple[str | Style, ...], Style] = {}

    def style_of(*names: str | Style) -> Style:
        """`base` with each of `names` over it, made once per distinct `names`."""
        got = combined.get(names)
        if got is None:
            got = base
            for name in names:
                if name:
                    got = got + console.get_style(name)
            combined[names] = got
        return got

    strips: list[Strip] = []
    for line in lines:
        pieces: list[Text] = [line]
        if cell_len(line.plain) > width:
            if line.no_wrap:
                line = line.copy()
                line.truncate(width, overflow="crop")
                pieces = [line]
            else:
                pieces = list(line.wrap(console, max(1, width)))
        for piece in pieces:
            strips.append(_strip(piece, style_of, base, width, console))
    return strips


def _strip(
    line: Text,
    style_of: Callable[..., Style],
    base: Style,
    width: int,
    console: Console,
) -> Strip:
    """One line: a segment per span where no two spans overlap (the sign map's runs),
    else rich's own rendering of it."""
    plain = line.plain
    spans = sorted(line.spans, key=attrgetter("start"))
    segments: list[Segment] = []
    at = 0
    for start, end, style in spans:
        end = min(end, len(plain))
        if start < at:  # overlapping spans: rich combines them
            rendered = Segment.apply_style(line.render(console, end=""), base)
            return Strip(list(rendered)).adjust_cell_length(width, base)
        if start > at:
            segments.append(Segment(plain[at:start], style_of(line.style)))
        if end > start:
            segments.append(Segment(plain[start:end], style_of(line.style, style)))
        at = max(at, end)
    if at < len(plain):
        segments.append(Segment(plain[at:], style_of(line.style)))
    return Strip(segments).adjust_cell_length(width, base)
