"""Where a probe runs, and whether it fits there."""

from __future__ import annotations

import os

import torch

from gradtui.spec import Spec, SpecError

MEMORY_HEADROOM = 0.8
"""Refuse a spec whose estimate exceeds this fraction of the memory free on its device."""


def resolve_device(name: str) -> torch.device:
    """The torch device for a Spec's `device` field; SpecError when it is not there."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SpecError(
            "device", f"{name} was asked for but no CUDA device is available; use cpu or auto"
        )
    index = int(name.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise SpecError(
            "device",
            f"{name} does not exist; there are {count} CUDA devices (cuda:0 to cuda:{count - 1})",
        )
    return torch.device("cuda", index)


def free_bytes(device: torch.device) -> int:
    """Memory free for new tensors on `device` now."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits(spec: Spec, device: torch.device) -> None:
    """Raise SpecError when the spec cannot fit on the device, before allocating anything."""
    needed = spec.estimated_bytes()
    free = free_bytes(device)
    if needed > MEMORY_HEADROOM * free:
        raise SpecError(
            "sizes",
            f"this spec needs about {_gib(needed)} ({spec.parameter_count():,} parameters, "
            f"batch {spec.batch_size}) but {device} has {_gib(free)} free; "
            "use smaller sizes, fewer layers or a smaller batch size",
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
