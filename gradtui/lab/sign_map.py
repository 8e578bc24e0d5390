"""The sign map of a weight gradient: counts of positive and negative entries per block.

`measure` queues one layer's statistics and map on the gradient's device without
waiting for it: the statistics pass counts the signs of each block of each row as it
reads the gradient (stats.summarize with `sign_step`), and the map is grouped from those
counts. `collect` moves every queued map to the host in one transfer. The probe queues
the maps before `stats.collect`, whose one wait covers them, so `collect` here only copies.

Rows are cut into at most ROWS blocks and columns into at most COLS, of equal size (the
last one shorter). A row's sign class (+1 all nonzero entries positive, -1 all negative,
0 mixed or all zero) is computed per row; the map is computed twice, with the rows in
neuron order and sorted by class, because sorting must happen before rows are grouped.
Both statistics paths (the fused numba kernel, plain torch) give the same counts.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import torch
from torch import Tensor

from gradtui.lab import stats
from gradtui.result import SIGN_ORDER, SignMap

ROWS = 64
"""Most blocks down (output neurons)."""
COLS = 128
"""Most blocks across (inputs)."""


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


def measure(grad: Tensor, bins: int) -> tuple[stats.Summary, PendingSignMap]:
    """The statistics of a gradient of 2 dims or more and its sign map, queued on its
    device from one pass over it."""
    cols = math.prod(grad.shape[1:])
    col_step = block_step(cols, COLS)
    summary = stats.summarize(grad, bins, rows=True, sign_step=col_step)
    pending = _pending(summary.signs, cols, col_step)
    stats.release(summary)  # grouped: the counts per row are no longer needed
    return summary, pending


def queue(grad: Tensor) -> PendingSignMap:
    """The sign map alone (`measure` gives it with the statistics, at no extra pass)."""
    return measure(grad, 1)[1]


def _pending(per_row: Tensor, cols: int, col_step: int) -> PendingSignMap:
    """Group per-row counts (rows, [pos, neg], column blocks) into the map's blocks, in
    neuron order and sorted by each row's sign class. Every sum runs along contiguous
    entries (laid out (rows, blocks, 2), the sums across the pair and the reordering of
    rows took ten times as long as the counting itself), in int32 where no sum can reach
    2^31 (int64 sums of int32 counts took 3 to 5 times as long)."""
    rows = per_row.shape[0]
    row_step = block_step(rows, ROWS)
    exact = torch.int32 if rows * cols < 1 << 31 else torch.int64
    totals = per_row.sum(dim=2, dtype=exact)
    signs = (totals[:, 0] > 0).long() - (totals[:, 1] > 0).long()  # both or neither: 0
    # torch.where, not masked assignment, which would wait for the device on CUDA.
    key = torch.where(
        signs == 1, SIGN_ORDER[1], torch.where(signs == -1, SIGN_ORDER[-1], SIGN_ORDER[0])
    )
    order = torch.sort(key, stable=True).indices
    blocks = _group_rows(per_row, row_step, exact)
    ordered = _group_rows(_in_order(per_row, order), row_step, exact)
    pieces = [blocks[:, 0], blocks[:, 1], ordered[:, 0], ordered[:, 1], signs]
    return PendingSignMap(rows, cols, row_step, col_step, [p.long() for p in pieces])


_scratch = threading.local()
"""This thread's tensor for the rows of a map in sorted order (see `_in_order`)."""


def _in_order(per_row: Tensor, order: Tensor) -> Tensor:
    """The rows of `per_row` in `order`, written where the last map's were in this thread
    (a fresh copy, 2-4 MB for a 2048-4096 row gradient, costs a page fault per 4 KB:
    1-5 ms on a small cloud machine, more than the rest of the map; index_add_ into
    the sorted blocks, with no copy, took 0.6 ms a map on one thread)."""
    size = per_row.numel()
    buffer = getattr(_scratch, "rows", None)
    if (
        buffer is None
        or buffer.numel() < size
        or (buffer.dtype, buffer.device) != (per_row.dtype, per_row.device)
    ):
        buffer = _scratch.rows = torch.empty(size, dtype=per_row.dtype, device=per_row.device)
    return torch.index_select(per_row, 0, order, out=buffer[:size].view(per_row.shape))


def collect(pending: list[PendingSignMap]) -> list[SignMap]:
    """Move every queued map to the host in one transfer. The maps hold numpy views of
    it, which become lists only when read (SignMap)."""
    if not pending:
        return []
    host = torch.cat([piece.reshape(-1) for p in pending for piece in p.pieces]).cpu().numpy()
    maps = []
    offset = 0
    for p in pending:
        parts = []
        for piece in p.pieces:
            size = piece.numel()
            parts.append(host[offset : offset + size].reshape(piece.shape))
            offset += size
        maps.append(
            SignMap(
                p.rows,
                p.cols,
                block_edges(p.rows, p.row_step),
                block_edges(p.cols, p.col_step),
                *parts,
            )
        )
    return maps


def _group_rows(per_row: Tensor, step: int, dtype: torch.dtype) -> Tensor:
    """Sum consecutive groups of `step` rows (the last group shorter), in `dtype`."""
    rows = per_row.shape[0]
    groups = -(-rows // step)
    padding = groups * step - rows
    if padding:
        zeros = per_row.new_zeros((padding, *per_row.shape[1:]))
        per_row = torch.cat((per_row, zeros))
    return per_row.reshape(groups, step, *per_row.shape[1:]).sum(dim=1, dtype=dtype)
