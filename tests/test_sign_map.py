"""The sign map: the lab's block counts against numpy, the lesson's two presets, the
drawing of a hand-made map, and the map view driven by keys."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from gradtui.lab import run_probe, stats
from gradtui.lab import sign_map as lab
from gradtui.lab.model import compute_loss
from gradtui.lab.probe import prepare
from gradtui.plots import VIEWS
from gradtui.result import Entry, SignMap
from gradtui.sign_map import GLYPHS, draw_sign_map, grid
from gradtui.spec import Spec, preset
from gradtui.tui.app import make_app
from gradtui.tui.widgets.histograms import HistogramGrid
from gradtui.tui.widgets.sign_map import HINT, SignMapView
from gradtui.tui.widgets.status import StatusLine

# -- an independent reference, from the definition ----------------------------------------


def reference_map(grad: np.ndarray) -> dict:
    """Blocks of ceil(rows / 64) x ceil(cols / 128) entries, counted by slicing; rows
    sorted +1, -1, 0 (stable) for the sorted counts."""
    grad = np.asarray(grad, dtype=np.float64)
    rows, cols = grad.shape
    down, across = math.ceil(rows / 64), math.ceil(cols / 128)
    finite = np.isfinite(grad)
    pos = (grad > 0) & finite
    neg = (grad < 0) & finite
    signs = []
    for r in range(rows):
        has_pos, has_neg = bool(pos[r].any()), bool(neg[r].any())
        signs.append(1 if has_pos and not has_neg else -1 if has_neg and not has_pos else 0)
    order = [r for r in range(rows) if signs[r] == 1]
    order += [r for r in range(rows) if signs[r] == -1]
    order += [r for r in range(rows) if signs[r] == 0]

    def blocks(mask):
        return [
            [int(mask[i : i + down, j : j + across].sum()) for j in range(0, cols, across)]
            for i in range(0, rows, down)
        ]

    return {
        "row_edges": [*range(0, rows, down), rows],
        "col_edges": [*range(0, cols, across), cols],
        "pos": blocks(pos),
        "neg": blocks(neg),
        "sorted_pos": blocks(pos[order]),
        "sorted_neg": blocks(neg[order]),
        "row_signs": signs,
    }


def assert_map_matches(sign_map: SignMap, grad: np.ndarray) -> None:
    ref = reference_map(grad)
    assert (sign_map.rows, sign_map.cols) == grad.shape
    for key, value in ref.items():
        assert getattr(sign_map, key) == value, key


def float64_gradients(spec: Spec) -> list[np.ndarray]:
    """Every layer's dL/dW by autograd on the spec's float64 network."""
    model, x, target = prepare(spec)
    compute_loss(spec, model(x), target).backward()
    return [linear.weight.grad.numpy() for linear in model.linears]


# -- the lab ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        # 67 rows (blocks of 2, the last 1) x 301 columns (blocks of 3, the last 1); a
        # 3-row layer smaller than the grid (1 x 1 blocks); 200 rows of 3 inputs.
        {"sizes": (301, 67, 3, 200), "activation": "sigmoid"},
        {"sizes": (301, 67, 3, 200), "activation": "tanh", "batch_size": 5, "loss": "mse"},
        # ReLU: dead units give rows of exact zeros (class 0, blank blocks).
        {"sizes": (20, 130, 129, 7), "activation": "relu", "batch_size": 3},
    ],
)
def test_lab_counts_match_numpy_on_float64_autograd(stats_path, changes):
    spec = Spec(device="cpu", dtype="float64", **changes)
    result = run_probe(spec)
    grads = float64_gradients(spec)
    assert len(result.layers) == len(grads)
    for layer, grad in zip(result.layers, grads):
        assert_map_matches(layer.sign_map, grad)
        blocks = len(layer.sign_map.pos), len(layer.sign_map.pos[0])
        assert blocks[0] <= lab.ROWS and blocks[1] <= lab.COLS


def test_the_shapes_of_the_blocks():
    spec = Spec(device="cpu", dtype="float64", sizes=(301, 67, 3, 200))
    maps = [layer.sign_map for layer in run_probe(spec).layers]
    assert (len(maps[0].pos), len(maps[0].pos[0])) == (34, 101)  # 67x301: 2x3 blocks
    assert maps[0].row_edges[-2:] == [66, 67] and maps[0].col_edges[-2:] == [300, 301]
    assert (len(maps[1].pos), len(maps[1].pos[0])) == (3, 67)  # small: one entry each
    assert (len(maps[2].pos), len(maps[2].pos[0])) == (50, 3)  # 200 rows: blocks of 4


def test_non_finite_entries_count_as_neither_sign_on_both_paths(stats_path):
    grad = torch.tensor(
        [
            [1.0, math.nan, 2.0, 0.0],
            [-1.0, math.inf, -3.0, -0.0],
            [0.0, 0.0, -math.inf, math.nan],
            [5.0, -5.0, 0.0, 1e-30],
        ]
    )
    for dtype in (torch.float32, torch.float64, torch.float16):
        (sign_map,) = lab.collect([lab.queue(grad.to(dtype))])
        expected = grad.double().numpy()
        if dtype == torch.float16:
            expected[3, 3] = 0.0  # 1e-30 underflows to 0 in half precision
        assert_map_matches(sign_map, expected)
    assert sign_map.row_signs == [1, -1, 0, 0]


def test_rows_wider_than_a_chunk_count_alike_on_both_paths(stats_path, monkeypatch):
    """Chunks of 64 entries on the torch path: each 1000-entry row then makes a chunk of
    its own, its blocks of 8 columns counted whole; the statistics with the map are
    those without it."""
    monkeypatch.setattr(stats, "CHUNK_ELEMENTS", 64)
    grad = torch.randn(70, 1000, generator=torch.Generator().manual_seed(1))
    grad[3] = grad[3].abs()
    summary, pending = lab.measure(grad, 9)
    (sign_map,) = lab.collect([pending])
    assert_map_matches(sign_map, grad.numpy())
    assert summary.path == ("fused" if stats_path == "fused" else "torch")
    (with_map, plain), _ = stats.collect([summary, stats.summarize(grad, 9, rows=True)])
    moments = ("mean", "std", "norm")  # sums taken in another order: equal to rounding
    for name in moments:
        assert getattr(with_map, name) == pytest.approx(getattr(plain, name), rel=1e-12)
    assert dataclasses.replace(with_map, **{n: getattr(plain, n) for n in moments}) == plain
    assert with_map.pos * grad.numel() == np.count_nonzero(grad.numpy() > 0)


def test_maps_measured_one_after_another_keep_their_own_counts(stats_path):
    """The fused path writes each layer's counts per row where the last layer's were
    (stats.release): the maps queued before stay whole."""
    generator = torch.Generator().manual_seed(2)
    grads = [torch.randn(130, 300, generator=generator) for _ in range(3)]
    grads[1][::2] = grads[1][::2].abs()
    measured = [lab.measure(grad, 5) for grad in grads]
    for grad, sign_map in zip(grads, lab.collect([pending for _, pending in measured])):
        assert_map_matches(sign_map, grad.numpy())
    assert all(summary.signs is None for summary, _ in measured)
    if stats_path == "fused":
        spare = stats._spare.array
        lab.measure(grads[0], 5)
        assert stats._spare.array is spare  # written again, not allocated again


def test_sigmoid_rows_are_one_signed_and_tanh_rows_are_mixed():
    sigmoid = run_probe(preset("seed-v2.0").replace(device="cpu"))
    for layer in sigmoid.layers[1:]:
        assert 0 not in layer.sign_map.row_signs, layer.index
        kinds = {s: layer.sign_map.row_signs.count(s) for s in (1, -1)}
        assert kinds[1] / layer.out_features == pytest.approx(layer.weight_grad.pos)
    assert sigmoid.layers[3].sign_map.row_signs == [1] * 100  # the last layer: all +
    # The sorted map of layer 2 is two bands: every block of its first rows is +, of
    # its last rows -, and only the block row where they meet holds both.
    layer2 = sigmoid.layers[1].sign_map
    mixed_rows = [
        i for i, (p, n) in enumerate(zip(layer2.sorted_pos, layer2.sorted_neg)) if any(p) and any(n)
    ]
    assert len(mixed_rows) <= 1
    tanh = run_probe(preset("seed-v3.0").replace(device="cpu"))
    for layer in tanh.layers[1:]:
        mixed = layer.sign_map.row_signs.count(0)
        assert mixed / layer.out_features > 0.9, layer.index


# -- the drawing -----------------------------------------------------------------------


def hand_made_layer(**changes) -> Entry:
    """Layer 2 (3 neurons x 4 inputs, 1 x 1 blocks): neuron 0 all +, neuron 1 mixed with
    a zero, neuron 2 all -."""
    sign_map = SignMap(
        rows=3,
        cols=4,
        row_edges=[0, 1, 2, 3],
        col_edges=[0, 1, 2, 3, 4],
        pos=[[1, 1, 1, 1], [1, 0, 0, 1], [0, 0, 0, 0]],
        neg=[[0, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 1]],
        sorted_pos=[[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1]],
        sorted_neg=[[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0]],
        row_signs=[1, 0, -1],
    )
    result = run_probe(Spec(device="cpu", sizes=(4, 3, 3)))
    return dataclasses.replace(result.weights[0], label="2", sign_map=sign_map, **changes)


def map_lines(text: str) -> list[str]:
    return text.split("\n")[1:4]


def test_drawing_a_hand_made_map_one_cell_per_block():
    layer = hand_made_layer()
    text = draw_sign_map(layer, 6, 5).plain  # title, 3 map lines, 1 legend line
    plus, minus, zero = GLYPHS["+"], GLYPHS["-"], GLYPHS["zero"]
    assert map_lines(text) == [
        "+ " + plus * 4,
        "· " + plus + minus + zero + plus,
        "- " + minus * 4,
    ]
    text = draw_sign_map(layer, 6, 5, sorted_rows=True).plain
    assert map_lines(text) == [
        "+ " + plus * 4,
        "- " + minus * 4,
        "· " + plus + minus + zero + plus,
    ]


def test_drawing_sums_blocks_into_cells_and_stretches_to_fill():
    layer = hand_made_layer()
    small = grid(layer.sign_map, 2, 1)
    assert small.pos == [[3, 3]] and small.neg == [[3, 2]]
    assert small.kinds == [["mixed", "mixed"]] and small.lines == [(0, 3)]
    assert small.inputs_per_cell == 2
    big = grid(layer.sign_map, 8, 6)
    assert big.kinds[0] == ["+"] * 8
    assert big.kinds[2] == ["+", "+", "-", "-", "zero", "zero", "+", "+"]
    assert big.kinds[2] == big.kinds[3] and big.lines[2] == big.lines[3] == (1, 2)
    # Three block rows in two lines: two blocks, then the one left, never a line that
    # covers fewer only to even out the sizes.
    assert grid(layer.sign_map, 4, 2).lines == [(0, 2), (2, 3)]


def test_title_and_legend_say_what_is_shown():
    layer = hand_made_layer()
    coherence = layer.stats.row_coherence
    text = draw_sign_map(layer, 100, 12, position="/3", hint="[ ] layer").plain
    title, *_, legend1, legend2 = text.split("\n")
    assert title.startswith("layer 2/3 dL/dW signs (3x4), rows in neuron order")
    assert title.endswith(f"row coherence {100 * coherence:.1f}%")
    assert "sorted" in draw_sign_map(layer, 100, 12, sorted_rows=True).plain.split("\n")[0]
    assert f"{GLYPHS['+']} +  {GLYPHS['-']} -  {GLYPHS['mixed']} both" in legend1
    assert "left: +-± neurons one-signed, · mixed" in legend1 and "[ ] layer" in legend1
    assert "neurons: 1 all +, 1 all -, 1 mixed/0" in legend2
    assert "cell: 1 neuron x 1 input" in legend2
    narrow = draw_sign_map(layer, 30, 12).plain.split("\n")
    assert all(len(line) <= 30 for line in narrow)


def test_glyphs_read_without_colour():
    assert len(set(GLYPHS.values())) == 4


# -- the view --------------------------------------------------------------------------


def rendered(app) -> str:
    return app.screen.query_one(SignMapView).render().plain


async def test_keys_show_the_map_pick_the_layer_and_sort():
    app = make_app(preset("seed-v2.0").replace(device="cpu"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")  # from a fresh start: no tab, no escape
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = app.screen.query_one(SignMapView)
        assert not view.display
        await pilot.press("m")
        await pilot.pause()
        assert app.screen.view == "map"
        assert view.display and not app.screen.query_one(HistogramGrid).display
        assert "sign map" in str(app.screen.query_one(StatusLine).render())
        # Sorted at the start: one-signed rows of each sign together, the lesson first.
        assert view.sorted_rows
        assert rendered(app).startswith("layer 1/4 dL/dW signs (100x100), rows sorted")
        await pilot.press("o")
        await pilot.pause()
        assert not view.sorted_rows
        assert rendered(app).startswith("layer 1/4 dL/dW signs (100x100), rows in neuron")

        await pilot.press("right_square_bracket")
        await pilot.pause()
        layer = app.result.weights[1]
        assert view.layer_index == 1 and view.shown_layer is layer
        text = rendered(app)
        size = view.size
        assert text == draw_sign_map(layer, size.width, size.height, position="/4", hint=HINT).plain
        title, *lines = text.split("\n")
        assert (
            title == "layer 2/4 dL/dW signs (100x100), rows in neuron order, row coherence 100.0%"
        )
        shown = grid(layer.sign_map, size.width - 2, size.height - 3)
        map_text = lines[: len(shown.lines)]
        assert [line[2:] for line in map_text] == [
            "".join(GLYPHS[k] for k in kinds) for kinds in shown.kinds
        ]
        assert all(line[0] in "+-±" for line in map_text)  # every neuron one-signed

        await pilot.press("o")
        await pilot.pause()
        assert view.sorted_rows
        title, *lines = rendered(app).split("\n")
        assert "rows sorted" in title
        assert lines[0] == "+ " + GLYPHS["+"] * (size.width - 2)
        last = len(grid(layer.sign_map, size.width - 2, size.height - 3).lines) - 1
        assert lines[last] == "- " + GLYPHS["-"] * (size.width - 2)

        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause()
        assert view.layer_index == 3  # wraps around
        assert rendered(app).startswith("layer 4/4")
        assert set("".join(line[2:] for line in rendered(app).split("\n")[1:10])) == {
            GLYPHS["+"]
        }  # the last layer: all +

        await pilot.press("w")
        await pilot.pause()
        assert not view.display and app.screen.query_one(HistogramGrid).display
        await pilot.press("v", "v", "v", "v")
        await pilot.pause()
        assert app.screen.view == "map" and VIEWS[-1] == "map"
        assert view.layer_index == 3 and view.sorted_rows  # kept while away


async def test_the_map_before_a_run_and_after_a_smaller_network():
    app = make_app(preset("seed-v2.0").replace(device="cpu"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert "press r" in rendered(app)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert rendered(app).startswith("layer 1/4")  # no result then: nothing to step
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert rendered(app).startswith("layer 4/4")
        app.screen.pane.set_field("sizes", "100,10,10")
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert rendered(app).startswith("layer 2/2")


@pytest.mark.parametrize("shape", [(1, 100), (100, 1), (1, 1), (3, 301)])
def test_one_row_and_one_column_gradients_on_both_paths(stats_path, shape):
    """The seed's output layer is 1 x 100: a single row is a map of one row of blocks."""
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grad[grad.abs() < 0.2] = 0.0
    (sign_map,) = lab.collect([lab.queue(grad)])
    assert_map_matches(sign_map, grad.numpy())


@pytest.mark.parametrize("shape", [(0, 5), (5, 0)])
def test_an_empty_gradient_maps_to_no_counts(stats_path, shape):
    (sign_map,) = lab.collect([lab.queue(torch.empty(shape))])
    assert (sign_map.rows, sign_map.cols) == shape
    assert sum(map(sum, sign_map.pos)) == sum(map(sum, sign_map.neg)) == 0
    assert lab.block_edges(0, 1) == [0]
    assert lab.block_edges(5, 2) == [0, 2, 4, 5]


# -- found by mutation testing: integer counts ------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7), (3, 0)])
def test_sign_map_counts_and_row_signs_are_python_ints_on_both_paths(stats_path, shape):
    """They go to JSON as they are: 3, not 3.0."""
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    (sign_map,) = lab.collect([lab.queue(grad)])
    if grad.numel():
        assert_map_matches(sign_map, grad.numpy())
    else:
        assert sign_map.row_signs == [0, 0, 0] and sign_map.pos == [[], [], []]
    keys = ("pos", "neg", "sorted_pos", "sorted_neg")
    counts = [c for key in keys for row in getattr(sign_map, key) for c in row]
    assert all(type(c) is int for c in counts + sign_map.row_signs)


def test_the_torch_path_counts_extreme_floats_wide_half_blocks_and_a_last_block_of_two():
    """The plain torch path, against the definition: float64 entries beyond float32's
    range (1e-300 and 1e300 keep their signs), a half-precision row whose blocks hold
    4096 entries (past half's 2048 exact integers, so its signs are summed in float32),
    and 257 columns (blocks of 3, the last of 2)."""
    tiny = torch.tensor([[1e-300, -1e-300, 1e300, -1e300, 0.0, 2.0]], dtype=torch.float64)
    half = torch.ones(1, 128 * 4096, dtype=torch.float16)
    half[0, ::997] = -1.0
    half[0, 1::4096] = 0.0  # a block's signs then sum to an odd number near 4090:
    # not a half-precision number (they step by 2 there)
    torch.manual_seed(0)
    ragged = torch.randn(5, 257)
    for grad in (tiny, half, ragged):
        (sign_map,) = lab.collect([lab.queue(grad)])
        step = lab.block_step(grad.shape[1], lab.COLS)
        by_torch = stats._summarize_eager(
            grad, 4, rows=True, saturation=None, dead=False, sign_step=step
        ).signs
        assert_map_matches(sign_map, grad.double().numpy())
        counts = reference_map(grad.double().numpy())  # at most 64 rows: a line per row
        assert by_torch[:, 0].tolist() == counts["pos"]
        assert by_torch[:, 1].tolist() == counts["neg"]


def test_a_probes_maps_stay_arrays_until_read_and_a_run_file_encodes_them_alike():
    """The lab hands the maps over as numpy arrays (lists cost 10 ms of a 16x1024 probe);
    read, they are the lists the map was measured as, and a run file stores the same
    codes for either."""
    from gradtui.runfile import _encode_sign_map

    result = run_probe(Spec(device="cpu", sizes=(70, 300, 9), seed=4))
    for layer in result.layers:
        sign_map = layer.sign_map
        assert all(isinstance(counts, np.ndarray) for counts in sign_map.arrays())
        encoded = _encode_sign_map(sign_map)
        listed = SignMap(
            sign_map.rows,
            sign_map.cols,
            sign_map.row_edges,
            sign_map.col_edges,
            *(counts.tolist() for counts in sign_map.arrays()),
        )
        assert _encode_sign_map(listed) == encoded
        assert sign_map == listed and isinstance(sign_map.pos, list)
