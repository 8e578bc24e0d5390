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
        self.clear(columns=True)
        for i in shown:
            self.add_column(table.COLUMNS[i][0], key=table.COLUMNS[i][0])
        if self._result is None:
            return
        colours = self.app.theme_variables
        for cells in table.rows(self._result):
            self.add_row(
                *(
                    Text(
                        cells[i].text,
                        style=f"bold {colours[TAG_VARIABLES[cells[i].tag]]}"
                        if cells[i].tag
                        else "",
                        justify="left" if table.COLUMNS[i][0] in table.LEFT_ALIGNED else "right",
                    )
                    for i in shown
                )
            )
