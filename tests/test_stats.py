"""The statistics against an independent float64 reference, and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import assert_matches, reference_stats

from gradtui.fields import ACTIVATIONS
from gradtui.lab.stats import CHUNK_ELEMENTS, collect, norm, summarize


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


def test_saturation_thresholds():
    x = torch.tensor([0.01, 0.02, 0.5, 0.98, 0.97, 0.03])
    assert stats_of(x, saturation=ACTIVATIONS["sigmoid"].saturation).saturated == 3 / 6
    t = torch.tensor([-0.99, -0.5, 0.0, 0.971, 0.97])
    assert stats_of(t, saturation=ACTIVATIONS["tanh"].saturation).saturated == 2 / 5
    with_nan = torch.tensor([0.01, math.nan, 0.5, math.inf])
    assert (
        stats_of(with_nan, saturation=ACTIVATIONS["sigmoid"].saturation).saturated == 1 / 4
    )  # NaN/Inf are not
    r = torch.tensor([0.0, 0.0, 1.0, 2.0])
    assert stats_of(r, dead=True).dead == 0.5
    assert stats_of(r).dead is None and stats_of(r).saturated is None


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
