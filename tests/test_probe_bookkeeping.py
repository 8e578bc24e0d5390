"""The probe's bookkeeping where mutation testing found it unguarded: input shares that
count zeros, modules called twice, tied biases, outputs that are tuples or dicts, the
--layers filter on outputs, the model's description, a checkpoint's weights, and the
built-in MLP's labels and activations. Every expected figure is counted by hand here."""

from __future__ import annotations

import textwrap

import pytest
import torch

from gradtui.lab import run_probe, stats
from gradtui.lab.probe import _catalogue_name
from gradtui.spec import Spec, SpecError


def write(tmp_path, body: str, name: str = "net.py") -> str:
    path = tmp_path / name
    path.write_text("import torch\nfrom torch import nn\n" + textwrap.dedent(body))
    return str(path)


def by_name(entries):
    return {entry.name: entry for entry in entries}


SHARED = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 3)     # called twice: two calls feed its weight
        self.conv = nn.Conv1d(1, 1, 2)  # one output channel, called twice
        self.act = nn.ReLU()          # called twice: two outputs, act and act#2

    def forward(self, x):
        a = self.act(self.fc(x))                   # x: 4 samples x 1 feature
        b = self.act(self.fc(-x))
        c = self.conv(x.T.unsqueeze(0))           # 1 x 1 x 4 -> 1 x 1 x 3
        d = self.conv(x.T.unsqueeze(0) * 2)
        return a.sum() + b.sum() + c.sum() + d.sum()

def model():
    return Net()

def batch():
    return torch.tensor([[0.0], [1.0], [-1.0], [0.0]])
"""


def test_inputs_count_zeros_as_non_negative_over_every_call(tmp_path):
    result = run_probe(Spec(model=write(tmp_path, SHARED), device="cpu"))
    params = by_name(result.parameters)
    fc, conv = params["fc.weight"], params["conv.weight"]
    # fc's inputs: x = [0, 1, -1, 0] and -x = [0, -1, 1, 0]: 6 of 8 entries are >= 0
    # (the four zeros among them), over both calls; each call sums over 4 samples.
    assert fc.input_non_negative == pytest.approx(6 / 8)
    assert fc.summed_over == 4 + 4
    # conv's inputs: [0, 1, -1, 0] and [0, 2, -2, 0]: 6 of 8 >= 0; each call's output
    # has 3 positions of its 1 channel.
    assert conv.input_non_negative == pytest.approx(6 / 8)
    assert conv.summed_over == 3 + 3
    # A bias has no input share.
    assert params["fc.bias"].input_non_negative is None and params["fc.bias"].summed_over is None


def test_a_module_called_twice_records_each_output_under_its_own_name(tmp_path):
    result = run_probe(Spec(model=write(tmp_path, SHARED), device="cpu"))
    names = [entry.name for entry in result.outputs]
    assert names == ["fc", "act", "fc#2", "act#2", "conv", "conv#2"]
    outputs = by_name(result.outputs)
    # act's first output is relu([0, 1, -1, 0] @ W^T + b) for 4 samples x 3 units
    assert outputs["act"].shape == (4, 3) and outputs["act#2"].shape == (4, 3)
    assert outputs["act"].activation == "relu" and outputs["fc"].activation is None


def test_a_recorded_output_fed_to_a_linear_gives_its_sign_counts_once(tmp_path, monkeypatch):
    """The second Linear's input is the ReLU's output, unchanged: its counts come from
    the ReLU's summary (stats.sign_counts), the tensor is not read again."""
    path = write(
        tmp_path,
        """
        def model():
            return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

        def batch():
            return torch.randn(16, 4)
        """,
    )
    reused = []
    real = stats.sign_counts

    def counting(summary):
        reused.append(summary)
        return real(summary)

    monkeypatch.setattr(stats, "sign_counts", counting)
    result = run_probe(Spec(model=path, device="cpu"))
    assert len(reused) == 1
    second = by_name(result.parameters)["2.weight"]
    relu = by_name(result.outputs)["1"]
    assert second.input_non_negative == 1.0  # ReLU outputs, zeros included
    assert relu.stats.zero > 0  # some were exactly 0, and still counted as >= 0


def test_a_tied_bias_is_no_weights_input(tmp_path):
    path = write(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(2, 2)
                self.b = nn.Linear(2, 2)
                self.b.bias = self.a.bias  # tied bias, separate weights

            def forward(self, x):
                return self.b(torch.relu(self.a(x)))

        def model():
            return Net()

        def batch():
            return torch.tensor([[-1.0, -2.0], [-3.0, -4.0]])
        """,
    )
    params = by_name(run_probe(Spec(model=path, device="cpu")).parameters)
    assert list(params) == ["a.weight", "a.bias", "b.weight"]
    assert params["a.bias"].input_non_negative is None
    assert params["a.weight"].input_non_negative == 0.0  # every input of a is < 0
    assert params["b.weight"].input_non_negative == 1.0  # relu's outputs
    assert params["a.weight"].summed_over == 2 and params["b.weight"].summed_over == 2


def test_tuple_and_dict_outputs(tmp_path):
    path = write(
        tmp_path,
        """
        class Pair(nn.Module):
            def forward(self, x):
                return x * 2, torch.ones(7)

        class Named(nn.Module):
            def forward(self, x):
                return {"out": x + 1}

        class Index(nn.Module):
            def forward(self, x):
                return x.argmax(dim=1)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 3)
                self.pair = Pair()
                self.named = Named()
                self.index = Index()
                self.keep = nn.Identity()

            def forward(self, x):
                y, _ = self.pair(self.fc(x))
                self.index(y)
                return self.keep(self.named(y)["out"])

        def model():
            return Net()

        def batch():
            return torch.randn(5, 3)
        """,
    )
    outputs = by_name(run_probe(Spec(model=path, device="cpu")).outputs)
    # The first tensor of a tuple; no entry for a dict or an integer tensor.
    assert list(outputs) == ["fc", "pair", "keep"]
    assert outputs["pair"].shape == (5, 3)
    assert outputs["keep"].activation is None  # an Identity is no activation
    assert _catalogue_name(torch.nn.Identity()) is None
    assert _catalogue_name(torch.nn.Tanh()) == "tanh"


def test_layers_filters_outputs_too_and_a_miss_lists_six_names(tmp_path):
    path = write(
        tmp_path,
        """
        def model():
            return nn.Sequential(*[nn.Linear(2, 2) for _ in range(4)], nn.Tanh())

        def batch():
            return torch.randn(3, 2)
        """,
    )
    result = run_probe(Spec(model=path, device="cpu", layers=r"^[12]\b"))
    assert [p.name for p in result.parameters] == ["1.weight", "1.bias", "2.weight", "2.bias"]
    assert [o.name for o in result.outputs] == ["1", "2"]
    with pytest.raises(SpecError) as error:
        run_probe(Spec(model=path, device="cpu", layers="nothing"))
    assert error.value.field == "layers"
    assert error.value.reason == (
        "'nothing' matches no parameter; the parameters: "
        "0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias, ... (8 in all)"
    )


@pytest.mark.parametrize("with_loss", [False, True])
def test_the_model_is_described_by_independent_counts(tmp_path, with_loss):
    body = textwrap.dedent(
        """
        def model():
            return nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))

        def batch():
            return torch.randn(2, 3)
        """
    )
    if with_loss:
        body += "\ndef loss(output, batch):\n    return output.pow(2).mean()\n"
    path = write(tmp_path, body)
    info = run_probe(Spec(model=path, device="cpu")).model
    assert info.source == path
    assert info.parameters == 3 * 4 + 4 + 4 * 2 + 2
    assert info.tensors == 4
    assert info.modules == 3  # Linear, ReLU, Linear: the containers are not leaves
    assert info.loss == ("loss() of the file" if with_loss else "the sum of the output")


def test_a_probe_with_a_checkpoint_measures_the_checkpoints_weights(tmp_path):
    path = write(
        tmp_path,
        """
        def model():
            return nn.Sequential(nn.Linear(3, 2))

        def batch():
            return torch.ones(1, 3)
        """,
    )
    state = {"0.weight": torch.full((2, 3), 0.5), "0.bias": torch.tensor([1.0, -1.0])}
    torch.save(state, tmp_path / "w.pt")
    result = run_probe(Spec(model=path, checkpoint=str(tmp_path / "w.pt"), device="cpu"))
    params = by_name(result.parameters)
    assert params["0.weight"].param_norm == pytest.approx(0.5 * 6**0.5)
    assert params["0.bias"].param_norm == pytest.approx(2**0.5)
    # the loss is the sum of the output: (1.5 + 1) + (1.5 - 1)
    assert result.loss == pytest.approx(3.0)


def test_all_non_finite_inputs_give_no_share(tmp_path):
    path = write(
        tmp_path,
        """
        def model():
            return nn.Sequential(nn.Linear(2, 1))

        def batch():
            return torch.full((2, 2), float("nan"))
        """,
    )
    weight = by_name(run_probe(Spec(model=path, device="cpu")).parameters)["0.weight"]
    assert weight.input_non_negative is None


def test_the_builtin_mlps_labels_and_activations_follow_its_layers():
    spec = Spec(
        sizes=(3, 4, 4, 2),
        activation="tanh",
        final_activation="sigmoid",
        norm="layer",
        device="cpu",
    )
    result = run_probe(spec)
    assert [(p.name, p.label, p.activation) for p in result.parameters] == [
        ("linears.0.weight", "1", "tanh"),
        ("linears.0.bias", "1", "tanh"),
        ("linears.1.weight", "2", "tanh"),
        ("linears.1.bias", "2", "tanh"),
        ("linears.2.weight", "3", "sigmoid"),
        ("linears.2.bias", "3", "sigmoid"),
        ("norms.0.weight", "1 norm.weight", "tanh"),
        ("norms.0.bias", "1 norm.bias", "tanh"),
        ("norms.1.weight", "2 norm.weight", "tanh"),
        ("norms.1.bias", "2 norm.bias", "tanh"),
    ]
    assert [(o.label, o.activation) for o in result.outputs] == [
        ("1", "tanh"),
        ("2", "tanh"),
        ("3", "sigmoid"),
    ]


def test_a_layer_with_no_outputs_is_measured_not_a_crash(tmp_path):
    """nn.Linear(2, 0): a 0 x 2 weight. Its gradient's rows were reshaped with -1, which
    torch refuses for 0 elements; the probe failed."""
    path = write(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 2)
                self.none = nn.Linear(2, 0)

            def forward(self, x):
                h = self.fc(x)
                return torch.cat([h, self.none(h)], dim=1)

        def model():
            return Net()

        def batch():
            return torch.randn(4, 3)
        """,
    )
    params = by_name(run_probe(Spec(model=path, device="cpu")).parameters)
    empty = params["none.weight"]
    assert empty.shape == (0, 2) and empty.stats.numel == 0
    assert empty.stats.row_coherence is None and empty.sign_map.rows == 0


def test_a_bare_module_attention_and_exact_counts(tmp_path):
    """A model that is itself a Linear names its parameters `weight` and `bias`; an
    attention module (no `.weight`) is measured with no input share; a loss that
    reaches no parameter names the file."""
    bare = write(
        tmp_path,
        """
        def model():
            return nn.Linear(3, 2)

        def batch():
            return torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, 1.0]])
        """,
    )
    result = run_probe(Spec(model=bare, device="cpu"))
    params = by_name(result.parameters)
    assert list(params) == ["weight", "bias"]
    assert params["weight"].summed_over == 2 and isinstance(params["weight"].summed_over, int)
    assert params["weight"].input_non_negative == pytest.approx(5 / 6)

    attention = write(
        tmp_path,
        """
        def model():
            return nn.MultiheadAttention(4, 2, batch_first=True)

        def batch():
            return (torch.randn(1, 3, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4))

        def loss(output, batch):
            return output[0].sum()
        """,
        name="attn.py",
    )
    params = by_name(run_probe(Spec(model=attention, device="cpu")).parameters)
    assert params["in_proj_weight"].input_non_negative is None
    assert params["in_proj_weight"].shape == (12, 4)

    detached = write(
        tmp_path,
        """
        def model():
            return nn.Linear(2, 2)

        def batch():
            return torch.ones(1, 2)

        def loss(output, batch):
            other = torch.ones(2, requires_grad=True)  # a graph, but not the model's
            return (output.detach() * other).sum()
        """,
        name="detached.py",
    )
    with pytest.raises(SpecError) as error:
        run_probe(Spec(model=detached, device="cpu"))
    assert error.value.field == "model" and "detached.py" in str(error.value)
    assert "no parameter received a gradient" in str(error.value)


@pytest.mark.parametrize("layers,listed", [(3, "2.bias"), (4, "2.bias, ... (8 in all)")])
def test_the_list_of_parameters_says_when_it_stops_short(tmp_path, layers, listed):
    path = write(
        tmp_path,
        f"""
        def model():
            return nn.Sequential(*[nn.Linear(2, 2) for _ in range({layers})])

        def batch():
            return torch.randn(3, 2)
        """,
    )
    with pytest.raises(SpecError) as error:
        run_probe(Spec(model=path, device="cpu", layers="nothing"))
    assert error.value.reason.endswith(listed)


# -- found by mutation testing (2): keyword inputs, a tied tensor under another name ------


def test_a_linear_given_its_input_by_keyword_has_no_input_share(tmp_path):
    path = write(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.first = nn.Linear(2, 3)
                self.second = nn.Linear(3, 1)

            def forward(self, x):
                return self.second(self.first(input=x))  # no positional input

        def model():
            return Net()

        def batch():
            return torch.tensor([[1.0, -2.0], [3.0, 0.0]])
        """,
    )
    params = by_name(run_probe(Spec(model=path, device="cpu")).parameters)
    assert list(params) == ["first.weight", "first.bias", "second.weight", "second.bias"]
    assert params["first.weight"].input_non_negative is None
    assert params["first.weight"].summed_over is None
    assert params["first.weight"].stats.numel == 6


def test_a_parameter_also_held_by_a_module_without_a_weight_is_listed_once(tmp_path):
    path = write(
        tmp_path,
        """
        class Gain(nn.Module):
            def __init__(self, gain):
                super().__init__()
                self.gain = gain  # the Linear's bias, under another name: no `weight`

            def forward(self, x):
                return x * self.gain

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.scale = Gain(self.fc.bias)

            def forward(self, x):
                return self.scale(self.fc(x))

        def model():
            return Net()

        def batch():
            return torch.tensor([[1.0, -1.0], [2.0, 0.5]])
        """,
    )
    params = by_name(run_probe(Spec(model=path, device="cpu")).parameters)
    assert list(params) == ["fc.weight", "fc.bias"]
    assert params["fc.weight"].input_non_negative == 3 / 4
    assert params["fc.bias"].input_non_negative is None


def test_a_miss_lists_all_of_seven_parameters_without_a_count(tmp_path):
    path = write(
        tmp_path,
        """
        def model():
            return nn.Sequential(*[nn.Linear(2, 2) for _ in range(3)], nn.Linear(2, 2, bias=False))

        def batch():
            return torch.randn(3, 2)
        """,
    )
    with pytest.raises(SpecError) as error:
        run_probe(Spec(model=path, device="cpu", layers="nothing"))
    assert error.value.reason == (
        "'nothing' matches no parameter; the parameters: "
        "0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias, ... (7 in all)"
    )
