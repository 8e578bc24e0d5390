"""`gradtui open RUN`: the run view read from its widgets and compared with the reader,
the scrubber and follow mode with steps appended while the app is open, the sign maps
of the run file, the CLI's refusals, and snapshots at 80x24 and 120x40."""

from __future__ import annotations

import math
import sqlite3
import sys
import threading
from pathlib import Path

import pytest
import torch
from test_history import error_line

import gradtui
from gradtui import table
from gradtui.lab import sign_map as lab_sign_map
from gradtui.result import Histogram, SignMap, TensorStats
from gradtui.run_plots import Marks, columns, snapped
from gradtui.run_view import (
    StepRefused,
    band_range,
    clip_histogram,
    nearest_steps,
    parse_step,
)
from gradtui.runfile import SCHEMA_VERSION, Recorded, RunWriter, open_run
from gradtui.tui.app import make_app
from gradtui.tui.screens.run import HINT, RunScreen
from gradtui.tui.widgets.run_view import (
    BandChart,
    RunTable,
    ScrubBar,
    StepHistogram,
    StepSignMap,
    TimeChart,
)
from gradtui.tui.widgets.status import StatusLine

sys.path.insert(0, str(Path(__file__).parent))
from test_views import screen_lines, squeeze, text_of  # noqa: E402

# -- fixed run files -----------------------------------------------------------------------

BINS = 20
SHAPES = {"weight": (12, 16), "bias": (12,)}


def tensors(layers: int = 3) -> list[tuple[str, str, tuple[int, ...]]]:
    return [
        (f"layers.{i}.{kind}", "param", SHAPES[kind])
        for i in range(layers)
        for kind in ("weight", "bias")
    ]


def figures(step: int, tensor: int, *, nan: bool = False, outlier: bool = False) -> TensorStats:
    """A gradient's figures at a step: a bell-shaped histogram whose width swings with the
    step; `outlier`: one entry 20 times the range away; `nan`: 3 NaN entries."""
    scale = (1 + tensor) * 0.01 * (1 + 0.5 * math.sin(step / 7))
    low, high = -2 * scale, (40 if outlier else 2) * scale
    edges = [low + (high - low) * k / BINS for k in range(BINS + 1)]
    centre = -low / (high - low) * BINS
    width = BINS / (80 if outlier else 8)
    counts = [
        int(1000 * math.exp(-((k + 0.5 - centre) ** 2) / (2 * width**2))) for k in range(BINS)
    ]
    counts[-1] += 1 if outlier else 0
    pos = 0.5 + 0.3 * math.sin(step / 5 + tensor)
    return TensorStats(
        numel=sum(counts) + (3 if nan else 0),
        pos=pos,
        neg=0.99 - pos,
        zero=0.01,
        nonfinite=3 if nan else 0,
        mean=0.0,
        std=scale,
        min=low,
        max=high,
        norm=30 * scale,
        hist=Histogram(edges, counts),
        row_coherence=None if tensor % 2 else (step % 10) / 10,
    )


def a_sign_map(rows: int, cols: int, seed: int) -> SignMap:
    """Rows one-signed in bands, a few mixed: one block per entry."""
    pos = [
        [int((r + seed) % 3 != 1 or (c + seed) % 5 == 0) for c in range(cols)] for r in range(rows)
    ]
    neg = [[int((r + seed) % 3 != 0 and not p) for p in row] for r, row in enumerate(pos)]
    signs = [
        1 if any(p) and not any(n) else -1 if any(n) and not any(p) else 0
        for p, n in zip(pos, neg)
    ]
    order = sorted(range(rows), key=lambda r: {1: 0, -1: 1, 0: 2}[signs[r]])
    return SignMap(
        rows, cols, list(range(rows + 1)), list(range(cols + 1)), pos, neg,
        [pos[r] for r in order], [neg[r] for r in order], signs,
    )  # fmt: skip


def write_steps(
    writer: RunWriter,
    steps,
    *,
    nan_at: int | None = None,
    outlier_at: int | None = None,
    layers: int = 3,
) -> None:
    for step in steps:
        records = []
        for t, (_, _, shape) in enumerate(tensors(layers)):
            stats = figures(step, t, nan=step == nan_at and t == 1, outlier=step == outlier_at)
            sign_map = a_sign_map(*shape, step + t) if len(shape) == 2 else None
            ratio = -3 + 0.3 * math.sin(step / 4 + t)
            records.append((t, Recorded("param", stats, 1.0 + t, ratio, sign_map=sign_map)))
        nonfinite = (step, "layers.0.bias") if step == nan_at else None
        writer.write(
            step, loss=1.0 / step, seconds=0.1 * step, records=records, nonfinite=nonfinite
        )


def new_run(path: Path, *, every: int = 1, layers: int = 3) -> RunWriter:
    return RunWriter(
        path,
        every=every,
        bins=BINS,
        command="python train.py",
        model="Net, 612 parameters",
        device="cpu",
        tensors=tensors(layers),
    )


def make_run(path: Path, last: int = 40, *, every: int = 1, **options) -> Path:
    writer = new_run(path, every=every, layers=options.get("layers", 3))
    write_steps(writer, range(1, last + 1, every), **options)
    writer.close()
    return path


@pytest.fixture
def run_path(tmp_path) -> Path:
    """40 steps of 3 layers (weight and bias), a NaN gradient in layers.0.bias at 30."""
    return make_run(tmp_path / "exp.gradtui", nan_at=30)


# -- helpers -------------------------------------------------------------------------------


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def until(pilot, condition, what: str, tries: int = 100) -> None:
    """Pause until `condition()` (the app's timers run meanwhile); fail after `tries`."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


def status_of(screen) -> str:
    return screen.query_one(StatusLine).text


def expected_row(name: str, shape, rec: Recorded) -> list[str]:
    """The table's cells for `rec`, from the reader's figures (not the table's code)."""
    g = rec.stats
    return [
        name,
        "x".join(map(str, shape)),
        table.percent(g.pos),
        table.percent(g.neg),
        table.percent(g.zero),
        table.percent(g.row_coherence),
        table.number(g.norm),
        table.number(rec.param_norm),
        "-" if rec.update_ratio is None else f"{rec.update_ratio:.2f}",
        str(g.nonfinite),
    ]


HEADERS = ["name", "shape", "+", "-", "0", "row coh", "|g|", "|w|", "upd:data", "NaN/Inf"]


# -- the table, the charts and the scrubber --------------------------------------------------


async def test_the_table_at_a_scrubbed_step_holds_the_readers_figures(run_path):
    app = make_app(run=str(run_path))
    run = open_run(run_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert screen.step == 40 and screen.follow
        await press(pilot, "left", "left", "h")
        assert screen.step == 37 and not screen.follow
        grid = screen.query_one(RunTable)
        assert grid.shown_headers == HEADERS  # 160 columns: every column fits
        at = run.stats(37)
        expected = [expected_row(n, s, at[n]) for n, _, s in run.params]
        assert grid.cells == expected
        bar = screen.query_one(ScrubBar).text
        assert bar.startswith("step 37/40 (paused, end follows)")
        assert f"loss {table.number(dict(run.losses())[37])}" in bar
        assert bar.endswith("layers.0.weight 1/6")
        hist = screen.query_one(StepHistogram)
        assert hist.hist == at["layers.0.weight"].stats.hist
        assert hist.title == "layers.0.weight at step 37"
        # home and end: the first step, then the last with follow on again
        await press(pilot, "home")
        assert screen.step == 1
        assert grid.cells[0][2] == table.percent(run.stats(1)["layers.0.weight"].stats.pos)
        await press(pilot, "end")
        assert screen.step == 40 and screen.follow
        await press(pilot, "shift+left")
        assert screen.step == 30


async def test_the_charts_hold_the_readers_series_of_the_shown_parameter(run_path):
    app = make_app(run=str(run_path))
    run = open_run(run_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        for name in ("layers.0.weight", "layers.0.bias", "layers.1.weight"):
            assert screen.param_name == name
            bands = screen.query_one(BandChart)
            assert bands.bands == run.bands(name)
            assert bands.title == f"{name} distribution"
            norm = screen.query_one("#chart-norm", TimeChart)
            assert norm.points == run.series(name, "grad_norm")
            coherence = screen.query_one("#chart-coherence", TimeChart)
            assert coherence.points == run.series(name, "row_coherence")
            update = screen.query_one("#chart-update", TimeChart)
            assert update.points == run.series(name, "update_ratio")
            assert update.title == f"{name} log10 upd:data"
            assert "ref -3" in text_of(update)
            assert screen.query_one("#chart-loss", TimeChart).points == run.losses()
            await press(pilot, "right_square_bracket")
        await press(pilot, "left_square_bracket", "left_square_bracket")  # 3 on, 2 back
        assert screen.param_name == "layers.0.bias"
        assert screen.query_one(ScrubBar).text.endswith("layers.0.bias 2/6")
        lines = text_of(screen.query_one(RunTable)).splitlines()
        marked = [row for row in lines if row.startswith(" >")]
        assert len(marked) == 1 and "layers.0.bias" in marked[0]


async def test_a_parameter_on_another_page_is_paged_to(tmp_path):
    path = make_run(tmp_path / "deep.gradtui", 5, layers=8)
    app = make_app(run=str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        grid = screen.query_one(RunTable)
        assert [row[0] for row in grid.cells] == [n for n, _, _ in tensors(8)[:6]]
        assert "parameters 1-6 of 16: n, p pages" in text_of(screen.query_one("#run-notes"))
        await press(pilot, "n")
        assert screen.param_name == "layers.3.weight"
        assert [row[0] for row in grid.cells] == [n for n, _, _ in tensors(8)[6:12]]
        await press(pilot, "p", "p")  # wraps to the last page
        assert [row[0] for row in grid.cells] == [n for n, _, _ in tensors(8)[12:]]
        assert "parameters 13-16 of 16" in text_of(screen.query_one("#run-notes"))


async def test_follow_mode_shows_steps_appended_while_open(tmp_path):
    path = tmp_path / "live.gradtui"
    writer = new_run(path)
    write_steps(writer, range(1, 11))
    app = make_app(run=str(path))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert screen.step == 10 and screen.follow

            appender = threading.Thread(target=write_steps, args=(writer, range(11, 16)))
            appender.start()
            await until(pilot, lambda: screen.step == 15, "the shown step follows to 15")
            appender.join()
            assert screen.query_one(ScrubBar).text.startswith("step 15/15 (follow)")
            await until(pilot, lambda: screen.query_one(BandChart).bands[-1][0] == 15, "bands")

            await press(pilot, "left")  # scrubbing back turns follow off
            assert screen.step == 14 and not screen.follow
            write_steps(writer, range(16, 18))
            await until(pilot, lambda: screen.steps[-1] == 17, "the new steps are read")
            assert screen.step == 14
            assert screen.query_one(ScrubBar).text.startswith("step 14/17 (paused, end follows)")

            await press(pilot, "end")  # back on
            assert screen.step == 17 and screen.follow
            write_steps(writer, [18])
            await until(pilot, lambda: screen.step == 18, "follows again")
            await press(pilot, "f")
            assert not screen.follow and screen.step == 18
    finally:
        writer.close()


async def test_an_empty_run_opens_and_waits_for_its_first_step(tmp_path):
    path = tmp_path / "empty.gradtui"
    writer = new_run(path)
    app = make_app(run=str(path))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert screen.step is None
            assert status_of(screen) == (
                "No step recorded yet: waiting for the first one (follow is on)."
            )
            assert screen.query_one(ScrubBar).text.startswith("step -/- (follow)")
            assert "no step recorded yet" in text_of(screen.query_one(BandChart))
            await press(pilot, "left", "home", "g")  # nothing to scrub: nothing breaks
            await press(pilot, "escape", "end")
            write_steps(writer, [1])
            await until(pilot, lambda: screen.step == 1, "the first step is shown")
            assert status_of(screen) == HINT
            grid = screen.query_one(RunTable)
            plus = grid.shown_headers.index("+")
            assert grid.cells[0][plus] == table.percent(figures(1, 0).pos)
    finally:
        writer.close()


async def test_g_jumps_to_a_typed_step_and_refuses_one_not_recorded(tmp_path):
    path = make_run(tmp_path / "every5.gradtui", 40, every=5)  # 1, 6, ..., 36
    app = make_app(run=str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.step == 36
        await press(pilot, "g", "1", "1", "enter")
        assert screen.step == 11 and not screen.follow
        assert not screen.has_class("-goto")
        await press(pilot, "g", "1", "3", "enter")
        assert screen.step == 11
        assert status_of(screen) == (
            "Not shown: step 13 was not recorded (every 5); the nearest recorded are 11 and 16"
        )
        assert screen.query_one(StatusLine).has_class("-error")
        await press(pilot, "backspace", "backspace", "9", "9", "enter")
        assert status_of(screen).endswith(
            "step 99 was not recorded (every 5); the last recorded is 36"
        )
        await press(pilot, "escape")
        assert not screen.has_class("-goto") and app.focused is None
        await press(pilot, "right")  # keys act again
        assert screen.step == 16


async def test_clipping_cuts_outliers_and_counts_them(tmp_path):
    path = make_run(tmp_path / "outlier.gradtui", 40, outlier_at=38)
    app = make_app(run=str(path))
    run = open_run(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await press(pilot, "g", "3", "8", "enter")
        hist = screen.query_one(StepHistogram)
        whole = run.stats(38)["layers.0.weight"].stats.hist
        assert hist.hist == whole and hist.clipped is None
        await press(pilot, "x")
        clipped = hist.clipped
        assert clipped is not None and clipped.total == sum(whole.counts)
        assert clipped.hist.edges[-1] < whole.edges[-1]  # the x range is narrower
        assert clipped.above >= 1  # the outlier is out, and counted
        kept = sum(clipped.hist.counts)
        assert kept + clipped.below + clipped.above == clipped.total
        legend = f"clip 1-99%: {clipped.below:,} left, {clipped.above:,} right"
        assert legend in text_of(hist)
        bands = screen.query_one(BandChart)
        expected = band_range(run.bands("layers.0.weight"))
        assert bands.clip == expected and expected.clipped_steps >= 1
        assert expected.high < max(v[-1] for _, v in run.bands("layers.0.weight"))
        assert f"clipped at {expected.clipped_steps}/40 steps" in text_of(bands)
        assert status_of(screen) == (
            "Clipped: the histogram to its 1st-99th percentile, the distribution to the"
            " 6.68th-93.32th percentile over the run (x again: whole ranges)."
        )
        await press(pilot, "x")
        assert hist.clipped is None and bands.clip is None
        assert "clip" not in text_of(hist)


async def test_the_first_non_finite_step_is_marked_everywhere_and_said(run_path):
    app = make_app(run=str(run_path))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert text_of(screen.query_one("#run-notes")).strip() == (
            "* first non-finite gradient at step 30 in layers.0.bias"
        )
        charts = [screen.query_one(BandChart), *screen.query(TimeChart)]
        assert len(charts) == 5
        for chart in charts:
            assert chart.marks.nonfinite == 30
            assert "! NaN/Inf 30" in text_of(chart), chart.id
        await press(pilot, "right_square_bracket", "g", "3", "0", "enter")
        assert screen.query_one(RunTable).cells[1][-1] == "3"  # layers.0.bias: 3 NaN


async def test_a_run_without_nonfinite_values_says_nothing_of_them(tmp_path):
    path = make_run(tmp_path / "fine.gradtui", 10)
    app = make_app(run=str(path))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert text_of(screen.query_one("#run-notes")).strip() == ""
        assert "NaN" not in text_of(screen.query_one(BandChart))


async def test_the_sign_map_moves_with_the_step(run_path):
    app = make_app(run=str(run_path))
    run = open_run(run_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await press(pilot, "m")
        view = screen.query_one(StepSignMap)
        assert view.entry.sign_map == run.sign_map("layers.0.weight", 40)
        await press(pilot, "left")
        assert view.entry.sign_map == run.sign_map("layers.0.weight", 39)
        assert view.entry.stats == run.stats(39)["layers.0.weight"].stats
        assert "layers.0.weight (1/6) dL/dW signs (12x16)" in text_of(view)
        await press(pilot, "right_square_bracket")
        assert view.entry is None
        assert "layers.0.bias has 1 dim: sign maps are of parameters of 2 or more dims" in (
            squeeze(text_of(view))
        )
        await press(pilot, "m")
        assert not screen.has_class("-map")


async def test_a_run_recorded_without_sign_maps_says_how_to_record_them(tmp_path):
    path = tmp_path / "nomaps.gradtui"
    writer = new_run(path)
    writer.write(1, records=[(0, Recorded("param", figures(1, 0), 1.0))])
    writer.close()
    app = make_app(run=str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "m")
        assert "record with gradtui.watch(..., sign_maps=True)" in squeeze(
            text_of(app.screen.query_one(StepSignMap))
        )


async def test_every_key_is_in_the_footer_at_80_columns(run_path):
    app = make_app(run=str(run_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_lines(app)[-1]
        for shown in ("←→ Step", "end Follow", "g Go to", "[ ] Param", "x Clip", "m Map"):
            assert shown in text
        assert "q Quit" in text and "? Help" in text


# -- the CLI -------------------------------------------------------------------------------


def test_open_refuses_what_is_not_a_run_with_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.gradtui"
    assert error_line(capsys, "open", missing) == f"gradtui: error: {missing}: no such file\n"
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 10)
    assert error_line(capsys, "open", text) == (
        f"gradtui: error: {text}: not a gradtui run file (not an SQLite database)\n"
    )
    assert error_line(capsys, "open").startswith("gradtui open: error: the following")


# -- the pieces ----------------------------------------------------------------------------


def test_steps_typed_are_checked_against_the_recorded_ones():
    steps = [1, 6, 11, 16]
    assert parse_step(" 11 ", steps) == 11
    assert nearest_steps(steps, 13) == (11, 16)
    assert nearest_steps(steps, 0) == (None, 1)
    assert nearest_steps(steps, 16) == (11, None)
    for text, message in (
        ("13", "step 13 was not recorded (every 5); the nearest recorded are 11 and 16"),
        ("0", "step 0 was not recorded (every 5); the first recorded is 1"),
        ("20", "step 20 was not recorded (every 5); the last recorded is 16"),
        ("", "type a step number, not ''"),
    ):
        with pytest.raises(StepRefused) as refused:
            parse_step(text, steps)
        assert str(refused.value) == message
    with pytest.raises(StepRefused, match="no step is recorded yet"):
        parse_step("1", [])


def test_clipping_a_histogram_keeps_whole_bins_and_counts_the_rest():
    hist = Histogram([float(e) for e in range(11)], [1, 0, 0, 10, 50, 30, 5, 0, 0, 2])
    clipped = clip_histogram(hist, 2.0, 97.0)  # 98 entries: 1.96 left, 2.94 right may go
    assert (clipped.below, clipped.above, clipped.total) == (1, 2, 98)
    assert clipped.hist.edges == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert clipped.hist.counts == [10, 50, 30, 5]
    same = clip_histogram(Histogram([0.0, 1.0], [5]))
    assert (same.below, same.above, same.hist.counts) == (0, 0, [5])
    empty = clip_histogram(Histogram([0.0, 1.0], [0]))
    assert empty.total == 0 and empty.hist.counts == [0]


def test_the_step_mark_snaps_to_a_column():
    width = 40
    assert columns(width) == 30
    assert snapped(1, 1, 30, width) == 1 and snapped(30, 1, 30, width) == 30
    # 10,000 steps over 30 columns: neighbouring steps share a column, and a chart
    assert snapped(4900, 1, 10_000, width) == snapped(4901, 1, 10_000, width)
    assert Marks(5).step == 5


# -- the run file's sign maps ---------------------------------------------------------------


def test_sign_maps_round_trip_their_kinds_and_majorities(tmp_path):
    grad = torch.randn(70, 300, generator=torch.Generator().manual_seed(0))
    grad[:20] = grad[:20].abs()  # some rows one-signed
    grad[20:30] = -grad[20:30].abs()
    grad[5, 7] = 0.0
    original = lab_sign_map.collect([lab_sign_map.queue(grad)])[0]
    writer = RunWriter(
        tmp_path / "m.gradtui", every=1, bins=4, command="", model="m", device="cpu",
        tensors=[("w", "param", (70, 300))],
    )  # fmt: skip
    stats = figures(1, 0)
    writer.write(1, records=[(0, Recorded("param", stats, 1.0, sign_map=original))])
    writer.close()
    read = open_run(tmp_path / "m.gradtui").sign_map("w", 1)
    assert (read.rows, read.cols) == (70, 300)
    assert (read.row_edges, read.col_edges) == (original.row_edges, original.col_edges)
    assert read.row_signs == original.row_signs

    def kinds(pos, neg):
        return [
            [(p > 0, n > 0, (p > n) - (n > p)) for p, n in zip(prow, nrow)]
            for prow, nrow in zip(pos, neg)
        ]

    assert kinds(read.pos, read.neg) == kinds(original.pos, original.neg)
    sorted_kinds = kinds(original.sorted_pos, original.sorted_neg)
    assert kinds(read.sorted_pos, read.sorted_neg) == sorted_kinds
    assert open_run(tmp_path / "m.gradtui").sign_map("w", 2) is None


def test_a_schema_1_file_is_read_without_sign_maps(tmp_path):
    path = make_run(tmp_path / "old.gradtui", 3)
    db = sqlite3.connect(path)
    db.execute("DROP TABLE sign_maps")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    assert SCHEMA_VERSION == 2
    run = open_run(path)
    assert not run.has_sign_maps and run.sign_map("layers.0.weight", 1) is None
    assert run.stats(3)["layers.0.weight"].stats == figures(3, 0)


def test_watch_records_sign_maps_when_asked(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(30, 10), torch.nn.Sigmoid(), torch.nn.Linear(10, 2))
    expected = []
    with gradtui.watch(model, tmp_path / "w.gradtui", every=2, sign_maps=True) as watch:
        for step in range(1, 5):
            model(torch.randn(4, 30)).pow(2).sum().backward()
            if step % 2 == 1:
                grad = model[2].weight.grad
                expected.append(lab_sign_map.collect([lab_sign_map.queue(grad)])[0])
            watch.step()
            model.zero_grad()
    run = open_run(tmp_path / "w.gradtui")
    assert run.steps() == [1, 3]
    for step, original in zip((1, 3), expected):
        read = run.sign_map("2.weight", step)
        assert read.row_signs == original.row_signs
        assert [[p > 0 for p in row] for row in read.pos] == [
            [p > 0 for p in row] for row in original.pos
        ]
    assert run.sign_map("2.bias", 1) is None
    with gradtui.watch(model, tmp_path / "plain.gradtui", every=1) as watch:
        model(torch.randn(4, 30)).sum().backward()
        watch.step()
    assert open_run(tmp_path / "plain.gradtui").sign_map("0.weight", 1) is None


# -- snapshots -----------------------------------------------------------------------------


def after(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await press(pilot, key)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_live(snap_compare, run_path, size):
    """Following the run: the last step, the first parameter."""
    assert snap_compare(make_app(run=str(run_path)), terminal_size=size, run_before=after())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_scrubbed(snap_compare, run_path, size):
    """Scrubbed back to step 28 (before the NaN), the second weight."""
    keys = ("g", "2", "8", "enter", "right_square_bracket", "right_square_bracket")
    assert snap_compare(make_app(run=str(run_path)), terminal_size=size, run_before=after(*keys))


def test_snapshot_clipped(snap_compare, tmp_path):
    path = make_run(tmp_path / "outlier.gradtui", 40, outlier_at=38)
    keys = ("g", "3", "8", "enter", "x")
    app = make_app(run=str(path))
    assert snap_compare(app, terminal_size=(120, 40), run_before=after(*keys))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_sign_map(snap_compare, run_path, size):
    keys = ("left", "m")
    assert snap_compare(make_app(run=str(run_path)), terminal_size=size, run_before=after(*keys))


def test_snapshot_empty_run(snap_compare, tmp_path):
    path = tmp_path / "empty.gradtui"
    new_run(path).close()
    assert snap_compare(make_app(run=str(path)), terminal_size=(80, 24), run_before=after())


async def test_the_newest_steps_update_ratio_is_said_to_come_later(tmp_path):
    path = tmp_path / "pending.gradtui"
    writer = new_run(path, layers=1)
    write_steps(writer, [1], layers=1)
    writer.write(2, records=[(0, Recorded("param", figures(2, 0), 1.0))])  # no update yet
    writer.close()
    app = make_app(run=str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        notes = app.screen.query_one("#run-notes")
        assert text_of(notes).strip() == "upd:data of step 2 comes with the next step"
        await press(pilot, "left")
        assert notes.has_class("-empty")


def test_the_run_view_imports_no_torch():
    """A recorded run opens without torch: the reader, the view and its charts."""
    from test_import_hygiene import modules_after

    loaded = modules_after("import gradtui.tui.app, gradtui.tui.screens.run, gradtui.run_plots")
    assert "torch" not in loaded and "textual" in loaded
