"""Tensor statistics, computed on the tensor's own device.

`summarize` queues every figure of one tensor without waiting for the device; `collect`
moves all queued summaries to the host in one transfer and turns them into
`TensorStats`. So a probe waits for the device once, however many layers it has.

Two paths give the same figures (the tests hold both to one float64 reference):
- fused (CPU, float32/float64, all finite): torch's aminmax, then the numba kernels of
  kernels.py, three reads of the tensor in all;
- eager (any device, any dtype, NaN/Inf, or before the kernels are compiled): plain torch
  ops over row chunks, with no host synchronisation.

Exactness (each point was measured to fail in the obvious implementation):
- counts are integers (int64 bincount or kernel counters), never `histc`, whose float32
  bins stop counting at 2^24 and whose half/bfloat16 bins stop far earlier;
- sums and squares accumulate in float64, and the variance comes from deviations (from
  the mean, or from a pivot inside the range), never E[x^2] - E[x]^2, which loses every
  digit when |mean| >> std (post-sigmoid activations);
- NaN/Inf are counted once and masked out of every other figure;
- min == max, empty tensors and single entries have their own well-defined answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor

from gradtui.lab import kernels
from gradtui.result import Histogram, TensorStats

CHUNK_ELEMENTS = 1 << 18
"""Elements per chunk on the CPU: big enough to amortise op overhead, small enough that
the temporaries stay in cache."""
DEVICE_CHUNK_ELEMENTS = 1 << 24
"""Elements per chunk on an accelerator, where each op is a kernel launch."""

# Layout of the per-tensor vector of float64 scalars.
_NUMEL, _FINITE, _POS, _NEG, _SUM, _MIN, _MAX, _M2, _COHERENT, _NONZERO_ROWS, _SATURATED = range(11)
_NSCALARS = 11


@dataclass
class Summary:
    """Device-side figures of one tensor, not yet moved to the host."""

    scalars: Tensor
    """float64 vector in the layout above."""
    counts: Tensor
    """int64 histogram counts, `bins` long."""
    rows: bool
    saturation: tuple[float, float] | None
    dead: bool


def summarize(
    x: Tensor,
    bins: int,
    *,
    rows: bool = False,
    saturation: tuple[float, float] | None = None,
    dead: bool = False,
) -> Summary:
    """Queue the statistics of `x` on its device.

    rows: also measure row sign coherence (x is 2-D, one row per output neuron).
    saturation: (low, high): count entries below low or above high as saturated.
    dead: report the fraction of exact zeros as `dead` (ReLU outputs).
    """
    x = x.detach()
    fused = _summarize_fused(x, bins, rows=rows, saturation=saturation, dead=dead)
    if fused is not None:
        return fused
    return _summarize_eager(x, bins, rows=rows, saturation=saturation, dead=dead)


def _summarize_fused(
    x: Tensor, bins: int, *, rows: bool, saturation: tuple[float, float] | None, dead: bool
) -> Summary | None:
    """The CPU path through the fused kernels; None where it does not apply (see
    `_kernel_input`, or NaN/Inf present)."""
    fused = _kernel_input(x)
    if fused is None:
        return None
    compiled, array = fused
    low, high = torch.aminmax(x)
    lo, hi = float(low), float(high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN or Inf: the eager path masks
        return None
    rows = rows and x.dim() >= 2
    numel = array.size
    pivot = (lo + hi) / 2
    per_row = np.empty((array.shape[0], 4))
    compiled.row_pass(array, pivot, per_row)
    shifted, squares = float(per_row[:, 0].sum()), float(per_row[:, 1].sum())
    m2 = max(0.0, squares - shifted * shifted / numel)
    left, right = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    blocks = max(1, min(array.shape[0], 8))
    counts = compiled.hist_pass(array, left, bins / (right - left), bins, blocks)
    counts[bins - 1] += counts[bins]  # the maximum sits on the last edge: last bin
    positive, negative = per_row[:, 2] > 0, per_row[:, 3] > 0
    saturated = int(_saturated(x, saturation)) if saturation else 0
    scalars = torch.tensor(
        [
            numel,
            numel,
            per_row[:, 2].sum(),
            per_row[:, 3].sum(),
            numel * pivot + shifted,
            lo,
            hi,
            m2,
            np.count_nonzero(positive ^ negative) if rows else 0,
            np.count_nonzero(positive | negative) if rows else 0,
            saturated,
        ],
        dtype=torch.float64,
    )
    return Summary(scalars, torch.from_numpy(counts[:bins]), rows, saturation, dead)


def _kernel_input(x: Tensor) -> tuple[SimpleNamespace, np.ndarray] | None:
    """The compiled kernels and `x` as a C-contiguous 2-D array (rows kept, 1-D as one
    row), where the fused path applies: on the CPU, float32/64, not empty, compiled."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    compiled = kernels.ready()
    if compiled is None or x.numel() == 0:
        return None
    matrix = x.reshape(x.shape[0], -1) if x.dim() >= 2 else x.reshape(1, -1)
    return compiled, matrix.contiguous().numpy()


def _saturated(x: Tensor, saturation: tuple[float, float], finite: Tensor | None = None) -> Tensor:
    """Count of entries in the activation's flat region (of the `finite` ones where
    given), as a device tensor."""
    low, high = saturation
    flat = (x < low) | (x > high)
    return torch.count_nonzero(flat if finite is None else flat & finite)


def _summarize_eager(
    x: Tensor, bins: int, *, rows: bool, saturation: tuple[float, float] | None, dead: bool
) -> Summary:
    """Plain torch ops, on any device, masking NaN/Inf; the host never waits here."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    device = x.device
    f64 = torch.float64
    numel = x.numel()
    scalars = torch.zeros(_NSCALARS, dtype=f64, device=device)
    counts = torch.zeros(bins + 1, dtype=torch.int64, device=device)
    scalars[_NUMEL] = numel
    if numel == 0:
        return Summary(scalars, counts[:bins], rows, saturation, dead)

    rows = rows and x.dim() >= 2
    matrix = x.reshape(x.shape[0], -1) if rows else x.reshape(-1, 1)
    chunks = _chunks(matrix, _chunk_size(device))

    # Pass 1: finite count, signs, sum, min, max, row coherence, saturation.
    total = torch.zeros(7, dtype=f64, device=device)
    lo = torch.full((), math.inf, dtype=f64, device=device)
    hi = torch.full((), -math.inf, dtype=f64, device=device)
    for chunk in chunks:
        finite = torch.isfinite(chunk)
        clean = torch.where(finite, chunk, 0)
        positive = clean > 0
        negative = clean < 0
        parts = [
            torch.count_nonzero(finite),
            torch.count_nonzero(positive),
            torch.count_nonzero(negative),
            clean.sum(dtype=f64),
        ]
        if rows:
            parts += _row_sign_counts(positive, negative)
        else:
            parts += [torch.zeros((), device=device), torch.zeros((), device=device)]
        parts.append(
            _saturated(clean, saturation, finite) if saturation else torch.zeros((), device=device)
        )
        total += torch.stack([p.to(f64) for p in parts])
        lo = torch.minimum(lo, torch.where(finite, chunk, math.inf).amin().to(f64))
        hi = torch.maximum(hi, torch.where(finite, chunk, -math.inf).amax().to(f64))

    n_finite = total[0]
    empty = n_finite == 0
    mean = total[3] / n_finite.clamp(min=1)
    # Histogram range, with numpy's conventions for an empty and a constant tensor.
    left = torch.where(empty, 0.0, lo)
    right = torch.where(empty, 1.0, hi)
    flat = right <= left
    left, right = torch.where(flat, left - 0.5, left), torch.where(flat, right + 0.5, right)
    scale = bins / (right - left)

    # Pass 2: squared deviations from the mean, histogram.
    m2 = torch.zeros((), dtype=f64, device=device)
    for chunk in chunks:
        finite = torch.isfinite(chunk).reshape(-1)
        values = chunk.reshape(-1).to(f64)
        deviation = (values - mean).masked_fill_(~finite, 0.0)
        m2 += torch.dot(deviation, deviation)
        index = ((values - left) * scale).nan_to_num_(0.0, 0.0, 0.0).clamp_(0, bins - 1).long()
        index.masked_fill_(~finite, bins)
        counts += torch.bincount(index, minlength=bins + 1)

    scalars[_FINITE : _SUM + 1] = total[:4]
    scalars[_MIN] = lo
    scalars[_MAX] = hi
    scalars[_M2] = m2
    scalars[_COHERENT:] = total[4:]
    return Summary(scalars, counts[:bins], rows, saturation, dead)


def _chunk_size(device: torch.device) -> int:
    return CHUNK_ELEMENTS if device.type == "cpu" else DEVICE_CHUNK_ELEMENTS


def _chunks(matrix: Tensor, size: int) -> list[Tensor]:
    """Split a 2-D tensor into row blocks of about `size` entries."""
    per_row = max(1, matrix.shape[1])
    rows_per_chunk = max(1, size // per_row)
    return list(matrix.split(rows_per_chunk, dim=0))


def norm(x: Tensor) -> Tensor:
    """Frobenius norm accumulated in float64, as a 0-d device tensor."""
    x = x.detach()
    fused = _kernel_input(x)
    if fused is not None:
        compiled, array = fused
        return torch.tensor(compiled.square_sum(array), dtype=torch.float64).sqrt()
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for chunk in x.reshape(-1).split(_chunk_size(x.device)):
        values = chunk.to(torch.float64)
        total += torch.dot(values, values)
    return total.sqrt()


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

    stats = []
    offset_counts = _NSCALARS * len(summaries)
    for i, summary in enumerate(summaries):
        values = host[i * _NSCALARS : (i + 1) * _NSCALARS]
        bins = summary.counts.numel()
        counts = [int(c) for c in host[offset_counts : offset_counts + bins]]
        offset_counts += bins
        stats.append(_finish(values, counts, summary))
    return stats, host[offset_counts:]


def _finish(v: list[float], counts: list[int], summary: Summary) -> TensorStats:
    numel = int(v[_NUMEL])
    finite = int(v[_FINITE])
    pos, neg = int(v[_POS]), int(v[_NEG])
    zero = finite - pos - neg
    denominator = numel or 1
    mean = v[_SUM] / finite if finite else None
    std = math.sqrt(v[_M2] / (finite - 1)) if finite > 1 else None
    norm_value = math.sqrt(v[_M2] + finite * mean * mean) if finite else 0.0
    lo, hi = (v[_MIN], v[_MAX]) if finite else (0.0, 1.0)
    if finite and lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    bins = len(counts)
    edges = [lo + (hi - lo) * i / bins for i in range(bins)] + [hi]
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
        min=v[_MIN] if finite else None,
        max=v[_MAX] if finite else None,
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
    row_positive = positive.any(dim=1)
    row_negative = negative.any(dim=1)
    return (
        torch.count_nonzero(row_positive ^ row_negative),
        torch.count_nonzero(row_positive | row_negative),
    )
