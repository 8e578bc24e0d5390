"""Training: tasks, reproducibility, learning, the zig-zag restriction, cancel, the CLI."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch

from gradtui.__main__ import main
from gradtui.lab.device import Need
from gradtui.lab.tasks import make_task
from gradtui.lab.train import Trainer, compare, memory_needs, run_training
from gradtui.spec import Spec, SpecError, TrainSpec, parse_activations


def small(**changes) -> Spec:
    return Spec(sizes=(2, 16, 16, 16, 2), device="cpu").replace(**changes)


@pytest.mark.parametrize("name", ["xor", "circle", "gauss", "spiral"])
def test_playground_tasks_are_balanced_2d_classification(name):
    task = make_task(name, samples=400, noise=0.2, seed=3)
    assert task.x.shape == (400, 2) and task.classification and task.outputs == 2
    assert set(task.y.tolist()) == {0, 1}
    assert 100 < int(task.y.sum()) < 300
    assert float(task.x.abs().max()) < 1.5  # scaled to about [-1, 1]
    again = make_task(name, samples=400, noise=0.2, seed=3)
    assert torch.equal(task.x, again.x) and torch.equal(task.y, again.y)
    other = make_task(name, samples=400, noise=0.2, seed=4)
    assert not torch.equal(task.x, other.x)


def test_xor_labels_follow_the_quadrants_without_noise():
    task = make_task("xor", samples=300, noise=0.0, seed=0)
    same_sign = (task.x[:, 0] * task.x[:, 1] > 0).long()
    assert torch.equal(task.y, 1 - same_sign)


def test_teacher_is_regression_on_a_fixed_network():
    task = make_task("teacher", samples=200, noise=0.0, seed=1)
    assert not task.classification and task.loss == "mse"
    assert task.x.shape == (200, 8) and task.y.shape == (200, 1)
    assert float(task.y.std()) > 0.05


def test_teacher_targets_are_a_fixed_nonlinear_function_plus_the_given_noise():
    clean = make_task("teacher", samples=2000, noise=0.0, seed=1)
    noisy = make_task("teacher", samples=2000, noise=0.3, seed=1)
    assert torch.equal(clean.x, noisy.x)
    # The noise is N(0, 0.3^2) on top of the same targets: std within 5 standard errors.
    residual = (noisy.y - clean.y).double().numpy().ravel()
    assert residual.std() == pytest.approx(0.3, abs=5 * 0.3 / np.sqrt(2 * 2000))
    assert abs(residual.mean()) < 5 * 0.3 / np.sqrt(2000)
    # A tanh network of normal inputs: an odd function, so centred; mostly but not wholly
    # linear (a linear teacher would fit exactly, a noise-only one not at all).
    x = clean.x.double().numpy()
    y = clean.y.double().numpy().ravel()
    assert 0.3 < y.std() < 2.0 and abs(y.mean()) < 5 * y.std() / np.sqrt(2000)
    design = np.hstack([x, np.ones((2000, 1))])
    fit = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    explained = 1 - ((y - fit) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert 0.5 < explained < 0.99
    other = make_task("teacher", samples=2000, noise=0.0, seed=2)
    assert not torch.equal(other.y, clean.y)


def test_the_task_fixes_input_output_and_loss_and_keeps_the_rest():
    trainer = Trainer(
        Spec(sizes=(100, 30, 20, 100), activation="tanh", init="xavier-uniform"),
        TrainSpec(task="spiral"),
    )
    assert trainer.spec.sizes == (2, 30, 20, 2)
    assert trainer.spec.activation == "tanh" and trainer.spec.init == "xavier-uniform"
    assert trainer.spec.final_activation == "none" and trainer.spec.loss == "cross-entropy"


def test_same_seed_same_curves():
    plan = TrainSpec(task="circle", steps=40)
    a = run_training(small(batch_size=4), plan)
    b = run_training(small(batch_size=4), plan)
    assert a.to_dict() == b.to_dict()
    c = run_training(small(batch_size=4, seed=1), plan)
    assert [s.loss for s in c.steps] != [s.loss for s in a.steps]


def test_tanh_learns_xor_within_a_few_hundred_steps():
    run = run_training(
        Spec(activation="tanh", batch_size=16, device="cpu"),
        TrainSpec(task="xor", steps=300, lr=0.3),
    )
    first, last = run.steps[0], run.steps[-1]
    assert first.loss > 0.6
    assert last.loss < 0.25 * first.loss
    assert last.accuracy > 0.9
    losses = [s.loss for s in run.steps]
    first = next(i for i, loss in enumerate(losses, start=1) if loss <= 0.2)
    assert run.steps_to(0.2) == first and first <= 150  # well inside the 300 steps
    assert all(loss > 0.2 for loss in losses[: first - 1])
    assert run.steps_to(0.01) is None and min(losses) > 0.01


def updates_of(trainer: Trainer, steps: int) -> list[list[np.ndarray]]:
    """Each step's applied update of every layer, from the weights themselves."""
    out = []
    for _ in range(steps):
        before = [linear.weight.detach().clone() for linear in trainer.model.linears]
        trainer.step()
        out.append(
            [
                (linear.weight.detach() - old).double().numpy()
                for linear, old in zip(trainer.model.linears, before)
            ]
        )
    return out


def one_signed_rows(update: np.ndarray) -> float:
    moving = [row for row in update if (row != 0).any()]
    coherent = [row for row in moving if (row >= 0).all() or (row <= 0).all()]
    return len(coherent) / len(moving)


def test_sgd_batch_1_updates_of_sigmoid_fed_layers_are_one_signed_per_neuron():
    trainer = Trainer(small(activation="sigmoid"), TrainSpec(task="spiral", lr=0.5))
    for step in updates_of(trainer, 25):
        for update in step[1:]:  # layers 2.. are fed by sigmoid outputs
            assert one_signed_rows(update) == 1.0
    # and the statistic agrees with the weights
    run = run_training(small(activation="sigmoid"), TrainSpec(task="spiral", steps=25, lr=0.5))
    assert all(s.layers[i].update_coherence == 1.0 for s in run.steps for i in (1, 2, 3))


def test_sgd_batch_1_updates_under_tanh_mix_signs():
    trainer = Trainer(small(activation="tanh"), TrainSpec(task="spiral", lr=0.5))
    values = [one_signed_rows(update) for step in updates_of(trainer, 25) for update in step[1:]]
    assert max(values) < 0.2
    run = run_training(small(activation="tanh"), TrainSpec(task="spiral", steps=25, lr=0.5))
    assert all(c < 0.2 for c in run.mean_coherence()[1:])


def test_update_ratio_is_the_log_of_update_std_over_weight_std():
    trainer = Trainer(small(), TrainSpec(task="xor", lr=0.05))
    before = [linear.weight.detach().clone() for linear in trainer.model.linears]
    step = trainer.step()
    for layer, linear, old in zip(step.layers, trainer.model.linears, before):
        update = (linear.weight.detach() - old).double()
        expected = np.log10(float(update.std()) / float(old.double().std()))
        assert layer.update_ratio == pytest.approx(expected, rel=1e-9)
        assert layer.grad_norm == pytest.approx(float(linear.weight.grad.norm()), rel=1e-6)


def test_cancel_stops_within_one_step_and_keeps_the_partial_run():
    cancel = threading.Event()

    def on_step(result):
        if len(result.steps) == 7:
            cancel.set()

    run = run_training(small(), TrainSpec(task="xor", steps=500), cancel, on_step)
    assert len(run.steps) == 7 and run.cancelled
    assert [s.step for s in run.steps] == list(range(1, 8))


def test_compare_uses_the_same_data_init_and_seed():
    plan = TrainSpec(task="gauss", steps=20)
    runs = compare(small(batch_size=8), plan, ("sigmoid", "tanh", "relu"))
    assert [run.label for run in runs] == ["sigmoid", "tanh", "relu"]
    assert runs[0].start == runs[1].start == runs[2].start  # default init ignores the activation
    assert len({tuple(s.loss for s in run.steps) for run in runs}) == 3
    # Each run is the run of that activation alone, whatever came before it in compare.
    for run, activation in zip(runs, ("sigmoid", "tanh", "relu")):
        alone = run_training(small(batch_size=8, activation=activation), plan)
        assert run.to_dict() == alone.to_dict()
    reordered = compare(small(batch_size=8), plan, ("relu", "sigmoid"))
    assert reordered[0].to_dict() == runs[2].to_dict()
    assert reordered[1].to_dict() == runs[0].to_dict()
    # The same data set and the same initial weights under every activation.
    trainers = [Trainer(small(batch_size=8, activation=a), plan) for a in ("sigmoid", "tanh")]
    assert torch.equal(trainers[0].x, trainers[1].x) and torch.equal(trainers[0].y, trainers[1].y)
    for p, q in zip(trainers[0].model.parameters(), trainers[1].model.parameters()):
        assert torch.equal(p, q)


def test_parse_activations():
    assert parse_activations("sigmoid, tanh") == ("sigmoid", "tanh")
    with pytest.raises(SpecError, match="give 2 to 4 different"):
        parse_activations("tanh,tanh")
    with pytest.raises(SpecError, match="unknown activation 'swish'"):
        parse_activations("sigmoid,swish")


def test_compare_cli_prints_the_table_and_curves(capsys):
    argv = [
        "compare",
        "--activations",
        "sigmoid,tanh",
        "--task",
        "spiral",
        "--steps",
        "60",
        "--sizes",
        "2,16,16,16,2",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.strip().startswith(("sigmoid", "tanh"))
    }
    assert rows["sigmoid"][-3:] == ["100.0%", "100.0%", "100.0%"]
    assert all(float(cell.rstrip("%")) < 20 for cell in rows["tanh"][-3:])
    assert "loss on the whole data set" in out and "trajectory: layer 2, neuron 0" in out


def test_train_cli_json(capsys):
    assert (
        main(["train", "--task", "teacher", "--steps", "12", "--sizes", "8,8,1", "--json", "-"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == "teacher" and len(data["steps"]) == 12
    assert data["spec"]["sizes"] == [8, 8, 1]
    assert set(data["steps"][0]["layers"][0]) == {"grad_norm", "update_ratio", "update_coherence"}
    # The same run through the library: every figure of every step.
    run = run_training(Spec.from_dict(data["spec"]), TrainSpec(task="teacher", steps=12))
    expected = json.loads(run.to_json())
    for key in ("start", "final_loss", "mean_update_coherence", "steps", "traced"):
        assert data[key] == expected[key], key
    for step in data["steps"]:
        assert step["accuracy"] is None and 0 < step["loss"] < 10
        for layer in step["layers"]:
            assert layer["grad_norm"] > 0 and -8 < layer["update_ratio"] < 0
            assert 0 <= layer["update_coherence"] <= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--task", "mnist"], "--task: unknown value 'mnist'; allowed: xor"),
        (["train", "--steps", "0"], "--steps: must be a whole number from 1 to 1000000, got 0"),
        (["train", "--lr", "fast"], "--lr: expected a number like 0.1 or 1e-3, got 'fast'"),
        (["train", "--optimizer", "lbfgs"], "--optimizer: unknown value 'lbfgs'"),
        (["compare", "--activations", "relu"], "--activations: give 2 to 4 different activations"),
    ],
)
def test_train_bad_input_exits_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_the_traced_weights_can_be_chosen():
    plan = TrainSpec(task="xor", steps=6, trace="3:4:7,9")
    trainer = Trainer(small(), plan)
    assert trainer.traced == "layer 3, neuron 4, weights 7 and 9"
    weight = trainer.model.linears[2].weight.detach()
    start = (float(weight[4, 7]), float(weight[4, 9]))
    assert trainer.trajectory() == start
    step = trainer.step()
    assert step.trajectory == (float(weight[4, 7]), float(weight[4, 9]))
    assert step.trajectory != start


@pytest.mark.parametrize(
    ("trace", "message"),
    [
        ("9:0:0,1", "layer 9 does not exist; the network has 4 layers"),
        ("2:16:0,1", "layer 2 has neurons 0 to 15, got 16"),
        ("1:0:0,2", "layer 1 has weights 0 to 1, got 0,2"),
    ],
)
def test_a_trace_outside_the_network_is_refused(trace, message):
    with pytest.raises(SpecError, match=message):
        Trainer(small(), TrainSpec(task="xor", trace=trace))


def test_a_malformed_trace_is_refused():
    with pytest.raises(SpecError, match="expected LAYER:NEURON:A,B"):
        TrainSpec(trace="0:1:2,3")


def test_compare_overlays_follow_the_traced_layer():
    from gradtui.plots import traced_layer

    runs = compare(small(), TrainSpec(task="xor", steps=3), ("sigmoid", "tanh"))
    assert traced_layer(runs) == 1  # default: layer 2
    runs = compare(small(), TrainSpec(task="xor", steps=3, trace="3:0:0,1"), ("sigmoid", "tanh"))
    assert traced_layer(runs) == 2 and runs[0].traced.startswith("layer 3")


# -- the memory estimate, one step against a hand-made step, the trace's edges ------------

MIB = 1024 * 1024


def test_memory_needs_by_field_in_bytes():
    # sizes 2,7,3 with bias: 45 parameters; widest layer 7x3 = 21 weights;
    # widest input + 2 x output: max(2 + 14, 7 + 6) = 16.
    spec = Spec(sizes=(2, 7, 3), batch_size=5)
    per_sample = 4 * (2 + 16 + 2 * 3) + 8 * (3 + 3)
    assert memory_needs(spec, TrainSpec(task="xor", samples=100)) == [
        Need("sizes", 4 * 45 * 3 + 21 * (4 + 8 + 2) + 32 * MIB, "45 parameters"),
        Need("samples", 100 * (per_sample + 9 * 8), "100 samples"),
        Need("batch_size", 5 * (8 + 4 * 4 * 12), "a batch of 5"),
    ]
    wide = Spec(sizes=(8, 1000, 1), batch_size=2000, dtype="float64", bias=False)
    per_sample = 8 * (8 + max(8 + 2000, 1000 + 2) + 2 * 1) + 8 * (1 + 3)
    plan = TrainSpec(task="teacher", samples=1500, optimizer="adam")
    assert memory_needs(wide, plan) == [
        Need("sizes", 8 * 9000 * (3 + 3) + 8000 * (8 + 8 + 2) + 32 * MIB, "9,000 parameters"),
        Need("samples", 1500 * (per_sample + 42 * 8), "1,500 samples"),
        Need("batch_size", 2000 * (8 + 8 * 4 * 1009), "a batch of 2,000"),
    ]
    momentum = memory_needs(spec, TrainSpec(optimizer="momentum"))[0].bytes
    assert momentum == 4 * 45 * 4 + 21 * 14 + 32 * MIB
    # A norm and a residual keep 2 + 2 more values per unit (10 in all): a layer's
    # output counts 2 + 2 = 4 times per sample, and every unit 4 + 4 times per batch item.
    deep = Spec(sizes=(2, 6, 6, 3), batch_size=5, norm="layer", residual=True)
    per_sample = 4 * (2 + max(2 + 4 * 6, 6 + 4 * 6, 6 + 4 * 3) + 2 * 3) + 8 * (3 + 3)
    needs = memory_needs(deep, TrainSpec(task="xor", samples=100))
    assert needs[1:] == [
        Need("samples", 100 * (per_sample + 9 * 8), "100 samples"),
        Need("batch_size", 5 * (8 + 4 * 8 * 17), "a batch of 5"),
    ]
    assert all(type(need.bytes) is int for need in needs)  # whole bytes, never 7600.0


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_two_steps_against_torchs_optimizer_on_a_copy(optimizer):
    spec = Spec(sizes=(2, 5, 4, 2), activation="tanh", batch_size=3, seed=4, device="cpu")
    plan = TrainSpec(task="circle", samples=16, lr=0.2, optimizer=optimizer)
    trainer = Trainer(spec, plan)
    twin = Trainer(spec, plan).model
    make = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.2),
        "momentum": lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p, lr=0.2),
    }[optimizer]
    opt = make(twin.parameters())
    batches = torch.Generator().manual_seed(spec.seed + 1)
    x, y = trainer.task.x, trainer.task.y
    for number in (1, 2):
        index = torch.randint(0, 16, (3,), generator=batches)
        before = [linear.weight.detach().clone().double() for linear in twin.linears]
        opt.zero_grad()
        batch_loss = torch.nn.functional.cross_entropy(twin(x[index]), y[index])
        batch_loss.backward()
        grads = [linear.weight.grad.double().clone() for linear in twin.linears]
        opt.step()
        step = trainer.step()
        with torch.no_grad():
            output = twin(x)
        assert step.step == number
        assert step.batch_loss == pytest.approx(batch_loss.item(), rel=1e-6)
        loss = torch.nn.functional.cross_entropy(output, y).item()
        assert step.loss == pytest.approx(loss, rel=1e-6)
        right = sum(int(row.argmax()) == int(label) for row, label in zip(output, y))
        assert step.accuracy == right / 16
        weight = twin.linears[1].weight.detach()
        assert step.trajectory == pytest.approx((float(weight[0, 0]), float(weight[0, 1])))
        for layer, linear, old, grad in zip(step.layers, twin.linears, before, grads):
            update = linear.weight.detach().double() - old
            assert layer.grad_norm == pytest.approx(float(grad.norm()), rel=1e-6)
            ratio = math.log10(float(update.std()) / float(old.std()))
            assert layer.update_ratio == pytest.approx(ratio, rel=1e-6)
            moving = [row for row in update if bool((row != 0).any())]
            coherent = [row for row in moving if bool((row >= 0).all() or (row <= 0).all())]
            assert layer.update_coherence == pytest.approx(len(coherent) / len(moving))
    assert trainer.steps_taken == 2


def test_a_step_that_moves_nothing_has_no_ratio_nor_coherence():
    trainer = Trainer(Spec(sizes=(2, 3, 2), device="cpu"), TrainSpec(task="xor", lr=1e-30))
    step = trainer.step()
    assert [layer.update_ratio for layer in step.layers] == [None, None]
    assert [layer.update_coherence for layer in step.layers] == [None, None]
    assert all(layer.grad_norm > 0 for layer in step.layers)


def test_a_regression_step_has_no_accuracy_and_a_diverging_one_no_loss():
    plan = TrainSpec(task="teacher", samples=8)
    step = Trainer(Spec(sizes=(2, 3, 1), device="cpu"), plan).step()
    assert step.accuracy is None and step.loss > 0 and step.batch_loss > 0
    huge = Spec(sizes=(2, 3, 3, 1), activation="identity", init="normal:1e30", device="cpu")
    step = Trainer(huge, plan).step()
    assert step.loss is None and step.batch_loss is None


def test_the_default_trace_in_small_networks():
    one = Trainer(Spec(sizes=(2, 2), device="cpu"), TrainSpec(task="xor"))
    assert (one.traced_layer, one.traced_neuron, one.traced_columns) == (0, 0, (0, 1))
    narrow = Trainer(Spec(sizes=(2, 1, 2), device="cpu"), TrainSpec(task="xor"))
    assert (narrow.traced_layer, narrow.traced_columns) == (1, (0, 0))
    assert narrow.traced == "layer 2, neuron 0, weights 0 and 0"


def test_a_trace_at_the_networks_last_indexes_is_allowed():
    trainer = Trainer(small(), TrainSpec(task="xor", trace="4:1:15,14"))
    assert (trainer.traced_layer, trainer.traced_neuron, trainer.traced_columns) == (3, 1, (15, 14))
    for trace, message in (
        ("5:0:0,1", "^trace: layer 5 does not exist; the network has 4 layers$"),
        ("4:2:0,1", "^trace: layer 4 has neurons 0 to 1, got 2$"),
        ("4:0:0,16", "^trace: layer 4 has weights 0 to 15, got 0,16$"),
        ("4:0:16,0", "^trace: layer 4 has weights 0 to 15, got 16,0$"),
    ):
        with pytest.raises(SpecError, match=message):
            Trainer(small(), TrainSpec(task="xor", trace=trace))


def test_training_runs_on_the_specs_device_and_seed():
    plan = TrainSpec(task="xor", samples=8)
    trainer = Trainer(small(seed=9), plan)
    assert trainer.device == torch.device("cpu") and trainer.train_spec == plan
    assert torch.equal(trainer.task.x, make_task("xor", samples=8, noise=0.2, seed=9).x)


def test_compare_stops_before_a_run_when_cancelled_and_reports_each_run():
    cancel = threading.Event()
    seen = []

    def on_step(i, result):
        seen.append((i, len(result.steps)))
        cancel.set()

    runs = compare(small(), TrainSpec(task="xor", steps=5), ("sigmoid", "tanh"), cancel, on_step)
    assert [len(run.steps) for run in runs] == [1] and runs[0].cancelled
    assert seen == [(0, 1)]
    seen.clear()
    runs = compare(
        small(),
        TrainSpec(task="xor", steps=2),
        ("sigmoid", "tanh"),
        None,
        lambda i, r: seen.append(i),
    )
    assert seen == [0, 0, 1, 1] and not any(run.cancelled for run in runs)


def test_update_ratio_edges_one_or_two_weights_equal_weights_and_overflow():
    # A layer of two weights has a std; a layer of one weight has none.
    trainer = Trainer(Spec(sizes=(2, 1, 2), device="cpu", dtype="float64"), TrainSpec(lr=0.5))
    before = [linear.weight.detach().clone() for linear in trainer.model.linears]
    step = trainer.step()
    for layer, linear, old in zip(step.layers, trainer.model.linears, before):
        update = linear.weight.detach() - old
        expected = math.log10(float(update.std()) / float(old.std()))
        assert layer.update_ratio == pytest.approx(expected, rel=1e-9)
    single = Trainer(Spec(sizes=(8, 1, 1), device="cpu"), TrainSpec(task="teacher", lr=0.5))
    assert single.model.linears[1].weight.numel() == 1
    assert single.step().layers[1].update_ratio is None
    # Equal weights (std 0): no ratio rather than a division by zero.
    equal = Trainer(Spec(sizes=(2, 3, 2), device="cpu"), TrainSpec(lr=0.5))
    with torch.no_grad():
        equal.model.linears[0].weight.fill_(0.25)
    assert equal.step().layers[0].update_ratio is None
    # std(update) / std(W) beyond any float (about 2e151 / 4e-160): no ratio either.
    tiny = Trainer(Spec(sizes=(2, 3, 2), device="cpu", dtype="float64"), TrainSpec(lr=1e153))
    with torch.no_grad():
        tiny.model.linears[0].weight.mul_(1e-159)
    old = tiny.model.linears[0].weight.detach().clone()
    step = tiny.step()
    update = tiny.model.linears[0].weight.detach() - old
    assert float(update.std()) / float(old.std()) == math.inf
    assert step.layers[0].update_ratio is None


def test_training_lets_a_probes_kept_weights_go_when_it_would_not_fit_beside_them(
    monkeypatch,
):
    from gradtui.lab import device, probe
    from gradtui.lab.model import Draws

    monkeypatch.setattr(probe, "DRAWS", draws := Draws())
    probed, cpu = Spec(sizes=(64, 128, 10), device="cpu"), torch.device("cpu")
    probe.run_probe(probed)
    kept = draws.keep_only(probed, cpu)
    assert kept == 4 * (64 * 128 + 128 + 128 * 10 + 10)
    spec, plan = Spec(sizes=(2, 8, 2), device="cpu"), TrainSpec(samples=16)
    needed = sum(need.bytes for need in memory_needs(Trainer(spec, plan).spec, plan))
    # Room for the training alone, not beside the kept weights: these give way.
    free = {"bytes": needed / device.MEMORY_HEADROOM + 1}
    held = lambda: kept if draws.holds(probed, cpu) else 0  # noqa: E731
    monkeypatch.setattr(device, "free_bytes", lambda where: free["bytes"] - held())
    Trainer(spec, plan)
    assert not draws.holds(probed, cpu)
    free["bytes"] = 2**40
    probe.run_probe(probed)  # kept again
    assert draws.holds(probed, cpu)
    free["bytes"] = needed / device.MEMORY_HEADROOM - 1  # no room even without them
    with pytest.raises(SpecError, match="^sizes: "):
        Trainer(spec, plan)
