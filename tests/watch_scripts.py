"""Training scripts that tests/test_watch.py runs in their own processes.

    python tests/watch_scripts.py forever PATH      train with watch(every=1) until killed
    python tests/watch_scripts.py steps PATH N      train N steps with watch(every=1)
    python tests/watch_scripts.py ddp PATH STEPS    DistributedDataParallel, 2 CPU ranks
    python tests/watch_scripts.py ddp-nan PATH      the same, halt_on_nonfinite, NaN at step 2

The model, the data and the optimizer come from `make`, which the tests also call, so a
single-process run can be compared with what these processes recorded.
"""

from __future__ import annotations

import math
import os
import socket
import sys

import torch
from torch import nn

GLOBAL_BATCH = 16


def make(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch of a 1-based step, the same in every process."""
    generator = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(GLOBAL_BATCH, 6, generator=generator)
    y = torch.randn(GLOBAL_BATCH, 3, generator=generator)
    return x, y


def train(path: str, steps: int, every: int = 1) -> None:
    import gradtui

    model, optimizer = make()
    with gradtui.watch(model, path, every=every) as watch:
        for step in range(1, steps + 1):
            x, y = batch(step)
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            watch.step(loss=loss)
            optimizer.step()
            optimizer.zero_grad()
    print(f"trained {steps} steps", flush=True)


def _ddp_rank(rank: int, port: int, path: str, steps: int, nan_at: int = 0) -> None:
    import torch.distributed as dist

    import gradtui

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        model, _ = make()
        ddp = nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
        half = GLOBAL_BATCH // 2
        with gradtui.watch(ddp, path, every=1, halt_on_nonfinite=nan_at > 0) as watch:
            assert watch.recording == (rank == 0)
            for step in range(1, steps + 1):
                x, y = batch(step)
                part = slice(rank * half, (rank + 1) * half)
                if step == nan_at and rank == 1:  # rank 0's gradients get it by all-reduce
                    x[part.start, 0] = math.nan
                loss = nn.functional.mse_loss(ddp(x[part]), y[part])
                loss.backward()  # DDP averages the two halves' gradients
                try:
                    watch.step(loss=loss)
                except gradtui.NonFiniteGradient as halt:
                    print(f"rank {rank} halted at step {halt.step} in {halt.name}", flush=True)
                    return
                optimizer.step()
                optimizer.zero_grad()
    finally:
        if sys.exc_info()[0] is None:
            # Both ranks leave together: a rank that tore its group down while the other
            # was still finishing (rank 0 writes the last update) made gloo abort the
            # other ("terminate called without an active exception", once in CI).
            dist.barrier()
        dist.destroy_process_group()


def ddp(path: str, steps: int, nan_at: int = 0) -> None:
    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_ddp_rank, args=(port, path, steps, nan_at), nprocs=2)
    print("ddp done", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "forever":
        train(path, steps=100_000)
    elif mode == "steps":
        train(path, steps=int(sys.argv[3]))
    elif mode == "ddp":
        ddp(path, steps=int(sys.argv[3]))
    elif mode == "ddp-nan":
        ddp(path, steps=4, nan_at=2)
    else:
        raise SystemExit(f"unknown mode {mode}")
