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
