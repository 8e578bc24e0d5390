"""The JSON contract: strict JSON, every non-finite figure written as null.

`json.loads` accepts NaN and Infinity by default, so every parse here refuses them
(`parse_constant`), and the results are built to hold non-finite figures on purpose.
"""

from __future__ import annotations

import json
import math
import threading

import pytest

import gradtui
from gradtui.__main__ import main
from gradtui.lab import run_probe
from gradtui.lab.train import compare, run_training
from gradtui.result import comparison_json
from gradtui.spec import Spec, TrainSpec


def refuse(constant: str):
    raise AssertionError(f"not strict JSON: {constant}")


def strict_loads(text: str):
    return json.loads(text, parse_constant=refuse)


def nonfinite_paths(value, path: str = "") -> list[str]:
    """Where a float in plain data is NaN or infinite."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in nonfinite_paths(item, f"{path}/{key}")]
    if isinstance(value, (list, tuple)):
        return [p for i, item in enumerate(value) for p in nonfinite_paths(item, f"{path}[{i}]")]
    return []


def as_contract(value):
    """What the JSON must hold for plain data: the same, with non-finite floats null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: as_contract(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_contract(item) for item in value]
    return value


def at(data, path: str):
    """The item at a path of `nonfinite_paths`."""
    for part in path.replace("[", "/[").strip("/").split("/"):
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]
    return data


def test_a_finite_probe_writes_every_figure():
    result = run_probe(Spec(sizes=(10, 8, 6, 4), activation="tanh", device="cpu", seed=1))
    assert result.finite and not nonfinite_paths(result.to_dict())
    data = strict_loads(result.to_json())
    assert data == as_contract(result.to_dict())
    assert strict_loads(result.to_json(indent=None)) == data
    assert data["layers"][2]["weight_grad"]["norm"] == result.layers[2].weight_grad.norm > 0


@pytest.mark.parametrize(
    ("init", "dtype"),
    [("normal:1e30", "float32"), ("normal:1e200", "float64")],
    ids=["float32-overflow", "float64-overflow"],
)
def test_a_probe_with_non_finite_values_writes_null(init, dtype):
    spec = Spec(sizes=(4, 4, 2), init=init, activation="identity", dtype=dtype, device="cpu")
    result = run_probe(spec)
    assert not result.finite
    data = strict_loads(result.to_json())
    assert data == as_contract(result.to_dict())
    assert data["finite"] is False and data["loss"] is None
    for path in nonfinite_paths(result.to_dict()):
        assert at(data, path) is None, path


def test_the_float64_overflow_probe_really_holds_infinite_figures():
    """So that the test above checks the conversion, not only data that had none."""
    # Norms are computed scaled, so only a norm truly beyond float64 is infinite: 4096
    # entries near 1e307 make sqrt(sum) about 6e308.
    spec = Spec(sizes=(64, 64, 2), init="normal:1e307", activation="identity", dtype="float64")
    layer = run_probe(spec.replace(device="cpu")).layers[0]
    assert layer.weight_grad.norm == math.inf and layer.weight_norm == math.inf
    data = strict_loads(run_probe(spec.replace(device="cpu")).to_json())["layers"][0]
    assert data["weight_grad"]["norm"] is None and data["weight_norm"] is None
    assert data["weight_grad"]["numel"] == 4096 and data["weight_grad"]["nonfinite"] == 0


def diverging(**changes) -> tuple[Spec, TrainSpec]:
    spec = Spec(sizes=(8, 8, 1), activation="identity", device="cpu").replace(**changes)
    return spec, TrainSpec(task="teacher", lr=1e10, steps=5)


def test_a_diverging_training_run_writes_null():
    run = run_training(*diverging())
    paths = nonfinite_paths(run.to_dict(threshold=0.2))
    assert any(p.endswith("grad_norm") for p in paths)
    assert any("trajectory" in p for p in paths)
    data = strict_loads(run.to_json(threshold=0.2))
    assert data == as_contract(run.to_dict(threshold=0.2))
    for path in paths:
        assert at(data, path) is None, path
    assert data["final_loss"] is None and data["steps_to_threshold"] is None


def test_a_comparison_with_a_diverging_run_writes_null():
    spec, plan = diverging()
    runs = compare(spec, plan, ("identity", "tanh"))
    data = strict_loads(comparison_json(runs, 0.2))
    assert data["threshold"] == 0.2
    assert data["runs"] == [as_contract(run.to_dict(0.2)) for run in runs]
    assert nonfinite_paths(runs[0].to_dict(0.2))


def test_the_cli_writes_strict_json_for_a_non_finite_probe(capsys):
    argv = ["probe", "--sizes", "64,64,2", "--activation", "identity", "--init", "normal:1e307"]
    assert main([*argv, "--dtype", "float64", "--device", "cpu", "--json", "-"]) == 0
    data = strict_loads(capsys.readouterr().out)
    assert data["finite"] is False and data["layers"][0]["weight_norm"] is None
    spec = Spec(sizes=(64, 64, 2), activation="identity", init="normal:1e307", dtype="float64")
    assert data["layers"] == as_contract(run_probe(spec.replace(device="cpu")).to_dict())["layers"]


# -- every field of the contract, with its value ---------------------------------------


def test_probe_json_fields_hold_their_values():
    spec = Spec(sizes=(10, 8, 6), activation="tanh", final_activation="none", device="cpu")
    result = run_probe(spec)
    data = strict_loads(result.to_json())
    assert data["gradtui"] == gradtui.__version__
    assert data["spec"] == {**spec.to_dict(), "sizes": [10, 8, 6]}
    assert data["device"] == "cpu" and data["finite"] is True and data["warnings"] == []
    assert data["loss"] == result.loss
    for i, layer in enumerate(data["layers"]):
        assert layer["index"] == i + 1
        assert (layer["in_features"], layer["out_features"]) == spec.sizes[i : i + 2]
        assert layer["activation_name"] == ("tanh" if i == 0 else "identity")
        assert layer["weight_norm"] > 0
        assert layer["grad_to_weight"] == pytest.approx(
            layer["weight_grad"]["norm"] / layer["weight_norm"], rel=1e-15
        )
    warned = run_probe(spec.replace(init="normal:1e30", activation="identity"))
    assert strict_loads(warned.to_json())["warnings"] == warned.warnings != []


def test_json_text_is_indented_by_two_unless_asked_otherwise():
    """Exported files are meant to be read: two-space indents, one line with indent=None."""
    spec, plan = diverging()
    probe = run_probe(spec)
    run = run_training(spec, plan)
    assert probe.to_json() == json.dumps(as_contract(probe.to_dict()), indent=2)
    assert probe.to_json(indent=None) == json.dumps(as_contract(probe.to_dict()))
    assert run.to_json(0.2) == json.dumps(as_contract(run.to_dict(0.2)), indent=2)
    data = {"gradtui": gradtui.__version__, "threshold": 0.2, "runs": [run.to_dict(0.2)]}
    assert comparison_json([run], 0.2) == json.dumps(as_contract(data), indent=2)


def test_training_json_fields_hold_their_values():
    cancel = threading.Event()
    spec = Spec(sizes=(2, 6, 2), device="cpu")
    plan = TrainSpec(task="xor", steps=9, lr=0.5, optimizer="momentum", threshold=0.3)

    def on_step(result):
        if len(result.steps) == 4:
            cancel.set()

    run = run_training(spec, plan, cancel, on_step)
    lowest = min(s.loss for s in run.steps)  # reached exactly: "at or below" counts it
    data = strict_loads(run.to_json(threshold=lowest))
    assert data["gradtui"] == gradtui.__version__
    assert data["task"] == "xor" and data["optimizer"] == "momentum" and data["lr"] == 0.5
    assert data["steps_planned"] == 9 and data["cancelled"] is True
    assert data["traced"] == "layer 2, neuron 0, weights 0 and 1"
    assert [s["step"] for s in data["steps"]] == [1, 2, 3, 4]
    assert [s["batch_loss"] for s in data["steps"]] == [s.batch_loss for s in run.steps]
    assert [s["loss"] for s in data["steps"]] == [s.loss for s in run.steps]
    assert [s["trajectory"] for s in data["steps"]] == [list(s.trajectory) for s in run.steps]
    assert data["final_loss"] == run.steps[-1].loss
    assert data["threshold"] == lowest
    crossing = next(s.step for s in run.steps if s.loss == lowest)
    assert data["steps_to_threshold"] == crossing
    assert "threshold" not in strict_loads(run.to_json())
    done = run_training(spec, plan.replace(steps=2))
    assert strict_loads(done.to_json())["cancelled"] is False


def test_non_finite_floats_in_tuples_are_written_as_null_too():
    """A tuple is written as a JSON list; its NaN and infinities become null like a
    list's (they made strict_json raise ValueError)."""
    from gradtui.result import strict_json

    data = {"edges": (0.0, math.nan), "nested": [(math.inf, 1.5), {"x": (-math.inf,)}]}
    assert strict_loads(strict_json(data, indent=None)) == {
        "edges": [0.0, None],
        "nested": [[None, 1.5], {"x": [None]}],
    }
