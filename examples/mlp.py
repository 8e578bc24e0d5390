"""The built-in network as a source file: 4 Linear layers 100 -> 100, sigmoid after each,
the sum of the output as the loss (the post's v2.0).

Run: gradtui probe --model examples/mlp.py

It reproduces `gradtui probe` (no --model) bit for bit, weights, input and gradients:
the built-in path seeds torch, creates the 4 layers (their default init draws from the
RNG) and then draws the input with torch.randn(1, 100) from where the layers left the
stream. `--model` seeds again before batch(), so batch() first replays the model's draws
(it builds the layers and throws them away), then draws the input.
"""

import torch
from torch import nn

SIZES = (100, 100, 100, 100, 100)


def model() -> nn.Module:
    layers = []
    for n_in, n_out in zip(SIZES, SIZES[1:]):
        layers += [nn.Linear(n_in, n_out), nn.Sigmoid()]
    return nn.Sequential(*layers)


def batch() -> torch.Tensor:
    model()  # replay the layers' draws, so the input continues the same random stream
    return torch.randn(1, SIZES[0])


# No loss(): the default is the sum of the output, as in the post.
