"""The configuration pane: every Spec field, editable from the keyboard, checked as typed."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from gradtui.spec import (
    ACTIVATIONS,
    DTYPES,
    FIELDS,
    FINAL_ACTIVATIONS,
    INITS,
    INPUTS,
    LOSSES,
    PRESETS,
    Spec,
    SpecError,
)

CHOICES: dict[str, tuple[str, ...]] = {
    "activation": ACTIVATIONS,
    "final_activation": FINAL_ACTIVATIONS,
    "loss": LOSSES,
    "input": INPUTS,
    "bias": ("on", "off"),
    "dtype": DTYPES,
}
"""Fields picked from a list; the others are typed."""

LABELS = {
    "sizes": "sizes",
    "activation": "act",
    "final_activation": "final",
    "loss": "loss",
    "target": "target",
    "batch_size": "batch",
    "input": "input",
    "init": "init",
    "bias": "bias",
    "seed": "seed",
    "device": "device",
    "dtype": "dtype",
    "bins": "bins",
}

SUGGESTIONS = {
    "init": [*INITS[:-1], "normal:0.01"],
    "device": ["auto", "cpu", "cuda", "cuda:0", "cuda:1"],
}

PRESET_FIELD = "preset"


class ConfigPane(VerticalScroll):
    """A form over a Spec. Posts `SpecChanged` on every edit and `RunRequested` on Enter."""

    @dataclass
    class SpecChanged(Message):
        """The form changed: `spec` when every field is valid, else the first `error`."""

        pane: ConfigPane
        spec: Spec | None
        error: SpecError | None

    @dataclass
    class RunRequested(Message):
        """Enter was pressed in a field, or the Run button."""

        pane: ConfigPane

    def __init__(self, spec: Spec, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = spec
        self.spec = spec
        """The last spec whose every field was valid."""
        self.errors: dict[str, str] = {}
        """Field name to the reason its text is not allowed."""

    def compose(self) -> ComposeResult:
        yield self._row(
            PRESET_FIELD,
            "preset",
            Select(
                [(name, name) for name in PRESETS],
                prompt="custom",
                compact=True,
                value=_preset_of(self._initial) or Select.NULL,
                id=f"field-{PRESET_FIELD}",
            ),
        )
        for name in FIELDS:
            yield self._row(name, LABELS[name], self._editor(name, self._initial.field_text(name)))
        yield Button("Run (r)", id="run-button", variant="primary", compact=True)

    def _row(self, name: str, label: str, editor: Widget) -> Widget:
        row = Horizontal(Label(label, classes="field-label"), editor, classes="field")
        error = Static("", classes="field-error", id=f"error-{name}")
        error.display = False
        return Vertical(row, error, classes="field-block")

    def _editor(self, name: str, text: str) -> Widget:
        if name in CHOICES:
            return Select(
                [(choice, choice) for choice in CHOICES[name]],
                value=text,
                allow_blank=False,
                compact=True,
                id=f"field-{name}",
            )
        suggester = (
            SuggestFromList(SUGGESTIONS[name], case_sensitive=False)
            if name in SUGGESTIONS
            else None
        )
        return Input(text, compact=True, id=f"field-{name}", suggester=suggester)

    # -- reading and writing the form -----------------------------------------------

    def texts(self) -> dict[str, str]:
        out = {}
        for name in FIELDS:
            widget = self.query_one(f"#field-{name}")
            out[name] = widget.value if isinstance(widget, Input) else str(widget.value)
        return out

    def load(self, spec: Spec) -> None:
        """Show `spec` in every field, as if typed, and check it."""
        with self.prevent(Input.Changed, Select.Changed):
            for name in FIELDS:
                widget = self.query_one(f"#field-{name}")
                widget.value = spec.field_text(name)
            self.query_one(f"#field-{PRESET_FIELD}", Select).value = _preset_of(spec) or Select.NULL
        self.check()

    def set_field(self, name: str, text: str) -> None:
        """Set one field's text (used by the command palette) and check the form."""
        widget = self.query_one(f"#field-{name}")
        widget.value = text
        self.check()

    def check(self) -> Spec | None:
        """Mark each invalid field with its reason; keep and return the spec if all are valid."""
        texts = self.texts()
        errors: dict[str, str] = {}
        for name, text in texts.items():
            try:
                self.spec.with_text(**{name: text})
            except SpecError as error:
                errors[error.field] = error.reason
        spec: Spec | None = None
        first: SpecError | None = None
        if not errors:
            try:
                spec = self.spec.with_text(**texts)
            except SpecError as error:  # fields valid alone, not together
                errors[error.field] = error.reason
        if errors:
            name = next(iter(errors))
            first = SpecError(name, errors[name])
        else:
            self.spec = spec
        self.errors = errors
        for name in FIELDS:
            self._show_error(name, errors.get(name))
        with self.prevent(Select.Changed):
            preset_select = self.query_one(f"#field-{PRESET_FIELD}", Select)
            preset_select.value = (_preset_of(spec) if spec else None) or Select.NULL
        self.post_message(self.SpecChanged(self, spec, first))
        return spec

    def _show_error(self, name: str, reason: str | None) -> None:
        error = self.query_one(f"#error-{name}", Static)
        error.update(reason or "")
        error.display = reason is not None
        self.query_one(f"#field-{name}").set_class(reason is not None, "-invalid")

    # -- events ---------------------------------------------------------------------

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.check()

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.RunRequested(self))

    @on(Button.Pressed, "#run-button")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.RunRequested(self))

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == f"field-{PRESET_FIELD}":
            if event.value is not Select.NULL:
                self.load(PRESETS[str(event.value)].spec)
            return
        self.check()


def _preset_of(spec: Spec | None) -> str | None:
    """The preset `spec` equals, if any (the device is not part of an experiment)."""
    if spec is None:
        return None
    for name, preset in PRESETS.items():
        if preset.spec == spec.replace(device=preset.spec.device):
            return name
    return None
