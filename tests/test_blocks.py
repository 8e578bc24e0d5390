"""Norm and residual: the MLP's blocks against a float64 numpy network built by hand, the
seed's network kept bit for bit, batch norm refused at batch 1, the two deep presets'
measured factors, training, TOML and the app's config pane."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest
import torch
from textual.widgets import Select

from gradtui.__main__ import main
from gradtui.insight import findings
from gradtui.lab import build_model, run_probe
from gradtui.lab.probe import prepare
from gradtui.lab.train import Trainer, run_training
from gradtui.spec import PRESETS, Spec, SpecError, TrainSpec, preset
from gradtui.tui.app import make_app
from gradtui.tui.widgets.config import ConfigPane

EPS = 1e-5
"""LayerNorm's and BatchNorm1d's default epsilon."""


# -- the blocks against numpy ------------------------------------------------------------


def numpy_gradients(spec: Spec) -> tuple[list[np.ndarray], list[np.ndarray | None], list]:
    """Weight and bias gradients of every layer, and each activation's output, computed
    in float64 numpy from the model's weights: Linear, then (hidden layers) the norm over
    the units (layer) or the batch (batch), then the activation; plus the layer's input
    where residual is on and the sizes match."""
    model, x, target = prepare(spec)
    weights = [linear.weight.detach().double().numpy() for linear in model.linears]
    biases = [
        None if linear.bias is None else linear.bias.detach().double().numpy()
        for linear in model.linears
    ]
    h = x.double().numpy()
    n_layers = len(weights)
    axes = [
        {"layer": 1, "batch": 0, "none": None}[spec.norm if i < n_layers - 1 else "none"]
        for i in range(n_layers)
    ]
    tapes = []
    outputs = []
    for w, b, axis in zip(weights, biases, axes):
        z = h @ w.T + (0.0 if b is None else b)
        if axis is None:
            xhat, rstd, n = None, None, z
        else:  # gamma 1, beta 0: the norms' init
            mean = z.mean(axis=axis, keepdims=True)
            rstd = 1.0 / np.sqrt(((z - mean) ** 2).mean(axis=axis, keepdims=True) + EPS)
            xhat = n = (z - mean) * rstd
        a = 1.0 / (1.0 + np.exp(-n)) if spec.activation == "sigmoid" else np.tanh(n)
        residual = spec.residual and w.shape[0] == w.shape[1]
        tapes.append((h, xhat, rstd, a, residual, axis))
        outputs.append(a)
        h = h + a if residual else a
    # sum: dL/dh = 1; mse against the drawn targets: 2 (h - t) / numel
    grad = np.ones_like(h) if spec.loss == "sum" else 2.0 * (h - target.double().numpy()) / h.size
    weight_grads, bias_grads = [], []
    for w, (h_in, xhat, rstd, a, residual, axis) in zip(reversed(weights), reversed(tapes)):
        da = a * (1.0 - a) if spec.activation == "sigmoid" else 1.0 - a**2
        g_n = grad * da
        if axis is None:
            g_z = g_n
        else:
            count = g_n.shape[axis]
            g_z = (rstd / count) * (
                count * g_n
                - g_n.sum(axis=axis, keepdims=True)
                - xhat * (g_n * xhat).sum(axis=axis, keepdims=True)
            )
        weight_grads.append(g_z.T @ h_in)
        bias_grads.append(g_z.sum(axis=0))
        grad = g_z @ w + (grad if residual else 0.0)
    weight_grads.reverse()
    bias_grads.reverse()
    return weight_grads, [g if b is not None else None for g, b in zip(bias_grads, biases)], outputs


def row_coherence(g: np.ndarray) -> float:
    moving = [row for row in g if (row != 0).any()]
    return sum(
        bool((row[row != 0] > 0).all() or (row[row != 0] < 0).all()) for row in moving
    ) / len(moving)


BLOCK_SPECS = [
    # residual on layers 1 and 3 (6->6, 5->5), not on 2 and 4 (6->5, 5->3)
    dict(sizes=(6, 6, 5, 5, 3), activation="tanh", norm="layer", residual=True, batch_size=4),
    dict(
        sizes=(6, 6, 5, 5, 3),
        activation="tanh",
        norm="batch",
        residual=True,
        batch_size=4,
        loss="mse",
    ),
    # the last layer matches its input: residual there too; norms on hidden layers only
    dict(sizes=(4, 4, 4), activation="sigmoid", norm="batch", residual=True, batch_size=3),
    dict(sizes=(5, 7, 7, 7), activation="tanh", norm="layer", loss="mse"),
    dict(sizes=(5, 5, 5, 5), activation="sigmoid", residual=True, bias=False, batch_size=2),
    dict(sizes=(5, 5, 5, 5), activation="tanh", norm="layer", residual=True, bias=False, seed=3),
]


@pytest.mark.parametrize("changes", BLOCK_SPECS, ids=lambda c: f"{c['sizes']}-{c.get('norm')}")
def test_the_probe_matches_a_float64_numpy_network_with_norms_and_residuals(changes):
    spec = Spec(dtype="float64", device="cpu", **changes)
    result = run_probe(spec)
    weight_grads, bias_grads, outputs = numpy_gradients(spec)
    assert len(result.layers) == len(weight_grads)
    for layer, g, gb, a in zip(result.layers, weight_grads, bias_grads, outputs):
        figures = layer.weight_grad
        assert figures.norm == pytest.approx(np.linalg.norm(g), rel=1e-10), layer.index
        assert figures.pos == np.mean(g > 0) and figures.neg == np.mean(g < 0), layer.index
        assert figures.row_coherence == pytest.approx(row_coherence(g), abs=1e-12)
        if gb is None:
            assert layer.bias_grad is None
        elif spec.norm == "batch" and layer.index < spec.num_layers:
            # The batch's mean is subtracted right after the bias: it cancels, and its
            # gradient is 0 up to rounding (whose signs mean nothing).
            assert np.abs(gb).max() < 1e-15 and layer.bias_grad.norm < 1e-15
        else:
            assert layer.bias_grad.norm == pytest.approx(np.linalg.norm(gb), rel=1e-10)
            assert layer.bias_grad.pos == np.mean(gb > 0)
        # The activation view shows the activation's output, not the residual sum.
        assert layer.activation_stats.mean == pytest.approx(a.mean(), rel=1e-10, abs=1e-14)


def test_norms_are_hidden_layers_only_and_residuals_where_sizes_match():
    model = build_model(Spec(sizes=(3, 4, 4, 2, 2), norm="layer", residual=True))
    assert [type(m).__name__ for m in model.norms] == [
        "LayerNorm",
        "LayerNorm",
        "LayerNorm",
        "Identity",
    ]
    assert model.residual == (False, True, False, True)
    batch = build_model(Spec(sizes=(3, 4, 2), norm="batch", batch_size=2))
    assert isinstance(batch.norms[0], torch.nn.BatchNorm1d)
    assert not batch.norms[0].track_running_stats  # batch statistics, in eval too
    assert build_model(Spec(sizes=(4, 4))).residual == (False,)


# -- the seed's network stays as it was --------------------------------------------------


@pytest.mark.parametrize(
    ("norm", "residual"), [("none", True), ("layer", False), ("batch", True), ("layer", True)]
)
def test_norms_and_residuals_draw_nothing_and_keep_the_linears(norm, residual):
    """A norm's init draws nothing: the Linears, the input and the RNG after them are
    the seed's whatever the blocks; only the norms' own parameters are added."""
    plain = Spec(sizes=(7, 7, 7, 3), batch_size=2)
    torch.manual_seed(0)
    base = build_model(plain)
    base_state = torch.get_rng_state()
    torch.manual_seed(0)
    model = build_model(plain.replace(norm=norm, residual=residual))
    assert torch.equal(torch.get_rng_state(), base_state)
    for ours, theirs in zip(model.linears, base.linears):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    names = [name for name, _ in model.named_parameters()]
    plain_names = [name for name, _ in base.named_parameters()]
    assert names[: len(plain_names)] == plain_names
    hidden = (0, 1) if norm != "none" else ()  # layer 3 is the output: not normalised
    extra = [f"norms.{i}.{p}" for i in hidden for p in ("weight", "bias")]
    assert names[len(plain_names) :] == extra
    assert list(model.state_dict()) == names  # no buffers: no running statistics
    spec = plain.replace(norm=norm, residual=residual)
    assert spec.parameter_count() == sum(p.numel() for p in model.parameters())


def test_norm_none_residual_off_keeps_the_plain_modules_and_keys():
    model = build_model(preset("seed-v2.0"))
    assert list(model.state_dict()) == [
        f"linears.{i}.{p}" for i in range(4) for p in ("weight", "bias")
    ]
    assert all(isinstance(m, torch.nn.Identity) for m in model.norms)
    assert model.residual == (False,) * 4


# -- batch norm needs a batch ------------------------------------------------------------


def test_batch_norm_needs_a_batch():
    for make in (
        lambda: Spec(norm="batch"),
        lambda: Spec(norm="batch", batch_size=2).replace(batch_size=1),
        lambda: Spec().with_text(norm="batch"),
        lambda: Spec.from_dict({"norm": "batch"}),
    ):
        with pytest.raises(SpecError) as info:
            make()
        assert info.value.field == "norm"
        assert info.value.reason == (
            "batch needs batch_size 2 or more (BatchNorm normalises over the batch), got"
            " batch_size 1; with batch_size 1 use none or layer"
        )
    assert Spec(norm="batch", batch_size=2).norm == "batch"
    assert Spec(norm="layer").batch_size == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "--norm", "batch"],
        ["probe", "--norm", "batch", "--batch-size", "4", "--batch-size", "1"],
        ["train", "--norm", "batch", "--steps", "2"],
        ["compare", "--activations", "tanh,relu", "--norm", "batch"],
        ["--norm", "batch"],  # the app is refused before it starts
    ],
)
def test_batch_norm_at_batch_1_exits_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "gradtui: error: --norm: batch needs batch_size 2 or more (BatchNorm normalises over"
        " the batch), got batch_size 1; with batch_size 1 use none or layer"
    ]


def test_a_toml_config_with_batch_norm_at_batch_1_is_refused(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_text('norm = "batch"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["probe", "--config", str(path)])
    assert info.value.code == 2
    assert "--norm: batch needs batch_size 2 or more" in capsys.readouterr().err


# -- TOML and the CLI --------------------------------------------------------------------


def test_norm_and_residual_round_trip_through_toml_and_the_json(tmp_path, capsys):
    spec = Spec(sizes=(6, 6, 3), norm="batch", residual=True, batch_size=4, device="cpu")
    toml = spec.to_toml()
    assert 'norm = "batch"\n' in toml and "residual = true\n" in toml
    assert Spec.from_dict(tomllib.loads(toml)) == spec
    path = tmp_path / "spec.toml"
    path.write_text(toml, encoding="utf-8")
    assert Spec.load(path) == spec
    assert main(["probe", "--config", str(path), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spec"]["norm"] == "batch" and data["spec"]["residual"] is True
    assert main(["probe", "--config", str(path), "--no-residual", "--norm", "layer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sizes 6,6,3, sigmoid (final same), layer norm, init default, cpu")
    assert main(["probe", "--sizes", "4,4", "--residual", "on", "--device", "cpu"]) == 0
    assert ", residual, init default" in capsys.readouterr().out


# -- the deep presets: what they show, measured --------------------------------------------


def ratio(spec: Spec) -> tuple[float, float, float]:
    """(layer 1's |g|, the last layer's |g|, last / first) of the weight gradients."""
    layers = run_probe(spec.replace(device="cpu")).layers
    first, last = layers[0].weight_grad.norm, layers[-1].weight_grad.norm
    return first, last, last / first


def test_deep_sigmoid_vanishes_by_the_factor_its_description_states():
    spec = preset("deep-sigmoid")
    assert spec.sizes == (100,) * 17 and spec.num_layers == 16 and spec.loss == "sum"
    first, last, factor = ratio(spec)
    # Measured at seed 0 on the CPU: 6.2e-12 against 12.4, a factor of 2.0e12; each
    # layer back multiplies |g| by about 0.15 (sigmoid' <= 0.25 times the weights).
    assert f"{first:.2g} {last:.3g} {factor:.1e}" == "6.2e-12 12.4 2.0e+12"
    assert "layer 1's |g| is 2.0e12x smaller than layer 16's" in PRESETS["deep-sigmoid"].description
    result = run_probe(spec.replace(device="cpu"))
    for view in ("weight", "flow"):
        assert (
            "Gradients vanish toward the input: |g| is 2.0e12x smaller in layer 1 (6.2e-12) "
            "than in layer 16 (12)."
        ) in findings(result, view)


def test_residual_and_layernorm_bring_the_gradient_to_layer_1():
    spec = preset("deep-sigmoid-residual-layernorm")
    assert spec == preset("deep-sigmoid").replace(norm="layer", residual=True)
    first, last, factor = ratio(spec)
    # Measured at seed 0 on the CPU: 11.3 against 101, within 100x: 9x.
    assert f"{first:.3g} {last:.3g} {factor:.2f}" == "11.3 101 8.96"
    assert factor < 100
    description = PRESETS["deep-sigmoid-residual-layernorm"].description
    assert "layer 1's |g| is 9x smaller than layer 16's" in description
    # The description's comparisons, each fix alone.
    assert f"{ratio(spec.replace(norm='none'))[2]:.0f}" == "4"
    assert f"{ratio(spec.replace(residual=False))[2]:.1e}" == "6.7e+05"
    assert "(residual alone 4x, norm alone 6.7e5x)" in description
    result = run_probe(spec.replace(device="cpu"))
    assert not any("Gradients vanish" in note or "grow" in note for note in findings(result))
    assert findings(result, "flow")[0] == "Gradient norms stay within 1e3 of each other."


def test_a_residual_layers_inputs_are_measured_not_inferred_from_the_activation():
    """A residual layer passes on x + act(...): its successor's input signs are measured
    on that input, so the findings name exactly the layers whose inputs were >= 0."""
    plain = run_probe(preset("deep-sigmoid").replace(device="cpu"))
    assert (
        "Layers 1-16 output no negative value: layers 2-16 take only non-negative inputs."
        in findings(plain, "activation")
    )
    residual = run_probe(preset("deep-sigmoid-residual-layernorm").replace(device="cpu"))
    fed = [int(w.label) for w in residual.weights if w.input_non_negative == 1.0]
    # The residual stream turns all-positive deep in the network (measured: from layer 8).
    assert fed == list(range(fed[0], 17)) and fed[0] > 2
    assert (
        f"Layers 1-16 output no negative value: layers {fed[0]}-16 take only non-negative "
        "inputs." in findings(residual, "activation")
    )
    early = residual.weights[1]  # layer 2's input is x + sigmoid(...): both signs
    assert 0 < early.input_non_negative < 1


# -- training ----------------------------------------------------------------------------


def test_training_builds_the_blocks_and_learns_xor():
    spec = Spec(
        sizes=(2, 16, 16, 16, 2), activation="tanh", norm="layer", residual=True, device="cpu"
    )
    trainer = Trainer(spec, TrainSpec(task="xor", steps=1))
    assert [type(m).__name__ for m in trainer.model.norms] == ["LayerNorm"] * 3 + ["Identity"]
    assert trainer.model.residual == (False, True, True, False)
    run = run_training(spec.replace(batch_size=16), TrainSpec(task="xor", steps=300, lr=0.3))
    assert run.spec.norm == "layer" and run.spec.residual
    assert run.steps[-1].loss < 0.5 * run.steps[0].loss
    assert run.steps[-1].accuracy > 0.9


def test_training_with_batch_norm_uses_the_batchs_statistics():
    spec = Spec(sizes=(2, 8, 8, 2), activation="tanh", norm="batch", batch_size=8, device="cpu")
    plan = TrainSpec(task="circle", samples=64, steps=3)
    trainer = Trainer(spec, plan)
    twin = Trainer(spec, plan)
    batches = torch.Generator().manual_seed(spec.seed + 1)
    step = trainer.step()
    index = torch.randint(0, 64, (8,), generator=batches)
    x, y = twin.x, twin.y
    # The batch's loss with its own statistics; the data set's loss with the set's.
    batch_loss = torch.nn.functional.cross_entropy(twin.model(x[index]), y[index])
    assert step.batch_loss == pytest.approx(batch_loss.item(), rel=1e-6)
    assert all(math.isfinite(layer.grad_norm) for layer in step.layers)
    assert not any(buffer.numel() for buffer in trainer.model.buffers())


# -- the app -----------------------------------------------------------------------------


async def test_the_config_pane_offers_norm_and_residual_and_refuses_batch_norm_at_batch_1():
    app = make_app(preset("deep-sigmoid").replace(device="cpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(ConfigPane)
        norm = app.query_one("#field-norm", Select)
        residual = app.query_one("#field-residual", Select)
        assert [value for _, value in norm._options] == ["none", "batch", "layer"]
        assert [value for _, value in residual._options] == ["on", "off"]
        assert (norm.value, residual.value) == ("none", "off")
        assert pane.query_one("#field-preset", Select).value == "deep-sigmoid"
        norm.value = "batch"
        await pilot.pause()
        assert app.query_one("#row-norm").has_class("-invalid")
        assert "batch needs batch_size 2 or more" in pane.errors["norm"]
        norm.value = "layer"
        residual.value = "on"
        await pilot.pause()
        assert not pane.errors
        assert pane.spec == preset("deep-sigmoid-residual-layernorm").replace(device="cpu")
        assert pane.query_one("#field-preset", Select).value == "deep-sigmoid-residual-layernorm"
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.result.spec.norm == "layer" and app.result.spec.residual
        assert len(app.result.layers) == 16
        assert "layer norm, residual" in app.screen.sub_title
