"""What the command palette (ctrl+p) offers: presets, views, activations and the actions."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from gradtui.plots import VIEW_TITLES
from gradtui.spec import ACTIVATIONS, PRESETS

if TYPE_CHECKING:
    from gradtui.tui.app import GradApp


def gradtui_commands(app: GradApp) -> Iterable[SystemCommand]:
    yield SystemCommand("Run", "Run the probe with the current configuration (r)", app.action_run)
    for preset in PRESETS.values():
        yield SystemCommand(
            f"Preset: {preset.name}", preset.description, partial(app.load_preset, preset.name)
        )
    for view, title in VIEW_TITLES.items():
        yield SystemCommand(f"View: {title}", f"Show {title}", partial(app.action_view, view))
    for activation in ACTIVATIONS:
        yield SystemCommand(
            f"Activation: {activation}",
            f"Use {activation} after every layer and run",
            partial(app.set_field_and_run, "activation", activation),
        )
    yield SystemCommand(
        "Toggle log counts", "Histogram bars on a log scale (l)", app.action_toggle_log
    )
    yield SystemCommand(
        "Toggle configuration pane", "Show or hide the form (c)", app.action_toggle_config
    )
    yield SystemCommand("Export JSON", "Write the current result as JSON (e)", app.action_export)
    yield SystemCommand("Save screenshot", "Save an SVG of the screen (s)", app.action_screenshot)
    yield SystemCommand("Help", "Keys and what each statistic means (?)", app.action_help)
