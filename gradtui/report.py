"""The headless report: a rich table, findings, and a histogram per layer."""

from __future__ import annotations

from typing import TextIO

from plotext._figure import _figure_class as Figure
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from gradtui import bars, table
from gradtui.history import History
from gradtui.insight import findings
from gradtui.plots import draw_loss, draw_trajectory, draw_update_coherence
from gradtui.result import ProbeResult, TrainResult
from gradtui.runfile import ACTIVATION, PARAM
from gradtui.spec import PRESETS, describe

STYLES = {"strong": "bold cyan", "warn": "yellow", "error": "bold red", None: ""}


def make_console(file: TextIO | None = None) -> Console:
    """A console that writes plain text (no colour, no cursor codes) when not a terminal."""
    return Console(file=file, highlight=False, soft_wrap=False)


def sign_table(result: ProbeResult, width: int, view: str = "weight") -> Table:
    spec = result.spec
    if result.model is None:
        caption = (
            f"{spec.loss} loss {table.number(result.loss)}, batch {spec.batch_size}, "
            f"seed {spec.seed}"
        )
    else:
        caption = f"loss {table.number(result.loss)} ({result.model.loss}), seed {spec.seed}"
    grid = Table(
        title=table.title(result, view),
        caption=caption,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        pad_edge=False,
    )
    rows = table.rows(result, view)
    columns = table.result_columns(result, view)
    shown = table.fit(columns, rows, width - 2, gap=1)  # the box draws a space on each side
    for i in shown:
        justify = "left" if columns[i].left else "right"
        grid.add_column(columns[i].header, justify=justify, no_wrap=True)
    for cells in rows:
        grid.add_row(*(Text(cells[i].text, style=STYLES[cells[i].tag]) for i in shown))
    return grid


HISTOGRAM_HEIGHT = 14


def histogram_text(result: ProbeResult, width: int, *, color: bool) -> list[Text]:
    """A histogram of each weight gradient, as text blocks."""
    blocks = []
    for entry in result.weights:
        shape = "x".join(str(n) for n in entry.shape)
        if result.model is None:
            title = f"layer {entry.label} weight gradient ({shape})"
        else:  # the name says which tensor: `blocks.0.attn.in_proj_weight`
            title = bars.titled(entry.name, f"gradient ({shape})", width - len(", %"))
        chart = bars.histogram_chart(entry.stats.hist, title, width=width)
        styles = {"bar_style": "cyan"} if color else {"axis_style": "", "title_style": ""}
        blocks.append(bars.render(chart, width, HISTOGRAM_HEIGHT, **styles))
    return blocks


def network_line(result: ProbeResult) -> str:
    """What was probed, in one line."""
    spec = result.spec
    if result.model is None:
        block = f" {spec.block_text()}," if spec.block_text() else ""
        return (
            f"sizes {spec.field_text('sizes')}, {spec.activation} (final {spec.final_activation}),"
            f"{block} init {spec.init}, {result.device}"
        )
    model = result.model
    kept = f", parameters matching {spec.layers!r}" if spec.layers else ""
    checkpoint = f", weights from {spec.checkpoint}" if spec.checkpoint else ""
    return (
        f"model {model.source}: {model.parameters:,} parameters in {model.tensors} tensors, "
        f"{model.modules} leaf modules{checkpoint}{kept}, {spec.dtype}, {result.device}"
    )


def print_report(result: ProbeResult, console: Console) -> None:
    console.print(network_line(result), soft_wrap=True)
    console.print(sign_table(result, console.width))
    for note in findings(result):
        console.print(Text("* " + note, style="bold" if "100%" in note else ""))
    width = max(40, min(console.width, 100))
    for block in histogram_text(result, width, color=console.is_terminal):
        console.print(block)


def print_presets(console: Console) -> None:
    width = max(len(name) for name in PRESETS)
    for preset in PRESETS.values():
        console.print(f"{preset.name:<{width}} {preset.description}", soft_wrap=True)


# -- training ---------------------------------------------------------------------------


def _figure(width: int, height: int, color: bool) -> Figure:
    figure = Figure()
    figure.plotsize(width, height)
    if not color:
        figure.theme("clear")
    return figure


def _network_line(run: TrainResult) -> str:
    spec = run.spec
    block = f" {spec.block_text()}," if spec.block_text() else ""
    return (
        f"task {run.task}: sizes {spec.field_text('sizes')} (the task fixes the input and output"
        f" sizes; linear output, {spec.loss} loss),{block} {run.optimizer} lr {run.lr:g},"
        f" batch {spec.batch_size}, init {spec.init}, seed {spec.seed}"
    )


def train_table(run: TrainResult) -> Table:
    grid = Table(
        title=f"{run.label}: {len(run.steps)} steps" + (" (cancelled)" if run.cancelled else ""),
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        header_style="bold",
    )
    for header in ("layer", "shape", "mean |g|", "log10 update:data", "update coh"):
        grid.add_column(header, justify="right", no_wrap=True)
    coherence = run.mean_coherence()
    sizes = run.spec.sizes
    for i in range(len(sizes) - 1):
        norms = [s.layers[i].grad_norm for s in run.steps]
        ratio = run.steps[-1].layers[i].update_ratio if run.steps else None
        grid.add_row(
            str(i + 1),
            f"{sizes[i + 1]}x{sizes[i]}",
            table.number(sum(norms) / len(norms) if norms else None),
            "-" if ratio is None else f"{ratio:.2f}",
            Text(
                table.percent(coherence[i]), style=STYLES["strong"] if coherence[i] == 1.0 else ""
            ),
        )
    return grid


def compare_table(runs: list[TrainResult], threshold: float) -> Table:
    grid = Table(
        title=f"comparison (steps to loss {threshold:g}; coh: mean update row coherence)",
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        header_style="bold",
    )
    headers, rows = table.comparison(runs, threshold)
    for i, header in enumerate(headers):
        grid.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    for cells in rows:
        grid.add_row(*(Text(cell.text, style=STYLES[cell.tag]) for cell in cells))
    return grid


def print_training(runs: list[TrainResult], console: Console, threshold: float) -> None:
    """One run: its table and curves; several: the comparison, curves overlaid."""
    color = console.is_terminal
    width = max(40, min(console.width, 100))
    console.print(_network_line(runs[0]), soft_wrap=False)
    console.print("coh: share of neurons whose incoming weights all moved one way in a step")
    if len(runs) == 1:
        console.print(train_table(runs[0]))
    else:
        console.print(compare_table(runs, threshold))
    figures = (draw_loss, draw_update_coherence, draw_trajectory)
    for draw in figures:
        console.print(_chart(draw, runs, width, color))


def _chart(draw, data, width: int, color: bool) -> Text:
    """A chart as text, or one line saying why plotext could not draw it (values it
    cannot place): the report goes on either way."""
    figure = _figure(width, 16, color)
    try:
        draw(figure, data)
        return Text.from_ansi(figure.build())
    except Exception as error:
        return Text(f"({draw.__name__.removeprefix('draw_')} chart not drawn: {describe(error)})")


# -- recorded runs (gradtui history) ----------------------------------------------------


def print_history(history: History, console: Console) -> None:
    """A run file's readout: what ran, the last step per tensor, figures over time."""
    meta = history.meta
    steps = history.steps
    console.print(f"run {history.path}: {meta.model}, on {meta.device}", soft_wrap=True)
    console.print(
        f"{len(steps)} recorded steps ({steps[0]} to {steps[-1]}, every {meta.every}),"
        f" {meta.bins} bins, started {meta.started}, gradtui {meta.gradtui}",
        soft_wrap=True,
    )
    console.print(f"command: {meta.command}", soft_wrap=True, markup=False)
    _print_whole(console, _last_step_table(history))
    activations = [name for name, kind, _ in history.params if kind == ACTIVATION]
    if any(name in history.last for name in activations):
        _print_whole(console, _activation_table(history))
    _print_whole(console, _over_time_table(history))
    for note in history.findings:
        console.print(Text("* " + note, style=STYLES["error"]))


def _print_whole(console: Console, grid: Table) -> None:
    """Print a table at its full width, wider than the console if it must be: a long
    tensor name or a number is never cut."""
    needed = Measurement.get(console, console.options.update_width(1 << 16), grid).maximum
    width = console.width
    console.width = max(width, needed)  # print() itself never goes past the console's
    try:
        console.print(grid)
    finally:
        console.width = width


def _grid(title: str, caption: str | None = None) -> Table:
    return Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        padding=(0, 0),
        pad_edge=False,
        header_style="bold",
    )


def _shape(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "x".join(str(n) for n in shape) or "scalar"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _last_step_table(history: History) -> Table:
    loss = table.number(history.last_loss)
    grid = _grid(
        f"parameters at step {history.last_step} (loss {loss})",
        "upd:data: log10 std(update)/std(W) of the next step; healthy near -3",
    )
    headers = ("tensor", "shape", "+", "-", "0", "row coh", "|g|", "|w|", "upd:data", "NaN/Inf")
    for i, header in enumerate(headers):
        grid.add_column(header, justify="left" if i < 2 else "right", no_wrap=True)
    for name, kind, shape in history.params:
        rec = history.last.get(name)
        if kind != PARAM or rec is None:
            continue
        g = rec.stats
        cells = [name, _shape(shape)]
        if g is None:
            cells += ["-"] * 6
        else:
            coherence = table.percent(g.row_coherence)
            cells += [table.percent(g.pos), table.percent(g.neg), table.percent(g.zero)]
            cells += [coherence, table.number(g.norm)]
        cells += [table.number(rec.param_norm), _ratio(rec.update_ratio)]
        cells.append("-" if g is None else str(g.nonfinite))
        style = STYLES["error"] if g is not None and g.nonfinite else ""
        grid.add_row(*(Text(cell, style=style) for cell in cells))
    return grid


def _activation_table(history: History) -> Table:
    grid = _grid(f"outputs at step {history.last_step}", "in>=0: share of the input >= 0")
    headers = ("module", "shape", "+", "-", "0", "mean", "std", "sat/dead", "in>=0")
    for i, header in enumerate(headers):
        grid.add_column(header, justify="left" if i < 2 else "right", no_wrap=True)
    for name, kind, shape in history.params:
        rec = history.last.get(name)
        if kind != ACTIVATION or rec is None or rec.stats is None:
            continue
        a = rec.stats
        unit = (
            f"{table.percent(a.saturated)} sat"
            if a.saturated is not None
            else f"{table.percent(a.dead)} dead"
            if a.dead is not None
            else "-"
        )
        grid.add_row(
            name,
            _shape(shape),
            table.percent(a.pos),
            table.percent(a.neg),
            table.percent(a.zero),
            table.number(a.mean),
            table.number(a.std),
            unit,
            table.percent(rec.input_nonneg),
        )
    return grid


def _over_time_table(history: History) -> Table:
    shown = history.shown_steps()
    grid = _grid(
        "over time: |g|, row coh, upd:data",
        f"{len(shown)} of {len(history.steps)} recorded steps; --json has them all",
    )
    grid.add_column("tensor", justify="left", no_wrap=True)
    grid.add_column("", justify="left", no_wrap=True)
    for step in shown:
        grid.add_column(f"step {step}", justify="right", no_wrap=True)
    losses = dict(history.losses)
    grid.add_row("loss", "", *(table.number(losses.get(step)) for step in shown))
    for name, kind, _ in history.params:
        if kind != PARAM:
            continue
        series = history.series[name]
        for key, label, text in (
            ("grad_norm", "|g|", table.number),
            ("row_coherence", "row coh", table.percent),
            ("update_ratio", "upd:data", _ratio),
        ):
            values = dict(series[key])
            if key != "grad_norm" and all(values.get(step) is None for step in shown):
                continue  # no rows (1-D parameters), or no update measured
            grid.add_row(
                name if key == "grad_norm" else "",
                label,
                *(text(values.get(step)) for step in shown),
            )
    return grid
