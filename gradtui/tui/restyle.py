"""Restyling only what changed: Textual restyles a widget against the whole stylesheet
each time one of its classes changes, and a screen with every widget on it each time
the screen is shown. Two of those came before anything could have changed, on every
start: styled once more as they mount, they cost a tenth of the first paint.

(These lean on DOMNode.update_node_styles and ScreenResume.refresh_styles: textual is
pinned, and tests/test_restyle.py checks that the first screen's every style is what a
full restyle gives.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget

# Typed as what they mix into, plain classes at run time (as in keys.py).
_Widget = Widget if TYPE_CHECKING else object
_Screen = Screen if TYPE_CHECKING else object


class StyledOnceMounted(_Widget):
    """A widget restyled on a change of its classes only once it is in the DOM. Input
    sets two classes while it is built (compact, valid), and each restyled the lone
    widget against the whole stylesheet, before its mount styles it anyway with the
    classes as they are then: 2 ms for each field of the first screen."""

    def update_node_styles(self, animate: bool = True) -> None:
        if self.is_attached:
            super().update_node_styles(animate)


class StyledAsMounted(_Screen):
    """A screen that is not restyled whole when it is first shown: every widget on it
    was styled as it mounted, just before (the probe view's 80 widgets, 20-45 ms of a
    start). Shown again later (after a help screen), it is restyled as Textual does."""

    _shown_before = False

    def post_message(self, message: Message) -> bool:
        if isinstance(message, events.ScreenResume) and not self._shown_before:
            self._shown_before = True
            message.refresh_styles = False
        return super().post_message(message)
