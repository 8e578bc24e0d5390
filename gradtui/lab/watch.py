"""Record the gradients of any training loop, step by step, to a run file.

    with gradtui.watch(model, "runs/exp1.gradtui", every=10) as watch:
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
            watch.step(loss=loss)  # after backward, before the optimizer's step
            optimizer.step()
            optimizer.zero_grad()

Every `every` calls (the first call, then every `every`-th), `step` measures each chosen
parameter's gradient with the lab's statistics (sign fractions, row coherence, moments,
norm, exact histogram), the parameter's norm and, at the next call, the update:data
ratio of the optimizer step in between; optionally every leaf module's output and the
share of non-negative inputs of each Linear and Conv. Everything is computed on the
tensors' device and moved to the host once per call; the figures go to the run file
(gradtui.runfile) in one transaction.

A recording error (a full disk, a removed folder) warns once and stops the recording;
it never raises into the training loop. Only `halt_on_nonfinite` raises, on purpose.

Reads `.grad` in `step` and hooks nothing on the backward pass, so in-place ops, a
`torch.compile`d model (no graph break: the forward hooks of `activations` only keep
references while compiling) and DistributedDataParallel (rank 0 records the all-reduced
gradients; the other ranks do nothing) all work.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gradtui.fields import ACTIVATIONS
from gradtui.insight import nonfinite_text
from gradtui.lab import kernels, sign_map, stats
from gradtui.lab.model import ACTIVATION_MODULES
from gradtui.runfile import ACTIVATION, PARAM, Recorded, RunWriter
from gradtui.spec import MAX_BINS

CHUNK_ELEMENTS = 1 << 22
"""Elements per chunk of the weights' float64 figures off the fused CPU path."""

_FACTS = {module: ACTIVATIONS[name] for name, module in ACTIVATION_MODULES.items()}
"""An activation module's type -> its facts (saturation bounds, dead at zero)."""
_INPUT_SIGN = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
"""Modules whose gradient rows are one-signed when their inputs are: the input-sign share
is measured for these."""


class NonFiniteGradient(FloatingPointError):
    """A recorded step had a NaN/Inf gradient (or loss), with `halt_on_nonfinite=True`."""

    def __init__(self, step: int, name: str) -> None:
        self.step = step
        """The 1-based step (count of watch.step() calls)."""
        self.name = name
        """The first parameter, in module order, with a non-finite gradient; or 'loss'."""
        super().__init__(f"{nonfinite_text(step, name)} (gradtui.watch halt_on_nonfinite)")


class RecordingStopped(RuntimeWarning):
    """The recording hit an error and stopped; training went on."""


class Watch:
    """A recording in progress: call `step()` once per training step; `close()` (or leave
    the `with` block) at the end. `gradtui.watch(...)` makes one.

    Records `model`'s gradients to the run file at `path`; see the module's docstring.

    model: any nn.Module, also wrapped in DistributedDataParallel or torch.compile.
    every: record steps 1, 1 + every, 1 + 2 * every, ... (steps count watch.step() calls).
    layers: a regular expression; only parameters (and, with `activations`, leaf modules)
        whose qualified name it matches (re.search) are recorded. None: all of them.
    activations: also record every leaf module's output, and for each Linear and Conv the
        share of its input entries that are >= 0 (forward hooks; the forwards of a
        recorded step that track gradients count, the last one wins).
    bins: histogram bins, 1 to 1000.
    updates: keep a copy of the chosen parameters to measure each recorded step's update
        (log10(std(update) / std(W))); False saves that memory and pass.
    halt_on_nonfinite: raise NonFiniteGradient at a recorded step with a NaN/Inf gradient
        or loss, after recording it.
    overwrite: replace an existing run file at `path` (never a file of another kind);
        without it, an existing path is refused (RunFileError).
    description, command: what the run file says was watched and what ran (default: the
        model's class and size, and the process's command line).
    sign_maps: also record the sign map of each gradient of 2 or more dims (what
        `gradtui open` shows with m at any step): one more pass over each gradient, about
        as long as its statistics, and about 1 to 4 KB per tensor per recorded step.

    Raises ValueError/TypeError for arguments that mean nothing exact, RunFileError when
    the file cannot be created; after that, nothing but NonFiniteGradient.
    """

    def __init__(
        self,
        model: nn.Module,
        path: str | os.PathLike[str],
        *,
        every: int = 10,
        layers: str | None = None,
        activations: bool = False,
        bins: int = 50,
        updates: bool = True,
        halt_on_nonfinite: bool = False,
        overwrite: bool = False,
        description: str | None = None,
        command: str | None = None,
        sign_maps: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.every = _whole("every", every, 1, None)
        self.bins = _whole("bins", bins, 1, MAX_BINS)
        pattern = _pattern(layers)
        module = unwrap(model)
        self.path = os.fspath(path)
        self.halt_on_nonfinite = bool(halt_on_nonfinite)
        self.updates = bool(updates)
        self.sign_maps = bool(sign_maps)
        self.params: list[tuple[str, nn.Parameter]] = [
            (name, p)
            for name, p in module.named_parameters()
            if p.requires_grad and (pattern is None or pattern.search(name))
        ]
        self.modules: list[tuple[str, nn.Module]] = []
        if activations:
            self.modules = [
                (name or "(model)", m)
                for name, m in module.named_modules()
                if next(m.children(), None) is None and (pattern is None or pattern.search(name))
            ]
        if not self.params and not self.modules:
            names = [name for name, p in module.named_parameters() if p.requires_grad]
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") or "none"
            raise ValueError(
                f"layers: {layers!r} matches no parameter that requires grad"
                + (" nor leaf module" if activations else "")
                + f"; the model's parameters: {shown}"
            )
        self.step_count = 0
        """watch.step() calls so far."""
        self._rank, world = _rank()
        self._armed = True  # the forward hooks measure: the next call records
        self._outputs: dict[int, Any] = {}
        self._inputs: dict[int, Tensor] = {}
        self._handles: list[Any] = []
        self._buffers: dict[int, Tensor] = {}
        self._pending: list[tuple[int, float]] | None = None  # (param, std(W)) of last record
        self._pending_step = 0
        self._seen_shapes: set[int] = set()
        self._nonfinite_seen = False
        self._start = time.monotonic()
        self._writer: RunWriter | None = None
        self._closed = False
        self._on_cpu = any(p.device.type == "cpu" for _, p in self.params)
        if self._rank != 0:
            return  # other ranks of a distributed run: rank 0 records
        kernels.warm_up()  # in the background; the plain torch path serves meanwhile
        first = next(module.parameters(), None)
        device = str(first.device) if first is not None else "cpu"
        if world > 1:
            device += f", rank 0 of {world} (DistributedDataParallel)"
        size = sum(p.numel() for p in module.parameters())
        tensors = [(name, PARAM, tuple(p.shape)) for name, p in self.params]
        tensors += [(name, ACTIVATION, None) for name, _ in self.modules]
        self._writer = RunWriter(
            self.path,
            every=self.every,
            bins=self.bins,
            command=command if command is not None else shlex.join(sys.argv),
            model=description or f"{type(module).__name__}, {size:,} parameters",
            device=device,
            tensors=tensors,
            overwrite=overwrite,
        )
        offset = len(self.params)
        for i, (_, m) in enumerate(self.modules):
            self._handles.append(m.register_forward_hook(self._output_hook(offset + i, m)))
            if isinstance(m, _INPUT_SIGN):
                self._handles.append(m.register_forward_pre_hook(self._input_hook(offset + i)))

    # -- the user's calls --------------------------------------------------------------

    @property
    def recording(self) -> bool:
        """Whether this process records (rank 0, no error so far, not closed)."""
        return self._writer is not None

    def step(self, loss: Tensor | float | None = None) -> None:
        """Count a training step; at a recorded one, measure and write it. Call after
        backward and before the optimizer's step. loss: a number or one-element tensor."""
        if self._closed:
            return
        loss_tensor = _loss(loss)  # refused before the step is counted: a retry is this step
        self.step_count += 1
        n = self.step_count
        record = (n - 1) % self.every == 0
        self._armed = n % self.every == 0
        if self._writer is None:
            if record and self.halt_on_nonfinite and self._rank != 0:
                self._halt_if_nonfinite(n)  # the same all-reduced gradients as rank 0
            return
        if not record and self._pending is None:
            return
        try:
            with _one_torch_thread(self._on_cpu):
                halt = self._record(n, record, loss_tensor)
        except Exception as error:  # never into the training loop: warn once, stop
            self._stop(n, error)
            return
        if halt is not None:
            raise NonFiniteGradient(n, halt)

    def close(self, *, finish: bool = True) -> None:
        """End the recording: write the last recorded step's update (`finish`: the
        optimizer has stepped since), remove the hooks, close the file."""
        if self._closed:
            return
        self._closed = True
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        writer = self._writer
        if writer is None:
            return
        try:
            if finish and self._pending is not None:
                with _one_torch_thread(self._on_cpu):
                    self._record(self.step_count, False, None)
        except Exception as error:
            self._stop(self.step_count, error)
            return
        writer.close()
        self._writer = None

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, exc_type, _exc, _tb) -> None:
        self.close(finish=exc_type is None)

    # -- measuring ---------------------------------------------------------------------

    def _record(self, n: int, record: bool, loss: Tensor | None) -> str | None:
        """Measure call `n` (a recorded step, or only the update of the last recorded one)
        and write it, with one host transfer; the name to halt on, if any."""
        pending, self._pending = self._pending, None
        weights = self._weights(pending is not None) if (record or pending) else []
        summaries, kinds, shapes = [], [], []
        inputs: list[tuple[int, Tensor]] = []
        queued_maps: list[tuple[int, sign_map.PendingSignMap]] = []
        if record:  # maps queued before collect, whose one wait covers them
            summaries, kinds, shapes, queued_maps = self._summaries()
            inputs = sorted(self._inputs.items())
        extras = ([] if loss is None or not record else [loss]) + [t for _, t in inputs]
        extras += [v for _, sums in weights if isinstance(sums, Tensor) for v in sums.unbind()]
        measured, host = stats.collect(summaries, extras)
        maps = dict(
            zip([i for i, _ in queued_maps], sign_map.collect([p for _, p in queued_maps]))
        )
        self._outputs.clear()
        self._inputs.clear()
        loss_value = host.pop(0) if loss is not None and record else None
        shares = {tensor: host.pop(0) for tensor, _ in inputs}
        sums_of = {}
        for i, sums in weights:
            if isinstance(sums, Tensor):
                sums, host = host[:5], host[5:]
            sums_of[i] = sums
        updates = []
        if pending is not None:
            for i, weight_std in pending:
                numel = self.params[i][1].numel()
                ratio = _ratio(_std(numel, sums_of[i][3], sums_of[i][4]), weight_std)
                updates.append((i, self._pending_step, ratio))
        if not record:
            self._writer.write(updates=updates)
            return None
        if self.updates:
            self._pending = [
                (i, _std(self.params[i][1].numel(), sums[0], sums[1]))
                for i, sums in sums_of.items()
            ]
        self._pending_step = n
        by_tensor = dict(zip(kinds, measured))
        records = [
            (i, Recorded(PARAM, by_tensor.get(i), math.sqrt(sums_of[i][2]), sign_map=maps.get(i)))
            for i in range(len(self.params))
        ]
        records += [
            (i, Recorded(ACTIVATION, by_tensor[i], input_nonneg=shares.get(i)))
            for i in range(len(self.params), len(self.params) + len(self.modules))
            if i in by_tensor
        ]
        bad = next(
            (
                name
                for i, (name, _) in enumerate(self.params)
                if i in by_tensor and by_tensor[i].nonfinite
            ),
            None,
        )
        if bad is None and loss_value is not None and not math.isfinite(loss_value):
            bad = "loss"
        first = None
        if bad is not None and not self._nonfinite_seen:
            self._nonfinite_seen = True
            first = (n, bad)
        self._writer.write(
            n,
            loss=loss_value,
            seconds=time.monotonic() - self._start,
            records=records,
            shapes=shapes,
            updates=updates,
            nonfinite=first,
        )
        return bad if self.halt_on_nonfinite else None

    def _summaries(self) -> tuple[list[stats.Summary], list[int], list, list]:
        """The queued statistics of the gradients and of the outputs the hooks kept, the
        tensor id of each, (tensor id, shape) of outputs seen for the first time, and with
        `sign_maps` (tensor id, map) of each gradient of 2 dims or more, counted in the
        same pass as its statistics."""
        summaries, kinds, shapes, maps = [], [], [], []
        for i, (_, p) in enumerate(self.params):
            grad = p.grad
            if grad is None or grad.is_sparse:
                continue
            if self.sign_maps and grad.dim() >= 2:
                summary, pending = sign_map.measure(grad, self.bins)
                maps.append((i, pending))
            else:
                summary = stats.summarize(grad, self.bins, rows=grad.dim() >= 2)
            summaries.append(summary)
            kinds.append(i)
        for i, (_, m) in enumerate(self.modules, start=len(self.params)):
            kept = self._outputs.get(i)
            if kept is None:
                continue
            if isinstance(kept, Tensor):  # kept while compiling: measured now
                kept = (self._summarize_output(kept, m), tuple(kept.shape))
            summaries.append(kept[0])
            kinds.append(i)
            if i not in self._seen_shapes:
                self._seen_shapes.add(i)
                shapes.append((i, kept[1]))
        return summaries, kinds, shapes, maps

    def _weights(self, diff: bool) -> list[tuple[int, np.ndarray | Tensor]]:
        """Per parameter, kernels.weight_pass's five sums (host floats on the fused CPU
        path, else a device tensor); with `updates` off, only the sum of squares (the
        norm), in the same place."""
        if not self.updates:
            out = []
            for i, (_, p) in enumerate(self.params):
                norm = stats.norm(p)
                zero = torch.zeros((), dtype=norm.dtype, device=norm.device)
                out.append((i, torch.stack([zero, zero, norm * norm, zero, zero])))
            return out
        return [(i, self._weight_sums(i, diff)) for i in range(len(self.params))]

    def _weight_sums(self, i: int, diff: bool) -> np.ndarray | Tensor:
        """kernels.weight_pass's five sums of parameter i against its copy, which then
        takes the weights: on the fused CPU path as host floats, else a device tensor."""
        w = self.params[i][1].detach()
        buffer = self._buffers.get(i)
        if buffer is None:
            buffer = self._buffers[i] = torch.empty_like(w, memory_format=torch.contiguous_format)
        compiled = kernels.ready()
        if (
            compiled is not None
            and w.device.type == "cpu"
            and w.dtype in (torch.float32, torch.float64)
            and w.is_contiguous()
            and w.numel() > 0
        ):
            rows = _rows(w)
            out = np.empty((rows.shape[0], 5))
            compiled.weight_pass(rows, _rows(buffer), diff, out)
            return out.sum(axis=0)
        return _weight_sums_torch(w, buffer, diff)

    def _summarize_output(self, output: Tensor, module: nn.Module) -> stats.Summary:
        facts = _FACTS.get(type(module))
        return stats.summarize(
            output,
            self.bins,
            saturation=facts.saturation if facts else None,
            dead=facts.dead_at_zero if facts else False,
        )

    def _output_hook(self, index: int, module: nn.Module) -> Callable:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not self._armed or not torch.is_grad_enabled() or not isinstance(output, Tensor):
                return
            if _compiling():  # measured in step(), outside the graph: no graph break
                self._outputs[index] = output.detach()
            else:  # now, before any in-place op changes it
                self._outputs[index] = (
                    self._summarize_output(output, module),
                    tuple(output.shape),
                )

        return hook

    def _input_hook(self, index: int) -> Callable:
        def hook(_module: nn.Module, args: tuple) -> None:
            if not self._armed or not torch.is_grad_enabled():
                return
            x = args[0] if args else None
            if isinstance(x, Tensor) and x.numel() > 0:
                self._inputs[index] = (x.detach() >= 0).sum().double() / x.numel()

        return hook

    def _halt_if_nonfinite(self, n: int) -> None:
        with_grads = [(name, p.grad) for name, p in self.params if p.grad is not None]
        if not with_grads:
            return
        finite = torch.stack([torch.isfinite(g).all() for _, g in with_grads]).tolist()
        for (name, _), ok in zip(with_grads, finite):
            if not ok:
                raise NonFiniteGradient(n, name)

    def _stop(self, n: int, error: Exception) -> None:
        """Warn once, close what can be closed; the training goes on."""
        writer, self._writer = self._writer, None
        self._closed = True
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._buffers.clear()
        if writer is not None:
            writer.close()
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        message = (
            f"gradtui.watch: recording to {self.path} stopped at step {n}: {reason}; "
            "training goes on, the steps recorded before stay readable"
        )
        try:
            warnings.warn(message, RecordingStopped, stacklevel=3)
        except Exception:  # warnings turned into errors: still never raise
            print(f"warning: {message}", file=sys.stderr)


@contextmanager
def _one_torch_thread(active: bool) -> Iterator[None]:
    """Torch's CPU ops on the calling thread alone, for the measuring of a step.

    Torch (its own libgomp) and the fused numba kernels (another OpenMP pool) each run a
    thread per core, and an OpenMP thread spins for a while after its work. Alternating
    torch's aminmax with the kernels, tensor by tensor, right after the backward pass,
    left the kernels sharing the cores with torch's spinning threads: on two cores a
    recorded step took 30 ms or 430 ms by luck. With torch's ops on one thread it took
    33 ms every time (8x2048 MLP; benchmarks/bench.py --watch).
    """
    threads = torch.get_num_threads()
    if not active or threads == 1 or kernels.ready() is None:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def unwrap(model: nn.Module) -> nn.Module:
    """The module whose parameters' names are the user's: DistributedDataParallel and
    DataParallel (`.module`) and torch.compile (`._orig_mod`) taken off."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _rank() -> tuple[int, int]:
    """(rank, world size) of a distributed run; (0, 1) otherwise."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and compiler.is_compiling())


def _whole(name: str, value: Any, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise ValueError(f"{name}: must be a whole number {allowed}, got {value}")
    return value


def _pattern(layers: str | None) -> re.Pattern[str] | None:
    if layers is None:
        return None
    if not isinstance(layers, str):
        raise TypeError(f"layers: expected a regular expression (str) or None, got {layers!r}")
    try:
        return re.compile(layers)
    except re.error as error:
        raise ValueError(f"layers: not a regular expression ({error}): {layers!r}") from None


def _loss(loss: Any) -> Tensor | None:
    if loss is None:
        return None
    if isinstance(loss, Tensor):
        if loss.numel() != 1:
            raise TypeError(
                f"loss: expected a number or a one-element tensor, got shape {tuple(loss.shape)}"
            )
        return loss.detach().reshape(())
    if isinstance(loss, (int, float)) and not isinstance(loss, bool):
        return torch.tensor(float(loss), dtype=torch.float64)
    raise TypeError(f"loss: expected a number or a one-element tensor, got {type(loss).__name__}")


def _rows(x: Tensor) -> np.ndarray:
    """A contiguous CPU tensor as a 2-D numpy view, rows kept (1-D as one row)."""
    return x.flatten(1).numpy() if x.dim() >= 2 else x.reshape(1, -1).numpy()


def _weight_sums_torch(w: Tensor, buffer: Tensor, diff: bool) -> Tensor:
    """kernels.weight_pass in torch ops, chunk by chunk, on any device: a float64 vector
    of the five sums; the buffer takes the weights."""
    f64 = torch.float64
    flat, old = w.reshape(-1), buffer.view(-1)
    sums = torch.zeros(5, dtype=f64, device=w.device)
    if flat.numel() == 0:
        return sums
    pivot = flat[0].to(f64, copy=True)
    shift = pivot - old[0].to(f64, copy=True)
    for x, o in zip(flat.split(CHUNK_ELEMENTS), old.split(CHUNK_ELEMENTS)):
        x64 = x.to(f64)
        d = x64 - pivot
        part = [d.sum(), torch.dot(d, d), torch.dot(x64, x64)]
        if diff:
            u = (x64 - o.to(f64)) - shift
            part += [u.sum(), torch.dot(u, u)]
        sums[: len(part)] += torch.stack(part)
        o.copy_(x)
    return sums


def _std(n: int, shifted: float, squares: float) -> float:
    """Unbiased standard deviation from the sums of shifted values and their squares."""
    if n < 2:
        return math.nan
    return math.sqrt(max(0.0, squares - shifted * shifted / n) / (n - 1))


def _ratio(update_std: float, weight_std: float) -> float | None:
    """log10(std(update) / std(W)), gradtui train's update:data ratio; None where either
    is 0 or not finite."""
    if update_std > 0 and weight_std > 0 and math.isfinite(update_std / weight_std):
        return math.log10(update_std / weight_std)
    return None


watch = Watch
"""`gradtui.watch(model, path, every=10, ...)`: start a recording (see Watch)."""
