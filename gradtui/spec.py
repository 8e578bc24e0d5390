"""What to build and run: the Spec and the TrainSpec, declared field by field, and presets.

Each field is declared once, with its kind, label and help (gradtui.fields); the CLI
flags, the app's forms and the TOML form are derived from the declarations.

This module never imports torch: the CLI and the app validate input and paint their
first screen with it before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from gradtui.fields import (
    ACTIVATIONS,
    FLOAT_RANGES,
    Choice,
    FieldInfo,
    Float,
    Init,
    Int,
    Pattern,
    Regex,
    Sizes,
    SpecError,
    Switch,
    Text,
    check_fields,
    declared,
    init_std,
    option,
    parse_texts,
    toml_value,
)

LOSSES = ("sum", "sum-mse", "mse", "cross-entropy")
"""`sum`: sum of outputs; `sum-mse`: (sum(output) - target)^2; `mse`: against random
normal targets per element; `cross-entropy`: against random class labels."""

NORMS = ("none", "batch", "layer")
"""Normalisation after each hidden Linear layer, before its activation."""

TASKS = ("xor", "circle", "gauss", "spiral", "teacher")
"""Training tasks: TensorFlow Playground's 2-D classification sets, and regression onto a
fixed random "teacher" network."""

MAX_LAYERS = 256
MAX_BINS = 1000
_TRACE_RE = r"\s*([0-9]{1,9})\s*:\s*([0-9]{1,9})\s*:\s*([0-9]{1,9})\s*,\s*([0-9]{1,9})\s*"
"""Indexes of at most 9 digits: sizes are at most 10**9."""


def describe(error: BaseException) -> str:
    """One line for a status bar or a terminal: a SpecError's field and reason, else the
    exception's type and the first line of its message (e.g. CUDA out of memory)."""
    if isinstance(error, SpecError):
        return f"{error.field}: {error.reason}"
    first_line = (str(error).splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"


class _Fields:
    """What Spec and TrainSpec share: checking, text forms, copies."""

    def __post_init__(self) -> None:
        check_fields(self)
        self._check_together()

    def _check_together(self) -> None:
        """Rules between fields, after each field is checked alone."""

    @classmethod
    def fields(cls) -> tuple[FieldInfo, ...]:
        return declared(cls)

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`; raises SpecError where a new value is not allowed."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def with_text(self, **texts: str) -> Self:
        """A copy with fields parsed from text (as typed on the command line or in a form)."""
        return self.replace(**parse_texts(type(self), texts))

    @classmethod
    def from_texts(cls, **texts: str) -> Self:
        return cls(**parse_texts(cls, texts))

    def field_text(self, name: str) -> str:
        """The text form of one field, the inverse of parsing it."""
        (info,) = (info for info in declared(type(self)) if info.name == name)
        return info.kind.text(getattr(self, name))

    def texts(self) -> dict[str, str]:
        return {info.name: self.field_text(info.name) for info in declared(type(self))}

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = [info.name for info in declared(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise SpecError("config", f"unknown field {unknown[0]!r}; allowed: {', '.join(names)}")
        return cls(**data)

    def to_toml(self) -> str:
        return "".join(
            f"{info.name} = {toml_value(getattr(self, info.name))}\n"
            for info in declared(type(self))
        )


@dataclass(frozen=True)
class Spec(_Fields):
    """One experiment: the network, its input, its loss, and where it runs."""

    model: str = option(
        "",
        Text("a Python file (nets/my_net.py) or module (mypkg.nets)"),
        label="model",
        help="your own network: a file or module defining model() and batch(), and "
        "optionally loss(output, batch); empty: the built-in MLP. It runs the file's code",
    )
    checkpoint: str = option(
        "",
        Text("a file saved by torch.save(model.state_dict(), PATH)"),
        label="ckpt",
        help="weights loaded into --model's network (torch.load with weights_only=True)",
    )
    sizes: tuple[int, ...] = option(
        (100, 100, 100, 100, 100),
        Sizes(max_layers=MAX_LAYERS),
        label="sizes",
        help="input size, then each Linear layer's output size",
        builtin=True,
    )
    activation: str = option(
        "sigmoid",
        Choice(tuple(ACTIVATIONS)),
        label="act",
        help="after every layer",
        builtin=True,
    )
    final_activation: str = option(
        "same",
        Choice(("same", "none", *ACTIVATIONS)),
        label="final",
        help="after the last layer: same (as in the seed), none (linear), or any activation",
        builtin=True,
    )
    loss: str = option(
        "sum",
        Choice(LOSSES),
        label="loss",
        help="sum of outputs, (sum(output) - target)^2, MSE to random targets, "
        "cross-entropy to random labels",
        builtin=True,
    )
    target: float = option(
        100.0, Float(), label="target", help="target of the sum-mse loss", builtin=True
    )
    batch_size: int = option(
        1, Int(1, 10**9), label="batch", help="samples in the batch", builtin=True
    )
    input: str = option(
        "normal",
        Choice(("normal", "uniform01", "uniform11")),
        label="input",
        help="input distribution: standard normal, uniform on [0, 1] or on [-1, 1]",
        builtin=True,
    )
    init: str = option(
        "default",
        Init(
            (
                "default",
                "xavier-uniform",
                "xavier-normal",
                "kaiming-uniform",
                "kaiming-normal",
                "orthogonal",
            )
        ),
        label="init",
        help="weight init (default: PyTorch's nn.Linear init)",
        builtin=True,
    )
    bias: bool = option(
        True, Switch(), label="bias", help="Linear layers with bias", builtin=True
    )
    norm: str = option(
        "none",
        Choice(NORMS),
        label="norm",
        help="normalise each hidden Linear's output before its activation: batch "
        "(BatchNorm1d, batch statistics always; needs batch_size 2 or more) or layer "
        "(LayerNorm over the units); never the output layer",
        builtin=True,
    )
    residual: bool = option(
        False,
        Switch(),
        label="resid",
        help="on: a layer whose input and output sizes match outputs x + f(x), the last "
        "layer too, with f(x) = act(norm(linear(x))); other layers output f(x)",
        builtin=True,
    )
    seed: int = option(0, Int(0, 2**63 - 1), label="seed", help="random seed")
    device: str = option(
        "auto",
        Pattern(
            r"auto|cpu|cuda(:[0-9]+)?",
            "auto, cpu, cuda or cuda:N",
            suggestions=("auto", "cpu", "cuda", "cuda:0", "cuda:1"),
        ),
        label="device",
        help="where to run: auto (CUDA when available), cpu, cuda, cuda:N",
    )
    dtype: str = option(
        "float32", Choice(tuple(FLOAT_RANGES)), label="dtype", help="floating-point type"
    )
    bins: int = option(50, Int(1, MAX_BINS), label="bins", help="histogram bins")
    layers: str = option(
        "",
        Regex(),
        label="layers",
        help="keep the parameters whose qualified name matches (e.g. linear1|conv); "
        "empty: all",
    )

    def _check_together(self) -> None:
        if self.checkpoint and not self.model:
            raise SpecError(
                "checkpoint", "loads weights into --model's network; give --model too"
            )
        if self.loss == "cross-entropy" and self.sizes[-1] < 2:
            raise SpecError("loss", "cross-entropy needs at least 2 outputs (the last size)")
        if self.norm == "batch" and self.batch_size < 2:
            # BatchNorm normalises each unit over the batch: one sample has no spread, and
            # PyTorch raises "Expected more than 1 value per channel" in the forward pass.
            raise SpecError(
                "norm",
                "batch needs batch_size 2 or more (BatchNorm normalises over the batch), got"
                f" batch_size {self.batch_size}; with batch_size 1 use none or layer",
            )
        std = init_std(self.init)
        if std is not None:
            # STD * N(0, 1) must neither underflow to 0 nor overflow in the dtype.
            tiny, huge = FLOAT_RANGES[self.dtype]
            if not tiny <= std <= huge / 16:
                raise SpecError(
                    "init",
                    f"normal:STD in {self.dtype} needs STD from {tiny:.3g} to {huge / 16:.3g}"
                    f" (else the weights underflow to 0 or overflow), got {std:g}",
                )

    # -- derived facts ----------------------------------------------------------------

    @property
    def builtin(self) -> bool:
        """True for the built-in MLP, False for a user's own model (`model`)."""
        return not self.model

    @classmethod
    def builtin_fields(cls) -> tuple[str, ...]:
        """The fields that describe the built-in MLP and do not apply to `model`."""
        return tuple(info.name for info in cls.fields() if info.option.builtin)

    def applies(self, name: str) -> bool:
        """Whether field `name` means something for this spec's network: the built-in
        MLP's fields not with `model`, `checkpoint` only with it (or while it holds a
        value, which the form must let the user clear)."""
        if name == "checkpoint":
            return not self.builtin or bool(self.checkpoint)
        return self.builtin or name not in self.builtin_fields()

    @property
    def num_layers(self) -> int:
        return len(self.sizes) - 1

    def layer_activation(self, index: int) -> str:
        """The activation after Linear layer `index` (1-based); `identity` for none."""
        if index == self.num_layers and self.final_activation != "same":
            return "identity" if self.final_activation == "none" else self.final_activation
        return self.activation

    def layer_norm(self, index: int) -> str:
        """The norm after Linear layer `index` (1-based); `none` for the output layer."""
        return "none" if index == self.num_layers else self.norm

    def layer_residual(self, index: int) -> bool:
        """Whether layer `index` (1-based) outputs x + f(x): residual on, sizes matching."""
        return self.residual and self.sizes[index - 1] == self.sizes[index]

    def block_text(self) -> str:
        """The layers' norm and residual in words (`layer norm, residual`), for the
        summaries; empty for plain layers, so the seed presets' summaries stay as they were."""
        parts = [f"{self.norm} norm"] if self.norm != "none" else []
        return ", ".join([*parts, "residual"] if self.residual else parts)

    def parameter_count(self) -> int:
        """Every parameter: the Linear layers' and the norms' scale and shift."""
        linears = sum(a * b + (b if self.bias else 0) for a, b in zip(self.sizes, self.sizes[1:]))
        norms = sum(
            2 * self.sizes[i] for i in range(1, self.num_layers + 1) if self.layer_norm(i) != "none"
        )
        return linears + norms

    def tensors_per_unit(self) -> int:
        """Values per unit and sample a forward and backward pass keeps: each layer's
        input, pre-activation and output and their gradients (6); a norm adds the
        normalised pre-activation and its gradient, a residual the sum and its gradient."""
        return 6 + 2 * (self.norm != "none") + 2 * self.residual

    def estimated_bytes(self) -> int:
        """Memory one probe needs at its peak, a deliberate over-estimate.

        Weights and their gradients; the batch's values of `tensors_per_unit`; and the
        chunked statistics' scratch space.
        """
        itemsize = 8 if self.dtype == "float64" else 4
        params = self.parameter_count()
        units = self.batch_size * sum(self.sizes)
        scratch = 64 * 1024 * 1024
        return int(itemsize * (2 * params + self.tensors_per_unit() * units) + scratch)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        if data.get("model"):
            builtin = [name for name in cls.builtin_fields() if name in data]
            if builtin:
                raise SpecError(
                    "config",
                    f"{builtin[0]!r} describes the built-in MLP and does not apply to "
                    f"model {data['model']!r}; remove it",
                )
        return super().from_dict(data)

    def stored_fields(self) -> tuple[str, ...]:
        """The fields its TOML form holds: all but, for a user's model, the built-in
        MLP's (which its `from_dict` refuses)."""
        builtin = () if self.builtin else self.builtin_fields()
        return tuple(info.name for info in self.fields() if info.name not in builtin)

    def to_toml(self) -> str:
        return "".join(
            f"{name} = {toml_value(getattr(self, name))}\n" for name in self.stored_fields()
        )

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        from gradtui.files import read_config  # refuses FIFOs, huge files, non-UTF-8

        return cls.from_dict(read_config(path))


FIELDS = tuple(info.name for info in Spec.fields())
"""Spec field names in their display order."""


@dataclass(frozen=True)
class TrainSpec(_Fields):
    """How to train a Spec's network: the task, the optimizer, how long."""

    task: str = option(
        "xor",
        Choice(TASKS),
        label="task",
        help="TensorFlow Playground's 2-D sets, or regression onto a random network",
    )
    steps: int = option(300, Int(1, 1_000_000), label="steps", help="optimizer steps")
    lr: float = option(0.1, Float(0.0), label="lr", help="learning rate")
    optimizer: str = option(
        "sgd",
        Choice(("sgd", "momentum", "adam")),
        label="opt",
        help="plain SGD, SGD with momentum 0.9, Adam",
    )
    samples: int = option(
        500, Int(8, 1_000_000), label="samples", help="size of the generated data set"
    )
    noise: float = option(
        0.2, Float(0.0, closed=True), label="noise", help="noise on the task's points or targets"
    )
    threshold: float = option(
        0.2, Float(0.0), label="thresh", help="the loss whose first crossing is reported"
    )
    trace: str = option(
        "",
        Pattern(_TRACE_RE, "LAYER:NEURON:A,B like 2:0:0,1", allow_empty=True),
        label="trace",
        help="the two incoming weights A, B of NEURON in LAYER (layer from 1) whose "
        "trajectory is drawn; empty: 2:0:0,1, the first layer fed by activation outputs",
    )

    def _check_together(self) -> None:
        indexes = self.trace_indexes()
        if indexes is not None:  # one form, without spaces: its texts and TOML read back
            object.__setattr__(self, "trace", "{}:{}:{},{}".format(*indexes))

    def trace_indexes(self) -> tuple[int, int, int, int] | None:
        """(layer, neuron, a, b) of `trace`, None for the default; SpecError if malformed."""
        if not self.trace:
            return None
        match = re.fullmatch(_TRACE_RE, self.trace)
        if not match or int(match.group(1)) < 1:
            raise SpecError(
                "trace",
                f"expected LAYER:NEURON:A,B like 2:0:0,1 (layer from 1), got {self.trace!r}",
            )
        layer, neuron, a, b = (int(g) for g in match.groups())
        return layer, neuron, a, b


TRAIN_FIELDS = tuple(info.name for info in TrainSpec.fields())


def parse_activations(text: str) -> tuple[str, ...]:
    """`sigmoid,tanh[,relu..]`: 2 to 4 distinct activation names, no empty items."""
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in ACTIVATIONS:
            what = "an empty item" if not name else f"unknown activation {name!r}"
            raise SpecError("activations", f"{what}; allowed: {', '.join(ACTIVATIONS)}")
    if not 2 <= len(names) <= 4 or len(set(names)) != len(names):
        raise SpecError(
            "activations", f"give 2 to 4 different activations, e.g. sigmoid,tanh; got {text!r}"
        )
    return names


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    spec: Spec


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "seed-v1.0",
            "the post's v1.0: 2 sigmoid layers, sum loss; layer 2 all positive",
            Spec(sizes=(100, 100, 100), activation="sigmoid", loss="sum"),
        ),
        Preset(
            "seed-v1.1",
            "the post's v1.1: as v1.0 with (sum(output) - 100)^2 loss; layer 2 all negative",
            Spec(sizes=(100, 100, 100), activation="sigmoid", loss="sum-mse", target=100.0),
        ),
        Preset(
            "seed-v2.0",
            "the post's v2.0: 4 sigmoid layers, sum loss; every row of layers 2-4 one-signed",
            Spec(sizes=(100, 100, 100, 100, 100), activation="sigmoid", loss="sum"),
        ),
        Preset(
            "seed-v3.0",
            "the post's v3.0: as v2.0 with tanh; gradient signs mix in every layer",
            Spec(sizes=(100, 100, 100, 100, 100), activation="tanh", loss="sum"),
        ),
        Preset(
            "deep-sigmoid",
            "16 sigmoid layers, sum loss; gradients vanish: layer 1's |g| is 2.0e12x smaller"
            " than layer 16's",
            Spec(sizes=(100,) * 17, activation="sigmoid", loss="sum"),
        ),
        Preset(
            "deep-sigmoid-residual-layernorm",
            "as deep-sigmoid with residual on and norm layer; layer 1's |g| is 9x smaller"
            " than layer 16's (residual alone 4x, norm alone 6.7e5x)",
            Spec(sizes=(100,) * 17, activation="sigmoid", loss="sum", norm="layer", residual=True),
        ),
    )
}
"""The four experiments of the original post, reproduced bit for bit; then a deep sigmoid
network whose gradients vanish, and the same with the two fixes that let them through.
Their figures are measured at seed 0 on the CPU (tests/test_blocks.py)."""


def preset(name: str) -> Spec:
    try:
        return PRESETS[name].spec
    except KeyError:
        raise SpecError(
            "preset", f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}"
        ) from None
