"""20 residual sigmoid blocks of width 100: x + sigmoid(norm(linear(x))), sum loss.

Run: gradtui probe --model examples/residual_mlp.py

Shows what LayerNorm and the residual path do to the post's finding: sigmoid outputs are
all positive, so each Linear's weight gradient rows are one-signed for one sample in a
plain stack; here each Linear is fed the residual stream (the block's input plus earlier
sigmoid outputs), whose signs are mixed, and the batch holds 8 samples.
"""

import torch
from torch import nn

WIDTH = 100
DEPTH = 20
BATCH = 8


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.act = nn.Sigmoid()  # a module, so the probe's hooks see its output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.norm(self.linear(x)))


def model() -> nn.Module:
    return nn.Sequential(*(Block(WIDTH) for _ in range(DEPTH)))


def batch() -> torch.Tensor:
    return torch.randn(BATCH, WIDTH)


# No loss(): the default is the sum of the output.
