"""Where a probe runs and whether it fits: the device names, the free memory and the
refusals, with CUDA and the free memory simulated so that every branch runs here."""

from __future__ import annotations

import io

import pytest
import torch

from gradtui.lab import device
from gradtui.lab.device import Need, check_fits, free_bytes, probe_needs, resolve_device
from gradtui.spec import Spec, SpecError

GIB = 2**30


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_device_names_without_cuda(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(SpecError) as error:
            resolve_device(name)
        assert error.value.field == "device"
        assert error.value.reason == (
            f"{name} was asked for but no CUDA device is available; use cpu or auto"
        )


def test_device_names_with_two_gpus(two_gpus):
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(SpecError) as error:
        resolve_device("cuda:2")
    assert error.value.field == "device"
    assert (
        error.value.reason == "cuda:2 does not exist; there are 2 CUDA devices (cuda:0 to cuda:1)"
    )


def test_free_memory_on_cuda_is_what_the_driver_says(monkeypatch):
    asked = []

    def mem_get_info(where):
        asked.append(where)
        return (123 * GIB, 140 * GIB)

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    gpu = torch.device("cuda", 1)
    assert free_bytes(gpu) == 123 * GIB
    assert asked == [gpu]


MEMINFO = """MemTotal:       16000000 kB
MemFree:          100000 kB
MemAvailable:    8000000 kB
Buffers:           20000 kB
"""


def test_free_memory_on_the_cpu_is_memavailable(monkeypatch):
    opened = []

    def fake_open(path, encoding=None):
        opened.append((path, encoding))
        return io.StringIO(MEMINFO)

    monkeypatch.setattr(device, "open", fake_open, raising=False)
    assert free_bytes(torch.device("cpu")) == 8000000 * 1024
    assert opened == [("/proc/meminfo", "ascii")]


@pytest.mark.parametrize("meminfo", [None, "MemTotal: 16000000 kB\n"])
def test_free_memory_falls_back_to_sysconf(monkeypatch, meminfo):
    def fake_open(path, encoding=None):
        if meminfo is None:
            raise FileNotFoundError(path)
        return io.StringIO(meminfo)

    pages = {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(device, "open", fake_open, raising=False)
    monkeypatch.setattr(device.os, "sysconf", pages.__getitem__)
    assert free_bytes(torch.device("cpu")) == 1000 * 4096


def test_probe_needs_by_field():
    spec = Spec(sizes=(3, 5, 2), batch_size=7)
    params = 3 * 5 + 5 + 5 * 2 + 2
    assert probe_needs(spec) == [
        Need("sizes", 4 * 2 * params + 64 * 1024 * 1024, "32 parameters"),
        Need("batch_size", 4 * 6 * 7 * 10, "a batch of 7"),
    ]
    wide = Spec(sizes=(1000, 1000), batch_size=1234, dtype="float64", bias=False)
    assert probe_needs(wide) == [
        Need("sizes", 8 * 2 * 10**6 + 64 * 1024 * 1024, "1,000,000 parameters"),
        Need("batch_size", 8 * 6 * 1234 * 2000, "a batch of 1,234"),
    ]


def fits(monkeypatch, free: int, needs: list[Need]) -> SpecError | None:
    monkeypatch.setattr(device, "free_bytes", lambda where: free)
    try:
        check_fits(Spec(), torch.device("cpu"), needs)
    except SpecError as error:
        return error
    return None


def test_a_spec_fits_up_to_the_headroom(monkeypatch):
    needs = [Need("sizes", 600, "w"), Need("batch_size", 200, "b")]
    assert fits(monkeypatch, 1000, needs) is None  # 800 == 0.8 * 1000
    error = fits(monkeypatch, 999, needs)
    assert error is not None and error.field == "sizes"


def test_a_refusal_blames_the_first_part_that_cannot_fit_alone(monkeypatch):
    needs = [
        Need("sizes", 3 * GIB, "many parameters"),
        Need("batch_size", 5 * GIB, "a batch of 9"),
        Need("samples", 5 * GIB, "9 samples"),
    ]
    error = fits(monkeypatch, 2 * GIB, needs)
    assert error.field == "sizes"
    assert error.reason == (
        "this spec needs about 13.0 GiB (3.0 GiB of it for many parameters) but cpu has"
        " 2.0 GiB free; use smaller sizes or fewer layers"
    )
    # Only the batch cannot fit alone: it is blamed although the sizes come first.
    error = fits(monkeypatch, 4 * GIB, needs[:2])
    assert error.field == "batch_size"
    assert error.reason == (
        "this spec needs about 8.0 GiB (5.0 GiB of it for a batch of 9) but cpu has 4.0 GiB"
        " free; use a smaller batch size"
    )


def test_a_refusal_without_a_part_too_large_alone_blames_the_largest(monkeypatch):
    needs = [
        Need("sizes", 2 * GIB, "p"),
        Need("batch_size", 3 * GIB, "b"),
        Need("samples", 4 * GIB, "9 samples"),
    ]
    error = fits(monkeypatch, 10 * GIB, needs)
    assert error.field == "samples"
    assert error.reason == (
        "this spec needs about 9.0 GiB (4.0 GiB of it for 9 samples) but cpu has 10.0 GiB"
        " free; use fewer samples"
    )


def test_the_probe_needs_are_checked_by_default(monkeypatch):
    spec = Spec(sizes=(10, 10), batch_size=3)
    total = sum(need.bytes for need in probe_needs(spec))
    monkeypatch.setattr(device, "free_bytes", lambda where: total * 1.25)
    check_fits(spec, torch.device("cpu"))
    monkeypatch.setattr(device, "free_bytes", lambda where: total * 1.25 - 1)
    with pytest.raises(SpecError, match="^sizes: this spec needs about 0.1 GiB"):
        check_fits(spec, torch.device("cpu"))


def test_bytes_already_held_for_a_spec_count_as_free(monkeypatch):
    """The weights a probe keeps for the next one (gradtui.lab.model.Draws) are part of
    that next probe's needs: they must not count twice."""
    spec = Spec(sizes=(10, 10), batch_size=3)
    total = sum(need.bytes for need in probe_needs(spec))
    monkeypatch.setattr(device, "free_bytes", lambda where: total * 1.25 - 440)
    with pytest.raises(SpecError, match="^sizes: "):
        check_fits(spec, torch.device("cpu"))
    check_fits(spec, torch.device("cpu"), held=440)
    with pytest.raises(SpecError, match="^sizes: "):
        check_fits(spec, torch.device("cpu"), held=439)


def test_sizes_in_gib_then_tib():
    assert device._gib(0) == "0.0 GiB"
    assert device._gib(3 * GIB // 2) == "1.5 GiB"
    assert device._gib(2**40 - 1) == "1024.0 GiB"
    assert device._gib(2**40) == "1.0 TiB"
    assert device._gib(1234 * 2**40) == "1,234.0 TiB"


def test_a_part_exactly_at_the_limit_fits_alone(monkeypatch):
    # Limit 800: the sizes' 800 would fit alone, the batch's 900 would not.
    error = fits(monkeypatch, 1000, [Need("sizes", 800, "p"), Need("batch_size", 900, "b")])
    assert error.field == "batch_size"
