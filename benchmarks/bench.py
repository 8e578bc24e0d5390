"""gradtui's performance goals, measured side by side in one run.

    python benchmarks/bench.py [--quick] [--repeats N] [--json PATH]

Prints, for each model, the median time of a plain forward+backward pass, of gradtui's
statistics (the probe's whole pass less the plain one, with the fused CPU kernels and with
the plain torch path; for the examples' transformer and CNN, scaled up, too), and of the
usual ways to get histograms of the same tensors (TensorBoard's add_histogram, numpy
after .cpu().numpy(), W&B-style histc), whether both statistics paths give the same
figures, then every goal with its measured value beside it. Ratios come from times taken in this
run, on this machine; no figure is hard-coded.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import platform
import pty
import select
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import torch

from gradtui.lab import kernels, source
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
PAINT_GOAL = 0.5
KEY_GOALS = {"seed-v2.0": 0.100, "16 layers": 0.250}


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
    "transformer d512x4 s256 b8": (
        "examples/transformer_block.py",
        {"d_model": 512, "heads": 8, "layers": 4, "seq": 256, "batch": 8},
    ),
    "cnn b256": ("examples/small_cnn.py", {"BATCH": 256}),
}
"""Issue 12's models: the probe of any nn.Module costs at most STATS_GOAL of its pass."""


def bench_modules(repeats: int) -> list[dict]:
    rows = []
    for name, (path, scale) in MODULES.items():
        bench = ModuleBench(str(ROOT / path), scale)
        fb = median_time(bench.forward_backward, repeats)
        probe = median_time(bench.gradtui, repeats)
        rows.append({"model": name, "fb": fb, "probe": probe, "stats": max(0.0, probe - fb)})
    return rows


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
        # The statistics' cost: the probe's whole pass less the plain pass.
        row["gradtui"] = max(0.0, median_time(bench.gradtui, n) - row["fb"])
        with eager_path():
            row["gradtui_eager"] = max(0.0, median_time(bench.gradtui, n) - row["fb"])
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


def first_paint_seconds(repeats: int) -> float:
    """From process start to the first screen's text arriving on a terminal."""
    times = []
    for _ in range(repeats):
        pid, fd = pty.fork()
        if pid == 0:  # the child: the real app on a pseudo-terminal
            os.environ.update(TERM="xterm-256color", COLUMNS="80", LINES="24")
            os.execv(sys.executable, [sys.executable, "-m", "gradtui"])
        start = time.perf_counter()
        seen = b""
        while b"Press r" not in seen.replace(b"\x1b", b"") and time.perf_counter() - start < 20:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
            seen = seen[-4096:]
        times.append(time.perf_counter() - start)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    return statistics.median(times)


async def keypress_seconds(spec: Spec, repeats: int) -> float:
    """From the key r to the screen composed with the new table and histograms, torch
    already loaded. The key is posted as the terminal driver would post it; the end is
    the first screen update composed after the result arrived (headless, the compositor
    does all its work and only the write to a terminal is skipped)."""
    from textual import events

    from gradtui.tui.app import make_app

    app = make_app(spec.replace(device="cpu"))
    times = []
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("escape", "r")  # first run: torch and the kernels load
        await app.workers.wait_for_complete()
        await pilot.pause()
        painted: list[float] = []
        display = app._display

        def timed_display(screen, renderable):
            if renderable is not None:
                painted.append(time.perf_counter())
            return display(screen, renderable)

        app._display = timed_display
        for _ in range(repeats):
            before = app.result
            start = time.perf_counter()
            app.post_message(events.Key("r", "r"))
            while app.result is before:
                await asyncio.sleep(0.0005)
            arrived = time.perf_counter()
            while not painted or painted[-1] < arrived:
                await asyncio.sleep(0.0005)
            times.append(painted[-1] - start)
            await asyncio.sleep(0.05)
    return statistics.median(times)


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
    args = parser.parse_args()
    if args.quick:
        for name in list(MODELS)[1:]:
            del MODELS[name]
        args.repeats = 3
    kernels.warm_up(wait=True)
    if kernels.ready() is None:
        reason = kernels.failure() or "disabled"
        print(f"note: no fused kernels ({reason}): the eager path is measured twice")
    where = machine()
    print(f"machine: {where}\n")

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
        tb_ratio = f"{tb / row['gradtui']:6.1f}" if tb else "     -"
        print(
            f"{row['model']:<14} {fb * 1e3:7.1f}ms {row['gradtui'] * 1e3:7.1f}ms"
            f" {row['gradtui'] / fb:6.3f} {row['gradtui_eager'] / fb:6.3f}"
            f" {(f'{tb * 1e3:10.1f}ms' if tb else '   (absent)'):>12}"
            f" {row['numpy'] * 1e3:7.1f}ms {row['histc'] * 1e3:7.1f}ms"
            f" {tb_ratio} {row['numpy'] / row['gradtui']:6.1f}"
        )
    print(
        "ratio: gradtui statistics / fwd+bwd; eager: the same, plain torch path;"
        " tb/us, np/us: peer time / gradtui time\n"
    )

    modules = [] if args.quick else bench_modules(max(1, args.repeats - 2))
    if modules:
        print(f"{'your own model':<28} {'fwd+bwd':>9} {'probe':>9} {'stats':>9} {'ratio':>6}")
        for row in modules:
            print(
                f"{row['model']:<28} {row['fb'] * 1e3:7.1f}ms {row['probe'] * 1e3:7.1f}ms"
                f" {row['stats'] * 1e3:7.1f}ms {row['stats'] / row['fb']:6.3f}"
            )
        print("stats: the probe's pass (hooks, every parameter and output) less fwd+bwd\n")

    paint = first_paint_seconds(5)
    keys = {
        "seed-v2.0": asyncio.run(keypress_seconds(preset("seed-v2.0"), 15)),
        "16 layers": asyncio.run(keypress_seconds(Spec(sizes=(100,) * 17), 15)),
    }

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
                    row["tensorboard"] / row["gradtui"],
                    ">=",
                    PEER_GOAL,
                )
            )
        goals.append(
            (
                f"2 x faster than numpy, {row['model']}",
                row["numpy"] / row["gradtui"],
                ">=",
                PEER_GOAL,
            )
        )
    for row in modules:
        goals.append(
            (f"6 stats/fwd+bwd, {row['model']}", row["stats"] / row["fb"], "<=", STATS_GOAL)
        )
    goals.append(("3 first paint (s)", paint, "<=", PAINT_GOAL))
    for name, seconds in keys.items():
        goals.append((f"4 key r to screen, {name} (s)", seconds, "<=", KEY_GOALS[name]))
    print(f"{'goal':<44} {'measured':>9} {'goal':>8}  held")
    for name, value, op, target in goals:
        held = {"<=": value <= target, ">=": value >= target, "==": value == target}[op]
        shown = f"{value!s:>9}" if isinstance(value, bool) else f"{value:9.3f}"
        print(f"{name:<44} {shown} {op} {target!s:<6}  {'yes' if held else 'NO'}")
    print("5 GPU: not measured here (no CUDA device on this machine)")

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": where,
                    "models": rows,
                    "modules": modules,
                    "first_paint_s": paint,
                    "keypress_s": keys,
                    "goals": [
                        {"goal": g, "measured": v, "op": op, "target": t} for g, v, op, t in goals
                    ],
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
