"""gradtui.watch: every recorded figure against numpy float64, the run file surviving a
kill, DistributedDataParallel, torch.compile, non-finite gradients, recording errors."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import gradtui
from gradtui.insight import run_findings
from gradtui.lab.watch import NonFiniteGradient, RecordingStopped, Watch
from gradtui.runfile import RunFileError, RunWriter, open_run

sys.path.insert(0, str(Path(__file__).parent))
import watch_scripts  # noqa: E402

SCRIPTS = Path(__file__).parent / "watch_scripts.py"


# -- independent figures in numpy float64 ------------------------------------------------


def check_figures(recorded, values: np.ndarray, rows: bool) -> None:
    """Every figure of a TensorStats against numpy on the same entries, in float64."""
    x = values.astype(np.float64)
    flat = x.reshape(-1)
    n = flat.size
    assert recorded.numel == n
    assert recorded.nonfinite == 0
    assert recorded.pos == np.count_nonzero(flat > 0) / n
    assert recorded.neg == np.count_nonzero(flat < 0) / n
    assert recorded.zero == np.count_nonzero(flat == 0) / n
    assert recorded.min == flat.min() and recorded.max == flat.max()
    assert recorded.mean == pytest.approx(flat.mean(), rel=1e-12, abs=1e-300)
    if n > 1:
        assert recorded.std == pytest.approx(flat.std(ddof=1), rel=1e-12, abs=1e-300)
    assert recorded.norm == pytest.approx(np.sqrt(np.sum(flat * flat)), rel=1e-12)
    if rows:
        matrix = x.reshape(x.shape[0], -1)
        positive, negative = (matrix > 0).any(axis=1), (matrix < 0).any(axis=1)
        moving = np.count_nonzero(positive | negative)
        expected = np.count_nonzero(positive ^ negative) / moving if moving else None
        assert recorded.row_coherence == expected
    else:
        assert recorded.row_coherence is None
    edges = np.array(recorded.hist.edges)
    counts = np.array(recorded.hist.counts)
    assert counts.sum() == n
    assert np.array_equal(np.histogram(flat, bins=edges)[0], counts)
    # The binning rule, by hand: edges[i] <= x < edges[i + 1], the last bin closed.
    index = np.minimum(np.searchsorted(edges, flat, side="right") - 1, len(counts) - 1)
    assert np.array_equal(np.bincount(index, minlength=len(counts)), counts)


def train_with_copies(path, steps=9, every=2, **options):
    """Train watch_scripts' model, keeping the gradients, the weights at each call and the
    loss of every step; returns them and the final weights."""
    model, optimizer = watch_scripts.make()
    kept = {}
    with gradtui.watch(model, path, every=every, **options) as watch:
        for step in range(1, steps + 1):
            x, y = watch_scripts.batch(step)
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            kept[step] = {
                "loss": loss.item(),
                "grads": {n: p.grad.detach().clone().numpy() for n, p in model.named_parameters()},
                "weights": {n: p.detach().clone().numpy() for n, p in model.named_parameters()},
            }
            watch.step(loss=loss)
            optimizer.step()
            optimizer.zero_grad()
    final = {n: p.detach().clone().numpy() for n, p in model.named_parameters()}
    return kept, final


def update_ratio(before: np.ndarray, after: np.ndarray) -> float:
    before64, after64 = before.astype(np.float64), after.astype(np.float64)
    update = after64 - before64
    return math.log10(update.std(ddof=1) / before64.std(ddof=1))


@pytest.mark.parametrize("path_kind", ["fused", "eager"])
def test_every_recorded_figure_against_numpy(tmp_path, path_kind, monkeypatch):
    if path_kind == "eager":
        from gradtui.lab import kernels

        monkeypatch.setattr(kernels, "ready", lambda: None)
    path = tmp_path / "run.gradtui"
    kept, final = train_with_copies(path, steps=9, every=2)
    run = open_run(path)
    assert run.steps() == [1, 3, 5, 7, 9]
    assert run.meta.every == 2 and run.meta.bins == 50
    names = [n for n, _ in watch_scripts.make()[0].named_parameters()]
    assert [(name, kind) for name, kind, _ in run.params] == [(n, "param") for n in names]
    assert run.params[0][2] == (12, 6)
    assert run.losses() == [(s, pytest.approx(kept[s]["loss"], rel=1e-7)) for s in run.steps()]
    for step in run.steps():
        figures = run.stats(step)
        assert list(figures) == names
        for name in names:
            rec = figures[name]
            grad = kept[step]["grads"][name]
            check_figures(rec.stats, grad, rows=grad.ndim >= 2)
            weights = kept[step]["weights"][name].astype(np.float64)
            assert rec.param_norm == pytest.approx(np.linalg.norm(weights), rel=1e-12)
            after = kept[step + 1]["weights"][name] if step + 1 in kept else final[name]
            if weights.size > 1:
                expected = update_ratio(kept[step]["weights"][name], after)
                assert rec.update_ratio == pytest.approx(expected, rel=1e-9)
            else:
                assert rec.update_ratio is None
            assert rec.input_nonneg is None
    assert run.first_nonfinite() is None
    series = run.series("2.weight", "grad_norm")
    assert series == [(s, run.stats(s)["2.weight"].stats.norm) for s in run.steps()]


def test_activations_and_input_signs(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 7), nn.ReLU(inplace=True), nn.Linear(7, 6), nn.Sigmoid(), nn.Linear(6, 2)
    )
    seen: dict[str, torch.Tensor] = {}
    inputs: dict[str, torch.Tensor] = {}

    def keep(into, name, tensor):
        if torch.is_grad_enabled():  # the test's own copies, before any in-place op
            into[name] = tensor.detach().clone()

    for name, module in model.named_modules():
        if name:
            module.register_forward_pre_hook(lambda _m, a, n=name: keep(inputs, n, a[0]))
            module.register_forward_hook(lambda _m, _a, out, n=name: keep(seen, n, out))
    path = tmp_path / "act.gradtui"
    with gradtui.watch(model, path, every=1, activations=True) as watch:
        x = torch.randn(32, 5)
        model(x).sum().backward()
        watch.step()
        with torch.no_grad():
            model(torch.zeros(3, 5))  # evaluation forwards are not what is recorded
    run = open_run(path)
    assert [(n, k, s) for n, k, s in run.params if k == "activation"] == [
        ("0", "activation", (32, 7)),
        ("1", "activation", (32, 7)),
        ("2", "activation", (32, 6)),
        ("3", "activation", (32, 6)),
        ("4", "activation", (32, 2)),
    ]
    figures = run.stats(1)
    for name in ("0", "1", "2", "3", "4"):
        check_figures(figures[name].stats, seen[name].numpy(), rows=False)
    # The Linear's output before the in-place ReLU changed it: negative entries remain.
    assert figures["0"].stats.neg > 0
    assert figures["1"].stats.dead == np.count_nonzero(seen["1"].numpy() == 0) / seen["1"].numel()
    sigmoid = seen["3"].numpy()
    saturated = np.count_nonzero((sigmoid < 0.03) | (sigmoid > 0.97)) / sigmoid.size
    assert figures["3"].stats.saturated == saturated
    for name in ("0", "2", "4"):  # Linear: the share of its input >= 0
        share = np.count_nonzero(inputs[name].numpy() >= 0) / inputs[name].numel()
        assert figures[name].input_nonneg == share
    assert figures["2"].input_nonneg == 1.0  # fed by a ReLU
    assert figures["1"].input_nonneg is None


def test_steps_recorded_and_layers_selected(tmp_path):
    model, _ = watch_scripts.make()
    path = tmp_path / "some.gradtui"
    with gradtui.watch(model, path, every=3, layers=r"^[24]\.weight$") as watch:
        for _ in range(8):
            model(torch.randn(4, 6)).sum().backward()
            watch.step()
        assert watch.step_count == 8
    run = open_run(path)
    assert run.steps() == [1, 4, 7]
    assert [name for name, _, _ in run.params] == ["2.weight", "4.weight"]
    assert run.losses() == [(1, None), (4, None), (7, None)]


def test_a_parameter_without_gradient_keeps_its_norm(tmp_path):
    model, _ = watch_scripts.make()
    path = tmp_path / "frozen.gradtui"
    with gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(4, 6)).sum().backward()
        model[4].bias.grad = None
        watch.step()
    rec = open_run(path).stats(1)["4.bias"]
    assert rec.stats is None
    assert rec.param_norm == pytest.approx(float(model[4].bias.detach().double().norm()), rel=1e-12)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"every": 0}, ValueError, "every: must be a whole number 1 or more, got 0"),
        ({"every": 2.5}, TypeError, "every: expected a whole number, got 2.5"),
        ({"bins": 0}, ValueError, "bins: must be a whole number from 1 to 1000, got 0"),
        ({"layers": "("}, ValueError, "layers: not a regular expression"),
        ({"layers": "decoder"}, ValueError, "layers: 'decoder' matches no parameter that"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, options, error, message):
    with pytest.raises(error, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        gradtui.watch(watch_scripts.make()[0], tmp_path / "x.gradtui", **options)
    assert not (tmp_path / "x.gradtui").exists()


def test_a_loss_of_many_entries_is_refused(tmp_path):
    model, _ = watch_scripts.make()
    with gradtui.watch(model, tmp_path / "l.gradtui") as watch, pytest.raises(TypeError):
        watch.step(loss=torch.ones(3))


def test_an_existing_path_is_refused_unless_overwrite(tmp_path):
    model, _ = watch_scripts.make()
    path = tmp_path / "again.gradtui"
    train_once = lambda **kw: gradtui.watch(model, path, every=1, **kw)  # noqa: E731
    with train_once() as watch:
        model(torch.randn(2, 6)).sum().backward()
        watch.step()
        watch.step()
    with pytest.raises(RunFileError, match="exists; pass overwrite=True"):
        train_once()
    assert open_run(path).steps() == [1, 2]
    with train_once(overwrite=True) as watch:
        watch.step()
    assert open_run(path).steps() == [1]
    other = tmp_path / "notes.txt"
    other.write_text("my notes")
    with pytest.raises(RunFileError, match="not a gradtui run file"):
        gradtui.watch(model, other, overwrite=True)
    assert other.read_text() == "my notes"


# -- non-finite values --------------------------------------------------------------------


def nan_run(path, halt=False, nan_loss_at=None):
    model, optimizer = watch_scripts.make()
    with gradtui.watch(model, path, every=1, halt_on_nonfinite=halt) as watch:
        for step in range(1, 9):
            x, y = watch_scripts.batch(step)
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            if step in (5, 7):
                model[2].weight.grad[0, 0] = math.nan
                model[4].weight.grad[1, 1] = math.inf
            watch.step(loss=math.nan if step == nan_loss_at else loss)
            for p in model.parameters():  # the optimizer never sees them
                p.grad.nan_to_num_(0.0, 0.0, 0.0)
            optimizer.step()
            optimizer.zero_grad()


def test_the_first_nonfinite_gradient_is_named_and_later_steps_recorded(tmp_path):
    path = tmp_path / "nan.gradtui"
    nan_run(path)
    run = open_run(path)
    assert run.first_nonfinite() == (5, "2.weight")
    assert run_findings(run.first_nonfinite()) == [
        "first non-finite gradient at step 5 in 2.weight"
    ]
    assert run.steps() == list(range(1, 9))
    at_5 = run.stats(5)
    assert at_5["2.weight"].stats.nonfinite == 1 and at_5["4.weight"].stats.nonfinite == 1
    assert math.isfinite(at_5["2.weight"].stats.norm)
    assert sum(at_5["2.weight"].stats.hist.counts) == 12 * 8 - 1
    assert all(rec.stats.nonfinite == 0 for rec in run.stats(6).values())
    assert all(math.isfinite(v) for _, v in run.series("2.weight", "grad_norm"))


def test_a_nonfinite_loss_alone_is_named_loss(tmp_path):
    path = tmp_path / "loss.gradtui"
    nan_run(path, nan_loss_at=3)
    run = open_run(path)
    assert run.first_nonfinite() == (3, "loss")
    assert run_findings((3, "loss")) == ["first non-finite loss at step 3"]
    assert dict(run.losses())[3] is None


def test_halt_on_nonfinite_raises_after_recording_the_step(tmp_path):
    path = tmp_path / "halt.gradtui"
    with pytest.raises(NonFiniteGradient) as raised:
        nan_run(path, halt=True)
    assert (raised.value.step, raised.value.name) == (5, "2.weight")
    assert str(raised.value).startswith("non-finite gradient at step 5 in 2.weight")
    assert gradtui.NonFiniteGradient is NonFiniteGradient
    run = open_run(path)
    assert run.steps() == [1, 2, 3, 4, 5]
    assert run.first_nonfinite() == (5, "2.weight")


# -- recording errors ---------------------------------------------------------------------


def test_a_recording_error_warns_once_and_training_goes_on(tmp_path, monkeypatch):
    path = tmp_path / "err.gradtui"
    real_write = RunWriter.write
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(args)
        if len(calls) >= 3:
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(RunWriter, "write", failing)
    model, optimizer = watch_scripts.make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with gradtui.watch(model, path, every=1) as watch:
            for step in range(1, 7):
                x, y = watch_scripts.batch(step)
                nn.functional.mse_loss(model(x), y).backward()
                watch.step()
                optimizer.step()
                optimizer.zero_grad()
            assert not watch.recording
    assert len(calls) == 3
    assert [w.category for w in caught] == [RecordingStopped]
    assert "stopped at step 3: No space left on device; training goes on" in str(caught[0].message)
    assert open_run(path).steps() == [1, 2]


def test_a_removed_run_file_stops_the_recording(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    path = folder / "gone.gradtui"
    model, _ = watch_scripts.make()
    stopped = pytest.warns(RecordingStopped, match="was removed or replaced while")
    with stopped as caught, gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(2, 6)).sum().backward()
        watch.step()
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
        watch.step()  # warns, once
        watch.step()
        assert not watch.recording
    assert len(caught) == 1


def test_warnings_as_errors_still_never_raise(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        RunWriter, "write", lambda *a, **k: (_ for _ in ()).throw(OSError(5, "I/O"))
    )
    model, _ = watch_scripts.make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with gradtui.watch(model, tmp_path / "w.gradtui", every=1) as watch:
            watch.step()
            watch.step()
    assert capsys.readouterr().err.count("recording to") == 1


def test_a_full_disk_in_a_real_process(tmp_path):
    # A file size limit fails SQLite's writes as a full disk does (root included).
    path = tmp_path / "full.gradtui"
    import resource

    run = subprocess.run(
        [sys.executable, str(SCRIPTS), "steps", str(path), "40"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (48_000, 48_000)),
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "trained 40 steps\n"
    assert run.stderr.count("RecordingStopped") == 1
    assert "File too large" in run.stderr or "disk" in run.stderr
    steps = open_run(path).steps()
    assert 1 <= len(steps) < 40 and steps == list(range(1, len(steps) + 1))


# -- the file while written, and after a kill ---------------------------------------------


def test_a_killed_run_keeps_every_committed_step_and_a_reader_follows_it(tmp_path):
    path = tmp_path / "killed.gradtui"
    child = subprocess.Popen(
        [sys.executable, str(SCRIPTS), "forever", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        reader = None
        deadline = time.monotonic() + 240
        while reader is None or len(reader.steps()) < 3:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
            if reader is None and path.exists():
                reader = open_run(path)
            elif reader is not None:
                reader.refresh()
        seen = reader.steps()
        while len(reader.steps()) <= len(seen) + 2:  # it grows under the reader
            assert time.monotonic() < deadline
            new = reader.refresh()
            assert all(step > seen[-1] for step in new)
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.close()
    run = open_run(path)
    steps = run.steps()
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 5
    names = [name for name, _, _ in run.params]
    for step in steps:
        figures = run.stats(step)
        assert list(figures) == names
        for name, _, shape in run.params:
            assert sum(figures[name].stats.hist.counts) == math.prod(shape)
    ratios = run.series("0.weight", "update_ratio")
    assert all(value is not None for _, value in ratios[:-1])


# -- DistributedDataParallel and torch.compile --------------------------------------------


def same_figures(a, b, rel=1e-5):
    """Recorded figures of the same gradients computed in a different order of sums."""
    assert a.numel == b.numel and a.nonfinite == b.nonfinite
    for key in ("mean", "std", "norm", "min", "max"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), rel=rel, abs=1e-7)
    for key in ("pos", "neg", "zero", "row_coherence"):
        assert getattr(a, key) == getattr(b, key)
    assert sum(a.hist.counts) == sum(b.hist.counts)
    moved = sum(abs(x - y) for x, y in zip(a.hist.counts, b.hist.counts))
    assert moved <= 2  # an entry within rounding of a bin edge may change bins


def test_distributed_data_parallel_on_two_cpu_processes(tmp_path):
    path = tmp_path / "ddp.gradtui"
    run = subprocess.run(
        [sys.executable, str(SCRIPTS), "ddp", str(path), "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(os.listdir(tmp_path)) == ["ddp.gradtui"]  # rank 0 alone wrote
    single = tmp_path / "single" / "one.gradtui"
    single.parent.mkdir()
    train_with_copies(single, steps=4, every=1)
    ddp_run, one = open_run(path), open_run(single)
    assert "rank 0 of 2 (DistributedDataParallel)" in ddp_run.meta.device
    assert ddp_run.params == one.params  # names without DDP's "module."
    assert ddp_run.steps() == one.steps() == [1, 2, 3, 4]
    for step in one.steps():
        a, b = ddp_run.stats(step), one.stats(step)
        for name in a:
            same_figures(a[name].stats, b[name].stats)
            assert a[name].param_norm == pytest.approx(b[name].param_norm, rel=1e-6)
            if b[name].update_ratio is not None:
                assert a[name].update_ratio == pytest.approx(b[name].update_ratio, abs=1e-5)


def test_halt_on_nonfinite_stops_every_rank_together(tmp_path):
    path = tmp_path / "nan.gradtui"
    run = subprocess.run(
        [sys.executable, str(SCRIPTS), "ddp-nan", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(run.stdout.splitlines()) == [
        "ddp done",
        "rank 0 halted at step 2 in 0.weight",
        "rank 1 halted at step 2 in 0.weight",
    ]
    recorded = open_run(path)
    assert recorded.steps() == [1, 2] and recorded.first_nonfinite() == (2, "0.weight")


def test_a_compiled_model_records_what_eager_does(tmp_path):
    # aot_eager: the whole of torch.compile's tracing (dynamo, AOT autograd) in seconds;
    # inductor works the same here but takes about 20 s to compile on two cores.
    torch._dynamo.reset()

    def run(path, compiled):
        model, optimizer = watch_scripts.make()
        target = torch.compile(model, backend="aot_eager", fullgraph=True) if compiled else model
        with gradtui.watch(target, path, every=2, activations=True) as watch:
            for step in range(1, 6):
                x, y = watch_scripts.batch(step)
                nn.functional.mse_loss(target(x), y).backward()
                watch.step()
                optimizer.step()
                optimizer.zero_grad()
        return open_run(path)

    eager, compiled = run(tmp_path / "e.gradtui", False), run(tmp_path / "c.gradtui", True)
    assert compiled.params == eager.params  # names without "_orig_mod."
    assert compiled.steps() == eager.steps() == [1, 3, 5]
    for step in eager.steps():
        a, b = compiled.stats(step), eager.stats(step)
        assert list(a) == list(b)
        for name in b:
            same_figures(a[name].stats, b[name].stats)
            assert a[name].input_nonneg == b[name].input_nonneg
    torch._dynamo.reset()


def test_watch_is_reached_lazily_and_unwraps():
    assert gradtui.watch.__module__ == "gradtui.lab.watch"
    model = nn.Linear(2, 2)
    from gradtui.lab.watch import unwrap

    assert unwrap(torch.compile(model, backend="eager")) is model
    assert gradtui.watch is Watch  # the lazy name is the class itself


# -- found by mutation testing: defaults, activations at recorded steps only, sign maps ---


def test_the_default_records_every_tenth_step_and_describes_the_run(tmp_path):
    model, _ = watch_scripts.make()
    path = tmp_path / "default.gradtui"
    with gradtui.watch(model, path) as watch:
        for step in range(1, 22):
            x, y = watch_scripts.batch(step)
            nn.functional.mse_loss(model(x), y).backward()
            watch.step()
            model.zero_grad()
    run = open_run(path)
    assert run.steps() == [1, 11, 21]
    size = sum(p.numel() for p in model.parameters())
    assert run.meta.model == f"Sequential, {size:,} parameters"
    assert run.meta.device == "cpu" and run.meta.every == 10
    assert [k for _, k, _ in run.params] == ["param"] * 6  # no outputs by default
    assert run.sign_map("0.weight", 1) is None  # nor sign maps


def test_outputs_are_those_of_the_recorded_steps_forward(tmp_path):
    """With every=3, the forward of steps 1, 4 and 7 is measured, not the one before."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh())
    seen: dict[int, np.ndarray] = {}
    path = tmp_path / "every3.gradtui"
    with gradtui.watch(model, path, every=3, activations=True) as watch:
        for step in range(1, 8):
            out = model(torch.full((2, 4), float(step)))
            seen[step] = out.detach().numpy().copy()
            out.sum().backward()
            watch.step()
    run = open_run(path)
    assert run.steps() == [1, 4, 7]
    for step in (1, 4, 7):
        check_figures(run.stats(step)["1"].stats, seen[step], rows=False)


def test_sign_maps_are_recorded_at_recorded_steps(tmp_path):
    from gradtui.lab import sign_map as lab

    model, _ = watch_scripts.make()
    path = tmp_path / "maps.gradtui"
    grads = {}
    with gradtui.watch(model, path, every=2, sign_maps=True) as watch:
        for step in range(1, 4):
            x, y = watch_scripts.batch(step)
            nn.functional.mse_loss(model(x), y).backward()
            grads[step] = {n: p.grad.clone() for n, p in model.named_parameters()}
            watch.step()
            model.zero_grad()
    run = open_run(path)
    for step in (1, 3):
        for name in ("0.weight", "2.weight", "4.weight"):
            (expected,) = lab.collect([lab.queue(grads[step][name])])
            got = run.sign_map(name, step)
            assert (got.pos, got.neg) == (expected.pos, expected.neg), (step, name)
        assert run.sign_map("0.bias", step) is None  # a vector has no map
    assert run.sign_map("0.weight", 2) is None  # not a recorded step


def test_a_pattern_matching_nothing_lists_eight_parameters_and_says_there_are_more(tmp_path):
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(5)])
    with pytest.raises(ValueError) as error:
        gradtui.watch(model, tmp_path / "x.gradtui", layers="nothing", activations=True)
    assert str(error.value) == (
        "layers: 'nothing' matches no parameter that requires grad nor leaf module; the "
        "model's parameters: 0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias, "
        "3.weight, 3.bias, ..."
    )
    with pytest.raises(TypeError, match=r"^model: expected a torch\.nn\.Module, got str$"):
        gradtui.watch("model", tmp_path / "y.gradtui")


@pytest.mark.parametrize("path_kind", ["fused", "eager"])
def test_update_ratio_keeps_its_precision_when_weights_share_a_large_offset(
    tmp_path, path_kind, monkeypatch
):
    """Weights of 1e8 + N(0, 0.01) in float64: a sum of squares of the raw values loses
    the spread entirely (1e16 against 1e-4); the sums are taken about a pivot entry."""
    if path_kind == "eager":
        from gradtui.lab import kernels

        monkeypatch.setattr(kernels, "ready", lambda: None)
    torch.manual_seed(0)
    model = nn.Linear(50, 40).double()
    with torch.no_grad():
        model.weight.copy_(1e8 + 0.01 * torch.randn(40, 50, dtype=torch.float64))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = after = None
    with gradtui.watch(model, tmp_path / "offset.gradtui", every=1) as watch:
        for step in (1, 2):
            model(torch.randn(8, 50, dtype=torch.float64)).pow(2).mean().backward()
            if step == 1:
                before = model.weight.detach().clone().numpy()
            watch.step()
            optimizer.step()
            optimizer.zero_grad()
            if step == 1:
                after = model.weight.detach().clone().numpy()
    rec = open_run(tmp_path / "offset.gradtui").stats(1)["weight"]
    expected = math.log10((after - before).std(ddof=1) / before.std(ddof=1))
    assert rec.update_ratio == pytest.approx(expected, rel=1e-6)


# -- found by mutation testing (2): other ranks, messages, closing, edge sizes -----------


def fake_rank(monkeypatch, rank: int, world: int) -> None:
    """This process as torch.distributed reports rank `rank` of `world` to it."""
    import torch.distributed as dist

    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda group=None: rank)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: world)


def test_rank_0_of_a_distributed_run_names_its_rank_beside_the_device(tmp_path, monkeypatch):
    fake_rank(monkeypatch, 0, 2)
    model, _ = watch_scripts.make()
    with gradtui.watch(model, tmp_path / "r0.gradtui") as watch:
        assert watch.recording
    device = open_run(tmp_path / "r0.gradtui").meta.device
    assert device == "cpu, rank 0 of 2 (DistributedDataParallel)"


def test_another_rank_writes_nothing_and_halts_at_a_recorded_nonfinite_step(tmp_path, monkeypatch):
    fake_rank(monkeypatch, 1, 2)
    model, optimizer = watch_scripts.make()
    path = tmp_path / "r1.gradtui"
    with gradtui.watch(model, path, every=2, halt_on_nonfinite=True) as watch:
        assert not watch.recording
        for step in (1, 2, 3):  # finite gradients: recorded steps 1 and 3 pass
            x, y = watch_scripts.batch(step)
            nn.functional.mse_loss(model(x), y).backward()
            watch.step()
            optimizer.step()
            optimizer.zero_grad()
        model(x).sum().backward()
        model[2].weight.grad[0, 0] = math.nan
        watch.step()  # step 4 is not a recorded one: no halt
        model.zero_grad()
        model(x).sum().backward()
        model[0].bias.grad = None  # a parameter without a gradient is passed over
        model[2].weight.grad[0, 0] = math.nan
        model[4].weight.grad[1, 1] = math.inf
        with pytest.raises(NonFiniteGradient) as raised:
            watch.step()  # step 5: the first non-finite gradient in module order
    assert (raised.value.step, raised.value.name) == (5, "2.weight")
    assert str(raised.value) == (
        "non-finite gradient at step 5 in 2.weight (gradtui.watch halt_on_nonfinite)"
    )
    assert os.listdir(tmp_path) == []


def test_another_rank_without_halt_on_nonfinite_passes_nonfinite_gradients(tmp_path, monkeypatch):
    fake_rank(monkeypatch, 1, 2)
    model, _ = watch_scripts.make()
    with gradtui.watch(model, tmp_path / "r1.gradtui", every=1) as watch:
        model(torch.randn(2, 6)).sum().backward()
        model[0].weight.grad[0, 0] = math.nan
        watch.step()
        assert watch.step_count == 1
    assert os.listdir(tmp_path) == []


def test_by_default_a_nonfinite_gradient_is_recorded_and_not_raised(tmp_path):
    model, _ = watch_scripts.make()
    path = tmp_path / "nan.gradtui"
    with gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(2, 6)).sum().backward()
        model[4].bias.grad[0] = math.nan
        watch.step()
    run = open_run(path)
    assert run.first_nonfinite() == (1, "4.bias")
    assert run.stats(1)["4.bias"].stats.nonfinite == 1


def record_one_step(model: nn.Module, x: torch.Tensor, path: Path):
    """(the run file read back, the output) after one recorded step with activations:
    model(x), the sum's backward, watch.step()."""
    with gradtui.watch(model, path, every=1, activations=True) as watch:
        out = model(x)
        out.sum().backward()
        watch.step()
    return open_run(path), out


def test_a_model_that_is_one_leaf_module_names_its_output_model(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    run, out = record_one_step(model, x, tmp_path / "leaf.gradtui")
    assert run.params == [
        ("weight", "param", (2, 3)),
        ("bias", "param", (2,)),
        ("(model)", "activation", (4, 2)),
    ]
    figures = run.stats(1)["(model)"]
    check_figures(figures.stats, out.detach().numpy(), rows=False)
    assert figures.input_nonneg == np.count_nonzero(x.numpy() >= 0) / x.numel()


def test_a_model_without_parameters_records_its_outputs_on_the_cpu(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Tanh(), nn.Sigmoid())
    x = torch.randn(5, 4, requires_grad=True)
    run, out = record_one_step(model, x, tmp_path / "noparams.gradtui")
    assert (run.meta.device, run.meta.model) == ("cpu", "Sequential, 0 parameters")
    assert run.params == [("0", "activation", (5, 4)), ("1", "activation", (5, 4))]
    check_figures(run.stats(1)["1"].stats, out.detach().numpy(), rows=False)


def test_the_run_file_names_the_device_of_the_models_parameters(tmp_path):
    path = tmp_path / "meta.gradtui"
    with gradtui.watch(nn.Linear(3, 2, device="meta"), path, command="train.py --lr 0.1"):
        pass
    meta = open_run(path).meta
    assert (meta.device, meta.command) == ("meta", "train.py --lr 0.1")


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        (
            nn.Sequential(*[nn.Linear(2, 2) for _ in range(4)]),
            "0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias, 3.weight, 3.bias",
        ),
        (
            nn.Sequential(*[nn.Linear(2, 2) for _ in range(4)], nn.Linear(2, 2, bias=False)),
            "0.weight, 0.bias, 1.weight, 1.bias, 2.weight, 2.bias, 3.weight, 3.bias, ...",
        ),
        (nn.Sequential(nn.Linear(2, 2).requires_grad_(False)), "none"),
    ],
)
def test_a_pattern_matching_nothing_lists_at_most_eight_parameters(tmp_path, model, shown):
    with pytest.raises(ValueError) as error:
        gradtui.watch(model, tmp_path / "x.gradtui", layers="nothing")
    assert str(error.value) == (
        f"layers: 'nothing' matches no parameter that requires grad; the model's "
        f"parameters: {shown}"
    )


def test_close_writes_the_last_update_and_later_steps_count_nothing(tmp_path):
    model, optimizer = watch_scripts.make()
    path = tmp_path / "closed.gradtui"
    watch = gradtui.watch(model, path, every=1)
    x, y = watch_scripts.batch(1)
    nn.functional.mse_loss(model(x), y).backward()
    before = {n: p.detach().clone().numpy() for n, p in model.named_parameters()}
    watch.step()
    optimizer.step()
    after = {n: p.detach().clone().numpy() for n, p in model.named_parameters()}
    watch.close()
    assert not watch.recording
    watch.step()
    assert watch.step_count == 1
    figures = open_run(path).stats(1)
    for name in before:
        expected = update_ratio(before[name], after[name])
        assert figures[name].update_ratio == pytest.approx(expected, rel=1e-9)


def test_an_exception_leaving_the_with_block_writes_no_last_update(tmp_path):
    model, optimizer = watch_scripts.make()
    path = tmp_path / "interrupted.gradtui"
    with pytest.raises(RuntimeError), gradtui.watch(model, path, every=1) as watch:
        x, y = watch_scripts.batch(1)
        nn.functional.mse_loss(model(x), y).backward()
        watch.step()
        optimizer.step()
        raise RuntimeError("interrupted")
    figures = open_run(path).stats(1)
    assert [rec.update_ratio for rec in figures.values()] == [None] * 6


def test_an_error_writing_the_last_update_warns_with_the_step_it_stopped_at(tmp_path, monkeypatch):
    real_write = RunWriter.write

    def failing(self, step=None, **kwargs):
        if step is None:  # only the last update, written by close()
            raise OSError(28, "No space left on device")
        return real_write(self, step, **kwargs)

    monkeypatch.setattr(RunWriter, "write", failing)
    model, optimizer = watch_scripts.make()
    path = tmp_path / "last.gradtui"
    with pytest.warns(RecordingStopped) as caught, gradtui.watch(model, path, every=1) as watch:
        for step in (1, 2):
            x, y = watch_scripts.batch(step)
            nn.functional.mse_loss(model(x), y).backward()
            watch.step()
            optimizer.step()
            optimizer.zero_grad()
    assert [str(w.message) for w in caught] == [
        f"gradtui.watch: recording to {path} stopped at step 2: No space left on device; "
        "training goes on, the steps recorded before stay readable"
    ]
    run = open_run(path)
    assert run.steps() == [1, 2]
    assert run.stats(1)["0.weight"].update_ratio is not None
    assert run.stats(2)["0.weight"].update_ratio is None


def test_an_error_without_a_message_is_named_by_its_type_and_closes_the_file(tmp_path, monkeypatch):
    import sqlite3

    def failing(self, *args, **kwargs):
        raise RuntimeError

    monkeypatch.setattr(RunWriter, "write", failing)
    model, _ = watch_scripts.make()
    path = tmp_path / "anon.gradtui"
    with pytest.warns(RecordingStopped) as caught, gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(2, 6)).sum().backward()
        watch.step()
        watch.step()  # the watch is closed: not even counted
        assert watch.step_count == 1
    assert [str(w.message) for w in caught] == [
        f"gradtui.watch: recording to {path} stopped at step 1: RuntimeError; "
        "training goes on, the steps recorded before stay readable"
    ]
    # Closed as a finished run is: one self-contained file, back to a rollback journal.
    assert sorted(os.listdir(tmp_path)) == ["anon.gradtui"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_the_largest_number_of_bins_is_allowed(tmp_path):
    model, _ = watch_scripts.make()
    with gradtui.watch(model, tmp_path / "bins.gradtui", every=1, bins=1000) as watch:
        model(torch.randn(2, 6)).sum().backward()
        watch.step()
    assert open_run(tmp_path / "bins.gradtui").meta.bins == 1000


def test_arguments_of_the_wrong_type_are_refused_naming_what_was_given(tmp_path):
    model, _ = watch_scripts.make()
    with pytest.raises(TypeError) as error:
        gradtui.watch(model, tmp_path / "x.gradtui", layers=5)
    assert str(error.value) == "layers: expected a regular expression (str) or None, got 5"
    expected = "loss: expected a number or a one-element tensor, got "
    with gradtui.watch(model, tmp_path / "y.gradtui") as watch:
        for loss, given in [(torch.ones(2, 3), "shape (2, 3)"), ("0.5", "str"), (True, "bool")]:
            with pytest.raises(TypeError) as error:
                watch.step(loss=loss)
            assert str(error.value) == expected + given


def test_a_loss_given_as_a_python_float_is_recorded_exactly(tmp_path):
    model, _ = watch_scripts.make()
    path = tmp_path / "loss.gradtui"
    with gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(2, 6)).sum().backward()
        watch.step(loss=0.1)
        watch.step(loss=3)
    assert open_run(path).losses() == [(1, 0.1), (2, 3.0)]


def test_an_evaluation_forward_before_step_changes_nothing_recorded(tmp_path):
    """Outputs and input shares are those of the forward that tracks gradients; an
    evaluation forward under no_grad between backward and step() is left out."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    x = torch.randn(6, 3)
    path = tmp_path / "eval.gradtui"
    with gradtui.watch(model, path, every=1, activations=True) as watch:
        hidden = model[0](x)
        out = model[1](hidden)
        out.sum().backward()
        with torch.no_grad():
            model(-torch.ones(2, 3))
        watch.step()
    figures = open_run(path).stats(1)
    check_figures(figures["0"].stats, hidden.detach().numpy(), rows=False)
    check_figures(figures["1"].stats, out.detach().numpy(), rows=False)
    assert figures["0"].input_nonneg == np.count_nonzero(x.numpy() >= 0) / x.numel()
    # The dead share is a ReLU's figure; a Linear's output has none.
    assert figures["0"].stats.dead is None
    assert figures["1"].stats.dead == np.count_nonzero(out.detach().numpy() == 0) / out.numel()


def test_modules_left_out_of_a_forward_and_keyword_inputs(tmp_path):
    """A leaf module the forward did not call has no output at that step (the ones after
    it still do); a Linear called with its input by keyword has no input share; one
    of a single input entry has one."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = nn.Linear(3, 3)
            self.by_keyword = nn.Linear(3, 1)
            self.single = nn.Linear(1, 2)

        def forward(self, x):
            return self.single(self.by_keyword(input=x)[:1])

    torch.manual_seed(0)
    model = Net()
    x = torch.randn(4, 3)
    path = tmp_path / "parts.gradtui"
    with gradtui.watch(model, path, every=1, activations=True) as watch:
        with torch.no_grad():
            middle = model.by_keyword(x)[:1]
        out = model(x)
        out.sum().backward()
        watch.step()
    figures = open_run(path).stats(1)
    assert [name for name in figures if not name.endswith(("weight", "bias"))] == [
        "by_keyword",
        "single",
    ]
    assert figures["by_keyword"].input_nonneg is None
    check_figures(figures["single"].stats, out.detach().numpy(), rows=False)
    assert figures["single"].input_nonneg == float(middle.item() >= 0)


def test_an_outputs_shape_is_the_one_first_recorded(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    path = tmp_path / "shapes.gradtui"
    with gradtui.watch(model, path, every=1, activations=True) as watch:
        for batch in (4, 2):
            model(torch.randn(batch, 3)).sum().backward()
            watch.step()
    run = open_run(path)
    assert run.params[-1] == ("0", "activation", (4, 2))
    assert run.stats(2)["0"].stats.numel == 2 * 2


def test_without_updates_the_weights_norms_are_still_recorded(tmp_path):
    path = tmp_path / "noupdates.gradtui"
    kept, _ = train_with_copies(path, steps=3, every=1, updates=False)
    run = open_run(path)
    assert run.steps() == [1, 2, 3]
    for step in run.steps():
        for name, rec in run.stats(step).items():
            weights = kept[step]["weights"][name].astype(np.float64)
            assert rec.param_norm == pytest.approx(np.linalg.norm(weights), rel=1e-12)
            assert rec.update_ratio is None


def test_weights_in_channels_last_memory_get_their_update_ratio(tmp_path):
    torch.manual_seed(0)
    model = nn.Conv2d(2, 4, 3).to(memory_format=torch.channels_last)
    assert not model.weight.is_contiguous()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "cl.gradtui"
    with gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(2, 2, 5, 5)).pow(2).mean().backward()
        before = model.weight.detach().clone().numpy()
        watch.step()
        optimizer.step()
        after = model.weight.detach().clone().numpy()
    rec = open_run(path).stats(1)["weight"]
    assert rec.update_ratio == pytest.approx(update_ratio(before, after), rel=1e-9)
    assert rec.param_norm == pytest.approx(np.linalg.norm(before.astype(np.float64)), rel=1e-12)


def test_bfloat16_weights_get_their_update_ratio(tmp_path):
    from gradtui.lab import kernels

    assert kernels.ready() is not None  # the fused path is there: bfloat16 stays off it
    torch.manual_seed(0)
    model = nn.Linear(6, 5).to(torch.bfloat16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    path = tmp_path / "bf16.gradtui"
    with gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(4, 6, dtype=torch.bfloat16)).float().pow(2).mean().backward()
        before = model.weight.detach().float().numpy()
        watch.step()
        optimizer.step()
        after = model.weight.detach().float().numpy()
    rec = open_run(path).stats(1)["weight"]
    assert rec.update_ratio == pytest.approx(update_ratio(before, after), rel=1e-9)


@pytest.mark.parametrize("path_kind", ["fused", "eager"])
def test_update_ratios_of_parameters_of_one_two_and_constant_entries(
    tmp_path, path_kind, monkeypatch
):
    """A 1-entry parameter has a norm and no ratio, a 2-entry one has a ratio, one of
    equal entries (std 0) none; the eager sums, taken 5 entries at a time here, add up."""
    from gradtui.lab import kernels
    from gradtui.lab import watch as watch_module

    if path_kind == "eager":
        monkeypatch.setattr(kernels, "ready", lambda: None)
        monkeypatch.setattr(watch_module, "CHUNK_ELEMENTS", 5)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].bias.zero_()  # equal entries: std(W) = 0, no ratio
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "small.gradtui"
    with gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(8, 4)).pow(2).mean().backward()
        before = {n: p.detach().clone().numpy() for n, p in model.named_parameters()}
        watch.step()
        optimizer.step()
        after = {n: p.detach().clone().numpy() for n, p in model.named_parameters()}
    figures = open_run(path).stats(1)
    for name, weights in before.items():
        rec = figures[name]
        norm = np.linalg.norm(weights.astype(np.float64))
        assert rec.param_norm == pytest.approx(norm, rel=1e-12)
        if name in ("0.bias", "4.bias"):
            assert rec.update_ratio is None
        else:
            expected = update_ratio(weights, after[name])
            assert rec.update_ratio == pytest.approx(expected, rel=1e-9), name
    assert figures["4.bias"].param_norm == abs(float(before["4.bias"][0]))


def test_an_update_ratio_beyond_the_largest_float_is_left_out():
    from gradtui.lab.watch import _ratio

    assert _ratio(1e200, 1e-200) is None  # the quotient overflows to inf
    assert _ratio(1e-3, 1e-1) == pytest.approx(-2.0)


def test_a_data_parallel_model_is_recorded_under_its_own_names(tmp_path):
    model, _ = watch_scripts.make()
    path = tmp_path / "dp.gradtui"
    with gradtui.watch(nn.DataParallel(model), path, every=1) as watch:
        model(torch.randn(2, 6)).sum().backward()
        watch.step()
    assert [name for name, _, _ in open_run(path).params] == [
        n for n, _ in model.named_parameters()
    ]


def test_measuring_runs_torch_on_one_thread_and_gives_the_threads_back(tmp_path, monkeypatch):
    """On the CPU with the fused kernels, torch's ops measure on one thread (its OpenMP
    threads would spin against the kernels'); the training keeps its thread count."""
    from gradtui.lab import kernels, stats

    assert kernels.ready() is not None
    threads = torch.get_num_threads()
    seen = []
    real_collect = stats.collect

    def collect(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_collect(*args, **kwargs)

    monkeypatch.setattr(stats, "collect", collect)
    torch.set_num_threads(2)
    try:
        model, optimizer = watch_scripts.make()
        with gradtui.watch(model, tmp_path / "threads.gradtui", every=1) as watch:
            for step in (1, 2):
                x, y = watch_scripts.batch(step)
                nn.functional.mse_loss(model(x), y).backward()
                watch.step()
                assert torch.get_num_threads() == 2
                optimizer.step()
                optimizer.zero_grad()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert seen == [1, 1, 1]  # steps 1 and 2, and close's last update


def test_each_recorded_step_stores_the_seconds_since_the_watch_began(tmp_path):
    import sqlite3

    model, _ = watch_scripts.make()
    path = tmp_path / "seconds.gradtui"
    began = time.monotonic()
    with gradtui.watch(model, path, every=1) as watch:
        for _ in (1, 2):
            model(torch.randn(2, 6)).sum().backward()
            watch.step()
    elapsed = time.monotonic() - began
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT step, seconds FROM steps ORDER BY step").fetchall()
    assert [step for step, _ in rows] == [1, 2]
    assert 0 < rows[0][1] < rows[1][1] <= elapsed


def test_outputs_kept_while_compiling_are_measured_at_step_with_their_modules_facts(
    tmp_path, monkeypatch
):
    """Under torch.compile the hooks only keep the outputs; step() measures them, with
    the activation's saturation and dead figures as in eager mode."""
    from gradtui.lab import watch as watch_module

    monkeypatch.setattr(watch_module, "_compiling", lambda: True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh())
    path = tmp_path / "kept.gradtui"
    with gradtui.watch(model, path, every=1, activations=True) as watch:
        x = 3 * torch.randn(16, 3)
        relu = model[1](model[0](x))
        tanh = model[3](5 * model[2](relu))  # some entries beyond +-0.97
        tanh.sum().backward()
        watch.step()
    run = open_run(path)
    assert run.params[-1] == ("3", "activation", (16, 8))
    figures = run.stats(1)
    relu, tanh = relu.detach().numpy(), tanh.detach().numpy()
    check_figures(figures["1"].stats, relu, rows=False)
    check_figures(figures["3"].stats, tanh, rows=False)
    assert figures["1"].stats.dead == np.count_nonzero(relu == 0) / relu.size
    assert figures["3"].stats.saturated == np.count_nonzero(np.abs(tanh) > 0.97) / tanh.size
    assert figures["3"].stats.saturated > 0


@pytest.mark.parametrize("path_kind", ["fused", "eager"])
def test_update_ratio_keeps_its_precision_when_a_shared_drift_moves_large_weights(
    tmp_path, path_kind, monkeypatch
):
    """Weights of 1e8 + N(0, 0.01) in float64 moved by 1e3 + N(0, 1e-3), a drift shared by
    every entry: each update is taken against its copy, then about the pivot entry's own
    update, which leaves the 1e-3 spread intact."""
    if path_kind == "eager":
        from gradtui.lab import kernels

        monkeypatch.setattr(kernels, "ready", lambda: None)
    generator = torch.Generator().manual_seed(3)
    model = nn.Linear(50, 40).double()
    with torch.no_grad():
        model.weight.copy_(1e8 + 0.01 * torch.randn(40, 50, generator=generator).double())
    path = tmp_path / "small-updates.gradtui"
    with gradtui.watch(model, path, every=1) as watch:
        model(torch.randn(8, 50, dtype=torch.float64)).sum().backward()
        before = model.weight.detach().clone().numpy()
        watch.step()
        with torch.no_grad():  # the optimizer's step
            model.weight.add_(1e3 + 1e-3 * torch.randn(40, 50, generator=generator).double())
        after = model.weight.detach().clone().numpy()
    rec = open_run(path).stats(1)["weight"]
    expected = math.log10((after - before).std(ddof=1) / before.std(ddof=1))
    assert rec.update_ratio == pytest.approx(expected, rel=1e-9)


def test_a_refused_step_is_not_counted_so_its_retry_is_recorded(tmp_path):
    """A loss that means nothing exact is refused before the step is counted: the retry is
    the same step, recorded (it was step 2 before, and step 1 was never written)."""
    path = tmp_path / "r.gradtui"
    model = nn.Linear(3, 2)
    with gradtui.watch(model, path, every=2) as watch:
        model(torch.randn(4, 3)).sum().backward()
        with pytest.raises(TypeError):
            watch.step(loss=torch.ones(2))  # two entries: not one loss
        assert watch.step_count == 0
        watch.step(loss=torch.tensor(0.5))
        assert watch.step_count == 1
    run = open_run(path)
    assert run.steps() == [1]
    assert run.losses() == [(1, 0.5)]
