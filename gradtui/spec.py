"""What to build and run: the Spec, its validation, its presets and its text form.

This module never imports torch: the CLI and the app validate input and paint their
first screen with it before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACTIVATIONS = (
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
    "identity",
)
"""Activation names, as the CLI and the app spell them."""

FINAL_ACTIVATIONS = ("same", "none", *ACTIVATIONS)
"""`same`: the activation follows the last layer too (the seed); `none`: linear output."""

LOSSES = ("sum", "sum-mse", "mse", "cross-entropy")
"""`sum`: sum of outputs; `sum-mse`: (sum(output) - target)^2; `mse`: against random
normal targets per element; `cross-entropy`: against random class labels."""

INPUTS = ("normal", "uniform01", "uniform11")
"""Input distributions: standard normal, uniform on [0, 1], uniform on [-1, 1]."""

INITS = (
    "default",
    "xavier-uniform",
    "xavier-normal",
    "kaiming-uniform",
    "kaiming-normal",
    "orthogonal",
    "normal:STD",
)
"""Weight initialisations; `normal:STD` takes a positive standard deviation."""

DTYPES = ("float32", "float64")

TASKS = ("xor", "circle", "gauss", "spiral", "teacher")
"""Training tasks: TensorFlow Playground's 2-D classification sets, and regression onto a
fixed random "teacher" network."""

OPTIMIZERS = ("sgd", "momentum", "adam")
"""Plain SGD, SGD with momentum 0.9, Adam."""

SATURATING = {"sigmoid", "tanh"}
"""Activations whose units can saturate (|tanh| > 0.97, sigmoid outside [0.03, 0.97])."""

RELU_LIKE = {"relu"}
"""Activations whose units can be exactly zero (dead)."""

MAX_LAYERS = 256
MAX_BINS = 1000
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_NORMAL_INIT_RE = re.compile(r"^normal:(.+)$")
_TRACE_RE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*$")


class SpecError(ValueError):
    """A Spec field holds a value that is not allowed.

    `field` names the Spec field; the message says what was wrong and what is allowed.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        """The Spec field at fault (the CLI flag is `--` + field with `-` for `_`)."""
        self.reason = reason
        """What was wrong and what is allowed, without the field name."""

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


def describe(error: BaseException) -> str:
    """One line for a status bar or a terminal: a SpecError's field and reason, else the
    exception's type and the first line of its message (e.g. CUDA out of memory)."""
    if isinstance(error, SpecError):
        return f"{error.field}: {error.reason}"
    first_line = (str(error).splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(values)


@dataclass(frozen=True)
class Spec:
    """One experiment: the network, its input, its loss, and where it runs."""

    sizes: tuple[int, ...] = (100, 100, 100, 100, 100)
    """Input size, then each Linear layer's output size (N+1 ints for N layers)."""
    activation: str = "sigmoid"
    final_activation: str = "same"
    loss: str = "sum"
    target: float = 100.0
    """Target of the `sum-mse` loss."""
    batch_size: int = 1
    input: str = "normal"
    init: str = "default"
    bias: bool = True
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    bins: int = 50

    def __post_init__(self) -> None:
        self._validate()

    # -- validation -------------------------------------------------------------------

    def _validate(self) -> None:
        if not isinstance(self.sizes, tuple):
            object.__setattr__(self, "sizes", tuple(self.sizes))
        sizes = self.sizes
        if len(sizes) < 2:
            raise SpecError(
                "sizes", "needs the input size and at least one layer size, e.g. 100,100"
            )
        if len(sizes) - 1 > MAX_LAYERS:
            raise SpecError("sizes", f"at most {MAX_LAYERS} layers, got {len(sizes) - 1}")
        for size in sizes:
            if not _is_int(size) or size <= 0:
                raise SpecError("sizes", f"every size must be a positive integer, got {size!r}")
        for name, allowed in (
            ("activation", ACTIVATIONS),
            ("final_activation", FINAL_ACTIVATIONS),
            ("loss", LOSSES),
            ("input", INPUTS),
            ("dtype", DTYPES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise SpecError(name, f"unknown value {value!r}; allowed: {_choices(allowed)}")
        if not isinstance(self.target, (int, float)) or not math.isfinite(self.target):
            raise SpecError("target", f"must be a finite number, got {self.target!r}")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise SpecError(
                "batch_size", f"must be a whole number of at least 1, got {self.batch_size!r}"
            )
        init_std(self.init)
        if not isinstance(self.bias, bool):
            raise SpecError("bias", f"must be true or false, got {self.bias!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**63:
            raise SpecError("seed", f"must be a whole number in [0, 2^63), got {self.seed!r}")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise SpecError(
                "device", f"unknown device {self.device!r}; allowed: auto, cpu, cuda, cuda:N"
            )
        if not _is_int(self.bins) or not 1 <= self.bins <= MAX_BINS:
            raise SpecError(
                "bins", f"must be a whole number from 1 to {MAX_BINS}, got {self.bins!r}"
            )
        if self.loss == "cross-entropy" and self.sizes[-1] < 2:
            raise SpecError("loss", "cross-entropy needs at least 2 outputs (the last size)")

    # -- derived facts ----------------------------------------------------------------

    @property
    def num_layers(self) -> int:
        return len(self.sizes) - 1

    def layer_activation(self, index: int) -> str:
        """The activation after Linear layer `index` (1-based); `identity` for none."""
        if index == self.num_layers and self.final_activation != "same":
            return "identity" if self.final_activation == "none" else self.final_activation
        return self.activation

    def parameter_count(self) -> int:
        return sum(a * b + (b if self.bias else 0) for a, b in zip(self.sizes, self.sizes[1:]))

    def estimated_bytes(self) -> int:
        """Memory one probe needs at its peak, a deliberate over-estimate.

        Weights and their gradients; each layer's input, pre-activation and output and
        their gradients for the batch; and the chunked statistics' scratch space.
        """
        itemsize = 8 if self.dtype == "float64" else 4
        params = self.parameter_count()
        units = self.batch_size * sum(self.sizes)
        scratch = 64 * 1024 * 1024
        return int(itemsize * (2 * params + 6 * units) + scratch)

    # -- text form --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["sizes"] = list(self.sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        unknown = set(data) - set(FIELDS)
        if unknown:
            raise SpecError(sorted(unknown)[0], f"unknown field; allowed: {_choices(FIELDS)}")
        values = dict(data)
        if "sizes" in values and isinstance(values["sizes"], list):
            values["sizes"] = tuple(values["sizes"])
        return cls(**values)

    def replace(self, **changes: Any) -> Spec:
        """A copy with `changes`; raises SpecError where a new value is not allowed."""
        return dataclasses.replace(self, **changes)

    def with_text(self, **texts: str) -> Spec:
        """A copy with fields parsed from text (as typed on the command line or in a form)."""
        return self.replace(**{name: parse_field(name, text) for name, text in texts.items()})

    def field_text(self, name: str) -> str:
        """The text form of one field, the inverse of `parse_field`."""
        value = getattr(self, name)
        if name == "sizes":
            return ",".join(str(s) for s in value)
        if name == "bias":
            return "on" if value else "off"
        if name == "target":
            return f"{value:g}"
        return str(value)

    def to_toml(self) -> str:
        lines = []
        for name in FIELDS:
            value = getattr(self, name)
            if name == "sizes":
                text = "[" + ", ".join(str(s) for s in value) + "]"
            elif isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = '"' + value + '"'
            else:
                text = repr(value)
            lines.append(f"{name} = {text}")
        return "\n".join(lines) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        from gradtui.files import read_config  # refuses FIFOs, huge files, non-UTF-8

        return cls.from_dict(read_config(path))


FIELDS = tuple(f.name for f in dataclasses.fields(Spec))
"""Spec field names in their display order."""


@dataclass(frozen=True)
class TrainSpec:
    """How to train a Spec's network: the task, the optimizer, how long."""

    task: str = "xor"
    steps: int = 300
    lr: float = 0.1
    optimizer: str = "sgd"
    samples: int = 500
    """Size of the generated data set."""
    noise: float = 0.2
    """Noise added to the task's points (Playground units) or targets."""
    threshold: float = 0.2
    """The loss whose first crossing the comparison reports as steps to threshold."""
    trace: str = ""
    """`LAYER:NEURON:A,B`: the two incoming weights A and B of NEURON in LAYER (1-based
    layer, 0-based indexes) whose trajectory is drawn; empty: 2:0:0,1, the first layer fed
    by activation outputs (1:0:0,1 in a one-layer network)."""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise SpecError("task", f"unknown task {self.task!r}; allowed: {_choices(TASKS)}")
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(
                "optimizer",
                f"unknown optimizer {self.optimizer!r}; allowed: {_choices(OPTIMIZERS)}",
            )
        if not _is_int(self.steps) or not 1 <= self.steps <= 1_000_000:
            raise SpecError(
                "steps", f"must be a whole number from 1 to 1000000, got {self.steps!r}"
            )
        if not _is_int(self.samples) or not 8 <= self.samples <= 1_000_000:
            raise SpecError(
                "samples", f"must be a whole number from 8 to 1000000, got {self.samples!r}"
            )
        for name in ("lr", "threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise SpecError(name, f"must be a positive number, got {value!r}")
        if (
            not isinstance(self.noise, (int, float))
            or not math.isfinite(self.noise)
            or self.noise < 0
        ):
            raise SpecError("noise", f"must be a number >= 0, got {self.noise!r}")
        self.trace_indexes()

    def trace_indexes(self) -> tuple[int, int, int, int] | None:
        """(layer, neuron, a, b) of `trace`, None for the default; SpecError if malformed."""
        if not self.trace:
            return None
        match = _TRACE_RE.match(self.trace)
        if not match or int(match.group(1)) < 1:
            raise SpecError(
                "trace",
                f"expected LAYER:NEURON:A,B like 2:0:0,1 (layer from 1), got {self.trace!r}",
            )
        layer, neuron, a, b = (int(g) for g in match.groups())
        return layer, neuron, a, b

    def replace(self, **changes: Any) -> TrainSpec:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_texts(cls, **texts: str) -> TrainSpec:
        """Parse fields from text; SpecError names the field and what is allowed."""
        values: dict[str, Any] = {}
        for name, text in texts.items():
            kind = type(getattr(cls, name))
            try:
                values[name] = kind(text.strip())
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise SpecError(name, f"expected {what}, got {text!r}") from None
        return cls(**values)


TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainSpec))


def parse_activations(text: str) -> tuple[str, ...]:
    """`sigmoid,tanh[,relu..]`: 2 to 4 distinct activation names."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        if name not in ACTIVATIONS:
            raise SpecError(
                "activations", f"unknown activation {name!r}; allowed: {_choices(ACTIVATIONS)}"
            )
    if not 2 <= len(names) <= 4 or len(set(names)) != len(names):
        raise SpecError(
            "activations", f"give 2 to 4 different activations, e.g. sigmoid,tanh; got {text!r}"
        )
    return names


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def init_std(init: str) -> float | None:
    """The STD of a `normal:STD` init, None for the named inits; SpecError otherwise."""
    if init in INITS and init != "normal:STD":
        return None
    match = _NORMAL_INIT_RE.match(init) if isinstance(init, str) else None
    if match:
        try:
            std = float(match.group(1))
        except ValueError:
            std = math.nan
        if math.isfinite(std) and std > 0:
            return std
        raise SpecError(
            "init", f"normal:STD needs a positive number for STD, got {match.group(1)!r}"
        )
    raise SpecError("init", f"unknown init {init!r}; allowed: {_choices(INITS)}")


def parse_field(name: str, text: str) -> Any:
    """Parse one field from text; raises SpecError naming the field and what is allowed."""
    if name not in FIELDS:
        raise SpecError(name, f"unknown field; allowed: {_choices(FIELDS)}")
    text = text.strip()
    if name == "sizes":
        parts = [p.strip() for p in re.split(r"[,\s]+", text) if p.strip()]
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            raise SpecError(
                "sizes",
                f"expected comma-separated positive integers like 100,100,100, got {text!r}",
            ) from None
    if name in ("batch_size", "seed", "bins"):
        try:
            return int(text)
        except ValueError:
            raise SpecError(name, f"expected a whole number, got {text!r}") from None
    if name == "target":
        try:
            return float(text)
        except ValueError:
            raise SpecError("target", f"expected a number, got {text!r}") from None
    if name == "bias":
        lowered = text.lower()
        if lowered in ("on", "true", "yes", "1"):
            return True
        if lowered in ("off", "false", "no", "0"):
            return False
        raise SpecError("bias", f"expected on or off, got {text!r}")
    return text


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
    )
}
"""The four experiments of the original post, reproduced bit for bit."""


def preset(name: str) -> Spec:
    try:
        return PRESETS[name].spec
    except KeyError:
        raise SpecError(
            "preset", f"unknown preset {name!r}; allowed: {_choices(tuple(PRESETS))}"
        ) from None
