"""A faithful re-implementation of the original post's script (../shared/seed).

Kept as the post wrote it where it matters to the numbers: a plain Python list of
nn.Linear layers created in order with default init, the activation applied after every
layer, the input drawn after the model with `torch.randn(1, input_size)` (through
`Variable`, as posted), `sum(output)` or `mse_loss(sum(output), 100.)`, then backward.
Only the matplotlib window is left out; the gradients are returned instead.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.autograd import Variable


class LayerSigmoidNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, n_layers, activation):
        super().__init__()
        self.layers = []
        self.layers.append(nn.Linear(input_size, hidden_size))
        for _ in range(n_layers - 2):
            self.layers.append(nn.Linear(hidden_size, hidden_size))
        self.layers.append(nn.Linear(hidden_size, output_size))
        # The posted v3.0 keeps the attribute name `sigmoid` while holding nn.Tanh().
        self.sigmoid = activation()

    def forward(self, x):
        out = None
        for i, layer in enumerate(self.layers):
            if i == 0:  # noqa: SIM108 - as posted
                out = layer(x)
            else:
                out = layer(out)
            out = self.sigmoid(out)
        return out


def run_seed_script(seed: int, n_layers: int, activation, loss: str = "sum"):
    """The post's experiment after `torch.manual_seed(seed)`: each layer's weight.grad."""
    torch.manual_seed(seed)
    input_size = hidden_size = output_size = 100
    model = LayerSigmoidNN(input_size, hidden_size, output_size, n_layers, activation)
    input_data = Variable(torch.randn(1, input_size), requires_grad=True)
    output = model(input_data)
    if loss == "sum":
        result = torch.sum(output)
    else:
        target = torch.tensor(100.0)
        result = torch.nn.functional.mse_loss(torch.sum(output), target)
    result.backward()
    return (
        result.detach(),
        [layer.weight.grad.clone() for layer in model.layers],
        [layer.bias.grad.clone() for layer in model.layers],
    )
