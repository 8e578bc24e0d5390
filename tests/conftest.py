import os

# Same floating-point results on any x86 CPU (AVX2 or AVX-512 hosts), so the snapshot
# tests draw the same curves on whatever machine CI lands on. Must precede torch.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")

import pytest  # noqa: E402
import torch  # noqa: E402

from gradtui.lab import kernels, stats  # noqa: E402

torch.set_num_threads(1)
# Every test sees the same statistics path: the fused kernels, compiled before any test.
kernels.warm_up(wait=True)


@pytest.fixture(params=["fused", "eager", "accelerator"])
def stats_path(request, monkeypatch):
    """Run a statistics test on both paths: the fused CPU kernels and plain torch, the
    latter also as it runs on an accelerator (every entry masked, with no look at the
    range first; histc counts, not bincount)."""
    if request.param == "fused":
        assert kernels.ready() is not None
        return request.param
    monkeypatch.setattr(kernels, "ready", lambda: None)
    if request.param == "accelerator":
        monkeypatch.setattr(stats, "_read_without_waiting", lambda device: False)
        monkeypatch.setattr(stats, "_counts_by_histc", lambda device: True)
    return request.param


@pytest.fixture(autouse=True)
def steady_screens(monkeypatch):
    """Screens that draw the same on every run and machine: no clock in the status line,
    no device in the title (the warm-up is skipped: probes use the plain torch path or
    the kernels compiled above), no blinking cursor."""
    from textual.widgets import Input

    from gradtui.tui import app
    from gradtui.tui.screens import probe

    monkeypatch.setattr(probe, "clock", lambda: 0.0)
    monkeypatch.setattr(app.GradApp, "warm_up", lambda self: None)
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
