"""The configuration pane: a preset list, every Spec field, and the Run button."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Button, Select, Static

from gradtui.result import ModelInfo
from gradtui.spec import PRESETS, Spec
from gradtui.tui.widgets.form import FieldForm, FieldRow, FieldSelect


class ConfigPane(VerticalScroll):
    """The form over the probe's Spec. Its FieldForm posts `FieldForm.Changed` on every
    edit; the pane posts `RunRequested` on Enter in a field or the Run button."""

    DEFAULT_CSS = """
    ConfigPane {
        width: 32;
        padding: 0 1;
        background: $surface;
        border-right: vkey $panel-lighten-2;
        scrollbar-size-vertical: 1;
    }
    ConfigPane > FieldForm { width: 100%; height: auto; }
    ConfigPane > Button { margin: 1 0 0 8; }
    ConfigPane > #model-note { display: none; height: auto; color: $text-muted; }
    ConfigPane.-own-model > #model-note { display: block; }
    """

    can_focus = False
    """Tab goes straight to the first field."""

    @dataclass
    class RunRequested(Message):
        """Enter was pressed in a field, or the Run button."""

        pane: ConfigPane

    def __init__(self, spec: Spec, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = spec
        self._info: ModelInfo | None = None

    def compose(self) -> ComposeResult:
        presets = FieldSelect(
            [(name, name) for name in PRESETS],
            prompt="custom",
            compact=True,
            value=preset_of(self._initial) or Select.NULL,
            id="field-preset",
        )
        yield FieldRow("preset", "preset", presets, help="a named experiment: loads every field")
        yield FieldForm(self._initial)
        yield Button("Run (r)", id="run-button", variant="primary", compact=True)
        yield Static("", id="model-note")

    def on_mount(self) -> None:
        self._describe(self._initial)

    def describe_model(self, info: ModelInfo | None) -> None:
        """Say what the last probe found in the user's model (None: nothing yet)."""
        self._info = info
        self._describe(self.spec)

    def _describe(self, spec: Spec) -> None:
        self.set_class(not spec.builtin, "-own-model")
        if spec.builtin:
            return
        info = self._info
        found = (
            f"{info.source}\n{info.parameters:,} parameters in {info.tensors} tensors, "
            f"{info.modules} leaf modules.\n"
            if info is not None and info.source == spec.model
            else f"{spec.model}\nr probes it.\n"
        )
        self.query_one("#model-note", Static).update(
            found + "The file defines the network: the built-in MLP's fields are hidden."
        )

    @property
    def form(self) -> FieldForm:
        return self.query_one(FieldForm)

    @property
    def spec(self) -> Spec:
        """The last spec whose every field was valid."""
        return self.form.value

    @property
    def errors(self) -> dict[str, str]:
        return self.form.errors

    def load(self, spec: Spec) -> None:
        self.form.load(spec)

    def set_field(self, name: str, text: str) -> None:
        self.form.set_field(name, text)

    @on(FieldForm.Changed)
    def _show_preset(self, event: FieldForm.Changed) -> None:
        select = self.query_one("#field-preset", Select)
        with self.prevent(Select.Changed):
            select.value = preset_of(event.value) or Select.NULL
        if event.value is not None:
            self._describe(event.value)

    @on(FieldForm.Submitted)
    @on(Button.Pressed, "#run-button")
    def _run(self, event: FieldForm.Submitted | Button.Pressed) -> None:
        event.stop()
        self.post_message(self.RunRequested(self))

    @on(Select.Changed, "#field-preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        event.stop()
        # The list's own first event (at mount) names the preset already shown: no load.
        if event.value is not Select.NULL and event.value != preset_of(self.spec):
            device = self.spec.device
            self.form.load(PRESETS[str(event.value)].spec.replace(device=device))


def preset_of(spec: Spec | None) -> str | None:
    """The preset `spec` equals, if any (the device is not part of an experiment)."""
    if spec is None:
        return None
    for name, preset in PRESETS.items():
        if preset.spec == spec.replace(device=preset.spec.device):
            return name
    return None
