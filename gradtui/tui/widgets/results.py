"""The results pane: the table, the findings and the charts of a result, in one pane
that the screen's keys scroll."""

from __future__ import annotations

from textual.containers import VerticalScroll

from gradtui.tui.widgets.sign_table import SignTable


class ResultsPane(VerticalScroll):
    """Everything a result shows, in one pane that the screen's keys scroll: the table,
    the findings and the plots. Nothing is cut: what does not fit is a scroll away."""

    DEFAULT_CSS = """
    ResultsPane { height: 1fr; scrollbar-size-vertical: 1; }
    """

    can_focus = False
    """Scrolled by the screen's keys (pageup, pagedown, home, end, j, k) from anywhere."""

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_plots)

    def fit_plots(self) -> None:
        """Give the charts (each child with a `fit` method) the height that the table and
        the findings leave. Their heights are computed from their content, not read from
        the last layout, which may not have caught up with a new result yet."""
        width = self.scrollable_content_region.width
        for table in self.query(SignTable):
            table.refit()  # before its height is counted below
        used = 0
        for child in self.children:
            if hasattr(child, "fit") or not child.display:
                continue
            inner = width - child.styles.padding.width
            used += child.get_content_height(self.size, self.size, inner)
        for chart in self.children:
            if hasattr(chart, "fit"):
                chart.fit(self.scrollable_content_region.height - used)
