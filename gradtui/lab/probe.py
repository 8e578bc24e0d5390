"""One forward and backward pass, measured parameter by parameter.

The same measurement serves the built-in MLP and any nn.Module a user brings
(`--model`): every parameter that receives a gradient, by its qualified name and in
module order; the outputs of the modules the activation view shows; and, for each
Linear and Conv module, the share of non-negative entries in its input, which is what
makes one sample's gradient rows one-signed.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gradtui.fields import ACTIVATIONS, SpecError
from gradtui.lab import kernels, sign_map, stats
from gradtui.lab.device import check_fits, resolve_device
from gradtui.lab.model import (
    ACTIVATION_MODULES,
    DTYPES,
    MLP,
    Draws,
    compute_loss,
)
from gradtui.result import Entry, ModelInfo, ProbeResult
from gradtui.spec import Spec

INPUT_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
"""Modules whose weight gradient is delta times their input: their input's signs are
measured."""


class Cancelled(Exception):
    """The probe was cancelled through its Event before it finished."""


def prepare(spec: Spec) -> tuple[MLP, Tensor, Tensor | None]:
    """Model, input and target on the CPU, drawn in the seed script's order, always afresh
    (a probe takes the weights of the last probe drawing the same: `DRAWS`)."""
    return Draws().prepare(spec, torch.device("cpu"))


DRAWS = Draws()
"""The last built-in network's weights, which the next probe drawing the same takes."""


def draw_ahead(spec: Spec) -> bool:
    """Draw the weights of `spec`'s network for a probe that may follow (the app calls
    it while the form is edited, so that r finds them drawn). True when it drew them;
    False for a user's model, weights kept already, a missing device or a network that
    would not fit (the probe itself says so, if it comes)."""
    if not spec.builtin:
        return False
    try:
        device = resolve_device(spec.device)
        held = DRAWS.keep_only(spec, device)
        if held:
            return False
        check_fits(spec, device)
    except SpecError:
        return False
    DRAWS.prepare(spec, device)
    return True


def run_probe(spec: Spec, cancel: threading.Event | None = None) -> ProbeResult:
    """Build the Spec's network, run one forward and backward pass, measure it.

    Everything is computed on the Spec's device; the host waits for it once, at the end.
    Raises SpecError when the device is missing, the spec cannot fit, or a user's model
    fails (SourceError, naming the file and line), Cancelled when `cancel` is set
    between stages.
    """

    def checkpoint() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled

    kernels.warm_up()  # in the background; this probe uses them only if already compiled
    device = resolve_device(spec.device)
    if spec.builtin:
        check_fits(spec, device, held=DRAWS.keep_only(spec, device))
        model, x, target = DRAWS.prepare(spec, device)
        checkpoint()
        x = x.to(device)
        target = None if target is None else target.to(device)

        def forward() -> Tensor:
            return compute_loss(spec, model(x), target)

        watched = {f"activations.{i}": module for i, module in enumerate(model.activations)}
        info = None
        after_backward: Callable[[], None] = lambda: None  # noqa: E731
    else:
        from gradtui.lab import source

        loaded = source.load_source(spec.model)
        model, args, kwargs = source.build(
            loaded, seed=spec.seed, device=device, dtype=DTYPES[spec.dtype]
        )
        if spec.checkpoint:
            source.load_checkpoint(model, spec.checkpoint)
        checkpoint()

        def forward() -> Tensor:
            return source.forward_loss(loaded, model, args, kwargs)

        watched = {
            name: module
            for name, module in model.named_modules()
            if name and not any(True for _ in module.children())
        }
        parameters = list(model.parameters())
        info = ModelInfo(
            source=spec.model,
            parameters=sum(p.numel() for p in parameters),
            tensors=len(parameters),
            modules=len(watched),
            loss="loss() of the file" if loaded.has_loss else "the sum of the output",
        )

        def after_backward() -> None:
            source.check_gradients(model, loaded)

    keep = _matcher(spec.layers)
    recorder = Recorder(model, {n: m for n, m in watched.items() if keep(n)}, spec.bins)
    with recorder:
        loss = forward()
    checkpoint()
    loss.backward()
    after_backward()
    checkpoint()
    return measure(spec, model, recorder, loss, device, info)


def _matcher(pattern: str) -> Callable[[str], bool]:
    if not pattern:
        return lambda name: True
    compiled = re.compile(pattern)
    return lambda name: compiled.search(name) is not None


@dataclass
class _Inputs:
    """What one Linear or Conv module's inputs held, over every call, on the device."""

    non_negative: list[Tensor] = field(default_factory=list)
    finite: list[Tensor] = field(default_factory=list)
    summed_over: int = 0


class Recorder:
    """Forward hooks for one pass: the statistics of the watched modules' outputs
    (queued as each is produced, so a later in-place op cannot change them) and the
    input signs of every Linear and Conv module. A context manager: the hooks are
    removed on exit."""

    def __init__(self, model: nn.Module, watched: dict[str, nn.Module], bins: int) -> None:
        self.model = model
        self.watched = watched
        self.bins = bins
        self.outputs: list[tuple[str, nn.Module, tuple[int, ...], stats.Summary]] = []
        """(name, module, shape, summary) per call of a watched module, in call order."""
        self.inputs: dict[nn.Module, _Inputs] = {}
        self._measured: dict[tuple, tuple[weakref.ref, stats.Summary]] = {}
        """Summaries by the identity of the values they measured (_identity), with a weak
        reference to the tensor measured: a view of a recorded output (a flatten) or a
        layer's input that is one reuses it while that tensor lives (its memory cannot
        be another tensor's then; a dead entry is never used)."""
        self._calls: dict[str, int] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> Recorder:
        for name, module in self.watched.items():
            self._handles.append(module.register_forward_hook(self._output_hook(name)))
        for module in self.model.modules():
            if isinstance(module, INPUT_MODULES):
                self._handles.append(module.register_forward_hook(self._input_hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _output_hook(self, name: str) -> Callable:
        activation = _catalogue_name(self.watched[name])
        facts = ACTIVATIONS.get(activation or "")

        def hook(module: nn.Module, _inputs: tuple, output: object) -> None:
            tensor = _first_tensor(output)
            if tensor is None or not tensor.is_floating_point():
                return
            calls = self._calls[name] = self._calls.get(name, 0) + 1
            shown = name if calls == 1 else f"{name}#{calls}"
            saturation = facts.saturation if facts else None
            dead = bool(facts and facts.dead_at_zero)
            key = (*_identity(tensor), saturation, dead)
            summary = self._known(key)
            if summary is None:
                summary = stats.summarize(tensor, self.bins, saturation=saturation, dead=dead)
                self._measured[key] = (weakref.ref(tensor), summary)
            self.outputs.append((shown, module, tuple(tensor.shape), summary))

        return hook

    def _known(self, key: tuple) -> stats.Summary | None:
        """The summary measured under `key`, if the tensor it measured still lives."""
        entry = self._measured.get(key)
        if entry is None:
            return None
        if entry[0]() is None:  # freed: its memory may hold another tensor now
            del self._measured[key]
            return None
        return entry[1]

    def _input_hook(self, module: nn.Module, inputs: tuple, output: object) -> None:
        x = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
        if x is None or not x.is_floating_point():
            return
        record = self.inputs.setdefault(module, _Inputs())
        x = x.detach()
        identity = _identity(x)
        live = (self._known(k) for k in list(self._measured) if k[:-2] == identity)
        known = next((summary for summary in live if summary is not None), None)
        if known is not None:  # a recorded output, unchanged since: its counts serve
            non_negative, finite = stats.sign_counts(known)
        else:
            non_negative = torch.count_nonzero(x >= 0)
            finite = torch.count_nonzero(torch.isfinite(x))
        record.non_negative.append(non_negative)
        record.finite.append(finite)
        out = _first_tensor(output)
        if isinstance(module, nn.Linear):
            record.summed_over += x.numel() // max(1, module.in_features)
        elif out is not None:  # a convolution: samples x output positions
            record.summed_over += out.numel() // max(1, module.out_channels)


def _identity(x: Tensor) -> tuple:
    """What makes two tensors hold the same multiset of values: the same memory, as many
    elements of one dtype, and no in-place change since (`_version` counts them, shared
    by every view). The statistics do not depend on the order of the entries."""
    return (x.untyped_storage().data_ptr(), x.storage_offset(), x.numel(), x.dtype,
            x.is_contiguous(), x._version)  # fmt: skip


def _first_tensor(output: object) -> Tensor | None:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], Tensor):
        return output[0]
    return None


def _catalogue_name(module: nn.Module) -> str | None:
    """The catalogue's name for an activation module (exactly its class), else None."""
    for name, cls in ACTIVATION_MODULES.items():
        if type(module) is cls and name != "identity":
            return name
    return None


@dataclass
class _Parameter:
    name: str
    module: nn.Module
    """The module under whose name the parameter first appears."""
    tensor: Tensor
    users: list[nn.Module]
    """Every module that holds the tensor as its `weight` (a tied weight: several)."""


def named_parameters(model: nn.Module) -> list[_Parameter]:
    """Every parameter that received a gradient, in module order, by the qualified name
    under which it first appears (a tied parameter appears once)."""
    seen: dict[int, _Parameter] = {}
    found = []
    for module_name, module in model.named_modules(remove_duplicate=False):
        for name, tensor in module.named_parameters(recurse=False):
            known = seen.get(id(tensor))
            if known is not None:
                if getattr(module, "weight", None) is tensor and module not in known.users:
                    known.users.append(module)
                continue
            qualified = f"{module_name}.{name}" if module_name else name
            users = [module] if getattr(module, "weight", None) is tensor else []
            seen[id(tensor)] = _Parameter(qualified, module, tensor, users)
            if tensor.grad is not None:
                found.append(seen[id(tensor)])
    return found


def measure(
    spec: Spec,
    model: nn.Module,
    recorder: Recorder,
    loss: Tensor,
    device: torch.device,
    info: ModelInfo | None = None,
) -> ProbeResult:
    """The statistics of every parameter's gradient and every recorded output, moved to
    the host in one transfer."""
    keep = _matcher(spec.layers)
    parameters = [p for p in named_parameters(model) if keep(p.name)]
    if not parameters:
        if spec.layers:
            every = named_parameters(model)
            names = ", ".join(p.name for p in every[:6])
            names += f", ... ({len(every)} in all)" if len(every) > 6 else ""
            raise SpecError(
                "layers", f"{spec.layers!r} matches no parameter; the parameters: {names}"
            )
        raise SpecError("model", "no parameter received a gradient")
    summaries = []
    maps = []
    extras: list[Tensor] = [loss.detach()]
    for p in parameters:
        if p.tensor.dim() >= 2:  # the statistics and the sign map in one pass
            summary, pending = sign_map.measure(p.tensor.grad, spec.bins)
        else:
            summary, pending = stats.summarize(p.tensor.grad, spec.bins), None
        summaries.append(summary)
        maps.append(pending)
        extras.append(stats.norm(p.tensor.detach()))
    # A weight's gradient sums delta x input over every call of every module that
    # uses it (a tied weight: several): its input signs are all those inputs'.
    inputs = {p.name: _inputs_of(p, recorder) for p in parameters}
    for record in inputs.values():
        if record is not None:
            extras.append(torch.stack(record.non_negative).sum())
            extras.append(torch.stack(record.finite).sum())
    summaries += [summary for *_, summary in recorder.outputs]
    stats_path, stats_note = stats.measured_by(summaries)
    figures, host = stats.collect(summaries, extras)
    pending = [m for m in maps if m is not None]
    collected = iter(sign_map.collect(pending))  # already computed: the wait covered them
    loss_value, norms = host[0], host[1 : 1 + len(parameters)]
    counts = iter(host[1 + len(parameters) :])

    label = _mlp_label if spec.builtin else (lambda name: name)
    activation = _mlp_activation(spec) if spec.builtin else (lambda name, module: None)
    entries = []
    for p, figure, norm_value, queued in zip(parameters, figures, norms, maps):
        record = inputs[p.name]
        share = summed = None
        if record is not None:
            non_negative, finite = next(counts), next(counts)
            share = non_negative / finite if finite else None
            summed = record.summed_over
        entries.append(
            Entry(
                name=p.name,
                kind=type(p.module).__name__,
                label=label(p.name),
                shape=tuple(p.tensor.shape),
                stats=figure,
                activation=activation(p.name, p.module),
                param_norm=norm_value,
                input_non_negative=share,
                summed_over=summed,
                sign_map=next(collected) if queued is not None else None,
            )
        )
    outputs = [
        Entry(
            name=name,
            kind=type(module).__name__,
            label=label(name),
            shape=shape,
            stats=figure,
            activation=activation(name, module) or _catalogue_name(module),
        )
        for (name, module, shape, _), figure in zip(recorder.outputs, figures[len(parameters) :])
    ]
    finite_loss = loss_value if math.isfinite(loss_value) else None
    return ProbeResult(
        spec=spec,
        device=str(device) if device.type == "cpu" else f"{device.type}:{device.index or 0}",
        loss=finite_loss,
        parameters=entries,
        outputs=outputs,
        warnings=_warnings(finite_loss, entries, outputs, builtin=spec.builtin),
        stats_path=stats_path,
        stats_note=stats_note,
        model=info,
    )


def _inputs_of(p: _Parameter, recorder: Recorder) -> _Inputs | None:
    """The inputs of every Linear or Conv call that used `p` as its weight, or None
    when `p` is no such weight (a bias, a norm's scale, an embedding)."""
    records = [recorder.inputs[m] for m in p.users if m in recorder.inputs]
    if not records:
        return None
    return _Inputs(
        non_negative=[t for r in records for t in r.non_negative],
        finite=[t for r in records for t in r.finite],
        summed_over=sum(r.summed_over for r in records),
    )


def _mlp_label(name: str) -> str:
    """`linears.1.weight` -> `2`; `norms.0.weight` -> `1 norm.weight`."""
    group, index, *rest = name.split(".")
    number = str(int(index) + 1)
    if group in ("linears", "activations"):
        return number
    return f"{number} {group.removesuffix('s')}" + "".join(f".{part}" for part in rest)


def _mlp_activation(spec: Spec) -> Callable[[str, nn.Module], str]:
    def activation(name: str, _module: nn.Module) -> str:
        return spec.layer_activation(int(name.split(".")[1]) + 1)

    return activation


def _warnings(
    loss: float | None, parameters: list[Entry], outputs: list[Entry], *, builtin: bool
) -> list[str]:
    notes = []
    if loss is None:
        notes.append("the loss is not finite (NaN or Inf)")
    named = [(entry, "gradient") for entry in parameters] + [(e, "output") for e in outputs]
    if builtin:  # layer by layer, in the MLP's words
        named = [(entry, _mlp_noun(entry.name, noun)) for entry, noun in named]
        named.sort(key=lambda pair: int(pair[0].name.split(".")[1]))
    for entry, noun in named:
        if entry.stats.nonfinite:
            where = f"layer {entry.label}" if builtin else entry.name
            notes.append(
                f"{where}: {entry.stats.nonfinite} non-finite {noun} entries "
                "(NaN/Inf), left out of the other figures"
            )
    return notes


def _mlp_noun(name: str, noun: str) -> str:
    if name.startswith("activations."):
        return "activation"
    if name.startswith("linears."):
        return f"{name.rsplit('.', 1)[-1]} {noun}"
    return noun
