"""Fused CPU kernels for the statistics, compiled with numba.

Eager torch needs one pass over memory per figure (signs, sums, min/max, bin index, the
bincount...), and on large CPU models those passes cost more than the backward pass
itself. These two kernels read each tensor twice: a row pass (min, max, sum, sign counts
per row) and a histogram pass (bin counts, squared deviations from the mean).

numba compiles them once (about 3 s, then cached on disk). Nothing ever waits for that:
`warm_up()` compiles in a background thread and `ready()` answers None until it is done,
so the eager torch path in stats.py serves every probe in the meantime, and wherever
numba is missing or disabled (GRADTUI_NO_NUMBA=1).
"""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

_lock = threading.Lock()
_state: dict[str, object] = {"kernels": None, "thread": None, "error": None}

FASTMATH = {"reassoc", "contract", "nsz"}
"""Let LLVM reorder sums (vectorisation); keep NaN/Inf semantics, which the callers test."""


def _compile() -> SimpleNamespace:
    import numpy as np
    from numba import njit, prange

    @njit(parallel=True, cache=True, nogil=True, fastmath=FASTMATH)
    def row_pass(a, out):  # pragma: no cover - compiled
        """Per row: min, max, float64 sum, count > 0, count < 0."""
        rows, cols = a.shape
        for r in prange(rows):
            lo = np.inf
            hi = -np.inf
            total = 0.0
            positive = 0
            negative = 0
            for c in range(cols):
                v = a[r, c]
                lo = min(lo, v)
                hi = max(hi, v)
                total += v
                positive += v > 0
                negative += v < 0
            out[r, 0] = lo
            out[r, 1] = hi
            out[r, 2] = total
            out[r, 3] = positive
            out[r, 4] = negative

    @njit(parallel=True, cache=True, nogil=True, fastmath=FASTMATH)
    def hist_pass(a, lo, scale, bins, mean, blocks):  # pragma: no cover - compiled
        """Bin counts over [lo, lo + bins / scale] and the sum of squared deviations.

        Four interleaved sub-histograms per block break the store-to-load chain when
        neighbouring values fall in the same bin.
        """
        rows, cols = a.shape
        counts = np.zeros((blocks, 4, bins + 1), dtype=np.int64)
        m2 = np.zeros(blocks)
        step = (rows + blocks - 1) // blocks
        for b in prange(blocks):
            first = b * step
            last = min(rows, first + step)
            acc = 0.0
            for r in range(first, last):
                for c in range(cols):
                    d = a[r, c] - mean
                    acc += d * d
            m2[b] = acc
            for r in range(first, last):
                c = 0
                while c + 4 <= cols:
                    for j in range(4):
                        k = int((a[r, c + j] - lo) * scale)
                        counts[b, j, min(max(k, 0), bins)] += 1
                    c += 4
                while c < cols:
                    k = int((a[r, c] - lo) * scale)
                    counts[b, 0, min(max(k, 0), bins)] += 1
                    c += 1
        return counts.sum(axis=0).sum(axis=0), m2.sum()

    @njit(parallel=True, cache=True, nogil=True, fastmath=FASTMATH)
    def square_sum(a):  # pragma: no cover - compiled
        """Sum of squares, accumulated in float64."""
        rows, cols = a.shape
        partial = np.zeros(rows)
        for r in prange(rows):
            acc = 0.0
            for c in range(cols):
                v = np.float64(a[r, c])
                acc += v * v
            partial[r] = acc
        return partial.sum()

    # Compile for both float dtypes now, on tiny inputs, so no probe pays for it.
    for dtype in (np.float32, np.float64):
        sample = np.arange(12, dtype=dtype).reshape(3, 4)
        row_pass(sample, np.empty((3, 5)))
        hist_pass(sample, 0.0, 1.0, 4, 0.0, 2)
        square_sum(sample)
    return SimpleNamespace(row_pass=row_pass, hist_pass=hist_pass, square_sum=square_sum)


def enabled() -> bool:
    return os.environ.get("GRADTUI_NO_NUMBA", "") not in ("1", "true", "yes")


def warm_up(wait: bool = False) -> None:
    """Compile the kernels in a background thread (once); `wait` blocks until done."""
    if not enabled():
        return
    with _lock:
        thread = _state["thread"]
        if thread is None:
            thread = threading.Thread(target=_build, name="gradtui-kernels", daemon=True)
            _state["thread"] = thread
            thread.start()
    if wait:
        thread.join()


def _build() -> None:
    try:
        kernels = _compile()
    except Exception as error:  # numba missing or broken: the eager path serves
        _state["error"] = error
        return
    _state["kernels"] = kernels


def ready() -> SimpleNamespace | None:
    """The compiled kernels, or None while they compile or where numba is unavailable."""
    return _state["kernels"] if enabled() else None
