"""Generated command lines, valid and not: every one ends with exit 0 and a whole, strict
result, or exit 2 and one line; never a traceback, a signal, a hang or a partial file."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gradtui.__main__
from gradtui.__main__ import main
from gradtui.spec import PRESETS, Spec, TrainSpec

# The allowed values, from the field catalogue.
_CHOICES = {info.name: info.kind.choices for info in (*Spec.fields(), *TrainSpec.fields())}
ACTIVATIONS = _CHOICES["activation"]
FINAL_ACTIVATIONS = _CHOICES["final_activation"]
INITS = _CHOICES["init"]
INPUTS = _CHOICES["input"]
LOSSES = _CHOICES["loss"]
OPTIMIZERS = _CHOICES["optimizer"]
TASKS = _CHOICES["task"]

ERROR_LINE = re.compile(r"^gradtui( [a-z]+)?: error: \S")

# Values that are wrong in some way, next to valid ones, for every flag.
JUNK = ["", " ", "-", "x", "0", "-1", "1.5", "nan", "inf", "-inf", "1e400", "2**63", "--"]
JUNK += ["1_0", "٣", "３", "+3", "0x10", "1e3", "3.", ".5", " 7 ", "7\n", "3,,4", "3,4,", ",3"]
JUNK += ["3 4", "3;4", "1e-400", "-0", "infinity", "NaN", "−3", "²", "१:0:0,1", "tanh,,relu"]
VALID_CONFIGS = {
    "valid.toml": 'sizes = [3, 4, 2]\nactivation = "tanh"\nbatch_size = 2\nbias = false\n',
    "empty.toml": "",
}
CONFIGS = {
    **VALID_CONFIGS,
    "invalid.toml": "sizes = [3, 4\n",
    "types.toml": 'sizes = "3,2"\nbins = true\n',
    "floats.toml": "sizes = [3.5, 2]\n",
    "nested.toml": "sizes = [[3], [2]]\n",
    "deep.toml": "sizes = " + "[" * 5000 + "]" * 5000 + "\n",
    "target-bool.toml": "target = true\n",
    "init-underscore.toml": 'init = "normal:1_0"\n',
    "seed-float.toml": "seed = 1.0\n",
    "bins-text.toml": 'bins = "50"\n',
    "unknown-key.toml": "colour = 1\n",
    "big-seed.toml": "sizes = [3, 2]\nseed = 18446744073709551616\n",
    "tables.toml": "[sizes]\na = 1\n",
}


def small_sizes() -> st.SearchStrategy[str]:
    """Sizes of 1 to 3 layers, 2 outputs or more (cross-entropy needs 2)."""
    return st.tuples(st.lists(st.integers(1, 8), min_size=1, max_size=3), st.integers(2, 8)).map(
        lambda sizes: ",".join(map(str, [*sizes[0], sizes[1]]))
    )


def numbers(low: float, high: float) -> st.SearchStrategy[str]:
    """Floats as text, extremes included: they make losses and gradients overflow."""
    return st.floats(low, high, allow_nan=False, allow_subnormal=False).map(repr)


class Flag:
    """A flag's valid values, and wrong ones: known-bad values or short generated text."""

    def __init__(self, valid: st.SearchStrategy[str], *bad: str, junk: bool = True) -> None:
        self.valid = valid
        text = st.text(
            st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]),
            max_size=6,
        )
        if not junk:
            self.any = st.one_of(valid, st.sampled_from(bad))
        else:
            self.any = st.one_of(valid, valid, st.sampled_from([*JUNK, *bad]), text)


SPEC_FLAGS = {
    "--sizes": Flag(small_sizes(), "3", "3,0", "3,-2", "3,a", "1," * 300 + "1", "3,1e3"),
    "--activation": Flag(st.sampled_from(ACTIVATIONS), "swish", "Tanh"),
    "--final-activation": Flag(st.sampled_from(FINAL_ACTIVATIONS), "soft"),
    "--loss": Flag(st.sampled_from(LOSSES), "l1"),
    "--target": Flag(numbers(-1e300, 1e300), "lots"),
    "--batch-size": Flag(st.integers(1, 8).map(str), "100000000000", "two"),
    "--input": Flag(st.sampled_from(INPUTS), "poisson"),
    "--init": Flag(
        st.sampled_from([i for i in INITS if i != "normal:STD"])
        | numbers(1e-30, 1e30).map(lambda std: "normal:" + std),
        "normal:0",
        "normal:-1",
        "normal:nan",
        "normal:",
        "he",
    ),
    "--seed": Flag(st.integers(0, 2**63 - 1).map(str), str(2**63), "-5"),
    "--device": Flag(st.just("cpu"), "tpu", "cuda:x", "cpu:0"),
    "--dtype": Flag(st.sampled_from(["float32", "float64"]), "float16"),
    "--bins": Flag(st.integers(1, 1000).map(str), "1001"),
    "--preset": Flag(st.sampled_from(list(PRESETS)), "seed-v9"),
    "--config": Flag(
        st.just("CONFIG/valid.toml"),
        *(f"CONFIG/{name}" for name in CONFIGS),
        *("CONFIG/" + name for name in ("utf16.toml", "latin1.toml", "big.toml", "fifo")),
        *("CONFIG/folder", "CONFIG/missing.toml", "/dev/zero", "/dev/null"),
        junk=False,
    ),
}
TRAIN_FLAGS = {
    "--task": Flag(st.sampled_from(TASKS), "mnist"),
    "--steps": Flag(st.integers(1, 3).map(str), "1000001"),
    "--lr": Flag(numbers(1e-30, 1e30), "0"),
    "--optimizer": Flag(st.sampled_from(OPTIMIZERS), "rmsprop"),
    "--samples": Flag(st.integers(8, 64).map(str), "7", "1000001"),
    "--noise": Flag(numbers(0.0, 1e30)),
    "--threshold": Flag(numbers(1e-30, 1e30)),
    "--trace": Flag(st.just("1:0:0,0"), "1:0:0,1", "2:0:0,1", "1:1:1,0", "9:0:0,1", "0:0:0,0"),
}
STRAY = ["--bogus", "extra", "--sizes", "-x", "--no-bias=1", "--json", "two\nlines"]


def _int(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+", text.strip()) is not None


def _float(text: str) -> bool:
    return (
        re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text.strip()) is not None
    )


def _items(text: str) -> list[str]:
    return re.split(r"\s*,\s*|\s+", text.strip())


ACCEPTABLE = {
    "--sizes": lambda v: all(map(_int, _items(v))),
    "--activations": lambda v: all(item in ACTIVATIONS for item in _items(v)),
    **dict.fromkeys(["--batch-size", "--seed", "--bins", "--steps", "--samples"], _int),
    **dict.fromkeys(["--target", "--lr", "--noise", "--threshold"], _float),
    "--init": lambda v: (
        v.strip() in INITS or (v.strip()[:7] == "normal:" and _float(v.strip()[7:]))
    ),
    "--trace": lambda v: (
        re.fullmatch(r"\s*[0-9]+\s*:\s*[0-9]+\s*:\s*[0-9]+\s*,\s*[0-9]+\s*", v) is not None
    ),
}
"""What a strict parser accepts, per flag: ASCII numbers, no empty list items. Values
outside it must be refused."""


def flag_values(argv: list[str]) -> dict[str, str]:
    """The value each flag ends up with (argparse keeps the last)."""
    return {flag: value for flag, value in zip(argv, argv[1:]) if flag in ACCEPTABLE}


@st.composite
def command_lines(draw) -> tuple[list[str], bool]:
    """A command and flags: all valid in about half the lines, else each flag may not be."""
    command = draw(st.sampled_from(["probe", "probe", "presets", "train", "compare"]))
    clean = draw(st.booleans())
    argv = [command]
    if command != "presets":
        flags = dict(SPEC_FLAGS)
        if command in ("train", "compare"):
            flags |= TRAIN_FLAGS
            # Small, so that a valid run is quick: the data set and steps stay tiny.
            argv += ["--steps", "2", "--samples", "16"]
        argv += ["--device", "cpu", "--sizes", "3,4,2"]  # overridden by a drawn flag
        for name in draw(st.lists(st.sampled_from(sorted(flags)), max_size=5, unique=True)):
            flag = flags[name]
            argv += [name, draw(flag.valid if clean else flag.any)]
        if draw(st.booleans()):
            argv.append("--no-bias")
        if command == "compare" and (clean or draw(st.integers(0, 5))):
            names = st.lists(st.sampled_from(ACTIVATIONS), min_size=2, max_size=4, unique=True)
            flag = Flag(names.map(",".join), "tanh,tanh", "tanh", "a,b,c,d,e")
            argv += ["--activations", draw(flag.valid if clean else flag.any)]
        json_to = draw(st.sampled_from([None, "-", "OUT", "OUT", *([] if clean else ["OUT/x/y"])]))
        if json_to is not None:
            argv += ["--json", json_to]
    if not clean and draw(st.integers(0, 4)) == 0:
        argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(STRAY)))
    return argv, clean


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    configs = tmp_path_factory.mktemp("configs")
    for name, text in CONFIGS.items():
        (configs / name).write_text(text)
    (configs / "utf16.toml").write_text(CONFIGS["valid.toml"], encoding="utf-16")
    (configs / "latin1.toml").write_bytes(b'activation = "t\xe4nh"\n')
    (configs / "big.toml").write_text("#" * (2**20 + 1))
    os.mkfifo(configs / "fifo")
    (configs / "folder").mkdir()
    return configs, tmp_path_factory.mktemp("out")


def strict_json(text: str):
    def refuse(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def check_stats(stats: dict) -> None:
    numel, nonfinite = stats["numel"], stats["nonfinite"]
    assert sum(stats["hist"]["counts"]) == numel - nonfinite
    fractions = stats["pos"] + stats["neg"] + stats["zero"]
    assert math.isclose(fractions + nonfinite / numel, 1.0, abs_tol=1e-9)
    if nonfinite == 0:
        assert math.isclose(fractions, 1.0, abs_tol=1e-9)


def check_result(command: str, data: dict) -> None:
    if command == "probe":
        for layer in data["layers"]:
            for key in ("weight_grad", "bias_grad", "activation"):
                if layer[key] is not None:
                    check_stats(layer[key])
    else:
        for run in data["runs"] if command == "compare" else [data]:
            assert len(run["steps"]) == run["steps_planned"]


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_info:
            code = 0 if exit_info.code is None else exit_info.code
    return code, out.getvalue(), err.getvalue()


COUNTER = itertools.count()


@settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(line=command_lines())
def test_generated_command_lines(line, folders, monkeypatch):
    argv, clean = line
    configs, out = folders
    monkeypatch.setattr(gradtui.__main__, "PROGRESS_INTERVAL_S", math.inf)
    json_path = out / f"result-{next(COUNTER)}.json"
    argv = [
        token.replace("CONFIG", str(configs)).replace("OUT", str(json_path), 1)
        if token.startswith(("CONFIG", "OUT"))
        else token
        for token in argv
    ]
    code, stdout, stderr = run_in_process(argv)
    event(f"{argv[0]}: exit {code}")
    assert "Traceback" not in stderr
    if clean:  # every value valid: it must run
        assert code == 0, stderr
    if code == 0:
        assert stderr == ""
        for flag, value in flag_values(argv).items():
            assert ACCEPTABLE[flag](value), f"accepted {flag} {value!r}"
        if "--config" in argv:
            assert Path(argv[argv.index("--config") + 1]).name in VALID_CONFIGS
        json_to = argv[len(argv) - argv[::-1].index("--json")] if "--json" in argv else None
        if argv[0] == "presets":
            assert [line.split()[0] for line in stdout.splitlines()] == list(PRESETS)
        elif json_to == "-":
            check_result(argv[0], strict_json(stdout))
        elif json_to == str(json_path):
            check_result(argv[0], strict_json(json_path.read_text()))
            assert stdout.endswith(f"wrote {json_path}\n")
        else:
            assert stdout.strip()
    else:
        assert code == 2, (code, stderr)
        assert stdout == ""
        lines = stderr.splitlines()
        assert len(lines) == 1 and ERROR_LINE.match(lines[0]), stderr
        assert not json_path.exists()
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "--config", "CONFIG/fifo"],  # opening it to read would block
        ["probe", "--config", "/dev/zero"],  # reading it would never end
        ["train", "--config", "CONFIG/big.toml"],
        ["probe", "--sizes", "3,2", "--json", "CONFIG/fifo"],  # writing it would block
        ["probe", "--batch-size", "100000000000"],  # asks for 1 PiB
    ],
)
def test_no_hang_and_no_signal(argv, folders):
    configs, _ = folders
    run = subprocess.run(
        [sys.executable, "-m", "gradtui", *(a.replace("CONFIG", str(configs)) for a in argv)],
        env={**os.environ, "GRADTUI_NO_NUMBA": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2  # not negative: no signal
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and ERROR_LINE.match(run.stderr)
