import os

# Same floating-point results on any x86 CPU (AVX2 or AVX-512 hosts), so the snapshot
# tests draw the same curves on whatever machine CI lands on. Must precede torch.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")

import pytest  # noqa: E402
import torch  # noqa: E402

from gradtui.lab import kernels  # noqa: E402

torch.set_num_threads(1)
# Every test sees the same statistics path: the fused kernels, compiled before any test.
kernels.warm_up(wait=True)


@pytest.fixture(params=["fused", "eager"])
def stats_path(request, monkeypatch):
    """Run a statistics test on both paths: the fused CPU kernels and plain torch."""
    if request.param == "eager":
        monkeypatch.setattr(kernels, "ready", lambda: None)
    else:
        assert kernels.ready() is not None
    return request.param
