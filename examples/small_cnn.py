"""A small convolutional classifier: 2 conv + ReLU + max-pool (32 and 64 channels, as in
PyTorch's MNIST example), then a linear head; 8 random 1x28x28 images, cross-entropy
against random labels.

Run: gradtui probe --model examples/small_cnn.py

How targets reach the loss: batch() returns a dict {"images", "labels"}, passed to the
forward as keyword arguments; the forward takes `labels=None` and ignores it (the Hugging
Face convention), and loss(output, batch) receives the same dict and reads the labels.
The labels are drawn in batch(), so --seed fixes them with the images; they stay int64
when --dtype float64 converts the images.
"""

import torch
from torch import nn
from torch.nn import functional as F

BATCH = 8
CLASSES = 10


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14 -> 7
        )
        self.head = nn.Linear(64 * 7 * 7, CLASSES)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(images).flatten(1))


def model() -> nn.Module:
    return SmallCNN()


def batch() -> dict[str, torch.Tensor]:
    return {
        "images": torch.randn(BATCH, 1, 28, 28),
        "labels": torch.randint(0, CLASSES, (BATCH,)),
    }


def loss(output: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return F.cross_entropy(output, batch["labels"])
