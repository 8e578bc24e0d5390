"""A form over the declared fields of a Spec or TrainSpec: one row per field, derived from
the catalogue (gradtui.fields), checked as typed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Select, Static
from textual.widgets._select import NoSelection, SelectCurrent, SelectOverlay

from gradtui.fields import Choice, FieldInfo, SpecError, Switch
from gradtui.tui.keys import KeysInOrder
from gradtui.tui.restyle import StyledOnceMounted


class FieldRow(Widget):
    """A label, an editor (a list for choices, else a text field) and, when the text is
    not allowed, the reason under it. The row draws its label itself, beside the editor
    (which keeps the label's width as its margin): a form has a row per field, and a
    Label widget per row made a fifth of the first screen's widgets."""

    COMPONENT_CLASSES = {"field-row--label", "field-row--label-focused"}
    DEFAULT_CSS = """
    FieldRow { height: auto; }
    FieldRow > .field-row--label { color: $text-muted; }
    FieldRow > .field-row--label-focused { text-style: reverse bold; color: $text; }
    FieldRow > Input, FieldRow > Select { width: 1fr; margin-left: 8; }
    FieldRow > .field-error { height: auto; padding-left: 1; color: $text-error; }
    FieldRow.-invalid Input, FieldRow.-invalid Select { background: $error 25%; }
    """

    LABEL_WIDTH = 8

    def __init__(self, name: str, label: str, editor: Widget, *, help: str = "") -> None:
        super().__init__(id=f"row-{name}")
        self.field_name = name
        """The field this row edits."""
        self.label = label
        """The field's name as the form shows it (`batch` for batch_size)."""
        self.editor = editor
        self.tooltip = help
        self._error: Static | None = None
        """The reason under the field, made the first time there is one."""

    def compose(self) -> ComposeResult:
        yield self.editor

    def render(self) -> Text:
        """The label, in the first line's margin left of the editor (reversed while the
        field has focus, so the field being edited shows by name without colour)."""
        focused = self.has_focus_within
        style = self.get_component_rich_style(
            "field-row--label-focused" if focused else "field-row--label"
        )
        return Text(self.label[: self.LABEL_WIDTH].ljust(self.LABEL_WIDTH), style=style, end="")

    def _on_descendant_focus(self) -> None:
        self.refresh()

    def _on_descendant_blur(self) -> None:
        self.refresh()

    @property
    def text(self) -> str:
        value = self.editor.value  # type: ignore[attr-defined]
        return value if isinstance(self.editor, Input) else str(value)

    @text.setter
    def text(self, text: str) -> None:
        self.editor.value = text  # type: ignore[attr-defined]

    def show_error(self, reason: str | None) -> None:
        if reason is not None and self._error is None:
            self._error = Static("", classes="field-error")
            self.mount(self._error)
        if self._error is not None:
            self._error.update(reason or "")
            self._error.display = reason is not None
        self.set_class(reason is not None, "-invalid")


class ChoiceLine(StyledOnceMounted, SelectCurrent):
    """The closed list's line (the choice and an arrow) drawn as one text: Textual's is
    three Statics, 27 of the first screen's 124 widgets with a form's nine lists
    (each one costs start-up time to style and lay out). Made with its choice shown: set
    after the mount, the choice's class restyled the line against the whole stylesheet,
    a millisecond for each list of the first screen."""

    COMPONENT_CLASSES = {"choice-line--arrow"}
    DEFAULT_CSS = """
    ChoiceLine { height: 1; color: $foreground 50%; }
    ChoiceLine.-has-value { color: $foreground; }
    ChoiceLine > .choice-line--arrow { color: $foreground 50%; }
    """

    def __init__(self, placeholder: str, label: RenderableType | NoSelection = Select.NULL):
        super().__init__(placeholder)
        self.label = label
        self.set_reactive(SelectCurrent.has_value, label is not Select.NULL)
        self.set_class(label is not Select.NULL, "-has-value")

    def compose(self) -> ComposeResult:
        return iter(())

    def update(self, label: RenderableType | NoSelection) -> None:
        self.label = label
        self.has_value = label is not Select.NULL
        self.refresh()

    def render(self) -> Text:
        label = self.placeholder if isinstance(self.label, NoSelection) else self.label
        text = label.copy() if isinstance(label, Text) else Text(str(label))
        width = self.content_region.width
        text.truncate(max(0, width - 2), overflow="ellipsis", pad=True)
        expanded = isinstance(self.parent, Select) and self.parent.expanded
        arrow = self.get_component_rich_style("choice-line--arrow")
        text.append(" ▲" if expanded else " ▼", arrow)
        return text


class TypedInput(StyledOnceMounted, KeysInOrder, Input):
    """An Input that acts on keys in the order they were typed (KeysInOrder)."""


class FieldSelect(StyledOnceMounted, KeysInOrder, Select):
    """A Select in a form: printable keys stay in the field, so typing while it has focus
    never fires a screen's letter keys (space still opens the list). Its closed line is
    one widget (ChoiceLine), and its list is made the first time the field gets focus: a
    form's lists were 54 of the first screen's 124 widgets, and most are never opened.
    (This leans on Select's private parts, textual.widgets._select: textual is pinned,
    and tests/test_fields.py drives the list by its keys.)"""

    DEFAULT_CSS = """
    FieldSelect > SelectOverlay { width: auto; min-width: 100%; }
    """

    def compose(self) -> ComposeResult:
        index = None if self._value == self.NULL else self._index_of(self._value)
        yield ChoiceLine(self.prompt, self.NULL if index is None else self._options[index][0])

    @property
    def overlay(self) -> SelectOverlay | None:
        """The list's widget, None until the field first gets focus."""
        found = self.query_children(SelectOverlay)
        return found.first() if found else None

    async def _make_overlay(self) -> None:
        if self.overlay is not None:
            return
        # Framed and as wide as its longest choice, even in a compact form: borderless,
        # the open list read as the values of the fields under it (under NO_COLOR above
        # all), and a long preset wrapped into what looked like two.
        overlay = SelectOverlay(type_to_search=self._type_to_search)
        await self.mount(overlay)
        super()._setup_options_renderables()
        overlay.highlighted = self._index_of(self.value)

    def _index_of(self, value: object) -> int | None:
        for index, (_prompt, option) in enumerate(self._options):
            if option == value:
                return index
        return None

    def _setup_options_renderables(self) -> None:
        if self.overlay is not None:  # else done when the list is made
            super()._setup_options_renderables()

    def _watch_value(self, value: object) -> None:
        """Select's, less the list's highlight until the list exists."""
        self._value = value
        lines = self.query_children(ChoiceLine)
        if not lines:
            return  # not composed yet: the mount sets the value again
        index = None if value == self.NULL else self._index_of(value)
        lines.first().update(self.NULL if index is None else self._options[index][0])
        if index is not None and self.overlay is not None:
            self.overlay.highlighted = index
        self.post_message(self.Changed(self, value))

    def _watch_prompt(self, prompt: str) -> None:
        if self.overlay is not None:
            super()._watch_prompt(prompt)
        elif self.is_mounted:
            line = self.query_one(ChoiceLine)
            line.placeholder = prompt
            line.refresh()

    def _watch_expanded(self, expanded: bool) -> None:
        super()._watch_expanded(expanded)
        self.query_one(ChoiceLine).refresh()  # the arrow turns

    async def _on_focus(self, event: events.Focus) -> None:
        # Made on focus, before a key can open it: made inside the key's own action, a
        # space opened the list and closed it again at once.
        await self._make_overlay()

    async def action_show_overlay(self) -> None:
        await self._make_overlay()
        super().action_show_overlay()

    @on(SelectCurrent.Toggle)
    async def _open_on_click(self, event: SelectCurrent.Toggle) -> None:
        await self._make_overlay()  # then Select's own handler opens it

    async def _on_key(self, event: events.Key) -> None:
        if await self._out_of_turn(event):
            return
        if event.is_printable and event.character != " ":
            event.stop()
            event.prevent_default()


def editor_for(info: FieldInfo, text: str) -> Widget:
    """A Select for a field picked from a list, else an Input (with completions)."""
    kind = info.kind
    if isinstance(kind, Choice | Switch):
        return FieldSelect(
            [(choice, choice) for choice in kind.choices],
            value=text,
            allow_blank=False,
            compact=True,
            id=f"field-{info.name}",
        )
    suggester = SuggestFromList(kind.suggestions) if kind.suggestions else None
    return TypedInput(text, compact=True, id=f"field-{info.name}", suggester=suggester)


class FieldForm(Vertical):
    """Rows for every declared field of `value`'s class. Posts `Changed` on every edit
    and `Submitted` on Enter in a field."""

    @dataclass
    class Changed(Message):
        """The form changed: `value` when every field is valid, else the `errors`."""

        form: FieldForm
        value: Any | None
        errors: dict[str, str]

        @property
        def control(self) -> FieldForm:
            return self.form

    @dataclass
    class Submitted(Message):
        """Enter was pressed in a field."""

        form: FieldForm

        @property
        def control(self) -> FieldForm:
            return self.form

    def __init__(
        self,
        value: Any,
        *,
        extra: tuple[FieldRow, ...] = (),
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._extra = extra
        """Rows after the declared fields that the owner reads itself (e.g. `compare`)."""
        self.value = value
        """The last value whose every field was valid."""
        self.errors: dict[str, str] = {}
        """Field name to the reason its text is not allowed."""
        self._rows: dict[str, FieldRow] = {}
        self._checked: dict[str, str] | None = None
        """The texts last checked: a change event that brings nothing new (each editor
        posts one as it mounts) checks nothing."""

    def compose(self) -> ComposeResult:
        for info in self.value.fields():
            text = self.value.field_text(info.name)
            yield FieldRow(
                info.name, info.option.label, editor_for(info, text), help=info.option.help
            )
        yield from self._extra

    def on_mount(self) -> None:
        self.check()  # once, for every row (the editors' own first events then change nothing)

    def rows(self) -> dict[str, FieldRow]:
        """The rows of the declared fields, by name."""
        if not self._rows:  # kept once mounted: the rows never change
            names = {info.name for info in self.value.fields()}
            self._rows = {
                row.field_name: row for row in self.query(FieldRow) if row.field_name in names
            }
        return self._rows

    def first_error(self) -> tuple[str, str] | None:
        """(the row's label, the reason) of the first field whose text is not allowed."""
        for name, reason in self.errors.items():
            row = self.rows().get(name)
            return (row.label if row is not None else name), reason
        return None

    def texts(self) -> dict[str, str]:
        return {name: row.text for name, row in self.rows().items()}

    def load(self, value: Any) -> None:
        """Show `value` in every field, as if typed, and check it."""
        with self.prevent(Input.Changed, Select.Changed):
            for name, row in self.rows().items():
                row.text = value.field_text(name)
        self.value = value
        self.check()

    def set_field(self, name: str, text: str) -> None:
        """Set one field's text, as if typed, and check the form."""
        with self.prevent(Input.Changed, Select.Changed):
            self.rows()[name].text = text
        self.check()

    def check(self) -> Any | None:
        """Mark each field whose text is not allowed with the reason; keep and return the
        new value when every field is valid, else None."""
        texts = self._checked = self.texts()
        errors: dict[str, str] = {}
        for name, text in texts.items():
            try:
                self.value.with_text(**{name: text})
            except SpecError as error:
                errors[error.field] = error.reason
        value = None
        if not errors:
            try:
                value = self.value.with_text(**texts)
            except SpecError as error:  # fields valid alone, not together
                errors[error.field] = error.reason
        if value is not None:
            self.value = value
        self.errors = errors
        # A field that means nothing for the value as it stands (the built-in MLP's
        # fields under a user's model) is hidden, so tab skips it; its owner says why.
        applies = getattr(self.value, "applies", None)
        for name, row in self.rows().items():
            row.show_error(errors.get(name))
            row.display = applies is None or applies(name) or name in errors
        # Posted from the form's own turn: a message built while an ancestor handles one
        # (the config pane loading a preset) would count that ancestor as its sender,
        # and Textual stops a message at its sender; the screen would never hear of it.
        self.call_next(lambda: self.post_message(self.Changed(self, value, errors)))
        return value

    def when_typed(self, then: Callable[[], None]) -> None:
        """Call `then` once the widget with focus has handled every key that reached it
        before now, with the form checked. A priority key (ctrl+r: run from a field)
        acts as the app reads it, while the keys typed just before it may still wait in
        the field's queue, and the field's Changed behind them: run at once, it ran the
        form as it stood before those keys."""

        def checked() -> None:
            if self.texts() != self._checked:
                self.check()
            then()

        focused = self.screen.focused
        if focused is None:
            checked()
        else:
            focused.call_later(checked)

    @on(Input.Changed)
    @on(Select.Changed)
    def _edited(self, event: Input.Changed | Select.Changed) -> None:
        if event.control.id not in {f"field-{name}" for name in self.rows()}:
            return  # an extra row's: its owner checks it
        event.stop()
        if self.texts() != self._checked:
            self.check()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted(self))
