"""`gradtui history RUN` and `gradtui train --save PATH`: the headless readout of a run
file agrees with the reader, and training saves what it measured."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path

import pytest
from torch import nn

import gradtui
from gradtui import table
from gradtui.__main__ import main
from gradtui.lab.train import run_training
from gradtui.runfile import RunWriter, open_run
from gradtui.spec import Spec, TrainSpec

sys.path.insert(0, str(Path(__file__).parent))
import watch_scripts  # noqa: E402


@pytest.fixture
def run_path(tmp_path) -> Path:
    """A recorded run: 7 steps, every 2, activations, a NaN gradient at step 3."""
    path = tmp_path / "exp.gradtui"
    model, optimizer = watch_scripts.make()
    with gradtui.watch(model, path, every=2, activations=True) as watch:
        for step in range(1, 8):
            x, y = watch_scripts.batch(step)
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            if step == 3:
                model[2].bias.grad[0] = math.nan
            watch.step(loss=loss)
            model[2].bias.grad.nan_to_num_(0.0)
            optimizer.step()
            optimizer.zero_grad()
    return path


def history(capsys, *argv) -> str:
    assert main(["history", *map(str, argv)]) == 0
    return capsys.readouterr().out


def test_the_readout_shows_the_last_step_as_the_reader_has_it(run_path, capsys):
    out = history(capsys, run_path)
    run = open_run(run_path)
    last = run.stats(7)
    lines = out.splitlines()
    assert lines[0] == f"run {run_path}: Sequential, 215 parameters, on cpu"
    assert lines[1].startswith("4 recorded steps (1 to 7, every 2), 50 bins, started ")
    assert f"parameters at step 7 (loss {table.number(dict(run.losses())[7])})" in out
    for name, kind, shape in run.params:
        if kind != "param":
            continue
        rec = last[name]
        g = rec.stats
        expected = [name, "x".join(map(str, shape)), table.percent(g.pos), table.percent(g.neg)]
        expected += [table.percent(g.zero), table.percent(g.row_coherence), table.number(g.norm)]
        # The update of step 7, the last, is measured when the run closes.
        ratio = "-" if rec.update_ratio is None else f"{rec.update_ratio:.2f}"
        expected += [table.number(rec.param_norm), ratio, "0"]
        row = next(line for line in lines if line.split()[:1] == [name])
        assert row.split() == expected
    assert "outputs at step 7" in out
    assert "over time: |g|, row coh, upd:data" in out
    header = next(line for line in lines if line.split()[:1] == ["tensor"] and "step" in line)
    assert header.split()[1:] == ["step", "1", "step", "3", "step", "5", "step", "7"]
    ratio = dict(run.series("0.weight", "update_ratio"))[3]
    upd = [line for line in lines if line.split()[:1] == ["upd:data"]][0]
    assert f"{ratio:.2f}" in upd.split()
    assert lines[-1] == "* first non-finite gradient at step 3 in 2.bias"


def test_json_to_stdout_matches_the_reader(run_path, capsys):
    data = json.loads(history(capsys, run_path, "--json", "-"))
    run = open_run(run_path)
    assert data["steps"] == run.steps() == [1, 3, 5, 7]
    assert data["first_nonfinite"] == {"step": 3, "name": "2.bias"}
    assert data["findings"] == ["first non-finite gradient at step 3 in 2.bias"]
    assert data["run"]["every"] == 2 and data["run"]["model"] == run.meta.model
    assert [t["name"] for t in data["tensors"]] == [name for name, _, _ in run.params]
    last = data["last_step"]
    assert last["step"] == 7 and last["loss"] == dict(run.losses())[7]
    for name, rec in run.stats(7).items():
        got = last["tensors"][name]
        assert got["kind"] == rec.kind and got["param_norm"] == rec.param_norm
        assert got["input_nonneg"] == rec.input_nonneg
        for key in ("pos", "neg", "zero", "mean", "std", "norm", "row_coherence", "nonfinite"):
            assert got["stats"][key] == getattr(rec.stats, key)
        assert got["stats"]["hist"] == rec.stats.hist.to_dict()
    series = data["series"]["0.weight"]
    assert series["grad_norm"] == [list(p) for p in run.series("0.weight", "grad_norm")]
    assert series["update_ratio"] == [list(p) for p in run.series("0.weight", "update_ratio")]
    assert all(value is not None for _, value in series["update_ratio"])
    at_3 = data["series"]["2.bias"]["grad_norm"][1]
    assert at_3[0] == 3 and math.isfinite(at_3[1])  # the NaN left out of the norm


def test_json_to_a_file_is_written_whole(run_path, tmp_path, capsys):
    out_path = tmp_path / "history.json"
    out = history(capsys, run_path, "--json", out_path)
    assert out.splitlines()[-1] == f"wrote {out_path}"
    assert json.loads(out_path.read_text())["steps"] == [1, 3, 5, 7]


def error_line(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*map(str, argv)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    return captured.err


def test_errors_exit_2_with_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.gradtui"
    assert error_line(capsys, "history", missing) == f"gradtui: error: {missing}: no such file\n"
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 10)
    assert error_line(capsys, "history", text) == (
        f"gradtui: error: {text}: not a gradtui run file (not an SQLite database)\n"
    )
    assert error_line(capsys, "history", tmp_path) == (
        f"gradtui: error: {tmp_path}: not a regular file, so not a gradtui run file\n"
    )
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    assert "an SQLite database of another kind" in error_line(capsys, "history", other)
    empty = tmp_path / "empty.gradtui"
    RunWriter(empty, every=1, bins=50, command="", model="m", device="cpu", tensors=[]).close()
    assert error_line(capsys, "history", empty) == (
        f"gradtui: error: {empty}: the run has no recorded step yet\n"
    )
    assert error_line(capsys, "history").startswith("gradtui history: error: the following")


# -- gradtui train --save ----------------------------------------------------------------


def test_train_save_records_the_grad_norms_training_measured(tmp_path):
    path = tmp_path / "train.gradtui"
    spec = Spec(sizes=(2, 16, 16, 2), activation="tanh", batch_size=8, bins=20)
    train_spec = TrainSpec(task="xor", steps=5, optimizer="momentum", lr=0.05)
    result = run_training(spec, train_spec, save=str(path), command="gradtui train ...")
    run = open_run(path)
    assert run.steps() == [1, 2, 3, 4, 5]
    # The spec's bins, and a sign map of each weight's gradient at every step.
    recorded = run.stats(3)
    assert len(recorded["linears.1.weight"].stats.hist.counts) == 20
    maps = [run.sign_map(f"linears.{i}.weight", 3) for i in range(3)]
    assert [(m.rows, m.cols) for m in maps] == [(16, 2), (16, 16), (2, 16)]
    assert run.meta.command == "gradtui train ..." and run.meta.every == 1
    assert run.meta.model.startswith("gradtui train: task xor, sizes 2,16,16,2, tanh, momentum")
    for index in range(3):
        norms = run.series(f"linears.{index}.weight", "grad_norm")
        ratios = run.series(f"linears.{index}.weight", "update_ratio")
        for step, (at, norm), (_, ratio) in zip(result.steps, norms, ratios):
            assert at == step.step
            assert norm == pytest.approx(step.layers[index].grad_norm, rel=1e-6)
            # train measures the update in float32, watch in float64: the same to 1e-6.
            assert ratio == pytest.approx(step.layers[index].update_ratio, abs=1e-5)
    losses = run.losses()
    assert all(loss is not None and loss > 0 for _, loss in losses)


def test_train_save_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "cli.gradtui"
    argv = ["train", "--task", "circle", "--steps", "3", "--sizes", "2,8,2", "--save", str(path)]
    assert main(argv) == 0
    capsys.readouterr()
    run = open_run(path)
    assert run.steps() == [1, 2, 3]
    assert run.meta.command == "gradtui " + " ".join(argv)
    assert error_line(capsys, *argv) == (
        f"gradtui: error: --save: {path} exists; remove it or choose another path\n"
    )
    assert error_line(
        capsys, "compare", "--activations", "tanh,relu", "--steps", "2", "--save", path
    ) == (
        "gradtui: error: --save: compare trains several runs and a run file holds one;"
        " record each with gradtui train --save PATH\n"
    )
    folder = tmp_path / "no" / "such"
    assert error_line(capsys, "train", "--steps", "2", "--save", folder / "x.gradtui").startswith(
        f"gradtui: error: --save: cannot create {folder / 'x.gradtui'}: "
    )
