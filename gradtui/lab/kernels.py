"""Fused CPU kernels for the statistics, compiled with numba.

Eager torch needs one pass over memory per figure (signs, sums, min/max, bin index, the
bincount...), and on large CPU models those passes cost more than the backward pass
itself. With these, each tensor is read twice: torch's aminmax (the range, and whether
any entry is NaN/Inf), then `stats_pass`, which takes every other figure from one read of
each row (shifted sums and squares, the counts of each sign per block of a row, which
are also the sign map's, the histogram, and for activations of saturating units the
saturation count). The range cannot join that pass: the bins depend on it.

numba compiles them once (about 3 s, then cached on disk). Nothing ever waits for that:
`warm_up()` compiles in a background thread and `ready()` answers None until it is done,
so the eager torch path in stats.py serves every probe in the meantime, and wherever
numba is missing or disabled (GRADTUI_NO_NUMBA=1). Where numba finds no writable cache
directory (a read-only install and HOME, as on shared GPU boxes) the kernels are compiled
without a cache, and `note()` says so.

Every kernel is safe on any input: a bin index is clamped to [0, bins - 1] inside the
kernel, NaN included, so no input can make one write out of bounds (past MAX_BINS bins,
indexes wrap below 2^16 and stay inside the counts; stats.py sends those to torch).
"""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

_lock = threading.Lock()
_state: dict[str, object] = {"kernels": None, "thread": None, "error": None, "note": None}

FASTMATH = {"reassoc", "contract", "nsz"}
"""Let LLVM reorder sums (vectorisation) in the moment loops; keep NaN/Inf semantics.
Never on the bin chain: its bin index must be the exact IEEE chain that stats.py
evaluates to find the edges, with no fused multiply-add. numba sets these flags per
compiled function, so the bin loop is a function of its own, `_bin_row`, compiled with
fastmath=False explicitly (left unset, a callee inherits its caller's flags)."""

NO_CACHE_NOTE = "numba cache not writable: compiled without cache"
MAX_BINS = 1 << 16
"""The most bins `stats_pass` counts (its bin indexes are uint16)."""


def _compile(cache: bool) -> SimpleNamespace:
    """Compile (or load from numba's cache) every kernel for float32 and float64.

    With `cache`, numba raises RuntimeError at decoration when it finds no writable cache
    directory; the caller then compiles again without one.
    """
    # A module global, not a closure variable: numba keys the cache of a closure on its
    # pickled cell contents, and a dispatcher pickles differently in every process, so
    # `stats_pass` calling a local `_bin_row` would be compiled anew each time.
    global _bin_row
    import numpy as np
    from numba import get_num_threads, njit, prange

    @njit(cache=cache, nogil=True, fastmath=False)  # explicit: never inherit FASTMATH
    def _bin_row(row, s, left, scale, top, index, lo, hi, saturate):  # pragma: no cover - compiled
        """Bin index of each entry of `row` into `index` (uint16: top < 2^16):
        trunc((x * s - left) * scale), clamped to [0, top] (NaN to 0), each step one IEEE
        operation. With `saturate`, also the count of entries x < lo or x > hi (compared
        in float64, exactly)."""
        n = 0
        if saturate:
            for c in range(row.shape[0]):
                x = np.float64(row[c])
                t = (x * s - left) * scale
                if not t > 0.0:  # negative, or NaN
                    t = 0.0
                if t > top:
                    t = top
                index[c] = np.uint16(t)
                n += (x < lo) | (x > hi)
        else:
            for c in range(row.shape[0]):
                t = (np.float64(row[c]) * s - left) * scale
                if not t > 0.0:  # negative, or NaN
                    t = 0.0
                if t > top:
                    t = top
                index[c] = np.uint16(t)
        return n

    @njit(parallel=True, cache=cache, nogil=True, fastmath=FASTMATH)
    def stats_pass(  # pragma: no cover - compiled
        a, s, pivot, left, scale, bins, lo, hi, saturate, blocks, step, out, signs
    ):
        """Every figure after the range, in one read of `a`: per row r, into out[r],
        with d = x * s - pivot (s a power of two, pivot a scaled entry): sum of d,
        sum of d^2 in float64, count > 0, count < 0, and with `saturate` the count of
        entries x < lo or x > hi (else 0); into signs[r, 0, k] and signs[r, 1, k], the
        counts > 0 and < 0 in the k-th block of `step` columns (the last one may be
        shorter: the sign map's blocks, or one block of the whole row); returned, the
        counts of the bins (`_bin_row`).

        x * s and the pivot are at most 4 in magnitude, so the squares cannot overflow,
        and with a pivot in the bulk of the data (stats.py takes the median of 15 entries
        spread over it) they keep their digits where E[x^2] - E[x]^2 would lose every one
        (|mean| >> std) or overflow (|x| > 1e154), without a second pass for the mean.

        Rows go in `blocks` contiguous blocks, one task each. Each row is read from memory
        once: the moment loop (reordered under FASTMATH, to vectorise), then, while the
        row is still in cache, the sign loop (a block of fixed length `step` vectorises,
        one whose bound is a `min` does not; inside the moment loop, the blocks' sums
        took a third longer than apart) and the bin loop of `_bin_row` (compiled apart,
        without FASTMATH), whose indexes are counted into four interleaved
        sub-histograms per block, which breaks the store-to-load chain when neighbouring
        values fall in the same bin.
        """
        rows, cols = a.shape
        top = bins - 1
        full = cols // step
        counts = np.zeros((blocks, 4, bins), dtype=np.int64)
        chunk = (rows + blocks - 1) // blocks
        for b in prange(blocks):
            local = counts[b]
            # uint16 indexes: with int32, the bin and count loops took 1.4 times as long
            # (4096x4096 float32, 50 or 1000 bins), the whole kernel 1.1 to 1.2 times.
            index = np.empty(cols, dtype=np.uint16)
            for r in range(b * chunk, min(rows, (b + 1) * chunk)):
                row = a[r]
                shifted = 0.0
                squares = 0.0
                for c in range(cols):
                    d = np.float64(row[c]) * s - pivot
                    shifted += d
                    squares += d * d
                out[r, 0] = shifted
                out[r, 1] = squares
                row_positive = 0
                row_negative = 0
                for k in range(full):
                    base = k * step
                    positive = 0
                    negative = 0
                    for c in range(step):
                        x = row[base + c]
                        positive += x > 0
                        negative += x < 0
                    signs[r, 0, k] = positive
                    signs[r, 1, k] = negative
                    row_positive += positive
                    row_negative += negative
                if full * step < cols:  # the shorter last block, in a loop of its own: one
                    # helper for both, bounded by min(start + step, cols), took 1.4 times
                    # as long over a 4096x4096 gradient (its blocks' loops stopped
                    # vectorising)
                    positive = 0
                    negative = 0
                    for c in range(full * step, cols):
                        x = row[c]
                        positive += x > 0
                        negative += x < 0
                    signs[r, 0, full] = positive
                    signs[r, 1, full] = negative
                    row_positive += positive
                    row_negative += negative
                out[r, 2] = row_positive
                out[r, 3] = row_negative
                out[r, 4] = _bin_row(row, s, left, scale, top, index, lo, hi, saturate)
                c = 0
                while c + 4 <= cols:
                    local[0, index[c]] += 1
                    local[1, index[c + 1]] += 1
                    local[2, index[c + 2]] += 1
                    local[3, index[c + 3]] += 1
                    c += 4
                while c < cols:
                    local[0, index[c]] += 1
                    c += 1
        return counts.sum(axis=0).sum(axis=0)

    @njit(parallel=True, cache=cache, nogil=True, fastmath=FASTMATH)
    def square_sum(a, s):  # pragma: no cover - compiled
        """Sum of (x * s)^2, accumulated in float64 (s a power of two: the caller rescales
        where the squares of x itself would overflow or underflow)."""
        rows, cols = a.shape
        partial = np.zeros(rows)
        for r in prange(rows):
            acc = 0.0
            for c in range(cols):
                w = np.float64(a[r, c]) * s
                acc += w * w
            partial[r] = acc
        return partial.sum()

    @njit(parallel=True, cache=cache, nogil=True, fastmath=FASTMATH)
    def weight_pass(w, prev, diff, out):  # pragma: no cover - compiled
        """The weights' figures for gradtui.watch, then prev = w, in one read of each.

        Per row r, in float64, with d = w - w[0, 0]: out[r] = (sum d, sum d^2, sum w^2,
        sum u, sum u^2), where u = (w - prev) - (w[0, 0] - prev[0, 0]) when `diff` (the
        update since prev, shifted) and 0 otherwise. Shifting by one entry keeps the
        variance's digits where the mean is large against the spread; w - prev of two
        float32 is exact in float64.
        """
        rows, cols = w.shape
        pivot = np.float64(w[0, 0])
        shift = pivot - np.float64(prev[0, 0])
        for r in prange(rows):
            row = w[r]
            old = prev[r]
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            u1 = 0.0
            u2 = 0.0
            if diff:
                for c in range(cols):
                    x = np.float64(row[c])
                    d = x - pivot
                    u = (x - np.float64(old[c])) - shift
                    s1 += d
                    s2 += d * d
                    s3 += x * x
                    u1 += u
                    u2 += u * u
            else:
                for c in range(cols):
                    x = np.float64(row[c])
                    d = x - pivot
                    s1 += d
                    s2 += d * d
                    s3 += x * x
            for c in range(cols):
                old[c] = row[c]
            out[r, 0] = s1
            out[r, 1] = s2
            out[r, 2] = s3
            out[r, 3] = u1
            out[r, 4] = u2

    # Compile for both float dtypes now, on tiny inputs, so no probe pays for it.
    for dtype in (np.float32, np.float64):
        sample = np.arange(12, dtype=dtype).reshape(3, 4)
        for saturate in (False, True):
            signs = np.empty((3, 2, 2), dtype=np.int32)
            stats_pass(
                sample, 1.0, 0.0, 0.0, 0.3, 4, 0.0, 1.0, saturate, 2, 3, np.empty((3, 5)), signs
            )
        square_sum(sample, 1.0)
        for diff in (False, True):
            weight_pass(sample, sample.copy(), diff, np.empty((3, 5)))
    return SimpleNamespace(
        stats_pass=_serialised(stats_pass),
        threads=get_num_threads,
        square_sum=_serialised(square_sum),
        weight_pass=_serialised(weight_pass),
    )


_calls = threading.Lock()


def _serialised(kernel):
    """One kernel call at a time: numba's fallback threading layer (workqueue) aborts the
    process when two threads launch parallel kernels at once, which happens when a new
    probe starts while a cancelled one is still measuring."""

    def call(*args):
        with _calls:
            return kernel(*args)

    return call


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
        try:
            kernels = _compile(cache=True)
        except RuntimeError as error:
            if "cannot cache" not in str(error):
                raise
            # No writable cache directory anywhere numba looks: compile for this process.
            _state["note"] = NO_CACHE_NOTE
            kernels = _compile(cache=False)
    except Exception as error:  # numba missing or broken: the eager path serves
        _state["error"] = error
        return
    _state["kernels"] = kernels


def failure() -> str | None:
    """Why the kernels could not be built (numba missing, a compile error), if so."""
    error = _state["error"]
    return None if error is None else f"{type(error).__name__}: {error}"


def note() -> str | None:
    """Anything worth knowing about kernels that do serve (compiled without cache)."""
    return _state["note"]


def status() -> str:
    """Why the kernels serve or not, in words, for the result's `stats_note`."""
    if not enabled():
        return "numba kernels disabled (GRADTUI_NO_NUMBA)"
    if ready() is not None:
        return note() or "numba kernels"
    if _state["error"] is not None:
        return f"numba kernels unavailable ({failure()})"
    if _state["thread"] is None:
        return "numba kernels not compiled (warm_up not called)"
    return "numba kernels still compiling"


def ready() -> SimpleNamespace | None:
    """The compiled kernels, or None while they compile or where numba is unavailable."""
    return _state["kernels"] if enabled() else None
