"""Keys acted on in the order they were typed, however fast they come.

Textual's app hands each key to the widget focused as it reads the key, and a key that
widget does not take itself (backspace and the arrows in a field, tab, escape, a
screen's letter keys) goes back up to the app, whose bindings act on it later. Keys
that arrive together (a fast typist over SSH, keys sent by a script) were applied out of
order: `1`, `2`, backspace, `3` in a field gave 12, not 13 (Textual issue 6605); the keys
after a tab went into the field it left, or were lost; a text typed right after the key
that opens the filter was lost. Here a key's bindings run as the widget that has it
handles it (the same resolution as the app's, whose chain starts at the focused widget,
or at the screen when nothing is focused), and a key that reaches a widget after focus
moved on is handed to where focus is now.

(This leans on App._check_bindings and Widget._forward_event: textual is pinned, and
tests/test_fields.py sends keys together to fields, screens and lists.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.screen import Screen
from textual.widget import Widget

# Mixins typed as what they mix into, plain classes at run time: a Widget subclass of
# its own would set can_focus False ahead of the Input's and the Select's True.
_Widget = Widget if TYPE_CHECKING else object
_Screen = Screen if TYPE_CHECKING else object


class KeysInOrder(_Widget):
    """For a focusable widget (a form's Input or Select)."""

    async def _on_key(self, event: events.Key) -> None:
        if await self._out_of_turn(event):
            return
        await super()._on_key(event)

    async def _out_of_turn(self, event: events.Key) -> bool:
        """Whether `event` was dealt with here: handed on to the focus, or bound."""
        # has_focus follows later, with the Focus event; a key from a focused part of
        # this widget (a Select's open list) is its own.
        focused = self.screen.focused
        if focused is None or self not in focused.ancestors_with_self:
            _hand_on(event, focused or self.screen)
            return True
        if not event.is_printable and await self.app._check_bindings(event.key):
            _stop(event)
            return True
        return False


class ScreenKeysInOrder(_Screen):
    """For a screen: the keys the app gives it while nothing has focus."""

    def _forward_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            event._to_screen = True  # type: ignore[attr-defined]  # not one bubbling up
        super()._forward_event(event)

    async def _on_key(self, event: events.Key) -> None:
        if getattr(event, "_to_screen", False):
            if self.focused is not None:  # an earlier key of the same burst focused it
                _hand_on(event, self.focused)
                return
            if await self.app._check_bindings(event.key):
                _stop(event)
                return
        await super()._on_key(event)


def _hand_on(event: events.Key, target: Widget) -> None:
    _stop(event)
    target._forward_event(events.Key(event.key, event.character))


def _stop(event: events.Key) -> None:
    event.stop()
    event.prevent_default()
