"""The catalogue: every view derives the same fields, with the same defaults, from it."""

from __future__ import annotations

import argparse

import pytest
import torch
from textual import events
from textual.widgets import Input, Select

from gradtui.__main__ import build_parser
from gradtui.fields import (
    ACTIVATIONS,
    Choice,
    Float,
    Init,
    Int,
    Pattern,
    Regex,
    Sizes,
    Switch,
    Text,
)
from gradtui.lab.model import ACTIVATION_MODULES, build_model
from gradtui.lab.probe import run_probe
from gradtui.spec import Spec, TrainSpec
from gradtui.tui.app import make_app
from gradtui.tui.widgets.form import ChoiceLine, FieldForm, FieldRow


def test_the_lab_maps_every_catalogued_activation_to_a_module():
    assert set(ACTIVATION_MODULES) == set(ACTIVATIONS)
    x = torch.linspace(-6, 6, 1001)
    for name, facts in ACTIVATIONS.items():
        y = ACTIVATION_MODULES[name]()(x)
        # The facts the findings rely on hold for the module itself.
        assert facts.non_negative == bool((y >= 0).all()), name
        if facts.dead_at_zero:
            assert (y[x < 0] == 0).all(), name
        if facts.saturation is not None:
            low, high = facts.saturation
            assert y.min() < low and y.max() > high, name  # both flat regions reachable
        assert torch.nn.init.calculate_gain(facts.gain, 0.01) > 0  # a name torch knows


def test_mish_is_one_catalogue_entry_and_one_module():
    """The proof that adding an activation is a catalogue entry and a line in the lab."""
    spec = Spec(sizes=(6, 5, 4), activation="mish", seed=3, dtype="float64")
    result = run_probe(spec.replace(device="cpu"))
    torch.manual_seed(3)
    model = build_model(spec)
    x = torch.randn(1, 6).double()
    h = torch.nn.functional.mish(model.linears[0](x))
    out = torch.nn.functional.mish(model.linears[1](h))
    out.sum().backward()
    assert result.layers[0].activation_name == "mish"
    assert result.layers[1].weight_grad.norm == pytest.approx(
        model.linears[1].weight.grad.norm().item(), rel=1e-12
    )


def cli_defaults(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """Each field flag of `command` and the default its help states."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for action in sub.choices[command]._actions:
        if action.help and "(default: " in action.help and action.option_strings:
            out[action.dest] = action.help.rsplit("(default: ", 1)[1].rstrip(")")
    return out


async def form_defaults(form: FieldForm) -> dict[str, tuple[str, tuple[str, ...] | None]]:
    out = {}
    for row in form.query(FieldRow):
        editor = row.editor
        options = None
        if isinstance(editor, Select):
            options = tuple(str(value) for _, value in editor._options)
        out[row.field_name] = (row.text, options)
    return out


async def test_cli_config_pane_and_train_form_offer_the_catalogues_fields_and_defaults():
    parser = build_parser()
    app = make_app(Spec(device="cpu"))
    async with app.run_test(size=(120, 40)) as pilot:
        probe_form = await form_defaults(app.screen.query_one(FieldForm))
        await pilot.press("t")
        await pilot.pause()
        train_form = await form_defaults(app.screen.query_one(FieldForm))
    for cls, form, command in ((Spec, probe_form, "probe"), (TrainSpec, train_form, "train")):
        catalogue = {info.name: info for info in cls.fields()}
        flags = cli_defaults(parser, command)
        extra = {"compare"} if cls is TrainSpec else set()  # the Train view's own field
        assert set(form) == set(catalogue) | extra
        assert set(catalogue) <= set(flags)
        for name, info in catalogue.items():
            # An empty default (trace) reads "none", as does the norm's value none.
            assert flags[name] == (info.default_text or "none"), name
            text, options = form[name]
            if name == "device":
                continue  # the app's form starts from the Spec it was given (cpu here)
            assert text == info.default_text, name
            if isinstance(info.kind, Choice | Switch):
                assert options == info.kind.choices, name
            else:
                assert options is None, name  # typed in an Input


async def test_a_list_field_shows_its_choice_and_opens_closes_and_picks_by_keys():
    """The closed line of a list field is drawn as one text (ChoiceLine): it shows the
    value the Select holds, the arrow turns while the list is open, a long choice ends in
    an ellipsis rather than being cut, and the keys pick as Textual's Select does."""
    app = make_app(Spec(device="cpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        select = app.screen.query_one("#field-activation", Select)
        line = select.query_one(ChoiceLine)
        assert list(select.query("*")) == [line]  # the list is made when it first opens
        text = str(line.render())
        assert text.split() == ["sigmoid", "▼"] and len(text) == line.content_region.width
        row = app.screen.query_one("#row-activation", FieldRow)
        assert str(row.render()) == "act     "  # the label, drawn by the row beside its list
        assert "reverse" not in str(row.render().style)
        select.focus()
        await pilot.pause()
        assert "reverse" in str(row.render().style)  # the field being edited shows by name
        await pilot.press("space")
        await pilot.pause()
        assert select.expanded and str(line.render()).split() == ["sigmoid", "▲"]
        overlay = select.overlay
        assert overlay is not None and app.screen.focused is overlay
        assert [str(overlay.get_option_at_index(i).prompt) for i in range(3)] == [
            "sigmoid",
            "tanh",
            "relu",
        ]
        assert overlay.highlighted == 0  # the value's own option
        await pilot.press("down", "enter")
        assert not select.expanded and select.value == "tanh"
        assert str(line.render()).split() == ["tanh", "▼"]
        assert select.overlay is overlay and app.screen.focused is select
        assert app.screen.query_one(FieldForm).value.activation == "tanh"
        preset = app.screen.query_one("#field-preset", Select)
        assert preset.value == "seed-v3.0"
        preset.value = "deep-sigmoid-residual-layernorm"
        await pilot.pause()
        shown = str(preset.query_one(ChoiceLine).render())
        assert shown.startswith("deep-sigmoid-resi") and shown.endswith("… ▼")
        preset.value = Select.NULL
        await pilot.pause()
        assert str(preset.query_one(ChoiceLine).render()).split() == ["custom", "▼"]
        assert preset.overlay is None  # never opened
        select.value = "relu"  # set as the form's load does: the made list follows
        await pilot.pause()
        assert overlay.highlighted == 2 and str(line.render()).split() == ["relu", "▼"]
        assert app.screen.query_one(FieldForm).value.activation == "relu"


def test_each_kind_says_what_it_allows_in_words():
    assert Float().allowed() == "a finite number"
    assert Float(0.0).allowed() == "a positive number"
    assert Float(0.0, closed=True).allowed() == "a number >= 0"
    assert Float(1.5).allowed() == "a number > 1.5"
    assert Float(-2.0, closed=True).allowed() == "a number >= -2"
    assert Sizes(max_layers=3).allowed() == "N+1 positive integers for N layers"
    assert Int(1, 5).allowed() == "1 to 5"
    assert Choice(("a", "b")).allowed() == "a, b"
    assert Switch().allowed() == "on, off"
    assert Pattern("x+", "one x or more").allowed() == "one x or more"
    assert Init(("default", "orthogonal")).allowed() == "default, orthogonal, normal:STD"
    assert Regex().allowed() == (
        "a Python regular expression, matched anywhere in the name (re.search)"
    )


def test_the_text_forms_of_a_switch_and_an_empty_size():
    assert Switch().text(False) == "off" and Switch().text(True) == "on"
    assert Spec(bias=False).field_text("bias") == "off"
    with pytest.raises(ValueError) as error:
        Sizes(max_layers=3).parse("4,,2")
    assert str(error.value) == (
        "an empty item in '4,,2'; give comma-separated positive integers like 100,100,100"
    )


def test_an_integer_beyond_any_float_is_refused_in_words():
    with pytest.raises(ValueError) as error:
        Float().check(10**400)
    assert str(error.value) == "must be a finite number, got an integer too large for a float"


def test_norm_and_residual_are_one_declaration_each_and_the_views_derive_them():
    """The MLP's blocks: a Choice and a Switch in the catalogue give the flags (with
    --no-residual, as for any switch), the TOML keys and, above, the config pane's rows."""
    infos = {info.name: info for info in Spec.fields()}
    assert isinstance(infos["norm"].kind, Choice) and isinstance(infos["residual"].kind, Switch)
    assert infos["norm"].kind.choices == ("none", "batch", "layer")
    flags = cli_defaults(build_parser(), "probe")
    assert flags["norm"] == "none" and flags["residual"] == "off"
    args = build_parser().parse_args(["probe", "--norm", "layer", "--no-residual"])
    assert (args.norm, args.residual) == ("layer", "off")
    assert 'norm = "none"\nresidual = false\n' in Spec().to_toml()


def test_text_regex_and_sizes_refusals_say_what_was_expected_and_what_came():
    path = Text("a path or a module")
    assert path.check("") == "" and path.check("net.py") == "net.py"
    refusals = {
        (path, 3): "expected a path or a module, got 3",
        (Text("a name", allow_empty=False), ""): "expected a name, got nothing",
        (path, " net.py"): (
            "expected a path or a module: printable text without surrounding spaces, got ' net.py'"
        ),
        (path, "net\x00.py"): (
            "expected a path or a module: printable text without surrounding spaces, "
            "got 'net\\x00.py'"
        ),
        (Regex(), "a\tb"): "expected a regular expression, got 'a\\tb'",
        (Regex(), "fc("): (
            "not a regular expression (missing ), unterminated subpattern at position 2): 'fc('"
        ),
        (Sizes(max_layers=3), (5,)): (
            "needs the input size and at least one layer size, e.g. 100,100"
        ),
    }
    for (kind, value), reason in refusals.items():
        with pytest.raises(ValueError) as caught:
            kind.check(value)
        assert str(caught.value) == reason, value


# -- keys that arrive together ------------------------------------------------------------

KEYS = {"backspace": "\x7f", "tab": "\t", "slash": "/", "escape": "\x1b"}
"""The character of each named key; keys of one character are their own, other named
keys (arrows, home, end, shift+tab, ctrl+r) have none."""


def arrive_together(app, *keys: str) -> None:
    """Post keys to the app as its driver does when they come in one read (a fast typist
    over SSH, keys sent by a script): no pause between them, unlike pilot.press."""
    for key in keys:
        character = KEYS.get(key, key if len(key) == 1 else None)
        app.post_message(events.Key(key, character))


async def test_keys_typed_together_edit_a_field_in_their_order_and_ctrl_r_runs_the_result():
    app = make_app(Spec(device="cpu", sizes=(6, 5, 4)))
    async with app.run_test(size=(80, 24)) as pilot:
        seed = app.screen.query_one("#field-seed", Input)
        seed.focus()
        seed.value = ""
        await pilot.pause()
        arrive_together(app, "1", "2", "backspace", "3", "left", "left", "9", "home", "7")
        arrive_together(app, "end", "backspace", "5", "ctrl+r")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert seed.value == "7915"  # 13, then 913, 7913, 791, 7915
        assert app.result is not None and app.result.spec.seed == 7915  # not the form before
        assert app.screen.query_one(FieldForm).value.seed == 7915


async def focus_train_steps(pilot, text: str) -> Input:
    """The Train view's steps field, holding `text`, with focus."""
    await pilot.press("t")
    await pilot.pause()
    steps = pilot.app.screen.query_one("#field-steps", Input)
    steps.focus()
    steps.value = text
    await pilot.pause()
    return steps


async def test_keys_typed_together_in_the_train_form_reach_the_run_that_follows():
    app = make_app(Spec(device="cpu", sizes=(2, 8, 2)))
    async with app.run_test(size=(80, 24)) as pilot:
        steps = await focus_train_steps(pilot, "30")
        arrive_together(app, "backspace", "backspace", "1", "2", "backspace", "4", "ctrl+r")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert steps.value == "14"
        assert [len(run.steps) for run in app.screen.runs] == [14]


async def test_keys_typed_together_after_a_tab_go_to_the_field_the_tab_reached():
    """The app hands each key to the widget focused as it reads it; a tab's move came
    later, so the keys after it went into the field it left, or were lost."""
    app = make_app(Spec(device="cpu", sizes=(6, 5, 4)))
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.screen.query_one(FieldForm)
        arrive_together(app, *["tab"] * 8, "end", "7")  # from nothing focused to batch
        for _ in range(4):
            await pilot.pause()
        assert app.focused.id == "field-batch_size" and form.value.batch_size == 17
        arrive_together(app, "shift+tab", "end", "9", "tab", "tab", "home", "9")
        for _ in range(4):
            await pilot.pause()
        assert (form.value.target, form.value.batch_size) == (1009.0, 17)
        assert app.focused.id == "field-input"  # a list: the digit typed there stays in it
        assert form.value.input == "normal"
        arrive_together(app, "escape", "slash", "l", "x", "backspace", "s")
        for _ in range(4):
            await pilot.pause()
        assert app.focused.id == "filter" and app.screen.name_filter == "ls"


async def test_keys_typed_together_move_through_the_train_form():
    app = make_app(Spec(device="cpu", sizes=(2, 8, 2)))
    async with app.run_test(size=(80, 24)) as pilot:
        steps = await focus_train_steps(pilot, "300")
        arrive_together(app, "tab", "end", "backspace", "9")
        for _ in range(4):
            await pilot.pause()
        assert steps.value == "300" and app.focused.id == "field-lr"
        assert app.focused.value == "0.9"
