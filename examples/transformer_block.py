"""A tiny language model: token and position embeddings, TransformerEncoderLayer blocks
(pre-norm, causal, GELU), a linear head; random tokens, next-token cross-entropy.

Run: gradtui probe --model examples/transformer_block.py

The activation is passed as a module, nn.GELU(): given the string "gelu", PyTorch calls
the function F.gelu, which no forward hook can see. Dropout is 0 so that one probe is one
deterministic pass. batch() returns one int64 tensor of tokens (it keeps its dtype under
--dtype float64); loss(output, tokens) compares each position's logits with the next
token, as GPT-style training does.

The defaults are small (d_model 64, 2 heads, 1 layer, 32 tokens, batch 4). For larger
runs call make(), e.g. in a benchmark:
    model, batch, loss = make(d_model=512, heads=8, layers=4, seq=256, batch=8)
"""

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 256
D_MODEL = 64
HEADS = 2
LAYERS = 1
SEQ = 32
BATCH = 4


class TinyLM(nn.Module):
    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, seq: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(seq, d_model)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                heads,
                dim_feedforward=4 * d_model,
                dropout=0.0,
                activation=nn.GELU(),
                batch_first=True,
                norm_first=True,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        seq = tokens.shape[1]
        x = self.tokens(tokens) + self.positions(torch.arange(seq, device=tokens.device))
        mask = nn.Transformer.generate_square_subsequent_mask(seq, device=tokens.device)
        for block in self.blocks:
            x = block(x, src_mask=mask.to(x.dtype), is_causal=True)
        return self.head(self.norm(x))


def make(
    *,
    d_model: int = D_MODEL,
    heads: int = HEADS,
    layers: int = LAYERS,
    seq: int = SEQ,
    batch: int = BATCH,
    vocab: int = VOCAB,
):
    """(model, batch, loss) functions for a model of this size."""

    def model_fn() -> nn.Module:
        return TinyLM(vocab, d_model, heads, layers, seq)

    def batch_fn() -> torch.Tensor:
        return torch.randint(0, vocab, (batch, seq))

    def loss_fn(output: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        # Position t predicts token t + 1; the last position has nothing to predict.
        return F.cross_entropy(output[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())

    return model_fn, batch_fn, loss_fn


model, batch, loss = make()
