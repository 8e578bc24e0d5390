import pytest
import torch

from gradtui.lab import kernels

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
