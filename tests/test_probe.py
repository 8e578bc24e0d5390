"""The probe against independent computation: the post's own script, a hand-built float64
model with autograd, and the analytic signs of the seed experiments."""

from __future__ import annotations

import json
import threading
import weakref

import numpy as np
import pytest
import torch
from reference import assert_matches, reference_stats
from seed_script import LayerSigmoidNN, run_seed_script

from gradtui.__main__ import main
from gradtui.lab import Cancelled, build_model, device, run_probe
from gradtui.lab import probe as probe_module
from gradtui.lab.model import Draws, compute_loss, draw_input, draw_target
from gradtui.lab.probe import Recorder, measure, prepare
from gradtui.spec import Spec, preset

SEED_RUNS = {
    "seed-v1.0": (2, torch.nn.Sigmoid, "sum"),
    "seed-v1.1": (2, torch.nn.Sigmoid, "mse"),
    "seed-v2.0": (4, torch.nn.Sigmoid, "sum"),
    "seed-v3.0": (4, torch.nn.Tanh, "sum"),
}


def gradients_of(spec: Spec):
    model, x, target = prepare(spec)
    loss = compute_loss(spec, model(x), target)
    loss.backward()
    return loss.detach(), [linear.weight.grad for linear in model.linears]


@pytest.mark.parametrize("name", list(SEED_RUNS))
@pytest.mark.parametrize("seed", [0, 7])
def test_gradients_reproduce_the_seed_script_bit_for_bit(name, seed):
    n_layers, activation, loss = SEED_RUNS[name]
    seed_loss, seed_grads, _ = run_seed_script(seed, n_layers, activation, loss)
    ours_loss, ours_grads = gradients_of(preset(name).replace(seed=seed))
    assert torch.equal(seed_loss, ours_loss)
    assert len(ours_grads) == n_layers
    for theirs, ours in zip(seed_grads, ours_grads):
        assert torch.equal(theirs, ours)


@pytest.mark.parametrize("name", list(SEED_RUNS))
def test_probe_json_matches_statistics_of_the_seed_script(name, capsys):
    n_layers, activation, loss = SEED_RUNS[name]
    seed_loss, seed_grads, seed_bias_grads = run_seed_script(3, n_layers, activation, loss)
    assert main(["probe", "--preset", name, "--seed", "3", "--device", "cpu", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["loss"] == pytest.approx(float(seed_loss), rel=1e-7)
    assert data["spec"]["seed"] == 3 and data["device"] == "cpu"
    for layer, grad, bias_grad in zip(data["layers"], seed_grads, seed_bias_grads):
        ref = reference_stats(grad.numpy(), 50, rows=True)
        got = layer["weight_grad"]
        for key in ("numel", "nonfinite", "pos", "neg", "zero", "row_coherence"):
            assert got[key] == ref[key], key
        for key in ("mean", "std", "min", "max", "norm"):
            assert got[key] == pytest.approx(ref[key], rel=1e-9), key
        assert got["hist"]["counts"] == ref["counts"]
        assert got["hist"]["edges"] == pytest.approx(ref["edges"], rel=1e-12)
        bias_ref = reference_stats(bias_grad.numpy(), 50)
        assert layer["bias_grad"]["norm"] == pytest.approx(bias_ref["norm"], rel=1e-9)
        assert "row_coherence" not in layer["bias_grad"]
    for layer, out in zip(data["layers"], seed_activations(3, n_layers, activation)):
        ref = reference_stats(out, 50)
        got = layer["activation"]
        for key in ("numel", "nonfinite", "pos", "neg", "zero"):
            assert got[key] == ref[key], key
        for key in ("mean", "std", "min", "max", "norm"):
            assert got[key] == pytest.approx(ref[key], rel=1e-9), key
        assert got["hist"]["counts"] == ref["counts"]
        if activation is torch.nn.Sigmoid:
            saturated = np.mean((out < 0.03) | (out > 0.97))
        else:
            saturated = np.mean(np.abs(out) > 0.97)
        assert got["saturated"] == saturated and got["dead"] is None


def seed_activations(seed: int, n_layers: int, activation) -> list[np.ndarray]:
    """Each layer's output in the post's script (its model, its input), by forward hooks."""
    torch.manual_seed(seed)
    model = LayerSigmoidNN(100, 100, 100, n_layers, activation)
    x = torch.randn(1, 100)
    outputs, h = [], x
    with torch.no_grad():
        for layer in model.layers:
            h = model.sigmoid(layer(h))
            outputs.append(h.double().numpy())
    return outputs


def test_hand_built_float64_model_matches_every_statistic():
    """A network written out by hand (no nn.Linear, no gradtui code) under autograd."""
    spec = Spec(
        sizes=(6, 5, 4, 3),
        activation="tanh",
        final_activation="none",
        loss="mse",
        batch_size=4,
        dtype="float64",
        seed=11,
        bins=8,
    )
    result = run_probe(spec.replace(device="cpu"))

    # Same parameters and data, by drawing them exactly as documented: in float32, as
    # the seed does, then converted to float64.
    torch.manual_seed(spec.seed)
    layers = [torch.nn.Linear(a, b) for a, b in zip(spec.sizes, spec.sizes[1:])]
    x = torch.randn(spec.batch_size, spec.sizes[0]).double()
    target = torch.randn(spec.batch_size, spec.sizes[-1]).double()
    weights = [layer.weight.detach().double().requires_grad_() for layer in layers]
    biases = [layer.bias.detach().double().requires_grad_() for layer in layers]
    h, outputs = x, []
    for i, (w, b) in enumerate(zip(weights, biases)):
        z = h @ w.T + b
        h = z if i == len(weights) - 1 else torch.tanh(z)
        outputs.append(h)
    loss = ((h - target) ** 2).mean()
    loss.backward()

    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    for layer, w, b, out in zip(result.layers, weights, biases, outputs):
        assert_matches(layer.weight_grad, reference_stats(w.grad.numpy(), 8, rows=True))
        assert_matches(layer.bias_grad, reference_stats(b.grad.numpy(), 8))
        assert_matches(layer.activation_stats, reference_stats(out.detach().numpy(), 8))
        assert layer.grad_to_weight == pytest.approx(
            w.grad.norm().item() / w.detach().norm().item(), rel=1e-12
        )


def test_last_sigmoid_layer_gradient_is_the_analytic_outer_product():
    """Under sum loss, dL/dW_L = sigma'(z_L) h_{L-1}^T: every entry > 0 (the post's v1.0)."""
    spec = preset("seed-v1.0").replace(dtype="float64")
    model, x, target = prepare(spec)
    h1 = torch.sigmoid(model.linears[0](x))
    z2 = model.linears[1](h1)
    s = torch.sigmoid(z2)
    analytic = (s * (1 - s)).T @ h1
    loss = compute_loss(spec, model(x), target)
    loss.backward()
    assert torch.allclose(model.linears[1].weight.grad, analytic, rtol=1e-12, atol=0)
    assert bool((analytic > 0).all())


# -- the post's findings, and its correction ------------------------------------------


def test_v1_0_layer_2_all_positive():
    layers = run_probe(preset("seed-v1.0")).layers
    assert layers[1].weight_grad.pos == 1.0
    assert 0.3 < layers[0].weight_grad.pos < 0.7


def test_v1_1_layer_2_all_negative():
    layers = run_probe(preset("seed-v1.1")).layers
    assert layers[1].weight_grad.neg == 1.0


def test_v2_0_rows_are_one_signed_although_layers_2_and_3_look_mixed():
    layers = run_probe(preset("seed-v2.0")).layers
    assert [layer.weight_grad.row_coherence for layer in layers[1:]] == [1.0, 1.0, 1.0]
    assert layers[3].weight_grad.pos == 1.0
    for layer in layers[1:3]:
        assert 0.3 < layer.weight_grad.pos < 0.7  # what the post's histogram showed
    assert layers[0].weight_grad.row_coherence == 0.0  # fed by the normal input


def test_v3_0_tanh_rows_mix_signs():
    layers = run_probe(preset("seed-v3.0")).layers
    assert all(layer.weight_grad.row_coherence < 0.05 for layer in layers)
    assert 0.3 < layers[3].weight_grad.pos < 0.7


def test_sigmoid_stays_coherent_over_a_batch_as_notes_record():
    spec = Spec(sizes=(100,) * 5, final_activation="none", loss="mse", batch_size=64, seed=0)
    coherence = [layer.weight_grad.row_coherence for layer in run_probe(spec).layers]
    assert coherence == [0.0, 0.84, 0.99, 1.0]
    tanh = spec.replace(activation="tanh", batch_size=1)
    assert all(layer.weight_grad.row_coherence == 0.0 for layer in run_probe(tanh).layers)


def test_sum_loss_with_sigmoid_output_keeps_last_layer_one_signed_at_any_batch():
    result = run_probe(preset("seed-v2.0").replace(batch_size=32))
    assert result.layers[-1].weight_grad.pos == 1.0


# -- the rest of the spec ------------------------------------------------------------


@pytest.mark.parametrize(
    "init",
    [
        "xavier-uniform",
        "xavier-normal",
        "kaiming-uniform",
        "kaiming-normal",
        "orthogonal",
        "normal:0.01",
    ],
)
def test_inits_change_weights_and_are_reproducible(init):
    spec = Spec(sizes=(20, 30, 10), init=init)
    torch.manual_seed(0)
    a = build_model(spec)
    torch.manual_seed(0)
    b = build_model(spec)
    torch.manual_seed(0)
    default = build_model(spec.replace(init="default"))
    for mine, again, theirs in zip(a.linears, b.linears, default.linears):
        assert torch.equal(mine.weight, again.weight)
        assert not torch.equal(mine.weight, theirs.weight)
        assert (mine.weight - theirs.weight).abs().max() > 1e-3
        assert torch.count_nonzero(mine.bias) == 0
        assert torch.count_nonzero(theirs.bias) == theirs.bias.numel()
    if init == "normal:0.01":
        assert a.linears[0].weight.std().item() == pytest.approx(0.01, rel=0.1)
    if init == "orthogonal":
        w = a.linears[1].weight.double()  # 10x30: orthonormal rows, gain 1 for sigmoid
        assert torch.allclose(w @ w.T, torch.eye(10, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("normal", lambda shape: torch.randn(shape)),
        ("uniform01", lambda shape: torch.rand(shape)),
        ("uniform11", lambda shape: torch.rand(shape) * 2 - 1),
    ],
)
def test_inputs_are_drawn_as_documented(name, draw):
    spec = Spec(sizes=(50, 3), batch_size=200, input=name)
    torch.manual_seed(0)
    ours = draw_input(spec)
    torch.manual_seed(0)
    assert torch.equal(ours, draw((200, 50)))
    low, high, mean = {"normal": (-6, 6, 0.0), "uniform01": (0, 1, 0.5), "uniform11": (-1, 1, 0)}[
        name
    ]
    assert low <= ours.min() and ours.max() <= high
    assert float(ours.mean()) == pytest.approx(mean, abs=0.03)
    if name != "normal":  # filling its range
        assert ours.min() < low + 0.01 and ours.max() > high - 0.01


def test_cross_entropy_loss_against_a_hand_computation():
    spec = Spec(sizes=(50, 3), batch_size=200, input="uniform01", loss="cross-entropy")
    result = run_probe(spec.replace(device="cpu"))
    # As README documents: the layers with default init, then the input, then the labels.
    torch.manual_seed(spec.seed)
    linear = torch.nn.Linear(50, 3)
    x = torch.rand(200, 50)
    labels = torch.randint(0, 3, (200,))
    assert set(labels.tolist()) == {0, 1, 2}
    with torch.no_grad():
        out = torch.sigmoid(linear(x)).double().numpy()  # final activation "same"
    log_softmax = out - np.log(np.exp(out).sum(axis=1, keepdims=True))
    expected = -log_softmax[np.arange(200), labels.numpy()].mean()
    assert result.loss == pytest.approx(expected, rel=1e-6)
    torch.manual_seed(spec.seed)
    build_model(spec)
    draw_input(spec)
    assert torch.equal(draw_target(spec), labels)


def test_no_bias_and_final_activation():
    spec = Spec(
        sizes=(8, 12, 8),
        bias=False,
        activation="relu",
        final_activation="none",
        batch_size=16,
        dtype="float64",
    )
    result = run_probe(spec.replace(device="cpu"))
    torch.manual_seed(spec.seed)
    # Drawn in float32 as documented, then converted.
    w1 = torch.nn.Linear(8, 12, bias=False).weight.detach().double()
    w2 = torch.nn.Linear(12, 8, bias=False).weight.detach().double()
    x = torch.randn(16, 8).double()
    h1 = torch.relu(x @ w1.T)
    h2 = h1 @ w2.T
    assert all(layer.bias_grad is None for layer in result.layers)
    first, second = result.layers
    dead = float((h1 == 0).double().mean())
    assert 0.2 < dead < 0.8
    assert first.activation_stats.dead == dead and first.activation_stats.zero == dead
    assert first.activation_stats.mean == pytest.approx(float(h1.mean()), rel=1e-12)
    assert second.activation_name == "identity"
    assert second.activation_stats.dead is None and second.activation_stats.saturated is None
    assert second.activation_stats.mean == pytest.approx(float(h2.mean()), rel=1e-12)
    assert second.activation_stats.min == pytest.approx(float(h2.min()), rel=1e-12)


def test_nonfinite_gradients_give_a_full_result_that_says_so():
    spec = Spec(sizes=(4, 4, 2), init="normal:1e30", activation="identity")
    result = run_probe(spec.replace(device="cpu"))
    # The same network by hand: the global RNG as documented, then autograd.
    torch.manual_seed(spec.seed)
    model = build_model(spec)
    x = torch.randn(1, 4)
    h1 = model.linears[0](x)
    h2 = model.linears[1](h1)
    h1.retain_grad()
    h2.sum().backward()
    assert not result.finite and result.loss is None
    assert len(result.layers) == 2
    expected = ["the loss is not finite (NaN or Inf)"]
    for index, (layer, linear, out) in enumerate(
        zip(result.layers, model.linears, (h1, h2)), start=1
    ):
        counts = {
            "weight gradient": int((~torch.isfinite(linear.weight.grad)).sum()),
            "bias gradient": int((~torch.isfinite(linear.bias.grad)).sum()),
            "activation": int((~torch.isfinite(out)).sum()),
        }
        assert layer.weight_grad.nonfinite == counts["weight gradient"]
        assert layer.bias_grad.nonfinite == counts["bias gradient"]
        assert layer.activation_stats.nonfinite == counts["activation"]
        expected += [
            f"layer {index}: {n} non-finite {name} entries" for name, n in counts.items() if n
        ]
    assert sum(layer.activation_stats.nonfinite for layer in result.layers) > 0
    assert len(result.warnings) == len(expected)
    for warning, start in zip(result.warnings, expected):
        assert warning.startswith(start)


def test_a_probe_cancelled_after_its_forward_pass_never_runs_backward():
    """The Event is set from inside the real forward pass (a global module hook), so the
    probe must notice it at its checkpoint between forward and backward."""
    cancel = threading.Event()
    linears: list[torch.nn.Linear] = []

    def hook(module, _inputs, _output):
        if isinstance(module, torch.nn.Linear):
            linears.append(module)
            cancel.set()

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        with pytest.raises(Cancelled):
            run_probe(Spec(sizes=(6, 5, 4), device="cpu"), cancel)
    finally:
        handle.remove()
    assert len(linears) == 2  # the whole forward pass ran
    assert all(linear.weight.grad is None for linear in linears)  # backward did not


def test_a_probe_without_cancel_runs_to_the_end_under_the_same_hook():
    cancel = threading.Event()
    linears: list[torch.nn.Linear] = []

    def hook(module, _inputs, _output):
        if isinstance(module, torch.nn.Linear):
            linears.append(module)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        result = run_probe(Spec(sizes=(6, 5, 4), device="cpu"), cancel)
    finally:
        handle.remove()
    assert len(result.layers) == 2
    assert all(linear.weight.grad is not None for linear in linears)


def test_a_probe_cancelled_before_it_starts_runs_no_forward_pass():
    cancel = threading.Event()
    cancel.set()
    linears: list[torch.nn.Module] = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, _i, _o: linears.append(module)
    )
    try:
        with pytest.raises(Cancelled):
            run_probe(Spec(sizes=(6, 5, 4), device="cpu"), cancel)
    finally:
        handle.remove()
    assert linears == []  # no forward pass


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturated_share_against_a_hand_count(activation):
    spec = Spec(sizes=(20, 30, 30), activation=activation, init="normal:1.5", batch_size=8)
    result = run_probe(spec.replace(device="cpu"))
    torch.manual_seed(spec.seed)
    model = build_model(spec)
    h = torch.randn(8, 20)
    with torch.no_grad():
        for layer, linear, act in zip(result.layers, model.linears, model.activations):
            h = act(linear(h))
            if activation == "sigmoid":
                saturated = float(((h < 0.03) | (h > 0.97)).double().mean())
            else:
                saturated = float((h.abs() > 0.97).double().mean())
            assert 0.05 < saturated < 0.95
            assert layer.activation_stats.saturated == saturated
            assert layer.activation_stats.dead is None


def measured(loss_value: float, device: torch.device, bias: bool = True):
    """measure() on a hand-run 3,4,2 network whose loss tensor is `loss_value`."""
    spec = Spec(sizes=(3, 4, 2), activation="relu", bias=bias, device="cpu")
    torch.manual_seed(0)
    model = build_model(spec)
    x = torch.randn(2, 3)
    watched = {f"activations.{i}": module for i, module in enumerate(model.activations)}
    with Recorder(model, watched, spec.bins) as recorder:
        h = model(x)
    h.sum().backward()
    return spec, model, measure(spec, model, recorder, torch.tensor(loss_value), device)


def test_measure_names_the_device_and_keeps_a_finite_loss():
    _, model, result = measured(2.5, torch.device("cpu"))
    assert result.device == "cpu" and result.loss == 2.5 and result.warnings == []
    # Only the name is read from the device: a CUDA one, without an index, is cuda:0.
    assert measured(2.5, torch.device("cuda"))[2].device == "cuda:0"
    assert measured(2.5, torch.device("cuda", 3))[2].device == "cuda:3"
    for layer, linear, index in zip(result.layers, model.linears, (1, 2)):
        assert layer.index == index and layer.activation_name == "relu"
        assert (layer.in_features, layer.out_features) == (linear.in_features, linear.out_features)
        assert layer.weight_norm == pytest.approx(float(linear.weight.detach().norm()), rel=1e-6)
        assert layer.weight_grad.norm == pytest.approx(float(linear.weight.grad.norm()), rel=1e-6)
        assert layer.bias_grad.norm == pytest.approx(float(linear.bias.grad.norm()), rel=1e-6)
        assert layer.sign_map.rows == linear.out_features
    unbiased = measured(2.5, torch.device("cpu"), bias=False)[2]
    assert [layer.bias_grad for layer in unbiased.layers] == [None, None]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_measure_drops_a_non_finite_loss_and_says_so(value):
    result = measured(value, torch.device("cpu"))[2]
    assert result.loss is None
    assert result.warnings == ["the loss is not finite (NaN or Inf)"]


def test_warnings_word_for_word():
    import dataclasses

    from gradtui.lab.probe import _warnings

    good = run_probe(Spec(sizes=(3, 2, 2), device="cpu"))

    def odd(entry, n):
        return dataclasses.replace(entry, stats=dataclasses.replace(entry.stats, nonfinite=n))

    weight1, bias1, weight2, bias2 = good.parameters
    out1, out2 = good.outputs
    broken = [weight1, bias1, odd(weight2, 3), odd(bias2, 1)]
    tail = " (NaN/Inf), left out of the other figures"
    assert _warnings(1.0, good.parameters, good.outputs, builtin=True) == []
    assert _warnings(1.0, broken, [out1, odd(out2, 2)], builtin=True) == [
        "layer 2: 3 non-finite weight gradient entries" + tail,
        "layer 2: 1 non-finite bias gradient entries" + tail,
        "layer 2: 2 non-finite activation entries" + tail,
    ]
    assert _warnings(None, [weight1, odd(weight2, 3)], [out1, odd(out2, 2)], builtin=True) == [
        "the loss is not finite (NaN or Inf)",
        "layer 2: 3 non-finite weight gradient entries" + tail,
        "layer 2: 2 non-finite activation entries" + tail,
    ]
    # A user's model names the parameter and the module.
    assert _warnings(1.0, [odd(weight2, 3)], [odd(out1, 2)], builtin=False) == [
        "linears.1.weight: 3 non-finite gradient entries" + tail,
        "activations.0: 2 non-finite output entries" + tail,
    ]


# -- weights kept from one probe for the next ---------------------------------------------

CPU = torch.device("cpu")
BASE = Spec(sizes=(20, 16, 12, 8), device="cpu", batch_size=3)


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        (BASE, BASE, True),
        (BASE, BASE.replace(activation="tanh", loss="mse", batch_size=5), True),
        (BASE, BASE.replace(norm="layer", residual=True, input="uniform11"), True),
        (BASE, BASE.replace(final_activation="none", loss="cross-entropy"), True),
        (BASE, BASE.replace(seed=1), False),
        (BASE, BASE.replace(sizes=(20, 16, 12, 9)), False),
        (BASE, BASE.replace(bias=False), False),
        (BASE, BASE.replace(dtype="float64"), False),
        (BASE, BASE.replace(init="normal:0.5"), False),
        # Every init but the default takes its gain from each layer's activation.
        (BASE.replace(init="xavier-uniform"), BASE.replace(init="xavier-uniform"), True),
        (
            BASE.replace(init="kaiming-normal"),
            BASE.replace(init="kaiming-normal", loss="mse"),
            True,
        ),
        (
            BASE.replace(init="xavier-normal"),
            BASE.replace(init="xavier-normal", activation="tanh"),
            False,
        ),
        (
            BASE.replace(init="orthogonal", dtype="float64"),
            BASE.replace(init="orthogonal", dtype="float64", norm="batch"),
            True,
        ),
    ],
)
def test_a_probe_on_kept_weights_gives_a_fresh_draws_figures(monkeypatch, first, second, kept):
    monkeypatch.setattr(probe_module, "DRAWS", Draws())
    fresh = run_probe(second)
    state = torch.get_rng_state()
    monkeypatch.setattr(probe_module, "DRAWS", draws := Draws())
    run_probe(first)
    weights = draws.keep_only(second, CPU)
    itemsize = 8 if second.dtype == "float64" else 4
    parameters = sum(a * b + b for a, b in zip(second.sizes, second.sizes[1:]))
    assert weights == (itemsize * parameters if kept else 0)
    # Every figure, the gradients' among them (none accumulated over the two probes).
    assert run_probe(second).to_dict() == fresh.to_dict()
    assert torch.equal(torch.get_rng_state(), state)  # the generator left as a draw leaves it


def test_kept_weights_are_a_fresh_builds_bit_for_bit_and_take_no_gradient():
    spec = BASE.replace(norm="layer", dtype="float64", init="kaiming-uniform", activation="relu")
    draws = Draws()
    first, x1, _ = draws.prepare(spec, CPU)
    first(x1).sum().backward()
    again, x2, _ = draws.prepare(spec, CPU)
    built, x3, _ = prepare(spec)
    assert torch.equal(x2, x3) and torch.equal(x1, x3)
    for mine, theirs, before in zip(again.parameters(), built.parameters(), first.parameters()):
        assert torch.equal(mine, theirs) and mine.dtype == theirs.dtype == torch.float64
        assert mine.grad is None and before.grad is not None and mine is not before
    assert again.linears[0].weight.data_ptr() == first.linears[0].weight.data_ptr()
    assert again.norms[0].weight.data_ptr() != first.norms[0].weight.data_ptr()


def test_a_different_draw_releases_the_kept_weights_before_it_is_built():
    draws = Draws()
    model, *_ = draws.prepare(BASE, CPU)
    kept = weakref.ref(model.linears[0].weight.untyped_storage())
    storage = model.linears[0].weight.untyped_storage()
    del model, storage
    assert draws.keep_only(BASE, CPU) > 0 and kept() is not None
    assert draws.keep_only(BASE.replace(seed=3), CPU) == 0
    assert kept() is None


def test_weights_drawn_ahead_serve_the_probe_that_follows(monkeypatch):
    monkeypatch.setattr(probe_module, "DRAWS", Draws())
    fresh = run_probe(BASE.replace(seed=5))
    monkeypatch.setattr(probe_module, "DRAWS", draws := Draws())
    spec = BASE.replace(seed=5)
    assert probe_module.draw_ahead(spec) and draws.holds(spec, CPU)
    assert not probe_module.draw_ahead(spec)  # drawn already
    assert run_probe(spec).to_dict() == fresh.to_dict()


def test_nothing_is_drawn_ahead_for_a_network_that_cannot_run(monkeypatch, tmp_path):
    monkeypatch.setattr(probe_module, "DRAWS", draws := Draws())
    run_probe(BASE)
    monkeypatch.setattr(device, "free_bytes", lambda where: 1000)
    big = BASE.replace(sizes=(1000, 1000))
    assert not probe_module.draw_ahead(big) and not draws.holds(big, CPU)
    assert draws.keep_only(BASE, CPU) == 0  # the kept weights are let go all the same
    if not torch.cuda.is_available():
        assert not probe_module.draw_ahead(BASE.replace(device="cuda:0"))
    model = tmp_path / "net.py"
    model.write_text("import torch\nmodel = torch.nn.Linear(3, 2)\nx = torch.ones(1, 3)\n")
    assert not probe_module.draw_ahead(Spec(model=str(model), device="cpu"))


def test_a_probe_drawing_while_another_thread_draws_keeps_its_own_weights(monkeypatch):
    """The app's probe and training workers both seed torch's generator and build a
    network; drawing at once, each got some of the other's numbers, and the probe kept
    them for the next (Draws). Both draw under GLOBAL_RNG."""
    spec = Spec(sizes=(64, 256, 256, 256, 4), device="cpu")
    monkeypatch.setattr(probe_module, "DRAWS", Draws())
    reference = run_probe(spec).to_dict()
    stop = threading.Event()

    def other_draws():  # as a Trainer does: seed, then build its own network
        while not stop.is_set():
            prepare(Spec(sizes=(64, 256, 256, 256, 4), seed=1))

    thread = threading.Thread(target=other_draws)
    thread.start()
    try:
        raced = []
        for _ in range(12):
            monkeypatch.setattr(probe_module, "DRAWS", Draws())
            raced.append(run_probe(spec).to_dict() == reference)
            raced.append(run_probe(spec).to_dict() == reference)  # on the kept weights
    finally:
        stop.set()
        thread.join()
    assert all(raced)
