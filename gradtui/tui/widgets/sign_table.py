"""The sign table: per layer, the figures of the tensor the view names."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from gradtui import table
from gradtui.result import Entry, ProbeResult

TAG_VARIABLES = {"strong": "accent", "warn": "warning", "error": "error"}
"""Theme variables that colour the cells which tell the story."""


class SignTable(DataTable):
    """One row per layer; headline figures in the theme's accent, trouble in warning/error.
    Columns that do not fit the width are dropped whole, least telling first."""

    DEFAULT_CSS = """
    SignTable { height: auto; }
    """

    can_focus = False
    """The results pane scrolls with the screen's keys; tab skips the table."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, cell_padding=1)
        self._result: ProbeResult | None = None
        self._view = "weight"
        self._entries: list[Entry] | None = None
        self._width = 0

    def show(
        self, result: ProbeResult | None, view: str, entries: list[Entry] | None = None
    ) -> None:
        """Rows of `result` for `view`: `entries` (a page of them), or all."""
        self._result, self._view, self._entries = result, view, entries
        self._rebuild()

    def on_resize(self) -> None:
        self.refit()

    def refit(self) -> None:
        """Fit the columns to the width, if it changed since they were last fitted. The
        results pane calls it after each of its resizes too: a Resize event of the table
        alone was seen to arrive while its size was still the old one, and none after."""
        if self.size.width != self._width:
            self._rebuild()

    @property
    def fitted_width(self) -> int:
        """The width the columns were last fitted to."""
        return self._width

    @property
    def shown_headers(self) -> list[str]:
        """The headers on screen, in order."""
        return [str(column.label) for column in self.columns.values()]

    def _rebuild(self) -> None:
        self._width = self.size.width
        view = self._view if self._view in table.VIEW_COLUMNS else "weight"
        builtin = self._result is None or self._result.spec.builtin
        columns = table.columns(view, builtin)
        rows = table.rows(self._result, view, self._entries) if self._result is not None else []
        # DataTable sizes columns to their content and ignores a cell's justify, so
        # numbers are padded to the column's width here to line up on the right.
        widths = table.widths(columns, rows)
        # Each column takes one cell of padding on each side; one more cell is kept for a
        # vertical scrollbar.
        shown = table.fit(columns, rows, self.size.width - 1, padding=2, gap=0)
        self.clear(columns=True)
        for i in shown:
            self.add_column(columns[i].header, key=columns[i].header, width=widths[i])
        colours = self.app.theme_variables
        for cells in rows:
            self.add_row(*(self._cell(cells[i], columns[i], widths[i], colours) for i in shown))

    @staticmethod
    def _cell(cell: table.Cell, column: table.Column, width: int, colours: dict[str, str]) -> Text:
        style = f"bold {colours[TAG_VARIABLES[cell.tag]]}" if cell.tag else ""
        text = cell.text.ljust(width) if column.left else cell.text.rjust(width)
        return Text(text, style=style)
