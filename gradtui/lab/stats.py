"""Tensor statistics, computed on the tensor's own device.

`summarize` queues every figure of one tensor without waiting for the device; `collect`
moves all queued summaries to the host in one transfer and turns them into
`TensorStats`. So a probe waits for the device once, however many layers it has.

Two paths give the same figures (the tests hold both to float64 and exact references):
- fused (CPU, float32/float64, all finite): torch's aminmax, then one numba kernel of
  kernels.py (every other figure, saturation and a sign map's block counts included),
  two reads of the tensor in all;
- eager (any device, any dtype, NaN/Inf, or before the kernels are compiled): plain torch
  ops over a few large chunks, two reads, with no host synchronisation on an
  accelerator (on the CPU, one look at the range spares the masking of finite tensors).

Exactness (each point was measured to fail in the obvious implementation):
- counts are integers (kernel counters, int64 bincount, or on accelerators histc of
  integer bin coordinates over chunks below 2^24 entries, where its float32 counts are
  exact), never `histc` of raw values, whose bins follow its own rounding and stop
  counting at 2^24 (half/bfloat16 far earlier);
- one binning rule on both paths, numpy's: bin i holds edges[i] <= x < edges[i + 1], the
  last bin closed, for the very float64 edges reported. The bin of x is the IEEE chain
  trunc((x * s - left_s) * scale), clamped, evaluated identically by the kernel, by torch
  and by numpy; `bin_edges` reports, for each bin, the smallest float64 that the chain
  puts there. An edge is thus within a few ulps of numpy's linspace edge, and an entry
  on an edge is counted by the rule, never by rounding luck;
- everything is computed in a scaled form: s is the power of two that brings the largest
  magnitude of the data near 1, so ranges of 1e-310 (denormals) or of -1e308..1e308
  (wider than the largest float64) give finite bins, moments and norms; scaling by a
  power of two is exact;
- sums and squares accumulate in float64, of deviations from a pivot in the bulk of the
  data, the median of 15 entries spread over it (never E[x^2] - E[x]^2, which loses
  every digit when |mean| >> std, as after a sigmoid; deviations from the minimum, used
  before, lost digits where it sat far from the bulk: 1.5e-8 of the std on the torch
  path for activations near 1000 with one 0);
- NaN/Inf are counted once and masked out of every other figure;
- min == max, empty tensors and single entries have their own well-defined answers.
"""

from __future__ import annotations

import math
import struct
import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from gradtui.lab import kernels
from gradtui.result import Histogram, TensorStats

CHUNK_ELEMENTS = 1 << 19
"""Elements per chunk on the CPU: large enough that each of the ~15 ops per chunk
amortises its overhead, small enough that the float64 temporaries stay in cache."""
DEVICE_CHUNK_ELEMENTS = 1 << 22
"""Elements per chunk on an accelerator (a few hundred MB of float64 temporaries at
most). Both sizes stay at or below 2^24, so a float32 sum of signs stays exact."""

FUSED, EAGER = "fused", "torch"

# Layout of the per-tensor vector of float64 scalars. SHIFTED and SQUARES are the sums
# of d = x * S - PIVOT_S and d^2 over finite entries (the pivot is an entry, scaled:
# |d| <= 8, and a constant tensor has d = 0 exactly); S, LEFT_S and SCALE define the bin
# chain; LEFT and RIGHT are the outer edges.
(
    _NUMEL,
    _FINITE,
    _POS,
    _NEG,
    _SHIFTED,
    _SQUARES,
    _MIN,
    _MAX,
    _COHERENT,
    _NONZERO_ROWS,
    _SATURATED,
    _S,
    _LEFT_S,
    _SCALE,
    _LEFT,
    _RIGHT,
    _PIVOT_S,
) = range(17)
_NSCALARS = 17


@dataclass
class Summary:
    """Device-side figures of one tensor, not yet moved to the host."""

    scalars: Tensor
    """float64 vector in the layout above."""
    counts: Tensor
    """int64 histogram counts, `bins` long."""
    rows: bool
    saturation: bool
    dead: bool
    path: str = EAGER
    """Which path measured it: FUSED or EAGER."""
    note: str = ""
    """Why that path, in words."""
    signs: Tensor | None = None
    """With `sign_step`: integer counts (rows, [> 0, < 0], column blocks) of the
    finite entries of each row's blocks of `sign_step` columns (the sign map's); see
    `release`."""
    buffer: np.ndarray | None = field(default=None, repr=False)
    """The host array behind `signs` on the fused path, for `release`."""


def summarize(
    x: Tensor,
    bins: int,
    *,
    rows: bool = False,
    saturation: tuple[float, float] | None = None,
    dead: bool = False,
    sign_step: int | None = None,
) -> Summary:
    """Queue the statistics of `x` on its device.

    rows: also measure row sign coherence (x is 2-D or more, one row per output neuron).
    saturation: (lo, hi): an entry is saturated when x < lo or x > hi, e.g. (0.03, 0.97)
    for sigmoid outputs; None: no saturation figure.
    dead: report the fraction of exact zeros as `dead` (ReLU outputs).
    sign_step: also count the signs per row in blocks of this many columns (of
    x.flatten(1); x is 2-D or more), into `Summary.signs`, in the same pass.
    """
    x = x.detach()
    if sign_step is not None and (x.dim() < 2 or sign_step < 1):
        raise ValueError("sign_step needs a tensor of 2 dims or more and a step >= 1")
    options = {"rows": rows, "saturation": saturation, "dead": dead, "sign_step": sign_step}
    reason = _fused_unavailable(x)
    if reason is None and bins > kernels.MAX_BINS:
        reason = f"{bins} bins (the kernels count at most {kernels.MAX_BINS})"
    if reason is None:
        fused = _summarize_fused(x, bins, **options)
        if fused is not None:
            return fused
        reason = "NaN/Inf values (the kernels take finite tensors only)"
    return _summarize_eager(x, bins, **options, note=reason)


_spare = threading.local()
"""The last array of sign counts released in this thread (see `release`)."""


def release(summary: Summary) -> None:
    """Let the next summary with `sign_step` in this thread write its counts where
    `summary.signs` are, once they are used; `summary.signs` is None after. (A fresh
    4 MB array, the counts of a 4096x4096 gradient, costs 1024 page faults when first
    written: about 5 ms on a small cloud machine, half a fused pass over the gradient.)"""
    buffer = summary.buffer
    if buffer is not None:  # the whole array, of which the counts may be a part
        _spare.array = buffer if buffer.base is None else buffer.base
    summary.signs = summary.buffer = None


def _sign_buffer(shape: tuple[int, int, int]) -> np.ndarray:
    """An int32 array of `shape`: in the one last released in this thread where it
    fits (it is then no longer spare), else a new one."""
    spare = getattr(_spare, "array", None)
    size = math.prod(shape)
    if spare is None or spare.size < size:
        return np.empty(shape, dtype=np.int32)
    _spare.array = None
    return spare.reshape(-1)[:size].reshape(shape)


def sign_counts(summary: Summary) -> tuple[Tensor, Tensor]:
    """(entries >= 0, finite entries) of a summarized tensor, as 0-d tensors on its
    device: the non-negative share of a tensor already measured, with no pass over it."""
    finite = summary.scalars[_FINITE]
    return finite - summary.scalars[_NEG], finite


def measured_by(summaries: list[Summary]) -> tuple[str, str]:
    """(path, note) for a set of summaries: FUSED only when every one was fused."""
    eager = [s.note for s in summaries if s.path == EAGER]
    if not eager:
        return FUSED, summaries[0].note if summaries else kernels.status()
    note = "; ".join(dict.fromkeys(eager))
    if len(eager) < len(summaries):
        note += f" ({len(eager)} of {len(summaries)} tensors; the others fused)"
    return EAGER, note


# -- the bin chain, its parameters and its edges ---------------------------------------


def _power_of_two(magnitude: float) -> float:
    """2^k bringing `magnitude` (>= 0) into [1, 4), k kept within [-1022, 1000] so that
    2^k is a normal float64 (tiny magnitudes then land below 1, still far from
    underflow)."""
    exponent = struct.unpack("<q", struct.pack("<d", magnitude))[0] >> 52
    return math.ldexp(1.0, min(max(1023 - exponent, -1022), 1000))


def _power_of_two_t(magnitude: Tensor) -> Tensor:
    """`_power_of_two` on a 0-d float64 device tensor, bit for bit."""
    exponent = magnitude.view(torch.int64) >> 52
    k = (1023 - exponent).clamp(-1022, 1000)
    return ((k + 1023) << 52).view(torch.float64)


def binning(lo: float, hi: float, bins: int) -> tuple[float, float, float, float, float]:
    """(left, right, s, left_s, scale) of the histogram of finite entries in [lo, hi].

    The range is [lo, hi]; [0, 1] with no finite entry; [lo - 0.5, hi + 0.5] when
    lo == hi (numpy's convention), widened to the neighbouring floats where 0.5 vanishes
    (|lo| >= 2^53). s comes from the data's magnitude (so the moments of a constant 1e-235
    keep their digits); `left_s` and `scale` are in units of s: the chain never overflows.
    """
    if not lo <= hi:
        left, right = 0.0, 1.0
    elif lo < hi:
        left, right = lo, hi
    else:
        left, right = lo - 0.5, hi + 0.5
        if left == lo:
            left = math.nextafter(lo, -math.inf)
        if right == hi:
            right = math.nextafter(hi, math.inf)
        left = lo if math.isinf(left) else left
        right = hi if math.isinf(right) else right
    s = _power_of_two(max(abs(lo), abs(hi)) if lo <= hi else 1.0)
    left_s = left * s
    return left, right, s, left_s, bins / (right * s - left_s)


def _binning_t(lo: Tensor, hi: Tensor, bins: int) -> tuple[Tensor, ...]:
    """`binning` with 0-d float64 device tensors and no host synchronisation, bit for bit
    (the tests hold the two to each other)."""
    empty = ~(lo <= hi)
    flat = lo == hi
    left = torch.where(empty, 0.0, lo)
    right = torch.where(empty, 1.0, hi)
    infinity = torch.full_like(lo, math.inf)
    wide_left = left - 0.5
    wide_left = torch.where(wide_left == left, torch.nextafter(left, -infinity), wide_left)
    wide_left = torch.where(wide_left.isinf(), left, wide_left)
    wide_right = right + 0.5
    wide_right = torch.where(wide_right == right, torch.nextafter(right, infinity), wide_right)
    wide_right = torch.where(wide_right.isinf(), right, wide_right)
    left = torch.where(flat, wide_left, left)
    right = torch.where(flat, wide_right, right)
    s = _power_of_two_t(torch.where(empty, 1.0, torch.maximum(lo.abs(), hi.abs())))
    left_s = left * s
    # Tensor by tensor: torch computes `bins / tensor` as reciprocal(tensor) * bins.
    scale = torch.full_like(left_s, float(bins)) / (right * s - left_s)
    return left, right, s, left_s, scale


def bin_edges(
    left: float, right: float, s: float, left_s: float, scale: float, bins: int
) -> list[float]:
    """The bins + 1 edges of one histogram; see `bin_edges_of`."""
    return bin_edges_of([(left, right, s, left_s, scale, bins)])[0]


def bin_edges_of(params: list[tuple[float, float, float, float, float, int]]) -> list[list[float]]:
    """The edges of histograms given by (left, right, s, left_s, scale, bins), all at once.

    Interior edge i is the smallest float64 x that the chain
    trunc((x * s - left_s) * scale), clamped to [0, bins - 1], puts in bin i or above: so
    x is in bin i exactly when edges[i] <= x < edges[i + 1]. The chain is inverted one
    operation at a time (each inverse lands within an ulp or two, then settles by a short
    walk); every edge is then checked against the whole chain, and any that is not exact
    (underflow of x * s, ranges a few ulps wide) is bisected on the float64 line.
    """
    table = np.array([p[:5] for p in params], dtype=np.float64).reshape(-1, 5)
    inner = np.array([p[5] - 1 for p in params], dtype=np.int64)
    target = np.concatenate([np.arange(1, n + 1, dtype=np.float64) for n in inner] or [[]])
    left, right, s, left_s, scale = np.repeat(table, inner, axis=0).T
    top = np.repeat(inner.astype(np.float64), inner)

    def index(x: np.ndarray, lanes=slice(None)) -> np.ndarray:
        t = (x * s[lanes] - left_s[lanes]) * scale[lanes]
        return np.clip(np.trunc(t), 0.0, top[lanes])

    with np.errstate(all="ignore"):
        # Smallest d with d * scale >= i; smallest y with y - left_s >= d (y - left_s
        # rounds up to d from the midpoint below d); x = y / s.
        d = _settle(lambda d: d * scale >= target, target / scale)
        y = (left_s + d) - (d - np.nextafter(d, -np.inf)) / 2
        y = _settle(lambda y: y - left_s >= d, y)
        x = _settle(lambda x: index(x) >= target, np.clip(y / s, left, right))
        exact = (index(x) >= target) & (index(np.nextafter(x, -np.inf)) < target)
        if not exact.all():
            wrong = np.flatnonzero(~exact)
            x[wrong] = _bisect(lambda v: index(v, wrong), target[wrong], left[wrong], right[wrong])
    interior = (x + 0.0).tolist()  # + 0.0: a -0.0 edge reads as 0.0
    edges, offset = [], 0
    for (lo_edge, hi_edge, *_), n in zip(params, inner.tolist()):
        edges.append([lo_edge + 0.0, *interior[offset : offset + n], hi_edge + 0.0])
        offset += n
    return edges


def _settle(holds, x: np.ndarray, steps: int = 4) -> np.ndarray:
    """Walk each x down while `holds` (monotone in x) still holds one float below, then up
    until it holds: the smallest such float, if it was within `steps` floats."""
    for _ in range(steps):
        below = np.nextafter(x, -np.inf)
        down = holds(below)
        if not down.any():
            break
        x = np.where(down, below, x)
    for _ in range(steps):
        up = ~holds(x)
        if not up.any():
            break
        x = np.where(up, np.nextafter(x, np.inf), x)
    return x


def _bisect(index, target: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Smallest float64 x in (left, right] with index(x) >= target, by bisection on the
    ordered integer keys of the float64 values: at most 64 steps."""
    # Invariant: index(low) < target <= index(high); index(left) is 0, index(right) top.
    # Lanes already closed (high == low + 1) stay put, so the loop checks only now and then.
    low, high = _keys(left), _keys(right)
    while (high - low > 1).any():
        for _ in range(8):
            middle = low + (high - low) // 2
            reached = index(_floats(middle)) >= target
            high = np.where(reached, middle, high)
            low = np.where(reached, low, middle)
    return _floats(high)


_TOP_BIT = np.uint64(2**63)


def _keys(x: np.ndarray) -> np.ndarray:
    """Unsigned integers in the order of the float64 values (-0.0 just below 0.0)."""
    bits = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    return np.where(bits < _TOP_BIT, bits | _TOP_BIT, ~bits)


def _floats(keys: np.ndarray) -> np.ndarray:
    return np.where(keys >= _TOP_BIT, keys ^ _TOP_BIT, ~keys).view(np.float64)


# -- the fused CPU path ----------------------------------------------------------------


def _fused_unavailable(x: Tensor) -> str | None:
    """Why the fused kernels cannot measure `x`, or None when they can."""
    if x.device.type != "cpu":
        return f"{x.device.type.upper()} tensors"
    if x.dtype not in (torch.float32, torch.float64):
        return f"{str(x.dtype).removeprefix('torch.')} tensors"
    if kernels.ready() is None:
        return kernels.status()
    if x.numel() == 0:
        return "empty tensor"
    row = x.numel() // x.shape[0] if x.dim() >= 2 else x.numel()  # a row of `_as_rows(x)`
    if row >= 1 << 31:  # the kernel counts a row's signs in int32
        return "rows of 2^31 entries or more"
    return None


def _as_rows(x: Tensor) -> np.ndarray:
    """`x` as a C-contiguous 2-D array, rows kept (1-D as one row)."""
    matrix = x.flatten(1) if x.dim() >= 2 else x.reshape(1, -1)
    return matrix.contiguous().numpy()


def _summarize_fused(
    x: Tensor,
    bins: int,
    *,
    rows: bool,
    saturation: tuple[float, float] | None,
    dead: bool,
    sign_step: int | None,
) -> Summary | None:
    """The CPU path through the fused kernels; None where NaN/Inf is present."""
    compiled = kernels.ready()
    low, high = torch.aminmax(x)
    lo, hi = float(low), float(high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN or Inf: the eager path masks
        return None
    array = _as_rows(x)
    rows = rows and x.dim() >= 2
    numel = array.size
    left, right, s, left_s, scale = binning(lo, hi, bins)
    count_rows, cols = array.shape
    step = sign_step or cols  # no map: one block per row
    per_row = np.empty((count_rows, 5))
    shape = (count_rows, 2, -(-cols // step))
    signs = _sign_buffer(shape) if sign_step else np.empty(shape, dtype=np.int32)
    sample = sorted(_spread(array.reshape(-1)).tolist())
    pivot_s = sample[(len(sample) - 1) // 2] * s  # exact: s is a power of two
    bounds = [float(b) for b in saturation] if saturation else [0.0, 0.0]
    # A block of rows per task, each with its own sub-histograms: at least one per thread.
    blocks = max(1, min(count_rows, max(8, compiled.threads())))
    counts = compiled.stats_pass(
        array, s, pivot_s, left_s, scale, bins, *bounds, bool(saturation), blocks, step,
        per_row, signs,
    )  # fmt: skip
    positive, negative = per_row[:, 2] > 0, per_row[:, 3] > 0
    scalars = torch.tensor(
        [
            numel,
            numel,
            per_row[:, 2].sum(),
            per_row[:, 3].sum(),
            per_row[:, 0].sum(),
            per_row[:, 1].sum(),
            lo,
            hi,
            np.count_nonzero(positive ^ negative) if rows else 0,
            np.count_nonzero(positive | negative) if rows else 0,
            per_row[:, 4].sum(),
            s,
            left_s,
            scale,
            left,
            right,
            pivot_s,
        ],
        dtype=torch.float64,
    )
    return Summary(
        scalars,
        torch.from_numpy(counts),
        rows,
        saturation is not None,
        dead,
        FUSED,
        kernels.status(),
        torch.from_numpy(signs) if sign_step else None,
        signs if sign_step else None,
    )


# -- the eager torch path --------------------------------------------------------------


def _summarize_eager(
    x: Tensor,
    bins: int,
    *,
    rows: bool,
    saturation: tuple[float, float] | None,
    dead: bool,
    sign_step: int | None = None,
    note: str = "",
) -> Summary:
    """Plain torch ops, on any device, masking NaN/Inf; an accelerator's host never
    waits here.

    Pass 1 takes the finite range (and, per row, the finite extremes that decide row
    coherence) from two masked copies of each chunk; pass 2 converts each chunk to float64
    once and takes the signs, the bin chain and the shifted moments from it. Non-finite
    entries get marker bins (NaN, +inf, -inf) in the same count, which also counts them.
    With `sign_step`, pass 2 goes through whole rows and counts the signs of each block,
    which also decide row coherence. On the CPU, where reading a figure costs no wait,
    one aminmax says whether every entry is finite: then it is the range, and nothing is
    masked (a quarter of the ops).
    """
    device = x.device
    f64 = torch.float64
    numel = x.numel()
    rows = rows and x.dim() >= 2
    if numel == 0:
        params = binning(math.inf, -math.inf, bins)
        scalars = torch.zeros(_NSCALARS, dtype=f64)
        scalars[_MIN], scalars[_MAX] = math.inf, -math.inf
        scalars[_S:_PIVOT_S] = torch.tensor([params[2], params[3], params[4], params[0], params[1]])
        counts = torch.zeros(bins, dtype=torch.int64)
        signs = None
        if sign_step:
            count_rows, cols = x.flatten(1).shape
            signs = torch.zeros((count_rows, 2, -(-cols // sign_step)), dtype=torch.int64)
        return Summary(
            scalars.to(device),
            counts.to(device),
            rows,
            bool(saturation),
            dead,
            note=note,
            signs=None if signs is None else signs.to(device),
        )

    size = _chunk_size(device)
    inf = math.inf
    work = x.dtype if x.dtype in (torch.float32, f64) else torch.float32
    clean = False
    if _read_without_waiting(device):
        low, high = torch.aminmax(x)  # NaN, or an infinite end, where any is not finite
        clean = math.isfinite(low) and math.isfinite(high)
    # Pass 1: finite minimum and maximum, per row where rows decide coherence (rows of
    # `matrix`; otherwise, blocks of one long row).
    matrix = x.flatten(1) if rows or sign_step else x.reshape(1, -1)
    rows_per_chunk = max(1, size // max(1, matrix.shape[1]))
    by_rows = rows and not sign_step
    if by_rows:
        blocks = matrix.split(rows_per_chunk, dim=0)
    else:
        blocks = matrix.reshape(1, -1).split(size, dim=1)
    # Temporaries are allocated once per tensor and reused by every chunk: fresh large
    # allocations come back from the OS each time and cost a page fault per 4 KB.
    # The largest chunk: `size` entries, or whole rows (one row at least).
    whole_rows = rows_per_chunk * matrix.shape[1] if rows or sign_step else 0
    largest = min(numel, max(size, whole_rows))
    masked = torch.empty(largest, dtype=work, device=device)
    if not clean or by_rows:
        lows, highs = [], []
        for block in blocks:
            block = block.to(work)  # half and bfloat16 only: a no-op otherwise
            if not clean:
                out = masked[: block.numel()].view(block.shape)
                lows.append(torch.nan_to_num(block, inf, inf, inf, out=out).amin(dim=1))
                highs.append(torch.nan_to_num(block, -inf, -inf, -inf, out=out).amax(dim=1))
            else:
                lows.append(block.amin(dim=1))
                highs.append(block.amax(dim=1))
        low, high = torch.cat(lows), torch.cat(highs)
    lo, hi = low.min().to(f64), high.max().to(f64)
    if by_rows:  # A row holds a positive (negative) entry iff its finite maximum is > 0 (< 0).
        coherent, nonzero_rows = _coherence(high > 0, low < 0)
    left, right, s, left_s, scale = _binning_t(lo, hi, bins)

    # Pass 2: signs, the bin chain, shifted moments; by whole rows for the sign map.
    sat_lo, sat_hi = _exact_bounds(saturation, x.dtype) if saturation else (0.0, 0.0)
    counts = torch.zeros(bins + 4, dtype=torch.int64, device=device)
    sign_sums, sign_counts, shifted, squares, saturated = [], [], [], [], []
    d_buf, t_buf = (torch.empty(largest, dtype=f64, device=device) for _ in range(2))
    index_buf = torch.empty(largest, dtype=torch.int32, device=device)
    if sign_step:
        chunks = [rows_.reshape(-1) for rows_ in matrix.split(rows_per_chunk)]
        magnitude = torch.empty(largest, dtype=work, device=device)
        # Sums of signs in `work` are exact integers while a block holds at most 2^24
        # entries (float32's): past that, float64, exact to 2^53.
        total = f64 if sign_step > 1 << 24 else work
        shape = (matrix.shape[0], -(-matrix.shape[1] // sign_step))
        net, nonzero = (torch.empty(shape, dtype=total, device=device) for _ in range(2))
        first = 0
    else:
        chunks = x.reshape(-1).split(size)
    # The moments' pivot, scaled (the minimum where the entries taken are not finite);
    # `shift` takes the bin chain's d = x * s - left_s to d = x * s - pivot_s.
    pivot = _spread(chunks[0]).nanmedian().to(f64)
    pivot_s = torch.where(pivot.isfinite(), pivot * s, left_s)
    shift = pivot_s - left_s
    for chunk in chunks:
        n = chunk.numel()
        if chunk.dtype != work:
            chunk = chunk.to(work)
        if sign_step:  # the signs of the finite entries, per block of each row
            if clean:
                sign = torch.sign(chunk, out=masked[:n])
            else:
                sign = torch.nan_to_num(chunk, 0.0, 0.0, 0.0, out=masked[:n]).sign_()
            last = first + n // matrix.shape[1]
            _block_signs(sign, magnitude[:n], sign_step, net[first:last], nonzero[first:last])
            first = last
        else:
            sign = torch.sign(chunk, out=masked[:n])  # sign(NaN) is 0; +-Inf taken out below
            sign_sums.append(sign.sum())  # integers below 2^24: exact even in float32
            sign_counts.append(torch.dot(sign, sign))
        if saturation:
            saturated.append(torch.count_nonzero((chunk < sat_lo) | (chunk > sat_hi)))
        d = d_buf[:n].copy_(chunk).mul_(s).sub_(left_s)
        # Finite t lies in [0, bins + 1): its trunc is the bin, bins meaning the clamp to
        # bins - 1 (done on the counts below). NaN, +Inf and -Inf get marker bins.
        t = torch.mul(d, scale, out=t_buf[:n])
        if not clean:
            t.nan_to_num_(nan=bins + 1, posinf=bins + 2, neginf=bins + 3)
        counts += _count(t, bins + 4, index_buf[:n])
        d.sub_(shift)
        if not clean:
            d.nan_to_num_(0.0, 0.0, 0.0)
        shifted.append(d.sum())
        squares.append(torch.dot(d, d))

    nan, pos_inf, neg_inf = counts[bins + 1], counts[bins + 2], counts[bins + 3]
    counts = torch.cat([counts[: bins - 1], counts[bins - 1 : bins + 1].sum(0, keepdim=True)])
    signs = None
    if sign_step:
        counts_of = torch.int32 if sign_step < 1 << 31 else torch.int64
        signs = torch.stack((nonzero + net, nonzero - net), dim=1).div_(2).to(counts_of)
        per_row = signs.sum(dim=2, dtype=torch.int64)
        positive, negative = per_row.sum(dim=0).to(f64)
        if rows:  # from the signs of the finite entries, as from the extremes above
            coherent, nonzero_rows = _coherence(per_row[:, 0] > 0, per_row[:, 1] > 0)
    else:
        sign_sum = torch.stack(sign_sums).to(f64).sum()
        sign_count = torch.stack(sign_counts).to(f64).sum()
        positive = (sign_count + sign_sum) / 2 - pos_inf
        negative = (sign_count - sign_sum) / 2 - neg_inf
    if saturation:
        sat = torch.stack(saturated).sum()
        sat = sat - pos_inf * (inf > saturation[1]) - neg_inf * (-inf < saturation[0])
    else:
        sat = torch.zeros((), dtype=torch.int64, device=device)
    if not rows:
        coherent = nonzero_rows = torch.zeros((), dtype=torch.int64, device=device)
    scalars = torch.stack(
        [
            torch.full((), numel, dtype=f64, device=device),
            numel - (neg_inf + pos_inf + nan).to(f64),
            positive,
            negative,
            torch.stack(shifted).sum(),
            torch.stack(squares).sum(),
            lo,
            hi,
            coherent.to(f64),
            nonzero_rows.to(f64),
            sat.to(f64),
            s,
            left_s,
            scale,
            left,
            right,
            pivot_s,
        ]
    )
    return Summary(scalars, counts, rows, saturation is not None, dead, EAGER, note, signs)


def _spread(flat, entries: int = 15):
    """`entries` entries spread evenly over the 1-D tensor or array `flat` (all of them
    where it is shorter), whose lower median (an entry itself) is the pivot of the shifted
    sums: one in the bulk of the data (a pivot far from it, the minimum when a sparse
    gradient has one negative entry, costs them digits)."""
    return flat[:: max(1, len(flat) // entries)][:entries]


def _block_signs(sign: Tensor, magnitude: Tensor, step: int, net: Tensor, nonzero: Tensor) -> None:
    """Per block of `step` columns of the rows `net` stands for (the last block may be
    shorter), from the flat signs (-1, 0, 1) of those rows: the sum of the signs
    (positives less negatives) into `net`, of their magnitudes (the nonzero ones) into
    `nonzero`, both along the rows' contiguous entries (`magnitude` is a buffer).
    (count_nonzero along a dim took three times as long as abs and sum.)"""
    rows, blocks = net.shape
    cols = sign.numel() // max(1, rows)
    full = cols // step
    magnitudes = torch.abs(sign, out=magnitude)
    for values, out in ((sign, net), (magnitudes, nonzero)):
        values = values.view(rows, cols)
        if full:
            torch.sum(values[:, : full * step].view(rows, full, step), dim=2, out=out[:, :full])
        if full < blocks:
            torch.sum(values[:, full * step :], dim=1, keepdim=True, out=out[:, full:])


PAIRED_BINS = 64
"""Up to this many bins, the CPU counts pairs of entries (n^2 bins: 32 KB at most)."""


def _count(t: Tensor, n: int, index: Tensor) -> Tensor:
    """int64 counts of trunc(t) for t in [0, n): bincount on the CPU (`index` is a buffer
    for the integers); elsewhere histc of trunc(t) over [0, n] (exact: integer t lands in
    bin t), since bincount reads its maximum back to the host on CUDA, a synchronisation
    per chunk. A chunk holds at most 2^24 entries, so histc's float counts stay exact.

    bincount costs per entry, on one thread: with few bins, the entries of the two halves
    are counted as pairs, a * n + b, in n^2 bins, whose row and column sums are the
    counts of a and of b. Half the entries: 0.65 of the time, with the pairing.
    """
    if _counts_by_histc(t.device):
        return torch.histc(t.trunc_(), bins=n, min=0, max=n).to(torch.int64)
    index = index.copy_(t)  # the copy truncates
    half = index.numel() // 2
    if n > PAIRED_BINS or half == 0:
        return torch.bincount(index, minlength=n)
    pairs = index[half : 2 * half].add_(index[:half], alpha=n)  # the buffer is scratch
    grid = torch.bincount(pairs, minlength=n * n).view(n, n)
    counts = grid.sum(dim=0) + grid.sum(dim=1)
    if 2 * half < index.numel():  # an odd entry out
        counts += torch.bincount(index[2 * half :], minlength=n)
    return counts


def _counts_by_histc(device: torch.device) -> bool:
    return device.type != "cpu"


def _read_without_waiting(device: torch.device) -> bool:
    """Whether the host reads a figure of a tensor on `device` without waiting for it."""
    return device.type == "cpu"


def _exact_bounds(saturation: tuple[float, float], dtype: torch.dtype) -> tuple[float, float]:
    """Saturation bounds that compare exactly in `dtype`: torch compares a float32 tensor
    with a Python float in float32, so x < 0.03 would really test x < float32(0.03). For
    float32 x, x < lo iff x < (smallest float32 >= lo), and x > hi iff x > (largest
    float32 <= hi)."""
    lo, hi = saturation
    if dtype == torch.float64:
        return lo, hi
    with np.errstate(over="ignore"):
        lo32, hi32 = np.float32(lo), np.float32(hi)
    if float(lo32) < lo:  # compared in float64: numpy would compare in float32
        lo32 = np.nextafter(lo32, np.float32(math.inf))
    if float(hi32) > hi:
        hi32 = np.nextafter(hi32, np.float32(-math.inf))
    return float(lo32), float(hi32)


def _chunk_size(device: torch.device) -> int:
    return CHUNK_ELEMENTS if device.type == "cpu" else DEVICE_CHUNK_ELEMENTS


def norm(x: Tensor) -> Tensor:
    """Frobenius norm accumulated in float64, as a 0-d device tensor; scaled by a power of
    two from max |x| where the squares overflow or underflow."""
    x = x.detach()
    if _fused_unavailable(x) is None:
        compiled, array = kernels.ready(), _as_rows(x)
        total = compiled.square_sum(array, 1.0)
        s = 1.0
        # Underflowed squares matter only if the total is tiny; overflow shows as inf.
        if not 2.0**-900 <= total < math.inf:
            low, high = torch.aminmax(x)
            s = _power_of_two(max(-float(low), float(high)))
            total = compiled.square_sum(array, s)
        return torch.tensor(math.sqrt(total) / s, dtype=torch.float64)
    if x.numel() == 0:
        return torch.zeros((), dtype=torch.float64, device=x.device)
    chunks = x.reshape(-1).split(_chunk_size(x.device))
    extremes = torch.stack([torch.stack(torch.aminmax(c)) for c in chunks])  # NaN propagates
    largest = torch.maximum(-extremes[:, 0].amin(), extremes[:, 1].amax()).to(torch.float64)
    s = _power_of_two_t(largest.nan_to_num(0.0))
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    buffer = torch.empty(chunks[0].numel(), dtype=torch.float64, device=x.device)
    for chunk in chunks:
        values = buffer[: chunk.numel()].copy_(chunk).mul_(s)
        total += torch.dot(values, values)
    return total.sqrt() / s


# -- the host side ---------------------------------------------------------------------


def collect(
    summaries: list[Summary], extras: list[Tensor] | None = None
) -> tuple[list[TensorStats], list[float]]:
    """Move every summary (and extra 0-d tensors) to the host in one transfer."""
    extras = extras or []
    if not summaries and not extras:
        return [], []
    device = (summaries[0].scalars if summaries else extras[0]).device
    pieces = [s.scalars for s in summaries]
    pieces += [s.counts.to(torch.float64) for s in summaries]
    pieces += [e.reshape(1).to(device=device, dtype=torch.float64) for e in extras]
    host = torch.cat(pieces).cpu().tolist()

    values = [host[i * _NSCALARS : (i + 1) * _NSCALARS] for i in range(len(summaries))]
    edges = bin_edges_of(
        [
            (v[_LEFT], v[_RIGHT], v[_S], v[_LEFT_S], v[_SCALE], s.counts.numel())
            for v, s in zip(values, summaries)
        ]
    )
    stats = []
    offset_counts = _NSCALARS * len(summaries)
    for v, e, summary in zip(values, edges, summaries):
        bins = summary.counts.numel()
        counts = [int(c) for c in host[offset_counts : offset_counts + bins]]
        offset_counts += bins
        stats.append(_finish(v, counts, e, summary))
    return stats, host[offset_counts:]


def _finish(v: list[float], counts: list[int], edges: list[float], summary: Summary) -> TensorStats:
    numel = int(v[_NUMEL])
    finite = int(v[_FINITE])
    pos, neg = int(v[_POS]), int(v[_NEG])
    zero = finite - pos - neg
    denominator = numel or 1
    s, pivot_s = v[_S], v[_PIVOT_S]
    mean = std = None
    # No finite entry: no norm either (NaN, written as null), unless there is no entry.
    norm_value = 0.0 if numel == 0 else math.nan
    if finite and v[_MIN] == v[_MAX]:  # every finite entry is the same number
        mean = v[_MIN] + 0.0
        std = 0.0 if finite > 1 else None
        norm_value = abs(mean) * math.sqrt(finite)
    elif finite:
        shifted_mean = v[_SHIFTED] / finite
        mean_s = pivot_s + shifted_mean
        m2 = max(0.0, v[_SQUARES] - v[_SHIFTED] * shifted_mean)
        mean = mean_s / s
        std = math.sqrt(m2 / (finite - 1)) / s if finite > 1 else None
        norm_value = math.sqrt(m2 + finite * mean_s * mean_s) / s
    row_coherence = None
    if summary.rows and v[_NONZERO_ROWS] > 0:
        row_coherence = v[_COHERENT] / v[_NONZERO_ROWS]
    return TensorStats(
        numel=numel,
        pos=pos / denominator,
        neg=neg / denominator,
        zero=zero / denominator,
        nonfinite=numel - finite,
        mean=mean,
        std=std,
        # + 0.0: the extremes of -0.0 and 0.0 are either, by path and chunk; 0.0 always.
        min=v[_MIN] + 0.0 if finite else None,
        max=v[_MAX] + 0.0 if finite else None,
        norm=norm_value,
        hist=Histogram(edges=edges, counts=counts),
        row_coherence=row_coherence,
        saturated=v[_SATURATED] / denominator if summary.saturation else None,
        dead=zero / denominator if summary.dead else None,
    )


def row_coherence(matrix: Tensor) -> Tensor:
    """Fraction of rows whose nonzero entries all share one sign, as a 0-d float64 tensor
    on the matrix's device; NaN when no row has a nonzero entry. For small matrices (the
    updates of a training step); `summarize` measures large ones in chunks."""
    coherent, moving = (count.double() for count in _row_sign_counts(matrix > 0, matrix < 0))
    return torch.where(moving > 0, coherent / moving.clamp(min=1), math.nan)


def _row_sign_counts(positive: Tensor, negative: Tensor) -> tuple[Tensor, Tensor]:
    """(rows with entries of one sign only, rows with any nonzero entry), from the masks
    of entries > 0 and < 0 of a 2-D tensor."""
    return _coherence(positive.any(dim=1), negative.any(dim=1))


def _coherence(has_pos: Tensor, has_neg: Tensor) -> tuple[Tensor, Tensor]:
    """(rows with entries of one sign only, rows with any nonzero entry), from whether
    each row has an entry > 0 and one < 0."""
    return torch.count_nonzero(has_pos ^ has_neg), torch.count_nonzero(has_pos | has_neg)
