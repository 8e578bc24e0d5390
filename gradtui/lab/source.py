"""A user's own network, loaded from a Python file or an importable module (`--model`).

The source defines three names:

- `model()` returns the nn.Module to probe;
- `batch()` returns its input: a tensor (the forward gets it as its one argument), a
  tuple or list (passed as *args) or a dict (passed as **kwargs);
- `loss(output, batch)`, optional, returns a scalar tensor. It receives the same object
  `batch()` returned, moved to the device. Without it the loss is the sum of the output,
  as in the post; for an output that is a tuple, list or dict, the sum of the sums of its
  floating-point tensors (nested containers too; integer tensors and other values are
  left out), so that every output takes part. Define `loss` to choose otherwise.

Targets ride in the batch: a classifier's `batch()` returns `{"images": x, "labels": y}`,
its forward takes `labels=None` and ignores it (the Hugging Face convention), and `loss`
reads `batch["labels"]`. So the three names of the issue suffice, the one seeded draw of
`batch()` covers the targets too, and targets move to the device with the inputs (integer
tensors keep their dtype).

The global RNG is seeded before `model()` and again before `batch()`, so the batch does
not depend on how many numbers the model drew. A checkpoint is loaded with
`torch.load(weights_only=True)`: a file that would need code unpickled is refused.

Every failure is a SourceError (a SpecError of the field `model` or `checkpoint`) whose
one-line message names the source and the reason; an exception raised by the user's code
is shown as its type and first line with the `file:line` of the innermost frame in the
user's file (or, for a module, its top-level package's directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import re
import stat
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from gradtui.fields import SpecError
from gradtui.lab.model import GLOBAL_RNG

DTYPES = {"float32": torch.float32, "float64": torch.float64}
ACCEPTED_CHECKPOINT_KEYS = ("state_dict", "model")
"""A checkpoint is a state dict, or a dict holding one under one of these keys."""


class SourceError(SpecError):
    """The model source (field `model`) or its checkpoint (field `checkpoint`) cannot be
    used; the reason starts with the source as given, e.g. `nets/x.py: ...`."""


@dataclass(frozen=True)
class ModelSource:
    """A loaded source: its text as given, where it lives, and its three callables."""

    text: str
    """As the user gave it: `nets/my_net.py` or `mypkg.nets`."""
    path: Path
    """The resolved file that defines `model` (for a package, its `__init__.py`)."""
    name: str
    """Short, for display: the file's stem, or the module's dotted name."""
    root: Path
    """Frames under this file or folder are the user's code, for `file:line`."""
    model: Callable[[], Any] = field(repr=False)
    batch: Callable[[], Any] = field(repr=False)
    loss: Callable[[Any, Any], Any] | None = field(default=None, repr=False)
    module: ModuleType | None = field(default=None, repr=False, compare=False)
    """The imported module, e.g. for a benchmark that calls an example's `make()`."""

    @property
    def has_loss(self) -> bool:
        return self.loss is not None


class Args(tuple):
    """The forward's positional arguments, and in `batch` the object `batch()` returned
    (moved), which `loss()` receives: a one-tuple and a tensor pass the forward the same
    argument but reach `loss` as what the user returned."""

    batch: Any


# -- errors ------------------------------------------------------------------------------


def shown_path(filename: str | os.PathLike[str]) -> str:
    """`filename` relative to the working directory when it lies under it, else as is."""
    text = os.fspath(filename)
    try:
        relative = Path(text).resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return text
    return str(relative)


def exception_site(exc: BaseException, root: Path | None) -> str | None:
    """`file:line` of the innermost traceback frame under `root` (a file or a folder),
    else of the innermost frame; None without a traceback. A SyntaxError names the
    line it found fault with."""
    if isinstance(exc, SyntaxError) and exc.filename:
        line = f":{exc.lineno}" if exc.lineno else ""
        return f"{shown_path(exc.filename)}{line}"
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    chosen = frames[-1]
    if root is not None:
        for frame in reversed(frames):
            if _under(frame.filename, root):
                chosen = frame
                break
    return f"{shown_path(chosen.filename)}:{chosen.lineno}"


def _under(filename: str, root: Path) -> bool:
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a symlink loop (3.11)
        return False
    return path == root or root in path.parents


def describe_exception(exc: BaseException) -> str:
    """`Type: first line of the message`, or `Type` for an empty message."""
    if isinstance(exc, SyntaxError):
        text = exc.msg or ""
    elif isinstance(exc, SystemExit):
        text = f"exit code {exc.code}"
    else:
        text = str(exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _refuse(text: str, reason: str, field_name: str = "model") -> SourceError:
    return SourceError(field_name, f"{text}: {reason}")


def _raised(text: str, root: Path | None, what: str, exc: BaseException) -> SourceError:
    site = exception_site(exc, root)
    where = f" ({site})" if site else ""
    return _refuse(text, f"{what} raised {describe_exception(exc)}{where}")


@contextlib.contextmanager
def _user_code(source: ModelSource, what: str) -> Iterator[None]:
    """Turn any exception of the user's code into a one-line SourceError about `what`."""
    try:
        yield
    except (Exception, SystemExit) as error:
        raise _raised(source.text, source.root, what, error) from error


def _kind(value: Any) -> str:
    """`a float`, `an int`, `None`: what a value is, for messages."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _shape(tensor: Tensor) -> str:
    return "(" + ", ".join(str(n) for n in tensor.shape) + ("," if tensor.dim() == 1 else "") + ")"


# -- loading -----------------------------------------------------------------------------

_ALLOWED = "a Python file such as nets/my_net.py or an importable module such as mypkg.nets"


def load_source(text: str) -> ModelSource:
    """Import the file or module `text` names and find its `model`, `batch` and `loss`.

    A text that ends with `.py`, holds a path separator or names an existing file (not a
    folder) is a path; otherwise it must be a dotted module name.
    """
    separators = {os.sep, os.altsep or os.sep, "/"}
    if (
        text.endswith(".py")
        or any(s in text for s in separators)
        or (os.path.lexists(text) and not os.path.isdir(text))
    ):
        module, path, root, name = _import_file(text)
    elif text and all(part.isidentifier() for part in text.split(".")):
        module, path, root, name = _import_module(text)
    else:
        raise _refuse(repr(text), f"not a source; expected {_ALLOWED}")
    return _callables(text, module, path, root, name)


def _import_file(text: str) -> tuple[ModuleType, Path, Path, str]:
    if not os.path.lexists(text) or not os.path.exists(text):
        hint = ""
        if not text.endswith(".py") and os.path.isfile(text + ".py"):
            hint = f" (did you mean {text}.py?)"
        raise _refuse(text, f"no such file{hint}")
    if os.path.isdir(text):
        raise _refuse(text, "is a directory; expected a .py file")
    if not stat.S_ISREG(os.stat(text).st_mode):
        raise _refuse(text, "not a regular file; expected a .py file")
    if not text.endswith(".py"):
        raise _refuse(text, "not a Python file; expected a .py file")
    path = Path(text).resolve()
    try:
        source = path.read_bytes()
    except OSError as error:
        raise _refuse(text, f"cannot read it: {error.strerror or error}") from None
    if b"\0" in source:
        raise _refuse(text, "not Python source: it holds NUL bytes (a binary file?)")
    # A private name per file: a second load of the same file replaces the first, and
    # dataclasses, pickling and typing find the module while and after it runs.
    digest = hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    module_name = "_gradtui_source_" + re.sub(r"\W", "_", path.stem) + "_" + digest
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None  # a .py path always has a spec
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.parent)
    sys.path.insert(0, folder)  # as `python nets/my_net.py` does: sibling imports work
    try:
        # The bytes checked above are the ones run; no __pycache__ is written into the
        # user's folder, and an edit is never hidden by a stale one.
        code = compile(source, str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except SyntaxError as error:
        del sys.modules[module_name]
        site = exception_site(error, path)
        where = f" ({site})" if site else ""
        raise _refuse(text, f"syntax error: {error.msg}{where}") from error
    except (Exception, SystemExit) as error:
        del sys.modules[module_name]
        raise _raised(text, path, "importing it", error) from error
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module, path, path, path.stem


def _import_module(text: str) -> tuple[ModuleType, Path, Path, str]:
    top = text.partition(".")[0]
    try:
        top_spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        top_spec = None
    if top_spec is None:
        raise _refuse(text, f"no such file, and no module named {top!r} on the Python path")
    if top_spec.submodule_search_locations:
        root = Path(next(iter(top_spec.submodule_search_locations))).resolve()
    else:
        root = Path(top_spec.origin or top).resolve()
    try:
        module = importlib.import_module(text)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing == text or text.startswith(missing + "."):
            raise _refuse(text, f"no module named {missing!r}") from None
        raise _raised(text, root, "importing it", error) from error
    except SyntaxError as error:
        site = exception_site(error, root)
        where = f" ({site})" if site else ""
        raise _refuse(text, f"syntax error: {error.msg}{where}") from error
    except (Exception, SystemExit) as error:
        raise _raised(text, root, "importing it", error) from error
    filename = getattr(module, "__file__", None)
    if filename is None:
        what = (
            "is a namespace package (a folder without __init__.py)"
            if hasattr(module, "__path__")
            else "is built into Python (no file)"
        )
        raise _refuse(
            text,
            f"{what} and defines no model(); expected a module that defines model() and batch()",
        )
    return module, Path(filename).resolve(), root, text


def _callables(text: str, module: ModuleType, path: Path, root: Path, name: str) -> ModelSource:
    found = {}
    for attr in ("model", "batch", "loss"):
        value = getattr(module, attr, None)
        if value is None and attr != "loss":
            raise _refuse(
                text,
                f"defines no {attr}(); it must define model() returning an nn.Module and"
                " batch() returning its input",
            )
        if value is not None and not callable(value):
            raise _refuse(text, f"{attr} is {_kind(value)}, not a function; define {attr}()")
        found[attr] = value
    return ModelSource(text=text, path=path, name=name, root=root, module=module, **found)


# -- building ----------------------------------------------------------------------------


def build(
    source: ModelSource,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | str = torch.float32,
) -> tuple[nn.Module, Args, dict[str, Any]]:
    """The model on `device` in `dtype`, and the forward's (args, kwargs) there.

    Seeds torch before `model()` and again before `batch()`. The model is left in the
    mode `model()` made it (a new module trains: dropout and batch norm act as in
    training). Floating-point tensors of the batch are converted to `dtype`; integer
    tensors keep theirs; other values (None, numbers) pass unchanged; a mapping becomes a
    dict. `dtype` must be floating-point.
    """
    device = torch.device(device)
    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    with GLOBAL_RNG:
        torch.manual_seed(seed)
        with _user_code(source, "model()"):
            model = source.model()
    if not isinstance(model, nn.Module):
        raise _refuse(source.text, f"model() returned {_kind(model)}, not an nn.Module")
    if next(model.parameters(), None) is None:
        raise _refuse(
            source.text,
            f"model() returned {_kind(model)} with no parameters, so nothing to measure"
            " (layers kept in a plain list? use nn.ModuleList)",
        )
    try:
        model = model.to(device=device, dtype=dtype)
    except Exception as error:
        raise _refuse(
            source.text, f"moving the model to {device} raised {describe_exception(error)}"
        ) from error
    model.zero_grad(set_to_none=True)

    with GLOBAL_RNG:
        torch.manual_seed(seed)
        with _user_code(source, "batch()"):
            value = source.batch()
    if not isinstance(value, Tensor | tuple | list | Mapping):
        raise _refuse(
            source.text,
            f"batch() returned {_kind(value)}; expected a tensor, a tuple or list of the"
            " forward's arguments, or a dict of its keyword arguments",
        )
    if isinstance(value, Mapping):
        bad = next((key for key in value if not isinstance(key, str)), None)
        if bad is not None:
            raise _refuse(
                source.text,
                f"batch() returned a dict with the key {bad!r}; keyword arguments need string keys",
            )
    try:
        moved = _move(value, device, dtype)
    except Exception as error:
        raise _refuse(
            source.text, f"moving the batch to {device} raised {describe_exception(error)}"
        ) from error
    if isinstance(moved, Tensor):
        args, kwargs = Args((moved,)), {}
    elif isinstance(moved, dict):
        args, kwargs = Args(), moved
    else:
        args, kwargs = Args(moved), {}
    args.batch = moved
    return model, args, kwargs


def _move(value: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """`value` with its tensors on `device`, floating ones in `dtype`, structure kept."""
    if isinstance(value, Tensor):
        if value.is_floating_point():
            return value.to(device=device, dtype=dtype)
        return value.to(device)
    if isinstance(value, tuple | list):
        items = [_move(v, device, dtype) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, Mapping):
        return {k: _move(v, device, dtype) for k, v in value.items()}
    return value


# -- forward and loss --------------------------------------------------------------------


def forward_loss(
    source: ModelSource, model: nn.Module, args: tuple, kwargs: Mapping[str, Any]
) -> Tensor:
    """Run the forward and the loss; the loss as a 0-dim floating tensor with a grad_fn.

    `loss()` receives `args.batch` when `args` came from `build`; for a plain tuple, the
    dict of keyword arguments, the one tensor argument, or the tuple of arguments.
    """
    with _user_code(source, "the forward"):
        output = model(*args, **kwargs)
    if source.loss is None:
        who = "the default loss (sum of the output)"
        loss = default_loss(output)
        if loss is None:
            raise _refuse(
                source.text,
                f"the forward returned {_describe_value(output)}, which holds no"
                " floating-point tensor to sum; define loss(output, batch)",
            )
    else:
        who = "loss()"
        batch = getattr(args, "batch", None)
        if batch is None:
            batch = dict(kwargs) if kwargs else args[0] if len(args) == 1 else tuple(args)
        with _user_code(source, "loss()"):
            loss = source.loss(output, batch)
    return _check_loss(source, who, loss)


def default_loss(output: Any) -> Tensor | None:
    """The sum of `output`; for a tuple, list or dict (nested too), the sum of the sums
    of its floating-point tensors. None when it holds none."""
    sums = [t.sum() for t in _floating_tensors(output)]
    if not sums:
        return None
    total = sums[0]
    for part in sums[1:]:
        total = total + part
    return total


def _floating_tensors(value: Any) -> Iterator[Tensor]:
    if isinstance(value, Tensor):
        if value.is_floating_point():
            yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _floating_tensors(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _floating_tensors(item)


def _describe_value(value: Any) -> str:
    if isinstance(value, Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        return f"{'an' if dtype.startswith('int') else 'a'} {dtype} tensor of shape {_shape(value)}"
    return _kind(value)


def _check_loss(source: ModelSource, who: str, loss: Any) -> Tensor:
    if not isinstance(loss, Tensor):
        raise _refuse(source.text, f"{who} returned {_kind(loss)}, not a tensor")
    if not loss.is_floating_point():
        raise _refuse(
            source.text,
            f"{who} returned {_describe_value(loss)}; the loss must be floating-point",
        )
    if loss.numel() != 1:
        raise _refuse(
            source.text,
            f"{who} returned {_describe_value(loss)}; the loss must be a scalar"
            " (reduce it, e.g. with .mean())",
        )
    if loss.grad_fn is None:
        raise _refuse(
            source.text,
            f"{who} returned a tensor with no grad_fn: it is not computed from the"
            " model's parameters (detached, or under torch.no_grad()?)",
        )
    return loss.reshape(())


def check_gradients(model: nn.Module, source: ModelSource | None = None) -> None:
    """After backward: SourceError unless some parameter received a gradient."""
    if any(p.grad is not None for p in model.parameters()):
        return
    reason = "no parameter received a gradient: is the loss built from the model's output?"
    if source is None:
        raise SourceError("model", reason)
    raise _refuse(source.text, reason)


def without_gradient(model: nn.Module) -> list[str]:
    """Names of the parameters that take gradients but received none in the last
    backward (unused layers, or outputs the loss leaves out)."""
    return [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


# -- checkpoints -------------------------------------------------------------------------


def load_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load the state dict in the file `path` into `model`, strictly.

    Accepted: a dict of tensors (`model.state_dict()` saved with torch.save), or a dict
    holding one under "state_dict" or "model" (as training scripts save it). Loaded with
    `torch.load(weights_only=True)`: nothing but tensors and plain containers is
    unpickled, so a file that holds other objects is refused, never run.
    """
    text = os.fspath(path)

    def refuse(reason: str) -> SourceError:
        return _refuse(text, reason, "checkpoint")

    if not os.path.exists(text):
        raise refuse("no such file")
    if os.path.isdir(text):
        raise refuse("is a directory; expected a file saved with torch.save")
    if not stat.S_ISREG(os.stat(text).st_mode):
        raise refuse("not a regular file")
    try:
        data = torch.load(text, map_location="cpu", weights_only=True)
    except Exception as error:
        unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if unsupported:
            raise refuse(
                f"holds an object of class {unsupported.group(1)}, which loading would have"
                " to unpickle (run code); save model.state_dict() instead"
            ) from None
        raise refuse(
            f"not a checkpoint torch.load can read ({describe_exception(error)})"
        ) from None
    state = _state_dict(data)
    if state is None:
        raise refuse(
            f"holds {_kind(data)}, not a state dict; expected a dict of tensors"
            " (model.state_dict()) or a dict holding one under 'state_dict' or 'model'"
        )
    problem = _mismatch(model, state)
    if problem:
        raise refuse(f"does not match the model: {problem}")
    try:
        model.load_state_dict(state, strict=True)
    except Exception as error:  # what a module's own loading hooks refuse
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(error).__name__
        raise refuse(f"does not match the model: {detail}") from None


def _state_dict(data: Any) -> dict[str, Tensor] | None:
    def is_state(value: Any) -> bool:
        return isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items()
        )

    if is_state(data) and data:
        return dict(data)
    if isinstance(data, Mapping):
        for key in ACCEPTED_CHECKPOINT_KEYS:
            if is_state(data.get(key)):
                return dict(data[key])
    return None


def _mismatch(model: nn.Module, state: dict[str, Tensor]) -> str | None:
    """The first missing key, unexpected key and shape mismatch, in one line."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    parts = []
    for keys, what in ((missing, "missing"), (unexpected, "unexpected")):
        if keys:
            more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
            parts.append(f"{what} key {keys[0]!r}{more}")
    if shapes:
        key = shapes[0]
        more = f" (and {len(shapes) - 1} more)" if len(shapes) > 1 else ""
        parts.append(
            f"shape mismatch at {key!r}: checkpoint {_shape(state[key])},"
            f" model {_shape(own[key])}{more}"
        )
    return "; ".join(parts) or None
