"""spec.py and fields.py: every field's texts and values, its bounds, the rules between
fields, the text / dict / TOML round trips, presets, parse_activations, the activation
catalogue and describe()."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradtui.fields import (
    ACTIVATIONS,
    FLOAT_RANGES,
    SpecError,
    declared,
    float_text,
    parse_float,
    parse_int,
    toml_value,
)
from gradtui.spec import (
    FIELDS,
    LOSSES,
    MAX_BINS,
    MAX_LAYERS,
    NORMS,
    PRESETS,
    TASKS,
    TRAIN_FIELDS,
    Spec,
    TrainSpec,
    describe,
    parse_activations,
    preset,
)

KINDS = {info.name: info.kind for info in (*Spec.fields(), *TrainSpec.fields())}
INIT_NAMES = KINDS["init"].names
OWNER = {**{name: Spec for name in FIELDS}, **{name: TrainSpec for name in TRAIN_FIELDS}}
F32_TINY, F32_HUGE = FLOAT_RANGES["float32"]
F64_TINY, F64_HUGE = FLOAT_RANGES["float64"]
HYPOTHESIS = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def steady_screens():
    """Overrides conftest's: nothing here draws a screen, so no per-test patching."""


def by_field(cases: list[tuple]) -> list:
    """One test per field, running all of that field's cases: (field, [rest of each case])."""
    grouped: dict[str, list] = {}
    for field, *rest in cases:
        grouped.setdefault(field, []).append(tuple(rest))
    order = [*FIELDS, *TRAIN_FIELDS]
    return [pytest.param(f, grouped[f], id=f) for f in sorted(grouped, key=order.index)]


def refused(cls: type, **values) -> SpecError:
    with pytest.raises(SpecError) as info:
        cls(**values)
    return info.value


def refused_text(cls: type, field: str, text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        cls().with_text(**{field: text})
    return info.value


# -- the declarations ---------------------------------------------------------------------


def test_every_dataclass_field_is_declared_in_order():
    assert tuple(f.name for f in dataclasses.fields(Spec)) == FIELDS
    assert tuple(f.name for f in dataclasses.fields(TrainSpec)) == TRAIN_FIELDS
    assert Spec.fields() == declared(Spec) and TrainSpec.fields() == declared(TrainSpec)
    assert not set(FIELDS) & set(TRAIN_FIELDS)


@pytest.mark.parametrize("info", [*Spec.fields(), *TrainSpec.fields()], ids=lambda i: i.name)
def test_each_declaration_is_complete_and_its_default_reads_back(info):
    assert 1 <= len(info.option.label) <= 7
    assert info.option.help.strip()
    assert info.flag == "--" + info.name.replace("_", "-")
    assert info.kind.allowed()
    assert info.kind.parse(info.default_text) == info.default
    assert getattr(OWNER[info.name](), info.name) == info.default


def test_the_choice_lists_follow_the_catalogue():
    assert KINDS["activation"].choices == tuple(ACTIVATIONS)
    assert KINDS["final_activation"].choices == ("same", "none", *ACTIVATIONS)
    assert KINDS["loss"].choices == LOSSES
    assert KINDS["norm"].choices == NORMS == ("none", "batch", "layer")
    assert KINDS["task"].choices == TASKS
    assert KINDS["dtype"].choices == tuple(FLOAT_RANGES)
    assert KINDS["init"].choices == (*INIT_NAMES, "normal:STD")
    assert KINDS["bins"].high == MAX_BINS and KINDS["sizes"].max_layers == MAX_LAYERS


# -- valid texts --------------------------------------------------------------------------

VALID_TEXTS = [
    ("sizes", "100,100", (100, 100)),
    ("sizes", "1,1", (1, 1)),
    ("sizes", " 3 , 4 ,5 ", (3, 4, 5)),
    ("sizes", "3 4  5", (3, 4, 5)),
    ("sizes", "+3,007", (3, 7)),
    ("sizes", "1000000000,1", (10**9, 1)),
    ("sizes", ",".join(["2"] * (MAX_LAYERS + 1)), (2,) * (MAX_LAYERS + 1)),
    *[("activation", name, name) for name in ACTIVATIONS],
    *[("final_activation", name, name) for name in ("same", "none", *ACTIVATIONS)],
    *[("loss", name, name) for name in LOSSES],
    ("target", "0.1", 0.1),
    ("target", "0", 0.0),
    ("target", "-5", -5.0),
    ("target", "+2", 2.0),
    ("target", ".5", 0.5),
    ("target", "5.", 5.0),
    ("target", "1E3", 1000.0),
    ("target", "1e-05", 1e-05),
    ("target", "123456789.123", 123456789.123),
    ("target", "-1e308", -1e308),
    ("target", "1e-400", 0.0),  # underflows to 0, which the target allows
    ("batch_size", "1", 1),
    ("batch_size", "1000000000", 10**9),
    ("batch_size", "007", 7),
    *[("input", name, name) for name in ("normal", "uniform01", "uniform11")],
    *[("init", name, name) for name in INIT_NAMES],
    ("init", "normal:0.01", "normal:0.01"),
    ("init", "normal:1e-3", "normal:1e-3"),
    ("init", "normal:2", "normal:2"),
    ("bias", "on", True),
    ("bias", "ON", True),
    ("bias", "true", True),
    ("bias", "yes", True),
    ("bias", "off", False),
    ("bias", "False", False),
    ("bias", "no", False),
    ("norm", "none", "none"),
    ("norm", "layer", "layer"),  # batch needs a batch of 2: test_batch_norm_needs_a_batch
    ("residual", "on", True),
    ("residual", "off", False),
    ("residual", "No", False),
    ("seed", "0", 0),
    ("seed", str(2**63 - 1), 2**63 - 1),
    *[("device", name, name) for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:12")],
    ("dtype", "float32", "float32"),
    ("dtype", "float64", "float64"),
    ("bins", "1", 1),
    ("bins", "1000", 1000),
    *[("task", name, name) for name in TASKS],
    ("steps", "1", 1),
    ("steps", "1000000", 1_000_000),
    ("lr", "0.1", 0.1),
    ("lr", "1e-9", 1e-9),
    ("lr", "5e-324", 5e-324),
    *[("optimizer", name, name) for name in ("sgd", "momentum", "adam")],
    ("samples", "8", 8),
    ("samples", "1000000", 1_000_000),
    ("noise", "0", 0.0),
    ("noise", "0.0", 0.0),
    ("noise", "2.5", 2.5),
    ("threshold", "0.2", 0.2),
    ("threshold", "1e-12", 1e-12),
    ("trace", "", ""),
    ("trace", "2:0:0,1", "2:0:0,1"),
    ("trace", "256:999999999:0,0", "256:999999999:0,0"),
]


@pytest.mark.parametrize(("field", "cases"), by_field(VALID_TEXTS))
def test_a_valid_text_gives_its_value(field, cases):
    cls = OWNER[field]
    for text, value in cases:
        spec = cls().with_text(**{field: text})
        assert getattr(spec, field) == value, text
        assert type(getattr(spec, field)) is type(value), text
        assert cls.from_texts(**{field: text}) == spec, text
        # Each other field keeps its default.
        assert spec.replace(**{field: getattr(cls(), field)}) == cls(), text


# -- refused texts ------------------------------------------------------------------------

WHOLE = "expected a whole number like 42"
FINITE = "must be a finite number"
NUMBER = "expected a number like 0.1 or 1e-3"
LIST = "expected comma-separated positive integers like 100,100,100"
EMPTY = "an empty item"
DEVICES = "expected auto, cpu, cuda or cuda:N"
TRACE = "expected LAYER:NEURON:A,B like 2:0:0,1"
STD = "normal:STD needs a positive number for STD"
ACTS = "allowed: " + ", ".join(ACTIVATIONS)
FLOAT_NONSENSE = [
    ("nan", FINITE),
    ("NaN", FINITE),
    ("-nan", FINITE),
    ("inf", FINITE),
    ("-inf", FINITE),
    ("+Infinity", FINITE),
    ("1e400", FINITE),
    ("-1e400", FINITE),
    ("1_0", NUMBER),
    ("٤٢", NUMBER),
    ("１００", NUMBER),
    ("0x10", NUMBER),
    ("1e", NUMBER),
    ("1.2.3", NUMBER),
    ("1,5", NUMBER),
    ("abc", NUMBER),
    ("", NUMBER),
]
INT_NONSENSE = [
    ("1_00", WHOLE),
    ("٤٢", WHOLE),
    ("１００", WHOLE),
    ("1.0", WHOLE),
    ("50.0", WHOLE),
    ("1e3", WHOLE),
    ("0x10", WHOLE),
    ("ten", WHOLE),
    ("", WHOLE),
    ("4 2", WHOLE),
]
INT_RANGES = {
    "batch_size": (1, 10**9),
    "seed": (0, 2**63 - 1),
    "bins": (1, MAX_BINS),
    "steps": (1, 1_000_000),
    "samples": (8, 1_000_000),
}

REFUSED_TEXTS = [
    ("sizes", "", EMPTY),
    ("sizes", "100,,100", EMPTY),
    ("sizes", "100,100,", EMPTY),
    ("sizes", ",100,100", EMPTY),
    ("sizes", "100, ,100", EMPTY),
    ("sizes", "100", "needs the input size and at least one layer size"),
    ("sizes", "100,0", "every size must be a positive integer, got 0"),
    ("sizes", "100,-3", "every size must be a positive integer, got -3"),
    ("sizes", "1_00,100", LIST),
    ("sizes", "٤٢,100", LIST),
    ("sizes", "100,１００", LIST),
    ("sizes", "100,1.5", LIST),
    ("sizes", "100;100", LIST),
    ("sizes", "100,abc", LIST),
    ("sizes", "1000000001,1", "every size must be at most 1000000000"),
    ("sizes", ",".join(["2"] * (MAX_LAYERS + 2)), f"at most {MAX_LAYERS} layers, got 257"),
    ("activation", "softmax", ACTS),
    ("activation", "Sigmoid", ACTS),
    ("activation", "", ACTS),
    ("final_activation", "linear", "allowed: same, none, sigmoid"),
    ("final_activation", "None", "allowed: same, none, sigmoid"),
    ("loss", "l1", "allowed: sum, sum-mse, mse, cross-entropy"),
    ("loss", "cross_entropy", "allowed: sum, sum-mse, mse, cross-entropy"),
    *[("target", text, reason) for text, reason in FLOAT_NONSENSE],
    ("input", "gauss", "allowed: normal, uniform01, uniform11"),
    ("init", "normal:0", STD),
    ("init", "normal:-1", STD),
    ("init", "normal:abc", STD),
    ("init", "normal:", STD),
    ("init", "normal:nan", STD),
    ("init", "normal:inf", STD),
    ("init", "normal:1e400", STD),
    ("init", "normal:1e-400", STD),  # 0 after rounding
    ("init", "normal:0.1:2", STD),
    ("init", "normal:1_0", STD),
    ("init", "he", "allowed: " + ", ".join((*INIT_NAMES, "normal:STD"))),
    ("init", "normal", "allowed: default, xavier-uniform"),
    ("init", "Normal:1", "allowed: default, xavier-uniform"),
    ("bias", "1", "expected on or off"),
    ("bias", "y", "expected on or off"),
    ("bias", "", "expected on or off"),
    ("norm", "batchnorm", "allowed: none, batch, layer"),
    ("norm", "Layer", "allowed: none, batch, layer"),
    ("norm", "batch", "batch needs batch_size 2 or more"),
    ("residual", "1", "expected on or off"),
    ("device", "cuda:", DEVICES),
    ("device", "tpu", DEVICES),
    ("device", "CPU", DEVICES),
    ("device", "cuda0", DEVICES),
    ("device", "cuda:x", DEVICES),
    ("device", "cuda:-1", DEVICES),
    ("device", "cuda:٤", DEVICES),
    ("device", "", DEVICES),
    ("dtype", "float16", "allowed: float32, float64"),
    ("dtype", "double", "allowed: float32, float64"),
    *[(field, text, reason) for field in INT_RANGES for text, reason in INT_NONSENSE],
    *[
        (field, str(value), f"must be a whole number from {low} to {high}")
        for field, (low, high) in INT_RANGES.items()
        for value in (low - 1, high + 1, -(10**20), 10**30)
    ],
    ("task", "moons", "allowed: xor, circle, gauss, spiral, teacher"),
    ("lr", "0", "must be a positive number, got 0"),
    ("lr", "0.0", "must be a positive number, got 0"),
    ("lr", "-0.1", "must be a positive number, got -0.1"),
    ("lr", "1e-400", "must be a positive number, got 0"),
    *[("lr", text, reason) for text, reason in FLOAT_NONSENSE],
    ("optimizer", "rmsprop", "allowed: sgd, momentum, adam"),
    ("noise", "-0.1", "must be a number >= 0, got -0.1"),
    ("noise", "-1e-300", "must be a number >= 0"),
    *[("noise", text, reason) for text, reason in FLOAT_NONSENSE],
    ("threshold", "0", "must be a positive number"),
    ("threshold", "-1", "must be a positive number"),
    *[("threshold", text, reason) for text, reason in FLOAT_NONSENSE],
    ("trace", "2:0:0", TRACE),
    ("trace", "a:b:c,d", TRACE),
    ("trace", "2:0:0,1,2", TRACE),
    ("trace", "2-0-0,1", TRACE),
    ("trace", "2:0:0;1", TRACE),
    ("trace", "-1:0:0,1", TRACE),
    ("trace", "٢:0:0,1", TRACE),
    ("trace", "0:0:0,1", "(layer from 1)"),
    ("trace", "00:1:2,3", "(layer from 1)"),
]


@pytest.mark.parametrize(("field", "cases"), by_field(REFUSED_TEXTS))
def test_a_refused_text_names_its_field_and_what_is_allowed(field, cases):
    for text, reason in cases:
        error = refused_text(OWNER[field], field, text)
        assert error.field == field, text
        assert reason in error.reason, (text, error.reason)
        assert str(error) == f"{field}: {error.reason}"
        assert error.flag == "--" + field.replace("_", "-")
        assert isinstance(error, ValueError)


def test_an_unknown_field_text_is_refused_naming_the_known_ones():
    error = refused_text(Spec, "colour", "red")
    assert error.field == "colour"
    assert error.reason == "unknown field; allowed: " + ", ".join(FIELDS)
    with pytest.raises(SpecError, match="colour: unknown field; allowed: task, steps"):
        TrainSpec.from_texts(colour="red")


def test_too_many_digits_are_refused_in_words():
    for field, text in [
        ("seed", "9" * 5000),
        ("bins", "-" + "1" * 5000),
        ("sizes", "9" * 5000 + ",1"),
        ("steps", "0" * 4000 + "1" * 1000),
    ]:
        error = refused_text(OWNER[field], field, text)
        assert error.field == field
        assert "whole number" in error.reason and "set_int_max_str_digits" not in error.reason
        assert len(error.reason) < 200
    for text in ("9" * 5000 + ":0:0,1", "2:0:0," + "1" * 5000):
        error = refused_text(TrainSpec, "trace", text)
        assert error.field == "trace" and TRACE in error.reason


# -- refused values (from code, dicts, TOML) ----------------------------------------------

REFUSED_VALUES = [
    ("sizes", "100,100", "expected a list of positive integers"),
    ("sizes", 100, "expected a list of positive integers"),
    ("sizes", (100,), "needs the input size"),
    ("sizes", (), "needs the input size"),
    ("sizes", (100, True), "every size must be a positive integer, got True"),
    ("sizes", [100, 1.0], "every size must be a positive integer, got 1.0"),
    ("sizes", (100, "100"), "every size must be a positive integer"),
    ("sizes", (100, 10**9 + 1), "every size must be at most 1000000000"),
    ("sizes", (2,) * (MAX_LAYERS + 2), "at most 256 layers"),
    ("activation", None, ACTS),
    ("activation", ["sigmoid"], ACTS),
    ("loss", 1, "allowed: sum"),
    ("target", True, "must be a number, got True"),
    ("target", "0.1", "must be a number, got '0.1'"),
    ("target", None, "must be a number"),
    ("target", math.nan, FINITE),
    ("target", -math.inf, FINITE),
    ("target", 10**400, FINITE),
    ("target", -(10**400), FINITE),
    ("batch_size", True, "must be a whole number from 1 to 1000000000, got True"),
    ("batch_size", 1.0, "got 1.0"),
    ("batch_size", "1", "got '1'"),
    ("batch_size", 0, "got 0"),
    ("init", 0.1, "unknown init 0.1"),
    ("init", None, "unknown init None"),
    ("init", "normal:0.1 ", STD),
    ("init", "normal: 0.1", STD),
    ("bias", 1, "must be true or false, got 1"),
    ("bias", "on", "must be true or false, got 'on'"),
    ("bias", None, "must be true or false"),
    ("norm", None, "allowed: none, batch, layer"),
    ("norm", "batch", "batch needs batch_size 2 or more"),
    ("residual", "on", "must be true or false, got 'on'"),
    ("seed", True, "must be a whole number from 0 to 9223372036854775807, got True"),
    ("seed", False, "got False"),
    ("seed", -1, "got -1"),
    ("seed", 2**63, "got 9223372036854775808"),
    ("seed", 0.0, "got 0.0"),
    ("device", None, DEVICES),
    ("device", 0, DEVICES),
    ("device", "cuda:0 ", DEVICES),
    ("dtype", "float16", "allowed: float32, float64"),
    ("bins", 50.0, "must be a whole number from 1 to 1000, got 50.0"),
    ("bins", "50", "got '50'"),
    ("bins", 0, "got 0"),
    ("bins", 1001, "got 1001"),
    ("task", None, "allowed: xor"),
    ("steps", 1.0, "from 1 to 1000000, got 1.0"),
    ("steps", True, "got True"),
    ("lr", True, "must be a number, got True"),
    ("lr", 0, "must be a positive number, got 0"),
    ("lr", -0.0, "must be a positive number"),
    ("lr", math.inf, FINITE),
    ("lr", 10**400, FINITE),
    ("samples", 7, "from 8 to 1000000, got 7"),
    ("noise", -1e-300, "must be a number >= 0"),
    ("noise", False, "must be a number, got False"),
    ("threshold", 0.0, "must be a positive number"),
    ("trace", 5, TRACE),
    ("trace", None, TRACE),
    ("trace", "0:1:2,3", "(layer from 1)"),
]


@pytest.mark.parametrize(("field", "cases"), by_field(REFUSED_VALUES))
def test_a_refused_value_names_its_field_from_code_and_dicts(field, cases):
    cls = OWNER[field]
    for value, reason in cases:
        for error in (
            refused(cls, **{field: value}),
            pytest.raises(SpecError, cls().replace, **{field: value}).value,
            pytest.raises(SpecError, cls.from_dict, {field: value}).value,
        ):
            assert error.field == field, value
            assert reason in error.reason, (value, error.reason)


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("target = true", "target", "must be a number, got True"),
        ("target = nan", "target", FINITE),
        ("target = -inf", "target", FINITE),
        ("target = 1e400", "target", FINITE),
        ("target = 1" + "0" * 400, "target", FINITE),
        ('target = "0.1"', "target", "must be a number"),
        ("seed = true", "seed", "got True"),
        ("seed = 9223372036854775808", "seed", "from 0 to 9223372036854775807"),
        ("seed = -1", "seed", "from 0 to"),
        ("bins = 50.0", "bins", "got 50.0"),
        ('bins = "50"', "bins", "got '50'"),
        ('sizes = "100,100"', "sizes", "expected a list of positive integers"),
        ("sizes = [100, 100.0]", "sizes", "every size must be a positive integer"),
        ("sizes = [100, true]", "sizes", "every size must be a positive integer"),
        ("sizes = [100, [100]]", "sizes", "every size must be a positive integer"),
        ('bias = "on"', "bias", "must be true or false"),
        ('device = "tpu"', "device", DEVICES),
        ('init = "normal:0"', "init", STD),
        ('activation = "softmax"', "activation", ACTS),
    ],
)
def test_a_refused_toml_value_names_its_field(line, field, reason):
    error = pytest.raises(SpecError, Spec.from_dict, tomllib.loads(line)).value
    assert error.field == field
    assert reason in error.reason


def test_numbers_are_normalised_to_the_fields_type():
    spec = Spec(sizes=[3, 4], target=5)
    assert spec.sizes == (3, 4) and type(spec.target) is float and spec.target == 5.0
    assert hash(spec) == hash(Spec(sizes=(3, 4), target=5.0))
    plan = TrainSpec(lr=1, noise=0, threshold=2)
    assert (type(plan.lr), type(plan.noise), type(plan.threshold)) == (float, float, float)


def test_specs_are_frozen_and_a_refused_replace_leaves_them_alone():
    spec = Spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.bins = 3  # type: ignore[misc]
    with pytest.raises(SpecError):
        spec.replace(bins=0)
    assert spec == Spec() and spec.bins == 50


# -- the init's STD against the dtype ------------------------------------------------------


@pytest.mark.parametrize(
    ("std", "dtype", "allowed"),
    [
        ("1e-320", "float32", False),
        ("1e-320", "float64", False),
        ("1e-39", "float32", False),
        ("1e-39", "float64", True),
        ("3e306", "float64", True),
        ("3e306", "float32", False),
        ("1e30", "float32", True),
        ("1e38", "float32", False),
        ("1e308", "float64", False),
        ("0.01", "float32", True),
        (repr(F32_TINY), "float32", True),
        (repr(math.nextafter(F32_TINY, 0)), "float32", False),
        (repr(F32_HUGE / 16), "float32", True),
        (repr(math.nextafter(F32_HUGE / 16, math.inf)), "float32", False),
        (repr(F64_TINY), "float64", True),
        (repr(math.nextafter(F64_TINY, 0)), "float64", False),
        (repr(F64_HUGE / 16), "float64", True),
        (repr(math.nextafter(F64_HUGE / 16, math.inf)), "float64", False),
    ],
)
def test_a_normal_std_must_neither_underflow_nor_overflow_the_dtype(std, dtype, allowed):
    init = f"normal:{std}"
    if allowed:
        assert Spec(init=init, dtype=dtype).init == init
        assert Spec().with_text(init=init, dtype=dtype).init == init
        return
    for error in (
        refused(Spec, init=init, dtype=dtype),
        pytest.raises(SpecError, Spec().with_text, init=init, dtype=dtype).value,
    ):
        assert error.field == "init"
        assert f"normal:STD in {dtype} needs STD from" in error.reason
        assert "underflow to 0 or overflow" in error.reason


def test_changing_the_dtype_rechecks_the_init():
    spec = Spec(init="normal:1e-39", dtype="float64")
    error = pytest.raises(SpecError, spec.with_text, dtype="float32").value
    assert error.field == "init"
    assert error.reason.startswith("normal:STD in float32 needs STD from 1.18e-38 to 2.13e+37")
    assert Spec(dtype="float32", init="kaiming-normal").replace(dtype="float64").dtype == "float64"


# -- rules between fields -----------------------------------------------------------------


def test_cross_entropy_needs_two_outputs():
    reason = "cross-entropy needs at least 2 outputs (the last size)"
    for error in (
        refused(Spec, sizes=(4, 1), loss="cross-entropy"),
        pytest.raises(SpecError, Spec(sizes=(4, 1)).with_text, loss="cross-entropy").value,
        pytest.raises(SpecError, Spec(loss="cross-entropy").with_text, sizes="4,8,1").value,
        pytest.raises(SpecError, Spec.from_dict, {"sizes": [3, 1], "loss": "cross-entropy"}).value,
    ):
        assert (error.field, error.reason) == ("loss", reason)
    assert Spec(sizes=(4, 2), loss="cross-entropy").num_layers == 1
    for loss in ("sum", "sum-mse", "mse"):
        assert Spec(sizes=(4, 1), loss=loss).sizes == (4, 1)


@pytest.mark.parametrize("trace", ["0:0:0,1", "0:5:1,2", " 0 : 0 : 0 , 1 "])
def test_a_trace_counts_layers_from_one(trace):
    error = refused(TrainSpec, trace=trace)
    assert error.field == "trace"
    assert "(layer from 1)" in error.reason and TRACE in error.reason


@pytest.mark.parametrize(
    ("trace", "indexes"),
    [("", None), ("2:0:0,1", (2, 0, 0, 1)), ("3:4:7,9", (3, 4, 7, 9)), ("1:0:5,5", (1, 0, 5, 5))],
)
def test_trace_indexes(trace, indexes):
    assert TrainSpec(trace=trace).trace_indexes() == indexes


@pytest.mark.parametrize(
    "messy", [" 2:0:0,1", "2 : 0 : 0 , 1", "\t2:0:0,1\n", "02:00:0,01", "2:0:0,1\x1c"]
)
def test_a_trace_is_held_in_one_form(messy):
    """Spaces and leading zeros typed in a trace are dropped, so its text, dict and TOML
    forms read back the same, and the TOML never holds a raw control character."""
    plan = TrainSpec(trace=messy)
    assert plan.trace == "2:0:0,1" and plan.trace_indexes() == (2, 0, 0, 1)
    assert plan.with_text(**plan.texts()) == plan
    assert TrainSpec.from_dict(tomllib.loads(plan.to_toml())) == plan


# -- round trips --------------------------------------------------------------------------

OTHER_VALUES = {
    "sizes": [(1, 1), (7, 3, 2), (10**9, 1), (2,) * (MAX_LAYERS + 1)],
    "activation": list(ACTIVATIONS),
    "final_activation": ["same", "none", *ACTIVATIONS],
    "loss": list(LOSSES),
    "target": [0.0, -0.0, 0.1, 1e-05, 123456789.123, -1e308, 5e-324, 1 / 3, 1e16, 2.5e-310],
    "batch_size": [1, 64, 10**9],
    "input": ["normal", "uniform01", "uniform11"],
    "init": [*INIT_NAMES, "normal:0.01", "normal:1e-3", "normal:+2.5", "normal:.5", "normal:3E1"],
    "bias": [True, False],
    "norm": ["none", "layer"],  # batch, with a batch of 2: test_batch_norm_needs_a_batch
    "residual": [True, False],
    "seed": [0, 1, 2**32, 2**63 - 1],
    "device": ["auto", "cpu", "cuda", "cuda:0", "cuda:7", "cuda:007"],
    "dtype": ["float32", "float64"],
    "bins": [1, 50, MAX_BINS],
    "model": ["", "nets/my_net.py", "mypkg.nets", "a b/c.py"],
    "checkpoint": [""],  # with a model: test_a_checkpoint_needs_a_model
    "layers": ["", "conv|fc", r"^blocks\.0\.", "[a-z]+_proj"],
    "task": list(TASKS),
    "steps": [1, 300, 1_000_000],
    "lr": [0.1, 1e-9, 5e-324, 3.0, 1e300, 0.30000000000000004],
    "optimizer": ["sgd", "momentum", "adam"],
    "samples": [8, 500, 1_000_000],
    "noise": [0.0, 0.2, 1e-300, 7.0],
    "threshold": [0.2, 1e-12, 1e10],
    "trace": ["", "2:0:0,1", "1:0:1,0", "256:999999999:999999999,0"],
}


def test_a_checkpoint_needs_a_model_and_a_model_spec_stores_no_mlp_field():
    error = refused(Spec, checkpoint="w.pt")
    assert error.field == "checkpoint"
    assert error.reason == "loads weights into --model's network; give --model too"
    spec = Spec(model="nets/a.py", checkpoint="runs/w.pt", layers="fc")
    assert_round_trips(spec)
    assert "sizes" not in tomllib.loads(spec.to_toml())
    assert spec.stored_fields() == ("model", "checkpoint", "seed", "device", "dtype", "bins",
                                    "layers")  # fmt: skip
    error = pytest.raises(SpecError, Spec.from_dict, {"model": "a.py", "sizes": [2, 2]}).value
    assert error.field == "config" and "'sizes' describes the built-in MLP" in error.reason
    assert not spec.applies("sizes") and spec.applies("seed") and spec.applies("checkpoint")
    assert Spec().applies("sizes") and not Spec().applies("checkpoint")
    assert Spec(model="nets/a.py").applies("checkpoint")  # a model's, empty or not


def test_every_field_has_round_trip_values():
    assert set(OTHER_VALUES) == set(FIELDS) | set(TRAIN_FIELDS)


def assert_round_trips(spec) -> None:
    cls = type(spec)
    texts = spec.texts()
    assert list(texts) == [info.name for info in cls.fields()]
    assert all(isinstance(text, str) for text in texts.values())
    assert cls().with_text(**texts) == spec
    assert cls.from_texts(**texts) == spec
    for name, text in texts.items():  # one field at a time, too
        assert spec.with_text(**{name: text}) == spec
    data = spec.to_dict()
    assert list(data) == list(texts)
    assert not any(isinstance(v, tuple) for v in data.values())
    stored = getattr(spec, "stored_fields", lambda: tuple(texts))()
    assert cls.from_dict({name: data[name] for name in stored}) == spec
    toml = spec.to_toml()
    assert toml.endswith("\n") and len(toml.splitlines()) == len(stored)
    loaded = tomllib.loads(toml)
    assert list(loaded) == list(stored)
    assert cls.from_dict(loaded) == spec


@pytest.mark.parametrize(
    ("field", "cases"), by_field([(f, v) for f, values in OTHER_VALUES.items() for v in values])
)
def test_each_field_value_round_trips_through_text_dict_and_toml(field, cases):
    for (value,) in cases:
        spec = OWNER[field]().replace(**{field: value})
        assert getattr(spec, field) == value
        assert_round_trips(spec)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        (100.0, "100"),
        (-5.0, "-5"),
        (0.0, "0"),
        (-0.0, "-0"),
        (123456789.123, "123456789.123"),
        (-1e308, "-1e+308"),
        (1e16, "1e+16"),
        (1 / 3, "0.3333333333333333"),
        (0.30000000000000004, "0.30000000000000004"),
        (5e-324, "4.94066e-324"),
    ],
)
def test_a_float_field_text_is_short_and_reads_back_exactly(value, text):
    spec = Spec(target=value)
    assert spec.field_text("target") == float_text(value) == text
    back = parse_float(text)
    assert back == value and math.copysign(1, back) == math.copysign(1, value)
    assert Spec().with_text(target=text).target == value
    assert tomllib.loads(f"x = {toml_value(value)}")["x"] == value


@HYPOTHESIS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_text_reads_back_exactly(value):
    text = float_text(value)
    assert parse_float(text) == value
    assert tomllib.loads(f"x = {text}")["x"] == value
    assert Spec().with_text(target=text).target == value


def test_toml_values_are_toml_literals():
    assert toml_value(True) == "true" and toml_value(False) == "false"
    assert toml_value((1, 2)) == "[1, 2]" and toml_value(7) == "7"
    for value in ('a "quoted" word', "back\\slash", "", "2:0:0,1", 2**63 - 1, [1, 2], 0.1):
        assert tomllib.loads(f"x = {toml_value(value)}")["x"] == value


def test_an_unknown_dict_key_is_refused_naming_it():
    error = pytest.raises(SpecError, Spec.from_dict, {"bins": 5, "colour": "red"}).value
    assert error.field == "config"
    assert error.reason == "unknown field 'colour'; allowed: " + ", ".join(FIELDS)
    error = pytest.raises(SpecError, TrainSpec.from_dict, {"zeta": 1, "alpha": 2}).value
    assert (error.field, error.reason.split(";")[0]) == ("config", "unknown field 'alpha'")
    assert ", ".join(TRAIN_FIELDS) in error.reason
    # A Spec's fields are not a TrainSpec's, nor the other way round.
    with pytest.raises(SpecError, match="config: unknown field 'lr'"):
        Spec.from_dict(TrainSpec().to_dict())
    with pytest.raises(SpecError, match="config: unknown field 'activation'"):
        TrainSpec.from_dict(Spec().to_dict())


def test_a_partial_dict_keeps_the_other_defaults():
    assert Spec.from_dict({}) == Spec()
    assert Spec.from_dict({"bins": 7}) == Spec(bins=7)
    assert TrainSpec.from_dict({"lr": 0.5}) == TrainSpec(lr=0.5)


def test_a_spec_file_round_trips(tmp_path):
    spec = Spec(
        sizes=(8, 16, 2),
        activation="gelu",
        final_activation="none",
        loss="cross-entropy",
        target=-1e-05,
        batch_size=32,
        input="uniform11",
        init="normal:1e-39",
        bias=False,
        norm="batch",
        residual=True,
        seed=2**63 - 1,
        device="cuda:1",
        dtype="float64",
        bins=1000,
        layers="linears",
    )
    # Every field but a user's model's own two, which the MLP's fields exclude.
    assert all(
        getattr(spec, name) != info.default
        for name, info in zip(FIELDS, Spec.fields())
        if name not in ("model", "checkpoint")
    )
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml(), encoding="utf-8")
    assert Spec.load(path) == spec
    assert Spec.load(str(path)) == spec
    path.write_text("bins = 9\n", encoding="utf-8")
    assert Spec.load(path) == Spec(bins=9)
    path.write_text('bins = 9\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(SpecError, match="config: unknown field 'colour'"):
        Spec.load(path)


def test_a_missing_spec_file_is_a_config_error(tmp_path):
    error = pytest.raises(SpecError, Spec.load, tmp_path / "nowhere.toml").value
    assert error.field == "config"


# -- generated specs ----------------------------------------------------------------------

SIZE = st.integers(1, 10**9)
POSITIVE = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)


@st.composite
def specs(draw) -> Spec:
    sizes = draw(st.lists(SIZE, min_size=2, max_size=8))
    if draw(st.integers(0, 9)) == 0:  # now and then, as many layers as allowed or nearly
        sizes += [sizes[-1]] * (MAX_LAYERS + 1 - len(sizes) - draw(st.integers(0, 2)))
    losses = LOSSES if sizes[-1] >= 2 else tuple(x for x in LOSSES if x != "cross-entropy")
    dtype = draw(st.sampled_from(tuple(FLOAT_RANGES)))
    tiny, huge = FLOAT_RANGES[dtype]
    std = st.floats(min_value=tiny, max_value=huge / 16)
    batch_size = draw(st.integers(1, 10**9))
    return Spec(
        sizes=tuple(sizes),
        activation=draw(st.sampled_from(tuple(ACTIVATIONS))),
        final_activation=draw(st.sampled_from(("same", "none", *ACTIVATIONS))),
        loss=draw(st.sampled_from(losses)),
        target=draw(st.floats(allow_nan=False, allow_infinity=False)),
        batch_size=batch_size,
        input=draw(st.sampled_from(("normal", "uniform01", "uniform11"))),
        init=draw(
            st.one_of(
                st.sampled_from(INIT_NAMES),
                std.map(lambda s: "normal:" + float_text(s)),
                std.map(lambda s: f"normal:{s!r}"),
            )
        ),
        bias=draw(st.booleans()),
        norm=draw(st.sampled_from(NORMS if batch_size > 1 else ("none", "layer"))),
        residual=draw(st.booleans()),
        seed=draw(st.integers(0, 2**63 - 1)),
        device=draw(
            st.one_of(
                st.sampled_from(("auto", "cpu", "cuda")),
                st.integers(0, 10**6).map(lambda n: f"cuda:{n}"),
            )
        ),
        dtype=dtype,
        bins=draw(st.integers(1, MAX_BINS)),
    )


INDEX = st.integers(0, 10**9 - 1)
SPACE = st.text(" \t\n", max_size=2)


@st.composite
def traces(draw) -> str:
    if draw(st.booleans()):
        return ""
    numbers = (draw(st.integers(1, MAX_LAYERS)), draw(INDEX), draw(INDEX), draw(INDEX))
    parts = [draw(SPACE)]
    for number, separator in zip(numbers, (":", ":", ",", "")):
        parts += [str(number), draw(SPACE), separator, draw(SPACE) if separator else ""]
    return "".join(parts)


train_specs = st.builds(
    TrainSpec,
    task=st.sampled_from(TASKS),
    steps=st.integers(1, 1_000_000),
    lr=POSITIVE,
    optimizer=st.sampled_from(("sgd", "momentum", "adam")),
    samples=st.integers(8, 1_000_000),
    noise=st.floats(min_value=0.0, allow_infinity=False),
    threshold=POSITIVE,
    trace=traces(),
)


@HYPOTHESIS
@given(specs())
def test_generated_specs_round_trip(spec):
    assert_round_trips(spec)


@HYPOTHESIS
@given(train_specs)
def test_generated_train_specs_round_trip(plan):
    assert_round_trips(plan)


@HYPOTHESIS
@given(
    st.sampled_from(sorted(INT_RANGES)),
    st.one_of(st.integers(max_value=-1), st.integers(min_value=1)),
)
def test_generated_out_of_range_whole_numbers_are_refused(field, offset):
    low, high = INT_RANGES[field]
    value = low + offset if offset < 0 else high + offset
    assert not low <= value <= high
    for error in (
        refused(OWNER[field], **{field: value}),
        refused_text(OWNER[field], field, str(value)),
    ):
        assert error.field == field
        assert f"must be a whole number from {low} to {high}, got {value}" in error.reason


ANY_TEXT = st.one_of(
    st.text(max_size=12),
    st.text("0123456789-+.,:eE _٤１ \t", max_size=12),
    st.sampled_from([text for _, text, _ in REFUSED_TEXTS]),
)
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(-3, 10**10), max_size=4),
    st.sampled_from([10**400, -(10**400), 2**63, (3, True)]),
)


@HYPOTHESIS
@given(st.sampled_from(sorted(OWNER)), ANY_TEXT)
def test_any_text_gives_a_valid_spec_or_a_spec_error_naming_its_field(field, text):
    cls = OWNER[field]
    try:
        spec = cls().with_text(**{field: text})
    except SpecError as error:
        assert error.field == field and error.reason
        return
    assert KINDS[field].check(getattr(spec, field)) == getattr(spec, field)
    assert spec.with_text(**spec.texts()) == spec


@HYPOTHESIS
@given(st.sampled_from(sorted(OWNER)), ANY_VALUE)
def test_any_value_gives_a_valid_spec_or_a_spec_error_naming_its_field(field, value):
    cls = OWNER[field]
    try:
        spec = cls.from_dict({field: value})
    except SpecError as error:
        assert error.field == field and error.reason
        return
    assert cls.from_dict(tomllib.loads(spec.to_toml())) == spec


# -- presets ------------------------------------------------------------------------------


def test_preset_names_are_the_ones_preset_accepts():
    assert list(PRESETS) == [
        "seed-v1.0",
        "seed-v1.1",
        "seed-v2.0",
        "seed-v3.0",
        "deep-sigmoid",
        "deep-sigmoid-residual-layernorm",
    ]
    for name, entry in PRESETS.items():
        assert entry.name == name
        assert preset(name) is entry.spec


@pytest.mark.parametrize("name", ["seed-v4.0", "", "SEED-V1.0", "seed-v1.0 ", "v1.0"])
def test_an_unknown_preset_lists_the_known_ones(name):
    error = pytest.raises(SpecError, preset, name).value
    assert error.field == "preset"
    assert error.reason == f"unknown preset {name!r}; allowed: " + ", ".join(PRESETS)


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_is_valid_and_does_what_its_description_says(name):
    entry = PRESETS[name]
    spec, description = entry.spec, entry.description
    assert Spec.from_dict(spec.to_dict()) == spec
    assert_round_trips(spec)
    # Only what the post varies differs from the defaults: seed, batch, init, dtype are
    # what reproduce the post bit for bit. The deep presets vary the layers' blocks.
    changed = {f for f in FIELDS if getattr(spec, f) != getattr(Spec(), f)}
    if name.startswith("seed-"):
        version = name.removeprefix("seed-")
        assert description.startswith(f"the post's {version}: ")
        assert changed <= {"sizes", "activation", "loss", "target"}
    else:
        assert changed <= {"sizes", "activation", "norm", "residual"}
    claims = 0
    if match := re.search(r"(\d+) (\w+) layers", description):
        assert spec.num_layers == int(match[1]) and spec.activation == match[2]
        assert len(set(spec.sizes)) == 1  # the post's layers are all alike
        claims += 1
    if "sum loss" in description:
        assert spec.loss == "sum"
        claims += 1
    if match := re.search(r"\(sum\(output\) - (\d+)\)\^2 loss", description):
        assert (spec.loss, spec.target) == ("sum-mse", float(match[1]))
        claims += 1
    if match := re.search(r"as deep-sigmoid with residual on and norm (\w+);", description):
        assert spec == PRESETS["deep-sigmoid"].spec.replace(norm=match[1], residual=True)
        claims += 1
    if match := re.search(r"as (v[\d.]+) with ([^;]+)", description):
        base = PRESETS[f"seed-{match[1]}"].spec
        if match[2] in ACTIVATIONS:
            assert spec == base.replace(activation=match[2])
        else:
            assert (spec.sizes, spec.activation) == (base.sizes, base.activation)
        claims += 1
    assert claims >= 1, description


# -- parse_activations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("sigmoid,tanh", ("sigmoid", "tanh")),
        (" sigmoid , tanh ,relu", ("sigmoid", "tanh", "relu")),
        ("mish,identity,softplus,gelu", ("mish", "identity", "softplus", "gelu")),
        ("tanh,sigmoid", ("tanh", "sigmoid")),
    ],
)
def test_parse_activations_keeps_the_order(text, names):
    assert parse_activations(text) == names


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "an empty item; " + ACTS),
        ("sigmoid,,tanh", "an empty item; " + ACTS),
        ("sigmoid,tanh,", "an empty item; " + ACTS),
        (",sigmoid,tanh", "an empty item; " + ACTS),
        ("sigmoid,softmax", "unknown activation 'softmax'; " + ACTS),
        ("Sigmoid,tanh", "unknown activation 'Sigmoid'; " + ACTS),
        ("sigmoid;tanh", "unknown activation 'sigmoid;tanh'; " + ACTS),
        ("sigmoid", "give 2 to 4 different activations, e.g. sigmoid,tanh; got 'sigmoid'"),
        ("sigmoid,sigmoid", "give 2 to 4 different activations"),
        ("sigmoid,tanh, sigmoid", "give 2 to 4 different activations"),
        ("sigmoid,tanh,relu,elu,gelu", "give 2 to 4 different activations"),
    ],
)
def test_parse_activations_refuses(text, reason):
    error = pytest.raises(SpecError, parse_activations, text).value
    assert error.field == "activations"
    assert error.reason == reason or error.reason.startswith(reason)


@HYPOTHESIS
@given(st.lists(st.sampled_from(tuple(ACTIVATIONS)), min_size=1, max_size=6))
def test_parse_activations_takes_two_to_four_distinct_names(names):
    text = ",".join(names)
    if 2 <= len(names) <= 4 and len(set(names)) == len(names):
        assert parse_activations(text) == tuple(names)
    else:
        assert pytest.raises(SpecError, parse_activations, text).value.field == "activations"


# -- the activation catalogue -------------------------------------------------------------


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_activations_facts_agree(name):
    facts = ACTIVATIONS[name]
    assert facts.name == name
    if facts.saturation is not None:
        low, high = facts.saturation
        assert low < high
        if facts.non_negative:
            assert low >= 0
    if facts.dead_at_zero:
        assert facts.non_negative
    assert facts.gain in {"sigmoid", "tanh", "relu", "leaky_relu", "linear"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.gain = "tanh"  # type: ignore[misc]


def test_the_catalogue_facts_the_findings_rely_on():
    assert {n for n, a in ACTIVATIONS.items() if a.non_negative} == {"sigmoid", "relu", "softplus"}
    assert {n for n, a in ACTIVATIONS.items() if a.dead_at_zero} == {"relu"}
    assert {n for n, a in ACTIVATIONS.items() if a.saturation} == {"sigmoid", "tanh"}
    assert ACTIVATIONS["sigmoid"].saturation == (0.03, 0.97)
    assert ACTIVATIONS["tanh"].saturation == (-0.97, 0.97)
    assert ACTIVATIONS["identity"].gain == "linear"
    assert list(ACTIVATIONS)[:3] == ["sigmoid", "tanh", "relu"]


# -- the strict parsers -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("42", 42), ("+7", 7), ("-3", -3), ("007", 7)])
def test_parse_int_reads_ascii_digits(text, value):
    assert parse_int(text) == value


@pytest.mark.parametrize("text", ["1_00", "٤٢", "１００", " 4", "4.0", "", "+", "0b1"])
def test_parse_int_refuses_what_python_would_take_or_guess(text):
    with pytest.raises(ValueError, match="expected a whole number like 42"):
        parse_int(text)


@pytest.mark.parametrize("text", ["1_0.5", "٤٢", "１００", " 4", "nan", "Infinity", "1e400", "."])
def test_parse_float_refuses_what_python_would_take(text):
    with pytest.raises(ValueError, match="expected a number like|must be a finite number"):
        parse_float(text)


# -- describe -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            SpecError("bins", "must be a whole number from 1 to 1000, got 0"),
            "bins: must be a whole number from 1 to 1000, got 0",
        ),
        (
            SpecError("config", "cannot read x.toml: no such file\nmore"),
            "config: cannot read x.toml: no such file\nmore",
        ),
        (
            RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\nDetails follow"),
            "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB",
        ),
        (ValueError(""), "ValueError: "),
        (KeyError("x"), "KeyError: 'x'"),
        (OSError("disk full"), "OSError: disk full"),
        (KeyboardInterrupt(), "KeyboardInterrupt: "),
    ],
)
def test_describe(error, line):
    assert describe(error) == line


def test_describe_a_real_refusal():
    error = refused_text(Spec, "batch_size", "0")
    assert describe(error) == "batch_size: must be a whole number from 1 to 1000000000, got 0"
    assert describe(error) == str(error)


def test_the_layers_norm_and_residual_in_words_for_the_summaries():
    assert Spec().block_text() == ""  # the seed presets' summaries stay as they were
    assert Spec(norm="layer").block_text() == "layer norm"
    assert Spec(residual=True).block_text() == "residual"
    assert Spec(norm="layer", residual=True).block_text() == "layer norm, residual"
