"""The numba kernels fed adversarial arrays directly, against independent references;
the probes that used to crash them; the compile without a writable cache."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from bisect import bisect_right
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from gradtui.lab import kernels, run_probe
from gradtui.lab.stats import bin_edges, binning, summarize
from gradtui.spec import Spec

TINY = 2.0**-1074
BIG = 1.7976931348623157e308


@pytest.fixture(scope="module")
def compiled():
    kernels.warm_up(wait=True)
    assert kernels.ready() is not None, kernels.failure()
    return kernels.ready()


def adversarial() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "normal": rng.standard_normal((37, 53)),
        "denormal": rng.standard_normal((8, 100)) * 1e-310,
        "few denormal steps": np.array([[TINY, 2 * TINY, 3 * TINY, 5 * TINY, TINY]]),
        "wider than float64": np.array([[-1e308, 1e308, 0.0, 3.0, -5e307], [1, -1, 2e307, 0, 0]]),
        "extremes": np.array([[-BIG, BIG, -BIG, BIG, 0.0, TINY, -TINY]]),
        "huge": rng.standard_normal((20, 20)) * 3e306,
        "mixed magnitudes": rng.standard_normal((10, 30)) * 10.0 ** rng.integers(-300, 300, 30),
        "two floats": np.array([[1e16, 1e16 + 2, 1e16, 1e16 + 2, 1e16]]),
        "constant": np.full((4, 4), 0.25),
        "constant huge": np.full((3, 3), 1e20),
        "one entry": np.array([[-2.5]]),
        "zeros": np.zeros((5, 7)),
        "post-sigmoid": 0.999 + rng.standard_normal((30, 30)) * 1e-7,
        "on the edges of 6 bins": np.array([[-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]]),
    }
    arrays["float32 normal"] = rng.standard_normal((31, 17)).astype(np.float32)
    arrays["float32 denormal"] = (rng.standard_normal((6, 40)) * 1e-40).astype(np.float32)
    arrays["float32 extremes"] = np.array([[-3.4e38, 3.4e38, 1e-45, 0.0]], dtype=np.float32)
    return arrays


ARRAYS = adversarial()


def chain_reference(a: np.ndarray, s: float, left_s: float, scale: float, bins: int):
    """The bin chain written plainly in numpy, NaN to bin 0, then counted with bincount."""
    with np.errstate(all="ignore"):
        t = (a.astype(np.float64) * s - left_s) * scale
    t = np.where(np.isnan(t), 0.0, np.clip(t, 0.0, bins - 1))
    return np.bincount(np.trunc(t).astype(np.int64).ravel(), minlength=bins).tolist()


def rule_reference(a: np.ndarray, edges: list[float]) -> list[int]:
    """numpy's rule in exact rationals: edges[i] <= x < edges[i + 1], the last bin closed."""
    bounds = [Fraction(e) for e in edges]
    counts = [0] * (len(edges) - 1)
    for value in a.astype(np.float64).ravel().tolist():
        counts[min(bisect_right(bounds, Fraction(value)) - 1, len(counts) - 1)] += 1
    return counts


def stats_pass(compiled, a, s, pivot, left_s, scale, bins, blocks, saturation=None, step=None):
    """(histogram counts, per-row figures) of the fused kernel: per row, the sum of the
    shifted entries and of their squares, the counts > 0 and < 0, the saturated count;
    the counts of each sign per block of `step` columns (one block by default) are
    checked against the row's."""
    out = np.full((a.shape[0], 5), np.nan)
    signs = np.full((a.shape[0], 2, -(-a.shape[1] // (step or a.shape[1]))), -1, dtype=np.int32)
    bounds = saturation or (0.0, 0.0)
    saturate = saturation is not None
    counts = compiled.stats_pass(
        a, s, pivot, left_s, scale, bins, *bounds, saturate, blocks, step or a.shape[1], out, signs
    )
    assert np.array_equal(signs.sum(axis=2), out[:, 2:4])
    return counts.tolist(), out


@pytest.mark.parametrize("name", list(ARRAYS))
@pytest.mark.parametrize("bins", [1, 6, 50])
@pytest.mark.parametrize("blocks", [1, 3, 8])
def test_histogram_kernel_counts_every_entry_by_the_rule(compiled, name, bins, blocks):
    a = ARRAYS[name]
    lo, hi = float(a.min()), float(a.max())
    left, right, s, left_s, scale = binning(lo, hi, bins)
    assert all(math.isfinite(v) for v in (s, left_s, scale))
    counts, _ = stats_pass(compiled, a, s, lo * s, left_s, scale, bins, min(a.shape[0], blocks))
    assert sum(counts) == a.size
    assert counts == chain_reference(a, s, left_s, scale, bins)
    assert counts == rule_reference(a, bin_edges(left, right, s, left_s, scale, bins))


def test_histogram_kernel_counts_up_to_its_most_bins_and_summarize_sends_more_to_torch(compiled):
    """The kernel's bin indexes are uint16: 65,536 bins are counted by the rule; one bin
    more goes to the torch path, which says why."""
    a = ARRAYS["normal"]
    lo, hi = float(a.min()), float(a.max())
    bins = kernels.MAX_BINS
    left, right, s, left_s, scale = binning(lo, hi, bins)
    counts, _ = stats_pass(compiled, a, s, lo * s, left_s, scale, bins, 4)
    assert counts == chain_reference(a, s, left_s, scale, bins)
    assert counts == rule_reference(a, bin_edges(left, right, s, left_s, scale, bins))
    assert counts[-1] == 1 and counts[0] == 1  # the maximum and the minimum
    x = torch.from_numpy(a)
    assert summarize(x, bins).path == "fused"
    more = summarize(x, bins + 1)
    assert more.path == "torch" and more.note == "65537 bins (the kernels count at most 65536)"


@pytest.mark.parametrize(
    ("s", "left_s", "scale"),
    [
        (1.0, 0.0, math.inf),  # what bins / 1e-310 used to give
        (1.0, 0.0, math.nan),
        (1.0, -math.inf, 1.0),  # what hi - lo = inf used to give
        (math.inf, 0.0, 1.0),
        (1.0, 0.0, -5.0),
        (1.0, 0.0, 0.0),
        (1.0, 1e300, 1e300),
    ],
)
def test_histogram_kernel_stays_in_bounds_whatever_its_parameters(compiled, s, left_s, scale):
    """Garbage parameters, and NaN/Inf entries, land in the end bins: never outside."""
    a = np.array([[math.nan, math.inf, -math.inf, 0.0, 1.0, -1.0, 1e308, -1e-310] * 4])
    counts, out = stats_pass(compiled, a, s, 0.0, left_s, scale, 5, 1, (0.0, 1.0))
    assert sum(counts) == a.size and min(counts) >= 0
    assert counts == chain_reference(a, s, left_s, scale, 5)
    assert out[0, 4] == np.count_nonzero((a < 0.0) | (a > 1.0))  # NaN is not saturated


@pytest.mark.parametrize("name", list(ARRAYS))
def test_row_kernel_sums_match_exact_rationals(compiled, name):
    a = ARRAYS[name]
    lo, hi = float(a.min()), float(a.max())
    _, _, s, left_s, scale = binning(lo, hi, 10)
    pivot = lo * s
    _, plain = stats_pass(compiled, a, s, pivot, left_s, scale, 10, min(a.shape[0], 8))
    _, out = stats_pass(compiled, a, s, pivot, left_s, scale, 10, 1, (0.03, 0.97))
    assert np.array_equal(plain[:, :4], out[:, :4])  # blocks and saturation change no sum
    assert not plain[:, 4].any()
    assert out[:, 4].sum() == np.count_nonzero(
        (a.astype(np.float64) < 0.03) | (a.astype(np.float64) > 0.97)
    )
    for row, got in zip(a.astype(np.float64), out):
        d = [Fraction(v) * Fraction(s) - Fraction(pivot) for v in row.tolist()]
        assert math.isclose(got[0], float(sum(d)), rel_tol=1e-12, abs_tol=1e-15)
        assert math.isclose(got[1], float(sum(x * x for x in d)), rel_tol=1e-12, abs_tol=1e-15)
        assert got[2] == np.count_nonzero(row > 0)
        assert got[3] == np.count_nonzero(row < 0)


@pytest.mark.parametrize("step", [1, 3, 7, 53, 1000])
def test_stats_kernel_counts_the_signs_of_each_block_of_a_row(compiled, step):
    """The sign map's counts: per row, per block of `step` columns (the last one
    shorter where the step does not divide the row), against slicing; blocks and bins
    change no other figure."""
    a = np.array(ARRAYS["normal"])  # 37 x 53: 53 = 7 * 7 + 4, a prime width
    a[::3, ::2] = 0.0  # zeros count as neither sign
    a[5] = np.abs(a[5])  # a row of one sign
    for array in (a, a.astype(np.float32)):
        lo, hi = float(array.min()), float(array.max())
        _, _, s, left_s, scale = binning(lo, hi, 6)
        blocks = -(-array.shape[1] // step)
        signs = np.full((array.shape[0], 2, blocks), -1, dtype=np.int32)
        out = np.empty((array.shape[0], 5))
        compiled.stats_pass(
            array, s, lo * s, left_s, scale, 6, 0.0, 0.0, False, 4, step, out, signs
        )  # fmt: skip
        for k in range(blocks):
            part = array[:, k * step : (k + 1) * step]
            assert signs[:, 0, k].tolist() == np.count_nonzero(part > 0, axis=1).tolist()
            assert signs[:, 1, k].tolist() == np.count_nonzero(part < 0, axis=1).tolist()
        _, whole = stats_pass(compiled, array, s, lo * s, left_s, scale, 6, 4)
        assert np.array_equal(out, whole)
        assert whole[:, 2].tolist() == np.count_nonzero(array > 0, axis=1).tolist()


@pytest.mark.parametrize("name", list(ARRAYS))
def test_square_sum_kernel_matches_exact_rationals(compiled, name):
    a = ARRAYS[name]
    largest = float(np.abs(a).max())
    s = math.ldexp(1.0, min(-math.frexp(largest)[1], 1000)) if largest else 1.0
    total = compiled.square_sum(a, s)
    exact = sum((Fraction(v) * Fraction(s)) ** 2 for v in a.astype(np.float64).ravel().tolist())
    assert math.isclose(total, float(exact), rel_tol=1e-12)


# -- the probes that crashed -----------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        Spec(sizes=(10,) * 120, init="normal:0.001", dtype="float64", device="cpu"),
        Spec(sizes=(300, 300, 300), init="normal:1e-310", activation="identity", dtype="float64"),
        Spec(sizes=(30, 30, 30), init="normal:3e306", activation="identity", dtype="float64"),
    ],
    ids=["vanishing 120 layers", "denormal weights", "huge weights"],
)
def test_probes_with_extreme_ranges_measure_on_warm_kernels(compiled, spec):
    result = run_probe(spec.replace(device="cpu", bins=10))
    assert result.stats_path in ("fused", "torch")
    for layer in result.layers:
        for figures in (layer.weight_grad, layer.bias_grad, layer.activation_stats):
            finite = figures.numel - figures.nonfinite
            assert sum(figures.hist.counts) == finite
            assert len(figures.hist.counts) == 10
            if finite:
                assert all(math.isfinite(e) for e in figures.hist.edges)
                assert figures.mean is not None and math.isfinite(figures.mean)
    json.loads(result.to_json())


def test_result_says_which_path_measured(compiled, monkeypatch):
    spec = Spec(sizes=(8, 8, 8), device="cpu")
    fused = run_probe(spec)
    assert (fused.stats_path, fused.stats_note) == ("fused", "numba kernels")
    data = json.loads(fused.to_json())
    assert data["stats_path"] == "fused" and data["stats_note"] == "numba kernels"

    monkeypatch.setattr(kernels, "ready", lambda: None)
    eager = run_probe(spec)
    assert (eager.stats_path, eager.stats_note) == ("torch", "numba kernels still compiling")
    monkeypatch.undo()

    broken = run_probe(Spec(sizes=(4, 4, 2), init="normal:1e30", activation="identity"))
    assert broken.stats_path == "torch"
    assert broken.stats_note.startswith("NaN/Inf values")
    assert "the others fused" in broken.stats_note


def test_kernels_compile_and_serve_without_a_writable_cache(tmp_path):
    """A read-only install and HOME, as on shared GPU boxes: numba finds no cache dir.

    As root, permissions do not stop writes, so each place numba tries is made
    impossible instead: a path under a file, and `__pycache__` as a plain file in a copy
    of the package.
    """
    package = Path(__file__).resolve().parents[1] / "gradtui"
    copy = tmp_path / "gradtui"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "lab" / "__pycache__").write_text("not a directory")
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "NUMBA_CACHE_DIR": str(blocker / "numba"),
        "HOME": str(blocker / "home"),
        "XDG_CACHE_HOME": str(blocker / "cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("GRADTUI_NO_NUMBA", None)
    script = textwrap.dedent(
        """
        import json, math, torch, numpy as np
        import gradtui
        from gradtui.lab import kernels, run_probe, stats
        from gradtui.spec import Spec
        kernels.warm_up(wait=True)
        x = torch.randn(64, 33, generator=torch.Generator().manual_seed(1))
        summary = stats.summarize(x, 7, rows=True)
        (got,), _ = stats.collect([summary])
        counts, _ = np.histogram(x.double().numpy(), bins=np.array(got.hist.edges))
        result = run_probe(Spec(sizes=(6, 5, 4), device="cpu"))
        print(json.dumps({
            "package": gradtui.__file__,
            "ready": kernels.ready() is not None,
            "failure": kernels.failure(),
            "path": summary.path,
            "counts_ok": counts.tolist() == got.hist.counts,
            "std_ok": math.isclose(got.std, float(x.double().std()), rel_tol=1e-12),
            "stats_path": result.stats_path,
            "stats_note": result.stats_note,
        }))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,  # python -c puts the working directory first on sys.path
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["package"].startswith(str(tmp_path))
    assert report["ready"] and report["failure"] is None
    assert report["path"] == "fused" and report["counts_ok"] and report["std_ok"]
    assert report["stats_path"] == "fused"
    assert report["stats_note"] == kernels.NO_CACHE_NOTE
    assert not any(tmp_path.rglob("*.nbi"))  # nothing was cached anywhere in the copy
