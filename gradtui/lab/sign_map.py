"""The sign map of a weight gradient: counts of positive and negative entries per block.

`queue` computes one layer's map on the gradient's device without waiting for it;
`collect` moves every queued map to the host in one transfer. The probe queues the maps
before `stats.collect`, whose one wait covers them, so `collect` here only copies.

Rows are cut into at most ROWS blocks and columns into at most COLS, of equal size (the
last one shorter). A row's sign class (+1 all nonzero entries positive, -1 all negative,
0 mixed or all zero) is computed per row; the map is computed twice, with the rows in
neuron order and sorted by class, because sorting must happen before rows are grouped.

Two paths give the same counts: the fused numba kernel (CPU, float32/64) reads the
gradient once; plain torch ops serve every other case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gradtui.lab import kernels, stats
from gradtui.result import SIGN_ORDER, SignMap

ROWS = 64
"""Most blocks down (output neurons)."""
COLS = 128
"""Most blocks across (inputs)."""
KERNEL_MAX_STEP = 1 << 15
"""The fused kernel counts a block in one int32 (two 16-bit halves): narrower blocks only."""


def block_step(n: int, most: int) -> int:
    """Entries per block when `n` are cut into at most `most` blocks of equal size."""
    return max(1, -(-n // most))


def block_edges(n: int, step: int) -> list[int]:
    return [*range(0, n, step), n] if n else [0]


@dataclass
class PendingSignMap:
    """One layer's map on the device, not yet moved to the host."""

    rows: int
    cols: int
    row_step: int
    col_step: int
    pieces: list[Tensor]
    """int64 tensors: pos, neg, sorted pos, sorted neg (blocks x blocks), row signs."""


def queue(grad: Tensor) -> PendingSignMap:
    """Queue the sign map of a 2-D gradient (rows: output neurons) on its device."""
    matrix = grad.detach()
    matrix = matrix.flatten(1)  # (0, 5) stays (0, 5): reshape(0, -1) is ambiguous
    rows, cols = matrix.shape
    row_step, col_step = block_step(rows, ROWS), block_step(cols, COLS)
    per_row = _per_row_fused(matrix, col_step)
    if per_row is None:
        per_row = _per_row_eager(matrix, col_step)
    # (rows, [pos, neg], column blocks): every sum below runs along contiguous entries.
    # Laid out (rows, blocks, 2), the sums across the pair and the reordering of rows
    # took ten times as long as the counting itself.
    per_row = per_row.to(matrix.device)
    totals = per_row.sum(dim=2)
    signs = (totals[:, 0] > 0).long() - (totals[:, 1] > 0).long()  # both or neither: 0
    # torch.where, not masked assignment, which would wait for the device on CUDA.
    key = torch.where(
        signs == 1, SIGN_ORDER[1], torch.where(signs == -1, SIGN_ORDER[-1], SIGN_ORDER[0])
    )
    order = torch.sort(key, stable=True).indices
    blocks = _group_rows(per_row, row_step)
    ordered = _group_rows(per_row.index_select(0, order), row_step)
    pieces = [blocks[:, 0], blocks[:, 1], ordered[:, 0], ordered[:, 1], signs]
    return PendingSignMap(rows, cols, row_step, col_step, pieces)


def collect(pending: list[PendingSignMap]) -> list[SignMap]:
    """Move every queued map to the host in one transfer."""
    if not pending:
        return []
    host = torch.cat([piece.reshape(-1) for p in pending for piece in p.pieces]).cpu()
    maps = []
    offset = 0
    for p in pending:
        parts = []
        for piece in p.pieces:
            size = piece.numel()
            parts.append(host[offset : offset + size].reshape(piece.shape).tolist())
            offset += size
        pos, neg, sorted_pos, sorted_neg, signs = parts
        maps.append(
            SignMap(
                rows=p.rows,
                cols=p.cols,
                row_edges=block_edges(p.rows, p.row_step),
                col_edges=block_edges(p.cols, p.col_step),
                pos=pos,
                neg=neg,
                sorted_pos=sorted_pos,
                sorted_neg=sorted_neg,
                row_signs=signs,
            )
        )
    return maps


def _per_row_fused(matrix: Tensor, step: int) -> Tensor | None:
    """(rows, 2, column blocks) counts (positive, negative) from the numba kernel; None
    where it does not apply (see stats._fused_unavailable, or blocks too wide for it)."""
    if step >= KERNEL_MAX_STEP or stats._fused_unavailable(matrix) is not None:
        return None
    compiled, array = kernels.ready(), stats._as_rows(matrix)
    out = np.empty((array.shape[0], 2, -(-array.shape[1] // step)), dtype=np.int64)
    compiled.sign_blocks(array, step, out)
    return torch.from_numpy(out)


def _per_row_eager(matrix: Tensor, step: int) -> Tensor:
    """The same counts with plain torch ops, in row chunks, on any device and dtype. Per
    chunk: the signs of the finite entries (NaN and +-Inf as 0), then per block their sum
    (positives less negatives) and how many are nonzero, both reductions along rows'
    contiguous entries; positives and negatives follow. (Comparisons stacked into a
    (..., 2) layout and summed across it took 2.5 times as long on the CPU.)"""
    rows, cols = matrix.shape
    full = cols // step
    blocks = -(-cols // step)
    if rows == 0 or cols == 0:
        return torch.zeros((rows, 2, blocks), dtype=torch.int64, device=matrix.device)
    work = matrix.dtype if matrix.dtype in (torch.float32, torch.float64) else torch.float32
    rows_per_chunk = max(1, stats._chunk_size(matrix.device) // cols)
    buffer = torch.empty(min(rows, rows_per_chunk) * cols, dtype=work, device=matrix.device)
    # float32 sums of signs are exact while a block holds at most 2^24 entries.
    total_dtype = torch.float64 if step > 1 << 24 else None
    parts = []
    for chunk in matrix.split(rows_per_chunk):
        signs = buffer[: chunk.numel()].view(chunk.shape)
        torch.nan_to_num(chunk.to(work), 0.0, 0.0, 0.0, out=signs).sign_()
        pieces = [signs[:, : full * step].unflatten(1, (full, step))]
        if full < blocks:
            pieces.append(signs[:, full * step :].unsqueeze(1))
        net = torch.cat([p.sum(dim=2, dtype=total_dtype) for p in pieces], dim=1).long()
        nonzero = torch.cat([torch.count_nonzero(p, dim=2) for p in pieces], dim=1)
        parts.append(torch.stack(((nonzero + net) // 2, (nonzero - net) // 2), dim=1))
    return torch.cat(parts)


def _group_rows(per_row: Tensor, step: int) -> Tensor:
    """Sum consecutive groups of `step` rows (the last group shorter)."""
    rows = per_row.shape[0]
    groups = -(-rows // step)
    padding = groups * step - rows
    if padding:
        zeros = per_row.new_zeros((padding, *per_row.shape[1:]))
        per_row = torch.cat((per_row, zeros))
    return per_row.reshape(groups, step, *per_row.shape[1:]).sum(dim=1)
