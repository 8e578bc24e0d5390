"""The probe of a user's own module (`--model`), checked against an independent
computation: autograd on the same module in float64, statistics in numpy.

The module has what real networks have and the built-in MLP does not: convolutions, an
in-place ReLU, a residual add done in place on a module's output, a LayerNorm, and a
weight tied between two Linear modules.
"""

from __future__ import annotations

import importlib.util
import json
import textwrap

import numpy as np
import pytest
import torch
from reference import one_signed_share

from gradtui.insight import findings
from gradtui.lab import run_probe
from gradtui.spec import Spec, SpecError, preset

NET = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3)  # 6x6 -> 4x4
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.norm = nn.LayerNorm([4, 4, 4])
            self.fc1 = nn.Linear(64, 8)
            self.act = nn.Tanh()
            self.fc2 = nn.Linear(8, 8)
            self.fc3 = nn.Linear(8, 8)
            self.fc3.weight = self.fc2.weight  # tied

        def forward(self, x):
            h = self.relu(self.conv1(x))
            r = self.conv2(h)
            r += h  # the residual, in place on conv2's output
            h = self.norm(r)
            h = self.act(self.fc1(h.flatten(1)))
            return self.fc3(torch.sigmoid(self.fc2(h)))


    def model():
        return Net()


    def batch():
        return torch.randn(BATCH, 1, 6, 6)
    """
)


def write_net(tmp_path, batch: int = 2):
    path = tmp_path / "net.py"
    path.write_text(NET.replace("BATCH", str(batch)))
    return path


def reference_run(path, seed: int):
    """The same module, built and run by hand in float64, with every input kept."""
    spec = importlib.util.spec_from_file_location("reference_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    net = module.model().double()
    torch.manual_seed(seed)
    x = module.batch().double()
    kept = {}
    c1 = net.conv1(x)
    kept["conv1.in"] = x
    h = torch.relu(c1)
    kept["relu"] = h.detach().clone()
    r = net.conv2(h)
    kept["conv2.in"] = h.detach().clone()
    kept["conv2"] = r.detach().clone()  # before the residual add
    r = r + h
    n = net.norm(r)
    flat = n.flatten(1)
    kept["fc1.in"] = flat
    t = torch.tanh(net.fc1(flat))
    kept["act"] = t
    s = torch.sigmoid(net.fc2(t))
    out = net.fc3(s)
    kept["fc2.in"] = torch.cat([t.reshape(-1), s.reshape(-1)])  # the tied weight's uses
    out.sum().backward()
    grads = {name: p.grad.numpy() for name, p in net.named_parameters()}
    return net, grads, {k: v.detach().numpy() for k, v in kept.items()}


@pytest.mark.parametrize("seed", [0, 7])
def test_every_figure_of_a_custom_module_matches_autograd_in_float64(tmp_path, seed):
    path = write_net(tmp_path)
    result = run_probe(Spec(model=str(path), dtype="float64", device="cpu", seed=seed))
    net, grads, kept = reference_run(path, seed)

    # Every parameter once, in module order; the tied weight under its first name.
    assert [p.name for p in result.parameters] == list(grads)
    assert "fc3.weight" not in grads and "fc3.bias" in grads
    for entry in result.parameters:
        g = grads[entry.name]
        figures = entry.stats
        assert entry.shape == g.shape
        assert figures.numel == g.size
        assert figures.pos == np.mean(g > 0) and figures.neg == np.mean(g < 0)
        assert figures.zero == np.mean(g == 0)
        assert figures.mean == pytest.approx(g.mean(), rel=1e-9, abs=1e-15)
        assert figures.norm == pytest.approx(np.linalg.norm(g), rel=1e-12)
        assert figures.std == pytest.approx(g.std(ddof=1), rel=1e-9)
        assert sum(figures.hist.counts) == g.size
        param = dict(net.named_parameters())[entry.name].detach().numpy()
        assert entry.param_norm == pytest.approx(np.linalg.norm(param), rel=1e-12)
        if g.ndim >= 2:  # rows over dim 0, the rest flattened: conv kernels too
            rows = g.reshape(g.shape[0], -1)
            assert figures.row_coherence == pytest.approx(one_signed_share(rows))
            assert entry.sign_map is not None and entry.sign_map.rows == g.shape[0]
        else:
            assert figures.row_coherence is None and entry.sign_map is None
    kinds = {p.name: p.kind for p in result.parameters}
    assert kinds["conv1.weight"] == "Conv2d" and kinds["norm.weight"] == "LayerNorm"

    # The input signs of each Linear and Conv weight: the cause of coherence.
    by_name = {p.name: p for p in result.parameters}
    for name, inputs, summed in (
        ("conv1.weight", kept["conv1.in"], 2 * 4 * 4),  # samples x output positions
        ("conv2.weight", kept["conv2.in"], 2 * 4 * 4),
        ("fc1.weight", kept["fc1.in"], 2),
        ("fc2.weight", kept["fc2.in"], 2 + 2),  # tied: fc2's and fc3's calls
    ):
        assert by_name[name].input_non_negative == pytest.approx(np.mean(inputs >= 0)), name
        assert by_name[name].summed_over == summed, name
    assert by_name["conv2.weight"].input_non_negative == 1.0  # after the ReLU
    assert by_name["fc1.bias"].input_non_negative is None  # a bias has no input of its own

    # Outputs, recorded when produced: conv2's before the in-place residual add.
    outputs = {o.name: o for o in result.outputs}
    assert list(outputs) == ["conv1", "relu", "conv2", "norm", "fc1", "act", "fc2", "fc3"]
    for name in ("relu", "conv2", "act"):
        values = kept[name]
        assert outputs[name].stats.mean == pytest.approx(values.mean(), rel=1e-9, abs=1e-15)
        assert outputs[name].stats.neg == np.mean(values < 0)
    assert outputs["relu"].stats.dead == np.mean(kept["relu"] == 0)
    assert outputs["act"].activation == "tanh"
    assert outputs["act"].stats.saturated == np.mean(np.abs(kept["act"]) > 0.97)


def test_a_conv_fed_non_negative_inputs_is_not_coherent_and_the_findings_say_why(tmp_path):
    path = write_net(tmp_path, batch=1)
    result = run_probe(Spec(model=str(path), device="cpu"))
    conv2 = next(p for p in result.parameters if p.name == "conv2.weight")
    assert conv2.input_non_negative == 1.0 and conv2.summed_over == 16  # batch 1, 4x4
    assert conv2.stats.row_coherence < 1.0
    notes = "\n".join(findings(result))
    assert "conv2.weight takes only non-negative inputs, yet rows mix signs" in notes
    assert "sums delta x input over 16 samples and positions" in notes


def test_the_builtin_mlp_through_model_gives_the_same_figures_bit_for_bit():
    builtin = run_probe(preset("seed-v2.0").replace(device="cpu", seed=3))
    own = run_probe(Spec(model="examples/mlp.py", device="cpu", seed=3))
    assert [p.stats for p in own.parameters] == [p.stats for p in builtin.parameters]
    assert [p.param_norm for p in own.parameters] == [p.param_norm for p in builtin.parameters]
    assert [p.input_non_negative for p in own.parameters] == [
        p.input_non_negative for p in builtin.parameters
    ]
    activations = [o.stats for o in own.outputs if o.kind == "Sigmoid"]
    assert activations == [o.stats for o in builtin.outputs]
    assert own.loss == builtin.loss


def test_layers_keeps_the_matching_parameters_and_refuses_a_pattern_matching_none(tmp_path):
    path = write_net(tmp_path)
    kept = run_probe(Spec(model=str(path), device="cpu", layers=r"^fc\d\.weight"))
    assert [p.name for p in kept.parameters] == ["fc1.weight", "fc2.weight"]
    with pytest.raises(SpecError, match="matches no parameter; the parameters: conv1.weight"):
        run_probe(Spec(model=str(path), device="cpu", layers="nothing"))


def test_json_of_a_module_probe_names_every_entry_and_has_no_layers(tmp_path):
    path = write_net(tmp_path)
    data = json.loads(run_probe(Spec(model=str(path), device="cpu")).to_json())
    assert data["format"] == 2 and "layers" not in data
    spec = importlib.util.spec_from_file_location("counted_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.model()
    leaves = [m for m in net.modules() if not list(m.children())]
    assert data["model"] == {
        "source": str(path),
        "parameters": sum(p.numel() for p in net.parameters()),  # the tied weight once
        "tensors": 11,  # fc3.weight is fc2.weight
        "modules": len(leaves),  # conv1, relu, conv2, norm, fc1, act, fc2, fc3
        "loss": "the sum of the output",  # the file defines no loss()
    }
    # conv1 36+4, conv2 144+4, norm 64+64, fc1 512+8, fc2 64+8, fc3 its own bias 8
    assert len(leaves) == 8 and data["model"]["parameters"] == 40 + 148 + 128 + 520 + 72 + 8
    first = data["parameters"][0]
    assert (first["name"], first["kind"], first["shape"]) == (
        "conv1.weight",
        "Conv2d",
        [4, 1, 3, 3],
    )
    assert set(first["grad"]) >= {"pos", "neg", "row_coherence", "hist"}
    assert data["outputs"][1]["name"] == "relu" and data["outputs"][1]["kind"] == "ReLU"
    builtin = json.loads(run_probe(preset("seed-v1.0").replace(device="cpu")).to_json())
    assert builtin["model"] is None
    assert [layer["name"] for layer in builtin["layers"]] == ["linears.0", "linears.1"]
    assert builtin["layers"][0]["kind"] == "Linear"


def test_a_summary_is_reused_only_while_the_tensor_it_measured_lives():
    """Memory freed during the forward (a pre-activation) is soon another tensor's: a
    summary keyed by address must not outlive the tensor it measured."""
    import gc

    from torch import nn

    from gradtui.lab.probe import Recorder, _identity

    model = nn.Sequential(nn.Linear(3, 3))
    recorder = Recorder(model, {"0": model[0]}, bins=5)
    with recorder:
        out = model(torch.randn(2, 3))
    key = next(iter(recorder._measured))
    assert key[:-2] == _identity(out)
    assert recorder._known(key) is recorder.outputs[0][3]
    view = out.flatten()  # a view of the same, unchanged values: reused
    assert _identity(view)[:4] == _identity(out)[:4]
    del out, view
    gc.collect()
    assert recorder._known(key) is None and key not in recorder._measured


AVERAGED = textwrap.dedent(
    """
    import torch
    from torch import nn


    def model():
        return nn.Sequential(
            nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Conv2d(3, 3, 3), nn.ReLU(), nn.Flatten(),
            nn.Linear(12, 4),
        )


    def batch():
        return torch.randn(2, 1, 6, 6)


    def loss(output, batch):
        return (output**2).sum()  # deltas 2 * output: of both signs across the batch
    """
)


def test_weights_fed_non_negative_inputs_but_summed_over_several_products_are_named_together(
    tmp_path,
):
    """Two weights after ReLUs whose rows still mix signs, one summing 2 x 2x2 = 8
    products per entry (a conv: batch 2, 2x2 positions), one 2 (a Linear: batch 2): one
    note names both and the range of the sums."""
    path = tmp_path / "net.py"
    path.write_text(AVERAGED)
    result = run_probe(Spec(model=str(path), device="cpu", seed=0))
    fed = {p.name: p for p in result.parameters if p.input_non_negative == 1.0}
    assert {name: p.summed_over for name, p in fed.items()} == {"2.weight": 2 * 4, "5.weight": 2}
    assert all(p.stats.row_coherence < 1.0 for p in fed.values())  # rows mix signs
    notes = [n for n in findings(result) if "only non-negative inputs" in n]
    assert notes == [
        "2.weight, 5.weight take only non-negative inputs, yet rows mix signs: each gradient "
        "entry sums delta x input over 2 to 8 samples and positions (batch, sequence, "
        "space), whose deltas disagree in sign. Non-negative inputs make a row one-signed "
        "only for one sample at one position."
    ]


def test_json_entries_of_a_module_probe_hold_every_key_of_the_contract(tmp_path):
    """A weight, a bias and an output of a user's module in the JSON, key by key (the
    README's JSON contract): a bias has no row coherence, an output no norm."""
    path = write_net(tmp_path)
    result = run_probe(Spec(model=str(path), device="cpu"))
    data = json.loads(result.to_json())
    weight, bias = result.parameters[0], result.parameters[1]
    assert (weight.name, bias.name) == ("conv1.weight", "conv1.bias")
    assert data["parameters"][0] == {
        "name": "conv1.weight",
        "kind": "Conv2d",
        "shape": [4, 1, 3, 3],
        "grad": weight.stats.to_dict("weight_grad"),
        "norm": weight.param_norm,
        "grad_to_param": weight.grad_to_param,
        "input_non_negative": weight.input_non_negative,
        "summed_over": 2 * 4 * 4,  # batch 2, 4x4 output positions
    }
    assert "row_coherence" in data["parameters"][0]["grad"]
    assert data["parameters"][1]["grad"] == bias.stats.to_dict("bias_grad")
    assert "row_coherence" not in data["parameters"][1]["grad"]
    assert data["parameters"][1]["input_non_negative"] is None
    act = next(o for o in result.outputs if o.name == "act")
    assert data["outputs"][[o.name for o in result.outputs].index("act")] == {
        "name": "act",
        "kind": "Tanh",
        "shape": [2, 8],
        "activation": "tanh",
        "stats": act.stats.to_dict("activation"),
    }
