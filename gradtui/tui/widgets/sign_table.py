"""The sign table: per layer, the figures that tell whether gradients share a sign."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from gradtui import table
from gradtui.result import ProbeResult

TAG_VARIABLES = {"strong": "accent", "warn": "warning", "error": "error"}
"""Theme variables that colour the cells which tell the story."""


class SignTable(DataTable):
    """One row per layer; headline figures in the theme's accent, trouble in warning/error."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self._result: ProbeResult | None = None
        self._width = 0

    def show(self, result: ProbeResult | None) -> None:
        self._result = result
        self._rebuild()

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._rebuild()

    def _rebuild(self) -> None:
        self._width = self.size.width
        shown = table.columns(self.size.width)
        rows = table.rows(self._result) if self._result is not None else []
        # DataTable sizes columns to their content and ignores a cell's justify, so
        # numbers are padded to the column's width here to line up on the right.
        widths = {
            i: max([len(table.COLUMNS[i][0]), *(len(cells[i].text) for cells in rows)])
            for i in shown
        }
        self.clear(columns=True)
        for i in shown:
            self.add_column(table.COLUMNS[i][0], key=table.COLUMNS[i][0], width=widths[i])
        colours = self.app.theme_variables
        for cells in rows:
            self.add_row(*(self._cell(cells[i], i, widths[i], colours) for i in shown))

    @staticmethod
    def _cell(cell: table.Cell, column: int, width: int, colours: dict[str, str]) -> Text:
        left = table.COLUMNS[column][0] in table.LEFT_ALIGNED
        style = f"bold {colours[TAG_VARIABLES[cell.tag]]}" if cell.tag else ""
        return Text(cell.text.ljust(width) if left else cell.text.rjust(width), style=style)
