"""The headless report: a rich table, findings, and a plotext histogram per layer."""

from __future__ import annotations

from typing import TextIO

from plotext._figure import _figure_class as Figure
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gradtui import table
from gradtui.insight import findings
from gradtui.plots import draw_histogram
from gradtui.result import ProbeResult
from gradtui.spec import PRESETS

STYLES = {"strong": "bold cyan", "warn": "yellow", "error": "bold red", None: ""}


def make_console(file: TextIO | None = None) -> Console:
    """A console that writes plain text (no colour, no cursor codes) when not a terminal."""
    return Console(file=file, highlight=False, soft_wrap=False)


def sign_table(result: ProbeResult, width: int) -> Table:
    spec = result.spec
    caption = (
        f"{spec.loss} loss {table.number(result.loss)}, batch {spec.batch_size}, seed {spec.seed}"
    )
    grid = Table(
        title="weight gradients per layer",
        caption=caption,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        pad_edge=False,
    )
    shown = table.columns(width)
    for i in shown:
        header = table.COLUMNS[i][0]
        justify = "left" if header in table.LEFT_ALIGNED else "right"
        grid.add_column(header, justify=justify, no_wrap=True)
    for cells in table.rows(result):
        grid.add_row(*(Text(cells[i].text, style=STYLES[cells[i].tag]) for i in shown))
    return grid


def histogram_text(result: ProbeResult, width: int, *, color: bool) -> list[str]:
    """One plotext histogram of each layer's weight gradients, as text blocks."""
    blocks = []
    for layer in result.layers:
        figure = Figure()
        figure.plotsize(width, 14)
        if not color:
            figure.theme("clear")
        title = f"layer {layer.index} weight gradient ({layer.out_features}x{layer.in_features})"
        draw_histogram(figure, layer.weight_grad.hist, title, width=width)
        blocks.append(figure.build())
    return blocks


def print_report(result: ProbeResult, console: Console) -> None:
    spec = result.spec
    console.print(
        f"sizes {spec.field_text('sizes')}, {spec.activation} (final {spec.final_activation}),"
        f" init {spec.init}, {result.device}"
    )
    console.print(sign_table(result, console.width))
    for note in findings(result):
        console.print(Text("* " + note, style="bold" if "100%" in note else ""))
    width = max(40, min(console.width, 100))
    for block in histogram_text(result, width, color=console.is_terminal):
        console.print(Text.from_ansi(block))


def print_presets(console: Console) -> None:
    for preset in PRESETS.values():
        console.print(f"{preset.name:<10} {preset.description}", soft_wrap=True)
