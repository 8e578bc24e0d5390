"""Text lines drawn straight into strips (TextLines): cell for cell what rich draws of
the same lines, wrapped or cropped as Textual would, and what the map views show."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.style import Style
from rich.text import Text

from gradtui.result import Entry, Histogram, SignMap, TensorStats
from gradtui.sign_map import GLYPHS, draw_sign_map, sign_map_lines
from gradtui.tui.widgets.lines import text_strips

BASE = Style(color="#e0e0e0", bgcolor="#121212")
CONSOLE = Console(width=200, color_system="truecolor", force_terminal=True)


def cells(segments) -> list[tuple[str, Style]]:
    """(character, style) per cell: the same picture however it is cut into segments."""
    return [(char, segment.style or Style()) for segment in segments for char in segment.text]


def rich_cells(line: Text, width: int) -> list[list[tuple[str, Style]]]:
    """The reference: rich's own rendering of `line` over BASE in `width` cells, a list
    per line it takes (wrapped, or cropped where it says no_wrap)."""
    options = CONSOLE.options.update_width(width)
    return [cells(drawn) for drawn in CONSOLE.render_lines(line, options, style=BASE, pad=True)]


def random_entry(rows: int = 512, cols: int = 1024, seed: int = 1) -> Entry:
    rng = np.random.default_rng(seed)
    pos = (rng.integers(0, 2, (64, 128)) * 8).tolist()
    neg = (rng.integers(0, 2, (64, 128)) * 8).tolist()
    signs = rng.integers(-1, 2, rows).tolist()
    sign_map = SignMap(
        rows, cols, list(range(0, rows + 1, 8)), list(range(0, cols + 1, 8)),
        pos, neg, pos, neg, signs,
    )  # fmt: skip
    stats = TensorStats(
        rows * cols, 0.5, 0.5, 0.0, 0, 0.0, 1.0, -1.0, 1.0, 1.0,
        Histogram([0.0, 1.0], [1]), row_coherence=0.25,
    )  # fmt: skip
    return Entry("linears.0.weight", "Linear", "1", (rows, cols), stats, sign_map=sign_map)


def test_a_sign_map_is_drawn_cell_for_cell_as_rich_draws_it():
    styles = {"+": "#4ebf71", "-": "#ba3c5b", "mixed": "#ffa62b"}
    for width, height in ((156, 44), (78, 20), (30, 12), (6, 5)):
        lines = sign_map_lines(random_entry(), width, height, styles=styles, hint="[ ] layer")
        strips = text_strips(lines, width, BASE, CONSOLE)
        assert len(strips) == len(lines)
        for line, strip in zip(lines, strips):
            assert strip.cell_length == width
            assert [cells(strip)] == rich_cells(line, width)
        # Many runs, as many segments: the drawing did not fall back to rich's.
        assert max(len(list(strip)) for strip in strips) > width // 4


def test_overlapping_spans_are_combined_as_rich_combines_them():
    line = Text("bold and red and dim", style="italic")
    line.stylize("bold", 0, 12)
    line.stylize("red", 9, 16)  # overlaps the bold
    line.stylize("dim", 17, 20)
    (strip,) = text_strips([line], 24, BASE, CONSOLE)
    assert [cells(strip)] == rich_cells(line, 24)
    assert cells(strip)[10][1] == BASE + Style(italic=True, bold=True, color="red")


def test_a_long_line_wraps_and_a_no_wrap_line_is_cropped():
    words = Text("the quick brown fox jumps over the lazy dog", style="green")
    title = Text("a title longer than the pane", style="bold", no_wrap=True, overflow="crop")
    strips = text_strips([title, words], 12, BASE, CONSOLE)
    assert [strip.text for strip in strips] == [
        "a title long",
        "the quick   ",
        "brown fox   ",
        "jumps over  ",
        "the lazy dog",
    ]
    assert [cells(strip) for strip in strips] == rich_cells(title, 12) + rich_cells(words, 12)
    assert cells(strips[0])[0][1] == BASE + Style(bold=True)


def test_the_joined_drawing_is_the_lines():
    entry = random_entry()
    lines = sign_map_lines(entry, 60, 20, hint="keys")
    assert draw_sign_map(entry, 60, 20, hint="keys").plain == "\n".join(t.plain for t in lines)


async def test_the_map_view_shows_its_drawing_line_for_line():
    from gradtui.spec import preset
    from gradtui.tui.app import make_app
    from gradtui.tui.widgets.sign_map import HINT, SignMapView

    app = make_app(preset("seed-v2.0").replace(device="cpu"))
    async with app.run_test(size=(100, 36)) as pilot:
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.press("m")
        await pilot.pause()
        view = app.screen.query_one(SignMapView)
        width, height = view.size
        drawing = draw_sign_map(
            view.shown_layer, width, height, sorted_rows=True, position="/4", hint=HINT
        )
        shown = [view.render_line(y).text for y in range(height)]
        expected = drawing.plain.split("\n")
        assert shown == [line.ljust(width) for line in expected] + [" " * width] * (
            height - len(expected)
        )
        assert shown[1][0] in "+-±·" and set(shown[1][2:]) <= set(GLYPHS.values())
