"""The catalogue: each field of an experiment declared once, and each activation's facts.

A field is declared in spec.py as `name: type = option(default, kind, label=..., help=...)`.
Its kind parses text strictly (as typed on the command line, in a form or in TOML),
checks values, and writes the text form back. The CLI flags, the app's forms, the text
and TOML forms are all derived from these declarations, so a new field is one line.

No torch here: the CLI and the app validate input before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

# -- activations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """What gradtui knows about one activation function; the lab maps `name` to a module."""

    name: str
    non_negative: bool
    """Outputs are never negative, so a layer they feed gets one-signed gradient rows
    for one sample (the post's lesson)."""
    saturation: tuple[float, float] | None = None
    """Outputs below the first or above the second bound count as saturated."""
    dead_at_zero: bool = False
    """Units output exactly 0 on a whole half-line (ReLU): such outputs count as dead."""
    gain: str = "relu"
    """The nonlinearity `torch.nn.init.calculate_gain` takes for inits that follow it."""


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", non_negative=True, saturation=(0.03, 0.97), gain="sigmoid"),
        Activation("tanh", non_negative=False, saturation=(-0.97, 0.97), gain="tanh"),
        Activation("relu", non_negative=True, dead_at_zero=True),
        Activation("leaky_relu", non_negative=False, gain="leaky_relu"),
        Activation("elu", non_negative=False),
        Activation("gelu", non_negative=False),
        Activation("silu", non_negative=False),
        Activation("mish", non_negative=False),
        Activation("softplus", non_negative=True),
        Activation("identity", non_negative=False, gain="linear"),
    )
}
"""Every activation, in the order the CLI and the app list them. The 0.97 saturation
threshold follows the makemore lectures."""


# -- kinds: how a field's text is parsed and its values checked -------------------------

_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""ASCII digits only: no underscores (`1_00`), no other scripts' digits (`٤٢`, `１００`)."""


def parse_int(text: str) -> int:
    if not _INT_RE.fullmatch(text):
        raise ValueError(f"expected a whole number like 42, got {text!r}")
    try:
        return int(text)
    except ValueError:  # more digits than int() reads (sys.get_int_max_str_digits)
        raise ValueError(
            f"expected a whole number like 42, got one of {len(text)} digits"
        ) from None


def parse_float(text: str) -> float:
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise ValueError(f"must be a finite number, got {text!r}")
    if not _FLOAT_RE.fullmatch(text):
        raise ValueError(f"expected a number like 0.1 or 1e-3, got {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {text!r}")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def float_text(value: float) -> str:
    """The shortest text that reads back as exactly `value` (100, 0.1, 1e-05)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


class Kind:
    """How one field reads and writes text; subclasses say what is allowed."""

    choices: tuple[str, ...] = ()
    """Values offered in a list (the form's Select, the help)."""
    suggestions: tuple[str, ...] = ()
    """Values a typed field completes to."""

    def parse(self, text: str) -> Any:
        """The value of `text`, stripped; ValueError saying what is allowed."""
        return self.check(text)

    def check(self, value: Any) -> Any:
        """`value` (from code or TOML) as the field holds it; ValueError if not allowed."""
        raise NotImplementedError

    def text(self, value: Any) -> str:
        return str(value)

    def allowed(self) -> str:
        """What is allowed, in words, for help texts."""
        return ", ".join(self.choices)


@dataclass(frozen=True)
class Choice(Kind):
    choices: tuple[str, ...]

    def check(self, value: Any) -> str:
        if value not in self.choices:
            raise ValueError(f"unknown value {value!r}; allowed: {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class Int(Kind):
    low: int
    high: int

    def parse(self, text: str) -> int:
        return self.check(parse_int(text))

    def check(self, value: Any) -> int:
        if not is_int(value) or not self.low <= value <= self.high:
            raise ValueError(
                f"must be a whole number from {self.low} to {self.high}, got {value!r}"
            )
        return value

    def allowed(self) -> str:
        return f"{self.low} to {self.high}"


@dataclass(frozen=True)
class Float(Kind):
    low: float = -math.inf
    """Values must be above `low` (or equal, with `closed`)."""
    closed: bool = False

    def parse(self, text: str) -> float:
        return self.check(parse_float(text))

    def check(self, value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:  # an int beyond any float, e.g. from TOML
            raise ValueError(
                "must be a finite number, got an integer too large for a float"
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        if value < self.low or (value == self.low and not self.closed):
            raise ValueError(f"must be {self._bound()}, got {float_text(value)}")
        return value

    def _bound(self) -> str:
        if self.low == 0:
            return "a number >= 0" if self.closed else "a positive number"
        return f"a number {'>=' if self.closed else '>'} {float_text(self.low)}"

    def text(self, value: float) -> str:
        return float_text(value)

    def allowed(self) -> str:
        return "a finite number" if self.low == -math.inf else self._bound()


@dataclass(frozen=True)
class Sizes(Kind):
    """Comma-separated positive integers: the input size, then each layer's output size."""

    max_layers: int
    max_size: int = 10**9

    def parse(self, text: str) -> tuple[int, ...]:
        parts = re.split(r"\s*,\s*|\s+", text)
        if "" in parts:
            raise ValueError(
                f"an empty item in {text!r}; give comma-separated positive integers like"
                " 100,100,100"
            )
        try:
            return self.check(tuple(parse_int(p) for p in parts))
        except ValueError as error:
            if not all(_INT_RE.fullmatch(p) for p in parts):
                raise ValueError(
                    f"expected comma-separated positive integers like 100,100,100, got {text!r}"
                ) from None
            raise error

    def check(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of positive integers, got {value!r}")
        sizes = tuple(value)
        if len(sizes) < 2:
            raise ValueError("needs the input size and at least one layer size, e.g. 100,100")
        if len(sizes) - 1 > self.max_layers:
            raise ValueError(f"at most {self.max_layers} layers, got {len(sizes) - 1}")
        for size in sizes:
            if not is_int(size) or size < 1:
                raise ValueError(f"every size must be a positive integer, got {size!r}")
            if size > self.max_size:
                raise ValueError(f"every size must be at most {self.max_size}, got {size}")
        return sizes

    def text(self, value: tuple[int, ...]) -> str:
        return ",".join(str(s) for s in value)

    def allowed(self) -> str:
        return "N+1 positive integers for N layers"


@dataclass(frozen=True)
class Switch(Kind):
    choices: tuple[str, ...] = ("on", "off")

    def parse(self, text: str) -> bool:
        lowered = text.lower()
        if lowered in ("on", "true", "yes"):
            return True
        if lowered in ("off", "false", "no"):
            return False
        raise ValueError(f"expected on or off, got {text!r}")

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value

    def text(self, value: bool) -> str:
        return "on" if value else "off"


@dataclass(frozen=True)
class Pattern(Kind):
    """Free text that must match `regex`; `example` says what is allowed."""

    regex: str
    example: str
    suggestions: tuple[str, ...] = ()
    allow_empty: bool = False

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not (
            (self.allow_empty and value == "") or re.fullmatch(self.regex, value)
        ):
            raise ValueError(f"expected {self.example}, got {value!r}")
        return value

    def allowed(self) -> str:
        return self.example


@dataclass(frozen=True)
class Text(Kind):
    """One line of printable text without surrounding spaces, e.g. a path or a module;
    `example` says what is meant. Empty only when `allow_empty`."""

    example: str
    allow_empty: bool = True

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected {self.example}, got {value!r}")
        if value == "" and not self.allow_empty:
            raise ValueError(f"expected {self.example}, got nothing")
        if not value.isprintable() or value != value.strip():
            raise ValueError(
                f"expected {self.example}: printable text without surrounding spaces, "
                f"got {value!r}"
            )
        return value

    def allowed(self) -> str:
        return self.example


@dataclass(frozen=True)
class Regex(Kind):
    """A Python regular expression (re.search), or empty for none."""

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not value.isprintable():
            raise ValueError(f"expected a regular expression, got {value!r}")
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression ({error}): {value!r}") from None
        return value

    def allowed(self) -> str:
        return "a Python regular expression, matched anywhere in the name (re.search)"


@dataclass(frozen=True)
class Init(Kind):
    """A named init, or `normal:STD` with a positive STD."""

    names: tuple[str, ...]

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*self.names, "normal:STD")

    @property
    def suggestions(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*self.names, "normal:0.01")

    def check(self, value: Any) -> str:
        if value in self.names:
            return value
        if isinstance(value, str) and value.startswith("normal:"):
            std = value.removeprefix("normal:")
            try:
                if parse_float(std) > 0:
                    return value
            except ValueError:
                pass
            raise ValueError(f"normal:STD needs a positive number for STD, got {std!r}")
        raise ValueError(f"unknown init {value!r}; allowed: {', '.join(self.choices)}")


def init_std(init: str) -> float | None:
    """The STD of a `normal:STD` init; None for a named init."""
    return float(init.removeprefix("normal:")) if init.startswith("normal:") else None


FLOAT_RANGES = {
    "float32": (1.1754943508222875e-38, 3.4028234663852886e38),
    "float64": (sys.float_info.min * 2.0**-26, sys.float_info.max),
}
"""Per dtype: the smallest `normal:STD` whose weights keep at least half the dtype's
significant bits (float32: its smallest normal; float64 reaches 26 bits into the
subnormals, where vanishing networks live), and the largest finite value."""


# -- options: a field's declaration ------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """Everything the views need to know about one field, besides its name and default."""

    kind: Kind
    label: str
    """Short, for the forms (at most 7 characters)."""
    help: str
    """What the field means, for the CLI's help and the app's help screen."""
    builtin: bool = False
    """The field describes the built-in MLP, so it does not apply to a user's own model."""


def option(default: Any, kind: Kind, *, label: str, help: str, builtin: bool = False) -> Any:
    """A dataclass field declared with its kind, label and help (the catalogue entry)."""
    return dataclasses.field(
        default=default,
        metadata={"option": Option(kind=kind, label=label, help=help, builtin=builtin)},
    )


@dataclass(frozen=True)
class FieldInfo:
    """One declared field: its name, default and option."""

    name: str
    default: Any
    option: Option

    @property
    def kind(self) -> Kind:
        return self.option.kind

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def default_text(self) -> str:
        return self.kind.text(self.default)


def declared(cls: type) -> tuple[FieldInfo, ...]:
    """The fields of a dataclass declared with `option`, in declaration order."""
    return tuple(
        FieldInfo(f.name, f.default, f.metadata["option"])
        for f in dataclasses.fields(cls)
        if "option" in f.metadata
    )


class SpecError(ValueError):
    """A field of a Spec or TrainSpec holds a value that is not allowed.

    `field` names it; the message says what was wrong and what is allowed.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        """The field at fault (its CLI flag is `--` + field with `-` for `_`)."""
        self.reason = reason
        """What was wrong and what is allowed, without the field name."""

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


def check_fields(obj: Any) -> None:
    """Check and normalise every declared field of a frozen dataclass instance in place."""
    for info in declared(type(obj)):
        try:
            value = info.kind.check(getattr(obj, info.name))
        except ValueError as error:
            raise SpecError(info.name, str(error)) from None
        object.__setattr__(obj, info.name, value)


def parse_texts(cls: type, texts: dict[str, str]) -> dict[str, Any]:
    """Values of `cls`'s fields from their text forms; SpecError naming the field."""
    fields = {info.name: info for info in declared(cls)}
    values = {}
    for name, text in texts.items():
        if name not in fields:
            raise SpecError(name, f"unknown field; allowed: {', '.join(fields)}")
        try:
            values[name] = fields[name].kind.parse(text.strip())
        except ValueError as error:
            raise SpecError(name, str(error)) from None
    return values


def toml_value(value: Any) -> str:
    """A TOML literal for a field value: strings quoted, bools lower-case, lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return float_text(value)
    return str(value)
