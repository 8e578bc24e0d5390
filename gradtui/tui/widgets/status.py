"""The status line under a view's header: what just happened, or what is wrong."""

from __future__ import annotations

from textual.widgets import Static


class StatusLine(Static):
    """One line of status; an error shows on the theme's error colour."""

    DEFAULT_CSS = """
    StatusLine { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    StatusLine.-error { background: $error 35%; }
    """

    def show(self, text: str, *, error: bool = False, hold: bool = False) -> None:
        """`hold`: keep at least the present height (a short "Running..." between two
        results), so the panes below do not move and redraw twice per run."""
        self.styles.min_height = self.size.height if hold and self.size.height else None
        self.update(text)
        self.set_class(error, "-error")

    @property
    def text(self) -> str:
        return str(self.render())
