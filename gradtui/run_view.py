"""What `gradtui open` shows of a recorded run, as plain data: the recorded steps to
scrub through, the table of every parameter at a step, and the clipped ranges of a
histogram and of the distribution bands. No Textual and no torch: the RunScreen, the
charts (run_plots.py) and the tests read it."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from gradtui.result import Entry, Histogram, SignMap
from gradtui.runfile import BAND_PERCENTILES, PARAM, Recorded
from gradtui.table import Cell, Column, number, percent, short_name

HIST_CLIP = (1.0, 99.0)
"""A clipped histogram keeps the bins between these percentiles of its entries."""
BAND_CLIP = (1, 7)
"""A clipped band chart's value range spans its inner bands over the run: from the
lowest BAND_PERCENTILES[1] (6.68th) to the highest BAND_PERCENTILES[7] (93.32nd)."""
BAND_MARGIN = 0.1
"""Room around the clipped bands, as a share of their span."""


class StepRefused(ValueError):
    """A typed step that cannot be shown; the message says why and what can be."""


# -- steps -------------------------------------------------------------------------------


def nearest_steps(steps: list[int], step: int) -> tuple[int | None, int | None]:
    """The recorded steps just below and just above `step` (None past either end)."""
    i = bisect.bisect_left(steps, step)
    below = steps[i - 1] if i > 0 else None
    j = bisect.bisect_right(steps, step)
    above = steps[j] if j < len(steps) else None
    return below, above


def parse_step(text: str, steps: list[int]) -> int:
    """The recorded step that `text` names; StepRefused, naming the nearest recorded
    steps, for any other."""
    text = text.strip()
    try:
        step = int(text)
    except ValueError:
        raise StepRefused(f"type a step number, not {text!r}") from None
    if not steps:
        raise StepRefused("no step is recorded yet")
    i = bisect.bisect_left(steps, step)
    if i < len(steps) and steps[i] == step:
        return step
    below, above = nearest_steps(steps, step)
    if below is None:
        near = f"the first recorded is {above}"
    elif above is None:
        near = f"the last recorded is {below}"
    else:
        near = f"the nearest recorded are {below} and {above}"
    every = "" if len(steps) < 2 else f" (every {steps[1] - steps[0]})"
    raise StepRefused(f"step {step} was not recorded{every}; {near}")


def moved(steps: list[int], step: int | None, by: int) -> int | None:
    """The recorded step `by` recorded steps from `step` (clamped to the run)."""
    if not steps:
        return None
    if step is None:
        return steps[-1]
    i = bisect.bisect_left(steps, step)
    return steps[max(0, min(len(steps) - 1, i + by))]


# -- the table at a step -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One parameter at the shown step."""

    name: str
    shape: tuple[int, ...] | None
    rec: Recorded | None
    """None: not recorded at this step."""


def _grad(row: Row):
    return None if row.rec is None else row.rec.stats


def _share(key: str):
    def cell(row: Row) -> Cell:
        g = _grad(row)
        if g is None or not g.has_finite:
            return Cell("-")
        return Cell(percent(getattr(g, key)), "strong" if key != "zero" and g.one_signed else None)

    return cell


def _coherence(row: Row) -> Cell:
    g = _grad(row)
    value = None if g is None else g.row_coherence
    return Cell(percent(value), "strong" if value == 1.0 else None)


def _norm(row: Row) -> Cell:
    g = _grad(row)
    return Cell("-" if g is None else number(g.norm))


def _param_norm(row: Row) -> Cell:
    return Cell("-" if row.rec is None else number(row.rec.param_norm))


def _update(row: Row) -> Cell:
    ratio = None if row.rec is None else row.rec.update_ratio
    return Cell(ratio_text(ratio))


def _nonfinite(row: Row) -> Cell:
    g = _grad(row)
    if g is None:
        return Cell("-")
    return Cell(str(g.nonfinite), "error" if g.nonfinite else None)


def shape_text(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "x".join(str(n) for n in shape) or "scalar"


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


COLUMNS = [
    Column("name", "the parameter's qualified name", lambda r: Cell(short_name(r.name)), 0, True),
    Column("shape", "shape of the parameter", lambda r: Cell(shape_text(r.shape)), 5, True),
    Column("+", "% of gradient entries > 0", _share("pos"), 1),
    Column("-", "% of gradient entries < 0", _share("neg"), 1),
    Column("0", "% of gradient entries == 0", _share("zero"), 6),
    Column("row coh", "% of neurons whose incoming gradients share one sign", _coherence, 0),
    Column("|g|", "norm of the gradient", _norm, 2),
    Column("|w|", "norm of the parameter", _param_norm, 4),
    Column("upd:data", "log10 std(update)/std(W) of the next step; healthy near -3", _update, 2),
    Column("NaN/Inf", "non-finite entries of the gradient", _nonfinite, 3),
]
"""The table of every parameter at the shown step (as `gradtui history` prints its
last step), in display order; `keep` ranks which columns stay when space runs out."""


def parameters(params: list[tuple[str, str, tuple[int, ...] | None]]) -> list[tuple]:
    """(name, shape) of the recorded parameters, in module order (outputs left out)."""
    return [(name, shape) for name, kind, shape in params if kind == PARAM]


def rows(names: list[tuple], at_step: dict[str, Recorded]) -> list[Row]:
    return [Row(name, shape, at_step.get(name)) for name, shape in names]


def cells(shown: list[Row]) -> list[list[Cell]]:
    return [[column.cell(row) for column in COLUMNS] for row in shown]


def entry(row: Row, sign_map: SignMap | None) -> Entry | None:
    """The Entry the sign map draws (gradtui.sign_map), None without a gradient."""
    g = _grad(row)
    if g is None:
        return None
    shape = row.shape or ()
    return Entry(row.name, "", row.name, tuple(shape), g, sign_map=sign_map)


# -- clipping --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClippedHistogram:
    hist: Histogram
    """The bins kept."""
    below: int
    """Entries in the bins left out on the left."""
    above: int
    total: int


def clip_histogram(hist: Histogram, low: float = HIST_CLIP[0], high: float = HIST_CLIP[1]):
    """The smallest run of whole bins that leaves out at most `low`% of the entries on
    the left and 100 - `high`% on the right. An outlier stretches the bins' range; this
    cuts the empty stretch away. The counts left out are exact."""
    counts = hist.counts
    total = sum(counts)
    if total == 0 or not counts:
        return ClippedHistogram(hist, 0, 0, total)
    left_room, right_room = total * low / 100, total * (100 - high) / 100
    first, below = 0, 0
    while first < len(counts) - 1 and below + counts[first] <= left_room:
        below += counts[first]
        first += 1
    last, above = len(counts) - 1, 0
    while last > first and above + counts[last] <= right_room:
        above += counts[last]
        last -= 1
    kept = Histogram(hist.edges[first : last + 2], counts[first : last + 1])
    return ClippedHistogram(kept, below, above, total)


@dataclass(frozen=True)
class BandRange:
    low: float
    high: float
    clipped_steps: int
    """Steps whose min or max lies outside [low, high]."""
    steps: int
    """Steps with bands."""


def band_range(bands: list[tuple[int, tuple[float, ...]]]) -> BandRange | None:
    """The clipped value range of a band chart: the inner bands over the whole run with
    a margin (BAND_CLIP); None without bands."""
    if not bands:
        return None
    inner_low = min(values[BAND_CLIP[0]] for _, values in bands)
    inner_high = max(values[BAND_CLIP[1]] for _, values in bands)
    span = inner_high - inner_low
    margin = BAND_MARGIN * span if span > 0 else max(abs(inner_low), 1e-12) * BAND_MARGIN
    low, high = inner_low - margin, inner_high + margin
    clipped = sum(1 for _, values in bands if values[0] < low or values[-1] > high)
    return BandRange(low, high, clipped, len(bands))


def band_clip_text() -> str:
    """The percentiles a clipped band chart keeps in view."""
    low, high = BAND_PERCENTILES[BAND_CLIP[0]], BAND_PERCENTILES[BAND_CLIP[1]]
    return f"{low:g}th-{high:g}th percentile"


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
