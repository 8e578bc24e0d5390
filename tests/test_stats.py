"""The statistics against an independent float64 reference, and their edge cases."""

from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import assert_matches, reference_stats

from gradtui.lab import kernels
from gradtui.lab.stats import (
    CHUNK_ELEMENTS,
    _binning_t,
    bin_edges_of,
    binning,
    collect,
    norm,
    summarize,
)


@pytest.fixture(autouse=True)
def both_paths(stats_path):
    """Every test here runs on the fused kernels and on the eager torch path."""
    return stats_path


def stats_of(x: torch.Tensor, bins: int = 50, **kwargs):
    (result,), _ = collect([summarize(x, bins, **kwargs)])
    return result


@pytest.mark.parametrize(
    "shape", [(7,), (100, 100), (3, 1000), (2 * CHUNK_ELEMENTS // 1000 + 3, 1000)]
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_matches_reference(shape, dtype):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=dtype) * 3e-3 + 1e-4
    got = stats_of(x, rows=len(shape) == 2)
    ref = reference_stats(x.numpy(), 50, rows=len(shape) == 2)
    assert_matches(got, ref)


def test_values_spanning_chunks_are_all_counted():
    x = torch.randn(3 * CHUNK_ELEMENTS + 17, generator=torch.Generator().manual_seed(2))
    got = stats_of(x, bins=7)
    assert sum(got.hist.counts) == x.numel()
    assert_matches(got, reference_stats(x.numpy(), 7))


def test_nan_and_inf_are_counted_and_left_out():
    x = torch.tensor([[1.0, -2.0, math.nan], [math.inf, 0.0, 3.0], [-math.inf, -1.0, -4.0]])
    got = stats_of(x, bins=4, rows=True)
    assert got.nonfinite == 3
    assert (got.pos, got.neg, got.zero) == (2 / 9, 3 / 9, 1 / 9)
    assert got.min == -4.0 and got.max == 3.0
    assert sum(got.hist.counts) == 6
    # Rows: [1, -2] mixed; [0, 3] positive only; [-1, -4] negative only.
    assert got.row_coherence == 2 / 3
    assert_matches(got, reference_stats(x.numpy(), 4, rows=True))


def test_all_nonfinite():
    got = stats_of(torch.tensor([math.nan, math.inf]), bins=3)
    assert got.nonfinite == 2
    assert got.mean is None and got.std is None and got.min is None
    assert math.isnan(got.norm)  # no finite entry: no norm (null in JSON), not 0
    assert got.hist.counts == [0, 0, 0]


def test_constant_tensor_uses_numpy_range_convention():
    x = torch.full((10, 10), 0.25)
    got = stats_of(x, bins=5, rows=True)
    ref = reference_stats(x.numpy(), 5, rows=True)
    assert got.hist.counts == ref["counts"] == [0, 0, 100, 0, 0]
    assert got.std == 0.0 and got.min == got.max == 0.25
    assert got.row_coherence == 1.0
    assert_matches(got, ref)


def test_empty_tensor():
    got = stats_of(torch.empty(0, 5), rows=True)
    assert got.numel == 0 and got.nonfinite == 0
    assert got.mean is None and got.row_coherence is None
    assert got.hist.counts == [0] * 50


def test_single_element_has_no_unbiased_std():
    got = stats_of(torch.tensor([-2.5]))
    assert got.mean == -2.5 and got.std is None and got.norm == 2.5
    assert got.neg == 1.0


def test_all_zero_rows_are_left_out_of_coherence():
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, -1.0], [1.0, -1.0]])
    got = stats_of(x, rows=True)
    assert got.row_coherence == 2 / 3
    assert stats_of(torch.zeros(3, 3), rows=True).row_coherence is None


@pytest.mark.parametrize(
    ("signs", "expected"),
    [
        (np.ones((50, 30)), 1.0),  # every row positive
        (-np.ones((50, 30)), 1.0),
        (np.outer(np.where(np.arange(50) % 2, 1, -1), np.ones(30)), 1.0),  # rows of either sign
        (np.outer(np.ones(50), np.where(np.arange(30) % 2, 1, -1)), 0.0),  # every row mixed
        (
            np.vstack(
                [np.ones((10, 30)), np.outer(np.ones(40), np.where(np.arange(30) < 1, -1, 1))]
            ),
            0.2,
        ),
    ],
)
def test_row_coherence_of_constructed_sign_patterns(signs, expected):
    magnitudes = np.random.default_rng(0).uniform(0.1, 2.0, signs.shape)
    got = stats_of(torch.tensor(signs * magnitudes), rows=True)
    assert got.row_coherence == expected


def test_rank_one_gradient_of_positive_inputs_is_row_coherent():
    """dL/dW = delta x^T with x > 0: each row has delta_j's sign (the post's claim)."""
    g = torch.Generator().manual_seed(3)
    delta = torch.randn(64, 1, generator=g, dtype=torch.float64)
    x = torch.rand(1, 32, generator=g, dtype=torch.float64) + 0.01
    got = stats_of(delta @ x, rows=True)
    assert got.row_coherence == 1.0
    assert 0 < got.pos < 1
    mixed_x = torch.randn(1, 32, generator=g, dtype=torch.float64)
    assert stats_of(delta @ mixed_x, rows=True).row_coherence == 0.0


def test_mean_and_std_keep_precision_when_mean_dominates():
    """Post-sigmoid-like values: E[x^2] - E[x]^2 would lose every digit here."""
    x = (
        0.999
        + torch.randn(100_000, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        * 1e-7
    )
    got = stats_of(x.float())
    ref = reference_stats(x.float().numpy(), 50)
    assert math.isclose(got.std, ref["std"], rel_tol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_tensors_are_counted_exactly(dtype):
    x = torch.randn(5000, generator=torch.Generator().manual_seed(5)).to(dtype)
    got = stats_of(x)
    assert sum(got.hist.counts) == 5000
    assert_matches(got, reference_stats(x.float().numpy(), 50))


def test_counts_beyond_float32_integer_range_stay_exact():
    # 2^24 + 5 zeros: a float32 histc bin stops counting at 2^24.
    n = 2**24 + 5
    got = stats_of(torch.zeros(n), bins=3)
    assert got.hist.counts == [0, n, 0]
    assert got.zero == 1.0


def test_norm_accumulates_in_float64():
    """A float32 accumulator is off by ~6e-4 here; float64 by float64 rounding only."""
    x = torch.full((2**22,), 0.1, dtype=torch.float32)
    expected = math.sqrt(2**22 * float(np.float32(0.1)) ** 2)
    _, (value,) = collect([], [norm(x)])
    assert math.isclose(value, expected, rel_tol=1e-9)
    float32_error = abs(float(x.norm()) - expected) / expected
    assert float32_error > 1e-6  # the failure this guards against is real


def test_saturation_is_strictly_outside_the_given_range():
    x = torch.tensor([0.01, 0.02, 0.5, 0.98, 0.97, 0.03], dtype=torch.float64)
    assert stats_of(x, saturation=(0.03, 0.97)).saturated == 3 / 6
    t = torch.tensor([-0.99, -0.5, 0.0, 0.971, 0.97, -0.97], dtype=torch.float64)
    assert stats_of(t, saturation=(-0.97, 0.97)).saturated == 2 / 6
    with_nan = torch.tensor([0.01, math.nan, 0.5, math.inf, -math.inf])
    assert stats_of(with_nan, saturation=(0.03, 0.97)).saturated == 1 / 5  # NaN/Inf are not
    r = torch.tensor([0.0, 0.0, 1.0, 2.0])
    assert stats_of(r, dead=True).dead == 0.5
    assert stats_of(r).dead is None and stats_of(r).saturated is None


def test_float32_saturation_compares_exactly_with_the_float64_bounds():
    """float32(0.03) < 0.03 and float32(0.97) > 0.97: saturated, as real numbers say, though
    a float32 comparison (torch's default with a Python float) says neither is."""
    x = torch.tensor([0.03, 0.97, 0.5, 0.0299, 0.9701], dtype=torch.float32)
    lo, hi = 0.03, 0.97
    expected = sum(1 for v in x.tolist() if v < lo or v > hi)
    assert expected == 4
    assert stats_of(x, saturation=(lo, hi)).saturated == expected / 5


finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)
any_floats = st.one_of(finite_floats, st.sampled_from([math.nan, math.inf, -math.inf, 0.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(any_floats, min_size=0, max_size=300), st.integers(1, 20))
def test_counts_sum_to_finite_entries_and_fractions_to_one(values, bins):
    x = torch.tensor(values, dtype=torch.float32)
    got = stats_of(x, bins=bins)
    finite = sum(1 for v in values if math.isfinite(v))
    assert sum(got.hist.counts) == finite
    assert got.nonfinite == len(values) - finite
    if values:
        assert math.isclose(got.pos + got.neg + got.zero + got.nonfinite / len(values), 1.0)
    assert len(got.hist.edges) == bins + 1
    assert all(a <= b for a, b in zip(got.hist.edges, got.hist.edges[1:]))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_random_matrices_match_reference(rows, cols, seed):
    x = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x[x.abs() < 0.3] = 0.0
    assert_matches(stats_of(x, bins=9, rows=True), reference_stats(x.numpy(), 9, rows=True))


def test_summaries_from_two_threads_at_once_agree(stats_path):
    """A new probe can start while a cancelled one still measures: both must be right."""
    from concurrent.futures import ThreadPoolExecutor

    x = torch.randn(600, 700, generator=torch.Generator().manual_seed(8))
    expected = reference_stats(x.numpy(), 50, rows=True)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: stats_of(x, rows=True), range(8)))
    for got in results:
        assert_matches(got, expected)


# -- one exact binning rule, against rational arithmetic -------------------------------

REAL_READY = kernels.ready  # before any fixture replaces it


def rule_counts(values, edges) -> list[int]:
    """numpy's rule in exact rationals: bin i holds edges[i] <= x < edges[i + 1], the last
    bin closed; NaN/Inf are not counted."""
    bounds = [Fraction(e) for e in edges]
    counts = [0] * (len(edges) - 1)
    for value in values:
        if not math.isfinite(value):
            continue
        exact = Fraction(value)
        assert bounds[0] <= exact <= bounds[-1]
        counts[min(bisect_right(bounds, exact) - 1, len(counts) - 1)] += 1
    return counts


def exact_figures(values) -> dict:
    """Mean, unbiased std and norm of the finite values in rationals, rounded once."""
    finite = [Fraction(v) for v in values if math.isfinite(v)]
    n = len(finite)
    mean = sum(finite) / n
    return {
        "mean": float(mean),
        "std": sqrt_of(sum((v - mean) ** 2 for v in finite) / (n - 1)) if n > 1 else None,
        "norm": sqrt_of(sum(v * v for v in finite)),
    }


def sqrt_of(q: Fraction) -> float:
    """sqrt of a non-negative rational as a float, without overflow on the way."""
    if q == 0:
        return 0.0
    k = (q.numerator.bit_length() - q.denominator.bit_length()) // 2
    try:
        return math.ldexp(math.sqrt(float(q / Fraction(4) ** k)), k)
    except OverflowError:
        return math.inf


def assert_exact(got, values, rel=1e-11):
    """std and norm to `rel`; the mean, which may be near 0 by cancellation, to float64
    rounding at the scale of the largest magnitude (as any float64 sum)."""
    expected = exact_figures(values)
    largest = max(abs(v) for v in values if math.isfinite(v))
    for key, value in expected.items():
        mine = getattr(got, key)
        assert mine is not None and value is not None, key
        tolerance = 4 * len(values) * 2.0**-53 * largest if key == "mean" else 0.0
        assert math.isclose(mine, value, rel_tol=rel, abs_tol=tolerance + 4 * 2.0**-1074), (
            key,
            mine,
            value,
        )


def on_both_paths(x, bins=50, **kwargs):
    """The statistics of x from the fused kernels and from the eager torch path."""
    results = []
    for ready in (REAL_READY, lambda: None):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(kernels, "ready", ready)
            results.append(stats_of(x, bins, **kwargs))
    return results


def between(lo: float, hi: float, u: np.ndarray) -> list[float]:
    """Points of [lo, hi] at fractions u, without forming hi - lo (which may overflow)."""
    return np.clip(lo * (1 - u) + hi * u, lo, hi).tolist()


RANGES = [
    (-3.0, 3.0),  # zero sits on an edge of 6 bins
    (0.0, 1.0),
    (-1.0, 2.0),
    (0.1, 0.7),
    (-1e-310, 1e-310),  # denormals: bins / width is infinite
    (1e-309, 2e-309),
    (5e-324, 2.5e-323),  # a range of four denormal steps
    (-1e308, 1e308),  # hi - lo overflows
    (-1.7976931348623157e308, 1.7976931348623157e308),
    (-3e306, 3e306),
    (1e16, 1e16 + 2),  # two floats: the edges must repeat
    (1e-3, 1e-3 * (1 + 2**-50)),
    (-5.0, -1e-300),
    (-1e198, 1e198),
    (0.999, 0.9990001),
]


@pytest.mark.parametrize(("lo", "hi"), RANGES)
@pytest.mark.parametrize("bins", [1, 6, 50])
def test_entries_on_and_beside_edges_follow_the_rule(lo, hi, bins):
    rng = np.random.default_rng(bins)
    base = [lo, hi, *between(lo, hi, rng.uniform(size=200))]
    edges = stats_of(torch.tensor(base, dtype=torch.float64), bins).hist.edges
    assert edges[0] == lo and edges[-1] == hi
    assert all(a <= b for a, b in zip(edges, edges[1:]))
    with np.errstate(over="ignore"):
        beside = [np.nextafter(e, d) for e in edges for d in (-math.inf, math.inf)]
    values = base + edges + [v for v in beside if lo <= v <= hi]
    fused, eager = on_both_paths(torch.tensor(values, dtype=torch.float64), bins)
    expected = rule_counts(values, edges)
    assert fused.hist.edges == eager.hist.edges == edges  # the range, hence the edges, held
    assert fused.hist.counts == eager.hist.counts == expected
    assert_exact(fused, values)
    assert_exact(eager, values)


@pytest.mark.parametrize(("lo", "hi"), [(-3.0, 3.0), (0.1, 0.7), (-1e-40, 1e-40), (1e30, 3e38)])
def test_float32_entries_beside_edges_follow_the_rule(lo, hi):
    rng = np.random.default_rng(0)
    base = np.array([lo, hi, *between(lo, hi, rng.uniform(size=300))], dtype=np.float32)
    edges = stats_of(torch.from_numpy(base), 50).hist.edges
    near = np.array(edges, dtype=np.float32)  # each edge rounded to float32, and neighbours
    near = np.concatenate([near, np.nextafter(near, -np.inf), np.nextafter(near, np.inf)])
    values = np.concatenate([base, near[(near >= base.min()) & (near <= base.max())]])
    fused, eager = on_both_paths(torch.from_numpy(values), 50)
    expected = rule_counts(values.astype(np.float64).tolist(), edges)
    assert fused.hist.edges == eager.hist.edges == edges
    assert fused.hist.counts == eager.hist.counts == expected


@pytest.mark.parametrize(("lo", "hi"), RANGES)
def test_edges_are_evenly_spaced_to_within_a_few_ulps(lo, hi):
    bins = 50
    edges = stats_of(torch.tensor([lo, hi], dtype=torch.float64), bins).hist.edges
    step = (Fraction(hi) - Fraction(lo)) / bins
    tolerance = Fraction(8 * math.ulp(max(abs(lo), abs(hi))))
    for i, edge in enumerate(edges):
        assert abs(Fraction(edge) - (Fraction(lo) + i * step)) <= tolerance, i


def test_host_and_device_choose_the_same_bins_bit_for_bit():
    rng = np.random.default_rng(5)
    cases = [*RANGES, (0.0, 0.0), (1e20, 1e20), (-2.5, -2.5), (1.7976931348623157e308,) * 2]
    cases += [(-1.7976931348623157e308,) * 2, (math.inf, -math.inf)]  # the last: no entry
    for _ in range(300):
        a, b = sorted(rng.standard_normal(2) * 10.0 ** rng.integers(-320, 308, size=2))
        cases.append((float(a), float(b)))
    for lo, hi in cases:
        for bins in (1, 7, 50):
            host = binning(lo, hi, bins)
            t = torch.tensor
            device = _binning_t(t(lo, dtype=torch.float64), t(hi, dtype=torch.float64), bins)
            assert [float(v) for v in device] == list(host), (lo, hi, bins)


def edge_cases() -> list[tuple[float, float, int]]:
    rng = np.random.default_rng(9)
    cases = [(lo, hi, bins) for lo, hi in RANGES for bins in (2, 7, 50, 1000)]
    for _ in range(200):
        a, b = sorted(rng.standard_normal(2) * 10.0 ** rng.integers(-320, 308, size=2))
        cases.append((float(a), float(b), int(rng.integers(2, 200))))
    return cases


@pytest.mark.parametrize("fast", [True, False], ids=["inverted", "bisected"])
def test_each_edge_is_the_first_float_the_chain_puts_in_its_bin(fast, monkeypatch):
    """The definition, checked one Python float at a time; `bisected` switches off the
    fast inversion so that the bisection fallback finds every edge."""
    from gradtui.lab import stats

    if not fast:
        monkeypatch.setattr(stats, "_settle", lambda holds, x, steps=4: np.zeros_like(x))
    cases = edge_cases()
    params = [(*binning(lo, hi, bins), bins) for lo, hi, bins in cases]
    for (left, right, s, left_s, scale, bins), edges in zip(params, bin_edges_of(params)):

        def index(x, s=s, left_s=left_s, scale=scale, bins=bins):
            return min(max(math.trunc((x * s - left_s) * scale), 0), bins - 1)

        assert len(edges) == bins + 1 and edges[0] == left and edges[-1] == right
        for i, edge in enumerate(edges[1:-1], start=1):
            assert index(edge) >= i > index(math.nextafter(edge, -math.inf)), (left, right, i)


def test_constant_tensors_follow_numpys_convention_and_widen_where_half_vanishes():
    got = stats_of(torch.full((4,), 2.5, dtype=torch.float64), 5)
    assert got.hist.edges[0] == 2.0 and got.hist.edges[-1] == 3.0
    assert got.hist.counts == [0, 0, 4, 0, 0]
    big = stats_of(torch.full((4,), 1e20, dtype=torch.float64), 5)
    assert big.hist.edges[0] == np.nextafter(1e20, -np.inf)
    assert big.hist.edges[-1] == np.nextafter(1e20, np.inf)
    assert big.hist.counts == rule_counts([1e20] * 4, big.hist.edges)
    assert big.std == 0.0 and big.mean == 1e20


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, -0.0, 5e-324, -5e-324, math.nan, math.inf, -math.inf]),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 12),
)
def test_any_float64_values_are_binned_by_the_rule(values, bins):
    got = stats_of(torch.tensor(values, dtype=torch.float64), bins)
    assert got.hist.counts == rule_counts(values, got.hist.edges)
    finite = [v for v in values if math.isfinite(v)]
    if finite:
        # Float64 moments are exact to rounding at the scale of the largest magnitude.
        expected = exact_figures(values)
        tolerance = 8 * len(values) * 2.0**-53 * max(abs(v) for v in finite) + 2.0**-1070
        assert abs(got.mean - expected["mean"]) <= tolerance
        if expected["norm"] < 1.797e308:  # a norm within ulps of overflow may round to inf
            assert math.isclose(got.norm, expected["norm"], rel_tol=1e-12)


# -- numerics at the ends of float64 ---------------------------------------------------


@pytest.mark.parametrize("scale", [3e306, 1e198, 1e-305, 1e-309, 1e-320])
def test_huge_and_tiny_values_give_every_figure_exactly(scale):
    """Squares of 3e306 overflow and squares of 1e-309 underflow: scaled, neither does."""
    x = torch.randn(40, 25, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    x = x * scale
    got = stats_of(x, 10, rows=True)
    assert got.hist.edges[0] == float(x.min()) and got.hist.edges[-1] == float(x.max())
    assert all(math.isfinite(e) for e in got.hist.edges)
    assert got.hist.counts == rule_counts(x.flatten().tolist(), got.hist.edges)
    assert got.row_coherence == 0.0
    if scale >= 1e-309:  # below, randn * scale keeps only a few significant bits
        assert sum(1 for c in got.hist.counts if c) > 5  # spread out, not all in one bin
    assert_exact(got, x.flatten().tolist())


def test_values_spread_over_a_huge_range_keep_their_std():
    """--loss sum-mse --target 1e200: gradients of about +-1e198 (std was 0.0 or null)."""
    x = torch.linspace(-1e198, 1e198, 1001, dtype=torch.float64)
    got = stats_of(x, 10)
    assert got.std is not None and got.std > 5e197
    assert_exact(got, x.tolist())


def test_all_nan_has_no_norm_and_no_step():
    from gradtui.result import LayerResult

    grad = stats_of(torch.full((3, 4), math.nan), 5, rows=True)
    assert math.isnan(grad.norm) and grad.mean is None and grad.min is None
    layer = LayerResult(1, 4, 3, "identity", grad, None, grad, weight_norm=2.0)
    assert layer.grad_to_weight is None
    assert layer.to_dict()["weight_grad"]["norm"] != 0.0
    empty = stats_of(torch.empty(0), 5)
    assert empty.norm == 0.0  # no entry at all: the norm of nothing is 0


@pytest.mark.parametrize("magnitude", [1e300, 1e-300, 1e-310, 1.0])
def test_norm_is_exact_at_any_magnitude(magnitude):
    x = torch.randn(300, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x = x * magnitude
    _, (value,) = collect([], [norm(x)])
    assert math.isclose(value, exact_figures(x.tolist())["norm"], rel_tol=1e-12)


def test_accelerator_counting_by_histc_is_exact(monkeypatch):
    """On CUDA the eager path counts with histc (bincount would synchronise): forced here
    on the CPU, it must give the very counts of the CPU's bincount and of the rule."""
    from gradtui.lab import stats

    rng = np.random.default_rng(11)
    values = [*rng.standard_normal(5000).tolist(), -3.0, 3.0, 0.0, math.nan, math.inf]
    x = torch.tensor(values, dtype=torch.float64).reshape(5, -1)
    monkeypatch.setattr(kernels, "ready", lambda: None)
    by_bincount = stats_of(x, 6, rows=True)
    monkeypatch.setattr(stats, "_counts_by_histc", lambda device: True)
    got = stats_of(x, 6, rows=True)
    assert got.hist == by_bincount.hist
    assert got.hist.counts == rule_counts(values, got.hist.edges)
    assert got.nonfinite == 2 and (got.pos, got.neg) == (by_bincount.pos, by_bincount.neg)


@pytest.mark.parametrize("n", [1, 5, 64, 65, 300])
@pytest.mark.parametrize("length", [1, 2, 7, 1000, 4097])
def test_cpu_counts_of_bin_coordinates_in_pairs_and_alone_are_bincounts(n, length):
    """Up to PAIRED_BINS bins, pairs of entries are counted in n^2 bins; past it, each
    entry (and an odd one out always): both are numpy's bincount of the truncated t."""
    from gradtui.lab import stats

    rng = np.random.default_rng(n * 7919 + length)
    t = torch.from_numpy(rng.uniform(0, n, length) * (rng.uniform(0, 1, length) < 0.9))
    t[:: max(1, length // 5)] = n - 0.5  # the top bin, never filled by rounding up
    index = torch.full((length + 3,), -1, dtype=torch.int32)  # a buffer longer than t
    got = stats._count(t, n, index[:length])
    assert got.dtype == torch.int64
    assert got.tolist() == np.bincount(np.trunc(t.numpy()).astype(np.int64), minlength=n).tolist()
    assert (n <= stats.PAIRED_BINS) == (n in (1, 5, 64))


def test_rows_longer_than_a_chunk():
    x = torch.randn(3, CHUNK_ELEMENTS + 7, generator=torch.Generator().manual_seed(12))
    x[1] = x[1].abs()  # one coherent row
    x[2, 5] = math.nan
    got = stats_of(x, 9, rows=True)
    assert got.row_coherence == 1 / 3 and got.nonfinite == 1
    assert_matches(got, reference_stats(x.numpy(), 9, rows=True))


# -- found by mutation testing: NaN beside one sign, lone and lopsided norms, rows --------


def far_minimum_cases() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    near_1000 = 1000 + 1e-3 * torch.randn(3, 7001, generator=generator)
    near_1000[0, 0] = 0.0  # one 0 among activations near 1000, first of all
    sparse = torch.zeros(400, 500)
    where = torch.randint(0, sparse.numel(), (50,), generator=generator)
    sparse.view(-1)[where] = torch.randn(50, generator=generator)
    sparse[0, 0] = -0.3  # a sparse gradient whose one far negative entry comes first
    return {"near 1000 with one 0": near_1000, "sparse, minimum first": sparse}


@pytest.mark.parametrize("name", list(far_minimum_cases()))
def test_moments_keep_their_digits_when_the_minimum_is_far_from_the_bulk(stats_path, name):
    """Shifted by the minimum, the sums cancelled: std 1.5e-8 off on the torch path for the
    first case, 1.9e-7 for the second (fused: 5e-10, 2e-11). The pivot is now a median
    of entries spread over the tensor (even where an outlier comes first)."""
    x = far_minimum_cases()[name]
    got = stats_of(x, 50, rows=True)
    exact = exact_figures(x.double().view(-1).tolist())
    assert got.std == pytest.approx(exact["std"], rel=1e-13)
    assert got.norm == pytest.approx(exact["norm"], rel=1e-13)
    assert got.mean == pytest.approx(exact["mean"], rel=1e-13)


@pytest.mark.parametrize("values", [[-0.0, 0.0, 1.0], [0.0, -0.0, -1.0], [-0.0, -0.0, 0.0]])
def test_an_extreme_of_signed_zeros_is_zero_on_every_path(stats_path, values):
    """The minimum of -0.0 and 0.0 is either, by path and chunk: reported, always 0.0."""
    x = torch.tensor([values * 50], dtype=torch.float32)
    got = stats_of(x, bins=3, rows=True)
    for value in (got.min, got.max, got.hist.edges[0], got.hist.edges[-1], got.mean):
        if value == 0.0:
            assert math.copysign(1.0, value) == 1.0, (got.min, got.max, got.hist.edges)


def test_nan_beside_values_of_one_sign_leaves_the_range_to_the_finite_ones():
    """NaN is masked out of each row's extremes: counting it as 0 would stretch the
    range of an all-positive (all-negative) row to 0 and move every edge."""
    x = torch.tensor([[math.nan, 1.0, 2.0], [math.nan, 3.0, 4.0]])
    got = stats_of(x, bins=4, rows=True)
    assert (got.min, got.max) == (1.0, 4.0)
    assert got.hist.edges[0] == 1.0 and got.hist.edges[-1] == 4.0
    assert got.row_coherence == 1.0 and got.nonfinite == 2
    y = stats_of(-x, bins=4, rows=True)
    assert (y.min, y.max) == (-4.0, -1.0)
    assert y.hist.edges[0] == -4.0 and y.hist.edges[-1] == -1.0


@pytest.mark.parametrize(
    "values,expected",
    [
        ([3.0], 3.0),  # one entry: its magnitude
        ([-1e300, 1.0], 1e300),  # the largest magnitude is negative: scaled from it
        ([-3e-200, 4e-200], 5e-200),  # squares underflow: scaled up
    ],
)
def test_norm_of_a_lone_entry_and_of_lopsided_magnitudes(values, expected):
    x = torch.tensor(values, dtype=torch.float64)
    _, (value,) = collect([], [norm(x)])
    assert math.isclose(value, expected, rel_tol=1e-12)


def test_std_of_two_entries_and_of_two_equal_ones():
    assert stats_of(torch.tensor([1.0, 3.0])).std == pytest.approx(math.sqrt(2.0))
    assert stats_of(torch.tensor([5.0, 5.0])).std == 0.0


def test_no_finite_entry_has_no_extremes():
    got = stats_of(torch.tensor([math.nan, math.inf, -math.inf]))
    assert got.min is None and got.max is None


def test_a_matrix_measured_without_rows_has_no_row_coherence():
    x = torch.tensor([[1.0, 2.0], [-1.0, -2.0]])
    assert stats_of(x, rows=False).row_coherence is None
    assert stats_of(x, rows=True).row_coherence == 1.0


# -- found by mutation testing (2): reasons, saturation bounds, edges, empty tensors ------


def test_measured_by_gives_the_path_and_each_distinct_eager_reason(stats_path, monkeypatch):
    from gradtui.lab.stats import EAGER, FUSED, _fused_unavailable, measured_by

    assert measured_by([]) == (FUSED, kernels.status())
    half = summarize(torch.ones(3, dtype=torch.float16), 4)
    bf16 = summarize(torch.ones(3, dtype=torch.bfloat16), 4)
    # The reason is the dtype's plain name; a repeated reason is given once.
    assert measured_by([half, bf16, half]) == (EAGER, "float16 tensors; bfloat16 tensors")
    assert _fused_unavailable(torch.empty(2, device="meta")) == "META tensors"
    if stats_path == "fused":
        fused = summarize(torch.ones(3), 4)
        empty = summarize(torch.empty(0), 4)
        assert (fused.path, half.path, empty.path) == (FUSED, EAGER, EAGER)
        assert measured_by([empty]) == (EAGER, "empty tensor")
        # The note of fused summaries is the kernels' status when they were measured.
        status = kernels.status()
        monkeypatch.setattr(kernels, "status", lambda: "a later status")
        assert measured_by([fused]) == (FUSED, status)


def test_float32_saturation_bounds_that_are_float32_values_are_not_themselves_saturated():
    """0.25 and 0.75 are float32 values: x < 0.25 or x > 0.75 leaves them out."""
    x = torch.tensor([0.25, 0.75, 0.5, 0.2, 0.8, 0.25, 0.75], dtype=torch.float32)
    expected = sum(1 for v in x.tolist() if v < 0.25 or v > 0.75)
    assert expected == 2
    assert stats_of(x, saturation=(0.25, 0.75)).saturated == expected / 7


def test_float32_saturation_bounds_beyond_float32_range_raise_no_warning():
    import warnings

    x = torch.tensor([1.0, -3e38, 3e38], dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = stats_of(x, saturation=(-1e300, 1e300))
    assert got.saturated == 0.0


def test_an_unbounded_lower_saturation_bound_counts_no_negative_infinity():
    """x < -inf holds for no x, -inf included; x > 0.5 holds for 0.7 and +inf."""
    x = torch.tensor([-math.inf, 0.7, 0.1, -5.0, math.inf, math.nan], dtype=torch.float64)
    lo, hi = -math.inf, 0.5
    expected = sum(1 for v in x.tolist() if math.isfinite(v) and (v < lo or v > hi))
    assert expected == 1
    assert stats_of(x, saturation=(lo, hi)).saturated == expected / 6
    assert stats_of(x.float(), saturation=(lo, hi)).saturated == expected / 6


def test_an_edge_at_zero_reads_as_positive_zero():
    """-1e-310..1e-310 in 2 bins: the middle edge is exactly 0, written as 0.0 (JSON
    would otherwise say -0.0)."""
    edges = stats_of(torch.tensor([-1e-310, 1e-310], dtype=torch.float64), 2).hist.edges
    assert edges[1] == 0.0 and math.copysign(1.0, edges[1]) == 1.0


ORDINARY = [r for r in RANGES if r != (5e-324, 2.5e-323)] + [(-2.5, 7.0), (1e-8, 3e-8)]


def test_edges_of_ordinary_ranges_are_found_by_inversion_without_bisection(monkeypatch):
    """Bisection (64 numpy passes) is the fallback for odd chains only: the inversion
    with its short walks finds every edge of these ranges, each the first float of its
    bin."""
    from gradtui.lab import stats

    bisected = []
    real = stats._bisect
    monkeypatch.setattr(
        stats, "_bisect", lambda *args: bisected.append(args[1].size) or real(*args)
    )
    params = [(*binning(lo, hi, bins), bins) for lo, hi in ORDINARY for bins in (2, 7, 50, 1000)]
    for (left, right, s, left_s, scale, bins), edges in zip(params, bin_edges_of(params)):
        for i, edge in enumerate(edges[1:-1], start=1):
            index = min(max(math.trunc((edge * s - left_s) * scale), 0), bins - 1)
            below = math.nextafter(edge, -math.inf)
            before = min(max(math.trunc((below * s - left_s) * scale), 0), bins - 1)
            assert index >= i > before, (left, right, bins, i)
    assert bisected == []


@pytest.mark.parametrize(
    ("lo", "hi", "bins"),
    [
        (-1e-310, 1e-310, 2),  # the edge is 0.0
        (1.0, 1.0 + 2 * 2.0**-52, 2),  # three floats: the bisection starts two keys apart
        (-1.0, 1.0 + 2 * 2.0**-52, 4),  # the first key tried is that of 0.0, in bin 1
        (-3.0, 3.0, 6),
        (-5.0, -1e-300, 7),
        (1e16, 1e16 + 2, 3),
    ],
)
def test_bisection_alone_finds_each_first_float_of_a_bin(monkeypatch, lo, hi, bins):
    """With the inversion's guesses all wrong (NaN), every edge comes from bisecting the
    float64 line; each must be the first float the chain puts in its bin."""
    from gradtui.lab import stats

    monkeypatch.setattr(stats, "_settle", lambda holds, x, steps=4: np.full_like(x, np.nan))
    left, right, s, left_s, scale = binning(lo, hi, bins)
    (edges,) = bin_edges_of([(left, right, s, left_s, scale, bins)])

    def index(x):
        return min(max(math.trunc((x * s - left_s) * scale), 0), bins - 1)

    assert edges[0] == left and edges[-1] == right
    for i, edge in enumerate(edges[1:-1], start=1):
        assert index(edge) >= i > index(math.nextafter(edge, -math.inf)), (i, edge)
        assert math.copysign(1.0, edge) == 1.0 or edge < 0


def test_an_empty_tensor_has_the_unit_range_and_zero_fractions():
    got = stats_of(torch.empty(0), 4, saturation=(0.1, 0.9), dead=True)
    assert got.hist.edges == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert got.hist.counts == [0, 0, 0, 0]
    assert got.saturated == 0.0 and got.dead == 0.0
    assert got.min is None and got.max is None and got.norm == 0.0


def test_the_norm_of_an_empty_tensor_is_a_float64_zero():
    value = norm(torch.empty(0, 3))
    assert value.dtype == torch.float64 and value.shape == () and float(value) == 0.0


def test_extras_of_any_dtype_come_back_as_their_exact_values():
    """Each extra becomes float64 on its own: a float32 neighbour must not round 2^24 + 1."""
    extras = [
        torch.tensor(2**24 + 1),
        torch.tensor(0.1, dtype=torch.float32),
        torch.tensor(70000),
        torch.tensor(0.5, dtype=torch.float16),
    ]
    _, host = collect([], extras)
    assert host == [16777217.0, float(np.float32(0.1)), 70000.0, 0.5]
