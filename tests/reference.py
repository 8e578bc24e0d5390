"""Independent float64 reference for the statistics, in numpy, written from DESIGN.md's
definitions and not from gradtui's code."""

from __future__ import annotations

import math

import numpy as np


def reference_stats(values, bins: int, rows: bool = False) -> dict:
    a = np.asarray(values, dtype=np.float64)
    numel = a.size
    finite_mask = np.isfinite(a)
    f = a[finite_mask]
    out = {
        "numel": numel,
        "nonfinite": int(numel - f.size),
        "pos": np.count_nonzero(f > 0) / numel if numel else 0.0,
        "neg": np.count_nonzero(f < 0) / numel if numel else 0.0,
        "zero": np.count_nonzero(f == 0) / numel if numel else 0.0,
        "mean": float(np.mean(f)) if f.size else None,
        "std": float(np.std(f, ddof=1)) if f.size > 1 else None,
        "min": float(f.min()) if f.size else None,
        "max": float(f.max()) if f.size else None,
        "norm": float(np.sqrt(np.sum(f * f))) if f.size else 0.0,
    }
    if f.size:
        lo, hi = f.min(), f.max()
        counts, edges = np.histogram(f, bins=bins, range=(lo, hi) if hi > lo else None)
    else:
        counts, edges = np.zeros(bins, dtype=np.int64), np.linspace(0, 1, bins + 1)
    out["counts"] = counts.tolist()
    out["edges"] = edges.tolist()
    if rows:
        m = np.where(finite_mask, a, 0.0).reshape(a.shape[0], -1)
        coherent = nonzero_rows = 0
        for row in m:
            has_pos, has_neg = bool((row > 0).any()), bool((row < 0).any())
            if has_pos or has_neg:
                nonzero_rows += 1
                coherent += has_pos != has_neg
        out["row_coherence"] = coherent / nonzero_rows if nonzero_rows else None
    return out


def assert_matches(stats, ref: dict, rel: float = 1e-9) -> None:
    """Every figure of a TensorStats equals the reference (floats to `rel`)."""
    assert stats.numel == ref["numel"]
    assert stats.nonfinite == ref["nonfinite"]
    for key in ("pos", "neg", "zero"):
        assert getattr(stats, key) == ref[key], key
    for key in ("mean", "std", "min", "max", "norm"):
        mine, theirs = getattr(stats, key), ref[key]
        if theirs is None:
            assert mine is None, key
        else:
            assert math.isclose(mine, theirs, rel_tol=rel, abs_tol=1e-300), (key, mine, theirs)
    assert stats.hist.counts == ref["counts"]
    assert sum(stats.hist.counts) == ref["numel"] - ref["nonfinite"]
    for mine, theirs in zip(stats.hist.edges, ref["edges"]):
        assert math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=1e-15)
    if "row_coherence" in ref:
        assert stats.row_coherence == ref["row_coherence"]


def one_signed_share(matrix) -> float | None:
    """Share of rows whose nonzero entries all share one sign, rows with no nonzero entry
    left out; None when no row has one (README's row coherence)."""
    coherent = moving = 0
    for row in np.asarray(matrix, dtype=np.float64):
        nonzero = row[row != 0]
        if nonzero.size:
            moving += 1
            coherent += bool((nonzero > 0).all() or (nonzero < 0).all())
    return coherent / moving if moving else None
