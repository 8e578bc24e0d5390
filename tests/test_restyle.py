"""The restyles left out at start (gradtui.tui.restyle) changed nothing: every widget of
each first screen has the styles a full restyle gives it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from textual.widgets import Input

from gradtui.spec import preset
from gradtui.tui.app import make_app
from gradtui.tui.widgets.form import ChoiceLine, FieldSelect, TypedInput


def rules_of(widget) -> dict[str, str]:
    """Every style rule the widget has, written out (a layout compares by identity)."""
    return {name: repr(value) for name, value in widget.styles.get_rules().items()}


def styles_of(screen) -> dict:
    """Per widget (by its place in the DOM), every style rule it has and its text style."""
    return {
        (index, type(widget).__name__): (rules_of(widget), widget.rich_style)
        for index, widget in enumerate(screen.walk_children(with_self=True))
    }


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_the_probe_view_starts_styled_as_a_full_restyle_styles_it(size):
    app = make_app(preset("seed-v2.0").replace(device="cpu"))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen._shown_before  # its first resume came, and left the restyle out
        first = styles_of(screen)
        assert len(first) > 60  # the whole form and the results pane
        app.update_styles(screen)  # what the first resume did before
        await pilot.pause()
        assert styles_of(screen) == first


async def test_the_train_view_starts_styled_as_a_full_restyle_styles_it():
    app = make_app(preset("seed-v2.0").replace(device="cpu"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "TrainScreen"
        first = styles_of(screen)
        app.update_styles(screen)
        await pilot.pause()
        assert styles_of(screen) == first


@contextmanager
def restyles(app) -> Iterator[list]:
    """The nodes `app` restyles (a change of their classes) inside the block."""
    restyled: list = []
    update = app.update_styles
    app.update_styles = lambda node, animate=True: (restyled.append(node), update(node))
    try:
        yield restyled
    finally:
        app.update_styles = update


async def test_a_field_built_outside_the_dom_is_styled_as_it_mounts():
    app = make_app(preset("seed-v2.0").replace(device="cpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        with restyles(app) as restyled:
            field = TypedInput("12", compact=True)
            plain = Input("12", compact=True)  # restyled as it is built, as Textual does
        assert restyled == [plain, plain]  # compact, then valid: none for ours
        await app.screen.mount(field, plain)
        await pilot.pause()
        assert field.has_class("-textual-compact", "-valid")
        assert rules_of(field) == rules_of(plain)
        assert field.rich_style == plain.rich_style


async def test_a_list_field_mounts_showing_its_choice_with_no_restyle():
    app = make_app(preset("seed-v2.0").replace(device="cpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        field = FieldSelect([("a", "a"), ("b", "b")], value="b", allow_blank=False, compact=True)
        with restyles(app) as restyled:
            await app.screen.mount(field)
            await pilot.pause()
        line = field.query_one(ChoiceLine)
        assert field.value == "b" and line.label == "b" and line.has_class("-has-value")
        assert line.render().plain.startswith("b")
        assert not [node for node in restyled if node in (field, line)]
        shown = rules_of(line), line.rich_style
        app.update_styles(line)
        assert (rules_of(line), line.rich_style) == shown
