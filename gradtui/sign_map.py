"""The sign map drawn as text: one character per block of a layer's weight gradient.

Rows are output neurons (in order, or sorted by sign class), columns are inputs. Each
cell shows whether the entries it covers are all positive, all negative, both, or all
zero, with a glyph that reads without colour and a colour that repeats it. A gutter left
of the map says whether each row of cells covers neurons whose rows are one-signed: it
stays true where the pane is too small to give each neuron a line of its own.

No Textual and no torch here: the app's SignMapView and the tests draw with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text

from gradtui.result import Entry, SignMap
from gradtui.table import short_name

GLYPHS = {"+": "█", "-": "░", "mixed": "▒", "zero": " "}
"""Cell glyphs: every nonzero entry positive, every one negative, both signs, none."""
GUTTER = {"+": "+", "-": "-", "both": "±", "mixed": "·"}
"""Gutter glyphs: the neurons of a line are all one-signed positive, all one-signed
negative, one-signed of both kinds, or some neuron has both signs (or only zeros)."""
STYLES = {"+": "green", "-": "red", "mixed": "yellow"}
"""Default colours; a mixed cell takes the colour of its majority sign."""
GUTTER_WIDTH = 2
"""The gutter glyph and a space."""


def cell_kind(pos: int, neg: int) -> str:
    """'+', '-', 'mixed' or 'zero' for a cell with `pos` positive and `neg` negative
    entries."""
    if pos and neg:
        return "mixed"
    if pos:
        return "+"
    return "-" if neg else "zero"


def row_kind(signs: list[int]) -> str:
    """The gutter's class of a line covering neurons with these row signs."""
    if not signs or 0 in signs:
        return "mixed"
    if all(s == 1 for s in signs):
        return "+"
    if all(s == -1 for s in signs):
        return "-"
    return "both"


@dataclass(frozen=True)
class Grid:
    """A map fitted to the characters of a pane: per character, the counts it covers."""

    pos: list[list[int]]
    """pos[line][column]: entries > 0 that the character covers."""
    neg: list[list[int]]
    lines: list[tuple[int, int]]
    """Per line: the first and past-the-last row (neuron position) it covers."""
    inputs_per_cell: int
    """The most inputs (columns) one character covers."""

    @property
    def kinds(self) -> list[list[str]]:
        return [[cell_kind(p, n) for p, n in zip(*row)] for row in zip(self.pos, self.neg)]


def grid(sign_map: SignMap, width: int, height: int, *, sorted_rows: bool = False) -> Grid:
    """The map's blocks fitted to `width` x `height` characters.

    Where the blocks do not fit, every cell sums the same number of neighbouring blocks
    (the last ones fewer), so no line or column looks different for covering more. The
    cells are then stretched to fill the pane, each repeated once or twice as many times
    as its neighbours where the sizes do not divide.
    """
    import numpy as np  # not at import: the first screen draws no map

    # The counts as the lab gives them (arrays), not as lists made only to be summed here.
    pos, neg, sorted_pos, sorted_neg, _ = sign_map.arrays()
    if sorted_rows:
        pos, neg = sorted_pos, sorted_neg
    block_rows, block_cols = len(pos), len(pos[0]) if len(pos) else 0
    if not block_rows or not block_cols or width < 1 or height < 1:
        return Grid([], [], [], 0)
    down = -(-block_rows // height)  # blocks per line
    across = -(-block_cols // width)  # blocks per cell
    tops = np.arange(0, block_rows, down)
    lefts = np.arange(0, block_cols, across)
    # Per line of blocks `down` rows from each top, per cell `across` columns from each
    # left (the last ones fewer): sums of int64 counts, exact.
    lines_at = np.arange(height) * len(tops) // height
    columns = np.arange(width) * len(lefts) // width
    out = []
    for blocks in (pos, neg):
        cells = np.add.reduceat(np.asarray(blocks, dtype=np.int64), tops, axis=0)
        cells = np.add.reduceat(cells, lefts, axis=1)
        out.append(cells[np.ix_(lines_at, columns)].tolist())
    row_edges = sign_map.row_edges
    bottoms = [min(block_rows, top + down) for top in tops.tolist()]
    covered = [(row_edges[top], row_edges[bottom]) for top, bottom in zip(tops.tolist(), bottoms)]
    lines = [covered[line] for line in lines_at.tolist()]
    edges = sign_map.col_edges
    inputs = max(edges[min(block_cols, left + across)] - edges[left] for left in lefts.tolist())
    return Grid(out[0], out[1], lines, inputs)


def title_text(entry: Entry, *, sorted_rows: bool, position: str = "") -> list[str]:
    """Ways to title the map, longest first: the weight, its shape, the row order and its
    row coherence."""
    coherence = entry.stats.row_coherence
    coh = "-" if coherence is None else f"{100 * coherence:.1f}%"
    numbered = entry.label.isdigit()  # a layer of the built-in MLP
    name = (f"layer {entry.label}" if numbered else short_name(entry.label)) + position
    short = (f"L{entry.label}" if numbered else short_name(entry.label, 16)) + position
    rows, cols = entry.rows_cols
    shape = f"{rows}x{cols}"
    order = "rows sorted +, -, mixed" if sorted_rows else "rows in neuron order"
    short_order = "sorted" if sorted_rows else "in order"
    return [
        f"{name} dL/dW signs ({shape}), {order}, row coherence {coh}",
        f"{name} {shape} dL/dW signs, {order}, row coh {coh}",
        f"{name} {shape}, {short_order}, row coh {coh}",
        f"{short} {shape} {short_order} coh {coh}",
    ]


def legend_items(
    sign_map: SignMap, shown: Grid, *, styles: dict[str, str], hint: str = ""
) -> list[Text]:
    """What the legend says, most important first: the glyphs, the gutter, the keys
    (`hint`), the count of neurons per class, what one character covers."""
    glyphs = Text()
    for kind, meaning in (("+", "+"), ("-", "-"), ("mixed", "both")):
        glyphs.append(GLYPHS[kind], style=styles[kind])
        glyphs.append(f" {meaning}  ")
    glyphs.append("(blank) 0")
    gutter = "".join(GUTTER[kind] for kind in ("+", "-", "both"))
    counts = {s: sign_map.row_signs.count(s) for s in (1, -1, 0)}
    items = [
        glyphs,
        Text(f"left: {gutter} neurons one-signed, {GUTTER['mixed']} mixed"),
        Text(hint, style="dim"),
        Text(f"neurons: {counts[1]} all +, {counts[-1]} all -, {counts[0]} mixed/0"),
    ]
    if shown.lines:
        rows = max(bottom - top for top, bottom in shown.lines)
        inputs = shown.inputs_per_cell
        cell = f"{_plural(rows, 'neuron')} x {_plural(inputs, 'input')}"
        items.append(Text(f"cell: up to {cell}" if rows > 1 or inputs > 1 else f"cell: {cell}"))
    return [item for item in items if item.plain]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def pack(items: list[Text], width: int, most_lines: int) -> list[Text]:
    """Items in at most `most_lines` lines of `width`, two spaces apart: each in the
    first line with room for it, in order of importance; what fits nowhere is left out."""
    lines: list[Text] = []
    for item in items:
        if len(item) > width:
            continue
        line = next((line for line in lines if len(line) + 2 + len(item) <= width), None)
        if line is not None:
            line.append("  ")
            line.append_text(item)
        elif len(lines) < most_lines:
            lines.append(item.copy())
    return lines


def draw_sign_map(entry: Entry, width: int, height: int, **options: Any) -> Text:
    """The weight gradient's sign map in `width` x `height` characters, as one Text: a
    title, the map with its gutter, and a legend (one or two lines, as the height
    allows); `options` as `sign_map_lines`, which draws it line by line."""
    lines = sign_map_lines(entry, width, height, **options)
    return Text("\n", style="bold", no_wrap=True, overflow="crop").join(lines)


def sign_map_lines(
    entry: Entry,
    width: int,
    height: int,
    *,
    sorted_rows: bool = False,
    position: str = "",
    styles: dict[str, str] | None = None,
    hint: str = "",
) -> list[Text]:
    """The sign map, a Text per line (what a view draws line by line); every line is bold,
    the cells' colours at their brightest. `position` follows the weight's name in the
    title (e.g. '/4'); `hint` ends the legend (keys)."""
    styles = {**STYLES, **(styles or {})}
    sign_map = entry.sign_map
    titles = title_text(entry, sorted_rows=sorted_rows, position=position)
    title = next((t for t in titles if len(t) <= width), titles[-1][:width])
    lines = [Text(title, style="bold", no_wrap=True, overflow="crop")]
    if sign_map is None:
        lines.append(Text("no sign map in this result", style="bold"))
        return lines
    legend_lines = 2 if height >= 8 else 1 if height >= 4 else 0
    shown = grid(
        sign_map,
        max(1, width - GUTTER_WIDTH),
        max(1, height - 1 - legend_lines),
        sorted_rows=sorted_rows,
    )
    row_signs = sign_map.row_signs
    if sorted_rows:
        row_signs = [row_signs[i] for i in sign_map.row_order()]
    for (top, bottom), p_row, n_row in zip(shown.lines, shown.pos, shown.neg):
        line = Text(GUTTER[row_kind(row_signs[top:bottom])] + " ", style="bold")
        line.append_tokens(_cell_runs(p_row, n_row, styles))
        lines.append(line)
    items = legend_items(sign_map, shown, styles=styles, hint=hint)
    for packed in pack(items, width, legend_lines):
        lines.append(Text(style="bold").append_text(packed))
    return lines


def _cell_runs(pos: list[int], neg: list[int], styles: dict[str, str]) -> list[tuple[str, str]]:
    """One line of cells as (glyphs, style), in runs of one glyph and style (appended as
    tokens: Text.append per run took most of a large map's drawing)."""
    runs: list[tuple[str, str]] = []
    run, run_style, run_length = "", "", 0
    for p, n in zip(pos, neg):
        kind = cell_kind(p, n)
        glyph = GLYPHS[kind]
        if kind == "mixed":
            style = styles["+"] if p > n else styles["-"] if n > p else styles["mixed"]
        else:
            style = styles.get(kind, "")
        if (glyph, style) != (run, run_style):
            if run_length:
                runs.append((run * run_length, run_style))
            run, run_style, run_length = glyph, style, 0
        run_length += 1
    if run_length:
        runs.append((run * run_length, run_style))
    return runs
