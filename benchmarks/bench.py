"""gradtui's performance goals, measured side by side in one run.

    python benchmarks/bench.py [--quick] [--repeats N] [--json PATH]

Prints, for each model, the median time of a plain forward+backward pass, of gradtui's
statistics (timed on their own over the tensors of one pass, with the fused CPU kernels
and with the plain torch path; for the examples' transformer and CNN, scaled up, the
probe's whole pass less the plain one), and of the
usual ways to get histograms of the same tensors (TensorBoard's add_histogram, numpy
after .cpu().numpy(), W&B-style histc), whether both statistics paths give the same
figures; then the cost of gradtui.watch in a training loop, the run file's size and how
fast a large one opens, and `gradtui open` on it (first data, a scrub); then every goal
with its measured value beside it. Ratios come from times taken in this run, on this
machine; no figure is hard-coded. `--watch` measures only gradtui.watch and the run file,
`--open` only `gradtui open`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fcntl
import json
import math
import os
import platform
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import torch

from gradtui.files import write_atomic
from gradtui.lab import kernels, sign_map, source, stats
from gradtui.lab.model import compute_loss
from gradtui.lab.probe import Recorder, measure, prepare
from gradtui.spec import Spec, preset

ROOT = Path(__file__).resolve().parent.parent

MODELS = {
    "seed 4x100 b1": preset("seed-v2.0"),
    "8x2048 b256": Spec(sizes=(2048,) * 9, batch_size=256, final_activation="none", loss="mse"),
    "16x4096 b64": Spec(sizes=(4096,) * 17, batch_size=64, final_activation="none", loss="mse"),
}
STATS_GOAL = 0.25
EAGER_GOALS = {"8x2048 b256": 0.5, "16x4096 b64": 1.0}
"""The plain torch path (CUDA, and the CPU until the kernels compile), over fwd+bwd."""
PEER_GOAL = 5.0
PAINT_GOAL = 0.4
"""Seconds from start to the first screen on a pseudo-terminal."""
KEY_GOALS = {"seed-v2.0": 0.100, "16x1024": 0.150}
"""Seconds from the key r to the new result on a pseudo-terminal."""
KEY_ARGS = {"seed-v2.0": ["--preset", "seed-v2.0"], "16x1024": ["--sizes", ",".join(["1024"] * 17)]}
WATCH_GOALS = {1: 1.15, 50: 1.01}
"""Training-step time with gradtui.watch(every=N) over the time without it."""
OPEN_GOAL = 1.0
"""Seconds to open a run file of 10,000 recorded steps x 16 parameters, to first data
(the reader's, and `gradtui open`'s first screen with data)."""
SCRUB_GOAL = 0.100
"""Seconds from a scrub key to the screen redrawn at the new step (`gradtui open`)."""


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm: allocator, caches, lazy init
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Bench:
    """One model, its tensors after a backward pass, and each way of measuring them."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec.replace(device="cpu")
        self.model, self.x, self.target = prepare(self.spec)
        self.watched = {f"activations.{i}": m for i, m in enumerate(self.model.activations)}
        self.outputs: list[torch.Tensor] = []
        for activation in self.model.activations:
            activation.register_forward_hook(lambda _m, _i, out: self.outputs.append(out))
        self.forward_backward()

    def loss(self) -> torch.Tensor:
        return compute_loss(self.spec, self.model(self.x), self.target)

    def forward_backward(self) -> torch.Tensor:
        self.outputs.clear()
        self.model.zero_grad(set_to_none=True)
        loss = self.loss()
        loss.backward()
        return loss

    def tensors(self) -> list[torch.Tensor]:
        out = []
        for linear, activation in zip(self.model.linears, self.outputs):
            out += [linear.weight.grad, linear.bias.grad, activation.detach()]
        return out

    def gradtui(self):
        """The probe's whole pass: forward with its hooks, backward, the statistics."""
        return probe_pass(self.spec, self.model, self.watched, self.loss)

    def statistics(self) -> None:
        """What the probe adds to a forward and backward pass, on the same tensors: the
        statistics of every weight and bias gradient and every activation, each weight
        gradient's sign map and each weight's norm, moved to the host once."""
        summaries, maps = [], []
        for linear, activation in zip(self.model.linears, self.outputs):
            summary, pending = sign_map.measure(linear.weight.grad, self.spec.bins)
            summaries += [summary, stats.summarize(linear.bias.grad, self.spec.bins)]
            summaries.append(stats.summarize(activation.detach(), self.spec.bins, rows=True))
            maps.append(pending)
        norms = [stats.norm(linear.weight.detach()) for linear in self.model.linears]
        stats.collect(summaries, norms)
        sign_map.collect(maps)

    def paths_agree(self) -> bool:
        """Both statistics paths give the same figures on these tensors: counts, edges,
        signs, extremes, coherence and saturation identical; moments to float64 rounding."""
        fused = self.gradtui()
        with eager_path():
            eager = self.gradtui()
        assert fused.stats_path == "fused" and eager.stats_path == "torch"
        pairs = zip([*fused.parameters, *fused.outputs], [*eager.parameters, *eager.outputs])
        return all(same_figures(a.stats, b.stats) for a, b in pairs)

    def numpy(self) -> None:
        for t in self.tensors():
            np.histogram(t.cpu().numpy(), bins=50)

    def histc(self) -> None:
        """The core of wandb.watch: min, max, then histc of each tensor."""
        for t in self.tensors():
            flat = t.detach().reshape(-1)
            low, high = flat.min().item(), flat.max().item()
            flat.histc(bins=64, min=low, max=high).tolist()

    def tensorboard(self, writer) -> None:
        for i, t in enumerate(self.tensors()):
            writer.add_histogram(f"t{i}", t, 0, bins=50)


def probe_pass(spec: Spec, model: torch.nn.Module, watched: dict, loss_fn: Callable):
    """What run_probe does once the model and its input are built."""
    model.zero_grad(set_to_none=True)
    with Recorder(model, watched, spec.bins) as recorder:
        loss = loss_fn()
    loss.backward()
    return measure(spec, model, recorder, loss.detach(), torch.device("cpu"))


class ModuleBench:
    """A user's model from examples/, scaled up: its plain forward+backward against the
    probe's whole pass (every parameter, every leaf module's output, input signs)."""

    def __init__(self, path: str, scale: dict[str, int]) -> None:
        loaded = source.load_source(path)
        module = loaded.module
        if hasattr(module, "make"):  # the transformer: make(d_model=..., layers=...)
            model_fn, batch_fn, loss_fn = module.make(**scale)
            loaded = dataclasses.replace(loaded, model=model_fn, batch=batch_fn, loss=loss_fn)
        else:  # the CNN: its module constants
            for name, value in scale.items():
                setattr(module, name, value)
        self.spec = Spec(model=path, device="cpu")
        self.model, args, kwargs = source.build(loaded, seed=0, device="cpu")
        self.watched = {
            name: m for name, m in self.model.named_modules() if name and not list(m.children())
        }
        self.loss = lambda: source.forward_loss(loaded, self.model, args, kwargs)

    def forward_backward(self) -> None:
        self.model.zero_grad(set_to_none=True)
        self.loss().backward()

    def gradtui(self):
        return probe_pass(self.spec, self.model, self.watched, self.loss)


MODULES = {
    "cnn b256": ("examples/small_cnn.py", {"BATCH": 256}, 15),
    "transformer d512x4 s256 b8": (
        "examples/transformer_block.py",
        {"d_model": 512, "heads": 8, "layers": 4, "seq": 256, "batch": 8},
        7,
    ),
}
"""Issue 12's models, with the rounds each is timed over: the probe of any nn.Module
costs at most STATS_GOAL of its pass. The small one first: after the large one's
3 GB, each of its fresh tensors cost page faults (its plain pass took 80 ms, then
200 ms)."""


def bench_modules() -> list[dict]:
    """The plain pass and the probe's, alternated so that both meet the same state of the
    process. The statistics' cost is the median of each round's difference (the probe's
    pass less the plain pass just before it): the difference of the two medians moved
    by a third from run to run on this shared machine, as the load drifted between
    rounds."""
    rows = []
    for name, (path, scale, rounds) in MODULES.items():
        bench = ModuleBench(str(ROOT / path), scale)
        fb, probe = alternated([bench.forward_backward, bench.gradtui], rounds)
        stats = statistics.median(p - f for f, p in zip(fb, probe))
        rows.append(
            {
                "model": name,
                "fb": statistics.median(fb),
                "probe": statistics.median(probe),
                "stats": max(0.0, stats),
            }
        )
    return rows


def alternated(fns: list[Callable[[], object]], repeats: int) -> list[list[float]]:
    """The times of each of `fns`, called in turn `repeats` times after one warm round."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return times


def same_figures(x, y) -> bool:
    if x is None or y is None:
        return x is y
    exact = ("numel", "pos", "neg", "zero", "nonfinite", "min", "max", "row_coherence")
    if x.hist != y.hist or any(getattr(x, k) != getattr(y, k) for k in (*exact, "saturated")):
        return False
    return all(
        (getattr(x, k) is None and getattr(y, k) is None)
        or math.isclose(getattr(x, k), getattr(y, k), rel_tol=1e-9, abs_tol=1e-300)
        for k in ("mean", "std", "norm")
    )


@contextmanager
def eager_path():
    """The plain torch path, as before the kernels compile."""
    ready = kernels.ready
    kernels.ready = lambda: None
    try:
        yield
    finally:
        kernels.ready = ready


def bench_stats(repeats: int) -> list[dict]:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        SummaryWriter = None
        print(
            "note: tensorboard is not installed (pip install -e '.[bench]'): its column is skipped"
        )
    rows = []
    for name, spec in MODELS.items():
        bench = Bench(spec)
        n = repeats if spec.num_layers <= 8 else max(1, repeats - 2)
        row = {"model": name, "fb": median_time(bench.forward_backward, n)}
        # The statistics' cost, timed on their own: the probe's whole pass less the plain
        # pass (two timings of 1-2 s each) was lost in this shared machine's noise.
        row["gradtui"] = median_time(bench.statistics, n)
        with eager_path():
            row["gradtui_eager"] = median_time(bench.statistics, n)
        row["paths_agree"] = bench.paths_agree() if kernels.ready() else None
        row["numpy"] = median_time(bench.numpy, n)
        row["histc"] = median_time(bench.histc, n)
        if SummaryWriter is not None:
            with tempfile.TemporaryDirectory() as logdir:
                writer = SummaryWriter(logdir)
                row["tensorboard"] = median_time(partial(bench.tensorboard, writer), n)
                writer.close()
        rows.append(row)
    return rows


def watch_model() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """8 Linear 2048x2048 with ReLU between, a batch of 256, MSE targets."""
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(8):
        layers += [torch.nn.Linear(2048, 2048), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]), torch.randn(256, 2048), torch.randn(256, 2048)


def bench_watch(repeats: int) -> dict:
    """gradtui.watch in an SGD loop on the 8x2048 MLP at batch 256.

    watch.step() is the only place the recorder does work (no activations: no hooks), so
    a step's overhead is the time of its call. every=1: training steps with and without
    the call, alternated so that the machine's load falls on both alike; the ratio of
    their medians, and (steady) 1 + median call / median plain step. every=50: one call
    in 50 records, the next measures the update, 48 only count; the ratio is 1 + (their
    summed medians) / (50 plain steps).
    """
    from gradtui.lab.watch import Watch

    model, x, y = watch_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step(watch=None) -> tuple[float, float]:
        start = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        call = time.perf_counter()
        if watch is not None:
            watch.step(loss=loss)
        call = time.perf_counter() - call
        optimizer.step()
        optimizer.zero_grad()
        return time.perf_counter() - start, call

    out: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        step()
        every1 = Watch(model, Path(folder, "every1.gradtui"), every=1)
        step(every1)  # the first call allocates the weights' copies
        plain, watched, calls = [], [], []
        for _ in range(repeats):
            plain.append(step()[0])
            total, call = step(every1)
            watched.append(total)
            calls.append(call)
        every1.close()
        size = os.path.getsize(Path(folder, "every1.gradtui"))
        out["plain_step"] = statistics.median(plain)
        out["every1_step"] = statistics.median(watched)
        out["every1_call"] = statistics.median(calls)
        out["every1_ratio"] = out["every1_step"] / out["plain_step"]
        out["every1_ratio_steady"] = 1 + out["every1_call"] / out["plain_step"]
        out["every1_file_bytes"] = size

        every50 = Watch(model, Path(folder, "every50.gradtui"), every=50)
        recorded, updated, counted = [], [], []
        for _ in range(max(2, repeats // 2)):
            recorded.append(step(every50)[1])  # a recorded step
            updated.append(step(every50)[1])  # the next call: the update of that step
            start = time.perf_counter()
            for _ in range(48):  # calls that only count (no training needed between)
                every50.step()
            counted.append((time.perf_counter() - start) / 48)
        every50.close()
        per_50 = statistics.median(recorded) + statistics.median(updated) + 48 * min(counted)
        out["every50_record_call"] = statistics.median(recorded)
        out["every50_update_call"] = statistics.median(updated)
        out["every50_count_call"] = min(counted)
        out["every50_ratio"] = 1 + per_50 / (50 * out["plain_step"])
    return out


BIG_SHAPE = (2048, 2048)
"""The shape of each parameter of the large run files (their figures say so)."""


def write_big_run(path: Path, steps: int, tensors: int, bins: int) -> float:
    """A run file of `steps` recorded steps x `tensors` 2048x2048 parameters, written step
    by step with RunWriter as gradtui.watch writes it; the seconds per step written."""
    from gradtui.result import Histogram, TensorStats
    from gradtui.runfile import Recorded, RunWriter

    rng = np.random.default_rng(0)
    edges = np.linspace(-1e-3, 1e-3, bins + 1).tolist()
    counts = rng.multinomial(2048 * 2048, np.full(bins, 1 / bins)).tolist()
    figures = TensorStats(
        numel=2048 * 2048, pos=0.5, neg=0.49, zero=0.01, nonfinite=0, mean=1e-6, std=3e-4,
        min=-1e-3, max=1e-3, norm=0.6, hist=Histogram(edges, counts), row_coherence=0.02,
    )  # fmt: skip
    writer = RunWriter(
        path, every=1, bins=bins, command="bench", model="bench", device="cpu",
        tensors=[(f"layers.{i}.weight", "param", BIG_SHAPE) for i in range(tensors)],
    )  # fmt: skip
    start = time.perf_counter()
    for step in range(1, steps + 1):
        records = [(i, Recorded("param", figures, 26.1, -3.0)) for i in range(tensors)]
        writer.write(step, loss=1.0 / step, seconds=step * 0.1, records=records)
    seconds = (time.perf_counter() - start) / steps
    writer.close()
    return seconds


def bench_run_file(steps: int = 10_000, tensors: int = 16, bins: int = 50) -> dict:
    """A run file of `steps` recorded steps x `tensors` 2048x2048 parameters, written step
    by step as gradtui.watch writes it: its size per step per tensor, and the time to open
    it to first data (meta, params, steps, losses, the last step's figures), then of a
    series and of the percentile bands of one tensor over the whole run."""
    from gradtui.runfile import RunWriter, open_run

    out: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        empty_path = Path(folder, "empty.gradtui")
        RunWriter(
            empty_path, every=1, bins=bins, command="bench", model="bench", device="cpu",
            tensors=[(f"layers.{i}.weight", "param", BIG_SHAPE) for i in range(tensors)],
        ).close()  # fmt: skip
        empty = os.path.getsize(empty_path)
        path = Path(folder, "big.gradtui")
        out["write_per_step"] = write_big_run(path, steps, tensors, bins)
        out["bytes_per_step_tensor"] = (os.path.getsize(path) - empty) / (steps * tensors)
        start = time.perf_counter()
        run = open_run(path)
        run.steps(), run.losses(), run.stats(run.steps()[-1])
        out["open_s"] = time.perf_counter() - start
        start = time.perf_counter()
        run.series("layers.7.weight", "grad_norm")
        out["series_s"] = time.perf_counter() - start
        start = time.perf_counter()
        run.bands("layers.7.weight")
        out["bands_s"] = time.perf_counter() - start
        start = time.perf_counter()
        run.refresh()
        out["refresh_s"] = time.perf_counter() - start
        run.close()
    out["steps"], out["tensors"], out["bins"] = steps, tensors, bins
    return out


def print_watch(watch: dict, run_file: dict) -> None:
    print(
        f"gradtui.watch, 8x2048 MLP b256 SGD: plain step {watch['plain_step'] * 1e3:.1f}ms;"
        f" every=1: step {watch['every1_step'] * 1e3:.1f}ms, ratio {watch['every1_ratio']:.3f}"
        f" (call {watch['every1_call'] * 1e3:.1f}ms: {watch['every1_ratio_steady']:.3f});"
        f" every=50: recorded call {watch['every50_record_call'] * 1e3:.1f}ms, update call"
        f" {watch['every50_update_call'] * 1e3:.1f}ms, others"
        f" {watch['every50_count_call'] * 1e6:.1f}us: ratio {watch['every50_ratio']:.4f}"
    )
    print(
        f"run file, {run_file['steps']:,} steps x {run_file['tensors']} tensors,"
        f" {run_file['bins']} bins: {run_file['bytes_per_step_tensor']:.0f} bytes per step per"
        f" tensor, write {run_file['write_per_step'] * 1e3:.2f}ms per step; open to first"
        f" data {run_file['open_s'] * 1e3:.1f}ms, a series {run_file['series_s'] * 1e3:.1f}ms,"
        f" bands {run_file['bands_s'] * 1e3:.1f}ms, refresh {run_file['refresh_s'] * 1e3:.2f}ms\n"
    )


def watch_goals(watch: dict, run_file: dict) -> list[tuple]:
    return [
        # The larger of the two every=1 figures: alternated steps see the load of the
        # shared machine, the call alone does not see what it costs the steps around it.
        (
            "6 watch every=1 step time ratio",
            max(watch["every1_ratio"], watch["every1_ratio_steady"]),
            "<=",
            WATCH_GOALS[1],
        ),
        ("6 watch every=50 step time ratio", watch["every50_ratio"], "<=", WATCH_GOALS[50]),
        ("7 run file 10k steps x 16: open (s)", run_file["open_s"], "<=", OPEN_GOAL),
    ]


class Terminal:
    """`python -m gradtui ARGS` on a pseudo-terminal of `size` (columns, rows), as a
    user's terminal runs it; `arrival` reads what it writes until a text appears."""

    def __init__(self, args: list[str], size: tuple[int, int] = (80, 24)) -> None:
        columns, rows = size
        self.fd, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}
        self.started = time.perf_counter()
        # subprocess spawns with vfork: pty.fork's child of this process (torch loaded,
        # the kernels compiled) made a first paint 0.41 s instead of 0.35 s.
        self.child = subprocess.Popen(
            [sys.executable, "-m", "gradtui", *args],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=env,
            start_new_session=True,
        )
        os.close(terminal)
        self.output = b""

    def arrival(self, marker: bytes, timeout: float = 60.0) -> float:
        """perf_counter() when `marker` (escape codes dropped) arrives in what is written
        from this call on."""
        start, mark = time.perf_counter(), len(self.output)
        while time.perf_counter() - start < timeout:
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    self.output += os.read(self.fd, 1 << 16)
                except OSError:
                    break
                if marker in self.output[mark:].replace(b"\x1b", b""):
                    return time.perf_counter()
        raise TimeoutError(f"{marker!r} did not arrive in {timeout} s")

    def drain(self, quiet: float = 0.3) -> None:
        """Read until nothing has been written for `quiet` seconds."""
        while select.select([self.fd], [], [], quiet)[0]:
            try:
                self.output += os.read(self.fd, 1 << 16)
            except OSError:
                return

    def close(self) -> None:
        self.child.kill()
        self.child.wait()
        os.close(self.fd)


def byte_compile() -> None:
    """Compile gradtui's modules to their __pycache__, as pip leaves an installed package.

    The pseudo-terminal measurements below start fresh processes: where
    PYTHONDONTWRITEBYTECODE is set (as on this project's machines), an editable checkout
    would otherwise compile its modules from source at every start, about 30 ms.
    """
    import compileall

    compileall.compile_dir(ROOT / "gradtui", quiet=1)


def terminal_seconds(args: list[str], marker: bytes, repeats: int) -> float:
    """Median seconds from `python -m gradtui ARGS` starting on an 80x24 pseudo-terminal
    to `marker` arriving in what it writes."""
    times = []
    for _ in range(repeats):
        terminal = Terminal(args)
        try:
            times.append(terminal.arrival(marker, timeout=20) - terminal.started)
        finally:
            terminal.close()
    return statistics.median(times)


def first_paint_seconds(repeats: int) -> float:
    """From process start to the first screen's text arriving on a terminal."""
    return terminal_seconds([], b"Press r", repeats)


SEED_TABS = 14
"""Tab presses from nothing focused to the form's seed field (the preset, then every
field shown for a built-in network; a run checks that the losses differed)."""

KEY_MODES = {
    "again": "r again, the network unchanged (the weights kept from the last run)",
    "rested": "a new seed typed, r 0.5 s later (the weights drawn while the form rests)",
    "at once": "a new seed typed and ctrl+r in the same write (drawn by the probe)",
}


def key_to_frame_seconds(args: list[str], repeats: int, mode: str = "again") -> float:
    """Median seconds from writing the key that runs the probe to the terminal to the new
    result's status line ("Ran in") arriving, at 120x40, torch loaded and one probe run
    first. `mode`: one of KEY_MODES; the two with a new seed type it into the form's
    seed field (seeds 1-9 in turn, never the last run's) and run with ctrl+r."""
    terminal = Terminal([*args, "--device", "cpu"], size=(120, 40))
    try:
        terminal.arrival(b"Press r to run")
        os.write(terminal.fd, b"r")
        terminal.arrival(b"Ran in", timeout=120)
        terminal.drain(1.0)
        if mode != "again":
            os.write(terminal.fd, b"\t" * SEED_TABS)
            terminal.drain()
        times, losses = [], set()
        for i in range(repeats):
            seed = b"\x7f" + str(i % 9 + 1).encode()  # backspace, a digit
            if mode == "rested":
                os.write(terminal.fd, seed)
                time.sleep(0.5)
                terminal.drain()
            mark = len(terminal.output)
            pressed = time.perf_counter()
            os.write(
                terminal.fd, {"again": b"r", "rested": b"\x12", "at once": seed + b"\x12"}[mode]
            )
            times.append(terminal.arrival(b"Ran in") - pressed)
            terminal.drain()
            found = re.search(rb"loss ([-+.e0-9]+)", terminal.output[mark:])
            losses.add(found.group(1) if found else b"?")
        if mode != "again" and len(losses) < 2:  # one network each time: the same loss
            raise RuntimeError(f"the seed field was not reached: the losses {sorted(losses)}")
        return statistics.median(times)
    finally:
        terminal.close()


def add_sign_maps(path: Path) -> int:
    """Give every parameter of a run file written by write_big_run a sign map of 64 x 128
    blocks at every step (one map, encoded once, stored at each step: what
    watch(sign_maps=True) stores for a 2048x2048 gradient); its bytes."""
    import sqlite3

    from gradtui.result import SignMap
    from gradtui.runfile import _encode_sign_map

    rng = np.random.default_rng(1)
    rows, cols = BIG_SHAPE
    pos = rng.integers(0, 2, (64, 128)) * 256
    neg = rng.integers(0, 2, (64, 128)) * 256
    signs = rng.integers(-1, 2, rows).tolist()
    sign_map = SignMap(
        rows, cols, list(range(0, rows + 1, 32)), list(range(0, cols + 1, 16)),
        pos.tolist(), neg.tolist(), pos.tolist(), neg.tolist(), signs,
    )  # fmt: skip
    encoded = _encode_sign_map(sign_map)
    db = sqlite3.connect(path)
    with db:
        steps = [step for (step,) in db.execute("SELECT step FROM steps")]
        tensors = [tensor for (tensor,) in db.execute("SELECT id FROM params")]
        db.executemany(
            "INSERT INTO sign_maps VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((tensor, step, *encoded) for tensor in tensors for step in steps),
        )
    db.close()
    return len(encoded[-1])


def _timed_paints(app) -> list[float]:
    """The times at which `app` hands a composed screen update to its driver."""
    painted: list[float] = []
    display = app._display

    def timed_display(screen, renderable):
        if renderable is not None:
            painted.append(time.perf_counter())
        return display(screen, renderable)

    app._display = timed_display
    return painted


SETTLE_S = 0.2
"""After the app has what it waits for, the updates it composes within this time belong
to the same redraw (a table first, the charts a refresh later, a layout fitted after)."""


async def _last_paint(condition: Callable[[], bool], painted: list[float]) -> float:
    """Wait for `condition`, then SETTLE_S; the time of the last screen update composed
    by then. The condition is seen some time after it came true, and the updates that
    show it may come before that: the paints' own times are what count."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > 20:
            raise TimeoutError("the app did not get there")
        await asyncio.sleep(0.0005)
    await asyncio.sleep(SETTLE_S)
    return painted[-1]


async def open_seconds(path: Path, size: tuple[int, int]) -> float:
    """From make_app(run=path) to the first screen update composed with the data: the
    table of the last step and the first parameter's distribution over the run."""
    from gradtui.tui.app import make_app
    from gradtui.tui.screens.run import RunScreen
    from gradtui.tui.widgets.run_view import RunTable

    start = time.perf_counter()
    app = make_app(run=str(path))
    painted = _timed_paints(app)
    async with app.run_test(size=size):

        def ready() -> bool:
            screen = app.screen
            return (
                isinstance(screen, RunScreen)
                and bool(screen.over_time.bands)
                and bool(screen.query_one(RunTable).cells)
            )

        return await _last_paint(ready, painted) - start


async def scrub_seconds(path: Path, size: tuple[int, int], repeats: int, keys: str = "") -> float:
    """From the key left (one recorded step back) to the screen update composed with that
    step, the run open at `size` after `keys` (m: the sign map)."""
    from textual import events

    from gradtui.tui.app import make_app

    app = make_app(run=str(path))
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await app.workers.wait_for_complete()
        await pilot.pause()
        painted = _timed_paints(app)
        times = []
        for _ in range(repeats):
            screen = app.screen
            before = screen.step
            start = time.perf_counter()
            app.post_message(events.Key("left", None))
            moved = partial(lambda s, b: s.step != b, screen, before)
            times.append(await _last_paint(moved, painted) - start)
    return statistics.median(times)


def open_from_process_seconds(path: Path, repeats: int) -> float:
    """From process start (`python -m gradtui open PATH` on an 80x24 pseudo-terminal) to
    the first parameter's distribution chart arriving on the terminal."""
    return terminal_seconds(["open", str(path)], b"distribution", repeats)


def bench_open(repeats: int, steps: int = 10_000, tensors: int = 16, bins: int = 50) -> dict:
    """`gradtui open` on a run file of 10,000 steps x 16 parameters with sign maps:
    first data on screen (in the process, and from process start), and a scrub."""
    out: dict = {"steps": steps, "tensors": tensors, "bins": bins}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "open.gradtui")
        write_big_run(path, steps, tensors, bins)
        out["sign_map_bytes"] = add_sign_maps(path)
        out["file_bytes"] = os.path.getsize(path)
        for name, size in (("80x24", (80, 24)), ("160x50", (160, 50))):
            out[f"open_{name}_s"] = statistics.median(
                asyncio.run(open_seconds(path, size)) for _ in range(repeats)
            )
            out[f"scrub_{name}_s"] = asyncio.run(scrub_seconds(path, size, 3 * repeats))
            out[f"scrub_map_{name}_s"] = asyncio.run(scrub_seconds(path, size, 3 * repeats, "m"))
        out["open_process_s"] = open_from_process_seconds(path, repeats)
    return out


def print_open(figures: dict) -> None:
    print(
        f"gradtui open, {figures['steps']:,} steps x {figures['tensors']} parameters"
        f" ({figures['file_bytes'] / 1e6:.0f} MB with a {figures['sign_map_bytes']}-byte sign"
        " map per parameter per step):"
    )
    for name in ("80x24", "160x50"):
        print(
            f"  {name}: first data {figures[f'open_{name}_s'] * 1e3:.0f}ms after make_app;"
            f" left (one step back) to screen {figures[f'scrub_{name}_s'] * 1e3:.0f}ms,"
            f" with the sign map {figures[f'scrub_map_{name}_s'] * 1e3:.0f}ms"
        )
    print(
        f"  from process start (python -m gradtui open, 80x24 pty) to the distribution on"
        f" the terminal: {figures['open_process_s'] * 1e3:.0f}ms\n"
    )


def open_goals(figures: dict) -> list[tuple]:
    return [
        ("8 open 10k x 16: first data, 80x24 (s)", figures["open_80x24_s"], "<=", OPEN_GOAL),
        ("8 open 10k x 16: first data, 160x50 (s)", figures["open_160x50_s"], "<=", OPEN_GOAL),
        ("8 open: from process start, 80x24 (s)", figures["open_process_s"], "<=", OPEN_GOAL),
        ("8 open: scrub one step, 80x24 (s)", figures["scrub_80x24_s"], "<=", SCRUB_GOAL),
        ("8 open: scrub one step, 160x50 (s)", figures["scrub_160x50_s"], "<=", SCRUB_GOAL),
        ("8 open: scrub, sign map, 160x50 (s)", figures["scrub_map_160x50_s"], "<=", SCRUB_GOAL),
    ]


def print_keys(keys: dict[tuple[str, str], float]) -> None:
    print("key to the new result on a pty (120x40), median of 15")
    for mode, what in KEY_MODES.items():
        times = "  ".join(f"{name} {keys[name, mode] * 1e3:4.0f} ms" for name in KEY_ARGS)
        print(f"  {mode:<8} {times}   {what}")
    print()


def print_goals(goals: list[tuple]) -> None:
    print(f"{'goal':<44} {'measured':>9} {'goal':>8}  held")
    for name, value, op, target in goals:
        held = {"<=": value <= target, ">=": value >= target, "==": value == target}[op]
        shown = f"{value!s:>9}" if isinstance(value, bool) else f"{value:9.3f}"
        print(f"{name:<44} {shown} {op} {target!s:<6}  {'yes' if held else 'NO'}")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
        f"load average {load} at start"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="only the seed model, fewer repeats")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--watch", action="store_true", help="only gradtui.watch and the run file")
    parser.add_argument("--open", action="store_true", help="only gradtui open (first data, scrub)")
    args = parser.parse_args()
    byte_compile()
    if args.quick:
        for name in list(MODELS)[1:]:
            del MODELS[name]
        args.repeats = 3
    if args.open:  # no torch in the run view: no kernels to wait for
        print(f"machine: {machine()}\n")
        figures = bench_open(args.repeats)
        print_open(figures)
        print_goals(open_goals(figures))
        return 0
    kernels.warm_up(wait=True)
    if kernels.ready() is None:
        reason = kernels.failure() or "disabled"
        print(f"note: no fused kernels ({reason}): the eager path is measured twice")
    where = machine()
    print(f"machine: {where}\n")
    if args.watch:
        watch, run_file = bench_watch(max(args.repeats, 5)), bench_run_file()
        print_watch(watch, run_file)
        print_goals(watch_goals(watch, run_file))
        return 0

    # Before the large models: with 3 GB held here, a first paint took 0.45 s, not 0.36
    # (the machine's, not the fork's: spawning python itself took no longer), and fresh
    # tensors cost page faults.
    paint = first_paint_seconds(15)
    modules = [] if args.quick else bench_modules()
    rows = bench_stats(args.repeats)
    header = (
        f"{'model':<14} {'fwd+bwd':>9} {'gradtui':>9} {'ratio':>6} {'eager':>6}"
        f" {'tensorboard':>12} {'numpy':>9} {'histc':>9} {'tb/us':>6} {'np/us':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        fb = row["fb"]
        tb = row.get("tensorboard")
        tb_ratio = f"{tb / row['gradtui']:6.1f}" if tb and row["gradtui"] else "     -"
        np_ratio = f"{row['numpy'] / row['gradtui']:6.1f}" if row["gradtui"] else "     -"
        print(
            f"{row['model']:<14} {fb * 1e3:7.1f}ms {row['gradtui'] * 1e3:7.1f}ms"
            f" {row['gradtui'] / fb:6.3f} {row['gradtui_eager'] / fb:6.3f}"
            f" {(f'{tb * 1e3:10.1f}ms' if tb else '   (absent)'):>12}"
            f" {row['numpy'] * 1e3:7.1f}ms {row['histc'] * 1e3:7.1f}ms"
            f" {tb_ratio} {np_ratio}"
        )
    print(
        "ratio: gradtui statistics / fwd+bwd; eager: the same, plain torch path;"
        " tb/us, np/us: peer time / gradtui time\n"
    )

    if modules:
        print(f"{'your own model':<28} {'fwd+bwd':>9} {'probe':>9} {'stats':>9} {'ratio':>6}")
        for row in modules:
            print(
                f"{row['model']:<28} {row['fb'] * 1e3:7.1f}ms {row['probe'] * 1e3:7.1f}ms"
                f" {row['stats'] * 1e3:7.1f}ms {row['stats'] / row['fb']:6.3f}"
            )
        print("stats: the probe's pass (hooks, every parameter and output) less fwd+bwd\n")
    watch, run_file = bench_watch(args.repeats), bench_run_file()
    print_watch(watch, run_file)

    opened = bench_open(args.repeats)
    print_open(opened)

    keys = {
        (name, mode): key_to_frame_seconds(args, 15, mode)
        for name, args in KEY_ARGS.items()
        for mode in KEY_MODES
    }
    print_keys(keys)

    goals = []
    for row in rows[1:] if len(rows) > 1 else rows:
        goals.append(
            (f"1 stats/fwd+bwd, {row['model']}", row["gradtui"] / row["fb"], "<=", STATS_GOAL)
        )
        if row["model"] in EAGER_GOALS:
            goals.append(
                (
                    f"1 torch path stats/fwd+bwd, {row['model']}",
                    row["gradtui_eager"] / row["fb"],
                    "<=",
                    EAGER_GOALS[row["model"]],
                )
            )
        if row["paths_agree"] is not None:
            goals.append(
                (f"1 fused == torch figures, {row['model']}", row["paths_agree"], "==", True)
            )
        if "tensorboard" in row:
            goals.append(
                (
                    f"2 x faster than TensorBoard, {row['model']}",
                    row["tensorboard"] / max(row["gradtui"], 1e-9),
                    ">=",
                    PEER_GOAL,
                )
            )
        goals.append(
            (
                f"2 x faster than numpy, {row['model']}",
                row["numpy"] / max(row["gradtui"], 1e-9),
                ">=",
                PEER_GOAL,
            )
        )
    for row in modules:
        goals.append(
            (f"6 stats/fwd+bwd, {row['model']}", row["stats"] / row["fb"], "<=", STATS_GOAL)
        )
    goals.append(("3 first paint in a pty (s)", paint, "<=", PAINT_GOAL))
    for name in KEY_ARGS:  # the goal's measure: r again, as the issue timed it
        seconds = keys[name, "again"]
        goals.append((f"4 key r to frame in a pty, {name} (s)", seconds, "<=", KEY_GOALS[name]))
    goals += watch_goals(watch, run_file)
    goals += open_goals(opened)
    print_goals(goals)
    print("5 GPU: not measured here (no CUDA device on this machine)")

    if args.json:
        write_atomic(  # whole or not at all, as gradtui writes its files
            args.json,
            json.dumps(
                {
                    "machine": where,
                    "models": rows,
                    "modules": modules,
                    "first_paint_s": paint,
                    "keypress_s": {f"{name}, {mode}": t for (name, mode), t in keys.items()},
                    "watch": watch,
                    "run_file": run_file,
                    "open": opened,
                    "goals": [
                        {"goal": g, "measured": v, "op": op, "target": t} for g, v, op, t in goals
                    ],
                },
                indent=2,
            ),
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
