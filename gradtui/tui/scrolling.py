"""The keys that scroll a screen's one scrolling pane, whatever has focus: pageup,
pagedown, home, end, j and k (and the arrows). A focused field keeps its own keys."""

from __future__ import annotations

from textual.binding import Binding


def scroll_bindings(what: str, id_prefix: str = "") -> list[Binding]:
    """Bindings to `action_scroll(where)`; `what` names the pane in the help."""
    return [
        Binding(
            "pagedown",
            "scroll('page_down')",
            "Page down",
            show=False,
            id=f"{id_prefix}scroll.page-down",
        ),
        Binding(
            "pageup", "scroll('page_up')", "Page up", show=False, id=f"{id_prefix}scroll.page-up"
        ),
        Binding("home", "scroll('home')", "Top", show=False, id=f"{id_prefix}scroll.home"),
        Binding("end", "scroll('end')", "Bottom", show=False, id=f"{id_prefix}scroll.end"),
        Binding(
            "j,down",
            "scroll('down')",
            "Scroll down",
            show=False,
            id=f"{id_prefix}scroll.down",
            tooltip=f"scroll {what} down (also pagedown, end)",
        ),
        Binding(
            "k,up",
            "scroll('up')",
            "Scroll up",
            show=False,
            id=f"{id_prefix}scroll.up",
            tooltip=f"scroll {what} up (also pageup, home)",
        ),
    ]


class ScrollKeys:
    """For a screen: `action_scroll` scrolls the widget SCROLLS selects."""

    SCROLLS = ""
    """A selector of the screen's scrolling pane."""

    def action_scroll(self, where: str) -> None:
        pane = self.query_one(self.SCROLLS)  # type: ignore[attr-defined]
        getattr(pane, f"scroll_{where}")(animate=False)
