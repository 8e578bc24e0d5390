"""The user-model loader (gradtui.lab.source): every way a source can fail, as one line
naming the source, the reason and the user's file:line; seeding, moving, checkpoints; and
the examples in examples/."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from gradtui.lab.probe import prepare
from gradtui.lab.source import (
    Args,
    SourceError,
    build,
    check_gradients,
    exception_site,
    forward_loss,
    load_checkpoint,
    load_source,
    without_gradient,
)
from gradtui.spec import Spec, SpecError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

NET = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        return self.fc(x)  # forward line


def model():
    return Net()
"""
"""A network with a forward of its own; sources below add batch() and loss()."""


def write(root: Path, name: str, text: str) -> str:
    """Write `text` (dedented) to root/name; return `name`, the source's text."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return name


def line_of(root: Path, name: str, marker: str) -> int:
    lines = (root / name).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if marker in line)


def error_of(call, *args, **kwargs) -> SourceError:
    with pytest.raises(SourceError) as info:
        call(*args, **kwargs)
    error = info.value
    assert isinstance(error, SpecError)
    assert "\n" not in str(error) and "\r" not in str(error)
    return error


def reason(call, *args, **kwargs) -> str:
    """The reason of the SourceError `call` raises, checked to be about --model."""
    error = error_of(call, *args, **kwargs)
    assert error.field == "model" and error.flag == "--model"
    return error.reason


def probe(text: str, seed: int = 0, **kwargs):
    source = load_source(text)
    model, args, kw = build(source, seed=seed, **kwargs)
    loss = forward_loss(source, model, args, kw)
    return source, model, loss


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Work in tmp_path, so messages show paths relative to it (nets/x.py)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """tmp_path on sys.path; modules imported from it are forgotten afterwards."""
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("mypkg") or name.startswith("solo"):
            del sys.modules[name]


# -- the text: a path or a module name ---------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "1_00", "a b", "mypkg..nets", ".nets"])
def test_a_text_neither_path_nor_module_is_refused_naming_what_is_allowed(here, text):
    assert reason(load_source, text) == (
        f"{text!r}: not a source; expected a Python file such as nets/my_net.py or an"
        " importable module such as mypkg.nets"
    )


def test_a_missing_file(here):
    assert reason(load_source, "nets/nope.py") == "nets/nope.py: no such file"


def test_a_missing_file_hints_at_the_py_file_beside_it(here):
    write(here, "nets/net.py", NET)
    assert reason(load_source, "nets/net") == "nets/net: no such file (did you mean nets/net.py?)"


def test_a_directory(here):
    (here / "nets").mkdir()
    assert reason(load_source, "nets/") == "nets/: is a directory; expected a .py file"


def test_a_file_that_is_not_python(here):
    write(here, "notes.txt", "def model(): pass\n")
    assert reason(load_source, "notes.txt") == "notes.txt: not a Python file; expected a .py file"


def test_a_binary_file_named_py(here):
    (here / "blob.py").write_bytes(b"\x7fELF\x00\x01\x02")
    assert reason(load_source, "blob.py") == (
        "blob.py: not Python source: it holds NUL bytes (a binary file?)"
    )


def test_a_syntax_error_names_its_line(here):
    name = write(here, "nets/bad.py", "import torch\n\nx = = 1  # here\n")
    message = reason(load_source, name)
    assert message.startswith("nets/bad.py: syntax error: ")
    assert message.endswith("(nets/bad.py:3)")


def test_a_syntax_error_in_a_sibling_module_names_that_module(here):
    write(here, "nets/helper.py", "def f(:\n")
    name = write(here, "nets/net.py", "import helper\n")  # the file's folder is importable
    message = reason(load_source, name)
    assert message.startswith("nets/net.py: syntax error: ")
    assert message.endswith("(nets/helper.py:1)")


def test_an_exception_while_importing_names_the_users_line(here):
    name = write(here, "nets/x.py", "import torch\nscale = undefined_name  # boom\n")
    assert reason(load_source, name) == (
        "nets/x.py: importing it raised NameError: name 'undefined_name' is not defined"
        " (nets/x.py:2)"
    )


def test_sys_exit_while_importing_is_reported_not_obeyed(here):
    name = write(here, "x.py", "import sys\nsys.exit(3)\n")
    assert reason(load_source, name) == "x.py: importing it raised SystemExit: exit code 3 (x.py:2)"


def test_the_users_folder_leaves_sys_path_after_import(here):
    name = write(here, "nets/net.py", NET + "def batch():\n    return torch.randn(1, 20)\n")
    before = list(sys.path)
    load_source(name)
    assert sys.path == before


@pytest.mark.parametrize("missing", ["model", "batch"])
def test_model_or_batch_missing(here, missing):
    text = {"model": "def batch():\n    return 1\n", "batch": "def model():\n    return 1\n"}
    name = write(here, "x.py", text[missing])
    assert reason(load_source, name) == (
        f"x.py: defines no {missing}(); it must define model() returning an nn.Module and"
        " batch() returning its input"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("model = 3\ndef batch(): pass\n", "model is an int, not a function; define model()"),
        ("def model(): pass\nbatch = [1]\n", "batch is a list, not a function; define batch()"),
        (
            "def model(): pass\ndef batch(): pass\nloss = 'sum'\n",
            "loss is a str, not a function; define loss()",
        ),
    ],
)
def test_a_name_that_is_not_callable(here, body, expected):
    name = write(here, "x.py", body)
    assert reason(load_source, name) == f"x.py: {expected}"


def test_a_loaded_file_says_what_it_is(here):
    name = write(here, "nets/my_net.py", NET + "def batch():\n    return torch.randn(1, 20)\n")
    source = load_source(name)
    assert source.text == "nets/my_net.py"
    assert source.path == (here / "nets/my_net.py").resolve()
    assert source.name == "my_net"
    assert not source.has_loss
    assert callable(source.model) and callable(source.batch) and source.loss is None


def test_loading_twice_runs_the_file_again(here):
    """An edited file is seen on the next load (the app reloads after an edit)."""
    body = "import torch\nSIZE = {}\ndef model(): return torch.nn.Linear(SIZE, 1)\n"
    name = write(here, "x.py", body.format(3) + "def batch(): return torch.zeros(3)\n")
    assert load_source(name).module.SIZE == 3
    write(here, "x.py", body.format(4) + "def batch(): return torch.zeros(4)\n")
    assert load_source(name).module.SIZE == 4


# -- module names ------------------------------------------------------------------------


def test_a_module_name_is_imported(packages):
    write(packages, "mypkg/__init__.py", "")
    write(packages, "mypkg/nets.py", NET + "def batch():\n    return torch.randn(2, 20)\n")
    source, model, loss = probe("mypkg.nets")
    assert source.name == "mypkg.nets"
    assert source.path == (packages / "mypkg/nets.py").resolve()
    assert source.root == (packages / "mypkg").resolve()
    assert loss.shape == ()


def test_a_module_error_names_the_line_in_its_package_not_in_torch(packages, monkeypatch):
    write(packages, "mypkg/__init__.py", "")
    write(
        packages,
        "mypkg/helpers.py",
        """\
        import torch

        def inputs():
            return torch.randn(1, 10)  # wrong width
        """,
    )
    write(packages, "mypkg/nets.py", NET + "from mypkg.helpers import inputs as batch\n")
    monkeypatch.chdir(packages)
    source = load_source("mypkg.nets")
    model, args, kwargs = build(source, seed=0)
    line = line_of(packages, "mypkg/nets.py", "# forward line")
    assert reason(forward_loss, source, model, args, kwargs) == (
        "mypkg.nets: the forward raised RuntimeError: mat1 and mat2 shapes cannot be"
        f" multiplied (1x10 and 20x5) (mypkg/nets.py:{line})"
    )


def test_a_missing_module(packages):
    write(packages, "mypkg/__init__.py", "")
    assert reason(load_source, "mypkg.nope") == "mypkg.nope: no module named 'mypkg.nope'"
    assert reason(load_source, "nopkg_zz9.nets") == (
        "nopkg_zz9.nets: no such file, and no module named 'nopkg_zz9' on the Python path"
    )


def test_a_missing_import_inside_the_module_is_the_users_error(packages, monkeypatch):
    write(packages, "mypkg/__init__.py", "")
    write(packages, "mypkg/nets.py", "import torch\nimport not_a_module_zz9\n")
    monkeypatch.chdir(packages)
    assert reason(load_source, "mypkg.nets") == (
        "mypkg.nets: importing it raised ModuleNotFoundError: No module named"
        " 'not_a_module_zz9' (mypkg/nets.py:2)"
    )


def test_a_namespace_package(packages):
    (packages / "mypkg").mkdir()
    assert reason(load_source, "mypkg") == (
        "mypkg: is a namespace package (a folder without __init__.py) and defines no"
        " model(); expected a module that defines model() and batch()"
    )


def test_a_top_level_module_file(packages):
    write(packages, "solo_net.py", NET + "def batch():\n    return torch.randn(1, 20)\n")
    source = load_source("solo_net")
    assert source.root == (packages / "solo_net.py").resolve()


# -- build -------------------------------------------------------------------------------


def test_model_raising_names_the_innermost_line_in_the_users_file(here):
    name = write(
        here,
        "nets/x.py",
        """\
        import torch
        from torch import nn

        def layers():
            return [nn.Linear(10, 10), nn.Linear(0.5, 2)]  # bad size

        def model():
            return nn.Sequential(*layers())

        def batch():
            return torch.randn(1, 10)
        """,
    )
    source = load_source(name)
    message = reason(build, source, seed=0)
    assert message.startswith("nets/x.py: model() raised TypeError: ")
    assert message.endswith(f"(nets/x.py:{line_of(here, name, '# bad size')})")


@pytest.mark.parametrize(
    ("returns", "expected"),
    [("[nn.Linear(2, 2)]", "a list"), ("None", "None"), ("nn.Linear", "a type")],
)
def test_model_returning_no_module(here, returns, expected):
    name = write(here, "x.py", f"from torch import nn\ndef model(): return {returns}\nbatch = id\n")
    assert reason(build, load_source(name), seed=0) == (
        f"x.py: model() returned {expected}, not an nn.Module"
    )


def test_a_module_without_parameters(here):
    """The post's script kept its layers in a plain list: nothing is registered."""
    name = write(
        here,
        "x.py",
        """\
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(2, 2)]

        model = Net
        def batch(): pass
        """,
    )
    assert reason(build, load_source(name), seed=0) == (
        "x.py: model() returned a Net with no parameters, so nothing to measure (layers kept"
        " in a plain list? use nn.ModuleList)"
    )


def test_batch_raising(here):
    name = write(here, "x.py", NET + "def batch():\n    return torch.randn(1, -20)  # bad\n")
    message = reason(build, load_source(name), seed=0)
    assert message.startswith("x.py: batch() raised RuntimeError: ")
    assert message.endswith(f"(x.py:{line_of(here, name, '# bad')})")


@pytest.mark.parametrize(
    ("returns", "kind"), [("3", "an int"), ("None", "None"), ("'x'", "a str"), ("{1, 2}", "a set")]
)
def test_batch_of_another_type_is_refused_naming_it(here, returns, kind):
    name = write(here, "x.py", NET + f"def batch():\n    return {returns}\n")
    assert reason(build, load_source(name), seed=0) == (
        f"x.py: batch() returned {kind}; expected a tensor, a tuple or list of the forward's"
        " arguments, or a dict of its keyword arguments"
    )


def test_a_dict_batch_needs_string_keys(here):
    name = write(here, "x.py", NET + "def batch():\n    return {0: torch.zeros(1)}\n")
    assert reason(build, load_source(name), seed=0) == (
        "x.py: batch() returned a dict with the key 0; keyword arguments need string keys"
    )


STRUCTURED = """\
import torch
from torch import nn

SEEN = []


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x, labels=None, flag=None):
        SEEN.append((x, labels, flag))
        return self.fc(x)


def model():
    return Net()


def batch():
    return {kind}


def loss(output, batch):
    SEEN.append(batch)
    return output.sum()
"""


def test_a_tuple_batch_is_moved_converted_and_passed_as_args(here):
    name = write(
        here,
        "x.py",
        STRUCTURED.format(kind="(torch.randn(4, 3), torch.randint(0, 2, (4,)), None)"),
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0, dtype="float64")
    assert isinstance(args, tuple) and kwargs == {}
    x, labels, flag = args
    assert x.dtype == torch.float64 and labels.dtype == torch.int64 and flag is None
    assert model.fc.weight.dtype == torch.float64
    forward_loss(source, model, args, kwargs)
    forwarded, received = source.module.SEEN
    assert forwarded[0] is x and forwarded[1] is labels
    assert isinstance(received, tuple) and received[0] is x  # loss gets the batch as returned


def test_a_dict_batch_is_passed_as_kwargs_and_reaches_loss_as_the_dict(here):
    name = write(
        here,
        "x.py",
        STRUCTURED.format(
            kind="{'x': torch.randn(4, 3), 'labels': torch.tensor([1, 0, 1, 1], dtype=torch.int32),"
            " 'flag': [torch.ones(1)]}"
        ),
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0, dtype=torch.float64)
    assert args == () and set(kwargs) == {"x", "labels", "flag"}
    assert kwargs["x"].dtype == torch.float64
    assert kwargs["labels"].dtype == torch.int32  # integer tensors keep their dtype
    assert kwargs["flag"][0].dtype == torch.float64  # nested containers are moved too
    forward_loss(source, model, args, kwargs)
    assert source.module.SEEN[-1] == kwargs


@pytest.mark.parametrize(
    ("kind", "received"), [("torch.randn(1, 3)", torch.Tensor), ("(torch.randn(1, 3),)", tuple)]
)
def test_loss_receives_a_tensor_or_a_one_tuple_as_batch_returned_it(here, kind, received):
    source = load_source(write(here, "x.py", STRUCTURED.format(kind=kind)))
    model, args, kwargs = build(source, seed=0)
    assert isinstance(args, Args) and len(args) == 1 and isinstance(args[0], torch.Tensor)
    forward_loss(source, model, args, kwargs)
    assert isinstance(source.module.SEEN[-1], received)


SEEDED = """\
import torch
from torch import nn

EXTRA_DRAWS = {draws}


def model():
    torch.randn(EXTRA_DRAWS)
    return nn.Linear(5, 3)


def batch():
    return torch.randn(2, 5)
"""


def test_one_seed_gives_one_model_and_batch_and_the_batch_ignores_the_models_draws(here):
    few = load_source(write(here, "few.py", SEEDED.format(draws=0)))
    many = load_source(write(here, "many.py", SEEDED.format(draws=1000)))
    model_a, (x_a,), _ = build(few, seed=3)
    model_b, (x_b,), _ = build(few, seed=3)
    _, (x_many,), _ = build(many, seed=3)
    model_c, (x_c,), _ = build(few, seed=4)
    assert torch.equal(model_a.weight, model_b.weight) and torch.equal(x_a, x_b)
    assert torch.equal(x_a, x_many)  # reseeded before batch()
    assert not torch.equal(model_a.weight, model_c.weight) and not torch.equal(x_a, x_c)


# -- forward and loss --------------------------------------------------------------------


def test_the_forward_raising_names_the_users_forward_line(here):
    name = write(here, "nets/x.py", NET + "def batch():\n    return torch.randn(1, 10)\n")
    source = load_source(name)
    model, args, kwargs = build(source, seed=0)
    assert reason(forward_loss, source, model, args, kwargs) == (
        "nets/x.py: the forward raised RuntimeError: mat1 and mat2 shapes cannot be"
        f" multiplied (1x10 and 20x5) (nets/x.py:{line_of(here, name, '# forward line')})"
    )


def test_without_a_frame_in_the_users_file_the_innermost_frame_is_named(here):
    name = write(
        here,
        "x.py",
        "import torch\nfrom torch import nn\n"
        "def model(): return nn.Linear(20, 5)\ndef batch(): return torch.randn(1, 10)\n",
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0)
    message = reason(forward_loss, source, model, args, kwargs)
    assert message.startswith("x.py: the forward raised RuntimeError: mat1 and mat2 shapes")
    site = message.rpartition("(")[2].rstrip(")")
    assert site.rpartition(":")[0].endswith("torch/nn/modules/linear.py")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("return output.sum().item()", "loss() returned a float, not a tensor"),
        (
            "return output",
            "loss() returned a float32 tensor of shape (1, 5); the loss must be a scalar"
            " (reduce it, e.g. with .mean())",
        ),
        (
            "return output.argmax()",
            "loss() returned an int64 tensor of shape (); the loss must be floating-point",
        ),
        (
            "return output.sum().detach()",
            "loss() returned a tensor with no grad_fn: it is not computed from the model's"
            " parameters (detached, or under torch.no_grad()?)",
        ),
    ],
)
def test_a_loss_that_is_not_a_differentiable_scalar(here, body, expected):
    name = write(
        here,
        "x.py",
        NET + "def batch():\n    return torch.randn(1, 20)\n"
        f"def loss(output, batch):\n    {body}\n",
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0)
    assert reason(forward_loss, source, model, args, kwargs) == f"x.py: {expected}"


def test_loss_raising(here):
    name = write(
        here,
        "x.py",
        NET + "def batch():\n    return torch.randn(1, 20)\n"
        "def loss(output, batch):\n    return batch.labels  # no such attribute\n",
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0)
    line = line_of(here, name, "# no such attribute")
    assert reason(forward_loss, source, model, args, kwargs) == (
        "x.py: loss() raised AttributeError: 'Tensor' object has no attribute 'labels'"
        f" (x.py:{line})"
    )


def test_a_one_element_loss_becomes_0_dim(here):
    name = write(
        here,
        "x.py",
        NET + "def batch():\n    return torch.randn(1, 20)\n"
        "def loss(output, batch):\n    return output.sum(1)\n",
    )
    assert probe(name)[2].shape == ()


def test_the_default_loss_sums_the_floating_tensors_of_a_structured_output(here):
    name = write(
        here,
        "x.py",
        """\
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(3, 2)
                self.b = nn.Linear(3, 4)

            def forward(self, x):
                return {"a": self.a(x), "rest": (self.b(x), x.argmax(1), None)}

        model = Net
        def batch(): return torch.randn(2, 3)
        """,
    )
    source, model, loss = probe(name)
    x = build(source, seed=0)[1][0]  # the same batch again
    assert torch.equal(loss, model.a(x).sum() + model.b(x).sum())
    loss.backward()
    assert without_gradient(model) == []


def test_the_default_loss_needs_a_floating_tensor(here):
    name = write(
        here,
        "x.py",
        """\
        import torch
        from torch import nn

        class Net(nn.Linear):
            def forward(self, x):
                return (super().forward(x).argmax(1),)

        def model(): return Net(3, 2)
        def batch(): return torch.randn(2, 3)
        """,
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0)
    assert reason(forward_loss, source, model, args, kwargs) == (
        "x.py: the forward returned a tuple, which holds no floating-point tensor to sum;"
        " define loss(output, batch)"
    )


UNREGISTERED = """\
import torch
from torch import nn

OUTSIDE = nn.Linear(3, 3)  # not part of the model


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        return OUTSIDE(x)


model = Net
def batch(): return torch.randn(1, 3)
"""


def test_no_parameter_receiving_a_gradient(here):
    source, model, loss = probe(write(here, "x.py", UNREGISTERED))
    loss.backward()
    assert without_gradient(model) == ["unused.weight", "unused.bias"]
    assert reason(check_gradients, model, source) == (
        "x.py: no parameter received a gradient: is the loss built from the model's output?"
    )
    assert reason(check_gradients, model) == (
        "no parameter received a gradient: is the loss built from the model's output?"
    )


# -- exception_site ----------------------------------------------------------------------


def test_exception_site_is_relative_under_the_working_directory_else_absolute(
    tmp_path, monkeypatch
):
    name = write(tmp_path, "nets/x.py", "def f():\n    raise ValueError('no')\n")
    path = (tmp_path / name).resolve()
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    try:
        namespace["f"]()
    except ValueError as error:
        caught = error
    monkeypatch.chdir(tmp_path)
    assert exception_site(caught, path) == "nets/x.py:2"
    monkeypatch.chdir(tmp_path / "nets")
    assert exception_site(caught, path) == "x.py:2"
    monkeypatch.chdir(Path(__file__).parent)
    assert exception_site(caught, path) == f"{path}:2"
    assert exception_site(ValueError("never raised"), path) is None


# -- checkpoints -------------------------------------------------------------------------


def checkpoint_reason(model, path) -> str:
    error = error_of(load_checkpoint, model, path)
    assert error.field == "checkpoint" and error.flag == "--checkpoint"
    return error.reason


class Small(nn.Module):
    def __init__(self, out: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(4, out)
        self.head = nn.Linear(out, 2)


def test_a_checkpoint_round_trips(here):
    torch.manual_seed(1)
    saved = Small()
    torch.save(saved.state_dict(), "ckpt.pt")
    torch.manual_seed(2)
    fresh = Small()
    assert not torch.equal(fresh.fc.weight, saved.fc.weight)
    load_checkpoint(fresh, "ckpt.pt")
    for (name, a), b in zip(saved.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("key", ["state_dict", "model"])
def test_a_checkpoint_may_hold_the_state_dict_under_a_key(here, key):
    saved = Small()
    torch.save({key: saved.state_dict(), "epoch": 3, "note": "x"}, "ckpt.pt")
    fresh = Small()
    load_checkpoint(fresh, "ckpt.pt")
    assert torch.equal(fresh.head.bias, saved.head.bias)


def test_a_checkpoint_loads_into_a_float64_model(here):
    saved = Small()
    torch.save(saved.state_dict(), "ckpt.pt")
    fresh = Small().double()
    load_checkpoint(fresh, "ckpt.pt")
    assert fresh.fc.weight.dtype == torch.float64
    assert torch.equal(fresh.fc.weight, saved.fc.weight.double())


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s.pop("fc.bias"),
            "ckpt.pt: does not match the model: missing key 'fc.bias'",
        ),
        (
            lambda s: (s.pop("fc.bias"), s.pop("head.bias")),
            "ckpt.pt: does not match the model: missing key 'fc.bias' (and 1 more)",
        ),
        (
            lambda s: s.update(extra=torch.zeros(1)),
            "ckpt.pt: does not match the model: unexpected key 'extra'",
        ),
        (
            lambda s: s.update({"fc.weight": torch.zeros(5, 4)}),
            "ckpt.pt: does not match the model: shape mismatch at 'fc.weight': checkpoint"
            " (5, 4), model (3, 4)",
        ),
        (
            lambda s: (s.pop("head.weight"), s.update(stray=torch.zeros(1))),
            "ckpt.pt: does not match the model: missing key 'head.weight'; unexpected key 'stray'",
        ),
    ],
)
def test_a_checkpoint_that_does_not_match_names_the_first_problem(here, edit, expected):
    state = Small().state_dict()
    edit(state)
    torch.save(state, "ckpt.pt")
    assert checkpoint_reason(Small(), "ckpt.pt") == expected


def test_a_checkpoint_of_another_model_names_the_shape(here):
    torch.save(Small(out=6).state_dict(), "ckpt.pt")
    assert checkpoint_reason(Small(), "ckpt.pt") == (
        "ckpt.pt: does not match the model: shape mismatch at 'fc.weight': checkpoint (6, 4),"
        " model (3, 4) (and 2 more)"
    )


RAN = []


def _side_effect() -> list:
    RAN.append("unpickled")
    return RAN


class Payload:
    """An object whose unpickling runs code (_side_effect)."""

    def __reduce__(self):
        return (_side_effect, ())


def test_a_checkpoint_holding_code_is_refused_not_unpickled(here):
    torch.save({"fc.weight": torch.zeros(3, 4), "trap": Payload()}, "evil.pt")
    message = checkpoint_reason(Small(), "evil.pt")
    assert message == (
        "evil.pt: holds an object of class test_source._side_effect, which loading would have"
        " to unpickle (run code); save model.state_dict() instead"
    ) or message == (
        "evil.pt: holds an object of class tests.test_source._side_effect, which loading would"
        " have to unpickle (run code); save model.state_dict() instead"
    )
    assert RAN == []


@pytest.mark.parametrize(
    ("data", "kind"), [([torch.zeros(1)], "a list"), ({}, "a dict"), (torch.zeros(2), "a Tensor")]
)
def test_a_checkpoint_that_is_not_a_state_dict(here, data, kind):
    torch.save(data, "ckpt.pt")
    assert checkpoint_reason(Small(), "ckpt.pt") == (
        f"ckpt.pt: holds {kind}, not a state dict; expected a dict of tensors"
        " (model.state_dict()) or a dict holding one under 'state_dict' or 'model'"
    )


def test_a_checkpoint_file_missing_a_directory_or_not_torch(here):
    assert checkpoint_reason(Small(), "nope.pt") == "nope.pt: no such file"
    (here / "dir.pt").mkdir()
    assert checkpoint_reason(Small(), "dir.pt") == (
        "dir.pt: is a directory; expected a file saved with torch.save"
    )
    (here / "notes.txt").write_text("hello")
    assert checkpoint_reason(Small(), "notes.txt").startswith(
        "notes.txt: not a checkpoint torch.load can read ("
    )


# -- the examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example", ["mlp.py", "residual_mlp.py", "small_cnn.py", "transformer_block.py"]
)
def test_an_example_probes_and_every_parameter_gets_a_gradient(example):
    source, model, loss = probe(str(EXAMPLES / example))
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    check_gradients(model, source)
    assert without_gradient(model) == []
    assert source.module.__doc__ and f"--model examples/{example}" in source.module.__doc__


def test_the_cnn_examples_labels_stay_integers_in_float64():
    source = load_source(str(EXAMPLES / "small_cnn.py"))
    model, args, kwargs = build(source, seed=0, dtype="float64")
    assert kwargs["images"].dtype == torch.float64 and kwargs["labels"].dtype == torch.int64
    assert forward_loss(source, model, args, kwargs).dtype == torch.float64


def test_the_transformer_example_scales_with_make():
    source = load_source(str(EXAMPLES / "transformer_block.py"))
    model_fn, batch_fn, loss_fn = source.module.make(d_model=32, heads=4, layers=2, seq=8, batch=3)
    torch.manual_seed(0)
    model = model_fn()
    tokens = batch_fn()
    output = model(tokens)
    assert output.shape == (3, 8, source.module.VOCAB) and len(model.blocks) == 2
    loss_fn(output, tokens).backward()
    assert without_gradient(model) == []


@pytest.mark.parametrize("seed", [0, 12345])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_mlp_example_is_the_builtin_network_bit_for_bit(seed, dtype):
    source = load_source(str(EXAMPLES / "mlp.py"))
    model, (x,), _ = build(source, seed=seed, dtype=dtype)
    spec = Spec(seed=seed, dtype=dtype)
    builtin, builtin_x, _ = prepare(spec)
    ours = list(model.parameters())
    theirs = list(builtin.parameters())
    assert len(ours) == len(theirs) == 8
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert torch.equal(x, builtin_x)

    forward_loss(source, model, (x,), {}).backward()
    builtin(builtin_x).sum().backward()  # the built-in `sum` loss
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(ours, theirs))


# -- found by mutation testing: the file system's odd cases, the user's own semantics ----


def test_a_dangling_link_a_fifo_and_an_unreadable_file(here, monkeypatch):
    import os

    os.symlink("nowhere.py", here / "link.py")
    assert reason(load_source, "link.py") == "link.py: no such file"
    assert reason(load_source, "nets/nope.py") == "nets/nope.py: no such file"  # no hint
    os.mkfifo(here / "pipe.py")
    assert reason(load_source, "pipe.py") == "pipe.py: not a regular file; expected a .py file"
    write(here, "locked.py", NET)

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert reason(load_source, "locked.py") == "locked.py: cannot read it: Permission denied"


def test_the_users_file_keeps_its_own_semantics(here):
    """Compiled with its own future flags (not gradtui's `annotations`), registered in
    sys.modules while it runs (a dataclass needs that), its folder first on sys.path, as
    `python nets/own.py` would have it."""
    write(
        here,
        "nets/own.py",
        NET
        + textwrap.dedent(
            """
            import dataclasses
            import os
            import sys

            def annotated(x: int) -> None:
                pass

            @dataclasses.dataclass
            class Sizes:
                width: int = 20

            assert annotated.__annotations__["x"] is int, "annotations were postponed"
            assert sys.path[0] == os.path.dirname(os.path.abspath(__file__)), sys.path[:2]

            def batch():
                return torch.randn(2, Sizes().width)
            """
        ),
    )
    source, model, loss = probe("nets/own.py")
    assert loss.shape == ()
    assert sys.modules[source.module.__name__] is source.module


def test_a_syntax_error_in_a_module_given_by_name(packages, monkeypatch):
    write(packages, "badpkg/__init__.py", "")
    write(packages, "badpkg/nets.py", "def model(:\n    pass\n")
    monkeypatch.chdir(packages)
    text = reason(load_source, "badpkg.nets")
    # The file and line; whether the path is shown relative is tested with files above.
    assert text.startswith("badpkg.nets: syntax error: invalid syntax (")
    assert text.endswith("badpkg/nets.py:1)")


def test_a_model_or_batch_that_cannot_move_names_it(here):
    write(
        here,
        "stubborn.py",
        NET
        + textwrap.dedent(
            """
            class Stubborn(Net):
                def to(self, *args, **kwargs):
                    raise RuntimeError("stays put")

            def model():
                return Stubborn()

            def batch():
                return torch.randn(2, 20)
            """
        ),
    )
    source = load_source("stubborn.py")
    assert reason(build, source, seed=0) == (
        "stubborn.py: moving the model to cpu raised RuntimeError: stays put"
    )


def test_a_namedtuple_in_the_batch_is_moved_field_by_field_and_keeps_its_type(here):
    write(
        here,
        "named.py",
        textwrap.dedent(
            """
            from typing import NamedTuple

            import torch
            from torch import nn

            class Pair(NamedTuple):
                x: torch.Tensor
                scale: float

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(20, 5)

                def forward(self, pair):
                    return self.fc(pair.x) * pair.scale

            def model():
                return Net()

            def batch():
                return (Pair(torch.randn(2, 20, dtype=torch.float64), 2.0),)
            """
        ),
    )
    source = load_source("named.py")
    model, args, kwargs = build(source, seed=0, dtype=torch.float32)
    (moved,) = args
    assert type(moved).__name__ == "Pair" and moved.x.dtype == torch.float32
    assert moved.scale == 2.0
    assert forward_loss(source, model, args, kwargs).dtype == torch.float32


# -- found by mutation testing (2): messages, names, devices, checkpoints ----------------


def test_a_syntax_error_without_a_line_is_placed_at_its_file_alone(here):
    error = SyntaxError("bad config", ("cfg.txt", None, None, None))
    assert exception_site(error, None) == "cfg.txt"
    assert exception_site(SyntaxError("bad config", ("cfg.txt", 7, 1, "x")), None) == "cfg.txt:7"


def site_past_a_frame_named(here, filename: str) -> tuple[str, str]:
    """(the site exception_site gives, the user's line) for an error raised in a frame
    whose file is `filename`, called from the user's file nets/x.py."""
    name = write(here, "nets/x.py", "def f(g):\n    return g()  # calls out\n")
    path = (here / name).resolve()
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)

    def g():
        raise ValueError("no")

    g.__code__ = g.__code__.replace(co_filename=filename)
    try:
        namespace["f"](g)
    except ValueError as error:
        caught = error
    return exception_site(caught, path), f"nets/x.py:{line_of(here, name, '# calls out')}"


def test_a_frame_whose_file_name_cannot_be_resolved_is_not_taken_for_the_users(here):
    site, users = site_past_a_frame_named(here, "<odd\0name>")  # resolving it fails
    assert site == users


def test_a_frame_in_a_file_that_became_a_symlink_loop_is_not_taken_for_the_users(here):
    """Path.resolve raises RuntimeError on a loop (Python 3.11): the site is still found,
    not a crash in the middle of reporting the user's error."""
    loop = here / "loop.py"
    loop.symlink_to(loop)
    site, users = site_past_a_frame_named(here, str(loop))
    assert site == users


def test_an_exception_with_an_empty_message_is_named_by_its_type(here):
    name = write(
        here,
        "x.py",
        NET.replace("    return Net()", "    raise ValueError()  # empty") + "batch = id\n",
    )
    assert reason(build, load_source(name), seed=0) == (
        f"x.py: model() raised ValueError (x.py:{line_of(here, name, '# empty')})"
    )


def test_a_syntax_error_raised_by_the_users_code_is_described_by_its_message(here):
    compiles = write(
        here, "x.py", NET + 'def batch():\n    return compile("x = = 1", "cfg", "exec")\n'
    )
    assert reason(build, load_source(compiles), seed=0) == (
        "x.py: batch() raised SyntaxError: invalid syntax (cfg:1)"
    )
    bare = write(here, "y.py", "def model():\n    raise SyntaxError  # no message\nbatch = id\n")
    assert reason(build, load_source(bare), seed=0) == (
        f"y.py: model() raised SyntaxError (y.py:{line_of(here, bare, '# no message')})"
    )


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (
            {"fc.bias": (5,)},
            "shape mismatch at 'fc.bias': checkpoint (5,), model (3,)",
        ),
        (
            {"fc.weight": (5, 4), "fc.bias": (5,)},
            "shape mismatch at 'fc.weight': checkpoint (5, 4), model (3, 4) (and 1 more)",
        ),
    ],
)
def test_a_vectors_shape_keeps_its_comma_and_a_second_mismatch_is_counted(here, changed, expected):
    state = Small().state_dict()
    state.update({key: torch.zeros(shape) for key, shape in changed.items()})
    torch.save(state, "ckpt.pt")
    assert checkpoint_reason(Small(), "ckpt.pt") == f"ckpt.pt: does not match the model: {expected}"


def test_a_bare_file_name_ending_in_py_is_a_path_even_when_missing(here):
    assert reason(load_source, "nope.py") == "nope.py: no such file"


def test_the_py_hint_is_given_only_when_adding_py_names_a_file(here):
    assert reason(load_source, "nets/nope") == "nets/nope: no such file"
    write(here, "a.py.py", NET)
    assert reason(load_source, "a.py") == "a.py: no such file"


def test_a_file_is_imported_under_a_private_name_made_of_its_stem_and_path(here):
    """Classes defined in the file report this module (type(model).__module__, pickles);
    two files with one stem in two folders stay two modules."""
    import hashlib

    body = NET + "def batch():\n    return torch.randn(1, 20)\n"
    first = load_source(write(here, "nets/my-net.py", body))
    second = load_source(write(here, "old/my-net.py", body))
    path = (here / "nets/my-net.py").resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    assert first.module.__name__ == f"_gradtui_source_my_net_{digest}"
    assert type(first.model()).__module__ == first.module.__name__
    assert second.module.__name__ != first.module.__name__
    assert sys.modules[first.module.__name__] is first.module
    assert sys.modules[second.module.__name__] is second.module


def test_a_file_whose_name_is_not_utf8_loads(here):
    import os

    text = os.fsdecode(b"net\xff.py")  # an undecodable byte, kept as a surrogate
    (here / text).write_text(NET + "def batch():\n    return torch.randn(1, 20)\n")
    source, model, loss = probe(text)
    assert source.name == os.fsdecode(b"net\xff") and loss.shape == ()


def test_a_file_that_takes_its_folder_off_sys_path_itself_still_loads(here):
    body = NET + "import os, sys\nsys.path.remove(os.path.dirname(__file__))\nbatch = id\n"
    before = list(sys.path)
    assert load_source(write(here, "nets/tidy.py", body)).name == "tidy"
    assert sys.path == before


@pytest.mark.parametrize(
    ("raises", "expected"),
    [
        ("ValueError('bad value')", "importing it raised ValueError: bad value"),
        ("SyntaxError('bad config')", "syntax error: bad config"),
    ],
)
def test_an_error_raised_in_a_helper_beside_the_file_names_the_files_line(here, raises, expected):
    """The file is the user's code; a sibling it calls is not, so the line named is the
    file's call (a SyntaxError without a file name too)."""
    write(here, "nets/helper_beside_zz9.py", f"def fail():\n    raise {raises}\n")
    name = write(here, "nets/x.py", "import helper_beside_zz9\nhelper_beside_zz9.fail()  # call\n")
    try:
        assert reason(load_source, name) == f"nets/x.py: {expected} (nets/x.py:2)"
    finally:
        sys.modules.pop("helper_beside_zz9", None)


@pytest.mark.parametrize(
    ("helper", "expected"),
    [
        ("raise ValueError('bad value')", "importing it raised ValueError: bad value"),
        ("raise SyntaxError('bad config')", "syntax error: bad config"),
        (
            "import not_a_module_zz9",
            "importing it raised ModuleNotFoundError: No module named 'not_a_module_zz9'",
        ),
    ],
)
def test_an_error_raised_outside_the_package_names_the_packages_line(
    packages, monkeypatch, helper, expected
):
    write(packages, "mypkg/__init__.py", "")
    write(packages, "solo_helper.py", f"{helper}\n")
    write(packages, "mypkg/nets.py", "import torch\nimport solo_helper  # the package's line\n")
    monkeypatch.chdir(packages)
    assert reason(load_source, "mypkg.nets") == f"mypkg.nets: {expected} (mypkg/nets.py:2)"


def test_a_missing_subpackage_is_named(packages):
    write(packages, "mypkg/__init__.py", "")
    assert reason(load_source, "mypkg.sub.nets") == "mypkg.sub.nets: no module named 'mypkg.sub'"


def test_a_module_without_a_spec_is_refused_as_not_found(packages, monkeypatch):
    import types

    ghost = types.ModuleType("ghost_zz9")
    ghost.__spec__ = None  # as __main__ of a script run by path
    monkeypatch.setitem(sys.modules, "ghost_zz9", ghost)
    assert reason(load_source, "ghost_zz9") == (
        "ghost_zz9: no such file, and no module named 'ghost_zz9' on the Python path"
    )


def test_a_builtin_module_given_by_name_is_refused_in_one_line(packages):
    """`sys` has no file, as a namespace package has none: each is named for what it is
    (a built-in module was called a namespace package)."""
    for name in ("sys", "itertools"):
        assert reason(load_source, name) == (
            f"{name}: is built into Python (no file) and defines no model(); expected a "
            "module that defines model() and batch()"
        )


def test_build_puts_the_model_and_every_tensor_of_the_batch_on_the_device(here):
    """On the meta device, which any machine has: nested tuples, lists and dicts, float
    and integer tensors all move."""
    name = write(
        here,
        "x.py",
        NET
        + textwrap.dedent(
            """
            def batch():
                return (
                    torch.randn(2, 20),
                    torch.randint(0, 5, (2,)),
                    [torch.randn(1)],
                    {"mask": torch.ones(2, dtype=torch.bool), "scale": torch.ones(1)},
                )
            """
        ),
    )
    model, args, kwargs = build(load_source(name), seed=0, device="meta", dtype="float64")
    assert kwargs == {}
    assert [(p.device.type, p.dtype) for p in model.parameters()] == [("meta", torch.float64)] * 2
    x, labels, (extra,), mapping = args
    assert (x.device.type, x.dtype) == ("meta", torch.float64)
    assert (labels.device.type, labels.dtype) == ("meta", torch.int64)
    assert (extra.device.type, extra.dtype) == ("meta", torch.float64)
    assert (mapping["mask"].device.type, mapping["mask"].dtype) == ("meta", torch.bool)
    assert (mapping["scale"].device.type, mapping["scale"].dtype) == ("meta", torch.float64)


def test_gradients_left_by_model_are_cleared_so_an_unused_layer_is_still_found(here):
    name = write(
        here,
        "x.py",
        UNREGISTERED.replace(
            "model = Net",
            "def model():\n    net = Net()\n"
            "    net.unused(torch.ones(1, 3)).sum().backward()  # warm-up\n"
            "    return net",
        ),
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0)
    assert [p.grad for p in model.parameters()] == [None, None]
    forward_loss(source, model, args, kwargs).backward()
    assert without_gradient(model) == ["unused.weight", "unused.bias"]


def test_a_batch_that_cannot_move_names_it(here):
    name = write(
        here,
        "x.py",
        NET
        + textwrap.dedent(
            """
            class Frozen(tuple):
                def __new__(cls, items=None):
                    if items is not None:
                        raise RuntimeError("cannot be rebuilt")
                    return super().__new__(cls, (torch.randn(2, 20),))

            def batch():
                return Frozen()
            """
        ),
    )
    assert reason(build, load_source(name), seed=0) == (
        "x.py: moving the batch to cpu raised RuntimeError: cannot be rebuilt"
    )


def test_loss_receives_for_plain_arguments_the_keywords_the_one_argument_or_the_tuple(here):
    """forward_loss called with a plain tuple (no `batch` from build)."""
    name = write(
        here,
        "x.py",
        textwrap.dedent(
            """
            import torch
            from torch import nn

            SEEN = []

            class Net(nn.Linear):
                def forward(self, x, scale=1.0):
                    return super().forward(x) * scale

            def model():
                return Net(3, 2)

            def batch():
                return torch.randn(1, 3)

            def loss(output, batch):
                SEEN.append(batch)
                return output.sum()
            """
        ),
    )
    source = load_source(name)
    model = source.model()
    x = torch.randn(1, 3)
    forward_loss(source, model, (), {"x": x, "scale": 2.0})
    forward_loss(source, model, (x,), {})
    forward_loss(source, model, (x, 2.0), {})
    keywords, one, both = source.module.SEEN
    assert type(keywords) is dict and keywords == {"x": x, "scale": 2.0}
    assert one is x
    assert type(both) is tuple and len(both) == 2 and both[0] is x and both[1] == 2.0


def test_a_detached_output_under_the_default_loss_names_the_default_loss(here):
    name = write(
        here,
        "x.py",
        NET.replace("return self.fc(x)", "return self.fc(x).detach()")
        + "def batch():\n    return torch.randn(1, 20)\n",
    )
    source = load_source(name)
    model, args, kwargs = build(source, seed=0)
    assert reason(forward_loss, source, model, args, kwargs) == (
        "x.py: the default loss (sum of the output) returned a tensor with no grad_fn: it is"
        " not computed from the model's parameters (detached, or under torch.no_grad()?)"
    )


def test_a_checkpoint_that_is_a_fifo_is_refused(here):
    import os

    os.mkfifo(here / "pipe.pt")
    assert checkpoint_reason(Small(), "pipe.pt") == "pipe.pt: not a regular file"


def test_an_empty_checkpoint_file_names_torchs_error(here):
    (here / "empty.pt").write_bytes(b"")  # as an interrupted torch.save leaves it
    assert checkpoint_reason(Small(), "empty.pt") == (
        "empty.pt: not a checkpoint torch.load can read (EOFError)"
    )


def test_a_checkpoint_saved_from_cuda_loads_on_a_machine_without_it(here, monkeypatch):
    import torch.serialization

    torch.manual_seed(1)
    saved = Small()
    with monkeypatch.context() as patch:  # as torch.save writes tensors that lived on a GPU
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(saved.state_dict(), "gpu.pt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    torch.manual_seed(2)
    fresh = Small()
    load_checkpoint(fresh, "gpu.pt")
    for (name, a), b in zip(saved.state_dict().items(), fresh.state_dict().values()):
        assert b.device.type == "cpu" and torch.equal(a, b), name


def test_a_checkpoint_holding_code_is_refused_even_when_torch_is_told_to_unpickle(
    here, monkeypatch
):
    """TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD turns weights_only off only where the caller left it
    unset; load_checkpoint sets it."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    torch.save({"fc.weight": torch.zeros(3, 4), "trap": Payload()}, "evil.pt")
    assert checkpoint_reason(Small(), "evil.pt").startswith("evil.pt: holds an object of class ")
    assert RAN == []


def _refusing(hook) -> Small:
    model = Small()
    model.register_load_state_dict_pre_hook(hook)
    return model


def _drop_fc_weight(module, state_dict, prefix, *args):
    state_dict.pop(prefix + "fc.weight", None)


def _refuse_frozen(*args):
    raise RuntimeError("frozen weights")


def _refuse_silently(*args):
    raise RuntimeError()


@pytest.mark.parametrize(
    ("hook", "detail"),
    [
        (_drop_fc_weight, 'Missing key(s) in state_dict: "fc.weight".'),
        (_refuse_frozen, "frozen weights"),
        (_refuse_silently, "RuntimeError"),
    ],
)
def test_what_a_modules_own_loading_hooks_refuse_is_named_in_one_line(here, hook, detail):
    """The keys and shapes match, but the module's hooks refuse: strict loading's report
    (its second line, after "Error(s) in loading state_dict for Small:"), or the hook's
    own error (its one line, or its type when it has none)."""
    torch.save(Small().state_dict(), "ckpt.pt")
    assert checkpoint_reason(_refusing(hook), "ckpt.pt") == (
        f"ckpt.pt: does not match the model: {detail}"
    )
