"""Where a probe runs, and whether it fits there."""

from __future__ import annotations

import os
from dataclasses import dataclass

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


PROBE_SCRATCH = 64 * 1024 * 1024
"""The chunked statistics' scratch space, as Spec.estimated_bytes counts it."""

ADVICE = {
    "sizes": "use smaller sizes or fewer layers",
    "batch_size": "use a smaller batch size",
    "samples": "use fewer samples",
}


@dataclass(frozen=True)
class Need:
    """Bytes that one field drives (`field` is what a refusal blames), and what they are."""

    field: str
    bytes: int
    what: str


def probe_needs(spec: Spec) -> list[Need]:
    """Spec.estimated_bytes, split so that a refusal names the field that drives it: the
    weights and their gradients (sizes), the batch's activations and gradients."""
    itemsize = 8 if spec.dtype == "float64" else 4
    params = spec.parameter_count()
    return [
        Need("sizes", itemsize * 2 * params + PROBE_SCRATCH, f"{params:,} parameters"),
        Need(
            "batch_size",
            itemsize * spec.tensors_per_unit() * spec.batch_size * sum(spec.sizes),
            f"a batch of {spec.batch_size:,}",
        ),
    ]


def check_fits(
    spec: Spec, device: torch.device, needs: list[Need] | None = None, held: int = 0
) -> None:
    """Raise SpecError when `needs` (a probe's by default) cannot fit on the device, before
    anything is allocated; `held` bytes of them are allocated already (weights kept from
    the last probe) and count as free. It names the first part that cannot fit even
    alone (sizes come first: the other parts grow with them), which must change whatever
    the others do; else the largest part."""
    needs = probe_needs(spec) if needs is None else needs
    needed = sum(need.bytes for need in needs)
    free = free_bytes(device) + held
    limit = MEMORY_HEADROOM * free
    if needed > limit:
        alone = [need for need in needs if need.bytes > limit]
        worst = alone[0] if alone else max(needs, key=lambda need: need.bytes)
        raise SpecError(
            worst.field,
            f"this spec needs about {_gib(needed)} ({_gib(worst.bytes)} of it for {worst.what})"
            f" but {device} has {_gib(free)} free; {ADVICE[worst.field]}",
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n < 2**40 else f"{n / 2**40:,.1f} TiB"
