"""The named inits against their definitions, on layers large enough to measure.

Expected figures are derived here from the published formulas (Glorot & Bengio 2010,
He et al. 2015, Saxe et al. 2014), with the gain each activation implies:
sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + 0.01^2)), identity 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gradtui.fields import ACTIVATIONS
from gradtui.lab import build_model
from gradtui.lab.model import compute_loss, draw_input, draw_target
from gradtui.spec import Spec

GAINS = {
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01**2)),
    "identity": 1.0,
}

SHAPES = [(512, 512), (1024, 256)]
"""(fan_in, fan_out). Xavier and Kaiming agree on a square layer (2 / (n + n) = 1 / n), so
a rectangular one is what tells them apart."""


def layer_weight(init: str, activation: str, fan_in: int, fan_out: int, seed: int = 0):
    spec = Spec(sizes=(fan_in, fan_out), activation=activation, init=init, dtype="float64")
    torch.manual_seed(seed)
    linear = build_model(spec).linears[0]
    return linear.weight.detach().numpy(), linear.bias.detach().numpy()


SCALED = ["xavier-uniform", "xavier-normal", "kaiming-uniform", "kaiming-normal"]


def expected(init: str, gain: float, fan_in: int, fan_out: int) -> tuple[float, float | None]:
    """(std, bound or None) of the init's distribution."""
    if init == "xavier-uniform":
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return bound / math.sqrt(3.0), bound
    if init == "xavier-normal":
        return gain * math.sqrt(2.0 / (fan_in + fan_out)), None
    if init == "kaiming-uniform":
        bound = gain * math.sqrt(3.0 / fan_in)
        return bound / math.sqrt(3.0), bound
    assert init == "kaiming-normal"
    return gain / math.sqrt(fan_in), None


def excess_kurtosis(w: np.ndarray) -> float:
    z = (w - w.mean()) / w.std()
    return float((z**4).mean() - 3.0)


@pytest.mark.parametrize("shape", SHAPES, ids=["512x512", "1024to256"])
@pytest.mark.parametrize("activation", list(GAINS))
@pytest.mark.parametrize("init", SCALED)
def test_scaled_inits_match_their_definition(init, activation, shape):
    fan_in, fan_out = shape
    w, bias = layer_weight(init, activation, fan_in, fan_out)
    std, bound = expected(init, GAINS[activation], fan_in, fan_out)
    n = w.size
    # The sample std of n draws is within 6 standard errors of the true one: the relative
    # standard error is sqrt((kurtosis - 1) / (4 n)), about 0.0014 for a normal at n = 2^18.
    assert w.std() == pytest.approx(std, rel=6 * math.sqrt(2.0 / (4 * n)))
    assert abs(w.mean()) < 6 * std / math.sqrt(n)
    if bound is not None:
        # Uniform on [-bound, bound]: never beyond it, and filling it out to the edges.
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.999 * bound
        assert excess_kurtosis(w) == pytest.approx(-1.2, abs=0.05)
    else:
        # Normal: about 8% of the draws lie beyond sqrt(3) std, where a uniform has none.
        assert excess_kurtosis(w) == pytest.approx(0.0, abs=0.1)
        assert np.mean(np.abs(w) > math.sqrt(3.0) * std) == pytest.approx(0.0833, abs=0.005)
    assert not bias.any()


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_orthogonal_rows_are_orthonormal_times_the_gain(activation):
    gain = GAINS[activation]
    # Weights are drawn in float32 (then converted): orthonormal to float32's precision.
    atol = 2e-6 * gain**2
    w, bias = layer_weight("orthogonal", activation, 512, 512)
    np.testing.assert_allclose(w @ w.T, gain**2 * np.eye(512), atol=atol)
    wide, _ = layer_weight("orthogonal", activation, 300, 200)  # 200x300: orthonormal rows
    np.testing.assert_allclose(wide @ wide.T, gain**2 * np.eye(200), atol=atol)
    tall, _ = layer_weight("orthogonal", activation, 200, 300)  # 300x200: columns
    np.testing.assert_allclose(tall.T @ tall, gain**2 * np.eye(200), atol=atol)
    assert not bias.any()


@pytest.mark.parametrize("std", [0.01, 0.5, 3.0])
def test_normal_init_has_the_given_std(std):
    w, bias = layer_weight(f"normal:{std}", "tanh", 512, 512)
    assert w.std() == pytest.approx(std, rel=6 * math.sqrt(2.0 / (4 * w.size)))
    assert abs(w.mean()) < 6 * std / math.sqrt(w.size)
    assert excess_kurtosis(w) == pytest.approx(0.0, abs=0.1)
    assert not bias.any()


NAMED = [
    "xavier-uniform",
    "xavier-normal",
    "kaiming-uniform",
    "kaiming-normal",
    "orthogonal",
    "normal:0.05",
]


def test_default_init_is_pytorchs_and_differs_from_each_named_one():
    default, default_bias = layer_weight("default", "relu", 512, 512)
    # nn.Linear's own init: uniform on +-1/sqrt(fan_in), weights and biases alike.
    bound = 1 / math.sqrt(512)
    assert np.abs(default).max() <= bound and np.abs(default).max() > 0.999 * bound
    assert default.std() == pytest.approx(bound / math.sqrt(3), rel=0.005)
    assert np.abs(default_bias).max() <= bound and np.count_nonzero(default_bias) == 512
    for init in NAMED:
        w, bias = layer_weight(init, "relu", 512, 512)
        assert not np.array_equal(w, default), init
        assert np.abs(w - default).max() > 0.01, init
        assert not bias.any(), init


def test_every_layer_is_initialised_with_its_own_activations_gain():
    """The last layer follows final_activation: tanh hidden layers, an identity output."""
    spec = Spec(
        sizes=(400, 400, 400),
        activation="tanh",
        final_activation="none",
        init="kaiming-normal",
        dtype="float64",
    )
    torch.manual_seed(0)
    first, last = (linear.weight.detach().numpy() for linear in build_model(spec).linears)
    assert first.std() == pytest.approx(GAINS["tanh"] / 20, rel=0.01)
    assert last.std() == pytest.approx(GAINS["identity"] / 20, rel=0.01)


@pytest.mark.parametrize("init", NAMED)
def test_named_inits_are_reproducible_from_the_seed(init):
    a, _ = layer_weight(init, "sigmoid", 64, 32, seed=5)
    b, _ = layer_weight(init, "sigmoid", 64, 32, seed=5)
    c, _ = layer_weight(init, "sigmoid", 64, 32, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


# -- the modules, the draws and the losses, against torch's functions ---------------------

FUNCTIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda t: torch.where(t > 0, t, 0.01 * t),
    "elu": lambda t: torch.where(t > 0, t, torch.expm1(t)),
    "gelu": lambda t: 0.5 * t * (1 + torch.erf(t / math.sqrt(2))),
    "silu": lambda t: t * torch.sigmoid(t),
    "mish": lambda t: t * torch.tanh(torch.log1p(torch.exp(t))),
    "softplus": lambda t: torch.log1p(torch.exp(t)),
    "identity": lambda t: t,
}


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_each_activation_computes_its_function(activation):
    spec = Spec(sizes=(3, 4, 2), activation=activation, dtype="float64")
    model = build_model(spec)
    t = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for module in model.activations:
        assert torch.allclose(module(t), FUNCTIONS[activation](t), rtol=1e-7, atol=1e-9)


def test_the_network_is_linear_then_activation_layer_by_layer():
    spec = Spec(sizes=(3, 5, 4, 2), activation="tanh", final_activation="relu", dtype="float64")
    torch.manual_seed(1)
    model = build_model(spec)
    assert [(lin.in_features, lin.out_features) for lin in model.linears] == [
        (3, 5),
        (5, 4),
        (4, 2),
    ]
    x = torch.randn(6, 3, dtype=torch.float64)
    expected = x
    for i, linear in enumerate(model.linears):
        z = expected @ linear.weight.T + linear.bias
        expected = torch.relu(z) if i == 2 else torch.tanh(z)
    assert torch.allclose(model(x), expected, rtol=1e-12, atol=1e-14)
    unbiased = build_model(spec.replace(bias=False, final_activation="none"))
    assert all(linear.bias is None for linear in unbiased.linears)
    assert [type(m).__name__ for m in unbiased.activations] == ["Tanh", "Tanh", "Identity"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inputs_and_targets_are_the_documented_draws(dtype):
    spec = Spec(sizes=(4, 3, 5), batch_size=6, dtype=dtype)
    want = model_dtype = torch.float64 if dtype == "float64" else torch.float32
    for name, draw in (
        ("normal", lambda: torch.randn(6, 4)),
        ("uniform01", lambda: torch.rand(6, 4)),
        ("uniform11", lambda: 2 * torch.rand(6, 4) - 1),
    ):
        torch.manual_seed(7)
        x = draw_input(spec.replace(input=name))
        torch.manual_seed(7)
        assert x.dtype == want and torch.equal(x, draw().to(model_dtype)), name
    torch.manual_seed(3)
    target = draw_target(spec.replace(loss="mse"))
    torch.manual_seed(3)
    assert target.dtype == want and torch.equal(target, torch.randn(6, 5).to(want))
    torch.manual_seed(3)
    labels = draw_target(spec.replace(loss="cross-entropy"))
    torch.manual_seed(3)
    assert torch.equal(labels, torch.randint(5, (6,)))
    many = draw_target(spec.replace(loss="cross-entropy", batch_size=500))
    assert set(many.tolist()) == {0, 1, 2, 3, 4}
    assert draw_target(spec) is None and draw_target(spec.replace(loss="sum-mse")) is None


def test_each_loss_against_its_formula():
    # A target that float32 cannot hold: the float64 loss must see it in float64.
    spec = Spec(sizes=(2, 3), batch_size=2, target=0.1, dtype="float64")
    output = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.25]], dtype=torch.float64)
    total = 0.5 - 1.0 + 2.0 + 1.5 + 0.0 - 0.25
    assert compute_loss(spec, output, None).item() == total
    assert compute_loss(spec.replace(loss="sum-mse"), output, None).item() == (total - 0.1) ** 2
    target = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    mse = ((0.5 - 1) ** 2 + 4 + 1 + 1.5**2 + 0 + 0.25**2) / 6
    assert compute_loss(spec.replace(loss="mse"), output, target).item() == pytest.approx(mse)
    labels = torch.tensor([2, 0])
    rows = output.exp() / output.exp().sum(dim=1, keepdim=True)
    ce = -(math.log(rows[0, 2]) + math.log(rows[1, 0])) / 2
    assert compute_loss(spec.replace(loss="cross-entropy"), output, labels).item() == pytest.approx(
        ce, rel=1e-12
    )


@pytest.mark.parametrize("init", ["kaiming-uniform", "kaiming-normal"])
def test_kaiming_under_leaky_relu_uses_the_networks_slope_exactly(init):
    # Gain sqrt(2 / (1 + 0.01^2)), 5e-5 below ReLU's sqrt(2): too close for the statistics
    # above, so the weights are drawn again from the same stream.
    spec = Spec(sizes=(6, 5), activation="leaky_relu", init=init)
    torch.manual_seed(2)
    weight = build_model(spec).linears[0].weight.detach()
    torch.manual_seed(2)
    torch.nn.Linear(6, 5)  # PyTorch's default init draws first
    std = math.sqrt(2.0 / (1.0 + 0.01**2)) / math.sqrt(6)
    expected = torch.empty(5, 6)
    if init == "kaiming-normal":
        expected.normal_(0.0, std)
    else:
        expected.uniform_(-math.sqrt(3.0) * std, math.sqrt(3.0) * std)
    assert torch.allclose(weight, expected, rtol=1e-6, atol=0)
