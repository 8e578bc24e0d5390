"""Build the network of a Spec, draw its input and compute its loss, bit for bit as the
seed script does. The catalogue (gradtui.fields) holds each activation's facts; this
module only maps names to modules."""

from __future__ import annotations

import threading

import torch
from torch import Tensor, nn

from gradtui.fields import ACTIVATIONS, init_std
from gradtui.spec import Spec

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}
"""The module of each activation in the catalogue (gradtui.fields.ACTIVATIONS)."""

DTYPES = {"float32": torch.float32, "float64": torch.float64}

GLOBAL_RNG = threading.RLock()
"""Held by gradtui's code while it seeds torch's global generator and draws from it (a
probe's network and batch, a training run's network, a user's model() and batch()):
two threads at it together (the app's probe and training workers) drew each other's
numbers, and a probe kept the wrong weights for the next (Draws)."""


class MLP(nn.Module):
    """Linear layers, each followed by its norm (hidden layers) and its activation (the
    last one too, as in the seed); with residual on, a layer whose input and output sizes
    match outputs x + act(norm(linear(x)))."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        # Created in order with PyTorch's default init, in float32: this is what makes the
        # seed script's random stream, and so its gradients, reproduce bit for bit.
        self.linears = nn.ModuleList(
            nn.Linear(n_in, n_out, bias=spec.bias)
            for n_in, n_out in zip(spec.sizes, spec.sizes[1:])
        )
        # After the Linears: a norm's init (ones and zeros) draws nothing from the RNG,
        # and nn.Identity holds no parameter, so norm none keeps every key and figure.
        self.norms = nn.ModuleList(
            _norm(spec.layer_norm(i), spec.sizes[i]) for i in range(1, spec.num_layers + 1)
        )
        self.activations = nn.ModuleList(
            ACTIVATION_MODULES[spec.layer_activation(i)]() for i in range(1, spec.num_layers + 1)
        )
        self.residual = tuple(spec.layer_residual(i) for i in range(1, spec.num_layers + 1))
        """Per layer: whether it adds its input to its output."""

    def forward(self, x: Tensor) -> Tensor:
        for linear, norm, activation, residual in zip(
            self.linears, self.norms, self.activations, self.residual
        ):
            out = activation(norm(linear(x)))
            x = x + out if residual else out
        return x


def _norm(name: str, size: int) -> nn.Module:
    if name == "layer":
        return nn.LayerNorm(size)
    if name == "batch":
        # Batch statistics in training and evaluation alike, no running buffers: the
        # figures of a probe and of a training run's loss are the batch's own.
        return nn.BatchNorm1d(size, track_running_stats=False)
    return nn.Identity()


def build_model(spec: Spec) -> MLP:
    """The Spec's network on the CPU, initialised from the global RNG (seed it first).

    Weights are drawn in float32 and then converted, so a float64 network holds the same
    weights as the float32 one and checks its figures at higher precision.
    """
    model = MLP(spec)
    if spec.init != "default":
        for index, linear in enumerate(model.linears, start=1):
            _initialise(linear, spec.init, ACTIVATIONS[spec.layer_activation(index)].gain)
    model = model.to(DTYPES[spec.dtype])
    std = init_std(spec.init)
    if std is not None:
        with torch.no_grad():  # N(0, 1) drawn in float32, scaled in the network's dtype
            for linear in model.linears:
                linear.weight.mul_(std)
    return model


class Draws:
    """The Linear weights and biases of the last network built, with the generator's state
    after their draw, so that the next network drawn alike takes them instead of drawing
    them again.

    Drawing 16 weights of 1024 x 1024 takes 50-80 ms (the generator, and the page faults
    of fresh memory): half of a probe of that network. A run again, or with a different
    activation (default init), loss, norm, residual, batch or input, draws the very same
    weights. A probe never changes its weights (training builds its own network), so the
    same tensors serve every probe, each time in new Parameters with no gradient. One draw
    is kept; `keep_only` releases it before a different one is built.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._weights: list[tuple[Tensor, Tensor | None]] = []
        self._after: Tensor | None = None
        """The CPU generator's state after the weights were drawn."""

    @staticmethod
    def key(spec: Spec, device: torch.device) -> tuple:
        """What decides the Linear parameters of `spec`'s network on `device`."""
        # Every init but the default takes a gain from each layer's activation.
        gains = (
            ()
            if spec.init == "default"
            else tuple(spec.layer_activation(i) for i in range(1, spec.num_layers + 1))
        )
        return (spec.seed, spec.sizes, spec.bias, spec.init, gains, spec.dtype, str(device))

    def release(self) -> None:
        """Let the kept weights go."""
        with self._lock:
            self._forget()

    def keep_only(self, spec: Spec, device: torch.device) -> int:
        """Release any other draw's weights; the bytes held for `spec`'s on `device`."""
        key = self.key(spec, device)
        with self._lock:
            if self._key != key:
                self._forget()
            tensors = [t for pair in self._weights for t in pair if t is not None]
            return sum(t.numel() * t.element_size() for t in tensors)

    def _forget(self) -> None:  # under self._lock
        self._key, self._weights, self._after = None, [], None

    def holds(self, spec: Spec, device: torch.device) -> bool:
        """Whether the weights of `spec`'s network on `device` are kept."""
        with self._lock:
            return self._key == self.key(spec, device)

    def prepare(self, spec: Spec, device: torch.device) -> tuple[MLP, Tensor, Tensor | None]:
        """`spec`'s network on `device`, its input and target on the CPU, as
        `build_model`, `draw_input` and `draw_target` give them after seeding, and with
        the generator left as they leave it."""
        key = self.key(spec, device)
        with self._lock:
            weights, after = (self._weights, self._after) if self._key == key else ([], None)
        with GLOBAL_RNG:
            torch.manual_seed(spec.seed)
            if after is None:
                model = build_model(spec).to(device)
                after = torch.get_rng_state()
                drawn = [(lin.weight.detach(), _detached(lin.bias)) for lin in model.linears]
                with self._lock:
                    self._key, self._weights, self._after = key, drawn, after
            else:
                torch.set_rng_state(after)
                model = _assemble(spec, weights, device)
            return model, draw_input(spec), draw_target(spec)


def _detached(tensor: Tensor | None) -> Tensor | None:
    return None if tensor is None else tensor.detach()


def _assemble(spec: Spec, weights: list[tuple[Tensor, Tensor | None]], device: torch.device) -> MLP:
    """`spec`'s network around weights drawn before: built on the meta device (which
    draws nothing), the Linears given the weights, every other parameter (a norm's)
    initialised by its module."""
    with torch.device("meta"):
        model = MLP(spec)
    for linear, (weight, bias) in zip(model.linears, weights, strict=True):
        linear.weight = nn.Parameter(weight)
        if bias is not None:
            linear.bias = nn.Parameter(bias)
    for module in model.modules():
        if any(p.is_meta for p in module.parameters(recurse=False)):
            module.to_empty(device=device, recurse=False)
            module.reset_parameters()  # a norm's ones and zeros, as built
            module.to(DTYPES[spec.dtype])
    return model


def _initialise(linear: nn.Linear, init: str, name: str) -> None:
    # Kaiming's gain for leaky_relu is sqrt(2 / (1 + a^2)); its `a` defaults to 0, not the
    # network's slope (calculate_gain, for Xavier and orthogonal, defaults to 0.01).
    slope = nn.LeakyReLU().negative_slope if name == "leaky_relu" else 0.0
    weight = linear.weight
    with torch.no_grad():
        if init == "xavier-uniform":
            nn.init.xavier_uniform_(weight, gain=nn.init.calculate_gain(name))
        elif init == "xavier-normal":
            nn.init.xavier_normal_(weight, gain=nn.init.calculate_gain(name))
        elif init == "kaiming-uniform":
            nn.init.kaiming_uniform_(weight, a=slope, nonlinearity=name)
        elif init == "kaiming-normal":
            nn.init.kaiming_normal_(weight, a=slope, nonlinearity=name)
        elif init == "orthogonal":
            nn.init.orthogonal_(weight, gain=nn.init.calculate_gain(name))
        else:
            nn.init.normal_(weight, 0.0, 1.0)  # scaled by STD after the dtype conversion
        if linear.bias is not None:
            linear.bias.zero_()


def draw_input(spec: Spec) -> Tensor:
    """The batch of inputs, drawn after the model exactly as the seed script draws it."""
    shape = (spec.batch_size, spec.sizes[0])
    if spec.input == "normal":
        x = torch.randn(shape)
    elif spec.input == "uniform01":
        x = torch.rand(shape)
    else:
        x = torch.rand(shape) * 2 - 1
    return x.to(DTYPES[spec.dtype])


def draw_target(spec: Spec) -> Tensor | None:
    """Random targets for the losses that need them, drawn after the input."""
    if spec.loss == "mse":
        return torch.randn((spec.batch_size, spec.sizes[-1])).to(DTYPES[spec.dtype])
    if spec.loss == "cross-entropy":
        return torch.randint(0, spec.sizes[-1], (spec.batch_size,))
    return None


def compute_loss(spec: Spec, output: Tensor, target: Tensor | None) -> Tensor:
    """The Spec's loss; the probe and training both take it from here."""
    if spec.loss == "sum":
        return output.sum()
    if spec.loss == "sum-mse":
        # As the seed wrote it, so that its gradients reproduce bit for bit.
        total = output.sum()
        return nn.functional.mse_loss(
            total, torch.tensor(spec.target, dtype=total.dtype, device=total.device)
        )
    if spec.loss == "mse":
        return nn.functional.mse_loss(output, target)
    return nn.functional.cross_entropy(output, target)
